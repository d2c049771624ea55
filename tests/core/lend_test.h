/*
 * What the lending tests share (test_lend.c, test_lend_claim.c): a job that
 * uses a given depth of its stack, the lends counted so far, and a root
 * that runs a job on a small fiber (the root's own is large: a lent job run
 * on what is left of its submitter's stack would not overflow there).
 */
#ifndef FJ_TEST_LEND_H
#define FJ_TEST_LEND_H

#include "test.h"

/* Touches `bytes` of the stack, a page at a time from the top. */
static __attribute__((noinline)) void lend_use_stack(size_t bytes)
{
    volatile char *buf = __builtin_alloca(bytes);
    for (size_t i = bytes; i >= 4096; i -= 4096)
        buf[i - 1] = (char)i;
    buf[0] = 1;
}

/* fj_worker_stats.lends summed over s's workers. */
static uint64_t lend_count(fj_scheduler *s)
{
    fj_worker_stats st[64];
    memset(st, 0, sizeof st);
    unsigned n = fj_stats(s, st, 64);
    uint64_t sum = 0;
    for (unsigned i = 0; i < n && i < 64; i++)
        sum += st[i].lends;
    return sum;
}

/* From the root: fn on a small fiber, until it returns. Not fj_wait, which
 * would run it here, on the root's large stack. */
static void lend_on_small_fiber(void (*fn)(void *), const char *name)
{
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_job j = { .fn = fn, .name = name };
    fj_run_jobs(&j, 1, &c);
    while (fj_counter_value(&c) > 0)
        fj_yield();
    fj_wait(&c, 0);
}

#endif
