/*
 * A job queue that cannot grow loses nothing: fj_run_jobs runs a job it
 * cannot queue at once, on a fiber of its own (or nested where its whole
 * stack class fits), for one job at a time, a run of jobs and a run that
 * would have gone as a batch. The test is linked with --wrap=malloc, and
 * while armed every allocation of 16 KiB or more fails: a deque's grown
 * buffer (512 tasks and up) and a batch slab are that large, nothing else
 * the scheduler allocates while it runs is.
 */
#include <stdint.h>

#include "test.h"

void *__real_malloc(size_t n);
void *__wrap_malloc(size_t n);

static int g_armed;
static int g_failed;   /* allocations refused */

void *__wrap_malloc(size_t n)
{
    if (n >= 16 * 1024 && T_LOAD(&g_armed)) {
        T_ADD(&g_failed, 1);
        return NULL;
    }
    return __real_malloc(n);
}

#define N 1500   /* well past a fresh deque's 256 slots */

static int g_ran[3][N];
static int g_inside;   /* the root is inside fj_run_jobs */
static int g_ran_inside;
static unsigned g_workers;

static void job(void *p)
{
    int *slot = p;
    T_ADD(slot, 1);
    if (T_LOAD(&g_inside))
        T_ADD(&g_ran_inside, 1);
}

static void root(void *p)
{
    (void)p;
    fj_counter c;
    fj_counter_init(&c, 0);
    T_STORE(&g_armed, 1);
    /* One job a call. */
    for (int i = 0; i < N; i++) {
        fj_job j = { .fn = job, .arg = &g_ran[0][i], .name = "one" };
        T_STORE(&g_inside, 1);
        fj_run_jobs(&j, 1, &c);
        T_STORE(&g_inside, 0);
    }
    /* One call, alternating priorities: runs of one, no batches. */
    static fj_job jobs[N];
    for (int i = 0; i < N; i++)
        jobs[i] = (fj_job){ .fn = job, .arg = &g_ran[1][i], .name = "run",
                            .priority = i % 2 ? FJ_PRIORITY_HIGH : FJ_PRIORITY_LOW };
    T_STORE(&g_inside, 1);
    fj_run_jobs(jobs, N, &c);
    T_STORE(&g_inside, 0);
    /* One call of plain jobs, which would go as batches if a slab could be had. */
    for (int i = 0; i < N; i++)
        jobs[i] = (fj_job){ .fn = job, .arg = &g_ran[2][i], .name = "batchable" };
    T_STORE(&g_inside, 1);
    fj_run_jobs(jobs, N, &c);
    T_STORE(&g_inside, 0);
    fj_wait(&c, 0);
    T_STORE(&g_armed, 0);
}

int main(int argc, char **argv)
{
    fj_config cfg = test_config(argc, argv);
    g_workers = cfg.workers;
    run_root(&cfg, root, NULL);
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < N; i++)
            CHECK_EQ(g_ran[k][i], 1);
    /* Allocations were refused, and with one worker (no thief empties the
     * queues meanwhile) the jobs past the first 256 ran inside fj_run_jobs. */
    CHECK(T_LOAD(&g_failed) > 0);
    if (g_workers == 1)
        CHECK(T_LOAD(&g_ran_inside) > 0);
    return test_finish();
}
