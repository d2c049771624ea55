/*
 * fiberjob-bench: runs one workload for one implementation, once, and prints
 * its metrics as CSV lines "metric,value,unit,lower|higher".
 *
 *   fiberjob-bench list                       which (workload, implementation) pairs this binary has
 *   fiberjob-bench run WORKLOAD IMPL [options]
 *       --smoke       tiny size (CI)
 *       --size N      the size parameter (default below)
 *       --scale X     multiply the default size by X (fib: n + log_phi(X))
 *       --grain G     parallel-for grain in elements (default 65536; env FJ_BENCH_GRAIN)
 *       --workers N   worker threads (default: one per allowed CPU; env FJ_BENCH_WORKERS)
 *
 * Workloads and the meaning of their size:
 *   switch     round trips between two contexts on one thread        10,000,000
 *   spawn1     empty jobs, submitted one at a time, one counter        1,000,000
 *              (impl ring-floor: no scheduler, two pinned threads and a ring
 *              whose reader claims a batch with one read: fj_floor.c)
 *   spawn1024  empty jobs, submitted in batches of 1,024               1,000,000
 *   fib        n of fib(n), one job per call, parent waits                    30
 *   pfor       floats mapped then summed                              64 Mi
 *   frame      frames of the ~10,400-job graph in frame_graph.h              500
 *              (impl fiberjob-ranged: each stage a parallel loop;
 *              impl fiberjob-alternate: the two alternating in one process,
 *              the medians of job-per-element / ranged by pair and stage;
 *              impl serial: the same jobs in order on one thread; impl
 *              split-floor: no scheduler, each stage cut in two fixed halves
 *              on two pinned threads: frame_floor.c; impl serial-alternate:
 *              the serial frame as loops and as a call per element through
 *              a job table, alternating on one thread, their median ratio
 *              by pair: frame_floor.c. FJ_BENCH_RUNQUEUE=1
 *              adds the frames' waits for a CPU, Linux)
 *   graph      frames of the 10,000-node random DAG in dag_graph.h            200
 *              (impl fiberjob: launch-when-done; fiberjob-wait: a job per node
 *              waiting on its predecessors; tbb: flow graph; serial: one thread)
 *   wake       wake-ups measured                                           5,000
 *              (impl park-floor: no scheduler, a parked context woken by one
 *              store it spins on: the least a parked wake costs here)
 *   startup    create + empty root job + destroy cycles                      100
 *   create-time  the process's first create + destroy, then later ones      10
 *   alloc      frames of 64 jobs x 512 allocations (fj_alloc.c)             1,000
 *   mutex      lock/unlock pairs, 64 jobs on one contended lock       1,000,000
 *              (impl fiberjob: fj_mutex; impl pthread: a pthread mutex)
 *
 * The same driver is compiled into the OpenMP binaries (one per OpenMP runtime)
 * and into the FP-control switch binary; the BENCH_WITH_* macros choose the table.
 */
#include <math.h>
#ifdef __linux__
#include <pthread.h>
#endif
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

typedef struct entry {
    const char *workload;
    const char *impl;
    bench_fn fn;
} entry;

#if defined(BENCH_WITH_OMP)
#if BENCH_OMP_FLAVOUR == 2
#define OMP_NAME "omp-clang"
#else
#define OMP_NAME "omp-gcc"
#endif
#endif

static const entry table[] = {
#ifdef BENCH_WITH_FIBERJOB
    { "switch", "fiberjob", fjb_switch },
    { "spawn1", "fiberjob", fjb_spawn1 },
    { "spawn1024", "fiberjob", fjb_spawn1024 },
    { "fib", "fiberjob", fjb_fib },
    { "fib", "fiberjob-shallow", fjb_fib_shallow },
    { "pfor", "fiberjob", fjb_pfor },
    { "frame", "fiberjob", fjb_frame },
    { "frame", "serial", bench_frame_serial },
    { "frame", "fiberjob-ranged", fjb_frame_ranged },
    { "frame", "fiberjob-alternate", fjb_frame_alternate },
    { "frame", "split-floor", bench_frame_split_floor },
    { "frame", "serial-alternate", bench_frame_serial_alternate },
    { "wake", "fiberjob", fjb_wake },
    { "wake", "park-floor", fjb_wake_floor },
    { "spawn1", "ring-floor", fjb_spawn1_ring_floor },
    { "startup", "fiberjob", fjb_startup },
    { "mutex", "fiberjob", fjb_mutex },
    { "mutex", "pthread", fjb_mutex_pthread },
    { "create-time", "fiberjob", fjb_create_time },
    { "graph", "fiberjob", fjb_graph_after },
    { "graph", "fiberjob-wait", fjb_graph_wait },
    { "graph", "serial", bench_graph_serial },
#endif
#ifdef BENCH_WITH_ALLOC
    { "alloc", "fiberjob", fjb_alloc_frame },
    { "alloc", "glibc", fjb_alloc_malloc },
#endif
#ifdef BENCH_WITH_ALLOC_PEER
    { "alloc", BENCH_ALLOC_PEER_NAME, fjb_alloc_malloc },   /* malloc is the peer's in this program */
#endif
#ifdef BENCH_WITH_FJ_SWITCH_FPU
    { "switch", "fiberjob-fpu", fjb_switch },
#endif
#ifdef BENCH_WITH_BOOST_CONTEXT
    { "switch", "boost-context", bctx_switch },
#endif
#ifdef BENCH_WITH_BOOST_FIBER
    { "switch", "boost-fiber", bfib_switch },
    { "spawn1", "boost-fiber", bfib_spawn1 },
    { "spawn1024", "boost-fiber", bfib_spawn1 },   /* no batch submission: one at a time */
    { "wake", "boost-fiber", bfib_wake },
#endif
#ifdef BENCH_WITH_TBB
    { "spawn1", "tbb", tbbb_spawn1 },
    { "spawn1024", "tbb", tbbb_spawn1 },           /* no batch submission: one at a time */
    { "fib", "tbb", tbbb_fib },
    { "pfor", "tbb", tbbb_pfor },
    { "frame", "tbb", tbbb_frame },
    { "graph", "tbb", tbbb_graph },
    { "wake", "tbb", tbbb_wake },
#endif
#ifdef BENCH_WITH_OMP
    { "spawn1", OMP_NAME, ompb_spawn1 },
    { "spawn1024", OMP_NAME, ompb_spawn1 },        /* no batch submission: one at a time */
    { "fib", OMP_NAME, ompb_fib },
    { "pfor", OMP_NAME, ompb_pfor },
    { "wake", OMP_NAME, ompb_wake },
#endif
    { NULL, NULL, NULL }
};

static long default_size(const char *w, int smoke)
{
    static const struct { const char *w; long full, smoke; } sizes[] = {
        { "switch", 10000000, 10000 },  { "spawn1", 1000000, 10000 },
        { "spawn1024", 1000000, 10240 }, { "fib", 30, 15 },
        { "pfor", 64L << 20, 1L << 16 }, { "frame", 500, 3 },
        { "wake", 5000, 20 },            { "startup", 100, 3 },
        { "alloc", 1000, 3 },           { "create-time", 10, 2 },
        { "mutex", 1000000, 6400 },    { "graph", 200, 3 },
    };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        if (strcmp(sizes[i].w, w) == 0)
            return smoke ? sizes[i].smoke : sizes[i].full;
    return 0;
}

void bench_emit(const char *metric, double value, const char *unit, int higher_better)
{
    const char *dir = higher_better == BENCH_INFO ? "info" : higher_better ? "higher" : "lower";
    printf("%s,%.6g,%s,%s\n", metric, value, unit, dir);
    fflush(stdout);
}

void bench_emit_wake(double *ns, const unsigned char *local, size_t n)
{
    size_t nlocal = 0, ncross = 0;
    double *cross = malloc((n ? n : 1) * sizeof *cross);
    for (size_t i = 0; i < n; i++) {
        nlocal += local[i] != 0;
        if (!local[i] && cross)
            cross[ncross++] = ns[i];
    }
    bench_emit("wake-median", bench_percentile(ns, n, 50), "ns", BENCH_LOWER);
    bench_emit("wake-p99", bench_percentile(ns, n, 99), "ns", BENCH_LOWER);
    bench_emit("wake-same-thread", n ? 100.0 * (double)nlocal / (double)n : 0.0, "%", BENCH_INFO);
    if (ncross)
        bench_emit("wake-cross-median", bench_percentile(cross, ncross, 50), "ns", BENCH_LOWER);
    free(cross);
}

int bench_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("fiberjob-bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_percentile(double *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof *v, cmp_double);
    if (p == 50.0 && n % 2 == 0)
        return (v[n / 2 - 1] + v[n / 2]) / 2;
    size_t k = (size_t)ceil(p / 100.0 * (double)n);
    if (k > 0)
        k--;
    if (k >= n)
        k = n - 1;
    return v[k];
}

/* The calling thread onto the k-th CPU it is allowed, as fiberjob pins its
 * workers by default (FJ_BENCH_PIN=0: not pinned). */
void bench_pin_cpu(unsigned k)
{
#ifdef __linux__
    const char *pin = getenv("FJ_BENCH_PIN");
    cpu_set_t allowed, one;
    if ((pin && strcmp(pin, "0") == 0) || sched_getaffinity(0, sizeof allowed, &allowed) != 0)
        return;
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
        if (CPU_ISSET(cpu, &allowed) && k-- == 0) {
            CPU_ZERO(&one);
            CPU_SET(cpu, &one);
            pthread_setaffinity_np(pthread_self(), sizeof one, &one);
            return;
        }
    }
#else
    (void)k;
#endif
}

int bench_cpus_save(bench_cpus *c)
{
#ifdef __linux__
    _Static_assert(sizeof(cpu_set_t) <= sizeof c->bits, "bench_cpus holds a cpu_set_t");
    return pthread_getaffinity_np(pthread_self(), sizeof(cpu_set_t), (cpu_set_t *)c->bits) == 0 ? 0 : -1;
#else
    (void)c;
    return 0;
#endif
}

void bench_cpus_restore(const bench_cpus *c)
{
#ifdef __linux__
    pthread_setaffinity_np(pthread_self(), sizeof(cpu_set_t), (const cpu_set_t *)c->bits);
#else
    (void)c;
#endif
}

enum { BENCH_SLOTS = 256 };
static struct {
    _Alignas(64) uint64_t jobs;   /* written by its own thread only */
} bench_slots[BENCH_SLOTS];
static int bench_nslots;          /* atomic (GCC builtins: this file is also OpenMP's) */
static _Thread_local int bench_slot = -1;

int bench_thread_slot(void)
{
    if (bench_slot < 0) {
        int k = __atomic_fetch_add(&bench_nslots, 1, __ATOMIC_RELAXED);
        bench_slot = k < BENCH_SLOTS ? k : BENCH_SLOTS - 1;
    }
    return bench_slot;
}

__attribute__((noinline)) void bench_job_ran(void)
{
    int k = bench_thread_slot();
    /* Relaxed atomics: slot 255 may be shared; the reader's wait orders it. */
    __atomic_store_n(&bench_slots[k].jobs, __atomic_load_n(&bench_slots[k].jobs, __ATOMIC_RELAXED) + 1,
                     __ATOMIC_RELAXED);
}

uint64_t bench_jobs_ran_in(int slot) { return __atomic_load_n(&bench_slots[slot].jobs, __ATOMIC_RELAXED); }

void bench_emit_same_thread(const char *workload, int slot, uint64_t before, long n)
{
    char metric[64];
    snprintf(metric, sizeof metric, "%s-same-thread", workload);
    bench_emit(metric, n > 0 ? 100.0 * (double)(bench_jobs_ran_in(slot) - before) / (double)n : 0.0, "%", BENCH_INFO);
}

__attribute__((noinline)) void bench_opaque(void *p)
{
    __asm__ __volatile__("" ::"r"(p) : "memory");
}

unsigned bench_allowed_cpus(void)
{
#ifdef CPU_COUNT
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return (unsigned)CPU_COUNT(&set);
#endif
    return 1;
}

float *bench_pfor_alloc(size_t n)
{
    float *a = bench_aligned_alloc(64, (n * sizeof(float) + 63) & ~(size_t)63);
    if (!a)
        return NULL;
    for (size_t i = 0; i < n; i++)
        a[i] = (float)(i & 1023) * (1.0f / 256.0f);
    return a;
}

int bench_pfor_check(const char *impl, const float *a, size_t n, double sum)
{
    double want = 0;
    for (size_t i = 0; i < n; i++)
        want += a[i];
    if (fabs(sum - want) > 1e-3 * fabs(want) + 1e-3)
        return bench_fail("%s pfor: sum %.9g, expected %.9g", impl, sum, want);
    return 0;
}

static void usage(void)
{
    fputs("usage: fiberjob-bench list\n"
          "       fiberjob-bench run WORKLOAD IMPL [--smoke] [--size N] [--scale X] [--grain G] [--workers N]\n",
          stderr);
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "list") == 0) {
        for (const entry *e = table; e->workload; e++)
            printf("%s %s\n", e->workload, e->impl);
        return 0;
    }
    if (argc < 4 || strcmp(argv[1], "run") != 0) {
        usage();
        return 2;
    }
    const char *workload = argv[2], *impl = argv[3];
    bench_args a = { 0, 65536, 0, 0, workload };
    double scale = 1.0;
    const char *env;
    if ((env = getenv("FJ_BENCH_GRAIN")) && *env)
        a.grain = atol(env);
    if ((env = getenv("FJ_BENCH_WORKERS")) && *env)
        a.workers = (unsigned)atoi(env);
    for (int i = 4; i < argc; i++) {
        if (strcmp(argv[i], "--smoke") == 0)
            a.smoke = 1;
        else if (strcmp(argv[i], "--size") == 0 && i + 1 < argc)
            a.size = atol(argv[++i]);
        else if (strcmp(argv[i], "--scale") == 0 && i + 1 < argc)
            scale = atof(argv[++i]);
        else if (strcmp(argv[i], "--grain") == 0 && i + 1 < argc)
            a.grain = atol(argv[++i]);
        else if (strcmp(argv[i], "--workers") == 0 && i + 1 < argc)
            a.workers = (unsigned)atoi(argv[++i]);
        else {
            usage();
            return 2;
        }
    }
    if (a.size <= 0) {
        a.size = default_size(workload, a.smoke);
        if (scale > 0 && scale != 1.0) {
            if (strcmp(workload, "fib") == 0)
                a.size += lround(log(scale) / log(1.6180339887));
            else
                a.size = (long)((double)a.size * scale);
        }
        if (a.size < 1)
            a.size = 1;
    }
    if (a.smoke && a.grain > 4096)
        a.grain = 4096;
    if (a.grain < 1)
        a.grain = 1;
    for (const entry *e = table; e->workload; e++)
        if (strcmp(e->workload, workload) == 0 && strcmp(e->impl, impl) == 0)
            return e->fn(&a) ? 1 : 0;
    fprintf(stderr, "fiberjob-bench: no workload '%s' for '%s' in this binary (see 'list')\n", workload, impl);
    return 2;
}
