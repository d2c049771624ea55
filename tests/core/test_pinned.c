/*
 * Pinned jobs (#15 item 1): FJ_JOB_ON_WORKER(n), root_on_main, fj_run_pinned.
 *
 *  - jobs pinned to each worker start there and, after fj_wait on unpinned
 *    children and after fj_yield, are still there: the same worker index and
 *    the same thread (a thread-local's address does not change);
 *  - jobs pinned to worker 0 keep their priority order (high, normal, low)
 *    when queued together while worker 0 is busy;
 *  - with root_on_main the root runs on the fj_main thread after every wait;
 *  - fj_run_pinned: jobs pinned to worker 0 queued from outside fj_main run
 *    on the calling thread, including one that waits, and it returns once
 *    all are done; FJ_EBUSY while fj_main runs; FJ_EINVAL for NULL;
 *  - a pinned job in a deadlock report says so;
 *  - misuse: a worker index past the count, worker bits without
 *    FJ_JOB_PINNED, fj_run_pinned inside a job, root_on_main out of range.
 */
#include <pthread.h>

#include "../lib/test.h"

static unsigned g_workers;
static _Thread_local int tls_marker;

static void child_work(void *arg)
{
    for (volatile unsigned i = 0; i < 2000; i++) {
    }
    __atomic_fetch_add((int *)arg, 1, __ATOMIC_RELAXED);
}

typedef struct pin_arg {
    unsigned worker;
    int children_done;
    int bad;
} pin_arg;

static void pinned_job(void *arg)
{
    pin_arg *p = arg;
    int *mine = &tls_marker;
    pthread_t self = pthread_self();
    if (fj_worker_index() != (int)p->worker)
        p->bad = 1;
    for (int round = 0; round < 20; round++) {
        fj_job kids[8];
        for (int i = 0; i < 8; i++)
            kids[i] = (fj_job){ .fn = child_work, .arg = &p->children_done, .name = "child" };
        fj_counter c;
        fj_counter_init(&c, 0);
        fj_run_jobs(kids, 8, &c);
        fj_wait(&c, 0);
        if (fj_worker_index() != (int)p->worker || !pthread_equal(self, pthread_self()) || mine != &tls_marker)
            p->bad = 2;
        fj_yield();
        if (fj_worker_index() != (int)p->worker || !pthread_equal(self, pthread_self()))
            p->bad = 3;
    }
}

static void stays_root(void *arg)
{
    (void)arg;
    enum { PER = 3 };
    pin_arg args[64][PER];
    fj_job jobs[64 * PER];
    unsigned n = 0;
    for (unsigned w = 0; w < g_workers && w < 64; w++)
        for (unsigned k = 0; k < PER; k++) {
            args[w][k] = (pin_arg){ .worker = w };
            jobs[n++] = (fj_job){ .fn = pinned_job, .arg = &args[w][k], .name = "pinned_job",
                                  .flags = FJ_JOB_ON_WORKER(w), .priority = (fj_priority)(k % 3) };
        }
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs(jobs, n, &c);
    /* One at a time too (the single-job path). */
    pin_arg one = { .worker = g_workers - 1 };
    fj_job j = { .fn = pinned_job, .arg = &one, .name = "pinned_one", .flags = FJ_JOB_ON_WORKER(g_workers - 1) };
    fj_run_jobs(&j, 1, &c);
    fj_wait(&c, 0);
    for (unsigned w = 0; w < g_workers && w < 64; w++)
        for (unsigned k = 0; k < PER; k++) {
            CHECK_EQ(args[w][k].bad, 0);
            CHECK_EQ(args[w][k].children_done, 20 * 8);
        }
    CHECK_EQ(one.bad, 0);
}

/* --- priority order among jobs pinned to worker 0, with the root there */
static char g_order[8];
static int g_order_n;
static void record(void *arg) { g_order[g_order_n++] = *(const char *)arg; }
static void order_root(void *arg)
{
    (void)arg;
    pthread_t main_thread = *(pthread_t *)arg;
    CHECK(pthread_equal(main_thread, pthread_self()));
    static const char L = 'L', N = 'N', H = 'H';
    fj_job jobs[3] = {
        { .fn = record, .arg = (void *)&L, .name = "low", .priority = FJ_PRIORITY_LOW, .flags = FJ_JOB_ON_MAIN },
        { .fn = record, .arg = (void *)&N, .name = "normal", .flags = FJ_JOB_ON_MAIN },
        { .fn = record, .arg = (void *)&H, .name = "high", .priority = FJ_PRIORITY_HIGH, .flags = FJ_JOB_ON_MAIN },
    };
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs(jobs, 3, &c);   /* worker 0 is busy with us until we wait */
    fj_wait(&c, 0);
    CHECK(pthread_equal(main_thread, pthread_self()));
    CHECK_EQ(fj_worker_index(), 0);
    CHECK_EQ(g_order_n, 3);
    CHECK(memcmp(g_order, "HNL", 3) == 0);
    /* The root itself after many waits on parallel work. */
    for (int round = 0; round < 50; round++) {
        int done = 0;
        fj_job kids[16];
        for (int i = 0; i < 16; i++)
            kids[i] = (fj_job){ .fn = child_work, .arg = &done, .name = "child" };
        fj_counter k;
        fj_counter_init(&k, 0);
        fj_run_jobs(kids, 16, &k);
        fj_wait(&k, 0);
        CHECK_EQ(done, 16);
        CHECK(pthread_equal(main_thread, pthread_self()));
        CHECK_EQ(fj_worker_index(), 0);
    }
}

/* --- fj_run_pinned from outside fj_main */
static pthread_t g_caller;
static int g_on_caller, g_off_caller;
static void on_caller(void *arg)
{
    (void)arg;
    if (pthread_equal(g_caller, pthread_self()) && fj_worker_index() == 0)
        __atomic_fetch_add(&g_on_caller, 1, __ATOMIC_RELAXED);
    else
        __atomic_fetch_add(&g_off_caller, 1, __ATOMIC_RELAXED);
}
static void on_caller_waits(void *arg)
{
    on_caller(arg);
    int done = 0;
    fj_job kids[8];
    for (int i = 0; i < 8; i++)
        kids[i] = (fj_job){ .fn = child_work, .arg = &done, .name = "child" };
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs(kids, 8, &c);
    fj_wait(&c, 0);
    CHECK_EQ(done, 8);
    on_caller(arg);
}

static void run_pinned_inside(void *arg) { (void)arg; fj_run_pinned((fj_scheduler *)arg); }

typedef struct busy_arg {
    fj_scheduler *s;
    fj_counter *release;
} busy_arg;
static int g_in_main;
static void busy_root(void *arg)
{
    __atomic_store_n(&g_in_main, 1, __ATOMIC_RELEASE);
    fj_wait(((busy_arg *)arg)->release, 0);
}
static void *busy_main(void *arg)
{
    busy_arg *b = arg;
    CHECK_EQ(fj_main(b->s, busy_root, b), 0);
    return NULL;
}

/* --- deadlock report */
static void stuck_pinned(void *arg)
{
    (void)arg;
    fj_counter c;
    fj_counter_init(&c, 1);
    fj_wait(&c, 0);
}
static void stuck_root(void *arg)
{
    (void)arg;
    fj_job j = { .fn = stuck_pinned, .name = "stuck_pinned", .flags = FJ_JOB_ON_WORKER(g_workers - 1) };
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs(&j, 1, &c);
    fj_wait(&c, 0);
}

static fj_scheduler *make(int root_on_main)
{
    fj_config c = fj_config_default();
    c.workers = g_workers;
    c.root_on_main = root_on_main;
    fj_scheduler *s = fj_create(&c);
    CHECK(s);
    return s;
}

static void child_deadlock(void *a) { (void)a; fj_main(make(0), stuck_root, NULL); }

/* A worker stuck in fj_wait with no free fiber resumes a woken fiber pinned
 * to it: P (pinned) waits on D; D finishes P's count, then waits on E with
 * no fiber free for E. Only P's end can free one. */
static fj_counter g_d;
static void job_e(void *a) { (void)a; }
static void job_d(void *a)
{
    (void)a;
    fj_counter_done(&g_d, 1);
    fj_counter e;
    fj_counter_init(&e, 0);
    fj_job j = { .fn = job_e, .name = "E" };
    fj_run_jobs(&j, 1, &e);
    fj_wait(&e, 0);
}
static void job_p(void *a)
{
    (void)a;
    fj_counter_init(&g_d, 1);
    fj_job j = { .fn = job_d, .name = "D" };
    fj_run_jobs(&j, 1, NULL);
    fj_wait(&g_d, 0);
}
static void stuck_pin_root(void *a)
{
    (void)a;
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_job j = { .fn = job_p, .name = "P", .flags = FJ_JOB_ON_MAIN };
    fj_run_jobs(&j, 1, &c);
    fj_wait(&c, 0);
}
static void child_stuck_pinned(void *a)
{
    (void)a;
    fj_config c = fj_config_default();
    c.workers = 1;
    c.small_fibers = 2;
    c.large_fibers = 1;
    fj_scheduler *s = fj_create(&c);
    CHECK(s);
    CHECK_EQ(fj_main(s, stuck_pin_root, NULL), 0);
    fj_destroy(s);
}
static void bad_worker_root(void *arg)
{
    (void)arg;
    fj_job j = { .fn = child_work, .name = "too_far", .flags = FJ_JOB_ON_WORKER(g_workers) };
    fj_run_jobs(&j, 1, NULL);
}
static void child_bad_worker(void *a) { (void)a; fj_main(make(0), bad_worker_root, NULL); }
static void child_bad_worker_outside(void *a)
{
    (void)a;
    fj_job j = { .fn = child_work, .name = "too_far_outside", .flags = FJ_JOB_ON_WORKER(g_workers + 3) };
    fj_run_jobs_on(make(0), &j, 1, NULL);
}
static void bits_root(void *arg)
{
    (void)arg;
    fj_job j = { .fn = child_work, .name = "no_pin_flag", .flags = 3u << FJ_JOB_WORKER_SHIFT };
    fj_run_jobs(&j, 1, NULL);
}
static void child_bits(void *a) { (void)a; fj_main(make(0), bits_root, NULL); }
static void child_inside(void *a)
{
    (void)a;
    fj_scheduler *s = make(0);
    fj_main(s, run_pinned_inside, s);
}

int main(int argc, char **argv)
{
    g_workers = test_workers(argc, argv);

    fj_scheduler *s = make(0);
    CHECK_EQ(fj_main(s, stays_root, NULL), 0);
    fj_destroy(s);

    s = make(1);
    pthread_t self = pthread_self();
    CHECK_EQ(fj_main(s, order_root, &self), 0);

    /* fj_run_pinned: queue from outside, run on this thread. */
    g_caller = pthread_self();
    int dummy = 0;
    fj_job jobs[6];
    for (int i = 0; i < 6; i++)
        jobs[i] = (fj_job){ .fn = i == 2 ? on_caller_waits : on_caller, .arg = &dummy, .name = "on_caller",
                            .flags = FJ_JOB_ON_MAIN };
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs_on(s, jobs, 6, &c);
    CHECK_EQ(fj_counter_value(&c), 6);
    CHECK_EQ(fj_run_pinned(s), 0);
    CHECK_EQ(fj_counter_value(&c), 0);
    CHECK_EQ(g_on_caller, 7);
    CHECK_EQ(g_off_caller, 0);
    CHECK_EQ(fj_run_pinned(s), 0);   /* nothing pinned: returns at once */
    CHECK_EQ(fj_run_pinned(NULL), FJ_EINVAL);

    /* FJ_EBUSY while another thread is in fj_main. */
    fj_counter release;
    fj_counter_init(&release, 0);
    fj_counter_add(&release, 1);   /* this thread is no worker: held outside */
    busy_arg b = { s, &release };
    pthread_t t;
    CHECK(pthread_create(&t, NULL, busy_main, &b) == 0);
    while (!__atomic_load_n(&g_in_main, __ATOMIC_ACQUIRE))
        sched_yield();
    CHECK_EQ(fj_run_pinned(s), FJ_EBUSY);
    fj_counter_done(&release, 1);
    pthread_join(t, NULL);
    fj_destroy(s);

    /* fj_destroy runs what is pinned and still queued, on every worker. */
    for (int round = 0; round < 20; round++) {
        s = make(0);
        int ran = 0;
        fj_job pj[64];
        for (int i = 0; i < 64; i++)
            pj[i] = (fj_job){ .fn = child_work, .arg = &ran, .name = "pinned_at_destroy",
                              .flags = FJ_JOB_ON_WORKER((unsigned)i % g_workers) };
        fj_counter dc;
        fj_counter_init(&dc, 0);
        fj_run_jobs_on(s, pj, 64, &dc);
        fj_destroy(s);
        CHECK_EQ(ran, 64);
        CHECK_EQ(fj_counter_value(&dc), 0);
    }

    static child_result stuck;
    run_in_child(child_stuck_pinned, NULL, 60, &stuck);
    if (child_exit_code(&stuck) != 0) {
        fprintf(stderr, "a stuck worker did not resume a woken pinned fiber:\n%s\n", stuck.err);
        return 1;
    }

    const child_result *r = EXPECT_ABORT_CONTAINS(child_deadlock, NULL, "fiberjob: deadlock: ");
    CHECK(strstr(r->err, "job 'stuck_pinned' waits on counter"));
    CHECK(strstr(r->err, "[pinned to worker "));

    EXPECT_ABORT_CONTAINS(child_bad_worker, NULL, "fiberjob: fj_run_jobs: job 'too_far' is pinned to worker ");
    EXPECT_ABORT_CONTAINS(child_bad_worker_outside, NULL,
                          "fiberjob: fj_run_jobs_on: job 'too_far_outside' is pinned to worker ");
    EXPECT_ABORT_CONTAINS(child_bits, NULL, "fiberjob: fj_run_jobs: job 0 of 1 ('no_pin_flag') names a worker in its flags without FJ_JOB_PINNED");
    EXPECT_ABORT_CONTAINS(child_inside, NULL, "fiberjob: fj_run_pinned: called from inside a job");

    fj_config bad = fj_config_default();
    bad.root_on_main = 2;
    CHECK(fj_create(&bad) == NULL);
    CHECK_EQ(fj_last_error(), FJ_EINVAL);

    printf("ok\n");
    return 0;
}
