/* Context switch for x86-64 System V. See ctx.h for the frame layout. */
#define FJ_CTX_ASM 1
#include "ctx.h"

#if defined(__x86_64__) && !defined(FJ_CTX_UCONTEXT)

/* The pushes and pops below lay the frame out: each register 8 bytes below the
 * one pushed before it, under the resume address. Check that ctx.h agrees. */
    .if FJ_CTX_X86_64_RESUME != FJ_CTX_X86_64_RBP + 8 || FJ_CTX_X86_64_RBP != FJ_CTX_X86_64_RBX + 8 || \
        FJ_CTX_X86_64_RBX != FJ_CTX_X86_64_R12 + 8 || FJ_CTX_X86_64_R12 != FJ_CTX_X86_64_R13 + 8 || \
        FJ_CTX_X86_64_R13 != FJ_CTX_X86_64_R14 + 8 || FJ_CTX_X86_64_R14 != FJ_CTX_X86_64_R15 + 8 || \
        FJ_CTX_X86_64_R15 != 0 || FJ_CTX_X86_64_REGS != FJ_CTX_X86_64_RESUME + 8
    .error "src/arch/ctx.h does not describe the push order of ctx_x86_64.S"
    .endif

    .text
    .globl fj__ctx_switch
    .hidden fj__ctx_switch
    .type fj__ctx_switch, @function
    .p2align 4
/* fj__ctx *fj__ctx_switch(fj__ctx *from [rdi], fj__ctx *to [rsi]) */
fj__ctx_switch:
    .cfi_startproc
    endbr64
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
#ifdef FJ_SAVE_FPU
    subq $FJ_CTX_X86_64_FPU, %rsp
    stmxcsr FJ_CTX_X86_64_MXCSR(%rsp)
    fnstcw FJ_CTX_X86_64_FCW(%rsp)
#endif
    movq %rsp, FJ_CTX_SP(%rdi)
    movq FJ_CTX_SP(%rsi), %rsp
#ifdef FJ_SAVE_FPU
    ldmxcsr FJ_CTX_X86_64_MXCSR(%rsp)
    fldcw FJ_CTX_X86_64_FCW(%rsp)
    addq $FJ_CTX_X86_64_FPU, %rsp
#endif
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    /* Return with an indirect jump: a `ret` onto another stack mispredicts the
     * return-stack buffer on every switch (18-20 ns against 6.5-7.5 ns here).
     * This jump goes to a return address, which has no endbr64, so the switch
     * is not IBT-clean and the object does not claim IBT or SHSTK. */
    popq %rcx
    movq %rdi, %rax
    jmpq *%rcx
    .cfi_endproc
    .size fj__ctx_switch, .-fj__ctx_switch

    .globl fj__ctx_trampoline
    .hidden fj__ctx_trampoline
    .type fj__ctx_trampoline, @function
    .p2align 4
/* First code of a new context: entry(from = rax, arg = r13) with entry in r12. */
fj__ctx_trampoline:
    .cfi_startproc
    .cfi_undefined rip
    endbr64
    movq %rax, %rdi
    movq %r13, %rsi
    andq $-16, %rsp
    callq *%r12
    ud2
    .cfi_endproc
    .size fj__ctx_trampoline, .-fj__ctx_trampoline

    .globl fj__ctx_call_on
    .hidden fj__ctx_call_on
    .type fj__ctx_call_on, @function
    .p2align 4
/* void fj__ctx_call_on(void *arg [rdi], void (*fn)(void *) [rsi], void *top [rdx])
 * fn(arg) on the stack below `top`, then back. rbp holds our frame (callee-
 * saved, so fn gives it back) and is the CFA register for unwinders. top is
 * 16-byte aligned, so rsp is 8 mod 16 at fn's entry, as the ABI wants. */
fj__ctx_call_on:
    .cfi_startproc
    endbr64
    pushq %rbp
    .cfi_def_cfa_offset 16
    .cfi_offset %rbp, -16
    movq %rsp, %rbp
    .cfi_def_cfa_register %rbp
    movq %rdx, %rsp
    callq *%rsi
    movq %rbp, %rsp
    .cfi_def_cfa_register %rsp
    popq %rbp
    .cfi_def_cfa_offset 8
    ret
    .cfi_endproc
    .size fj__ctx_call_on, .-fj__ctx_call_on

#endif
    .section .note.GNU-stack, "", @progbits
