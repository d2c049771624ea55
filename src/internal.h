/* Internal declarations shared by the library's source files (prefix fj__). */
#ifndef FJ_INTERNAL_H
#define FJ_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "arch/ctx.h"
#include "arch/fpu.h"
#include "atomics.h"
#include "deque.h"
#include "fiberjob.h"
#include "os.h"
#include "sanitize.h"
#include "trace.h"

enum { FJ_Q_HIGH = 0, FJ_Q_NORMAL = 1, FJ_Q_LOW = 2, FJ_NQ = 3 };

/* Task flags beyond the public FJ_JOB_ ones. */
#define FJ_TASK_ROOT (1u << 16)
/* Every public FJ_JOB_ flag: any other bit in fj_job.flags is refused. */
#define FJ_JOB_WORKER_BITS (FJ_JOB_WORKER_MAX << FJ_JOB_WORKER_SHIFT)
#define FJ_JOB_DEFINED ((unsigned)(FJ_JOB_LARGE_STACK | FJ_JOB_SHALLOW | FJ_JOB_PINNED | FJ_JOB_WORKER_BITS))
/* Flags a job may not have: undefined bits, both stack classes at once, or
 * a worker index without FJ_JOB_PINNED. */
static inline bool fj__bad_flags(unsigned f)
{
    return (f & ~FJ_JOB_DEFINED) || (f & (FJ_JOB_LARGE_STACK | FJ_JOB_SHALLOW)) == (FJ_JOB_LARGE_STACK | FJ_JOB_SHALLOW) ||
           ((f & FJ_JOB_WORKER_BITS) && !(f & FJ_JOB_PINNED));
}
/* Not a plain job of one stack class: any flag but FJ_JOB_LARGE_STACK or
 * FJ_JOB_SHALLOW (pinned, undefined), or both of those. The submission fast
 * paths test this one; the jobs it lets through need no other flag check. */
static inline bool fj__not_plain(unsigned f)
{
    return (f & ~(unsigned)(FJ_JOB_LARGE_STACK | FJ_JOB_SHALLOW)) ||
           (f & (FJ_JOB_LARGE_STACK | FJ_JOB_SHALLOW)) == (FJ_JOB_LARGE_STACK | FJ_JOB_SHALLOW);
}
/* The worker a pinned job's flags name. */
static inline unsigned fj__pin_worker(uintptr_t flags) { return (unsigned)(flags >> FJ_JOB_WORKER_SHIFT) & FJ_JOB_WORKER_MAX; }
/* A deque entry standing for jobs lo..hi-1 of a batch (batch.c). */
#define FJ_TASK_RANGE (1u << 17)
/* A job stamped with the time it was queued (tracing on: trace.c, "Queueing
 * delay"); the stamp is in bits 32-63, which only range entries use else. */
#define FJ_TASK_QUEUED (1u << 18)
/* Above the flags, a task carries its queue (bits 24-31); a range entry also
 * its lo (bits 32-47) and hi (bits 48-63). */
#define FJ_TASK_Q_SHIFT 24
#define FJ_TASK_LO_SHIFT 32
#define FJ_TASK_HI_SHIFT 48
_Static_assert(sizeof(uintptr_t) == 8, "range entries pack lo and hi into the flags word");
static inline int fj__task_queue(const fj__task *t) { return (int)((t->flags >> FJ_TASK_Q_SHIFT) & 0xff); }
static inline uint32_t fj__task_lo(const fj__task *t) { return (uint32_t)((t->flags >> FJ_TASK_LO_SHIFT) & 0xffff); }
static inline uint32_t fj__task_hi(const fj__task *t) { return (uint32_t)(t->flags >> FJ_TASK_HI_SHIFT); }
static inline bool fj__is_range(const fj__task *t) { return (t->flags & FJ_TASK_RANGE) != 0; }
static inline int fj__prio_queue(fj_priority p)
{
    return p == FJ_PRIORITY_HIGH ? FJ_Q_HIGH : p == FJ_PRIORITY_LOW ? FJ_Q_LOW : FJ_Q_NORMAL;
}

/* Job batches (batch.c). */
#define FJ_BATCH_MIN 8
#define FJ_BATCH_MAX 256    /* jobs per batch (lo and hi are 16-bit fields of an entry) */
typedef struct fj__batch {
    struct fj__batch *next;     /* free list, return stack */
    struct fj__worker *home;    /* the worker whose pool it goes back to */
    fj_counter *counter;
    /* FJ_JOB_SHALLOW when every job of it is, else 0; with tracing on, the
     * queueing stamp of the submission as well (FJ_TASK_QUEUED, bits 32-63):
     * each job taken from the batch gets these flags. */
    uintptr_t flags;
    int64_t left;               /* atomic: jobs not yet started */
    /* A uniform batch (every job with the same function and name, as a
     * stage of a frame or a parallel loop written with jobs): `fn` and
     * `name` once, and only each job's arg, 8 bytes a job instead of 32: a
     * quarter of the lines to write when it is queued, to keep in the cache,
     * and for a thief to fetch from the submitter's core. Otherwise `fn` is
     * NULL and `jobs` holds copies of the jobs. */
    fj_job_fn fn;
    const char *name;           /* uniform: the jobs' name, never NULL */
    union {
        fj_job jobs[FJ_BATCH_MAX];
        void *args[FJ_BATCH_MAX];
    } u;
} fj__batch;

/* The name of job i of batch b (reports, range entries). */
static inline const char *fj__batch_job_name(const fj__batch *b, uint32_t i)
{
    return b->fn ? b->name : fj__job_name(b->u.jobs[i].name);
}

/* The fiber, worker and scheduler records. */
#include "types.h"

/* The scheduler's own functions, shared only between its files: static in
 * the unity build (src/unity.c), so the compiler inlines across files as
 * freely as within one (an external function it would keep out of line);
 * hidden externals when built file by file. */
#ifdef FJ_UNITY_BUILD
#define FJ__SHARED static
#else
#define FJ__SHARED
#endif

/*
 * Declarations, one block per file, lowest layer first (the order of
 * src/unity.c): a file calls only the files above its block, and upward only
 * through a function pointer set at create (s->fiber_entry). Internal return
 * conventions: the OS layer returns 0 or a negative errno; the deque and the
 * lifecycle 0 or an FJ_E code; the pools and the hwloc reader NULL or -1.
 */

/* Per-worker statistics: the owner writes them (relaxed), fj_stats reads. */
#define FJ__STAT_ADD(w, field, n) fj_store_relaxed(&(w)->stats.field, fj_load_relaxed(&(w)->stats.field) + (n))
#define FJ__STAT_INC(w, field) FJ__STAT_ADD(w, field, 1)

/* Values of fj__fiber.watch for worker i (wake.c, "The home watch"). */
#define FJ__WATCHED(i) ((((uint32_t)(i) + 1u) << 2) | 1u)
#define FJ__HANDED(i) ((((uint32_t)(i) + 1u) << 2) | 2u)

/* The resume task of a woken or yielded fiber (fn == NULL). */
static inline fj__task fj__resume_task(fj__fiber *f)
{
    return (fj__task){ .fn = NULL, .arg = f, .name = f->job_name };
}

/* --- runtime.c: the base -------------------------------------------------- */
/* The worker the calling code runs on. Not inlined, and opaque to the
 * optimiser, so a value is never cached across a fiber switch (a fiber may
 * resume on another thread). */
fj__worker *fj__current_worker(void);
void fj__set_current_worker(fj__worker *w);
void fj__set_last_error(int code);
/* Stop the process with one line naming the call, and the job if any. */
FJ_NORETURN void fj__fatal(const char *call, const char *fmt, ...) FJ_PRINTF(2, 3);
/* The worker a job returned on, read from its fiber (fj__fiber.worker): one
 * load where fj__current_worker is a call and a thread-local read (7
 * instructions a job, BENCHMARKS.md). Sanitizer builds, which run every test,
 * check it against the thread's. */
static inline fj__worker *fj__worker_of(const fj__fiber *self)
{
    fj__worker *w = self->worker;
#if defined(FJ_ASAN) || defined(FJ_TSAN)
    if (w != fj__current_worker())
        fj__fatal("job return", "fiber %u returned on the thread of worker " FJ_PTR ", its record says " FJ_PTR,
                  self->index, (void *)fj__current_worker(), (void *)w);
#endif
    return w;
}
/* Stop, naming the call and the hook, if a hook (fj_hooks) runs on w: a
 * hook must not wait, yield or panic (hooks.c). */
static inline void fj__check_not_in_hook(const fj__worker *w, const char *call)
{
    if (__builtin_expect(w->in_hook != NULL, 0))
        fj__fatal(call, "called inside the %s hook: a hook must not wait, yield or panic", w->in_hook);
}
/* Push, or stop naming the call, the size refused and the job: a task is
 * never dropped. */
void fj__push_or_die(fj__deque *d, const fj__task *t, size_t n, const char *call);
/* Set m up for fj_config.allocator a (both NULL: the C library's); FJ_EINVAL
 * when only one of its functions is set. */
int fj__mem_init(fj__mem *m, const fj_allocator *a);
/* fj__mem_alloc, or stop with one line: "out of memory (... for SIZE bytes)
 * WHAT 'JOB'", naming the call. For paths that can neither fail nor run the
 * job another way. */
void *fj__mem_alloc_or_die(const fj__mem *m, size_t size, size_t align, const char *call, const char *what,
                           const char *job);
/* Registry of live schedulers (fj_create to the end of fj_destroy). */
void fj__registry_add(fj_scheduler *s);
void fj__registry_retire(fj_scheduler *s);   /* being destroyed: no longer the default */
void fj__registry_remove(fj_scheduler *s);
/* Stop with a plain line unless s is a live scheduler. */
void fj__check_live(const char *call, const fj_scheduler *s);
/* The newest live scheduler not being destroyed (outside submissions), or NULL. */
fj_scheduler *fj__default_scheduler(void);
/* Lock the registry and return its newest scheduler (linked through `older`). */
fj_scheduler *fj__registry_lock(void);
void fj__registry_unlock(void);

/* Queueing delay (trace.c, only while tracing): the flags that stamp the
 * tasks of one submission made now (FJ_TASK_QUEUED and the time), recording
 * FJ_EV_JOB_QUEUE in ring r (the submitting worker's; NULL from outside). */
uintptr_t fj__trace_queued(fj__trace_ring *r, uint32_t fiber, const char *name, uint64_t count);
/* A job starts on w: its queueing delay into w's statistics when it was
 * stamped, and FJ_EV_JOB_BEGIN with the time it was queued. */
void fj__trace_job_begin(fj__worker *w, uint32_t fiber, const fj__task *t);
#define FJ_TRACE_JOB_BEGIN(w, fiber, t)                         \
    do {                                                        \
        if (__builtin_expect((w)->trace != 0, 0))               \
            fj__trace_job_begin((w), (fiber), (t));             \
    } while (0)

/* Topology (topology.c). */
typedef struct fj__cpu_info {
    int cpu;
    int core;   /* representative CPU of its physical core (SMT siblings share it) */
    int llc;    /* representative CPU of its last-level cache; FJ__LLC_PACKAGE + package without caches */
    int perf;   /* higher runs first: hybrid Intel 1 (performance) or 0 (efficiency),
                 * else cpu_capacity (ARM big.LITTLE), 0 when unknown */
} fj__cpu_info;
#define FJ__LLC_PACKAGE 100000
/* From /sys, or the tree FIBERJOB_SYSFS_ROOT names; _at: from the tree at root. */
void fj__topology_read(const int *cpus, int n, fj__cpu_info *out);
void fj__topology_read_at(const char *root, const int *cpus, int n, fj__cpu_info *out);
/* The CPUs of info[0..n) in pinning order (see topology.c); returns how many
 * (only one per core with avoid_smt). */
int fj__topology_order_info(const fj__cpu_info *info, int n, int avoid_smt, int *out);
/* The same for the allowed CPUs, read with fj__topology_read into scratch
 * (n records, the caller's memory); NULL scratch: the order given. */
int fj__topology_order(const int *allowed, int n, int avoid_smt, int *out, fj__cpu_info *scratch);

/* Failure safety (panic.c). */
/* Run fn(arg) inside a panic boundary; true when the job panicked. */
FJ__SHARED bool fj__job_call(fj__fiber *self, fj_job_fn fn, void *arg);
/* Stack overflow reports (overflow.c). alloc returns 0 or FJ_ENOMEM; install
 * and enter return 0 or a negative errno from the OS layer. */
int fj__signals_install(void);
void fj__signals_uninstall(void);
int fj__altstack_alloc(fj__worker *w);
void fj__altstack_free(fj__worker *w);
int fj__altstack_enter(fj__worker *w);
void fj__altstack_leave(fj__worker *w);

/* --- fiber.c: the fiber pool, waiter ids, stack segments: fiber.h -------- */
#include "fiber.h"

/* --- hooks.c: calling fj_config.hooks ------------------------------------- */
/* Does the configuration set any hook (fj_hooks, user aside)? */
FJ__SHARED bool fj__hooks_set(const fj_hooks *h);
/* The pool's fibers come into being for the hooks (fj_create, before any
 * worker starts) or go (fj_destroy, after every worker stopped). */
FJ__SHARED void fj__hooks_pool(fj_scheduler *s, bool create);
/* Each calls its hook if it is set (w->hooks is not NULL: the caller tests). */
FJ__SHARED FJ_NOINLINE __attribute__((cold)) uint64_t fj__hook_job_begin(fj__worker *w, const char *name);
FJ__SHARED FJ_NOINLINE __attribute__((cold)) void fj__hook_job_end(fj__worker *w, const char *name, uint64_t token,
                                                                  bool panicked);
FJ__SHARED FJ_NOINLINE __attribute__((cold)) void fj__hook_switch_begin(fj__worker *w, uint64_t from, uint64_t to,
                                                                       const char *to_name);
FJ__SHARED FJ_NOINLINE __attribute__((cold)) void fj__hook_switch_end(fj__worker *w, uint64_t fiber);
/* The calling thread starts (or stops) acting as worker w: worker_start,
 * then its own stack comes into being as a fiber; at the stop the same in
 * reverse. */
FJ__SHARED FJ_NOINLINE __attribute__((cold)) void fj__hook_worker(fj__worker *w, bool start);

/* --- pinned.c: tasks pinned to one worker ---------------------------------- */
FJ__SHARED void fj__pin_init(fj__worker *w);
FJ__SHARED void fj__pin_free(fj__worker *w);
/* Queue t (a job pinned to worker `to`, or a pinned fiber's resume task) on
 * that worker; the caller wakes it (fj__notify_all) unless it is the caller.
 * call names the public call in the fatal lines (unknown worker, no memory). */
FJ__SHARED void fj__pin_push(fj_scheduler *s, unsigned to, const fj__task *t, const char *call);
/* The owner takes a woken pinned fiber only (fj_wait parking with no fiber
 * free: a pinned *job* may not run nested there, it would lose its pin). */
FJ__SHARED bool fj__pin_take_fiber(fj__worker *w, fj__task *out);
/* Is a woken pinned fiber queued on w (under the lock: a slow path)? */
FJ__SHARED bool fj__pin_fibers_queued(fj__worker *w);
/* The owner takes its next pinned task: woken fibers first, then by priority. */
FJ__SHARED bool fj__pin_take(fj__worker *w, fj__task *out);
/* Is anything pinned to any worker of s queued? Quiescence (idle.c) and the
 * deadlock judge ask: a worker's own "is there work" looks only at its own. */
FJ__SHARED bool fj__pins_queued(fj_scheduler *s);
/* Tasks queued pinned to w (any thread; a hint). */
static inline uint32_t fj__pin_queued(fj__worker *w) { return fj_load_acquire(&w->pin_count); }

/* --- parking (idle.c, "Parking"): workers over fj_set_active_workers' limit */
/* Is w over the limit? Relaxed: idle.c, "Parking", says why that is enough. */
static inline bool fj__over_limit(const fj__worker *w) { return w->index >= fj_load_relaxed(&w->s->limit); }
/* A task a parked worker still runs: pinned (a job pinned to it, or the
 * resume of a fiber whose pinned job waited or yielded there). */
static inline bool fj__task_pinned(const fj__task *t)
{
    return t->fn ? (t->flags & FJ_JOB_PINNED) != 0 : ((const fj__fiber *)t->arg)->pin1 != 0;
}
/* Wake w if it is parked, after the caller made a reason visible (the limit
 * raised, a task pinned to it, exit). The fence pairs with the one in the
 * parked worker's loop (idle.c): either this load sees `parked`, or the
 * parked worker's look after its fence sees the reason. */
static inline void fj__park_kick(fj__worker *w)
{
    fj_fence_seq_cst();
    if (fj_load_relaxed(&w->parked)) {
        fj_fetch_add_seq_cst(&w->park_word, 1);
        fj__os_futex_wake(&w->park_word, 1);
    }
}

/* --- wake.c: waking sleepers, the injection queue, resuming waiters -------- */
/* n tasks were made visible: wake a sleeper if one is needed. */
FJ__SHARED void fj__notify(fj_scheduler *s, size_t n);
FJ__SHARED void fj__notify_all(fj_scheduler *s);
/* An outside thread enters or leaves a call that touches s. */
FJ__SHARED void fj__inflight_enter(fj_scheduler *s);
FJ__SHARED void fj__inflight_leave(fj_scheduler *s);
FJ__SHARED void fj__inject_push(fj_scheduler *s, fj__inject_node *node);
/* Stops naming `call` and the first job when the allocator has no memory for the node. */
FJ__SHARED void fj__inject_tasks(fj_scheduler *s, const fj__task *tasks, size_t count, const char *call);
/* Resume a waiter taken off a list, through its own scheduler; true when it
 * was queued on the calling worker's own ready deque (the caller then
 * notifies its scheduler once for all of them). */
FJ__SHARED bool fj__resume_waiter(fj__fiber *f);

/* --- record.c and timer.c: launch records, timed waits' proxies, timers -- */
#include "record.h"

/* --- counter.c: the counter protocol and folded finishes ------------------ */
/* Outside adds and dones: begun (high 32 bits) and under way (low 32 bits)
 * (counter.c, "Counts held outside"). */
extern uint64_t fj__outside_calls;
#define FJ_VALUE_SHIFT 32
#define FJ_MAXT_SHIFT 16
static inline int32_t fj__word_value(uint64_t w) { return (int32_t)(uint32_t)(w >> FJ_VALUE_SHIFT); }
/* fj_counter_value without its NULL check, inline (fj_wait's loop). */
static inline int64_t fj__counter_now(fj_counter *c) { return fj__word_value(fj_load_acquire(&c->fj__word)); }
static inline uint32_t fj__word_maxt(uint64_t w) { return (uint32_t)(w >> FJ_MAXT_SHIFT) & 0xffffu; }
static inline uint32_t fj__word_head(uint64_t w) { return (uint32_t)w & 0xffffu; }
static inline uint64_t fj__word_make(int32_t value, uint32_t maxt, uint32_t head)
{
    return ((uint64_t)(uint32_t)value << FJ_VALUE_SHIFT) | ((uint64_t)maxt << FJ_MAXT_SHIFT) | head;
}
FJ__SHARED void fj__counter_add(fj_counter *c, size_t n, const char *call);
/* call and job_name (NULL: none) name the culprit if the count goes below zero. */
FJ__SHARED void fj__counter_finish(fj_counter *c, int64_t k, const char *call, const char *job_name);
/* Publish f as waiting for c <= target; false when c is already there (not published). */
FJ__SHARED bool fj__counter_publish(fj_counter *c, fj__fiber *f, int64_t target);
/* List launch record r on its prerequisite next_after, or the next one not
 * yet reached, or launch its jobs when none is left (fj_run_jobs_after). */
FJ__SHARED size_t fj__record_start(fj__worker *w, fj__record *r);
/* Take the proxies of timed waits that gave up off c's list (timer.c). */
FJ__SHARED void fj__counter_drop_dead(fj_counter *c);
/* List proxy r on c while c's value is above target; false when it is not. */
FJ__SHARED bool fj__counter_publish_proxy(fj_counter *c, fj__record *r, int64_t target);
/* Folded finishes (counter.c, top comment): the finishes of consecutive jobs
 * of one counter on a worker are one CAS. Inline: once per job. */
static inline void fj__fold_flush(fj__worker *w)
{
    if (w->fold_counter) {
        fj_counter *c = w->fold_counter;
        int64_t k = w->fold_k;
        w->fold_counter = NULL;
        w->fold_k = 0;
        fj__counter_finish(c, k, "job finish", w->fold_name);
    }
}
static inline void fj__fold_add(fj__worker *w, fj_counter *c, const char *name)
{
    if (!c)
        return;
    if (w->fold_counter == c) {
        w->fold_k++;
        w->fold_name = name;
        return;
    }
    fj__fold_flush(w);
    w->fold_counter = c;
    w->fold_k = 1;
    w->fold_name = name;
}

/* Count one more job on c (fj_run_jobs of one job). A finish of c still
 * folded here, not yet subtracted from the word, is taken back instead of an
 * add: the word then reads what the add and that finish together would have
 * left in it, one lock xadd and one share of a later CAS fewer. Why that is
 * safe: the word never reads less than the jobs of c not yet finished, since
 * folded finishes are finished jobs whose subtraction is only held back
 * (their count is fold_k, never below 0), and taking one back counts the new
 * job where that finish was. Every finish of the new job comes after its
 * publication, as after an add; the word's modification order loses only an
 * add and a subtraction that no reader could have told apart from nothing.
 * A cancelled counter is no different: its word reads above zero while
 * fold_k > 0, so an add would not have started a new round either
 * (counter_new_round). Inline: once per lone job. */
static inline void fj__count_one(fj__worker *w, fj_counter *c, const char *call)
{
    if (w->fold_counter == c && w->fold_k > 0) {
        if (--w->fold_k == 0)
            w->fold_counter = NULL;
        return;
    }
    fj__counter_add(c, 1, call);
}

/* --- cancel.c: fj_counter_cancel and the skip of a cancelled job ---------- */
/* Is t counted on a cancelled counter (cancel.c, "Ordering")? Then its start
 * is skipped: fj__skip_job counts it and finishes it as if it had run. */
static inline bool fj__task_cancelled(const fj__task *t)
{
    return t->counter && fj_load_relaxed(&t->counter->fj__cancel) != 0;
}
FJ__SHARED FJ_NOINLINE __attribute__((cold)) void fj__skip_job(fj__worker *w, const fj__task *t);

/* --- batch.c: job batches and a worker's chunk ------------------------------ */
FJ__SHARED void fj__chunk_split(fj__worker *w);
FJ__SHARED void fj__chunk_close(fj__worker *w);
/* The next job of the worker's chunk; false when it has none (batch.c,
 * "Lazy splitting": with workers idle, the rest is shared first). */
FJ__SHARED bool fj__chunk_take(fj__worker *w, fj__task *out);
/* The next job of chunk b (w->chunk, not NULL), field by field: the take of
 * fj__chunk_take_inline and of the loop that drains a chunk (drain.c), which
 * keeps the fields in registers. The split and the close stay out of line;
 * after the close b may be another's (batch.c, "Freeing"): read what the
 * task needs of it (counter, flags) before. */
static inline __attribute__((always_inline)) void fj__chunk_take_fields(fj__worker *w, const fj__batch *b,
                                                                        fj_job_fn *fn, void **arg,
                                                                        const char **name)
{
    /* Relaxed loads: a heuristic. A stale count only splits once too many
     * (the entry is stolen back or taken by us later) or one job later. */
    if (FJ_UNLIKELY(fj_load_relaxed(&w->s->spinning) + fj_load_relaxed(&w->s->sleepers)) &&
        w->chunk_hi - w->chunk_lo >= 2)
        fj__chunk_split(w);
    uint32_t lo = w->chunk_lo;
    if (FJ_LIKELY(b->fn != NULL)) {
        *fn = b->fn;
        *arg = b->u.args[lo];
        *name = b->name;
    } else {
        const fj_job *j = &b->u.jobs[lo];
        *fn = j->fn;
        *arg = j->arg;
        *name = fj__job_name(j->name);
    }
    w->chunk_lo = lo + 1;
    if (lo + 1 == w->chunk_hi)
        fj__chunk_close(w);
}
/* fj__chunk_take, inline. */
static inline __attribute__((always_inline)) bool fj__chunk_take_inline(fj__worker *w, fj__task *out)
{
    fj__batch *b = w->chunk;
    if (!b)
        return false;
    out->counter = b->counter;
    out->flags = (uintptr_t)w->chunk_q << FJ_TASK_Q_SHIFT | b->flags;
    fj__chunk_take_fields(w, b, &out->fn, &out->arg, &out->name);
    return true;
}
/* Put the chunk's jobs not yet started back in the deque, as one entry. */
FJ__SHARED void fj__chunk_hand_back(fj__worker *w);
/* A range entry was taken or stolen: make it the chunk, *t its first job. */
FJ__SHARED void fj__range_open(fj__worker *w, fj__task *t);
/* Queue jobs[0..n) (one priority queue q, no flags) as batches; returns how
 * many it queued (fewer only when memory ran out). */
FJ__SHARED size_t fj__push_batches(fj__worker *w, const fj_job *jobs, size_t n, int q, uintptr_t flags,
                                   fj_counter *counter);
/* fj_run_jobs' common call: queue as batches the longest run of jobs[0..n)
 * equal to jobs[0] in function, name, priority and flags (jobs[0] checked by
 * the caller: plain, at most FJ_JOB_SHALLOW, of queue q), checking the jobs
 * as it copies them; returns how many it queued: 0 when fewer than
 * FJ_BATCH_MIN such jobs lead, or no batch could be had. */
FJ__SHARED size_t fj__push_uniform(fj__worker *w, const fj_job *jobs, size_t n, int q, fj_counter *counter);
FJ__SHARED void fj__batches_free(fj__worker *w);

/* --- steal.c: where a worker finds work ------------------------------------ */
FJ__SHARED bool fj__try_find(fj__worker *w, fj__task *out);
FJ__SHARED bool fj__take_yielded(fj__worker *w, fj__task *out);
/* Take the fiber in o's mailbox (wake.c, "Resuming at home"), if any: o's
 * owner or a thief. */
FJ__SHARED bool fj__take_mail(fj__worker *o, fj__task *out);
/* Hints (racy, never blocking): is there anything w could take? Does any
 * deque of s hold a task? */
FJ__SHARED bool fj__has_work(fj__worker *w);
FJ__SHARED bool fj__deques_hold_work(fj_scheduler *s);

/* --- deadlock.c: judging and reporting ------------------------------------- */
/* The judge's verdicts short of aborting: no deadlock; a hook said to keep
 * waiting; or look again later (counts held outside, an outside add or done
 * under way, another judge at it, or something moved while jobs waited on
 * idle workers): sleep with a limit. */
enum { FJ__VERDICT_NONE = 0, FJ__VERDICT_KEEP, FJ__VERDICT_LATER };
/* Judge over every live scheduler; abort with the report unless a hook says
 * to keep waiting or counts held outside are awaited (FJ__VERDICT_...).
 * s: the judge's scheduler (NULL outside); stuck_fiber: a job stuck in
 * fj_wait with no free fiber, waiting on sc for starget. */
FJ__SHARED int fj__deadlock_judge(fj_scheduler *s, const char *why, fj__fiber *stuck_fiber, fj_counter *sc,
                                   int64_t starget);
/* fj_destroy's drain may end (nothing of s waits). */
FJ__SHARED bool fj__drain_done(fj_scheduler *s);
/* A job stuck in fj_wait with no fiber: is that final? */
FJ__SHARED bool fj__pool_deadlocked(fj__worker *w);
/* After the drain: stop, listing them, if fibers of s still wait. */
FJ__SHARED void fj__report_stranded(fj_scheduler *s);

/* --- idle.c: spinning, sleeping, quiescence -------------------------------- */
FJ__SHARED bool fj__should_leave(fj__worker *w);
/* Spin, then sleep until there may be work; false: the worker should leave. */
FJ__SHARED bool fj__worker_idle(fj__worker *w);
/* w is over the limit: give back t (taken, not started; NULL: none) and all
 * private work where other workers steal it, and wake one to take it. */
FJ__SHARED void fj__park_give_back(fj__worker *w, const fj__task *t);
/* Give back private work, leave `active` and sleep until w is under the
 * limit again, has pinned work, or should leave; then rejoin. */
FJ__SHARED void fj__worker_park(fj__worker *w);

/* --- worker.c: the fiber loop, switching, running a job -------------------- */
/* The FP control state check (FJ_CHECK_FPU builds): stop, naming the job, if
 * the calling thread's state is no longer the worker's. Where it is checked:
 * after every job at its fiber's base, and, only when the switch does not
 * save the state (FJ_SAVE_FPU off), after a nested job and at every wait;
 * with FJ_SAVE_FPU each fiber keeps its own state, so a nested job and a
 * waiter have no fixed reference. */
#ifdef FJ_CHECK_FPU
#define FJ__CHECKS_FPU 1
#else
#define FJ__CHECKS_FPU 0
#endif
#ifdef FJ_SAVE_FPU
#define FJ__SAVES_FPU 1
#else
#define FJ__SAVES_FPU 0
#endif
FJ__SHARED void fj__fpu_check(const fj__worker *w, const char *when, const char *job);
/* Switch from self to `to` with a post-switch action; returns once self
 * runs again, on the worker returned. */
FJ__SHARED fj__worker *fj__switch_to(fj__worker *w, fj__fiber *self, fj__fiber *to, fj__post_kind post);
/* Run t on self, nested above a waiter whose stack has room for t's whole
 * class; returns the worker it returned on. */
FJ__SHARED fj__worker *fj__run_nested(fj__worker *w, fj__fiber *self, const fj__task *t);
/* Fill s->stack_need from the configuration (fj_create). */
FJ__SHARED void fj__stack_needs(fj_scheduler *s);
/* Does the whole stack class of `flags` fit below this point of self's stack? */
FJ__SHARED bool fj__fits_here(const fj__worker *w, const fj__fiber *self, uintptr_t flags);
/* Run t on `child`, a fiber of its own, and come back when it returned. */
FJ__SHARED fj__worker *fj__call_child(fj__worker *w, fj__fiber *self, fj__fiber *child, const fj__task *t);
/* Lending (worker.c): a submitter whose queue q holds FJ_LEND_AFTER jobs or
 * more runs t at once on a fiber of its own, and then up to FJ_LEND_RUN - 1
 * more of its newest queued jobs. False (nothing done: queue t) when it may
 * not. *wp is the worker we are on after (the same one). */
#define FJ_LEND_AFTER 64
FJ__SHARED bool fj__lend(fj__worker **wp, const fj__task *t, int q, int64_t bottom);
/* The jobs a lent fiber claimed and did not run (w->lend_buf) back into
 * the queue they came from (lend.c). `call` names the caller in the fatal
 * report should the queue fail to grow for them. */
FJ__SHARED void fj__lend_give_back(fj__worker *w, const char *call);

/* A job run in less than this is short: a thief backs off a victim lending
 * such jobs (steal.c), and a lend claims such jobs at once (lend.c). */
#define FJ_SHORT_JOB_NS 300u
/* A lent fiber's next job, after the one it was lent for: true and *out,
 * or false (anything it claimed is back in the queue) when it is done. */
FJ__SHARED bool fj__lend_next(fj__worker *w, fj__fiber *self, fj__task *out);
/* A lent fiber about to suspend gives the worker back to its submitter,
 * and what it claimed back to the queue: the fiber to switch to, or NULL
 * when self is not lent. */
static inline fj__fiber *fj__lend_return(fj__worker *w, fj__fiber *self, const char *call)
{
    if (FJ_LIKELY(!self->lend_q1))
        return NULL;
    if (w->lend_n)
        fj__lend_give_back(w, call);
    fj__fiber *p = self->call_parent;
    self->call_parent = NULL;
    self->lend_q1 = 0;
    return p;
}
/* Work private to w (its chunk, its yielded fibers) to where others can take
 * it: w is leaving, or an entered thread's own code is about to run. */
FJ__SHARED void fj__hand_back_private(fj__worker *w, const char *call);
FJ__SHARED void fj__fiber_entry(fj__ctx *from, void *arg);
/* Run the calling thread as worker w until it leaves (first: the root job). */
FJ__SHARED void fj__worker_enter(fj__worker *w, const fj__task *first);
FJ__SHARED void *fj__worker_thread(void *arg);

/* --- drain.c: the inline run of a waiter's batch ---------------------------- */
/* After `first`, a job of c run nested or on a segment by fj_wait(c, target):
 * run the jobs of c left in the worker's chunk in the same place while
 * fj_wait would still pick them. The caller calls it only when the worker
 * has a chunk open (the test stays on its side). */
FJ__SHARED fj__worker *fj__drain_chunk(fj__worker *w, fj__fiber *self, const fj__task *first, fj_counter *c,
                                       int64_t target);

/* --- enter.c: fj_enter and fj_leave: the calling thread's own stack, as rec,
 * becomes (and stops being) the current context of worker w. */
FJ__SHARED void fj__native_enter(fj__worker *w, fj__fiber *rec);
FJ__SHARED void fj__native_leave(fj__worker *w, fj__fiber *rec);

/* --- handle.c: fj_spawn, fj_join and the pool of their counters ----------- */
/* The pool's header (its slots come at the first fj_spawn): 0, FJ_EINVAL
 * (fj_config.handles out of range) or FJ_ENOMEM. */
FJ__SHARED int fj__handles_create(fj_scheduler *s);
FJ__SHARED void fj__handles_destroy(fj_scheduler *s);

#endif
