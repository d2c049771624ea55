/*
 * The fiber pool under pressure.
 *
 *  - Exhaustion: a pool of 4 small fibers more than workers, and 1 large (the
 *    root's), and 200 jobs that each wait on children, which yield before they
 *    finish, so many jobs are suspended at once. No crash, and all work
 *    completes. (With no spare fiber at all, one per worker, this work cannot
 *    progress: a child is promised a whole stack, so it never runs on what is
 *    left of its waiting parent's; that is a reported deadlock, as for the
 *    too small pool below.)
 *  - Large stacks: FJ_JOB_LARGE_STACK jobs that use 200 KiB of stack (three
 *    times a small fiber) run correctly, mixed with small jobs, also when there
 *    are many more of them than large fibers and when they wait themselves.
 *  - With large_fibers = 1 the root job holds the only large fiber while it
 *    waits, so large-stack jobs can only run inline on the root's stack. The
 *    work must either complete or be reported as a deadlock: not hang.
 *  - A pool too small for the work (every fiber waits, the next job cannot
 *    start) is reported as a deadlock, as DESIGN.md asks, instead of hanging.
 */
#include "test.h"

static unsigned nworkers;

static unsigned small_pool(void) { return nworkers + 4; }

/* ------------------------------------------------------------ exhaustion */

enum { WAITERS = 200, KIDS = 3 };

static int kids_done, waiters_done, bad_sums;

static void kid(void *arg)
{
    int *slot = arg;
    fj_yield();
    *slot = 1;
    T_ADD(&kids_done, 1);
}

static void waiter(void *arg)
{
    (void)arg;
    int slots[KIDS] = { 0 };
    fj_job jobs[KIDS];
    for (int i = 0; i < KIDS; i++)
        jobs[i] = (fj_job){ .fn = kid, .arg = &slots[i], .name = "kid" };
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs(jobs, KIDS, &c);
    fj_yield();
    fj_wait(&c, 0);
    int sum = 0;
    for (int i = 0; i < KIDS; i++)
        sum += slots[i];
    if (sum != KIDS)
        T_ADD(&bad_sums, 1);
    T_ADD(&waiters_done, 1);
}

static void exhaustion_root(void *arg)
{
    (void)arg;
    static fj_job jobs[WAITERS];
    for (int i = 0; i < WAITERS; i++)
        jobs[i] = (fj_job){ .fn = waiter, .name = "waiter" };
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs(jobs, WAITERS, &c);
    fj_wait(&c, 0);
    CHECK_EQ(T_LOAD(&waiters_done), WAITERS);
}

static void test_exhaustion(void *arg)
{
    (void)arg;
    fj_config cfg = fj_config_default();
    cfg.workers = nworkers;
    cfg.small_fibers = small_pool();
    cfg.large_fibers = 1;
    fj_scheduler *s = fj_create(&cfg);
    CHECK(s);
    for (int round = 0; round < 5; round++) {
        kids_done = waiters_done = 0;
        CHECK_EQ(fj_main(s, exhaustion_root, NULL), 0);
        CHECK_EQ(waiters_done, WAITERS);
        CHECK_EQ(kids_done, WAITERS * KIDS);
        CHECK_EQ(bad_sums, 0);
    }
    fj_destroy(s);
}

/* ------------------------------------------------------------ large stacks */

enum { BIG = 200 * 1024 };

static int big_ok, big_bad, small_ran;

static __attribute__((noinline)) unsigned fill_and_sum(volatile unsigned char *buf, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        buf[i] = (unsigned char)(i * 31 + seed);
    unsigned sum = 0;
    for (size_t i = 0; i < n; i += 97)
        sum += buf[i];
    return sum;
}

static unsigned expected_sum(size_t n, unsigned seed)
{
    unsigned sum = 0;
    for (size_t i = 0; i < n; i += 97)
        sum += (unsigned char)(i * 31 + seed);
    return sum;
}

static void small_job(void *arg)
{
    (void)arg;
    T_ADD(&small_ran, 1);
}

static void big_job(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    volatile unsigned char buf[BIG];
    unsigned got = fill_and_sum(buf, sizeof buf, seed);
    if (seed % 4 == 0) {
        /* A large-stack job that waits: its fiber parks with 200 KiB live. */
        fj_job kids[4];
        for (int i = 0; i < 4; i++)
            kids[i] = (fj_job){ .fn = small_job, .name = "small" };
        fj_counter c;
        fj_counter_init(&c, 0);
        fj_run_jobs(kids, 4, &c);
        fj_wait(&c, 0);
        /* The frame survived the wait. */
        unsigned again = 0;
        for (size_t i = 0; i < sizeof buf; i += 97)
            again += buf[i];
        if (again != got)
            T_ADD(&big_bad, 1);
    }
    if (got == expected_sum(sizeof buf, seed))
        T_ADD(&big_ok, 1);
    else
        T_ADD(&big_bad, 1);
}

enum { NBIG = 24, NSMALL = 40 };

static void large_root(void *arg)
{
    (void)arg;
    fj_job jobs[NBIG + NSMALL];
    int nb = 0, ns = 0;
    for (int i = 0; i < NBIG + NSMALL; i++) {
        if ((i % 8 < 3 && nb < NBIG) || ns == NSMALL) {
            nb++;
            jobs[i] = (fj_job){ .fn = big_job, .arg = (void *)(uintptr_t)nb, .name = "big",
                                .flags = FJ_JOB_LARGE_STACK };
        } else {
            ns++;
            jobs[i] = (fj_job){ .fn = small_job, .name = "small" };
        }
    }
    CHECK(nb == NBIG && ns == NSMALL);
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs(jobs, NBIG + NSMALL, &c);
    fj_wait(&c, 0);
}

static void test_large_stacks(void *arg)
{
    unsigned large_fibers = (unsigned)(uintptr_t)arg;
    fj_config cfg = fj_config_default();
    cfg.workers = nworkers;
    cfg.small_fibers = small_pool();
    cfg.large_fibers = large_fibers;
    fj_scheduler *s = fj_create(&cfg);
    CHECK(s);
    for (int round = 0; round < 120; round++) {
        big_ok = big_bad = small_ran = 0;
        CHECK_EQ(fj_main(s, large_root, NULL), 0);
        CHECK_EQ(big_bad, 0);
        CHECK_EQ(big_ok, NBIG);
        CHECK_EQ(small_ran, NSMALL + 4 * (NBIG / 4));
    }
    fj_destroy(s);
}

static void large_one_child(void *arg)
{
    (void)arg;
    fj_config cfg = fj_config_default();
    cfg.workers = nworkers;
    cfg.small_fibers = small_pool();
    cfg.large_fibers = 1;
    fj_scheduler *s = fj_create(&cfg);
    CHECK(s);
    for (int round = 0; round < 10; round++) {
        big_ok = big_bad = small_ran = 0;
        CHECK_EQ(fj_main(s, large_root, NULL), 0);
        CHECK_EQ(big_bad, 0);
        CHECK_EQ(big_ok, NBIG);
    }
    fj_destroy(s);
}

static void test_large_one(void)
{
    static child_result r;
    run_in_child(large_one_child, NULL, 15, &r);
    if (WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0)
        return;   /* they ran (inline on the root's stack) */
    if (WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGABRT && strstr(r.err, "fiberjob: deadlock"))
        return;   /* or the configuration was reported as a deadlock */
    char buf[128];
    FAIL_SOFT("FJ_JOB_LARGE_STACK jobs with large_fibers = 1 (held by the waiting root): child %s; expected "
              "the jobs to complete or a deadlock report, not a hang. stderr:\n%s",
              child_status_text(r.status, buf, sizeof buf), r.err);
}

/* ------------------------------------------------------------ too small a pool */

static void link_job(void *arg)
{
    int depth = (int)(intptr_t)arg;
    if (depth == 0)
        return;
    fj_job j = { .fn = link_job, .arg = (void *)(intptr_t)(depth - 1), .name = "link" };
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs(&j, 1, &c);
    fj_wait(&c, 0);
}

static void too_deep_child(void *arg)
{
    (void)arg;
    /* 16 KiB stacks (small and large, so not even the root's) cannot run a
     * child inline, so each waiting level holds a fiber: a 200-deep chain
     * cannot fit in a pool of workers + 4. */
    fj_config cfg = fj_config_default();
    cfg.workers = nworkers;
    cfg.small_stack_size = 16 * 1024;
    cfg.large_stack_size = 16 * 1024;
    cfg.small_fibers = nworkers + 4;
    cfg.large_fibers = 1;
    fj_scheduler *s = fj_create(&cfg);
    CHECK(s);
    fj_main(s, link_job, (void *)(intptr_t)1000);
    fj_destroy(s);
}

static void test_too_small_reported(void)
{
    static child_result r;
    run_in_child(too_deep_child, NULL, 15, &r);
    if (WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGABRT && strstr(r.err, "fiberjob: deadlock"))
        return;
    char buf[128];
    FAIL_SOFT("a pool too small for a 1000-deep chain (every fiber waiting, the next link unable to "
              "start): child %s, expected SIGABRT with a deadlock report. stderr:\n%s",
              child_status_text(r.status, buf, sizeof buf), r.err);
}

int main(int argc, char **argv)
{
    nworkers = test_workers(argc, argv);
    test_too_small_reported();   /* forks: first, while there are no threads */
    /* Each part in a child with a time limit: a hang is reported, not waited out. */
    EXPECT_CHILD_OK(test_exhaustion, NULL, 10, "200 waiting jobs on a pool of workers + 4 small fibers and 1 large");
    EXPECT_CHILD_OK(test_large_stacks, (void *)(uintptr_t)2, 10,
                    "FJ_JOB_LARGE_STACK jobs (200 KiB of stack) with 2 large fibers (the root's and one)");
    EXPECT_CHILD_OK(test_large_stacks, (void *)(uintptr_t)4, 10,
                    "FJ_JOB_LARGE_STACK jobs (200 KiB of stack) with 4 large fibers");
    test_large_one();
    return test_finish();
}
