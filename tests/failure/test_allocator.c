/*
 * fj_config.allocator: every allocation the runtime makes for a scheduler
 * goes through it, each is freed with the size and alignment it was made
 * with, and each allocation site copes with a NULL: fj_create fails with
 * FJ_ENOMEM at every one of its allocations leaving nothing behind, the trace
 * writers return FJ_ENOMEM, a queue that cannot grow and a batch slab that
 * cannot be had lose no job, and a submission from outside that cannot be
 * queued stops with one line naming the call, the size and the job.
 *
 * The allocator here counts calls and live bytes, checks every free against
 * its allocation, and can be told to fail the Nth call or every call. The
 * program is linked with --wrap for malloc, calloc, realloc, aligned_alloc
 * and posix_memalign: while a custom allocator is in use, the library must
 * not call any of them (the C library's own allocations inside stdio, thread
 * creation and hwloc are not seen by --wrap and are not the runtime's).
 */
#include <pthread.h>
#include <stdint.h>

#include "test.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t k);
void *__real_realloc(void *p, size_t n);
void *__real_aligned_alloc(size_t a, size_t n);
int __real_posix_memalign(void **p, size_t a, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t k);
void *__wrap_realloc(void *p, size_t n);
void *__wrap_aligned_alloc(size_t a, size_t n);
int __wrap_posix_memalign(void **p, size_t a, size_t n);

static int g_watch;          /* count C library allocations meanwhile */
static int g_libc_calls;

void *__wrap_malloc(size_t n)
{
    if (T_LOAD(&g_watch))
        T_ADD(&g_libc_calls, 1);
    return __real_malloc(n);
}
void *__wrap_calloc(size_t n, size_t k)
{
    if (T_LOAD(&g_watch))
        T_ADD(&g_libc_calls, 1);
    return __real_calloc(n, k);
}
void *__wrap_realloc(void *p, size_t n)
{
    if (T_LOAD(&g_watch))
        T_ADD(&g_libc_calls, 1);
    return __real_realloc(p, n);
}
void *__wrap_aligned_alloc(size_t a, size_t n)
{
    if (T_LOAD(&g_watch))
        T_ADD(&g_libc_calls, 1);
    return __real_aligned_alloc(a, n);
}
int __wrap_posix_memalign(void **p, size_t a, size_t n)
{
    if (T_LOAD(&g_watch))
        T_ADD(&g_libc_calls, 1);
    return __real_posix_memalign(p, a, n);
}

/* ------------------------------------------------------------ the allocator */

typedef struct live_block {
    void *p;
    size_t size, align;
} live_block;

#define MAX_LIVE 65536
static live_block g_live[MAX_LIVE];
static size_t g_nlive, g_live_bytes, g_max_size;
static uint64_t g_allocs, g_frees;
static int g_bad_frees;            /* a free that matched no allocation, or not its size or align */
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_armed_calls;          /* calls since arm() */
static int g_fail_nth;             /* fail that call (1-based); 0: none */
static int g_fail_all;             /* fail every call while set */
static int g_failed;               /* calls failed */
static int g_misalign;             /* hand out memory 8 bytes off */

static void arm(int nth, int all)
{
    T_STORE(&g_armed_calls, 0);
    T_STORE(&g_failed, 0);
    T_STORE(&g_fail_nth, nth);
    T_STORE(&g_fail_all, all);
}

static void *count_alloc(size_t size, size_t align, void *user)
{
    CHECK(user == &g_live);
    CHECK(align && (align & (align - 1)) == 0 && align <= 4096);
    int call = T_ADD(&g_armed_calls, 1) + 1;
    if (T_LOAD(&g_fail_all) || call == T_LOAD(&g_fail_nth)) {
        T_ADD(&g_failed, 1);
        return NULL;
    }
    void *p = NULL;
    size_t a = align < sizeof(void *) ? sizeof(void *) : align;
    if (__real_posix_memalign(&p, a < 16 ? 16 : a, size + 16) != 0)
        return NULL;
    if (T_LOAD(&g_misalign))
        return (char *)p + 8;
    pthread_mutex_lock(&g_lock);
    CHECK(g_nlive < MAX_LIVE);
    g_live[g_nlive++] = (live_block){ p, size, align };
    g_live_bytes += size;
    g_max_size = size > g_max_size ? size : g_max_size;
    g_allocs++;
    pthread_mutex_unlock(&g_lock);
    return p;
}

static void count_free(void *p, size_t size, size_t align, void *user)
{
    CHECK(user == &g_live);
    pthread_mutex_lock(&g_lock);
    size_t i = g_nlive;
    while (i > 0 && g_live[i - 1].p != p)
        i--;
    if (i == 0 || g_live[i - 1].size != size || g_live[i - 1].align != align) {
        g_bad_frees++;
        fprintf(stderr, "free(%p, %zu, %zu): %s\n", p, size, align, i ? "size or align differ" : "not allocated");
    } else {
        g_live_bytes -= size;
        g_live[i - 1] = g_live[--g_nlive];
        g_frees++;
        free(p);
    }
    pthread_mutex_unlock(&g_lock);
}

static size_t live_count(void)
{
    pthread_mutex_lock(&g_lock);
    size_t n = g_nlive;
    pthread_mutex_unlock(&g_lock);
    return n;
}

static unsigned g_workers;

static fj_config counted_config(void)
{
    fj_config c = fj_config_default();
    c.workers = g_workers;
    c.allocator = (fj_allocator){ .alloc = count_alloc, .free = count_free, .user = &g_live };
    return c;
}

/* ------------------------------------------------------------ the workload */

#define N 1500   /* past a fresh deque's 256 slots */
#define NPLAIN 20000
static int g_ran[4][NPLAIN];
static fj_job g_jobs[NPLAIN];

static void job(void *p) { T_ADD((int *)p, 1); }

static void spawn_all(fj_counter *c, bool with_large)
{
    /* One a call, a run of alternating priorities, many plain jobs (batches:
     * more than a deque holds, so slabs), and a run of large-stack jobs in
     * one call (the deque grows, and jobs wait for large fibers). */
    for (int i = 0; i < N; i++) {
        fj_job j = { .fn = job, .arg = &g_ran[0][i], .name = "one" };
        fj_run_jobs(&j, 1, c);
    }
    for (int i = 0; i < N; i++)
        g_jobs[i] = (fj_job){ .fn = job, .arg = &g_ran[1][i], .name = "alternating",
                              .priority = i % 2 ? FJ_PRIORITY_HIGH : FJ_PRIORITY_LOW };
    fj_run_jobs(g_jobs, N, c);
    for (int i = 0; i < NPLAIN; i++)
        g_jobs[i] = (fj_job){ .fn = job, .arg = &g_ran[2][i], .name = "plain" };
    fj_run_jobs(g_jobs, NPLAIN, c);
    for (int i = 0; i < N; i++)
        g_jobs[i] = (fj_job){ .fn = job, .arg = &g_ran[3][i], .name = "large", .flags = FJ_JOB_LARGE_STACK };
    if (with_large)
        fj_run_jobs(g_jobs, N, c);
    else
        for (int i = 0; i < N; i++)
            g_ran[3][i] = 1;
}

static void check_ran_once(void)
{
    for (int i = 0; i < N; i++) {
        CHECK_EQ(T_LOAD(&g_ran[0][i]), 1);
        CHECK_EQ(T_LOAD(&g_ran[1][i]), 1);
        CHECK_EQ(T_LOAD(&g_ran[3][i]), 1);
    }
    for (int i = 0; i < NPLAIN; i++)
        CHECK_EQ(T_LOAD(&g_ran[2][i]), 1);
    memset(g_ran, 0, sizeof g_ran);
}

static fj_frame_heap *g_heap;

static void root_all(void *p)
{
    (void)p;
    fj_counter c;
    fj_counter_init(&c, 0);
    spawn_all(&c, true);
    void *block = fj_frame_alloc(g_heap, 1, 1000, 0);
    CHECK(block != NULL);
    fj_wait(&c, 0);
    fj_frame_free_tag(g_heap, 1);
}

static fj_counter g_outside;

static void root_wait_outside(void *p)
{
    (void)p;
    fj_wait(&g_outside, 0);
}

/* Everything the runtime allocates comes from the allocator, goes back to it
 * with its size and alignment, and none of it from the C library. */
static void test_every_byte(void)
{
    /* The first fj_create of the process reads the machine's topology once
     * (hwloc keeps it for the process): before the watch. */
    fj_scheduler *warm = fj_create(NULL);
    CHECK(warm != NULL);
    fj_destroy(warm);
    char json[512], svg[512];
    snprintf(json, sizeof json, "%s/fj_alloc_XXXXXX", test_tmp_dir());
    snprintf(svg, sizeof svg, "%s/fj_alloc_XXXXXX", test_tmp_dir());
    int fd1 = mkstemp(json), fd2 = mkstemp(svg);
    CHECK(fd1 >= 0 && fd2 >= 0);
    close(fd1);
    close(fd2);

    T_STORE(&g_watch, 1);
    fj_config cfg = counted_config();
    cfg.trace_events = 4096;
    fj_scheduler *s = fj_create(&cfg);
    CHECK(s != NULL);
    size_t after_create = live_count();
    g_heap = fj_frame_heap_create(s, NULL);
    CHECK(g_heap != NULL);
    CHECK_EQ(fj_main(s, root_all, NULL), 0);
    check_ran_once();
    fj_frame_heap_destroy(g_heap);
    /* Outside submissions, naming the scheduler and to the newest one. */
    fj_counter_init(&g_outside, 0);
    uint64_t before_outside = g_allocs;
    for (int i = 0; i < 100; i++) {
        fj_job j = { .fn = job, .arg = &g_ran[0][i], .name = "outside" };
        if (i % 2)
            fj_run_jobs_on(s, &j, 1, &g_outside);
        else
            fj_run_jobs(&j, 1, &g_outside);
    }
    CHECK(g_allocs >= before_outside + 100);
    CHECK_EQ(fj_main(s, root_wait_outside, NULL), 0);
    for (int i = 0; i < 100; i++)
        CHECK_EQ(T_LOAD(&g_ran[0][i]), 1);
    memset(g_ran, 0, sizeof g_ran);
    CHECK_EQ(fj_trace_write_json(s, json), 0);
    CHECK_EQ(fj_trace_write_svg(s, svg), 0);
    fj_destroy(s);
    T_STORE(&g_watch, 0);
    unlink(json);
    unlink(svg);

    CHECK(after_create > 0);
    CHECK(g_allocs > after_create);          /* growth, batches, outside nodes, trace copies */
    CHECK(g_max_size >= 16 * 1024);          /* a grown deque, a batch slab */
    CHECK_EQ(g_bad_frees, 0);
    CHECK_EQ(live_count(), 0);
    CHECK_EQ(g_live_bytes, 0);
    CHECK_EQ(g_allocs, g_frees);
    CHECK_EQ(T_LOAD(&g_libc_calls), 0);
}

/* fj_create failing at each of its allocations in turn: NULL with FJ_ENOMEM
 * and nothing left allocated, or (the topology's scratch memory, whose loss
 * only loses the CPU order) a scheduler that works. */
static void job_noop(void *p) { (void)p; }
static void root_small(void *p)
{
    (void)p;
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_job j = { .fn = job_noop, .name = "small" };
    fj_run_jobs(&j, 1, &c);
    fj_wait(&c, 0);
}

static void test_create_fails(void)
{
    fj_config cfg = counted_config();
    cfg.trace_events = 1024;
    arm(0, 0);
    fj_scheduler *s = fj_create(&cfg);
    CHECK(s != NULL);
    int total = T_LOAD(&g_armed_calls);
    fj_destroy(s);
    CHECK(total >= 4 + 4 * (int)g_workers);   /* s, workers, fibers, cpus, 4 deques and a ring per worker */
    int failed_creates = 0;
    for (int nth = 1; nth <= total; nth++) {
        arm(nth, 0);
        s = fj_create(&cfg);
        arm(0, 0);
        if (s) {
            CHECK_EQ(fj_main(s, root_small, NULL), 0);
            fj_destroy(s);
        } else {
            CHECK_EQ(fj_last_error(), FJ_ENOMEM);
            failed_creates++;
        }
        if (live_count() != 0 || g_bad_frees)
            FAIL_SOFT("fj_create failing at allocation %d of %d left %zu blocks, %d bad frees", nth, total,
                      live_count(), g_bad_frees);
    }
    /* Only the topology's scratch (and the LLC table when pinned) may fail
     * without failing fj_create. */
    CHECK(failed_creates >= total - 2);

    /* A frame heap, likewise. */
    s = fj_create(&cfg);
    CHECK(s != NULL);
    size_t base = live_count();
    for (int nth = 1;; nth++) {
        arm(nth, 0);
        fj_frame_heap *h = fj_frame_heap_create(s, NULL);
        arm(0, 0);
        if (h) {
            fj_frame_heap_destroy(h);
            CHECK(nth > 1);
            break;
        }
        CHECK_EQ(fj_frame_last_error(), FJ_ENOMEM);
        CHECK_EQ(live_count(), base);
    }
    CHECK_EQ(live_count(), base);
    fj_destroy(s);
    CHECK_EQ(live_count(), 0);
}

/* Allocations refused while jobs are queued from a job: the queues that
 * cannot grow and the batches that cannot be had lose no job. */
static void root_refused(void *p)
{
    (void)p;
    fj_counter c;
    fj_counter_init(&c, 0);
    /* Not large-stack jobs: one that finds no large fiber free must be kept
     * in a list that grows, and that stops the process when it cannot. */
    arm(0, 1);
    spawn_all(&c, false);
    fj_wait(&c, 0);
    CHECK(T_LOAD(&g_failed) > 0);
    arm(0, 0);
}

static void test_growth_refused(void)
{
    fj_config cfg = counted_config();
    fj_scheduler *s = fj_create(&cfg);
    CHECK(s != NULL);
    CHECK_EQ(fj_main(s, root_refused, NULL), 0);
    fj_destroy(s);
    check_ran_once();
    CHECK_EQ(live_count(), 0);
    CHECK_EQ(g_bad_frees, 0);
}

/* The trace writers fail with FJ_ENOMEM at each of their allocations, and
 * give back what they took. */
static void test_trace_writers_fail(void)
{
    fj_config cfg = counted_config();
    cfg.trace_events = 1024;
    fj_scheduler *s = fj_create(&cfg);
    CHECK(s != NULL);
    CHECK_EQ(fj_main(s, root_small, NULL), 0);
    char path[512];
    snprintf(path, sizeof path, "%s/fj_alloc_XXXXXX", test_tmp_dir());
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    size_t base = live_count();
    for (int svg = 0; svg < 2; svg++) {
        int failures = 0;
        for (int nth = 1;; nth++) {
            arm(nth, 0);
            int rc = svg ? fj_trace_write_svg(s, path) : fj_trace_write_json(s, path);
            arm(0, 0);
            CHECK_EQ(live_count(), base);
            if (rc == 0)
                break;
            CHECK_EQ(rc, FJ_ENOMEM);
            failures++;
        }
        CHECK(failures >= 2);   /* the snapshot's table, a ring's copy, the model */
    }
    unlink(path);
    fj_destroy(s);
    CHECK_EQ(live_count(), 0);
    CHECK_EQ(g_bad_frees, 0);
}

/* A submission from outside that cannot be queued stops, naming the call,
 * the size and the job. */
static void outside_refused(void *call_on)
{
    fj_config cfg = counted_config();
    fj_scheduler *s = fj_create(&cfg);
    CHECK(s != NULL);
    arm(0, 1);
    fj_job j = { .fn = job_noop, .name = "from outside" };
    if (call_on)
        fj_run_jobs_on(s, &j, 1, NULL);
    else
        fj_run_jobs(&j, 1, NULL);
}

/* ------------------------------------------------------------ misuse */

static void misaligned(void *p)
{
    (void)p;
    T_STORE(&g_misalign, 1);
    fj_config cfg = counted_config();
    fj_create(&cfg);
}

static void test_misuse(void)
{
    fj_config cfg = counted_config();
    cfg.allocator.free = NULL;
    CHECK(fj_create(&cfg) == NULL);
    CHECK_EQ(fj_last_error(), FJ_EINVAL);
    cfg = counted_config();
    cfg.allocator.alloc = NULL;
    CHECK(fj_create(&cfg) == NULL);
    CHECK_EQ(fj_last_error(), FJ_EINVAL);
    CHECK_EQ(live_count(), 0);
    EXPECT_ABORT_MATCH(misaligned, NULL, "fiberjob: fj_config.allocator: alloc returned 0x",
                       "which is not aligned to ", "as asked (outside any job)");
}

int main(int argc, char **argv)
{
    g_workers = test_workers(argc, argv);
    test_misuse();
    EXPECT_ABORT_MATCH(outside_refused, (void *)1, "fiberjob: fj_run_jobs_on: out of memory (the allocator "
                       "returned NULL for ", " bytes) queueing job 'from outside' (outside any job)");
    EXPECT_ABORT_MATCH(outside_refused, NULL, "fiberjob: fj_run_jobs: out of memory (the allocator "
                       "returned NULL for ", " bytes) queueing job 'from outside' (outside any job)");
    test_create_fails();
    test_growth_refused();
    test_trace_writers_fail();
    test_every_byte();
    return test_finish();
}
