/*
 * Lending, the lent fiber's run (split from worker.c, whose "Lending"
 * comment tells how a fiber is lent and how it gives its submitter back).
 * After the lent job, the lent fiber runs more of its submitter's newest
 * queued jobs, those the owner would take next, up to FJ_LEND_RUN in all.
 *
 * How it takes them depends on how long they run. Jobs seen to be short
 * (under FJ_SHORT_JOB_NS each since the last look) are claimed at once
 * (fj__deque_take_many: one fence for all of them, where a take per job
 * cost one each, a third of an empty job's cost) into the worker's
 * lend_buf, private while the fiber runs them, newest first. Otherwise, and
 * first, one at a time with the owner's take, the rest left where thieves
 * can take them: a claim of long jobs would keep them from idle workers
 * while the lent fiber ran them one after another (a review measured 2000
 * jobs of 1 ms on 8 workers take four times as long when claimed).
 *
 * What it claimed and does not run goes back into the queue it came from
 * (fj__lend_give_back): before it suspends (fj__lend_return), polls a timed
 * wait, lends in turn (fj__lend), or stops for a job it may not run, a
 * higher priority, or the active-worker limit.
 */
#include "internal.h"
#include "os.h"

/* Only a plain job of a small or shallow class (what this small fiber can
 * give its whole stack): never a batch's range entry, a large, traced or
 * pinned job. */
static inline bool lend_may_run(const fj__task *t)
{
    return !((uint32_t)t->flags & ~(uint32_t)(FJ_JOB_SHALLOW | (0xffu << FJ_TASK_Q_SHIFT)));
}

/* After a lent job: the next newest job of the lent queue, while the lend
 * may run more and the queue still holds a backlog. */
bool fj__lend_next(fj__worker *w, fj__fiber *self, fj__task *out)
{
    int q = (int)self->lend_q1 - 1;
    if (!self->lend_left)
        return false;   /* run_now's lone job (submit.c), or a lend that ran all it may */
    if (fj__over_limit(w))
        goto stop;
    for (int p = 0; p < q; p++)
        if (fj__deque_size_hint(&w->q[p]) > 0)
            goto stop;   /* higher priority first: the loop's order */
    if (!w->lend_n) {
        fj__deque *d = &w->q[q];
        /* top_seen overstates the backlog: at worst a few more run here. */
        int64_t more = fj_load_relaxed(&d->bottom) - d->top_seen - FJ_LEND_AFTER / 2;
        if (more <= 0)
            return false;
        uint64_t now = fj__os_now_ns();
        bool short_jobs = w->lend_mark && now - w->lend_mark < (uint64_t)w->lend_runs * FJ_SHORT_JOB_NS;
        w->lend_mark = now;
        w->lend_runs = 0;
        if (short_jobs) {
            size_t n = more < self->lend_left ? (size_t)more : self->lend_left;
            w->lend_n = (uint32_t)fj__deque_take_many(d, w->lend_buf, n);
            w->lend_q = q;
            if (!w->lend_n) {
                /* The claim hid the jobs above top a moment: a thief that
                 * looked then may have gone to sleep. Tell it, as a push. */
                fj__notify(w->s, 1);
                return false;
            }
        } else {
            if (!fj__deque_take(d, out))
                return false;
            if (!lend_may_run(out)) {
                fj__push_or_die(d, out, 1, "fj_run_jobs");   /* not ours to run here: back where it was */
                return false;
            }
            goto run;
        }
    }
    *out = w->lend_buf[w->lend_n - 1];
    if (!lend_may_run(out))
        goto stop;   /* back where it was, with the rest */
    w->lend_n--;
run:
    self->lend_left--;
    w->lend_runs++;
    return true;
stop:
    if (w->lend_n)
        fj__lend_give_back(w, "fj_run_jobs");
    return false;
}

/* The claimed jobs not run, back on their queue in their order (above any
 * the lent jobs pushed since). Growing the queue for them can fail only
 * when memory is exhausted; then the process stops with fj__push_or_die's
 * report naming `call`, as the hand-backs of parking do. They were the
 * thieves' before the claim: notify, as a push does. */
void fj__lend_give_back(fj__worker *w, const char *call)
{
    uint32_t n = w->lend_n;
    w->lend_n = 0;
    fj__push_or_die(&w->q[w->lend_q], w->lend_buf, n, call);
    fj__notify(w->s, n);
}
