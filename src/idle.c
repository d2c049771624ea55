/*
 * Idle workers: spinning, then sleeping on the scheduler's event count, and
 * the quiescence judgement that ends fj_destroy's drain (or, while fj_main
 * runs, asks for a deadlock verdict). The waker's side of the event count is
 * wake.c; the argument that no wake-up is lost spans both (sched.c's top
 * comment, and the fences below and in fj__notify), and is modelled in
 * verify/sched2.pml (one worker, the drain) and verify/wake.pml (several
 * workers, the wake passed along).
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
 * should leave the scheduler.
 *
 * Passing the wake on: fj__notify wakes one sleeper for a whole batch, and
 * none while a worker spins (that one will find the work). So every worker
 * that stops spinning or sleeping because it saw work wakes the next sleeper
 * (fj__notify again, which does nothing if nobody sleeps or another worker
 * spins), before it takes the work: a batch wakes one sleeper after another,
 * as long as work is visible. That is the spin loop's find, the last look
 * after registering (a submitter may have skipped its wake while this worker
 * was counted as spinning), and a woken worker, which searches as a spinner
 * again instead of going straight to the queues (it woke for a submitter who
 * skipped every other wake while this one was pending). Without any one of
 * them, N jobs that spin until all N have started, submitted at once to N
 * workers, never finish (verify/wake.pml, tests/core/test_wake.c). */
/* A woken fiber put in our mailbox while we searched (wake.c, "Resuming at
 * home"): take it while still `searching`, so no thief takes it (steal_any
 * leaves a searching owner's mailbox alone), and hand it to our loop. */
static bool take_home(fj__worker *w)
{
    if (w->has_handoff)
        return false;
    fj__fiber *f = w->watching;
    if (f && fj_load_acquire(&f->watch) == FJ__HANDED(w->index)) {
        /* Handed to us (wake.c, "The home watch"): ours alone to resume. */
        fj_store_relaxed(&f->watch, 0);
        w->watching = NULL;
        w->last_parked = NULL;
        w->handoff = fj__resume_task(f);
    } else if (!fj__take_mail(w, &w->handoff)) {
        return false;
    }
    w->has_handoff = true;
    FJ__STAT_INC(w, home_resumes);
    return true;
}

/* Start watching the fiber that parked here last, if it still waits (wake.c,
 * "The home watch"). The state is only a hint: a watch set on a fiber woken
 * meanwhile is stale, and harmless. */
static void watch_begin(fj__worker *w)
{
    fj__fiber *f = w->last_parked;
    if (!f || w->watching)
        return;
    uint32_t expected = 0;
    if (fj_load_relaxed(&f->state) == FJ_FIBER_WAITING &&
        fj_cas_strong_acq_rel(&f->watch, &expected, FJ__WATCHED(w->index)))
        w->watching = f;
    else
        w->last_parked = NULL;
}

/* Stop watching, on every way out of the spin loop: take the word back, or,
 * if a finisher handed us the resume meanwhile, push it on our ready deque
 * (where our next look, or a thief, finds it). */
static void watch_end(fj__worker *w)
{
    fj__fiber *f = w->watching;
    if (!f)
        return;
    w->watching = NULL;
    uint32_t expected = FJ__WATCHED(w->index);
    if (fj_cas_strong_acq_rel(&f->watch, &expected, 0))
        return;
    fj_store_relaxed(&f->watch, 0);   /* handed: the resume is ours */
    w->last_parked = NULL;
    fj__task t = fj__resume_task(f);
    fj__push_or_die(&w->ready, &t, 1, "resuming a woken job");
}

bool fj__worker_idle(fj__worker *w)
{
    fj_scheduler *s = w->s;
    fj__fold_flush(w);
    fj__spares_give_back(w);
    for (;;) {
        unsigned spins = s->cfg.spin_before_sleep;
        fj_fetch_add_seq_cst(&s->spinning, 1);
        fj_store_relaxed(&w->searching, 1);
        watch_begin(w);
        for (unsigned i = 0; i < spins; i++) {
            if (fj__should_leave(w)) {
                watch_end(w);
                fj_store_relaxed(&w->searching, 0);
                fj_fetch_sub_seq_cst(&s->spinning, 1);
                /* Worker 0 leaving fj_main while others run on: pass on a
                 * wake skipped for it (the fence: as in fj__worker_park). */
                fj_fence_seq_cst();
                if (fj__has_work(w))
                    fj__notify(s, 1);
                return false;
            }
            if (FJ_UNLIKELY(fj__over_limit(w))) {
                watch_end(w);
                fj_store_relaxed(&w->searching, 0);
                fj_fetch_sub_seq_cst(&s->spinning, 1);
                return true;   /* the caller parks (and passes the wake on) */
            }
            if (take_home(w) || fj__has_work(w)) {
                /* Found work: if we were the last searcher, wake the next sleeper
                 * so parallelism ramps up while there is work. */
                watch_end(w);
                fj_store_relaxed(&w->searching, 0);
                fj_fetch_sub_seq_cst(&s->spinning, 1);
                fj__notify(s, 1);
                return true;
            }
            fj_cpu_relax();
        }
        watch_end(w);
        fj_store_relaxed(&w->searching, 0);
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
         * lost wake-up is allowed by the language. The idle path only. The same
         * fence orders the loads after the decrement of `spinning` and, for a
         * woken worker, after its clearing of `wake_pending`: a submitter whose
         * read of either came before that write (and so skipped its wake) had
         * pushed before its own fence, so the look below sees the push. */
        fj_fence_seq_cst();
        bool work = fj__has_work(w);
        if (work || fj__should_leave(w) || fj__over_limit(w)) {
            /* Bump the generation before taking what we saw, so a worker judging
             * quiescence notices that a registered sleeper went back to work. */
            fj_fetch_add_seq_cst(&s->idle_gen, 1);
            fj_fetch_sub_seq_cst(&s->sleepers, 1);
            if (work)
                fj__notify(s, 1);   /* pass on a wake skipped while we spun */
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
            /* Tasks pinned to another worker count too (has_work sees only
             * ours): a parked worker runs them, so they are work to drain. And
             * the generation once more, after those loads: a parked worker that
             * rejoined (for its pinned work) bumped it before taking any. */
            if (fj_load_relaxed(&s->shutdown) && fj__drain_done(s) && fj_load_seq_cst(&s->inject_inflight) == 0 &&
                !fj__has_work(w) && !fj__pins_queued(s) && fj_load_seq_cst(&s->idle_gen) == gen) {
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
        if (fj__should_leave(w))
            return false;
        /* Woken: search as a spinner, so that the work found passes the wake on. */
    }
}

/*
 * Parking (fj_set_active_workers). Workers 0..limit-1 take work; a worker at
 * or above the limit parks: it gives back everything it holds privately (the
 * task it just took, its chunk, its yielded fibers, folded finishes, spare
 * fibers) to its deques, where the active workers steal it, leaves `active`
 * and sleeps on its own futex word, outside the event count. So the sleep
 * protocol of the active workers (fj__worker_idle, fj__notify,
 * verify/sched2.pml) is unchanged: to them a parked worker is one that is not
 * taking part, as worker 0 is outside fj_main. Worker 0 never parks (the
 * limit is at least 1).
 *
 * The one exception is pinned work: a task pinned to a parked worker (a job
 * run with FJ_JOB_ON_WORKER, the resume of a fiber whose pinned job waited or
 * yielded there) can run nowhere else, so the pusher kicks the owner
 * (pinned.c), which rejoins, runs it and parks again. The job it was running
 * when the limit fell runs on to its end there, but starts nothing more: in
 * fj_wait it runs none of its queued children and resumes no woken fiber,
 * and fj_yield resumes none (wait.c checks the limit too); it switches to a
 * fresh fiber, which parks.
 *
 * When the limit is checked: after a task is taken, before it starts
 * (fiber_loop, worker.c), in fj_wait and fj_yield before they take a child
 * or a woken fiber, and before sleeping. A relaxed load suffices for
 * the guarantee that a task queued after fj_set_active_workers returned is
 * never started by a worker over the limit (pinned work aside): the taker got
 * the task through an acquire that reads the submitter's release (the
 * deque's bottom, the injection list, the pinned queue's mutex), the
 * submitter's push comes after the limit's store, so that store happens
 * before the taker's load, which cannot then read an older value.
 *
 * No lost kick: a kicker (a raised limit, a pinned push, exit) makes its
 * reason visible, then a seq_cst fence, then reads `parked` (fj__park_kick);
 * the parked worker sets `parked`, reads its word, a seq_cst fence, then
 * looks at every reason. Either the kicker sees `parked` and bumps the word
 * (the futex wait returns at once if it comes later), or the look sees the
 * reason.
 *
 * The judges: leaving, the worker lowers `active` after its pushes (a judge
 * that sees the lower count sees the work) and then, if every worker still
 * taking part is asleep or stuck, wakes the sleepers so that one judges again
 * (the last worker to go idle judges, and that may have been this one: seq_cst
 * Dekker with the registration in fj__worker_idle, sleepers++ then a read of
 * `active`). Rejoining, it raises `active`, then `idle_gen` and the epoch,
 * before it takes any task: a judge that counted it out and then missed the
 * pinned task it took sees one of them move (the drain re-reads idle_gen
 * after the queues, the deadlock judge compares the epoch after its grace
 * period).
 */
void fj__park_give_back(fj__worker *w, const fj__task *t)
{
    fj_scheduler *s = w->s;
    size_t moved = 0;
    if (t) {
        fj__push_or_die(t->fn ? &w->q[fj__task_queue(t)] : &w->ready, t, 1, "fj_set_active_workers");
        moved++;
    }
    fj__fold_flush(w);
    fj__spares_give_back(w);
    if (w->chunk) {
        fj__chunk_hand_back(w);
        moved++;
    }
    fj__task y;
    if (fj__take_mail(w, &y)) {   /* woken fibers put here: where others steal them */
        fj__push_or_die(&w->ready, &y, 1, "fj_set_active_workers");
        moved++;
    }
    bool pinned = false;
    while (fj__take_yielded(w, &y)) {
        fj__fiber *f = y.arg;
        if (f->pin1) {
            fj__pin_push(s, f->pin1 - 1, &y, "fj_set_active_workers");
            pinned = true;
        } else {
            fj__push_or_die(&w->ready, &y, 1, "fj_set_active_workers");
            moved++;
        }
    }
    if (pinned)
        fj__notify_all(s);
    fj__notify(s, moved);
}

void fj__worker_park(fj__worker *w)
{
    fj_scheduler *s = w->s;
    fj__park_give_back(w, NULL);
    fj_store_seq_cst(&w->parked, 1);
    fj_fetch_sub_seq_cst(&s->active, 1);
    /* A submitter may have skipped its wake while this worker counted as
     * spinning (fj__notify): pass it on if work is visible. The fence makes
     * the loads below see a push made before that submitter's fence. */
    fj_fence_seq_cst();
    if (fj__has_work(w))
        fj__notify(s, 1);
    if (fj_load_seq_cst(&s->sleepers) + fj_load_seq_cst(&s->stuck) >= fj_load_seq_cst(&s->active) &&
        fj_load_seq_cst(&s->sleepers))
        fj__notify_all(s);   /* the last one awake: let a sleeper judge */
    FJ__STAT_INC(w, sleeps);
    FJ_TRACE(w, FJ_EV_SLEEP, UINT32_MAX, NULL, 0);
    for (;;) {
        uint32_t e = fj_load_acquire(&w->park_word);
        fj_fence_seq_cst();   /* pairs with fj__park_kick's */
        if (fj__should_leave(w) || !fj__over_limit(w) || fj_load_relaxed(&w->pin_count))
            break;
        fj__os_futex_wait(&w->park_word, e);
    }
    FJ_TRACE(w, FJ_EV_WAKE, UINT32_MAX, NULL, 0);
    fj_fetch_add_seq_cst(&s->active, 1);
    fj_fetch_add_seq_cst(&s->idle_gen, 1);
    fj_fetch_add_seq_cst(&s->epoch, 1);
    fj_store_seq_cst(&w->parked, 0);
}
