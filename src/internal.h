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

typedef enum {
    FJ_FIBER_FREE = 0,
    FJ_FIBER_RUNNING,
    FJ_FIBER_WAITING,   /* published on a counter's wait list */
    FJ_FIBER_READY,     /* woken, queued to be resumed */
    FJ_FIBER_YIELDED,
    FJ_FIBER_EXTERNAL,  /* record of a thread outside every scheduler, not waiting */
    FJ_FIBER_CALLING    /* in fj_wait, running a child job on another fiber (fj__call_child) */
} fj__fiber_state;

/* Below every fiber stack, this much address space stays PROT_NONE: a frame
 * that moves the stack pointer up to this far past the end of its stack
 * without touching the pages between (code built without
 * -fstack-clash-protection) still faults in the gap and is reported as an
 * overflow, instead of writing into the neighbouring stack. */
#define FJ_GUARD_GAP (256u * 1024u)

/* Stack segments per small fiber (segment.c): the fiber's
 * own stack and FJ_STACK_SEGMENTS - 1 more below it, each above a guard gap,
 * reserved with the pool and made usable the first time each is used. */
#define FJ_STACK_SEGMENTS 8u
/* The most address space a small fiber's extra segments may take. */
#define FJ_SEGMENTS_SPAN ((size_t)16 << 20)
/* Each fiber stack and stack segment starts a multiple of FJ_SEG_COLOUR
 * below its top (fj__seg_colour, fiber.h); the room for it is added to each. */
#define FJ_SEG_COLOUR 512u
#define FJ_SEG_COLOUR_SPAN (8u * FJ_SEG_COLOUR)

/* Free small fibers a worker keeps off the shared pool (fiber.c). */
#define FJ_SPARES 8

/* Wait lists name waiters by a process-wide 16-bit id (fiber.c). */
#define FJ_WAITER_ID_MAX 65535u

/* The ranges of fj_config's fields (documented there). */
#define FJ_MAX_WORKERS 4096u
#define FJ_MAX_FIBERS 65471u          /* small + large; ids left for outside threads */
#define FJ_MIN_STACK ((size_t)16 * 1024)
#define FJ_MAX_STACK ((size_t)1 << 30)
#define FJ_MAX_SPIN 1000000u
#define FJ_MAX_OUTSIDE_REPORT_MS 3600000u   /* an hour */
#define FJ_MAX_TRACE_EVENTS (1u << 24)

/* FJ_KIND_NATIVE: an outside record standing for the own stack of a thread
 * between fj_enter and fj_leave (worker.c, "Entered threads"). */
enum { FJ_KIND_SMALL = 0, FJ_KIND_LARGE = 1, FJ_KIND_EXTERNAL = 2, FJ_KIND_NATIVE = 3 };

/* A submission from a thread outside the scheduler (LIFO list, s->inject). */
typedef struct fj__inject_node {
    struct fj__inject_node *next;
    size_t count;
    fj__task *tasks;            /* after the node when heap; else the fiber's wake_task */
    bool heap;                  /* allocated by fj__inject_tasks, freed once taken */
} fj__inject_node;
/* The size of a heap node holding count tasks. */
static inline size_t fj__inject_node_bytes(size_t count) { return sizeof(fj__inject_node) + count * sizeof(fj__task); }

typedef struct fj__fiber {
    fj__ctx ctx;
    void *stack_lo;
    size_t stack_size;
    size_t guard_size;
    void *seg_lo;               /* low end of the stack segment running now (stack_left): stack_lo on segment 0 */
    uint32_t seg;               /* segment running now: 0 is the fiber's own stack (segment.c) */
    uint32_t seg_ready;         /* segments made usable (its runner only; 1 once prepared) */
    /* For the debugger (tools/gdb): slot k names the job waiting on segment
     * k - 1 under the job on segment k, and what it waits for (its own
     * wait_counter and wait_target then hold the job above's). */
    struct {
        const char *job;
        fj_counter *counter;
        int64_t target;
    } seg_caller[FJ_STACK_SEGMENTS];
    uint32_t index;             /* in fj_scheduler.fibers (UINT32_MAX: an outside record) */
    uint32_t id;                /* process-wide waiter id (fiber.c): what wait lists hold */
    struct fj_scheduler *s;     /* the scheduler it belongs to (NULL: an outside record) */
    uint32_t kind;              /* FJ_KIND_SMALL, FJ_KIND_LARGE or FJ_KIND_EXTERNAL */
    uint32_t yield_next;        /* yield FIFO link (index + 1), owner of the FIFO only */
    uint32_t wait_next;         /* next waiter's id (0 = end); owned by the list's owner */
    struct fj__fiber *call_parent; /* FJ_FIBER_CALLING fiber whose child this one runs */
    struct fj__fiber *free_rec; /* free list of outside records (fiber.c) */
    uint32_t free_next;         /* pool link (index + 1); relaxed atomic: read by racing pops */
    int64_t wait_target;
    fj_counter *wait_counter;   /* for reports and the debugger */
    struct fj_mutex *wait_mutex; /* parked in fj_mutex_lock (wait_counter NULL): for reports */
    struct fj_cond *wait_cond;  /* on a condition variable's list (fj_cond_wait): for reports */
    const char *job_name;       /* job running (or waiting) on this fiber */
    fj_counter *job_counter;    /* the counter that job is counted on (fj_cancelled) */
    int state;                  /* fj__fiber_state, for reports and the debugger */
    uint32_t wake;              /* external waiters: futex word, 1 once woken */
    /* The home watch (wake.c, "The home watch"): 0, FJ__WATCHED(i) while
     * worker i, idle, watches this word for its resume, FJ__HANDED(i) once a
     * finisher handed it the resume. Atomic; set and cleared by worker i,
     * turned from watched to handed by a finisher's CAS. On the line of
     * `state`, which the finisher writes just before the hand: the owner's
     * claim brings both back in one transfer (wake 646 -> 556 ns against
     * the word at the record's end, BENCHMARKS.md "The home watch"). */
    uint32_t watch;
    struct fj__boundary *boundary; /* innermost job running on this fiber (panic target) */
    _Alignas(16) unsigned char unwind_exc[64]; /* struct _Unwind_Exception for fj_panic */
    char panic_msg[256];
    bool unwinding;             /* fj_panic's forced unwind is in progress */
    bool prepared;              /* stack committed and context made (on first use) */
    uint32_t job_depth;         /* jobs running on this fiber (inline runs nest) */
    uint32_t pin1;              /* worker + 1 its pinned job runs on (pinned.c); 0: none */
    uint32_t home;              /* worker + 1 it last parked on in fj_wait (a hint for its resume: wake.c); 0: none */
    uint64_t wait_deadline;     /* in fj_wait_until (timer.c): its deadline (relaxed atomic: the judge); else 0 */
    uint32_t timed_out;         /* set by the proxy's claimer before the resume */
    /* Its resume task when a thread outside the scheduler wakes it: queued
     * without allocating. Free again once taken (a fiber is woken once per
     * wait, and waits again only after it was resumed). */
    struct fj__inject_node wake_node;
    fj__task wake_task;
    fj__san_ctx san;            /* sanitizer/Valgrind view of this stack */
} __attribute__((aligned(FJ_CACHE_PAD))) fj__fiber;

/* A launch-when-done record (record.c, timer.c): record.h. */
typedef struct fj__record fj__record;

/* A job's panic boundary, on the stack of the frame that calls the job. */
typedef struct fj__boundary {
    void *jb[5];                /* __builtin_setjmp buffer */
    struct fj__boundary *prev;  /* enclosing job on the same fiber (inline runs) */
} fj__boundary;

/* FJ_POST_CALL: w->post_call(w, fiber, w->post_arg), for a parking protocol
 * of a file above worker.c (mutex.c). */
typedef enum { FJ_POST_NONE = 0, FJ_POST_FREE, FJ_POST_WAIT, FJ_POST_YIELD, FJ_POST_CALL } fj__post_kind;

/* A FIFO of tasks, grown by doubling (pinned.c). */
typedef struct fj__pin_fifo {
    fj__task *buf;
    size_t head, len, cap;
} fj__pin_fifo;

typedef struct fj__worker {
    fj__deque ready;            /* resumed fibers (fn == NULL tasks) */
    fj__deque q[FJ_NQ];         /* jobs by priority */
    struct fj_scheduler *s;
    unsigned index;
    int cpu;                    /* pinned CPU or -1 */
    int llc;                    /* last-level cache group (for the steal order) */
    fj__os_thread thread;
    fj__ctx thread_ctx;         /* the OS thread's own stack: start and stop */
    fj__san_ctx thread_san;
    fj__fiber *current;
    /* Free small fibers kept off the pool (fiber.c, "spare fibers"). */
    fj__fiber *spares[FJ_SPARES];
    unsigned nspare;
    /* Post-switch action, set before a switch, done by the context switched to. */
    fj__post_kind post_kind;
    fj__fiber *post_fiber;
    fj_counter *post_counter;
    int64_t post_target;
    void (*post_call)(struct fj__worker *w, fj__fiber *f, void *arg);
    void *post_arg;
    /* A task handed to the fiber we switch to (large-stack jobs, the root job). */
    bool has_handoff;
    fj__task handoff;
    /* The home watch (wake.c): the fiber that parked here last in fj_wait,
     * and the one whose watch word we set while idle (owner only). */
    fj__fiber *last_parked;
    fj__fiber *watching;
    /* Finishes of consecutive jobs of one counter, folded into one CAS
     * (counter.c, "folded finishes"). */
    fj_counter *fold_counter;
    int64_t fold_k;
    const char *fold_name;      /* the last job folded in, for reports */
    /* Yielded fibers, FIFO, owner only. */
    fj__fiber *yield_head, *yield_tail;
    uint64_t rng;
    unsigned pick_tick;
    fj_worker_stats stats;      /* owner writes (relaxed), fj_stats reads */
    /* Jobs lo..hi-1 of a batch, taken by this worker and not yet started
     * (batch.c): private, like a task already taken; any fiber
     * running on this worker goes on with them. */
    struct fj__batch *chunk;
    uint32_t chunk_lo, chunk_hi, chunk_taken;
    int chunk_q;
    struct fj__batch *batch_free;   /* this worker's spare batches (owner only) */
    struct fj__record *rec_cache;   /* free launch records kept off the shared list (record.c; owner only) */
    unsigned nrec_cache;
    /* Launch records registered here minus those launched here (record.c,
     * "Pending"): owner writes (relaxed), the drain sums. */
    int64_t rec_pending;
    struct fj__batch_slab *batch_slabs; /* what it allocated them in (owner only) */
    size_t batch_count;
    bool observed;              /* trace or hooks set: run_job takes job_call_observed */
    fj__trace_ring *trace;      /* NULL unless tracing is on */
    /* The scheduler's hooks (fj_config.hooks), NULL when none is set: one
     * test per job and per switch when unset (worker.c, "hooks"). */
    const fj_hooks *hooks;
    const char *in_hook;        /* the hook running on this worker, for fj_wait's refusal */
    uint64_t thread_fiber;      /* the id hooks know the thread's own stack by */
    fj__os_altstack altstack;   /* signal stack for stack-overflow reports (overflow.c) */
    fj__fpu_state fpu;          /* the FP control state jobs start from (arch/fpu.h) */
    /* Batches this worker allocated, given back by the workers that ran their
     * last jobs: a Treiber stack (push with a release CAS, taken whole with an
     * acquire exchange). Own line: other workers write it. */
    _Alignas(FJ_CACHE_PAD) struct fj__batch *batch_returned;
    /* Tasks pinned to this worker (pinned.c): any thread pushes, only the
     * owner takes. pin_count (own line: others write it) lets the owner
     * skip the lock when there is none. */
    _Alignas(FJ_CACHE_PAD) uint32_t pin_count;
    fj__os_mutex pin_lock;
    fj__pin_fifo pinq[1 + FJ_NQ];  /* woken pinned fibers first, then by priority */
    uint32_t pin_live;          /* pinned jobs started here and not finished (owner only) */
    /* Parking (fj_set_active_workers; idle.c, "Parking"): `parked` while the
     * worker sleeps out of `active`, `park_word` the futex word it sleeps on.
     * Own line: others read and kick them. */
    _Alignas(FJ_CACHE_PAD) uint32_t parked;
    uint32_t park_word;
    /* The mailbox (wake.c, "Resuming at home"): a woken fiber that parked
     * here, put by the worker that finished its count while this one was
     * `searching` (idle and spinning; the owner writes it). Own line: the
     * finisher reads `searching` and puts, the owner polls and takes,
     * thieves take. */
    _Alignas(FJ_CACHE_PAD) fj__fiber *mailbox;
    uint32_t searching;
} __attribute__((aligned(FJ_CACHE_PAD))) fj__worker;

struct fj_scheduler {
    fj_config cfg;
    fj__mem mem;                /* every allocation for s (mem.h) */
    unsigned nworkers;
    fj__worker *workers;
    fj__fiber *fibers;
    uint32_t nfibers;           /* small + large */
    uint32_t nsmall, nlarge;
    int *cpus;                  /* CPU of each worker, or NULL when not pinning */
    void *stack_region[2];      /* small and large stacks, reserved in one mapping each */
    size_t stack_region_size[2];
    /* Stack segments of small fibers (segment.c): how many
     * per fiber (1: none beyond the fiber's own stack), the size of each
     * extra one, and the distance from one segment's low end to the next's. */
    uint32_t nseg;
    size_t seg_size;
    size_t seg_stride;
    void (*fiber_entry)(fj__ctx *, void *);
    bool signals_installed;
    /* Stack a job needs below a waiter to run nested there, by flags & 3
     * (0: small class, FJ_JOB_LARGE_STACK: large, FJ_JOB_SHALLOW: shallow;
     * scaled for sanitizers, with the library's margin): fj__fits_here. */
    size_t stack_need[4];

    _Alignas(FJ_CACHE_PAD) uint64_t free_small; /* tagged Treiber heads: tag << 32 | index + 1 */
    _Alignas(FJ_CACHE_PAD) uint64_t free_large;
    _Alignas(FJ_CACHE_PAD) uint32_t epoch;       /* event count: sleepers futex-wait on it */
    _Alignas(FJ_CACHE_PAD) uint32_t sleepers;    /* workers registered as about to sleep */
    _Alignas(FJ_CACHE_PAD) uint32_t spinning;    /* workers awake and searching for work */
    _Alignas(FJ_CACHE_PAD) uint32_t wake_pending; /* a futex wake is in flight */
    _Alignas(FJ_CACHE_PAD) uint64_t idle_gen;    /* bumped when a registered sleeper finds work */
    _Alignas(FJ_CACHE_PAD) fj__inject_node *inject; /* external submissions, LIFO of batches */
    _Alignas(FJ_CACHE_PAD) uint32_t active;      /* workers taking part now */
    uint32_t main_running;
    uint32_t root_done;
    uint32_t root_panicked;
    uint32_t deadlock_reported;
    uint32_t shutdown;
    uint32_t exit;
    uint32_t deferred_total;                     /* large-stack jobs waiting for a large fiber */
    uint32_t limit;                              /* workers 0..limit-1 take work (fj_set_active_workers) */
    /* Written by outside threads: kept off the line the worker loop reads. */
    _Alignas(FJ_CACHE_PAD) uint32_t inject_inflight; /* external submitters between add and push */
    uint32_t stuck;                              /* workers spinning in fj_wait with no free fiber */
    uint32_t outside_refs;                       /* outside threads inside a call that touches s */
    int64_t records_pending;                     /* the same count for threads not s's workers (record.c) */
    /* Large-stack jobs that found no large fiber: shared, so any worker that
     * is on a large fiber or finds one free can run them. A rare path, hence
     * a mutex; deferred_total lets everyone else skip it without locking. */
    fj__os_mutex deferred_lock;
    fj__task *deferred;
    size_t ndeferred, deferred_cap;
    struct fj__handle_pool *handles;             /* fj_spawn's counter slots (handle.c) */
    /* Timed waits (timer.c): a heap of proxies by deadline and the thread
     * that fires them, started by the first timed wait. */
    fj__os_mutex timer_lock;
    struct fj__record **timer_heap;
    size_t ntimers, timer_cap, timer_reserved;
    fj__os_thread timer_thread;
    bool timer_started;
    uint32_t timer_word;                         /* futex the timer thread sleeps on */
    uint32_t timer_stop;
    struct fj_scheduler *older;                  /* registry of live schedulers, newest first */
    bool destroying;                             /* in fj_destroy: no longer the default */
    bool pin_warned;                             /* worker 0 could not be pinned: said once */
    /* Between fj_enter and fj_leave: the entered thread's record, and whether
     * its affinity is to be restored (saved). */
    fj__fiber *entered;
    bool entered_restore;
    fj__os_affinity entered_affinity;
    uint32_t magic;                              /* FJ_SCHED_LIVE while live (use after destroy) */
    uint32_t serial;                             /* process-wide creation number (hook ids) */
};

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
/* Stop, naming the call and the hook, if a hook (fj_hooks) runs on w: a
 * hook must not wait, yield or panic (worker.c, "hooks"). */
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
/* Run t->fn(t->arg) inside a panic boundary; true when the job panicked. */
FJ__SHARED bool fj__job_call(fj__fiber *self, const fj__task *t);
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
/* The same, inline, for the loop that drains a chunk (fj__drain_chunk):
 * the split and the close stay out of line. */
static inline __attribute__((always_inline)) bool fj__chunk_take_inline(fj__worker *w, fj__task *out)
{
    fj__batch *b = w->chunk;
    if (!b)
        return false;
    /* Relaxed loads: a heuristic. A stale count only splits once too many
     * (the entry is stolen back or taken by us later) or one job later. */
    if (w->chunk_hi - w->chunk_lo >= 2 &&
        FJ_UNLIKELY(fj_load_relaxed(&w->s->spinning) + fj_load_relaxed(&w->s->sleepers)))
        fj__chunk_split(w);
    uint32_t lo = w->chunk_lo;
    uintptr_t flags = (uintptr_t)w->chunk_q << FJ_TASK_Q_SHIFT | b->flags;
    if (FJ_LIKELY(b->fn != NULL)) {
        *out = (fj__task){ .fn = b->fn, .arg = b->u.args[lo], .name = b->name, .counter = b->counter, .flags = flags };
    } else {
        const fj_job *j = &b->u.jobs[lo];
        *out = (fj__task){ .fn = j->fn, .arg = j->arg, .name = fj__job_name(j->name), .counter = b->counter,
                           .flags = flags };
    }
    w->chunk_lo = lo + 1;
    w->chunk_taken++;
    if (lo + 1 == w->chunk_hi)
        fj__chunk_close(w);
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
/* After `first`, a job of c run nested or on a segment by fj_wait(c, target):
 * run the jobs of c left in the worker's chunk in the same place while
 * fj_wait would still pick them. The caller calls it only when the worker
 * has a chunk open (the test stays on its side). */
FJ__SHARED fj__worker *fj__drain_chunk(fj__worker *w, fj__fiber *self, const fj__task *first, fj_counter *c,
                                       int64_t target);
/* Fill s->stack_need from the configuration (fj_create). */
FJ__SHARED void fj__stack_needs(fj_scheduler *s);
/* Does the whole stack class of `flags` fit below this point of self's stack? */
FJ__SHARED bool fj__fits_here(const fj__worker *w, const fj__fiber *self, uintptr_t flags);
/* Run t on `child`, a fiber of its own, and come back when it returned. */
FJ__SHARED fj__worker *fj__call_child(fj__worker *w, fj__fiber *self, fj__fiber *child, const fj__task *t);
FJ__SHARED void fj__fiber_entry(fj__ctx *from, void *arg);
/* Run the calling thread as worker w until it leaves (first: the root job). */
FJ__SHARED void fj__worker_enter(fj__worker *w, const fj__task *first);
/* fj_enter and fj_leave: the calling thread's own stack, as rec, becomes (and
 * stops being) the current context of worker w. */
FJ__SHARED void fj__native_enter(fj__worker *w, fj__fiber *rec);
FJ__SHARED void fj__native_leave(fj__worker *w, fj__fiber *rec);
FJ__SHARED void *fj__worker_thread(void *arg);

/* --- handle.c: fj_spawn, fj_join and the pool of their counters ----------- */
/* The pool's header (its slots come at the first fj_spawn): 0, FJ_EINVAL
 * (fj_config.handles out of range) or FJ_ENOMEM. */
FJ__SHARED int fj__handles_create(fj_scheduler *s);
FJ__SHARED void fj__handles_destroy(fj_scheduler *s);

#endif
