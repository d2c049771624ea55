/*
 * Waking idle workers: every worker that is idle while work is queued is
 * eventually woken and takes it. Checked with jobs that spin until all of
 * them have started (a barrier of spinning jobs, as a physics solver's stages
 * are), submitted in one call while the other workers sleep: N of them, N the
 * worker count, finish only if every sleeping worker is woken, one after
 * another, each passing the wake on. (With more than N such jobs no schedule
 * could finish them, so N is never more than the workers.)
 *
 * The jobs of a round go out in one fj_run_jobs call (one fj__notify): the
 * first woken worker must wake the next, and so on, including across a
 * thief's steal of several jobs at once and a wake that found nobody in the
 * futex wait (wake.c, idle.c, steal.c; modelled in verify/wake.pml).
 *
 * Cases, each many rounds (workers fall asleep between rounds): the
 * submitter waits (its fj_wait runs one of the jobs); the submitter takes
 * part in the barrier itself; the jobs spin with fj_yield; workers sleep at
 * once when idle (spin_before_sleep 0) or after the default spin. Each case
 * runs in a child with a time limit: a lost wake-up is a hang, reported as
 * such.
 */
#include <sched.h>
#include <time.h>

#include "test.h"

#define ROUNDS 60

static unsigned nworkers;
static int started;     /* jobs of this round that have started */
static int finished;    /* jobs of every round that have returned */
static bool use_yield;  /* spin with fj_yield (else only the OS's sched_yield) */

static void barrier_spin(void)
{
    T_ADD(&started, 1);
    while (T_LOAD(&started) < (int)nworkers) {
        if (use_yield)
            fj_yield();
        sched_yield();   /* more workers than cores: let the others run */
    }
}

static void barrier_job(void *arg)
{
    (void)arg;
    barrier_spin();
    T_ADD(&finished, 1);
}

static void nap(void)
{
    struct timespec ts = { 0, 2 * 1000 * 1000 };
    nanosleep(&ts, NULL);
}

/* Round r: nworkers barrier jobs (or nworkers - 1 and the root, when the
 * root takes part), submitted at once. Every other round the root naps
 * first, so that the other workers are surely asleep. */
static void barrier_root(void *arg)
{
    bool root_joins = arg != NULL;
    static fj_job jobs[64];
    unsigned n = root_joins ? nworkers - 1 : nworkers;
    /* The first job asks for a large stack: the others then go into the
     * deque one entry each, not as a batch (batch.c): a worker keeps its share
     * of a batch private while it runs a job, which a barrier of spinning
     * jobs cannot wait for (it would hang whatever the wakes do, when the
     * idle count the batch is split by is low). */
    for (unsigned i = 0; i < n; i++)
        jobs[i] = (fj_job){ .fn = barrier_job, .name = "barrier", .flags = i == 0 ? FJ_JOB_LARGE_STACK : 0 };
    for (int r = 0; r < ROUNDS; r++) {
        if (r & 1)
            nap();
        T_STORE(&started, 0);
        fj_counter c;
        fj_counter_init(&c, 0);
        fj_run_jobs(jobs, n, &c);
        if (root_joins)
            barrier_spin();
        fj_wait(&c, 0);
    }
    CHECK_EQ(T_LOAD(&finished), (int)n * ROUNDS);
}

typedef struct wake_case {
    unsigned spin_before_sleep;
    bool root_joins;
    bool yield;
} wake_case;

static void run_case(void *arg)
{
    const wake_case *k = arg;
    fj_config cfg = fj_config_default();
    cfg.workers = nworkers;
    cfg.spin_before_sleep = k->spin_before_sleep;
    use_yield = k->yield;
    run_root(&cfg, barrier_root, k->root_joins ? (void *)1 : NULL);
}

int main(int argc, char **argv)
{
    nworkers = test_workers(argc, argv);
    CHECK(nworkers <= 64);
    const wake_case cases[] = {
        { 0, false, false },
        { 0, true, false },
        { 0, false, true },
        { 2000, false, false },
        { 2000, true, true },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char what[128];
        snprintf(what, sizeof what, "barrier of %u spinning jobs, spin_before_sleep %u%s%s", nworkers,
                 cases[i].spin_before_sleep, cases[i].root_joins ? ", the submitter takes part" : "",
                 cases[i].yield ? ", spinning with fj_yield" : "");
        EXPECT_CHILD_OK(run_case, (void *)&cases[i], 20, what);
    }
    return test_finish();
}
