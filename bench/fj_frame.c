/*
 * The frame workload for fiberjob (frame_graph.h): the demo's graph with a job
 * per element ("fiberjob"), the same graph with each stage a parallel loop
 * ("fiberjob-ranged", as enkiTS's and oneTBB's ranged programs write it), and
 * the serial baseline the two-core limit is taken from.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include <fiberjob.h>

#include "bench.h"
#include "fj_bench.h"
#include "frame_graph.h"

/* ---------------------------------------------------------------- frame */

/* The graph of frame_graph.h, written the way the demo writes it. */
static fj_job fg_anim[FG_ANIM], fg_phys[FG_ISLANDS], fg_vis[FG_VIS], fg_rend[FG_RENDER];

static void fg_island_job(void *p)
{
    uint32_t island = (uint32_t)(uintptr_t)p;
    fj_job jobs[FG_CONSTRAINTS];
    for (uint32_t k = 0; k < FG_CONSTRAINTS; k++)
        jobs[k] = (fj_job){ .fn = fg_constraint_job, .arg = (void *)(uintptr_t)(island * FG_CONSTRAINTS + k),
                            .name = "solve_constraint" };
    fj_counter solved;
    fj_counter_init(&solved, 0);
    fj_run_jobs(jobs, FG_CONSTRAINTS, &solved);
    fj_wait(&solved, 0);
    fg_island_done(island);
}

/* The clock at the stages' ends in the last frame of either form, for
 * "fiberjob-alternate" below: [0] the frame's start, [1] animation done,
 * [2] physics and visibility done, [3] render done. Four clock reads a frame
 * of about 2.5 ms. */
static uint64_t fg_mark[4];

static void fg_one_frame(void)
{
    fj_counter anim, phys, vis, render;
    fj_counter_init(&anim, 0);
    fj_counter_init(&phys, 0);
    fj_counter_init(&vis, 0);
    fj_counter_init(&render, 0);
    fg_mark[0] = bench_now_ns();
    fj_run_jobs(fg_anim, FG_ANIM, &anim);
    fj_wait(&anim, 0);
    fg_mark[1] = bench_now_ns();
    fj_run_jobs(fg_phys, FG_ISLANDS, &phys);
    fj_run_jobs(fg_vis, FG_VIS, &vis);
    fj_wait(&vis, 0);
    fj_wait(&phys, 0);
    fg_mark[2] = bench_now_ns();
    fj_run_jobs(fg_rend, FG_RENDER, &render);
    fj_wait(&render, 0);
    fg_mark[3] = bench_now_ns();
}

/* The paired serial twin (FJ_BENCH_PAIRED=1) with the other worker kept
 * running, as it is between frames of the plain loop (it looks for work a
 * while before it sleeps), and as split-floor's second thread spins at its
 * barrier: a job holds it until the twin is done, so the next frame does not
 * start by waking a sleeping worker. */
typedef struct fg_hold {
    _Atomic int started, release;
} fg_hold;

static void fg_hold_job(void *p)
{
    fg_hold *h = p;
    atomic_store_explicit(&h->started, 1, memory_order_release);
    while (!atomic_load_explicit(&h->release, memory_order_acquire))
        bench_cpu_relax();
}

static double fg_serial_twin(uint32_t frame, unsigned workers)
{
    if (workers < 2)
        return fg_paired_serial(frame);
    fg_hold h = { 0, 0 };
    fj_counter held;
    fj_counter_init(&held, 0);
    fj_run_jobs(&(fj_job){ .fn = fg_hold_job, .arg = &h, .name = "hold" }, 1, &held);
    while (!atomic_load_explicit(&h.started, memory_order_acquire))   /* another worker took it */
        bench_cpu_relax();
    double us = fg_paired_serial(frame);
    atomic_store_explicit(&h.release, 1, memory_order_release);
    fj_wait(&held, 0);
    return us;
}

typedef struct fg_ctx {
    bench_frames fr;
    unsigned workers;
    void (*one_frame)(void);   /* fg_one_frame, or fgr_one_frame (ranged) */
} fg_ctx;

static void fg_frame(uint32_t f, void *p)
{
    fg_w.frame = f;
    ((fg_ctx *)p)->one_frame();
}

static double fg_twin(uint32_t f, void *p) { return fg_serial_twin(f, ((fg_ctx *)p)->workers); }

static void fg_root(void *p)
{
    fg_ctx *x = p;
    bench_frames_run(&x->fr, fg_frame, fg_twin, x);
}

/* Both fiberjob frames: one_frame run inside the root job, and the metrics
 * emitted. */
static int fg_run(const bench_args *a, void (*one_frame)(void))
{
    fg_ctx x = { .workers = a->workers ? a->workers : bench_allowed_cpus(), .one_frame = one_frame };
    if (bench_frames_alloc(&x.fr, a->size, 1) != 0)
        return bench_fail("frame: out of memory");
    int rc = fjb_run_root_from(a, fj_config_default(), fg_root, &x);
    if (!rc)
        bench_frames_emit(&x.fr);
    bench_frames_free(&x.fr);
    return rc;
}

static void fg_setup(void)
{
    for (uint32_t i = 0; i < FG_ANIM; i++)
        fg_anim[i] = (fj_job){ .fn = fg_animate_job, .arg = (void *)(uintptr_t)i, .name = "animate" };
    for (uint32_t i = 0; i < FG_ISLANDS; i++)
        fg_phys[i] = (fj_job){ .fn = fg_island_job, .arg = (void *)(uintptr_t)i, .name = "physics_island",
                               .priority = FJ_PRIORITY_HIGH };
    for (uint32_t i = 0; i < FG_VIS; i++)
        fg_vis[i] = (fj_job){ .fn = fg_cull_job, .arg = (void *)(uintptr_t)i, .name = "cull" };
    for (uint32_t i = 0; i < FG_RENDER; i++)
        fg_rend[i] = (fj_job){ .fn = fg_render_job, .arg = (void *)(uintptr_t)i, .name = "render_batch" };
}

int fjb_frame(const bench_args *a)
{
    fg_setup();
    return fg_run(a, fg_one_frame);
}

/* The baseline: the same frames on the calling thread, the jobs in the
 * order the graph allows (the two-core limit is half its time). */
static void serial_frame(uint32_t f, void *p)
{
    (void)p;
    fg_w.frame = f;
    fg_serial_frame();
}

int bench_frame_serial(const bench_args *a)
{
    bench_frames fr;
    if (bench_frames_alloc(&fr, a->size, 0) != 0)
        return bench_fail("frame: out of memory");
    bench_frames_run(&fr, serial_frame, NULL, NULL);
    bench_frames_emit(&fr);
    bench_frames_free(&fr);
    return 0;
}

/* ---------------------------------------------------------------- ranged */

/* The same graph with each stage one parallel loop (fj_parallel_for picks
 * the grain), as enkiTS's ranged program and oneTBB's write it: the islands
 * are 64 jobs at high priority, each a nested loop over its constraints; the
 * culling loop is one job beside them. */
static void fgr_anim(size_t lo, size_t hi, void *p)
{
    (void)p;
    for (size_t i = lo; i < hi; i++)
        fg_animate((uint32_t)i);
}

static void fgr_cull(size_t lo, size_t hi, void *p)
{
    (void)p;
    for (size_t i = lo; i < hi; i++)
        fg_cull((uint32_t)i);
}

static void fgr_render(size_t lo, size_t hi, void *p)
{
    (void)p;
    for (size_t i = lo; i < hi; i++)
        fg_render((uint32_t)i);
}

static void fgr_constraints(size_t lo, size_t hi, void *p)
{
    uint32_t island = (uint32_t)(uintptr_t)p;
    for (size_t k = lo; k < hi; k++)
        fg_constraint(island, (uint32_t)k);
}

static void fgr_island_job(void *p)
{
    fj_parallel_for(0, FG_CONSTRAINTS, 0, fgr_constraints, p, "solve_constraints");
    fg_island_done((uint32_t)(uintptr_t)p);
}

static void fgr_vis_job(void *p)
{
    (void)p;
    fj_parallel_for(0, FG_VIS, 0, fgr_cull, NULL, "cull");
}

static fj_job fgr_phys[FG_ISLANDS];

static void fgr_one_frame(void)
{
    fj_counter phys, vis;
    fj_counter_init(&phys, 0);
    fj_counter_init(&vis, 0);
    fg_mark[0] = bench_now_ns();
    fj_parallel_for(0, FG_ANIM, 0, fgr_anim, NULL, "animate");
    fg_mark[1] = bench_now_ns();
    fj_run_jobs(fgr_phys, FG_ISLANDS, &phys);
    fj_run_jobs(&(fj_job){ .fn = fgr_vis_job, .name = "cull_all" }, 1, &vis);
    fj_wait(&vis, 0);
    fj_wait(&phys, 0);
    fg_mark[2] = bench_now_ns();
    fj_parallel_for(0, FG_RENDER, 0, fgr_render, NULL, "render_batch");
    fg_mark[3] = bench_now_ns();
}

static void fgr_setup(void)
{
    for (uint32_t i = 0; i < FG_ISLANDS; i++)
        fgr_phys[i] = (fj_job){ .fn = fgr_island_job, .arg = (void *)(uintptr_t)i, .name = "physics_island",
                                .priority = FJ_PRIORITY_HIGH };
}

int fjb_frame_ranged(const bench_args *a)
{
    fgr_setup();
    return fg_run(a, fgr_one_frame);
}

/* ------------------------------------------------------------- alternate */

/* "fiberjob-alternate": the two forms above in one process, alternately:
 * frames 2k and 2k+1 are one of each, in the order 01 10 01 10 ..., and each
 * pair gives the ratio of the job-per-element frame to the ranged frame, for
 * the whole frame and for each stage (fg_mark). Alternating frame by frame
 * puts both forms under the same state of the machine, whose speed drifts
 * between processes and within one by more than the difference measured:
 * what it costs to write the frame as a job per element, against the same
 * scheduler running it as loops, at that moment. Emits the medians over
 * pairs; with --workers 1, the cost of the jobs themselves, with no second
 * worker to interact with (BENCHMARKS.md, thirteenth pass). */
#define FGA_PARTS 4   /* animation, physics and visibility, render, the frame */
static const char *const fga_metric[FGA_PARTS] = { "alt-anim-ratio", "alt-physvis-ratio", "alt-render-ratio",
                                                   "alt-frame-ratio" };

typedef struct fga_ctx {
    bench_frames fr;
    double *ratio[FGA_PARTS];   /* per pair */
    double part[2][FGA_PARTS];  /* the pair's two frames (0: job per element, 1: ranged) */
    size_t pairs;
} fga_ctx;

static void fga_frame(uint32_t f, void *p)
{
    fga_ctx *x = p;
    unsigned form = (f ^ (f >> 1)) & 1;   /* 0 1 1 0 0 1 1 0 ... */
    fg_w.frame = f;
    if (form == 0)
        fg_one_frame();
    else
        fgr_one_frame();
    for (int k = 0; k < 3; k++)
        x->part[form][k] = (double)(fg_mark[k + 1] - fg_mark[k]);
    x->part[form][3] = (double)(fg_mark[3] - fg_mark[0]);
    /* The second of a pair, past the warm-up (an even number of frames, so
     * pairs are frames 2k and 2k+1). */
    _Static_assert(BENCH_FRAMES_WARM % 2 == 0, "pairs start after the warm-up");
    if ((f & 1) && f >= BENCH_FRAMES_WARM && x->pairs < (size_t)x->fr.size / 2) {
        for (int k = 0; k < FGA_PARTS; k++)
            x->ratio[k][x->pairs] = x->part[1][k] > 0 ? x->part[0][k] / x->part[1][k] : 0;
        x->pairs++;
    }
}

static void fga_root(void *p)
{
    fga_ctx *x = p;
    bench_frames_run(&x->fr, fga_frame, NULL, x);
}

int fjb_frame_alternate(const bench_args *a)
{
    fg_setup();
    fgr_setup();
    fga_ctx x = { .pairs = 0 };
    long size = a->size < 2 ? 2 : a->size;
    if (bench_frames_alloc(&x.fr, size, 0) != 0)
        return bench_fail("frame: out of memory");
    int rc = 0;
    for (int k = 0; k < FGA_PARTS; k++)
        if (!(x.ratio[k] = calloc((size_t)size / 2, sizeof(double))))
            rc = bench_fail("frame: out of memory");
    if (!rc)
        rc = fjb_run_root_from(a, fj_config_default(), fga_root, &x);
    if (!rc)
        for (int k = 0; k < FGA_PARTS; k++)
            bench_emit(fga_metric[k], bench_percentile(x.ratio[k], x.pairs, 50), "x", BENCH_INFO);
    for (int k = 0; k < FGA_PARTS; k++)
        free(x.ratio[k]);
    bench_frames_free(&x.fr);
    return rc;
}
