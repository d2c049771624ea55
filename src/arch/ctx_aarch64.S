/* Context switch for AArch64 (AAPCS64). See ctx.h for the frame layout. */
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
#ifdef FJ_SAVE_FPU
    sub sp, sp, #176
    mrs x9, fpcr
    str x9, [sp, #160]
#else
    sub sp, sp, #160
#endif
    stp x19, x20, [sp, #0]
    stp x21, x22, [sp, #16]
    stp x23, x24, [sp, #32]
    stp x25, x26, [sp, #48]
    stp x27, x28, [sp, #64]
    stp x29, x30, [sp, #80]
    stp d8, d9, [sp, #96]
    stp d10, d11, [sp, #112]
    stp d12, d13, [sp, #128]
    stp d14, d15, [sp, #144]
    mov x9, sp
    str x9, [x0]
    ldr x9, [x1]
    mov sp, x9
    ldp x19, x20, [sp, #0]
    ldp x21, x22, [sp, #16]
    ldp x23, x24, [sp, #32]
    ldp x25, x26, [sp, #48]
    ldp x27, x28, [sp, #64]
    ldp x29, x30, [sp, #80]
    ldp d8, d9, [sp, #96]
    ldp d10, d11, [sp, #112]
    ldp d12, d13, [sp, #128]
    ldp d14, d15, [sp, #144]
#ifdef FJ_SAVE_FPU
    ldr x9, [sp, #160]
    msr fpcr, x9
    add sp, sp, #176
#else
    add sp, sp, #160
#endif
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
