/*
 * The frame workload's graph: the same graph as demo/demo.c (fiberjob-demo),
 * kept here as a library-neutral description so that fiberjob and each peer run
 * exactly the same jobs with the same dependencies and the same arithmetic.
 * If the demo's graph changes, change this file to match.
 *
 * One frame, 10,024 jobs:
 *
 *   animation      FG_ANIM jobs
 *     then, together:
 *   physics        FG_ISLANDS island jobs (high priority where the runtime has
 *                  priorities); each runs FG_CONSTRAINTS constraint jobs, waits
 *                  for them (a nested wait) and sums their results
 *   visibility     FG_VIS culling jobs
 *     then (after visibility, then physics):
 *   render         FG_RENDER batch jobs
 *
 * The frame's own job waits on each stage; the graph is expressed with waits only.
 */
#ifndef FJ_BENCH_FRAME_GRAPH_H
#define FJ_BENCH_FRAME_GRAPH_H

#include <math.h>
#include <stdint.h>

#include "bench.h"

#define FG_ANIM 4000
#define FG_ISLANDS 64
#define FG_CONSTRAINTS 40
#define FG_VIS 2000
#define FG_RENDER 1400
#define FG_JOBS_PER_FRAME (FG_ANIM + FG_ISLANDS * (1 + FG_CONSTRAINTS) + FG_VIS + FG_RENDER)

typedef struct fg_world {
    float pose[FG_ANIM];
    float island[FG_ISLANDS][FG_CONSTRAINTS];
    float visible[FG_VIS];
    float batch[FG_RENDER];
    uint32_t frame;
} fg_world;

/* One world per translation unit (each implementation has its own). */
static fg_world fg_w;

/* A little arithmetic per job, as in the demo. */
static inline float fg_work(uint32_t seed, int iters)
{
    float x = (float)(seed % 1000) * 0.001f, acc = 0.0f;
    for (int i = 0; i < iters; i++) {
        x = x * 1.0001f + 0.5f;
        x -= floorf(x);
        acc += x * x;
    }
    return acc;
}

static inline void fg_animate(uint32_t i) { fg_w.pose[i] = fg_work(i + fg_w.frame, 60); }

static inline void fg_constraint(uint32_t island, uint32_t k)
{
    fg_w.island[island][k] = fg_work(island * 64 + k + fg_w.frame, 50) + fg_w.pose[(island * 61 + k) % FG_ANIM];
}

/* The island's own work after its constraints are solved. */
static inline void fg_island_done(uint32_t island)
{
    float sum = 0;
    for (uint32_t k = 0; k < FG_CONSTRAINTS; k++)
        sum += fg_w.island[island][k];
    fg_w.island[island][0] = sum * 0.5f;
}

static inline void fg_cull(uint32_t i) { fg_w.visible[i] = fg_work(i * 7 + fg_w.frame, 60) + fg_w.pose[i % FG_ANIM]; }

static inline void fg_render(uint32_t i)
{
    fg_w.batch[i] = fg_work(i * 13 + fg_w.frame, 60) + fg_w.visible[i % FG_VIS] + fg_w.island[i % FG_ISLANDS][0];
}

/* The leaf jobs of the job-per-element frame (fj_frame.c), and of its
 * serial twin written the same way (frame_floor.c, "serial-alternate"): the
 * element's index as the argument; a constraint's is island * FG_CONSTRAINTS
 * + k. */
static inline void fg_animate_job(void *p) { fg_animate((uint32_t)(uintptr_t)p); }
static inline void fg_cull_job(void *p) { fg_cull((uint32_t)(uintptr_t)p); }
static inline void fg_render_job(void *p) { fg_render((uint32_t)(uintptr_t)p); }
static inline void fg_constraint_job(void *p)
{
    uint32_t v = (uint32_t)(uintptr_t)p;
    fg_constraint(v / FG_CONSTRAINTS, v % FG_CONSTRAINTS);
}

/* One frame's jobs in order on the calling thread: the serial build. */
static inline void fg_serial_frame(void)
{
    for (uint32_t i = 0; i < FG_ANIM; i++)
        fg_animate(i);
    for (uint32_t i = 0; i < FG_ISLANDS; i++) {
        for (uint32_t k = 0; k < FG_CONSTRAINTS; k++)
            fg_constraint(i, k);
        fg_island_done(i);
    }
    for (uint32_t i = 0; i < FG_VIS; i++)
        fg_cull(i);
    for (uint32_t i = 0; i < FG_RENDER; i++)
        fg_render(i);
}

/* FJ_BENCH_PAIRED=1: after each parallel frame, the same frame twice on the
 * frame's own thread, the second timed (the first brings the world's lines
 * back to that core, as in the serial program). The two-core limit is then
 * measured in the same process, frame by frame: the machine's speed varies
 * from one process to the next by more than the 3% the frame is judged by.
 * Returns the timed serial frame's microseconds. */
static inline double fg_paired_serial(uint32_t frame)
{
    fg_w.frame = frame;
    fg_serial_frame();
    uint64_t t0 = bench_now_ns();
    fg_serial_frame();
    return (double)(bench_now_ns() - t0) / 1e3;
}

#endif
