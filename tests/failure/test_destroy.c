/*
 * fj_destroy against threads outside the scheduler, the deadlock hook during
 * fj_destroy, and use of a scheduler after fj_destroy.
 *
 *  1. A plain thread waits (fj_wait) on jobs it ran with fj_run_jobs_on while
 *     fj_destroy's drain runs them: it must return cleanly, round after round,
 *     with the thread sometimes held up in a signal handler around fj_destroy.
 *  2. A plain thread waits on a count nothing will finish and no thread holds
 *     (fj_counter_init to 1, not fj_counter_add outside, which would be a
 *     count held outside: see tests/core/test_outside_counts.c) while the
 *     scheduler is idle (no hook), or while fj_destroy runs: a deadlock
 *     report naming the outside thread, then SIGABRT.
 *  3. The same with a hook that says "keep waiting" and a second plain thread
 *     that finishes the count later: everything returns.
 *  4. A job left waiting on a count an "I/O thread" finishes later when
 *     fj_destroy starts: with a hook that says "keep waiting", the drain keeps
 *     waiting and returns; without a hook (or with one that says 0) and an I/O
 *     thread that never finishes, a deadlock report naming the job, then
 *     SIGABRT.
 *  5. fj_destroy, fj_run_jobs_on, fj_main, fj_stats and fj_worker_count on a
 *     destroyed scheduler, and fj_destroy on a pointer that never was one:
 *     one line that says so, then SIGABRT.
 *
 * Each scenario runs in a child process; a failing one is reported and the
 * rest still run.
 */
#include <pthread.h>
#include <sched.h>
#include <stdint.h>

#include "test.h"

static unsigned g_workers;

static int hook_keep(const fj_deadlock_info *info, void *user)
{
    (void)info;
    (void)user;
    return 1;
}

static int hook_give_up(const fj_deadlock_info *info, void *user)
{
    (void)info;
    (void)user;
    return 0;
}

static fj_scheduler *make_sched(int (*hook)(const fj_deadlock_info *, void *))
{
    fj_config c = fj_config_default();
    c.workers = g_workers;
    c.deadlock_hook = hook;
    fj_scheduler *s = fj_create(&c);
    if (!s) {
        fprintf(stderr, "fj_create failed: %s\n", fj_strerror(fj_last_error()));
        exit(1);
    }
    return s;
}

/* ------------------------------------------------------------ local checks */

/* A line the child must print: it starts with prefix ("" for any) and
 * contains `contains` (NULL for nothing more). */
typedef struct want_line {
    const char *prefix;
    const char *contains;
} want_line;

/* Run fn(arg) in a child that must die of SIGABRT having printed every line
 * of want[0..n). A soft failure otherwise (the other scenarios still run). */
static void expect_abort_lines(const char *file, int ln, const char *what, void (*fn)(void *), void *arg,
                               unsigned timeout_s, const want_line *want, size_t n)
{
    static child_result r;
    run_in_child(fn, arg, timeout_s, &r);
    bool ok = WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGABRT;
    for (size_t i = 0; ok && i < n; i++) {
        const char *parts[] = { want[i].contains, NULL };
        ok = has_line_with(r.err, want[i].prefix, want[i].contains ? parts : NULL);
    }
    if (ok)
        return;
    char buf[128];
    fprintf(stderr, "%s:%d: FAILED: %s: child %s%s; expected SIGABRT and the lines\n", file, ln, what,
            child_status_text(r.status, buf, sizeof buf),
            WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGALRM ? " (it did not finish: hang)" : "");
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, "  \"%s...\"%s%s%s\n", want[i].prefix, want[i].contains ? " containing \"" : "",
                want[i].contains ? want[i].contains : "", want[i].contains ? "\"" : "");
    fprintf(stderr, "child stderr:\n%s\n", r.err);
    fflush(stderr);
    test_soft_failures++;
}
#define EXPECT_ABORT_LINES(fn, arg, timeout_s, what, ...)                                        \
    do {                                                                                         \
        static const want_line want_[] = { __VA_ARGS__ };                                        \
        expect_abort_lines(__FILE__, __LINE__, (what), (fn), (arg), (timeout_s), want_,          \
                           sizeof want_ / sizeof want_[0]);                                      \
    } while (0)

/* Run fn(arg) in a child that must exit 0 and print no "fiberjob:" line. */
static void expect_clean(const char *file, int ln, const char *what, void (*fn)(void *), void *arg,
                         unsigned timeout_s)
{
    static child_result r;
    run_in_child(fn, arg, timeout_s, &r);
    bool exited0 = WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0;
    bool said = has_line_with(r.err, "fiberjob:", NULL);
    if (exited0 && !said)
        return;
    char buf[128];
    fprintf(stderr, "%s:%d: FAILED: %s: child %s%s%s. child stderr:\n%s\n", file, ln, what,
            child_status_text(r.status, buf, sizeof buf),
            WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGALRM ? " (it did not finish: hang)" : "",
            said ? " and printed a fiberjob: line" : "", r.err);
    fflush(stderr);
    test_soft_failures++;
}
#define EXPECT_CLEAN(fn, arg, timeout_s, what) expect_clean(__FILE__, __LINE__, (what), (fn), (arg), (timeout_s))

/* ================================================================ 1 */

enum { D1_ROUNDS = 120, D1_MAX_JOBS = 4 };

static fj_scheduler *d1_s;
static int d1_submitted;
static int d1_ran;
static int d1_round;
static int d1_destroying;   /* main is about to call fj_destroy */

static void d1_usr1(int sig)
{
    (void)sig;
    static const unsigned us[] = { 1000, 3000, 8000 };
    usleep(us[T_LOAD(&d1_round) % 3]);
}

/* What a program does next: allocate memory and fill it. The blocks take
 * what fj_destroy freed; they are checked once the outside thread is back. A
 * thread that still used its wait record in the destroyed scheduler then reads
 * garbage (and may crash or hang), or writes into these blocks (caught by the
 * check). */
enum { D1_BLOCKS = 96 };
static unsigned char *d1_blocks[D1_BLOCKS];

static size_t d1_block_size(int i) { return (size_t)1024 << (i % 6); }   /* 1 to 32 KiB */

static void d1_scribble(void)
{
    for (int i = 0; i < D1_BLOCKS; i++) {
        d1_blocks[i] = malloc(d1_block_size(i));
        CHECK(d1_blocks[i]);
        memset(d1_blocks[i], 0xA5, d1_block_size(i));
    }
}

static void d1_check_blocks(int round)
{
    for (int i = 0; i < D1_BLOCKS; i++) {
        for (size_t k = 0; k < d1_block_size(i); k++) {
            if (d1_blocks[i][k] != 0xA5) {
                fprintf(stderr, "round %d: memory allocated after fj_destroy returned was written to (byte %zu "
                        "of a %zu-byte block is 0x%02x): the outside thread still wrote into the destroyed "
                        "scheduler\n", round, k, d1_block_size(i), d1_blocks[i][k]);
                exit(1);
            }
        }
        free(d1_blocks[i]);
    }
}

/* The first job of most rounds finishes only once fj_destroy has begun, so
 * that the outside thread is woken by the drain (with one worker the drain
 * runs every job anyway; with more, background workers could otherwise
 * finish them all before fj_destroy). */
static void d1_job(void *arg)
{
    unsigned us = (unsigned)(uintptr_t)arg;
    if (us) {
        while (!T_LOAD(&d1_destroying))
            usleep(50);
        usleep(us);
    }
    T_ADD(&d1_ran, 1);
}

static void *d1_outside(void *arg)
{
    int round = (int)(intptr_t)arg;
    int njobs = 1 + round % D1_MAX_JOBS;
    fj_job j[D1_MAX_JOBS];
    for (int i = 0; i < njobs; i++)
        j[i] = (fj_job){ .fn = d1_job, .arg = (void *)(uintptr_t)(round % 8 != 7 && i == 0 ? 100 + 100 * (round % 3) : 0),
                         .name = "d1_job" };
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs_on(d1_s, j, (size_t)njobs, &c);
    T_STORE(&d1_submitted, 1);
    fj_wait(&c, 0);
    if (fj_counter_value(&c) != 0) {
        fprintf(stderr, "round %d: fj_wait returned with the counter at %lld\n", round,
                (long long)fj_counter_value(&c));
        exit(1);
    }
    if (T_LOAD(&d1_ran) != njobs) {
        fprintf(stderr, "round %d: fj_wait returned after %d of %d jobs\n", round, T_LOAD(&d1_ran), njobs);
        exit(1);
    }
    return NULL;
}

/* Hold thread T up for a while (d1_usr1's sleep) while this thread goes on:
 * on Linux a signal whose handler sleeps; Windows sends no signals to a
 * thread, so a helper thread suspends T for the same time. */
#if TEST_WINDOWS
static pthread_t d1_holder;
static bool d1_holding;

static void *d1_hold(void *t)
{
    HANDLE h = t;
    SuspendThread(h);
    d1_usr1(0);
    ResumeThread(h);
    return NULL;
}

static void d1_hold_up(pthread_t t)
{
    CHECK_EQ(pthread_create(&d1_holder, NULL, d1_hold, pthread_gethandle(t)), 0);
    d1_holding = true;
}

static void d1_hold_done(void)
{
    if (d1_holding)
        CHECK_EQ(pthread_join(d1_holder, NULL), 0);
    d1_holding = false;
}

static void d1_hold_setup(void) {}
#else
static void d1_hold_up(pthread_t t) { pthread_kill(t, SIGUSR1); }
static void d1_hold_done(void) {}

static void d1_hold_setup(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = d1_usr1;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    CHECK_EQ(sigaction(SIGUSR1, &sa, NULL), 0);
}
#endif

static void d1_child(void *arg)
{
    (void)arg;
    d1_hold_setup();
    for (int round = 0; round < D1_ROUNDS; round++) {
        T_STORE(&d1_round, round);
        T_STORE(&d1_submitted, 0);
        T_STORE(&d1_ran, 0);
        T_STORE(&d1_destroying, 0);
        d1_s = make_sched(NULL);
        pthread_t t;
        CHECK_EQ(pthread_create(&t, NULL, d1_outside, (void *)(intptr_t)round), 0);
        /* fj_destroy only once the jobs were submitted (a submission after it
         * would be a use after destroy); then at once. */
        while (!T_LOAD(&d1_submitted))
            sched_yield();
        T_STORE(&d1_destroying, 1);
        if (round % 4 == 1)
            d1_hold_up(t);   /* T is held up while the drain runs its jobs */
        fj_destroy(d1_s);
        if (round % 4 == 2)
            d1_hold_up(t);   /* T is held up just after fj_destroy returned */
        d1_scribble();
        CHECK_EQ(pthread_join(t, NULL), 0);
        d1_hold_done();
        d1_check_blocks(round);
    }
}

/* ================================================================ 2 and 3 */

static fj_counter d2_c;
static int d2_waiting;     /* the outside waiter is about to call fj_wait */
static int d2_back;        /* it has returned */
static int d2_unheld;      /* 2: the count is set by fj_counter_init, not held outside */

static void *d2_waiter(void *arg)
{
    (void)arg;
    if (!d2_unheld)
        fj_counter_add(&d2_c, 1);   /* this thread is no worker: held outside */
    T_STORE(&d2_waiting, 1);
    fj_wait(&d2_c, 0);
    if (fj_counter_value(&d2_c) != 0) {
        fprintf(stderr, "the outside waiter returned with the counter at %lld\n", (long long)fj_counter_value(&d2_c));
        exit(1);
    }
    T_STORE(&d2_back, 1);
    return NULL;
}

static void *d2_finisher(void *arg)
{
    (void)arg;
    while (!T_LOAD(&d2_waiting))
        sched_yield();
    usleep(300000);
    fj_counter_done(&d2_c, 1);
    return NULL;
}

/* 2: no hook, nothing finishes the count. mode 0: the scheduler stays idle;
 * mode 1: fj_destroy while the thread waits. */
static void d2_child(void *arg)
{
    int mode = (int)(intptr_t)arg;
    d2_unheld = 1;
    fj_counter_init(&d2_c, 1);
    fj_scheduler *s = make_sched(NULL);
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, d2_waiter, NULL), 0);
    if (mode == 1) {
        while (!T_LOAD(&d2_waiting))
            sched_yield();
        usleep(50000);   /* let it block in fj_wait */
        fj_destroy(s);
        fprintf(stderr, "test: fj_destroy returned while an outside thread waits on a count nothing can finish\n");
    }
    pthread_join(t, NULL);
    fprintf(stderr, "test: the outside waiter returned though nothing finished its count\n");
    exit(3);
}

/* 3: a hook that keeps waiting, and a thread that finishes the count after
 * 300 ms. mode 0: fj_destroy after both threads are back; mode 1: fj_destroy
 * while the waiter waits. */
static void d3_child(void *arg)
{
    int mode = (int)(intptr_t)arg;
    fj_counter_init(&d2_c, 0);
    fj_scheduler *s = make_sched(hook_keep);
    pthread_t t, f;
    CHECK_EQ(pthread_create(&t, NULL, d2_waiter, NULL), 0);
    CHECK_EQ(pthread_create(&f, NULL, d2_finisher, NULL), 0);
    if (mode == 1) {
        while (!T_LOAD(&d2_waiting))
            sched_yield();
        usleep(50000);
        fj_destroy(s);
    }
    CHECK_EQ(pthread_join(t, NULL), 0);
    CHECK_EQ(pthread_join(f, NULL), 0);
    CHECK(T_LOAD(&d2_back));
    if (mode == 0)
        fj_destroy(s);
}

/* ================================================================ 4 */

enum { D4_VIA_ROOT = 1, D4_IO_NEVER = 2, D4_HOOK_KEEP = 4, D4_HOOK_ZERO = 8 };

static fj_counter d4_io;
static int d4_job_done;

static void io_wait(void *arg)
{
    (void)arg;
    fj_wait(&d4_io, 0);
    T_STORE(&d4_job_done, 1);
}

static void d4_root(void *arg)
{
    (void)arg;
    /* Queued, not waited for: still waiting when fj_main returns. */
    fj_job j = { .fn = io_wait, .name = "io_wait" };
    fj_run_jobs(&j, 1, NULL);
}

static void *d4_io_thread(void *arg)
{
    bool never = arg != NULL;
    if (never) {
        for (;;) {
#if TEST_WINDOWS
            Sleep(INFINITE);
#else
            pause();
#endif
        }
    }
    usleep(100000);
    fj_counter_done(&d4_io, 1);
    return NULL;
}

static void d4_child(void *arg)
{
    int mode = (int)(intptr_t)arg;
    fj_counter_init(&d4_io, 1);
    fj_scheduler *s = make_sched(mode & D4_HOOK_KEEP ? hook_keep : mode & D4_HOOK_ZERO ? hook_give_up : NULL);
    pthread_t io;
    CHECK_EQ(pthread_create(&io, NULL, d4_io_thread, mode & D4_IO_NEVER ? (void *)1 : NULL), 0);
    if (mode & D4_VIA_ROOT) {
        CHECK_EQ(fj_main(s, d4_root, NULL), 0);
    } else {
        fj_job j = { .fn = io_wait, .name = "io_wait" };
        fj_run_jobs_on(s, &j, 1, NULL);
    }
    fj_destroy(s);
    if (mode & D4_IO_NEVER) {
        fprintf(stderr, "test: fj_destroy returned though job 'io_wait' still waits\n");
        exit(3);
    }
    if (!T_LOAD(&d4_job_done)) {
        fprintf(stderr, "test: fj_destroy returned before job 'io_wait' finished\n");
        exit(1);
    }
    CHECK_EQ(pthread_join(io, NULL), 0);
}

/* ================================================================ 5 */

static void d5_nop(void *arg) { (void)arg; }

enum { D5_DESTROY, D5_RUN_JOBS_ON, D5_MAIN, D5_STATS, D5_WORKER_COUNT, D5_NOT_A_SCHEDULER };

static void d5_child(void *arg)
{
    int what = (int)(intptr_t)arg;
    if (what == D5_NOT_A_SCHEDULER) {
        int not_a_scheduler = 42;
        fj_destroy((fj_scheduler *)(void *)&not_a_scheduler);
        fprintf(stderr, "test: fj_destroy of a pointer to an int returned\n");
        exit(3);
    }
    fj_scheduler *s = make_sched(NULL);
    fj_destroy(s);
    /* No scheduler is made after this: the freed address stays unused. */
    fj_job j = { .fn = d5_nop, .name = "d5_nop" };
    fj_worker_stats st[8];
    switch (what) {
    case D5_DESTROY: fj_destroy(s); break;
    case D5_RUN_JOBS_ON: fj_run_jobs_on(s, &j, 1, NULL); break;
    case D5_MAIN: (void)fj_main(s, d5_nop, NULL); break;
    case D5_STATS: (void)fj_stats(s, st, 8); break;
    case D5_WORKER_COUNT: (void)fj_worker_count(s); break;
    }
    fprintf(stderr, "test: the call on a destroyed scheduler returned\n");
    exit(3);
}

/* ================================================================ main */

int main(int argc, char **argv)
{
    g_workers = test_workers(argc, argv);

    /* 1 */
    EXPECT_CLEAN(d1_child, NULL, 40,
                 "1: a plain thread waits on jobs it ran with fj_run_jobs_on while fj_destroy drains them");

    /* 2 */
    EXPECT_ABORT_LINES(d2_child, (void *)0, 10,
                       "2: a plain thread waits on a hand count nothing finishes, the scheduler idle",
                       { "fiberjob: deadlock: ", NULL },
                       { "  an outside thread waits on counter ", "(value 1, target 0)" });
    EXPECT_ABORT_LINES(d2_child, (void *)1, 10,
                       "2: a plain thread waits on a hand count nothing finishes, fj_destroy meanwhile",
                       { "fiberjob: deadlock: ", NULL },
                       { "  an outside thread waits on counter ", "(value 1, target 0)" });

    /* 3 */
    EXPECT_CLEAN(d3_child, (void *)0, 10,
                 "3: the hook keeps waiting; a second plain thread finishes the outside waiter's count");
    EXPECT_CLEAN(d3_child, (void *)1, 10,
                 "3: the hook keeps waiting; fj_destroy while the outside waiter waits, its count finished later");

    /* 4 */
    EXPECT_CLEAN(d4_child, (void *)(intptr_t)(D4_VIA_ROOT | D4_HOOK_KEEP), 10,
                 "4: the hook keeps waiting; fj_destroy drains a job (queued by the root) that waits on I/O");
    EXPECT_CLEAN(d4_child, (void *)(intptr_t)D4_HOOK_KEEP, 10,
                 "4: the hook keeps waiting; fj_destroy drains a job (fj_run_jobs_on) that waits on I/O");
    EXPECT_ABORT_LINES(d4_child, (void *)(intptr_t)(D4_VIA_ROOT | D4_IO_NEVER), 10,
                       "4: no hook; a job queued by the root waits on I/O that never comes, then fj_destroy",
                       { "fiberjob: deadlock: ", NULL }, { "", "job 'io_wait' waits on counter" });
    EXPECT_ABORT_LINES(d4_child, (void *)(intptr_t)D4_IO_NEVER, 10,
                       "4: no hook; a job run with fj_run_jobs_on waits on I/O that never comes, then fj_destroy",
                       { "fiberjob: deadlock: ", NULL }, { "", "job 'io_wait' waits on counter" });
    EXPECT_ABORT_LINES(d4_child, (void *)(intptr_t)(D4_IO_NEVER | D4_HOOK_ZERO), 10,
                       "4: the hook returns 0; a job waits on I/O that never comes, then fj_destroy",
                       { "fiberjob: deadlock: ", NULL }, { "", "job 'io_wait' waits on counter" });

    /* 5 */
    EXPECT_ABORT_LINES(d5_child, (void *)(intptr_t)D5_DESTROY, 10, "5: fj_destroy twice",
                       { "fiberjob: fj_destroy: scheduler ", "was destroyed already" });
    EXPECT_ABORT_LINES(d5_child, (void *)(intptr_t)D5_RUN_JOBS_ON, 10, "5: fj_run_jobs_on after fj_destroy",
                       { "fiberjob: fj_run_jobs_on: scheduler ", "was destroyed already" });
    EXPECT_ABORT_LINES(d5_child, (void *)(intptr_t)D5_MAIN, 10, "5: fj_main after fj_destroy",
                       { "fiberjob: fj_main: scheduler ", "was destroyed already" });
    EXPECT_ABORT_LINES(d5_child, (void *)(intptr_t)D5_STATS, 10, "5: fj_stats after fj_destroy",
                       { "fiberjob: fj_stats: scheduler ", "was destroyed already" });
    EXPECT_ABORT_LINES(d5_child, (void *)(intptr_t)D5_WORKER_COUNT, 10, "5: fj_worker_count after fj_destroy",
                       { "fiberjob: fj_worker_count: scheduler ", "was destroyed already" });
    EXPECT_ABORT_LINES(d5_child, (void *)(intptr_t)D5_NOT_A_SCHEDULER, 10,
                       "5: fj_destroy of a pointer that never was a scheduler",
                       { "fiberjob: fj_destroy: ", "is not a scheduler" });

    return test_finish();
}
