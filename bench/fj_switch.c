/*
 * switch: the fiber switch round trip of fiberjob's own context switch
 * (src/arch/ctx.h), two contexts ping-ponging on one thread. Compiled into
 * fiberjob-bench (the library's switch as configured) and into
 * fiberjob-bench-fpu (the same sources built with FJ_SAVE_FPU=1, the FP-control
 * option).
 */
#include <stdlib.h>

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
