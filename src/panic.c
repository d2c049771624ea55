/*
 * Failure safety: fj_panic, the job boundary it unwinds to, and the report of a
 * stack overflow.
 *
 * Every job is called through fj__job_call, which records a boundary (a
 * __builtin_setjmp buffer, a few stores) on the fiber. fj_panic formats its
 * message into the fiber's record, reports it, and starts a *forced unwind*
 * (_Unwind_ForcedUnwind, as pthread_cancel does) whose stop function lets the
 * unwinder run the cleanups of every frame below the boundary: C++ destructors,
 * and __attribute__((cleanup)) handlers in code built with -fexceptions. When
 * the unwinder reaches the boundary's frame (or the end of the fiber's stack,
 * or finds a frame it cannot unwind) the stop function jumps to the boundary.
 * If forced unwinding cannot start at all, fj_panic jumps straight there. The
 * caller of fj__job_call then counts the panic on the job's counter and
 * finishes the job as usual, so nothing that waits on it hangs.
 *
 * Stack overflow: each fiber stack has a PROT_NONE guard page below it. A
 * SIGSEGV handler running on a per-worker alternate signal stack checks whether
 * the faulting address is in a guard page; if so it reports the job, its stack
 * size and the worker, says how to fix it, and aborts. Any other fault goes to
 * the handler that was installed before ours.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <unwind.h>

#include "internal.h"
#include "os.h"

_Static_assert(sizeof(struct _Unwind_Exception) <= sizeof(((fj__fiber *)0)->unwind_exc),
               "room for the unwind exception in the fiber record");


int fj__cxx_invoke(void (*fn)(void *), void *arg, char *msg, size_t cap);
static void panic_report(fj__worker *w, fj__fiber *self);

#ifdef FJ_HAVE_CXX_BOUNDARY
/* With the C++ boundary the job is called inside a try block (free until
 * something is thrown) whose catch-all also stops fj_panic's forced unwind:
 * no per-job setjmp. */
bool fj__job_call(fj__fiber *self, const fj__task *t)
{
    self->job_depth++;
    int r = fj__cxx_invoke(t->fn, t->arg, self->panic_msg, sizeof self->panic_msg);
    self->job_depth--;
    if (FJ_LIKELY(r == 0)) {
        self->unwinding = false; /* a job's own catch(...) may have swallowed a panic */
        return false;
    }
    if (r == 1) {
        /* A C++ exception escaped the job; its frames are already unwound. */
        panic_report(fj__current_worker(), self);
    }
    /* r == 2: the forced unwind of fj_panic reached the boundary (reported). */
    self->unwinding = false;
    return true;
}
#else
FJ_NOINLINE bool fj__job_call(fj__fiber *self, const fj__task *t)
{
    fj__boundary b;
    b.prev = self->boundary;
    if (__builtin_setjmp(b.jb) != 0) {
        /* Arrived from fj_panic: `self` is the same fiber (panics do not cross
         * fibers), though it may now run on another worker. */
        self->boundary = b.prev;
        self->job_depth--;
        self->unwinding = false;
        return true;
    }
    self->boundary = &b;
    self->job_depth++;
    t->fn(t->arg);
    self->job_depth--;
    self->boundary = b.prev;
    return false;
}
#endif

static void panic_jump(fj__fiber *f)
{
#ifdef FJ_HAVE_CXX_BOUNDARY
    fj__fatal("fj_panic", "could not unwind job '%s' (no unwind information?): %s",
              f->job_name ? f->job_name : "(unnamed)", f->panic_msg);
#else
    fj__san_no_return();
    __builtin_longjmp(f->boundary->jb, 1);
#endif
}

static _Unwind_Reason_Code panic_stop(int version, _Unwind_Action actions, _Unwind_Exception_Class cls,
                                      struct _Unwind_Exception *exc, struct _Unwind_Context *ctx,
                                      void *param)
{
    (void)version;
    (void)cls;
    (void)exc;
    fj__fiber *f = param;
#ifdef FJ_HAVE_CXX_BOUNDARY
    /* The catch-all in fj__cxx_invoke stops the unwinding before the end. */
    (void)ctx;
    if (actions & _UA_END_OF_STACK)
        fj__fatal("fj_panic", "could not unwind job '%s' to its boundary: %s",
                  f->job_name ? f->job_name : "(unnamed)", f->panic_msg);
#else
    /* The boundary lives in fj__job_call's frame: a frame whose CFA is above
     * it is that frame or an outer one, where the unwinding must stop. */
    if ((actions & _UA_END_OF_STACK) || _Unwind_GetCFA(ctx) > (uintptr_t)f->boundary)
        panic_jump(f);
#endif
    return _URC_NO_REASON;
}

static void panic_exc_cleanup(_Unwind_Reason_Code code, struct _Unwind_Exception *exc)
{
    (void)code;
    (void)exc;
}

static void default_panic_report(const fj_panic_info *info)
{
    fprintf(stderr, "fiberjob: panic in job '%s' on worker %u: %s\n", info->job_name, info->worker,
            info->message);
    fflush(stderr);
}

static void panic_report(fj__worker *w, fj__fiber *self)
{
    fj_panic_info info = { .job_name = self->job_name ? self->job_name : "(unnamed)",
                           .worker = w->index,
                           .message = self->panic_msg };
    if (w->s->cfg.panic_hook)
        w->s->cfg.panic_hook(&info, w->s->cfg.panic_hook_arg);
    else
        default_panic_report(&info);
}

void fj_panic(const char *fmt, ...)
{
    fj__worker *w = fj__current_worker();
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt ? fmt : "(no message)", ap);
    va_end(ap);
    if (!w || !w->current || !w->current->job_depth)
        fj__fatal("fj_panic", "called outside a job: %s", msg);
    fj__fiber *self = w->current;
    memcpy(self->panic_msg, msg, sizeof msg);
    panic_report(w, self);
    /* The hook ran user code: we may be on another worker now, never another fiber. */
    struct _Unwind_Exception *exc = (struct _Unwind_Exception *)(void *)self->unwind_exc;
    memset(exc, 0, sizeof *exc);
    exc->exception_class = 0x464a4f4250414e43ull; /* "FJOBPANC" */
    exc->exception_cleanup = panic_exc_cleanup;
    self->unwinding = true;
    /* The unwinding leaves the discarded frames' ASan poison behind. */
    fj__san_no_return();
    _Unwind_ForcedUnwind(exc, panic_stop, self);
    /* Forced unwinding could not start (no unwind information): jump directly. */
    panic_jump(self);
    __builtin_unreachable();
}

int fj__unwinding_for_panic(void)
{
    fj__worker *w = fj__current_worker();
    return w && w->current && w->current->unwinding;
}

uint32_t fj_counter_panics(const fj_counter *c)
{
    if (!c)
        fj__fatal("fj_counter_panics", "counter is NULL");
    return fj_load_acquire(&((fj_counter *)c)->fj__panics);
}

/* ------------------------------------------------------------ stack overflow */

static struct sigaction saved_segv, saved_bus;
static int signals_refs;
static pthread_mutex_t signals_lock = PTHREAD_MUTEX_INITIALIZER;

static void write_str(const char *s) { ssize_t r = write(2, s, strlen(s)); (void)r; }

static void overflow_handler(int sig, siginfo_t *si, void *uctx)
{
    fj__worker *w = fj__current_worker();
    uintptr_t addr = (uintptr_t)si->si_addr;
    if (w && w->s) {
        fj_scheduler *s = w->s;
        for (uint32_t i = 0; i < s->nsmall + s->nlarge; i++) {
            fj__fiber *f = &s->fibers[i];
            uintptr_t lo = (uintptr_t)f->stack_lo;
            /* The guard page, and a little below it (a large frame can skip it). */
            if (addr < lo && addr + f->guard_size + 64 * 1024 >= lo) {
                char line[512];
                snprintf(line, sizeof line,
                         "fiberjob: stack overflow in job '%s' on worker %u: it used all of its %zu KiB %s "
                         "stack (fault at %p, guard page at %p); run it with FJ_JOB_LARGE_STACK (%zu KiB) "
                         "or raise fj_config.%s_stack_size\n",
                         f->job_name ? f->job_name : "(unnamed)", w->index,
                         (f->kind == FJ_KIND_LARGE ? s->cfg.large_stack_size : s->cfg.small_stack_size) / 1024,
                         f->kind == FJ_KIND_LARGE ? "large" : "small", (void *)addr,
                         (void *)(lo - f->guard_size), s->cfg.large_stack_size / 1024,
                         f->kind == FJ_KIND_LARGE ? "large" : "small");
                write_str(line);
                signal(SIGABRT, SIG_DFL);
                abort();
            }
        }
    }
    /* Not ours: hand it to whoever was there before. */
    struct sigaction *prev = sig == SIGBUS ? &saved_bus : &saved_segv;
    if (prev->sa_flags & SA_SIGINFO) {
        prev->sa_sigaction(sig, si, uctx);
    } else if (prev->sa_handler == SIG_IGN) {
        return;
    } else if (prev->sa_handler == SIG_DFL) {
        /* Re-raise with the default action: returning re-executes the fault. */
        signal(sig, SIG_DFL);
    } else {
        prev->sa_handler(sig);
    }
}

int fj__signals_install(void)
{
    pthread_mutex_lock(&signals_lock);
    if (signals_refs++ == 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = overflow_handler;
        sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGSEGV, &sa, &saved_segv);
        sigaction(SIGBUS, &sa, &saved_bus);
    }
    pthread_mutex_unlock(&signals_lock);
    return 0;
}

void fj__signals_uninstall(void)
{
    pthread_mutex_lock(&signals_lock);
    if (--signals_refs == 0) {
        sigaction(SIGSEGV, &saved_segv, NULL);
        sigaction(SIGBUS, &saved_bus, NULL);
    }
    pthread_mutex_unlock(&signals_lock);
}

int fj__altstack_enter(fj__worker *w)
{
    if (!w->altstack) {
        size_t size = 64 * 1024;
        void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            return FJ_ENOMEM;
        w->altstack = p;
        w->altstack_size = size;
    }
    stack_t ss = { .ss_sp = w->altstack, .ss_size = w->altstack_size, .ss_flags = 0 };
    w->altstack_active = sigaltstack(&ss, &w->saved_altstack) == 0;
    return 0;
}

void fj__altstack_leave(fj__worker *w)
{
    if (w->altstack_active) {
        sigaltstack(&w->saved_altstack, NULL);
        w->altstack_active = false;
    }
}
