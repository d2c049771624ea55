/*
 * Misuse of fj_cond: each bad call runs in a child process that must die of
 * SIGABRT with one line naming the call (and the job).
 *  - waiting without holding the mutex (unlocked; held by another job);
 *  - waiting on one condition variable with two different mutexes;
 *  - destroying a condition variable a job waits on;
 *  - signalling, broadcasting or waiting on a destroyed one; NULL arguments;
 *  - a job waiting on a condition variable nobody signals is named in the
 *    stall report (never an abort: a thread outside may still signal; the
 *    child's watchdog ends it once the report is out).
 */
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifndef _WIN32
#include <poll.h>
#endif

#include "test.h"

static unsigned nworkers;
static fj_mutex mu = FJ_MUTEX_INIT, mu2 = FJ_MUTEX_INIT;
static fj_cond cv = FJ_COND_INIT;

static void as_root_cfg(fj_job_fn fn, unsigned report_ms)
{
    fj_config cfg = fj_config_default();
    cfg.workers = nworkers;
    if (report_ms)
        cfg.outside_report_ms = report_ms;
    fj_scheduler *s = fj_create(&cfg);
    CHECK(s);
    fj_main(s, fn, NULL);
    fj_destroy(s);
}
static void as_root(fj_job_fn fn) { as_root_cfg(fn, 0); }

static void run_one(fj_job_fn fn, const char *name)
{
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs(&(fj_job){ .fn = fn, .name = name }, 1, &c);
    fj_wait(&c, 0);
}

static void wait_unlocked_job(void *a)
{
    (void)a;
    fj_cond_wait(&cv, &mu);
}
static void wait_unlocked_root(void *a) { (void)a; run_one(wait_unlocked_job, "waiter"); }
static void wait_unlocked(void *a) { (void)a; as_root(wait_unlocked_root); }

/* A job that waits on cv with mu (nobody signals: the misuse under test
 * stops the process first). */
static int parked;
static void sleeper_job(void *a)
{
    (void)a;
    fj_mutex_lock(&mu);
    T_STORE(&parked, 1);
    fj_cond_wait(&cv, &mu);
    fj_mutex_unlock(&mu);
}
static fj_counter sleepers;
static void start_sleeper(void)
{
    fj_counter_init(&sleepers, 0);
    fj_run_jobs(&(fj_job){ .fn = sleeper_job, .name = "sleeper" }, 1, &sleepers);
    while (!T_LOAD(&parked))
        fj_yield();
    fj_mutex_lock(&mu);   /* handed over once the sleeper is on cv's list */
    fj_mutex_unlock(&mu);
}

static void holder_job(void *a)
{
    (void)a;
    fj_mutex_lock(&mu2);
    T_STORE(&parked, 1);
    fj_counter never;
    fj_counter_init(&never, 1);
    fj_wait(&never, 0);
}
static void wait_other_holder_root(void *a)
{
    (void)a;
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs(&(fj_job){ .fn = holder_job, .name = "holder" }, 1, &c);
    while (!T_LOAD(&parked))
        fj_yield();
    fj_cond_wait(&cv, &mu2);
}
static void wait_other_holder(void *a) { (void)a; as_root(wait_other_holder_root); }

static void two_mutexes_job(void *a)
{
    (void)a;
    fj_mutex_lock(&mu2);
    fj_cond_wait(&cv, &mu2);
}
static void two_mutexes_root(void *a)
{
    (void)a;
    start_sleeper();
    run_one(two_mutexes_job, "second");
}
static void two_mutexes(void *a) { (void)a; as_root(two_mutexes_root); }

static void destroy_waited_root(void *a)
{
    (void)a;
    start_sleeper();
    fj_cond_destroy(&cv);
}
static void destroy_waited(void *a) { (void)a; as_root(destroy_waited_root); }

static void signal_destroyed(void *a)
{
    (void)a;
    fj_cond_destroy(&cv);
    fj_cond_signal(&cv);
}
static void broadcast_destroyed(void *a)
{
    (void)a;
    fj_cond_destroy(&cv);
    fj_cond_broadcast(&cv);
}
static void wait_destroyed(void *a)
{
    (void)a;
    fj_cond_destroy(&cv);
    fj_mutex_lock(&mu);
    fj_cond_wait(&cv, &mu);
}
static void signal_null(void *a) { (void)a; fj_cond_signal(NULL); }
static void wait_null_mutex(void *a) { (void)a; fj_cond_wait(&cv, NULL); }

/* The stall report must come first (after outside_report_ms = 100 ms and
 * the judge's 250 ms naps). The watchdog reads the child's stderr through a
 * pipe and passes it on to the harness; it ends the child once the report
 * is out and nothing more has come for 200 ms, or after 2 s times the
 * build's time scale whatever came (2 s was too little under TSan in CI),
 * so a fast build does not sit out the whole limit. On Windows it waits the
 * limit. */
#ifndef _WIN32
static int watch_in = -1, watch_out = -1;
static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
#endif
static void *watchdog(void *a)
{
    (void)a;
#ifndef _WIN32
    char seen[16384];
    size_t len = 0;
    seen[0] = '\0';
    uint64_t start = now_ns(), quiet_since = 0;
    for (;;) {
        struct pollfd p = { .fd = watch_in, .events = POLLIN };
        if (poll(&p, 1, 50) > 0) {
            char buf[1024];
            ssize_t n = read(watch_in, buf, sizeof buf);
            if (n <= 0)
                break;
            if (write(watch_out, buf, (size_t)n) != n)
                break;
            size_t k = (size_t)n < sizeof seen - 1 - len ? (size_t)n : sizeof seen - 1 - len;
            memcpy(seen + len, buf, k);
            len += k;
            seen[len] = '\0';
            quiet_since = now_ns();
        }
        uint64_t now = now_ns();
        if (strstr(seen, "(not a deadlock: still waiting):\n") && now - quiet_since >= 200000000u)
            break;
        if (now - start >= 2000000000ull * TEST_TIME_SCALE)
            break;
    }
#else
    sleep(2 * TEST_TIME_SCALE);
#endif
    abort();
}
static void stall_root(void *a)
{
    (void)a;
    start_sleeper();
    fj_wait(&sleepers, 0);
}
static void stall(void *a)
{
    (void)a;
#ifndef _WIN32
    int fds[2];
    CHECK(pipe(fds) == 0);
    watch_in = fds[0];
    watch_out = dup(2);
    CHECK(watch_out >= 0 && dup2(fds[1], 2) == 2);
    close(fds[1]);
#endif
    pthread_t t;
    CHECK(pthread_create(&t, NULL, watchdog, NULL) == 0);
    as_root_cfg(stall_root, 100);
}

int main(int argc, char **argv)
{
    nworkers = test_workers(argc, argv);
    EXPECT_ABORT_MATCH(wait_unlocked, NULL, "fiberjob: fj_cond_wait: mutex ",
                       " is not locked: lock it before waiting (in job 'waiter' on worker ");
    EXPECT_ABORT_MATCH(wait_other_holder, NULL, "fiberjob: fj_cond_wait: mutex ",
                       " is held by job 'holder', not by the caller: lock it before waiting (in job 'fj_main root'");
    EXPECT_ABORT_MATCH(two_mutexes, NULL, "fiberjob: fj_cond_wait: condition variable ", " is used with mutex ",
                       ", not with mutex ", ": one condition variable serves one mutex (until fj_cond_init) (in job 'second'");
    EXPECT_ABORT_MATCH(destroy_waited, NULL, "fiberjob: fj_cond_destroy: condition variable ",
                       " has waiters (the oldest: job 'sleeper') (in job 'fj_main root'");
    EXPECT_ABORT_MATCH(signal_destroyed, NULL, "fiberjob: fj_cond_signal: condition variable ",
                       " was destroyed (fj_cond_destroy); fj_cond_init it to use it again (outside any job)");
    EXPECT_ABORT_MATCH(broadcast_destroyed, NULL, "fiberjob: fj_cond_broadcast: condition variable ", " was destroyed");
    EXPECT_ABORT_MATCH(wait_destroyed, NULL, "fiberjob: fj_cond_wait: condition variable ", " was destroyed");
    EXPECT_ABORT_LINE(signal_null, NULL, "fiberjob: fj_cond_signal: condition variable is NULL (outside any job)");
    EXPECT_ABORT_LINE(wait_null_mutex, NULL, "fiberjob: fj_cond_wait: mutex is NULL (outside any job)");
    EXPECT_ABORT_MATCH(stall, NULL, "  job 'sleeper' waits on condition variable ", " (mutex ");
    EXPECT_ABORT_MATCH(stall, NULL, "fiberjob: every worker has been idle for ",
                       "(not a deadlock: still waiting)");
    return test_finish();
}
