/*
 * Misuse of fj_wait_until / fj_wait_for: each bad call runs in a child
 * process that must die of SIGABRT with one line naming the call (and the
 * job): a NULL counter, a target out of range, in a job and outside.
 * (A deadline in the past is not misuse: it returns at once, see
 * tests/core/test_timed_wait.c.)
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

static void null_root(void *a)
{
    (void)a;
    fj_wait_until(NULL, 0, fj_now_ns() + 1000);
}
static void null_in_job(void *a) { (void)a; as_root(null_root); }

static fj_counter c;
static void high_root(void *a)
{
    (void)a;
    fj_counter_init(&c, 0);
    fj_wait_for(&c, FJ_WAIT_TARGET_MAX + 1, 1000);
}
static void high_in_job(void *a) { (void)a; as_root(high_root); }

static void negative_outside(void *a)
{
    (void)a;
    fj_counter_init(&c, 0);
    fj_wait_until(&c, -1, 0);
}

static void null_outside(void *a)
{
    (void)a;
    fj_wait_for(NULL, 0, 0);
}

int main(int argc, char **argv)
{
    nworkers = test_workers(argc, argv);
    EXPECT_ABORT_MATCH(null_in_job, NULL, "fiberjob: fj_wait_until: counter is NULL", " (in job 'fj_main root'");
    EXPECT_ABORT_MATCH(high_in_job, NULL, "fiberjob: fj_wait_for: target 65536 is outside 0..65535",
                       " (in job 'fj_main root'");
    EXPECT_ABORT_LINE(negative_outside, NULL,
                      "fiberjob: fj_wait_until: target -1 is outside 0..65535 (outside any job)");
    EXPECT_ABORT_LINE(null_outside, NULL, "fiberjob: fj_wait_for: counter is NULL (outside any job)");
    return test_finish();
}
