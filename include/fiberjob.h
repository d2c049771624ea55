/*
 * fiberjob: a fiber-based job system (C11).
 *
 * Worker threads, one per allowed CPU, run jobs on user-space fibers. An atomic
 * counter is the one synchronisation primitive: running jobs with a counter adds
 * to it, each finished job subtracts one, and fj_wait() suspends the calling
 * *fiber* (never the thread) until the counter is at or below a target.
 *
 * Conventions:
 *  - zero-initialised structs are valid defaults: (fj_job){ .fn = f, .arg = p };
 *  - functions that can fail for reasons outside the caller's control return 0
 *    or a negative FJ_E... code (text from fj_strerror());
 *  - programming errors (a NULL job function, fj_yield outside a job, a counter
 *    going below zero, ...) stop the process with one line on stderr naming the
 *    call and the job.
 *
 * The header compiles as C11 and as C++.
 */
#ifndef FIBERJOB_H
#define FIBERJOB_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Major version: changes when the API or ABI breaks. */
#define FIBERJOB_VERSION_MAJOR 0
/** Minor version: new features. */
#define FIBERJOB_VERSION_MINOR 1
/** Patch version: fixes. */
#define FIBERJOB_VERSION_PATCH 0

/** Size of the cache line fiberjob pads shared state to. */
#define FJ_CACHE_LINE 64

#if defined(__cplusplus)
/** Alignment specifier, C and C++ spelling. */
#define FJ_ALIGNAS(n) alignas(n)
/** "Does not return", C and C++ spelling. */
#define FJ_NORETURN [[noreturn]]
#else
#define FJ_ALIGNAS(n) _Alignas(n)
#define FJ_NORETURN _Noreturn
#endif

#if defined(__GNUC__)
/** Marks the library's public functions: the library is built with hidden
 * visibility, so these are the only symbols a shared build exports. */
#define FJ_API __attribute__((visibility("default")))
#else
#define FJ_API
#endif

#if defined(__GNUC__) && defined(__MINGW32__) && !defined(__clang__)
/* mingw-w64's gcc takes `printf` to mean msvcrt's formats; the library formats
 * with C99's (it is built with __USE_MINGW_ANSI_STDIO). */
#define FJ_PRINTF(f, a) __attribute__((format(gnu_printf, f, a)))
#elif defined(__GNUC__)
/** printf-style format checking for the compilers that have it. */
#define FJ_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define FJ_PRINTF(f, a)
#endif

/** Error codes: every fallible call returns 0 or one of these (negative). */
enum {
    FJ_OK = 0,
    FJ_EINVAL = -1,   /**< an argument or configuration value is out of range */
    FJ_ENOMEM = -2,   /**< memory (heap or mmap) could not be had */
    FJ_ETHREAD = -3,  /**< a worker thread could not be created */
    FJ_EAFFINITY = -4,/**< a CPU is outside the process's allowed set, or pinning failed */
    FJ_EBUSY = -5,    /**< the scheduler is already running fj_main */
    FJ_ELIMIT = -6,   /**< a hard limit of the design (documented at the field) was exceeded */
    FJ_EPANIC = -7,   /**< the root job panicked (fj_main) */
    FJ_EIO = -8       /**< a file could not be written (a missing folder, a full disk, no permission) */
};

/** The text for an FJ_E... code (never NULL). */
FJ_API const char *fj_strerror(int code);

/** The code of the last failure of fj_create() on this thread (0 when none). */
FJ_API int fj_last_error(void);

/** A job's function: called once with the job's arg, on a fiber. */
typedef void (*fj_job_fn)(void *arg);

/** Job priority: a worker runs woken fibers first, then high, normal, low jobs. */
typedef enum fj_priority {
    FJ_PRIORITY_NORMAL = 0, /**< the default (zero) */
    FJ_PRIORITY_HIGH,       /**< before normal jobs */
    FJ_PRIORITY_LOW         /**< after normal jobs */
} fj_priority;

/** The stack an FJ_JOB_SHALLOW job declares it needs: 16 KiB. */
#define FJ_SHALLOW_STACK (16u * 1024u)

/** Job flags (fj_job.flags). Any other bit stops the process with a line
 * naming the job, as do both flags together. */
enum {
    /** Run on a large fiber (fj_config.large_stack_size) instead of a small one. */
    FJ_JOB_LARGE_STACK = 1u << 0,
    /** The job's own frames need at most FJ_SHALLOW_STACK of stack (the jobs
     * it waits for do not count: they get stacks of their own). A job waiting
     * on it may then run it nested on its own stack, where that much is left
     * below the waiter, instead of switching to a fiber for it: a job that
     * waits on many small children saves a switch per child. A shallow job
     * that uses more than it declared still cannot write over another stack:
     * running out of the stack it is on is reported as a stack overflow. */
    FJ_JOB_SHALLOW = 1u << 1,
    /** Set by FJ_JOB_ON_WORKER: the job runs only on the worker named in the
     * bits above FJ_JOB_WORKER_SHIFT. Not used alone. */
    FJ_JOB_PINNED = 1u << 2
};

/** Where FJ_JOB_ON_WORKER puts the worker's index in fj_job.flags. */
#define FJ_JOB_WORKER_SHIFT 4
/** The largest worker index FJ_JOB_ON_WORKER takes (the worker limit, 4,096, less one). */
#define FJ_JOB_WORKER_MAX 4095u
/**
 * Flags (combine with |) that pin a job to worker n: it runs only there, is
 * never stolen, keeps its priority order among the jobs pinned there, and
 * after each fj_wait or fj_yield comes back on the same worker, so its
 * thread-locals stay the same variables. Worker 0 is the thread in fj_main
 * (usually the program's main thread: the window, the GL context, the swap
 * chain). A pinned job waiting runs no children on other fibers (each could
 * bring it back elsewhere): it parks, or runs one nested where the child's
 * whole stack fits below it. Jobs pinned to worker 0 while no thread is in
 * fj_main wait for the next fj_main (or fj_run_pinned). n at or above the
 * scheduler's worker count stops the process with a line naming the job.
 */
#define FJ_JOB_ON_WORKER(n) (FJ_JOB_PINNED | (((unsigned)(n) & FJ_JOB_WORKER_MAX) << FJ_JOB_WORKER_SHIFT))
/** FJ_JOB_ON_WORKER(0): the thread in fj_main. */
#define FJ_JOB_ON_MAIN FJ_JOB_ON_WORKER(0)

/** A job: copied by value when it is run, so it may live on the caller's stack. */
typedef struct fj_job {
    fj_job_fn fn;         /**< required */
    void *arg;            /**< passed to fn */
    const char *name;     /**< shown in reports and traces; NULL: "(unnamed)"; must outlive the job */
    fj_priority priority; /**< FJ_PRIORITY_NORMAL when zero */
    unsigned flags;       /**< FJ_JOB_... */
} fj_job;

/**
 * A counter. Put it anywhere (typically on the waiting job's stack), initialise it
 * with fj_counter_init(). It must outlive every job counted on it and every fiber
 * waiting on it. The fields are private: use the functions below.
 *
 * Reuse: once fj_wait(c, 0) has returned, no job and no finisher touches c any
 * more (a finish's last access is the one that lowers the value, and a waiter
 * is resumed only after it), so c may be freed, or counted on again at once:
 * fj_run_jobs and fj_counter_add re-arm it without fj_counter_init (which
 * would also reset fj_counter_panics and fj_counter_cancelled); re-arming
 * from zero also ends a cancel (fj_counter_cancel). A counter may be reused this way by
 * one waiter at a time; fj_spawn/fj_join keep a pool of them for you.
 */
typedef struct fj_counter {
    FJ_ALIGNAS(FJ_CACHE_LINE) uint64_t fj__word; /* value:32 | max_target:16 | head:16 */
    uint32_t fj__panics;                          /* jobs counted here that panicked */
    uint32_t fj__outside;                         /* counts held by threads outside (fj_counter_add_outside) */
    uint32_t fj__cancel;                          /* nonzero: cancelled (fj_counter_cancel) */
    uint32_t fj__skipped;                         /* jobs counted here that were skipped */
    char fj__pad[FJ_CACHE_LINE - 24];
} fj_counter;

/** The largest target fj_wait() accepts (the wait list keeps targets in 16 bits). */
#define FJ_WAIT_TARGET_MAX 65535
/** The largest value a counter holds (32-bit signed). */
#define FJ_COUNTER_MAX 2147483647

/** What a panic report carries (see fj_config.panic_hook). */
typedef struct fj_panic_info {
    const char *job_name; /**< the job that panicked */
    unsigned worker;      /**< the worker it ran on */
    const char *message;  /**< the formatted message */
} fj_panic_info;

/** What a deadlock report carries (see fj_config.deadlock_hook). */
typedef struct fj_deadlock_info {
    unsigned waiting_fibers;  /**< fibers suspended on counters that nothing can finish */
    const char *report;       /**< one line per waiting job: name, counter, value, target */
} fj_deadlock_info;

/**
 * Where the runtime takes its memory (fj_config.allocator). Every allocation
 * the runtime makes for a scheduler goes through it: the scheduler and its
 * workers, the fiber records, the job queues and their growth, job batches,
 * submissions from outside threads, deferred large-stack jobs, handle
 * slots, the trace rings and what the trace writers build, frame heaps'
 * tables. Fiber stacks and signal stacks are page mappings, reserved from
 * the operating system.
 *
 * alloc returns size bytes aligned to align (a power of two, at most 4096),
 * or NULL when it has none: the runtime then reports the failure where the
 * call can (fj_create and the trace writers return FJ_ENOMEM; a queue that
 * cannot grow runs the job at once) and otherwise stops the process with one
 * line naming the call, the size and the job. Memory not aligned as asked
 * stops the process with a line saying so. free receives the pointer with the
 * size and align it was allocated with. Both are called from any thread,
 * workers and outside threads alike, possibly at once: they must be thread
 * safe, and must not call into fiberjob.
 */
typedef struct fj_allocator {
    /** size bytes aligned to align (a power of two), or NULL when there are none. */
    void *(*alloc)(size_t size, size_t align, void *user);
    /** Give back p, with the size and align it was allocated with. */
    void (*free)(void *p, size_t size, size_t align, void *user);
    void *user; /**< passed to both */
} fj_allocator;

/**
 * Hooks for the tools an engine plugs in: profilers, crash reporters, thread
 * set-up (fj_config.hooks). Every member may be NULL (the default: a
 * zero-initialised struct); a scheduler with no hook set pays one predictable
 * branch per job and per switch. `user` is passed to every hook.
 *
 * Contexts. A worker runs on *contexts*, each with a 64-bit id unique among
 * the live contexts of the process and a name: the fibers of the pool (names
 * "fj-fiber-<n>", valid for the life of the process, the same pointer for the
 * same id, as Tracy's fiber API requires) and, while it enters and leaves the
 * scheduler, the worker thread's own stack (name NULL: not a fiber). A job
 * begins and ends on the same fiber, however often it waits and whichever
 * workers it resumes on; a job run nested (fj_wait running a child on the
 * waiter's stack) begins and ends inside its waiter's begin and end, on the
 * same fiber. So per fiber, job_begin and job_end nest like zones.
 *
 * Where they are called. worker_start and worker_stop on the worker's thread:
 * for workers 1..N-1 once each, when the thread starts and before it exits;
 * for worker 0 around each stretch the calling thread takes part: fj_main
 * and fj_run_pinned (start when it begins, stop before it returns) and the
 * drain in fj_destroy.
 * fiber_create and fiber_destroy: for each pool fiber once, on the thread
 * calling fj_create (before any worker starts) and fj_destroy (after every
 * worker stopped); for a worker thread's own stack right after worker_start
 * and right before worker_stop, on that thread. The others on the worker
 * thread, on the context named.
 *
 * A hook must not call fj_wait, fj_yield or fj_panic (each stops the process
 * with a line naming the hook), nor any other fiberjob function but
 * fj_worker_index and fj_current_job_name; it runs while the worker cannot
 * switch, so it should be short. Thread-local state a hook keeps is per worker
 * thread, not per job (a job may resume on another worker).
 *
 * Tracy (TracyC.h, built with TRACY_FIBERS):
 *   fiber_switch_begin: to_name ? TracyFiberEnter(to_name) : TracyFiberLeave;
 *   job_begin/job_end:  a zone (the token carries the TracyCZoneCtx).
 * Superluminal (PerformanceAPI.h):
 *   fiber_create/fiber_destroy: PerformanceAPI_RegisterFiber/UnregisterFiber(fiber);
 *   fiber_switch_begin: PerformanceAPI_BeginFiberSwitch(from, to);
 *   fiber_switch_end:   PerformanceAPI_EndFiberSwitch(fiber);
 *   job_begin/job_end:  PerformanceAPI_BeginEvent(name, NULL, color)/PerformanceAPI_EndEvent().
 * examples/profiler_hooks.c shows both.
 */
typedef struct fj_hooks {
    /** Passed to every hook as `user`. */
    void *user;
    /** The calling thread begins to act as worker `worker` (see above for worker 0). */
    void (*worker_start)(unsigned worker, void *user);
    /** The calling thread stops acting as worker `worker`; paired with worker_start. */
    void (*worker_stop)(unsigned worker, void *user);
    /** A job starts, on the current fiber; the value returned is given to its job_end. */
    uint64_t (*job_begin)(const char *job_name, void *user);
    /** The job ended (returned, or was cut short by a panic: `panicked` 1), on
     * the fiber it began on, before its counter is finished. Called for every job. */
    void (*job_end)(const char *job_name, uint64_t token, int panicked, void *user);
    /** A context comes into being: before any switch to or from it. name: NULL for a thread's own stack. */
    void (*fiber_create)(uint64_t fiber, const char *name, void *user);
    /** A context is gone: after its last switch; its id may be given to a new context later. */
    void (*fiber_destroy)(uint64_t fiber, void *user);
    /** Right before the worker thread switches from context `from` to `to`,
     * on `from`. to_name: `to`'s name, NULL when `to` is the thread's own stack. */
    void (*fiber_switch_begin)(uint64_t from, uint64_t to, const char *to_name, void *user);
    /** Right after context `fiber` is switched back to (on whichever worker
     * resumes it), by the context that made the fiber_switch_begin(fiber, ...)
     * call. A fiber's first start has no fiber_switch_end. */
    void (*fiber_switch_end)(uint64_t fiber, void *user);
} fj_hooks;

/**
 * Scheduler configuration. Start from fj_config_default(). fj_create checks
 * every field against the range given here: a value outside it makes fj_create
 * return NULL with fj_last_error() FJ_EINVAL, or FJ_ELIMIT for the limits of
 * the design (4,096 workers, 65,471 fibers, and the fibers the kernel can map).
 */
typedef struct fj_config {
    /** Worker threads including the thread that calls fj_main(); 0: one per allowed CPU; at most 4,096 (FJ_ELIMIT). */
    unsigned workers;
    /**
     * Pin workers to one CPU each: 0 none; 1 (default) the worker threads
     * fiberjob creates (workers 1..N-1); 2 also the thread in fj_main and
     * fj_destroy (worker 0) while it is inside, its affinity restored after.
     * A CPU a worker cannot be pinned to makes fj_create fail with
     * FJ_EAFFINITY. Worker 0 is the host's own thread: 1 leaves its affinity
     * alone (threads it creates inherit it, and the OS can move it off a busy
     * CPU; marl's author measured pinning as a loss on desktops, marl#136).
     */
    int pin_threads;
    /** Explicit CPUs to pin to, worker i on cpus[i % cpu_count]; NULL: the allowed set in order. Each must be in the process's allowed set (FJ_EAFFINITY). */
    const int *cpus;
    /** Number of entries in cpus: 0 with cpus NULL, else 1..4,096. */
    unsigned cpu_count;
    /**
     * Without an explicit list, workers are pinned one per physical core first,
     * then to the SMT siblings. With avoid_smt, siblings are left out (and the
     * default worker count is the number of physical cores). 0 (default) or 1.
     */
    int avoid_smt;
    /**
     * Fiber pool: number of small fibers (default 128), at least 1. Every job
     * runs on a fiber of its class, and a job waiting in fj_wait holds its
     * fiber, so the pool bounds how many jobs wait at once. small_fibers +
     * large_fibers: at least workers + 1, at most 65,471 (FJ_ELIMIT), and no
     * more than the kernel's mapping limit holds (each fiber in use costs up to
     * two mappings against vm.max_map_count: FJ_ELIMIT).
     */
    unsigned small_fibers;
    /** The whole stack a job on a small fiber may use, in bytes (default 64 KiB; 16 KiB to 1 GiB). */
    size_t small_stack_size;
    /** Number of large fibers (default 32), at least 1, for FJ_JOB_LARGE_STACK jobs and the root. */
    unsigned large_fibers;
    /** The whole stack a job on a large fiber may use, in bytes (default 512 KiB; 16 KiB to 1 GiB). */
    size_t large_stack_size;
    /** Iterations an idle worker spins looking for work before it sleeps (default 2000; 0 to 1,000,000). */
    unsigned spin_before_sleep;
    /** Called (on the panicking fiber) for every fj_panic; NULL: one line on stderr. */
    void (*panic_hook)(const fj_panic_info *info, void *user);
    /** Passed to panic_hook as `user`. */
    void *panic_hook_arg;
    /**
     * Called when every worker of every live scheduler is idle, nothing is
     * queued, and jobs (or threads outside every scheduler, in fj_wait) still
     * wait: a deadlock. Also during fj_destroy. Not called while a waited-on
     * counter has counts held outside (fj_counter_add_outside): that is not a
     * deadlock. Return nonzero to keep waiting; return 0 or leave it NULL to
     * print the report and abort. With several
     * schedulers alive, every hook is asked, and any may keep them waiting.
     */
    int (*deadlock_hook)(const fj_deadlock_info *info, void *user);
    /** Passed to deadlock_hook as `user`. */
    void *deadlock_hook_arg;
    /**
     * Every worker idle while jobs wait only for counts held by threads
     * outside (fj_counter_add_outside) is not a deadlock: fiberjob waits. If
     * it lasts this long, in milliseconds, one report naming the waiting jobs
     * and the counts held is printed on stderr (once per stall). Default
     * 10,000; 0: never; at most 3,600,000.
     */
    unsigned outside_report_ms;
    /**
     * Tracing: events kept per worker (a ring: the newest are kept). 0: off,
     * unless the environment variable FIBERJOB_TRACE names a file, in which case
     * 65536 events per worker are kept and the Chrome trace JSON is written
     * there when the scheduler is destroyed (if that fails, fj_destroy says so
     * in one line on stderr). At most 16,777,216 (1 << 24).
     */
    unsigned trace_events;
    /**
     * 1: the root job of fj_main runs only on worker 0 (the thread that called
     * fj_main), also after each fj_wait, as a job pinned with FJ_JOB_ON_MAIN;
     * for a root that owns the window, the GL context or thread-local state
     * of middleware. 0 (default): after a wait it may resume on any worker.
     */
    int root_on_main;
    /**
     * The allocator for every runtime allocation (see fj_allocator). Both
     * functions NULL (the default): the C library's. Exactly one of them set:
     * fj_create fails with FJ_EINVAL. It must outlive the scheduler and every
     * frame heap made on it.
     */
    fj_allocator allocator;
    /** Profiler, crash-reporter and thread hooks (fj_hooks); all NULL by default. */
    fj_hooks hooks;
    /**
     * Handle slots (fj_spawn) allocated at a time: 0 means 256; at most
     * 65,536 (FJ_EINVAL). None until the first fj_spawn; the pool grows by
     * this many whenever every slot is in use, up to 1,024 times.
     */
    unsigned handles;
} fj_config;

/** A scheduler: its workers, fiber pool and queues (opaque). */
typedef struct fj_scheduler fj_scheduler;

/** The built-in defaults. */
FJ_API fj_config fj_config_default(void);

/**
 * Create a scheduler and start its worker threads (all but one: the thread that
 * calls fj_main() takes part as worker 0). NULL config: defaults. On failure
 * returns NULL; fj_last_error() tells why, and nothing is leaked.
 */
FJ_API fj_scheduler *fj_create(const fj_config *config);

/**
 * Run fn(arg) as the root job, on a large fiber, with the calling thread taking
 * part as a worker; return when fn returns. Returns 0, or FJ_EBUSY when the
 * scheduler is already in fj_main on another thread, or FJ_EINVAL for a NULL
 * scheduler or fn.
 */
FJ_API int fj_main(fj_scheduler *s, fj_job_fn fn, void *arg);

/**
 * Run every job still queued, wait for every job that waits, stop and join the
 * workers, free everything. What still waits when nothing can run is judged as
 * a deadlock, as during fj_main (the deadlock hook may keep it waiting, for a
 * count a thread outside will finish). A thread outside every scheduler that
 * waits in fj_wait is waited for too when s is the last scheduler. Using s
 * after fj_destroy (a second fj_destroy, fj_main, fj_run_jobs_on, fj_stats)
 * stops the process with a line saying so, as long as no newer scheduler has
 * been given the same address.
 */
FJ_API void fj_destroy(fj_scheduler *s);

/** The number of workers of s (including the fj_main thread's worker 0). */
FJ_API unsigned fj_worker_count(const fj_scheduler *s);

/**
 * Limit the workers that take work to workers 0..n-1 (n from 1 to
 * fj_worker_count(s); the limit starts at fj_worker_count), as middleware
 * that sets its worker count at run time asks (Box2D's
 * b2World_SetWorkerCount). Any thread, inside jobs too, at any time. Returns
 * 0, or FJ_EINVAL for a NULL s or n out of range.
 *
 * Workers n and above park: at their next pick of work they give back what
 * they hold (queued jobs, a batch's jobs not started, woken and yielded
 * fibers) where the others steal it, and sleep. A task queued after the call
 * returned is never started by a parked worker, with one exception: jobs
 * pinned to a parked worker (FJ_JOB_ON_WORKER) still run there, as do pinned
 * jobs resuming there after a wait; the worker wakes for them and parks again.
 * A job running when the limit fell runs to its end where it is. Worker 0
 * never parks, so with n = 1 only the thread in fj_main runs unpinned jobs
 * (jobs queued while no thread is in fj_main wait for one). Raising the
 * limit wakes the parked workers. A parked worker keeps the fiber it was on;
 * deadlocks are judged over the workers taking part, so they are still
 * reported with workers parked.
 */
FJ_API int fj_set_active_workers(fj_scheduler *s, unsigned n);
/** The limit fj_set_active_workers set last (fj_worker_count(s) until then). */
FJ_API unsigned fj_active_workers(const fj_scheduler *s);

/** Index of the worker running the calling job, or -1 outside a job. */
FJ_API int fj_worker_index(void);

/** Set c to value (0..FJ_COUNTER_MAX) with no waiter and no panic counted. Not while used. */
FJ_API void fj_counter_init(fj_counter *c, int64_t value);
/** The current value of c (it may change at once if jobs are running). */
FJ_API int64_t fj_counter_value(const fj_counter *c);

/**
 * Run count jobs. With a counter, adds count to it first; each job subtracts one
 * when it finishes. The jobs are copied: the array may be reused on return.
 * From a worker the jobs go to that worker's deque (fast path); 8 or more
 * consecutive jobs of one priority with no flags go as batches (one queue entry
 * per 256 jobs, taken by one worker and shared on demand with idle ones);
 * from any other thread they go through the lock-free injection queue (slow path:
 * one allocation per call) of the scheduler created most recently.
 *
 * It may run jobs before it returns, on the calling thread. A job submitted
 * alone (count 1, small or shallow stack, not pinned) when the calling
 * worker's queue of its priority already holds 64 jobs or more runs at once on
 * a fiber of its own, followed by up to 31 more of the newest jobs of that
 * queue, as enkiTS and libomp run jobs when their queue is full
 * (fj_worker_stats.lends counts these; never while the worker is traced, nor
 * from a hook). Any job runs at once if its queue cannot grow (out of memory).
 * The caller waits on its own fiber meanwhile and goes on on the same thread.
 * If such a job waits, yields or blocks on a mutex, the caller goes on at
 * once, so a job may wait for what its submitter does after fj_run_jobs
 * returns, or lock an fj_mutex its submitter holds; but do not hold across
 * fj_run_jobs a lock of the thread (pthread_mutex_t, std::mutex) that the
 * jobs take, nor let a job spin on what its submitter does next, or on
 * another job submitted alongside it, without fj_yield in the loop (a lent
 * run may hold that job until the spinner ends; a yield gives it back).
 */
FJ_API void fj_run_jobs(const fj_job *jobs, size_t count, fj_counter *counter);

/** Like fj_run_jobs from outside, but naming the scheduler. */
FJ_API void fj_run_jobs_on(fj_scheduler *s, const fj_job *jobs, size_t count, fj_counter *counter);

/** One prerequisite of fj_run_jobs_after: reached once fj_counter_value(counter) <= target. */
typedef struct fj_after {
    fj_counter *counter; /**< must stay alive until the jobs are launched */
    int64_t target;      /**< 0..FJ_WAIT_TARGET_MAX; usually 0 (every job counted on it finished) */
} fj_after;

/** fj_run_jobs_after exists (launch-when-done). */
#define FJ_HAS_RUN_AFTER 1

/**
 * Launch when done: queue `count` jobs to start once every prerequisite
 * after[0..nafter) has been reached, with no fiber waiting meanwhile (the
 * jobs sit on the prerequisite counters' wait lists in a record of the
 * library's, recycled, so steady state allocates nothing for one job; more
 * jobs, or more than 4 prerequisites, take one allocation per call).
 *
 * Adds `count` to `counter` (may be NULL) at once, as fj_run_jobs does, so a
 * later call can already name it as a prerequisite: build a graph in
 * topological order, each node's jobs counted on a counter of its own.
 * The prerequisites are checked in order; the finisher that reaches the last
 * one queues the jobs on its own worker (or its scheduler's injection queue
 * from another thread), and they see every write of the jobs counted on the
 * prerequisites. With every prerequisite already reached the jobs are queued
 * at once. Inside a job they go to the caller's scheduler, elsewhere to the
 * newest one (as fj_run_jobs). The prerequisite counters must stay alive
 * until the jobs are queued; fj_destroy waits for pending launches, and a
 * launch whose prerequisites no job can reach is reported as a deadlock.
 *
 * Returns 0, or FJ_ENOMEM / FJ_ELIMIT (no memory, or no waiter id left: at
 * most 65,535 fibers, outside waits and pending launches in a process at
 * once), in which case nothing is queued and nothing is added. Bad input
 * (NULL prerequisite counter, target out of range, a bad job) stops the
 * process with one line naming it.
 */
FJ_API int fj_run_jobs_after(const fj_after *after, size_t nafter, const fj_job *jobs, size_t count,
                             fj_counter *counter);

/**
 * Until fj_counter_value(counter) <= target. Inside a job it suspends the fiber
 * (the worker runs other jobs meanwhile); on another thread it blocks that thread
 * on a futex. Returns once the value has been <= target at some instant.
 */
FJ_API void fj_wait(fj_counter *counter, int64_t target);

/** The clock of fj_wait_until's deadlines: monotonic, in nanoseconds. */
FJ_API uint64_t fj_now_ns(void);

/**
 * fj_wait with a deadline (fj_now_ns clock): returns 1 once the value has
 * been <= target, 0 when deadline_ns passed first. Inside a job the fiber is
 * suspended and resumed at the deadline at the latest (by the scheduler's
 * timer thread, started by its first timed wait); outside it blocks the
 * thread. A deadline in the past returns at once (1 if the value is there).
 * A wait that times out leaves nothing behind on the counter. Nothing times
 * out by itself: the jobs counted on the counter keep running (cancel them
 * with fj_counter_cancel), and the counter must still outlive them.
 */
FJ_API int fj_wait_until(fj_counter *counter, int64_t target, uint64_t deadline_ns);
/** fj_wait_until(counter, target, fj_now_ns() + timeout_ns). */
FJ_API int fj_wait_for(fj_counter *counter, int64_t target, uint64_t timeout_ns);

/** Put the current fiber behind the other ready work. Only inside a job. */
FJ_API void fj_yield(void);

/**
 * Run the jobs pinned to worker 0 (FJ_JOB_ON_MAIN) on the calling thread,
 * which is not a worker, as enkiTS's RunPinnedTasks does: the thread takes
 * worker 0's place (as in fj_main) until no job pinned there is queued or
 * unfinished, running other jobs too meanwhile, and returns. For a program
 * whose main loop lives outside fj_main. Returns 0, FJ_EBUSY when a thread
 * is in fj_main (or fj_run_pinned) of s already, FJ_EINVAL for NULL. From
 * inside a job it stops the process (a worker runs its pinned jobs itself).
 */
FJ_API int fj_run_pinned(fj_scheduler *s);

/**
 * Take part in s as worker 0 from here until fj_leave, on the calling thread
 * and its own stack: for a program (or middleware called back by one, as
 * Box2D's finishTask or Jolt's barrier are) whose loop cannot move into
 * fj_main. Between the two, the thread is a worker: fj_run_jobs queues on its
 * deque without allocating, fj_wait runs jobs while it waits (on this
 * thread; the thread's code resumes on this same thread, as a job pinned to
 * worker 0 would), and jobs pinned to worker 0 (FJ_JOB_ON_MAIN) run when it
 * waits. Outside fj_wait it runs only its own code: queue work and wait for
 * it. It is pinned to worker 0's CPU while entered if pin_threads says so,
 * as in fj_main. fj_yield there returns at once (there is no fiber to put
 * behind others); fj_panic there stops the process (it is not a job).
 * Returns 0, FJ_EBUSY while a thread is in fj_main, fj_run_pinned or fj_enter
 * of s, FJ_EINVAL for NULL, FJ_ENOMEM. On a thread that is already a worker
 * it stops the process.
 */
FJ_API int fj_enter(fj_scheduler *s);
/**
 * Stop taking part (fj_enter). Jobs this thread queued and did not wait for
 * stay queued for the other workers (with a single worker: until the next
 * fj_main, fj_enter or fj_destroy). On a thread that did not fj_enter s, or
 * from a job running on the entered thread's stack, it stops the process.
 */
FJ_API void fj_leave(fj_scheduler *s);

/**
 * Cut the current job short: report the message (fj_config.panic_hook) with the
 * job's name and worker, unwind the job's frames (running __attribute__((cleanup))
 * handlers in code built with -fexceptions, and C++ destructors), and carry on
 * with other work. The job's counter is still decremented, and counts the panic
 * (fj_counter_panics). Outside a job it stops the process.
 */
FJ_NORETURN FJ_API void fj_panic(const char *fmt, ...) FJ_PRINTF(1, 2);

/** How many jobs counted on c panicked since fj_counter_init. */
FJ_API uint32_t fj_counter_panics(const fj_counter *c);

/**
 * Cancel the jobs counted on c that have not started: from now on each is
 * skipped when a worker takes it (its function never runs, no hook or trace
 * event marks its start) and finishes its count as if it had run, so
 * fj_wait(c, ...) returns as usual. Skipped jobs are counted apart from
 * panics (fj_counter_cancelled). Jobs already running go on; they can poll
 * fj_cancelled() and return early. From any thread, inside a job or not,
 * also from a job counted on c itself (it finishes; the rest are skipped).
 *
 * A cancel lasts for the round of work on c: jobs counted on c while it is
 * still above zero are skipped too (the children a cancelled round still
 * queues). The first fj_run_jobs, fj_spawn or fj_counter_add that finds c
 * at zero starts a new round that is not cancelled, as fj_counter_init
 * does: a reused counter never skips new work because of an old cancel.
 * Cancelling a counter at zero therefore has no effect on later jobs.
 * fj_counter_add_outside / fj_counter_done counts are not jobs: a cancel
 * does not finish them.
 *
 * Guaranteed: a job counted on c is skipped if it starts on the thread that
 * called fj_counter_cancel after the call returned, or if it was queued after
 * the call returned (by any thread the call happens-before). A job that a
 * worker starts at the same moment on another thread may still run: the
 * check is one relaxed load per job (best effort, in practice the time a
 * store takes to reach another core). Cancel only counters whose jobs own
 * nothing that only running them frees (fj::task_group's callables, a job
 * that frees its own argument): a skipped job does not run at all.
 */
FJ_API void fj_counter_cancel(fj_counter *c);
/** How many jobs counted on c were skipped by fj_counter_cancel since fj_counter_init. */
FJ_API uint32_t fj_counter_cancelled(const fj_counter *c);
/** Whether c is cancelled now: set by fj_counter_cancel, cleared by fj_counter_init
 * and by the next count added when c is at zero. */
FJ_API int fj_counter_is_cancelled(const fj_counter *c);
/**
 * Nonzero when the counter the calling job is counted on has been cancelled
 * (fj_counter_cancel): a long-running job polls it and returns early. 0
 * outside a job, in the root job, in a job run with no counter, and on a
 * thread in fj_enter outside its jobs. One load; cheap enough for an inner
 * loop. A job run by fj_parallel_for is counted on the call's own counter,
 * which nothing cancels.
 */
FJ_API int fj_cancelled(void);

/**
 * Hand-managed counting: add n now (from anywhere), finish them later with
 * fj_counter_done (from anywhere; waking waiters from a thread outside the
 * scheduler goes through the injection queue). Finishing more than was added is
 * a programming error. Counts added on a thread that is not a worker are
 * held outside (see fj_counter_add_outside).
 */
FJ_API void fj_counter_add(fj_counter *c, int64_t n);
/**
 * Add n counts that a thread outside every scheduler (an I/O thread, a GPU
 * fence poller, the network thread) will finish with fj_counter_done: the
 * ordinary loading pattern. While a counter that a job (or an outside thread)
 * waits on has counts held outside, every worker being idle is not a
 * deadlock: fiberjob waits, and if that lasts fj_config.outside_report_ms it
 * prints one report naming the waiting jobs and the counts held (it never
 * aborts for it). A held count ends when fj_counter_done is called on the
 * counter from a thread that is not a worker, or at fj_counter_init. Counts
 * that no job and no outside thread hold are judged as before: a deadlock.
 */
FJ_API void fj_counter_add_outside(fj_counter *c, int64_t n);
/** Finish n counts added with fj_counter_add (see there); wakes waiters reached.
 * On a thread that is not a worker, it also ends up to n counts held outside. */
FJ_API void fj_counter_done(fj_counter *c, int64_t n);

/**
 * A handle: one job started with fj_spawn, joined once with fj_join. Copy it
 * freely, but join it exactly once; a zero handle ((fj_handle){0}) names no job.
 */
typedef struct fj_handle {
    uint64_t fj__bits; /* private: the slot's address and generation */
} fj_handle;

/**
 * Run one job, counted on a counter of its own taken from the scheduler's
 * pool of handle slots, and return its handle. Inside a job it goes to the
 * calling job's scheduler (the fast path of fj_run_jobs); on another thread,
 * to the scheduler created most recently (fj_spawn_on names one). Never
 * fails for want of slots: the pool grows (fj_config.handles); running out of
 * memory, a NULL job or function, or bad flags stop the process naming the
 * call and the job.
 */
FJ_API fj_handle fj_spawn(const fj_job *job);
/** Like fj_spawn, on scheduler s (from any thread; a worker of s takes the fast path). */
FJ_API fj_handle fj_spawn_on(fj_scheduler *s, const fj_job *job);
/**
 * Wait until the job of h has finished (inside a job the fiber is suspended,
 * on another thread the thread blocks, as fj_wait does), give its slot back,
 * and return 0, or FJ_EPANIC if the job panicked. From any thread, including
 * one outside the scheduler for a job spawned inside it. Joining a zero
 * handle, or one handle twice (also at once on two threads), stops the
 * process with a line naming fj_join and the job. Join every handle before
 * fj_destroy of its scheduler (which frees the slots); a handle never joined
 * keeps its slot until then.
 */
FJ_API int fj_join(fj_handle h);

/**
 * A fiber-aware mutex. Put it anywhere (static, on a stack, inside an
 * object), initialise it with fj_mutex_init() or FJ_MUTEX_INIT (all zero is
 * unlocked). It must outlive every job and thread that locks it or waits to.
 * The fields are private.
 *
 * The owner is the job (its fiber) or the outside thread that locked it, not
 * the worker thread: a job may lock, fj_wait or fj_yield, resume on another
 * worker and unlock there. Locking a free mutex and unlocking one nobody waits
 * for are one atomic read-modify-write each, with no allocation and no system
 * call. A job that finds it locked spins a little while, then parks its fiber
 * (the worker runs other jobs meanwhile, as in fj_wait); a thread outside the
 * scheduler blocks on a futex. Parked waiters get the mutex in the order they
 * parked: unlock hands it straight to the oldest (no barging), which resumes
 * as its owner. A job pinned to a worker (FJ_JOB_ON_WORKER) resumes there.
 */
typedef struct fj_mutex {
    FJ_ALIGNAS(FJ_CACHE_LINE) uint32_t fj__word; /* destroyed:1 | locked:1 | waiters parked (stack head):16 */
    uint32_t fj__queue;                          /* waiters taken off the stack, oldest first (the holder's) */
    uint64_t fj__owner;                          /* who holds it: for misuse checks and reports */
    char fj__pad[FJ_CACHE_LINE - 16];
} fj_mutex;

/** A static initialiser for an unlocked fj_mutex (C and C++). */
#define FJ_MUTEX_INIT { 0, 0, 0, { 0 } }

/** Make m an unlocked mutex. Not while anyone holds it or waits for it
 * (that cannot be told from memory never initialised, so it is not checked). */
FJ_API void fj_mutex_init(fj_mutex *m);
/**
 * End m's use: locking or unlocking it afterwards stops the process (until
 * the next fj_mutex_init). Destroying a mutex that is locked stops the
 * process with a line naming fj_mutex_destroy and its holder. Optional: an
 * unlocked mutex holds nothing to free.
 */
FJ_API void fj_mutex_destroy(fj_mutex *m);
/**
 * Lock m, waiting as long as it takes (inside a job the fiber is suspended,
 * never the worker thread; outside, the thread blocks). Locking a mutex the
 * calling job already holds (recursion, or a job run nested on the stack of
 * the holder while it waits) stops the process with a line naming
 * fj_mutex_lock and the job, instead of deadlocking. From a hook it stops
 * the process, as fj_wait does.
 */
FJ_API void fj_mutex_lock(fj_mutex *m);
/** Lock m if it is free now, without waiting: nonzero when locked. A mutex
 * that waiters are queued for is not free. */
FJ_API int fj_mutex_try_lock(fj_mutex *m);
/**
 * Unlock m; the oldest waiter, if any, gets it. Unlocking a mutex that is
 * not locked, or that another job or thread holds, stops the process with a
 * line naming fj_mutex_unlock and the job.
 */
FJ_API void fj_mutex_unlock(fj_mutex *m);

/**
 * A fiber-aware condition variable, used with one fj_mutex. Initialise it
 * with fj_cond_init() or FJ_COND_INIT (all zero). It must outlive every job
 * and thread waiting on or signalling it. The fields are private.
 *
 * fj_cond_wait unlocks the mutex and parks the calling job's fiber (never the
 * worker thread; outside the schedulers the thread blocks) until a signal or
 * broadcast; it returns holding the mutex again. A signalled waiter joins the
 * mutex's waiters (it is not woken to find the mutex taken): it runs again
 * only once the mutex is handed to it, after the waiters that queued for the
 * mutex before the signal. Waiters are signalled oldest first. As with every
 * condition variable, test the condition in a loop: a wait may also return
 * without a signal (when no fiber is free to switch to, or no outside record
 * can be had, it unlocks, yields and locks again).
 *
 * The first wait binds the condition variable to its mutex until the next
 * fj_cond_init: waiting with another mutex stops the process with a line
 * naming fj_cond_wait, as does waiting without holding the mutex.
 */
typedef struct fj_cond {
    struct fj_mutex *fj__mutex; /* the mutex it is bound to (first wait) */
    uint32_t fj__head;          /* waiters, oldest first (ids; guarded by the mutex) */
    uint32_t fj__tail;
    uint32_t fj__flags;         /* destroyed */
    uint32_t fj__pad;
} fj_cond;

/** A static initialiser for an fj_cond (C and C++). */
#define FJ_COND_INIT { 0, 0, 0, 0, 0 }

/** Make c a condition variable nobody waits on, bound to no mutex. */
FJ_API void fj_cond_init(fj_cond *c);
/** End c's use: waiting on or signalling it afterwards stops the process
 * (until the next fj_cond_init). Destroying it while a job or thread waits
 * on it stops the process with a line naming fj_cond_destroy and a waiter. */
FJ_API void fj_cond_destroy(fj_cond *c);
/**
 * Unlock m, which the caller must hold, wait for a signal, and lock m again
 * before returning (see fj_cond). Inside a job the fiber is suspended, never
 * the worker thread; outside the schedulers the thread blocks. From a hook it
 * stops the process, as fj_wait does.
 */
FJ_API void fj_cond_wait(fj_cond *c, fj_mutex *m);
/**
 * Wake the oldest waiter of c, if any: it joins the waiters of c's mutex.
 * Callable with or without the mutex held (without it, a signal that finds
 * waiters locks and unlocks the mutex itself; one that finds none costs one
 * load), from jobs and from any thread.
 */
FJ_API void fj_cond_signal(fj_cond *c);
/** Wake every waiter of c (in the order they waited): as fj_cond_signal. */
FJ_API void fj_cond_broadcast(fj_cond *c);

FJ_API void fj__count_scope_end(fj_counter **c);
#define FJ__CAT2(a, b) a##b
#define FJ__CAT(a, b) FJ__CAT2(a, b)
#if defined(__GNUC__) && !defined(__cplusplus)
/**
 * Scope guard: FJ_COUNT_SCOPE(c) adds one to c now and finishes it when the
 * enclosing scope is left, including when it is left by fj_panic (the code must
 * be built with -fexceptions for cleanups to run during a panic).
 * C with GCC or Clang only (it is built on their cleanup attribute); C++ code
 * uses the RAII guard fj::count_scope of fiberjob.hpp, and other C compilers
 * (MSVC) have no equivalent: there FJ_COUNT_SCOPE is not defined.
 */
#define FJ_COUNT_SCOPE(c)                                                                 \
    __attribute__((cleanup(fj__count_scope_end), unused)) fj_counter *FJ__CAT(fj__scope_, __LINE__) = \
        (fj_counter_add((c), 1), (c))
#endif

/** A range body for fj_parallel_for: process indices [begin, end). */
typedef void (*fj_range_fn)(size_t begin, size_t end, void *arg);

/**
 * Run fn over [begin, end) in chunks of `grain` indices (0: chosen from the
 * range and the worker count, about eight chunks per worker) on all workers,
 * and return when every chunk is done. Only inside a job; the calling fiber
 * takes part and waits. No allocation: the chunks are handed out from a
 * counter on the caller's stack. `name` names the jobs in reports and traces
 * (NULL: "fj_parallel_for"). A chunk that panics is cut short (its remaining
 * indices are skipped); returns the number of chunks that panicked.
 */
FJ_API uint32_t fj_parallel_for(size_t begin, size_t end, size_t grain, fj_range_fn fn, void *arg, const char *name);

/** Name of the job running on the calling fiber, or NULL outside a job. */
FJ_API const char *fj_current_job_name(void);

/**
 * Write the events traced so far as Chrome trace-event JSON (Perfetto and
 * chrome://tracing open it; one lane per worker). Call it while the scheduler
 * is quiet (after fj_main returned). 0, FJ_EINVAL (tracing is off, NULL
 * scheduler or path), FJ_EIO (the file could not be opened, written or
 * closed: errno says why) or FJ_ENOMEM.
 */
FJ_API int fj_trace_write_json(const fj_scheduler *s, const char *path);
/** The same events as an SVG timeline: a lane per worker, jobs coloured by
 * name. Returns as fj_trace_write_json() does. */
FJ_API int fj_trace_write_svg(const fj_scheduler *s, const char *path);
/** Forget the events traced so far (while quiet). */
FJ_API void fj_trace_clear(fj_scheduler *s);

/** Per-worker statistics. */
typedef struct fj_worker_stats {
    uint64_t jobs;          /**< jobs run */
    uint64_t steals;        /**< jobs taken from another worker */
    uint64_t steal_failures;/**< steal attempts that found nothing or lost a race */
    uint64_t switches;      /**< fiber switches */
    uint64_t sleeps;        /**< times the worker slept on its futex */
    uint64_t wakes;         /**< futex wake calls made by this worker */
    /**
     * Queueing delay, measured only while tracing is on (fj_config.trace_events
     * or FIBERJOB_TRACE; otherwise these stay 0): for each job this worker
     * started, the time from the fj_run_jobs / fj_run_jobs_on call that queued
     * it (fj_main for the root job; for a batch or fj_parallel_for, the one
     * call that queued them all) to the moment the worker started it. Jobs
     * resumed after fj_wait or fj_yield are not counted again. Read to 64 ns,
     * rounded up; delays over about 4.5 minutes are not measured right.
     * Mean: queue_delay_total_ns / queue_delay_jobs.
     */
    uint64_t queue_delay_jobs;      /**< jobs measured: with tracing on from fj_create, equal to `jobs` */
    uint64_t queue_delay_total_ns;  /**< their delays summed, ns */
    uint64_t queue_delay_max_ns;    /**< the longest of them, ns */
    uint64_t jobs_skipped;  /**< jobs skipped because their counter was cancelled (not in `jobs`) */
    /**
     * Waiting jobs this worker resumed, out of its mailbox or handed over
     * the home watch, after a job on another worker finished their count
     * while this one was idle: a job that parked in fj_wait here goes on
     * here, where its stack is in the cache, instead of on the worker that
     * finished the count.
     */
    uint64_t home_resumes;
    /**
     * Times fj_run_jobs() lent this worker to a job it was asked to queue:
     * the worker's queue for that priority already held 64 jobs or more
     * (its thieves were that far behind), so the job ran at once on a fiber
     * of its own, followed by up to 31 more of the newest queued ones, while
     * the submitting job waited on its own fiber (see fj_run_jobs()).
     */
    uint64_t lends;
} fj_worker_stats;

/**
 * Copy per-worker statistics into out[0..max) and return the number of workers.
 * Counts are exact once the scheduler is quiet (after fj_main returned).
 */
FJ_API unsigned fj_stats(const fj_scheduler *s, fj_worker_stats *out, unsigned max);

#ifdef __cplusplus
}
#endif

#if defined(__has_include)
#if __has_include("fiberjob_frame.h")
#include "fiberjob_frame.h"
#endif
#endif

#endif /* FIBERJOB_H */
