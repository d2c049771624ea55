/*
 * wake.pml: the idle workers' sleep and wake protocol of one scheduler with
 * several workers: every worker that is idle while work is queued is
 * eventually woken and takes it.
 *
 * The protocol (src/idle.c fj__worker_idle, src/wake.c fj__notify):
 *   - A worker that finds nothing to do spins (counted in `spinning`), looking
 *     at the queues; if it sees work it stops spinning, passes a wake on
 *     (fj__notify) and goes to take it.  When its spin runs out it stops
 *     spinning, reads the epoch, registers as a sleeper (`sleepers++`), and
 *     after a seq_cst fence looks at the queues once more: work there, it
 *     deregisters, passes a wake on and goes to take it; else it sleeps in
 *     futex_wait(&epoch, e).  Woken, it clears `wake_pending`, deregisters,
 *     and searches as a spinner again (so the work it finds passes the wake
 *     on).
 *   - A submitter pushes, then (after a seq_cst fence) fj__notify: nothing if
 *     nobody sleeps or someone spins (that spinner will pass it on), else,
 *     if no wake is pending (a CAS on `wake_pending`), it bumps the epoch
 *     and wakes one sleeper; if that wake found nobody in the futex, it
 *     clears `wake_pending` again and looks again from the start.
 * So a batch submitted at once wakes one sleeper, which wakes the next as it
 * finds work, and so on: a chain, one futex wake per worker, as long as
 * there is work.
 *
 * ACTORS
 *   Worker(0)  the root job's worker: it submits N barrier jobs in one call,
 *              then searches like the others (its fj_wait takes a child).
 *   Worker(i)  the other workers, idle from the start.
 *   N = W barrier jobs: each, once started, spins until all N have started,
 *   so they finish only if every worker takes one: only if every sleeper
 *   is woken.  The queues are one pool (jobs): fj__has_work and the steals
 *   see every worker's deques.  A taker may also move all but one of the
 *   rest out of the pool and back (steal_more: the jobs it steals on to its
 *   own deque), notifying after the push as any submitter.
 *
 * SEEDED BUGS (the code before the fix had all four)
 *   BUG_WOKEN_NO_PASS    a woken worker takes work without passing the wake
 *                        on (it went from the futex wait straight back to its
 *                        search, and only the spin loop notified)
 *   BUG_RECHECK_NO_PASS  a worker whose last look after registering finds
 *                        work takes it without passing the wake on, though
 *                        a submitter may have skipped its wake while it was
 *                        counted as spinning
 *   BUG_STEAL_MORE_QUIET a thief's steal_more pushes the jobs it took on to
 *                        its own deque without notifying: a worker woken for
 *                        them looked while they were in no deque, and slept
 *   BUG_PENDING_NO_RELOOK a notify whose wake found nobody in the futex wait
 *                        clears wake_pending and returns: a submitter that
 *                        saw it pending meanwhile skipped its wake, and a
 *                        worker that registered after the bump and looked
 *                        before that push sleeps (needs W=4)
 *   Each alone hangs the barrier: jobs left queued, every sleeper asleep
 *   (the assertion in init, reached by timeout).
 *
 * WITNESSES (-DWITNESS=n; each must be reached)
 *   1  a chain of W-1 wakes: every sleeper woken by a worker that was itself
 *      woken (the last by a chain of depth W-1)
 *   2  a worker whose last look after registering found work wakes a sleeper
 *
 * NOT CHECKED HERE: weak-memory orderings (argued beside the code);
 * notify_all, timed waits, parking (fj_set_active_workers), leaving, the
 * quiescence and deadlock judgements; batches (a worker keeps its chunk
 * private); the deques' own protocol (deque.pml).
 */

#ifndef W
#define W 3
#endif
#define N W

byte jobs;          /* barrier jobs queued */
byte started;       /* barrier jobs started */
byte finished;
byte spinning;
byte sleepers;
bool pending;       /* wake_pending */
byte moved;         /* the epoch: bit i set when it moved since worker i read it */
bool asleep[W];     /* blocked in futex_wait(&epoch, e) */
byte depth[W];      /* witness 1 only: how many wakes led to this worker's */

#ifndef WITNESS
#define WITNESS 0
#endif
#define WIT(n, cond) if :: WITNESS == n -> assert(!(cond)) :: else fi

/* futex_wake(&epoch, 1): wake one of the workers blocked in the wait, any
 * one; n = how many (0 or 1). */
#define WAKE_IF(i) :: asleep[i] -> asleep[i] = 0; depth[i] = (WITNESS == 1 -> depth[me] + 1 : 0); n = 1
inline futex_wake_one()
{
    atomic {
        if
        WAKE_IF(0)
        WAKE_IF(1)
        WAKE_IF(2)
#if W > 3
        WAKE_IF(3)
#endif
        :: else -> n = 0
        fi
    }
}

/* fj__notify(s, n >= 1): fence; load sleepers, load spinning; CAS
 * wake_pending 0 -> 1; bump the epoch; wake one; none woken: clear pending
 * and look again. */
inline notify()
{
    do
    :: s1 = sleepers;
        s2 = spinning;
        if
        :: s1 != 0 && s2 == 0 ->
            d_step { n = !pending; pending = 1 }
            if
            :: n ->
                moved = 255;                    /* epoch++ */
                futex_wake_one();
                WIT(1, n && depth[me] + 1 == W - 1);
                WIT(2, n && recheck);
                if
                :: n -> break
                :: else ->
                    pending = 0;
#ifdef BUG_PENDING_NO_RELOOK
                    break
#else
                    skip
#endif
                fi
            :: else -> break
            fi
        :: else -> break
        fi
    od;
    n = 0; s1 = 0; s2 = 0
}

proctype Worker(byte me)
{
    byte s1, s2, k;
    bool n, recheck;

    if
    :: me == 0 ->
        /* the root job: fj_run_jobs of the N barrier jobs, then notify */
        jobs = N;
        notify()
    :: else
    fi;

find:   /* fj__try_find: take a job (stealing: maybe more, steal.c) */
    if
    :: d_step { jobs > 0 -> jobs-- } ->
        if
        :: d_step { jobs >= 2 -> k = jobs - 1; jobs = 1 } ->
            /* steal_more: up to 7 more, the last left to the owner, in no
             * deque until the push to our own */
            jobs = jobs + k;
            k = 0;
#ifndef BUG_STEAL_MORE_QUIET
            notify()
#endif
        :: true
        fi;
        /* a barrier job: spin until all have started */
        started++;
        started == N;
        finished++;
        goto find
    :: else -> goto idle
    fi;

idle:   /* fj__worker_idle */
    spinning++;
    do
    :: jobs > 0 ->                  /* fj__has_work in the spin loop */
        spinning--;
        notify();
        goto find
    :: break                        /* the spin ran out (or was 0 long) */
    od;
    spinning--;
    moved = moved & ~(1 << me);         /* e = epoch */
    sleepers++;
    /* seq_cst fence, then the last look */
    if
    :: jobs > 0 ->
        sleepers--;
#ifndef BUG_RECHECK_NO_PASS
        recheck = 1;
        notify();
        recheck = 0;
#endif
        goto find
    :: else
    fi;
    atomic { if :: !(moved & (1 << me)) -> asleep[me] = 1 :: else fi }   /* epoch == e */
end_asleep:
    !asleep[me];
    pending = 0;
    sleepers--;
#ifdef BUG_WOKEN_NO_PASS
    goto find
#else
    goto idle
#endif
}

init
{
    byte i;
    atomic {
        i = 0;
        do
        :: i < W -> run Worker(i); i++
        :: else -> break
        od
    }
    /* Nothing can move: the workers that are not in a barrier job sleep.
     * No lost wake-up: then every job ran. */
    timeout ->
    assert(jobs == 0 && finished == N)
}
