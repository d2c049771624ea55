/*
 * Execution contexts: the one place that knows how a fiber's registers are kept.
 *
 * fj__ctx_switch(from, to) saves the callee-saved registers of the running code on
 * its own stack, stores the stack pointer in *from, loads to's stack pointer,
 * restores its registers and continues where `to` last switched away (or at its
 * entry function). It returns, on the resumed side, the context it came from,
 * so that side can finish the hand-off (the post-switch action, see sched.c).
 *
 * This header is shared by C and by the assembly: ctx_x86_64.S and
 * ctx_aarch64.S define FJ_CTX_ASM and include it, and see only the offsets
 * below (plain numbers); everything C is hidden from them. On the C side the
 * frame structs that ctx_make.c fills are checked against the same offsets
 * with _Static_assert, so C and assembly cannot disagree on the layout.
 * tools/gdb/fiberjob.py reads suspended frames too: keep it in step.
 *
 * Layout of a suspended frame, from the saved sp upward (byte offsets):
 *
 *   x86-64: the switch pushes rbp, rbx, r12, r13, r14, r15 below the resume
 *     address its caller's call pushed, so
 *       r15 +0, r14 +8, r13 +16, r12 +24, rbx +32, rbp +40, resume +48;
 *     with FJ_SAVE_FPU one more 8-byte word below these: the x87 control word
 *     at +0 of it, MXCSR at +4.
 *   AArch64: stp pairs x19/x20 +0 ... x29/x30 +80, d8/d9 +96 ... d14/d15 +144
 *     (160 bytes); with FJ_SAVE_FPU then FPCR at +160 and a pad word (sp stays
 *     16-byte aligned).
 *   Windows x64 (ctx_win64.S, the Microsoft convention): the switch pushes rbp,
 *     rbx, rdi, rsi, r12-r15, then the thread information block's
 *     DeallocationStack, StackLimit, StackBase and ExceptionList, reserves a
 *     word for the FP control words and stores xmm6-xmm15 below, so
 *       xmm6 +0 ... xmm15 +144 (16 each), x87 control word +160, MXCSR +164
 *       (written only with FJ_SAVE_FPU; the word also keeps sp 16-byte
 *       aligned for movaps), ExceptionList +168, StackBase +176,
 *       StackLimit +184, DeallocationStack +192, r15 +200, r14 +208,
 *       r13 +216, r12 +224, rsi +232, rdi +240, rbx +248, rbp +256,
 *       resume +264 (272 bytes).
 *
 * A new context starts in fj__ctx_trampoline, which finds the entry function and
 * its argument in two callee-saved registers (x86-64 and Windows x64: r12, r13;
 * AArch64: x19, x20).
 */
#ifndef FJ_CTX_H
#define FJ_CTX_H

/* fj__ctx.sp: where the switch stores and loads the stack pointer. */
#define FJ_CTX_SP 0

/* Which switch: Windows x64 has its own (another calling convention, and the
 * thread information block's stack fields travel with the fiber). There is no
 * ucontext on Windows. */
#if defined(_WIN32) && defined(__x86_64__)
#ifdef FJ_CTX_UCONTEXT
#error "FIBERJOB_CONTEXT=ucontext does not exist on Windows: use the asm switch"
#endif
#define FJ_CTX_WIN64 1
#endif

/* x86-64, the order of the pushes in ctx_x86_64.S (which checks it). */
#define FJ_CTX_X86_64_R15 0
#define FJ_CTX_X86_64_R14 8
#define FJ_CTX_X86_64_R13 16
#define FJ_CTX_X86_64_R12 24
#define FJ_CTX_X86_64_RBX 32
#define FJ_CTX_X86_64_RBP 40
#define FJ_CTX_X86_64_RESUME 48
#define FJ_CTX_X86_64_REGS 56       /* bytes, resume address included */
/* FJ_SAVE_FPU: the word below the registers. */
#define FJ_CTX_X86_64_FCW 0
#define FJ_CTX_X86_64_MXCSR 4
#define FJ_CTX_X86_64_FPU 8         /* bytes */

/* AArch64: each names the offset of an stp/ldp pair's first register. */
#define FJ_CTX_AARCH64_X19 0
#define FJ_CTX_AARCH64_X21 16
#define FJ_CTX_AARCH64_X23 32
#define FJ_CTX_AARCH64_X25 48
#define FJ_CTX_AARCH64_X27 64
#define FJ_CTX_AARCH64_X29 80       /* x29, then x30: the resume address */
#define FJ_CTX_AARCH64_D8 96
#define FJ_CTX_AARCH64_D10 112
#define FJ_CTX_AARCH64_D12 128
#define FJ_CTX_AARCH64_D14 144
#define FJ_CTX_AARCH64_REGS 160     /* bytes */
/* FJ_SAVE_FPU: FPCR above the registers, and a pad word. */
#define FJ_CTX_AARCH64_FPCR 160
#define FJ_CTX_AARCH64_FPU 16       /* bytes */
#ifdef FJ_SAVE_FPU
#define FJ_CTX_AARCH64_FRAME 176    /* REGS + FPU: what the switch reserves */
#else
#define FJ_CTX_AARCH64_FRAME 160
#endif

/* Windows x64, the order of the pushes and stores in ctx_win64.S (which checks it). */
#define FJ_CTX_WIN64_XMM6 0         /* xmm6 + 16 * (n - 6) for xmm<n>, up to xmm15 +144 */
#define FJ_CTX_WIN64_FCW 160        /* FJ_SAVE_FPU only */
#define FJ_CTX_WIN64_MXCSR 164      /* FJ_SAVE_FPU only */
#define FJ_CTX_WIN64_EXCEPTION_LIST 168
#define FJ_CTX_WIN64_STACK_BASE 176
#define FJ_CTX_WIN64_STACK_LIMIT 184
#define FJ_CTX_WIN64_DEALLOC 192
#define FJ_CTX_WIN64_R15 200
#define FJ_CTX_WIN64_R14 208
#define FJ_CTX_WIN64_R13 216
#define FJ_CTX_WIN64_R12 224
#define FJ_CTX_WIN64_RSI 232
#define FJ_CTX_WIN64_RDI 240
#define FJ_CTX_WIN64_RBX 248
#define FJ_CTX_WIN64_RBP 256
#define FJ_CTX_WIN64_RESUME 264
#define FJ_CTX_WIN64_REGS 272       /* bytes, resume address included */
/* The thread information block (NT_TIB at the start of the TEB, gs:0): its
 * exception list, stack fields and own address, and the TEB's
 * DeallocationStack. */
#define FJ_CTX_WIN64_TEB_EXCEPTION_LIST 0x00
#define FJ_CTX_WIN64_TEB_SELF 0x30        /* NT_TIB.Self: the TEB's linear address */
#define FJ_CTX_WIN64_TEB_STACK_BASE 0x08
#define FJ_CTX_WIN64_TEB_STACK_LIMIT 0x10
#define FJ_CTX_WIN64_TEB_DEALLOC 0x1478

#ifndef FJ_CTX_ASM

#include <stddef.h>
#include <stdint.h>

#if !defined(FJ_CTX_WIN64) && (defined(FJ_CTX_UCONTEXT) || !(defined(__x86_64__) || defined(__aarch64__)))
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

_Static_assert(offsetof(fj__ctx, sp) == FJ_CTX_SP, "the switch finds sp at FJ_CTX_SP");

typedef void (*fj__ctx_entry)(fj__ctx *from, void *arg);

/* Prepare c so that switching to it calls fn(from, arg) on the stack
 * [stack_lo, stack_lo + size). guard: the bytes of inaccessible gap right below
 * stack_lo that belong to this stack (0 if none); Windows records the lowest
 * address of the reservation in the TEB (DeallocationStack), the other
 * switches ignore it. fn must never return. */
void fj__ctx_make(fj__ctx *c, void *stack_lo, size_t size, size_t guard, fj__ctx_entry fn, void *arg);

fj__ctx *fj__ctx_switch(fj__ctx *from, fj__ctx *to);

/* Call fn(arg) with the stack pointer moved to `top` (16-byte aligned, the
 * high end of another stack segment of the same fiber) and come back to the
 * caller's stack when fn returns: an ordinary call and return on another
 * stack, not a context switch (segment.c). The frame keeps
 * the caller's stack pointer in the frame pointer register with call frame
 * information, so debuggers and unwinders walk from fn's frames to the
 * caller's. Not on Windows (the thread information block's stack fields
 * would have to follow) nor with the ucontext switch: FJ_CTX_HAS_CALL_ON 0. */
#if !defined(FJ_CTX_WIN64) && !defined(FJ_CTX_USE_UCONTEXT)
#define FJ_CTX_HAS_CALL_ON 1
void fj__ctx_call_on(void *arg, void (*fn)(void *), void *top);
#else
#define FJ_CTX_HAS_CALL_ON 0
#endif

#if defined(FJ_CTX_WIN64)
/* A suspended frame as the switch leaves it (ctx_make.c builds the first one). */
typedef struct fj__ctx_frame {
    uint64_t xmm[10][2];      /* xmm6..xmm15, low quadword first */
    uint16_t fcw;             /* FJ_SAVE_FPU: the x87 control word */
    uint16_t pad;
    uint32_t mxcsr;           /* FJ_SAVE_FPU */
    uint64_t exception_list, stack_base, stack_limit, dealloc;
    uint64_t r15, r14, r13, r12, rsi, rdi, rbx, rbp;
    uint64_t resume;
} fj__ctx_frame;
_Static_assert(offsetof(fj__ctx_frame, xmm) == FJ_CTX_WIN64_XMM6, "ctx.h: xmm6");
_Static_assert(offsetof(fj__ctx_frame, xmm[9]) == FJ_CTX_WIN64_XMM6 + 9 * 16, "ctx.h: xmm15");
_Static_assert(offsetof(fj__ctx_frame, fcw) == FJ_CTX_WIN64_FCW, "ctx.h: x87 control word");
_Static_assert(offsetof(fj__ctx_frame, mxcsr) == FJ_CTX_WIN64_MXCSR, "ctx.h: MXCSR");
_Static_assert(offsetof(fj__ctx_frame, exception_list) == FJ_CTX_WIN64_EXCEPTION_LIST, "ctx.h: ExceptionList");
_Static_assert(offsetof(fj__ctx_frame, stack_base) == FJ_CTX_WIN64_STACK_BASE, "ctx.h: StackBase");
_Static_assert(offsetof(fj__ctx_frame, stack_limit) == FJ_CTX_WIN64_STACK_LIMIT, "ctx.h: StackLimit");
_Static_assert(offsetof(fj__ctx_frame, dealloc) == FJ_CTX_WIN64_DEALLOC, "ctx.h: DeallocationStack");
_Static_assert(offsetof(fj__ctx_frame, r15) == FJ_CTX_WIN64_R15, "ctx.h: r15");
_Static_assert(offsetof(fj__ctx_frame, r14) == FJ_CTX_WIN64_R14, "ctx.h: r14");
_Static_assert(offsetof(fj__ctx_frame, r13) == FJ_CTX_WIN64_R13, "ctx.h: r13");
_Static_assert(offsetof(fj__ctx_frame, r12) == FJ_CTX_WIN64_R12, "ctx.h: r12");
_Static_assert(offsetof(fj__ctx_frame, rsi) == FJ_CTX_WIN64_RSI, "ctx.h: rsi");
_Static_assert(offsetof(fj__ctx_frame, rdi) == FJ_CTX_WIN64_RDI, "ctx.h: rdi");
_Static_assert(offsetof(fj__ctx_frame, rbx) == FJ_CTX_WIN64_RBX, "ctx.h: rbx");
_Static_assert(offsetof(fj__ctx_frame, rbp) == FJ_CTX_WIN64_RBP, "ctx.h: rbp");
_Static_assert(offsetof(fj__ctx_frame, resume) == FJ_CTX_WIN64_RESUME, "ctx.h: resume address");
_Static_assert(sizeof(fj__ctx_frame) == FJ_CTX_WIN64_REGS, "ctx.h: Windows x64 frame size");
_Static_assert(FJ_CTX_WIN64_REGS % 16 == 0, "ctx.h: the saved sp stays 16-byte aligned");
#elif !defined(FJ_CTX_USE_UCONTEXT) && defined(__x86_64__)
/* A suspended frame as the switch leaves it (ctx_make.c builds the first one). */
typedef struct fj__ctx_frame {
    uint64_t r15, r14, r13, r12, rbx, rbp;
    uint64_t resume;
} fj__ctx_frame;
typedef struct fj__ctx_fpu {
    uint16_t fcw;
    uint16_t pad;
    uint32_t mxcsr;
} fj__ctx_fpu;
_Static_assert(offsetof(fj__ctx_frame, r15) == FJ_CTX_X86_64_R15, "ctx.h: r15");
_Static_assert(offsetof(fj__ctx_frame, r14) == FJ_CTX_X86_64_R14, "ctx.h: r14");
_Static_assert(offsetof(fj__ctx_frame, r13) == FJ_CTX_X86_64_R13, "ctx.h: r13");
_Static_assert(offsetof(fj__ctx_frame, r12) == FJ_CTX_X86_64_R12, "ctx.h: r12");
_Static_assert(offsetof(fj__ctx_frame, rbx) == FJ_CTX_X86_64_RBX, "ctx.h: rbx");
_Static_assert(offsetof(fj__ctx_frame, rbp) == FJ_CTX_X86_64_RBP, "ctx.h: rbp");
_Static_assert(offsetof(fj__ctx_frame, resume) == FJ_CTX_X86_64_RESUME, "ctx.h: resume address");
_Static_assert(sizeof(fj__ctx_frame) == FJ_CTX_X86_64_REGS, "ctx.h: x86-64 frame size");
_Static_assert(offsetof(fj__ctx_fpu, fcw) == FJ_CTX_X86_64_FCW, "ctx.h: x87 control word");
_Static_assert(offsetof(fj__ctx_fpu, mxcsr) == FJ_CTX_X86_64_MXCSR, "ctx.h: MXCSR");
_Static_assert(sizeof(fj__ctx_fpu) == FJ_CTX_X86_64_FPU, "ctx.h: x86-64 FP control word");
#elif !defined(FJ_CTX_USE_UCONTEXT) && defined(__aarch64__)
typedef struct fj__ctx_frame {
    uint64_t x19, x20, x21, x22, x23, x24, x25, x26, x27, x28, x29, x30;
    uint64_t d8, d9, d10, d11, d12, d13, d14, d15; /* the low 64 bits of v8-v15 */
} fj__ctx_frame;
typedef struct fj__ctx_fpu {
    uint64_t fpcr;
    uint64_t pad;
} fj__ctx_fpu;
_Static_assert(offsetof(fj__ctx_frame, x19) == FJ_CTX_AARCH64_X19, "ctx.h: x19");
_Static_assert(offsetof(fj__ctx_frame, x20) == FJ_CTX_AARCH64_X19 + 8, "ctx.h: x20");
_Static_assert(offsetof(fj__ctx_frame, x21) == FJ_CTX_AARCH64_X21, "ctx.h: x21");
_Static_assert(offsetof(fj__ctx_frame, x23) == FJ_CTX_AARCH64_X23, "ctx.h: x23");
_Static_assert(offsetof(fj__ctx_frame, x25) == FJ_CTX_AARCH64_X25, "ctx.h: x25");
_Static_assert(offsetof(fj__ctx_frame, x27) == FJ_CTX_AARCH64_X27, "ctx.h: x27");
_Static_assert(offsetof(fj__ctx_frame, x29) == FJ_CTX_AARCH64_X29, "ctx.h: x29");
_Static_assert(offsetof(fj__ctx_frame, x30) == FJ_CTX_AARCH64_X29 + 8, "ctx.h: x30");
_Static_assert(offsetof(fj__ctx_frame, d8) == FJ_CTX_AARCH64_D8, "ctx.h: d8");
_Static_assert(offsetof(fj__ctx_frame, d10) == FJ_CTX_AARCH64_D10, "ctx.h: d10");
_Static_assert(offsetof(fj__ctx_frame, d12) == FJ_CTX_AARCH64_D12, "ctx.h: d12");
_Static_assert(offsetof(fj__ctx_frame, d14) == FJ_CTX_AARCH64_D14, "ctx.h: d14");
_Static_assert(sizeof(fj__ctx_frame) == FJ_CTX_AARCH64_REGS, "ctx.h: AArch64 frame size");
_Static_assert(FJ_CTX_AARCH64_FPCR == FJ_CTX_AARCH64_REGS, "ctx.h: FPCR right above the registers");
_Static_assert(sizeof(fj__ctx_fpu) == FJ_CTX_AARCH64_FPU, "ctx.h: AArch64 FP control words");
#ifdef FJ_SAVE_FPU
_Static_assert(FJ_CTX_AARCH64_FRAME == FJ_CTX_AARCH64_REGS + FJ_CTX_AARCH64_FPU, "ctx.h: frame with FPCR");
#else
_Static_assert(FJ_CTX_AARCH64_FRAME == FJ_CTX_AARCH64_REGS, "ctx.h: frame without FPCR");
#endif
_Static_assert(FJ_CTX_AARCH64_FRAME % 16 == 0, "ctx.h: sp stays 16-byte aligned");
#endif

#endif /* !FJ_CTX_ASM */

#endif
