/* fj_parallel_for: every index exactly once, for many ranges and grains,
 * nested inside itself; panicking chunks are counted; misuse stops. */
#include <stdint.h>

#include "test.h"

static uint8_t hits[1 << 20];

static void mark(size_t b, size_t e, void *arg)
{
    (void)arg;
    for (size_t i = b; i < e; i++)
        __atomic_fetch_add(&hits[i], 1, __ATOMIC_RELAXED);
}

static void sum_range(size_t b, size_t e, void *arg)
{
    uint64_t s = 0;
    for (size_t i = b; i < e; i++)
        s += i;
    __atomic_fetch_add((uint64_t *)arg, s, __ATOMIC_RELAXED);
}

static void inner(size_t b, size_t e, void *arg)
{
    (void)arg;
    /* A parallel_for inside a chunk of another. */
    for (size_t i = b; i < e; i++) {
        uint64_t s = 0;
        fj_parallel_for(0, 1000, 0, sum_range, &s, "inner");
        if (s != 999 * 1000 / 2)
            abort();
    }
}

static void panicky(size_t b, size_t e, void *arg)
{
    (void)arg;
    if (b <= 500 && 500 < e)
        fj_panic("chunk with 500");
    mark(b, e, NULL);
}

static void root(void *arg)
{
    (void)arg;
    static const size_t sizes[] = { 1, 2, 7, 64, 1000, 4097, 1 << 20 };
    static const size_t grains[] = { 0, 1, 3, 100, 1 << 20 };
    for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
        for (size_t gi = 0; gi < sizeof grains / sizeof *grains; gi++) {
            size_t n = sizes[si];
            if (n > 10000 && grains[gi] > 0 && grains[gi] < 100)
                continue; /* keep it quick */
            memset(hits, 0, n);
            CHECK_EQ(fj_parallel_for(0, n, grains[gi], mark, NULL, "mark"), 0);
            for (size_t i = 0; i < n; i++)
                CHECK_EQ(hits[i], 1);
        }
    }
    /* An offset range and an empty one. */
    memset(hits, 0, 3000);
    fj_parallel_for(1000, 3000, 0, mark, NULL, NULL);
    for (size_t i = 0; i < 3000; i++)
        CHECK_EQ(hits[i], i >= 1000);
    CHECK_EQ(fj_parallel_for(5, 5, 0, mark, NULL, NULL), 0);
    /* Nested. */
    fj_parallel_for(0, 64, 1, inner, NULL, "outer");
    /* A panicking chunk is counted; the others are done. */
    memset(hits, 0, 1000);
    CHECK_EQ(fj_parallel_for(0, 1000, 10, panicky, NULL, "panicky"), 1);
    for (size_t i = 0; i < 1000; i++)
        CHECK_EQ(hits[i], (i >= 500 && i < 510) ? 0 : 1);
}

static void quiet(const fj_panic_info *info, void *user)
{
    (void)user;
    CHECK(!strcmp(info->job_name, "panicky"));
}

static void outside(void *arg)
{
    (void)arg;
    fj_parallel_for(0, 10, 0, mark, NULL, NULL);
}

static void backwards_root(void *arg)
{
    (void)arg;
    fj_parallel_for(10, 5, 0, mark, NULL, NULL);
}

static void backwards(void *arg)
{
    fj_config c = fj_config_default();
    c.workers = *(unsigned *)arg;
    fj_main(fj_create(&c), backwards_root, NULL);
}

/* Near the top of size_t: the shared index must not wrap (each chunk once). */
static unsigned char top_hits[1000];
static void mark_top(size_t b, size_t e, void *arg)
{
    size_t base = *(size_t *)arg;
    for (size_t i = b; i < e; i++)
        __atomic_fetch_add(&top_hits[i - base], 1, __ATOMIC_RELAXED);
}

static void top_root(void *arg)
{
    (void)arg;
    /* The highest end allowed with grain 10 and up to 64 jobs. */
    size_t end = SIZE_MAX - 65 * 10, begin = end - 1000;
    CHECK_EQ(fj_parallel_for(begin, end, 10, mark_top, &begin, "top"), 0);
    for (size_t i = 0; i < 1000; i++)
        CHECK_EQ(top_hits[i], 1);
}

static void wrapping_root(void *arg)
{
    (void)arg;
    /* end + grain fits, but the jobs' last increments would wrap. */
    size_t end = SIZE_MAX - 11, begin = end - 1000;
    fj_parallel_for(begin, end, 10, mark_top, &begin, "wrap");
}

static void wrapping(void *arg)
{
    fj_config c = fj_config_default();
    c.workers = *(unsigned *)arg;
    fj_main(fj_create(&c), wrapping_root, NULL);
}

int main(int argc, char **argv)
{
    fj_config cfg = test_config(argc, argv);
    cfg.panic_hook = quiet;
    fj_scheduler *s = fj_create(&cfg);
    CHECK(s);
    CHECK_EQ(fj_main(s, root, NULL), 0);
    fj_destroy(s);

    EXPECT_ABORT_CONTAINS(outside, NULL, "fiberjob: fj_parallel_for: called outside a job (outside any job)");
    unsigned w = cfg.workers;
    EXPECT_ABORT_CONTAINS(backwards, &w, "fiberjob: fj_parallel_for: end 5 is before begin 10");
    EXPECT_ABORT_CONTAINS(wrapping, &w, "fiberjob: fj_parallel_for: end 18446744073709551604 + (");
    fj_scheduler *s2 = fj_create(&cfg);
    CHECK(s2);
    CHECK_EQ(fj_main(s2, top_root, NULL), 0);
    fj_destroy(s2);
    printf("ok\n");
    return 0;
}
