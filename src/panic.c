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
 *
 * Stack overflow: below each fiber stack is a PROT_NONE gap of f->guard_size
 * bytes, large enough that a big frame cannot step over it into the next
 * stack. A SIGSEGV handler running on a per-worker alternate signal stack
 * (mapped by fj_create, so that every worker can report) checks whether the
 * faulting address is in the gap below a fiber of the worker's scheduler; if
 * so it reports the job, its stack size and the worker, says how to fix it,
 * and aborts. Any other fault goes to the handler that was installed before
 * ours, or gets the default action when there was none, or it was ignored
 * (an ignored fault would re-execute for ever). fj_destroy puts the previous
 * handlers back unless the program has replaced ours in the meantime.
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
static pthread_mutex_t hook_calls_lock = PTHREAD_MUTEX_INITIALIZER;

static bool in_panic_hook(const fj__fiber *f)
{
    /* A fiber inside its hook pushed its node itself, before this load. */
    if (!fj_load_relaxed(&hook_calls))
        return false;
    bool found = false;
    pthread_mutex_lock(&hook_calls_lock);
    for (const hook_call *c = hook_calls; c && !found; c = c->next)
        found = c->fiber == f && c->job_depth == f->job_depth;
    pthread_mutex_unlock(&hook_calls_lock);
    return found;
}

static void panic_report(fj__worker *w, fj__fiber *self)
{
    fj_panic_info info = { .job_name = self->job_name ? self->job_name : "(unnamed)",
                           .worker = w->index,
                           .message = self->panic_msg };
    fj_scheduler *s = w->s;
    if (!s->cfg.panic_hook) {
        default_panic_report(&info);
        return;
    }
    hook_call me = { .fiber = self, .job_depth = self->job_depth, .next = NULL };
    pthread_mutex_lock(&hook_calls_lock);
    me.next = hook_calls;
    fj_store_relaxed(&hook_calls, &me);
    pthread_mutex_unlock(&hook_calls_lock);
    s->cfg.panic_hook(&info, s->cfg.panic_hook_arg);
    pthread_mutex_lock(&hook_calls_lock);
    hook_call **pp = &hook_calls;
    while (*pp != &me)
        pp = &(*pp)->next;
    fj_store_relaxed(pp, me.next);
    pthread_mutex_unlock(&hook_calls_lock);
}

void fj_panic(const char *fmt, ...)
{
    fj__worker *w = fj__current_worker();
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt ? fmt : "(no message)", ap);
    va_end(ap);
    /* Before the outside-a-job check: the hook of a C++ exception that
     * escaped an outermost job runs at job depth 0. */
    if (w && w->current && in_panic_hook(w->current))
        fj__fatal("fj_panic", "called from the panic hook while reporting the panic of job '%s': %s",
                  w->current->job_name ? w->current->job_name : "(unnamed)", w->current->panic_msg);
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

/* Called by the C++ boundary for a forced unwind that is not fj_panic's. */
FJ_NORETURN void fj__foreign_unwind_fatal(void);
void fj__foreign_unwind_fatal(void)
{
    /* Ending the unwind would return into a thread glibc is tearing down, and
     * letting it go on would run the worker's own frames off the fiber's
     * stack: stop here, where the job is still known. */
    fj__worker *w = fj__current_worker();
    const char *name = w && w->current && w->current->job_name ? w->current->job_name : "(unnamed)";
    fprintf(stderr,
            "fiberjob: pthread_exit: called in job '%s' on worker %u: a job cannot end its worker thread "
            "(return from the job instead)\n",
            name, w ? w->index : 0u);
    fflush(stderr);
    abort();
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

FJ_NORETURN static void report_overflow(const fj__worker *w, const fj__fiber *f, uintptr_t addr)
{
    const fj_config *c = &w->s->cfg;
    bool large = f->kind == FJ_KIND_LARGE;
    /* A large stack is already the biggest a job can ask for. */
    char advice[128];
    if (large)
        snprintf(advice, sizeof advice, "raise fj_config.large_stack_size");
    else
        snprintf(advice, sizeof advice,
                 "run it with FJ_JOB_LARGE_STACK (%zu KiB) or raise fj_config.small_stack_size",
                 c->large_stack_size / 1024);
    char line[512];
    snprintf(line, sizeof line,
             "fiberjob: stack overflow in job '%s' on worker %u: it used all of its %zu KiB %s stack "
             "(fault at %p, in the %zu KiB guard gap below %p); %s\n",
             f->job_name ? f->job_name : "(unnamed)", w->index,
             (large ? c->large_stack_size : c->small_stack_size) / 1024, large ? "large" : "small",
             (void *)addr, f->guard_size / 1024, f->stack_lo, advice);
    write_str(line);
    signal(SIGABRT, SIG_DFL);
    abort();
}

static void set_default_action(int sig)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
}

/* A fault that is not an overflow, or a SIGSEGV/SIGBUS sent by someone. */
static void pass_on(int sig, siginfo_t *si, void *uctx)
{
    const struct sigaction *prev = sig == SIGBUS ? &saved_bus : &saved_segv;
    if (prev->sa_flags & SA_SIGINFO) {
        prev->sa_sigaction(sig, si, uctx);
        return;
    }
    if (prev->sa_handler != SIG_IGN && prev->sa_handler != SIG_DFL) {
        prev->sa_handler(sig);
        return;
    }
    if (si->si_code <= 0) {
        /* Sent with kill(), raise() or sigqueue(): nothing re-executes. */
        if (prev->sa_handler == SIG_DFL) {
            set_default_action(sig);
            /* Blocked while this handler runs: delivered when it returns. */
            raise(sig);
        }
        return;
    }
    /* A fault: returning re-executes the faulting instruction. Ignoring it
     * would loop for ever, so an ignored fault gets the default action too,
     * as the kernel does when it finds a synchronous fault ignored. */
    set_default_action(sig);
}

static void overflow_handler(int sig, siginfo_t *si, void *uctx)
{
    fj__worker *w = fj__current_worker();
    uintptr_t addr = (uintptr_t)si->si_addr;
    if (w && w->s && si->si_code > 0) {
        fj_scheduler *s = w->s;
        for (uint32_t i = 0; i < s->nsmall + s->nlarge; i++) {
            const fj__fiber *f = &s->fibers[i];
            uintptr_t lo = (uintptr_t)f->stack_lo;
            /* Exactly the gap: below it is another fiber's stack (or another
             * mapping), where a fault is a bad pointer, not an overflow. */
            if (addr < lo && lo - addr <= f->guard_size)
                report_overflow(w, f, addr);
        }
    }
    pass_on(sig, si, uctx);
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

/* A handler the program installed after fj_create is its own choice (it may
 * even chain to ours, which stays callable): only ours is taken out. */
static void restore_if_ours(int sig, const struct sigaction *saved)
{
    struct sigaction cur;
    if (sigaction(sig, NULL, &cur) == 0 && (cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == overflow_handler)
        sigaction(sig, saved, NULL);
}

void fj__signals_uninstall(void)
{
    pthread_mutex_lock(&signals_lock);
    if (--signals_refs == 0) {
        restore_if_ours(SIGSEGV, &saved_segv);
        restore_if_ours(SIGBUS, &saved_bus);
    }
    pthread_mutex_unlock(&signals_lock);
}

/* Mapped by fj_create for every worker before any thread starts, so that a
 * worker never runs without one: without it the handler cannot run on an
 * overflowed stack, and the process would die with no report. */
int fj__altstack_alloc(fj__worker *w)
{
    size_t size = 64 * 1024;
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return FJ_ENOMEM;
    w->altstack = p;
    w->altstack_size = size;
    return 0;
}

void fj__altstack_free(fj__worker *w)
{
    if (w->altstack)
        munmap(w->altstack, w->altstack_size);
    w->altstack = NULL;
}

int fj__altstack_enter(fj__worker *w)
{
    if (!w->altstack)
        fj__fatal("signal stack", "worker %u has no signal stack (fj__altstack_alloc was not called)", w->index);
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
