/*
 * Workers and the fiber loop: what a worker does with its fibers (entered
 * threads, which stand in for a worker on their own stack: enter.c). It owns
 *   - switching: the post-switch action (after_switch, see sched.c's top
 *     comment) and the one annotated context switch;
 *   - running a job (run_job, the one place a job is called, which skips a
 *     cancelled one: cancel.c), and the whole-stack promise: a job runs on a fiber of its own class, or nested
 *     only where its whole class fits (fj__fits_here, fj__call_child);
 *   - the fiber loop every fiber runs: hand-offs, large-stack jobs
 *     (deferred while no large fiber is free), resuming woken fibers, giving
 *     large fibers back;
 *   - a worker entering the scheduler on its thread and leaving it.
 *
 * Invariant: a fiber is never made visible to another worker (published on a
 * counter, queued, freed) while it still runs on its stack; that is done by
 * the context switched to, first thing (after_switch).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "os.h"

/* Room for the library's own frames between a waiter and a job run on its
 * stack, on top of the job's whole stack class (fj__fits_here). */
#define FJ_INLINE_MARGIN (8 * 1024 * FJ_SAN_STACK_SCALE)

/* The post-switch action. The publication of a waiting fiber (FJ_POST_WAIT)
 * is modelled step by step in verify/counter.pml (the waiter process). */
static void after_switch(fj__worker *w, fj__fiber *self)
{
    switch (w->post_kind) {
    case FJ_POST_NONE:
        break;
    case FJ_POST_FREE:
        fj__fiber_put(w, w->post_fiber);
        /* A deferred large-stack job can run now. Store-buffering with
         * deferred_put (the count raised, then free_large read by the
         * deferring side's loop): a seq_cst fence on each side between its
         * write and its read, or a wake-up can be lost. Large fibers only. */
        if (FJ_UNLIKELY(w->post_fiber->kind == FJ_KIND_LARGE)) {
            fj_fence_seq_cst();
            if (fj_load_seq_cst(&w->s->deferred_total))
                fj__notify_all(w->s);
        }
        break;
    case FJ_POST_WAIT: {
        fj__fiber *f = w->post_fiber;
        f->home = w->index + 1;   /* read by its resumer after the publish (wake.c) */
        /* Read before the publish: once listed, f may be resumed elsewhere,
         * and its pinned job may end there (pin1 back to 0). */
        uint32_t pin1 = fj_load_relaxed(&f->pin1);
        if (!fj__counter_publish(w->post_counter, f, w->post_target)) {
            /* Reached while we were switching: queue it to run again. */
            fj_store_relaxed(&f->state, (int)(FJ_FIBER_READY));
            fj__task t = fj__resume_task(f);
            if (FJ_UNLIKELY(pin1))
                fj__pin_push(w->s, pin1 - 1, &t, "fj_wait");   /* this worker: never stolen */
            else
                fj__push_or_die(&w->ready, &t, 1, "fj_wait");
        } else if (!pin1) {
            w->last_parked = f;   /* watched if we go idle (idle.c, wake.c "The home watch") */
        }
        break;
    }
    case FJ_POST_CALL:
        w->post_call(w, w->post_fiber, w->post_arg);
        break;
    case FJ_POST_YIELD: {
        fj__fiber *f = w->post_fiber;
        f->yield_next = 0;
        if (w->yield_tail)
            w->yield_tail->yield_next = f->index + 1;
        else
            w->yield_head = f;
        w->yield_tail = f;
        break;
    }
    }
    w->post_kind = FJ_POST_NONE;
    w->current = self;
    if (self) {
        self->worker = w;
        fj_store_relaxed(&self->state, (int)(FJ_FIBER_RUNNING));
    }
}

/* The one context switch, told to the sanitizers (sanitize.h): from the
 * context saved in `from` to the one in `to`. Returns when `from` is
 * switched to again. */
static inline void switch_annotated(fj__ctx *from, fj__san_ctx *from_san, fj__ctx *to, fj__san_ctx *to_san)
{
    fj__san_before_switch(from_san, to_san);
    fj__ctx_switch(from, to);
    fj__san_after_switch(from_san);
}

fj__worker *fj__switch_to(fj__worker *w, fj__fiber *self, fj__fiber *to, fj__post_kind post)
{
    w->post_kind = post;
    w->post_fiber = self;
    FJ__STAT_INC(w, switches);
    if (FJ_UNLIKELY(w->hooks != NULL))
        fj__hook_switch_begin(w, self->id, to->id, fj__fiber_name(to->id));
    switch_annotated(&self->ctx, &self->san, &to->ctx, &to->san);
    w = fj__current_worker();
    after_switch(w, self);
    if (FJ_UNLIKELY(w->hooks != NULL))
        fj__hook_switch_end(w, self->id);
    return w;
}

void fj__fpu_check(const fj__worker *w, const char *when, const char *job)
{
    char change[96];
    if (!fj__fpu_unchanged(&w->fpu, change, sizeof change))
        fj__fatal(when, "job '%s' changed the FP control state (%s); restore it before returning or waiting, "
                  "or build with -DFIBERJOB_SAVE_FPU=ON", fj__job_name(job), change);
}

/*
 * The one place a job is called: at its fiber's base (the fiber loop), or
 * nested above a waiter whose stack has room for the job's whole class
 * (fj_wait, fj_run_jobs when a queue cannot grow). Folded finishes of another
 * counter go out first: they wait only while jobs of their own counter run,
 * and this job could run for ever. The fiber's job name is what reports and
 * the debugger show; a nested job's waiter gets its own back afterwards.
 * Always inlined, so each of the two callers below gets its own copy with
 * `nested` a constant (the per-job path). Returns whether the job panicked.
 */
/* The job call when the worker is observed (tracing or hooks): the events
 * and hooks around it, out of the per-job path, so that an unobserved job
 * pays one test and keeps nothing live across the call for them. */
static FJ_NOINLINE __attribute__((cold)) bool job_call_observed(fj__worker **wp, fj__fiber *self,
                                                                 const fj__task *t)
{
    fj__worker *w = *wp;
    FJ_TRACE_JOB_BEGIN(w, self->index, t);   /* and its queueing delay */
    uint64_t token = 0;
    if (w->hooks != NULL)
        token = fj__hook_job_begin(w, t->name);
    bool panicked = fj__job_call(self, t->fn, t->arg);
    *wp = w = fj__worker_of(self);
    if (w->hooks != NULL)
        fj__hook_job_end(w, t->name, token, panicked);
    FJ_TRACE(w, FJ_EV_JOB_END, self->index, t->name, panicked);
    return panicked;
}

static inline __attribute__((always_inline)) bool run_job(fj__worker **wp, fj__fiber *self, const fj__task *t,
                                                          bool nested)
{
    fj__worker *w = *wp;
    if (FJ_UNLIKELY(fj__task_cancelled(t))) {
        fj__skip_job(w, t);
        return false;
    }
    if (w->fold_counter != t->counter)
        fj__fold_flush(w);
    const char *saved = nested ? self->job_name : NULL;
    fj_counter *saved_counter = nested ? self->job_counter : NULL;
    /* job_name is read by reports on other threads: relaxed atomic stores.
     * job_counter only by this fiber (fj_cancelled): a plain store, left
     * behind after the job (fj_cancelled looks only inside a job). */
    fj_store_relaxed(&self->job_name, t->name);
    self->job_counter = t->counter;
    FJ__STAT_INC(w, jobs);
    bool panicked;
    if (FJ_UNLIKELY(w->observed)) {
        panicked = job_call_observed(wp, self, t);
        w = *wp;
    } else {
        panicked = fj__job_call(self, t->fn, t->arg);
        *wp = w = fj__worker_of(self);
    }
    if (FJ__CHECKS_FPU && !(nested && FJ__SAVES_FPU))
        fj__fpu_check(w, "job return", t->name);
    fj_store_relaxed(&self->job_name, saved);
    if (nested)
        self->job_counter = saved_counter;
    if (FJ_UNLIKELY(panicked) && t->counter)
        fj_fetch_add_relaxed(&t->counter->fj__panics, 1);
    fj__fold_add(w, t->counter, t->name);
    return panicked;
}

fj__worker *fj__run_nested(fj__worker *w, fj__fiber *self, const fj__task *t)
{
    run_job(&w, self, t, true);
    return w;
}

/*
 * Every job gets the whole stack its class promises (small_stack_size, or
 * large_stack_size with FJ_JOB_LARGE_STACK). So a waiter never runs a child
 * on what is left of its own stack unless the whole class fits there
 * (fits_here: only a waiter high up a large stack, such as the root). It
 * *calls* the child on a fiber of its own instead (fj__call_child): the waiter
 * hands the job to a fresh fiber and switches to it; when the job returns,
 * that fiber switches straight back to the waiter and goes back to the pool.
 * The waiter is not published on the counter, nor resumed through a deque:
 * two switches and a pool take and put, against a publish, a wake, a deque
 * push and take for parking. Meanwhile the waiter is FJ_FIBER_CALLING and
 * referenced only by the child's call_parent; if the child waits in turn,
 * the child is what the deadlock report shows, and whichever worker finishes
 * the child resumes the waiter.
 */
static size_t stack_left(const fj__fiber *self)
{
    char here;
    return (size_t)(&here - (char *)self->seg_lo);
}

_Static_assert(FJ_JOB_LARGE_STACK == 1 && FJ_JOB_SHALLOW == 2, "stack_need is indexed by flags & 3");

void fj__stack_needs(fj_scheduler *s)
{
    s->stack_need[0] = s->cfg.small_stack_size * FJ_SAN_STACK_SCALE + FJ_INLINE_MARGIN;
    s->stack_need[FJ_JOB_LARGE_STACK] = s->cfg.large_stack_size * FJ_SAN_STACK_SCALE + FJ_INLINE_MARGIN;
    s->stack_need[FJ_JOB_SHALLOW] = (size_t)FJ_SHALLOW_STACK * FJ_SAN_STACK_SCALE + FJ_INLINE_MARGIN;
    s->stack_need[3] = SIZE_MAX;   /* both flags: refused at submission, never nested */
}

bool fj__fits_here(const fj__worker *w, const fj__fiber *self, uintptr_t flags)
{
    return stack_left(self) >= w->s->stack_need[flags & 3];
}

/* A job counted on the counter `parent` waits on (in fj_wait), queued on
 * this worker where the parent would have taken it next (run_child), which
 * this fiber can run: the parent still waits, and the job's stack class fits
 * this fiber's. */
static bool take_sibling(fj__worker *w, const fj__fiber *self, const fj__fiber *parent, fj__task *out)
{
    fj_counter *c = fj_load_relaxed(&parent->wait_counter);
    if (!c)
        return false;
    int64_t pending = w->fold_counter == c ? w->fold_k : 0;
    if (fj__counter_now(c) - pending <= fj_load_relaxed(&parent->wait_target))
        return false;
    for (int q = 0; q < FJ_NQ; q++) {
        fj_counter *tc;
        uintptr_t tflags;
        if (w->chunk && w->chunk_q == q && w->chunk->counter == c)
            return fj__chunk_take(w, out);
        if (!fj__deque_peek_bottom_counter(&w->q[q], &tc, &tflags) || tc != c)
            continue;
        if ((tflags & FJ_JOB_LARGE_STACK) && self->kind != FJ_KIND_LARGE)
            return false;
        if (!fj__deque_take(&w->q[q], out))
            return false;
        if (out->counter != c) {
            /* Cannot happen (only the owner changes the bottom); never lose it. */
            fj__push_or_die(&w->q[q], out, 1, "fj_wait");
            return false;
        }
        if (fj__is_range(out))
            fj__range_open(w, out);
        return true;
    }
    return false;
}

/* Run t on `child` (taken from the pool for t's class) and return once t
 * has returned; the worker we come back on may be another. */
fj__worker *fj__call_child(fj__worker *w, fj__fiber *self, fj__fiber *child, const fj__task *t)
{
    child->call_parent = self;
    w->handoff = *t;
    w->has_handoff = true;
    fj_store_relaxed(&self->state, (int)FJ_FIBER_CALLING);
    /* In the trace the caller is suspended meanwhile, as a parked waiter is. */
    FJ_TRACE(w, FJ_EV_SUSPEND, self->index, self->job_name, (uintptr_t)t->counter);
    w = fj__switch_to(w, self, child, FJ_POST_NONE);
    FJ_TRACE(w, FJ_EV_RESUME, self->index, self->job_name, (uintptr_t)t->counter);
    return w;
}

/*
 * Lending. A job that submits lone jobs faster than the thieves take them
 * (a stream: spawn1) only queues: every push writes lines a thief then
 * reads, and the counter's locked add drains those stores, so the stream
 * runs at the speed of cross-core transfers while the submitting core does
 * no job at all. Once the submitter's queue of the job's priority holds
 * FJ_LEND_AFTER jobs, it is that far ahead: fj_run_jobs then lends the
 * worker to the job instead of queueing it, as fj_wait calls a child
 * (fj__call_child): the job runs at once on a fiber of its own (its whole
 * stack class: small or shallow jobs only, never a large one's fiber), and
 * that fiber then runs up to FJ_LEND_RUN - 1 more of the newest plain jobs
 * of that queue (those its owner would take next) before it switches back
 * (lend.c: how it takes them, and what goes back).
 * The thieves go on taking the oldest from the top meanwhile.
 *
 * The submitter is FJ_FIBER_CALLING meanwhile, as a waiter calling a child
 * is, but it owes nobody a wait: if a lent job suspends (fj_wait, fj_yield,
 * a mutex or condition variable, a timed wait), the worker goes straight
 * back to the submitter (fj__lend_return, at each of those places) and the
 * job parks as any other; so a job that waits for something its submitter
 * does after fj_run_jobs returns still gets it. The submitter comes back on
 * the worker it left from (a lent fiber switches back to it before it can
 * move), so fj_run_jobs never moves its caller to another thread. What it
 * does do: run jobs on the caller's thread before it returns, as enkiTS
 * and libomp do when their queue fills (documented on fj_run_jobs).
 */
bool fj__lend(fj__worker **wp, const fj__task *t, int q, int64_t bottom)
{
    fj__worker *w = *wp;
    fj__deque *d = &w->q[q];
    fj__fiber *self = w->current;
    /* The cached top overstates the size (fj__deque_room): look again. An
     * acquire load, as every value stored in top_seen must be. */
    int64_t top = fj_load_acquire(&d->top);
    d->top_seen = top;
    /* Pinned (and entered threads' stacks): never called back from another
     * fiber. Large-stack jobs would take one of the few large fibers. A hook
     * may submit, but runs between the halves of a switch: no switch there. */
    if (bottom - top < FJ_LEND_AFTER || self->pin1 || (t->flags & FJ_JOB_LARGE_STACK) || fj__over_limit(w) ||
        w->in_hook)
        return false;
    fj__fiber *child = fj__fiber_take_small(w);
    if (!child)
        return false;
    if (FJ_UNLIKELY(w->lend_n))   /* a lent job lends in turn: its lend's claim goes back first */
        fj__lend_give_back(w, "fj_run_jobs");
    w->lend_mark = 0;   /* the new lend times its own jobs (lend.c) */
    child->lend_q1 = (uint32_t)q + 1;
    child->lend_left = FJ_LEND_RUN - 1;
    fj_store_relaxed(&self->wait_counter, (fj_counter *)NULL);   /* a call owes no wait (take_sibling) */
    FJ__STAT_INC(w, lends);
    *wp = fj__call_child(w, self, child, t);
    return true;
}

static fj__worker *worker_leave(fj__worker *w, fj__fiber *self);

/* Work private to w (its chunk, its yielded fibers) to where others can take
 * it: the worker is leaving, or is about to run an entered thread's own code
 * for as long as that code likes. Yielded fibers pinned to w stay its own
 * (its pinned queue). */
void fj__hand_back_private(fj__worker *w, const char *call)
{
    size_t moved = 0;
    if (w->chunk) {
        fj__chunk_hand_back(w);
        moved++;
    }
    fj__task t;
    while (fj__take_yielded(w, &t)) {
        fj__fiber *f = t.arg;
        if (f->pin1)
            fj__pin_push(w->s, f->pin1 - 1, &t, call);
        else
            fj__push_or_die(&w->ready, &t, 1, call);
        moved++;
    }
    fj__notify(w->s, moved);
}

static void deferred_put(fj_scheduler *s, const fj__task *t)
{
    fj__os_mutex_lock(&s->deferred_lock);
    if (s->ndeferred == s->deferred_cap) {
        /* The job has no fiber to run on now and must not be lost. */
        size_t cap = s->deferred_cap ? s->deferred_cap * 2 : 16;
        fj__task *d = fj__mem_alloc_or_die(&s->mem, cap * sizeof *d, FJ_MEM_ALIGN, "fj_run_jobs",
                                           "deferring large-stack job", t->name);
        if (s->ndeferred)
            memcpy(d, s->deferred, s->ndeferred * sizeof *d);
        fj__mem_free(&s->mem, s->deferred, s->deferred_cap * sizeof *d, FJ_MEM_ALIGN);
        s->deferred = d;
        s->deferred_cap = cap;
    }
    s->deferred[s->ndeferred++] = *t;
    fj_fetch_add_seq_cst(&s->deferred_total, 1);
    fj_fence_seq_cst();   /* the other half of the hand-shake in after_switch */
    fj__os_mutex_unlock(&s->deferred_lock);
}

static bool deferred_take(fj_scheduler *s, fj__task *out)
{
    bool got = false;
    fj__os_mutex_lock(&s->deferred_lock);
    if (s->ndeferred) {
        *out = s->deferred[--s->ndeferred];
        fj_fetch_sub_seq_cst(&s->deferred_total, 1);
        got = true;
    }
    fj__os_mutex_unlock(&s->deferred_lock);
    return got;
}

/* A large fiber whose job is done goes back to the pool if a small one can
 * carry on the worker's loop: otherwise idle workers would end up holding the
 * few large fibers and large-stack jobs would wait for them forever. */
static fj__worker *give_back_large(fj__worker *w, fj__fiber *self)
{
    fj__fiber *small = fj__fiber_take_small(w);
    if (!small)
        return w;
    fj__fold_flush(w);
    return fj__switch_to(w, self, small, FJ_POST_FREE);
}

/* The loop every fiber runs. Never returns. */
static void fiber_loop(fj__worker *w, fj__fiber *self)
{
    for (;;) {
        fj__task t;
        /* A task handed to this fiber comes first: a call (fj__call_child)
         * must come back even if the worker is about to leave. */
        if (FJ_UNLIKELY(!w->has_handoff && fj__should_leave(w))) {
            w = worker_leave(w, self);
            continue;
        }
        if (FJ_UNLIKELY(fj_load_relaxed(&w->s->deferred_total)) && !w->has_handoff && !fj__over_limit(w) &&
            (self->kind == FJ_KIND_LARGE || fj__pool_has_free(fj_load_relaxed(&w->s->free_large))))
            w->has_handoff = deferred_take(w->s, &w->handoff);
        if (w->has_handoff) {
            t = w->handoff;
            w->has_handoff = false;
        } else if (!fj__try_find(w, &t)) {
            if (FJ_UNLIKELY(self->kind == FJ_KIND_LARGE) &&
                (w->nspare || fj__pool_has_free(fj_load_relaxed(&w->s->free_small)))) {
                w = give_back_large(w, self);
                continue;
            }
            if (FJ_UNLIKELY(fj__over_limit(w)))
                fj__worker_park(w);
            else
                fj__worker_idle(w);
            continue;
        } else if (FJ_UNLIKELY(fj__over_limit(w)) && !fj__task_pinned(&t)) {
            /* Over the limit (fj_set_active_workers; idle.c, "Parking"): the
             * task goes back where others steal it, and this worker parks
             * (on a small fiber, leaving the large ones to large jobs). */
            fj__park_give_back(w, &t);
            if (self->kind == FJ_KIND_LARGE && (w->nspare || fj__pool_has_free(fj_load_relaxed(&w->s->free_small))))
                w = give_back_large(w, self);
            else
                fj__worker_park(w);
            continue;
        }
        if (t.fn == NULL) {
            /* Resume a woken or yielded fiber; this one goes back to the pool. */
            fj__fiber *f = t.arg;
            fj__fold_flush(w);
            if (FJ_UNLIKELY(f->kind == FJ_KIND_NATIVE))
                fj__hand_back_private(w, "fj_wait");   /* its code may run for long */
            w = fj__switch_to(w, self, f, FJ_POST_FREE);
            continue;
        }
        if (FJ_UNLIKELY(t.flags & FJ_JOB_PINNED) && fj__pin_worker(t.flags) != w->index) {
            /* Pinned elsewhere (a deferred large-stack job taken here): back
             * to its own worker, unless cancelled (skipped here). */
            if (fj__task_cancelled(&t)) {
                fj__skip_job(w, &t);
                continue;
            }
            fj__pin_push(w->s, fj__pin_worker(t.flags), &t, "fj_run_jobs");
            fj__notify_all(w->s);
            continue;
        }
        if ((t.flags & FJ_JOB_LARGE_STACK) && self->kind != FJ_KIND_LARGE) {
            /* Never a called child (fj__call_child takes a large fiber for
             * one), so a skip here owes no return to a waiter. */
            if (fj__task_cancelled(&t)) {
                fj__skip_job(w, &t);
                continue;
            }
            fj__fiber *big = fj__pool_take(w->s, &w->s->free_large);
            if (!big) {
                deferred_put(w->s, &t);
                continue;
            }
            w->handoff = t;
            w->has_handoff = true;
            fj__fold_flush(w);
            w = fj__switch_to(w, self, big, FJ_POST_FREE);
            continue;
        }
        if (FJ_UNLIKELY(t.flags & FJ_JOB_PINNED)) {
            /* Its waits and yields come back here. Relaxed atomic stores:
             * deadlock reports on other threads read it. */
            fj_store_relaxed(&self->pin1, w->index + 1);
            w->pin_live++;
        }
        bool panicked = run_job(&w, self, &t, false);
        if (FJ_UNLIKELY(t.flags & FJ_JOB_PINNED)) {   /* back on its own worker */
            fj_store_relaxed(&self->pin1, 0u);
            w->pin_live--;
        }
        if (FJ_UNLIKELY(t.flags & FJ_TASK_ROOT)) {
            /* The root job counts on no counter: fj_main reads its outcome. */
            fj__fold_flush(w);
            fj_store_relaxed(&w->s->root_panicked, panicked ? 1u : 0u);
            fj_store_release(&w->s->root_done, 1);
            fj__notify_all(w->s);
            w = give_back_large(w, self);
            continue;
        }
        if (FJ_UNLIKELY(self->call_parent)) {
            /* Called by a waiter (fj__call_child). If another child of the
             * same wait is still queued here, run it on this fiber, back at
             * its base with its whole stack, instead of two more switches;
             * then back to the waiter, and this fiber back to the pool.
             * Lent by a submitter: the next job of its backlog, likewise. */
            if (self->lend_q1 ? fj__lend_next(w, self, &w->handoff)
                              : !fj__over_limit(w) && take_sibling(w, self, self->call_parent, &w->handoff)) {
                w->has_handoff = true;
                continue;
            }
            fj__fiber *parent = self->call_parent;
            self->call_parent = NULL;
            self->lend_q1 = 0;
            w = fj__switch_to(w, self, parent, FJ_POST_FREE);
            continue;
        }
        if (FJ_UNLIKELY(self->kind == FJ_KIND_LARGE))
            w = give_back_large(w, self);
    }
}

void fj__fiber_entry(fj__ctx *from, void *arg)
{
    (void)from;
    fj__fiber *self = arg;
    fj__san_first_start();
    fj__worker *w = fj__current_worker();
    after_switch(w, self);
    fiber_loop(w, self);
    abort();
}

/* Leave the scheduler (worker 0 when the root job returned, everyone at exit):
 * hand private work to the deques where others can steal it, then go back to
 * the thread's own stack. Returns only if this fiber is later reused. */
static fj__worker *worker_leave(fj__worker *w, fj__fiber *self)
{
    fj__fold_flush(w);
    fj__spares_give_back(w);
    fj__hand_back_private(w, "fj_main");
    w->post_kind = FJ_POST_FREE;
    w->post_fiber = self;
    if (FJ_UNLIKELY(w->hooks != NULL))
        fj__hook_switch_begin(w, self->id, w->thread_fiber, NULL);
    switch_annotated(&self->ctx, &self->san, &w->thread_ctx, &w->thread_san);
    w = fj__current_worker();
    after_switch(w, self);
    if (FJ_UNLIKELY(w->hooks != NULL))
        fj__hook_switch_end(w, self->id);
    return w;
}

/* Enter the scheduler on the calling thread as worker w, starting on a fiber
 * from the pool; return when the worker leaves. */
void fj__worker_enter(fj__worker *w, const fj__task *first)
{
    fj_scheduler *s = w->s;
    fj__set_current_worker(w);
    if (w->hooks)
        fj__hook_worker(w, true);
    fj__fiber *f;
    bool counted_stuck = false;
    for (;;) {
        f = fj__pool_take(s, first ? &s->free_large : &s->free_small);
        if (!f)
            f = fj__pool_take(s, first ? &s->free_small : &s->free_large);
        if (f)
            break;
        /* Every fiber is in use (waiting jobs hold them): this worker can only
         * join once one comes free. Meanwhile it counts as stuck for the
         * deadlock check. */
        if (!counted_stuck) {
            fj_fetch_add_seq_cst(&s->stuck, 1);
            counted_stuck = true;
        }
        if (!first && fj_load_acquire(&s->exit))
            break;
        fj__os_sleep_ns(200 * 1000);
    }
    if (counted_stuck)
        fj_fetch_sub_seq_cst(&s->stuck, 1);
    if (!f) {
        if (w->hooks)
            fj__hook_worker(w, false);
        fj__set_current_worker(NULL);
        return;
    }
    if (first) {
        w->handoff = *first;
        w->has_handoff = true;
    }
    w->post_kind = FJ_POST_NONE;
    if (w->hooks)
        fj__hook_switch_begin(w, w->thread_fiber, f->id, fj__fiber_name(f->id));
    w->current = f;
    f->worker = w;
    void *stack_lo = NULL;
    size_t stack_size = 0;
    fj__os_thread_stack(&stack_lo, &stack_size);
    fj__san_thread_init(&w->thread_san, stack_lo, stack_size);
    switch_annotated(&w->thread_ctx, &w->thread_san, &f->ctx, &f->san);
    /* Back on the thread's own stack: finish the leaving fiber's hand-off
     * (to the pool: a worker away keeps no spares). */
    after_switch(w, NULL);
    if (w->hooks)
        fj__hook_switch_end(w, w->thread_fiber);
    fj__spares_give_back(w);
    if (w->hooks)
        fj__hook_worker(w, false);
    fj__set_current_worker(NULL);
}

void *fj__worker_thread(void *arg)
{
    fj__worker *w = arg;
    char name[16];
    snprintf(name, sizeof name, "fj-worker-%u", w->index);   /* 4,095 at most: fits 15 characters */
    fj__os_thread_name_self(name);
    /* Every worker starts its jobs from the creating thread's FP state. */
    w->fpu = w->s->workers[0].fpu;
    fj__fpu_apply(&w->fpu);
    fj__altstack_enter(w);
    fj__worker_enter(w, NULL);
    fj__altstack_leave(w);
    return NULL;
}
