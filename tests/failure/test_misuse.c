/*
 * Misuse of the API. Programming errors stop the process with one line on
 * stderr that names the call and where it happened:
 *     fiberjob: <call>: <message> (in job '<name>' on worker N)
 *     fiberjob: <call>: <message> (outside any job)
 * Each bad call runs in a child process (run_in_child in test.h), which must
 * die of SIGABRT with exactly that line. Calls made by the root job before it
 * waits run on worker 0 (the fj_main thread), so those lines are exact too;
 * lines that hold an address are matched by prefix and parts.
 *
 * Failures that are not programming errors come back as codes: fj_create
 * returns NULL with fj_last_error() and its fj_strerror() text for a bad
 * configuration, and fj_main returns FJ_EINVAL for a NULL function.
 */
#include <pthread.h>
#include <sched.h>

#include "test.h"

static unsigned nworkers;

static void noop(void *arg) { (void)arg; }

/* Run fn as the root job of a fresh scheduler (in the child). */
static void as_root(fj_job_fn fn)
{
    fj_config cfg = fj_config_default();
    cfg.workers = nworkers;
    fj_scheduler *s = fj_create(&cfg);
    CHECK(s);
    fj_main(s, fn, NULL);
    fj_destroy(s);
}

#define ROOT_SUFFIX " (in job 'fj_main root' on worker 0)"
#define OUTSIDE_SUFFIX " (outside any job)"

/* ------------------------------------------------------------ outside any job */

static void yield_outside(void *a) { (void)a; fj_yield(); }
static void panic_outside(void *a) { (void)a; fj_panic("disk on fire %d", 42); }

static void wait_no_scheduler(void *a)
{
    (void)a;
    fj_counter c;
    fj_counter_init(&c, 1);
    fj_wait(&c, 0);
}

static void run_jobs_no_scheduler(void *a)
{
    (void)a;
    fj_job j = { .fn = noop, .name = "lonely" };
    fj_run_jobs(&j, 1, NULL);
}

static void null_fn_outside(void *a)
{
    (void)a;
    fj_job j = { .fn = NULL };
    fj_run_jobs(&j, 1, NULL);
}

static void null_jobs_outside(void *a)
{
    (void)a;
    fj_run_jobs(NULL, 3, NULL);
}

static void null_fn_run_jobs_on(void *a)
{
    (void)a;
    fj_scheduler *s = fj_create(NULL);
    CHECK(s);
    fj_job j[2] = { { .fn = noop, .name = "fine" }, { .fn = NULL, .name = "broken" } };
    fj_run_jobs_on(s, j, 2, NULL);
}

static void run_jobs_on_null_sched(void *a)
{
    (void)a;
    fj_job j = { .fn = noop };
    fj_run_jobs_on(NULL, &j, 1, NULL);
}

static void counter_init_negative(void *a)
{
    (void)a;
    fj_counter c;
    fj_counter_init(&c, -1);
}

static void counter_init_too_big(void *a)
{
    (void)a;
    fj_counter c;
    fj_counter_init(&c, (int64_t)FJ_COUNTER_MAX + 1);
}

static void counter_init_null(void *a) { (void)a; fj_counter_init(NULL, 0); }
static void counter_value_null(void *a) { (void)a; (void)fj_counter_value(NULL); }

static void counter_add_negative(void *a)
{
    (void)a;
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_counter_add(&c, -2);
}

static void counter_done_below_zero_outside(void *a)
{
    (void)a;
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_counter_add(&c, 1);
    fj_counter_done(&c, 2);
}

static void counter_add_overflow(void *a)
{
    (void)a;
    fj_counter c;
    fj_counter_init(&c, FJ_COUNTER_MAX);
    fj_counter_add(&c, 1);
}

static void wait_bad_target_outside(void *a)
{
    (void)a;
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_wait(&c, FJ_WAIT_TARGET_MAX + 1);
}

static void stats_null(void *a) { (void)a; fj_worker_stats st; fj_stats(NULL, &st, 1); }
static void worker_count_null(void *a) { (void)a; (void)fj_worker_count(NULL); }

/* ------------------------------------------------------------ inside the root job */

static void null_fn_in_job_root(void *a)
{
    (void)a;
    fj_job j[2] = { { .fn = noop, .name = "fine" }, { .fn = NULL, .name = "bad" } };
    fj_run_jobs(j, 2, NULL);
}
static void null_fn_in_job(void *a) { (void)a; as_root(null_fn_in_job_root); }

static void bad_priority_root(void *a)
{
    (void)a;
    fj_job j = { .fn = noop, .name = "p", .priority = (fj_priority)7 };
    fj_run_jobs(&j, 1, NULL);
}
static void bad_priority(void *a) { (void)a; as_root(bad_priority_root); }

/* A few jobs (fj_run_jobs' path for fewer than a batch): a bad one after good
 * ones is still named. */
static void few_bad_priority_root(void *a)
{
    (void)a;
    fj_job j[3] = { { .fn = noop, .name = "a" }, { .fn = noop, .name = "b" },
                    { .fn = noop, .name = "p", .priority = (fj_priority)7 } };
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs(j, 3, &c);
    fj_wait(&c, 0);
}
static void few_bad_priority(void *a) { (void)a; as_root(few_bad_priority_root); }

static void few_bad_flags_root(void *a)
{
    (void)a;
    fj_job j[4] = { { .fn = noop, .name = "a" }, { .fn = noop, .name = "b" }, { .fn = noop, .name = "c" },
                    { .fn = noop, .name = "flagged", .flags = 0x10000 } };
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs(j, 4, &c);
    fj_wait(&c, 0);
}
static void few_bad_flags(void *a) { (void)a; as_root(few_bad_flags_root); }

/* Many jobs (fj_run_jobs' batch path): jobs equal to the first in function
 * and name are checked as they are copied into batches (batch.c,
 * fj__push_uniform); one that differs in anything else after a batch's worth
 * of them is still named, whatever is wrong with it. */
static int many_bad_kind;
static void many_bad_root(void *a)
{
    (void)a;
    enum { N = 41 };
    static fj_job j[N];
    for (int i = 0; i < N; i++)
        j[i] = (fj_job){ .fn = noop, .name = "u" };
    switch (many_bad_kind) {
    case 0: j[N - 1].fn = NULL; break;
    case 1: j[N - 1].priority = (fj_priority)7; break;
    default: j[N - 1].flags = 0x10000; break;
    }
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs(j, N, &c);
    fj_wait(&c, 0);
}
static void many_bad_fn(void *a) { (void)a; many_bad_kind = 0; as_root(many_bad_root); }
static void many_bad_priority(void *a) { (void)a; many_bad_kind = 1; as_root(many_bad_root); }
static void many_bad_flags(void *a) { (void)a; many_bad_kind = 2; as_root(many_bad_root); }

static void wait_target_high_root(void *a)
{
    (void)a;
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_wait(&c, FJ_WAIT_TARGET_MAX + 1);
}
static void wait_target_high(void *a) { (void)a; as_root(wait_target_high_root); }

static void wait_target_negative_root(void *a)
{
    (void)a;
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_wait(&c, -1);
}
static void wait_target_negative(void *a) { (void)a; as_root(wait_target_negative_root); }

static void wait_null_root(void *a) { (void)a; fj_wait(NULL, 0); }
static void wait_null(void *a) { (void)a; as_root(wait_null_root); }

static void nested_main_root(void *a)
{
    (void)a;
    fj_scheduler *other = fj_create(NULL);
    fj_main(other, noop, NULL);
}
static void nested_main(void *a) { (void)a; as_root(nested_main_root); }

static void destroy_in_job_root(void *a)
{
    (void)a;
    fj_destroy((fj_scheduler *)(uintptr_t)1);   /* never dereferenced: refused first */
}
static void destroy_in_job(void *a) { (void)a; as_root(destroy_in_job_root); }

static void counter_init_in_job_root(void *a)
{
    (void)a;
    fj_counter c;
    fj_counter_init(&c, -5);
}
static void counter_init_in_job(void *a) { (void)a; as_root(counter_init_in_job_root); }

/* A counter going below zero through the public API, three ways. */
static void done_below_zero_root(void *a)
{
    (void)a;
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_counter_done(&c, 1);
}
static void done_below_zero_in_job(void *a) { (void)a; as_root(done_below_zero_root); }

static int victim_go;
static void victim(void *a)
{
    (void)a;
    while (!T_LOAD(&victim_go))
        fj_yield();
}

static void reinit_root(void *a)
{
    (void)a;
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_job j = { .fn = victim, .name = "victim" };
    fj_run_jobs(&j, 1, &c);
    /* Misuse: re-initialise a counter that still counts a running job. When
     * the job finishes, the counter goes from 0 to -1. */
    fj_counter_init(&c, 0);
    T_STORE(&victim_go, 1);
    for (;;)
        fj_yield();
}
static void reinit_below_zero(void *a) { (void)a; as_root(reinit_root); }

static void overflow_root(void *a)
{
    (void)a;
    fj_counter c;
    fj_counter_init(&c, FJ_COUNTER_MAX);
    fj_job j = { .fn = noop, .name = "one-too-many" };
    fj_run_jobs(&j, 1, &c);
}
static void run_jobs_overflow(void *a) { (void)a; as_root(overflow_root); }

/* fj_destroy while fj_main runs on another thread. */
static int main_started;
static void forever_root(void *a)
{
    (void)a;
    T_STORE(&main_started, 1);
    for (;;)
        fj_yield();
}
static void *main_thread(void *s)
{
    fj_main(s, forever_root, NULL);
    return NULL;
}
static void destroy_while_main(void *a)
{
    (void)a;
    fj_config cfg = fj_config_default();
    cfg.workers = nworkers;
    fj_scheduler *s = fj_create(&cfg);
    CHECK(s);
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, main_thread, s), 0);
    while (!T_LOAD(&main_started))
        sched_yield();
    fj_destroy(s);
}

/* ------------------------------------------------------------ bad configuration */

static void expect_create_fails(const char *what, const fj_config *cfg, int code)
{
    fj_scheduler *s = fj_create(cfg);
    if (s) {
        FAIL_SOFT("fj_create with %s succeeded, expected %s", what, fj_strerror(code));
        fj_destroy(s);
        return;
    }
    if (fj_last_error() != code)
        FAIL_SOFT("fj_create with %s: fj_last_error() = %d (%s), expected %d (%s)", what, fj_last_error(),
                  fj_strerror(fj_last_error()), code, fj_strerror(code));
}

static int other_thread_error = -100;
static void *read_last_error(void *a)
{
    (void)a;
    other_thread_error = fj_last_error();
    return NULL;
}

static void test_bad_config(void)
{
    CHECK_STREQ(fj_strerror(FJ_EINVAL), "invalid argument or configuration value");
    CHECK_STREQ(fj_strerror(FJ_EAFFINITY), "a CPU is outside the allowed set, or pinning failed");
    CHECK_STREQ(fj_strerror(FJ_OK), "success");

    fj_config base = fj_config_default();
    base.workers = nworkers;
    fj_config c;

    c = base;
    c.small_fibers = 0;
    expect_create_fails("small_fibers = 0", &c, FJ_EINVAL);
    c = base;
    c.large_fibers = 0;
    expect_create_fails("large_fibers = 0", &c, FJ_EINVAL);
    c = base;
    c.small_stack_size = 4096;
    expect_create_fails("small_stack_size = 4096", &c, FJ_EINVAL);
    c = base;
    c.large_stack_size = 100;
    expect_create_fails("large_stack_size = 100", &c, FJ_EINVAL);
    c = base;
    c.small_stack_size = 0;
    expect_create_fails("small_stack_size = 0", &c, FJ_EINVAL);
    c = base;
    c.workers = 4;
    c.small_fibers = 1;
    c.large_fibers = 1;
    expect_create_fails("fewer fibers than workers", &c, FJ_EINVAL);
    c = base;
    c.workers = 100000;
    expect_create_fails("workers = 100000", &c, FJ_ELIMIT);

    /* CPUs. */
    cpu_set_t set;
    CPU_ZERO(&set);
    CHECK_EQ(sched_getaffinity(0, sizeof set, &set), 0);
    int outside_cpu = -1;
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
        if (!CPU_ISSET(cpu, &set)) {
            outside_cpu = cpu;
            break;
        }
    int first_allowed = 0;
    while (!CPU_ISSET(first_allowed, &set))
        first_allowed++;
    if (outside_cpu >= 0) {
        int list[2] = { first_allowed, outside_cpu };
        c = base;
        c.workers = 2;
        c.cpus = list;
        c.cpu_count = 2;
        expect_create_fails("a CPU outside the allowed set", &c, FJ_EAFFINITY);
    }
    int negative[1] = { -1 };
    c = base;
    c.cpus = negative;
    c.cpu_count = 1;
    expect_create_fails("CPU -1", &c, FJ_EAFFINITY);
    int huge[1] = { 1 << 20 };
    c = base;
    c.cpus = huge;
    c.cpu_count = 1;
    expect_create_fails("CPU 1048576", &c, FJ_EAFFINITY);
    int good[1] = { first_allowed };
    c = base;
    c.cpus = good;
    c.cpu_count = 0;
    expect_create_fails("cpus non-NULL with cpu_count 0", &c, FJ_EINVAL);
    c = base;
    c.cpus = NULL;
    c.cpu_count = 2;
    expect_create_fails("cpus NULL with cpu_count 2", &c, FJ_EINVAL);

    /* The error is per thread, and a success clears it. */
    c = base;
    c.small_fibers = 0;
    CHECK(fj_create(&c) == NULL);
    CHECK_EQ(fj_last_error(), FJ_EINVAL);
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, read_last_error, NULL), 0);
    CHECK_EQ(pthread_join(t, NULL), 0);
    CHECK_EQ(other_thread_error, 0);
    fj_scheduler *s = fj_create(&base);
    CHECK(s);
    CHECK_EQ(fj_last_error(), 0);

    /* fj_main with a NULL function or scheduler. */
    CHECK_EQ(fj_main(s, NULL, NULL), FJ_EINVAL);
    CHECK_EQ(fj_main(NULL, noop, NULL), FJ_EINVAL);
    CHECK_EQ(fj_main(s, noop, NULL), 0);   /* and the scheduler still works */
    fj_destroy(s);
}

int main(int argc, char **argv)
{
    nworkers = test_workers(argc, argv);

    /* Outside any job. */
    EXPECT_ABORT_LINE(yield_outside, NULL, "fiberjob: fj_yield: called outside a job" OUTSIDE_SUFFIX);
    EXPECT_ABORT_LINE(panic_outside, NULL, "fiberjob: fj_panic: called outside a job: disk on fire 42" OUTSIDE_SUFFIX);
    EXPECT_ABORT_LINE(wait_no_scheduler, NULL,
                      "fiberjob: fj_wait: called outside a job with no scheduler running: nothing could ever "
                      "finish the counter (value 1, target 0)" OUTSIDE_SUFFIX);
    EXPECT_ABORT_LINE(run_jobs_no_scheduler, NULL,
                      "fiberjob: fj_run_jobs: called outside a job and no scheduler exists" OUTSIDE_SUFFIX);
    EXPECT_ABORT_LINE(null_fn_outside, NULL,
                      "fiberjob: fj_run_jobs: job 0 of 1 ('(unnamed)') has a NULL function" OUTSIDE_SUFFIX);
    EXPECT_ABORT_LINE(null_jobs_outside, NULL, "fiberjob: fj_run_jobs: jobs is NULL with count 3" OUTSIDE_SUFFIX);
    EXPECT_ABORT_LINE(null_fn_run_jobs_on, NULL,
                      "fiberjob: fj_run_jobs_on: job 1 of 2 ('broken') has a NULL function" OUTSIDE_SUFFIX);
    EXPECT_ABORT_LINE(run_jobs_on_null_sched, NULL, "fiberjob: fj_run_jobs_on: scheduler is NULL" OUTSIDE_SUFFIX);
    EXPECT_ABORT_LINE(counter_init_negative, NULL,
                      "fiberjob: fj_counter_init: value -1 is outside 0..2147483647" OUTSIDE_SUFFIX);
    EXPECT_ABORT_LINE(counter_init_too_big, NULL,
                      "fiberjob: fj_counter_init: value 2147483648 is outside 0..2147483647" OUTSIDE_SUFFIX);
    EXPECT_ABORT_LINE(counter_init_null, NULL, "fiberjob: fj_counter_init: counter is NULL" OUTSIDE_SUFFIX);
    EXPECT_ABORT_LINE(counter_value_null, NULL, "fiberjob: fj_counter_value: counter is NULL" OUTSIDE_SUFFIX);
    EXPECT_ABORT_LINE(counter_add_negative, NULL,
                      "fiberjob: fj_counter_add: n = -2 is outside 0..2147483647" OUTSIDE_SUFFIX);
    EXPECT_ABORT_MATCH(counter_done_below_zero_outside, NULL, "fiberjob: fj_counter_done: counter 0x",
                       "went below zero (1 - 2): more finished than were added" OUTSIDE_SUFFIX);
    EXPECT_ABORT_MATCH(counter_add_overflow, NULL, "fiberjob: fj_counter_add: counter 0x",
                       "overflows (2147483647 + 1 > 2147483647)" OUTSIDE_SUFFIX);
    EXPECT_ABORT_LINE(wait_bad_target_outside, NULL,
                      "fiberjob: fj_wait: target 65536 is outside 0..65535" OUTSIDE_SUFFIX);
    EXPECT_ABORT_LINE(stats_null, NULL, "fiberjob: fj_stats: scheduler is NULL" OUTSIDE_SUFFIX);
    EXPECT_ABORT_LINE(worker_count_null, NULL, "fiberjob: fj_worker_count: scheduler is NULL" OUTSIDE_SUFFIX);
    EXPECT_ABORT_LINE(destroy_while_main, NULL,
                      "fiberjob: fj_destroy: called while fj_main runs on another thread" OUTSIDE_SUFFIX);

    /* Inside the root job (worker 0). */
    EXPECT_ABORT_LINE(null_fn_in_job, NULL, "fiberjob: fj_run_jobs: job 1 of 2 ('bad') has a NULL function" ROOT_SUFFIX);
    EXPECT_ABORT_LINE(bad_priority, NULL,
                      "fiberjob: fj_run_jobs: job 0 ('p') has priority 7, not an fj_priority" ROOT_SUFFIX);
    EXPECT_ABORT_LINE(few_bad_priority, NULL,
                      "fiberjob: fj_run_jobs: job 2 ('p') has priority 7, not an fj_priority" ROOT_SUFFIX);
    EXPECT_ABORT_LINE(few_bad_flags, NULL,
                      "fiberjob: fj_run_jobs: job 3 of 4 ('flagged') has undefined flag bits 0x10000 (only "
                      "FJ_JOB_LARGE_STACK, FJ_JOB_SHALLOW and FJ_JOB_ON_WORKER(n) are defined)" ROOT_SUFFIX);
    EXPECT_ABORT_LINE(many_bad_fn, NULL, "fiberjob: fj_run_jobs: job 40 of 41 ('u') has a NULL function" ROOT_SUFFIX);
    EXPECT_ABORT_LINE(many_bad_priority, NULL,
                      "fiberjob: fj_run_jobs: job 40 ('u') has priority 7, not an fj_priority" ROOT_SUFFIX);
    EXPECT_ABORT_LINE(many_bad_flags, NULL,
                      "fiberjob: fj_run_jobs: job 40 of 41 ('u') has undefined flag bits 0x10000 (only "
                      "FJ_JOB_LARGE_STACK, FJ_JOB_SHALLOW and FJ_JOB_ON_WORKER(n) are defined)" ROOT_SUFFIX);
    EXPECT_ABORT_LINE(wait_target_high, NULL, "fiberjob: fj_wait: target 65536 is outside 0..65535" ROOT_SUFFIX);
    EXPECT_ABORT_LINE(wait_target_negative, NULL, "fiberjob: fj_wait: target -1 is outside 0..65535" ROOT_SUFFIX);
    EXPECT_ABORT_LINE(wait_null, NULL, "fiberjob: fj_wait: counter is NULL" ROOT_SUFFIX);
    EXPECT_ABORT_LINE(nested_main, NULL,
                      "fiberjob: fj_main: called from inside a job: fj_main does not nest; use fj_run_jobs and "
                      "fj_wait" ROOT_SUFFIX);
    EXPECT_ABORT_LINE(destroy_in_job, NULL, "fiberjob: fj_destroy: called from inside a job (or between fj_enter and fj_leave)" ROOT_SUFFIX);
    EXPECT_ABORT_LINE(counter_init_in_job, NULL,
                      "fiberjob: fj_counter_init: value -5 is outside 0..2147483647" ROOT_SUFFIX);
    EXPECT_ABORT_MATCH(run_jobs_overflow, NULL, "fiberjob: fj_run_jobs: counter 0x",
                       "overflows (2147483647 + 1 > 2147483647)" ROOT_SUFFIX);

    /* A counter going below zero names the call (fj_counter_done) and the job. */
    {
        static child_result r;
        run_in_child(done_below_zero_in_job, NULL, 20, &r);
        static const char *const parts[] = { "below zero", ROOT_SUFFIX, NULL };
        if (!(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGABRT &&
              has_line_with(r.err, "fiberjob: fj_counter_done: ", parts)))
            FAIL_SOFT("fj_counter_done taking a counter below zero in a job: expected SIGABRT and a line "
                      "'fiberjob: fj_counter_done: ... below zero ..." ROOT_SUFFIX "'; child stderr:\n%s", r.err);
    }
    /* ... and when a job finishes on a counter that is already at zero, the
     * line names that job. */
    {
        static child_result r;
        run_in_child(reinit_below_zero, NULL, 20, &r);
        static const char *const parts[] = { "below zero", "'victim'", NULL };
        if (!(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGABRT && has_line_with(r.err, "fiberjob: ", parts)))
            FAIL_SOFT("a job 'victim' finishing on a counter at zero: expected SIGABRT and a line naming "
                      "'victim' and 'below zero'; child stderr:\n%s", r.err);
    }

    test_bad_config();
    return test_finish();
}
