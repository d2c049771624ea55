/*
 * Pinning. With pin_threads on and an explicit CPU list (the allowed set from
 * sched_getaffinity, reversed so that the mapping is not the identity), each
 * worker i runs on cpus[i % count]: inside jobs, sched_getcpu() and the thread's
 * affinity mask (exactly one CPU) match, recorded per fj_worker_index(). With
 * more workers than CPUs the list wraps around. The default (no list) uses the
 * allowed set in order. pin_threads 1 (the default) pins only the threads
 * fiberjob creates: worker 0, the fj_main thread, keeps its own mask; 2 pins
 * it too, and it gets its own affinity back when fj_main returns. With
 * pin_threads off, no worker is restricted. A narrower affinity of the
 * creating thread (as taskset gives) is respected: workers go only to CPUs in
 * it, and a listed CPU outside it is refused.
 */
#include <pthread.h>
#include <sched.h>

#include "test.h"

enum { MAXW = 64 };

static int ncpus;
static int ncpus_now;            /* the creating thread's mask now (narrowed under "taskset") */
static int allowed[CPU_SETSIZE];
static int want_cpu[MAXW];       /* -1: not pinned (any allowed CPU) */
static int seen[MAXW];
static int mismatches;
static int seen_total;

static void probe(void *arg)
{
    (void)arg;
    int w = fj_worker_index();
    if (w < 0 || w >= MAXW) {
        T_ADD(&mismatches, 1);
        return;
    }
    cpu_set_t set;
    CPU_ZERO(&set);
    CHECK_EQ(pthread_getaffinity_np(pthread_self(), sizeof set, &set), 0);
    int cpu = sched_getcpu();
    bool ok;
    if (want_cpu[w] >= 0) {
        ok = cpu == want_cpu[w] && CPU_COUNT(&set) == 1 && CPU_ISSET(want_cpu[w], &set);
        if (!ok)
            fprintf(stderr, "worker %d: on CPU %d with %d CPUs in its mask, want pinned to %d\n", w, cpu,
                    CPU_COUNT(&set), want_cpu[w]);
    } else {
        ok = CPU_COUNT(&set) == ncpus_now;
        if (!ok)
            fprintf(stderr, "worker %d: %d CPUs in its mask, want all %d allowed\n", w, CPU_COUNT(&set), ncpus_now);
    }
    if (!ok)
        T_ADD(&mismatches, 1);
    if (__atomic_exchange_n(&seen[w], 1, __ATOMIC_ACQ_REL) == 0)
        T_ADD(&seen_total, 1);
}

/* Spread jobs over the workers: each job probes, then a few rounds of jobs
 * that wait on each other give idle workers time to steal. */
static void spread(void *arg)
{
    (void)arg;
    probe(NULL);
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_job jobs[64];
    for (int i = 0; i < 64; i++)
        jobs[i] = (fj_job){ .fn = probe, .name = "probe" };
    fj_run_jobs(jobs, 64, &c);
    fj_yield();
    probe(NULL);
    fj_wait(&c, 0);
    probe(NULL);
}

static unsigned nworkers;

static void root(void *arg)
{
    (void)arg;
    probe(NULL);   /* the root runs on worker 0: the fj_main thread */
    CHECK(seen[0]);
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_job jobs[32];
    for (int i = 0; i < 32; i++)
        jobs[i] = (fj_job){ .fn = spread, .name = "spread" };
    for (int round = 0; round < 200 && T_LOAD(&seen_total) < (int)nworkers; round++) {
        fj_run_jobs(jobs, 32, &c);
        fj_wait(&c, 0);
    }
}

/* want_cpu from the CPU each worker is given, as pin_threads says: worker 0
 * only with 2. */
static void expect_pinned(int pin, int (*cpu_of)(unsigned))
{
    for (unsigned i = 0; i < nworkers; i++)
        want_cpu[i] = pin == 0 || (pin == 1 && i == 0) ? -1 : cpu_of(i);
}

/* Narrow (or widen back) the CPUs this process may use, as `taskset` does:
 * on Linux the calling thread's mask, which fj_create reads; on Windows the
 * process's mask (as `start /affinity` sets it), which it reads there. */
static void set_allowed(const cpu_set_t *set)
{
#if TEST_WINDOWS
    CHECK(SetProcessAffinityMask(GetCurrentProcess(), (DWORD_PTR)set->bits));
#else
    CHECK_EQ(sched_setaffinity(0, sizeof *set, set), 0);
#endif
}

static const int *g_list;
static unsigned g_count;
static int from_list(unsigned i) { return g_list[i % g_count]; }

static void run(const fj_config *cfg)
{
    memset(seen, 0, sizeof seen);
    seen_total = 0;
    mismatches = 0;
    cpu_set_t before, after;
    CHECK_EQ(pthread_getaffinity_np(pthread_self(), sizeof before, &before), 0);
    fj_scheduler *s = fj_create(cfg);
    if (!s) {
        fprintf(stderr, "fj_create: %s\n", fj_strerror(fj_last_error()));
        exit(1);
    }
    CHECK_EQ(fj_worker_count(s), nworkers);
    CHECK_EQ(fj_main(s, root, NULL), 0);
    fj_destroy(s);
    CHECK_EQ(pthread_getaffinity_np(pthread_self(), sizeof after, &after), 0);
    CHECK(CPU_EQUAL(&before, &after));   /* fj_main gave the thread its mask back */
    CHECK_EQ(mismatches, 0);
    CHECK(seen[0]);
    printf("%d of %u workers ran probes\n", seen_total, nworkers);
}

int main(int argc, char **argv)
{
    nworkers = test_workers(argc, argv);
    CHECK(nworkers <= MAXW);
    cpu_set_t set;
    CPU_ZERO(&set);
    CHECK_EQ(sched_getaffinity(0, sizeof set, &set), 0);
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
        if (CPU_ISSET(cpu, &set))
            allowed[ncpus++] = cpu;
    CHECK(ncpus > 0);

    ncpus_now = ncpus;

    /* Explicit list: the allowed CPUs reversed; the default pin_threads (1)
     * leaves worker 0 alone, 2 pins it too. */
    int list[CPU_SETSIZE];
    for (int i = 0; i < ncpus; i++)
        list[i] = allowed[ncpus - 1 - i];
    fj_config cfg = fj_config_default();
    CHECK_EQ(cfg.pin_threads, 1);
    cfg.workers = nworkers;
    cfg.cpus = g_list = list;
    cfg.cpu_count = g_count = (unsigned)ncpus;
    for (int pin = 1; pin <= 2; pin++) {
        cfg.pin_threads = pin;
        expect_pinned(pin, from_list);
        run(&cfg);
    }

    /* A one-CPU list: every worker on the same CPU. */
    cfg.cpus = g_list = &allowed[ncpus - 1];
    cfg.cpu_count = g_count = 1;
    expect_pinned(2, from_list);
    run(&cfg);

    /* No list: the allowed set in order. */
    cfg.cpus = NULL;
    cfg.cpu_count = 0;
    g_list = allowed;
    g_count = (unsigned)ncpus;
    for (int pin = 1; pin <= 2; pin++) {
        cfg.pin_threads = pin;
        expect_pinned(pin, from_list);
        run(&cfg);
    }

    /* Pinning off: nobody is restricted. */
    cfg.pin_threads = 0;
    expect_pinned(0, from_list);
    run(&cfg);

    if (ncpus >= 2) {
        /* As under `taskset -c <last>`: the allowed set is one CPU. */
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(allowed[ncpus - 1], &one);
        set_allowed(&one);
        ncpus_now = 1;
        g_list = &allowed[ncpus - 1];
        g_count = 1;
        for (int pin = 1; pin <= 2; pin++) {
            cfg.pin_threads = pin;
            expect_pinned(pin, from_list);
            run(&cfg);
        }
        cfg.cpus = &allowed[0];
        cfg.cpu_count = 1;
        CHECK(fj_create(&cfg) == NULL);
        CHECK_EQ(fj_last_error(), FJ_EAFFINITY);
        set_allowed(&set);
        ncpus_now = ncpus;
    }
    return test_finish();
}
