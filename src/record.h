/*
 * Launch-when-done records (record.c, fj_run_jobs_after) and the timed
 * waits' proxies and timers built on them (timer.c): the record and the
 * declarations of those two files. Part of internal.h, which includes it
 * where their blocks belong in its lowest-layer-first order (after wake.c,
 * before counter.c); it uses the types defined above that point and is not
 * included on its own.
 */
#ifndef FJ_RECORD_H
#define FJ_RECORD_H

#ifndef FJ_INTERNAL_H
#error "record.h is part of internal.h: include internal.h"
#endif

/*
 * A launch-when-done record (record.c, fj_run_jobs_after): jobs waiting on a
 * counter's wait list in place of a fiber. Its id comes from the same space
 * as the fibers' (fj__waiter_table holds NULL for it, fj__record_table the
 * record), and records live for ever once made, so following a wait list
 * never reaches freed memory. wait_next/wait_target/wait_counter mean what
 * they mean for a fiber (counter.c).
 */
#define FJ__AFTER_INLINE 4
/* state: free, a launch pending, or a timed wait's proxy (timer.c). */
enum { FJ__REC_FREE = 0, FJ__REC_PENDING = 1, FJ__REC_PROXY = 2 };
/* A proxy's claim: nobody yet, the count was reached, the deadline passed. */
enum { FJ__CLAIM_NONE = 0, FJ__CLAIM_REACHED = 1, FJ__CLAIM_TIMEOUT = 2 };
#define FJ__NO_HEAP UINT32_MAX
struct fj__record {
    uint32_t id;
    uint32_t wait_next;
    int64_t wait_target;
    /* A timed wait's proxy (state FJ__REC_PROXY; timer.c): listed on the
     * counter in place of its waiter, which whoever claims it first (a
     * finisher or the deadline) resumes. refs: the list, the timer, the
     * waiter; the last to let go puts it back. */
    struct fj__fiber *waiter;
    uint32_t claim;             /* FJ__CLAIM_*: one CAS from NONE decides */
    uint32_t refs;
    uint64_t deadline;          /* fj__os_now_ns clock */
    uint32_t heap_index;        /* in s's timer heap (under timer_lock), or FJ__NO_HEAP */
    fj_counter *wait_counter;   /* the prerequisite it is listed on now (relaxed atomic: reports) */
    uint32_t state;             /* FJ__REC_FREE or FJ__REC_PENDING (relaxed atomic: reports) */
    uint32_t next_after;        /* index in after[] of that prerequisite */
    uint32_t nafter;
    fj_after *after;            /* inline_after, or s->mem's when more */
    size_t ntasks;
    fj__task *tasks;            /* &task, or s->mem's when more */
    struct fj_scheduler *s;     /* whose jobs: it launches them there (relaxed atomic: reports) */
    const char *job_name;       /* its first job's (relaxed atomic: reports) */
    struct fj__record *free_next;
    fj__task task;
    fj_after inline_after[FJ__AFTER_INLINE];
};

/* --- record.c: launch-when-done records (fj_run_jobs_after) ---------------- */
/* A free record (the calling worker's cache when w is s's, else the shared
 * list); NULL with *err FJ_ENOMEM or FJ_ELIMIT (no waiter id left). */
FJ__SHARED fj__record *fj__record_take(fj__worker *w, int *err);
/* r's arrays back to r->s's allocator, r to w's cache (or the shared list). */
FJ__SHARED void fj__record_put(fj__worker *w, fj__record *r);
/* w's cached records to the shared list (the worker stops). */
FJ__SHARED void fj__records_give_back(fj__worker *w);
/* Every prerequisite of r is reached: queue its jobs on r->s (w's deques
 * when w is one of r->s's workers, else the injection queue), end its
 * pending count and put it back. Returns how many jobs went to w's deques
 * unannounced: the caller notifies (fj__notify) for them. */
FJ__SHARED size_t fj__record_launch(fj__worker *w, fj__record *r);
/* A record of s is registered (+1) or launched (-1) by the calling thread w
 * (NULL: not one of s's workers). */
static inline void fj__record_pending(fj_scheduler *s, fj__worker *w, int64_t d)
{
    if (w && w->s == s)
        fj_store_relaxed(&w->rec_pending, fj_load_relaxed(&w->rec_pending) + d);
    else
        fj_fetch_add_seq_cst(&s->records_pending, d);
}
/* s's records not yet launched: read only at quiescence (record.c, "Pending"). */
FJ__SHARED int64_t fj__records_pending(fj_scheduler *s);
/* For each pending record of s (every scheduler's when NULL), call line(r)
 * (under the records' lock); returns how many there were. */
unsigned fj__records_each(fj_scheduler *s, void (*line)(const fj__record *r, void *arg), void *arg);

/* --- timer.c: timed waits' proxies, the timer heap and thread ------------- */
/* A proxy for waiter f (a fiber, or an outside record when s is NULL) on
 * counter c, holding `refs` references; NULL with *err when none is left. */
FJ__SHARED fj__record *fj__proxy_take(fj__worker *w, fj_scheduler *s, fj__fiber *f, fj_counter *c,
                                      int64_t target, uint64_t deadline, uint32_t refs, int *err);
/* Decide the wait: true for whoever moves the claim from NONE to `how`. */
static inline bool fj__proxy_claim(fj__record *r, uint32_t how)
{
    uint32_t none = FJ__CLAIM_NONE;
    return fj_cas_strong_acq_rel(&r->claim, &none, how);
}
/* Let go of one reference; the last puts the proxy back. */
FJ__SHARED void fj__proxy_release(fj__record *r);
/* A chain owner reached proxy r: claim it and resume its waiter, then let
 * go of the list's reference. Returns 1 when the waiter went to the calling
 * worker's own ready deque (the caller notifies), else 0. */
FJ__SHARED size_t fj__proxy_reached(fj__record *r);
/* Before a timed wait parks: start s's timer thread if needed and reserve
 * a heap slot; false when either cannot be had (the caller polls instead). */
FJ__SHARED bool fj__timer_reserve(fj_scheduler *s);
/* Put r in s's heap, in the slot reserved (cannot fail); or give the slot
 * back when r is not to be timed after all (r NULL). */
FJ__SHARED void fj__timer_add(fj_scheduler *s, fj__record *r);
/* The waiter of r is back: take r out of the heap if it is still there
 * (then the timer's reference goes too). */
FJ__SHARED void fj__timer_cancel(fj_scheduler *s, fj__record *r);
/* fj_destroy, after the drain: stop the timer thread, drop what is left. */
FJ__SHARED void fj__timers_stop(fj_scheduler *s);

#endif
