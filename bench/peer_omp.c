/*
 * The workloads written for OpenMP: tasks for spawn, fib and wake, a parallel
 * for (dynamic schedule, one chunk of `grain` elements at a time) for the
 * parallel for. Built twice by bench/CMakeLists.txt: with gcc -fopenmp
 * (libgomp) and with clang -fopenmp=libomp (LLVM's libomp), into separate
 * programs, because the two runtimes cannot share a process.
 */
#include <omp.h>
#include <stdlib.h>

#include "bench.h"

static void set_threads(const bench_args *a)
{
    if (a->workers)
        omp_set_num_threads((int)a->workers);
}

/* ---------------------------------------------------------------- spawn */

static void spawn_pass(long n)
{
    for (long i = 0; i < n; i++) {
#pragma omp task
        bench_job_ran();
    }
#pragma omp taskwait
}

int ompb_spawn1(const bench_args *a)
{
    set_threads(a);
    uint64_t ns = 0, before = 0;
    int slot = 0;
#pragma omp parallel
#pragma omp single
    {
        spawn_pass(a->size);   /* warm-up */
        slot = bench_thread_slot();
        before = bench_jobs_ran_in(slot);
        uint64_t t0 = bench_now_ns();
        spawn_pass(a->size);
        ns = bench_now_ns() - t0;
    }
    bench_emit(a->workload, (double)a->size / ((double)ns / 1e9) / 1e6, "Mjobs/s", BENCH_HIGHER);
    bench_emit_same_thread(a->workload, slot, before, a->size);
    return 0;
}

/* ---------------------------------------------------------------- fib */

static long fib(int n)
{
    if (n < 2)
        return n;
    long x = 0, y = 0;
#pragma omp task shared(x)
    x = fib(n - 1);
#pragma omp task shared(y)
    y = fib(n - 2);
#pragma omp taskwait
    return x + y;
}

static long fib_serial(int n) { return n < 2 ? n : fib_serial(n - 1) + fib_serial(n - 2); }

int ompb_fib(const bench_args *a)
{
    set_threads(a);
    int n = (int)a->size;
    long r = 0;
    uint64_t ns = 0;
#pragma omp parallel
#pragma omp single
    {
        fib(n > 22 ? n - 4 : n);
        uint64_t t0 = bench_now_ns();
        r = fib(n);
        ns = bench_now_ns() - t0;
    }
    if (r != fib_serial(n))
        return bench_fail("omp fib(%d) = %ld, wrong", n, r);
    bench_emit("fib", (double)ns / 1e6, "ms", BENCH_LOWER);
    return 0;
}

/* ---------------------------------------------------------------- parallel for */

int ompb_pfor(const bench_args *a)
{
    set_threads(a);
    size_t n = (size_t)a->size, grain = (size_t)a->grain;
    long nchunks = (long)((n + grain - 1) / grain);
    float *v = bench_pfor_alloc(n);
    if (!v)
        return bench_fail("pfor: out of memory");
    uint64_t map_ns = 0, sum_ns = 0;
    double sum = 0;
    for (int pass = 0; pass < 2; pass++) {   /* pass 0: warm-up */
        uint64_t t0 = bench_now_ns();
#pragma omp parallel for schedule(dynamic, 1)
        for (long c = 0; c < nchunks; c++) {
            size_t lo = (size_t)c * grain, hi = lo + grain < n ? lo + grain : n;
            bench_map_chunk(v, lo, hi);
        }
        uint64_t t1 = bench_now_ns();
        double s = 0;
#pragma omp parallel for schedule(dynamic, 1) reduction(+ : s)
        for (long c = 0; c < nchunks; c++) {
            size_t lo = (size_t)c * grain, hi = lo + grain < n ? lo + grain : n;
            s += (double)bench_sum_chunk(v, lo, hi);
        }
        uint64_t t2 = bench_now_ns();
        map_ns = t1 - t0;
        sum_ns = t2 - t1;
        sum = s;
    }
    int rc = bench_pfor_check("omp", v, n, sum);
    if (!rc) {
        bench_emit("pfor-map", (double)map_ns / 1e6, "ms", BENCH_LOWER);
        bench_emit("pfor-sum", (double)sum_ns / 1e6, "ms", BENCH_LOWER);
    }
    bench_aligned_free(v);
    return rc;
}

/* ---------------------------------------------------------------- wake latency */

int ompb_wake(const bench_args *a)
{
    set_threads(a);
    const long warm = 20, n = a->size;
    double *ns = calloc((size_t)n, sizeof *ns);
    if (!ns)
        return bench_fail("wake: out of memory");
    uint64_t t_done = 0;
#pragma omp parallel
#pragma omp single
    for (long i = 0; i < warm + n; i++) {
#pragma omp task shared(t_done)
        {
            bench_spin_ns(BENCH_WAKE_SPIN_NS);
            t_done = bench_now_ns();
        }
#pragma omp task
        bench_opaque(NULL);
#pragma omp taskwait
        uint64_t t1 = bench_now_ns();
        if (i >= warm)
            ns[i - warm] = (double)(t1 - t_done);
    }
    bench_emit("wake-median", bench_percentile(ns, (size_t)n, 50), "ns", BENCH_LOWER);
    bench_emit("wake-p99", bench_percentile(ns, (size_t)n, 99), "ns", BENCH_LOWER);
    free(ns);
    return 0;
}
