/* Context switch for AArch64 (AAPCS64). See ctx.h for the frame layout. */
#define FJ_CTX_ASM 1
#include "ctx.h"

#if defined(__aarch64__) && !defined(FJ_CTX_UCONTEXT)

    .text
    .globl fj__ctx_switch
    .hidden fj__ctx_switch
    .type fj__ctx_switch, %function
    .p2align 4
/* fj__ctx *fj__ctx_switch(fj__ctx *from [x0], fj__ctx *to [x1]) */
fj__ctx_switch:
    hint #34
    .cfi_startproc
    sub sp, sp, #FJ_CTX_AARCH64_FRAME
#ifdef FJ_SAVE_FPU
    mrs x9, fpcr
    str x9, [sp, #FJ_CTX_AARCH64_FPCR]
#endif
    stp x19, x20, [sp, #FJ_CTX_AARCH64_X19]
    stp x21, x22, [sp, #FJ_CTX_AARCH64_X21]
    stp x23, x24, [sp, #FJ_CTX_AARCH64_X23]
    stp x25, x26, [sp, #FJ_CTX_AARCH64_X25]
    stp x27, x28, [sp, #FJ_CTX_AARCH64_X27]
    stp x29, x30, [sp, #FJ_CTX_AARCH64_X29]
    stp d8, d9, [sp, #FJ_CTX_AARCH64_D8]
    stp d10, d11, [sp, #FJ_CTX_AARCH64_D10]
    stp d12, d13, [sp, #FJ_CTX_AARCH64_D12]
    stp d14, d15, [sp, #FJ_CTX_AARCH64_D14]
    mov x9, sp
    str x9, [x0, #FJ_CTX_SP]
    ldr x9, [x1, #FJ_CTX_SP]
    mov sp, x9
    ldp x19, x20, [sp, #FJ_CTX_AARCH64_X19]
    ldp x21, x22, [sp, #FJ_CTX_AARCH64_X21]
    ldp x23, x24, [sp, #FJ_CTX_AARCH64_X23]
    ldp x25, x26, [sp, #FJ_CTX_AARCH64_X25]
    ldp x27, x28, [sp, #FJ_CTX_AARCH64_X27]
    ldp x29, x30, [sp, #FJ_CTX_AARCH64_X29]
    ldp d8, d9, [sp, #FJ_CTX_AARCH64_D8]
    ldp d10, d11, [sp, #FJ_CTX_AARCH64_D10]
    ldp d12, d13, [sp, #FJ_CTX_AARCH64_D12]
    ldp d14, d15, [sp, #FJ_CTX_AARCH64_D14]
#ifdef FJ_SAVE_FPU
    ldr x9, [sp, #FJ_CTX_AARCH64_FPCR]
    msr fpcr, x9
#endif
    add sp, sp, #FJ_CTX_AARCH64_FRAME
    /* x0 still holds `from`: the return value. Branch rather than `ret` so the
     * return-address predictor is not trained on a stack we are leaving. With
     * BTI enforced a `br` must land on a landing pad, which a return address is
     * not, so BTI builds return with `ret` (and pay the misprediction). */
#if defined(__ARM_FEATURE_BTI_DEFAULT)
    ret
#else
    br x30
#endif
    .cfi_endproc
    .size fj__ctx_switch, .-fj__ctx_switch

    .globl fj__ctx_trampoline
    .hidden fj__ctx_trampoline
    .type fj__ctx_trampoline, %function
    .p2align 4
/* First code of a new context: entry(from = x0, arg = x20) with entry in x19. */
fj__ctx_trampoline:
    hint #36
    .cfi_startproc
    .cfi_undefined x30
    mov x29, #0
    mov x1, x20
    blr x19
    brk #0
    .cfi_endproc
    .size fj__ctx_trampoline, .-fj__ctx_trampoline

    .globl fj__ctx_call_on
    .hidden fj__ctx_call_on
    .type fj__ctx_call_on, %function
    .p2align 4
/* void fj__ctx_call_on(void *arg [x0], void (*fn)(void *) [x1], void *top [x2])
 * fn(arg) on the stack below `top` (16-byte aligned), then back. x29 holds our
 * frame (callee-saved, so fn gives it back) and is the CFA register. */
fj__ctx_call_on:
    hint #34
    .cfi_startproc
    stp x29, x30, [sp, #-16]!
    .cfi_def_cfa_offset 16
    .cfi_offset x29, -16
    .cfi_offset x30, -8
    mov x29, sp
    .cfi_def_cfa_register x29
    mov sp, x2
    blr x1
    mov sp, x29
    .cfi_def_cfa_register sp
    ldp x29, x30, [sp], #16
    .cfi_def_cfa_offset 0
    .cfi_restore x29
    .cfi_restore x30
    ret
    .cfi_endproc
    .size fj__ctx_call_on, .-fj__ctx_call_on

#endif
    .section .note.GNU-stack, "", %progbits

#if defined(__ARM_FEATURE_BTI_DEFAULT) || defined(__ARM_FEATURE_PAC_DEFAULT)
#if defined(__ARM_FEATURE_BTI_DEFAULT)
#define FJ_GNU_PROP_BTI 1
#else
#define FJ_GNU_PROP_BTI 0
#endif
#if defined(__ARM_FEATURE_PAC_DEFAULT)
#define FJ_GNU_PROP_PAC 2
#else
#define FJ_GNU_PROP_PAC 0
#endif
    .pushsection .note.gnu.property, "a"
    .balign 8
    .long 4
    .long 16
    .long 5
    .asciz "GNU"
    .long 0xc0000000
    .long 4
    .long FJ_GNU_PROP_BTI | FJ_GNU_PROP_PAC
    .long 0
    .popsection
#endif
