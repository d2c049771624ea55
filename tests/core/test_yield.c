/*
 * fj_yield. On one worker (the count argument is ignored for the ordering
 * checks): a job that yields while other jobs are queued resumes only after
 * they ran; it resumes on its own stack with its locals intact; yielding with
 * nothing else ready returns at once. With the argument's worker count: many
 * jobs yielding many times all complete. Yielding outside a job is misuse:
 * the process stops with a message naming fj_yield.
 */
#include "test.h"

static int ran;
static int order[64];

static void queued(void *arg)
{
    int k = T_ADD(&ran, 1);
    if (k < 64)
        order[k] = (int)(intptr_t)arg;
}

static void yield_root(void *arg)
{
    (void)arg;
    /* Nothing else ready: carry on at once (and the root does not lose its place). */
    for (int i = 0; i < 100; i++)
        fj_yield();
    CHECK_EQ(ran, 0);

    /* Eight queued jobs run before the yielding job resumes. */
    fj_job jobs[8];
    for (int i = 0; i < 8; i++)
        jobs[i] = (fj_job){ .fn = queued, .arg = (void *)(intptr_t)i, .name = "queued" };
    fj_run_jobs(jobs, 8, NULL);
    volatile int local = 1234;
    char stack_marker;
    char *where = &stack_marker;
    CHECK_EQ(ran, 0);
    fj_yield();
    CHECK_EQ(ran, 8);
    CHECK_EQ(local, 1234);
    CHECK(where == &stack_marker);

    /* Yield from a child that other children are queued behind. */
    ran = 0;
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs(jobs, 8, &c);
    fj_wait(&c, 0);
    CHECK_EQ(ran, 8);
}

/* A job that yields in the middle: everything queued after it runs first. */
static int second_half[8];

static void yielder(void *arg)
{
    int id = (int)(intptr_t)arg;
    T_ADD(&ran, 1);
    fj_yield();
    second_half[id] = T_LOAD(&ran);   /* how many had started when this resumed */
}

static void interleave_root(void *arg)
{
    (void)arg;
    ran = 0;
    fj_job jobs[8];
    for (int i = 0; i < 8; i++)
        jobs[i] = (fj_job){ .fn = yielder, .arg = (void *)(intptr_t)i, .name = "yielder" };
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs(jobs, 8, &c);
    fj_wait(&c, 0);
    /* Each yielder went behind the others, so when any resumed, all had started. */
    for (int i = 0; i < 8; i++)
        CHECK_EQ(second_half[i], 8);
}

/* Many jobs yielding many times, on the argument's worker count. */
static int spins_done;

static void spinner(void *arg)
{
    (void)arg;
    for (int i = 0; i < 50; i++)
        fj_yield();
    T_ADD(&spins_done, 1);
}

static void spin_root(void *arg)
{
    (void)arg;
    static fj_job jobs[500];
    for (int i = 0; i < 500; i++)
        jobs[i] = (fj_job){ .fn = spinner, .name = "spinner" };
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs(jobs, 500, &c);
    fj_wait(&c, 0);
    CHECK_EQ(spins_done, 500);
}

static void yield_outside(void *arg)
{
    (void)arg;
    fj_yield();
}

static void yield_outside_with_scheduler(void *arg)
{
    (void)arg;
    fj_scheduler *s = fj_create(NULL);
    CHECK(s);
    fj_yield();
}

int main(int argc, char **argv)
{
    EXPECT_ABORT_LINE(yield_outside, NULL, "fiberjob: fj_yield: called outside a job (outside any job)");
    EXPECT_ABORT_LINE(yield_outside_with_scheduler, NULL,
                      "fiberjob: fj_yield: called outside a job (outside any job)");
    fj_config one = fj_config_default();
    one.workers = 1;
    run_root(&one, yield_root, NULL);
    run_root(&one, interleave_root, NULL);
    fj_config cfg = test_config(argc, argv);
    run_root(&cfg, spin_root, NULL);
    return test_finish();
}
