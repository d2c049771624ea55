/*
 * Waking: everything that makes work visible to workers that may be asleep.
 * It owns
 *   - the waker's side of the event count (fj__notify, fj__notify_all; the
 *     sleeper's side is fj__worker_idle in idle.c, and the argument that no
 *     wake-up is lost spans both: see sched.c's top comment and below);
 *   - the count of outside threads inside a call that touches a scheduler
 *     (fj__inflight_enter/leave), which quiescence and deadlock judgements
 *     and fj_destroy's final free wait for;
 *   - the injection queue's producer side: submissions from threads outside
 *     the scheduler and wakes from foreign finishers (fj__inject_push,
 *     fj__inject_tasks; the consumer is take_injected in steal.c);
 *   - fj__resume_waiter: a waiter taken off a counter's wait list (counter.c)
 *     goes back to its own scheduler.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "os.h"

/*
 * Wake at most one sleeper, and only when it is needed: nobody sleeps (the busy
 * case: no system call), or a worker is awake and searching (it will find the
 * work; when it does it wakes the next one, so sleepers are woken in a chain
 * as long as there is work: fj__worker_idle), or a wake is already in flight
 * (`wake_pending`, cleared by whoever returns from the futex wait, which then
 * searches as a spinner). This keeps a submitter of many small batches from
 * issuing a futex wake per batch while the woken worker is still getting up.
 *
 * No lost wake-up: the submitter pushes, then a seq_cst fence, then reads.
 * A searching worker counted in `spinning` decrements it (seq_cst) before it
 * registers as a sleeper and looks at every queue once more, so it sees the
 * push; a pending wake is cleared by a worker that then searches, likewise
 * after the submitter's read (the fence in fj__worker_idle's registration).
 *
 * A wake that found nobody in the futex wait (the sleepers counted were
 * between their registration and the wait: the bumped epoch sends those back
 * to searching) clears `wake_pending` itself, and then looks again: a
 * submitter that saw it pending meanwhile skipped its own wake, and a
 * sleeper that registered after our bump may have looked at the queues
 * before that submitter's push. The look again is that submitter's: our
 * clearing comes after its read of `wake_pending`, and our fence after the
 * clearing, so a sleeper that registers after our second read of
 * `sleepers` sees its push (verify/wake.pml, BUG_PENDING_NO_RELOOK). It
 * repeats only while a wake finds nobody although someone is registered and
 * nobody spins (wake_one).
 */
static FJ_NOINLINE void wake_one(fj_scheduler *s)
{
    for (;;) {
        uint32_t expected = 0;
        if (!fj_cas_strong_seq_cst(&s->wake_pending, &expected, 1))
            return;
        fj_fetch_add_seq_cst(&s->epoch, 1);
        fj__worker *w = fj__current_worker();
        if (w)
            FJ__STAT_INC(w, wakes);
        if (fj__os_futex_wake(&s->epoch, 1) != 0)
            return;
        fj_store_seq_cst(&s->wake_pending, 0);
        fj_fence_seq_cst();
        if (fj_load_relaxed(&s->sleepers) == 0 || fj_load_relaxed(&s->spinning) != 0)
            return;
    }
}

void fj__notify(fj_scheduler *s, size_t n)
{
    if (n == 0)
        return;
    fj_fence_seq_cst();
    if (FJ_LIKELY(fj_load_relaxed(&s->sleepers) == 0) || fj_load_relaxed(&s->spinning) != 0)
        return;
    wake_one(s);   /* out of line: the busy case above stays inline in the submitters */
}

void fj__notify_all(fj_scheduler *s)
{
    fj_fetch_add_seq_cst(&s->epoch, 1);
    fj__os_futex_wake(&s->epoch, 1 << 30);
}

/* An outside thread leaves fj_run_jobs or fj_counter_done. A worker judging
 * quiescence (for fj_destroy's drain or a deadlock) may have seen it still
 * inside and gone to sleep: wake the sleepers so one judges again. Dekker with
 * fj__worker_idle: there, sleepers++ then a read of inject_inflight; here the
 * decrement then a read of sleepers (all seq_cst). */
void fj__inflight_leave(fj_scheduler *s)
{
    if (fj_fetch_sub_seq_cst(&s->inject_inflight, 1) == 1 && fj_load_seq_cst(&s->sleepers))
        fj__notify_all(s);
    /* The last touch: fj_destroy frees s once outside_refs is zero. */
    fj_fetch_sub_seq_cst(&s->outside_refs, 1);
}

void fj__inflight_enter(fj_scheduler *s)
{
    fj_fetch_add_seq_cst(&s->outside_refs, 1);
    fj_fetch_add_seq_cst(&s->inject_inflight, 1);
}


void fj__inject_push(fj_scheduler *s, fj__inject_node *node)
{
    /* Release: the node and its tasks are written before it is visible. */
    fj__inject_node *head = fj_load_relaxed(&s->inject);
    do {
        node->next = head;
    } while (!fj_cas_weak_release(&s->inject, &head, node));
    fj__notify(s, 1);
}

void fj__inject_tasks(fj_scheduler *s, const fj__task *tasks, size_t count, const char *call)
{
    /* Nothing else can take the jobs (this thread is no worker, and the
     * caller has no error to return): without memory, stop naming them. */
    fj__inject_node *node = fj__mem_alloc_or_die(&s->mem, fj__inject_node_bytes(count), FJ_MEM_ALIGN, call,
                                                 "queueing job", tasks[0].name);
    node->count = count;
    node->tasks = (fj__task *)(node + 1);
    node->heap = true;
    memcpy(node->tasks, tasks, count * sizeof *tasks);
    fj__inject_push(s, node);
}

/*
 * Resuming at home. A fiber woken by a worker other than the one it parked
 * on would run there with a cold stack: its frames, its saved registers and
 * the waiter's locals all sit in the cache of the core it parked on. When
 * that worker is searching for work (idle, spinning in fj__worker_idle,
 * `searching` set), the finisher puts the fiber in the worker's mailbox, a
 * single slot on a line of its own, instead of on its own ready deque. The
 * owner's spin loop takes it (take_home in idle.c) and resumes it where its
 * stack is warm: the wake bench went from 766 to 511 ns (BENCHMARKS.md).
 *
 * Who takes it. The slot is filled only by a CAS from NULL and emptied only
 * by an exchange to NULL, so each fiber put is taken exactly once, by
 * whoever exchanges first (verify/mailbox.pml). The owner looks first
 * whenever it looks for work (take_local, and its spin loop). A thief
 * (steal_any) takes from a mailbox only while its owner is not searching:
 * the finisher itself, idle right after the put, would otherwise win the
 * race against the owner it meant to hand the fiber to (it did, more often
 * than not, before that rule). A fiber is never stranded by that rule: the
 * owner clears `searching` only on its way to look at its queues (it saw
 * work: take_local looks at the mailbox first), to its registration as a
 * sleeper (whose last look, fj__has_work, sees the mailbox, so it does not
 * sleep), to park (fj__park_give_back moves the fiber to its ready deque),
 * or to leave; and from then on thieves take it. `searching` is only a
 * hint for the putter: the put is visible as work to every look that
 * counts (fj__has_work, fj__deques_hold_work), and the caller notifies
 * after it as after any push, so the sleep protocol (verify/wake.pml) is
 * unchanged: the mailboxes are queues like the deques.
 *
 * Ordering: the fiber was saved and published by the worker it parked on
 * (release) and taken off the list by us (acquire); our CAS is seq_cst (a
 * release: the fiber's state and the finished children's writes go with
 * it, and the store side of the store-buffering pair with a sleeper's
 * registration, as a deque push is), and every take is an acq_rel
 * exchange. tests/core/test_wake_home.c reads the children's plain writes
 * after the resume: with the CAS or the exchange relaxed, ThreadSanitizer
 * reports the race (tried). */
static bool mail_home(fj__worker *h, fj__fiber *f)
{
    if (f->kind > FJ_KIND_LARGE || !fj_load_relaxed(&h->searching) || fj_load_relaxed(&h->mailbox))
        return false;
    fj__fiber *expected = NULL;
    return fj_cas_strong_seq_cst(&h->mailbox, &expected, f);
}

/*
 * The home watch. The mailbox costs a round trip of its own line: the
 * finisher fetches it for the put, the owner fetches it back to take. But
 * the finisher fetches the fiber's record anyway (its state, its home), so
 * when the worker the fiber parked on goes idle it watches a word in that
 * record instead, and a finisher that finds it watched hands the resume over
 * on a line it already holds: one transfer back to the owner, not three
 * (measured in BENCHMARKS.md, "Issue 14, fourth pass: the home watch").
 *
 * The word (fj__fiber.watch) is 0, FJ__WATCHED(i) or FJ__HANDED(i). Worker i
 * sets it from 0 to watched, with a CAS, only on the fiber that parked on it
 * last (`last_parked`), only while searching in its spin loop (watch_begin,
 * idle.c), and takes it back before it leaves that loop by any way
 * (watch_end): a CAS from watched to 0, or, if that fails, the word is
 * handed and the resume is its own, which it pushes on its ready deque. In
 * the loop it claims a handed resume at once (take_home). A finisher turns
 * watched into handed with a CAS (hand_home) and is then done: no push, no
 * notify (the owner is awake: the word is watched only inside its spin).
 * So every wake is one resume, done exactly once: a CAS decides between the
 * finisher's handing and the owner's taking back, and nobody else writes
 * the word. A worker watches one fiber at a time and clears the word before
 * it watches another, so "handed to i" always means the fiber worker i
 * watches now. A watch may be stale (the fiber was woken some other way,
 * say from another scheduler, which never hands over, and waits again
 * elsewhere): then a later wake hands it to i, which resumes it, still
 * exactly once, only not where it last parked. verify/mailbox.pml checks the
 * watch with the mailbox (exactly once, nothing stranded; seeded bugs).
 *
 * Ordering: the handing CAS is acq_rel, a release of the fiber's READY state
 * and of everything its finished children wrote (which our CAS on the
 * counter acquired), and the owner's claim is an acquire load of the word
 * (or its failed CAS, acq_rel). tests/core/test_wake_home.c reads the
 * children's writes after each resume.
 */
static bool hand_home(fj__fiber *f)
{
    uint32_t v = fj_load_relaxed(&f->watch);
    return (v & 3u) == 1u && fj_cas_strong_acq_rel(&f->watch, &v, v + 1u);
}

/*
 * Resume a waiter that a finisher took off a wait list. A thread outside every
 * scheduler is woken through its futex word. A fiber goes to its own
 * scheduler: handed to its home worker if that one watches it (above;
 * returns false: nothing to notify), else onto the ready deque of the worker
 * that finished its count when that worker belongs to it, or into its home's
 * mailbox (returns true: the caller notifies once for all),
 * otherwise (a worker of another scheduler, or an outside thread) through its
 * scheduler's injection queue, in a node of its own record (no allocation).
 *
 * A foreign finisher holds a reference on the fiber's scheduler while it
 * pushes and notifies, taken *before* the fiber leaves the WAITING state:
 * fj_destroy does not end its drain while a fiber of its scheduler waits
 * (fj__worker_idle), and after the drain it frees the scheduler only once the
 * references are gone, so the scheduler cannot be freed under the finisher.
 * inject_inflight also keeps the quiescence judgement from passing between
 * the state change and the push (see fj__inflight_leave).
 */
bool fj__resume_waiter(fj__fiber *f)
{
    if (f->kind == FJ_KIND_EXTERNAL) {
        /* The record is never freed, so the wake after the store is safe even
         * if the thread has returned meanwhile (a spurious futex wake at most). */
        fj_store_release(&f->wake, 1);
        fj__os_futex_wake(&f->wake, 1);
        return false;
    }
    fj_scheduler *s = f->s;
    fj__worker *w = fj__current_worker();
    fj__task t = fj__resume_task(f);
    if (FJ_UNLIKELY(f->pin1)) {
        /* A pinned job's fiber goes back to its own worker (pinned.c). */
        bool foreign = !(w && w->s == s);
        if (foreign)
            fj__inflight_enter(s);
        fj_store_seq_cst(&f->state, (int)FJ_FIBER_READY);
        fj__pin_push(s, f->pin1 - 1, &t, "waking a waiting job");
        fj__notify_all(s);
        if (foreign)
            fj__inflight_leave(s);
        return false;
    }
    if (w && w->s == s) {
        fj_store_relaxed(&f->state, (int)FJ_FIBER_READY);
        if (hand_home(f))
            return false;   /* its home resumes it: awake, no notify */
        if (f->home && f->home - 1 != w->index && mail_home(&s->workers[f->home - 1], f))
            return true;
        fj__push_or_die(&w->ready, &t, 1, "waking a waiting job");
        return true;
    }
    fj__inflight_enter(s);
    fj_store_seq_cst(&f->state, (int)FJ_FIBER_READY);
    f->wake_task = t;
    f->wake_node.count = 1;
    f->wake_node.tasks = &f->wake_task;
    f->wake_node.heap = false;
    fj__inject_push(s, &f->wake_node);
    fj__inflight_leave(s);
    return false;
}
