/*
 * Priorities on one worker (the worker count argument is ignored): a root job
 * submits LOW, NORMAL and HIGH jobs, lowest first, then lets them run; every
 * HIGH job must run before every NORMAL one, and every NORMAL before every
 * LOW. Three ways to let them run: waiting on their counter (the waiting job
 * runs its own children first), yielding (the worker loop picks them), and
 * jobs without a counter while the root waits on an unrelated one.
 */
#include "test.h"

enum { PER = 5, TOTAL = 3 * PER };

static int order[4 * TOTAL];
static int nran;

static int rank_of(fj_priority p) { return p == FJ_PRIORITY_HIGH ? 0 : p == FJ_PRIORITY_NORMAL ? 1 : 2; }

static void record(void *arg)
{
    int k = T_ADD(&nran, 1);
    if (k < 4 * TOTAL)
        order[k] = (int)(intptr_t)arg;
}

static void check_order(const char *how, int expect)
{
    CHECK_EQ(nran, expect);
    for (int i = 1; i < expect; i++) {
        if (order[i] < order[i - 1]) {
            fprintf(stderr, "%s: job %d ran with rank %d after one of rank %d (0 high, 1 normal, 2 low):", how,
                    i, order[i], order[i - 1]);
            for (int k = 0; k < expect; k++)
                fprintf(stderr, " %d", order[k]);
            fprintf(stderr, "\n");
            exit(1);
        }
    }
    nran = 0;
}

static void fill(fj_job *jobs, int per, bool interleave)
{
    static const fj_priority ps[3] = { FJ_PRIORITY_LOW, FJ_PRIORITY_NORMAL, FJ_PRIORITY_HIGH };
    for (int i = 0; i < 3 * per; i++) {
        fj_priority p = interleave ? ps[i % 3] : ps[i / per];
        jobs[i] = (fj_job){ .fn = record, .arg = (void *)(intptr_t)rank_of(p), .name = "prio", .priority = p };
    }
}

static void stop_job(void *arg)
{
    (void)arg;
}

static void root(void *arg)
{
    (void)arg;
    fj_job jobs[TOTAL];
    fj_counter c;
    fj_counter_init(&c, 0);

    /* 1. One call, lowest first; the root waits on their counter. */
    fill(jobs, PER, false);
    fj_run_jobs(jobs, TOTAL, &c);
    fj_wait(&c, 0);
    check_order("one batch, wait", TOTAL);

    /* 2. Interleaved priorities in one call. */
    fill(jobs, PER, true);
    fj_run_jobs(jobs, TOTAL, &c);
    fj_wait(&c, 0);
    check_order("interleaved batch, wait", TOTAL);

    /* 3. One call per job, lowest first; the root yields, so the worker loop
     * (not the waiting job) picks them. */
    fill(jobs, PER, false);
    for (int i = 0; i < TOTAL; i++)
        fj_run_jobs(&jobs[i], 1, &c);
    fj_yield();
    CHECK_EQ(fj_counter_value(&c), 0);
    check_order("separate calls, yield", TOTAL);

    /* 4. No counter; the root waits on an unrelated counter whose one job is
     * LOW and was submitted first, so the others all run before it. */
    fj_job stop = { .fn = stop_job, .name = "stop", .priority = FJ_PRIORITY_LOW };
    fj_counter d;
    fj_counter_init(&d, 0);
    fj_run_jobs(&stop, 1, &d);
    fill(jobs, PER, true);
    fj_run_jobs(jobs, TOTAL, NULL);
    fj_wait(&d, 0);
    fj_yield();
    check_order("no counter", TOTAL);
}

int main(void)
{
    fj_config cfg = fj_config_default();
    cfg.workers = 1;
    for (int i = 0; i < 20; i++)
        run_root(&cfg, root, NULL);
    return test_finish();
}
