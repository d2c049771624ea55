/*
 * fj_set_active_workers: limiting at run time the workers that take work.
 *
 *  1. Misuse: a NULL scheduler, 0, or more than fj_worker_count give
 *     FJ_EINVAL and leave the limit as it was; fj_active_workers(NULL) and
 *     either call on a destroyed scheduler stop naming the call.
 *  2. While a workload of waits, batches, fj_parallel_for and pinned jobs
 *     runs, one of its jobs lowers the limit to 1: everything completes.
 *  3. After the limit took effect (set, then a fresh workload queued and
 *     waited for), every job that is not pinned starts, and resumes after
 *     each wait, on a worker under the limit (fj_worker_index, recorded per
 *     job); every pinned job runs on its own worker, parked or not. Once with
 *     the limit 1, set inside a job, once with about half, set by a thread
 *     outside the scheduler.
 *  4. Raised again: N jobs that each block until N distinct workers run one
 *     of them complete (each worker must take one, so none stays parked).
 *  5. fj_destroy with workers parked runs a job pinned to a parked worker
 *     that an outside thread queued after fj_main, and joins them all.
 *  6. With 1 of 4 workers active, a root that waits on a counter nothing
 *     finishes is still reported as a deadlock (child process).
 * Each check fails when parking is broken: jobs on parked workers (3), a
 * raised limit that wakes nobody (4: hangs until the time limit), a parked
 * worker counted as awake (6: no report, the child times out).
 */
#include <pthread.h>
#include <sched.h>

#include "test.h"

enum { MAXW = 64 };

static unsigned nworkers;
static fj_scheduler *g_s;

/* ------------------------------------------------------------ recording */

static int checking;        /* 1 while phase 3 checks where jobs run */
static unsigned limit_now;  /* the limit phase 3 checks against */
static int wrong;           /* recordings on a worker they must not be on */
static long notes;          /* recordings made */

/* The job's worker now: under the limit, or `pinned` (>= 0) for a pinned job. */
static void note(int pinned)
{
    int w = fj_worker_index();
    T_ADD(&notes, 1);
    if (!T_LOAD(&checking))
        return;
    bool ok = pinned >= 0 ? w == pinned : w >= 0 && (unsigned)w < T_LOAD(&limit_now);
    if (!ok) {
        fprintf(stderr, "a %s job ran on worker %d (limit %u)\n", pinned >= 0 ? "pinned" : "plain", w,
                T_LOAD(&limit_now));
        T_ADD(&wrong, 1);
    }
}

/* ------------------------------------------------------------ the workload */

static void leaf(void *arg)
{
    (void)arg;
    note(-1);
}

/* Three children per level, waited for: records before and after the wait. */
static void tree(void *arg)
{
    intptr_t depth = (intptr_t)arg;
    note(-1);
    if (depth == 0)
        return;
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_job kids[3];
    for (int i = 0; i < 3; i++)
        kids[i] = (fj_job){ .fn = tree, .arg = (void *)(depth - 1), .name = "tree" };
    fj_run_jobs(kids, 3, &c);
    fj_wait(&c, 0);
    note(-1);
}

/* A batch (more than FJ_BATCH_MIN jobs: queued as ranges, taken in chunks). */
static void batch(void *arg)
{
    (void)arg;
    note(-1);
    fj_job jobs[100];
    for (int i = 0; i < 100; i++)
        jobs[i] = (fj_job){ .fn = leaf, .name = "leaf" };
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs(jobs, 100, &c);
    fj_wait(&c, 0);
    note(-1);
}

static long pfor_sum;

static void pfor_range(size_t begin, size_t end, void *arg)
{
    (void)arg;
    note(-1);
    T_ADD(&pfor_sum, (long)(end - begin));
}

static void pfor(void *arg)
{
    (void)arg;
    CHECK_EQ(fj_parallel_for(0, 5000, 50, pfor_range, NULL, "pfor"), 0u);
    note(-1);
}

/* Pinned to worker `arg`: records there, runs plain children and waits for
 * them (they may run anywhere under the limit), records there again. */
static void pinned(void *arg)
{
    int me = (int)(intptr_t)arg;
    note(me);
    fj_job kids[4];
    for (int i = 0; i < 4; i++)
        kids[i] = (fj_job){ .fn = tree, .arg = (void *)(intptr_t)1, .name = "pinned's child" };
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs(kids, 4, &c);
    fj_wait(&c, 0);
    note(me);
    fj_yield();
    note(me);
}

static void set_limit_job(void *arg)
{
    unsigned n = (unsigned)(uintptr_t)arg;
    CHECK_EQ(fj_set_active_workers(g_s, n), 0);
    CHECK_EQ(fj_active_workers(g_s), n);
}

/* Queue the workload on c (plus `extra`, NULL for none): a tree, a batch, a
 * parallel_for, and on every worker one pinned job on a small fiber and one
 * on a large fiber (where small children would fit below the waiter). */
static void workload(fj_counter *c, const fj_job *extra)
{
    fj_job jobs[4 + 2 * MAXW];
    size_t n = 0;
    jobs[n++] = (fj_job){ .fn = tree, .arg = (void *)(intptr_t)4, .name = "tree" };
    jobs[n++] = (fj_job){ .fn = batch, .name = "batch" };
    jobs[n++] = (fj_job){ .fn = pfor, .name = "pfor" };
    if (extra)
        jobs[n++] = *extra;
    for (unsigned w = 0; w < nworkers; w++) {
        jobs[n++] = (fj_job){ .fn = pinned, .arg = (void *)(intptr_t)w, .name = "pinned",
                              .flags = FJ_JOB_ON_WORKER(w) };
        jobs[n++] = (fj_job){ .fn = pinned, .arg = (void *)(intptr_t)w, .name = "pinned large",
                              .flags = FJ_JOB_ON_WORKER(w) | FJ_JOB_LARGE_STACK };
    }
    fj_run_jobs(jobs, n, c);
}

/* Recordings one workload makes, fj_parallel_for's chunks aside: the tree
 * of depth 4 (121 nodes, the 40 inner ones twice), the batch (2 + 100), the
 * parallel_for's caller (1), and per worker 2 pinned jobs of 3 records each
 * and 4 trees of depth 1 (an inner node twice, 3 leaves). */
static long expected_notes(void)
{
    return (121 + 40) + (2 + 100) + 1 + (long)nworkers * 2 * (3 + 4 * (2 + 3));
}

static void run_workload_checked(unsigned limit)
{
    T_STORE(&limit_now, limit);
    long before = T_LOAD(&notes);
    T_STORE(&pfor_sum, 0);
    T_STORE(&checking, 1);
    fj_counter c;
    fj_counter_init(&c, 0);
    workload(&c, NULL);
    fj_wait(&c, 0);
    T_STORE(&checking, 0);
    CHECK_EQ(T_LOAD(&pfor_sum), 5000L);
    long made = T_LOAD(&notes) - before;
    if (made <= expected_notes()) {   /* and at least one chunk */
        fprintf(stderr, "%ld recordings, want more than %ld\n", made, expected_notes());
        CHECK(0);
    }
    CHECK_EQ(T_LOAD(&wrong), 0);
}

/* ------------------------------------------------------------ raising */

/* Every worker must take one job of a gathering (test_gather_workers in
 * test.h): a worker left parked hangs it. The gathering's submissions do
 * not wake a parked worker: only the raised limit does. */
static void raise_and_gather(void)
{
    CHECK_EQ(fj_set_active_workers(g_s, nworkers), 0);
    test_gather_workers(nworkers);
}

/* ------------------------------------------------------------ phases 2-4 */

static void *outside_setter(void *arg)
{
    CHECK(fj_worker_index() < 0);
    CHECK_EQ(fj_set_active_workers(g_s, (unsigned)(uintptr_t)arg), 0);
    return NULL;
}

static void root(void *arg)
{
    (void)arg;
    CHECK_EQ(fj_active_workers(g_s), nworkers);

    /* 2. The limit falls to 1 while the workload runs. */
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_job limiter = { .fn = set_limit_job, .arg = (void *)(uintptr_t)1, .name = "limiter" };
    workload(&c, &limiter);
    fj_wait(&c, 0);
    CHECK_EQ(fj_active_workers(g_s), 1u);
    CHECK_EQ(T_LOAD(&pfor_sum), 5000L);

    /* 3. With the limit 1 in effect: plain jobs only on worker 0. */
    run_workload_checked(1);

    /* 4. Raised: every worker takes part again. */
    raise_and_gather();

    /* 3 again, half the workers, the limit set by an outside thread. */
    unsigned half = (nworkers + 1) / 2;
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, outside_setter, (void *)(uintptr_t)half), 0);
    CHECK_EQ(pthread_join(t, NULL), 0);
    CHECK_EQ(fj_active_workers(g_s), half);
    run_workload_checked(half);
    raise_and_gather();

    /* Leave it at 1: fj_destroy must still end with workers parked. */
    fj_job one = { .fn = set_limit_job, .arg = (void *)(uintptr_t)1, .name = "limiter" };
    fj_counter_init(&c, 0);
    fj_run_jobs(&one, 1, &c);
    fj_wait(&c, 0);
}

/* ------------------------------------------------------------ misuse */

static void active_null(void *a)
{
    (void)a;
    (void)fj_active_workers(NULL);
}

static void set_after_destroy(void *a)
{
    (void)a;
    fj_scheduler *s = fj_create(NULL);
    CHECK(s);
    fj_destroy(s);
    (void)fj_set_active_workers(s, 1);
}

/* ------------------------------------------------------------ 6: deadlock */

static fj_scheduler *g_dead;

static void dead_root(void *arg)
{
    (void)arg;
    /* Every worker busy once; then, over the limit, each runs a job pinned
     * to it and parks after it (rather than staying asleep as an idle worker
     * would, which the judge counts anyway); then a wait nothing ends. */
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_job jobs[200];
    for (int i = 0; i < 200; i++)
        jobs[i] = (fj_job){ .fn = leaf, .name = "leaf" };
    fj_run_jobs(jobs, 200, &c);
    fj_wait(&c, 0);
    CHECK_EQ(fj_set_active_workers(g_dead, 1), 0);
    for (int i = 1; i < 4; i++)
        jobs[i] = (fj_job){ .fn = leaf, .name = "leaf", .flags = FJ_JOB_ON_WORKER(i) };
    fj_run_jobs(jobs + 1, 3, &c);
    fj_wait(&c, 0);
    fj_counter never;
    fj_counter_init(&never, 1);
    fj_wait(&never, 0);
}

static void child_deadlock(void *a)
{
    (void)a;
    fj_config cfg = fj_config_default();
    cfg.workers = 4;
    g_dead = fj_create(&cfg);
    CHECK(g_dead);
    fj_main(g_dead, dead_root, NULL);
}

int main(int argc, char **argv)
{
    nworkers = test_workers(argc, argv);
    CHECK(nworkers <= MAXW);
    /* Children first: a fork once worker threads run is refused under TSan. */
    EXPECT_ABORT_LINE(active_null, NULL, "fiberjob: fj_active_workers: scheduler is NULL (outside any job)");
    EXPECT_ABORT_CONTAINS(set_after_destroy, NULL, "fiberjob: fj_set_active_workers: scheduler ");
    fj_config cfg = test_config(argc, argv);
    g_s = fj_create(&cfg);
    CHECK(g_s);

    /* 1. Misuse. */
    CHECK_EQ(fj_active_workers(g_s), nworkers);
    CHECK_EQ(fj_set_active_workers(NULL, 1), FJ_EINVAL);
    CHECK_EQ(fj_set_active_workers(g_s, 0), FJ_EINVAL);
    CHECK_EQ(fj_set_active_workers(g_s, nworkers + 1), FJ_EINVAL);
    CHECK_EQ(fj_active_workers(g_s), nworkers);
    /* Set outside fj_main, from the creating thread. */
    CHECK_EQ(fj_set_active_workers(g_s, 1), 0);
    CHECK_EQ(fj_active_workers(g_s), 1u);
    CHECK_EQ(fj_set_active_workers(g_s, nworkers), 0);

    /* 2-4. */
    CHECK_EQ(fj_main(g_s, root, NULL), 0);
    CHECK_EQ(fj_active_workers(g_s), 1u);

    /* 5. Pinned to the last worker (parked unless it is worker 0), queued
     * from outside after fj_main: fj_destroy's drain runs it there. */
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_job p = { .fn = pinned, .arg = (void *)(intptr_t)(nworkers - 1), .name = "pinned at destroy",
                 .flags = FJ_JOB_ON_WORKER(nworkers - 1) };
    T_STORE(&limit_now, 1);
    T_STORE(&checking, 1);
    fj_run_jobs_on(g_s, &p, 1, &c);
    fj_destroy(g_s);
    T_STORE(&checking, 0);
    CHECK_EQ(fj_counter_value(&c), 0);
    CHECK_EQ(T_LOAD(&wrong), 0);

    /* 6. */
    EXPECT_ABORT_CONTAINS(child_deadlock, NULL,
                          "fiberjob: deadlock: every worker is idle and nothing is queued, and 1 jobs wait");
    return test_finish();
}
