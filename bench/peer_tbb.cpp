// The workloads written for oneTBB: task_group for spawn, fib, frame and wake;
// parallel_for / parallel_reduce for the parallel for; the flow graph for the
// graph. Default arena (one thread per allowed CPU) unless --workers says
// otherwise.
#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/flow_graph.h>
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/parallel_reduce.h>
#include <oneapi/tbb/partitioner.h>
#include <oneapi/tbb/task_group.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <vector>

#include "bench.h"
#include "dag_graph.h"
#include "frame_graph.h"

namespace {

std::unique_ptr<tbb::global_control> limit_threads(const bench_args *a)
{
    if (!a->workers)
        return nullptr;
    return std::make_unique<tbb::global_control>(tbb::global_control::max_allowed_parallelism, a->workers);
}

// ------------------------------------------------------------------ spawn

void spawn_pass(long n)
{
    tbb::task_group tg;
    for (long i = 0; i < n; i++)
        tg.run([] { bench_job_ran(); });
    tg.wait();
}

// ------------------------------------------------------------------ fib

long fib(int n)
{
    if (n < 2)
        return n;
    long x = 0, y = 0;
    tbb::task_group tg;
    tg.run([&] { x = fib(n - 1); });
    tg.run([&] { y = fib(n - 2); });
    tg.wait();
    return x + y;
}

long fib_serial(int n) { return n < 2 ? n : fib_serial(n - 1) + fib_serial(n - 2); }

// ------------------------------------------------------------------ frame
// The graph of frame_graph.h: a task_group per stage, a nested task_group per
// physics island. (task_group has no per-task priority: the islands run at the
// normal one.)

void island(uint32_t i)
{
    tbb::task_group tg;
    for (uint32_t k = 0; k < FG_CONSTRAINTS; k++)
        tg.run([i, k] { fg_constraint(i, k); });
    tg.wait();
    fg_island_done(i);
}

void one_frame()
{
    tbb::task_group anim, phys, vis, render;
    for (uint32_t i = 0; i < FG_ANIM; i++)
        anim.run([i] { fg_animate(i); });
    anim.wait();
    for (uint32_t i = 0; i < FG_ISLANDS; i++)
        phys.run([i] { island(i); });
    for (uint32_t i = 0; i < FG_VIS; i++)
        vis.run([i] { fg_cull(i); });
    vis.wait();
    phys.wait();
    for (uint32_t i = 0; i < FG_RENDER; i++)
        render.run([i] { fg_render(i); });
    render.wait();
}

} // namespace

extern "C" int tbbb_spawn1(const bench_args *a)
{
    auto lim = limit_threads(a);
    spawn_pass(a->size);   // warm-up
    int slot = bench_thread_slot();
    uint64_t before = bench_jobs_ran_in(slot);
    uint64_t t0 = bench_now_ns();
    spawn_pass(a->size);
    uint64_t ns = bench_now_ns() - t0;
    bench_emit(a->workload, (double)a->size / ((double)ns / 1e9) / 1e6, "Mjobs/s", BENCH_HIGHER);
    bench_emit_same_thread(a->workload, slot, before, a->size);
    return 0;
}

extern "C" int tbbb_fib(const bench_args *a)
{
    auto lim = limit_threads(a);
    int n = (int)a->size;
    fib(n > 22 ? n - 4 : n);
    uint64_t t0 = bench_now_ns();
    long r = fib(n);
    uint64_t ns = bench_now_ns() - t0;
    if (r != fib_serial(n))
        return bench_fail("tbb fib(%d) = %ld, wrong", n, r);
    bench_emit("fib", (double)ns / 1e6, "ms", BENCH_LOWER);
    return 0;
}

extern "C" int tbbb_pfor(const bench_args *a)
{
    auto lim = limit_threads(a);
    size_t n = (size_t)a->size, grain = (size_t)a->grain;
    float *v = bench_pfor_alloc(n);
    if (!v)
        return bench_fail("pfor: out of memory");
    uint64_t map_ns = 0, sum_ns = 0;
    double sum = 0;
    for (int pass = 0; pass < 2; pass++) {   // pass 0: warm-up
        uint64_t t0 = bench_now_ns();
        tbb::parallel_for(tbb::blocked_range<size_t>(0, n, grain),
                          [v](const tbb::blocked_range<size_t> &r) { bench_map_chunk(v, r.begin(), r.end()); },
                          tbb::simple_partitioner());
        uint64_t t1 = bench_now_ns();
        sum = tbb::parallel_reduce(
            tbb::blocked_range<size_t>(0, n, grain), 0.0,
            [v](const tbb::blocked_range<size_t> &r, double acc) {
                return acc + (double)bench_sum_chunk(v, r.begin(), r.end());
            },
            [](double x, double y) { return x + y; }, tbb::simple_partitioner());
        uint64_t t2 = bench_now_ns();
        map_ns = t1 - t0;
        sum_ns = t2 - t1;
    }
    int rc = bench_pfor_check("tbb", v, n, sum);
    if (!rc) {
        bench_emit("pfor-map", (double)map_ns / 1e6, "ms", BENCH_LOWER);
        bench_emit("pfor-sum", (double)sum_ns / 1e6, "ms", BENCH_LOWER);
    }
    bench_aligned_free(v);
    return rc;
}

extern "C" int tbbb_frame(const bench_args *a)
{
    auto lim = limit_threads(a);
    const long warm = 10, frames = a->size;
    std::vector<double> us((size_t)frames);
    for (long f = 0; f < warm + frames; f++) {
        uint64_t t0 = bench_now_ns();
        fg_w.frame = (uint32_t)f;
        one_frame();
        uint64_t t1 = bench_now_ns();
        if (f >= warm)
            us[(size_t)(f - warm)] = (double)(t1 - t0) / 1e3;
    }
    bench_emit("frame-median", bench_percentile(us.data(), us.size(), 50), "us", BENCH_LOWER);
    bench_emit("frame-p99", bench_percentile(us.data(), us.size(), 99), "us", BENCH_LOWER);
    return 0;
}

extern "C" int tbbb_wake(const bench_args *a)
{
    auto lim = limit_threads(a);
    const long warm = 20, n = a->size;
    std::vector<double> ns((size_t)n);
    std::atomic<uint64_t> t_done{0};
    std::atomic<int> child_slot{-1};
    std::vector<unsigned char> local((size_t)n);
    for (long i = 0; i < warm + n; i++) {
        tbb::task_group tg;
        tg.run([&] {
            bench_spin_ns(BENCH_WAKE_SPIN_NS);
            child_slot.store(bench_thread_slot(), std::memory_order_relaxed);
            t_done.store(bench_now_ns(), std::memory_order_release);
        });
        tg.run([] { bench_opaque(nullptr); });
        tg.wait();
        uint64_t t1 = bench_now_ns();
        if (i >= warm) {
            ns[(size_t)(i - warm)] = (double)(t1 - t_done.load(std::memory_order_acquire));
            local[(size_t)(i - warm)] = child_slot.load(std::memory_order_relaxed) == bench_thread_slot();
        }
    }
    bench_emit_wake(ns.data(), local.data(), ns.size());
    return 0;
}

// The DAG of dag_graph.h as oneTBB users write it: the flow graph built once, a
// continue_node per node and an edge per dependency; per frame a message into
// each source, then wait_for_all. A continue_node runs once it has had a
// message from each predecessor, and counts afresh for the next frame.
extern "C" int tbbb_graph(const bench_args *a)
{
    auto lim = limit_threads(a);
    using node_t = tbb::flow::continue_node<tbb::flow::continue_msg>;
    dg_build();
    tbb::flow::graph g;
    std::vector<std::unique_ptr<node_t>> nodes;
    std::vector<node_t *> sources;
    nodes.reserve(DG_NODES);
    for (uint32_t i = 0; i < DG_NODES; i++) {
        nodes.push_back(std::make_unique<node_t>(g, [i](const tbb::flow::continue_msg &) {
            dg_run_node(i);
            return tbb::flow::continue_msg();
        }));
        for (uint32_t k = 0; k < dg_g.npred[i]; k++)
            tbb::flow::make_edge(*nodes[dg_g.pred[i][k]], *nodes[i]);
        if (dg_g.npred[i] == 0)
            sources.push_back(nodes[i].get());
    }
    const long warm = a->smoke ? 1 : 10, frames = a->size;
    std::vector<double> us((size_t)frames);
    for (long f = 0; f < warm + frames; f++) {
        uint64_t t0 = bench_now_ns();
        dg_g.frame = (uint64_t)f;
        for (node_t *s : sources)
            s->try_put(tbb::flow::continue_msg());
        g.wait_for_all();
        uint64_t t1 = bench_now_ns();
        if (f >= warm)
            us[(size_t)(f - warm)] = (double)(t1 - t0) / 1e3;
    }
    long bad = dg_check();
    if (bad != -1)
        return bench_fail("tbb graph: node %ld has a wrong value in frame %llu", bad, (unsigned long long)dg_g.frame);
    bench_emit("graph-median", bench_percentile(us.data(), us.size(), 50), "us", BENCH_LOWER);
    bench_emit("graph-p99", bench_percentile(us.data(), us.size(), 99), "us", BENCH_LOWER);
    return 0;
}
