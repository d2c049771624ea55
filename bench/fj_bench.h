/*
 * What the fiberjob workloads' files share (fj_bench.c, fj_frame.c, fj_graph.c).
 */
#ifndef FJ_BENCH_FJ_H
#define FJ_BENCH_FJ_H

#include <fiberjob.h>

#include "bench.h"

/* Create a scheduler with configuration c (--workers and FJ_BENCH_PIN
 * applied), run fn(arg) as its root job with fj_main, print the statistics
 * when FJ_BENCH_STATS is set, destroy it. 0, or 1 after a message. */
int fjb_run_root_from(const bench_args *a, fj_config c, fj_job_fn fn, void *arg);

#endif
