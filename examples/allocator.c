/*
 * allocator: give fiberjob the engine's allocator (fj_config.allocator).
 *
 *   ./example_allocator [workers]
 *
 * Every allocation the runtime makes for a scheduler goes through
 * fj_config.allocator when it is set: the scheduler and its queues, job
 * batches, submissions from outside threads, handle slots, trace rings.
 * (Fiber stacks are page mappings from the OS, not allocations.) free gets
 * back the size and alignment of the allocation, so a sized allocator needs
 * no header per block.
 *
 * This one keeps a budget, as engines do per subsystem: it counts the live
 * bytes and the peak, and refuses (returns NULL) past the budget. fj_create
 * then fails with FJ_ENOMEM and leaves nothing allocated; out of memory
 * later, where no error can be returned, the process stops with one line
 * naming the call, the size and the job.
 *
 * Both functions are called from any thread, several at once: they must be
 * thread safe (atomics here), and must not call into fiberjob.
 */
#include <fiberjob.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct budget {
    size_t limit;
    size_t live;    /* atomic */
    size_t peak;    /* atomic */
    size_t calls;   /* atomic */
} budget;

static void *budget_alloc(size_t size, size_t align, void *user)
{
    budget *b = user;
    size_t live = __atomic_add_fetch(&b->live, size, __ATOMIC_RELAXED);
    if (live > b->limit) {
        __atomic_sub_fetch(&b->live, size, __ATOMIC_RELAXED);
        return NULL;
    }
    size_t peak = __atomic_load_n(&b->peak, __ATOMIC_RELAXED);
    while (live > peak && !__atomic_compare_exchange_n(&b->peak, &peak, live, 1, __ATOMIC_RELAXED,
                                                       __ATOMIC_RELAXED))
        ;
    __atomic_add_fetch(&b->calls, 1, __ATOMIC_RELAXED);
    /* C11's aligned_alloc wants a size that is a multiple of the alignment
     * (Windows' C runtime has none: _aligned_malloc, freed by _aligned_free). */
#ifdef _WIN32
    void *p = _aligned_malloc((size + align - 1) / align * align, align);
#else
    void *p = aligned_alloc(align, (size + align - 1) / align * align);
#endif
    if (!p)
        __atomic_sub_fetch(&b->live, size, __ATOMIC_RELAXED);
    return p;
}

static void budget_free(void *p, size_t size, size_t align, void *user)
{
    budget *b = user;
    (void)align;
    __atomic_sub_fetch(&b->live, size, __ATOMIC_RELAXED);
#ifdef _WIN32
    _aligned_free(p);
#else
    free(p);
#endif
}

static void add_one(void *arg) { __atomic_add_fetch((int *)arg, 1, __ATOMIC_RELAXED); }

static void root(void *arg)
{
    int *done = arg;
    fj_job jobs[1000];
    for (int i = 0; i < 1000; i++)
        jobs[i] = (fj_job){ .fn = add_one, .arg = done, .name = "add_one" };
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs(jobs, 1000, &c);   /* batches: allocated through the budget */
    fj_join(fj_spawn(&jobs[0]));   /* handle slots too */
    fj_wait(&c, 0);
}

int main(int argc, char **argv)
{
    fj_config cfg = fj_config_default();
    cfg.workers = argc > 1 ? (unsigned)atoi(argv[1]) : 0;

    /* Too small a budget: fj_create says so, and gives back what it took. */
    budget tiny = { .limit = 1024 };
    cfg.allocator = (fj_allocator){ .alloc = budget_alloc, .free = budget_free, .user = &tiny };
    if (fj_create(&cfg) || fj_last_error() != FJ_ENOMEM || tiny.live != 0) {
        fprintf(stderr, "a 1 KiB budget should have been refused with nothing left allocated\n");
        return 1;
    }

    budget b = { .limit = 64u << 20 };   /* 64 MiB */
    cfg.allocator.user = &b;
    fj_scheduler *s = fj_create(&cfg);
    if (!s) {
        fprintf(stderr, "fj_create: %s\n", fj_strerror(fj_last_error()));
        return 1;
    }
    int done = 0;
    int rc = fj_main(s, root, &done);
    fj_destroy(s);   /* gives everything back */
    printf("%d jobs; %zu allocations, peak %zu KiB, %zu bytes left after fj_destroy\n", done, b.calls,
           b.peak / 1024, b.live);
    return rc == 0 && done == 1001 && b.calls > 0 && b.live == 0 ? 0 : 1;
}
