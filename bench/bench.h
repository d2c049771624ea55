/*
 * fiberjob benchmark suite: the interface between the driver (bench_main.c) and
 * the workloads written for fiberjob and for each peer.
 *
 * A workload is one function per implementation. It reads its size from
 * bench_args, does an untimed warm-up where that matters, measures, and reports
 * one or more metrics with bench_emit(). One process runs one (workload,
 * implementation) pair once: bench/run.sh starts a fresh process for every
 * repetition, alternating the implementations, so no two runtimes' thread pools
 * share a process.
 */
#ifndef FJ_BENCH_H
#define FJ_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

/* C11's aligned_alloc (size a multiple of align) and its free; Windows' C
 * runtime has neither: _aligned_malloc and _aligned_free. */
static inline void *bench_aligned_alloc(size_t align, size_t size)
{
#ifdef _WIN32
    return _aligned_malloc(size, align);
#else
    return aligned_alloc(align, size);
#endif
}

static inline void bench_aligned_free(void *p)
{
#ifdef _WIN32
    _aligned_free(p);
#else
    free(p);
#endif
}

typedef struct bench_args {
    long size;         /* the workload's size parameter (see bench_main.c for the meaning) */
    long grain;        /* parallel-for grain, elements per job */
    unsigned workers;  /* worker threads; 0: the runtime's default (one per allowed CPU) */
    int smoke;         /* tiny run for CI */
    const char *workload; /* the name it runs under (spawn1 and spawn1024 share peer code) */
} bench_args;

typedef int (*bench_fn)(const bench_args *a);

/* BENCH_INFO: a fact about the run, not a speed (no ratio, no chart). */
enum { BENCH_LOWER = 0, BENCH_HIGHER = 1, BENCH_INFO = 2 };

/* Report one measurement: metric name, value, unit, and whether higher is
 * better (BENCH_HIGHER), lower (BENCH_LOWER) or neither (BENCH_INFO). */
void bench_emit(const char *metric, double value, const char *unit, int higher_better);
/* Print a message to stderr and return nonzero (for a workload that failed a check). */
int bench_fail(const char *fmt, ...);

static inline uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Busy-wait for ns nanoseconds (used by the wake-latency workload). */
static inline void bench_spin_ns(uint64_t ns)
{
    uint64_t end = bench_now_ns() + ns;
    while (bench_now_ns() < end) {
    }
}

/* Sort and pick: median and the p-th percentile of n values (sorts v in place). */
double bench_percentile(double *v, size_t n, double p);

/* An empty function the compiler cannot see through (the body of empty jobs). */
void bench_opaque(void *p);

/* Number of CPUs the process may run on. */
unsigned bench_allowed_cpus(void);

/* The spin-wait hint (x86 pause, AArch64 yield). */
static inline void bench_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* The calling thread onto the k-th CPU it may run on (FJ_BENCH_PIN=0: not). */
void bench_pin_cpu(unsigned k);
/* The CPUs the calling thread may run on, saved before it pins itself and
 * given back after (Linux; elsewhere nothing to save). bench_cpus_save
 * returns 0, or -1 when they cannot be read. */
typedef struct bench_cpus {
    uint64_t bits[16];   /* a cpu_set_t */
} bench_cpus;
int bench_cpus_save(bench_cpus *c);
void bench_cpus_restore(const bench_cpus *c);

/* Where the spawn workloads' jobs ran. Each thread gets a slot the first
 * time it asks (up to 256; later ones share the last); bench_job_ran is the
 * body of a spawn job (noinline, like bench_opaque) and counts one job in
 * its thread's slot. The submitter reads its own slot after its wait: the
 * jobs run on the submitting thread (inline in the submission, or in the
 * wait). */
int bench_thread_slot(void);
void bench_job_ran(void);
uint64_t bench_jobs_ran_in(int slot);
/* Emit WORKLOAD-same-thread: the share of n jobs that ran in `slot`. */
void bench_emit_same_thread(const char *workload, int slot, uint64_t before, long n);

/* The wake workload's metrics from its n latencies and, per wake-up, whether
 * its child ran on the thread the waiter returned on (local[i]): the median
 * and p99 of all, the share of local ones, and the median of the others
 * (wake-cross-median: a wake across threads; absent when there is none). */
void bench_emit_wake(double *ns, const unsigned char *local, size_t n);

/* Wake-latency workload: the child job spins this long before it records the
 * time and finishes, so the waiter has certainly parked by then. */
#define BENCH_WAKE_SPIN_NS 20000u

/* Workloads, by implementation. Sizes: see bench_main.c. */
#define BENCH_DECLARE(impl)                                  \
    int impl##_switch(const bench_args *a);                  \
    int impl##_spawn1(const bench_args *a);                  \
    int impl##_spawn1024(const bench_args *a);               \
    int impl##_fib(const bench_args *a);                     \
    int impl##_pfor(const bench_args *a);                    \
    int impl##_frame(const bench_args *a);                   \
    int impl##_wake(const bench_args *a);                    \
    int impl##_startup(const bench_args *a);

BENCH_DECLARE(fjb)
int fjb_create_time(const bench_args *a);
BENCH_DECLARE(tbbb)
BENCH_DECLARE(ompb)
BENCH_DECLARE(bctx)
BENCH_DECLARE(bfib)

/* wake with no scheduler: a parked context woken by one store it spins on
 * (implementation "park-floor", fj_switch.c). */
int fjb_wake_floor(const bench_args *a);
/* spawn1 with no scheduler: a ring between two pinned threads whose reader
 * claims a batch with one read (implementation "ring-floor", fj_floor.c). */
int fjb_spawn1_ring_floor(const bench_args *a);

/* frame with no scheduler: each stage cut in two fixed halves on two pinned
 * threads, a spin barrier between stages (implementation "split-floor",
 * frame_floor.c). */
int bench_frame_split_floor(const bench_args *a);
/* The serial frame as loops and as a call per element through a job table,
 * alternating on one thread; the median ratio of the two by pair
 * (implementation "serial-alternate", frame_floor.c). */
int bench_frame_serial_alternate(const bench_args *a);

/* The frame loop every frame program shares (fj_frame.c, frame_floor.c):
 * BENCH_FRAMES_WARM (10) untimed warm-up frames, then `size` frames, each
 * timed and, on request, with the time the process's threads waited for a
 * CPU around it (FJ_BENCH_RUNQUEUE=1, Linux schedstat: the frames the
 * machine delayed) and with its serial twin after it (FJ_BENCH_PAIRED=1,
 * for the programs that give a twin: the two-core limit taken frame by
 * frame in the same process, frame_graph.h's fg_paired_serial). */
#define BENCH_FRAMES_WARM 10   /* untimed warm-up frames (an even number) */
typedef struct bench_frames {
    long size;
    double *us;       /* each frame's time */
    double *rq;       /* each frame's wait for a CPU (rq_measured) */
    double *serial;   /* each frame's serial twin, or NULL (not paired) */
    int rq_measured;
} bench_frames;
/* 0, or -1 (out of memory, nothing left allocated). paired: allocate the
 * twins' times when FJ_BENCH_PAIRED=1. */
int bench_frames_alloc(bench_frames *fr, long size, int paired);
/* frame(f, ctx) runs frame f; twin(f, ctx), when the frames are paired,
 * runs its serial twin and returns the twin's microseconds. */
void bench_frames_run(bench_frames *fr, void (*frame)(uint32_t f, void *ctx),
                      double (*twin)(uint32_t f, void *ctx), void *ctx);
/* Emits frame-median and frame-p99; with the waits measured, also
 * frame-rq-delayed (the share of frames whose threads waited 20 µs or more
 * in sum) and the median and p99 of the other frames; paired, also
 * frame-limit-ratio (the median over frames of frame / (twin / 2)) and
 * frame-serial-median. */
void bench_frames_emit(bench_frames *fr);
void bench_frames_free(bench_frames *fr);

/* frame with each stage a parallel loop (implementation "fiberjob-ranged",
 * fj_frame.c). */
int fjb_frame_ranged(const bench_args *a);
/* The two alternating, and the ratio of each pair (implementation
 * "fiberjob-alternate", fj_frame.c). */
int fjb_frame_alternate(const bench_args *a);

/* fib with its jobs declared FJ_JOB_SHALLOW (implementation "fiberjob-shallow"). */
int fjb_fib_shallow(const bench_args *a);

/* alloc: the frame heap, and malloc (glibc's, or jemalloc's / mimalloc's in
 * the programs linked with them). */
int fjb_alloc_frame(const bench_args *a);
int fjb_mutex(const bench_args *a);
int fjb_mutex_pthread(const bench_args *a);
int fjb_alloc_malloc(const bench_args *a);

/* graph (dag_graph.h): fiberjob with waiting jobs and with launch-when-done
 * (fj_run_jobs_after), oneTBB's flow graph, and one thread. */
int fjb_graph_wait(const bench_args *a);
int fjb_graph_after(const bench_args *a);
int tbbb_graph(const bench_args *a);
int bench_graph_serial(const bench_args *a);
/* frame (frame_graph.h) on one thread: the baseline of the two-core limit. */
int bench_frame_serial(const bench_args *a);

/* Shared by every parallel-for implementation: the map and the sum of one
 * chunk, written once so that every runtime runs the same inner loops. The sum
 * of a chunk is kept in float (8 partial sums, so the loop is not one long
 * dependency chain); chunks are combined in double. */
float *bench_pfor_alloc(size_t n);
static inline void bench_map_chunk(float *a, size_t lo, size_t hi)
{
    for (size_t i = lo; i < hi; i++)
        a[i] = a[i] * 0.5f + 1.0f;
}
static inline float bench_sum_chunk(const float *a, size_t lo, size_t hi)
{
    float s[8] = { 0, 0, 0, 0, 0, 0, 0, 0 };
    size_t i = lo;
    for (; i + 8 <= hi; i += 8)
        for (int k = 0; k < 8; k++)
            s[k] += a[i + k];
    for (; i < hi; i++)
        s[0] += a[i];
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}
/* The expected sum after the map, within float rounding (to check results). */
int bench_pfor_check(const char *impl, const float *a, size_t n, double sum);

#ifdef __cplusplus
}
#endif

#endif
