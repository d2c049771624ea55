/*
 * Preparing new contexts (the assembly switch) and the portable ucontext
 * fallback (FIBERJOB_CONTEXT=ucontext, or an architecture without assembly).
 */
#include "arch/ctx.h"

#include <stdint.h>
#include <string.h>

#ifndef FJ_CTX_USE_UCONTEXT

void fj__ctx_trampoline(void);

#if defined(__x86_64__)
void fj__ctx_make(fj__ctx *c, void *stack_lo, size_t size, fj__ctx_entry fn, void *arg)
{
    uintptr_t top = ((uintptr_t)stack_lo + size) & ~(uintptr_t)15;
    uint64_t *frame = (uint64_t *)top - (FJ_CTX_X86_64_WORDS + 1);
    memset(frame, 0, (FJ_CTX_X86_64_WORDS + 1) * sizeof *frame);
    frame[FJ_CTX_X86_64_R12] = (uint64_t)(uintptr_t)fn;
    frame[FJ_CTX_X86_64_R13] = (uint64_t)(uintptr_t)arg;
    frame[FJ_CTX_X86_64_RESUME] = (uint64_t)(uintptr_t)fj__ctx_trampoline;
#ifdef FJ_SAVE_FPU
    /* A new fiber starts with the FP control state of whoever prepares it. */
    frame--;
    uint32_t mxcsr;
    uint16_t fcw;
    __asm__ __volatile__("stmxcsr %0" : "=m"(mxcsr));
    __asm__ __volatile__("fnstcw %0" : "=m"(fcw));
    *frame = ((uint64_t)mxcsr << 32) | fcw;
#endif
    c->sp = frame;
}
#elif defined(__aarch64__)
void fj__ctx_make(fj__ctx *c, void *stack_lo, size_t size, fj__ctx_entry fn, void *arg)
{
    uintptr_t top = ((uintptr_t)stack_lo + size) & ~(uintptr_t)15;
#ifdef FJ_SAVE_FPU
    const size_t bytes = FJ_CTX_AARCH64_BYTES + 16;
#else
    const size_t bytes = FJ_CTX_AARCH64_BYTES;
#endif
    unsigned char *frame = (unsigned char *)(top - bytes);
    memset(frame, 0, bytes);
    uint64_t v;
    v = (uint64_t)(uintptr_t)fn;
    memcpy(frame + FJ_CTX_AARCH64_X19, &v, 8);
    v = (uint64_t)(uintptr_t)arg;
    memcpy(frame + FJ_CTX_AARCH64_X20, &v, 8);
    v = (uint64_t)(uintptr_t)fj__ctx_trampoline;
    memcpy(frame + FJ_CTX_AARCH64_X30, &v, 8);
#ifdef FJ_SAVE_FPU
    uint64_t fpcr;
    __asm__ __volatile__("mrs %0, fpcr" : "=r"(fpcr));
    memcpy(frame + FJ_CTX_AARCH64_BYTES, &fpcr, 8);
#endif
    c->sp = frame;
}
#endif

#else /* FJ_CTX_USE_UCONTEXT */

#include <stdlib.h>

/* makecontext passes int arguments only: split the two pointers. */
static void ctx_ucontext_start(unsigned fn_hi, unsigned fn_lo, unsigned arg_hi, unsigned arg_lo,
                               unsigned self_hi, unsigned self_lo)
{
    fj__ctx_entry fn = (fj__ctx_entry)(uintptr_t)(((uint64_t)fn_hi << 32) | fn_lo);
    void *arg = (void *)(uintptr_t)(((uint64_t)arg_hi << 32) | arg_lo);
    fj__ctx *self = (fj__ctx *)(uintptr_t)(((uint64_t)self_hi << 32) | self_lo);
    fn(self->xfer, arg);
    abort();
}

void fj__ctx_make(fj__ctx *c, void *stack_lo, size_t size, fj__ctx_entry fn, void *arg)
{
    getcontext(&c->uc);
    c->uc.uc_stack.ss_sp = stack_lo;
    c->uc.uc_stack.ss_size = size;
    c->uc.uc_link = NULL;
    uint64_t f = (uint64_t)(uintptr_t)fn, a = (uint64_t)(uintptr_t)arg, s = (uint64_t)(uintptr_t)c;
    makecontext(&c->uc, (void (*)(void))ctx_ucontext_start, 6, (unsigned)(f >> 32), (unsigned)f,
                (unsigned)(a >> 32), (unsigned)a, (unsigned)(s >> 32), (unsigned)s);
}

fj__ctx *fj__ctx_switch(fj__ctx *from, fj__ctx *to)
{
    /* The hand-off pointer lives in the target context, not in a thread-local:
     * after swapcontext returns we may be on another thread. */
    to->xfer = from;
    swapcontext(&from->uc, &to->uc);
    return from->xfer;
}

#endif
