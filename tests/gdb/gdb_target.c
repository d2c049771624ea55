/*
 * The program the gdb extension's test debugs (tests/gdb/run_gdb_test.py).
 *
 *   gdb_target [workers]
 *
 * The root job starts jobs that wait on counters, each with a distinctive name:
 *   4 x "waiting_on_gate"   small fibers, wait for gate (value 1) to reach 0
 *   1 x "waiting_on_pair"   small fiber, waits for pair (value 3) to reach 1
 *   1 x "waiting_large"     large fiber (FJ_JOB_LARGE_STACK), waits for gate
 *   1 x "calling_parent"    small fiber, starts "called_child" (waiting_on_gate's
 *                           function) and waits for it: in fj_wait it runs the
 *                           child on the next stack segment of its own fiber
 *                           (nested, src/segment.c) unless another
 *                           worker stole the child first (then it waits)
 *   1 x "calling_parent_big" the same with a large-stack child, "called_big",
 *                           which it runs on a large fiber of its own
 *                           (FJ_FIBER_CALLING) unless stolen first
 * and a thread outside the scheduler blocks in fj_wait(&gate, 0) (a process-wide
 * waiter record). Every waiting job runs waiting_job_function, which calls
 * fj_wait through waiting_job_inner.
 *
 * Once every waiter is on its counter's wait list (a fiber is published only
 * after it has switched away, so its saved registers are on its stack), the
 * root job calls fj_test_all_waiting(), where gdb has a breakpoint; then it
 * opens the gate and everything finishes. Run without gdb it does the same and exits 0, so the
 * program is its own sanity check.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "fiberjob.h"

/* gdb_target_sync.c, built without debug info so that the program's own debug
 * info does not describe the library's internals (gdb must find them in the
 * library's). */
unsigned gdb_target_listed_waiters(fj_counter *c);

#define N_GATE 4
#define N_WAITERS (N_GATE + 2)      /* the jobs the root starts that wait themselves */
#define N_CALLING 2                 /* calling_parent and calling_parent_big */
#define N_ON_GATE (N_GATE + 5)      /* gate's waiters: N_GATE, waiting_large, called_child, called_big,
                                     * outside, and a launch record (launch_after_gate, fj_run_jobs_after) */

typedef struct wait_spec {
    fj_counter *counter;
    int64_t target;
    int called;   /* the child of calling parent `called` (0, 1), else -1 */
} wait_spec;

fj_counter gate;    /* 1 until the end; waiters wait for 0 */
fj_counter pair;    /* 3 until the end; one waiter waits for 1 */
static fj_counter arrived;  /* hand-managed: each waiter finishes one just before it waits */
static fj_counter finished; /* counts the waiting jobs */
static fj_scheduler *sched;
static int resumed;

static const wait_spec on_gate = { &gate, 0, -1 };
static const wait_spec on_pair = { &pair, 1, -1 };
static const wait_spec called_on_gate[N_CALLING] = { { &gate, 0, 0 }, { &gate, 0, 1 } };

/* Calling parent i waits on parent_done[i] for its child, which ran on
 * worker child_worker[i] (-1: not yet) while the parent was on worker
 * parent_worker[i]. A child stolen by another worker can be listed on the
 * gate while its parent is still on its way to park (running): the
 * breakpoint waits until the parent is listed on parent_done[i] too. A child
 * that ran on the parent's own worker was called by it, run on its stack
 * segment, or taken after it parked: the parent is suspended in each case. */
static fj_counter *parent_done[N_CALLING];
static int parent_worker[N_CALLING];
static int child_worker[N_CALLING] = { -1, -1 };

static int parents_suspended(void)
{
    for (int i = 0; i < N_CALLING; i++) {
        fj_counter *c = __atomic_load_n(&parent_done[i], __ATOMIC_ACQUIRE);
        int cw = __atomic_load_n(&child_worker[i], __ATOMIC_ACQUIRE);
        if (!c || cw < 0)
            return 0;
        if (cw != __atomic_load_n(&parent_worker[i], __ATOMIC_RELAXED) && gdb_target_listed_waiters(c) < 1)
            return 0;
    }
    return 1;
}

__attribute__((noinline)) void waiting_job_inner(const wait_spec *w)
{
    fj_wait(w->counter, w->target);
    /* Work after the call: fj_wait is not a tail call, so this frame stays. */
    __atomic_fetch_add(&resumed, 1, __ATOMIC_RELAXED);
}

__attribute__((noinline)) void waiting_job_function(void *arg)
{
    const wait_spec *w = arg;
    if (w->called >= 0)
        __atomic_store_n(&child_worker[w->called], fj_worker_index(), __ATOMIC_RELEASE);
    fj_counter_done(&arrived, 1);
    waiting_job_inner(w);
    __atomic_fetch_add(&resumed, 1, __ATOMIC_RELAXED);
}

/* Starts one child that waits on gate, and waits for it (arg non-NULL: a
 * large-stack child). */
__attribute__((noinline)) void calling_job_function(void *arg)
{
    int i = arg ? 1 : 0;
    fj_counter child_done;
    fj_counter_init(&child_done, 0);
    __atomic_store_n(&parent_worker[i], fj_worker_index(), __ATOMIC_RELAXED);
    __atomic_store_n(&parent_done[i], &child_done, __ATOMIC_RELEASE);
    fj_job child = { .fn = waiting_job_function, .arg = (void *)&called_on_gate[i],
                     .name = arg ? "called_big" : "called_child", .flags = arg ? FJ_JOB_LARGE_STACK : 0u };
    fj_run_jobs(&child, 1, &child_done);
    fj_wait(&child_done, 0);
    __atomic_fetch_add(&resumed, 1, __ATOMIC_RELAXED);
}

/* gdb stops here: every waiter is suspended. */
__attribute__((noinline)) void fj_test_all_waiting(void)
{
    __asm__ __volatile__("" ::: "memory");
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void *outside_thread(void *arg)
{
    (void)arg;
    fj_wait(&gate, 0);
    __atomic_fetch_add(&resumed, 1, __ATOMIC_RELAXED);
    return NULL;
}

static void launched_job(void *arg) { (void)arg; }

static void root_job(void *arg)
{
    (void)arg;
    fj_job jobs[N_WAITERS + N_CALLING];
    for (int i = 0; i < N_GATE; i++)
        jobs[i] = (fj_job){ .fn = waiting_job_function, .arg = (void *)&on_gate, .name = "waiting_on_gate" };
    jobs[N_GATE] = (fj_job){ .fn = waiting_job_function, .arg = (void *)&on_pair, .name = "waiting_on_pair" };
    jobs[N_GATE + 1] = (fj_job){ .fn = waiting_job_function, .arg = (void *)&on_gate, .name = "waiting_large",
                                 .flags = FJ_JOB_LARGE_STACK };
    jobs[N_WAITERS] = (fj_job){ .fn = calling_job_function, .name = "calling_parent" };
    jobs[N_WAITERS + 1] = (fj_job){ .fn = calling_job_function, .arg = (void *)1, .name = "calling_parent_big" };
    fj_run_jobs(jobs, N_WAITERS + N_CALLING, &finished);
    /* A job launched when gate opens: on gate's list as a launch record. */
    fj_job later = { .fn = launched_job, .name = "launch_after_gate" };
    if (fj_run_jobs_after(&(fj_after){ &gate, 0 }, 1, &later, 1, &finished) != 0) {
        fprintf(stderr, "gdb_target: fj_run_jobs_after failed\n");
        exit(1);
    }

    double deadline = now_s() + 60;
    /* gate: N_GATE small waiters, the large one, the called children and the outside thread; pair: one. */
    while (fj_counter_value(&arrived) > 0 || gdb_target_listed_waiters(&gate) < N_ON_GATE ||
           gdb_target_listed_waiters(&pair) < 1 || !parents_suspended()) {
        if (now_s() > deadline) {
            fprintf(stderr, "gdb_target: the waiters did not all suspend within 60 s (arrived %lld, on gate %u, "
                    "on pair %u)\n", (long long)fj_counter_value(&arrived), gdb_target_listed_waiters(&gate),
                    gdb_target_listed_waiters(&pair));
            exit(1);
        }
        fj_yield();
        struct timespec ts = { 0, 1000000 };
        nanosleep(&ts, NULL);
    }
    printf("gdb_target: all waiting, gate=%p pair=%p\n", (void *)&gate, (void *)&pair);
    fflush(stdout);
    fj_test_all_waiting();

    fj_counter_done(&gate, 1);
    fj_counter_done(&pair, 2);
    fj_wait(&finished, 0);
}

int main(int argc, char **argv)
{
    unsigned workers = argc > 1 ? (unsigned)atoi(argv[1]) : 2;
    fj_counter_init(&gate, 1);
    fj_counter_init(&pair, 3);
    fj_counter_init(&arrived, N_WAITERS + N_CALLING);   /* and the called children */
    fj_counter_init(&finished, 0);
    fj_config cfg = fj_config_default();
    cfg.workers = workers;
    sched = fj_create(&cfg);
    if (!sched) {
        fprintf(stderr, "gdb_target: fj_create: %s\n", fj_strerror(fj_last_error()));
        return 1;
    }
    pthread_t outside;
    if (pthread_create(&outside, NULL, outside_thread, NULL) != 0) {
        fprintf(stderr, "gdb_target: pthread_create failed\n");
        return 1;
    }
    int rc = fj_main(sched, root_job, NULL);
    pthread_join(outside, NULL);
    fj_destroy(sched);
    int n = __atomic_load_n(&resumed, __ATOMIC_RELAXED);
    /* Two per waiting_job_function (the called children too), the outside
     * thread, one per calling job. */
    int want = 2 * (N_WAITERS + N_CALLING) + 1 + N_CALLING;
    if (rc != 0 || n != want) {
        fprintf(stderr, "gdb_target: fj_main returned %d, %d of %d resumptions\n", rc, n, want);
        return 1;
    }
    printf("gdb_target: done\n");
    return 0;
}
