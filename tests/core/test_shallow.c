/*
 * FJ_JOB_SHALLOW: a job that declares its own frames need at most
 * FJ_SHALLOW_STACK may run nested on the stack of the job that waits for it,
 * where that much is left; a job without the flag never runs on a waiter's
 * stack unless its whole class fits there. Both stack classes at once, and
 * undefined bits, are refused with a line naming the job.
 *
 * Where a job ran is told by the address of one of its locals: nested on the
 * waiter's stack, it lies a little below the waiter's own local; on a fiber of
 * its own, in another mapping (the small stacks are 64 KiB plus a 256 KiB gap
 * apart, and the waiter here is on a large stack in another region).
 */
#include <stdint.h>
#include <string.h>

#include "test.h"

#define NEAR_BYTES (128u * 1024u)

typedef struct child_arg {
    uintptr_t waiter_sp;   /* the waiting job's local */
    int nested;            /* out: ran just below it on its stack */
    int ran;
} child_arg;

static bool below(uintptr_t waiter, uintptr_t mine) { return mine < waiter && waiter - mine < NEAR_BYTES; }

static void child(void *p)
{
    child_arg *a = p;
    /* Use most of what it declared: nested with less than FJ_SHALLOW_STACK
     * left, this would run into the guard gap and be reported. */
    volatile char use[12 * 1024];
    memset((char *)use, 0x5a, sizeof use);
    a->nested = below(a->waiter_sp, (uintptr_t)&use[sizeof use - 1]);
    T_ADD(&a->ran, 1);
}

#define NCHILD 64
#define NBATCH 1000

typedef struct parent_arg {
    unsigned flags;
    size_t n;
    child_arg *kids;
    bool mixed;            /* every other child without the flags */
} parent_arg;

/* Queue n children with the given flags, wait for them. */
static void parent(void *p)
{
    parent_arg *a = p;
    volatile char here = 0;
    fj_job *jobs = calloc(a->n, sizeof *jobs);
    CHECK(jobs);
    for (size_t i = 0; i < a->n; i++) {
        a->kids[i] = (child_arg){ .waiter_sp = (uintptr_t)&here };
        unsigned f = a->mixed && i % 2 ? 0 : a->flags;
        jobs[i] = (fj_job){ .fn = child, .arg = &a->kids[i], .name = "child", .flags = f };
    }
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs(jobs, a->n, &c);
    fj_wait(&c, 0);
    (void)here;
    free(jobs);
}

static size_t count_nested(const child_arg *k, size_t n)
{
    size_t nested = 0;
    for (size_t i = 0; i < n; i++) {
        CHECK_EQ(k[i].ran, 1);
        nested += k[i].nested != 0;
    }
    return nested;
}

/* One worker, so every child is still queued when its parent waits. */
static fj_config one_worker(void)
{
    fj_config c = fj_config_default();
    c.workers = 1;
    return c;
}

/* The root (a 512 KiB stack) waits: shallow children run nested, whether
 * queued one by one or (NBATCH, more than a fresh deque holds) as batches. */
static void nested_under_root(unsigned flags, size_t n, size_t want_nested)
{
    child_arg *kids = calloc(n, sizeof *kids);
    CHECK(kids);
    parent_arg a = { flags, n, kids, false };
    fj_config c = one_worker();
    run_root(&c, parent, &a);
    CHECK_EQ(count_nested(kids, n), want_nested);
    free(kids);
}

/* A parent on a small fiber (64 KiB) waits: plain children (a whole 64 KiB
 * class) cannot fit below it and run on fibers of their own. The root yields
 * rather than waits, so the parent starts at the base of a fresh small fiber
 * (a wait would run it nested on the root's large stack). */
static void small_parent_root(void *p)
{
    parent_arg *a = p;
    fj_job j = { .fn = parent, .arg = a, .name = "small parent" };
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs(&j, 1, &c);
    while (fj_counter_value(&c) > 0)
        fj_yield();
    fj_wait(&c, 0);
}

static size_t under_small(unsigned flags, size_t n)
{
    child_arg *kids = calloc(n, sizeof *kids);
    CHECK(kids);
    parent_arg a = { flags, n, kids, false };
    fj_config c = one_worker();
    run_root(&c, small_parent_root, &a);
    size_t nested = count_nested(kids, n);
    free(kids);
    return nested;
}

/* ------------------------------------------------------------ fib, shallow */

typedef struct fib_arg {
    int n;
    long r;
} fib_arg;

static void fib(void *p)
{
    fib_arg *x = p;
    if (x->n < 2) {
        x->r = x->n;
        return;
    }
    fib_arg l = { x->n - 1, 0 }, r = { x->n - 2, 0 };
    fj_job jobs[2] = { { .fn = fib, .arg = &l, .name = "fib", .flags = FJ_JOB_SHALLOW },
                       { .fn = fib, .arg = &r, .name = "fib", .flags = FJ_JOB_SHALLOW } };
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs(jobs, 2, &c);
    fj_wait(&c, 0);
    x->r = l.r + r.r;
}

/* ------------------------------------------------------------ misuse */

static void noop(void *p) { (void)p; }

static void both_inside(void *p)
{
    (void)p;
    fj_job j = { .fn = noop, .name = "greedy", .flags = FJ_JOB_LARGE_STACK | FJ_JOB_SHALLOW };
    fj_run_jobs(&j, 1, NULL);
}

static void misuse_both_inside(void *p)
{
    (void)p;
    fj_config c = one_worker();
    run_root(&c, both_inside, NULL);
}

static void misuse_both_outside(void *p)
{
    (void)p;
    fj_config c = one_worker();
    fj_scheduler *s = fj_create(&c);
    CHECK(s);
    fj_job j = { .fn = noop, .name = "greedy", .flags = FJ_JOB_LARGE_STACK | FJ_JOB_SHALLOW };
    fj_run_jobs_on(s, &j, 1, NULL);
}

static void misuse_undefined(void *p)
{
    (void)p;
    fj_config c = one_worker();
    fj_scheduler *s = fj_create(&c);
    CHECK(s);
    fj_job j = { .fn = noop, .name = "odd", .flags = 1u << 20 };
    fj_run_jobs_on(s, &j, 1, NULL);
}

int main(int argc, char **argv)
{
    /* Shallow children of the root run nested, batched or not. */
    nested_under_root(FJ_JOB_SHALLOW, 3, 3);
    nested_under_root(FJ_JOB_SHALLOW, NCHILD, NCHILD);
    nested_under_root(FJ_JOB_SHALLOW, NBATCH, NBATCH);
    /* A mixed run goes as small-stack jobs (the root's stack holds a whole
     * small class too, so they nest here as well); each runs once. */
    {
        child_arg kids[16];
        parent_arg a = { FJ_JOB_SHALLOW, 16, kids, true };
        fj_config c = one_worker();
        run_root(&c, parent, &a);
        CHECK_EQ(count_nested(kids, 16), 16);
    }
    /* Under a parent on a small fiber, a plain child (a whole 64 KiB class)
     * never fits: it runs on a fiber of its own. A shallow one fits (16 KiB
     * and the library's margin), except in sanitizer builds, where the
     * library scales every stack need for the redzones. */
    CHECK_EQ(under_small(0, 4), 0);
    CHECK_EQ(under_small(0, NBATCH), 0);
#if !TEST_SANITIZED
    CHECK_EQ(under_small(FJ_JOB_SHALLOW, 4), 4);
    /* More than a deque holds: these go as batches (batch.c), which keep
     * the flag when every job of theirs has it. */
    CHECK_EQ(under_small(FJ_JOB_SHALLOW, NBATCH), NBATCH);
#endif

    /* fib with every job shallow, at the test's worker count. */
    {
        fj_config c = test_config(argc, argv);
        fib_arg x = { 20, 0 };
        run_root(&c, fib, &x);
        CHECK_EQ(x.r, 6765);
    }

    EXPECT_ABORT_CONTAINS(misuse_both_inside, NULL,
                          "fiberjob: fj_run_jobs: job 0 of 1 ('greedy') has both FJ_JOB_LARGE_STACK and "
                          "FJ_JOB_SHALLOW");
    EXPECT_ABORT_CONTAINS(misuse_both_outside, NULL,
                          "fiberjob: fj_run_jobs_on: job 0 of 1 ('greedy') has both FJ_JOB_LARGE_STACK and "
                          "FJ_JOB_SHALLOW");
    EXPECT_ABORT_CONTAINS(misuse_undefined, NULL, "(only FJ_JOB_LARGE_STACK, FJ_JOB_SHALLOW and FJ_JOB_ON_WORKER(n) are defined)");
    return test_finish();
}
