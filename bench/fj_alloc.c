/*
 * alloc: fiberjob's frame allocator (fj_frame_alloc / fj_frame_free_tag)
 * against general-purpose allocators, all driven by the same fiberjob jobs.
 *
 * One frame: AL_JOBS jobs each make AL_PER_JOB allocations of 16-256 bytes
 * (a fixed sequence of sizes), touch each and keep the pointer; then the memory
 * of the frame is released: the frame heap frees the frame's tag in one call,
 * the general-purpose allocators free every block, in AL_JOBS parallel jobs (on
 * whichever worker takes them, as frame data would be). Metric: wall time per
 * allocation, frees included, over all frames.
 *
 * glibc's malloc runs in fiberjob-bench; jemalloc and mimalloc run in their own
 * programs (fiberjob-bench-jemalloc, fiberjob-bench-mimalloc), where they
 * replace malloc and free.
 */
#include <stdlib.h>

#include <fiberjob.h>

#include "bench.h"

#define AL_JOBS 64
#define AL_PER_JOB 512

typedef enum { AL_FRAME, AL_MALLOC } al_kind;

typedef struct al_job {
    void **ptrs;
    uint32_t index;
    al_kind kind;
    fj_frame_heap *heap;
    uint64_t tag;
    int failed;
} al_job;

static inline size_t al_size(uint32_t i) { return 16 + (i * 37u) % 241u; }

static void al_alloc_job(void *p)
{
    al_job *j = p;
    for (uint32_t i = 0; i < AL_PER_JOB; i++) {
        size_t size = al_size(j->index * AL_PER_JOB + i);
        void *q;
        if (j->kind == AL_FRAME)
            q = fj_frame_alloc(j->heap, j->tag, size, 0);
        else
            q = malloc(size);
        if (!q) {
            j->failed = j->kind == AL_FRAME ? fj_frame_last_error() : -1;
            if (!j->failed)
                j->failed = -1;
            return;
        }
        *(volatile char *)q = (char)i;
        j->ptrs[i] = q;
    }
}

static void al_free_job(void *p)
{
    al_job *j = p;
    for (uint32_t i = 0; i < AL_PER_JOB; i++)
        free(j->ptrs[i]);
}

typedef struct al_ctx {
    al_kind kind;
    long frames;
    fj_frame_heap *heap;
    al_job jobs[AL_JOBS];
    uint64_t ns;
    int failed;
} al_ctx;

static void al_root(void *p)
{
    al_ctx *x = p;
    const long warm = 10;
    fj_job alloc_jobs[AL_JOBS], free_jobs[AL_JOBS];
    for (uint32_t k = 0; k < AL_JOBS; k++) {
        alloc_jobs[k] = (fj_job){ .fn = al_alloc_job, .arg = &x->jobs[k], .name = "alloc" };
        free_jobs[k] = (fj_job){ .fn = al_free_job, .arg = &x->jobs[k], .name = "free" };
    }
    uint64_t t0 = 0;
    for (long f = 0; f < warm + x->frames && !x->failed; f++) {
        if (f == warm)
            t0 = bench_now_ns();
        for (uint32_t k = 0; k < AL_JOBS; k++)
            x->jobs[k].tag = (uint64_t)f;
        fj_counter c;
        fj_counter_init(&c, 0);
        fj_run_jobs(alloc_jobs, AL_JOBS, &c);
        fj_wait(&c, 0);
        for (uint32_t k = 0; k < AL_JOBS && !x->failed; k++)
            x->failed = x->jobs[k].failed;
        if (x->failed)
            break;
        if (x->kind == AL_FRAME) {
            fj_frame_free_tag(x->heap, (uint64_t)f);   /* returns the blocks released */
        } else {
            fj_run_jobs(free_jobs, AL_JOBS, &c);
            fj_wait(&c, 0);
        }
    }
    x->ns = bench_now_ns() - t0;
}

static int al_run(const bench_args *a, al_kind kind, const char *impl)
{
    static al_ctx x;
    x.kind = kind;
    x.frames = a->size;
    x.failed = 0;
    void **ptrs = malloc(sizeof(void *) * AL_JOBS * AL_PER_JOB);
    if (!ptrs)
        return bench_fail("alloc: out of memory");
    for (uint32_t k = 0; k < AL_JOBS; k++)
        x.jobs[k] = (al_job){ .ptrs = ptrs + (size_t)k * AL_PER_JOB, .index = k, .kind = kind };
    fj_config c = fj_config_default();
    if (a->workers)
        c.workers = a->workers;
    fj_scheduler *s = fj_create(&c);
    if (!s) {
        free(ptrs);
        return bench_fail("fj_create: %s", fj_strerror(fj_last_error()));
    }
    x.heap = NULL;
    if (kind == AL_FRAME) {
        x.heap = fj_frame_heap_create(s, NULL);
        if (!x.heap) {
            fj_destroy(s);
            free(ptrs);
            return bench_fail("fj_frame_heap_create: %s", fj_strerror(fj_frame_last_error()));
        }
        for (uint32_t k = 0; k < AL_JOBS; k++)
            x.jobs[k].heap = x.heap;
    }
    int rc = fj_main(s, al_root, &x);
    if (x.heap)
        fj_frame_heap_destroy(x.heap);
    fj_destroy(s);
    free(ptrs);
    if (rc)
        return bench_fail("fj_main: %s", fj_strerror(rc));
    if (x.failed)
        return bench_fail("alloc: %s: an allocation failed: %s", impl,
                          x.failed == -1 ? "out of memory" : fj_strerror(x.failed));
    bench_emit("alloc", (double)x.ns / ((double)x.frames * AL_JOBS * AL_PER_JOB), "ns", BENCH_LOWER);
    return 0;
}

int fjb_alloc_frame(const bench_args *a) { return al_run(a, AL_FRAME, "fiberjob frame heap"); }
int fjb_alloc_malloc(const bench_args *a) { return al_run(a, AL_MALLOC, "malloc"); }
