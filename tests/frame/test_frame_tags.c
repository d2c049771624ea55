/*
 * Tags: many in flight at once (allocated from jobs on every worker and freed in
 * a shuffled order without disturbing the others), the per-worker limit on tags
 * in flight, reuse of the blocks of freed tags (the heap stops growing), and a
 * fixed tag reused every frame.
 */
#include "test.h"

#define BLOCK ((size_t)64 * 1024)
#define NTAGS 48
#define JOBS_PER_TAG 64
#define ALLOCS_PER_JOB 8

static fj_frame_heap *g_heap;
static test_block g_recs[NTAGS][JOBS_PER_TAG * ALLOCS_PER_JOB];

static void tag_job(void *arg)
{
    uintptr_t id = (uintptr_t)arg;
    unsigned tag = (unsigned)(id / JOBS_PER_TAG), j = (unsigned)(id % JOBS_PER_TAG);
    uint64_t rng = id * 0x9e3779b97f4a7c15ull + 1;
    for (unsigned k = 0; k < ALLOCS_PER_JOB; k++) {
        size_t size = 1 + test_rand(&rng) % 700;
        size_t align = (size_t)1 << (test_rand(&rng) % 8);
        unsigned char *p = fj_frame_alloc(g_heap, 1000 + tag, size, align);
        CHECK(p);
        CHECK((uintptr_t)p % align == 0);
        test_block *r = &g_recs[tag][j * ALLOCS_PER_JOB + k];
        *r = (test_block){ p, size, (uint32_t)(tag * 100000 + j * 100 + k + 1) };
        test_block_fill(r);
        if (k == ALLOCS_PER_JOB / 2)
            fj_yield();   /* resume, perhaps on another worker, and go on allocating */
    }
}

static void many_tags_root(void *arg)
{
    (void)arg;
    /* Interleave the tags in one batch so every worker has many in flight. */
    static fj_job jobs[NTAGS * JOBS_PER_TAG];
    for (unsigned j = 0; j < JOBS_PER_TAG; j++)
        for (unsigned t = 0; t < NTAGS; t++) {
            uintptr_t id = (uintptr_t)t * JOBS_PER_TAG + j;
            jobs[j * NTAGS + t] = (fj_job){ .fn = tag_job, .arg = (void *)id, .name = "tag_job" };
        }
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs(jobs, NTAGS * JOBS_PER_TAG, &c);
    fj_wait(&c, 0);

    /* Free the tags in a shuffled order; the others must stay intact. */
    unsigned order[NTAGS];
    for (unsigned t = 0; t < NTAGS; t++)
        order[t] = t;
    uint64_t rng = 12345;
    for (unsigned t = NTAGS - 1; t > 0; t--) {
        unsigned k = (unsigned)(test_rand(&rng) % (t + 1)), x = order[t];
        order[t] = order[k];
        order[k] = x;
    }
    static bool freed[NTAGS];
    for (unsigned i = 0; i < NTAGS; i++) {
        CHECK(fj_frame_free_tag(g_heap, 1000 + order[i]) > 0);
        freed[order[i]] = true;
        if (i % 8 == 7 || i == NTAGS - 1) {
            for (unsigned t = 0; t < NTAGS; t++)
                for (unsigned k = 0; !freed[t] && k < JOBS_PER_TAG * ALLOCS_PER_JOB; k++)
                    CHECK(test_block_intact(&g_recs[t][k]));
        }
    }
    fj_frame_stats st;
    fj_frame_heap_stats(g_heap, &st);
    CHECK_EQ(st.blocks_in_use, 0);
}

static void many_tags_test(fj_scheduler *s)
{
    fj_frame_config fc = { .block_size = BLOCK, .max_tags = 64, .cap = 4096 * BLOCK };
    g_heap = fj_frame_heap_create(s, &fc);
    CHECK(g_heap);
    CHECK_EQ(fj_main(s, many_tags_root, NULL), 0);
    /* Before freeing, no two of the allocations overlapped: check that on a
     * second round, keeping every record until the end. */
    CHECK_EQ(fj_main(s, many_tags_root, NULL), 0);
    fj_frame_heap_destroy(g_heap);
}

/* Overlap over all tags at once (records of every tag alive together). */
static void overlap_root(void *arg)
{
    (void)arg;
    static fj_job jobs[NTAGS * JOBS_PER_TAG];
    for (uintptr_t id = 0; id < NTAGS * JOBS_PER_TAG; id++)
        jobs[id] = (fj_job){ .fn = tag_job, .arg = (void *)id, .name = "tag_job" };
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs(jobs, NTAGS * JOBS_PER_TAG, &c);
    fj_wait(&c, 0);
    test_blocks_check(&g_recs[0][0], (size_t)NTAGS * JOBS_PER_TAG * ALLOCS_PER_JOB);
    for (unsigned t = 0; t < NTAGS; t++)
        fj_frame_free_tag(g_heap, 1000 + t);
}

static void overlap_test(fj_scheduler *s)
{
    fj_frame_config fc = { .block_size = BLOCK, .max_tags = 64, .cap = 4096 * BLOCK };
    g_heap = fj_frame_heap_create(s, &fc);
    CHECK(g_heap);
    CHECK_EQ(fj_main(s, overlap_root, NULL), 0);
    fj_frame_heap_destroy(g_heap);
}

/* ------------------------------------------------------------ tag limit */

static void limit_test(fj_scheduler *s)
{
    fj_frame_config fc = { .block_size = BLOCK, .max_tags = 4 };
    fj_frame_heap *h = fj_frame_heap_create(s, &fc);
    CHECK(h);
    /* From this thread (outside the scheduler: the shared outside table). */
    for (uint64_t t = 0; t < 4; t++)
        CHECK(fj_frame_alloc(h, t, 8, 8));
    CHECK(fj_frame_alloc(h, 4, 8, 8) == NULL);
    CHECK_EQ(fj_frame_last_error(), FJ_ELIMIT);
    CHECK(fj_frame_alloc(h, 3, 8, 8) != NULL);   /* tags in flight still work */
    CHECK_EQ(fj_frame_free_tag(h, 2), 1);
    CHECK(fj_frame_alloc(h, 4, 8, 8) != NULL);   /* a slot came free */
    CHECK(fj_frame_alloc(h, FJ_FRAME_TAG_MAX, 8, 8) == NULL);
    CHECK_EQ(fj_frame_last_error(), FJ_ELIMIT);
    for (uint64_t t = 0; t < 5; t++)
        fj_frame_free_tag(h, t);
    CHECK(fj_frame_alloc(h, FJ_FRAME_TAG_MAX, 8, 8) != NULL);   /* the largest tag is a tag */
    CHECK_EQ(fj_frame_free_tag(h, FJ_FRAME_TAG_MAX), 1);
    fj_frame_heap_destroy(h);
}

/* A tag's slot, once freed and claimed by another tag, must start over: the
 * rest of the freed block went back to the heap with it, and another tag may
 * have it now. */
static void new_lifetime_test(fj_scheduler *s)
{
    fj_frame_config fc = { .block_size = BLOCK };
    fj_frame_heap *h = fj_frame_heap_create(s, &fc);
    CHECK(h);
    test_block r[5];
    CHECK(fj_frame_alloc(h, 1, 100, 8));
    CHECK(fj_frame_alloc(h, 5, 100, 8));
    CHECK_EQ(fj_frame_free_tag(h, 1), 1);
    CHECK_EQ(fj_frame_free_tag(h, 5), 1);
    /* New tags in the freed slots (whose blocks went back in another order),
     * then tag 1 again: a new lifetime. */
    r[0] = (test_block){ fj_frame_alloc(h, 2, 100, 8), 100, 2 };
    r[1] = (test_block){ fj_frame_alloc(h, 2, 100, 8), 100, 3 };
    r[2] = (test_block){ fj_frame_alloc(h, 3, 4096, 8), 4096, 4 };
    r[3] = (test_block){ fj_frame_alloc(h, 1, 100, 8), 100, 5 };
    r[4] = (test_block){ fj_frame_alloc(h, 1, 100, 8), 100, 6 };
    for (int i = 0; i < 5; i++) {
        CHECK(r[i].p);
        test_block_fill(&r[i]);
    }
    test_blocks_check(r, 5);
    CHECK_EQ(fj_frame_free_tag(h, 1) + fj_frame_free_tag(h, 2) + fj_frame_free_tag(h, 3), 3);
    fj_frame_heap_destroy(h);
}

/* ------------------------------------------------------------ reuse */

#define FRAMES 300
#define FRAME_JOBS 256

typedef struct frame_ctx {
    uint64_t tag;
    unsigned frame;
} frame_ctx;

static test_block g_frame_recs[3][FRAME_JOBS];

static void frame_job(void *arg)
{
    uintptr_t id = (uintptr_t)arg;
    unsigned frame = (unsigned)(id / FRAME_JOBS), j = (unsigned)(id % FRAME_JOBS);
    /* Frame tags cycle through 0..2 with the frame's tag reused each third
     * frame: fixed tags reused every frame. */
    size_t size = 200 + (j * 37 + frame) % 3000;
    unsigned char *p = fj_frame_alloc(g_heap, frame % 3, size, 16);
    CHECK(p);
    test_block *r = &g_frame_recs[frame % 3][j];
    *r = (test_block){ p, size, frame * 1000u + j + 1 };
    test_block_fill(r);
}

static void reuse_root(void *arg)
{
    const size_t *workers = arg;
    static fj_job jobs[FRAME_JOBS];
    for (unsigned f = 0; f < FRAMES; f++) {
        /* Frame f - 2's memory is still in use while frame f allocates: check
         * it, then free it (three frames in flight). */
        for (unsigned j = 0; j < FRAME_JOBS; j++)
            jobs[j] = (fj_job){ .fn = frame_job, .arg = (void *)(uintptr_t)(f * FRAME_JOBS + j), .name = "frame_job" };
        fj_counter c;
        fj_counter_init(&c, 0);
        fj_run_jobs(jobs, FRAME_JOBS, &c);
        fj_wait(&c, 0);
        if (f >= 2) {
            unsigned old = (f - 2) % 3;
            for (unsigned j = 0; j < FRAME_JOBS; j++)
                CHECK(test_block_intact(&g_frame_recs[old][j]));
            CHECK(fj_frame_free_tag(g_heap, old) > 0);
        }
        /* Without reuse the heap would grow by a frame's worth (~7 blocks)
         * every frame. With it, it stays within what three frames in flight
         * can hold at most: each frame's bytes, plus per worker a partly used
         * block and what a block switch wastes (< one allocation per block). */
        fj_frame_stats st;
        fj_frame_heap_stats(g_heap, &st);
        size_t frame_max = FRAME_JOBS * (200 + 2999 + 15);
        size_t bound = 3 * (frame_max / (BLOCK - 3214) + 1 + *workers);
        if (st.blocks_reserved > bound) {
            fprintf(stderr, "frame %u: the heap grew to %zu blocks (bound %zu); freed blocks are not reused\n", f,
                    st.blocks_reserved, bound);
            exit(1);
        }
    }
    fj_frame_free_tag(g_heap, (FRAMES - 2) % 3);
    fj_frame_free_tag(g_heap, (FRAMES - 1) % 3);
}

static void reuse_test(fj_scheduler *s)
{
    /* 256 jobs of ~1.7 KB: ~7 blocks of 64 KiB a frame; the reserve starts at
     * one block so the heap must grow, then settle. */
    fj_frame_config fc = { .block_size = BLOCK, .reserve = 1, .cap = 2048 * BLOCK };
    g_heap = fj_frame_heap_create(s, &fc);
    CHECK(g_heap);
    size_t workers = fj_worker_count(s);
    CHECK_EQ(fj_main(s, reuse_root, &workers), 0);
    fj_frame_stats st;
    fj_frame_heap_stats(g_heap, &st);
    CHECK_EQ(st.blocks_in_use, 0);
    CHECK(st.blocks_reserved > 1);
    fj_frame_heap_destroy(g_heap);
}

int main(int argc, char **argv)
{
    fj_config cfg = test_config(argc, argv);
    fj_scheduler *s = fj_create(&cfg);
    CHECK(s);
    many_tags_test(s);
    overlap_test(s);
    limit_test(s);
    new_lifetime_test(s);
    reuse_test(s);
    fj_destroy(s);
    printf("ok\n");
    return 0;
}
