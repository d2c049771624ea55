/*
 * Entered threads (fj_enter, fj_leave; split from worker.c). A thread
 * outside the scheduler takes worker w's place while it runs its own code on
 * its own stack: that stack becomes a context of w, standing as `rec`, an
 * outside record (fiber.c: it has a waiter id, so wait lists can hold it) of
 * kind FJ_KIND_NATIVE, pinned to w. So everything a job does works there:
 * fj_run_jobs takes w's deques (no allocation); fj_wait runs the children
 * that fit on this stack (they all do: a thread's stack is megabytes), then
 * parks `rec` on the counter and switches to a fiber that runs w's loop; the
 * finisher queues `rec` on w's pinned queue (fj__resume_waiter), and w's
 * loop switches back to it. The stack never runs on another thread: `rec` is
 * pinned to w, and only this thread is w until fj_leave.
 */
#include "internal.h"

void fj__native_enter(fj__worker *w, fj__fiber *rec)
{
    void *lo = NULL;
    size_t size = 0;
    fj__os_thread_stack(&lo, &size);
    /* kind and pin1: relaxed atomic stores, deadlock reports read them. */
    fj_store_relaxed(&rec->kind, (uint32_t)FJ_KIND_NATIVE);
    rec->s = w->s;
    fj_store_relaxed(&rec->pin1, w->index + 1);
    rec->stack_lo = lo;
    rec->seg_lo = lo;
    rec->stack_size = size;
    rec->job_depth = 0;
    rec->boundary = NULL;
    fj_store_relaxed(&rec->wait_counter, (fj_counter *)NULL);
    fj_store_relaxed(&rec->job_name, "(thread in fj_enter)");
    rec->job_counter = NULL;
    fj__san_thread_init(&rec->san, lo, size);
    fj__set_current_worker(w);
    if (w->hooks)
        fj__hook_worker(w, true);
    w->post_kind = FJ_POST_NONE;
    w->current = rec;
    rec->worker = w;
    fj_store_seq_cst(&rec->state, (int)FJ_FIBER_RUNNING);
}

void fj__native_leave(fj__worker *w, fj__fiber *rec)
{
    /* As worker_leave: private work to where others can steal it. */
    fj__fold_flush(w);
    fj__spares_give_back(w);
    fj__hand_back_private(w, "fj_leave");
    w->current = NULL;
    if (w->hooks)
        fj__hook_worker(w, false);
    fj__set_current_worker(NULL);
    fj_store_relaxed(&rec->kind, (uint32_t)FJ_KIND_EXTERNAL);
    rec->s = NULL;
    fj_store_relaxed(&rec->pin1, 0u);
    fj_store_relaxed(&rec->job_name, "(outside thread)");
    fj_store_seq_cst(&rec->state, (int)FJ_FIBER_EXTERNAL);
}
