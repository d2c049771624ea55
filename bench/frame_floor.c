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
 * Also here: the frame loop every frame program shares (bench_frames_run),
 * with the frames' time spent waiting for a CPU (FJ_BENCH_RUNQUEUE=1, Linux:
 * each thread's second schedstat field is the time it was ready to run and
 * not running; summed over the process's threads around each frame, it tells
 * the frames the machine delayed from the others) and their serial twins
 * (FJ_BENCH_PAIRED=1).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __linux__
#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>
#endif

#include "bench.h"
#include "frame_graph.h"

/* ---------------------------------------------------------------- the frame loop */

/* The process's threads' schedstat files, open while the frames run. */
#define RQ_MAX 64
typedef struct rq_files {
    int n;
    int fd[RQ_MAX];
} rq_files;

static int env_is_1(const char *name)
{
    const char *env = getenv(name);
    return env && strcmp(env, "1") == 0;
}

static void rq_open(rq_files *q)
{
    q->n = 0;
    if (!env_is_1("FJ_BENCH_RUNQUEUE"))
        return;
#ifdef __linux__
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && q->n < RQ_MAX) {
        if (e->d_name[0] == '.')
            continue;
        char path[64];
        snprintf(path, sizeof path, "/proc/self/task/%.20s/schedstat", e->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0)
            q->fd[q->n++] = fd;
    }
    closedir(d);
#endif
}

/* The second field of each thread's schedstat, summed: ns spent ready to
 * run and not running. */
static uint64_t rq_delay_ns(const rq_files *q)
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

static void rq_close(rq_files *q)
{
#ifdef __linux__
    for (int i = 0; i < q->n; i++)
        close(q->fd[i]);
#endif
    q->n = 0;
}

int bench_frames_alloc(bench_frames *fr, long size, int paired)
{
    fr->size = size;
    fr->rq_measured = 0;
    fr->us = calloc((size_t)size, sizeof(double));
    fr->rq = calloc((size_t)size, sizeof(double));
    int twin = paired && env_is_1("FJ_BENCH_PAIRED");
    fr->serial = twin ? calloc((size_t)size, sizeof(double)) : NULL;
    if (!fr->us || !fr->rq || (twin && !fr->serial)) {
        bench_frames_free(fr);
        return -1;
    }
    return 0;
}

void bench_frames_free(bench_frames *fr)
{
    free(fr->us);
    free(fr->rq);
    free(fr->serial);
    fr->us = fr->rq = fr->serial = NULL;
}

void bench_frames_run(bench_frames *fr, void (*frame)(uint32_t f, void *ctx),
                      double (*twin)(uint32_t f, void *ctx), void *ctx)
{
    const long warm = BENCH_FRAMES_WARM;
    rq_files q;
    rq_open(&q);
    fr->rq_measured = q.n > 0;
    for (long f = 0; f < warm + fr->size; f++) {
        uint64_t d0 = q.n ? rq_delay_ns(&q) : 0;
        uint64_t t0 = bench_now_ns();
        frame((uint32_t)f, ctx);
        uint64_t t1 = bench_now_ns();
        uint64_t d1 = q.n ? rq_delay_ns(&q) : 0;
        if (f >= warm) {
            fr->us[f - warm] = (double)(t1 - t0) / 1e3;
            fr->rq[f - warm] = (double)(d1 - d0) / 1e3;
            if (fr->serial && twin)
                fr->serial[f - warm] = twin((uint32_t)f, ctx);
        }
    }
    rq_close(&q);
}

/* A frame the machine delayed: its threads waited at least this long, in
 * sum, for a CPU while it ran (1% of a frame of about 2 ms). */
#define RQ_DELAYED_US 20.0

void bench_frames_emit(bench_frames *fr)
{
    size_t n = (size_t)fr->size;
    if (fr->serial) {
        /* Before the sorts below: frame i with its own twin. */
        double *ratio = malloc((n ? n : 1) * sizeof *ratio);
        if (ratio) {
            for (size_t i = 0; i < n; i++)
                ratio[i] = fr->serial[i] > 0 ? fr->us[i] / (fr->serial[i] / 2) : 0;
            bench_emit("frame-limit-ratio", bench_percentile(ratio, n, 50), "x", BENCH_INFO);
            free(ratio);
        }
        bench_emit("frame-serial-median", bench_percentile(fr->serial, n, 50), "us", BENCH_INFO);
    }
    if (fr->rq_measured) {
        double *quiet = malloc((n ? n : 1) * sizeof *quiet);
        size_t nq = 0;
        for (size_t i = 0; quiet && i < n; i++)
            if (fr->rq[i] < RQ_DELAYED_US)
                quiet[nq++] = fr->us[i];
        if (quiet) {
            bench_emit("frame-rq-delayed", n ? 100.0 * (double)(n - nq) / (double)n : 0.0, "%", BENCH_INFO);
            if (nq) {
                bench_emit("frame-quiet-median", bench_percentile(quiet, nq, 50), "us", BENCH_INFO);
                bench_emit("frame-quiet-p99", bench_percentile(quiet, nq, 99), "us", BENCH_INFO);
            }
        }
        free(quiet);
    }
    bench_emit("frame-median", bench_percentile(fr->us, n, 50), "us", BENCH_LOWER);
    bench_emit("frame-p99", bench_percentile(fr->us, n, 99), "us", BENCH_LOWER);
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

static void split_frame(uint32_t f, void *p)
{
    split_run *r = p;
    fg_w.frame = f;
    split_barrier(r, 0);   /* the frame's start */
    split_half(r, 0);
    split_barrier(r, 0);   /* its end */
}

static double split_twin(uint32_t f, void *p)
{
    (void)p;   /* the helper spins at the next start meanwhile */
    return fg_paired_serial(f);
}

int bench_frame_split_floor(const bench_args *a)
{
    bench_frames fr;
    split_run *r = bench_aligned_alloc(64, sizeof *r);
    if (!r || bench_frames_alloc(&fr, a->size, 1) != 0) {
        bench_aligned_free(r);
        return bench_fail("frame: out of memory");
    }
    memset(r, 0, sizeof *r);
    bench_cpus before;   /* this thread's CPUs, given back at the end */
    pthread_t helper;
    if (bench_cpus_save(&before) != 0 || pthread_create(&helper, NULL, split_helper, r) != 0) {
        bench_frames_free(&fr);
        bench_aligned_free(r);
        return bench_fail("frame: cannot start the second thread");
    }
    bench_pin_cpu(0);
    bench_frames_run(&fr, split_frame, split_twin, r);
    atomic_store_explicit(&r->stop, 1, memory_order_release);
    split_barrier(r, 0);   /* the helper sees stop after this start */
    pthread_join(helper, NULL);
    bench_cpus_restore(&before);
    bench_frames_emit(&fr);
    bench_frames_free(&fr);
    bench_aligned_free(r);
    return 0;
}

/* ---------------------------------------------------------------- the job form */

/* "serial-alternate": one thread, no scheduler, the frame written two ways
 * and alternated frame by frame (01 10 01 10 ..., as fiberjob-alternate):
 * as loops over the elements (fg_serial_frame: the program the two-core
 * limit is taken from) and as a call per element through a table of jobs
 * laid out as fj_job is (function, argument, name, priority and flags: 32
 * bytes), the order a job system's job-per-element frame runs them in. The
 * median over pairs of the second's time ÷ the first's (alt-jobform-ratio)
 * is what writing the frame as a job per element costs with no scheduler at
 * all: a call through a pointer and a job's read per element, and the loops
 * the compiler no longer sees. Against it, fiberjob-alternate on one worker
 * tells how much of the job-per-element frame's cost over the ranged one
 * is the scheduler's (BENCHMARKS.md, fourteenth pass). */
typedef struct jf_job {
    void (*fn)(void *);
    void *arg;
    const char *name;
    uintptr_t bits;
} jf_job;

typedef struct jf_ctx {
    jf_job *anim, *constraint, *vis, *render;
    double us[2];   /* the pair's two frames (0: loops, 1: a call per element) */
    double *ratio;  /* per pair */
    size_t pairs, max_pairs;
} jf_ctx;

static void jf_run(const jf_job *j, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        j[i].fn(j[i].arg);
}

static void jf_frame_jobs(const jf_ctx *x)
{
    jf_run(x->anim, FG_ANIM);
    for (uint32_t i = 0; i < FG_ISLANDS; i++) {
        jf_run(x->constraint + (size_t)i * FG_CONSTRAINTS, FG_CONSTRAINTS);
        fg_island_done(i);
    }
    jf_run(x->vis, FG_VIS);
    jf_run(x->render, FG_RENDER);
}

static void jf_frame(uint32_t f, void *p)
{
    jf_ctx *x = p;
    unsigned form = (f ^ (f >> 1)) & 1;   /* 0 1 1 0 0 1 1 0 ... */
    fg_w.frame = f;
    uint64_t t0 = bench_now_ns();
    if (form == 0)
        fg_serial_frame();
    else
        jf_frame_jobs(x);
    x->us[form] = (double)(bench_now_ns() - t0) / 1e3;
    if ((f & 1) && f >= BENCH_FRAMES_WARM && x->pairs < x->max_pairs) {
        x->ratio[x->pairs] = x->us[0] > 0 ? x->us[1] / x->us[0] : 0;
        x->pairs++;
    }
}

static jf_job *jf_table(uint32_t n, void (*fn)(void *), const char *name)
{
    jf_job *t = malloc((size_t)n * sizeof *t);
    for (uint32_t i = 0; t && i < n; i++)
        t[i] = (jf_job){ .fn = fn, .arg = (void *)(uintptr_t)i, .name = name, .bits = 0 };
    return t;
}

static void jf_free(jf_ctx *x)
{
    free(x->anim);
    free(x->constraint);
    free(x->vis);
    free(x->render);
    free(x->ratio);
}

int bench_frame_serial_alternate(const bench_args *a)
{
    long size = a->size < 2 ? 2 : a->size;
    jf_ctx x = {
        .anim = jf_table(FG_ANIM, fg_animate_job, "animate"),
        .constraint = jf_table(FG_ISLANDS * FG_CONSTRAINTS, fg_constraint_job, "solve_constraint"),
        .vis = jf_table(FG_VIS, fg_cull_job, "cull"),
        .render = jf_table(FG_RENDER, fg_render_job, "render_batch"),
        .ratio = calloc((size_t)size / 2, sizeof(double)),
        .max_pairs = (size_t)size / 2,
    };
    bench_frames fr;
    if (!x.anim || !x.constraint || !x.vis || !x.render || !x.ratio || bench_frames_alloc(&fr, size, 0) != 0) {
        jf_free(&x);
        return bench_fail("frame: out of memory");
    }
    bench_frames_run(&fr, jf_frame, NULL, &x);
    bench_emit("alt-jobform-ratio", bench_percentile(x.ratio, x.pairs, 50), "x", BENCH_INFO);
    bench_frames_free(&fr);
    jf_free(&x);
    return 0;
}
