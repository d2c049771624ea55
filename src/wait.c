/*
 * Waiting and yielding: fj_wait and fj_yield.
 *
 * A job that waits first runs its own children still queued on its worker
 * (nested where its whole stack class fits, else on the next stack segment
 * of its fiber, segment.c, else on a fiber of its own, worker.c), then
 * parks: it switches to a woken fiber or a fresh one, and the post-switch
 * action publishes it on the counter (worker.c, counter.c). With
 * every fiber taken it runs queued jobs nested while they fit, else spins,
 * counted as `stuck`, and after a while asks whether the pool is deadlocked
 * (deadlock.c). A thread outside every scheduler blocks on a futex in a
 * process-wide record instead (wait_external).
 *
 * A yield puts the fiber behind all other ready work of its worker (the
 * yield FIFO, steal.c) only when there is other work; otherwise it returns.
 */
#include <stdlib.h>

#include "internal.h"
#include "os.h"

/*
 * fj_wait on a thread outside every scheduler: block on a futex in a
 * process-wide record (fiber.c), so that nothing here depends on a scheduler
 * staying alive. Now and then (50 ms, doubling to 1 s) the thread looks at
 * whether anything could still finish the count, and reports a deadlock
 * as a fiber's would be (fj__deadlock_judge).
 */
static void wait_external(fj_counter *c, int64_t target)
{
    if (fj_counter_value(c) <= target)
        return;
    /* Any live scheduler, one being destroyed included: its drain may still
     * run the jobs this thread waits for. */
    bool alive = fj__registry_lock() != NULL;
    fj__registry_unlock();
    /* None: the last one may have drained the jobs and left the registry
     * since the read above (its removal, under the lock we just took, comes
     * after its drain), so look at the value once more before judging. */
    if (!alive && fj_counter_value(c) <= target)
        return;
    if (!alive)
        fj__fatal("fj_wait", "called outside a job with no scheduler running: nothing could ever "
                  "finish the counter (value %lld, target %lld)",
                  (long long)fj_counter_value(c), (long long)target);
    fj__fiber *rec = fj__outside_take();
    if (!rec) {
        /* No memory or no waiter id left for a record: poll, slowly. */
        while (fj_counter_value(c) > target) {
            fj__os_sleep_ns(100 * 1000);
        }
        return;
    }
    fj_store_relaxed(&rec->job_name, "(outside thread)");
    fj_store_relaxed(&rec->wake, 0);
    fj_store_seq_cst(&rec->state, (int)(FJ_FIBER_WAITING));
    fj_fetch_add_seq_cst(&fj__outside_waiting, 1);
    if (fj__counter_publish(c, rec, target)) {
        uint64_t nap = 50u * 1000 * 1000;
        while (fj_load_acquire(&rec->wake) == 0) {
            if (fj__os_futex_wait_ns(&rec->wake, 0, nap))
                continue;
            if (fj_load_acquire(&rec->wake) == 0)
                fj__deadlock_judge(NULL, "every worker is idle and nothing is queued", NULL, NULL, 0);
            nap = nap < 500u * 1000 * 1000 ? nap * 2 : 1000u * 1000 * 1000;
        }
    }
    fj_store_seq_cst(&rec->state, (int)(FJ_FIBER_EXTERNAL));
    fj_fetch_sub_seq_cst(&fj__outside_waiting, 1);
    fj__outside_put(rec);
}

/* Run one of our own children of c that is still queued on this worker (the
 * chunk or the bottom of a deque): here when its whole stack class fits, on
 * our fiber's next stack segment (fj__run_on_seg), or on a fiber of its own
 * (fj__call_child). *wp is then the worker we are on when it returned (the
 * fiber may have moved). False when there is none, or no segment, no fiber
 * and no room: then the caller parks.
 *
 * What we wait for (wait_counter, wait_target) is recorded for reports, the
 * debugger and take_sibling just before a child runs on a segment or on
 * another fiber, where they look for it (a CALLING fiber, a segment's
 * caller); a nested child that waits in turn overwrites them, so they are
 * written each time, not once per fj_wait. A parked waiter's are written
 * by its publish (counter.c). */
static bool run_child(fj__worker **wp, fj__fiber *self, fj_counter *c, int64_t target)
{
    fj__worker *w = *wp;
    for (int q = 0; q < FJ_NQ; q++) { /* high, normal, low: priority order holds here too */
        fj__task t;
        fj_counter *tc;
        uintptr_t tflags;
        bool in_chunk = w->chunk && w->chunk_q == q && w->chunk->counter == c;
        if (!in_chunk && !(fj__deque_peek_bottom_counter(&w->q[q], &tc, &tflags) && tc == c))
            continue;
        if (in_chunk)
            tflags = w->chunk->flags;   /* batched jobs: small stack, or shallow */
        fj__fiber *child = NULL;
        bool seg = false;
        if (!fj__fits_here(w, self, tflags)) {
            /* On the next segment of our own stack where there is one (a
             * nested run with a whole stack of its own, segment.c); else on a
             * fiber of its own. A pinned waiter is never called back from
             * another fiber: the child could end on another worker, and the
             * waiter with it. Nor is a lent one (worker.c, "Lending"): it
             * parks instead, which gives its submitter back here and now. */
            seg = fj__seg_next(self, tflags);
            if (!seg && (self->pin1 || self->lend_q1))
                return false;
            if (!seg && !(child = fj__fiber_take(w, tflags)))
                return false;
        }
        bool took = in_chunk ? fj__chunk_take(w, &t) : fj__deque_take(&w->q[q], &t);
        if (!took || t.counter != c) {
            /* A thief took it meanwhile (the deque's last entry), or (cannot
             * happen: only the owner changes the bottom) another job is there
             * now: never lose a job or a fiber. */
            if (took)
                fj__push_or_die(&w->q[q], &t, 1, "fj_wait");
            if (child)
                fj__fiber_put(w, child);
            return false;
        }
        if (!in_chunk && fj__is_range(&t))
            fj__range_open(w, &t);
        if (child || seg) {
            fj_store_relaxed(&self->wait_counter, c);
            fj_store_relaxed(&self->wait_target, target);
        }
        if (child)
            *wp = fj__call_child(w, self, child, &t);
        else if (seg)
            *wp = fj__run_on_seg(w, self, &t);
        else {
            *wp = fj__run_nested(w, self, &t);
            if (FJ_UNLIKELY((*wp)->chunk != NULL))
                *wp = fj__drain_chunk(*wp, self, &t, c, target);
        }
        return true;
    }
    return false;
}

/* Every fiber is taken: run a queued job of our own here, on this stack,
 * if its whole stack class fits below us (fj__fits_here). */
static bool run_any_inline(fj__worker *w, fj__fiber *self)
{
    if (!fj__fits_here(w, self, 0)) {
        /* No room here: a private chunk must not wait for this fiber. Put it
         * where a worker with a fiber free can steal it. */
        if (w->chunk) {
            fj__chunk_hand_back(w);
            fj__notify(w->s, 1);
        }
        return false;
    }
    fj__task t;
    if (fj__chunk_take(w, &t)) {
        fj__run_nested(w, self, &t);
        return true;
    }
    for (int q = 0; q < FJ_NQ; q++) {
        if (fj__deque_take(&w->q[q], &t)) {
            if (fj__is_range(&t))
                fj__range_open(w, &t);
            if (!t.fn || !fj__fits_here(w, self, t.flags)) {
                fj__push_or_die(&w->q[q], &t, 1, "fj_wait");
                continue;
            }
            fj__run_nested(w, self, &t);
            return true;
        }
    }
    return false;
}

void fj_wait(fj_counter *c, int64_t target)
{
    if (!c)
        fj__fatal("fj_wait", "counter is NULL");
    if (target < 0 || target > FJ_WAIT_TARGET_MAX)
        fj__fatal("fj_wait", "target %lld is outside 0..%d", (long long)target, FJ_WAIT_TARGET_MAX);
    fj__worker *w = fj__current_worker();
    if (!w) {
        wait_external(c, target);
        return;
    }
    fj__check_not_in_hook(w, "fj_wait");
    fj__fiber *self = w->current;
    if (w->fold_counter != c)
        fj__fold_flush(w);
    if (FJ__CHECKS_FPU && !FJ__SAVES_FPU)
        fj__fpu_check(w, "fj_wait", self->job_name);
    /* Run our own children that are still in our deque before parking. Their
     * finishes collect in the worker's fold; the value we compare counts them. */
    for (;;) {
        int64_t pending = w->fold_counter == c ? w->fold_k : 0;
        /* Over fj_set_active_workers' limit: start nothing (idle.c, "Parking"). */
        /* run_child leaves w the worker we are on when the child returned. */
        if (fj__counter_now(c) - pending <= target || FJ_UNLIKELY(fj__over_limit(w)) || !run_child(&w, self, c, target))
            break;
    }
    fj__fold_flush(w);
    unsigned stuck = 0;
    uint64_t stuck_since = 0;
    for (;;) {
        if (fj__counter_now(c) <= target) {
            if (stuck >= 1000)
                fj_fetch_sub_seq_cst(&w->s->stuck, 1);
            return;
        }
        fj__task t;
        fj__fiber *next = NULL;
        if (FJ_UNLIKELY(self->lend_q1)) {
            next = fj__lend_return(w, self, "fj_wait");   /* lent: its submitter goes on (worker.c) */
        } else if (FJ_UNLIKELY(fj__pin_queued(w)) && fj__pin_take_fiber(w, &t)) {
            next = t.arg;   /* a woken fiber pinned here: only we can resume it */
        } else if (!fj__over_limit(w) && fj__deque_take(&w->ready, &t)) {
            next = t.arg;
        } else if (stuck && fj__take_yielded(w, &t)) {
            next = t.arg;   /* no fiber to spare: let a yielded one go on */
        } else {
            next = fj__fiber_take_small(w);
            if (!next)
                next = fj__pool_take(w->s, &w->s->free_large);
        }
        if (next) {
            if (stuck >= 1000)
                fj_fetch_sub_seq_cst(&w->s->stuck, 1);
            w->post_counter = c;
            w->post_target = target;
            /* Before the state: a judge that sees WAITING reads them. */
            fj_store_relaxed(&self->wait_counter, c);
            fj_store_relaxed(&self->wait_target, target);
            fj_store_relaxed(&self->state, (int)(FJ_FIBER_WAITING));
            FJ_TRACE(w, FJ_EV_SUSPEND, self->index, self->job_name, c);
            w = fj__switch_to(w, self, next, FJ_POST_WAIT);
            FJ_TRACE(w, FJ_EV_RESUME, self->index, self->job_name, c);
            return;
        }
        /* Every fiber is taken. Keep resuming woken fibers (above); rather than
         * deadlock, run a queued job of our own on this stack while it has room
         * (it delays this fiber's return until that job is done); otherwise wait
         * for a fiber to come free. */
        if (fj__over_limit(w) || !run_any_inline(w, self)) {
            fj_cpu_relax();
            fj__os_yield();
            if (++stuck == 1000) {
                fj_fetch_add_seq_cst(&w->s->stuck, 1);
                stuck_since = fj__os_now_ns();
            }
            /* Sleepers could take the queued work this stuck fiber cannot run
             * (each has a fiber of its own): wake one now and then. */
            if ((stuck & 255) == 0 && fj_load_relaxed(&w->s->sleepers) && fj__has_work(w))
                fj__notify(w->s, 1);
            /* Judged after a while stuck (time, not spins: sched_yield is slow
             * on a loaded machine), and then only when nothing can progress. */
            if (stuck > 1000 && (stuck & 255) == 0 && fj__os_now_ns() - stuck_since > 100000000u &&
                fj__pool_deadlocked(w)) {
                fj__deadlock_judge(w->s, "the fiber pool is exhausted and every worker is idle or waiting", self,
                               c, target);
                fj_fetch_sub_seq_cst(&w->s->stuck, 1);
                stuck = 0;
            }
        } else {
            if (stuck >= 1000)
                fj_fetch_sub_seq_cst(&w->s->stuck, 1);
            stuck = 0;
        }
        w = fj__current_worker();
        fj__fold_flush(w);
    }
}

void fj_yield(void)
{
    fj__worker *w = fj__current_worker();
    if (w)
        fj__check_not_in_hook(w, "fj_yield");
    if (!w || !w->current)
        fj__fatal("fj_yield", "called outside a job");
    fj__fiber *self = w->current;
    if (FJ_UNLIKELY(self->kind == FJ_KIND_NATIVE))
        return;   /* an entered thread's own stack (fj_enter): no yield FIFO for it */
    fj__fold_flush(w);
    fj__task t;
    fj__fiber *next = NULL;
    if (FJ_UNLIKELY(self->lend_q1)) {
        next = fj__lend_return(w, self, "fj_yield");   /* lent: its submitter goes on (worker.c) */
    } else if (!fj__over_limit(w) && fj__deque_take(&w->ready, &t)) {
        next = t.arg;
    } else {
        bool other = w->yield_head || w->chunk || fj_load_relaxed(&w->s->inject) || fj__pin_queued(w);
        for (int q = 0; q < FJ_NQ && !other; q++)
            other = fj__deque_size_hint(&w->q[q]) > 0;
        /* Other workers' job deques too: a worker over the active limit
         * (fj_set_active_workers) parks with what steal_more took still in
         * its deque, which only a look for work here takes back; a job that
         * yields in a loop until that work is done would spin for ever. */
        for (unsigned v = 0; v < w->s->nworkers && !other; v++) {
            fj__worker *o = &w->s->workers[v];
            other = fj__deque_size_hint(&o->ready) > 0 || fj_load_relaxed(&o->mailbox);
            for (int q = 0; q < FJ_NQ && !other && o != w; q++)
                other = fj__deque_size_hint(&o->q[q]) > 0;
        }
        if (!other)
            return;   /* nothing else is ready: carry on */
        next = fj__fiber_take_small(w);
        if (!next)
            return;
    }
    fj_store_relaxed(&self->state, (int)(FJ_FIBER_YIELDED));
    FJ_TRACE(w, FJ_EV_SUSPEND, self->index, self->job_name, 0);
    w = fj__switch_to(w, self, next, FJ_POST_YIELD);
    FJ_TRACE(w, FJ_EV_RESUME, self->index, self->job_name, 0);
}


/*
 * Timed waits: fj_wait_until and fj_wait_for (timer.c has the protocol). A
 * job parks as in fj_wait, but a proxy is listed on the counter in its place
 * (the post-switch action timed_park), and the timer thread holds the proxy
 * by its deadline; whichever of a finisher and the deadline claims the proxy
 * first resumes the job. A thread outside the schedulers does the same with
 * its outside record, timing out on its own futex. With no fiber free, or no
 * timer thread or record to be had, a job polls until reached or the
 * deadline (running queued jobs where they fit, as fj_wait does).
 */
uint64_t fj_now_ns(void) { return fj__os_now_ns(); }

/* Post-switch action of a job parking in a timed wait: f has left its
 * stack. List the proxy; if the count is reached already, claim it here. */
static void timed_park(fj__worker *w, fj__fiber *f, void *arg)
{
    fj__record *r = arg;
    fj_counter *c = fj_load_relaxed(&r->wait_counter);
    int64_t target = fj_load_relaxed(&r->wait_target);
    if (!fj__counter_publish_proxy(c, r, target)) {
        fj__timer_add(w->s, NULL);   /* the reserved slot back */
        fj__proxy_release(r);        /* the timer's: never timed */
        if (fj__proxy_claim(r, FJ__CLAIM_REACHED)) {
            f->timed_out = 0;
            if (fj__resume_waiter(f))
                fj__notify(w->s, 1);
        }
        fj__proxy_release(r);        /* the list's: never listed */
        return;
    }
    /* Listed: a finisher may have claimed it and resumed f already; then
     * fj__timer_add sees the claim (under the lock the waiter's cancel
     * takes) and keeps no entry. */
    fj__timer_add(w->s, r);
}

/*
 * A timed wait that timed out does not return while its proxy is still on
 * c's list or in a chain someone holds: the list's reference is then not
 * gone (refs >= `held`: ours and the list's). Returning earlier would let the
 * caller free c while a chain owner that holds the dead proxy in its
 * unreached part may still put it back into c (found by review, with a
 * reproducer under ASan). Each round takes the chain off c, which lets dead
 * proxies go (fj__counter_drop_dead); one held elsewhere is let go by its
 * holder after its last access to c, the acq_rel fetch_sub of the release
 * that our acquire load reads. c is alive meanwhile: we are still waiting.
 */
static void wait_proxy_off(fj_counter *c, fj__record *r, uint32_t held)
{
    while (fj_load_acquire(&r->refs) >= held) {
        fj__counter_drop_dead(c);
        if (fj_load_acquire(&r->refs) >= held)
            fj__os_yield();
    }
}

/* No context to park in: poll until reached or the deadline. */
static int poll_until(fj__worker *w, fj__fiber *self, fj_counter *c, int64_t target, uint64_t deadline)
{
    for (;;) {
        if (fj_counter_value(c) <= target)
            return 1;
        if (fj__os_now_ns() >= deadline)
            return 0;
        if (!w || !self || fj__over_limit(w) || !run_any_inline(w, self))
            fj__os_yield();
        w = fj__current_worker();
        if (w)
            fj__fold_flush(w);
    }
}

static int wait_external_until(fj_counter *c, int64_t target, uint64_t deadline)
{
    if (fj_counter_value(c) <= target)
        return 1;
    int err = 0;
    fj__fiber *rec = fj__outside_take();
    fj__record *r = rec ? fj__proxy_take(NULL, NULL, rec, c, target, deadline, 2, &err) : NULL;
    if (!r) {
        if (rec)
            fj__outside_put(rec);
        for (;;) {
            if (fj_counter_value(c) <= target)
                return 1;
            uint64_t now = fj__os_now_ns();
            if (now >= deadline)
                return 0;
            fj__os_sleep_ns(deadline - now < 100000 ? deadline - now : 100000);
        }
    }
    fj_store_relaxed(&rec->job_name, "(outside thread)");
    if (!fj__counter_publish_proxy(c, r, target)) {
        fj__proxy_release(r);   /* the list's: never listed */
        fj__proxy_release(r);   /* ours */
        fj__outside_put(rec);
        return 1;
    }
    bool timed_out = false;
    for (;;) {
        if (fj_load_acquire(&rec->wake))
            break;   /* a finisher claimed the proxy and woke us */
        uint64_t now = fj__os_now_ns();
        if (now >= deadline) {
            if (fj__proxy_claim(r, FJ__CLAIM_TIMEOUT)) {
                timed_out = true;
                break;
            }
            /* A finisher claimed it first: its wake is on the way. */
            while (fj_load_acquire(&rec->wake) == 0)
                fj__os_futex_wait(&rec->wake, 0);
            break;
        }
        fj__os_futex_wait_ns(&rec->wake, 0, deadline - now);
    }
    if (timed_out)
        wait_proxy_off(c, r, 2);
    fj__proxy_release(r);           /* ours */
    fj__outside_put(rec);
    return !timed_out || fj_counter_value(c) <= target;
}

static int wait_until(const char *call, fj_counter *c, int64_t target, uint64_t deadline)
{
    if (!c)
        fj__fatal(call, "counter is NULL");
    if (target < 0 || target > FJ_WAIT_TARGET_MAX)
        fj__fatal(call, "target %lld is outside 0..%d", (long long)target, FJ_WAIT_TARGET_MAX);
    fj__worker *w = fj__current_worker();
    if (!w)
        return wait_external_until(c, target, deadline);
    fj__check_not_in_hook(w, call);
    fj__fold_flush(w);
    fj__fiber *self = w->current;
    if (fj_counter_value(c) <= target)
        return 1;
    if (fj__os_now_ns() >= deadline)
        return 0;
    fj_scheduler *s = w->s;
    int err = 0;
    fj__record *r = NULL;
    fj__fiber *next = NULL;
    fj__task t;
    if (fj__timer_reserve(s)) {
        r = fj__proxy_take(w, s, self, c, target, deadline, 3, &err);
        if (r) {
            if (FJ_UNLIKELY(self->lend_q1))
                next = fj__lend_return(w, self, call);   /* lent: the submitter goes on */
            else if (FJ_UNLIKELY(fj__pin_queued(w)) && fj__pin_take_fiber(w, &t))
                next = t.arg;
            else if (!fj__over_limit(w) && fj__deque_take(&w->ready, &t))
                next = t.arg;
            else if (!(next = fj__fiber_take_small(w)))
                next = fj__pool_take(s, &s->free_large);
        }
        if (!next) {
            fj__timer_add(s, NULL);
            if (r)
                fj__record_put(w, r);   /* never shared */
        }
    }
    if (!next) {
        if (self && FJ_UNLIKELY(self->lend_q1) && w->lend_n)
            fj__lend_give_back(w, call);   /* polling: what it claimed runs elsewhere meanwhile */
        return poll_until(w, self, c, target, deadline);
    }
    fj_store_relaxed(&self->wait_counter, c);
    fj_store_relaxed(&self->wait_target, target);
    fj_store_relaxed(&self->wait_deadline, deadline);
    fj_store_relaxed(&self->state, (int)FJ_FIBER_WAITING);
    w->post_call = timed_park;
    w->post_arg = r;
    FJ_TRACE(w, FJ_EV_SUSPEND, self->index, self->job_name, c);
    w = fj__switch_to(w, self, next, FJ_POST_CALL);
    FJ_TRACE(w, FJ_EV_RESUME, self->index, self->job_name, c);
    bool timed_out = self->timed_out != 0;
    fj_store_relaxed(&self->wait_deadline, (uint64_t)0);
    fj__timer_cancel(w->s, r);   /* after it, the timer holds no reference */
    if (timed_out)
        wait_proxy_off(c, r, 2);
    fj__proxy_release(r);           /* ours */
    return !timed_out || fj_counter_value(c) <= target;
}

int fj_wait_until(fj_counter *c, int64_t target, uint64_t deadline_ns)
{
    return wait_until("fj_wait_until", c, target, deadline_ns);
}

int fj_wait_for(fj_counter *c, int64_t target, uint64_t timeout_ns)
{
    uint64_t now = fj__os_now_ns();
    return wait_until("fj_wait_for", c, target, timeout_ns > UINT64_MAX - now ? UINT64_MAX : now + timeout_ns);
}
