/*
 * fj_wait_until / fj_wait_for (misuse: tests/failure/test_timed_wait_misuse.c).
 *  - a job's wait times out (0) while the counted job is held back, then an
 *    untimed wait on the same counter still returns once it finishes;
 *  - a wait whose count is reached first returns 1;
 *  - a deadline in the past returns at once: 1 if reached, 0 if not;
 *  - the counter is reused after waits that timed out (nothing left on it:
 *    fj_counter_init then works, and plain waits too);
 *  - 48 jobs wait on one counter with deadlines spread around the moment it
 *    is reached, many times: every wait returns, and one that returned 1
 *    saw the value reached (the jobs' writes are visible);
 *  - every worker idle while a job waits with a deadline on a count that
 *    nobody finishes for now: not a deadlock, it times out;
 *  - a job pinned to a worker comes back on that worker after a time-out;
 *  - a thread outside the schedulers: time-out, reached, past deadline.
 */
#include <pthread.h>
#include <time.h>

#include "test.h"

static unsigned nworkers;
#define MS (UINT64_C(1000000))

static fj_counter gate;   /* the held-back job waits for it */

static void held_job(void *arg)
{
    int *done = arg;
    fj_wait(&gate, 0);
    *done = 1;
}

static void quick_job(void *arg)
{
    int *done = arg;
    *done = 1;
}

static void basics_root(void *arg)
{
    (void)arg;
    static int done;
    done = 0;
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_counter_init(&gate, 1);
    fj_run_jobs(&(fj_job){ .fn = held_job, .arg = &done, .name = "held" }, 1, &c);
    /* Timed out: the job is held back by gate. */
    CHECK_EQ(fj_wait_for(&c, 0, 20 * MS), 0);
    CHECK_EQ(fj_counter_value(&c), 1);
    CHECK_EQ(fj_wait_until(&c, 0, fj_now_ns() + 5 * MS), 0);
    /* In the past: at once, not reached. */
    CHECK_EQ(fj_wait_until(&c, 0, 0), 0);
    CHECK_EQ(fj_wait_for(&c, 0, 0), 0);
    /* Target 1 is reached already. */
    CHECK_EQ(fj_wait_for(&c, 1, 0), 1);
    fj_counter_done(&gate, 1);
    fj_wait(&c, 0);   /* untimed, on the same counter: still works */
    CHECK_EQ(done, 1);
    /* Reached first: 1, and the job's write is seen. */
    done = 0;
    fj_run_jobs(&(fj_job){ .fn = quick_job, .arg = &done, .name = "quick" }, 1, &c);
    CHECK_EQ(fj_wait_for(&c, 0, 60000 * MS), 1);
    CHECK_EQ(done, 1);
    /* In the past, reached: 1. */
    CHECK_EQ(fj_wait_until(&c, 0, 0), 1);
    /* Reuse after time-outs: nothing is left on the counter. */
    fj_counter_init(&gate, 1);
    done = 0;
    fj_run_jobs(&(fj_job){ .fn = held_job, .arg = &done, .name = "held" }, 1, &c);
    for (int i = 0; i < 5; i++) {
        CHECK_EQ(fj_wait_for(&c, 0, 1 * MS), 0);
        /* Nothing of the wait is left on the counter's list (the word's
         * low 16 bits are the head of its wait list, include/fiberjob.h). */
        CHECK_EQ(__atomic_load_n(&c.fj__word, __ATOMIC_ACQUIRE) & 0xffff, 0);
    }
    fj_counter_done(&gate, 1);
    fj_wait(&c, 0);
    fj_counter_init(&c, 0);
    CHECK_EQ(fj_wait_for(&c, 0, 1 * MS), 1);
}

/* ------------------------------------------------------------ many waiters */

enum { WAITERS = 48, ROUNDS = 20 };
static fj_counter shared;
static int payload;            /* written by the counted job, read by waiters that return 1 */
static int bad_reads, timeouts, reached;

static void payload_job(void *arg)
{
    (void)arg;
    struct timespec ts = { 0, 2 * 1000 * 1000 };
    nanosleep(&ts, NULL);
    payload = 42;
}

static void timed_waiter(void *arg)
{
    uint64_t wait = (uint64_t)(uintptr_t)arg * MS / 8;   /* 0 to 6 ms */
    if (fj_wait_for(&shared, 0, wait)) {
        if (payload != 42)
            T_ADD(&bad_reads, 1);
        T_ADD(&reached, 1);
    } else {
        T_ADD(&timeouts, 1);
    }
}

static void many_root(void *arg)
{
    (void)arg;
    for (int r = 0; r < ROUNDS; r++) {
        payload = 0;
        fj_counter_init(&shared, 0);
        fj_counter all;
        fj_counter_init(&all, 0);
        fj_run_jobs(&(fj_job){ .fn = payload_job, .name = "payload" }, 1, &shared);
        fj_job jobs[WAITERS];
        for (int i = 0; i < WAITERS; i++)
            jobs[i] = (fj_job){ .fn = timed_waiter, .arg = (void *)(uintptr_t)i, .name = "timed" };
        fj_run_jobs(jobs, WAITERS, &all);
        fj_wait(&all, 0);
        fj_wait(&shared, 0);
    }
}

/* ------------------------------------------------------------ idle, pinned */

static void idle_root(void *arg)
{
    (void)arg;
    fj_counter never;
    fj_counter_init(&never, 0);
    fj_counter_add(&never, 1);   /* a count nobody finishes for now */
    CHECK_EQ(fj_wait_for(&never, 0, 300 * MS), 0);
    fj_counter_done(&never, 1);
}

static int pinned_ok;
static void pinned_waiter(void *arg)
{
    int k = (int)(intptr_t)arg;
    fj_counter never;
    fj_counter_init(&never, 0);
    fj_counter_add(&never, 1);
    CHECK_EQ(fj_worker_index(), k);
    CHECK_EQ(fj_wait_for(&never, 0, 10 * MS), 0);
    if (fj_worker_index() == k)
        T_ADD(&pinned_ok, 1);
    fj_counter_done(&never, 1);
}

static void pinned_root(void *arg)
{
    (void)arg;
    int k = (int)nworkers - 1;
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_job jobs[3];
    for (int i = 0; i < 3; i++)
        jobs[i] = (fj_job){ .fn = pinned_waiter, .arg = (void *)(intptr_t)k, .flags = FJ_JOB_ON_WORKER((unsigned)k),
                            .name = "pinned timed" };
    fj_run_jobs(jobs, 3, &c);
    fj_wait(&c, 0);
    CHECK_EQ(pinned_ok, 3);
}

/* ------------------------------------------------------------ outside */

static void outside_checks(fj_scheduler *s)
{
    (void)s;
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_counter_init(&gate, 1);
    static int done;
    done = 0;
    fj_run_jobs_on(s, &(fj_job){ .fn = held_job, .arg = &done, .name = "held" }, 1, &c);
    CHECK_EQ(fj_wait_for(&c, 0, 20 * MS), 0);
    CHECK_EQ(fj_wait_until(&c, 0, 0), 0);
    fj_counter_done(&gate, 1);
    CHECK_EQ(fj_wait_for(&c, 0, 60000 * MS), 1);
    CHECK_EQ(done, 1);
    CHECK_EQ(fj_wait_until(&c, 0, 0), 1);
    fj_counter_init(&c, 0);   /* nothing left on it */
}

/* The outside thread runs while fj_main does (with one worker, only the
 * thread in fj_main runs jobs). */
static fj_scheduler *outside_sched;
static fj_counter outside_done;
static void *outside_thread(void *arg)
{
    (void)arg;
    outside_checks(outside_sched);
    fj_counter_done(&outside_done, 1);
    return NULL;
}

static void outside_root(void *arg)
{
    (void)arg;
    fj_counter_init(&outside_done, 0);
    fj_counter_add_outside(&outside_done, 1);
    pthread_t th;
    CHECK(pthread_create(&th, NULL, outside_thread, NULL) == 0);
    fj_wait(&outside_done, 0);
    pthread_join(th, NULL);
}

static void run(fj_config *cfg, void (*root)(void *))
{
    fj_scheduler *s = fj_create(cfg);
    CHECK(s);
    CHECK_EQ(fj_main(s, root, NULL), 0);
    fj_destroy(s);
}

int main(int argc, char **argv)
{
    fj_config cfg = test_config(argc, argv);
    nworkers = cfg.workers;
    for (int i = 0; i < 3; i++)
        run(&cfg, basics_root);
    run(&cfg, many_root);
    CHECK_EQ(bad_reads, 0);
    CHECK_EQ(reached + timeouts, WAITERS * ROUNDS);
    run(&cfg, idle_root);
    run(&cfg, pinned_root);
    outside_sched = fj_create(&cfg);
    CHECK(outside_sched);
    CHECK_EQ(fj_main(outside_sched, outside_root, NULL), 0);
    fj_destroy(outside_sched);
    fprintf(stderr, "timed waits: %d reached, %d timed out\n", reached, timeouts);
    return test_finish();
}
