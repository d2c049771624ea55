/*
 * sched2.pml: counters shared by several schedulers and outside threads,
 * and fj_destroy of a scheduler whose fibers wait on them.
 *
 * The protocol (the one src/counter.c, src/fiber.c, src/wake.c, src/wait.c,
 * src/idle.c, src/deadlock.c and src/sched.c implement for waiters of
 * several schedulers):
 *   - A wait list names a waiter by a process-wide id (fiber.c's waiter
 *     table), not by an index into one scheduler's fiber table.  A fiber
 *     record knows its scheduler and lives in that scheduler's memory; the
 *     record of an outside thread (one blocked in fj_wait that is no worker)
 *     is process-wide and never freed.
 *   - The finisher that takes a chain resumes each waiter through the
 *     waiter's own scheduler (fj__resume_waiter).  A worker of that scheduler
 *     pushes it on its own ready deque.  Anyone else (a worker of another
 *     scheduler, an outside thread) first takes a reference on the waiter's
 *     scheduler (fj__inflight_enter: outside_refs++, inject_inflight++), then
 *     marks the fiber READY, pushes it on that scheduler's injection queue
 *     (a node in the fiber's own record), notifies its workers
 *     (fj__notify), and drops the reference (fj__inflight_leave:
 *     inject_inflight--, notify_all if that was the last and someone sleeps,
 *     outside_refs--).  An outside waiter is woken by a store to its record
 *     and a futex wake, and no scheduler is touched.
 *   - fj_destroy(A): A's drain (fj__worker_idle with shutdown set) does not end
 *     while a fiber of A is WAITING; it sleeps on the epoch (the deadlock
 *     hook said "keep waiting").  After the drain and the join it frees A
 *     once outside_refs == 0.
 *
 * The counter word itself (the CAS that takes a whole chain, the put-back,
 * the post-switch publication) is checked in counter.pml; here a counter is
 * its value and the set of listed waiters, every target is 0, and the finish
 * that brings the value to 0 takes every listed waiter in the same step, as
 * the CAS does.  The chain is walked in any order (nondeterministic).
 *
 * ACTORS
 *   WorkerA  the thread in fj_destroy(A): A's only worker, in the drain from
 *            the start.  Its queues hold three jobs, taken in any order:
 *            FA1's job (fj_wait(C, 0)), FA2's job (fj_wait(C2, 0)), and JA
 *            (counted on C).  It takes its ready deque, its jobs and A's
 *            injection queue, sleeps on A's epoch as fj__worker_idle does, and
 *            when the drain ends waits for outside_refs == 0 and frees A.
 *   JB       a worker of scheduler B running JB (counted on C): finishes C.
 *   T        an outside thread: fj_counter_done(C2, 1) (C2 was counted by
 *            hand with fj_counter_add before any of this).
 *   O        an outside thread in fj_wait(C, 0) (wait_external).
 *   So C (value 2: JA, JB) is waited on by FA1 (a fiber of A) and O (an
 *   outside thread) and finished by a job of A or a job of B; C2 (value 1) is
 *   waited on by FA2 (a fiber of A) and finished by an outside thread.
 *
 * SEEDED BUGS
 *   BUG_REF_LATE      the foreign finisher marks the fiber READY before it
 *                     takes its reference on A: the drain ends, A is freed,
 *                     the finisher touches it (assert(aliveA)).
 *   BUG_OWN_SCHED     the finisher resumes a fiber through its own scheduler
 *                     (B's ready deque) instead of the fiber's: caught where
 *                     the fiber is resumed (assert(home[f] == sched)).
 *   BUG_DRAIN_WAITING the drain ends although a fiber of A waits (no
 *                     sched_has_waiters in fj__drain_done): A is freed under
 *                     the finisher that later reaches that fiber's record
 *                     (assert(aliveA)).
 *   BUG_DRAIN_ORDER   the drain reads inject_inflight and the queues before
 *                     the fibers' states: between the two, a foreign
 *                     finisher takes its reference and marks the fiber
 *                     READY, so the drain sees neither the reference nor a
 *                     WAITING fiber, ends, and A is freed with the fiber
 *                     never run: lost wake-up (the end-state assertion).
 *
 *   BUG_NO_REFS_WAIT  fj_destroy frees A without waiting for outside_refs
 *                     to drop to 0: assert(aliveA) in the foreign finisher.
 *   NO_ENDCHECK       (not a bug) leaves out the end-state assertions, to
 *                     show what BUG_REF_LATE and BUG_DRAIN_WAITING lead to
 *                     past the lost wake-up that the search finds first: a
 *                     finisher touching the freed scheduler.
 *
 * WITNESSES (-DWITNESS=n; each must be reached)
 *   1  the drain ends while a foreign finisher still holds its reference
 *      (so the wait for outside_refs == 0 is what keeps A alive)
 *   2  a worker of A takes C's chain and resumes FA1 on its own ready deque
 *   3  the drain sleeps while a fiber of A waits, and a foreign finisher's
 *      notify wakes it
 *   4  a publishing fiber finds its counter reached and queues itself
 *
 * PROPERTIES
 *   - no access to a freed scheduler: every touch of A's memory (its fields,
 *     its fibers' records) asserts aliveA;
 *   - a waiter is resumed exactly once: marking READY asserts WAITING,
 *     running it asserts READY (then DONE);
 *   - only through its own scheduler: a fiber taken from scheduler X's
 *     ready deque asserts home[f] == X;
 *   - no lost wake-up: every process ends (a waiter or a drain left asleep
 *     is an invalid end state), and at the end init asserts that every
 *     waiter ran again (DONE), A is freed, and nothing is left queued.
 *
 * NOT CHECKED HERE: weak-memory reorderings (spin interleaves under
 * sequential consistency; the seq_cst operations the protocol relies on are
 * argued beside the code), more than one worker per scheduler (the
 * quiescence count across workers is the idle protocol's), the destruction
 * of B, and the reuse of a fiber or an outside record for a second wait.
 */

#define FA1 1               /* fiber of A, waits on C */
#define FA2 2               /* fiber of A, waits on C2 */
#define OW  3               /* outside thread, waits on C */
#define BIT(f) (1 << (f))

#define NOSCHED 0           /* an outside thread */
#define SA 1
#define SB 2

/* waiter states (the record's state field) */
#define RUN     0           /* running its job, not yet in fj_wait */
#define WAITING 1           /* in fj_wait: set before the switch, until READY */
#define READY   2           /* taken off the list, queued to run again */
#define DONE    3           /* ran again: returned from fj_wait */

byte fst[4];
byte home[4];               /* the scheduler a record belongs to */

/* counters: value and the set of listed waiters (bits 1 << f) */
byte cv = 2;                /* C: JA and JB counted */
byte cw;
byte c2v = 1;               /* C2: counted by hand, finished by T */
byte c2w;

/* scheduler A: its memory, queues, and idle/drain state */
bool aliveA = 1;
byte jobsA = 7;             /* 1: FA1's job, 2: FA2's job, 4: JA */
byte readyA;                /* fibers on A's ready deque (bits) */
byte injA;                  /* fibers on A's injection queue (bits) */
byte inflA;                 /* inject_inflight */
byte refsA;                 /* outside_refs */
unsigned epochA : 3;        /* the event count (few notifies: no wrap) */
byte sleepersA;
bool pendA;                 /* wake_pending */
bool asleepA;               /* A's worker blocked in futex_wait(epoch) */
bool drainedA;              /* the drain has ended */

byte readyB;                /* B's ready deque (only BUG_OWN_SCHED uses it) */
bool wakeO;                 /* the outside waiter's futex word */
bool sleptOnWait;           /* witness 3 only: the drain slept while a fiber of A waited */

#ifndef WITNESS
#define WITNESS 0
#endif
#define WIT(n, cond) if :: WITNESS == n -> assert(!(cond)) :: else fi

/* fj__notify(A, 1): fence, load sleepers; if someone sleeps and no wake is
 * pending, bump the epoch and wake one; if the wake found nobody, clear
 * pending.  (spinning is 0: the one worker does not spin while it sleeps.) */
inline notify_A()
{
    d_step { assert(aliveA); n = (sleepersA != 0) }
    if
    :: n ->
        d_step { assert(aliveA); if :: !pendA -> pendA = 1 :: else -> n = 0 fi }
        if
        :: n ->
            d_step { assert(aliveA); epochA++ }
            d_step {
                assert(aliveA);
                if
                :: asleepA -> WIT(3, sleptOnWait); asleepA = 0
                :: else -> n = 0
                fi
            }
            if
            :: !n -> d_step { assert(aliveA); pendA = 0 }
            :: else
            fi
        :: else
        fi
    :: else
    fi;
    n = 0
}

/*
 * fj__resume_waiter(f), run by a finisher of scheduler `me` (NOSCHED for an
 * outside thread) that took f off a chain.
 */
inline resume_waiter(f, me)
{
    if
    :: f == OW ->
        /* store to the record, futex wake: no scheduler touched */
        d_step { assert(fst[OW] == WAITING); fst[OW] = READY; wakeO = 1 }
    :: else ->
        /* reading f->kind and f->s: the record is in A's memory */
        d_step { assert(aliveA); assert(home[f] == SA) }
        if
#ifdef BUG_OWN_SCHED
        :: me == SB ->
            /* seeded bug: resolved in the finisher's own scheduler */
            d_step { assert(fst[f] == WAITING); fst[f] = READY; readyB = readyB | BIT(f) }
#endif
        :: me == SA ->
            /* a worker of the fiber's scheduler: its own ready deque */
            d_step {
                assert(aliveA); assert(fst[f] == WAITING);
                WIT(2, true);
                fst[f] = READY; readyA = readyA | BIT(f)
            }
        :: else ->
#ifndef BUG_REF_LATE
            d_step { assert(aliveA); refsA++ }          /* outside_refs++ */
            d_step { assert(aliveA); inflA++ }          /* inject_inflight++ */
#endif
            d_step { assert(aliveA); assert(fst[f] == WAITING); fst[f] = READY }
#ifdef BUG_REF_LATE
            d_step { assert(aliveA); refsA++ }
            d_step { assert(aliveA); inflA++ }
#endif
            /* wake_task / wake_node in the record, then the inject CAS */
            d_step { assert(aliveA); injA = injA | BIT(f) }
            notify_A();
            /* fj__inflight_leave */
            d_step { assert(aliveA); inflA--; n = (inflA == 0) }
            if
            :: n ->
                d_step { assert(aliveA); n = (sleepersA != 0) }
                if
                :: n ->                                 /* notify_all */
                    d_step { assert(aliveA); epochA++ }
                    d_step { assert(aliveA); asleepA = 0 }
                :: else
                fi
            :: else
            fi;
            n = 0;
            d_step { assert(aliveA); refsA-- }          /* the last touch */
        fi
    fi
}

/* Walk a taken chain: resume each waiter on it, in any order.  The walk
 * reads each record's wait_next before resuming it. */
inline resume_chain(me)
{
    do
    :: chain & BIT(FA1) -> chain = chain & ~BIT(FA1); resume_waiter(FA1, me)
    :: chain & BIT(FA2) -> chain = chain & ~BIT(FA2); resume_waiter(FA2, me)
    :: chain & BIT(OW)  -> chain = chain & ~BIT(OW);  resume_waiter(OW, me)
    :: chain == 0 -> break
    od
}

/* fj__counter_finish(C, 1): the CAS that brings the value to 0 takes the
 * chain; reading the fiber records on it touches A's memory. */
inline finish_C()
{
    d_step {
        assert(cv >= 1); cv--;
        if :: cv == 0 -> chain = cw; cw = 0 :: else fi;
        if :: chain & BIT(FA1) -> assert(aliveA) :: else fi
    }
}

/* The post-switch publication of fiber f on counter CV/CW: listed while
 * the value is above the target, else queued to run again at once. */
#define PUBLISH(f, CV, CW) \
    d_step { \
        assert(aliveA); assert(fst[f] == WAITING); \
        if \
        :: CV == 0 -> WIT(4, true); fst[f] = READY; readyA = readyA | BIT(f) \
        :: else -> CW = CW | BIT(f) \
        fi \
    }

/* A fiber taken from A's ready deque runs again (its fj_wait returns). */
#define RUN_READY(f) \
    d_step { \
        assert(aliveA); assert(home[f] == SA); assert(fst[f] == READY); \
        readyA = readyA & ~BIT(f); fst[f] = DONE \
    }

#define A_WORK (readyA != 0 || jobsA != 0 || injA != 0)
#define A_WAITS (fst[FA1] == WAITING || fst[FA2] == WAITING)

proctype WorkerA()
{
    byte chain;
    bool n, q;
    unsigned e : 3;

    do
    /* take_local: the ready deque, then the job deque */
    :: readyA & BIT(FA1) -> RUN_READY(FA1)
    :: readyA & BIT(FA2) -> RUN_READY(FA2)
    :: jobsA & 1 ->
        /* FA1's job: fj_wait(C, 0) with C above 0: state = WAITING, switch */
        d_step { jobsA = jobsA & ~1; fst[FA1] = WAITING }
        PUBLISH(FA1, cv, cw)
    :: jobsA & 2 ->
        d_step { jobsA = jobsA & ~2; fst[FA2] = WAITING }
        PUBLISH(FA2, c2v, c2w)
    :: jobsA & 4 ->
        /* JA finishes C on a worker of A */
        jobsA = jobsA & ~4;
        finish_C();
        resume_chain(SA)
    /* take_injected: the list whole, each node read before its push */
    :: injA != 0 ->
        d_step { assert(aliveA); readyA = readyA | injA; injA = 0 }
    /* fj__worker_idle, shutdown set */
    :: else ->
        d_step { assert(aliveA); e = epochA }
        d_step { assert(aliveA); sleepersA++ }
        if
        :: A_WORK ->                        /* fj__has_work: back to the loop */
            d_step { assert(aliveA); sleepersA-- }
        :: else ->
            /* the quiescence judgement, one load per step, in order */
#ifdef BUG_DRAIN_ORDER
            /* inject_inflight and fj__has_work first, the fibers' states last */
            d_step { assert(aliveA); q = (inflA == 0) }
            if :: q -> d_step { assert(aliveA); q = !A_WORK } :: else fi;
            if :: q -> d_step { assert(aliveA); q = !A_WAITS } :: else fi;
#else
            /* fj__drain_done first: the fibers' states, then inject_inflight,
             * then the queues.  A foreign finisher takes its reference
             * before it changes the state, so a drain that sees the state
             * changed sees the reference, or the queued fiber. */
#ifdef BUG_DRAIN_WAITING
            q = 1;
#else
            d_step { assert(aliveA); q = !A_WAITS }
#endif
            if :: q -> d_step { assert(aliveA); q = (inflA == 0) } :: else fi;
            if :: q -> d_step { assert(aliveA); q = !A_WORK } :: else fi;
#endif
            if
            :: q ->
                /* the drain ends */
                d_step { assert(aliveA); sleepersA--; drainedA = 1 }
                break
            :: else ->
                /* not quiescent, or a fiber of A waits and the deadlock hook
                 * said to keep waiting: sleep on the epoch */
                d_step {
                    assert(aliveA);
                    if :: epochA == e -> asleepA = 1 :: else fi;
                    if :: WITNESS == 3 -> sleptOnWait = A_WAITS :: else fi
                }
                !asleepA;                                 /* woken */
                d_step { assert(aliveA); pendA = 0 }      /* wake_pending = 0 */
                d_step { assert(aliveA); sleepersA-- }
            fi
        fi;
        q = 0; e = 0
    od;
    /* sched_stop_threads (no other worker), then wait for the references */
    WIT(1, refsA != 0);
#ifndef BUG_NO_REFS_WAIT
    refsA == 0;
#endif
    aliveA = 0                                            /* sched_free(A) */
}

proctype JB()
{
    byte chain;
    bool n;

    finish_C();
    resume_chain(SB);
#ifdef BUG_OWN_SCHED
    /* B's worker takes what its own ready deque holds */
    do
    :: readyB & BIT(FA1) -> d_step { assert(home[FA1] == SB); readyB = readyB & ~BIT(FA1); fst[FA1] = DONE }
    :: readyB & BIT(FA2) -> d_step { assert(home[FA2] == SB); readyB = readyB & ~BIT(FA2); fst[FA2] = DONE }
    :: else -> break
    od
#endif
}

proctype T()
{
    byte chain;
    bool n;

    /* fj_counter_done(C2, 1) from an outside thread */
    d_step {
        assert(c2v >= 1); c2v--;
        if :: c2v == 0 -> chain = c2w; c2w = 0 :: else fi;
        if :: chain & BIT(FA2) -> assert(aliveA) :: else fi
    }
    resume_chain(NOSCHED)
}

proctype O()
{
    /* wait_external(C, 0): return at once if reached; else take an outside
     * record, state = WAITING, publish, sleep on the record's futex word */
    if
    :: cv == 0 -> fst[OW] = DONE
    :: else ->
        fst[OW] = WAITING;
        if
        :: d_step { cv == 0 -> fst[OW] = DONE }
        :: d_step { cv != 0 -> cw = cw | BIT(OW) }
            wakeO == 1;
            d_step { assert(fst[OW] == READY); fst[OW] = DONE }
        fi
    fi
}

init
{
    atomic {
        home[FA1] = SA; home[FA2] = SA; home[OW] = NOSCHED;
        run WorkerA();
        run JB();
        run T();
        run O()
    }
    _nr_pr == 1 ->
#ifndef NO_ENDCHECK
    /* lost wake-up: a waiter never ran again although everything ended
     * (left queued on a scheduler that is gone, or never queued) */
    assert(fst[FA1] == DONE && fst[FA2] == DONE && fst[OW] == DONE);
    assert(injA == 0 && readyA == 0 && readyB == 0);
#endif
    assert(!aliveA && refsA == 0 && inflA == 0);
    assert(cv == 0 && cw == 0 && c2v == 0 && c2w == 0)
}
