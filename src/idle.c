/*
 * Idle workers: spinning, then sleeping on the scheduler's event count, and
 * the quiescence judgement that ends fj_destroy's drain (or, while fj_main
 * runs, asks for a deadlock verdict). The waker's side of the event count is
 * wake.c; the argument that no wake-up is lost spans both (sched.c's top
 * comment, and the fences below and in fj__notify), and is modelled in
 * verify/sched2.pml.
 *
 * Counts a worker keeps up to date here (all seq_cst): `spinning` while it
 * searches, `sleepers` from its registration until it returns from the
 * futex wait, `idle_gen` bumped whenever a registered sleeper goes back to
 * work (so a quiescence observer sees it).
 */
#include "internal.h"
#include "os.h"

bool fj__should_leave(fj__worker *w)
{
    fj_scheduler *s = w->s;
    if (fj_load_acquire(&s->exit))
        return true;
    return w->index == 0 && fj_load_acquire(&s->root_done) && !fj_load_relaxed(&s->shutdown);
}

/* Spin, then sleep until there may be work. Returns false when the worker
 * should leave the scheduler. */
bool fj__worker_idle(fj__worker *w)
{
    fj_scheduler *s = w->s;
    fj__fold_flush(w);
    fj__spares_give_back(w);
    unsigned spins = s->cfg.spin_before_sleep;
    fj_fetch_add_seq_cst(&s->spinning, 1);
    for (unsigned i = 0; i < spins; i++) {
        if (fj__should_leave(w)) {
            fj_fetch_sub_seq_cst(&s->spinning, 1);
            return false;
        }
        if (fj__has_work(w)) {
            /* Found work: if we were the last searcher, wake the next sleeper
             * so parallelism ramps up while there is work. */
            fj_fetch_sub_seq_cst(&s->spinning, 1);
            fj__notify(s, 1);
            return true;
        }
        fj_cpu_relax();
    }
    fj_fetch_sub_seq_cst(&s->spinning, 1);
    uint32_t e = fj_load_acquire(&s->epoch);
    uint64_t gen = fj_load_seq_cst(&s->idle_gen);
    uint32_t sleeping = fj_fetch_add_seq_cst(&s->sleepers, 1) + 1;
    int verdict = FJ__VERDICT_NONE;
    /* Store-buffering with fj__notify: there a push, a seq_cst fence, a load
     * of `sleepers`; here the registration, then loads of the queues. C11
     * forbids both sides reading the old value only if each side has a
     * seq_cst fence between its write and its read (a seq_cst read-modify-
     * write is not one for the relaxed and acquire loads after it, though
     * x86-64 and AArch64 happen to compile it as one): without this fence a
     * lost wake-up is allowed by the language. The idle path only. */
    fj_fence_seq_cst();
    if (fj__should_leave(w) || fj__has_work(w)) {
        /* Bump the generation before taking what we saw, so a worker judging
         * quiescence notices that a registered sleeper went back to work. */
        fj_fetch_add_seq_cst(&s->idle_gen, 1);
        fj_fetch_sub_seq_cst(&s->sleepers, 1);
        return !fj__should_leave(w);
    }
    if (sleeping >= fj_load_seq_cst(&s->active) && fj_load_seq_cst(&s->inject_inflight) == 0 &&
        !fj__has_work(w) && !fj__pins_queued(s) && fj_load_seq_cst(&s->idle_gen) == gen &&
        fj_load_seq_cst(&s->sleepers) >= fj_load_seq_cst(&s->active)) {
        /* Quiescent: every worker is idle and no queue holds work. fj_destroy's
         * drain ends here, unless something still waits: then it is judged
         * as during fj_main (a hook may say an outside thread will finish it). */
        /* drain_done reads the fibers' states first, then inject_inflight and
         * the queues again: a finisher of another scheduler (or an outside
         * thread) takes its reference (inject_inflight) before it marks the
         * fiber READY, and drops it only after the push, so a drain that saw
         * the fiber no longer WAITING sees the reference or the queued fiber
         * (all seq_cst; found by verify/sched2.pml, BUG_DRAIN_ORDER). */
        if (fj_load_relaxed(&s->shutdown) && fj__drain_done(s) && fj_load_seq_cst(&s->inject_inflight) == 0 &&
            !fj__has_work(w) && !fj__pins_queued(s)) {
            fj_store_release(&s->exit, 1);
            fj__notify_all(s);
            fj_fetch_sub_seq_cst(&s->sleepers, 1);
            return false;
        }
        if (!fj_load_relaxed(&s->deadlock_reported))
            verdict = fj__deadlock_judge(s, "every worker is idle and nothing is queued", NULL, NULL, 0);
    }
    FJ__STAT_INC(w, sleeps);
    FJ_TRACE(w, FJ_EV_SLEEP, UINT32_MAX, NULL, 0);
    /* While fj_destroy drains, worker 0 (fj_destroy's thread) looks again
     * now and then: an outside thread the drain waits for is woken without
     * touching this scheduler. */
    if (fj_load_relaxed(&s->shutdown) && w->index == 0)
        fj__os_futex_wait_ns(&s->epoch, e, 100u * 1000 * 1000);
    else if (verdict == FJ__VERDICT_LATER)
        fj__os_futex_wait_ns(&s->epoch, e, 250u * 1000 * 1000);   /* judge again (counts held outside) */
    else
        fj__os_futex_wait(&s->epoch, e);
    FJ_TRACE(w, FJ_EV_WAKE, UINT32_MAX, NULL, 0);
    fj_store_seq_cst(&s->wake_pending, 0);
    /* Something happened: a deadlock the hook let stand may be judged again. */
    fj_store_relaxed(&s->deadlock_reported, 0);
    fj_fetch_sub_seq_cst(&s->sleepers, 1);
    return !fj__should_leave(w);
}
