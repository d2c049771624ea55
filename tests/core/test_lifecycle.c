/*
 * Creating, running and destroying schedulers.
 *
 *  - 1,000 create/destroy cycles with small pools (every tenth with an fj_main
 *    that runs a few jobs), so start-up and shut-down leak nothing that would
 *    run out (threads, mappings, descriptors) and never hang.
 *  - fj_destroy runs every outstanding fire-and-forget job (counter NULL)
 *    before it returns: jobs left behind by the root job (and the jobs they
 *    run), and jobs run from outside on a scheduler that never ran fj_main.
 *  - fj_main runs again on the same scheduler; a second fj_main while one runs
 *    on another thread returns FJ_EBUSY; a NULL function or scheduler returns
 *    FJ_EINVAL.
 *  - fj_worker_count, fj_worker_index, fj_current_job_name, fj_stats,
 *    fj_last_error and fj_strerror in normal use.
 */
#include <pthread.h>
#include <sched.h>

#include "test.h"

static fj_config small_cfg;
static unsigned nworkers;
static int hits;

static void hit(void *arg)
{
    (void)arg;
    T_ADD(&hits, 1);
}

static void few_jobs_root(void *arg)
{
    (void)arg;
    fj_job jobs[8];
    for (int i = 0; i < 8; i++)
        jobs[i] = (fj_job){ .fn = hit, .name = "hit" };
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs(jobs, 8, &c);
    fj_wait(&c, 0);
}

static void test_cycles(void)
{
    hits = 0;
    int mains = 0;
    /* 1,000 cycles; fewer where every thread start costs more (sanitizers,
     * Valgrind, qemu, Wine: TEST_TIME_SCALE), a hundred or more. */
    const int cycles = 1000 / TEST_TIME_SCALE;
    for (int i = 0; i < cycles; i++) {
        fj_scheduler *s = fj_create(&small_cfg);
        if (!s) {
            fprintf(stderr, "cycle %d: fj_create failed: %s\n", i, fj_strerror(fj_last_error()));
            exit(1);
        }
        CHECK_EQ(fj_last_error(), 0);
        if (i % 10 == 0) {
            CHECK_EQ(fj_main(s, few_jobs_root, NULL), 0);
            mains++;
        }
        fj_destroy(s);
    }
    CHECK_EQ(hits, 8 * mains);
}

/* ------------------------------------------------------------ fire and forget */

enum { FANOUT = 50, KIDS = 4 };

static void forgotten_kid(void *arg)
{
    (void)arg;
    fj_yield();
    T_ADD(&hits, 1);
}

static void forgotten(void *arg)
{
    (void)arg;
    fj_job kids[KIDS];
    for (int i = 0; i < KIDS; i++)
        kids[i] = (fj_job){ .fn = forgotten_kid, .name = "forgotten-kid" };
    fj_run_jobs(kids, KIDS, NULL);
    /* A wait in the middle: this job is suspended during the drain. */
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_job one = { .fn = hit, .name = "hit" };
    fj_run_jobs(&one, 1, &c);
    fj_wait(&c, 0);
    T_ADD(&hits, 1);
}

static void forgetful_root(void *arg)
{
    (void)arg;
    fj_job jobs[FANOUT];
    for (int i = 0; i < FANOUT; i++)
        jobs[i] = (fj_job){ .fn = forgotten, .name = "forgotten", .priority = (fj_priority)(i % 3) };
    fj_run_jobs(jobs, FANOUT, NULL);
    /* Return at once: the jobs are still queued or running. */
}

static void test_destroy_runs_outstanding(void)
{
    for (int round = 0; round < 50; round++) {
        hits = 0;
        fj_scheduler *s = fj_create(&small_cfg);
        CHECK(s);
        CHECK_EQ(fj_main(s, forgetful_root, NULL), 0);
        fj_destroy(s);
        CHECK_EQ(hits, FANOUT * (KIDS + 2));
    }
    /* Jobs from outside on a scheduler that never runs fj_main. */
    for (int round = 0; round < 50; round++) {
        hits = 0;
        fj_scheduler *s = fj_create(&small_cfg);
        CHECK(s);
        fj_job jobs[FANOUT];
        for (int i = 0; i < FANOUT; i++)
            jobs[i] = (fj_job){ .fn = forgotten, .name = "outside-forgotten" };
        fj_run_jobs(jobs, FANOUT, NULL);
        fj_run_jobs_on(s, jobs, 3, NULL);
        fj_destroy(s);
        CHECK_EQ(hits, (FANOUT + 3) * (KIDS + 2));
    }
}

/* ------------------------------------------------------------ fj_main */

static int root_started, root_release;

static void holding_root(void *arg)
{
    (void)arg;
    T_STORE(&root_started, 1);
    while (!T_LOAD(&root_release))
        fj_yield();
}

static void *main_thread(void *arg)
{
    fj_scheduler *s = arg;
    CHECK_EQ(fj_main(s, holding_root, NULL), 0);
    return NULL;
}

static void nothing(void *arg) { (void)arg; }

static void test_main_rules(void)
{
    fj_scheduler *s = fj_create(&small_cfg);
    CHECK(s);
    CHECK_EQ(fj_main(s, NULL, NULL), FJ_EINVAL);
    CHECK_EQ(fj_main(NULL, nothing, NULL), FJ_EINVAL);
    for (int i = 0; i < 20; i++) {
        hits = 0;
        CHECK_EQ(fj_main(s, few_jobs_root, NULL), 0);
        CHECK_EQ(hits, 8);
    }
    /* A second fj_main while one runs on another thread. */
    root_started = root_release = 0;
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, main_thread, s), 0);
    while (!T_LOAD(&root_started))
        sched_yield();
    CHECK_EQ(fj_main(s, nothing, NULL), FJ_EBUSY);
    T_STORE(&root_release, 1);
    CHECK_EQ(pthread_join(t, NULL), 0);
    /* And fj_main on another thread after that one returned. */
    hits = 0;
    CHECK_EQ(fj_main(s, few_jobs_root, NULL), 0);
    CHECK_EQ(hits, 8);
    fj_destroy(s);
    fj_destroy(NULL);   /* allowed, does nothing */
}

/* ------------------------------------------------------------ introspection */

static int bad_index, bad_name;

static void named(void *arg)
{
    const char *want = arg;
    int w = fj_worker_index();
    if (w < 0 || w >= (int)nworkers)
        T_ADD(&bad_index, 1);
    const char *name = fj_current_job_name();
    if (!name || strcmp(name, want) != 0)
        T_ADD(&bad_name, 1);
}

static void introspect_root(void *arg)
{
    fj_scheduler *s = arg;
    CHECK_EQ(fj_worker_index(), 0);   /* the root starts on the fj_main thread */
    CHECK_STREQ(fj_current_job_name(), "fj_main root");
    CHECK_EQ(fj_worker_count(s), nworkers);
    fj_job jobs[3] = {
        { .fn = named, .arg = "alpha", .name = "alpha" },
        { .fn = named, .arg = "(unnamed)" },
        { .fn = named, .arg = "beta", .name = "beta", .flags = FJ_JOB_LARGE_STACK },
    };
    fj_counter c;
    fj_counter_init(&c, 0);
    for (int i = 0; i < 100; i++)
        fj_run_jobs(jobs, 3, &c);
    fj_wait(&c, 0);
    CHECK_STREQ(fj_current_job_name(), "fj_main root");
    CHECK(fj_worker_index() >= 0 && fj_worker_index() < (int)nworkers);
}

static void test_introspection(void)
{
    CHECK_EQ(fj_worker_index(), -1);
    CHECK(fj_current_job_name() == NULL);
    fj_config cfg = fj_config_default();
    cfg.workers = nworkers;
    fj_scheduler *s = fj_create(&cfg);
    CHECK(s);
    CHECK_EQ(fj_worker_count(s), nworkers);
    CHECK_EQ(fj_main(s, introspect_root, s), 0);
    CHECK_EQ(bad_index, 0);
    CHECK_EQ(bad_name, 0);
    CHECK_EQ(fj_worker_index(), -1);
    CHECK(fj_current_job_name() == NULL);

    fj_worker_stats st[64];
    CHECK_EQ(fj_stats(s, NULL, 0), nworkers);
    unsigned n = fj_stats(s, st, 64);
    CHECK_EQ(n, nworkers);
    uint64_t jobs = 0;
    for (unsigned i = 0; i < n && i < 64; i++)
        jobs += st[i].jobs;
    /* The root and its 300 jobs; the scheduler is quiet after fj_main. */
    CHECK_EQ(jobs, 301);
    fj_destroy(s);

    /* Defaults and error texts. */
    fj_config d = fj_config_default();
    CHECK_EQ(d.workers, 0);
    CHECK_EQ(d.pin_threads, 1);
    CHECK_EQ(d.small_fibers, 128);
    CHECK_EQ(d.small_stack_size, 64 * 1024);
    CHECK_EQ(d.large_fibers, 32);
    CHECK_EQ(d.large_stack_size, 512 * 1024);
    int known[] = { FJ_OK, FJ_EINVAL, FJ_ENOMEM, FJ_ETHREAD, FJ_EAFFINITY, FJ_EBUSY, FJ_ELIMIT };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        const char *t = fj_strerror(known[i]);
        CHECK(t && *t);
        for (size_t k = 0; k < i; k++)
            CHECK(strcmp(t, fj_strerror(known[k])) != 0);   /* each code has its own text */
    }
    CHECK(fj_strerror(12345) && *fj_strerror(12345));
    CHECK(fj_strerror(-999) && *fj_strerror(-999));
    /* NULL config: the defaults. */
    s = fj_create(NULL);
    CHECK(s);
    CHECK(fj_worker_count(s) >= 1);
    fj_destroy(s);
}

int main(int argc, char **argv)
{
    nworkers = test_workers(argc, argv);
    small_cfg = fj_config_default();
    small_cfg.workers = nworkers;
    small_cfg.small_fibers = nworkers + 4;
    small_cfg.large_fibers = 2;
    test_introspection();
    test_main_rules();
    test_destroy_runs_outstanding();
    test_cycles();
    return test_finish();
}
