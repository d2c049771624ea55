/*
 * Misuse of cancellation: each bad call runs in a child process that must die
 * of SIGABRT with one line naming the call (and the job).
 *  - NULL counters to fj_counter_cancel, fj_counter_cancelled and
 *    fj_counter_is_cancelled, in a job and outside;
 *  - a skipped job finishes its count once: finishing one more by hand
 *    after a cancelled round drained is still "below zero";
 *  - a cancel does not finish hand-managed counts (fj_counter_add): waiting
 *    for one that nothing will finish is still a deadlock, reported;
 *  - a cancelled counter reused while its round is still open (jobs still
 *    queued) is not a new round: the jobs counted then are skipped too, and
 *    the child proves it by stopping on a count the cancel did not cover.
 * (Reuse after the round drained is not misuse: tests/core/test_cancel.c
 * checks that the new jobs run.)
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

static void run_one(fj_job_fn fn, const char *name)
{
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs(&(fj_job){ .fn = fn, .name = name }, 1, &c);
    fj_wait(&c, 0);
}

static void cancel_null_outside(void *a)
{
    (void)a;
    fj_counter_cancel(NULL);
}
static void cancelled_null_outside(void *a)
{
    (void)a;
    (void)fj_counter_cancelled(NULL);
}
static void is_cancelled_null_outside(void *a)
{
    (void)a;
    (void)fj_counter_is_cancelled(NULL);
}

static void cancel_null_job(void *a)
{
    (void)a;
    fj_counter_cancel(NULL);
}
static void cancel_null_root(void *a) { (void)a; run_one(cancel_null_job, "canceller"); }
static void cancel_null_in_job(void *a) { (void)a; as_root(cancel_null_root); }

static void nothing(void *a) { (void)a; }

/* 50 jobs cancelled (skipped, or run where another worker was quicker),
 * then one finish too many by hand. */
static void done_too_many_root(void *a)
{
    (void)a;
    static fj_job jobs[50];
    for (int i = 0; i < 50; i++)
        jobs[i] = (fj_job){ .fn = nothing, .name = "skipped" };
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs(jobs, 50, &c);
    fj_counter_cancel(&c);
    fj_wait(&c, 0);
    CHECK_EQ(fj_counter_value(&c), 0);
    fj_counter_done(&c, 1);
}
static void done_too_many(void *a) { (void)a; as_root(done_too_many_root); }

/* A job counts one by hand, cancels its counter and waits for the count:
 * nothing finishes it, so it is a deadlock, not a skip. */
static fj_counter held;
static void hold_and_wait(void *a)
{
    (void)a;
    fj_counter_init(&held, 0);
    fj_counter_add(&held, 1);
    fj_counter_cancel(&held);
    fj_wait(&held, 0);
}
static void held_root(void *a) { (void)a; run_one(hold_and_wait, "holder"); }
static void held_deadlock(void *a) { (void)a; as_root(held_root); }

/* Counted while the cancelled round is still open: skipped, so the count
 * the job would have finished by hand stays, and the wait for it is a
 * deadlock naming the counter. */
static fj_counter round_c, gate;
static void finish_gate(void *a)
{
    (void)a;
    fj_counter_done(&gate, 1);
}
static void reuse_open_root(void *a)
{
    (void)a;
    fj_counter_init(&round_c, 0);
    fj_counter_init(&gate, 0);
    fj_counter_add(&round_c, 1);   /* the round stays open */
    fj_counter_cancel(&round_c);
    fj_counter_add(&gate, 1);
    fj_run_jobs(&(fj_job){ .fn = finish_gate, .name = "opener" }, 1, &round_c);
    fj_wait(&gate, 0);
}
static void reuse_open(void *a) { (void)a; as_root(reuse_open_root); }

int main(int argc, char **argv)
{
    nworkers = test_workers(argc, argv);
    EXPECT_ABORT_LINE(cancel_null_outside, NULL, "fiberjob: fj_counter_cancel: counter is NULL (outside any job)");
    EXPECT_ABORT_LINE(cancelled_null_outside, NULL,
                      "fiberjob: fj_counter_cancelled: counter is NULL (outside any job)");
    EXPECT_ABORT_LINE(is_cancelled_null_outside, NULL,
                      "fiberjob: fj_counter_is_cancelled: counter is NULL (outside any job)");
    EXPECT_ABORT_MATCH(cancel_null_in_job, NULL, "fiberjob: fj_counter_cancel: counter is NULL",
                       " (in job 'canceller' on worker ");
    EXPECT_ABORT_MATCH(done_too_many, NULL, "fiberjob: fj_counter_done: counter ",
                       " went below zero (0 - 1): more finished than were added (in job 'fj_main root'");
    EXPECT_ABORT_MATCH(held_deadlock, NULL, "  job 'holder' waits on counter ", "(value 1, target 0)");
    EXPECT_ABORT_MATCH(reuse_open, NULL, "  job 'fj_main root' waits on counter ", "(value 1, target 0)");
    return test_finish();
}
