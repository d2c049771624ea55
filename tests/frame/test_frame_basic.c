/*
 * Frame allocator basics: configuration, alignment and sizes (up to and past a
 * block), size 0, outside threads, statistics, and every misuse stopping the
 * process with a line that names the call.
 */
#include <pthread.h>

#include "test.h"

#define BLOCK ((size_t)64 * 1024)

static unsigned g_workers;

static fj_scheduler *make_sched(int pin)
{
    fj_config c = fj_config_default();
    c.workers = g_workers;
    c.pin_threads = pin;
    fj_scheduler *s = fj_create(&c);
    CHECK(s);
    return s;
}

/* ------------------------------------------------------------ misuse */

/* The children that abort run unpinned: on this machine's kernel, a process
 * that dies while a worker thread is still inside sched_setaffinity (pinning
 * itself just after fj_create) never finishes dying. */

static void null_scheduler(void *arg)
{
    (void)arg;
    fj_frame_heap_create(NULL, NULL);
}

static void null_heap_alloc(void *arg)
{
    (void)arg;
    fj_frame_alloc(NULL, 1, 16, 8);
}

static void null_heap_free(void *arg)
{
    (void)arg;
    fj_frame_free_tag(NULL, 1);
}

typedef struct misuse { uint64_t tag; size_t align; } misuse;
static misuse g_misuse;

static void bad_alloc_root(void *arg)
{
    fj_frame_alloc(arg, g_misuse.tag, 16, g_misuse.align);
}

static void bad_alloc(void *arg)
{
    (void)arg;
    fj_scheduler *s = make_sched(0);
    fj_frame_config fc = { .block_size = BLOCK };
    fj_frame_heap *h = fj_frame_heap_create(s, &fc);
    CHECK(h);
    fj_main(s, bad_alloc_root, h);
}

static void bad_free(void *arg)
{
    (void)arg;
    fj_scheduler *s = make_sched(0);
    fj_frame_heap *h = fj_frame_heap_create(s, NULL);
    CHECK(h);
    fj_frame_free_tag(h, UINT64_MAX);
}

static void misuse_tests(void)
{
    EXPECT_ABORT_CONTAINS(null_scheduler, NULL, "fiberjob: fj_frame_heap_create: scheduler is NULL");
    EXPECT_ABORT_CONTAINS(null_heap_alloc, NULL, "fiberjob: fj_frame_alloc: heap is NULL");
    EXPECT_ABORT_CONTAINS(null_heap_free, NULL, "fiberjob: fj_frame_free_tag: heap is NULL");
    g_misuse = (misuse){ 1, 24 };
    EXPECT_ABORT_CONTAINS(bad_alloc, NULL, "fiberjob: fj_frame_alloc: alignment 24 is not a power of two (in job");
    g_misuse = (misuse){ 1, 2 * BLOCK };
    EXPECT_ABORT_CONTAINS(bad_alloc, NULL, "fiberjob: fj_frame_alloc: alignment 131072 is larger than the block size (65536)");
    g_misuse = (misuse){ UINT64_MAX, 8 };
    EXPECT_ABORT_CONTAINS(bad_alloc, NULL, "fiberjob: fj_frame_alloc: tag 18446744073709551615 is above FJ_FRAME_TAG_MAX");
    EXPECT_ABORT_CONTAINS(bad_free, NULL, "fiberjob: fj_frame_free_tag: tag 18446744073709551615 is above FJ_FRAME_TAG_MAX");
}

/* ------------------------------------------------------------ configuration */

static void config_tests(fj_scheduler *s)
{
    fj_frame_config bad[] = {
        { .block_size = 3000 },
        { .block_size = 1024 },                     /* below a page */
        { .block_size = (size_t)2 << 30 },          /* above 1 GiB */
        { .max_tags = 5000 },
        { .reserve = 8 * BLOCK, .cap = 4 * BLOCK, .block_size = BLOCK },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(fj_frame_heap_create(s, &bad[i]) == NULL);
        CHECK_EQ(fj_frame_last_error(), FJ_EINVAL);
    }
    fj_frame_heap *h = fj_frame_heap_create(s, NULL);
    CHECK(h);
    fj_frame_stats st;
    fj_frame_heap_stats(h, &st);
    CHECK_EQ(st.block_size, (size_t)2 << 20);
    CHECK_EQ(st.blocks_reserved, 2 * fj_worker_count(s) + 2);
    CHECK_EQ(st.blocks_cap, 512);
    CHECK_EQ(st.blocks_in_use, 0);
    fj_frame_heap_destroy(h);

    fj_frame_config fc = { .block_size = BLOCK, .reserve = 3 * BLOCK + 1, .cap = 10 * BLOCK - 5 };
    h = fj_frame_heap_create(s, &fc);
    CHECK(h);
    fj_frame_heap_stats(h, &st);
    CHECK_EQ(st.blocks_reserved, 4);
    CHECK_EQ(st.blocks_cap, 10);
    fj_frame_heap_destroy(h);

    /* A cap below the default reserve lowers the reserve to the cap. */
    fc = (fj_frame_config){ .block_size = BLOCK, .cap = 2 * BLOCK };
    h = fj_frame_heap_create(s, &fc);
    CHECK(h);
    fj_frame_heap_stats(h, &st);
    CHECK_EQ(st.blocks_reserved, 2);
    CHECK_EQ(st.blocks_cap, 2);
    fj_frame_heap_destroy(h);
    fj_frame_heap_destroy(NULL);
}

/* ------------------------------------------------------------ alignment and sizes */

#define MAX_RECS 4096
static test_block g_recs[MAX_RECS];
static unsigned g_nrecs;

static void *record(fj_frame_heap *h, uint64_t tag, size_t size, size_t align)
{
    void *p = fj_frame_alloc(h, tag, size, align);
    CHECK(p);
    size_t a = align ? align : _Alignof(max_align_t);
    if ((uintptr_t)p % a) {
        fprintf(stderr, "fj_frame_alloc(size %zu, align %zu) returned %p\n", size, align, p);
        exit(1);
    }
    if (size) {
        unsigned i = __atomic_fetch_add(&g_nrecs, 1, __ATOMIC_RELAXED);
        CHECK(i < MAX_RECS);
        g_recs[i] = (test_block){ p, size, i + 1 };
        test_block_fill(&g_recs[i]);
    }
    return p;
}

static const size_t k_sizes[] = { 1, 2, 3, 7, 8, 15, 16, 17, 100, 255, 256, 1000, 4095, 4096, 4097,
                                  BLOCK / 2, BLOCK - 1, BLOCK, BLOCK + 1, 2 * BLOCK, 3 * BLOCK + 5,
                                  10 * BLOCK, 17 * BLOCK - 3 };

static void sizes_job(void *arg)
{
    fj_frame_heap *h = arg;
    size_t page = test_page_size();
    size_t aligns[] = { 0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, page, BLOCK };
    for (size_t a = 0; a < sizeof aligns / sizeof aligns[0]; a++)
        for (size_t k = 0; k < sizeof k_sizes / sizeof k_sizes[0]; k++)
            record(h, 1 + a % 3, k_sizes[k], aligns[a]);
    /* Size 0: a unique pointer. */
    void *z1 = record(h, 1, 0, 1), *z2 = record(h, 1, 0, 1);
    CHECK(z1 && z2 && z1 != z2);
}

static void sizes_root(void *arg)
{
    fj_job jobs[4];
    for (int i = 0; i < 4; i++)
        jobs[i] = (fj_job){ .fn = sizes_job, .arg = arg, .name = "sizes" };
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs(jobs, 4, &c);
    fj_wait(&c, 0);
}

static void *outside_thread(void *arg)
{
    sizes_job(arg);
    return NULL;
}

static void sizes_tests(fj_scheduler *s)
{
    fj_frame_config fc = { .block_size = BLOCK, .cap = 16384 * BLOCK };
    fj_frame_heap *h = fj_frame_heap_create(s, &fc);
    CHECK(h);
    g_nrecs = 0;
    /* From the main thread before fj_main (outside the scheduler), from other
     * threads while the jobs run, and from the jobs. */
    sizes_job(h);
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        CHECK(pthread_create(&t[i], NULL, outside_thread, h) == 0);
    CHECK_EQ(fj_main(s, sizes_root, h), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    test_blocks_check(g_recs, g_nrecs);

    fj_frame_stats st;
    fj_frame_heap_stats(h, &st);
    CHECK(st.blocks_in_use > 0);
    size_t in_use = st.blocks_in_use;
    int released = fj_frame_free_tag(h, 1) + fj_frame_free_tag(h, 2) + fj_frame_free_tag(h, 3);
    CHECK_EQ((size_t)released, in_use);
    fj_frame_heap_stats(h, &st);
    CHECK_EQ(st.blocks_in_use, 0);
    CHECK_EQ(fj_frame_free_tag(h, 1), 0);   /* freeing twice is harmless */
    CHECK_EQ(fj_frame_free_tag(h, 99), 0);  /* so is freeing a tag never used */

    /* Larger than the cap: refused, with the reason. */
    CHECK(fj_frame_alloc(h, 5, 16385 * BLOCK, 0) == NULL);
    CHECK_EQ(fj_frame_last_error(), FJ_ENOMEM);
    CHECK(fj_frame_alloc(h, 5, SIZE_MAX, 0) == NULL);
    CHECK_EQ(fj_frame_last_error(), FJ_ENOMEM);
    fj_frame_heap_destroy(h);
}

/* A small allocation after a large one still goes to the current block: one
 * allocation nearly the size of a block does not waste the rest of it. */
static void current_block_root(void *arg)
{
    fj_frame_heap *h = arg;
    char *a = fj_frame_alloc(h, 1, 96, 8);
    char *big = fj_frame_alloc(h, 1, BLOCK - 8, 8);
    char *b = fj_frame_alloc(h, 1, 96, 8);
    CHECK(a && big && b);
    CHECK(b == a + 96);
    CHECK((uintptr_t)big % BLOCK == 0);
    CHECK_EQ(fj_frame_free_tag(h, 1), 2);
}

int main(int argc, char **argv)
{
    g_workers = test_workers(argc, argv);
    misuse_tests();
    fj_scheduler *s = make_sched(1);
    config_tests(s);
    sizes_tests(s);
    fj_frame_config fc = { .block_size = BLOCK };
    fj_frame_heap *h = fj_frame_heap_create(s, &fc);
    CHECK(h);
    CHECK_EQ(fj_main(s, current_block_root, h), 0);
    fj_frame_heap_destroy(h);
    fj_destroy(s);
    printf("ok\n");
    return 0;
}
