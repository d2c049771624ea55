/*
 * Windows x64: the crash path of os.h (mingw-w64), split from os_windows.c
 * (which has the rest, and says why the Win32 API alone): each thread's
 * alternate stack, the vectored exception handler that stands for Linux's
 * SIGSEGV handler, writing to stderr and ending the process. With
 * os_windows.c the only files of the library that include <windows.h>.
 * Process-wide state: the vectored exception handler (installed and removed
 * under fault_lock, counted).
 */
#include "os.h"
#include "atomics.h"
#include "arch/ctx.h"

#include <errno.h>
#include <string.h>

#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#ifndef NOMINMAX
#define NOMINMAX
#endif
#include <windows.h>
/* As in os_windows.c: no lower-case macro of windows.h reaches the files the
 * unity build includes after this one. */
#undef near
#undef far
#undef small
#undef interface

/* ------------------------------------------------------------ alternate stacks */

/* Windows has no signals and no sigaltstack: a thread's alternate stack is
 * recorded here (a pointer to the caller's record, which holds the switch
 * contexts too, so the handler touches no thread-local storage of its own
 * but this pointer, a TLS slot read from the thread information block). */
FJ__OS_THREAD_LOCAL(fj__os_altstack *, alt_cur, FJ__TLS_ALTSTACK)

int fj__os_altstack_enter(fj__os_altstack *a)
{
    fj__os_altstack *cur = alt_cur_get();
    a->prev = cur;
    a->prev_base = cur ? cur->base : NULL;
    a->prev_size = cur ? cur->size : 0;
    a->prev_flags = 0;
    a->in_handler = false;
    alt_cur_set(a);
    a->active = true;
    return 0;
}

void fj__os_altstack_leave(fj__os_altstack *a)
{
    if (!a->active)
        return;
    alt_cur_set(a->prev);
    a->active = false;
}

/* ------------------------------------------------------------ faults */

/* Written once, before the first install; read by the handler on any thread. */
static fj__os_fault_fn fault_fn;
static PVOID fault_veh;
static int fault_refs;
static fj__os_mutex fault_lock = FJ__OS_MUTEX_INIT;

/* NT_TIB.StackLimit of the running thread: the lowest committed address of
 * the stack it runs on (gs:0x10 on x64; NtCurrentTeb()->StackLimit, which
 * gcc 12 inlines into a false -Warray-bounds). */
static void *stack_limit(void)
{
    void *limit;
    __asm__("movq %%gs:0x10, %0" : "=r"(limit));
    return limit;
}

/* What the handler passes to the code it runs on the alternate stack. */
typedef struct fault_call {
    fj__os_fault_fn fn;
    void *addr;
} fault_call;

_Static_assert(sizeof(fj__ctx) == sizeof(void *), "fj__os_altstack.fault_sp holds an fj__ctx");

/* First code on the alternate stack: the handler's call, then back to the
 * handler (which resumes in its fj__ctx_switch) if fn returned. The context
 * made on the alternate stack is never resumed: the next fault makes it anew. */
static void fault_on_altstack(fj__ctx *from, void *arg)
{
    fault_call *call = arg;
    call->fn(call->addr);
    fj__ctx_switch((fj__ctx *)(void *)&alt_cur_get()->fault_sp[1], from);
    __builtin_unreachable();
}

/*
 * The vectored exception handler: first in line for every exception of the
 * process, before any frame's __try or SEH handler. An access violation
 * passes its address (ExceptionInformation[1]); a stack overflow (a stack's
 * guard pages used up: fj__os_stack_guard) passes an address just below the
 * stack's committed limit, inside the gap below a fiber's stack when a job
 * overflowed it. A guard page touched outside a stack's limits (a guard page
 * the system did not see as a stack's) passes its address too. fn runs on the
 * thread's alternate stack when it has one (a worker's: overflow.c), as the
 * signal handler does on Linux: Windows dispatches the exception on the
 * faulting stack, which after an overflow has only the guarantee's few pages
 * left, too little for the report's formatting. If fn returns, the exception
 * goes on its way (EXCEPTION_CONTINUE_SEARCH): the program's handlers, or
 * Windows' default, which ends the process. A fault inside fn itself (the
 * alternate stack is in use) is passed on at once.
 */
static LONG CALLBACK fault_handler(EXCEPTION_POINTERS *ep)
{
    fj__os_fault_fn fn = fj_load_relaxed(&fault_fn);
    const EXCEPTION_RECORD *er = ep->ExceptionRecord;
    if (!fn)
        return EXCEPTION_CONTINUE_SEARCH;
    fault_call call = { fn, NULL };
    if ((er->ExceptionCode == EXCEPTION_ACCESS_VIOLATION || er->ExceptionCode == EXCEPTION_GUARD_PAGE) &&
        er->NumberParameters >= 2)
        call.addr = (void *)er->ExceptionInformation[1];
    else if (er->ExceptionCode == EXCEPTION_STACK_OVERFLOW)
        call.addr = (char *)stack_limit() - 1;
    else
        return EXCEPTION_CONTINUE_SEARCH;
    fj__os_altstack *a = alt_cur_get();
    if (!a || !a->base || a->size == 0) {
        fn(call.addr);
        return EXCEPTION_CONTINUE_SEARCH;
    }
    if (a->in_handler)
        return EXCEPTION_CONTINUE_SEARCH;
    a->in_handler = true;
    fj__ctx *back = (fj__ctx *)(void *)&a->fault_sp[0];
    fj__ctx *alt = (fj__ctx *)(void *)&a->fault_sp[1];
    fj__ctx_make(alt, a->base, a->size, 0, fault_on_altstack, &call);
    fj__ctx_switch(back, alt);
    a->in_handler = false;
    return EXCEPTION_CONTINUE_SEARCH;
}

int fj__os_fault_install(fj__os_fault_fn fn)
{
    int rc = 0;
    fj__os_mutex_lock(&fault_lock);
    if (fault_refs++ == 0) {
        fj_store_relaxed(&fault_fn, fn);
        fault_veh = AddVectoredExceptionHandler(1, fault_handler);
        if (!fault_veh)
            rc = -ENOMEM;
    }
    fj__os_mutex_unlock(&fault_lock);
    return rc;
}

void fj__os_fault_uninstall(void)
{
    fj__os_mutex_lock(&fault_lock);
    if (--fault_refs == 0 && fault_veh) {
        RemoveVectoredExceptionHandler(fault_veh);
        fault_veh = NULL;
    }
    fj__os_mutex_unlock(&fault_lock);
}

void fj__os_write_stderr(const char *s)
{
    DWORD written;
    HANDLE h = GetStdHandle(STD_ERROR_HANDLE);
    if (h && h != INVALID_HANDLE_VALUE)
        WriteFile(h, s, (DWORD)strlen(s), &written, NULL);
}

void fj__os_abort(void)
{
    /* What abort() does on Windows, without its message box or message:
     * the process ends at once with exit code 3. */
    for (;;)
        TerminateProcess(GetCurrentProcess(), 3);
}
