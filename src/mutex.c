/*
 * fj_mutex: mutual exclusion that parks fibers, not threads.
 *
 * The word (m->fj__word) is
 *     DEAD (bit 31: fj_mutex_destroy'd) | LOCKED (bit 16) | head (bits 0-15)
 * where head is the waiter id (fiber.c) of the newest waiter parked on the
 * mutex, the top of a stack linked through the waiters' wait_next. The holder
 * owns m->fj__queue: waiters already taken off the stack, oldest first,
 * linked the same way. The owner is recorded in m->fj__owner (the fiber, or
 * a thread tag for an outside thread) for the misuse checks and reports.
 *
 * Invariant: a waiter is parked (on the stack or in the queue) only while the
 * mutex is locked. So an unlocked mutex has word 0, and a locker that finds
 * 0 and takes it overtakes nobody.
 *
 *   lock, uncontended    CAS 0 -> LOCKED.
 *   lock, contended      spin a little while the word is LOCKED with no
 *                        waiter (waiters queued: it will go to them first,
 *                        so spinning is pointless); then park: the fiber
 *                        switches away and the context switched to pushes it
 *                        on the stack (post-switch action, park_publish),
 *                        with a CAS that checks the whole word; if it finds
 *                        the word 0 it takes the mutex for the fiber and
 *                        queues the fiber to run instead. An outside thread
 *                        pushes its outside record the same way and blocks
 *                        on the record's futex word.
 *   unlock, no waiter    queue empty and CAS LOCKED -> 0.
 *   unlock, waiters      the first of the queue; when the queue is empty,
 *                        take the whole stack with one exchange (the word
 *                        stays LOCKED), reverse it (oldest first) and take
 *                        its first. The rest become the queue. The mutex is
 *                        handed over: the word stays LOCKED, the owner
 *                        becomes that waiter, and it is resumed
 *                        (fj__resume_waiter: through its own scheduler, to
 *                        its pinned worker, or a futex wake for an outside
 *                        thread). The unlocker touches m no more after that:
 *                        the new owner may unlock and free it at once.
 *
 * FIFO: waiters get the mutex in the order of their push CASes. The stack
 * holds them newest first, so reversed it is oldest first; a stack is taken
 * only when the queue is empty, and everything on it was pushed after
 * everything taken before. A locker never barges past a parked waiter (the
 * invariant above); one that is still spinning may take a free mutex, but
 * then nobody was parked.
 *
 * No ABA: the stack is only pushed to (each push writes its link before a
 * CAS that checks the whole word) and taken whole, never popped singly, so a
 * word that went from W back to W still describes a valid stack (the
 * counter's wait list argues the same, counter.c).
 *
 * Orderings. Lock's CAS is acquire and unlock's CAS release, so a critical
 * section happens before the next one that takes the mutex through the word.
 * A handover does not go through the word: the unlocker's writes (its
 * critical section, the queue, the owner) are released by the resume
 * (a release store of a deque's bottom, the pinned queue's mutex, the
 * injection queue's release CAS, or the outside record's release store of
 * `wake`) and acquired by whoever takes the resumed fiber (or the acquire
 * load of `wake`): the same edge that orders a counter's finish before its
 * waiter. The queue needs no atomics: only the holder touches it, and
 * holding passes with those edges. Push CASes are acq_rel and the taking
 * exchange acq_rel: the exchange reads the links (wait_next) the pushers
 * wrote before their release, through the release sequence of the word.
 * A publish that finds the word 0 takes it with acquire, as a lock does.
 *
 * A waiter parks only after its fiber has switched out (the post-switch
 * action): once pushed it may be handed the mutex and resumed on another
 * worker at once, and must not be running on its stack then (worker.c's
 * invariant).
 *
 * Model: verify/mutex.pml checks this protocol step by step (exclusion,
 * FIFO, the invariant above, no lost waiter; 3 lockers, one an outside
 * thread), and the condition variable below with -DCOND. It checks the
 * algorithm under sequential consistency; the orderings above are argued
 * here, not checked.
 */
#include <stdio.h>

#include "internal.h"
#include "os.h"

#define MUTEX_LOCKED (1u << 16)
#define MUTEX_DEAD (1u << 31)
#define MUTEX_HEAD 0xffffu
/* Rounds of spinning before a job parks (each a pause and a load), and
 * before an outside thread blocks. */
#define MUTEX_SPIN 128
#define MUTEX_SPIN_OUTSIDE 1024

/* The owner tag of the caller: its fiber inside a job (or the record of a
 * thread in fj_enter), else the thread's own tag from the OS, odd. */
static inline uint64_t self_tag(fj__worker *w)
{
    return w && w->current ? (uint64_t)(uintptr_t)w->current : fj__os_thread_tag();
}

/* Who holds a mutex, for messages: "job 'NAME'" or what else it is. */
static const char *owner_text(uint64_t owner, char *buf, size_t cap)
{
    if (!owner)
        return "a waiter it is being handed to";
    if (owner & 1)
        return "a thread outside the scheduler";
    snprintf(buf, cap, "job '%s'", fj__job_name(fj_load_relaxed(&((fj__fiber *)(uintptr_t)owner)->job_name)));
    return buf;
}

static inline bool try_take(fj_mutex *m)
{
    uint32_t zero = 0;
    return fj_cas_strong_acq_rel(&m->fj__word, &zero, MUTEX_LOCKED);
}

static void check_alive(fj_mutex *m, uint32_t word, const char *call)
{
    if (FJ_UNLIKELY(word & MUTEX_DEAD))
        fj__fatal(call, "mutex " FJ_PTR " was destroyed (fj_mutex_destroy); fj_mutex_init it to use it again", (void *)m);
}

void fj_mutex_init(fj_mutex *m)
{
    if (!m)
        fj__fatal("fj_mutex_init", "mutex is NULL");
    fj_store_relaxed(&m->fj__queue, 0);
    fj_store_relaxed(&m->fj__owner, 0);
    fj_store_release(&m->fj__word, 0);
}

void fj_mutex_destroy(fj_mutex *m)
{
    if (!m)
        fj__fatal("fj_mutex_destroy", "mutex is NULL");
    uint32_t word = 0;
    if (!fj_cas_strong_acq_rel(&m->fj__word, &word, MUTEX_DEAD)) {
        check_alive(m, word, "fj_mutex_destroy");
        char who[160];
        fj__fatal("fj_mutex_destroy", "mutex " FJ_PTR " is locked, held by %s%s", (void *)m,
                  owner_text(fj_load_relaxed(&m->fj__owner), who, sizeof who),
                  (word & MUTEX_HEAD) || fj_load_relaxed(&m->fj__queue) ? ", and jobs wait for it" : "");
    }
}

/* Post-switch action of a job parking on m (see the top comment). f has
 * left its stack. */
static void park_publish(fj__worker *w, fj__fiber *f, void *arg)
{
    (void)w;
    fj_mutex *m = arg;
    uint32_t word = fj_load_relaxed(&m->fj__word);
    for (;;) {
        if (word == 0) {
            /* Unlocked meanwhile, with nobody parked: it is f's. */
            if (!fj_cas_weak_acq_rel(&m->fj__word, &word, MUTEX_LOCKED))
                continue;
            fj_store_relaxed(&m->fj__owner, (uint64_t)(uintptr_t)f);
            /* Back to run: onto this worker's ready deque, or its pinned one. */
            fj__resume_waiter(f);
            return;
        }
        f->wait_next = word & MUTEX_HEAD;
        if (fj_cas_weak_acq_rel(&m->fj__word, &word, (word & ~MUTEX_HEAD) | f->id))
            return;   /* f may be running elsewhere already: touch nothing more */
    }
}

/* A job parks until the mutex is handed to it. With no fiber to switch to,
 * it spins (counted as stuck for the deadlock judges) and takes a fiber or
 * the mutex as soon as one comes. */
static void lock_job(fj__worker *w, fj_mutex *m)
{
    fj__fiber *self = w->current;
    fj__fold_flush(w);
    unsigned stuck = 0;
    for (;;) {
        if (try_take(m))
            break;
        fj__task t;
        fj__fiber *next = NULL;
        if (FJ_UNLIKELY(self->lend_q1))
            next = fj__lend_return(w, self, "fj_mutex_lock");   /* lent: its submitter goes on (worker.c) */
        else if (fj__deque_take(&w->ready, &t))
            next = t.arg;
        else if (!(next = fj__fiber_take_small(w)))
            next = fj__pool_take(w->s, &w->s->free_large);
        if (next) {
            if (stuck >= 1000)
                fj_fetch_sub_seq_cst(&w->s->stuck, 1);
            fj_store_relaxed(&self->wait_counter, (fj_counter *)NULL);
            fj_store_relaxed(&self->wait_mutex, m);
            fj_store_relaxed(&self->state, (int)FJ_FIBER_WAITING);
            w->post_call = park_publish;
            w->post_arg = m;
            FJ_TRACE(w, FJ_EV_SUSPEND, self->index, self->job_name, 0);
            w = fj__switch_to(w, self, next, FJ_POST_CALL);
            FJ_TRACE(w, FJ_EV_RESUME, self->index, self->job_name, 0);
            fj_store_relaxed(&self->wait_mutex, (fj_mutex *)NULL);
            return;   /* handed over (or taken by park_publish) */
        }
        fj_cpu_relax();
        fj__os_yield();
        if (++stuck == 1000)
            fj_fetch_add_seq_cst(&w->s->stuck, 1);
        w = fj__current_worker();
    }
    if (stuck >= 1000)
        fj_fetch_sub_seq_cst(&w->s->stuck, 1);
}

/* A thread outside every scheduler: push an outside record and block on its
 * futex word until the mutex is handed over. */
static void lock_outside(fj_mutex *m)
{
    fj__fiber *rec = fj__outside_take();
    if (!rec) {
        /* No memory or no waiter id for a record: poll, slowly. */
        while (!try_take(m))
            fj__os_sleep_ns(100 * 1000);
        return;
    }
    fj_store_relaxed(&rec->job_name, "(outside thread)");
    fj_store_relaxed(&rec->wait_counter, (fj_counter *)NULL);
    fj_store_relaxed(&rec->wait_mutex, m);
    fj_store_relaxed(&rec->wake, 0);
    fj_store_seq_cst(&rec->state, (int)FJ_FIBER_WAITING);
    bool pushed = false;
    uint32_t word = fj_load_relaxed(&m->fj__word);
    for (;;) {
        if (word == 0) {
            if (fj_cas_weak_acq_rel(&m->fj__word, &word, MUTEX_LOCKED))
                break;
            continue;
        }
        check_alive(m, word, "fj_mutex_lock");
        rec->wait_next = word & MUTEX_HEAD;
        if (fj_cas_weak_acq_rel(&m->fj__word, &word, (word & ~MUTEX_HEAD) | rec->id)) {
            pushed = true;
            break;
        }
    }
    while (pushed && fj_load_acquire(&rec->wake) == 0)
        fj__os_futex_wait(&rec->wake, 0);
    fj_store_relaxed(&rec->wait_mutex, (fj_mutex *)NULL);
    fj_store_seq_cst(&rec->state, (int)FJ_FIBER_EXTERNAL);
    fj__outside_put(rec);
}

FJ_NOINLINE static void lock_slow(fj_mutex *m, fj__worker *w, uint64_t me)
{
    if (w)
        fj__check_not_in_hook(w, "fj_mutex_lock");
    uint32_t word = fj_load_relaxed(&m->fj__word);
    check_alive(m, word, "fj_mutex_lock");
    if (fj_load_relaxed(&m->fj__owner) == me)
        fj__fatal("fj_mutex_lock", "mutex " FJ_PTR " is held by this job already (locked twice, or this job runs "
                  "nested on the stack of the holder while it waits): it would never be unlocked", (void *)m);
    unsigned spin = w ? MUTEX_SPIN : MUTEX_SPIN_OUTSIDE;
    for (unsigned i = 0; i < spin && word == MUTEX_LOCKED; i++) {
        fj_cpu_relax();
        word = fj_load_relaxed(&m->fj__word);
        if (word == 0 && try_take(m))
            goto taken;
    }
    if (w && w->current)
        lock_job(w, m);
    else
        lock_outside(m);
taken:
    fj_store_relaxed(&m->fj__owner, self_tag(fj__current_worker()));
}

void fj_mutex_lock(fj_mutex *m)
{
    if (FJ_UNLIKELY(!m))
        fj__fatal("fj_mutex_lock", "mutex is NULL");
    fj__worker *w = fj__current_worker();
    uint64_t me = self_tag(w);
    if (FJ_LIKELY(try_take(m))) {
        fj_store_relaxed(&m->fj__owner, me);
        return;
    }
    lock_slow(m, w, me);
}

int fj_mutex_try_lock(fj_mutex *m)
{
    if (FJ_UNLIKELY(!m))
        fj__fatal("fj_mutex_try_lock", "mutex is NULL");
    if (!try_take(m)) {
        check_alive(m, fj_load_relaxed(&m->fj__word), "fj_mutex_try_lock");
        return 0;
    }
    fj_store_relaxed(&m->fj__owner, self_tag(fj__current_worker()));
    return 1;
}

/* Hand m to its oldest waiter (see the top comment). */
FJ_NOINLINE static void unlock_handover(fj_mutex *m)
{
    uint32_t first = fj_load_relaxed(&m->fj__queue);
    if (!first) {
        uint32_t word = fj_exchange_acq_rel(&m->fj__word, MUTEX_LOCKED);
        uint32_t prev = 0;
        for (uint32_t i = word & MUTEX_HEAD; i;) {
            fj__fiber *f = fj__waiter_of(i);
            uint32_t next = f->wait_next;
            f->wait_next = prev;
            prev = i;
            i = next;
        }
        first = prev;
    }
    fj__fiber *f = fj__waiter_of(first);
    fj_store_relaxed(&m->fj__queue, f->wait_next);
    /* An outside thread records its own tag once awake. */
    fj_store_relaxed(&m->fj__owner, f->kind == FJ_KIND_EXTERNAL ? 0 : (uint64_t)(uintptr_t)f);
    /* m is the new owner's from here: not touched again. */
    if (fj__resume_waiter(f))
        fj__notify(fj__current_worker()->s, 1);
}

/* Unlock m for its holder (checked by the caller). */
static inline void release(fj_mutex *m)
{
    fj_store_relaxed(&m->fj__owner, 0);
    if (FJ_LIKELY(fj_load_relaxed(&m->fj__queue) == 0)) {
        uint32_t locked = MUTEX_LOCKED;
        while (!fj_cas_weak_release(&m->fj__word, &locked, 0)) {
            if (locked != MUTEX_LOCKED)
                goto waiters;   /* one parked meanwhile */
        }
        return;
    }
waiters:
    unlock_handover(m);
}

void fj_mutex_unlock(fj_mutex *m)
{
    if (FJ_UNLIKELY(!m))
        fj__fatal("fj_mutex_unlock", "mutex is NULL");
    uint32_t word = fj_load_relaxed(&m->fj__word);
    uint64_t owner = fj_load_relaxed(&m->fj__owner);
    if (FJ_UNLIKELY(!(word & MUTEX_LOCKED) || owner != self_tag(fj__current_worker()))) {
        check_alive(m, word, "fj_mutex_unlock");
        if (!(word & MUTEX_LOCKED))
            fj__fatal("fj_mutex_unlock", "mutex " FJ_PTR " is not locked", (void *)m);
        char who[160];
        fj__fatal("fj_mutex_unlock", "mutex " FJ_PTR " is held by %s, not by the caller", (void *)m,
                  owner_text(owner, who, sizeof who));
    }
    release(m);
}

/*
 * fj_cond: a condition variable on top of the mutex.
 *
 * Its waiter list (c->fj__head .. c->fj__tail, oldest first, linked through
 * wait_next) is guarded by the mutex it is bound to: only the holder of that
 * mutex appends to it or takes from it, so it needs no atomics of its own
 * beyond relaxed accesses (the deadlock report and the unlocked look of a
 * signal read it without holding the mutex).
 *
 *   wait      (holding m) append self to the list; switch out; the
 *             post-switch action unlocks m for the waiter (release). An
 *             outside thread appends its outside record, unlocks m and
 *             blocks on the record's futex word.
 *   signal    (holding m) take the list's first and push it on m's stack,
 *             the same CAS as a parking locker (park_publish): m is locked,
 *             so the invariant above holds and the waiter is handed m, in
 *             FIFO order with everyone who parked on m before the signal,
 *             by some later unlock. It never runs before it owns m.
 *   broadcast the whole list, linked newest first, pushed with one CAS
 *             (the oldest's wait_next is the old head): reversed by the
 *             handover like any stack, oldest first.
 *
 * The waiter switches out before m is unlocked (post-switch action), and only
 * the holder of m takes waiters off the list, so no signal and no handover
 * reaches a fiber still running on its stack (verify/mutex.pml, -DCOND; the
 * seeded BUG_COND_UNLOCK_EARLY unlocks first and is caught).
 *
 * No lost signal: a waiter is on the list before it unlocks m, and a
 * signaller that changed the condition under m did so after the waiter's
 * unlock (m's release/acquire, or a handover's edge), so its look at the
 * list happens after the append. That is also why a signal may skip the
 * mutex when its relaxed load finds the list empty: every wait it must wake
 * appended before that load in happens-before order.
 *
 * Why a condition variable rather than a semaphore: it reuses the mutex's
 * queue and handover and costs no new atomic protocol (the push above is
 * the park's, model-checked), while a semaphore would need its own count and
 * wait list protocol and model.
 */
#define COND_DEAD 1u

static void cond_check(fj_cond *c, const char *call)
{
    if (!c)
        fj__fatal(call, "condition variable is NULL");
    if (FJ_UNLIKELY(fj_load_relaxed(&c->fj__flags) & COND_DEAD))
        fj__fatal(call, "condition variable " FJ_PTR " was destroyed (fj_cond_destroy); fj_cond_init it to use it again",
                  (void *)c);
}

void fj_cond_init(fj_cond *c)
{
    if (!c)
        fj__fatal("fj_cond_init", "condition variable is NULL");
    fj_store_relaxed(&c->fj__mutex, (fj_mutex *)NULL);
    fj_store_relaxed(&c->fj__head, 0);
    fj_store_relaxed(&c->fj__tail, 0);
    fj_store_release(&c->fj__flags, 0);
}

void fj_cond_destroy(fj_cond *c)
{
    cond_check(c, "fj_cond_destroy");
    uint32_t head = fj_load_acquire(&c->fj__head);
    if (head) {
        fj__fiber *f = fj__waiter_of(head);
        fj__fatal("fj_cond_destroy", "condition variable " FJ_PTR " has waiters (the oldest: %s%s%s)", (void *)c,
                  f->kind == FJ_KIND_SMALL || f->kind == FJ_KIND_LARGE ? "job '" : "",
                  f->kind == FJ_KIND_SMALL || f->kind == FJ_KIND_LARGE
                      ? fj__job_name(fj_load_relaxed(&f->job_name)) : "a thread outside the schedulers",
                  f->kind == FJ_KIND_SMALL || f->kind == FJ_KIND_LARGE ? "'" : "");
    }
    fj_store_relaxed(&c->fj__flags, COND_DEAD);
}

/* Append f to c's list (the caller holds c's mutex). */
static void cond_append(fj_cond *c, fj__fiber *f)
{
    f->wait_next = 0;
    uint32_t tail = fj_load_relaxed(&c->fj__tail);
    if (tail)
        fj__waiter_of(tail)->wait_next = f->id;
    else
        fj_store_relaxed(&c->fj__head, f->id);
    fj_store_relaxed(&c->fj__tail, f->id);
}

/* Post-switch action of a job waiting on a condition variable: f has left
 * its stack and is on the list; unlock its mutex for it. */
static void cond_park(fj__worker *w, fj__fiber *f, void *arg)
{
    (void)w;
    (void)f;
    release(arg);
}

/* A job waits: see the top of this section. With no fiber to switch to it
 * returns at once after unlocking, yielding and locking again (a wakeup
 * without signal, which a condition variable's user tolerates). */
static void cond_wait_job(fj__worker *w, fj_cond *c, fj_mutex *m)
{
    fj__fiber *self = w->current;
    fj__fold_flush(w);
    fj__task t;
    fj__fiber *next = NULL;
    if (FJ_UNLIKELY(self->lend_q1))
        next = fj__lend_return(w, self, "fj_cond_wait");   /* lent: its submitter goes on (worker.c) */
    else if (fj__deque_take(&w->ready, &t))
        next = t.arg;
    else if (!(next = fj__fiber_take_small(w)))
        next = fj__pool_take(w->s, &w->s->free_large);
    if (!next) {
        release(m);
        fj__os_yield();
        fj_mutex_lock(m);
        return;
    }
    cond_append(c, self);
    fj_store_relaxed(&self->wait_counter, (fj_counter *)NULL);
    fj_store_relaxed(&self->wait_mutex, (fj_mutex *)NULL);
    fj_store_relaxed(&self->wait_cond, c);
    fj_store_relaxed(&self->state, (int)FJ_FIBER_WAITING);
    w->post_call = cond_park;
    w->post_arg = m;
    FJ_TRACE(w, FJ_EV_SUSPEND, self->index, self->job_name, 0);
    w = fj__switch_to(w, self, next, FJ_POST_CALL);
    FJ_TRACE(w, FJ_EV_RESUME, self->index, self->job_name, 0);
    /* Signalled and handed m (unlock_handover made self the owner). */
    fj_store_relaxed(&self->wait_mutex, (fj_mutex *)NULL);
}

static void cond_wait_outside(fj_cond *c, fj_mutex *m)
{
    fj__fiber *rec = fj__outside_take();
    if (!rec) {
        release(m);
        fj__os_sleep_ns(100 * 1000);
        fj_mutex_lock(m);
        return;
    }
    fj_store_relaxed(&rec->job_name, "(outside thread)");
    fj_store_relaxed(&rec->wait_counter, (fj_counter *)NULL);
    fj_store_relaxed(&rec->wait_mutex, (fj_mutex *)NULL);
    fj_store_relaxed(&rec->wait_cond, c);
    fj_store_relaxed(&rec->wake, 0);
    fj_store_seq_cst(&rec->state, (int)FJ_FIBER_WAITING);
    cond_append(c, rec);
    release(m);
    while (fj_load_acquire(&rec->wake) == 0)
        fj__os_futex_wait(&rec->wake, 0);
    fj_store_relaxed(&rec->wait_mutex, (fj_mutex *)NULL);
    fj_store_seq_cst(&rec->state, (int)FJ_FIBER_EXTERNAL);
    fj__outside_put(rec);
    fj_store_relaxed(&m->fj__owner, self_tag(NULL));
}

void fj_cond_wait(fj_cond *c, fj_mutex *m)
{
    cond_check(c, "fj_cond_wait");
    if (!m)
        fj__fatal("fj_cond_wait", "mutex is NULL");
    fj__worker *w = fj__current_worker();
    if (w)
        fj__check_not_in_hook(w, "fj_cond_wait");
    uint32_t word = fj_load_relaxed(&m->fj__word);
    check_alive(m, word, "fj_cond_wait");
    uint64_t owner = fj_load_relaxed(&m->fj__owner);
    if (FJ_UNLIKELY(!(word & MUTEX_LOCKED) || owner != self_tag(w))) {
        if (!(word & MUTEX_LOCKED))
            fj__fatal("fj_cond_wait", "mutex " FJ_PTR " is not locked: lock it before waiting", (void *)m);
        char who[160];
        fj__fatal("fj_cond_wait", "mutex " FJ_PTR " is held by %s, not by the caller: lock it before waiting", (void *)m,
                  owner_text(owner, who, sizeof who));
    }
    fj_mutex *bound = fj_load_relaxed(&c->fj__mutex);
    if (FJ_UNLIKELY(bound != m)) {
        if (bound)
            fj__fatal("fj_cond_wait", "condition variable " FJ_PTR " is used with mutex " FJ_PTR ", not with mutex " FJ_PTR ": one "
                      "condition variable serves one mutex (until fj_cond_init)", (void *)c, (void *)bound, (void *)m);
        /* Bound by its first wait, under m; signals read it with acquire. */
        fj_store_release(&c->fj__mutex, m);
    }
    if (w && w->current)
        cond_wait_job(w, c, m);
    else
        cond_wait_outside(c, m);
}

/* Move the waiters first..last (linked newest first, last's link free) of a
 * condition variable onto m's stack with one push CAS; m is held, so the
 * word has LOCKED and the invariant of the top comment holds. */
static void cond_push(fj_mutex *m, uint32_t newest, fj__fiber *oldest)
{
    uint32_t word = fj_load_relaxed(&m->fj__word);
    for (;;) {
        oldest->wait_next = word & MUTEX_HEAD;
        if (fj_cas_weak_acq_rel(&m->fj__word, &word, (word & ~MUTEX_HEAD) | newest))
            return;
    }
}

/* Take the first (all: !one) waiter off c's list and push it on m's stack.
 * The caller holds m. */
static void cond_move(fj_cond *c, fj_mutex *m, bool one)
{
    uint32_t first = fj_load_relaxed(&c->fj__head);
    if (!first)
        return;
    fj__fiber *f = fj__waiter_of(first);
    uint32_t rest = one ? f->wait_next : 0;
    fj_store_relaxed(&c->fj__head, rest);
    if (!rest)
        fj_store_relaxed(&c->fj__tail, 0);
    /* Reverse the taken part into newest first (private: nobody else
     * reaches these waiters while we hold m); each now waits for m. */
    uint32_t newest = 0;
    for (uint32_t i = first; i;) {
        fj__fiber *g = fj__waiter_of(i);
        uint32_t next = one ? 0 : g->wait_next;
        fj_store_relaxed(&g->wait_mutex, m);
        fj_store_relaxed(&g->wait_cond, (fj_cond *)NULL);
        g->wait_next = newest;
        newest = i;
        i = next;
    }
    cond_push(m, newest, f);
}

static void cond_signal(fj_cond *c, bool one, const char *call)
{
    cond_check(c, call);
    fj__worker *w = fj__current_worker();
    /* Nobody waits (see the top of this section): nothing to do. */
    if (fj_load_relaxed(&c->fj__head) == 0)
        return;
    fj_mutex *m = fj_load_acquire(&c->fj__mutex);
    if (!m)
        return;   /* a wait racing with this signal, unordered by any mutex */
    if (fj_load_relaxed(&m->fj__owner) == self_tag(w)) {
        cond_move(c, m, one);
        return;
    }
    fj_mutex_lock(m);
    cond_move(c, m, one);
    fj_mutex_unlock(m);
}

void fj_cond_signal(fj_cond *c) { cond_signal(c, true, "fj_cond_signal"); }
void fj_cond_broadcast(fj_cond *c) { cond_signal(c, false, "fj_cond_broadcast"); }
