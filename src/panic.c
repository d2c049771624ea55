/*
 * Failure safety: fj_panic, the job boundary it unwinds to, and the forced
 * unwind between them. (A stack overflow is reported by overflow.c.)
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
 * The panic hook must not call fj_panic for the job whose panic it reports:
 * that would report again, call the hook again, and recurse until the stack
 * ends. Such a call stops the process with one line naming the job.
 *
 * A job must not end its worker thread. pthread_exit (and a cancellation of a
 * worker thread, which glibc unwinds the same way and which cannot be told
 * apart from it) unwinds the fiber's stack with a forced unwind of its own. In
 * a build with the C++ boundary (the default when a C++ compiler is found) and
 * libstdc++, the boundary sees that unwind and stops the process with
 *   fiberjob: pthread_exit: called in job '<name>' on worker <n>: a job cannot
 *   end its worker thread (return from the job instead)
 * (one line). In a build without it (FIBERJOB_CXX_EXCEPTIONS=OFF, or a C++
 * library other than libstdc++) nothing sees that unwind: pthread_exit or a
 * cancellation in a job is not supported there and is not detected; the
 * worker thread ends in the middle of the job, and what follows (a crash, a
 * hang or a deadlock report) is undefined.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unwind.h>

#include "internal.h"

_Static_assert(sizeof(struct _Unwind_Exception) <= sizeof(((fj__fiber *)0)->unwind_exc),
               "room for the unwind exception in the fiber record");

/* cxx_boundary.cc: 0 returned, 1 a C++ exception escaped (its message given
 * to fj__cxx_message), 2 fj_panic's forced unwind (fj__cxx_unwinding) reached
 * the boundary. */
int fj__cxx_invoke(void (*fn)(void *), void *arg);
bool fj__cxx_unwinding(void);
void fj__cxx_message(const char *prefix, const char *what);
static void panic_report(fj__worker *w, fj__fiber *self);

#ifdef FJ_HAVE_CXX_BOUNDARY
/* With the C++ boundary the job is called inside a try block (free until
 * something is thrown) whose catch-all also stops fj_panic's forced unwind:
 * no per-job setjmp. */

/* The boundary's handlers run on the fiber of the job that threw (an
 * exception never leaves its fiber's stack), which is its worker's current
 * fiber: the record fj__job_call was given. Asked for here, on the path of a
 * throw only, so that every call through the boundary passes two arguments
 * and keeps nothing across the job (10 instructions a job, BENCHMARKS.md). */
bool fj__cxx_unwinding(void)
{
    return fj__current_worker()->current->unwinding;
}

void fj__cxx_message(const char *prefix, const char *what)
{
    fj__fiber *f = fj__current_worker()->current;
    snprintf(f->panic_msg, sizeof f->panic_msg, "%s%s", prefix, what);
}

bool fj__job_call(fj__fiber *self, fj_job_fn fn, void *arg)
{
    self->job_depth++;
    int r = fj__cxx_invoke(fn, arg);
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
FJ_NOINLINE bool fj__job_call(fj__fiber *self, fj_job_fn fn, void *arg)
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
    fn(arg);
    self->job_depth--;
    self->boundary = b.prev;
    return false;
}
#endif

static void panic_jump(fj__fiber *f)
{
#ifdef FJ_HAVE_CXX_BOUNDARY
    fj__fatal("fj_panic", "could not unwind job '%s' (no unwind information?): %s",
              fj__job_name(f->job_name), f->panic_msg);
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
                  fj__job_name(f->job_name), f->panic_msg);
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

/*
 * Panic hooks running now: one node per call, on the stack of the
 * panic_report that made it. A thread-local flag would not do: the hook may
 * wait and go on on another worker. The node names the fiber and its job
 * depth, so a job the hook runs inline on the same fiber may still panic.
 * Only programs with a hook take the lock: twice per report, and in fj_panic
 * while a hook runs somewhere.
 */
typedef struct hook_call {
    const fj__fiber *fiber;
    uint32_t job_depth;
    struct hook_call *next;
} hook_call;

static hook_call *hook_calls;
static fj__os_mutex hook_calls_lock = FJ__OS_MUTEX_INIT;

static bool in_panic_hook(const fj__fiber *f)
{
    /* A fiber inside its hook pushed its node itself, before this load. */
    if (!fj_load_relaxed(&hook_calls))
        return false;
    bool found = false;
    fj__os_mutex_lock(&hook_calls_lock);
    for (const hook_call *c = hook_calls; c && !found; c = c->next)
        found = c->fiber == f && c->job_depth == f->job_depth;
    fj__os_mutex_unlock(&hook_calls_lock);
    return found;
}

static void panic_report(fj__worker *w, fj__fiber *self)
{
    fj_panic_info info = { .job_name = fj__job_name(self->job_name),
                           .worker = w->index,
                           .message = self->panic_msg };
    fj_scheduler *s = w->s;
    if (!s->cfg.panic_hook) {
        default_panic_report(&info);
        return;
    }
    hook_call me = { .fiber = self, .job_depth = self->job_depth, .next = NULL };
    fj__os_mutex_lock(&hook_calls_lock);
    me.next = hook_calls;
    fj_store_relaxed(&hook_calls, &me);
    fj__os_mutex_unlock(&hook_calls_lock);
    s->cfg.panic_hook(&info, s->cfg.panic_hook_arg);
    fj__os_mutex_lock(&hook_calls_lock);
    hook_call **pp = &hook_calls;
    while (*pp != &me)
        pp = &(*pp)->next;
    fj_store_relaxed(pp, me.next);
    fj__os_mutex_unlock(&hook_calls_lock);
}

void fj_panic(const char *fmt, ...)
{
    fj__worker *w = fj__current_worker();
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt ? fmt : "(no message)", ap);
    va_end(ap);
    if (w)
        fj__check_not_in_hook(w, "fj_panic");
    /* Before the outside-a-job check: the hook of a C++ exception that
     * escaped an outermost job runs at job depth 0. */
    if (w && w->current && in_panic_hook(w->current))
        fj__fatal("fj_panic", "called from the panic hook while reporting the panic of job '%s': %s",
                  fj__job_name(w->current->job_name), w->current->panic_msg);
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

/* Called by the C++ boundary for a forced unwind that is not fj_panic's. */
FJ_NORETURN void fj__foreign_unwind_fatal(void);
void fj__foreign_unwind_fatal(void)
{
    /* Ending the unwind would return into a thread glibc is tearing down, and
     * letting it go on would run the worker's own frames off the fiber's
     * stack: stop here, where the job is still known. */
    fj__worker *w = fj__current_worker();
    const char *name = fj__job_name(w && w->current ? w->current->job_name : NULL);
    fprintf(stderr,
            "fiberjob: pthread_exit: called in job '%s' on worker %u: a job cannot end its worker thread "
            "(return from the job instead)\n",
            name, w ? w->index : 0u);
    fflush(stderr);
    abort();
}

