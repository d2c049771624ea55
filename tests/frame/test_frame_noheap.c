/*
 * No heap use in steady state. The test is linked with
 * --wrap=malloc,calloc,realloc,free,aligned_alloc,posix_memalign, so every call
 * that the test or the (static) library makes to the allocator goes through a
 * counting __wrap_ function first. After a warm-up, 1,000 frames of 10,000
 * jobs each (jobs, nested waits, yields, frame allocations, tag frees, two
 * frames in flight), then 100 wakes of a waiting job by a thread outside the
 * scheduler, must make no call at all.
 */
#include <pthread.h>
#include <sched.h>
#include <time.h>
#include <stdint.h>

#include "test.h"

#if !TEST_WINDOWS
#include <dlfcn.h>
#endif

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
#if TEST_WINDOWS
/* Windows' C library has no aligned_alloc or posix_memalign: the runtime's
 * aligned blocks come from _aligned_malloc and go back to _aligned_free,
 * which its headers declare dllimport: calls go through the import slots
 * __imp__aligned_malloc and __imp__aligned_free, and those are what is
 * wrapped, with slots of ours that point to the counting functions. */
typedef void *aligned_malloc_fn(size_t n, size_t align);
typedef void aligned_free_fn(void *p);
extern aligned_malloc_fn *__real___imp__aligned_malloc;
extern aligned_free_fn *__real___imp__aligned_free;
extern aligned_malloc_fn *__wrap___imp__aligned_malloc;
extern aligned_free_fn *__wrap___imp__aligned_free;
#else
void *__real_aligned_alloc(size_t align, size_t n);
int __real_posix_memalign(void **p, size_t align, size_t n);
void *__wrap_aligned_alloc(size_t align, size_t n);
int __wrap_posix_memalign(void **p, size_t align, size_t n);
#endif

void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
void __wrap_free(void *p);

static uint64_t g_calls;
/* Where the first calls after the warm-up came from, to name the path when
 * the test fails (g_armed: the call count when the warm-up ended). */
static uint64_t g_armed = UINT64_MAX;
static void *g_callers[16];
static const char *g_kinds[16];

static void counted(const char *kind, void *caller)
{
    uint64_t i = __atomic_fetch_add(&g_calls, 1, __ATOMIC_RELAXED);
    uint64_t armed = __atomic_load_n(&g_armed, __ATOMIC_RELAXED);
    if (i >= armed && i - armed < 16) {
        g_callers[i - armed] = caller;
        g_kinds[i - armed] = kind;
    }
}

void *__wrap_malloc(size_t n)
{
    counted("malloc", __builtin_return_address(0));
    return __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
    counted("calloc", __builtin_return_address(0));
    return __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
    counted("realloc", __builtin_return_address(0));
    return __real_realloc(p, n);
}

void __wrap_free(void *p)
{
    counted("free", __builtin_return_address(0));
    __real_free(p);
}

#if TEST_WINDOWS
static void *counted_aligned_malloc(size_t n, size_t align)
{
    counted("_aligned_malloc", __builtin_return_address(0));
    return __real___imp__aligned_malloc(n, align);
}

static void counted_aligned_free(void *p)
{
    counted("_aligned_free", __builtin_return_address(0));
    __real___imp__aligned_free(p);
}
aligned_malloc_fn *__wrap___imp__aligned_malloc = counted_aligned_malloc;
aligned_free_fn *__wrap___imp__aligned_free = counted_aligned_free;
#else
void *__wrap_aligned_alloc(size_t align, size_t n)
{
    counted("aligned_alloc", __builtin_return_address(0));
    return __real_aligned_alloc(align, n);
}

int __wrap_posix_memalign(void **p, size_t align, size_t n)
{
    counted("posix_memalign", __builtin_return_address(0));
    return __real_posix_memalign(p, align, n);
}
#endif

/* ------------------------------------------------------------ the frames */

#define GROUPS 100
#define CHILDREN 99                       /* 100 groups + 9,900 children = 10,000 jobs */
#define JOBS_PER_FRAME (GROUPS * (1 + CHILDREN))
#define WARMUP_FRAMES 30
/* 1,000 frames, 250 in the sanitizer builds (they run 5-15 times slower:
 * under TSan the full count took 20-38 s a run, the suite's slowest after
 * core.config); every other build keeps 1,000. */
#define FRAMES (TEST_SANITIZED ? 250 : 1000)

static fj_frame_heap *g_heap;
static uint64_t g_tag;
static uint64_t g_sum;

typedef struct group_out {
    uint32_t *values;   /* frame memory, one per child */
} group_out;

static group_out g_groups[GROUPS];

static void child_job(void *arg)
{
    uintptr_t id = (uintptr_t)arg;
    uint64_t tag = g_tag;
    /* A few objects of 16..256 bytes that die with the frame. */
    uint32_t acc = 0;
    for (unsigned k = 0; k < 3; k++) {
        size_t size = 16 + (id * 7 + k * 61) % 241;
        unsigned char *p = fj_frame_alloc(g_heap, tag, size, 16);
        if (!p) {
            fprintf(stderr, "fj_frame_alloc failed: %s\n", fj_strerror(fj_frame_last_error()));
            exit(1);
        }
        memset(p, (int)(id + k), size);
        acc += p[size - 1];
    }
    if (id % 16 == 0)
        fj_yield();
    g_groups[id / CHILDREN].values[id % CHILDREN] = acc;
}

static void group_job(void *arg)
{
    uintptr_t g = (uintptr_t)arg;
    g_groups[g].values = fj_frame_alloc(g_heap, g_tag, CHILDREN * sizeof(uint32_t), 0);
    CHECK(g_groups[g].values);
    fj_job jobs[CHILDREN];
    for (unsigned c = 0; c < CHILDREN; c++)
        jobs[c] = (fj_job){ .fn = child_job, .arg = (void *)(g * CHILDREN + c), .name = "child" };
    fj_counter done;
    fj_counter_init(&done, 0);
    fj_run_jobs(jobs, CHILDREN, &done);
    fj_wait(&done, 0);   /* nested wait */
    uint64_t sum = 0;
    for (unsigned c = 0; c < CHILDREN; c++)
        sum += g_groups[g].values[c];
    __atomic_fetch_add(&g_sum, sum, __ATOMIC_RELAXED);
}

static void run_frame(uint64_t frame)
{
    g_tag = frame;
    static fj_job jobs[GROUPS];
    for (unsigned g = 0; g < GROUPS; g++)
        jobs[g] = (fj_job){ .fn = group_job, .arg = (void *)(uintptr_t)g, .name = "group" };
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs(jobs, GROUPS, &c);
    fj_wait(&c, 0);
    /* Two frames in flight: this frame's memory lives on while the next one
     * runs; the one before goes now. */
    if (frame > 0)
        fj_frame_free_tag(g_heap, frame - 1);
}

/* Wakes from a thread outside the scheduler: it finishes a hand-managed count
 * that the root waits on, OUTSIDE_WAKES times. The 1 ms pause makes it all
 * but certain that the root is parked on the counter, so the wake goes
 * through the injection queue (fj__resume_waiter from outside). */
#define OUTSIDE_WAKES 100
static fj_counter g_gates[OUTSIDE_WAKES];
static int g_gate_ready;   /* how many gates the root has armed */
/* Set once the root has read the count: the waker ends only then, because a
 * thread's end frees memory of the threads library's own (winpthreads frees
 * its thread record when the thread ends), which is not the runtime's. */
static int g_counted;

static void *outside_waker(void *arg)
{
    (void)arg;
    for (int i = 0; i < OUTSIDE_WAKES; i++) {
        while (__atomic_load_n(&g_gate_ready, __ATOMIC_ACQUIRE) <= i)
            sched_yield();
        struct timespec ts = { 0, 1000000 };
        nanosleep(&ts, NULL);
        fj_counter_done(&g_gates[i], 1);
    }
    while (!__atomic_load_n(&g_counted, __ATOMIC_ACQUIRE))
        sched_yield();
    return NULL;
}

/* The outside waker finishes each gate: the root hands the count out with
 * fj_counter_add_outside, so every worker idle while the waker sleeps is not
 * judged a deadlock (it once took a deadlock_hook here). */
static void outside_wakes(void)
{
    for (int i = 0; i < OUTSIDE_WAKES; i++) {
        fj_counter_add_outside(&g_gates[i], 1);
        __atomic_store_n(&g_gate_ready, i + 1, __ATOMIC_RELEASE);
        fj_wait(&g_gates[i], 0);
    }
}

static void root(void *arg)
{
    uint64_t *calls = arg;
    uint64_t frame = 0;
    for (; frame < WARMUP_FRAMES; frame++)
        run_frame(frame);
    uint64_t before = __atomic_load_n(&g_calls, __ATOMIC_RELAXED);
    __atomic_store_n(&g_armed, before, __ATOMIC_RELAXED);
    for (uint64_t end = frame + FRAMES; frame < end; frame++)
        run_frame(frame);
    outside_wakes();
    *calls = __atomic_load_n(&g_calls, __ATOMIC_RELAXED) - before;
    __atomic_store_n(&g_counted, 1, __ATOMIC_RELEASE);
    fj_frame_free_tag(g_heap, frame - 1);
}

/* The start of the program or library that holds code address p, or 0. */
static uintptr_t module_base(void *p)
{
#if TEST_WINDOWS
    HMODULE m;
    if (GetModuleHandleExA(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS | GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
                           (LPCSTR)p, &m))
        return (uintptr_t)m;
    return 0;
#else
    Dl_info info;
    return dladdr(p, &info) ? (uintptr_t)info.dli_fbase : 0;
#endif
}

int main(int argc, char **argv)
{
    fj_config cfg = test_config(argc, argv);
    fj_scheduler *s = fj_create(&cfg);
    CHECK(s);
    g_heap = fj_frame_heap_create(s, NULL);
    CHECK(g_heap);
    /* The wrappers work: creating the scheduler and the heap used the heap. */
    CHECK(__atomic_load_n(&g_calls, __ATOMIC_RELAXED) > 0);

    for (int i = 0; i < OUTSIDE_WAKES; i++)
        fj_counter_init(&g_gates[i], 0);
    pthread_t waker;   /* created now: creating a thread allocates */
    CHECK(pthread_create(&waker, NULL, outside_waker, NULL) == 0);
    uint64_t calls = UINT64_MAX;
    CHECK_EQ(fj_main(s, root, &calls), 0);
    CHECK(pthread_join(waker, NULL) == 0);
    if (calls != 0) {
        fprintf(stderr, "%llu allocator calls in %d frames of %d jobs after warm-up; the first of them:\n",
                (unsigned long long)calls, FRAMES, JOBS_PER_FRAME);
        for (uint64_t i = 0; i < calls && i < 16; i++) {
            uintptr_t base = module_base(g_callers[i]);
            fprintf(stderr, "  %s from %p (offset 0x%llx)\n", g_kinds[i] ? g_kinds[i] : "?", g_callers[i],
                    (unsigned long long)((uintptr_t)g_callers[i] - base));
        }
        fprintf(stderr, "(addr2line -f -e %s OFFSET names each)\n", argv[0]);
        return 1;
    }
    CHECK(g_sum > 0);
    fj_frame_heap_destroy(g_heap);
    fj_destroy(s);
    printf("ok: %d frames of %d jobs, 0 calls to malloc/calloc/realloc/free/aligned_alloc/posix_memalign\n",
           FRAMES, JOBS_PER_FRAME);
    return 0;
}
