/*
 * The floating-point control state (x86-64: MXCSR and the x87 control word;
 * AArch64: FPCR): rounding mode, flush-to-zero, exception masks. It knows no
 * scheduler.
 *
 * A job runs on whatever worker takes it, so every worker starts its jobs
 * from the state of the thread that created the scheduler (captured by
 * fj_create and fj_main, applied by each worker thread as it starts). By
 * default the switch does not save it (FIBERJOB_SAVE_FPU=OFF): a job that
 * changes it must restore it before it returns or waits, and builds with
 * FJ_CHECK_FPU check that after every job and at every wait (worker.c,
 * wait.c). With FJ_SAVE_FPU each fiber carries its own state across switches
 * (the context switch saves it) and only a job's return is checked.
 */
#ifndef FJ_ARCH_FPU_H
#define FJ_ARCH_FPU_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct fj__fpu_state {
#if defined(__x86_64__)
    uint32_t mxcsr;
    uint16_t cw;
#elif defined(__aarch64__)
    uint64_t fpcr;
#else
    int unused;
#endif
} fj__fpu_state;

/* The calling thread's state. */
static inline void fj__fpu_capture(fj__fpu_state *st)
{
#if defined(__x86_64__)
    __asm__ __volatile__("stmxcsr %0" : "=m"(st->mxcsr));
    __asm__ __volatile__("fnstcw %0" : "=m"(st->cw));
#elif defined(__aarch64__)
    __asm__ __volatile__("mrs %0, fpcr" : "=r"(st->fpcr));
#else
    st->unused = 0;
#endif
}

/* Make *st the calling thread's state. */
static inline void fj__fpu_apply(const fj__fpu_state *st)
{
#if defined(__x86_64__)
    __asm__ __volatile__("ldmxcsr %0" ::"m"(st->mxcsr));
    __asm__ __volatile__("fldcw %0" ::"m"(st->cw));
#elif defined(__aarch64__)
    __asm__ __volatile__("msr fpcr, %0" ::"r"(st->fpcr));
#else
    (void)st;
#endif
}

/* Is the calling thread's state still *ref? If not, describe the change in
 * buf ("MXCSR 0x1f80 -> 0x9f80, ..."). The sticky exception flags (the low
 * six MXCSR bits) are results, not control state: they are not compared. */
static inline bool fj__fpu_unchanged(const fj__fpu_state *ref, char *buf, size_t cap)
{
    fj__fpu_state now;
    fj__fpu_capture(&now);
#if defined(__x86_64__)
    if ((now.mxcsr & ~0x3fu) == (ref->mxcsr & ~0x3fu) && now.cw == ref->cw)
        return true;
    snprintf(buf, cap, "MXCSR %#x -> %#x, x87 CW %#x -> %#x", ref->mxcsr, now.mxcsr, ref->cw, now.cw);
#elif defined(__aarch64__)
    if (now.fpcr == ref->fpcr)
        return true;
    snprintf(buf, cap, "FPCR %#llx -> %#llx", (unsigned long long)ref->fpcr, (unsigned long long)now.fpcr);
#else
    (void)now;
    (void)buf;
    (void)cap;
    (void)ref;
    return true;
#endif
    return false;
}

#endif
