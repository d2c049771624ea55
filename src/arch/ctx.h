/*
 * Execution contexts: the one place that knows how a fiber's registers are kept.
 *
 * fj__ctx_switch(from, to) saves the callee-saved registers of the running code on
 * its own stack, stores the stack pointer in *from, loads to's stack pointer,
 * restores its registers and continues where `to` last switched away (or at its
 * entry function). It returns, on the resumed side, the context it came from,
 * so that side can finish the hand-off (the post-switch action, see sched.c).
 *
 * Layout of a suspended frame, shared by C (fj__ctx_make) and the assembly; the
 * offsets below are used by both (ctx.c and the .S files):
 *
 *   x86-64 (8-byte words, from the saved sp upward):
 *     [FJ_SAVE_FPU: mxcsr in the upper 4 bytes, x87 CW in the lower 2 of one word]
 *     r15 r14 r13 r12 rbx rbp <resume address>
 *   AArch64 (from the saved sp upward, 160 bytes, then 16 more with FJ_SAVE_FPU):
 *     x19..x28, x29, x30(resume address), d8..d15, [fpcr, pad]
 *
 * A new context starts in fj__ctx_trampoline, which finds the entry function and
 * its argument in two callee-saved registers (x86-64: r12, r13; AArch64: x19, x20).
 */
#ifndef FJ_CTX_H
#define FJ_CTX_H

#include <stddef.h>

#if defined(FJ_CTX_UCONTEXT) || !(defined(__x86_64__) || defined(__aarch64__))
#define FJ_CTX_USE_UCONTEXT 1
#include <ucontext.h>
#endif

typedef struct fj__ctx {
    void *sp;                 /* saved stack pointer (assembly switch) */
#ifdef FJ_CTX_USE_UCONTEXT
    struct fj__ctx *xfer;     /* set by whoever switches to this context */
    ucontext_t uc;
#endif
} fj__ctx;

typedef void (*fj__ctx_entry)(fj__ctx *from, void *arg);

/* Prepare c so that switching to it calls fn(from, arg) on the given stack.
 * fn must never return. */
void fj__ctx_make(fj__ctx *c, void *stack_lo, size_t size, fj__ctx_entry fn, void *arg);

fj__ctx *fj__ctx_switch(fj__ctx *from, fj__ctx *to);

#define FJ_CTX_X86_64_WORDS 7       /* r15 r14 r13 r12 rbx rbp resume */
#define FJ_CTX_X86_64_R13 2
#define FJ_CTX_X86_64_R12 3
#define FJ_CTX_X86_64_RESUME 6
#define FJ_CTX_AARCH64_BYTES 160
#define FJ_CTX_AARCH64_X19 0
#define FJ_CTX_AARCH64_X20 8
#define FJ_CTX_AARCH64_X30 88

#endif
