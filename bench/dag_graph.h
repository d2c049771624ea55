/*
 * The graph workload's DAG: a random directed acyclic graph, described here
 * once, library-neutral, so that every implementation (fiberjob with waiting
 * jobs, fiberjob with launch-when-done, oneTBB's flow graph, and one thread in
 * order) runs the same nodes, the same edges and the same arithmetic.
 *
 * DG_NODES nodes, numbered in a topological order: the first DG_SOURCES have
 * no predecessor; every later node i has 1 to DG_MAX_PREDS distinct
 * predecessors drawn uniformly from the DG_WINDOW nodes before it. The window
 * gives the graph locality, hence both depth and width: 24,692 edges, 412
 * levels on the longest path, up to 38 nodes on one level, 813 sinks (nodes
 * nothing depends on); dg_build() computes these. A fixed seed makes it the
 * same graph in every process.
 *
 * A node's work: a short chain of integer multiply-xor-shift steps
 * (DG_WORK_ITERS, about 0.35 µs on the project's machine) seeded from the
 * node's index, the frame, and the values of its predecessors. So a node
 * run before one of its predecessors, or not at all, leaves a wrong value,
 * which dg_check() finds by running the frame again in order, on one thread.
 *
 * This header is included by C and by C++ (peer_tbb.cpp): one graph per
 * translation unit.
 */
#ifndef FJ_BENCH_DAG_GRAPH_H
#define FJ_BENCH_DAG_GRAPH_H

#include <stdint.h>
#include <stdlib.h>

#define DG_NODES 10000
#define DG_SOURCES 16
#define DG_WINDOW 128
#define DG_MAX_PREDS 4
#define DG_WORK_ITERS 256
#define DG_SEED 0x243f6a8885a308d3u

typedef struct dg_graph {
    uint8_t npred[DG_NODES];
    uint16_t pred[DG_NODES][DG_MAX_PREDS];
    uint16_t sinks[DG_NODES];   /* nodes no other node depends on */
    uint32_t nsinks, nedges;
    uint32_t depth, max_width;  /* levels of the longest path; most nodes on one level */
    uint64_t frame;
    uint64_t value[DG_NODES];   /* each node's result this frame */
} dg_graph;

static dg_graph dg_g;

static inline uint64_t dg_rand(uint64_t *state)   /* splitmix64 */
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* Build the graph (the same one every time) and its sinks, depth and width. */
static inline void dg_build(void)
{
    static uint16_t level[DG_NODES];
    static uint32_t per_level[DG_NODES + 1];
    static uint8_t has_succ[DG_NODES];
    uint64_t rng = DG_SEED;
    dg_g.nedges = 0;
    dg_g.depth = 0;
    for (uint32_t i = 0; i < DG_NODES; i++) {
        has_succ[i] = 0;
        per_level[i + 1] = 0;
        dg_g.npred[i] = 0;
        level[i] = 1;
        if (i < DG_SOURCES)
            continue;
        uint32_t lo = i > DG_WINDOW ? i - DG_WINDOW : 0, span = i - lo;
        uint32_t want = 1 + (uint32_t)(dg_rand(&rng) % DG_MAX_PREDS);
        if (want > span)
            want = span;
        while (dg_g.npred[i] < want) {
            uint16_t p = (uint16_t)(lo + dg_rand(&rng) % span);
            int dup = 0;
            for (uint32_t k = 0; k < dg_g.npred[i]; k++)
                dup |= dg_g.pred[i][k] == p;
            if (dup)
                continue;
            dg_g.pred[i][dg_g.npred[i]++] = p;
            has_succ[p] = 1;
            if (level[p] + 1 > level[i])
                level[i] = (uint16_t)(level[p] + 1);
        }
        dg_g.nedges += dg_g.npred[i];
    }
    dg_g.nsinks = 0;
    dg_g.max_width = 0;
    for (uint32_t i = 0; i < DG_NODES; i++) {
        if (!has_succ[i])
            dg_g.sinks[dg_g.nsinks++] = (uint16_t)i;
        if (level[i] > dg_g.depth)
            dg_g.depth = level[i];
        if (++per_level[level[i]] > dg_g.max_width)
            dg_g.max_width = per_level[level[i]];
    }
    dg_g.frame = 0;
}

/* Node i's result from its predecessors' values in `value`. */
static inline uint64_t dg_compute(uint32_t i, uint64_t frame, const uint64_t *value)
{
    uint64_t x = (frame << 20) ^ i ^ DG_SEED;
    for (uint32_t k = 0; k < dg_g.npred[i]; k++)
        x = x * 31 + value[dg_g.pred[i][k]];
    for (int k = 0; k < DG_WORK_ITERS; k++) {
        x ^= x >> 29;
        x *= 0xbf58476d1ce4e5b9u;
        x += (uint64_t)k;
    }
    return x;
}

/* Run node i of the current frame (its predecessors must have run). */
static inline void dg_run_node(uint32_t i) { dg_g.value[i] = dg_compute(i, dg_g.frame, dg_g.value); }

/* Run the current frame again in topological order, one thread, and compare:
 * -1 when every node's value is right, else the first wrong node (-2: out of
 * memory). */
static inline long dg_check(void)
{
    uint64_t *want = (uint64_t *)malloc(sizeof(uint64_t) * DG_NODES);
    if (!want)
        return -2;
    long bad = -1;
    for (uint32_t i = 0; i < DG_NODES; i++) {
        want[i] = dg_compute(i, dg_g.frame, want);
        if (bad < 0 && want[i] != dg_g.value[i])
            bad = (long)i;
    }
    free(want);
    return bad;
}

#endif
