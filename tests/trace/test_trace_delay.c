/*
 * Queueing delay (fj_worker_stats.queue_delay_*, measured while tracing is on).
 *
 *  - Behind a blocked worker: on a scheduler of one worker, a job queues a
 *    target job and then keeps the only worker until an outside thread sets a
 *    flag. The target cannot start before the release, so the delay the
 *    statistics report is at least the time the test read between the
 *    submission's return and the release (an ordering of clock readings, not
 *    a speed check).
 *  - Every way a job is queued counts once: single jobs, runs of priorities,
 *    batches, fj_parallel_for, large-stack jobs, jobs that wait and yield
 *    (their resumption is not a second queueing), and jobs queued from a
 *    thread outside the scheduler, on the test's worker count: the jobs
 *    measured equal the jobs run, on every worker's statistics summed.
 *  - Tracing off: nothing is measured.
 */
#include <pthread.h>
#include <time.h>

#include "test.h"

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sum_stats(fj_scheduler *s, fj_worker_stats *sum)
{
    fj_worker_stats st[64];
    unsigned n = fj_stats(s, st, 64);
    CHECK(n <= 64);
    memset(sum, 0, sizeof *sum);
    for (unsigned i = 0; i < n; i++) {
        sum->jobs += st[i].jobs;
        sum->queue_delay_jobs += st[i].queue_delay_jobs;
        sum->queue_delay_total_ns += st[i].queue_delay_total_ns;
        if (st[i].queue_delay_max_ns > sum->queue_delay_max_ns)
            sum->queue_delay_max_ns = st[i].queue_delay_max_ns;
    }
}

/* ---- behind a blocked worker */

static int release_flag;
static int target_ran;
static uint64_t t_submitted, t_released;

static void target(void *arg)
{
    (void)arg;
    T_STORE(&target_ran, 1);
}

static void *releaser(void *arg)
{
    (void)arg;
    struct timespec d = { 0, 20 * 1000 * 1000 };
    nanosleep(&d, NULL);
    T_STORE(&release_flag, 1);
    return NULL;
}

static void blocker(void *arg)
{
    fj_counter *c = arg;
    fj_job t = { .fn = target, .name = "target" };
    fj_run_jobs(&t, 1, c);
    t_submitted = now_ns();
    pthread_t th;
    CHECK(pthread_create(&th, NULL, releaser, NULL) == 0);
    while (!T_LOAD(&release_flag))
        ;   /* the only worker stays here: the target cannot start */
    t_released = now_ns();
    CHECK_EQ(T_LOAD(&target_ran), 0);
    CHECK(pthread_join(th, NULL) == 0);
}

static void blocked_root(void *arg)
{
    (void)arg;
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_job b = { .fn = blocker, .arg = &c, .name = "blocker" };
    fj_run_jobs(&b, 1, &c);
    fj_wait(&c, 0);
    CHECK_EQ(T_LOAD(&target_ran), 1);
}

static void behind_a_blocked_worker(void)
{
    fj_config cfg = fj_config_default();
    cfg.workers = 1;
    cfg.trace_events = 1024;
    fj_scheduler *s = fj_create(&cfg);
    CHECK(s != NULL);
    CHECK_EQ(fj_main(s, blocked_root, NULL), 0);
    fj_worker_stats sum;
    sum_stats(s, &sum);
    uint64_t held = t_released - t_submitted;
    CHECK_EQ(sum.jobs, 3);               /* the root, the blocker, the target */
    CHECK_EQ(sum.queue_delay_jobs, 3);
    CHECK(sum.queue_delay_max_ns > 0);
    if (sum.queue_delay_max_ns < held)
        FAIL_SOFT("queue delay max %llu ns, but the target was held back %llu ns after it was queued",
                  (unsigned long long)sum.queue_delay_max_ns, (unsigned long long)held);
    CHECK(sum.queue_delay_total_ns >= sum.queue_delay_max_ns);
    fj_destroy(s);
}

/* ---- every way of queueing counts once */

static int jobs_run;

static void plain(void *arg)
{
    (void)arg;
    T_ADD(&jobs_run, 1);
}

static void yielder(void *arg)
{
    (void)arg;
    T_ADD(&jobs_run, 1);
    fj_yield();
    fj_yield();
}

/* Waits on children it queues: resumed after fj_wait, counted once. */
static void parent(void *arg)
{
    (void)arg;
    T_ADD(&jobs_run, 1);
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_job kids[3] = { { .fn = yielder, .name = "kid" }, { .fn = plain, .name = "kid" },
                       { .fn = plain, .name = "kid", .priority = FJ_PRIORITY_HIGH } };
    fj_run_jobs(kids, 3, &c);
    fj_wait(&c, 0);
}

enum { OUTSIDE_JOBS = 40, BATCH = 300, SINGLES = 20 };

static void *outside(void *arg)
{
    fj_scheduler *s = arg;
    fj_job jobs[OUTSIDE_JOBS];
    for (int i = 0; i < OUTSIDE_JOBS; i++)
        jobs[i] = (fj_job){ .fn = plain, .name = "outside" };
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs_on(s, jobs, OUTSIDE_JOBS, &c);
    fj_wait(&c, 0);
    return NULL;
}

static uint32_t parallel_chunks;

static void counting_body(size_t b, size_t e, void *arg)
{
    (void)b;
    (void)e;
    (void)arg;
    T_ADD(&parallel_chunks, 1);
}

static void all_root(void *arg)
{
    fj_scheduler *s = arg;
    pthread_t th;
    CHECK(pthread_create(&th, NULL, outside, s) == 0);
    fj_counter c;
    fj_counter_init(&c, 0);
    for (int i = 0; i < SINGLES; i++) {
        fj_job j = { .fn = plain, .name = "single" };
        fj_run_jobs(&j, 1, &c);
    }
    static fj_job batch[BATCH];
    for (int i = 0; i < BATCH; i++)
        batch[i] = (fj_job){ .fn = plain, .name = "batched" };
    fj_run_jobs(batch, BATCH, &c);
    fj_job mix[6] = {
        { .fn = plain, .name = "low", .priority = FJ_PRIORITY_LOW },
        { .fn = plain, .name = "high", .priority = FJ_PRIORITY_HIGH },
        { .fn = plain, .name = "large", .flags = FJ_JOB_LARGE_STACK },
        { .fn = plain, .name = "shallow", .flags = FJ_JOB_SHALLOW },
        { .fn = parent, .name = "parent" },
        { .fn = yielder, .name = "yielder" },
    };
    fj_run_jobs(mix, 6, &c);
    fj_wait(&c, 0);
    fj_parallel_for(0, 1000, 10, counting_body, NULL, "pfor");
    /* Until the outside thread's jobs ran: yield rather than block the worker. */
    while (T_LOAD(&jobs_run) < SINGLES + BATCH + 6 + 3 + OUTSIDE_JOBS)
        fj_yield();
    CHECK(pthread_join(th, NULL) == 0);
}

static void every_way_counts(int argc, char **argv)
{
    fj_config cfg = test_config(argc, argv);
    cfg.trace_events = 4096;   /* a ring that wraps: the statistics do not depend on it */
    fj_scheduler *s = fj_create(&cfg);
    CHECK(s != NULL);
    CHECK_EQ(fj_main(s, all_root, s), 0);
    fj_worker_stats sum;
    sum_stats(s, &sum);
    CHECK_EQ(T_LOAD(&jobs_run), SINGLES + BATCH + 6 + 3 + OUTSIDE_JOBS);
    CHECK(T_LOAD(&parallel_chunks) > 0);
    /* The root, the jobs above, and fj_parallel_for's jobs (how many it
     * queues is its own business). */
    CHECK(sum.jobs > 1 + (uint64_t)T_LOAD(&jobs_run));
    if (sum.queue_delay_jobs != sum.jobs)
        FAIL_SOFT("%llu jobs ran, %llu had their queueing delay measured", (unsigned long long)sum.jobs,
                  (unsigned long long)sum.queue_delay_jobs);
    CHECK(sum.queue_delay_total_ns >= sum.queue_delay_max_ns);
    fj_destroy(s);
}

/* ---- tracing off */

static void tracing_off(int argc, char **argv)
{
    fj_config cfg = test_config(argc, argv);
    cfg.trace_events = 0;
    fj_scheduler *s = fj_create(&cfg);
    CHECK(s != NULL);
    T_STORE(&jobs_run, 0);
    CHECK_EQ(fj_main(s, parent, NULL), 0);
    fj_worker_stats sum;
    sum_stats(s, &sum);
    CHECK_EQ(sum.jobs, 4);   /* parent as the root, its three kids */
    CHECK_EQ(sum.queue_delay_jobs, 0);
    CHECK_EQ(sum.queue_delay_total_ns, 0);
    CHECK_EQ(sum.queue_delay_max_ns, 0);
    fj_destroy(s);
}

int main(int argc, char **argv)
{
    unsetenv("FIBERJOB_TRACE");
    behind_a_blocked_worker();
    every_way_counts(argc, argv);
    tracing_off(argc, argv);
    return test_finish();
}
