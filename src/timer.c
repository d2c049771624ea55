/*
 * Timed waits (fj_wait_until): proxies, the timer heap and the timer thread.
 *
 * A timed waiter is not listed on the counter itself: a wait list can only
 * be pushed to and taken whole (counter.c), so a waiter that gave up could
 * never take itself off. It lists a *proxy* instead, a launch record
 * (record.c) in the FJ__REC_PROXY state that names the waiter. Two parties
 * may end the wait, and the first CAS of the proxy's claim from NONE decides
 * (fj__proxy_claim):
 *   - a finisher that takes the proxy off the list with its chain, the count
 *     reached (FJ__CLAIM_REACHED: fj__proxy_reached);
 *   - the deadline (FJ__CLAIM_TIMEOUT): the timer thread for a job, the
 *     waiting thread itself for a thread outside the schedulers.
 * The winner sets the waiter's timed_out and resumes it (fj__resume_waiter:
 * the same release/acquire edges as a plain wake); the loser does nothing to
 * the waiter. A proxy that lost to its deadline is dead: every chain split
 * treats it as reached (counter.c, link_of), so its holder lets it go after
 * its last access to the counter, and its waiter does not return before
 * that (wait.c, wait_proxy_off), taking the chain off the counter itself
 * until then (fj__counter_drop_dead).
 *
 * References. A job's proxy has three: the list's (dropped by the finisher
 * that takes it, or by the publisher when it was never listed, or by
 * fj_counter_init), the timer's (dropped when the heap lets go of it: fired
 * or cancelled) and the waiter's (dropped when the wait returns). The last
 * one puts the proxy back (fj__proxy_release: an acq_rel fetch_sub, so
 * every use by the others happens before the reuse). An outside thread's
 * proxy has two: the list's and the thread's.
 *
 * The heap is per scheduler, under a mutex (timed waits are not the per-job
 * path). The timer thread, started by the first timed wait of a scheduler,
 * sleeps on a futex until the earliest deadline or a new earlier one; it
 * claims and resumes under the lock, so a waiter cancelling its entry (under
 * the lock too) never races a firing. It is stopped by fj_destroy after the
 * drain, when no job waits any more.
 */
#include "internal.h"
#include "os.h"

fj__record *fj__proxy_take(fj__worker *w, fj_scheduler *s, fj__fiber *f, fj_counter *c, int64_t target,
                           uint64_t deadline, uint32_t refs, int *err)
{
    fj__record *r = fj__record_take(w && w->s == s ? w : NULL, err);
    if (!r)
        return NULL;
    r->after = r->inline_after;
    r->tasks = &r->task;
    r->nafter = 0;
    r->ntasks = 0;
    r->waiter = f;
    r->deadline = deadline;
    r->heap_index = FJ__NO_HEAP;
    fj_store_relaxed(&r->claim, (uint32_t)FJ__CLAIM_NONE);
    fj_store_relaxed(&r->refs, refs);
    fj_store_relaxed(&r->s, s);
    fj_store_relaxed(&r->job_name, fj_load_relaxed(&f->job_name));
    fj_store_relaxed(&r->wait_counter, c);
    fj_store_relaxed(&r->wait_target, target);
    fj_store_relaxed(&r->state, (uint32_t)FJ__REC_PROXY);
    return r;
}

void fj__proxy_release(fj__record *r)
{
    if (fj_fetch_sub_acq_rel(&r->refs, 1) == 1)
        fj__record_put(NULL, r);   /* any thread: the shared list */
}

size_t fj__proxy_reached(fj__record *r)
{
    size_t n = 0;
    if (fj__proxy_claim(r, FJ__CLAIM_REACHED)) {
        fj__fiber *f = r->waiter;
        f->timed_out = 0;
        n = fj__resume_waiter(f);
    }
    fj__proxy_release(r);   /* the list's */
    return n;
}

/* ------------------------------------------------------------ the heap */

static void heap_set(fj_scheduler *s, size_t i, fj__record *r)
{
    s->timer_heap[i] = r;
    r->heap_index = (uint32_t)i;
}

static void heap_up(fj_scheduler *s, size_t i)
{
    fj__record *r = s->timer_heap[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (s->timer_heap[p]->deadline <= r->deadline)
            break;
        heap_set(s, i, s->timer_heap[p]);
        i = p;
    }
    heap_set(s, i, r);
}

static void heap_down(fj_scheduler *s, size_t i)
{
    fj__record *r = s->timer_heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= s->ntimers)
            break;
        if (c + 1 < s->ntimers && s->timer_heap[c + 1]->deadline < s->timer_heap[c]->deadline)
            c++;
        if (s->timer_heap[c]->deadline >= r->deadline)
            break;
        heap_set(s, i, s->timer_heap[c]);
        i = c;
    }
    heap_set(s, i, r);
}

/* Remove entry i (timer_lock held). */
static void heap_remove(fj_scheduler *s, size_t i)
{
    fj__record *gone = s->timer_heap[i];
    gone->heap_index = FJ__NO_HEAP;
    size_t last = --s->ntimers;
    if (i == last)
        return;
    fj__record *moved = s->timer_heap[last];
    heap_set(s, i, moved);
    heap_down(s, i);
    heap_up(s, moved->heap_index);
}

/* The timer thread: fire what is due, sleep until the next deadline. */
static void *timer_main(void *arg)
{
    fj_scheduler *s = arg;
    fj__os_thread_name_self("fj-timer");
    fj__os_mutex_lock(&s->timer_lock);
    while (!fj_load_acquire(&s->timer_stop)) {
        uint64_t now = fj__os_now_ns();
        while (s->ntimers && s->timer_heap[0]->deadline <= now) {
            fj__record *r = s->timer_heap[0];
            heap_remove(s, 0);
            if (fj__proxy_claim(r, FJ__CLAIM_TIMEOUT)) {
                r->waiter->timed_out = 1;
                fj__resume_waiter(r->waiter);   /* from outside: through the injection queue */
            }
            fj__proxy_release(r);   /* the timer's */
        }
        uint64_t wait = s->ntimers ? s->timer_heap[0]->deadline - now : UINT64_C(1000000000);
        uint32_t seen = fj_load_acquire(&s->timer_word);
        fj__os_mutex_unlock(&s->timer_lock);
        fj__os_futex_wait_ns(&s->timer_word, seen, wait);
        fj__os_mutex_lock(&s->timer_lock);
    }
    fj__os_mutex_unlock(&s->timer_lock);
    return NULL;
}

bool fj__timer_reserve(fj_scheduler *s)
{
    fj__os_mutex_lock(&s->timer_lock);
    bool ok = true;
    if (!s->timer_started) {
        ok = fj__os_thread_start(&s->timer_thread, timer_main, s, -1) == 0;
        s->timer_started = ok;
    }
    if (ok && s->ntimers + s->timer_reserved == s->timer_cap) {
        size_t cap = s->timer_cap ? 2 * s->timer_cap : 64;
        fj__record **h = fj__mem_alloc(&s->mem, cap * sizeof *h, FJ_MEM_ALIGN);
        ok = h != NULL;
        if (ok) {
            for (size_t i = 0; i < s->ntimers; i++)
                h[i] = s->timer_heap[i];
            if (s->timer_heap)
                fj__mem_free(&s->mem, s->timer_heap, s->timer_cap * sizeof *h, FJ_MEM_ALIGN);
            s->timer_heap = h;
            s->timer_cap = cap;
        }
    }
    if (ok)
        s->timer_reserved++;
    fj__os_mutex_unlock(&s->timer_lock);
    return ok;
}

void fj__timer_add(fj_scheduler *s, fj__record *r)
{
    fj__os_mutex_lock(&s->timer_lock);
    s->timer_reserved--;
    bool first = false, skip = false;
    fj__record *r_skipped = r;
    /* Claimed already (a finisher resumed the waiter, whose cancel may have
     * run before this): no entry, or it would hold the proxy until its
     * deadline. Checked under the lock, which the waiter's cancel takes. */
    if (r && fj_load_acquire(&r->claim) != FJ__CLAIM_NONE) {
        skip = true;
        r = NULL;
    }
    if (r) {
        heap_set(s, s->ntimers++, r);
        heap_up(s, r->heap_index);
        first = s->timer_heap[0] == r;
        if (first)
            fj_fetch_add_acq_rel(&s->timer_word, 1);
    }
    fj__os_mutex_unlock(&s->timer_lock);
    if (first)
        fj__os_futex_wake(&s->timer_word, 1);
    if (skip)
        fj__proxy_release(r_skipped);   /* the timer's */
}

void fj__timer_cancel(fj_scheduler *s, fj__record *r)
{
    fj__os_mutex_lock(&s->timer_lock);
    bool held = r->heap_index != FJ__NO_HEAP;
    if (held)
        heap_remove(s, r->heap_index);
    fj__os_mutex_unlock(&s->timer_lock);
    if (held)
        fj__proxy_release(r);   /* the timer's */
}

void fj__timers_stop(fj_scheduler *s)
{
    fj__os_mutex_lock(&s->timer_lock);
    bool started = s->timer_started;
    fj_store_release(&s->timer_stop, 1u);
    fj_fetch_add_acq_rel(&s->timer_word, 1);
    fj__os_mutex_unlock(&s->timer_lock);
    if (started) {
        fj__os_futex_wake(&s->timer_word, 1);
        fj__os_thread_join(&s->timer_thread);
    }
    /* Nothing waits any more (the drain is over), and a waiter cancels its
     * entry before it returns: normally nothing is left. Kept for safety. */
    while (s->ntimers) {
        fj__record *r = s->timer_heap[0];
        heap_remove(s, 0);
        fj__proxy_release(r);
    }
    if (s->timer_heap)
        fj__mem_free(&s->mem, s->timer_heap, s->timer_cap * sizeof *s->timer_heap, FJ_MEM_ALIGN);
    s->timer_heap = NULL;
    s->timer_cap = 0;
}
