/*
 * Under AddressSanitizer the memory of a freed tag is poisoned, and so are the
 * parts of a block no allocation owns. Each bad access runs in a child process
 * that must die with the ASan report; a child doing only good accesses must
 * exit cleanly. Built and registered only in ASan builds.
 */
#include "test.h"

#define BLOCK ((size_t)64 * 1024)

static unsigned g_workers;

typedef enum {
    GOOD,              /* every access in bounds and in a live tag */
    AFTER_FREE,        /* read from a tag after fj_frame_free_tag */
    AFTER_FREE_WRITE,  /* write into a freed run (an allocation larger than a block) */
    PAST_END,          /* one past an allocation, into the padding before the next */
    UNALLOCATED        /* the untouched rest of a tag's block */
} scenario;

static fj_frame_heap *g_heap;
static volatile unsigned char g_sink;

static void scenario_root(void *arg)
{
    scenario sc = (scenario)(uintptr_t)arg;
    unsigned char *a = fj_frame_alloc(g_heap, 1, 24, 64);
    unsigned char *b = fj_frame_alloc(g_heap, 1, 100, 64);
    unsigned char *big = fj_frame_alloc(g_heap, 2, 3 * BLOCK, 0);
    CHECK(a && b && big);
    CHECK(b - a == 64);
    memset(a, 1, 24);
    memset(b, 2, 100);
    memset(big, 3, 3 * BLOCK);
    volatile unsigned char *va = a, *vb = b, *vbig = big;
    switch (sc) {
    case GOOD:
        g_sink = va[23];
        g_sink = vb[99];
        g_sink = vbig[3 * BLOCK - 1];
        fj_frame_free_tag(g_heap, 1);
        /* A new lifetime of the same tag: its memory is usable again. */
        a = fj_frame_alloc(g_heap, 1, 24, 64);
        CHECK(a);
        memset(a, 4, 24);
        g_sink = ((volatile unsigned char *)a)[0];
        break;
    case AFTER_FREE:
        fj_frame_free_tag(g_heap, 1);
        g_sink = vb[10];
        break;
    case AFTER_FREE_WRITE:
        fj_frame_free_tag(g_heap, 2);
        vbig[2 * BLOCK] = 7;
        break;
    case PAST_END:
        g_sink = va[24];
        break;
    case UNALLOCATED:
        g_sink = vb[100 + 4096];
        break;
    }
    fj_frame_free_tag(g_heap, 1);
    fj_frame_free_tag(g_heap, 2);
}

static void run_scenario(void *arg)
{
    fj_config c = fj_config_default();
    c.workers = g_workers;
    c.pin_threads = 0;   /* see test_frame_basic.c: dying while a worker pins itself hangs this kernel */
    fj_scheduler *s = fj_create(&c);
    CHECK(s);
    fj_frame_config fc = { .block_size = BLOCK };
    g_heap = fj_frame_heap_create(s, &fc);
    CHECK(g_heap);
    CHECK_EQ(fj_main(s, scenario_root, arg), 0);
    fj_frame_heap_destroy(g_heap);
    fj_destroy(s);
}

static void expect(scenario sc, const char *name, bool report)
{
    static child_result r;
    run_in_child(run_scenario, (void *)(uintptr_t)sc, 30, &r);
    bool reported = strstr(r.err, "ERROR: AddressSanitizer: use-after-poison") != NULL;
    bool ok = report ? (reported && !(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0))
                     : (WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0 && !strstr(r.err, "AddressSanitizer"));
    if (!ok) {
        fprintf(stderr, "%s: expected %s; status %#x, stderr:\n%s\n", name,
                report ? "an ASan use-after-poison report" : "a clean exit", r.status, r.err);
        exit(1);
    }
    printf("%s: %s\n", name, report ? "reported" : "clean");
}

int main(int argc, char **argv)
{
    g_workers = test_workers(argc, argv);
    expect(GOOD, "good accesses", false);
    expect(AFTER_FREE, "read after the tag was freed", true);
    expect(AFTER_FREE_WRITE, "write into a freed run", true);
    expect(PAST_END, "one byte past an allocation", true);
    expect(UNALLOCATED, "the unallocated rest of a block", true);
    printf("ok\n");
    return 0;
}
