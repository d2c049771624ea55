/*
 * spawn1, implementation "ring-floor": how fast a stream of lone jobs can
 * move from one core to the other on this machine when the taker claims a
 * whole batch with one read, with no scheduler at all: no counter, no
 * fibers, no sleeping workers to tell. Two threads pinned like fiberjob's
 * workers and a single-producer single-consumer ring of FLOOR_CAPACITY
 * slots between them; the submitter writes `size` empty jobs into it one at
 * a time (a slot, then a release store of its index), and the other thread
 * reads the index once and runs every job up to it, so one line transfer
 * claims a batch. The figure is jobs per second from the first job written
 * to the last one's end, as for spawn1.
 *
 * A ring has no owner end, so it is not a queue a work-stealing scheduler
 * could use as it is: it shows what batch claims would allow here. A
 * Chase-Lev thief claims one slot per steal, checked against a fresh read of
 * bottom (docs/design.md, "The deque").
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "deque.h"

/* The ring's slots: a submitter that gets this far ahead waits for room, so
 * the backlog stays in the cache (40 KB of tasks). */
#define FLOOR_CAPACITY 1024u

static void floor_job(void *p) { bench_opaque(p); }

typedef struct floor_run {
    _Alignas(64) _Atomic uint64_t head;   /* producer: jobs written */
    _Alignas(64) _Atomic uint64_t tail;   /* consumer: jobs run */
    _Alignas(64) _Atomic int stop;
    fj__task ring[FLOOR_CAPACITY];
} floor_run;

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
            fj__task *t = &r->ring[tail % FLOOR_CAPACITY];
            t->fn(t->arg);
        }
        /* Release: our reads of the slots are done before the producer
         * reuses them (it reads tail with acquire). */
        atomic_store_explicit(&r->tail, tail, memory_order_release);
    }
    return NULL;
}

static void ring_pass(floor_run *r, long n)
{
    uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    uint64_t tail_seen = atomic_load_explicit(&r->tail, memory_order_acquire);
    for (long i = 0; i < n; i++) {
        while (head - tail_seen >= FLOOR_CAPACITY)
            tail_seen = atomic_load_explicit(&r->tail, memory_order_acquire);
        r->ring[head % FLOOR_CAPACITY] = (fj__task){ floor_job, NULL, "empty", NULL, 0 };
        atomic_store_explicit(&r->head, ++head, memory_order_release);
    }
    /* The pass ends when the consumer has run everything. */
    while (atomic_load_explicit(&r->tail, memory_order_acquire) < head)
        bench_cpu_relax();
}

int fjb_spawn1_ring_floor(const bench_args *a)
{
    floor_run *r = bench_aligned_alloc(64, sizeof *r);
    if (!r)
        return bench_fail("spawn1: out of memory");
    memset(r, 0, sizeof *r);
    bench_cpus before;   /* this thread's CPUs, given back at the end */
    if (bench_cpus_save(&before) != 0)
        return bench_fail("spawn1: cannot read the thread's CPUs");
    pthread_t consumer;
    if (pthread_create(&consumer, NULL, ring_consumer, r) != 0)
        return bench_fail("spawn1: cannot start a thread");
    bench_pin_cpu(0);
    ring_pass(r, a->size);   /* warm-up: the lines, the pages */
    uint64_t t0 = bench_now_ns();
    ring_pass(r, a->size);
    uint64_t t1 = bench_now_ns();
    atomic_store_explicit(&r->stop, 1, memory_order_release);
    pthread_join(consumer, NULL);
    bench_cpus_restore(&before);
    bench_emit("spawn1", (double)a->size / ((double)(t1 - t0) / 1e9) / 1e6, "Mjobs/s", BENCH_HIGHER);
    bench_aligned_free(r);
    return 0;
}
