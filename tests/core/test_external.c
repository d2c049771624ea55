/*
 * Threads outside the scheduler.
 *
 *  - A plain pthread (not a worker) runs jobs with a counter (fj_run_jobs goes
 *    through the injection queue) and blocks in fj_wait on it, round after
 *    round, while fj_main runs a root job that keeps going, yielding, until the
 *    outside thread is done. Then several outside threads at once, with
 *    fire-and-forget jobs (no counter) and jobs that run more jobs.
 *  - The root waits (fiber suspended) instead of yielding while the outside
 *    threads work; a deadlock hook says "keep waiting" since the outside
 *    threads finish the root's hand-managed count.
 *  - fj_run_jobs_on names the scheduler explicitly.
 *  - Which scheduler an outside fj_run_jobs uses: the one created most recently
 *    (fiberjob.h), and after that one is destroyed, one that still exists.
 */
#include <pthread.h>
#include <sched.h>

#include "test.h"

static fj_config cfg;

enum { ROUNDS = 200, PER_ROUND = 16, MAX_THREADS = 4 };

static int job_hits;
static int fire_hits;
static int threads_left;
static int wrong_thread;

static void hit(void *arg)
{
    (void)arg;
    if (fj_worker_index() < 0)
        T_ADD(&wrong_thread, 1);
    T_ADD(&job_hits, 1);
}

static void fire(void *arg)
{
    (void)arg;
    T_ADD(&fire_hits, 1);
}

/* A job that runs more jobs on the outside thread's counter. */
static void spawner(void *arg)
{
    fj_counter *c = arg;
    fj_job kids[3];
    for (int i = 0; i < 3; i++)
        kids[i] = (fj_job){ .fn = hit, .name = "kid" };
    fj_run_jobs(kids, 3, c);
}

typedef struct outside {
    fj_scheduler *s;    /* for fj_run_jobs_on, or NULL */
    int id;
    int errors;
} outside;

static void *outside_thread(void *p)
{
    outside *o = p;
    fj_job jobs[PER_ROUND];
    fj_counter c;
    fj_counter_init(&c, 0);
    for (int round = 0; round < ROUNDS; round++) {
        for (int i = 0; i < PER_ROUND; i++)
            jobs[i] = (fj_job){ .fn = hit, .name = "outside" };
        jobs[0] = (fj_job){ .fn = spawner, .arg = &c, .name = "spawner" };
        if (o->s)
            fj_run_jobs_on(o->s, jobs, PER_ROUND, &c);
        else
            fj_run_jobs(jobs, PER_ROUND, &c);
        if (round % 4 == 0) {
            fj_job f = { .fn = fire, .name = "fire" };
            fj_run_jobs(&f, 1, NULL);
        }
        if (round % 2)
            fj_wait(&c, (int64_t)(PER_ROUND / 2));   /* a partial wait first */
        fj_wait(&c, 0);
        if (fj_counter_value(&c) != 0)
            o->errors++;
    }
    T_ADD(&threads_left, -1);
    return NULL;
}

/* The root keeps the scheduler in fj_main until the outside threads are done. */
static void yielding_root(void *arg)
{
    (void)arg;
    while (T_LOAD(&threads_left) > 0)
        fj_yield();
}

static fj_counter root_gate;

static void *gate_closer(void *arg)
{
    (void)arg;
    while (T_LOAD(&threads_left) > 0)
        sched_yield();
    fj_counter_done(&root_gate, 1);
    return NULL;
}

static void waiting_root(void *arg)
{
    (void)arg;
    fj_wait(&root_gate, 0);
}

static int keep_waiting(const fj_deadlock_info *info, void *user)
{
    (void)info;
    (void)user;
    return 1;
}

static void run_outside(int nthreads, bool root_waits, bool explicit_sched)
{
    fj_config c = cfg;
    if (root_waits)
        c.deadlock_hook = keep_waiting;
    fj_scheduler *s = fj_create(&c);
    CHECK(s);
    job_hits = fire_hits = wrong_thread = 0;
    threads_left = nthreads;
    outside o[MAX_THREADS];
    pthread_t t[MAX_THREADS], closer;
    for (int i = 0; i < nthreads; i++) {
        o[i] = (outside){ .s = explicit_sched ? s : NULL, .id = i };
        CHECK_EQ(pthread_create(&t[i], NULL, outside_thread, &o[i]), 0);
    }
    if (root_waits) {
        fj_counter_init(&root_gate, 0);
        fj_counter_add(&root_gate, 1);
        CHECK_EQ(pthread_create(&closer, NULL, gate_closer, NULL), 0);
        CHECK_EQ(fj_main(s, waiting_root, NULL), 0);
        CHECK_EQ(pthread_join(closer, NULL), 0);
    } else {
        CHECK_EQ(fj_main(s, yielding_root, NULL), 0);
    }
    for (int i = 0; i < nthreads; i++) {
        CHECK_EQ(pthread_join(t[i], NULL), 0);
        CHECK_EQ(o[i].errors, 0);
    }
    fj_destroy(s);   /* runs any fire-and-forget jobs still queued */
    CHECK_EQ(job_hits, nthreads * ROUNDS * (PER_ROUND - 1 + 3));
    CHECK_EQ(fire_hits, nthreads * (ROUNDS / 4));
    CHECK_EQ(wrong_thread, 0);
}

static void run_outside_child(void *arg)
{
    int mode = (int)(intptr_t)arg;
    switch (mode) {
    case 0: run_outside(1, false, false); break;
    case 1: run_outside(MAX_THREADS, false, false); break;
    case 2: run_outside(MAX_THREADS, true, false); break;
    case 3: run_outside(2, false, true); break;
    }
}

/* ------------------------------------------------------------ which scheduler */

static int which_hits;

static void which_job(void *arg)
{
    (void)arg;
    T_ADD(&which_hits, 1);
}

/* A is created first with one worker (no background threads: nothing queued
 * on it runs before fj_main or fj_destroy on A); B second. An outside
 * fj_run_jobs must go to B, the most recent, so B's drain runs it. */
static void most_recent_child(void *arg)
{
    (void)arg;
    fj_config ca = fj_config_default();
    ca.workers = 1;
    fj_scheduler *a = fj_create(&ca);
    fj_scheduler *b = fj_create(&cfg);
    CHECK(a && b);
    fj_job j[5];
    for (int i = 0; i < 5; i++)
        j[i] = (fj_job){ .fn = which_job, .name = "which" };
    fj_run_jobs(j, 5, NULL);
    fj_destroy(b);
    if (which_hits != 5) {
        fprintf(stderr, "after fj_destroy of the most recent scheduler, %d of 5 jobs run from outside had run: "
                        "they went to the older scheduler\n", which_hits);
        exit(1);
    }
    fj_destroy(a);
}

/* Destroying one of two schedulers leaves the other for outside submissions. */
static void survivor_child(void *arg)
{
    (void)arg;
    fj_scheduler *a = fj_create(&cfg);
    fj_scheduler *b = fj_create(&cfg);
    CHECK(a && b);
    fj_destroy(a);
    fj_job j[5];
    for (int i = 0; i < 5; i++)
        j[i] = (fj_job){ .fn = which_job, .name = "which" };
    fj_run_jobs(j, 5, NULL);
    fj_destroy(b);
    CHECK_EQ(which_hits, 5);
}

int main(int argc, char **argv)
{
    cfg = test_config(argc, argv);
    EXPECT_CHILD_OK(run_outside_child, (void *)(intptr_t)0, 10,
                    "one outside thread runs and waits on jobs while the root yields");
    EXPECT_CHILD_OK(run_outside_child, (void *)(intptr_t)1, 10,
                    "four outside threads run and wait on jobs while the root yields");
    EXPECT_CHILD_OK(run_outside_child, (void *)(intptr_t)2, 10,
                    "four outside threads run and wait on jobs while the root waits");
    EXPECT_CHILD_OK(run_outside_child, (void *)(intptr_t)3, 10,
                    "two outside threads use fj_run_jobs_on");
    EXPECT_CHILD_OK(most_recent_child, NULL, 10,
                    "an outside fj_run_jobs goes to the scheduler created most recently");
    EXPECT_CHILD_OK(survivor_child, NULL, 10,
                    "an outside fj_run_jobs after one of two schedulers was destroyed");
    return test_finish();
}
