/*
 * The fiber pool, waiter ids and outside records, spare fibers and stack
 * segments (fiber.c, segment.c): their declarations. Part of internal.h,
 * which includes it where these blocks belong in its lowest-layer-first
 * order; it uses the types defined above that point and is not included on
 * its own.
 */
#ifndef FJ_FIBER_H
#define FJ_FIBER_H

#ifndef FJ_INTERNAL_H
#error "fiber.h is part of internal.h: include internal.h"
#endif

/* Fiber pool (fiber.c). */
int fj__fibers_create(fj_scheduler *s, void (*entry)(fj__ctx *, void *));
/* Low end of segment k of small fiber f (0: its own stack); segment k > 0
 * spans s->seg_size bytes from there, above a guard gap of its own. */
static inline char *fj__seg_lo(const fj__fiber *f, uint32_t k)
{
    return (char *)f->stack_lo - (size_t)k * f->s->seg_stride;
}
/* How far below its top segment k of f starts (its own stack: k = 0): the
 * fibers' and segments' first frames spread over the cache's sets instead of
 * all sitting at the same offset in a page, where an 8-way set holds only 8
 * of them (fib: 25% slower without it). */
static inline size_t fj__seg_colour(const fj__fiber *f, uint32_t k)
{
    return (size_t)((f->index + k) % 8u) * FJ_SEG_COLOUR;
}
#if FJ_CTX_HAS_CALL_ON
FJ__SHARED bool fj__seg_prepare(fj__fiber *f, uint32_t k);
#endif
void fj__fibers_destroy(fj_scheduler *s);
FJ__SHARED fj__fiber *fj__pool_take(fj_scheduler *s, uint64_t *head);
FJ__SHARED void fj__pool_put(fj_scheduler *s, uint64_t *head, fj__fiber *f);
static inline uint64_t *fj__pool_of(fj_scheduler *s, fj__fiber *f)
{
    return f->kind == FJ_KIND_LARGE ? &s->free_large : &s->free_small;
}
/* Waiter ids and outside records (fiber.c). A wait list's id names a fiber
 * or outside record (fj__waiter_table) or else a launch record
 * (fj__record_table; NULL in the other table). */
extern fj__fiber *fj__waiter_table[FJ_WAITER_ID_MAX + 1];
extern fj__record *fj__record_table[FJ_WAITER_ID_MAX + 1];
static inline fj__fiber *fj__waiter_of(uint32_t id) { return fj__waiter_table[id]; }
/* Give n launch records ids (all or none); false when none are left. */
bool fj__ids_take_records(fj__record *recs, uint32_t n);
fj__fiber *fj__outside_take(void);   /* NULL: out of memory or ids */
void fj__outside_put(fj__fiber *r);
extern uint32_t fj__outside_waiting;
/* Append a line per outside record that waits; adds their number to *count. */
size_t fj__outside_report(char *buf, size_t len, size_t cap,
                          size_t (*line)(char *, size_t, size_t, const fj__fiber *), unsigned *count);

/* Fiber names for hooks ("fj-fiber-<id>", by waiter id; fiber.c): made for
 * s's fibers by fj__fiber_names_make (0 or FJ_ENOMEM), never freed. */
int fj__fiber_names_make(fj_scheduler *s);
const char *fj__fiber_name(uint32_t id);

/* Free small fibers each worker keeps off the shared pool (fiber.c). */
FJ__SHARED fj__fiber *fj__fiber_take_small(fj__worker *w);
/* A free fiber of the class `flags` asks for (FJ_JOB_LARGE_STACK), or NULL. */
FJ__SHARED fj__fiber *fj__fiber_take(fj__worker *w, uintptr_t flags);
FJ__SHARED void fj__fiber_put(fj__worker *w, fj__fiber *f);
FJ__SHARED void fj__spares_give_back(fj__worker *w);
/* Does a pool head (fj_scheduler.free_small/free_large) hold a fiber? */
static inline bool fj__pool_has_free(uint64_t head) { return (head & 0xffffffffu) != 0; }

/* Stack segments (segment.c). */
/* Can a job of `flags` run on self's next stack segment (segment.c)? Makes the segment usable on first use. */
FJ__SHARED bool fj__seg_next(fj__fiber *self, uintptr_t flags);
/* Run t on self's next stack segment and come back when it returned. */
FJ__SHARED fj__worker *fj__run_on_seg(fj__worker *w, fj__fiber *self, const fj__task *t);

#endif
