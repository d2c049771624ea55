/*
 * A quiet scheduler burns no CPU: after fj_main returns, the workers spin
 * briefly and then sleep. Over 300 ms of sleep the whole process (all threads,
 * getrusage(RUSAGE_SELF) user + system time) must use under 5% of one core
 * (in a sanitizer build, that times its factor: check_quiet).
 * Checked right after an empty fj_main, after a burst of work (the workers
 * went through stealing and waking), and after a burst submitted from
 * outside. This measures CPU time used, not speed.
 *
 * Starting a thread is not idling: under Wine each new thread costs a few
 * milliseconds of CPU (its TEB, its DLL attach calls), and fj_create does not
 * wait for its workers to start, so with 8 workers the first window measured
 * 10-30 ms of start-up. Before the first window every worker therefore runs
 * one job of a gathering (each job waits until all the workers have one), so
 * all of them have started and none of that is counted.
 */
#include <time.h>

#include "test.h"

#if TEST_WINDOWS
static long long cpu_us(void)
{
    FILETIME created, exited, kernel, user;   /* 100 ns units */
    CHECK(GetProcessTimes(GetCurrentProcess(), &created, &exited, &kernel, &user));
    ULARGE_INTEGER k = { { kernel.dwLowDateTime, kernel.dwHighDateTime } };
    ULARGE_INTEGER u = { { user.dwLowDateTime, user.dwHighDateTime } };
    return (long long)((k.QuadPart + u.QuadPart) / 10);
}
#else
#include <sys/resource.h>

static long long cpu_us(void)
{
    struct rusage ru;
    CHECK_EQ(getrusage(RUSAGE_SELF, &ru), 0);
    return (long long)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 + ru.ru_utime.tv_usec +
           ru.ru_stime.tv_usec;
}
#endif

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* CPU used by the process over the 300 ms right after the work stopped (the
 * idle workers' spin phase included), in microseconds. */
static long long idle_cpu(void)
{
    long long before = cpu_us();
    sleep_ms(300);
    return cpu_us() - before;
}

static void empty(void *arg) { (void)arg; }

static int hits;
static void hit(void *arg)
{
    (void)arg;
    T_ADD(&hits, 1);
}

/* Every worker runs one job of a gathering (test.h). */
static unsigned nworkers;

static void gathering(void *arg)
{
    (void)arg;
    test_gather_workers(nworkers);
}

static void burst(void *arg)
{
    (void)arg;
    static fj_job jobs[20000];
    for (int i = 0; i < 20000; i++)
        jobs[i] = (fj_job){ .fn = hit, .name = "hit" };
    fj_counter c;
    fj_counter_init(&c, 0);
    for (int i = 0; i < 5; i++) {
        fj_run_jobs(jobs, 20000, &c);
        fj_wait(&c, 0);
    }
}

/* 5% of a core. The spin phase before sleep is a count of rounds, each a
 * look at every worker's deques: in a sanitizer build every one of those
 * loads is instrumented, so the same rounds cost several times the CPU
 * (TSan with 8 workers on a slow machine: 22.8 ms in the first window,
 * 6.5 and 8.2 ms in the later ones). The limit grows by the sanitizer's
 * factor there (90 ms under TSan); a scheduler that never slept would still
 * use the whole 300 ms of each core it spins on. */
#define QUIET_LIMIT_US (15000LL * TEST_SAN_TIME_SCALE)

static void check_quiet(const char *when, long long used_us)
{
    printf("%s: %lld us of CPU in 300 ms (%.2f%% of a core)\n", when, used_us, used_us / 3000.0);
    if (used_us >= QUIET_LIMIT_US)
        FAIL_SOFT("%s: the idle scheduler used %lld us of CPU in 300 ms (limit %lld us, %lld%% of a core)",
                  when, used_us, QUIET_LIMIT_US, QUIET_LIMIT_US / 3000);
}

int main(int argc, char **argv)
{
    fj_config cfg = test_config(argc, argv);
    fj_scheduler *s = fj_create(&cfg);
    CHECK(s);
    nworkers = fj_worker_count(s);
    CHECK_EQ(fj_main(s, gathering, NULL), 0);
    CHECK_EQ(fj_main(s, empty, NULL), 0);
    check_quiet("after an empty fj_main", idle_cpu());

    CHECK_EQ(fj_main(s, burst, NULL), 0);
    CHECK_EQ(hits, 100000);
    check_quiet("after 100,000 jobs", idle_cpu());

    fj_job jobs[64];
    for (int i = 0; i < 64; i++)
        jobs[i] = (fj_job){ .fn = hit, .name = "outside" };
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs(jobs, 64, &c);   /* from outside: the background workers run them */
    if (cfg.workers > 1) {
        fj_wait(&c, 0);
        check_quiet("after jobs from outside", idle_cpu());
    }
    fj_destroy(s);
    CHECK_EQ(hits, 100064);
    return test_finish();
}
