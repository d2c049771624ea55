/*
 * fiberjob-demo: a game-frame-like simulation on the built-in defaults.
 *
 * Each frame is a dependency graph of about 10,000 jobs in stages:
 *
 *   animation (4,000 skeletons)
 *      ├──▶ physics: 64 islands, each solving 40 constraint batches in child jobs
 *      │    (a nested wait inside the island job), then integrating
 *      └──▶ visibility: 2,000 culling cells
 *   physics + visibility ──▶ render batches (1,400)
 *
 * The frame job waits on each stage's counter, so the graph is expressed with
 * counters only. Usage:
 *
 *   fiberjob-demo [--frames N] [--workers N] [--quiet]
 *                 [--trace FILE.json] [--svg FILE.svg] [--trace-frames N]
 *
 * --trace writes the last frames (2 unless --trace-frames says otherwise) as
 * Chrome trace-event JSON (open it in https://ui.perfetto.dev or
 * chrome://tracing); --svg draws them as an SVG timeline. The frames before
 * run with tracing on but are forgotten (fj_trace_clear between two fj_main
 * calls), so the files stay small.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fiberjob.h"

enum {
    ANIM_JOBS = 4000,
    ISLANDS = 64,
    CONSTRAINTS_PER_ISLAND = 40,
    VIS_JOBS = 2000,
    RENDER_JOBS = 1400,
    JOBS_PER_FRAME = ANIM_JOBS + ISLANDS * (1 + CONSTRAINTS_PER_ISLAND) + VIS_JOBS + RENDER_JOBS,
};

/* A little arithmetic per job so that jobs are jobs, not empty calls. */
static float work(uint32_t seed, int iters)
{
    float x = (float)(seed % 1000) * 0.001f, acc = 0.0f;
    for (int i = 0; i < iters; i++) {
        x = x * 1.0001f + 0.5f;
        x -= floorf(x);
        acc += x * x;
    }
    return acc;
}

typedef struct world {
    float pose[ANIM_JOBS];
    float island[ISLANDS][CONSTRAINTS_PER_ISLAND];
    float visible[VIS_JOBS];
    float batch[RENDER_JOBS];
    uint32_t frame;
} world;

static world g_world;

static void animate(void *arg)
{
    uintptr_t i = (uintptr_t)arg;
    g_world.pose[i] = work((uint32_t)i + g_world.frame, 60);
}

typedef struct constraint_arg { int island, k; } constraint_arg;
static constraint_arg g_constraints[ISLANDS][CONSTRAINTS_PER_ISLAND];

static void solve_constraint(void *arg)
{
    constraint_arg *c = arg;
    g_world.island[c->island][c->k] = work((uint32_t)(c->island * 64 + c->k) + g_world.frame, 50) +
                                      g_world.pose[(c->island * 61 + c->k) % ANIM_JOBS];
}

static void physics_island(void *arg)
{
    int island = (int)(uintptr_t)arg;
    fj_job jobs[CONSTRAINTS_PER_ISLAND];
    for (int k = 0; k < CONSTRAINTS_PER_ISLAND; k++) {
        g_constraints[island][k] = (constraint_arg){ island, k };
        jobs[k] = (fj_job){ .fn = solve_constraint, .arg = &g_constraints[island][k], .name = "solve_constraint" };
    }
    fj_counter solved;
    fj_counter_init(&solved, 0);
    fj_run_jobs(jobs, CONSTRAINTS_PER_ISLAND, &solved);
    fj_wait(&solved, 0); /* nested wait: this fiber parks, the worker goes on */
    float sum = 0;
    for (int k = 0; k < CONSTRAINTS_PER_ISLAND; k++)
        sum += g_world.island[island][k];
    g_world.island[island][0] = sum * 0.5f;
}

static void cull(void *arg)
{
    uintptr_t i = (uintptr_t)arg;
    g_world.visible[i] = work((uint32_t)i * 7 + g_world.frame, 60) + g_world.pose[i % ANIM_JOBS];
}

static void render_batch(void *arg)
{
    uintptr_t i = (uintptr_t)arg;
    g_world.batch[i] = work((uint32_t)i * 13 + g_world.frame, 60) + g_world.visible[i % VIS_JOBS] +
                       g_world.island[i % ISLANDS][0];
}

static fj_job g_anim[ANIM_JOBS], g_phys[ISLANDS], g_vis[VIS_JOBS], g_render[RENDER_JOBS];

static void build_jobs(void)
{
    for (uintptr_t i = 0; i < ANIM_JOBS; i++)
        g_anim[i] = (fj_job){ .fn = animate, .arg = (void *)i, .name = "animate" };
    for (uintptr_t i = 0; i < ISLANDS; i++)
        g_phys[i] = (fj_job){ .fn = physics_island, .arg = (void *)i, .name = "physics_island",
                              .priority = FJ_PRIORITY_HIGH };
    for (uintptr_t i = 0; i < VIS_JOBS; i++)
        g_vis[i] = (fj_job){ .fn = cull, .arg = (void *)i, .name = "cull" };
    for (uintptr_t i = 0; i < RENDER_JOBS; i++)
        g_render[i] = (fj_job){ .fn = render_batch, .arg = (void *)i, .name = "render_batch" };
}

static void frame(void)
{
    fj_counter anim, phys, vis, render;
    fj_counter_init(&anim, 0);
    fj_counter_init(&phys, 0);
    fj_counter_init(&vis, 0);
    fj_counter_init(&render, 0);
    fj_run_jobs(g_anim, ANIM_JOBS, &anim);
    fj_wait(&anim, 0);
    fj_run_jobs(g_phys, ISLANDS, &phys);
    fj_run_jobs(g_vis, VIS_JOBS, &vis);
    fj_wait(&vis, 0);
    fj_wait(&phys, 0);
    fj_run_jobs(g_render, RENDER_JOBS, &render);
    fj_wait(&render, 0);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

typedef struct run {
    int frames;
    int first, count;   /* the frames the next fj_main runs */
    double *times;
    double total_ms;
} run;

static void root(void *arg)
{
    run *r = arg;
    double start = now_ms();
    for (int f = r->first; f < r->first + r->count; f++) {
        double t0 = now_ms();
        g_world.frame = (uint32_t)f;
        frame();
        r->times[f] = now_ms() - t0;
    }
    r->total_ms += now_ms() - start;
}

/* Run frames [first, first + count) as one fj_main; 0 or 1 after a message. */
static int run_frames(fj_scheduler *s, run *r, int first, int count)
{
    r->first = first;
    r->count = count;
    int rc = fj_main(s, root, r);
    if (rc)
        fprintf(stderr, "fiberjob-demo: fj_main: %s\n", fj_strerror(rc));
    return rc ? 1 : 0;
}

static void write_trace(fj_scheduler *s, const char *path,
                        int (*writer)(const fj_scheduler *, const char *), const char *what)
{
    int rc = writer(s, path);
    if (rc)
        fprintf(stderr, "fiberjob-demo: writing %s to %s: %s\n", what, path, fj_strerror(rc));
    else
        printf("  wrote %-14s %s\n", what, path);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    fj_config cfg = fj_config_default();
    run r = { .frames = 300 };
    int quiet = 0, trace_frames = 2;
    const char *trace_json = NULL, *trace_svg = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--frames") && i + 1 < argc)
            r.frames = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--trace") && i + 1 < argc)
            trace_json = argv[++i];
        else if (!strcmp(argv[i], "--svg") && i + 1 < argc)
            trace_svg = argv[++i];
        else if (!strcmp(argv[i], "--trace-frames") && i + 1 < argc)
            trace_frames = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--workers") && i + 1 < argc)
            cfg.workers = (unsigned)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--quiet"))
            quiet = 1;
        else {
            fprintf(stderr,
                    "usage: %s [--frames N] [--workers N] [--quiet] [--trace FILE.json] [--svg FILE.svg] "
                    "[--trace-frames N]\n",
                    argv[0]);
            return 2;
        }
    }
    if (r.frames <= 0 || trace_frames <= 0 || trace_frames > 64) {
        fprintf(stderr, "fiberjob-demo: --frames must be positive, --trace-frames from 1 to 64\n");
        return 2;
    }
    int tracing = trace_json || trace_svg;
    if (trace_frames > r.frames)
        trace_frames = r.frames;
    if (tracing) {
        /* Per worker at most: a begin and an end per job, a steal per job, and
         * the waits and wakes around them. */
        cfg.trace_events = (unsigned)trace_frames * (3u * JOBS_PER_FRAME + 1024u);
    }
    r.times = calloc((size_t)r.frames, sizeof *r.times);
    if (!r.times)
        return 1;
    build_jobs();
    fj_scheduler *s = fj_create(&cfg);
    if (!s) {
        fprintf(stderr, "fiberjob-demo: fj_create: %s\n", fj_strerror(fj_last_error()));
        return 1;
    }
    unsigned nw = fj_worker_count(s);
    int untraced = tracing ? r.frames - trace_frames : r.frames;
    if (untraced > 0 && run_frames(s, &r, 0, untraced))
        return 1;
    if (tracing) {
        fj_trace_clear(s);
        if (run_frames(s, &r, untraced, trace_frames))
            return 1;
    }
    fj_worker_stats *st = calloc(nw, sizeof *st);
    fj_stats(s, st, nw);

    double *sorted = malloc(sizeof(double) * (size_t)r.frames);
    memcpy(sorted, r.times, sizeof(double) * (size_t)r.frames);
    qsort(sorted, (size_t)r.frames, sizeof(double), cmp_double);
    double median = sorted[r.frames / 2];
    double p99 = sorted[(size_t)((r.frames - 1) * 0.99)];
    double jobs = (double)JOBS_PER_FRAME * r.frames;
    printf("fiberjob-demo: %d frames of %d jobs on %u workers%s\n", r.frames, JOBS_PER_FRAME, nw,
           tracing ? " (tracing on)" : "");
    printf("  frames/s       %.1f\n", r.frames / (r.total_ms / 1e3));
    printf("  frame time     median %.3f ms, p99 %.3f ms, min %.3f ms, max %.3f ms\n", median, p99,
           sorted[0], sorted[r.frames - 1]);
    printf("  jobs/s         %.2f M\n", jobs / (r.total_ms / 1e3) / 1e6);
    if (tracing) {
        /* Measured whenever the scheduler traces, not only in the frames written out. */
        uint64_t n = 0, total = 0, max = 0;
        for (unsigned i = 0; i < nw; i++) {
            n += st[i].queue_delay_jobs;
            total += st[i].queue_delay_total_ns;
            max = st[i].queue_delay_max_ns > max ? st[i].queue_delay_max_ns : max;
        }
        printf("  queue delay    mean %.2f us, max %.2f us (%llu jobs measured)\n",
               n ? (double)total / (double)n / 1e3 : 0.0, (double)max / 1e3, (unsigned long long)n);
    }
    if (!quiet) {
        printf("  worker      jobs    steals  switches    sleeps\n");
        for (unsigned i = 0; i < nw; i++)
            printf("  %6u %9llu %9llu %9llu %9llu\n", i, (unsigned long long)st[i].jobs,
                   (unsigned long long)st[i].steals, (unsigned long long)st[i].switches,
                   (unsigned long long)st[i].sleeps);
    }
    if (trace_json)
        write_trace(s, trace_json, fj_trace_write_json, "trace JSON");
    if (trace_svg)
        write_trace(s, trace_svg, fj_trace_write_svg, "trace SVG");
    fj_destroy(s);
    free(st);
    free(sorted);
    free(r.times);
    return 0;
}
