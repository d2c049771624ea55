/*
 * The portable context switch: POSIX ucontext (FIBERJOB_CONTEXT=ucontext, or an
 * architecture without an assembly switch). Slower (swapcontext saves and
 * restores the signal mask with a system call) but needs nothing of the
 * architecture.
 *
 * Invariant: the context being switched to learns where it came from through
 * its own record (to->xfer), never through a thread-local, because after
 * swapcontext returns the code may run on another thread. Compiles to nothing
 * when the assembly switch is used (ctx_make.c).
 */
#include "arch/ctx.h"

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

void fj__ctx_make(fj__ctx *c, void *stack_lo, size_t size, size_t guard, fj__ctx_entry fn, void *arg)
{
    (void)guard;
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
