/*
 * Exhaustion and the cap: the heap grows by whole blocks up to its cap, then
 * fj_frame_alloc returns NULL with FJ_ENOMEM (never a crash, never memory
 * handed out twice), and works again once tags are freed. Also from every
 * worker at once, and for runs (allocations larger than a block).
 */
#include "test.h"

#define BLOCK ((size_t)64 * 1024)
#define CAP 32

static fj_frame_heap *g_heap;

static size_t reserved(void)
{
    fj_frame_stats st;
    fj_frame_heap_stats(g_heap, &st);
    return st.blocks_reserved;
}

static size_t in_use(void)
{
    fj_frame_stats st;
    fj_frame_heap_stats(g_heap, &st);
    return st.blocks_in_use;
}

/* ------------------------------------------------------------ one job */

static void single_root(void *arg)
{
    (void)arg;
    static test_block recs[CAP];
    for (int round = 0; round < 3; round++) {
        unsigned n = 0;
        for (;;) {
            unsigned char *p = fj_frame_alloc(g_heap, 7, BLOCK, 0);
            if (!p)
                break;
            CHECK(n < CAP);
            recs[n] = (test_block){ p, BLOCK, (uint32_t)(round * 100 + n + 1) };
            test_block_fill(&recs[n]);
            n++;
        }
        CHECK_EQ(fj_frame_last_error(), FJ_ENOMEM);
        CHECK_EQ(n, CAP);                 /* each block-sized allocation is one block */
        CHECK_EQ(reserved(), CAP);        /* grew to the cap, not past it */
        /* Still refused, and a smaller request fails too: every block is full. */
        CHECK(fj_frame_alloc(g_heap, 7, 1, 0) == NULL);
        CHECK(fj_frame_alloc(g_heap, 8, 1, 0) == NULL);
        CHECK_EQ(fj_frame_last_error(), FJ_ENOMEM);
        test_blocks_check(recs, n);
        CHECK_EQ(fj_frame_free_tag(g_heap, 7), CAP);
        CHECK_EQ(in_use(), 0);
        CHECK_EQ(reserved(), CAP);        /* nothing returned to the system */
    }
}

/* ------------------------------------------------------------ every worker */

#define FILLERS 64
static test_block g_fill[FILLERS][CAP];
static unsigned g_fill_n[FILLERS];

static void filler_job(void *arg)
{
    uintptr_t id = (uintptr_t)arg;
    unsigned n = 0;
    for (;;) {
        /* Mixed sizes; the last blocks of the cap are fought over. */
        size_t size = (id & 1) ? BLOCK : BLOCK / 2 + 1;
        unsigned char *p = fj_frame_alloc(g_heap, 9 + (id & 3), size, 64);
        if (!p) {
            CHECK_EQ(fj_frame_last_error(), FJ_ENOMEM);
            break;
        }
        CHECK(n < CAP);
        g_fill[id][n] = (test_block){ p, size, (uint32_t)(id * 1000 + n + 1) };
        test_block_fill(&g_fill[id][n]);
        n++;
        if (n % 3 == 0)
            fj_yield();
    }
    g_fill_n[id] = n;
}

static void concurrent_root(void *arg)
{
    (void)arg;
    static test_block all[FILLERS * CAP];
    for (int round = 0; round < 5; round++) {
        fj_job jobs[FILLERS];
        for (uintptr_t i = 0; i < FILLERS; i++)
            jobs[i] = (fj_job){ .fn = filler_job, .arg = (void *)i, .name = "filler" };
        fj_counter c;
        fj_counter_init(&c, 0);
        fj_run_jobs(jobs, FILLERS, &c);
        fj_wait(&c, 0);
        size_t n = 0;
        for (unsigned i = 0; i < FILLERS; i++)
            for (unsigned k = 0; k < g_fill_n[i]; k++)
                all[n++] = g_fill[i][k];
        /* Every allocation takes a block of its own (half-plus-one blocks do
         * not pair up), so exactly the cap's worth were handed out. */
        CHECK_EQ(n, CAP);
        CHECK_EQ(in_use(), CAP);
        test_blocks_check(all, n);
        int freed = 0;
        for (uint64_t t = 9; t < 13; t++)
            freed += fj_frame_free_tag(g_heap, t);
        CHECK_EQ(freed, CAP);
        CHECK_EQ(in_use(), 0);
        CHECK_EQ(reserved(), CAP);
    }
}

/* ------------------------------------------------------------ runs at the cap */

static void runs_root(void *arg)
{
    (void)arg;
    /* cap 8 blocks, 1 reserved. A run of 3 blocks (3 is a run class) grows
     * the heap to 4 blocks. */
    unsigned char *run = fj_frame_alloc(g_heap, 1, 2 * BLOCK + 1, 0);
    CHECK(run);
    CHECK((uintptr_t)run % BLOCK == 0);
    memset(run, 0x5a, 2 * BLOCK + 1);
    CHECK_EQ(reserved(), 4);
    CHECK_EQ(in_use(), 3);
    /* 9 blocks are more than the cap: refused at once. A run of 4 grows the
     * heap to its cap. */
    CHECK(fj_frame_alloc(g_heap, 2, 8 * BLOCK + 1, 0) == NULL);
    CHECK_EQ(fj_frame_last_error(), FJ_ENOMEM);
    unsigned char *run4 = fj_frame_alloc(g_heap, 2, 4 * BLOCK, 0);
    CHECK(run4);
    memset(run4, 0xa5, 4 * BLOCK);
    CHECK_EQ(reserved(), 8);
    CHECK_EQ(in_use(), 7);
    /* The one reserved block, then nothing. */
    CHECK(fj_frame_alloc(g_heap, 3, BLOCK, 0));
    CHECK(fj_frame_alloc(g_heap, 3, 1, 0) == NULL);
    CHECK_EQ(fj_frame_last_error(), FJ_ENOMEM);
    CHECK_EQ(fj_frame_free_tag(g_heap, 1), 3);
    CHECK_EQ(fj_frame_free_tag(g_heap, 2), 4);
    CHECK_EQ(fj_frame_free_tag(g_heap, 3), 1);
    /* The freed runs are reused whole by runs of their size... */
    CHECK(fj_frame_alloc(g_heap, 4, 3 * BLOCK, 0) == run);
    CHECK(fj_frame_alloc(g_heap, 4, 4 * BLOCK - 7, 0) == run4);
    CHECK_EQ(fj_frame_free_tag(g_heap, 4), 7);
    /* ...and cut into single blocks when the heap is at its cap and single
     * blocks run out: all 8 blocks serve block-sized allocations. */
    for (int i = 0; i < 8; i++)
        CHECK(fj_frame_alloc(g_heap, 5, BLOCK, 0));
    CHECK(fj_frame_alloc(g_heap, 5, 1, 0) == NULL);
    CHECK_EQ(fj_frame_last_error(), FJ_ENOMEM);
    CHECK_EQ(fj_frame_free_tag(g_heap, 5), 8);
    /* Single blocks are never joined into runs (documented): at the cap a run
     * is refused although eight free blocks exist. */
    CHECK(fj_frame_alloc(g_heap, 6, 2 * BLOCK, 0) == NULL);
    CHECK_EQ(fj_frame_last_error(), FJ_ENOMEM);
    CHECK(fj_frame_alloc(g_heap, 6, BLOCK, 0) != NULL);
    CHECK_EQ(fj_frame_free_tag(g_heap, 6), 1);
}

int main(int argc, char **argv)
{
    fj_config cfg = test_config(argc, argv);
    fj_scheduler *s = fj_create(&cfg);
    CHECK(s);

    fj_frame_config fc = { .block_size = BLOCK, .reserve = 4 * BLOCK, .cap = CAP * BLOCK };
    g_heap = fj_frame_heap_create(s, &fc);
    CHECK(g_heap);
    CHECK_EQ(reserved(), 4);
    CHECK_EQ(fj_main(s, single_root, NULL), 0);
    fj_frame_heap_destroy(g_heap);

    g_heap = fj_frame_heap_create(s, &fc);
    CHECK(g_heap);
    CHECK_EQ(fj_main(s, concurrent_root, NULL), 0);
    fj_frame_heap_destroy(g_heap);

    fj_frame_config runs = { .block_size = BLOCK, .reserve = 1, .cap = 8 * BLOCK };
    g_heap = fj_frame_heap_create(s, &runs);
    CHECK(g_heap);
    CHECK_EQ(fj_main(s, runs_root, NULL), 0);
    fj_frame_heap_destroy(g_heap);

    fj_destroy(s);
    printf("ok\n");
    return 0;
}
