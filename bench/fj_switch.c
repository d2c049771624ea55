/*
 * switch: the fiber switch round trip of fiberjob's own context switch
 * (src/arch/ctx.h), two contexts ping-ponging on one thread. Compiled into
 * fiberjob-bench (the library's switch as configured) and into
 * fiberjob-bench-fpu (the same sources built with FJ_SAVE_FPU=1, the FP-control
 * option).
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arch/ctx.h"
#include "bench.h"

static fj__ctx sw_main, sw_other;

static void sw_entry(fj__ctx *from, void *arg)
{
    (void)from;
    (void)arg;
    for (;;)
        fj__ctx_switch(&sw_other, &sw_main);
}

static void sw_run(long n)
{
    for (long i = 0; i < n; i++)
        fj__ctx_switch(&sw_main, &sw_other);
}

int fjb_switch(const bench_args *a)
{
    const size_t stack_size = 64 * 1024;
    void *stack = bench_aligned_alloc(64, stack_size);
    if (!stack)
        return bench_fail("switch: out of memory");
    fj__ctx_make(&sw_other, stack, stack_size, 0, sw_entry, NULL);
    sw_run(a->size / 10 + 1);   /* warm-up */
    uint64_t t0 = bench_now_ns();
    sw_run(a->size);
    uint64_t t1 = bench_now_ns();
    bench_emit("switch", (double)(t1 - t0) / (double)a->size, "ns", BENCH_LOWER);
    /* The other context stays suspended on its stack: never free it. */
    return 0;
}

#ifdef BENCH_WITH_FIBERJOB   /* not in fiberjob-bench-fpu, which has no threads */
/*
 * wake, implementation "park-floor": the least a wake of a parked fiber can
 * cost on this machine, with no scheduler at all. A fiber "parks" by
 * switching to its thread's own context, which spins on one word; a second
 * thread (the child) spins BENCH_WAKE_SPIN_NS, stores the time and then the
 * word; the spinning context sees it and switches back into the fiber,
 * which reads the clock. What is left is what any parked wake needs: the
 * finisher's write reaching the waiting core (the word's line goes to the
 * child and comes back: two transfers, as for oneTBB's waiter spinning on
 * its count) and one switch into the parked fiber. A wake through a
 * scheduler (fiberjob's, Boost.Fiber's) also has to find the waiter and
 * decide who resumes it; oneTBB's waiter never parks (it spins on its own
 * stack), so it needs no switch.
 */
/* Pinned as fiberjob's workers are (bench_pin_cpu): the waiter on the first
 * allowed CPU, the child on the second. */
typedef struct floor_ctx {
    _Alignas(64) _Atomic long go;       /* waiter -> child: start round i */
    _Alignas(64) _Atomic long done;     /* child -> waiter: round i finished */
    _Atomic uint64_t t_done;            /* on done's line: stored just before it */
    long n;
    double *ns;
    fj__ctx main, fiber;
} floor_ctx;

static void *floor_child(void *p)
{
    floor_ctx *x = p;
    bench_pin_cpu(1);
    for (long i = 1;; i++) {
        long g;
        while ((g = atomic_load_explicit(&x->go, memory_order_acquire)) >= 0 && g < i)
            bench_cpu_relax();
        if (g < 0)
            return NULL;
        bench_spin_ns(BENCH_WAKE_SPIN_NS);
        atomic_store_explicit(&x->t_done, bench_now_ns(), memory_order_relaxed);
        atomic_store_explicit(&x->done, i, memory_order_release);
    }
}

static void floor_fiber(fj__ctx *from, void *arg)
{
    (void)from;
    floor_ctx *x = arg;
    const long warm = 20;
    for (long i = 1; i <= warm + x->n; i++) {
        atomic_store_explicit(&x->go, i, memory_order_release);
        fj__ctx_switch(&x->fiber, &x->main);   /* park */
        uint64_t t1 = bench_now_ns();
        if (i > warm)
            x->ns[i - warm - 1] = (double)(t1 - atomic_load_explicit(&x->t_done, memory_order_relaxed));
    }
    atomic_store_explicit(&x->go, -1, memory_order_release);
    fj__ctx_switch(&x->fiber, &x->main);
    abort();   /* never resumed */
}

int fjb_wake_floor(const bench_args *a)
{
    const size_t stack_size = 64 * 1024;
    floor_ctx *x = bench_aligned_alloc(64, sizeof *x);
    void *stack = bench_aligned_alloc(64, stack_size);
    if (!x || !stack)
        return bench_fail("wake: out of memory");
    memset(x, 0, sizeof *x);
    x->n = a->size;
    x->ns = calloc((size_t)a->size, sizeof(double));
    bench_cpus before;   /* this thread's CPUs, given back at the end */
    if (bench_cpus_save(&before) != 0)
        return bench_fail("wake: cannot read the thread's CPUs");
    pthread_t child;
    if (!x->ns || pthread_create(&child, NULL, floor_child, x) != 0)
        return bench_fail("wake: out of memory or threads");
    bench_pin_cpu(0);
    fj__ctx_make(&x->fiber, stack, stack_size, 0, floor_fiber, x);
    const long warm = 20;
    fj__ctx_switch(&x->main, &x->fiber);
    for (long i = 1; i <= warm + x->n; i++) {
        /* Parked: spin until the child's store, then resume the fiber. */
        while (atomic_load_explicit(&x->done, memory_order_acquire) < i)
            bench_cpu_relax();
        fj__ctx_switch(&x->main, &x->fiber);
    }
    pthread_join(child, NULL);
    bench_cpus_restore(&before);
    unsigned char *local = calloc((size_t)x->n, 1);   /* never: two threads by construction */
    if (!local)
        return bench_fail("wake: out of memory");
    bench_emit_wake(x->ns, local, (size_t)x->n);
    free(local);
    free(x->ns);
    /* The fiber stays suspended on its stack, and x with it: never freed. */
    return 0;
}
#endif
