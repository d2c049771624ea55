/*
 * Counters and their wait lists, through the public API.
 *
 *  - Many waiters (fibers) on one counter, each with its own target: every one
 *    resumes, and none before the counter reached its target (the value only
 *    falls in that test, so the value read after resuming must be <= target).
 *  - One counter reused many times, with and without re-initialisation, and
 *    waits on intermediate targets.
 *  - Waiting on a counter already at or below the target returns at once,
 *    inside a job, on a thread outside the scheduler, and with no scheduler.
 *  - fj_counter_value while jobs are held back, and hand-managed counts
 *    (fj_counter_add / fj_counter_done), from jobs and from another thread.
 *  - A staircase: waiters that wait for falling targets one after another (so
 *    they publish again and again) while finishers count the value down on
 *    other workers: publishing, finishing and putting unreached waiters back
 *    all race on one word. Every wait must end, none early.
 *  - A tree walk: the counter lives on the waiting job's stack, and the jobs
 *    counted on it add more jobs to it; several fibers wait on it at once.
 *    Repeated many times, so a decrementer that touched the counter after the
 *    wake that freed it would corrupt a later counter in the same place.
 */
#include <pthread.h>
#include <sched.h>

#include "test.h"

static fj_config cfg;

/* ------------------------------------------------------------ many waiters */

enum { NWAIT = 50 };

static struct {
    fj_counter c;       /* counted by the finisher jobs */
    fj_counter gate;    /* hand-managed: holds the finishers back */
    int finished;
    int resumed;
    int early;
    int saw_high;
} mw;

static void finisher(void *arg)
{
    (void)arg;
    fj_wait(&mw.gate, 0);
    fj_yield();
    T_ADD(&mw.finished, 1);
}

static void waiter(void *arg)
{
    int64_t target = (int64_t)(intptr_t)arg;
    int64_t before = fj_counter_value(&mw.c);
    if (before > target)
        T_ADD(&mw.saw_high, 1);
    fj_wait(&mw.c, target);
    int64_t v = fj_counter_value(&mw.c);
    if (v > target) {
        fprintf(stderr, "waiter with target %lld resumed at value %lld\n", (long long)target, (long long)v);
        T_ADD(&mw.early, 1);
    }
    T_ADD(&mw.resumed, 1);
}

static void many_waiters_root(void *arg)
{
    (void)arg;
    static fj_job fin[NWAIT], wt[NWAIT + 4];
    fj_counter_init(&mw.c, 0);
    fj_counter_init(&mw.gate, 0);
    fj_counter_add(&mw.gate, 1);
    for (int i = 0; i < NWAIT; i++)
        fin[i] = (fj_job){ .fn = finisher, .name = "finisher" };
    fj_run_jobs(fin, NWAIT, &mw.c);
    CHECK_EQ(fj_counter_value(&mw.c), NWAIT);   /* none can finish: the gate is closed */
    /* Targets 0..NWAIT-1 in a shuffled order, plus some at or above the value. */
    for (int i = 0; i < NWAIT; i++)
        wt[i] = (fj_job){ .fn = waiter, .arg = (void *)(intptr_t)((i * 17) % NWAIT), .name = "waiter" };
    wt[NWAIT] = (fj_job){ .fn = waiter, .arg = (void *)(intptr_t)NWAIT, .name = "waiter-at" };
    wt[NWAIT + 1] = (fj_job){ .fn = waiter, .arg = (void *)(intptr_t)(NWAIT + 5), .name = "waiter-above" };
    wt[NWAIT + 2] = (fj_job){ .fn = waiter, .arg = (void *)(intptr_t)0, .name = "waiter-0" };
    wt[NWAIT + 3] = (fj_job){ .fn = waiter, .arg = (void *)(intptr_t)FJ_WAIT_TARGET_MAX, .name = "waiter-max" };
    fj_counter wc;
    fj_counter_init(&wc, 0);
    fj_run_jobs(wt, NWAIT + 4, &wc);
    /* Let the waiters park before opening the gate. */
    for (int i = 0; i < 4 * NWAIT; i++)
        fj_yield();
    CHECK_EQ(T_LOAD(&mw.finished), 0);
    fj_counter_done(&mw.gate, 1);
    fj_wait(&wc, 0);
    CHECK_EQ(T_LOAD(&mw.resumed), NWAIT + 4);
    fj_wait(&mw.c, 0);
    CHECK_EQ(T_LOAD(&mw.finished), NWAIT);
    CHECK_EQ(T_LOAD(&mw.early), 0);
}

static void test_many_waiters(void)
{
    fj_config c = cfg;
    c.small_fibers = 256;
    for (int round = 0; round < 20; round++) {
        memset(&mw, 0, sizeof mw);
        run_root(&c, many_waiters_root, NULL);
    }
    /* Most waiters saw the counter above their target before waiting, so the
     * test exercised real suspensions, not just the already-reached path. */
    CHECK(mw.saw_high > 0);
}

/* ------------------------------------------------------------ reuse */

static int reuse_hits;

static void bump(void *arg)
{
    (void)arg;
    T_ADD(&reuse_hits, 1);
}

static void reuse_root(void *arg)
{
    (void)arg;
    fj_job jobs[16];
    for (int i = 0; i < 16; i++)
        jobs[i] = (fj_job){ .fn = bump, .name = "bump" };
    fj_counter c;
    fj_counter_init(&c, 0);
    int expect = 0;
    for (int round = 0; round < 3000; round++) {
        int n = round % 16 + 1;
        fj_run_jobs(jobs, (size_t)n, &c);
        expect += n;
        if (round % 3 == 0) {
            fj_wait(&c, (int64_t)(n / 2));
            CHECK(fj_counter_value(&c) <= n / 2);
        }
        fj_wait(&c, 0);
        CHECK_EQ(fj_counter_value(&c), 0);
        CHECK_EQ(T_LOAD(&reuse_hits), expect);
        if (round % 100 == 99)
            fj_counter_init(&c, 0);   /* re-initialising an idle counter is fine */
    }
    CHECK_EQ(fj_counter_panics(&c), 0);
}

/* ------------------------------------------------------------ already reached */

static void reached_root(void *arg)
{
    (void)arg;
    fj_counter c;
    fj_counter_init(&c, 3);
    CHECK_EQ(fj_counter_value(&c), 3);
    fj_wait(&c, 3);
    fj_wait(&c, 4);
    fj_wait(&c, FJ_WAIT_TARGET_MAX);
    CHECK_EQ(fj_counter_value(&c), 3);
    fj_counter_init(&c, 0);
    for (int i = 0; i < 1000; i++)
        fj_wait(&c, 0);
    CHECK_EQ(fj_counter_value(&c), 0);
    CHECK_EQ(fj_counter_panics(&c), 0);
}

static void *reached_outside_thread(void *arg)
{
    (void)arg;
    fj_counter c;
    fj_counter_init(&c, 2);
    fj_wait(&c, 2);
    fj_wait(&c, 100);
    fj_counter_init(&c, 0);
    fj_wait(&c, 0);
    return NULL;
}

static void reached_no_scheduler(void *arg)
{
    (void)arg;
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_wait(&c, 0);      /* the condition already holds: nothing needs waking */
    fj_counter_init(&c, 5);
    fj_wait(&c, 7);
}

static void test_already_reached(void)
{
    run_root(&cfg, reached_root, NULL);

    fj_scheduler *s = fj_create(&cfg);
    CHECK(s);
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, reached_outside_thread, NULL), 0);
    CHECK_EQ(pthread_join(t, NULL), 0);
    reached_outside_thread(NULL);   /* the creating thread, outside fj_main */
    fj_destroy(s);

    /* No scheduler at all. In a child: the library might abort. */
    static child_result r;
    run_in_child(reached_no_scheduler, NULL, 20, &r);
    if (!(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0)) {
        char buf[128];
        FAIL_SOFT("fj_wait on a counter already at its target, with no scheduler: child %s, "
                  "expected it to return at once. stderr:\n%s",
                  child_status_text(r.status, buf, sizeof buf), r.err);
    }
}

/* ------------------------------------------------------------ value and hand-managed counts */

static fj_counter held_gate;
static int held_done;

static void held_job(void *arg)
{
    (void)arg;
    fj_wait(&held_gate, 0);
    T_ADD(&held_done, 1);
}

static void value_root(void *arg)
{
    (void)arg;
    fj_counter c;
    fj_counter_init(&c, 0);
    CHECK_EQ(fj_counter_value(&c), 0);
    fj_counter_init(&held_gate, 0);
    fj_counter_add(&held_gate, 2);
    CHECK_EQ(fj_counter_value(&held_gate), 2);
    fj_job jobs[3];
    for (int i = 0; i < 3; i++)
        jobs[i] = (fj_job){ .fn = held_job, .name = "held" };
    fj_run_jobs(jobs, 3, &c);
    CHECK_EQ(fj_counter_value(&c), 3);
    fj_run_jobs(jobs, 2, &c);
    CHECK_EQ(fj_counter_value(&c), 5);
    for (int i = 0; i < 20; i++)
        fj_yield();
    /* The gate is still closed: nothing finished. */
    CHECK_EQ(fj_counter_value(&c), 5);
    CHECK_EQ(T_LOAD(&held_done), 0);
    fj_counter_done(&held_gate, 1);
    CHECK_EQ(fj_counter_value(&held_gate), 1);
    fj_counter_add(&held_gate, 0);
    fj_counter_done(&held_gate, 0);
    CHECK_EQ(fj_counter_value(&held_gate), 1);
    fj_counter_done(&held_gate, 1);
    fj_wait(&c, 0);
    CHECK_EQ(fj_counter_value(&c), 0);
    CHECK_EQ(T_LOAD(&held_done), 5);
    /* A hand-managed count on a counter that jobs also use. */
    fj_counter_add(&c, 1);
    fj_run_jobs(jobs, 1, &c);   /* held_gate is 0 now: it finishes at once */
    fj_wait(&c, 1);
    CHECK_EQ(fj_counter_value(&c), 1);
    fj_counter_done(&c, 1);
    fj_wait(&c, 0);
    CHECK_EQ(fj_counter_value(&c), 0);
}

/* A job waits on a hand-managed count that a thread outside the scheduler
 * finishes: the wake goes through the injection queue. The deadlock hook says
 * "keep waiting" because the outside thread will finish it. */
static fj_counter ext_count;
static int ext_go;

static int keep_waiting(const fj_deadlock_info *info, void *user)
{
    (void)info;
    (void)user;
    return 1;
}

static void *ext_finisher(void *arg)
{
    (void)arg;
    while (!T_LOAD(&ext_go))
        sched_yield();
    for (int i = 0; i < 3; i++)
        fj_counter_done(&ext_count, 1);
    return NULL;
}

static void ext_root(void *arg)
{
    pthread_t *t = arg;
    fj_counter_init(&ext_count, 0);
    fj_counter_add(&ext_count, 3);
    CHECK_EQ(pthread_create(t, NULL, ext_finisher, NULL), 0);
    T_STORE(&ext_go, 1);
    fj_wait(&ext_count, 0);
    CHECK_EQ(fj_counter_value(&ext_count), 0);
}

static void test_values(void)
{
    run_root(&cfg, value_root, NULL);
    for (int round = 0; round < 50; round++) {
        fj_config c = cfg;
        c.deadlock_hook = keep_waiting;
        pthread_t t;
        T_STORE(&ext_go, 0);
        /* Deliberately destroy before joining: once the root has been woken,
         * nothing may touch the scheduler (or the counter) on behalf of that
         * wake, so fj_destroy must be safe while the outside thread is still
         * returning from fj_counter_done. (ASan builds check it.) */
        run_root(&c, ext_root, &t);
        CHECK_EQ(pthread_join(t, NULL), 0);
    }
    /* fj_counter_add and fj_counter_done with no scheduler just count. */
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_counter_add(&c, 7);
    fj_counter_done(&c, 3);
    CHECK_EQ(fj_counter_value(&c), 4);
    fj_counter_done(&c, 4);
    CHECK_EQ(fj_counter_value(&c), 0);
    fj_counter_init(&c, FJ_COUNTER_MAX);
    CHECK_EQ(fj_counter_value(&c), FJ_COUNTER_MAX);
}

/* ------------------------------------------------------------ staircase */

enum { STAIR_FINISHERS = 96, STAIR_WAITERS = 24, STAIR_ROUNDS = 150 };

static fj_counter stair;
static int stair_early, stair_waits;

static void stair_finisher(void *arg)
{
    if ((uintptr_t)arg & 1)
        fj_yield();
}

static void stair_waiter(void *arg)
{
    int64_t t = (int64_t)(intptr_t)arg;
    for (; t >= 0; t -= 7) {
        fj_wait(&stair, t);
        if (fj_counter_value(&stair) > t)
            T_ADD(&stair_early, 1);
        T_ADD(&stair_waits, 1);
    }
    fj_wait(&stair, 0);
}

static void stair_root(void *arg)
{
    (void)arg;
    static fj_job fin[STAIR_FINISHERS], wt[STAIR_WAITERS];
    for (int i = 0; i < STAIR_FINISHERS; i++)
        fin[i] = (fj_job){ .fn = stair_finisher, .arg = (void *)(uintptr_t)i, .name = "stair-finisher" };
    for (int i = 0; i < STAIR_WAITERS; i++)
        wt[i] = (fj_job){ .fn = stair_waiter, .arg = (void *)(intptr_t)(STAIR_FINISHERS - 1 - i * 3),
                          .name = "stair-waiter" };
    fj_counter wc;
    fj_counter_init(&wc, 0);
    for (int round = 0; round < STAIR_ROUNDS; round++) {
        fj_counter_init(&stair, 0);
        /* Count the finishers first, so the waiters find the value high. */
        fj_counter_add(&stair, 1);
        fj_run_jobs(fin, STAIR_FINISHERS, &stair);
        fj_run_jobs(wt, STAIR_WAITERS, &wc);
        fj_counter_done(&stair, 1);
        fj_wait(&wc, 0);
        CHECK_EQ(fj_counter_value(&stair), 0);
    }
}

static void test_staircase(void *arg)
{
    (void)arg;
    fj_config c = cfg;
    c.small_fibers = 256;
    run_root(&c, stair_root, NULL);
    CHECK_EQ(stair_early, 0);
    int per_waiter = 0;
    for (int i = 0; i < STAIR_WAITERS; i++)
        per_waiter += (STAIR_FINISHERS - 1 - i * 3) / 7 + 1;
    CHECK_EQ(stair_waits, STAIR_ROUNDS * per_waiter);
}

static void test_many_waiters_child(void *arg)
{
    (void)arg;
    test_many_waiters();
}

/* ------------------------------------------------------------ tree walk */

enum { TREE_DEPTH = 9, TREE_NODES = (1 << (TREE_DEPTH + 1)) - 1, TREE_ROUNDS = 200, TREE_WATCHERS = 4 };

static fj_counter *tree_counter;   /* the walk's counter, on the walking job's stack */
static int tree_visited;
static int watchers_done;

static void tree_node(void *arg)
{
    int depth = (int)(intptr_t)arg;
    T_ADD(&tree_visited, 1);
    if (depth == 0)
        return;
    fj_job kids[2] = {
        { .fn = tree_node, .arg = (void *)(intptr_t)(depth - 1), .name = "tree-node" },
        { .fn = tree_node, .arg = (void *)(intptr_t)(depth - 1), .name = "tree-node" },
    };
    /* Add to the counter the parent waits on: it cannot reach zero before
     * these are counted, since this job has not finished yet. */
    fj_run_jobs(kids, 2, tree_counter);
}

static void watcher(void *arg)
{
    fj_counter *c = arg;
    fj_wait(c, 0);
    T_ADD(&watchers_done, 1);
}

static __attribute__((noinline)) void walk_once(int round)
{
    fj_counter c;
    fj_counter_init(&c, 0);
    tree_counter = &c;
    T_STORE(&tree_visited, 0);
    T_STORE(&watchers_done, 0);
    fj_job root = { .fn = tree_node, .arg = (void *)(intptr_t)TREE_DEPTH, .name = "tree-root" };
    fj_run_jobs(&root, 1, &c);
    fj_counter wc;
    fj_counter_init(&wc, 0);
    if (round % 2) {
        fj_job w[TREE_WATCHERS];
        for (int i = 0; i < TREE_WATCHERS; i++)
            w[i] = (fj_job){ .fn = watcher, .arg = &c, .name = "watcher" };
        fj_run_jobs(w, TREE_WATCHERS, &wc);
    }
    fj_wait(&c, 0);
    CHECK_EQ(T_LOAD(&tree_visited), TREE_NODES);
    CHECK_EQ(fj_counter_value(&c), 0);
    fj_wait(&wc, 0);
    if (round % 2)
        CHECK_EQ(T_LOAD(&watchers_done), TREE_WATCHERS);
    /* From here the counter is dead: poison it. A late write by a decrementer
     * would change the poison (checked below) or the next round's counter. */
    memset(&c, 0xA5, sizeof c);
    fj_yield();
    fj_job more[8];
    for (int i = 0; i < 8; i++)
        more[i] = (fj_job){ .fn = bump, .name = "bump" };
    fj_counter m;
    fj_counter_init(&m, 0);
    fj_run_jobs(more, 8, &m);
    fj_wait(&m, 0);
    const unsigned char *p = (const unsigned char *)&c;
    for (size_t i = 0; i < sizeof c; i++)
        CHECK_EQ(p[i], 0xA5);
}

static void tree_root(void *arg)
{
    (void)arg;
    for (int round = 0; round < TREE_ROUNDS; round++)
        walk_once(round);
}

int main(int argc, char **argv)
{
    cfg = test_config(argc, argv);
    /* Fork-based checks first, while this process has no threads. */
    test_already_reached();
    /* The wait-list races in children with a time limit: a lost wake-up is
     * reported as a hang instead of stalling until ctest's timeout. */
    for (int i = 0; i < 3; i++)
        if (!EXPECT_CHILD_OK(test_staircase, NULL, 10, "staircase: waiters re-publishing while finishers count down"))
            break;
    EXPECT_CHILD_OK(test_many_waiters_child, NULL, 10, "many waiters with different targets on one counter");
    run_root(&cfg, reuse_root, NULL);
    test_values();
    run_root(&cfg, tree_root, NULL);
    return test_finish();
}
