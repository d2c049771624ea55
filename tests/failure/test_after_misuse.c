/*
 * Misuse of fj_run_jobs_after: each bad call runs in a child process that
 * must die of SIGABRT with one line naming the call (and the job).
 *  - a NULL prerequisite counter, a target out of range (negative, above
 *    FJ_WAIT_TARGET_MAX), a NULL array with a count;
 *  - a bad job (NULL function);
 *  - outside a job with no scheduler;
 *  - a launch whose prerequisite no job can reach: reported as a deadlock
 *    naming the job that waits to launch (the root waits for it too).
 */
#include "test.h"

static unsigned nworkers;

static void as_root(fj_job_fn fn)
{
    fj_config cfg = fj_config_default();
    cfg.workers = nworkers;
    fj_scheduler *s = fj_create(&cfg);
    CHECK(s);
    fj_main(s, fn, NULL);
    fj_destroy(s);
}

static void nothing(void *a) { (void)a; }
static fj_job job = { .fn = nothing, .name = "late" };

static void null_counter_root(void *a)
{
    (void)a;
    fj_after after[2] = { { NULL, 0 }, { NULL, 0 } };
    fj_counter c0;
    fj_counter_init(&c0, 0);
    after[0].counter = &c0;
    fj_run_jobs_after(after, 2, &job, 1, NULL);
}
static void null_counter(void *a) { (void)a; as_root(null_counter_root); }

static fj_counter pre;
static void target_high_root(void *a)
{
    (void)a;
    fj_counter_init(&pre, 0);
    fj_run_jobs_after(&(fj_after){ &pre, FJ_WAIT_TARGET_MAX + 1 }, 1, &job, 1, NULL);
}
static void target_high(void *a) { (void)a; as_root(target_high_root); }

static void target_negative_root(void *a)
{
    (void)a;
    fj_counter_init(&pre, 0);
    fj_run_jobs_after(&(fj_after){ &pre, -1 }, 1, &job, 1, NULL);
}
static void target_negative(void *a) { (void)a; as_root(target_negative_root); }

static void null_after_root(void *a)
{
    (void)a;
    fj_run_jobs_after(NULL, 3, &job, 1, NULL);
}
static void null_after(void *a) { (void)a; as_root(null_after_root); }

static void bad_job_root(void *a)
{
    (void)a;
    fj_counter_init(&pre, 0);
    fj_run_jobs_after(&(fj_after){ &pre, 0 }, 1, &(fj_job){ .fn = NULL, .name = "nofn" }, 1, NULL);
}
static void bad_job(void *a) { (void)a; as_root(bad_job_root); }

static void no_scheduler(void *a)
{
    (void)a;
    fj_counter_init(&pre, 0);
    fj_run_jobs_after(&(fj_after){ &pre, 0 }, 1, &job, 1, NULL);
}

/* The prerequisite is counted (one count that nothing finishes): the launch
 * never comes, and the root waits for the job it would launch. */
static void never_root(void *a)
{
    (void)a;
    fj_counter never, done;
    fj_counter_init(&never, 1);
    fj_counter_init(&done, 0);
    CHECK_EQ(fj_run_jobs_after(&(fj_after){ &never, 0 }, 1, &job, 1, &done), 0);
    fj_wait(&done, 0);
}
static void never(void *a) { (void)a; as_root(never_root); }

/* The same without anyone waiting: fj_destroy waits for the launch. */
static void never_unwaited_root(void *a)
{
    (void)a;
    static fj_counter never;
    fj_counter_init(&never, 1);
    CHECK_EQ(fj_run_jobs_after(&(fj_after){ &never, 0 }, 1, &job, 1, NULL), 0);
}
static void never_unwaited(void *a) { (void)a; as_root(never_unwaited_root); }

int main(int argc, char **argv)
{
    nworkers = test_workers(argc, argv);
    EXPECT_ABORT_MATCH(null_counter, NULL,
                       "fiberjob: fj_run_jobs_after: prerequisite 1 of 2 has a NULL counter", " (in job 'fj_main root'");
    EXPECT_ABORT_MATCH(target_high, NULL,
                       "fiberjob: fj_run_jobs_after: prerequisite 0 of 1 has target 65536, outside 0..65535", " (in job 'fj_main root'");
    EXPECT_ABORT_MATCH(target_negative, NULL,
                       "fiberjob: fj_run_jobs_after: prerequisite 0 of 1 has target -1, outside 0..65535", " (in job 'fj_main root'");
    EXPECT_ABORT_MATCH(null_after, NULL, "fiberjob: fj_run_jobs_after: after is NULL with nafter 3", " (in job 'fj_main root'");
    EXPECT_ABORT_MATCH(bad_job, NULL,
                       "fiberjob: fj_run_jobs_after: job 0 of 1 ('nofn') has a NULL function", " (in job 'fj_main root'");
    EXPECT_ABORT_LINE(no_scheduler, NULL,
                      "fiberjob: fj_run_jobs_after: called outside a job and no scheduler exists (outside any job)");
    EXPECT_ABORT_MATCH(never, NULL, "  job 'late' waits on counter ",
                       "(value 1, target 0) [not started: launches when it is reached, fj_run_jobs_after]");
    EXPECT_ABORT_MATCH(never, NULL, "  job 'fj_main root' waits on counter ", "(value 1, target 0)");
    EXPECT_ABORT_MATCH(never, NULL, "fiberjob: deadlock: ", "jobs wait on counters that no job can finish:");
    EXPECT_ABORT_MATCH(never_unwaited, NULL, "  job 'late' waits on counter ",
                       "(value 1, target 0) [not started: launches when it is reached, fj_run_jobs_after]");
    return test_finish();
}
