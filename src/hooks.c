/*
 * Hooks (fj_hooks in fiberjob.h): the calls of the observer callbacks a
 * configuration sets, for profilers and debuggers. w->hooks is NULL unless
 * the configuration sets one, so unset hooks cost a load and a predicted
 * branch per job and per switch (the tests sit in worker.c, on the per-job
 * path); the calls here are out of line and cold. While a hook runs,
 * w->in_hook names it and fj_wait, fj_yield and fj_panic refuse to run
 * (fj__check_not_in_hook): a hook runs between the halves of a switch, or
 * outside a job's panic boundary, where none of them can work.
 *
 * The switch hooks bracket every context switch of a worker: fiber to fiber
 * (fj__switch_to), thread to fiber (fj__worker_enter) and fiber to thread
 * (worker_leave). fiber_switch_begin runs on the context leaving, before the
 * switch; fiber_switch_end on the context coming back, after its post-switch
 * action, so w->current is already that context (fj_current_job_name names
 * its job). A fresh fiber's first start (fj__fiber_entry) made no begin, so
 * it gets no end, which is what Superluminal's EndFiberSwitch expects.
 *
 * The pool's fibers are created for the hooks once, at fj_create, before any
 * worker starts, and destroyed at fj_destroy after every worker stopped
 * (fj__hooks_pool); a worker's own thread stack is a fiber to them from its
 * start to its stop (fj__hook_worker).
 */
#include "internal.h"

#define HOOK_CALL(w, hook, ...)                          \
    do {                                                 \
        (w)->in_hook = #hook;                            \
        (w)->hooks->hook(__VA_ARGS__, (w)->hooks->user); \
        (w)->in_hook = NULL;                             \
    } while (0)

bool fj__hooks_set(const fj_hooks *h)
{
    return h->worker_start || h->worker_stop || h->job_begin || h->job_end || h->fiber_create ||
           h->fiber_destroy || h->fiber_switch_begin || h->fiber_switch_end;
}

void fj__hooks_pool(fj_scheduler *s, bool create)
{
    const fj_hooks *h = &s->cfg.hooks;
    for (uint32_t i = 0; i < s->nfibers; i++) {
        const fj__fiber *f = &s->fibers[i];
        if (create && h->fiber_create)
            h->fiber_create(f->id, fj__fiber_name(f->id), h->user);
        if (!create && h->fiber_destroy)
            h->fiber_destroy(f->id, h->user);
    }
}

uint64_t fj__hook_job_begin(fj__worker *w, const char *name)
{
    if (!w->hooks->job_begin)
        return 0;
    w->in_hook = "job_begin";
    uint64_t token = w->hooks->job_begin(fj__job_name(name), w->hooks->user);
    w->in_hook = NULL;
    return token;
}

void fj__hook_job_end(fj__worker *w, const char *name, uint64_t token, bool panicked)
{
    if (w->hooks->job_end)
        HOOK_CALL(w, job_end, fj__job_name(name), token, panicked ? 1 : 0);
}

void fj__hook_switch_begin(fj__worker *w, uint64_t from, uint64_t to, const char *to_name)
{
    if (w->hooks->fiber_switch_begin)
        HOOK_CALL(w, fiber_switch_begin, from, to, to_name);
}

void fj__hook_switch_end(fj__worker *w, uint64_t fiber)
{
    if (w->hooks->fiber_switch_end)
        HOOK_CALL(w, fiber_switch_end, fiber);
}

void fj__hook_worker(fj__worker *w, bool start)
{
    const fj_hooks *h = w->hooks;
    if (start && h->worker_start)
        HOOK_CALL(w, worker_start, w->index);
    if (start && h->fiber_create)
        HOOK_CALL(w, fiber_create, w->thread_fiber, (const char *)NULL);
    if (!start && h->fiber_destroy)
        HOOK_CALL(w, fiber_destroy, w->thread_fiber);
    if (!start && h->worker_stop)
        HOOK_CALL(w, worker_stop, w->index);
}
