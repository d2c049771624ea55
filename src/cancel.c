/*
 * Cancellation: fj_counter_cancel, fj_counter_cancelled,
 * fj_counter_is_cancelled, fj_cancelled, and the skip of a cancelled job
 * (fj__skip_job). The check, fj__task_cancelled, is inline in internal.h: it
 * is on the per-job path.
 *
 * A job counted on a cancelled counter is skipped where it would start
 * (worker.c: run_job, and in the fiber loop before a large-stack job takes a
 * large fiber or a pinned one travels back to its worker): its function, its
 * hooks and its trace events do not run; it counts once in fj__skipped
 * and finishes its count as a job that ran does (the fold), exactly once,
 * since the skip replaces the call. Every job start goes through those
 * places: the fiber loop (own deques, the chunk, the pinned queue, the
 * injection queue, steals, hand-offs, deferred large-stack jobs) and nested
 * runs (fj__run_nested: fj_wait's children, run_now).
 *
 * Cost per job: one relaxed load of fj__cancel, which shares the counter's
 * line with the word the finish writes, and a predicted branch.
 *
 * Ordering. The cancel is a release store of 1; the check a relaxed load.
 * What a start is guaranteed to see: by coherence, a load that happens after
 * a store to the same object reads it (or a later value). So a job is skipped
 * if its start happens after fj_counter_cancel returned: a later start on
 * the same thread, a job queued after it (the queue's release/acquire carry
 * the happens-before to whoever takes the job), or a start on a worker that
 * resumed the cancelling fiber (the resume is a release/acquire too). A job
 * that another worker starts at the same moment, with no such edge, may
 * still run: best effort, with no fence on the per-job path; the store
 * reaches the other core in the time a cache line takes to move. The
 * skipped count is a relaxed add sequenced before the finish's release CAS,
 * so a waiter that returned reads it (acquire, as fj_counter_panics).
 * fj_cancelled loads with acquire, so a job that sees the cancel also sees
 * what the canceller wrote before it (a reason, say). The clearing of a
 * cancel when a new round starts is argued in counter.c (fj__counter_add).
 */
#include "internal.h"

FJ__SHARED FJ_NOINLINE __attribute__((cold)) void fj__skip_job(fj__worker *w, const fj__task *t)
{
    fj_fetch_add_relaxed(&t->counter->fj__skipped, 1);
    FJ__STAT_INC(w, jobs_skipped);
    fj__fold_add(w, t->counter, t->name);
}

void fj_counter_cancel(fj_counter *c)
{
    if (!c)
        fj__fatal("fj_counter_cancel", "counter is NULL");
    fj_store_release(&c->fj__cancel, 1u);
}

uint32_t fj_counter_cancelled(const fj_counter *c)
{
    if (!c)
        fj__fatal("fj_counter_cancelled", "counter is NULL");
    return fj_load_acquire(&((fj_counter *)c)->fj__skipped);
}

int fj_counter_is_cancelled(const fj_counter *c)
{
    if (!c)
        fj__fatal("fj_counter_is_cancelled", "counter is NULL");
    return fj_load_acquire(&((fj_counter *)c)->fj__cancel) != 0;
}

int fj_cancelled(void)
{
    fj__worker *w = fj__current_worker();
    fj__fiber *f = w ? w->current : NULL;
    /* job_depth: inside a job (not the thread's own code in fj_enter, not a
     * hook around a job). The counter outlives the job counted on it. */
    if (!f || !f->job_depth || !f->job_counter)
        return 0;
    return fj_load_acquire(&f->job_counter->fj__cancel) != 0;
}
