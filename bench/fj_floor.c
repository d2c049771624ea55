/*
 * spawn1, implementations "steal-floor" and "ring-floor": how fast a stream
 * of lone jobs can move from one core to the other on this machine, with no
 * scheduler at all: no counter, no fibers, no sleeping workers to tell. Two
 * threads pinned like fiberjob's workers; the submitter queues `size` empty
 * jobs one at a time and the other thread runs them; the figure is jobs per
 * second from the first queueing to the last job's end, as for spawn1.
 *
 *   steal-floor  fiberjob's own deque (src/deque.h). The submitter pushes as
 *                fj_run_jobs of one job does (reserve, write the slot, one
 *                release store of bottom). The thief claims each job by
 *                itself, as a Chase-Lev thief must (one that has not read
 *                bottom after top cannot know the owner did not take the
 *                slot without a CAS): when a look finds the deque empty it
 *                waits FLOOR_COLLECT_NS for jobs to collect (as the
 *                scheduler's thief does in a stream of lone jobs,
 *                src/steal.c), then steals everything it sees, one steal per
 *                job. What the scheduler's spawn1 would cost with nothing
 *                but its queue.
 *   ring-floor   a single-producer single-consumer ring: the consumer reads
 *                the producer's index once and runs every job up to it, so
 *                one line transfer claims a whole batch. What a queue whose
 *                thief takes a batch with one claim would allow; a ring has
 *                no owner end, so it is not a deque a scheduler could use.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "deque.h"

#define FLOOR_COLLECT_NS 2000u

/* The deque's buffers, from the C library (what a scheduler's fj__mem
 * resolves to when fj_config sets no allocator). */
static void *floor_alloc(size_t size, size_t align, void *user)
{
    (void)user;
    if (align < sizeof(void *))
        align = sizeof(void *);
    return bench_aligned_alloc(align, (size + align - 1) & ~(align - 1));
}

static void floor_free(void *p, size_t size, size_t align, void *user)
{
    (void)size;
    (void)align;
    (void)user;
    bench_aligned_free(p);
}

static void floor_misaligned(const void *p, size_t size, size_t align)
{
    (void)p;
    (void)size;
    (void)align;
    abort();
}

static void floor_job(void *p) { bench_opaque(p); }

typedef struct floor_run {
    _Alignas(64) _Atomic long ran;   /* jobs the consumer ran (written by it, read at the end) */
    _Alignas(64) _Atomic int stop;
    long n;
    fj__deque deque;
    fj__mem mem;
    /* ring-floor */
    _Alignas(64) _Atomic uint64_t head;   /* producer: jobs written */
    _Alignas(64) _Atomic uint64_t tail;   /* consumer: jobs run */
    _Alignas(64) fj__task *ring;
    uint64_t mask;
} floor_run;

static void *steal_thief(void *p)
{
    floor_run *r = p;
    bench_pin_cpu(1);
    long ran = 0;
    while (!atomic_load_explicit(&r->stop, memory_order_acquire)) {
        if (fj__deque_size_hint(&r->deque) <= 0) {
            /* Nothing yet: let a few collect, as the scheduler's thief does. */
            uint64_t until = bench_now_ns() + FLOOR_COLLECT_NS;
            while (bench_now_ns() < until)
                bench_cpu_relax();
            continue;
        }
        fj__task t;
        while (fj__deque_steal(&r->deque, &t) == FJ_DEQUE_OK) {
            t.fn(t.arg);
            ran++;
        }
        atomic_store_explicit(&r->ran, ran, memory_order_release);
    }
    return NULL;
}

static void *ring_consumer(void *p)
{
    floor_run *r = p;
    bench_pin_cpu(1);
    uint64_t tail = 0;
    while (!atomic_load_explicit(&r->stop, memory_order_acquire)) {
        /* Acquire: the slots up to head were written before it. */
        uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
        if (head == tail) {
            bench_cpu_relax();
            continue;
        }
        for (; tail < head; tail++) {
            fj__task *t = &r->ring[tail & r->mask];
            t->fn(t->arg);
        }
        /* Release: our reads of the slots are done before the producer reuses them. */
        atomic_store_explicit(&r->tail, tail, memory_order_release);
        atomic_store_explicit(&r->ran, (long)tail, memory_order_release);
    }
    return NULL;
}

static void steal_pass(floor_run *r, long n)
{
    fj__task t = { floor_job, NULL, "empty", NULL, 0 };
    for (long i = 0; i < n; i++) {
        int64_t b;
        fj__deque_array *a = fj__deque_reserve(&r->deque, 1, &b);
        if (!a)
            abort();
        fj__deque_write(a, b, &t);
        fj__deque_publish(&r->deque, b + 1);
    }
}

static void ring_pass(floor_run *r, long n)
{
    uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    uint64_t tail_seen = atomic_load_explicit(&r->tail, memory_order_acquire);
    for (long i = 0; i < n; i++) {
        while (head - tail_seen > r->mask)
            tail_seen = atomic_load_explicit(&r->tail, memory_order_acquire);
        r->ring[head & r->mask] = (fj__task){ floor_job, NULL, "empty", NULL, 0 };
        atomic_store_explicit(&r->head, ++head, memory_order_release);
    }
}

static int floor_spawn1(const bench_args *a, bool ring)
{
    floor_run *r = bench_aligned_alloc(64, sizeof *r);
    if (!r)
        return bench_fail("spawn1: out of memory");
    memset(r, 0, sizeof *r);
    r->n = a->size;
    r->mem = (fj__mem){ { floor_alloc, floor_free, NULL }, floor_misaligned };
    if (ring) {
        r->mask = (1u << 16) - 1;
        r->ring = bench_aligned_alloc(64, (r->mask + 1) * sizeof(fj__task));
        if (!r->ring)
            return bench_fail("spawn1: out of memory");
    } else if (fj__deque_init(&r->deque, 256, &r->mem) != 0) {   /* as a worker's; grows in the warm-up */
        return bench_fail("spawn1: out of memory");
    }
#ifdef __linux__
    cpu_set_t before;   /* this thread's affinity, given back at the end */
    if (pthread_getaffinity_np(pthread_self(), sizeof before, &before) != 0)
        return bench_fail("spawn1: cannot read the thread's CPUs");
#endif
    pthread_t consumer;
    if (pthread_create(&consumer, NULL, ring ? ring_consumer : steal_thief, r) != 0)
        return bench_fail("spawn1: cannot start a thread");
    bench_pin_cpu(0);
    /* A warm-up pass (the deque's buffer, the lines), then the timed one. */
    uint64_t t0 = 0;
    for (int pass = 0; pass < 2; pass++) {
        long target = (long)(pass + 1) * r->n;
        if (pass == 1)
            t0 = bench_now_ns();
        if (ring)
            ring_pass(r, r->n);
        else
            steal_pass(r, r->n);
        while (atomic_load_explicit(&r->ran, memory_order_acquire) < target)
            bench_cpu_relax();
    }
    uint64_t t1 = bench_now_ns();
    atomic_store_explicit(&r->stop, 1, memory_order_release);
    pthread_join(consumer, NULL);
#ifdef __linux__
    pthread_setaffinity_np(pthread_self(), sizeof before, &before);
#endif
    bench_emit("spawn1", (double)r->n / ((double)(t1 - t0) / 1e9) / 1e6, "Mjobs/s", BENCH_HIGHER);
    if (!ring)
        fj__deque_free(&r->deque);
    /* r and the ring are left to the process's end, as the other floors' are. */
    return 0;
}

int fjb_spawn1_steal_floor(const bench_args *a) { return floor_spawn1(a, false); }
int fjb_spawn1_ring_floor(const bench_args *a) { return floor_spawn1(a, true); }
