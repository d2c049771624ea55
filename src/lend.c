/*
 * Lending, the claim (split from worker.c, whose "Lending" comment tells
 * how a fiber is lent and how it gives its submitter back). After the lent
 * job, the lent fiber runs more of its submitter's newest queued jobs, those
 * the owner would take next: it claims them at once (fj__deque_take_many, one
 * fence for all of them, where a take per job cost one each) into the
 * worker's lend_buf, private while it runs, and runs them newest first. What
 * it claimed and does not run goes back into the queue where it was
 * (fj__lend_give_back): before it suspends (fj__lend_return), lends in
 * turn (fj__lend), or stops for a job it may not run, a higher priority, or
 * the active-worker limit.
 */
#include "internal.h"

/* After a lent job: the next newest job of the lent queue, while the lend
 * may run more and the queue still holds a backlog; only a plain job of a
 * small or shallow class (what this small fiber can give its whole stack),
 * never a batch's range entry or a traced or pinned job. The jobs come
 * claimed all at once (fj__deque_take_many: one fence, not one per job)
 * into w->lend_buf; what the lend does not run goes back (below). */
bool fj__lend_next(fj__worker *w, fj__fiber *self, fj__task *out)
{
    int q = (int)self->lend_q1 - 1;
    if (!self->lend_left)
        return false;   /* run_now's lone job (submit.c), or a lend that ran all it claimed */
    if (fj__over_limit(w))
        goto stop;
    for (int p = 0; p < q; p++)
        if (fj__deque_size_hint(&w->q[p]) > 0)
            goto stop;   /* higher priority first: the loop's order */
    if (!w->lend_n) {
        fj__deque *d = &w->q[q];
        /* top_seen overstates the backlog: at worst the claim fails. */
        int64_t more = fj_load_relaxed(&d->bottom) - d->top_seen - FJ_LEND_AFTER / 2;
        if (more <= 0)
            return false;
        w->lend_n = (uint32_t)fj__deque_take_many(d, w->lend_buf, more < self->lend_left ? (size_t)more : self->lend_left);
        if (!w->lend_n)
            return false;
    }
    *out = w->lend_buf[w->lend_n - 1];
    if ((uint32_t)out->flags & ~(uint32_t)(FJ_JOB_SHALLOW | (0xffu << FJ_TASK_Q_SHIFT)))
        goto stop;   /* not ours to run here: back where it was, with the rest */
    w->lend_n--;
    self->lend_left--;
    return true;
stop:
    if (w->lend_n)
        fj__lend_give_back(w, q);
    return false;
}

/* The claimed jobs not run, back on queue q in their order. The slots they
 * left are free unless the lent jobs pushed into them since: growing for
 * those can fail only as any push can (fj__push_or_die reports it). They
 * were the thieves' before the claim: notify, as a push does. */
void fj__lend_give_back(fj__worker *w, int q)
{
    uint32_t n = w->lend_n;
    w->lend_n = 0;
    fj__push_or_die(&w->q[q], w->lend_buf, n, "fj_run_jobs");
    fj__notify(w->s, n);
}
