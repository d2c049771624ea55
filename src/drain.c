/*
 * The inline run of a waiter's batch (fj__drain_chunk): once fj_wait has run
 * one job of its counter nested or on a stack segment, the rest of that
 * counter's jobs in the worker's chunk run here, one after another, in the
 * same place. The per-job path of the frame workload's jobs (BENCHMARKS.md,
 * "Issue 14"): what one job of the run costs is most of what the scheduler
 * costs a job of a batch.
 */
#include "internal.h"

/* Is the task at the bottom of d (its owner's next take) counted on c? */
static inline bool bottom_is_of(fj__deque *d, const fj_counter *c)
{
    fj_counter *tc;
    uintptr_t tflags;
    return fj__deque_peek_bottom_counter(d, &tc, &tflags) && tc == c;
}

/*
 * A waiter's children, one after another on the same stack: after `first`,
 * a job of c that run_child (wait.c) ran nested or on a stack segment
 * (segment.c), its caller runs the jobs of c left in the worker's chunk
 * here, in the same place, for as long as fj_wait(c, target) would have picked
 * them one at a time: the count is not reached, the worker is not over its
 * active limit, the chunk (of the worker we are on now: a job that waits
 * may bring us back on another) is still of c with the flags of `first` (so
 * their stack class fits where that of `first` did), and no job of c sits
 * at the bottom of a deque of higher priority (run_child looks at those
 * before a chunk of lower priority). Each job starts at the same depth as
 * `first`, with the whole stack its class promises.
 *
 * The loop is run_job's nested path (worker.c) with what does not change
 * from one job of the run to the next taken out of it (keep the two in
 * step):
 *   - the waiter's job name and counter are saved once and given back when
 *     the run ends; between two jobs the fiber shows the job just finished
 *     (nothing waits, parks or reports on this fiber in between);
 *   - the job counter is c for every job;
 *   - the take keeps the job's fields in registers (no task is built),
 *     except on the cold path: a cancelled counter or an observed worker
 *     (trace, hooks) goes through run_job (fj__run_nested) with the whole
 *     task.
 * What the loop saves, per job of a batch: the return through run_child and
 * fj_wait, run_child's search and stack checks, the calls of the take and
 * the run, and the per-job saves and restores (BENCHMARKS.md, "Issue 14").
 */
fj__worker *fj__drain_chunk(fj__worker *w, fj__fiber *self, const fj__task *first, fj_counter *c, int64_t target)
{
    uintptr_t flags = first->flags & ~((uintptr_t)0xff << FJ_TASK_Q_SHIFT);   /* the batch's own */
    /* c is a waiter's counter, which fj_wait has checked is not NULL. */
    FJ_ASSUME(c != NULL);
    const char *saved = self->job_name;
    fj_counter *saved_counter = self->job_counter;
    self->job_counter = c;
    for (;;) {
        /* Checked before every job, even when w->chunk is still the batch of
         * the job before: a batch whose last job was taken goes back to the
         * pool at once, and the job may have queued a batch of its own in
         * that memory and left it open as the chunk (tests/core/test_drain.c,
         * M_REUSE). */
        fj__batch *b = w->chunk;
        if (!b || b->counter != c || b->flags != flags)
            break;
        /* Reached? Not with target 0: the chunk holds a job of c not yet
         * started, counted on c, and a count never goes below zero (a finish
         * that would take it there stops the process, fj__counter_finish),
         * so c reads at least that job plus the finishes folded here. A
         * program whose extra fj_counter_done calls bring c to 0 first stops
         * at that job's finish either way. */
        if (target != 0) {
            int64_t pending = w->fold_counter == c ? w->fold_k : 0;
            if (fj__counter_now(c) - pending <= target)
                break;
        }
        if (FJ_UNLIKELY(fj__over_limit(w)))
            break;
        /* A job of c at the bottom of a deque of higher priority goes first
         * (run_child's order): at most two such deques, written out. */
        _Static_assert(FJ_NQ == 3, "the deques above a chunk's are at most q[0] and q[1]");
        int cq = w->chunk_q;
        if (cq > 0 && bottom_is_of(&w->q[0], c))
            break;
        if (cq > 1 && bottom_is_of(&w->q[1], c))
            break;
        /* The take, its fields in registers. */
        fj_job_fn fn;
        void *arg;
        const char *name;
        fj__chunk_take_fields(w, b, &fn, &arg, &name);
        /* The run: run_job's nested path, its saves and restores above. */
        if (FJ_UNLIKELY(w->observed || fj_load_relaxed(&c->fj__cancel) != 0)) {
            fj__task t = { .fn = fn, .arg = arg, .name = name, .counter = c,
                           .flags = flags | (uintptr_t)cq << FJ_TASK_Q_SHIFT };
            w = fj__run_nested(w, self, &t);
            continue;
        }
        if (w->fold_counter != c)
            fj__fold_flush(w);
        fj_store_relaxed(&self->job_name, name);
        FJ__STAT_INC(w, jobs);
        bool panicked = fj__job_call(self, fn, arg);
        w = fj__worker_of(self);
        if (FJ__CHECKS_FPU && !FJ__SAVES_FPU)
            fj__fpu_check(w, "job return", name);
        if (FJ_UNLIKELY(panicked))
            fj_fetch_add_relaxed(&c->fj__panics, 1);
        fj__fold_add(w, c, name);
    }
    fj_store_relaxed(&self->job_name, saved);
    self->job_counter = saved_counter;
    return w;
}
