/*
 * mutex.pml: the fiber-aware mutex of src/mutex.c (fj_mutex_lock, park_publish,
 * lock_outside, fj_mutex_unlock, unlock_handover), step by step, and the
 * condition variable built on it (fj_cond_wait, fj_cond_signal).
 *
 * THE WORD.  In C, m->fj__word is LOCKED (bit 16) | head (bits 0-15: the id of
 * the newest waiter pushed on the stack, linked through wait_next).  Here it
 * is the globals `locked` and `head`, and each atomic operation of the C code
 * on the word (load, CAS, exchange) is ONE indivisible step over both.  A CAS
 * that fails refreshes the caller's copy, as __atomic_compare_exchange_n
 * does.  The DEAD bit (fj_mutex_destroy) is left out: it only turns misuse
 * into a fatal line.  m->fj__queue (waiters taken off the stack, oldest
 * first) is `queue`: only the holder touches it, so its reads and writes are
 * folded into the holder's steps.  A waiter's wait_next is written only while
 * the waiter is private to the writer (before its push CAS; or on a stack
 * the holder took whole), so each such write joins the next step of the same
 * process (it commutes with every other process's steps).
 *
 * ACTORS: NL lockers, each locking and unlocking ROUNDS times.  Locker 1 is a
 * thread outside the schedulers (lock_outside: no fiber to switch out, it
 * pushes its outside record and blocks on the record's futex word); the
 * others are jobs (lock_job: switch out first, then the post-switch action
 * park_publish pushes the fiber).  Each lock is:
 *   try_take       CAS 0 -> LOCKED
 *   spin           SPIN rounds of: load; stop unless the word is LOCKED with
 *                  no waiter; if it is 0, try_take (lock_slow's loop)
 *   lock_job       try_take once more, then switch out (registers saved:
 *                  saved[i], its own step), then park_publish: load; loop {
 *                  word 0: CAS 0 -> LOCKED, the fiber is the owner, resume
 *                  it at once; else wait_next = head, CAS word -> LOCKED|i }
 *   lock_outside   the same loop without the switch, then block until woken
 * and unlock is: owner = 0; if the queue is empty, CAS LOCKED -> 0 (the weak
 * CAS's loop: it fails only when the word is not LOCKED, i.e. a waiter was
 * pushed; a spurious failure retries with the same values, a stutter); else,
 * or if that CAS found a waiter, unlock_handover: the queue's first, or, when
 * the queue is empty, exchange the word with LOCKED (take the whole stack),
 * reverse it (private: one step), take its first; the rest is the queue; the
 * owner becomes that waiter and it is resumed (fst = READY; the resume paths
 * themselves are in counter.pml/sched2.pml).  The unlocker then touches
 * nothing of the mutex.
 *
 * With -DCOND (the condition variable, fj_cond in src/mutex.c): locker 2
 * (a job) waits once on a condition variable in its first round, while
 * holding the mutex: it appends itself to the cond's list (FIFO, guarded by
 * the mutex), switches out, and the post-switch action unlocks the mutex for
 * it; it runs again only when it was signalled AND handed the mutex.  Locker
 * 3 signals once in its first round, while holding the mutex: it takes the
 * cond list's first and pushes it on the mutex's stack (the same CAS as a
 * parking locker).  Locker 2's predicate is "signalled", so it waits only
 * if the signal has not come (as a user loops on a predicate).
 *
 * PROPERTIES
 *   - mutual exclusion: a locker asserts it is alone when it enters its
 *     critical section (incs == 1);
 *   - FIFO: handovers go to waiters in the order of their push CASes
 *     (pseq[first] == handed + 1 at each handover);
 *   - "a waiter is parked only while the mutex is locked" (nparked > 0 =>
 *     locked), and head != 0 => locked, asserted at every step that changes
 *     the word or the number parked (INV);
 *   - a resumed fiber has switched out (saved[i]) and was parked: no fiber
 *     is resumed twice or while running on its stack;
 *   - a cond waiter never runs before it owns the mutex (the CS check) and
 *     is never woken without a signal;
 *   - no lost waiter: spin's end-state validity (a parked locker never
 *     handed the mutex blocks for ever: invalid end state), and init asserts
 *     at the end that every locker finished every round and the word is 0.
 *
 * SEEDED BUGS (each must make the search fail):
 *   BUG_UNLOCK_STORE   unlock with an empty queue stores 0 instead of the CAS:
 *                      a waiter pushed meanwhile is dropped (INV; with
 *                      -DNO_INVARIANT: invalid end state, a lost waiter)
 *   BUG_NO_RECHECK     park_publish pushes without checking for 0: a waiter
 *                      parks on a free mutex (INV; with -DNO_INVARIANT: a
 *                      lost waiter)
 *   BUG_PUBLISH_EARLY  a job pushes itself before it switched out: a handover
 *                      resumes a fiber still on its stack (saved[])
 *   BUG_NO_REVERSE     the handover serves the stack newest first (FIFO)
 *   BUG_QUEUE_IGNORED  unlock's fast path does not look at the queue (INV)
 *   BUG_COND_UNLOCK_EARLY (with COND) the cond waiter unlocks before it
 *                      switched out: a signal and handover resume it on its
 *                      stack (saved[])
 *
 * WITNESSES (-DWITNESS=n: an assertion that fails when a scenario is
 * reachable, so that a pass is not vacuous):
 *   1  park_publish finds the word 0 and takes the mutex for its fiber
 *   2  a handover leaves waiters behind (queue or stack not empty)
 *   3  a waiter is pushed while the queue holds waiters
 *   4  a spinning locker takes the mutex in lock_slow's loop
 *   5  the outside thread is handed the mutex
 *   6  (with COND) a signal moves a cond waiter onto the mutex's stack
 *
 * NOT CHECKED HERE: weak-memory orderings (see verify/README.md: spin
 * interleaves steps under sequential consistency); the argument for them is
 * in the comment at the top of src/mutex.c.
 */

#ifndef NL
#define NL 3
#endif
#ifndef ROUNDS
#define ROUNDS 2
#endif
#ifndef SPIN
#define SPIN 1
#endif
#define OUTSIDE 1             /* locker 1 is an outside thread */

/* locker states (fst) */
#define RUN    0
#define OUT    1              /* switched out (or about to block), not pushed */
#define PARKED 2              /* on the stack or in the queue */
#define READY  3              /* handed the mutex and resumed */
#define CONDW  4              /* on the condition variable's list */

/* the word */
bool locked;
byte head;                    /* 0 = no waiter; else locker number */
/* the holder's */
byte queue;
/* records */
byte wnext[NL + 1];
byte fst[NL + 1];
bool saved[NL + 1];
byte rounds[NL + 1];          /* rounds finished */
/* ghosts */
byte incs;                    /* lockers in their critical section */
byte nparked;                 /* waiters on the stack or in the queue */
byte pushes, handed;          /* push CASes that listed a waiter; handovers */
byte pseq[NL + 1];            /* the push number of a parked waiter */
#ifdef COND
byte condq;                   /* the cond's list: at most one waiter here */
bool signalled;               /* the predicate: set with the signal */
bool woke;                    /* the cond waiter was handed the mutex */
#endif

hidden byte i_, n_, p_;

#ifndef WITNESS
#define WITNESS 0
#endif
#define WIT(n, cond) if :: WITNESS == n -> assert(!(cond)) :: else fi

#ifndef NO_INVARIANT
#define INV assert((nparked == 0 || locked) && (head == 0 || locked))
#else
#define INV skip
#endif

/* try_take: CAS 0 -> LOCKED (strong, acq_rel). */
#define TRY_TAKE(ok) d_step { if :: !locked && head == 0 -> locked = 1; ok = 1; INV :: else -> ok = 0 fi }

/* A push CAS of waiter W, whose wait_next is set to the loaded head first
 * (private): the word must still read (wl, wh). */
#define PUSH_CAS(W, ok) \
    d_step { \
        wnext[W] = wh; \
        if \
        :: locked == wl && head == wh -> \
            head = W; nparked++; pushes++; pseq[W] = pushes; fst[W] = PARKED; ok = 1; \
            WIT(3, queue != 0); INV \
        :: else -> wl = locked; wh = head; ok = 0 \
        fi \
    }

/* a parked locker runs again once handed the mutex (or self-resumed) */
#define WAIT_READY(i) atomic { fst[i] == READY -> fst[i] = RUN; saved[i] = 0 }

/* park_publish / lock_outside's loop for locker i; got: it took a free mutex. */
inline publish(i)
{
    d_step { wl = locked; wh = head }
    do
    :: true ->
#ifndef BUG_NO_RECHECK
        if
        :: !wl && wh == 0 ->
            d_step {
                if
                :: !locked && head == 0 ->
                    locked = 1; ok = 1; WIT(1, true);
                    assert(nparked == 0);           /* nobody overtaken */
                    if :: i != OUTSIDE -> assert(saved[i]) :: else fi;
                    fst[i] = READY; INV              /* fj__resume_waiter(f) */
                :: else -> wl = locked; wh = head; ok = 0
                fi
            }
            if :: ok -> break :: else fi
        :: else ->
#endif
            PUSH_CAS(i, ok);
            if :: ok -> break :: else fi
#ifndef BUG_NO_RECHECK
        fi
#endif
    od;
    wl = 0;
    d_step { wh = 0; ok = 0 }
}

/* fj_mutex_lock by locker i: returns when i owns the mutex. */
inline lock(i)
{
    TRY_TAKE(ok);
    if
    :: ok
    :: else ->
        /* lock_slow: spin while LOCKED with no waiter */
        d_step { wl = locked; wh = head; k = 0 }
        do
        :: k < SPIN && wl && wh == 0 ->
            d_step { wl = locked; wh = head; k++ }
            if
            :: !wl && wh == 0 ->
                TRY_TAKE(ok);
                if :: ok -> WIT(4, true); break :: else fi
            :: else
            fi
        :: else -> break
        od;
        k = 0;                                      /* (a break may not land on a d_step) */
        d_step { wl = 0; wh = 0 }
        if
        :: ok
        :: else ->
            if
            :: i != OUTSIDE ->
                TRY_TAKE(ok);                       /* lock_job's first try */
                if
                :: ok
                :: else ->
#ifdef BUG_PUBLISH_EARLY
                    fst[i] = OUT;
                    publish(i);
                    saved[i] = 1;
#else
                    d_step { saved[i] = 1; fst[i] = OUT }   /* fj__switch_to */
                    publish(i);                     /* the post-switch action */
#endif
                    WAIT_READY(i)
                fi
            :: else ->
                fst[i] = OUT;
                publish(i);
                WAIT_READY(i)                       /* futex wait on rec->wake */
            fi
        fi
    fi;
    ok = 0
}

/* unlock_handover: hand the mutex to its oldest waiter */
inline handover()
{
    if
    :: queue == 0 ->
        d_step { wh = head; head = 0; INV }         /* exchange(word, LOCKED) */
        d_step {
#ifndef BUG_NO_REVERSE
            /* reverse the taken stack (private): oldest first */
            i_ = wh; p_ = 0; n_ = 0;
            do
            :: i_ != 0 && n_ < NL ->
                n_++; wh = wnext[i_]; wnext[i_] = p_; p_ = i_; i_ = wh
            :: else -> break
            od;
            assert(i_ == 0);                        /* no cycle */
#else
            p_ = wh;                                /* served newest first */
#endif
            queue = p_; i_ = 0; p_ = 0; n_ = 0; wh = 0
        }
    :: else
    fi;
    d_step {
        /* first = the queue's head; queue = first->wait_next; owner = first;
         * fj__resume_waiter(first) */
        i_ = queue;
        assert(i_ != 0);
        queue = wnext[i_];
        WIT(2, queue != 0 || head != 0);
        assert(fst[i_] == PARKED);                  /* resumed once */
        if :: i_ != OUTSIDE -> assert(saved[i_]) :: else fi;   /* off its stack */
        assert(pseq[i_] == handed + 1);             /* FIFO */
        handed++; nparked--; pseq[i_] = 0;
        WIT(5, i_ == OUTSIDE);
#ifdef COND
        if :: i_ == 2 && condwaiting -> assert(signalled) :: else fi;
#endif
        fst[i_] = READY; INV; i_ = 0
    }
}

/* fj_mutex_unlock by the holder */
inline unlock()
{
    incs--;                                         /* owner = 0 */
#ifndef BUG_QUEUE_IGNORED
    if
    :: queue == 0 ->
#endif
#ifdef BUG_UNLOCK_STORE
        d_step { locked = 0; head = 0; ok = 1; INV }
#else
        d_step { if :: locked && head == 0 -> locked = 0; ok = 1; INV :: else -> ok = 0 fi }
#endif
#ifndef BUG_QUEUE_IGNORED
    :: else -> ok = 0
    fi;
#endif
    if
    :: ok
    :: else -> handover()
    fi;
    ok = 0
}

#ifdef COND
bool condwaiting;             /* locker 2 is in fj_cond_wait */

/* fj_cond_wait(c, m) by locker i, holding m; returns holding m */
inline cond_wait(i)
{
    d_step { assert(incs == 1); condq = i; fst[i] = CONDW; condwaiting = 1 }   /* append (guarded by m) */
#ifdef BUG_COND_UNLOCK_EARLY
    unlock();
    saved[i] = 1;
#else
    saved[i] = 1;                                   /* fj__switch_to */
    unlock();                                       /* post-switch action: unlock for i */
#endif
    atomic { fst[i] == READY -> fst[i] = RUN; saved[i] = 0; woke = 1; condwaiting = 0 }
    d_step { incs++; assert(incs == 1) }            /* owns m again */
}

/* fj_cond_signal(c) by the holder of m: pop the list's first and push it on
 * m's stack like a parking locker (the word is LOCKED: m is held) */
inline cond_signal()
{
    d_step {
        signalled = 1; cw = condq; condq = 0;
        if :: cw != 0 -> assert(fst[cw] == CONDW); fst[cw] = OUT :: else fi;
        wl = locked; wh = head; assert(locked)
    }
    do
    :: cw == 0 -> break
    :: else -> PUSH_CAS(cw, ok); if :: ok -> WIT(6, true); break :: else fi
    od;
    cw = 0;
    d_step { wl = 0; wh = 0; ok = 0 }
}
#endif

proctype Locker(byte i)
{
    bool ok, wl;
    byte wh, k, cw;
    do
    :: rounds[i] < ROUNDS ->
        lock(i);
        d_step { incs++; assert(incs == 1) }        /* the critical section */
#ifdef COND
        if
        :: i == 2 && rounds[i] == 0 ->
            do
            :: !signalled -> cond_wait(i)
            :: else -> break
            od
        :: i == 3 && rounds[i] == 0 -> cond_signal()
        :: else
        fi;
#endif
        unlock();
        rounds[i]++
    :: else -> break
    od
}

init
{
    atomic {
        i_ = 1;
        do
        :: i_ <= NL -> run Locker(i_); i_++
        :: else -> break
        od;
        i_ = 0
    }
    _nr_pr == 1 ->
    d_step {
        assert(!locked && head == 0 && queue == 0 && incs == 0 && nparked == 0);
        i_ = 1;
        do
        :: i_ <= NL -> assert(rounds[i_] == ROUNDS && fst[i_] == RUN); i_++
        :: else -> break
        od;
        i_ = 0
    }
}
