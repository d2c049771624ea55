/*
 * The runtime's records: a fiber (fj__fiber), a worker (fj__worker) and the
 * scheduler (struct fj_scheduler), with the small types and limits they
 * hold. Part of internal.h, which includes it after the task and batch
 * types and before the declarations, one block per file, that use them; it
 * is not included on its own. Which file owns which field is said at the
 * field; the lock-free ones carry their protocol's file.
 */
#ifndef FJ_TYPES_H
#define FJ_TYPES_H

#ifndef FJ_INTERNAL_H
#error "types.h is part of internal.h: include internal.h"
#endif

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
 * between fj_enter and fj_leave (enter.c). */
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
    /* A fiber lent by a submitter far ahead of its thieves (worker.c, "Lending"):
     * its queue + 1 (0: not lent) and how many more of its jobs it may run
     * before it gives the submitter back. Its owner only. */
    uint32_t lend_q1;
    uint32_t lend_left;
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
     * the word at the record's end, BENCHMARKS.md "Issue 14, fourth
     * pass: the home watch"). */
    uint32_t watch;
    struct fj__boundary *boundary; /* innermost job running on this fiber (panic target) */
    /* The worker running it: set with that worker's `current` on every
     * switch to it (after_switch, worker_enter, fj__native_enter), so a job
     * that returns reads the worker it returned on here (fj__worker_of: run_job
     * and its nested path in worker.c, the inline run in drain.c) instead of
     * asking the thread (fj__current_worker). Read only by the fiber itself. */
    struct fj__worker *worker;
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

/* Lending (worker.c): how many jobs one lend runs at most. */
#define FJ_LEND_RUN 32

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
    /* Lone steals (steal.c, "A stream of lone jobs"): the victim of the
     * last steal that left its deque empty, when it was, and how many such
     * steals from it came in a row, each soon after the one before. */
    unsigned lone_victim;
    unsigned lone_run;
    uint32_t lone_wait;
    uint32_t lone_k;            /* jobs taken by that steal */
    uint64_t lone_lends;        /* the victim's fj_worker_stats.lends at our last steal from it */
    uint64_t lone_at;
    fj_worker_stats stats;      /* owner writes (relaxed), fj_stats reads */
    /* Jobs the running lent fiber claimed at once from its queue (worker.c,
     * "Lending"), oldest first, run from the end: lend_buf[0..lend_n).
     * Private while that fiber runs; back into the queue when it stops. */
    uint32_t lend_n;
    int lend_q;                 /* the queue lend_buf came from */
    /* When the running lend last chose how to take (0: not yet), and how many
     * jobs it ran since: only jobs seen to be short are claimed at once. */
    uint32_t lend_runs;
    uint64_t lend_mark;
    fj__task lend_buf[FJ_LEND_RUN];
    /* Jobs lo..hi-1 of a batch, taken by this worker and not yet started
     * (batch.c): private, like a task already taken; any fiber
     * running on this worker goes on with them. */
    struct fj__batch *chunk;
    uint32_t chunk_lo, chunk_hi, chunk_lo0; /* lo0: chunk_lo when opened */
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
     * test per job and per switch when unset (hooks.c). */
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

#endif
