/*
 * The graph workload written for fiberjob (dag_graph.h): launch-when-done
 * (fj_run_jobs_after) and waiting jobs, and the serial baseline. Split from
 * fj_bench.c, whose root-job runner it shares (fj_bench.h).
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fiberjob.h>

#include "bench.h"
#include "dag_graph.h"
#include "fj_bench.h"

/* ---------------------------------------------------------------- graph */

/* The DAG of dag_graph.h, once per frame, in two ways:
 *
 *   fiberjob-wait  waiting jobs, the way before fj_run_jobs_after: a job per node
 *                  that fj_waits on each predecessor's counter, then works.
 *                  Every node waiting holds a fiber, so the pool is made big
 *                  enough for all of them (DG_FIBERS_WAIT).
 *   fiberjob       launch-when-done: a job per node queued with
 *                  fj_run_jobs_after to start once its predecessors' counters
 *                  reach 0, no fiber waiting meanwhile; the default pool.
 *
 * Every node has a counter, `done`, on which its own job is queued: 1 from
 * the moment the job is queued until it has finished. The root queues the
 * nodes in topological order, so a counter already counts its node when a
 * later node names it, then waits for the sinks: every other node is an
 * ancestor of a sink, finished before the sink could start. So at the end of
 * a frame no job touches a counter any more, and the next frame re-arms them
 * (fiberjob.h, "Reuse").
 *
 * Fibers in use: before the timed run, a census run on a scheduler of its own
 * with fj_hooks counts the fibers holding a graph node (running it, or
 * suspended in it), and reports the peak as graph-fibers. The hooks stay off
 * the timed run. */
#define DG_FIBERS_WAIT (DG_NODES + 256)

static const char dg_job_name[] = "graph_node";
static fj_counter *dg_done;   /* DG_NODES counters */
static fj_job dg_jobs[DG_NODES];

static void dg_wait_job(void *p)
{
    uint32_t i = (uint32_t)(uintptr_t)p;
    for (uint32_t k = 0; k < dg_g.npred[i]; k++)
        fj_wait(&dg_done[dg_g.pred[i][k]], 0);
    dg_run_node(i);
}

static void dg_wait_sinks(void)
{
    for (uint32_t k = 0; k < dg_g.nsinks; k++)
        fj_wait(&dg_done[dg_g.sinks[k]], 0);
}

static int dg_frame_wait(void)
{
    for (uint32_t i = 0; i < DG_NODES; i++)
        fj_run_jobs(&dg_jobs[i], 1, &dg_done[i]);
    dg_wait_sinks();
    return 0;
}

static void dg_after_job(void *p) { dg_run_node((uint32_t)(uintptr_t)p); }

static int dg_frame_after(void)
{
    for (uint32_t i = 0; i < DG_NODES; i++) {
        uint32_t n = dg_g.npred[i];
        if (n == 0) {
            fj_run_jobs(&dg_jobs[i], 1, &dg_done[i]);
            continue;
        }
        fj_after after[DG_MAX_PREDS];
        for (uint32_t k = 0; k < n; k++)
            after[k] = (fj_after){ .counter = &dg_done[dg_g.pred[i][k]], .target = 0 };
        int rc = fj_run_jobs_after(after, n, &dg_jobs[i], 1, &dg_done[i]);
        if (rc) {
            for (uint32_t j = 0; j < i; j++)   /* the nodes queued so far finish before the counters go */
                fj_wait(&dg_done[j], 0);
            return rc;
        }
    }
    dg_wait_sinks();
    return 0;
}

/* The census: which fiber each worker thread is on (the `to` of its last
 * switch), and per fiber the graph jobs begun and not ended on it (more than
 * one when a waiter runs a node nested on its own stack). A fiber moves
 * between workers only through the scheduler's switches, which order its
 * jobs' begin and end hooks, so the per-fiber counts need no atomics; the
 * count of fibers in use is shared by the workers. Jobs run only on pool
 * fibers, whose ids are below 65,536 (the counter's 16-bit waiter ids). */
static _Thread_local uint64_t census_fiber;
static uint16_t census_jobs_on[1u << 16];
static atomic_uint census_in_use, census_peak;

static void census_switch(uint64_t from, uint64_t to, const char *to_name, void *user)
{
    (void)from, (void)to_name, (void)user;
    census_fiber = to;
}

static uint64_t census_begin(const char *name, void *user)
{
    (void)user;
    if (name != dg_job_name)
        return 0;
    if (census_jobs_on[census_fiber & 0xffff]++ == 0) {
        unsigned n = atomic_fetch_add_explicit(&census_in_use, 1, memory_order_relaxed) + 1;
        unsigned peak = atomic_load_explicit(&census_peak, memory_order_relaxed);
        while (n > peak && !atomic_compare_exchange_weak_explicit(&census_peak, &peak, n, memory_order_relaxed,
                                                                  memory_order_relaxed)) {
        }
    }
    return 1;
}

static void census_end(const char *name, uint64_t token, int panicked, void *user)
{
    (void)name, (void)panicked, (void)user;
    if (token && --census_jobs_on[census_fiber & 0xffff] == 0)
        atomic_fetch_sub_explicit(&census_in_use, 1, memory_order_relaxed);
}

typedef struct dg_ctx {
    int (*frame)(void);
    long warm, frames;
    double *us;   /* per timed frame; NULL in the census */
    int rc;
} dg_ctx;

static void dg_root(void *p)
{
    dg_ctx *x = p;
    for (long f = 0; f < x->warm + x->frames && !x->rc; f++) {
        uint64_t t0 = bench_now_ns();
        dg_g.frame = (uint64_t)f;
        x->rc = x->frame();
        uint64_t t1 = bench_now_ns();
        if (x->us && f >= x->warm)
            x->us[f - x->warm] = (double)(t1 - t0) / 1e3;
    }
}

static int dg_report(const char *impl, double *us, long frames)
{
    long bad = dg_check();
    if (bad != -1)
        return bench_fail("%s graph: node %ld has a wrong value in frame %llu", impl, bad,
                          (unsigned long long)dg_g.frame);
    bench_emit("graph-median", bench_percentile(us, (size_t)frames, 50), "us", BENCH_LOWER);
    bench_emit("graph-p99", bench_percentile(us, (size_t)frames, 99), "us", BENCH_LOWER);
    return 0;
}

static int dg_run(const bench_args *a, const char *impl, int (*frame)(void), fj_job_fn node_fn, unsigned fibers)
{
    dg_build();
    dg_done = bench_aligned_alloc(_Alignof(fj_counter), sizeof(fj_counter) * DG_NODES);
    double *us = calloc((size_t)a->size, sizeof *us);
    if (!dg_done || !us) {
        bench_aligned_free(dg_done);
        free(us);
        return bench_fail("graph: out of memory");
    }
    for (uint32_t i = 0; i < DG_NODES; i++) {
        fj_counter_init(&dg_done[i], 0);
        dg_jobs[i] = (fj_job){ .fn = node_fn, .arg = (void *)(uintptr_t)i, .name = dg_job_name };
    }
    fj_config c = fj_config_default();
    if (fibers)
        c.small_fibers = fibers;
    fj_config census = c;
    census.hooks.job_begin = census_begin;
    census.hooks.job_end = census_end;
    census.hooks.fiber_switch_begin = census_switch;
    dg_ctx cx = { frame, 0, a->smoke ? 1 : 3, NULL, 0 };
    dg_ctx x = { frame, a->smoke ? 1 : 10, a->size, us, 0 };
    int rc = fjb_run_root_from(a, census, dg_root, &cx);
    if (!rc && !cx.rc)
        rc = fjb_run_root_from(a, c, dg_root, &x);
    if (!rc && (cx.rc || x.rc))
        rc = bench_fail("%s graph: %s", impl, fj_strerror(cx.rc ? cx.rc : x.rc));
    if (!rc)
        rc = dg_report(impl, us, a->size);
    if (!rc)
        bench_emit("graph-fibers", (double)atomic_load(&census_peak), "fibers", BENCH_LOWER);
    bench_aligned_free(dg_done);
    free(us);
    return rc;
}

int fjb_graph_wait(const bench_args *a) { return dg_run(a, "fiberjob-wait", dg_frame_wait, dg_wait_job, DG_FIBERS_WAIT); }

int fjb_graph_after(const bench_args *a) { return dg_run(a, "fiberjob", dg_frame_after, dg_after_job, 0); }

/* The baseline: the same frames on the calling thread, in topological order. */
int bench_graph_serial(const bench_args *a)
{
    dg_build();
    double *us = calloc((size_t)a->size, sizeof *us);
    if (!us)
        return bench_fail("graph: out of memory");
    long warm = a->smoke ? 1 : 10;
    for (long f = 0; f < warm + a->size; f++) {
        uint64_t t0 = bench_now_ns();
        dg_g.frame = (uint64_t)f;
        for (uint32_t i = 0; i < DG_NODES; i++)
            dg_run_node(i);
        uint64_t t1 = bench_now_ns();
        if (f >= warm)
            us[f - warm] = (double)(t1 - t0) / 1e3;
    }
    int rc = dg_report("serial", us, a->size);
    free(us);
    return rc;
}
