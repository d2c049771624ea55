/*
 * Stack segments: running a waiter's child on the next segment of the
 * waiter's own fiber (fj_wait's run_child, wait.c).
 */
#include "internal.h"

/*
 * A small fiber's stack is its own segment 0 and, below it,
 * FJ_STACK_SEGMENTS - 1 more (fiber.c lays them out), each of a small job's
 * whole need (s->stack_need[0]) above a guard gap of its own. A waiter on
 * segment k whose small child does not fit below it runs the child on
 * segment k + 1 instead of on a fiber of its own: fj__ctx_call_on moves the
 * stack pointer to the top of that segment and calls the job there, an
 * ordinary call and return (no context switch, no pool take and put, no
 * mispredicted return), and the child has its whole stack, as on a fresh
 * fiber. The waiter is below the child on the same fiber, as for a nested
 * run (fj__run_nested): if the child parks, the fiber parks with both, and
 * the waiter goes on once the child has returned. Segments are reserved with
 * the pool and made usable on first use (fj__seg_prepare). The jobs of the
 * same counter left in the worker's chunk run on the same segment after the
 * first, one after another (fj__drain_chunk). An overflow faults
 * in the segment's own gap and is reported with the job's name (overflow.c).
 * self->seg is the segment running now, self->seg_lo its low end
 * (stack_left); both are the fiber's runner's alone.
 */
#if FJ_CTX_HAS_CALL_ON
typedef struct seg_call {
    fj__worker *w;
    fj__fiber *self;
    const fj__task *t;
    fj_counter *c;      /* what the waiter waits for: the rest of a chunk */
    int64_t target;     /* of c's jobs runs here too (fj__drain_chunk) */
} seg_call;

static void seg_entry(void *p)
{
    seg_call *a = p;
    a->w = fj__run_nested(a->w, a->self, a->t);
    if (a->w->chunk)
        a->w = fj__drain_chunk(a->w, a->self, a->t, a->c, a->target);
}
#endif

bool fj__seg_next(fj__fiber *self, uintptr_t flags)
{
#if FJ_CTX_HAS_CALL_ON
    return !(flags & FJ_JOB_LARGE_STACK) && self->kind == FJ_KIND_SMALL && fj__seg_prepare(self, self->seg + 1);
#else
    (void)self;
    (void)flags;
    return false;
#endif
}

FJ_NOINLINE fj__worker *fj__run_on_seg(fj__worker *w, fj__fiber *self, const fj__task *t)
{
#if FJ_CTX_HAS_CALL_ON
    uint32_t k = self->seg + 1;
    void *saved_lo = self->seg_lo;
    char *lo = fj__seg_lo(self, k);
    fj_counter *wc = fj_load_relaxed(&self->wait_counter);
    int64_t wt = fj_load_relaxed(&self->wait_target);
    self->seg_caller[k].job = self->job_name;
    self->seg_caller[k].counter = wc;
    self->seg_caller[k].target = wt;
    self->seg = k;
    self->seg_lo = lo;
    seg_call a = { w, self, t, wc, wt };
    fj__ctx_call_on(&a, seg_entry, lo + w->s->seg_size - fj__seg_colour(self, k));
    self->seg = k - 1;
    self->seg_lo = saved_lo;
    return a.w;
#else
    (void)self;
    (void)t;
    fj__fatal("fj_wait", "no stack segments on this platform");
    return w;
#endif
}

