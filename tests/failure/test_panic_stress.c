/* Random job trees where about 1% of the jobs panic (before or after spawning
 * their children, sometimes while waiting on them). Every job that did not
 * panic runs exactly once, every counter reconciles (value 0, panics equal to
 * the panicking children), and the scheduler goes on working afterwards. */
#include <stdint.h>

#include "test.h"

#define MAX_NODES 200000

typedef struct node {
    uint32_t id;
    uint32_t depth;
    uint64_t seed;
} node;

static uint32_t runs[MAX_NODES];       /* times each job started */
static uint32_t completed[MAX_NODES];  /* times each job returned normally */
static uint32_t next_id;
static uint32_t panics_expected;
static uint32_t panics_counted;

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

static void tree_job(void *arg);

static void tree_job(void *arg)
{
    node *self = arg;
    __atomic_fetch_add(&runs[self->id], 1, __ATOMIC_RELAXED);
    uint64_t r = mix(self->seed);
    int panic_mode = (r % 100) == 0 ? 1 + (int)((r >> 8) % 3) : 0; /* 1: early, 2: after spawn, 3: late */
    if (panic_mode == 1) {
        __atomic_fetch_add(&panics_expected, 1, __ATOMIC_RELAXED);
        fj_panic("early panic in node %u", self->id);
    }
    unsigned nchildren = self->depth >= 6 ? 0 : (unsigned)((r >> 16) % 5);
    node kids[4];
    fj_job jobs[4];
    fj_counter c;
    fj_counter_init(&c, 0);
    for (unsigned i = 0; i < nchildren; i++) {
        uint32_t id = __atomic_fetch_add(&next_id, 1, __ATOMIC_RELAXED);
        if (id >= MAX_NODES) {
            nchildren = i;
            break;
        }
        kids[i] = (node){ id, self->depth + 1, mix(self->seed + i + 1) };
        jobs[i] = (fj_job){ .fn = tree_job, .arg = &kids[i], .name = "tree_job",
                            .priority = (fj_priority)((r >> (24 + i)) % 3) };
    }
    fj_run_jobs(jobs, nchildren, &c);
    if ((r >> 40) % 7 == 0)
        fj_yield();
    /* Waiting is required before any exit, even a panic: the children live in
     * this frame. */
    fj_wait(&c, 0);
    CHECK_EQ(fj_counter_value(&c), 0);
    unsigned kid_panics = 0;
    for (unsigned i = 0; i < nchildren; i++)
        kid_panics += completed[kids[i].id] == 0;
    CHECK_EQ(fj_counter_panics(&c), kid_panics);
    __atomic_fetch_add(&panics_counted, fj_counter_panics(&c), __ATOMIC_RELAXED);
    if (panic_mode >= 2) {
        __atomic_fetch_add(&panics_expected, 1, __ATOMIC_RELAXED);
        fj_panic("late panic in node %u", self->id);
    }
    __atomic_fetch_add(&completed[self->id], 1, __ATOMIC_RELAXED);
}

static void quiet_hook(const fj_panic_info *info, void *user)
{
    (void)user;
    CHECK(strstr(info->message, "panic in node"));
    CHECK(!strcmp(info->job_name, "tree_job"));
}

static void root(void *arg)
{
    uint64_t seed = *(uint64_t *)arg;
    for (int round = 0; round < 40; round++) {
        next_id = 0;
        memset(runs, 0, sizeof runs);
        memset(completed, 0, sizeof completed);
        uint32_t expected_before = panics_expected, counted_before = panics_counted;
        enum { ROOTS = 16 };
        node roots[ROOTS];
        fj_job jobs[ROOTS];
        for (int i = 0; i < ROOTS; i++) {
            roots[i] = (node){ __atomic_fetch_add(&next_id, 1, __ATOMIC_RELAXED), 0, mix(seed * 977 + (uint64_t)round * 31 + (uint64_t)i) };
            jobs[i] = (fj_job){ .fn = tree_job, .arg = &roots[i], .name = "tree_job" };
        }
        fj_counter c;
        fj_counter_init(&c, 0);
        fj_run_jobs(jobs, ROOTS, &c);
        fj_wait(&c, 0);
        CHECK_EQ(fj_counter_value(&c), 0);
        uint32_t root_panics = 0;
        for (int i = 0; i < ROOTS; i++)
            root_panics += completed[roots[i].id] == 0;
        CHECK_EQ(fj_counter_panics(&c), root_panics);
        uint32_t n = next_id < MAX_NODES ? next_id : MAX_NODES;
        uint32_t not_completed = 0;
        for (uint32_t i = 0; i < n; i++) {
            CHECK_EQ(runs[i], 1);
            CHECK(completed[i] <= 1);
            not_completed += completed[i] == 0;
        }
        CHECK_EQ(not_completed, panics_expected - expected_before);
        CHECK_EQ(panics_counted - counted_before + root_panics, panics_expected - expected_before);
    }
}

int main(int argc, char **argv)
{
    fj_config cfg = test_config(argc, argv);
    cfg.panic_hook = quiet_hook;
    uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 0) : 12345;
    printf("seed %llu\n", (unsigned long long)seed);
    fj_scheduler *s = fj_create(&cfg);
    CHECK(s);
    CHECK_EQ(fj_main(s, root, &seed), 0);
    CHECK(panics_expected > 0);
    /* Still working afterwards. */
    seed++;
    CHECK_EQ(fj_main(s, root, &seed), 0);
    fj_destroy(s);
    printf("ok: %u panics\n", panics_expected);
    return 0;
}
