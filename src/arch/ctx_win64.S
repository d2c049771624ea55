/*
 * Context switch for Windows x64 (the Microsoft x64 calling convention; GNU as
 * syntax for x86_64-w64-mingw32). See ctx.h for the frame layout.
 *
 * Callee-saved here: rbx, rbp, rdi, rsi, r12-r15 and all 128 bits of
 * xmm6-xmm15 (System V has no callee-saved xmm and treats rdi, rsi as
 * arguments). Arguments arrive in rcx and rdx.
 *
 * The thread information block's stack fields travel with the fiber: StackBase
 * (gs:0x08), StackLimit (gs:0x10) and the TEB's DeallocationStack (gs:0x1478)
 * are pushed with the registers and popped from the resumed context's frame.
 * Windows reads them on the running stack's behalf, and they must describe the
 * stack rsp is on:
 *   - stack probes: MSVC's __chkstk probes only below StackLimit (pages above
 *     it are taken as committed), so a stale limit skips the probes;
 *   - exceptions: the SEH dispatcher and RtlUnwindEx (which mingw-w64's C++
 *     unwinder uses) accept a frame only inside StackLimit..StackBase and stop
 *     a walk when rsp reaches StackBase; with the thread's values every frame
 *     on a fiber's stack is "invalid" and a throw ends the process;
 *   - stack growth and overflow: a PAGE_GUARD page is grown into (the next
 *     page committed, StackLimit moved down) only between DeallocationStack
 *     and StackBase, and STATUS_STACK_OVERFLOW is raised near
 *     DeallocationStack.
 * ExceptionList (gs:0x00) travels too. x64 SEH is table-based and Windows
 * leaves it alone, but Wine's ntdll chains its own internal handler frames
 * there and the dispatcher calls every chained frame whose address is below
 * rsp first: a frame of the thread's stack left in the list looks "inside" a
 * fiber's stack (when that lies higher) and its handler takes the fiber's
 * exceptions (a C++ throw never reached its catch). A new fiber starts with
 * the empty list (-1).
 * The switch leaves everything else in the TEB alone: FiberData (gs:0x20) and
 * the fiber-local storage slots belong to Windows' own fibers, which this is
 * not, and the TLS array is per thread, as it must be when a fiber resumes on
 * another worker.
 */
#define FJ_CTX_ASM 1
#include "ctx.h"

#ifdef FJ_CTX_WIN64

/* The pushes and stores below lay the frame out: each pushed word 8 bytes
 * below the one pushed before it, under the resume address, and the ten xmm
 * registers under those. Check that ctx.h agrees. */
    .if FJ_CTX_WIN64_RESUME != FJ_CTX_WIN64_RBP + 8 || FJ_CTX_WIN64_RBP != FJ_CTX_WIN64_RBX + 8 || \
        FJ_CTX_WIN64_RBX != FJ_CTX_WIN64_RDI + 8 || FJ_CTX_WIN64_RDI != FJ_CTX_WIN64_RSI + 8 || \
        FJ_CTX_WIN64_RSI != FJ_CTX_WIN64_R12 + 8 || FJ_CTX_WIN64_R12 != FJ_CTX_WIN64_R13 + 8 || \
        FJ_CTX_WIN64_R13 != FJ_CTX_WIN64_R14 + 8 || FJ_CTX_WIN64_R14 != FJ_CTX_WIN64_R15 + 8 || \
        FJ_CTX_WIN64_R15 != FJ_CTX_WIN64_DEALLOC + 8 || FJ_CTX_WIN64_DEALLOC != FJ_CTX_WIN64_STACK_LIMIT + 8 || \
        FJ_CTX_WIN64_STACK_LIMIT != FJ_CTX_WIN64_STACK_BASE + 8 || \
        FJ_CTX_WIN64_STACK_BASE != FJ_CTX_WIN64_EXCEPTION_LIST + 8 || \
        FJ_CTX_WIN64_EXCEPTION_LIST != FJ_CTX_WIN64_FCW + 8 || FJ_CTX_WIN64_MXCSR != FJ_CTX_WIN64_FCW + 4 || \
        FJ_CTX_WIN64_FCW != FJ_CTX_WIN64_XMM6 + 160 || FJ_CTX_WIN64_XMM6 != 0 || \
        FJ_CTX_WIN64_REGS != FJ_CTX_WIN64_RESUME + 8
    .error "src/arch/ctx.h does not describe the push order of ctx_win64.S"
    .endif

#define XMM(n) (FJ_CTX_WIN64_XMM6 + 16 * ((n) - 6))
#define ALLOC (FJ_CTX_WIN64_EXCEPTION_LIST - FJ_CTX_WIN64_XMM6)  /* xmm6-15 and the FP word */

    .text
    .globl fj__ctx_switch
    .def fj__ctx_switch; .scl 2; .type 32; .endef
    .p2align 4
/* fj__ctx *fj__ctx_switch(fj__ctx *from [rcx], fj__ctx *to [rdx])
 *
 * The unwind codes describe the save half, and since a suspended frame has
 * the same layout, they also describe the body after the stack swap: a stack
 * walk from any instruction between the end of the prologue and the first
 * restore finds the caller of whichever side is current. The restore half is
 * not an epilogue Windows recognises (pops into the TEB and an indirect jump), so
 * a walk that starts there gets a wrong frame; nothing in fiberjob walks from
 * there (exceptions never pass through the switch). */
    .seh_proc fj__ctx_switch
fj__ctx_switch:
    pushq %rbp
    .seh_pushreg %rbp
    pushq %rbx
    .seh_pushreg %rbx
    pushq %rdi
    .seh_pushreg %rdi
    pushq %rsi
    .seh_pushreg %rsi
    pushq %r12
    .seh_pushreg %r12
    pushq %r13
    .seh_pushreg %r13
    pushq %r14
    .seh_pushreg %r14
    pushq %r15
    .seh_pushreg %r15
    /* The TEB through its linear address (NT_TIB.Self, gs:0x30): pushes and
     * pops with a gs: operand cost about 7 ns more per round trip under Wine
     * here (16.5 against 9.6 ns). The resumed side runs on this thread, so
     * r10 (volatile) still holds this TEB for the pops below. */
    movq %gs:FJ_CTX_WIN64_TEB_SELF, %r10
    pushq FJ_CTX_WIN64_TEB_DEALLOC(%r10)
    pushq FJ_CTX_WIN64_TEB_STACK_LIMIT(%r10)
    pushq FJ_CTX_WIN64_TEB_STACK_BASE(%r10)
    pushq FJ_CTX_WIN64_TEB_EXCEPTION_LIST(%r10)
    .seh_stackalloc 32
    /* rsp was 8 below a 16-byte boundary at entry and is again after 12
     * pushes; the FP word puts it on one, so the xmm stores can be aligned. */
    subq $ALLOC, %rsp
    .seh_stackalloc ALLOC
    movaps %xmm6, XMM(6)(%rsp)
    .seh_savexmm %xmm6, XMM(6)
    movaps %xmm7, XMM(7)(%rsp)
    .seh_savexmm %xmm7, XMM(7)
    movaps %xmm8, XMM(8)(%rsp)
    .seh_savexmm %xmm8, XMM(8)
    movaps %xmm9, XMM(9)(%rsp)
    .seh_savexmm %xmm9, XMM(9)
    movaps %xmm10, XMM(10)(%rsp)
    .seh_savexmm %xmm10, XMM(10)
    movaps %xmm11, XMM(11)(%rsp)
    .seh_savexmm %xmm11, XMM(11)
    movaps %xmm12, XMM(12)(%rsp)
    .seh_savexmm %xmm12, XMM(12)
    movaps %xmm13, XMM(13)(%rsp)
    .seh_savexmm %xmm13, XMM(13)
    movaps %xmm14, XMM(14)(%rsp)
    .seh_savexmm %xmm14, XMM(14)
    movaps %xmm15, XMM(15)(%rsp)
    .seh_savexmm %xmm15, XMM(15)
    .seh_endprologue
#ifdef FJ_SAVE_FPU
    stmxcsr FJ_CTX_WIN64_MXCSR(%rsp)
    fnstcw FJ_CTX_WIN64_FCW(%rsp)
#endif
    movq %rsp, FJ_CTX_SP(%rcx)
    movq FJ_CTX_SP(%rdx), %rsp
#ifdef FJ_SAVE_FPU
    ldmxcsr FJ_CTX_WIN64_MXCSR(%rsp)
    fldcw FJ_CTX_WIN64_FCW(%rsp)
#endif
    movaps XMM(6)(%rsp), %xmm6
    movaps XMM(7)(%rsp), %xmm7
    movaps XMM(8)(%rsp), %xmm8
    movaps XMM(9)(%rsp), %xmm9
    movaps XMM(10)(%rsp), %xmm10
    movaps XMM(11)(%rsp), %xmm11
    movaps XMM(12)(%rsp), %xmm12
    movaps XMM(13)(%rsp), %xmm13
    movaps XMM(14)(%rsp), %xmm14
    movaps XMM(15)(%rsp), %xmm15
    addq $ALLOC, %rsp
    popq FJ_CTX_WIN64_TEB_EXCEPTION_LIST(%r10)
    popq FJ_CTX_WIN64_TEB_STACK_BASE(%r10)
    popq FJ_CTX_WIN64_TEB_STACK_LIMIT(%r10)
    popq FJ_CTX_WIN64_TEB_DEALLOC(%r10)
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rsi
    popq %rdi
    popq %rbx
    popq %rbp
    /* Return with an indirect jump, as ctx_x86_64.S does: a `ret` onto
     * another stack mispredicts the return-stack buffer on every switch (the
     * call that entered this switch was made on the other stack), which cost
     * 2-3x the whole switch on Linux. r8 is volatile in this convention. */
    popq %r8
    movq %rcx, %rax
    jmpq *%r8
    .seh_endproc

    .globl fj__ctx_trampoline
    .def fj__ctx_trampoline; .scl 2; .type 32; .endef
    .p2align 4
/* First code of a new context: entry(from = rax, arg = r13) with entry in r12.
 *
 * fj__ctx_make leaves rsp on a zero word right below StackBase: to an
 * unwinder the trampoline looks like a function that was called with return
 * address 0 and allocated 32 bytes. Unwinding it lands rsp on StackBase, where
 * the SEH dispatcher and RtlUnwindEx stop (the end of the stack, as at the
 * bottom of a thread), so a walk up a fiber's stack ends here without reading
 * anything above the stack. The 32 bytes are the callee's shadow space; rsp
 * arrives 16-byte aligned (the switch pops the resume address as a `ret`
 * would), so it is aligned at the call, as the convention requires. */
    .seh_proc fj__ctx_trampoline
fj__ctx_trampoline:
    subq $32, %rsp
    .seh_stackalloc 32
    .seh_endprologue
    movq %rax, %rcx
    movq %r13, %rdx
    callq *%r12
    ud2
    .seh_endproc

#endif /* FJ_CTX_WIN64 */
