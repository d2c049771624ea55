/*
 * frame, implementation "split-floor": the frame graph of frame_graph.h on two
 * pinned threads with no scheduler at all. Each stage is cut in two fixed
 * halves of equal work (the threads take the same jobs every frame), and a
 * spin barrier separates the stages: what two cores of this machine do with
 * the frame when nothing is queued, stolen, woken or switched. Its distance
 * from the two-core limit (serial / 2) is the machine's share of a
 * scheduler's distance: the cache lines the stages pass between the cores,
 * the barriers, and the time the threads are not running.
 *
 * The split cannot balance: a thread that loses its core keeps its half, so
 * its tail is the machine's whole tail (a scheduler may move work away).
 *
 * Also here: the frames' time spent waiting for a CPU (FJ_BENCH_RUNQUEUE=1,
 * Linux). Each thread's second schedstat field is the time it was ready to run
 * and not running; summed over the process's threads around each frame, it
 * tells the frames the machine delayed from the others.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __linux__
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>
#else
#include <pthread.h>
#endif

#include "bench.h"
#include "frame_graph.h"

/* ---------------------------------------------------------------- runqueue delay */

int bench_rq_open(bench_rq *q)
{
    memset(q, 0, sizeof *q);
    const char *env = getenv("FJ_BENCH_RUNQUEUE");
    if (!env || strcmp(env, "1") != 0)
        return 0;
#ifdef __linux__
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return -1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && q->n < BENCH_RQ_MAX) {
        if (e->d_name[0] == '.')
            continue;
        char path[64];
        snprintf(path, sizeof path, "/proc/self/task/%.20s/schedstat", e->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0)
            q->fd[q->n++] = fd;
    }
    closedir(d);
    return q->n > 0 ? 0 : -1;
#else
    return 0;
#endif
}

uint64_t bench_rq_delay_ns(const bench_rq *q)
{
    uint64_t sum = 0;
#ifdef __linux__
    for (int i = 0; i < q->n; i++) {
        char buf[96];
        ssize_t len = pread(q->fd[i], buf, sizeof buf - 1, 0);
        if (len <= 0)
            continue;   /* the thread has ended */
        buf[len] = '\0';
        unsigned long long run, wait;
        if (sscanf(buf, "%llu %llu", &run, &wait) == 2)
            sum += wait;
    }
#else
    (void)q;
#endif
    return sum;
}

void bench_rq_close(bench_rq *q)
{
#ifdef __linux__
    for (int i = 0; i < q->n; i++)
        close(q->fd[i]);
#endif
    q->n = 0;
}

/* A frame the machine delayed: its threads waited at least this long, in
 * sum, for a CPU while it ran (1% of a frame of about 2 ms). */
#define RQ_DELAYED_US 20.0

void bench_emit_frame(double *us, const double *rq_us, size_t n)
{
    if (rq_us) {
        double *quiet = malloc((n ? n : 1) * sizeof *quiet);
        size_t nq = 0;
        for (size_t i = 0; quiet && i < n; i++)
            if (rq_us[i] < RQ_DELAYED_US)
                quiet[nq++] = us[i];
        bench_emit("frame-rq-delayed", n ? 100.0 * (double)(n - nq) / (double)n : 0.0, "%", BENCH_INFO);
        if (nq) {
            bench_emit("frame-quiet-median", bench_percentile(quiet, nq, 50), "us", BENCH_INFO);
            bench_emit("frame-quiet-p99", bench_percentile(quiet, nq, 99), "us", BENCH_INFO);
        }
        free(quiet);
    }
    bench_emit("frame-median", bench_percentile(us, n, 50), "us", BENCH_LOWER);
    bench_emit("frame-p99", bench_percentile(us, n, 99), "us", BENCH_LOWER);
}

int bench_paired(void)
{
    const char *env = getenv("FJ_BENCH_PAIRED");
    return env && strcmp(env, "1") == 0;
}

void bench_emit_paired(const double *us, double *serial_us, size_t n)
{
    double *ratio = malloc((n ? n : 1) * sizeof *ratio);
    if (!ratio)
        return;
    for (size_t i = 0; i < n; i++)
        ratio[i] = serial_us[i] > 0 ? us[i] / (serial_us[i] / 2) : 0;
    bench_emit("frame-limit-ratio", bench_percentile(ratio, n, 50), "x", BENCH_INFO);
    bench_emit("frame-serial-median", bench_percentile(serial_us, n, 50), "us", BENCH_INFO);
    free(ratio);
}

/* ---------------------------------------------------------------- the split */

typedef struct split_run {
    _Alignas(64) _Atomic uint64_t arrived;   /* barrier arrivals, never reset */
    _Alignas(64) _Atomic int stop;
    uint64_t phase[2];                       /* each thread's own barrier count */
} split_run;

/* Both threads arrive; neither leaves before the other has come. The
 * counter only grows: the k-th barrier is passed when it reaches 2k. The
 * acq_rel add and the acquire loads order each stage's writes before the
 * other thread's next stage reads them. */
static void split_barrier(split_run *r, int self)
{
    uint64_t target = 2 * ++r->phase[self];
    atomic_fetch_add_explicit(&r->arrived, 1, memory_order_acq_rel);
    while (atomic_load_explicit(&r->arrived, memory_order_acquire) < target)
        bench_cpu_relax();
}

/* One thread's half of one frame, between the frame's start and end barriers. */
static void split_half(split_run *r, int self)
{
    uint32_t a0 = self ? FG_ANIM / 2 : 0, a1 = self ? FG_ANIM : FG_ANIM / 2;
    for (uint32_t i = a0; i < a1; i++)
        fg_animate(i);
    split_barrier(r, self);
    uint32_t i0 = self ? FG_ISLANDS / 2 : 0, i1 = self ? FG_ISLANDS : FG_ISLANDS / 2;
    for (uint32_t i = i0; i < i1; i++) {
        for (uint32_t k = 0; k < FG_CONSTRAINTS; k++)
            fg_constraint(i, k);
        fg_island_done(i);
    }
    uint32_t v0 = self ? FG_VIS / 2 : 0, v1 = self ? FG_VIS : FG_VIS / 2;
    for (uint32_t i = v0; i < v1; i++)
        fg_cull(i);
    split_barrier(r, self);
    uint32_t r0 = self ? FG_RENDER / 2 : 0, r1 = self ? FG_RENDER : FG_RENDER / 2;
    for (uint32_t i = r0; i < r1; i++)
        fg_render(i);
}

static void *split_helper(void *p)
{
    split_run *r = p;
    bench_pin_cpu(1);
    for (;;) {
        split_barrier(r, 1);   /* the frame's start */
        if (atomic_load_explicit(&r->stop, memory_order_acquire))
            return NULL;
        split_half(r, 1);
        split_barrier(r, 1);   /* its end */
    }
}

int bench_frame_split_floor(const bench_args *a)
{
    const long warm = 10;
    double *us = calloc((size_t)a->size, sizeof *us), *rq = calloc((size_t)a->size, sizeof *rq);
    double *serial = bench_paired() ? calloc((size_t)a->size, sizeof *serial) : NULL;
    split_run *r = bench_aligned_alloc(64, sizeof *r);
    if (!us || !rq || (bench_paired() && !serial) || !r) {
        free(us);
        free(rq);
        free(serial);
        bench_aligned_free(r);
        return bench_fail("frame: out of memory");
    }
    memset(r, 0, sizeof *r);
    bench_cpus before;   /* this thread's CPUs, given back at the end */
    pthread_t helper;
    if (bench_cpus_save(&before) != 0 || pthread_create(&helper, NULL, split_helper, r) != 0) {
        free(us);
        free(rq);
        free(serial);
        bench_aligned_free(r);
        return bench_fail("frame: cannot start the second thread");
    }
    bench_pin_cpu(0);
    bench_rq q;
    int measure_rq = bench_rq_open(&q) == 0 && q.n > 0;
    for (long f = 0; f < warm + a->size; f++) {
        uint64_t d0 = measure_rq ? bench_rq_delay_ns(&q) : 0;
        uint64_t t0 = bench_now_ns();
        fg_w.frame = (uint32_t)f;
        split_barrier(r, 0);
        split_half(r, 0);
        split_barrier(r, 0);
        uint64_t t1 = bench_now_ns();
        uint64_t d1 = measure_rq ? bench_rq_delay_ns(&q) : 0;
        if (f >= warm) {
            us[f - warm] = (double)(t1 - t0) / 1e3;
            rq[f - warm] = (double)(d1 - d0) / 1e3;
            if (serial)
                serial[f - warm] = fg_paired_serial((uint32_t)f);
        }
    }
    atomic_store_explicit(&r->stop, 1, memory_order_release);
    split_barrier(r, 0);   /* the helper sees stop after this start */
    pthread_join(helper, NULL);
    bench_rq_close(&q);
    bench_cpus_restore(&before);
    if (serial)
        bench_emit_paired(us, serial, (size_t)a->size);
    bench_emit_frame(us, measure_rq ? rq : NULL, (size_t)a->size);
    free(us);
    free(rq);
    free(serial);
    bench_aligned_free(r);
    return 0;
}
