/*
 * Stack overflow: the report of a fault in a fiber's guard gap, and the
 * per-worker alternate signal stacks the report runs on.
 *
 * Below each fiber stack is an inaccessible gap of f->guard_size bytes, large
 * enough that a big frame cannot step over it into the next stack. The fault
 * handler (os.h: fj__os_fault_install) runs on a per-worker alternate signal
 * stack, mapped by fj_create so that every worker can report, and tells us the
 * faulting address. If it is in the gap below a fiber of the worker's scheduler
 * we report the job, its stack size and the worker, say how to fix it, and
 * abort. Any other fault goes back to the OS layer, which passes it to the
 * handler installed before ours, or gives it the default action when there was
 * none or it was ignored (an ignored fault would re-execute for ever).
 * fj_destroy puts the previous handlers back unless the program has replaced
 * ours in the meantime.
 *
 * Invariants: a worker never runs a job without its signal stack (fj_create
 * fails with FJ_ENOMEM instead); the fault callback only reads (the scheduler's
 * fibers do not move while a worker of it runs) and formats into its own frame,
 * then writes with one call and aborts.
 */
#include <stdio.h>

#include "internal.h"
#include "os.h"

/* Each worker's signal stack: room for the report's snprintf. */
#define FJ_ALTSTACK_SIZE ((size_t)64 * 1024)

FJ_NORETURN static void report_overflow(const fj__worker *w, const fj__fiber *f, const void *lo, uintptr_t addr)
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
             "(fault at " FJ_PTR ", in the %zu KiB guard gap below " FJ_PTR "); %s\n",
             fj__job_name(f->job_name), w->index,
             (large ? c->large_stack_size : c->small_stack_size) / 1024, large ? "large" : "small",
             (void *)addr, f->guard_size / 1024, lo, advice);
    fj__os_write_stderr(line);
    fj__os_abort();
}

/* A fault at `fault` on this thread: reported if it is an overflow; else it
 * goes back to the OS layer. */
static void overflow_check(void *fault)
{
    fj__worker *w = fj__current_worker();
    if (!w || !w->s)
        return;
    uintptr_t addr = (uintptr_t)fault;
    fj_scheduler *s = w->s;
    for (uint32_t i = 0; i < s->nsmall + s->nlarge; i++) {
        const fj__fiber *f = &s->fibers[i];
        /* Each segment of a small fiber has a gap of its own below it
         * (segment.c); the job running there is the one
         * named on the fiber (a job on a segment is its innermost). */
        uint32_t nseg = f->kind == FJ_KIND_SMALL ? s->nseg : 1;
        for (uint32_t k = 0; k < nseg; k++) {
            uintptr_t lo = (uintptr_t)fj__seg_lo(f, k);
            /* Exactly the gap: below it is another stack (or another
             * mapping), where a fault is a bad pointer, not an overflow. */
            if (addr < lo && lo - addr <= f->guard_size)
                report_overflow(w, f, (const void *)lo, addr);
        }
    }
}

int fj__signals_install(void)
{
    return fj__os_fault_install(overflow_check);
}

void fj__signals_uninstall(void)
{
    fj__os_fault_uninstall();
}

/* Mapped by fj_create for every worker before any thread starts, so that a
 * worker never runs without one: without it the handler cannot run on an
 * overflowed stack, and the process would die with no report. */
int fj__altstack_alloc(fj__worker *w)
{
    void *p = fj__os_map(FJ_ALTSTACK_SIZE);
    if (!p)
        return FJ_ENOMEM;
    w->altstack.base = p;
    w->altstack.size = FJ_ALTSTACK_SIZE;
    w->altstack.active = false;
    return 0;
}

void fj__altstack_free(fj__worker *w)
{
    if (w->altstack.base)
        fj__os_release(w->altstack.base, w->altstack.size);
    w->altstack.base = NULL;
}

int fj__altstack_enter(fj__worker *w)
{
    if (!w->altstack.base)
        fj__fatal("signal stack", "worker %u has no signal stack (fj__altstack_alloc was not called)", w->index);
    return fj__os_altstack_enter(&w->altstack);
}

void fj__altstack_leave(fj__worker *w)
{
    fj__os_altstack_leave(&w->altstack);
}
