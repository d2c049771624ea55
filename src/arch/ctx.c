/*
 * Preparing new contexts (the assembly switch) and the portable ucontext
 * fallback (FIBERJOB_CONTEXT=ucontext, or an architecture without assembly).
 * A new assembly context is a suspended frame laid out as arch/ctx.h says
 * (fj__ctx_frame), whose resume address is fj__ctx_trampoline.
 */
#include "arch/ctx.h"

#ifndef FJ_CTX_USE_UCONTEXT

#include <string.h>

void fj__ctx_trampoline(void);

#if defined(__x86_64__)
void fj__ctx_make(fj__ctx *c, void *stack_lo, size_t size, fj__ctx_entry fn, void *arg)
{
    uintptr_t top = ((uintptr_t)stack_lo + size) & ~(uintptr_t)15;
    /* One word stays free above the frame: once the switch has popped the
     * resume address, rsp is 8 below a 16-byte boundary, as at a call. */
    fj__ctx_frame *frame = (fj__ctx_frame *)(top - 8) - 1;
    memset(frame, 0, top - (uintptr_t)frame);
    frame->r12 = (uint64_t)(uintptr_t)fn;
    frame->r13 = (uint64_t)(uintptr_t)arg;
    frame->resume = (uint64_t)(uintptr_t)fj__ctx_trampoline;
    void *sp = frame;
#ifdef FJ_SAVE_FPU
    fj__ctx_fpu *fpu = (fj__ctx_fpu *)(void *)frame - 1;
    memset(fpu, 0, sizeof *fpu);
    __asm__ __volatile__("stmxcsr %0" : "=m"(fpu->mxcsr));
    __asm__ __volatile__("fnstcw %0" : "=m"(fpu->fcw));
    sp = fpu;
#endif
    c->sp = sp;
}
#elif defined(__aarch64__)
void fj__ctx_make(fj__ctx *c, void *stack_lo, size_t size, fj__ctx_entry fn, void *arg)
{
    uintptr_t top = ((uintptr_t)stack_lo + size) & ~(uintptr_t)15;
    fj__ctx_frame *frame = (fj__ctx_frame *)(top - FJ_CTX_AARCH64_FRAME);
    memset(frame, 0, FJ_CTX_AARCH64_FRAME);
    frame->x19 = (uint64_t)(uintptr_t)fn;
    frame->x20 = (uint64_t)(uintptr_t)arg;
    frame->x30 = (uint64_t)(uintptr_t)fj__ctx_trampoline;
#ifdef FJ_SAVE_FPU
    fj__ctx_fpu *fpu = (fj__ctx_fpu *)(void *)(frame + 1);
    uint64_t fpcr;
    __asm__ __volatile__("mrs %0, fpcr" : "=r"(fpcr));
    fpu->fpcr = fpcr;
#endif
    c->sp = frame;
}
#endif

#endif /* !FJ_CTX_USE_UCONTEXT */

#ifdef FJ_CTX_USE_UCONTEXT

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

#endif /* FJ_CTX_USE_UCONTEXT */
