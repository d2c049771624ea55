/*
 * Counters and their wait lists.
 *
 * The whole counter is one 64-bit atomic word:
 *
 *     value (32 bits, signed) | max_target (16 bits) | head (16 bits)
 *
 * head is the waiter id (fiber.c: unique in the process, 0: nobody waits) of the
 * first waiting fiber or outside thread; each waiter links to the next through
 * wait_next and keeps its target in wait_target. max_target is the largest
 * target on the list. Invariant: while head != 0, value > max_target (every
 * listed waiter is still unreached). A record on a list stays alive (fibers
 * until their scheduler is destroyed, which waits for them; outside records for
 * ever), so following a list never touches freed memory. Waiters of several
 * schedulers may share one list: each is resumed through its own scheduler
 * (fj__resume_waiter).
 *
 * Finishing k jobs is one CAS loop on the word. If the new value is still above
 * max_target, or nobody waits, the CAS only lowers the value. If it brings the
 * value to max_target or below while someone waits, the same CAS also clears head
 * and max_target: this finisher now owns the whole chain and no other thread can
 * take it. Doing both in one step is what makes the protocol safe: with a
 * fetch_sub followed by a separate "take the chain" step, a finisher delayed
 * between the two could see the value rise and fall through the target again,
 * another finisher resume the waiter, the waiter return and its stack frame (which
 * usually holds the counter) die, and the delayed finisher then write into it.
 *
 * The owner of a chain splits it into reached (target >= value) and not reached
 * waiters, puts the unreached ones back with one CAS that also restores
 * max_target (re-reading the value on each attempt: waiters that became reached
 * meanwhile move to the reached set, which keeps the invariant above), and only
 * then resumes the reached ones. It never touches the counter after the first
 * resume. While it puts waiters back it holds at least one fiber that has not
 * been resumed and is waiting on the counter, and the counter must outlive every
 * fiber waiting on it, so the counter is alive for that CAS.
 *
 * Publishing a waiter runs after the waiting fiber has switched out (the
 * post-switch action in worker.c): a CAS that pushes it on the list and raises
 * max_target, only while value > target; otherwise the waiter is resumed at once.
 * So a fiber is never on a list while it still runs on its stack.
 *
 * Launch records (record.c, fj_run_jobs_after) are waiters too: a record is
 * published by the same loop (only while value > target), split and put back
 * like a fiber, and "resumed" by the chain owner after it is done with the
 * counter: moved on to its next prerequisite, or its jobs launched. A record
 * has no stack to leave, so it needs no post-switch action; like a fiber it
 * is not touched by its publisher once the CAS that lists it succeeded, and
 * the owner reads its link before moving or launching it (then it may be
 * listed elsewhere or reused at once).
 *
 * No ABA: nothing is ever popped singly. The list is only pushed to (publish,
 * put back: each writes its link before a CAS that checks the whole word) and
 * taken whole (the finisher's CAS), so a word that went from W back to W still
 * describes a valid list.
 *
 * Orderings: every CAS is acq_rel. The publish CAS releases the waiter's
 * wait_next/wait_target, which the chain owner reads after its acquire CAS; the
 * finisher's release orders the finished job's writes before the wake, and the
 * resumed fiber reads them after the acquire in its resume path (the ready deque)
 * or its own acquire load of the value. The model is verify/counter.pml
 * (-DLAUNCH: with launch records).
 */
#include <stdio.h>

#include "internal.h"
#include "os.h"

void fj_counter_init(fj_counter *c, int64_t value)
{
    if (!c)
        fj__fatal("fj_counter_init", "counter is NULL");
    if (value < 0 || value > FJ_COUNTER_MAX)
        fj__fatal("fj_counter_init", "value %lld is outside 0..%d", (long long)value, FJ_COUNTER_MAX);
    /* Not while used (no judge can be looking at it): plain stores, the
     * hold cleared before the release store of the word publishes it. */
    fj_store_relaxed(&c->fj__outside, 0);
    fj_store_relaxed(&c->fj__cancel, 0);
    fj_store_relaxed(&c->fj__skipped, 0);
    fj_store_release(&c->fj__word, fj__word_make((int32_t)value, 0, 0));
    fj_store_relaxed(&c->fj__panics, 0);
}

_Static_assert(sizeof(fj_counter) == FJ_CACHE_LINE, "a counter is one cache line");

/* A count added to a cancelled counter at zero starts a new round, which
 * no cancel covers (fj_counter_cancel in fiberjob.h). The cancel is cleared
 * before the add, not after: after, another thread's add (finding the value
 * above zero) could queue jobs that start, and are skipped, before this
 * clear. Before, every job of the new round is queued after the clear (by
 * this thread, or by one that saw our add with the acquire of its own), so
 * its start sees it. The read of the value and the clear are not one atomic
 * step: a cancel made between them, or while the counter sits at zero, can
 * be lost to the new round; a cancel is only promised for a round it was
 * made in. A value read at zero cannot hide an unfinished job of the old
 * round: a worker's folded finishes only make the value read higher. */
static FJ_NOINLINE void counter_new_round(fj_counter *c)
{
    if (fj__word_value(fj_load_acquire(&c->fj__word)) == 0)
        fj_store_relaxed(&c->fj__cancel, 0u);
}

int64_t fj_counter_value(const fj_counter *c)
{
    if (!c)
        fj__fatal("fj_counter_value", "counter is NULL");
    return fj__word_value(fj_load_acquire(&((fj_counter *)c)->fj__word));
}

void fj__counter_add(fj_counter *c, size_t n, const char *call)
{
    if (n > (size_t)FJ_COUNTER_MAX)
        fj__fatal(call, "%zu jobs is more than a counter holds (%d)", n, FJ_COUNTER_MAX);
    if (FJ_UNLIKELY(fj_load_relaxed(&c->fj__cancel)))
        counter_new_round(c);
    /* What must be ordered: the add before every finish of a job it counts,
     * so that no finisher sees the value drop below the jobs still running
     * (a false "below zero", or a waiter woken early). All modifications of
     * the word are read-modify-writes, so they fall in one modification
     * order, and each finish comes after this add in it once the add happens
     * before that finish. That edge is made by the publication of the jobs,
     * not by this operation: the add is sequenced before the release store
     * of bottom (or the release CAS of the injection queue, or the private
     * chunk this worker runs itself), and whoever runs a job took it with
     * the matching acquire. A release on the add orders only what comes
     * before it, and an acquire only lets this thread see earlier finishers'
     * writes, which nothing here reads. Nor can a relaxed add cut a
     * finisher's release off from a waiter that reads a later value: every
     * read-modify-write continues a release sequence, whatever its order. So
     * relaxed would do; acq_rel is kept as written (on x86-64 it is the same
     * lock xadd) until the change is made together with a test, and the
     * argument above is the one that a relaxed add would rest on. */
    uint64_t old = fj_fetch_add_acq_rel(&c->fj__word, (uint64_t)n << FJ_VALUE_SHIFT);
    int64_t now = (int64_t)fj__word_value(old) + (int64_t)n;
    if (now > FJ_COUNTER_MAX)
        fj__fatal(call, "counter " FJ_PTR " overflows (%lld + %zu > %d)", (void *)c,
                  (long long)fj__word_value(old), n, FJ_COUNTER_MAX);
}

/* A listed waiter's link (wait_next) and target: a fiber or an outside
 * record, else a launch record (record.c). One table load each, as before
 * there were records; a record's entry is NULL in fj__waiter_table. */
static inline uint32_t *link_of(uint32_t id, int64_t *target)
{
    fj__fiber *f = fj__waiter_of(id);
    if (FJ_LIKELY(f != NULL)) {
        *target = f->wait_target;
        return &f->wait_next;
    }
    fj__record *r = fj__record_table[id];
    /* A timed wait's proxy that its deadline claimed (timer.c) is dead: it
     * counts as reached, so no chain owner ever puts it back; the owner
     * lets it go in its resume phase, after its last access to the
     * counter (fj__proxy_reached: the claim fails, the list's reference
     * goes). Its waiter does not return before that (wait.c), so it keeps
     * the counter alive as a live waiter would. Relaxed: a claim not seen
     * yet only puts the proxy back once more, for the waiter to take. */
    bool dead = fj_load_relaxed(&r->state) == FJ__REC_PROXY && fj_load_relaxed(&r->claim) != FJ__CLAIM_NONE;
    *target = dead ? INT64_MAX : r->wait_target;
    return &r->wait_next;
}

/* Split the waiters linked from id `first` by whether `value` reaches their
 * target: the reached ones are pushed on *reached; the rest form a new list,
 * *keep (its tail *keep_tail, the largest target among them *keep_max). */
static inline __attribute__((always_inline)) void chain_split(uint32_t first, int32_t value, uint32_t *reached,
                                                              uint32_t *keep, uint32_t *keep_tail,
                                                              uint32_t *keep_max)
{
    *keep = *keep_tail = 0;
    *keep_max = 0;
    for (uint32_t i = first; i != 0;) {
        int64_t target;
        uint32_t *link = link_of(i, &target);
        uint32_t next = *link;
        if (target >= value) {
            *link = *reached;
            *reached = i;
        } else {
            *link = *keep;
            if (!*keep)
                *keep_tail = i;
            *keep = i;
            if ((uint32_t)target > *keep_max)
                *keep_max = (uint32_t)target;
        }
        i = next;
    }
}

/* List waiter `id` (link `link`) on c while c's value is above target
 * (fj__counter_publish's loop); false when c is already there. */
static inline bool publish(fj_counter *c, uint32_t id, uint32_t *link, int64_t target)
{
    uint64_t w = fj_load_acquire(&c->fj__word);
    for (;;) {
        if ((int64_t)fj__word_value(w) <= target)
            return false;
        *link = fj__word_head(w);
        uint32_t maxt = fj__word_maxt(w) > (uint32_t)target ? fj__word_maxt(w) : (uint32_t)target;
        if (fj_cas_weak_acq_rel(&c->fj__word, &w, fj__word_make(fj__word_value(w), maxt, id)))
            return true;
    }
}

size_t fj__record_start(fj__worker *w, fj__record *r)
{
    /* r is listed on the first prerequisite not yet reached, or launched when
     * none is left. Once listed it may be taken, moved on and launched by a
     * finisher at once: nothing here touches it after a publish succeeds.
     * The acquire load in publish that finds a prerequisite reached
     * synchronises with the finishes that reached it (a release sequence:
     * every change of the word is a read-modify-write), so the jobs
     * launched see what the prerequisites' jobs wrote; a chain owner
     * acquired the same with its CAS. */
    for (; r->next_after < r->nafter; r->next_after++) {
        const fj_after *a = &r->after[r->next_after];
        fj_store_relaxed(&r->wait_target, a->target);
        fj_store_relaxed(&r->wait_counter, a->counter);
        if (publish(a->counter, r->id, &r->wait_next, a->target))
            return 0;
    }
    return fj__record_launch(w, r);
}

bool fj__counter_publish_proxy(fj_counter *c, fj__record *r, int64_t target)
{
    return publish(c, r->id, &r->wait_next, target);
}

static void counter_wake_reached(fj_counter *c, uint32_t chain, int32_t value);

/*
 * A timed wait gave up (timer.c): take the whole chain off c with a CAS that
 * keeps the value (taking a chain whole is the one removal the list allows),
 * and hand it to counter_wake_reached as a finisher would: dead proxies
 * count as reached (link_of), so they are let go in its resume phase, and
 * the rest goes back through its put-back, which resumes any that the value
 * reached meanwhile. Called by the waiter while it is still in its wait, so
 * c is alive (the counters' contract) as it is for a finisher; the waiter
 * calls it until its proxy's list reference is gone (wait.c), since a
 * finisher or another waiter may hold the chain with the proxy in it.
 */
void fj__counter_drop_dead(fj_counter *c)
{
    uint64_t w = fj_load_acquire(&c->fj__word);
    do {
        if (fj__word_head(w) == 0)
            return;
    } while (!fj_cas_weak_acq_rel(&c->fj__word, &w, fj__word_make(fj__word_value(w), 0, 0)));
    counter_wake_reached(c, fj__word_head(w), fj__word_value(w));
}

/* Out of line: the finish path is one CAS unless someone waits. */
FJ_NOINLINE static void counter_wake_reached(fj_counter *c, uint32_t chain, int32_t value)
{
    uint32_t reached = 0, unreached, unreached_tail, unreached_max;
    chain_split(chain, value, &reached, &unreached, &unreached_tail, &unreached_max);
    if (unreached) {
        /* Acquire, here and on a failed CAS below (acq_rel's failure order):
         * the value read decides which waiters are now reached, and those are
         * resumed at once; they must see the writes of every job whose finish
         * lowered the value to what we read. Every change of the word is a
         * read-modify-write, so an acquire read of any value synchronises
         * with every earlier releasing finish (a release sequence). The
         * publishers' wait_next/wait_target need no acquire here: the next
         * owner of the chain gets them through the same release sequence. */
        uint64_t w = fj_load_acquire(&c->fj__word);
        int64_t ignored;
        for (;;) {
            int32_t v = fj__word_value(w);
            if (v <= (int32_t)unreached_max) {
                /* Some became reached: move them over and rebuild the rest.
                 * A failed CAS below left our tail linked to the chain that was
                 * published meanwhile, which is not ours: cut it first. */
                *link_of(unreached_tail, &ignored) = 0;
                chain_split(unreached, v, &reached, &unreached, &unreached_tail, &unreached_max);
                if (!unreached)
                    break;
            }
            /* Splice our list in front of whatever was published meanwhile. The
             * invariant holds for both parts, so the merged max stays < v. */
            *link_of(unreached_tail, &ignored) = fj__word_head(w);
            uint32_t maxt = fj__word_maxt(w) > unreached_max ? fj__word_maxt(w) : unreached_max;
            if (fj_cas_weak_acq_rel(&c->fj__word, &w, fj__word_make(v, maxt, unreached)))
                break;
        }
    }
    /* From here on the counter may be dead: touch only the waiters. Each
     * one's link is read before it is resumed (then it may run, and wait or
     * be reused, at once). A launch record moves on to its next prerequisite
     * (alive by fj_run_jobs_after's contract), or launches its jobs. */
    size_t n = 0;
    fj__worker *w = NULL;
    while (reached) {
        fj__fiber *f = fj__waiter_of(reached);
        if (FJ_LIKELY(f != NULL)) {
            reached = f->wait_next;
            n += fj__resume_waiter(f);
        } else {
            fj__record *r = fj__record_table[reached];
            reached = r->wait_next;
            if (fj_load_relaxed(&r->state) == FJ__REC_PROXY) {
                n += fj__proxy_reached(r);   /* a timed wait (timer.c) */
                continue;
            }
            r->next_after++;
            if (!w)
                w = fj__current_worker();
            n += fj__record_start(w, r);
        }
    }
    if (n)
        fj__notify((w ? w : fj__current_worker())->s, n);
}

void fj__counter_finish(fj_counter *c, int64_t k, const char *call, const char *job_name)
{
    uint64_t w = fj_load_relaxed(&c->fj__word);
    for (;;) {
        int64_t v = (int64_t)fj__word_value(w) - k;
        if (FJ_UNLIKELY(v < 0)) {
            if (job_name)
                fj__fatal(call, "counter " FJ_PTR " went below zero (%lld - %lld) after job '%s': "
                          "more jobs finished than were counted on it",
                          (void *)c, (long long)fj__word_value(w), (long long)k, job_name);
            fj__fatal(call, "counter " FJ_PTR " went below zero (%lld - %lld): more finished than were added",
                      (void *)c, (long long)fj__word_value(w), (long long)k);
        }
        uint32_t head = fj__word_head(w);
        if (head != 0 && v <= (int64_t)fj__word_maxt(w)) {
            if (fj_cas_weak_acq_rel(&c->fj__word, &w, fj__word_make((int32_t)v, 0, 0))) {
                counter_wake_reached(c, head, (int32_t)v);
                return;
            }
        } else if (fj_cas_weak_acq_rel(&c->fj__word, &w, w - ((uint64_t)k << FJ_VALUE_SHIFT))) {
            return;
        }
    }
}

bool fj__counter_publish(fj_counter *c, fj__fiber *f, int64_t target)
{
    /* Relaxed atomics: deadlock reports and fj_destroy read them from other
     * threads; the chain owner reads them after the acquire of its CAS. */
    fj_store_relaxed(&f->wait_target, target);
    fj_store_relaxed(&f->wait_counter, c);
    return publish(c, f->id, &f->wait_next, target);
}

/*
 * Counts held outside (c->fj__outside) and the deadlock judge.
 *
 * A count that a thread outside every scheduler will finish is not a
 * deadlock when every worker is idle: the judge (deadlock.c) asks, for each
 * waiter's counter, min(held, value) > 0. Held counts are touched only here,
 * on the hand-managed slow paths, never by a job's finish.
 *
 * Ordering (all seq_cst, so one total order holds every access below and the
 * judge's loads): an add raises `held` before the value, and the judge loads a
 * counter's value before its `held`; so a judge that sees the added value
 * sees the hold too. An outside done lowers `held` before it finishes the
 * value (after the finish the counter may be gone: its waiter may have
 * returned and left the frame that held it), so there is a moment where a
 * judge sees the value not yet finished and no hold. `fj__outside_calls`
 * covers that moment: its low 32 bits count the outside adds and dones under
 * way, its high 32 bits how many began (FJ__OUTSIDE_BEGIN adds one to each;
 * the end takes one off the low half). The judge reads it before its first
 * look and again after its grace period, and passes no verdict when the low
 * half was not zero (a call under way: it may be between its hold and its
 * value) or the word changed (a call began, or one under way ended: the
 * generation or the count moved). With several calls at once a count, not a
 * parity, is needed: two calls each half done leave a parity even (found by a
 * spin model of this handshake, verify/held.pml, BUG_PARITY). Stale holds (a held
 * count finished by a job, not by an outside done) only make the judge
 * report a stall instead of aborting; min(held, value) keeps them from
 * outliving the counts themselves, and fj_counter_init clears them.
 */
uint64_t fj__outside_calls;
#define FJ__OUTSIDE_BEGIN ((UINT64_C(1) << 32) | 1u)

static void outside_hold(fj_counter *c, int64_t n, const char *call)
{
    fj_fetch_add_seq_cst(&fj__outside_calls, FJ__OUTSIDE_BEGIN);
    uint32_t held = fj_fetch_add_seq_cst(&c->fj__outside, (uint32_t)n);
    if ((int64_t)held + n > FJ_COUNTER_MAX) {
        fj_fetch_sub_seq_cst(&c->fj__outside, (uint32_t)n);
        fj__fatal(call, "counter " FJ_PTR " holds more counts outside than it can (%u + %lld > %d)", (void *)c, held,
                  (long long)n, FJ_COUNTER_MAX);
    }
    fj__counter_add(c, (size_t)n, call);
    fj_fetch_sub_seq_cst(&fj__outside_calls, 1);
}

void fj_counter_add(fj_counter *c, int64_t n)
{
    if (!c)
        fj__fatal("fj_counter_add", "counter is NULL");
    if (n < 0 || n > FJ_COUNTER_MAX)
        fj__fatal("fj_counter_add", "n = %lld is outside 0..%d", (long long)n, FJ_COUNTER_MAX);
    if (n == 0)
        return;
    if (fj__current_worker())
        fj__counter_add(c, (size_t)n, "fj_counter_add");
    else
        outside_hold(c, n, "fj_counter_add");
}

void fj_counter_add_outside(fj_counter *c, int64_t n)
{
    if (!c)
        fj__fatal("fj_counter_add_outside", "counter is NULL");
    if (n < 0 || n > FJ_COUNTER_MAX)
        fj__fatal("fj_counter_add_outside", "n = %lld is outside 0..%d", (long long)n, FJ_COUNTER_MAX);
    if (n)
        outside_hold(c, n, "fj_counter_add_outside");
}

void fj_counter_done(fj_counter *c, int64_t n)
{
    if (!c)
        fj__fatal("fj_counter_done", "counter is NULL");
    if (n < 0 || n > FJ_COUNTER_MAX)
        fj__fatal("fj_counter_done", "n = %lld is outside 0..%d", (long long)n, FJ_COUNTER_MAX);
    if (n == 0)
        return;
    /* From anywhere: each waiter it reaches is resumed through its own
     * scheduler, which is kept alive for that (fj__resume_waiter). */
    if (fj__current_worker()) {
        fj__counter_finish(c, n, "fj_counter_done", NULL);
        return;
    }
    /* Outside: end up to n held counts first (see "Counts held outside"). */
    fj_fetch_add_seq_cst(&fj__outside_calls, FJ__OUTSIDE_BEGIN);
    uint32_t held = fj_load_seq_cst(&c->fj__outside);
    while (held && !fj_cas_strong_seq_cst(&c->fj__outside, &held, held > n ? held - (uint32_t)n : 0))
        ;
    fj__counter_finish(c, n, "fj_counter_done", NULL);
    fj_fetch_sub_seq_cst(&fj__outside_calls, 1);
}

uint32_t fj_counter_panics(const fj_counter *c)
{
    if (!c)
        fj__fatal("fj_counter_panics", "counter is NULL");
    return fj_load_acquire(&((fj_counter *)c)->fj__panics);
}

void fj__count_scope_end(fj_counter **c)
{
    fj_counter_done(*c, 1);
}
