/*
 * fj_enter / fj_leave (#15 item 7): a thread outside fj_main takes part as
 * worker 0 for a while, on its own stack.
 *
 *  - between the two, jobs queued from the thread run, nested jobs that wait
 *    (parking their fibers) complete, and the thread's own code comes back on
 *    the same thread after each fj_wait (thread id, thread-local address),
 *    many rounds; with one worker every job runs on this thread;
 *  - jobs pinned to worker 0 queued by another thread run on the entered
 *    thread while it waits;
 *  - a count finished by an outside thread (held outside) is waited for;
 *  - handles spawned and joined on the entered thread;
 *  - enter, leave, enter again, then fj_main: each works;
 *  - FJ_EBUSY while another thread is in fj_main; FJ_EINVAL for NULL;
 *  - misuse in child processes: fj_enter twice, fj_leave without fj_enter,
 *    fj_leave(NULL), fj_leave from a job running on the entered stack,
 *    fj_panic on the entered thread, fj_destroy while entered, and a
 *    deadlock while entered (reported naming the entered thread).
 */
#include <pthread.h>
#include <time.h>

#include "../lib/test.h"

static unsigned g_workers;
static _Thread_local int tls_marker;
static pthread_t g_entered;

static fj_scheduler *make(void)
{
    fj_config c = fj_config_default();
    c.workers = g_workers;
    fj_scheduler *s = fj_create(&c);
    CHECK(s);
    return s;
}

static void leaf(void *arg)
{
    int *p = arg;
    __atomic_fetch_add(&p[0], 1, __ATOMIC_RELAXED);
    if (pthread_equal(pthread_self(), g_entered))
        __atomic_fetch_add(&p[1], 1, __ATOMIC_RELAXED);
}

static void parent(void *arg)
{
    /* Waits on children of its own: its fiber parks (or runs them nested). */
    fj_job kids[6];
    for (int i = 0; i < 6; i++)
        kids[i] = (fj_job){ .fn = leaf, .arg = arg, .name = "leaf" };
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs(kids, 6, &c);
    fj_wait(&c, 0);
}

static void round_of_work(int counts[2], bool entered)
{
    fj_job jobs[40];
    for (int i = 0; i < 40; i++)
        jobs[i] = (fj_job){ .fn = i % 4 ? leaf : parent, .arg = counts, .name = i % 4 ? "leaf" : "parent",
                            .flags = i % 8 == 1 ? FJ_JOB_LARGE_STACK : 0 };
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs(jobs, 40, &c);
    int *mine = &tls_marker;
    fj_wait(&c, 0);
    CHECK_EQ(fj_counter_value(&c), 0);
    if (!entered)
        return;   /* fj_main's root (root_on_main 0) may resume on any worker */
    CHECK(pthread_equal(pthread_self(), g_entered));
    CHECK(mine == &tls_marker);
    CHECK_EQ(fj_worker_index(), 0);
}

typedef struct pinned_sub {
    fj_scheduler *s;
    fj_counter *c;
    int *on_entered;
} pinned_sub;
static void on_main(void *arg)
{
    if (pthread_equal(pthread_self(), g_entered) && fj_worker_index() == 0)
        __atomic_fetch_add((int *)arg, 1, __ATOMIC_RELAXED);
}
static void *submit_pinned(void *arg)
{
    pinned_sub *p = arg;
    fj_job j[5];
    for (int i = 0; i < 5; i++)
        j[i] = (fj_job){ .fn = on_main, .arg = p->on_entered, .name = "on_main", .flags = FJ_JOB_ON_MAIN };
    fj_run_jobs_on(p->s, j, 5, p->c);
    fj_counter_done(p->c, 1);   /* the count the entered thread handed out */
    return NULL;
}

static void *io_finish(void *arg)
{
    struct timespec ts = { 0, 100 * 1000 * 1000 };
    nanosleep(&ts, NULL);
    fj_counter_done(arg, 1);
    return NULL;
}

static void panicky(void *arg)
{
    (void)arg;
    fj_panic("spawned and joined on an entered thread");
}

static void busy_root(void *arg)
{
    int *flag = ((void **)arg)[0];
    fj_counter *release = ((void **)arg)[1];
    __atomic_store_n(flag, 1, __ATOMIC_RELEASE);
    fj_wait(release, 0);
}
static void *busy_main(void *arg)
{
    fj_scheduler *s = ((void **)arg)[2];
    CHECK_EQ(fj_main(s, busy_root, arg), 0);
    return NULL;
}

static void root_counts(void *arg)
{
    int counts[2] = { 0, 0 };
    round_of_work(counts, false);
    *(int *)arg = counts[0];
}

/* --- misuse, each in a child */
static void child_enter_twice(void *a)
{
    (void)a;
    fj_scheduler *s = make();
    CHECK_EQ(fj_enter(s), 0);
    fj_enter(s);
}
static void child_leave_without(void *a) { (void)a; fj_leave(make()); }
static void child_leave_null(void *a) { (void)a; fj_leave(NULL); }
static fj_scheduler *g_s;
static void leave_in_job(void *a) { (void)a; fj_leave(g_s); }
static void child_leave_in_job(void *a)
{
    (void)a;
    g_s = make();
    CHECK_EQ(fj_enter(g_s), 0);
    fj_job j = { .fn = leave_in_job, .name = "leave_in_job" };
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs(&j, 1, &c);
    fj_wait(&c, 0);   /* runs it nested on this stack, or another worker runs it */
}
static void child_panic_entered(void *a)
{
    (void)a;
    CHECK_EQ(fj_enter(make()), 0);
    fj_panic("not a job");
}
static void child_destroy_entered(void *a)
{
    (void)a;
    fj_scheduler *s = make();
    CHECK_EQ(fj_enter(s), 0);
    fj_destroy(s);
}
static fj_counter g_c1;
static void finish_c1(void *a)
{
    (void)a;
    struct timespec ts = { 0, 20 * 1000 * 1000 };
    nanosleep(&ts, NULL);
    fj_counter_done(&g_c1, 1);
}
static void child_deadlock_entered(void *a)
{
    fj_scheduler *s = make();
    if (a) {
        /* First an outside wait that blocks and is woken: its record goes
         * back to the free list woken, and fj_enter takes it again. */
        fj_counter_init(&g_c1, 1);
        fj_job j = { .fn = finish_c1, .name = "finish_c1" };
        fj_run_jobs_on(s, &j, 1, NULL);
        fj_wait(&g_c1, 0);
    }
    CHECK_EQ(fj_enter(s), 0);
    fj_counter c;
    fj_counter_init(&c, 1);
    fj_wait(&c, 0);
}

int main(int argc, char **argv)
{
    g_workers = test_workers(argc, argv);
    g_entered = pthread_self();
    fj_scheduler *s = make();

    CHECK_EQ(fj_worker_index(), -1);
    CHECK_EQ(fj_enter(s), 0);
    CHECK_EQ(fj_worker_index(), 0);
    int counts[2] = { 0, 0 };
    for (int r = 0; r < 50; r++)
        round_of_work(counts, true);
    CHECK_EQ(counts[0], 50 * (30 + 10 * 6));
    if (g_workers == 1)
        CHECK_EQ(counts[1], counts[0]);   /* one worker: this thread ran them all */

    /* Jobs pinned to worker 0 from another thread run here while we wait. */
    int on_entered = 0;
    fj_counter pc;
    fj_counter_init(&pc, 0);
    fj_counter_add_outside(&pc, 1);   /* the submitter finishes it after queueing */
    pinned_sub ps = { s, &pc, &on_entered };
    pthread_t t;
    CHECK(pthread_create(&t, NULL, submit_pinned, &ps) == 0);
    fj_wait(&pc, 0);
    pthread_join(t, NULL);
    CHECK_EQ(on_entered, 5);

    /* A count an I/O thread finishes, every worker idle meanwhile. */
    fj_counter io;
    fj_counter_init(&io, 0);
    fj_counter_add_outside(&io, 1);
    CHECK(pthread_create(&t, NULL, io_finish, &io) == 0);
    fj_wait(&io, 0);
    pthread_join(t, NULL);
    CHECK(pthread_equal(pthread_self(), g_entered));

    /* Handles. */
    fj_job pj = { .fn = panicky, .name = "panicky" };
    fj_job lj = { .fn = leaf, .arg = counts, .name = "leaf" };
    fj_handle h1 = fj_spawn(&pj), h2 = fj_spawn(&lj);
    CHECK_EQ(fj_join(h2), 0);
    CHECK_EQ(fj_join(h1), FJ_EPANIC);
    fj_yield();   /* returns at once on the entered stack */
    fj_leave(s);
    CHECK_EQ(fj_worker_index(), -1);

    /* Again, then fj_main. */
    CHECK_EQ(fj_enter(s), 0);
    round_of_work(counts, true);
    fj_leave(s);
    int root_ran = 0;
    CHECK_EQ(fj_main(s, root_counts, &root_ran), 0);
    CHECK_EQ(root_ran, 30 + 10 * 6);

    /* FJ_EBUSY while another thread is in fj_main; FJ_EINVAL for NULL. */
    int in_main = 0;
    fj_counter release;
    fj_counter_init(&release, 0);
    fj_counter_add(&release, 1);   /* not a worker: held outside */
    void *args[3] = { &in_main, &release, s };
    CHECK(pthread_create(&t, NULL, busy_main, args) == 0);
    while (!__atomic_load_n(&in_main, __ATOMIC_ACQUIRE))
        sched_yield();
    CHECK_EQ(fj_enter(s), FJ_EBUSY);
    fj_counter_done(&release, 1);
    pthread_join(t, NULL);
    CHECK_EQ(fj_enter(NULL), FJ_EINVAL);
    fj_destroy(s);

    EXPECT_ABORT_CONTAINS(child_enter_twice, NULL, "fiberjob: fj_enter: called on a thread that is already a worker");
    EXPECT_ABORT_CONTAINS(child_leave_without, NULL, "fiberjob: fj_leave: the calling thread did not fj_enter this scheduler");
    EXPECT_ABORT_CONTAINS(child_leave_null, NULL, "fiberjob: fj_leave: scheduler is NULL");
    /* Run nested on the entered stack: "inside job"; run by another worker:
     * that worker did not enter. Either way one line naming fj_leave. */
    const child_result *r = EXPECT_ABORT_CONTAINS(child_leave_in_job, NULL, "fiberjob: fj_leave: ");
    CHECK(strstr(r->err, "called inside job 'leave_in_job'") ||
          strstr(r->err, "the calling thread did not fj_enter this scheduler"));
    EXPECT_ABORT_CONTAINS(child_panic_entered, NULL, "fiberjob: fj_panic: called outside a job: not a job");
    EXPECT_ABORT_CONTAINS(child_destroy_entered, NULL,
                          "fiberjob: fj_destroy: called from inside a job (or between fj_enter and fj_leave)");
    r = EXPECT_ABORT_CONTAINS(child_deadlock_entered, NULL, "fiberjob: deadlock: ");
    CHECK(strstr(r->err, "the thread in fj_enter waits on counter"));
    if (g_workers > 1) {   /* one worker: the outside wait has no worker to run its job */
        r = EXPECT_ABORT_CONTAINS(child_deadlock_entered, (void *)1, "fiberjob: deadlock: ");
        CHECK(strstr(r->err, "the thread in fj_enter waits on counter"));
    }

    printf("ok\n");
    return 0;
}
