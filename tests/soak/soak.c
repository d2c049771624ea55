/*
 * fiberjob-soak: a randomized stress of the whole scheduler, for a time budget.
 *
 *   fiberjob-soak [--seconds N] [--seed S] [--workers N]
 *
 * Round after round it builds random job trees (random fan-out and depth, all
 * priorities, large-stack jobs, nested waits with targets above zero, yields,
 * hand-managed counts, about 0.5% of jobs panicking) while outside threads
 * submit jobs and block in fj_wait. After every round it checks that every job
 * ran exactly once, that every job that did not panic completed, and that every
 * counter reconciled (value zero, panics counted). The seed is printed first so
 * that a failure can be replayed with --seed.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fiberjob.h"

#define MAX_NODES (1 << 17)
#define FAIL(...)                                                                      \
    do {                                                                               \
        fprintf(stderr, "fiberjob-soak: FAILED (seed %llu, round %llu): ", (unsigned long long)g_seed, \
                (unsigned long long)g_round);                                          \
        fprintf(stderr, __VA_ARGS__);                                                  \
        fputc('\n', stderr);                                                           \
        exit(1);                                                                       \
    } while (0)

static uint64_t g_seed, g_round;
static uint32_t runs[MAX_NODES], completed[MAX_NODES];
static uint32_t next_id, panics;

typedef struct node {
    uint32_t id, depth;
    uint64_t r;
} node;

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint32_t new_id(void)
{
    uint32_t id = __atomic_fetch_add(&next_id, 1, __ATOMIC_RELAXED);
    return id < MAX_NODES ? id : UINT32_MAX;
}

static void tree_job(void *arg);

static void spawn_children(node *self, uint64_t r)
{
    enum { MAXK = 6 };
    unsigned k = self->depth >= 7 ? 0 : (unsigned)(r % (MAXK + 1));
    node kids[MAXK];
    fj_job jobs[MAXK];
    unsigned n = 0;
    for (unsigned i = 0; i < k; i++) {
        uint32_t id = new_id();
        if (id == UINT32_MAX)
            break;
        kids[n] = (node){ id, self->depth + 1, mix(r + i) };
        jobs[n] = (fj_job){ .fn = tree_job, .arg = &kids[n], .name = "soak_tree",
                            .priority = (fj_priority)(mix(r ^ i) % 3),
                            .flags = mix(r * 3 + i) % 50 == 0 ? FJ_JOB_LARGE_STACK : 0u };
        n++;
    }
    fj_counter c;
    fj_counter_init(&c, 0);
    /* Sometimes in two submissions, sometimes with a partial wait first. */
    unsigned half = n / 2;
    fj_run_jobs(jobs, half, &c);
    if ((r >> 20) % 5 == 0)
        fj_yield();
    fj_run_jobs(jobs + half, n - half, &c);
    if (n > 2 && (r >> 24) % 3 == 0)
        fj_wait(&c, (int64_t)(n / 2));
    fj_wait(&c, 0);
    if (fj_counter_value(&c) != 0)
        FAIL("counter value %lld after fj_wait(0)", (long long)fj_counter_value(&c));
    uint32_t kid_panics = 0;
    for (unsigned i = 0; i < n; i++)
        kid_panics += __atomic_load_n(&completed[kids[i].id], __ATOMIC_RELAXED) == 0;
    if (fj_counter_panics(&c) != kid_panics)
        FAIL("counter counted %u panics, %u children did not complete", fj_counter_panics(&c), kid_panics);
}

static void tree_job(void *arg)
{
    node *self = arg;
    __atomic_fetch_add(&runs[self->id], 1, __ATOMIC_RELAXED);
    uint64_t r = self->r;
    if (r % 1000 < 3) {
        __atomic_fetch_add(&panics, 1, __ATOMIC_RELAXED);
        fj_panic("soak panic %u", self->id);
    }
    if ((r >> 8) % 11 == 0)
        fj_yield();
    if ((r >> 12) % 13 == 0) {
        /* A hand-managed count finished by a scope guard. */
        fj_counter hand;
        fj_counter_init(&hand, 0);
        {
            FJ_COUNT_SCOPE(&hand);
        }
        fj_wait(&hand, 0);
    }
    spawn_children(self, mix(r));
    if (r % 1000 == 3) {
        __atomic_fetch_add(&panics, 1, __ATOMIC_RELAXED);
        fj_panic("late soak panic %u", self->id);
    }
    __atomic_fetch_add(&completed[self->id], 1, __ATOMIC_RELAXED);
}

/* ------------------------------------------------------------ outside threads */

static int outside_stop;
static uint64_t outside_jobs, outside_done;
/* Outside threads still running: a hand-managed count they finish on exit, so
 * the root can wait for them on a fiber (with one worker, only fj_main runs jobs). */
static fj_counter outside_alive;

static void outside_job(void *arg)
{
    (void)arg;
    __atomic_fetch_add(&outside_done, 1, __ATOMIC_RELAXED);
}

static void *outside_thread(void *arg)
{
    uint64_t r = (uint64_t)(uintptr_t)arg;
    fj_job jobs[8];
    for (int i = 0; i < 8; i++)
        jobs[i] = (fj_job){ .fn = outside_job, .name = "soak_outside" };
    while (!__atomic_load_n(&outside_stop, __ATOMIC_ACQUIRE)) {
        r = mix(r);
        size_t n = 1 + r % 8;
        fj_counter c;
        fj_counter_init(&c, 0);
        fj_run_jobs(jobs, n, &c);
        __atomic_fetch_add(&outside_jobs, n, __ATOMIC_RELAXED);
        fj_wait(&c, 0);
        if (fj_counter_value(&c) != 0)
            FAIL("outside counter value %lld", (long long)fj_counter_value(&c));
        struct timespec ts = { 0, (long)(r % 200000) };
        nanosleep(&ts, NULL);
    }
    fj_counter_done(&outside_alive, 1);
    return NULL;
}

/* ------------------------------------------------------------ rounds */

/* The root waits for the outside threads' hand-managed count: while they run,
 * an idle scheduler is not a deadlock. */
static int outside_may_finish(const fj_deadlock_info *info, void *user)
{
    (void)info;
    (void)user;
    return fj_counter_value(&outside_alive) > 0;
}

static void quiet_panic(const fj_panic_info *info, void *user)
{
    (void)user;
    if (strncmp(info->message, "soak panic", 10) && strncmp(info->message, "late soak panic", 15))
        FAIL("unexpected panic in '%s': %s", info->job_name, info->message);
}

typedef struct run {
    double seconds;
    uint64_t rounds, jobs;
} run;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void soak_root(void *arg)
{
    run *rn = arg;
    double end = now_s() + rn->seconds;
    while (now_s() < end) {
        g_round++;
        memset(runs, 0, sizeof runs);
        memset(completed, 0, sizeof completed);
        next_id = 0;
        uint32_t panics_before = __atomic_load_n(&panics, __ATOMIC_RELAXED);
        enum { ROOTS = 8 };
        node roots[ROOTS];
        fj_job jobs[ROOTS];
        for (int i = 0; i < ROOTS; i++) {
            roots[i] = (node){ new_id(), 0, mix(g_seed ^ (g_round * 1315423911u) ^ (uint64_t)i) };
            jobs[i] = (fj_job){ .fn = tree_job, .arg = &roots[i], .name = "soak_root_tree",
                                .priority = (fj_priority)(i % 3) };
        }
        fj_counter c;
        fj_counter_init(&c, 0);
        fj_run_jobs(jobs, ROOTS, &c);
        fj_wait(&c, 0);
        uint32_t n = next_id < MAX_NODES ? next_id : MAX_NODES;
        uint32_t not_completed = 0;
        for (uint32_t i = 0; i < n; i++) {
            if (runs[i] != 1)
                FAIL("job %u ran %u times", i, runs[i]);
            if (completed[i] > 1)
                FAIL("job %u completed %u times", i, completed[i]);
            not_completed += completed[i] == 0;
        }
        uint32_t panicked = __atomic_load_n(&panics, __ATOMIC_RELAXED) - panics_before;
        if (not_completed != panicked)
            FAIL("%u jobs did not complete but %u panicked", not_completed, panicked);
        uint32_t root_panics = 0;
        for (int i = 0; i < ROOTS; i++)
            root_panics += completed[roots[i].id] == 0;
        if (fj_counter_value(&c) != 0 || fj_counter_panics(&c) != root_panics)
            FAIL("round counter: value %lld, panics %u, expected 0 and %u", (long long)fj_counter_value(&c),
                 fj_counter_panics(&c), root_panics);
        rn->rounds++;
        rn->jobs += n;
    }
    __atomic_store_n(&outside_stop, 1, __ATOMIC_RELEASE);
    fj_wait(&outside_alive, 0);
}

int main(int argc, char **argv)
{
    run rn = { .seconds = 10 };
    fj_config cfg = fj_config_default();
    g_seed = (uint64_t)time(NULL) ^ ((uint64_t)clock() << 20);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
            rn.seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
            g_seed = strtoull(argv[++i], NULL, 0);
        else if (!strcmp(argv[i], "--workers") && i + 1 < argc)
            cfg.workers = (unsigned)atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--seconds N] [--seed S] [--workers N]\n", argv[0]);
            return 2;
        }
    }
    printf("fiberjob-soak: seed %llu, %.0f s\n", (unsigned long long)g_seed, rn.seconds);
    fflush(stdout);
    cfg.panic_hook = quiet_panic;
    cfg.deadlock_hook = outside_may_finish;
    /* Trees 7 deep with up to 6 children, waits and yields at every level:
     * each waiting job holds a fiber of its own (its children are promised
     * whole stacks), so the pool is sized for many suspended chains. */
    cfg.small_fibers = 4096;
    cfg.large_fibers = 256;
    fj_scheduler *s = fj_create(&cfg);
    if (!s) {
        fprintf(stderr, "fiberjob-soak: fj_create: %s\n", fj_strerror(fj_last_error()));
        return 1;
    }
    enum { OUTSIDE = 2 };
    pthread_t t[OUTSIDE];
    fj_counter_init(&outside_alive, OUTSIDE);
    for (int i = 0; i < OUTSIDE; i++)
        pthread_create(&t[i], NULL, outside_thread, (void *)(uintptr_t)mix(g_seed + (uint64_t)i));
    int rc = fj_main(s, soak_root, &rn);
    for (int i = 0; i < OUTSIDE; i++)
        pthread_join(t[i], NULL);
    fj_destroy(s);
    if (rc != 0)
        FAIL("fj_main returned %d", rc);
    if (outside_done != outside_jobs)
        FAIL("outside threads ran %llu jobs, %llu finished", (unsigned long long)outside_jobs,
             (unsigned long long)outside_done);
    printf("fiberjob-soak: ok: %llu rounds, %llu tree jobs, %u panics, %llu outside jobs\n",
           (unsigned long long)rn.rounds, (unsigned long long)rn.jobs, panics, (unsigned long long)outside_jobs);
    return 0;
}
