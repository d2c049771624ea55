/*
 * The scheduler: its design, where each part lives, and its lifecycle
 * (configuration, fj_create, fj_main, fj_destroy, statistics).
 *
 * Vocabulary
 *   worker   an OS thread taking part in the scheduler: N-1 background threads
 *            pinned one per CPU, plus worker 0, which is the thread inside
 *            fj_main() (and fj_destroy(), which drains the remaining work),
 *            pinned only with pin_threads 2: it is the host's thread. Workers
 *            at or above fj_set_active_workers' limit park (idle.c).
 *   fiber    a stack and a saved context from the pool (fiber.c). Every fiber
 *            runs the same loop: take a task, run it, take the next. A fiber
 *            only switches when its job waits or yields, or to hand over.
 *   task     a queued job (fn != NULL) or a woken fiber to resume (fn == NULL).
 *   post-switch action
 *            work that must happen after a context has saved its registers and
 *            left its stack: publish it on a counter's wait list (wait), append
 *            it to the yield FIFO (yield), or return it to the pool (free). The
 *            switching code stores the action in its worker; the context it
 *            switches to performs it first thing (after_switch). Doing it before
 *            the switch would let another worker resume a fiber still running on
 *            its stack, the classic fiber-system bug.
 *
 * Where a worker looks for work, in order: a task handed to the fiber (large-
 * stack jobs, the root job); its ready deque (woken fibers come before new
 * jobs); its job deques, high then normal then low (the jobs of a batch it
 * holds come first within their priority: see "batches"); the injection queue
 * (submissions from outside threads); stealing from the other workers in the
 * same order, starting at a random victim; its yield FIFO (yielded fibers go
 * behind all other ready work; every 32nd pick looks there first, so a stream
 * of jobs cannot starve them). Then it spins a while and sleeps.
 *
 * Sleeping is an event count. A worker about to sleep reads the epoch,
 * registers in `sleepers` (seq_cst), looks for work once more and only then
 * futex-waits on the epoch. A submitter pushes, issues a seq_cst fence and
 * reads `sleepers`: zero (the busy case) means no system call. Either the
 * submitter sees the registration and bumps the epoch (so the futex wait
 * returns at once), or the sleeper's last look sees the pushed task.
 *
 * Quiescence (the end of fj_destroy's drain): every active worker registered as
 * sleeping, and no registered sleeper found work in between (`idle_gen`, bumped
 * by a sleeper before it takes the work it found, did not move) while the
 * observer looked at every queue. See fj__worker_idle (idle.c).
 *
 * Where each part lives (lowest layer first: a file calls only files above
 * it in this list, and upward only through s->fiber_entry, set here):
 *   os_linux.c, arch/   the OS and CPU contract (os.h, arch/ctx.h, arch/fpu.h;
 *                       Windows: os_windows.c, os_windows_fault.c)
 *   deque.c             the Chase-Lev deque of tasks
 *   topology.c          CPU topology (from /sys)
 *   runtime.c           current worker, fatal errors, error strings, registry
 *   trace.c             event rings (the writers are in trace/)
 *   fiber.c             the fiber pool, waiter ids, outside records, spares (fiber.h)
 *   hooks.c             calling the configuration's hooks (fj_hooks)
 *   panic.c             job boundaries, fj_panic, stack-overflow reports
 *   pinned.c            tasks pinned to one worker (FJ_JOB_ON_WORKER)
 *   wake.c              waking sleepers, the injection queue, resuming waiters
 *   record.c, timer.c   launch records (fj_run_jobs_after), timed waits (record.h)
 *   counter.c           counters, wait lists, folded finishes
 *   cancel.c            fj_counter_cancel, skipping cancelled jobs
 *   batch.c             job batches and chunks
 *   steal.c             finding work: local, injected, stolen, yielded
 *   deadlock.c          deadlock judgement and reports
 *   idle.c              spinning, sleeping, quiescence
 *   worker.c            switching, running a job, the fiber loop, enter/leave
 *   drain.c             the inline run of a waiter's batch
 *   segment.c           a waiter's child run on the next stack segment of its fiber
 *   wait.c              fj_wait, fj_yield
 *   mutex.c             fj_mutex: locks that park fibers (handover, FIFO)
 *   submit.c            fj_run_jobs, fj_run_jobs_on
 *   handle.c            fj_spawn, fj_join: jobs with a pooled counter each
 *   sched.c             this file
 *   parallel.c          fj_parallel_for (public API only)
 * src/unity.c builds them as one translation unit, in this order. The
 * records of a fiber, a worker and the scheduler are in types.h; internal.h
 * includes it and then declares, one block per file, what each file shares.
 *
 * Errors: a failure that would lose work (a queue that cannot grow while a
 * task must go somewhere) stops the process with one line naming the call,
 * the size refused and the job (fj__fatal, fj__push_or_die,
 * fj__mem_alloc_or_die); every allocation comes from s->mem (mem.h, the
 * allocator of fj_config); one that only loses quality degrades and
 * says so where a user would look (no topology: unsorted CPUs; worker 0 not
 * pinned: one line on stderr).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "os.h"

fj_config fj_config_default(void)
{
    fj_config c;
    memset(&c, 0, sizeof c);
    c.workers = 0;
    c.pin_threads = 1;
    c.small_fibers = 128;
    c.small_stack_size = 64 * 1024;
    c.large_fibers = 32;
    c.large_stack_size = 512 * 1024;
    c.spin_before_sleep = 2000;
    c.outside_report_ms = 10000;
    return c;
}

unsigned fj_stats(const fj_scheduler *s, fj_worker_stats *out, unsigned max)
{
    fj__check_live("fj_stats", s);
    if (!out && max)
        fj__fatal("fj_stats", "out is NULL with max %u", max);
    for (unsigned i = 0; i < s->nworkers && i < max; i++) {
        fj__worker *w = &s->workers[i];
        out[i].jobs = fj_load_relaxed(&w->stats.jobs);
        out[i].steals = fj_load_relaxed(&w->stats.steals);
        out[i].steal_failures = fj_load_relaxed(&w->stats.steal_failures);
        out[i].switches = fj_load_relaxed(&w->stats.switches);
        out[i].sleeps = fj_load_relaxed(&w->stats.sleeps);
        out[i].wakes = fj_load_relaxed(&w->stats.wakes);
        out[i].queue_delay_jobs = fj_load_relaxed(&w->stats.queue_delay_jobs);
        out[i].jobs_skipped = fj_load_relaxed(&w->stats.jobs_skipped);
        out[i].home_resumes = fj_load_relaxed(&w->stats.home_resumes);
        out[i].lends = fj_load_relaxed(&w->stats.lends);
        out[i].queue_delay_total_ns = fj_load_relaxed(&w->stats.queue_delay_total_ns);
        out[i].queue_delay_max_ns = fj_load_relaxed(&w->stats.queue_delay_max_ns);
    }
    return s->nworkers;
}

unsigned fj_worker_count(const fj_scheduler *s)
{
    fj__check_live("fj_worker_count", s);
    return s->nworkers;
}

/* Parking is idle.c's ("Parking"); here only the limit and the kicks. The
 * store comes before the kicks (fj__park_kick's argument), so with calls
 * racing, the last store's own kicks wake every worker under it. */
int fj_set_active_workers(fj_scheduler *s, unsigned n)
{
    if (!s)
        return FJ_EINVAL;
    fj__check_live("fj_set_active_workers", s);
    if (n == 0 || n > s->nworkers)
        return FJ_EINVAL;
    fj_store_seq_cst(&s->limit, n);
    for (unsigned i = 1; i < n; i++)
        fj__park_kick(&s->workers[i]);
    return 0;
}

unsigned fj_active_workers(const fj_scheduler *s)
{
    fj__check_live("fj_active_workers", s);
    return fj_load_relaxed(&s->limit);
}

static int config_check(const fj_config *c, const fj__mem *mem, unsigned *nworkers, int **cpus_out)
{
    int allowed[1024], raw[1024];
    int nraw = fj__os_allowed_cpus(raw, 1024);
    if (nraw <= 0)
        return FJ_EAFFINITY;
    /* One per physical core first, then SMT siblings (none with avoid_smt);
     * without memory for the topology, in the order the OS gave. */
    size_t info_bytes = sizeof(fj__cpu_info) * (size_t)nraw;
    fj__cpu_info *info = fj__mem_alloc(mem, info_bytes, FJ_MEM_ALIGN);
    int nallowed = fj__topology_order(raw, nraw, c->avoid_smt, allowed, info);
    fj__mem_free(mem, info, info_bytes, FJ_MEM_ALIGN);
    /* The ranges are documented at the fields of fj_config (fiberjob.h). */
    if ((unsigned)c->pin_threads > 2 || (c->avoid_smt != 0 && c->avoid_smt != 1))
        return FJ_EINVAL;
    if (c->small_fibers == 0 || c->large_fibers == 0)
        return FJ_EINVAL;
    if ((uint64_t)c->small_fibers + c->large_fibers > FJ_MAX_FIBERS)
        return FJ_ELIMIT;   /* wait lists name waiters by 16-bit ids */
    if (c->small_stack_size < FJ_MIN_STACK || c->large_stack_size < FJ_MIN_STACK ||
        c->small_stack_size > FJ_MAX_STACK || c->large_stack_size > FJ_MAX_STACK)
        return FJ_EINVAL;
    if ((unsigned)c->root_on_main > 1)
        return FJ_EINVAL;
    if (c->spin_before_sleep > FJ_MAX_SPIN || c->trace_events > FJ_MAX_TRACE_EVENTS ||
        c->outside_report_ms > FJ_MAX_OUTSIDE_REPORT_MS)
        return FJ_EINVAL;
    unsigned n = c->workers ? c->workers : (unsigned)nallowed;
    if (n > FJ_MAX_WORKERS)
        return FJ_ELIMIT;
    /* Each fiber in use splits its stack region's mapping (up to two more
     * mappings): refuse now a pool that the kernel's limit cannot hold,
     * rather than stop mid-run when the pool is used. */
    uint64_t need = 2 * ((uint64_t)c->small_fibers + c->large_fibers) + 2 * n + 16;
    if (!fj__os_mappings_fit(need))
        return FJ_ELIMIT;
    /* Every worker needs a fiber to run on, and the root job a large one. */
    if (c->small_fibers + c->large_fibers < n + 1)
        return FJ_EINVAL;
    if (c->cpus && (c->cpu_count == 0 || c->cpu_count > FJ_MAX_WORKERS))
        return FJ_EINVAL;
    if (!c->cpus && c->cpu_count)
        return FJ_EINVAL;
    *nworkers = n;
    *cpus_out = NULL;
    if (!c->pin_threads)
        return 0;
    int *cpus = fj__mem_alloc(mem, sizeof(int) * n, FJ_MEM_ALIGN);
    if (!cpus)
        return FJ_ENOMEM;
    for (unsigned i = 0; i < n; i++) {
        int cpu = c->cpus ? c->cpus[i % c->cpu_count] : allowed[i % (unsigned)nallowed];
        bool ok = false;
        for (int k = 0; k < nraw; k++)
            ok |= raw[k] == cpu;
        if (!ok) {
            fj__mem_free(mem, cpus, sizeof(int) * n, FJ_MEM_ALIGN);
            return FJ_EAFFINITY;
        }
        cpus[i] = cpu;
    }
    *cpus_out = cpus;
    return 0;
}

static void sched_free(fj_scheduler *s)
{
    fj__mem mem = s->mem;   /* s itself goes last */
    if (s->workers) {
        for (unsigned i = 0; i < s->nworkers; i++) {
            fj__deque_free(&s->workers[i].ready);
            for (int q = 0; q < FJ_NQ; q++)
                fj__deque_free(&s->workers[i].q[q]);
            fj__batches_free(&s->workers[i]);
            fj__records_give_back(&s->workers[i]);
            fj__altstack_free(&s->workers[i]);
            fj__pin_free(&s->workers[i]);
        }
        fj__trace_destroy(s);
        fj__mem_free(&mem, s->workers, sizeof(fj__worker) * s->nworkers, FJ_CACHE_PAD);
    }
    fj__fibers_destroy(s);
    fj__handles_destroy(s);
    fj__mem_free(&mem, s->deferred, s->deferred_cap * sizeof *s->deferred, FJ_MEM_ALIGN);
    fj__os_mutex_destroy(&s->deferred_lock);
    fj__os_mutex_destroy(&s->timer_lock);
    if (s->signals_installed)
        fj__signals_uninstall();
    if (s->cpus)
        fj__mem_free(&mem, s->cpus, sizeof(int) * s->nworkers, FJ_MEM_ALIGN);
    fj__mem_free(&mem, s, sizeof *s, FJ_CACHE_PAD);
}

static void sched_stop_threads(fj_scheduler *s)
{
    fj_store_release(&s->shutdown, 1);
    fj_store_release(&s->exit, 1);
    fj__notify_all(s);
    for (unsigned i = 1; i < s->nworkers; i++)
        fj__park_kick(&s->workers[i]);
    for (unsigned i = 1; i < s->nworkers; i++)
        fj__os_thread_join(&s->workers[i].thread);
}

fj_scheduler *fj_create(const fj_config *config)
{
    fj_config c = config ? *config : fj_config_default();
    unsigned n;
    int *cpus;
    fj__mem mem;
    int rc = fj__mem_init(&mem, &c.allocator);
    if (!rc)
        rc = config_check(&c, &mem, &n, &cpus);
    if (rc) {
        fj__set_last_error(rc);
        return NULL;
    }
    fj_scheduler *s = fj__mem_alloc(&mem, sizeof *s, FJ_CACHE_PAD);
    if (!s) {
        if (cpus)
            fj__mem_free(&mem, cpus, sizeof(int) * n, FJ_MEM_ALIGN);
        fj__set_last_error(FJ_ENOMEM);
        return NULL;
    }
    memset(s, 0, sizeof *s);
    static uint32_t serial;   /* numbers the schedulers of the process, from 1 */
    s->serial = fj_fetch_add_relaxed(&serial, 1) + 1;
    fj__os_mutex_init(&s->deferred_lock);
    fj__os_mutex_init(&s->timer_lock);
    s->mem = mem;
    s->cfg = c;
    s->cpus = cpus;
    s->nworkers = n;
    s->nsmall = c.small_fibers;
    fj__stack_needs(s);
    s->nlarge = c.large_fibers;
    s->workers = fj__mem_alloc(&s->mem, sizeof(fj__worker) * n, FJ_CACHE_PAD);
    rc = s->workers ? 0 : FJ_ENOMEM;
    if (!rc) {
        memset(s->workers, 0, sizeof(fj__worker) * n);
        for (unsigned i = 0; i < n; i++) {
            s->workers[i].s = s;   /* sched_free frees through it, whatever failed */
            fj__pin_init(&s->workers[i]);
        }
        for (unsigned i = 0; i < n && !rc; i++) {
            fj__worker *w = &s->workers[i];
            w->s = s;
            w->index = i;
            /* Worker 0 is the caller's thread: pinned only when asked (2). */
            w->cpu = cpus && (i > 0 || c.pin_threads == 2) ? cpus[i] : -1;
            w->llc = -1;
            w->rng = 0x9e3779b97f4a7c15ull * (i + 1) | 1;
            /* Above every fiber id (16 bits), unique while the scheduler lives. */
            w->thread_fiber = (uint64_t)s->serial << 32 | i;
            w->hooks = fj__hooks_set(&s->cfg.hooks) ? &s->cfg.hooks : NULL;
            rc = fj__deque_init(&w->ready, 64, &s->mem);
            for (int q = 0; q < FJ_NQ && !rc; q++)
                rc = fj__deque_init(&w->q[q], 256, &s->mem);
        }
    }
    if (!rc)
        rc = fj__fibers_create(s, fj__fiber_entry);
    if (!rc && fj__hooks_set(&c.hooks))
        rc = fj__fiber_names_make(s);
    /* Signal stacks now, not on the workers: a worker that could not have one
     * could not report a stack overflow. */
    for (unsigned i = 0; i < n && !rc; i++)
        rc = fj__altstack_alloc(&s->workers[i]);
    if (!rc)
        rc = fj__trace_init(s);
    for (unsigned i = 0; i < n && !rc; i++)
        s->workers[i].observed = s->workers[i].trace != NULL || s->workers[i].hooks != NULL;
    if (!rc)
        rc = fj__handles_create(s);
    if (!rc) {
        fj__signals_install();
        s->signals_installed = true;
    }
    if (rc) {
        sched_free(s);
        fj__set_last_error(rc);
        return NULL;
    }
    if (cpus) {
        /* Without it, every worker steals from the others in one order. */
        fj__cpu_info *info = fj__mem_alloc(&s->mem, sizeof *info * n, FJ_MEM_ALIGN);
        if (info) {
            fj__topology_read(cpus, (int)n, info);
            for (unsigned i = 0; i < n; i++)
                s->workers[i].llc = info[i].llc;
            fj__mem_free(&s->mem, info, sizeof *info * n, FJ_MEM_ALIGN);
        }
    }
    fj__fpu_capture(&s->workers[0].fpu);
    s->active = n - 1;   /* worker 0 joins in fj_main */
    s->limit = n;
    fj__hooks_pool(s, true);
    for (unsigned i = 1; i < n; i++) {
        rc = fj__os_thread_start(&s->workers[i].thread, fj__worker_thread, &s->workers[i], s->workers[i].cpu);
        if (rc != 0) {
            sched_stop_threads(s);
            fj__hooks_pool(s, false);
            sched_free(s);
            /* A CPU the thread could not be pinned to, or no thread at all. */
            fj__set_last_error(rc == -EINVAL && cpus ? FJ_EAFFINITY : FJ_ETHREAD);
            return NULL;
        }
    }
    fj__registry_add(s);
    fj__set_last_error(0);
    return s;
}

/* Run the calling thread as worker 0 until it leaves. */
/* The calling thread begins to take part as worker 0 (fj_main, fj_destroy's
 * drain, fj_enter): pinned where worker 0 is, its FP state the one jobs
 * start from, its signal stack, counted active. Returns whether its affinity
 * is to be restored (into *saved) at participate_end. */
static bool participate_begin(fj_scheduler *s, const char *call, fj__os_affinity *saved)
{
    fj__worker *w0 = &s->workers[0];
    bool restore = false;
    if (w0->cpu >= 0 && fj__os_affinity_save(saved)) {
        int rc = fj__os_pin_self(w0->cpu);
        restore = rc == 0;
        if (rc != 0 && !s->pin_warned) {
            /* Not worth failing fj_main for, but not to be hidden either. */
            s->pin_warned = true;
            fprintf(stderr, "fiberjob: %s: could not pin the calling thread (worker 0) to CPU %d (%s); it runs "
                    "unpinned\n", call, w0->cpu, strerror(-rc));
        }
    }
    fj__fpu_capture(&w0->fpu);
    fj__altstack_enter(w0);
    fj_fetch_add_seq_cst(&s->active, 1);
    return restore;
}

static void participate_end(fj_scheduler *s, bool restore, fj__os_affinity *saved)
{
    fj_fetch_sub_seq_cst(&s->active, 1);
    fj__altstack_leave(&s->workers[0]);
    if (restore)
        fj__os_affinity_restore(saved);
}

/* Run the calling thread as worker 0 until it leaves. */
static void main_participate(fj_scheduler *s, const fj__task *root)
{
    fj__os_affinity saved;
    bool restore = participate_begin(s, root ? "fj_main" : "fj_destroy", &saved);
    fj__worker_enter(&s->workers[0], root);
    participate_end(s, restore, &saved);
}

/* Run a root task as worker 0 on the calling thread (fj_main, fj_run_pinned).
 * flags: its FJ_JOB_ flags, or FJ_TASK_ROOT_CFG for those the configuration
 * gives fj_main's root (root_on_main). */
#define FJ_TASK_ROOT_CFG (1u << 31)
static int run_root(fj_scheduler *s, const char *call, fj_job_fn fn, void *arg, const char *name, unsigned flags)
{
    if (fj__current_worker())
        fj__fatal(call, "called from inside a job: %s", !strcmp(call, "fj_main")
                  ? "fj_main does not nest; use fj_run_jobs and fj_wait"
                  : "a worker runs the jobs pinned to it itself");
    if (!s || !fn)
        return FJ_EINVAL;
    fj__check_live(call, s);
    if (flags & FJ_TASK_ROOT_CFG)
        flags = s->cfg.root_on_main ? FJ_JOB_ON_MAIN : 0;
    uint32_t expected = 0;
    if (!fj_cas_strong_acq_rel(&s->main_running, &expected, 1))
        return FJ_EBUSY;
    fj_store_relaxed(&s->root_done, 0);
    fj__task root = { .fn = fn, .arg = arg, .name = name, .flags = FJ_TASK_ROOT | flags };
    /* Queued by this thread, not yet a worker: no JOB_QUEUE event. */
    if (s->workers[0].trace)
        root.flags |= fj__trace_queued(NULL, 0, root.name, 1);
    main_participate(s, &root);
    int rc = fj_load_relaxed(&s->root_panicked) ? FJ_EPANIC : 0;
    fj_store_release(&s->main_running, 0);
    return rc;
}

int fj_enter(fj_scheduler *s)
{
    if (fj__current_worker())
        fj__fatal("fj_enter", "called on a thread that is already a worker (inside a job, or after fj_enter)");
    if (!s)
        return FJ_EINVAL;
    fj__check_live("fj_enter", s);
    fj__fiber *rec = fj__outside_take();
    if (!rec)
        return FJ_ENOMEM;
    uint32_t expected = 0;
    if (!fj_cas_strong_acq_rel(&s->main_running, &expected, 1)) {
        fj__outside_put(rec);
        return FJ_EBUSY;
    }
    /* Worker 0 stays while entered: its loop leaves when the root is done. */
    fj_store_relaxed(&s->root_done, 0);
    s->entered = rec;
    s->entered_restore = participate_begin(s, "fj_enter", &s->entered_affinity);
    fj__native_enter(&s->workers[0], rec);
    return 0;
}

void fj_leave(fj_scheduler *s)
{
    fj__worker *w = fj__current_worker();
    if (!s)
        fj__fatal("fj_leave", "scheduler is NULL");
    fj__check_live("fj_leave", s);
    fj__fiber *rec = s->entered;
    if (!w || w->s != s || !rec || w->current != rec)
        fj__fatal("fj_leave", "the calling thread did not fj_enter this scheduler");
    if (rec->job_depth)
        fj__fatal("fj_leave", "called inside job '%s', which runs on the entered thread's stack",
                  fj__job_name(w->current->job_name));
    fj__native_leave(w, rec);
    participate_end(s, s->entered_restore, &s->entered_affinity);
    s->entered = NULL;
    fj_store_release(&s->root_done, 1);
    fj__outside_put(rec);
    fj_store_release(&s->main_running, 0);
}

int fj_main(fj_scheduler *s, fj_job_fn fn, void *arg)
{
    return run_root(s, "fj_main", fn, arg, "fj_main root", FJ_TASK_ROOT_CFG);
}

/* fj_run_pinned's root, pinned to worker 0 itself: it lets worker 0 run
 * until nothing pinned there is queued or unfinished (but itself). */
static void run_pinned_root(void *arg)
{
    fj_scheduler *s = arg;
    fj__worker *w0 = &s->workers[0];
    while (fj__pin_queued(w0) || w0->pin_live > 1) {
        fj_yield();
        if (!fj__pin_queued(w0))
            fj__os_yield();   /* a pinned job waits: let the others finish its count */
    }
}

int fj_run_pinned(fj_scheduler *s)
{
    if (!s)
        return run_root(s, "fj_run_pinned", NULL, NULL, NULL, 0);
    return run_root(s, "fj_run_pinned", run_pinned_root, s, "fj_run_pinned", FJ_JOB_ON_MAIN);
}

void fj_destroy(fj_scheduler *s)
{
    if (!s)
        return;
    if (fj__current_worker())
        fj__fatal("fj_destroy", "called from inside a job (or between fj_enter and fj_leave)");
    fj__check_live("fj_destroy", s);
    uint32_t expected = 0;
    if (!fj_cas_strong_acq_rel(&s->main_running, &expected, 1))
        fj__fatal("fj_destroy", "called while fj_main runs on another thread");
    /* Outside threads submit elsewhere from now on; deadlock checks still see
     * s until it is freed. */
    fj__registry_retire(s);
    /* Drain: worker 0 joins until every worker is idle, no queue holds work
     * and nothing waits (drain_done); what still waits is judged as a
     * deadlock, with the hook asked as during fj_main. */
    fj_store_release(&s->shutdown, 1);
    fj__notify_all(s);
    main_participate(s, NULL);
    fj__timers_stop(s);   /* nothing waits any more: no deadline to keep */
    sched_stop_threads(s);
    /* A thread outside, or a worker of another scheduler, may still be
     * leaving fj_run_jobs or a wake it queued here (fj__resume_waiter). */
    while (fj_load_seq_cst(&s->outside_refs))
        fj__os_yield();
    fj__report_stranded(s);
    fj__hooks_pool(s, false);
    fj__trace_at_exit(s);
    fj__registry_remove(s);
    sched_free(s);
}
