/*
 * The workloads written for fiberjob (the switch workload is in fj_switch.c).
 * Every workload creates one scheduler with the default configuration (one
 * worker per allowed CPU, pinned) unless --workers says otherwise, and measures
 * inside the root job.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fiberjob.h>

#include "bench.h"
#include "fj_bench.h"

static fj_scheduler *make_sched_from(const bench_args *a, fj_config c)
{
    if (a->workers)
        c.workers = a->workers;
    const char *pin = getenv("FJ_BENCH_PIN");   /* FJ_BENCH_PIN=0: do not pin the workers */
    if (pin && *pin == '0')
        c.pin_threads = 0;
    fj_scheduler *s = fj_create(&c);
    if (!s)
        bench_fail("fj_create: %s", fj_strerror(fj_last_error()));
    return s;
}

static fj_scheduler *make_sched(const bench_args *a) { return make_sched_from(a, fj_config_default()); }

/* FJ_BENCH_STATS=1: print the scheduler's per-worker statistics to stderr. */
static void print_stats(fj_scheduler *s)
{
    const char *env = getenv("FJ_BENCH_STATS");
    if (!env || !*env || *env == '0')
        return;
    fj_worker_stats st[64];
    unsigned n = fj_stats(s, st, 64);
    for (unsigned i = 0; i < n && i < 64; i++)
        fprintf(stderr,
                "worker %u: jobs %llu steals %llu steal_failures %llu switches %llu sleeps %llu wakes %llu "
                "home_resumes %llu lends %llu\n",
                i, (unsigned long long)st[i].jobs, (unsigned long long)st[i].steals,
                (unsigned long long)st[i].steal_failures, (unsigned long long)st[i].switches,
                (unsigned long long)st[i].sleeps, (unsigned long long)st[i].wakes,
                (unsigned long long)st[i].home_resumes, (unsigned long long)st[i].lends);
}

int fjb_run_root_from(const bench_args *a, fj_config c, fj_job_fn fn, void *arg)
{
    fj_scheduler *s = make_sched_from(a, c);
    if (!s)
        return 1;
    int rc = fj_main(s, fn, arg);
    print_stats(s);
    fj_destroy(s);
    if (rc)
        return bench_fail("fj_main: %s", fj_strerror(rc));
    return 0;
}

static int run_root(const bench_args *a, fj_job_fn fn, void *arg)
{
    return fjb_run_root_from(a, fj_config_default(), fn, arg);
}

static void empty_job(void *p) { bench_opaque(p); }

/* ---------------------------------------------------------------- spawn */

typedef struct spawn_ctx {
    long n;
    size_t batch;
    uint64_t ns;
    int slot;          /* the submitting thread's (bench_thread_slot) */
    uint64_t before;   /* its count of jobs run before the timed pass */
} spawn_ctx;

static void spawn_job(void *p)
{
    (void)p;
    bench_job_ran();
}

static void spawn_pass(long n, size_t batch)
{
    fj_job jobs[1024];
    for (size_t i = 0; i < 1024; i++)
        jobs[i] = (fj_job){ .fn = spawn_job, .arg = NULL, .name = "empty" };
    fj_counter c;
    fj_counter_init(&c, 0);
    long left = n;
    while (left > 0) {
        size_t k = (size_t)left < batch ? (size_t)left : batch;
        fj_run_jobs(jobs, k, &c);
        left -= (long)k;
    }
    fj_wait(&c, 0);
}

static void spawn_root(void *p)
{
    spawn_ctx *x = p;
    spawn_pass(x->n, x->batch);   /* warm-up: grows the deques to their final size */
    /* The thread submitting: fj_wait may bring the root back on another. */
    x->slot = bench_thread_slot();
    x->before = bench_jobs_ran_in(x->slot);
    uint64_t t0 = bench_now_ns();
    spawn_pass(x->n, x->batch);
    x->ns = bench_now_ns() - t0;
}

static int spawn_common(const bench_args *a, size_t batch, const char *metric)
{
    spawn_ctx x = { a->size, batch, 0, 0, 0 };
    if (run_root(a, spawn_root, &x))
        return 1;
    bench_emit(metric, (double)x.n / ((double)x.ns / 1e9) / 1e6, "Mjobs/s", BENCH_HIGHER);
    bench_emit_same_thread(metric, x.slot, x.before, x.n);
    return 0;
}

int fjb_spawn1(const bench_args *a) { return spawn_common(a, 1, "spawn1"); }
int fjb_spawn1024(const bench_args *a) { return spawn_common(a, 1024, "spawn1024"); }

/* ---------------------------------------------------------------- fib */

typedef struct fib_arg {
    int n;
    long r;
} fib_arg;

/* 0, or FJ_JOB_SHALLOW for the fiberjob-shallow variant: fib's own frames
 * need far less than FJ_SHALLOW_STACK, so a waiter may run its children nested
 * on its own stack instead of calling each on a fiber of its own. */
static unsigned fib_flags;

static void fib_job(void *p)
{
    fib_arg *x = p;
    if (x->n < 2) {
        x->r = x->n;
        return;
    }
    fib_arg l = { x->n - 1, 0 }, r = { x->n - 2, 0 };
    fj_job jobs[2] = { { .fn = fib_job, .arg = &l, .name = "fib", .flags = fib_flags },
                       { .fn = fib_job, .arg = &r, .name = "fib", .flags = fib_flags } };
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs(jobs, 2, &c);
    fj_wait(&c, 0);
    x->r = l.r + r.r;
}

typedef struct fib_ctx {
    int n;
    long r;
    uint64_t ns;
} fib_ctx;

static void fib_root(void *p)
{
    fib_ctx *x = p;
    fib_arg w = { x->n > 22 ? x->n - 4 : x->n, 0 };   /* warm-up */
    fib_job(&w);
    fib_arg m = { x->n, 0 };
    uint64_t t0 = bench_now_ns();
    fib_job(&m);
    x->ns = bench_now_ns() - t0;
    x->r = m.r;
}

static long fib_serial(int n) { return n < 2 ? n : fib_serial(n - 1) + fib_serial(n - 2); }

int fjb_fib(const bench_args *a)
{
    fib_ctx x = { (int)a->size, 0, 0 };
    if (run_root(a, fib_root, &x))
        return 1;
    if (x.r != fib_serial(x.n))
        return bench_fail("fiberjob fib(%d) = %ld, wrong", x.n, x.r);
    bench_emit("fib", (double)x.ns / 1e6, "ms", BENCH_LOWER);
    return 0;
}

int fjb_fib_shallow(const bench_args *a)
{
    fib_flags = FJ_JOB_SHALLOW;
    return fjb_fib(a);
}

/* ---------------------------------------------------------------- parallel for */

typedef struct pf_chunk {
    float *a;
    size_t lo, hi;
    float sum;
} __attribute__((aligned(64))) pf_chunk;

typedef struct pf_ctx {
    float *a;
    size_t n, grain, nchunks;
    pf_chunk *chunks;
    fj_job *map_jobs, *sum_jobs;
    uint64_t map_ns, sum_ns;
    double sum;
} pf_ctx;

static void pf_map_job(void *p)
{
    pf_chunk *c = p;
    bench_map_chunk(c->a, c->lo, c->hi);
}

static void pf_sum_job(void *p)
{
    pf_chunk *c = p;
    c->sum = bench_sum_chunk(c->a, c->lo, c->hi);
}

static void pf_run(pf_ctx *x, const fj_job *jobs)
{
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs(jobs, x->nchunks, &c);
    fj_wait(&c, 0);
}

static void pf_pass(pf_ctx *x)
{
    uint64_t t0 = bench_now_ns();
    pf_run(x, x->map_jobs);
    uint64_t t1 = bench_now_ns();
    pf_run(x, x->sum_jobs);
    double s = 0;
    for (size_t i = 0; i < x->nchunks; i++)
        s += x->chunks[i].sum;
    uint64_t t2 = bench_now_ns();
    x->map_ns = t1 - t0;
    x->sum_ns = t2 - t1;
    x->sum = s;
}

static void pf_root(void *p)
{
    pf_ctx *x = p;
    pf_pass(x);   /* warm-up */
    pf_pass(x);
}

int fjb_pfor(const bench_args *a)
{
    pf_ctx x;
    memset(&x, 0, sizeof x);
    x.n = (size_t)a->size;
    x.grain = (size_t)a->grain;
    x.nchunks = (x.n + x.grain - 1) / x.grain;
    x.a = bench_pfor_alloc(x.n);
    x.chunks = bench_aligned_alloc(64, x.nchunks * sizeof *x.chunks);
    x.map_jobs = malloc(x.nchunks * sizeof *x.map_jobs);
    x.sum_jobs = malloc(x.nchunks * sizeof *x.sum_jobs);
    if (!x.a || !x.chunks || !x.map_jobs || !x.sum_jobs)
        return bench_fail("pfor: out of memory");
    for (size_t i = 0; i < x.nchunks; i++) {
        size_t lo = i * x.grain, hi = lo + x.grain < x.n ? lo + x.grain : x.n;
        x.chunks[i] = (pf_chunk){ .a = x.a, .lo = lo, .hi = hi, .sum = 0 };
        x.map_jobs[i] = (fj_job){ .fn = pf_map_job, .arg = &x.chunks[i], .name = "map" };
        x.sum_jobs[i] = (fj_job){ .fn = pf_sum_job, .arg = &x.chunks[i], .name = "sum" };
    }
    int rc = run_root(a, pf_root, &x);
    if (!rc)
        rc = bench_pfor_check("fiberjob", x.a, x.n, x.sum);
    if (!rc) {
        bench_emit("pfor-map", (double)x.map_ns / 1e6, "ms", BENCH_LOWER);
        bench_emit("pfor-sum", (double)x.sum_ns / 1e6, "ms", BENCH_LOWER);
    }
    bench_aligned_free(x.a);
    bench_aligned_free(x.chunks);
    free(x.map_jobs);
    free(x.sum_jobs);
    return rc;
}

/* ---------------------------------------------------------------- wake latency */

typedef struct wake_ctx {
    long n;
    double *ns;
    uint64_t t_done;   /* written by the child just before it finishes */
    int child_slot;   /* the thread it ran on (bench_thread_slot) */
    unsigned char *local;   /* per wake-up: its child ran on the thread the waiter returned on */
} wake_ctx;

static void wake_child(void *p)
{
    wake_ctx *x = p;
    bench_spin_ns(BENCH_WAKE_SPIN_NS);
    x->child_slot = bench_thread_slot();
    x->t_done = bench_now_ns();
}

static void wake_root(void *p)
{
    wake_ctx *x = p;
    const long warm = 20;
    for (long i = 0; i < warm + x->n; i++) {
        fj_counter c;
        fj_counter_init(&c, 0);
        fj_job child = { .fn = wake_child, .arg = x, .name = "wake child" };
        fj_job filler = { .fn = empty_job, .arg = NULL, .name = "filler" };
        fj_run_jobs(&child, 1, &c);
        /* A job of another counter on top of our deque: fj_wait does not run
         * it inline, so the waiter really parks and is woken. */
        fj_run_jobs(&filler, 1, NULL);
        fj_wait(&c, 0);
        uint64_t t1 = bench_now_ns();
        if (i >= warm) {
            x->ns[i - warm] = (double)(t1 - x->t_done);
            x->local[i - warm] = x->child_slot == bench_thread_slot();
        }
    }
}

int fjb_wake(const bench_args *a)
{
    wake_ctx x = { a->size, calloc((size_t)a->size, sizeof(double)), 0, -1, calloc((size_t)a->size, 1) };
    if (!x.ns || !x.local) {
        free(x.ns);
        free(x.local);
        return bench_fail("wake: out of memory");
    }
    int rc = run_root(a, wake_root, &x);
    if (!rc) {
        bench_emit_wake(x.ns, x.local, (size_t)x.n);
    }
    free(x.ns);
    free(x.local);
    return rc;
}

/* ---------------------------------------------------------------- startup */

int fjb_startup(const bench_args *a)
{
    long n = a->size;
    double *us = calloc((size_t)n * 4, sizeof *us);
    if (!us)
        return bench_fail("startup: out of memory");
    double *create = us + n, *mainrun = us + 2 * n, *destroy = us + 3 * n;
    for (long i = -1; i < n; i++) {   /* i == -1: warm-up */
        uint64_t t0 = bench_now_ns();
        fj_scheduler *s = make_sched(a);
        if (!s) {
            free(us);
            return 1;
        }
        uint64_t t1 = bench_now_ns();
        int rc = fj_main(s, empty_job, NULL);
        uint64_t t2 = bench_now_ns();
        fj_destroy(s);
        uint64_t t3 = bench_now_ns();
        if (rc) {
            free(us);
            return bench_fail("fj_main: %s", fj_strerror(rc));
        }
        if (i >= 0) {
            us[i] = (double)(t3 - t0) / 1e3;
            create[i] = (double)(t1 - t0) / 1e3;
            mainrun[i] = (double)(t2 - t1) / 1e3;
            destroy[i] = (double)(t3 - t2) / 1e3;
        }
    }
    bench_emit("startup-median", bench_percentile(us, (size_t)n, 50), "us", BENCH_LOWER);
    bench_emit("startup-create", bench_percentile(create, (size_t)n, 50), "us", BENCH_LOWER);
    bench_emit("startup-main", bench_percentile(mainrun, (size_t)n, 50), "us", BENCH_LOWER);
    bench_emit("startup-destroy", bench_percentile(destroy, (size_t)n, 50), "us", BENCH_LOWER);
    free(us);
    return 0;
}

/* CPU time of the whole process, all threads, in microseconds. */
static double process_cpu_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* create-time: the first fj_create + fj_destroy of the process (which pays for
 * whatever is loaded or read once per process, such as the CPU topology),
 * then the median of `size` later pairs; in wall time, and for the first pair
 * also in CPU time of the process (all threads), which a busy machine
 * distorts less. Run it in a fresh process: bench/run.sh starts one per
 * repetition. No job runs; fj_main is not called. */
int fjb_create_time(const bench_args *a)
{
    long n = a->size;
    double *later = calloc((size_t)n, sizeof *later);
    if (!later)
        return bench_fail("create-time: out of memory");
    double first = 0, first_cpu = 0;
    for (long i = -1; i < n; i++) {   /* i == -1: the first pair of the process */
        double c0 = process_cpu_us();
        uint64_t t0 = bench_now_ns();
        fj_scheduler *s = make_sched(a);
        if (!s) {
            free(later);
            return 1;
        }
        fj_destroy(s);
        double us = (double)(bench_now_ns() - t0) / 1e3;
        if (i < 0) {
            first = us;
            first_cpu = process_cpu_us() - c0;
        } else {
            later[i] = us;
        }
    }
    bench_emit("create-first", first, "us", BENCH_LOWER);
    bench_emit("create-first-cpu", first_cpu, "us", BENCH_LOWER);
    bench_emit("create-later", bench_percentile(later, (size_t)n, 50), "us", BENCH_LOWER);
    free(later);
    return 0;
}

/* ---------------------------------------------------------------- mutex */

/* 64 jobs share one lock, each taking it size/64 times around a short
 * critical section (a few dependent multiply-adds), with as much work again
 * outside it: contended. The same jobs with fj_mutex ("fiberjob") and with a
 * pthread mutex ("pthread", held across no wait: what the README allowed
 * before fj_mutex). */
enum { MUTEX_JOBS = 64 };
typedef struct mutex_ctx {
    long per_job;
    int use_pthread;
    fj_mutex fm;
    pthread_mutex_t pm;
    uint64_t shared;   /* under the lock */
    uint64_t ns;
} mutex_ctx;

static uint64_t mutex_work(uint64_t x)
{
    for (int i = 0; i < 8; i++)
        x = x * 6364136223846793005u + 1442695040888963407u;
    return x;
}

static void mutex_job(void *p)
{
    mutex_ctx *x = p;
    uint64_t local = (uint64_t)(uintptr_t)&local;
    for (long i = 0; i < x->per_job; i++) {
        if (x->use_pthread)
            pthread_mutex_lock(&x->pm);
        else
            fj_mutex_lock(&x->fm);
        x->shared = mutex_work(x->shared);
        if (x->use_pthread)
            pthread_mutex_unlock(&x->pm);
        else
            fj_mutex_unlock(&x->fm);
        local = mutex_work(local);
    }
    bench_opaque(&local);
}

static void mutex_pass(mutex_ctx *x)
{
    fj_job jobs[MUTEX_JOBS];
    for (int i = 0; i < MUTEX_JOBS; i++)
        jobs[i] = (fj_job){ .fn = mutex_job, .arg = x, .name = "mutex" };
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs(jobs, MUTEX_JOBS, &c);
    fj_wait(&c, 0);
}

static void mutex_root(void *p)
{
    mutex_ctx *x = p;
    long n = x->per_job;
    x->per_job = n / 10 + 1;
    mutex_pass(x);   /* warm-up */
    x->per_job = n;
    uint64_t t0 = bench_now_ns();
    mutex_pass(x);
    x->ns = bench_now_ns() - t0;
}

static int mutex_common(const bench_args *a, int use_pthread)
{
    static mutex_ctx x;
    x.per_job = a->size / MUTEX_JOBS + 1;
    x.use_pthread = use_pthread;
    fj_mutex_init(&x.fm);
    pthread_mutex_init(&x.pm, NULL);
    if (run_root(a, mutex_root, &x))
        return 1;
    pthread_mutex_destroy(&x.pm);
    fj_mutex_destroy(&x.fm);
    bench_emit("mutex", (double)(x.per_job * MUTEX_JOBS) / ((double)x.ns / 1e9) / 1e6, "Mlocks/s", BENCH_HIGHER);
    return 0;
}

int fjb_mutex(const bench_args *a) { return mutex_common(a, 0); }
int fjb_mutex_pthread(const bench_args *a) { return mutex_common(a, 1); }

