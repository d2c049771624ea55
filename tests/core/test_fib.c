/*
 * Recursive Fibonacci with one job per call: every call above the base case
 * runs its two sub-calls as jobs counted on a counter on its own stack and
 * waits for them. fib(20) .. fib(24): 20k to 150k jobs each, most of them
 * waiting, so it exercises the wait fast path (children run inline), parking
 * and resuming fibers, stealing, and counters that die right after the wake.
 */
#include "test.h"

typedef struct fib_arg {
    int n;
    long long result;
} fib_arg;

static long long fib_plain(int n) { return n < 2 ? n : fib_plain(n - 1) + fib_plain(n - 2); }

static void fib_job(void *p)
{
    fib_arg *a = p;
    if (a->n < 2) {
        a->result = a->n;
        return;
    }
    fib_arg kids[2] = { { a->n - 1, -1 }, { a->n - 2, -1 } };
    fj_job jobs[2] = {
        { .fn = fib_job, .arg = &kids[0], .name = "fib" },
        { .fn = fib_job, .arg = &kids[1], .name = "fib" },
    };
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs(jobs, 2, &c);
    fj_wait(&c, 0);
    a->result = kids[0].result + kids[1].result;
}

static void fib_root(void *p)
{
    fib_arg *a = p;
    fj_job j = { .fn = fib_job, .arg = a, .name = "fib-top" };
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs(&j, 1, &c);
    fj_wait(&c, 0);
}

int main(int argc, char **argv)
{
    fj_config cfg = test_config(argc, argv);
    fj_scheduler *s = fj_create(&cfg);
    CHECK(s);
    for (int n = 20; n <= 24; n++) {
        fib_arg a = { n, -1 };
        CHECK_EQ(fj_main(s, fib_root, &a), 0);
        CHECK_EQ(a.result, fib_plain(n));
    }
    /* The same scheduler again, and a fresh one, with a small fiber pool:
     * enough for one chain of waiting parents per worker (each job waiting
     * on its children holds a fiber of its own: children are promised whole
     * stacks and never run on what is left of a waiter's), and little more. */
    fj_destroy(s);
    cfg.small_fibers = cfg.workers * 24 + 8;
    cfg.large_fibers = 2;
    s = fj_create(&cfg);
    CHECK(s);
    for (int rep = 0; rep < 3; rep++) {
        fib_arg a = { 22, -1 };
        CHECK_EQ(fj_main(s, fib_root, &a), 0);
        CHECK_EQ(a.result, 17711);
    }
    fj_destroy(s);
    return test_finish();
}
