/*
 * Concurrent allocation from every worker (jobs, nested waits, yields) and from
 * a thread outside the scheduler, in two tags at once, while the previous
 * round's tags are checked and freed by another job. Every allocation is
 * filled with its own pattern; at the end of each round every pattern must be
 * intact and no two live allocations may overlap.
 */
#include <pthread.h>

#include "test.h"

#define BLOCK ((size_t)64 * 1024)
#define ROUNDS 4
#define GROUPS 64
#define CHILDREN 16
#define ALLOCS 24
#define JOB_RECS (GROUPS * CHILDREN * ALLOCS)
#define OUTSIDE_RECS 3000

static fj_frame_heap *g_heap;
static test_block g_recs[2][JOB_RECS];
static test_block g_outside[2][OUTSIDE_RECS];
static unsigned g_round;

static uint64_t round_tag(unsigned round, unsigned which) { return 100u + round * 2u + which; }

static void alloc_one(uint64_t *rng, uint64_t tag, test_block *r, uint32_t seed)
{
    uint64_t x = test_rand(rng);
    size_t size = 1 + (size_t)(x % 1024);
    if ((x >> 20) % 256 == 0)
        size = BLOCK / 2 + (size_t)((x >> 30) % (2 * BLOCK));   /* now and then a block or more */
    size_t align = (size_t)1 << ((x >> 40) % 13);              /* 1 .. 4096 */
    unsigned char *p = fj_frame_alloc(g_heap, tag, size, align);
    if (!p) {
        fprintf(stderr, "fj_frame_alloc(%zu, %zu) failed: %s\n", size, align, fj_strerror(fj_frame_last_error()));
        exit(1);
    }
    CHECK((uintptr_t)p % align == 0);
    *r = (test_block){ p, size, seed };
    test_block_fill(r);
}

static void child_job(void *arg)
{
    uintptr_t id = (uintptr_t)arg;   /* group * CHILDREN + child */
    unsigned round = g_round;
    uint64_t rng = (id + 1) * 0x9e3779b97f4a7c15ull ^ (round + 1) * 0xbf58476d1ce4e5b9ull;
    for (unsigned k = 0; k < ALLOCS; k++) {
        size_t i = id * ALLOCS + k;
        alloc_one(&rng, round_tag(round, k & 1), &g_recs[round & 1][i], (uint32_t)(round * JOB_RECS + i + 1));
        if (k == ALLOCS / 2 && id % 4 == 0)
            fj_yield();
    }
}

static void group_job(void *arg)
{
    uintptr_t g = (uintptr_t)arg;
    fj_job jobs[CHILDREN];
    for (unsigned c = 0; c < CHILDREN; c++)
        jobs[c] = (fj_job){ .fn = child_job, .arg = (void *)(g * CHILDREN + c), .name = "child" };
    fj_counter done;
    fj_counter_init(&done, 0);
    fj_run_jobs(jobs, CHILDREN, &done);
    fj_wait(&done, 0);   /* a nested wait, while other groups allocate */
}

/* The previous round: every allocation intact, then its tags freed while this
 * round's jobs allocate in theirs. */
static void retire_job(void *arg)
{
    unsigned prev = (unsigned)(uintptr_t)arg;
    for (size_t i = 0; i < JOB_RECS; i++)
        CHECK(test_block_intact(&g_recs[prev & 1][i]));
    for (size_t i = 0; i < OUTSIDE_RECS; i++)
        CHECK(test_block_intact(&g_outside[prev & 1][i]));
    CHECK(fj_frame_free_tag(g_heap, round_tag(prev, 0)) > 0);
    CHECK(fj_frame_free_tag(g_heap, round_tag(prev, 1)) > 0);
}

static void *outside_thread(void *arg)
{
    unsigned round = (unsigned)(uintptr_t)arg;
    uint64_t rng = 0x1234567ull + round;
    for (unsigned i = 0; i < OUTSIDE_RECS; i++)
        alloc_one(&rng, round_tag(round, i & 1), &g_outside[round & 1][i], (uint32_t)(0x80000000u + round * OUTSIDE_RECS + i));
    return NULL;
}

static void root(void *arg)
{
    (void)arg;
    static test_block all[JOB_RECS + OUTSIDE_RECS];
    for (unsigned round = 0; round < ROUNDS; round++) {
        g_round = round;
        pthread_t outside;
        CHECK(pthread_create(&outside, NULL, outside_thread, (void *)(uintptr_t)round) == 0);
        fj_job jobs[GROUPS + 1];
        for (unsigned g = 0; g < GROUPS; g++)
            jobs[g] = (fj_job){ .fn = group_job, .arg = (void *)(uintptr_t)g, .name = "group" };
        size_t n = GROUPS;
        if (round > 0)
            jobs[n++] = (fj_job){ .fn = retire_job, .arg = (void *)(uintptr_t)(round - 1), .name = "retire" };
        fj_counter c;
        fj_counter_init(&c, 0);
        fj_run_jobs(jobs, n, &c);
        fj_wait(&c, 0);
        pthread_join(outside, NULL);

        /* All of this round's allocations, from jobs and from the outside thread. */
        memcpy(all, g_recs[round & 1], sizeof g_recs[0]);
        memcpy(all + JOB_RECS, g_outside[round & 1], sizeof g_outside[0]);
        test_blocks_check(all, JOB_RECS + OUTSIDE_RECS);
    }
    CHECK(fj_frame_free_tag(g_heap, round_tag(ROUNDS - 1, 0)) > 0);
    CHECK(fj_frame_free_tag(g_heap, round_tag(ROUNDS - 1, 1)) > 0);
    fj_frame_stats st;
    fj_frame_heap_stats(g_heap, &st);
    CHECK_EQ(st.blocks_in_use, 0);
}

int main(int argc, char **argv)
{
    fj_config cfg = test_config(argc, argv);
    fj_scheduler *s = fj_create(&cfg);
    CHECK(s);
    fj_frame_config fc = { .block_size = BLOCK, .reserve = 1, .cap = 8192 * BLOCK };
    g_heap = fj_frame_heap_create(s, &fc);
    CHECK(g_heap);
    CHECK_EQ(fj_main(s, root, NULL), 0);
    fj_frame_heap_destroy(g_heap);
    fj_destroy(s);
    printf("ok\n");
    return 0;
}
