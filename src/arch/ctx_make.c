/*
 * Preparing a new context for the assembly switch (ctx_x86_64.S,
 * ctx_aarch64.S, ctx_win64.S): a suspended frame, laid out as arch/ctx.h says, that the
 * switch's restore half pops as if the context had switched away before its
 * first instruction, and whose resume address is fj__ctx_trampoline.
 *
 * Invariants: the frame lies below the stack's top rounded down to 16 bytes;
 * every register in it is zero except the trampoline's two (entry and its
 * argument) and the resume address; a new context starts with the FP control
 * state of whoever prepares it (FJ_SAVE_FPU). Compiles to nothing in a
 * ucontext build (ctx_ucontext.c).
 */
#include "arch/ctx.h"
#include "arch/fpu.h"

#ifndef FJ_CTX_USE_UCONTEXT

#include <string.h>

void fj__ctx_trampoline(void);

#if defined(FJ_CTX_WIN64)
/* Windows x64 (ctx_win64.S). Right above the frame is a zero word, the
 * trampoline's "return address": once the switch has popped the resume
 * address, rsp points at it. The switch leaves rsp 16-byte aligned there (as
 * after a return), so that word is 16-byte aligned too, and StackBase, the
 * end of the stack as the unwinders see it, is the address right above it:
 * unwinding the trampoline puts rsp on StackBase, where the unwinders stop.
 * So StackBase is 8 (or 16) bytes below the top of the memory given, which
 * stays unused. The frame carries the fiber's thread-information-block
 * values, which the switch pops into the TEB before the trampoline runs:
 * StackLimit the stack's lowest address, DeallocationStack the lowest address
 * of the guard gap below it, ExceptionList empty. */
void fj__ctx_make(fj__ctx *c, void *stack_lo, size_t size, size_t guard, fj__ctx_entry fn, void *arg)
{
    uintptr_t ret = ((uintptr_t)stack_lo + size - 8) & ~(uintptr_t)15;
    fj__ctx_frame *frame = (fj__ctx_frame *)ret - 1;
    memset(frame, 0, ret + 8 - (uintptr_t)frame);
    frame->exception_list = UINT64_MAX;     /* the empty list: see ctx_win64.S */
    frame->stack_base = (uint64_t)(ret + 8);
    frame->stack_limit = (uint64_t)(uintptr_t)stack_lo;
    frame->dealloc = (uint64_t)((uintptr_t)stack_lo - guard);
    frame->r12 = (uint64_t)(uintptr_t)fn;
    frame->r13 = (uint64_t)(uintptr_t)arg;
    frame->resume = (uint64_t)(uintptr_t)fj__ctx_trampoline;
#ifdef FJ_SAVE_FPU
    fj__fpu_state st;
    fj__fpu_capture(&st);
    frame->mxcsr = st.mxcsr;
    frame->fcw = st.cw;
#endif
    c->sp = frame;
}
#elif defined(__x86_64__)
void fj__ctx_make(fj__ctx *c, void *stack_lo, size_t size, size_t guard, fj__ctx_entry fn, void *arg)
{
    (void)guard;
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
    fj__fpu_state st;
    fj__fpu_capture(&st);
    memset(fpu, 0, sizeof *fpu);
    fpu->mxcsr = st.mxcsr;
    fpu->fcw = st.cw;
    sp = fpu;
#endif
    c->sp = sp;
}
#elif defined(__aarch64__)
void fj__ctx_make(fj__ctx *c, void *stack_lo, size_t size, size_t guard, fj__ctx_entry fn, void *arg)
{
    (void)guard;
    uintptr_t top = ((uintptr_t)stack_lo + size) & ~(uintptr_t)15;
    fj__ctx_frame *frame = (fj__ctx_frame *)(top - FJ_CTX_AARCH64_FRAME);
    memset(frame, 0, FJ_CTX_AARCH64_FRAME);
    frame->x19 = (uint64_t)(uintptr_t)fn;
    frame->x20 = (uint64_t)(uintptr_t)arg;
    frame->x30 = (uint64_t)(uintptr_t)fj__ctx_trampoline;
#ifdef FJ_SAVE_FPU
    fj__ctx_fpu *fpu = (fj__ctx_fpu *)(void *)(frame + 1);
    fj__fpu_state st;
    fj__fpu_capture(&st);
    fpu->fpcr = st.fpcr;
#endif
    c->sp = frame;
}
#endif

#endif /* !FJ_CTX_USE_UCONTEXT */
