/* Failures that must stop the process with a precise one-line report: stack
 * overflow, deadlocks, counters finished too often, misuse of the calls. Each
 * runs in a child process. */
#include <pthread.h>
#include <stdint.h>

#include "test.h"

static unsigned g_workers;

static fj_scheduler *make(unsigned small_fibers)
{
    fj_config c = fj_config_default();
    c.workers = g_workers;
    if (small_fibers) {
        c.small_fibers = small_fibers;
        c.large_fibers = 1;
    }
    fj_scheduler *s = fj_create(&c);
    if (!s)
        abort();
    return s;
}

/* --- stack overflow */
static void overflowing_job(void *arg) { (void)arg; test_recurse_forever(NULL, 0); }
static void overflow_root(void *arg)
{
    /* Not counted on the counter we wait on, so it is not run inline on the
     * root's (large) stack but on a fiber of its own. */
    fj_job j = { .fn = overflowing_job, .name = "overflowing_job", .flags = (unsigned)(uintptr_t)arg };
    fj_counter never;
    fj_counter_init(&never, 1);
    fj_run_jobs(&j, 1, NULL);
    fj_wait(&never, 0);
}
static void child_overflow_small(void *a) { (void)a; fj_main(make(0), overflow_root, (void *)0); }
static void child_overflow_large(void *a)
{
    (void)a;
    fj_main(make(0), overflow_root, (void *)(uintptr_t)FJ_JOB_LARGE_STACK);
}

/* A fault outside any guard page still reaches the default action. */
static int *volatile g_bad_pointer = (int *)(uintptr_t)8;
static void null_job(void *arg) { (void)arg; *g_bad_pointer = 1; }
static void null_root(void *arg)
{
    (void)arg;
    fj_job j = { .fn = null_job, .name = "null_job" };
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs(&j, 1, &c);
    fj_wait(&c, 0);
}
static void child_null(void *a) { (void)a; fj_main(make(0), null_root, NULL); }

/* --- deadlock: the root waits on a counter that nothing will finish */
static void deadlock_root(void *arg)
{
    (void)arg;
    fj_counter c;
    fj_counter_init(&c, 1);
    fj_wait(&c, 0);
}
static void child_deadlock(void *a) { (void)a; fj_main(make(0), deadlock_root, NULL); }

/* --- deadlock after a nested wait: the root waits on c1 (one count nobody
 * finishes, job 'nested_waiter' and large-stack job 'stuck_large'). With
 * one worker the root runs 'nested_waiter' nested on its own stack, and that
 * job waits on a counter of its own, c2 (its child runs nested too); then
 * the root calls 'stuck_large' on a large fiber (a large job's whole class
 * does not fit under it), which waits for ever. The report must name c1 for
 * the calling root, not the nested job's c2, dead by then (it was on that
 * job's frame): the root's wait_counter is its own again after a nested job
 * (run_job). */
static void nested_leaf(void *arg) { (void)arg; }
static void nested_waiter_job(void *arg)
{
    (void)arg;
    fj_counter c2;
    fj_counter_init(&c2, 0);
    fj_job k = { .fn = nested_leaf, .name = "nested_leaf" };
    fj_run_jobs(&k, 1, &c2);
    fj_wait(&c2, 0);
}
static void stuck_large_job(void *arg)
{
    (void)arg;
    fj_counter never;
    fj_counter_init(&never, 1);
    fj_wait(&never, 0);
}
static void nested_deadlock_root(void *arg)
{
    (void)arg;
    fj_counter c1;
    fj_counter_init(&c1, 1);
    fprintf(stderr, "c1 is " FJ_TEST_PTR "\n", (void *)&c1);
    /* Pushed first, taken last (the root takes its own jobs newest first). */
    fj_job big = { .fn = stuck_large_job, .name = "stuck_large", .flags = FJ_JOB_LARGE_STACK };
    fj_run_jobs(&big, 1, &c1);
    fj_job j = { .fn = nested_waiter_job, .name = "nested_waiter" };
    fj_run_jobs(&j, 1, &c1);
    fj_wait(&c1, 0);
}
static void child_nested_deadlock(void *a)
{
    (void)a;
    fj_config c = fj_config_default();
    c.workers = 1;
    fj_scheduler *s = fj_create(&c);
    if (!s)
        abort();
    fj_main(s, nested_deadlock_root, NULL);
}

/* --- deadlock with a full pool: every job waits for a counter only the last
 * job would finish, and there are more jobs than fibers */
static fj_counter g_gate;
static void gate_waiter(void *arg) { (void)arg; fj_wait(&g_gate, 0); }
static void pool_root(void *arg)
{
    (void)arg;
    fj_counter_init(&g_gate, 1);
    fj_job jobs[64];
    for (int i = 0; i < 64; i++)
        jobs[i] = (fj_job){ .fn = gate_waiter, .name = "gate_waiter" };
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs(jobs, 64, &c);
    fj_wait(&c, 0);
}
static void child_pool_deadlock(void *a) { (void)a; fj_main(make(g_workers + 3), pool_root, NULL); }

/* The deadlock hook may say "keep waiting" and a hand-managed count finished
 * from outside then ends the wait. */
static fj_counter g_hand;
static int hook_calls;
static int keep_waiting(const fj_deadlock_info *info, void *user)
{
    (void)user;
    if (!strstr(info->report, "fj_main root"))
        abort();
    __atomic_fetch_add(&hook_calls, 1, __ATOMIC_RELAXED);
    return 1;
}
static void *finisher(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&hook_calls, __ATOMIC_RELAXED))
        usleep(1000);
    fj_counter_done(&g_hand, 1);
    return NULL;
}
static void hand_root(void *arg)
{
    (void)arg;
    fj_wait(&g_hand, 0);
}

/* --- counters */
static void done_too_often(void *arg)
{
    (void)arg;
    fj_counter c;
    fj_counter_init(&c, 1);
    fj_counter_done(&c, 2);
}
static void done_root(void *arg)
{
    (void)arg;
    fj_job j = { .fn = done_too_often, .name = "done_too_often" };
    fj_run_jobs(&j, 1, NULL);
}
static void child_done_too_often(void *a)
{
    (void)a;
    fj_scheduler *s = make(0);
    fj_main(s, done_root, NULL);
    fj_destroy(s);
}
static void child_done_outside(void *a)
{
    (void)a;
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_counter_done(&c, 1);
}

int main(int argc, char **argv)
{
    g_workers = test_workers(argc, argv);
    const child_result *r;

    r = EXPECT_ABORT_CONTAINS(child_overflow_small, NULL, "fiberjob: stack overflow in job 'overflowing_job' on worker ");
    CHECK(strstr(r->err, "all of its 64 KiB small stack"));
    CHECK(strstr(r->err, "run it with FJ_JOB_LARGE_STACK (512 KiB) or raise fj_config.small_stack_size"));

    r = EXPECT_ABORT_CONTAINS(child_overflow_large, NULL, "fiberjob: stack overflow in job 'overflowing_job'");
    CHECK(strstr(r->err, "all of its 512 KiB large stack"));

    static child_result null_child;
    run_in_child(child_null, NULL, 60, &null_child);
    /* Passed on to the previous handler: the default action, or a sanitizer's. */
    CHECK(child_signal(&null_child) == SIGSEGV ||
          (child_exit_code(&null_child) > 0 && strstr(null_child.err, "Sanitizer")));
    CHECK(!strstr(null_child.err, "stack overflow"));

    r = EXPECT_ABORT_CONTAINS(child_deadlock, NULL, "fiberjob: deadlock: every worker is idle and nothing is queued, and 1 jobs wait");
    CHECK(strstr(r->err, "job 'fj_main root' waits on counter"));
    CHECK(strstr(r->err, "(value 1, target 0)"));

    r = EXPECT_ABORT_CONTAINS(child_nested_deadlock, NULL, "fiberjob: deadlock: every worker is idle and nothing is queued, and 2 jobs wait");
    {
        char want[128];
        const char *at = strstr(r->err, "c1 is ");
        CHECK(at);
        if (at) {
            void *c1 = NULL;
            CHECK_EQ(sscanf(at, "c1 is " FJ_TEST_PTR, &c1), 1);
            snprintf(want, sizeof want,
                     "job 'fj_main root' waits on counter " FJ_TEST_PTR " (value 2, target 0) [running one of its jobs", c1);
            CHECK(strstr(r->err, want));
        }
    }

    r = EXPECT_ABORT_CONTAINS(child_pool_deadlock, NULL, "fiberjob: deadlock: ");
    CHECK(strstr(r->err, "job 'gate_waiter' waits on counter"));

    r = EXPECT_ABORT_CONTAINS(child_done_too_often, NULL, "fiberjob: fj_counter_done: counter ");
    CHECK(strstr(r->err, "went below zero (1 - 2)") && strstr(r->err, "(in job 'done_too_often' on worker "));

    EXPECT_ABORT_CONTAINS(child_done_outside, NULL, "fiberjob: fj_counter_done: counter ");

    /* In this process: the hook keeps the scheduler waiting, an outside thread
     * finishes the count, and fj_main returns. */
    fj_config c = fj_config_default();
    c.workers = g_workers;
    c.deadlock_hook = keep_waiting;
    fj_scheduler *s = fj_create(&c);
    CHECK(s);
    fj_counter_init(&g_hand, 1);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, finisher, NULL) == 0);
    CHECK_EQ(fj_main(s, hand_root, NULL), 0);
    pthread_join(t, NULL);
    /* Read after fj_destroy: until the workers are joined, one still judging
     * a deadlock (in its grace period when fj_main returned) may call the
     * hook again. */
    fj_destroy(s);
    CHECK(hook_calls >= 1);
    printf("ok\n");
    return 0;
}
