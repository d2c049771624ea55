/*
 * Counters across schedulers.
 *
 * Several schedulers may be alive at once. A counter may be waited on by a
 * fiber of one scheduler and finished by jobs of another, by a job of another
 * scheduler calling fj_counter_done, or by a plain thread; fj_run_jobs_on from
 * a job of scheduler A counts as "from outside" for scheduler B. None of this
 * may depend on which scheduler is the newest, nor on schedulers being created
 * and destroyed by other threads meanwhile.
 *
 *  1. A's root (fj_main on this thread) and a few jobs of A wait on a counter
 *     finished by jobs of B (B run by fj_main on another thread, or by its
 *     background workers only). B's jobs sleep, so A's workers go idle while B
 *     works: that is not a deadlock, and no report may be printed.
 *  2. A plain thread waits on a counter finished by jobs of B while a newer
 *     scheduler A is alive (idle, or running fj_main).
 *  3. A plain thread calls fj_counter_done on a counter that fibers of A wait
 *     on while a newer scheduler B exists, round after round.
 *  4. A plain thread blocks in fj_wait while two threads create and destroy
 *     schedulers in a loop; a fourth thread finishes the count.
 *  5. Stress: three schedulers whose jobs run jobs on each other with shared
 *     counters, plain threads finishing hand counts and waiting on jobs, one
 *     scheduler destroyed and made again between rounds; every job runs
 *     exactly once.
 *
 * Every scenario runs in a child process with a time limit (a hang is a
 * failure), and must leave no "fiberjob:" line on stderr. Where a plain thread
 * finishes a hand count (3, 4, 5) the library cannot know that it will, so the
 * schedulers there have a deadlock hook that says "keep waiting"; 1 and 2 have
 * none: nothing there is a deadlock.
 */
#include <pthread.h>
#include <sched.h>

#include "test.h"

static unsigned g_workers;

static fj_config base_config(void)
{
    fj_config c = fj_config_default();
    c.workers = g_workers;
    return c;
}

static int keep_waiting(const fj_deadlock_info *info, void *user)
{
    (void)info;
    (void)user;
    return 1;
}

static fj_scheduler *make_sched(bool hook)
{
    fj_config c = base_config();
    if (hook)
        c.deadlock_hook = keep_waiting;
    fj_scheduler *s = fj_create(&c);
    if (!s) {
        fprintf(stderr, "fj_create failed: %s\n", fj_strerror(fj_last_error()));
        exit(1);
    }
    return s;
}

static void sleep_us(unsigned us) { usleep(us); }

/* Run fn(arg) in a child that must exit 0 within timeout_s and print no line
 * starting with "fiberjob:" (no deadlock report, no misuse message). A soft
 * failure otherwise, so the remaining scenarios still run. */
#define EXPECT_CLEAN(fn, arg, timeout_s, what) expect_clean_(__FILE__, __LINE__, (fn), (arg), (timeout_s), (what))
static void expect_clean_(const char *file, int ln, void (*fn)(void *), void *arg, unsigned timeout_s,
                          const char *what)
{
    static child_result r;
    run_in_child(fn, arg, timeout_s, &r);
    bool exited0 = WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0;
    bool said = has_line_with(r.err, "fiberjob:", NULL);
    if (exited0 && !said)
        return;
    char buf[128];
    bool hung = WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGALRM;
    fprintf(stderr, "%s:%d: FAILED: %s: child %s%s%s. child stderr:\n%s\n", file, ln, what,
            child_status_text(r.status, buf, sizeof buf), hung ? " (it did not finish: hang)" : "",
            said ? " and printed a fiberjob: line" : "", r.err);
    fflush(stderr);
    test_soft_failures++;
}

/* A root that keeps its scheduler busy (yielding) until *stop is set: lets a
 * scheduler with one worker run what other threads queue on it. */
static void yielding_root(void *arg)
{
    int *stop = arg;
    while (!T_LOAD(stop))
        fj_yield();
}

typedef struct driver {
    fj_scheduler *s;
    fj_job_fn fn;
    void *arg;
    int rc;
} driver;

static void *driver_thread(void *p)
{
    driver *d = p;
    d->rc = fj_main(d->s, d->fn, d->arg);
    return NULL;
}

/* ================================================================ 1 */

enum { S1_ROUNDS = 6, S1_SLEEPERS = 3, S1_WAITERS = 4 };

typedef struct s1_params {
    bool b_has_main;   /* B runs fj_main (yielding root) on another thread; else only its background workers */
    bool a_newer;      /* A created after B */
} s1_params;

static fj_scheduler *s1_b;
static fj_counter s1_c;
static int s1_slept;
static int s1_woken;
static int s1_done_left;   /* the job of B has returned from fj_counter_done */

static void s1_sleeper(void *arg)
{
    (void)arg;
    sleep_us(30000);
    T_ADD(&s1_slept, 1);
}

/* Finishes the hand count of A's root from a job of B. */
static void s1_done_job(void *arg)
{
    (void)arg;
    sleep_us(30000);
    T_ADD(&s1_slept, 1);
    fj_counter_done(&s1_c, 1);
    T_STORE(&s1_done_left, 1);
}

static void s1_waiter(void *arg)
{
    (void)arg;
    fj_wait(&s1_c, 0);
    if (fj_counter_value(&s1_c) != 0)
        T_ADD(&s1_woken, 1000000);
    T_ADD(&s1_woken, 1);
}

static void s1_root(void *arg)
{
    (void)arg;
    for (int round = 0; round < S1_ROUNDS; round++) {
        bool hand = round % 2 == 0;
        s1_slept = 0;
        s1_woken = 0;
        fj_counter_init(&s1_c, 0);
        fj_counter waiters;
        fj_counter_init(&waiters, 0);
        int expect_slept;
        if (hand) {
            /* A hand count on A's side, finished by a job of B. */
            fj_counter_add(&s1_c, 1);
            fj_job j = { .fn = s1_done_job, .name = "s1_done_job" };
            fj_run_jobs_on(s1_b, &j, 1, NULL);
            expect_slept = 1;
        } else {
            /* Jobs of B counted on A's counter (from a job of A: outside for B). */
            fj_job j[S1_SLEEPERS];
            for (int i = 0; i < S1_SLEEPERS; i++)
                j[i] = (fj_job){ .fn = s1_sleeper, .name = "s1_sleeper" };
            fj_run_jobs_on(s1_b, j, S1_SLEEPERS, &s1_c);
            expect_slept = S1_SLEEPERS;
        }
        /* More fibers of A on the same wait list. */
        fj_job w[S1_WAITERS];
        for (int i = 0; i < S1_WAITERS; i++)
            w[i] = (fj_job){ .fn = s1_waiter, .name = "s1_waiter" };
        fj_run_jobs(w, S1_WAITERS, &waiters);
        fj_wait(&s1_c, 0);
        CHECK_EQ(fj_counter_value(&s1_c), 0);
        fj_wait(&waiters, 0);
        CHECK_EQ(T_LOAD(&s1_slept), expect_slept);
        CHECK_EQ(T_LOAD(&s1_woken), S1_WAITERS);
        /* s1_c is set again next round: not while the job of B may still be
         * inside fj_counter_done on it. */
        while (hand && !T_LOAD(&s1_done_left))
            fj_yield();
        T_STORE(&s1_done_left, 0);
    }
}

static void s1_child(void *arg)
{
    const s1_params *p = arg;
    fj_scheduler *a, *b;
    if (p->a_newer) {
        b = make_sched(false);
        a = make_sched(false);
    } else {
        a = make_sched(false);
        b = make_sched(false);
    }
    s1_b = b;
    int stop = 0;
    driver d = { .s = b, .fn = yielding_root, .arg = &stop };
    pthread_t t2;
    if (p->b_has_main)
        CHECK_EQ(pthread_create(&t2, NULL, driver_thread, &d), 0);
    CHECK_EQ(fj_main(a, s1_root, NULL), 0);
    if (p->b_has_main) {
        T_STORE(&stop, 1);
        CHECK_EQ(pthread_join(t2, NULL), 0);
        CHECK_EQ(d.rc, 0);
    }
    fj_destroy(a);
    fj_destroy(b);
}

/* ================================================================ 2 */

enum { S2_ROUNDS = 20, S2_JOBS = 4 };

typedef struct s2_params {
    bool b_has_main;
    bool a_has_main;   /* the newer scheduler A runs fj_main (yielding) too; else it is idle */
} s2_params;

static fj_scheduler *s2_b;
static int s2_ran;
static fj_counter s2_c;
static int s2_done_left;   /* the job of B has returned from fj_counter_done */

static void s2_job(void *arg)
{
    unsigned us = (unsigned)(uintptr_t)arg;
    if (us)
        sleep_us(us);
    T_ADD(&s2_ran, 1);
}

static void s2_done_job(void *arg)
{
    fj_counter *c = arg;
    sleep_us(2000);
    T_ADD(&s2_ran, 1);
    fj_counter_done(c, 1);
    T_STORE(&s2_done_left, 1);
}

static void *s2_outside(void *arg)
{
    (void)arg;
    fj_counter_init(&s2_c, 0);
    for (int round = 0; round < S2_ROUNDS; round++) {
        T_STORE(&s2_ran, 0);
        if (round % 2 == 0) {
            fj_job j[S2_JOBS];
            for (int i = 0; i < S2_JOBS; i++)
                j[i] = (fj_job){ .fn = s2_job, .arg = (void *)(uintptr_t)(i == 0 ? 3000 : 0), .name = "s2_job" };
            fj_run_jobs_on(s2_b, j, S2_JOBS, &s2_c);
            fj_wait(&s2_c, 0);
            CHECK_EQ(fj_counter_value(&s2_c), 0);
            CHECK_EQ(T_LOAD(&s2_ran), S2_JOBS);
        } else {
            /* A hand count finished by a job of B. */
            fj_counter_add(&s2_c, 1);
            fj_job j = { .fn = s2_done_job, .arg = &s2_c, .name = "s2_done_job" };
            fj_run_jobs_on(s2_b, &j, 1, NULL);
            fj_wait(&s2_c, 0);
            CHECK_EQ(T_LOAD(&s2_ran), 1);
            /* The job may still be inside fj_counter_done on c: let it
             * leave before c is used again. */
            while (!T_LOAD(&s2_done_left))
                sched_yield();
            T_STORE(&s2_done_left, 0);
        }
    }
    return NULL;
}

static void s2_child(void *arg)
{
    const s2_params *p = arg;
    fj_scheduler *b = make_sched(false);
    fj_scheduler *a = make_sched(false);   /* the newest */
    s2_b = b;
    int stop = 0;
    driver db = { .s = b, .fn = yielding_root, .arg = &stop };
    driver da = { .s = a, .fn = yielding_root, .arg = &stop };
    pthread_t tb, ta, w;
    if (p->b_has_main)
        CHECK_EQ(pthread_create(&tb, NULL, driver_thread, &db), 0);
    if (p->a_has_main)
        CHECK_EQ(pthread_create(&ta, NULL, driver_thread, &da), 0);
    CHECK_EQ(pthread_create(&w, NULL, s2_outside, NULL), 0);
    CHECK_EQ(pthread_join(w, NULL), 0);
    T_STORE(&stop, 1);
    if (p->b_has_main) {
        CHECK_EQ(pthread_join(tb, NULL), 0);
        CHECK_EQ(db.rc, 0);
    }
    if (p->a_has_main) {
        CHECK_EQ(pthread_join(ta, NULL), 0);
        CHECK_EQ(da.rc, 0);
    }
    fj_destroy(a);
    fj_destroy(b);
}

/* ================================================================ 3 */

enum { S3_ROUNDS = 80, S3_WAITERS = 3 };

static fj_counter s3_c;
static int s3_round_open = -1;   /* the round whose count the outside thread may finish */
static int s3_round_done = -1;   /* the last round the outside thread has left fj_counter_done of */
static int s3_woken;

static void s3_waiter(void *arg)
{
    (void)arg;
    fj_wait(&s3_c, 0);
    T_ADD(&s3_woken, 1);
}

static void s3_root(void *arg)
{
    (void)arg;
    for (int round = 0; round < S3_ROUNDS; round++) {
        fj_counter_init(&s3_c, 1);
        T_STORE(&s3_woken, 0);
        fj_counter w;
        fj_counter_init(&w, 0);
        int nwaiters = round % 4 == 0 ? 0 : S3_WAITERS;
        fj_job j[S3_WAITERS];
        for (int i = 0; i < nwaiters; i++)
            j[i] = (fj_job){ .fn = s3_waiter, .name = "s3_waiter" };
        fj_run_jobs(j, (size_t)nwaiters, &w);
        if (round % 3 == 0)
            fj_yield();   /* let the waiters publish first, sometimes */
        T_STORE(&s3_round_open, round);
        fj_wait(&s3_c, 0);
        fj_wait(&w, 0);
        CHECK_EQ(T_LOAD(&s3_woken), nwaiters);
        /* Before the counter is set again, the outside thread must have left
         * fj_counter_done. */
        while (T_LOAD(&s3_round_done) != round)
            fj_yield();
    }
}

static void *s3_outside(void *arg)
{
    (void)arg;
    for (int round = 0; round < S3_ROUNDS; round++) {
        while (T_LOAD(&s3_round_open) != round)
            sched_yield();
        if (round % 5 == 1)
            sleep_us(500);
        else if (round % 5 == 2)
            sleep_us(50);
        fj_counter_done(&s3_c, 1);
        T_STORE(&s3_round_done, round);
    }
    return NULL;
}

static void s3_child(void *arg)
{
    bool b_has_main = arg != NULL;
    fj_scheduler *a = make_sched(true);
    fj_scheduler *b = make_sched(true);   /* newer than A */
    int stop = 0;
    driver db = { .s = b, .fn = yielding_root, .arg = &stop };
    pthread_t tb, out;
    if (b_has_main)
        CHECK_EQ(pthread_create(&tb, NULL, driver_thread, &db), 0);
    CHECK_EQ(pthread_create(&out, NULL, s3_outside, NULL), 0);
    CHECK_EQ(fj_main(a, s3_root, NULL), 0);
    CHECK_EQ(pthread_join(out, NULL), 0);
    T_STORE(&stop, 1);
    if (b_has_main) {
        CHECK_EQ(pthread_join(tb, NULL), 0);
        CHECK_EQ(db.rc, 0);
    }
    fj_destroy(b);
    fj_destroy(a);
}

/* ================================================================ 4 */

enum { S4_ROUNDS = 8, S4_SMALL_JOBS = 4 };

static int s4_stop;
static int s4_made;
static fj_counter s4_c;
static int s4_waiter_back;

static void s4_small_job(void *arg)
{
    int *hits = arg;
    T_ADD(hits, 1);
}

static void s4_small_root(void *arg)
{
    (void)arg;
    int hits = 0;
    fj_job j[S4_SMALL_JOBS];
    for (int i = 0; i < S4_SMALL_JOBS; i++)
        j[i] = (fj_job){ .fn = s4_small_job, .arg = &hits, .name = "s4_small_job" };
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs(j, S4_SMALL_JOBS, &c);
    fj_wait(&c, 0);
    CHECK_EQ(T_LOAD(&hits), S4_SMALL_JOBS);
}

static void *s4_churn(void *arg)
{
    (void)arg;
    while (!T_LOAD(&s4_stop)) {
        fj_scheduler *s = make_sched(true);
        CHECK_EQ(fj_main(s, s4_small_root, NULL), 0);
        fj_destroy(s);
        T_ADD(&s4_made, 1);
    }
    return NULL;
}

static void *s4_waiter(void *arg)
{
    (void)arg;
    fj_wait(&s4_c, 0);
    CHECK_EQ(fj_counter_value(&s4_c), 0);
    T_STORE(&s4_waiter_back, 1);
    return NULL;
}

static void *s4_finisher(void *arg)
{
    unsigned us = (unsigned)(uintptr_t)arg;
    sleep_us(us);
    fj_counter_done(&s4_c, 1);
    return NULL;
}

static void s4_child(void *arg)
{
    (void)arg;
    /* One scheduler lives throughout, so that an outside fj_wait always has
     * one; the churning threads make newer ones and destroy them. */
    fj_scheduler *base = make_sched(true);
    pthread_t churn[2];
    for (int i = 0; i < 2; i++)
        CHECK_EQ(pthread_create(&churn[i], NULL, s4_churn, NULL), 0);
    for (int round = 0; round < S4_ROUNDS; round++) {
        fj_counter_init(&s4_c, 1);
        T_STORE(&s4_waiter_back, 0);
        pthread_t w, f;
        CHECK_EQ(pthread_create(&w, NULL, s4_waiter, NULL), 0);
        CHECK_EQ(pthread_create(&f, NULL, s4_finisher, (void *)(uintptr_t)(40000 + 10000 * (round % 4))), 0);
        CHECK_EQ(pthread_join(f, NULL), 0);
        CHECK_EQ(pthread_join(w, NULL), 0);
        CHECK(T_LOAD(&s4_waiter_back));
    }
    T_STORE(&s4_stop, 1);
    for (int i = 0; i < 2; i++)
        CHECK_EQ(pthread_join(churn[i], NULL), 0);
    CHECK(T_LOAD(&s4_made) > 0);
    fj_destroy(base);
}

/* ================================================================ 5 */

enum {
    S5_ROUNDS = 25,
    S5_NS = 3,
    S5_SPAWNERS = 4,       /* jobs of each root on its own scheduler */
    S5_REMOTE = 3,         /* jobs each spawner runs on each other scheduler */
    S5_ROOT_REMOTE = 5,    /* jobs each root runs on the other schedulers with one shared counter */
    S5_OUT_JOBS = 6,       /* jobs the outside submitter runs */
    /* slots: per scheduler, spawners + spawners*2*remote + root_remote, plus outside jobs */
    S5_PER_SCHED = S5_SPAWNERS + S5_SPAWNERS * 2 * S5_REMOTE + S5_ROOT_REMOTE,
    S5_SLOTS = S5_NS * S5_PER_SCHED + S5_OUT_JOBS
};

static fj_scheduler *s5_s[S5_NS];
static int s5_ran[S5_SLOTS];
static fj_counter s5_hand[S5_NS];   /* finished by the outside finishers */
static fj_counter s5_round_end;     /* every root and the submitter finish one; the roots wait for all */
static int s5_round;

typedef struct s5_spawn_arg {
    int sched;
    int index;
} s5_spawn_arg;
static s5_spawn_arg s5_spawn_args[S5_NS][S5_SPAWNERS];

static void s5_leaf(void *arg)
{
    int slot = (int)(intptr_t)arg;
    if (slot % 7 == 0)
        sleep_us(200);
    else if (slot % 3 == 0)
        fj_yield();
    T_ADD(&s5_ran[slot], 1);
}

/* A job of scheduler i: runs jobs on both other schedulers with one counter and waits. */
static void s5_spawner(void *arg)
{
    const s5_spawn_arg *a = arg;
    int base = a->sched * S5_PER_SCHED + S5_SPAWNERS + a->index * 2 * S5_REMOTE;
    fj_counter c;
    fj_counter_init(&c, 0);
    for (int k = 1; k <= 2; k++) {
        int other = (a->sched + k) % S5_NS;
        fj_job j[S5_REMOTE];
        for (int i = 0; i < S5_REMOTE; i++)
            j[i] = (fj_job){ .fn = s5_leaf, .arg = (void *)(intptr_t)(base + (k - 1) * S5_REMOTE + i),
                             .name = "s5_leaf" };
        fj_run_jobs_on(s5_s[other], j, S5_REMOTE, &c);
    }
    fj_wait(&c, 0);
    CHECK_EQ(fj_counter_value(&c), 0);
    T_ADD(&s5_ran[a->sched * S5_PER_SCHED + a->index], 1);
}

static void s5_root(void *arg)
{
    int me = (int)(intptr_t)arg;
    int base = me * S5_PER_SCHED;
    fj_counter mine, shared;
    fj_counter_init(&mine, 0);
    fj_counter_init(&shared, 0);
    fj_job sp[S5_SPAWNERS];
    for (int i = 0; i < S5_SPAWNERS; i++) {
        s5_spawn_args[me][i] = (s5_spawn_arg){ .sched = me, .index = i };
        sp[i] = (fj_job){ .fn = s5_spawner, .arg = &s5_spawn_args[me][i], .name = "s5_spawner" };
    }
    fj_run_jobs(sp, S5_SPAWNERS, &mine);
    /* The root's own jobs on the others, on one counter. */
    for (int i = 0; i < S5_ROOT_REMOTE; i++) {
        int slot = base + S5_SPAWNERS + S5_SPAWNERS * 2 * S5_REMOTE + i;
        fj_job j = { .fn = s5_leaf, .arg = (void *)(intptr_t)slot, .name = "s5_leaf" };
        fj_run_jobs_on(s5_s[(me + 1 + i % 2) % S5_NS], &j, 1, &shared);
    }
    fj_wait(&s5_hand[me], 0);
    fj_wait(&shared, 0);
    fj_wait(&mine, 0);
    /* Stay in fj_main (so this scheduler runs what the others queue on it)
     * until every root is done: fibers of three schedulers on one wait list. */
    fj_counter_done(&s5_round_end, 1);
    fj_wait(&s5_round_end, 0);
}

static void *s5_outside_finisher(void *arg)
{
    int i = (int)(intptr_t)arg;
    sleep_us((unsigned)(i * 300 + (T_LOAD(&s5_round) % 3) * 500));
    fj_counter_done(&s5_hand[i], 1);
    return NULL;
}

static void *s5_outside_submitter(void *arg)
{
    (void)arg;
    int round = T_LOAD(&s5_round);
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_job j[S5_OUT_JOBS];
    for (int i = 0; i < S5_OUT_JOBS; i++)
        j[i] = (fj_job){ .fn = s5_leaf, .arg = (void *)(intptr_t)(S5_NS * S5_PER_SCHED + i), .name = "s5_out" };
    fj_run_jobs_on(s5_s[round % S5_NS], j, S5_OUT_JOBS / 2, &c);
    fj_run_jobs_on(s5_s[(round + 1) % S5_NS], j + S5_OUT_JOBS / 2, S5_OUT_JOBS - S5_OUT_JOBS / 2, &c);
    fj_wait(&c, 0);
    CHECK_EQ(fj_counter_value(&c), 0);
    /* The roots stay in fj_main until this is done too (with one worker, a
     * scheduler runs nothing outside fj_main). */
    fj_counter_done(&s5_round_end, 1);
    return NULL;
}

static void s5_child(void *arg)
{
    (void)arg;
    for (int i = 0; i < S5_NS; i++)
        s5_s[i] = make_sched(true);
    for (int round = 0; round < S5_ROUNDS; round++) {
        T_STORE(&s5_round, round);
        memset(s5_ran, 0, sizeof s5_ran);
        fj_counter_init(&s5_round_end, S5_NS + 1);   /* the roots and the outside submitter */
        for (int i = 0; i < S5_NS; i++)
            fj_counter_init(&s5_hand[i], 1);
        driver d[S5_NS];
        pthread_t t[S5_NS], fin[S5_NS], sub;
        for (int i = 0; i < S5_NS; i++) {
            d[i] = (driver){ .s = s5_s[i], .fn = s5_root, .arg = (void *)(intptr_t)i };
            CHECK_EQ(pthread_create(&t[i], NULL, driver_thread, &d[i]), 0);
        }
        for (int i = 0; i < S5_NS; i++)
            CHECK_EQ(pthread_create(&fin[i], NULL, s5_outside_finisher, (void *)(intptr_t)i), 0);
        CHECK_EQ(pthread_create(&sub, NULL, s5_outside_submitter, NULL), 0);
        CHECK_EQ(pthread_join(sub, NULL), 0);
        for (int i = 0; i < S5_NS; i++)
            CHECK_EQ(pthread_join(fin[i], NULL), 0);
        /* The last scheduler is destroyed and made again while the other two
         * may still be leaving fj_main. */
        int last = S5_NS - 1;
        CHECK_EQ(pthread_join(t[last], NULL), 0);
        CHECK_EQ(d[last].rc, 0);
        fj_destroy(s5_s[last]);
        s5_s[last] = make_sched(true);
        for (int i = 0; i < last; i++) {
            CHECK_EQ(pthread_join(t[i], NULL), 0);
            CHECK_EQ(d[i].rc, 0);
        }
        for (int i = 0; i < S5_SLOTS; i++) {
            if (s5_ran[i] != 1) {
                fprintf(stderr, "round %d: job slot %d ran %d times, not once\n", round, i, s5_ran[i]);
                exit(1);
            }
        }
    }
    for (int i = 0; i < S5_NS; i++)
        fj_destroy(s5_s[i]);
}

/* ================================================================ main */

int main(int argc, char **argv)
{
    g_workers = test_workers(argc, argv);

    /* 1 */
    static const s1_params p1[] = {
        { .b_has_main = true, .a_newer = true },
        { .b_has_main = true, .a_newer = false },
        { .b_has_main = false, .a_newer = true },
        { .b_has_main = false, .a_newer = false },
    };
    static const char *const n1[] = {
        "1: A's root waits on a counter finished by jobs of an older B run by fj_main on another thread",
        "1: A's root waits on a counter finished by jobs of a newer B run by fj_main on another thread",
        "1: A's root waits on a counter finished by jobs of an older B run by its background workers",
        "1: A's root waits on a counter finished by jobs of a newer B run by its background workers",
    };
    for (int i = 0; i < 4; i++) {
        if (!p1[i].b_has_main && g_workers < 2)
            continue;   /* one worker: B has no background thread */
        EXPECT_CLEAN(s1_child, (void *)&p1[i], 8, n1[i]);
    }

    /* 2 */
    static const s2_params p2[] = {
        { .b_has_main = true, .a_has_main = false },
        { .b_has_main = true, .a_has_main = true },
        { .b_has_main = false, .a_has_main = false },
    };
    static const char *const n2[] = {
        "2: a plain thread waits on jobs of B (fj_main) while a newer idle A exists",
        "2: a plain thread waits on jobs of B (fj_main) while a newer A runs fj_main",
        "2: a plain thread waits on jobs of B (background workers) while a newer idle A exists",
    };
    for (int i = 0; i < 3; i++) {
        if (!p2[i].b_has_main && g_workers < 2)
            continue;
        EXPECT_CLEAN(s2_child, (void *)&p2[i], 6, n2[i]);
    }

    /* 3 */
    EXPECT_CLEAN(s3_child, NULL, 12,
                 "3: a plain thread finishes a count fibers of A wait on while a newer idle B exists");
    EXPECT_CLEAN(s3_child, (void *)1, 12,
                 "3: a plain thread finishes a count fibers of A wait on while a newer B runs fj_main");

    /* 4 */
    EXPECT_CLEAN(s4_child, NULL, 10,
                 "4: a plain thread waits while two threads create and destroy schedulers");

    /* 5 */
    EXPECT_CLEAN(s5_child, NULL, 12,
                 "5: three schedulers run jobs on each other with shared counters, one remade between rounds");

    return test_finish();
}
