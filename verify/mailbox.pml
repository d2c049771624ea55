/*
 * mailbox.pml: resuming a woken fiber at home (src/wake.c, "Resuming at
 * home"; src/idle.c take_home and fj__park_give_back; src/steal.c
 * fj__take_mail, take_local, steal_any, fj__deques_hold_work).
 *
 * Worker 0 is the home of fibers 1 and 2, which parked there; workers 1 and
 * 2 finish their counts (one each), at any moment against worker 0's search.
 * A finisher puts its fiber in worker 0's mailbox (a single slot) if worker
 * 0 is searching and the slot looks empty, with a CAS from empty; otherwise
 * (or if the CAS fails) on its own ready deque (here: a count per worker, a
 * deque's own protocol is deque.pml). Then it notifies and goes idle too.
 *
 * Every worker then searches as the code does:
 *   - idle: `searching` set; in the spin loop the owner takes its own
 *     mailbox (an exchange to empty) while still searching; if it sees any
 *     work (fj__has_work: every mailbox, every ready deque) it clears
 *     `searching` and goes to find; or its spin runs out: it clears
 *     `searching`, registers as a sleeper and looks once more at every
 *     queue; work there: find; else it sleeps.
 *   - or, worker 0 only, once: the active-worker limit falls while it
 *     searches: it clears `searching`, moves its mailbox to its ready deque
 *     (fj__park_give_back) and comes back.
 *   - find: its own mailbox first (take_local), then its ready deque, then
 *     steals: another worker's ready deque, or another worker's mailbox
 *     only while that worker is not searching (steal_any). Found nothing:
 *     idle again.
 * The home watch (wake.c, "The home watch") rides along: each time worker 0
 * starts a spin it may watch one fiber whose word is 0 (a CAS from 0 to
 * watched; any fiber, a resumed one too: the code's check that the fiber
 * still waits is only a hint, so a stale watch must be harmless). A
 * finisher first tries to turn its fiber's word from watched to handed (a
 * CAS); if that works it is done: no put, no push, no notify. Worker 0
 * claims a handed fiber in its spin loop while searching; on every way out
 * of the loop (work seen, the spin ran out, the park) it takes the word
 * back, a CAS from watched to 0, and if that fails the fiber was handed and
 * goes on its own ready deque.
 *
 * A notify wakes any one sleeper (an over-approximation of fj__notify:
 * when a wake is skipped or lost is the business of wake.pml, not this
 * model's).
 *
 * PROPERTIES
 *   - each fiber is resumed exactly once (assert at every take);
 *   - none is stranded: when nothing can move (every worker asleep), both
 *     fibers were resumed and every mailbox and ready deque is empty.
 *
 * SEEDED BUGS
 *   BUG_PUT_NO_CAS     the put is "load empty, then store": two finishers
 *                      both see the slot empty, the second overwrites the
 *                      first's fiber (lost: the end assertion)
 *   BUG_TAKE_NO_XCHG   a take is "load, then store empty": the owner and a
 *                      thief both take the same fiber (the take's assertion)
 *   BUG_LOOK_NO_MAIL   fj__has_work / fj__deques_hold_work do not count the
 *                      mailboxes: the owner's spin runs out after a put it
 *                      did not see, its last look misses the fiber, and so
 *                      do the others' (the end assertion)
 *   BUG_HAND_NO_CAS    the finisher's hand is "load watched, then store
 *                      handed": the owner takes the word back in between
 *                      and the handed fiber is stranded (the end assertion)
 *   BUG_END_NO_CAS     the owner takes the word back with a plain store of
 *                      0: a hand made just before is lost (the end
 *                      assertion)
 *
 * WITNESSES (-DWITNESS=n; each must be reached)
 *   1  a fiber resumed at home by its owner out of the mailbox
 *   2  a fiber in the mailbox taken by a thief (owner not searching)
 *   3  a fiber moved from the mailbox to the ready deque by the park
 *   4  a fiber handed over the watch, claimed by its owner in the spin loop
 *   5  a fiber handed over the watch as the owner left the loop: found
 *      when it took the word back, pushed on its ready deque
 *
 * NOT CHECKED HERE: weak-memory orderings (argued in wake.c; a relaxed put
 * or take is caught by ThreadSanitizer in tests/core/test_wake_home.c); the
 * sleep protocol's lost wake-ups (wake.pml); the deque's protocol
 * (deque.pml); the counter's wait list (counter.pml).
 */

#define W 3

byte mailbox;          /* worker 0's: 0 empty, else the fiber */
bool searching;        /* worker 0's */
byte ready[W];         /* fibers on each worker's ready deque */
byte readyf[W];        /* which (bit f-1), to know what a take resumes */
byte resumed[3];       /* per fiber: how many times resumed */
byte watch[3];         /* per fiber: 0, 1 watched by worker 0, 2 handed */
byte watching;         /* worker 0's: the fiber it watches, or 0 */
bool asleep[W];
bool parked_once;

#ifndef WITNESS
#define WITNESS 0
#endif
#define WIT(n, cond) if :: WITNESS == n -> assert(!(cond)) :: else fi

inline resume(f)
{
    assert(resumed[f] == 0);
    resumed[f]++;
}

/* Take the mailbox: an exchange to empty (BUG_TAKE_NO_XCHG: two steps). */
inline take_mail(got)
{
#ifdef BUG_TAKE_NO_XCHG
    got = mailbox;
    if
    :: got != 0 -> mailbox = 0
    :: else
    fi
#else
    d_step { got = mailbox; mailbox = 0 }
#endif
}

inline push_ready(w, f)
{
    d_step { ready[w]++; readyf[w] = readyf[w] | (1 << (f - 1)) }
}

/* Take one fiber off w's ready deque (the deque's own protocol: deque.pml). */
inline take_ready(w, got)
{
    d_step {
        if
        :: ready[w] > 0 && (readyf[w] & 1) -> ready[w]--; readyf[w] = readyf[w] & ~1; got = 1
        :: ready[w] > 0 && (readyf[w] & 2) -> ready[w]--; readyf[w] = readyf[w] & ~2; got = 2
        :: else -> got = 0
        fi
    }
}

/* fj__has_work's view: every mailbox and every ready deque. */
#ifdef BUG_LOOK_NO_MAIL
#define WORK (ready[0] + ready[1] + ready[2] > 0)
#else
#define WORK (mailbox != 0 || ready[0] + ready[1] + ready[2] > 0)
#endif

/* Wake any one sleeper (see the top comment). */
inline notify()
{
    atomic {
        if
        :: asleep[0] -> asleep[0] = 0
        :: asleep[1] -> asleep[1] = 0
        :: asleep[2] -> asleep[2] = 0
        :: else
        fi
    }
}

/* Worker 0 may start watching a fiber whose word is 0 (watch_begin). */
inline watch_begin()
{
    if
    :: d_step { watch[1] == 0 -> watch[1] = 1; watching = 1 }
    :: d_step { watch[2] == 0 -> watch[2] = 1; watching = 2 }
    :: true
    fi
}

/* Worker 0 leaves its spin loop: take the word back (watch_end). */
inline watch_end()
{
    if
    :: watching != 0 ->
#ifdef BUG_END_NO_CAS
        watch[watching] = 0;
#else
        if
        :: d_step { watch[watching] == 1 -> watch[watching] = 0 }
        :: else ->   /* handed: the resume is ours */
            watch[watching] = 0;
            WIT(5, 1);
            push_ready(0, watching)
        fi;
#endif
        watching = 0
    :: else
    fi
}

proctype Worker(byte me)
{
    byte got, v;

    if
    :: me != 0 ->
        /* the finisher of fiber `me`: hand_home, else mail_home, else its
         * own ready deque */
#ifdef BUG_HAND_NO_CAS
        if
        :: watch[me] == 1 -> watch[me] = 2; goto idle
        :: else
        fi;
#else
        if
        :: d_step { watch[me] == 1 -> watch[me] = 2 } -> goto idle
        :: else
        fi;
#endif
#ifdef BUG_PUT_NO_CAS
        if
        :: searching && mailbox == 0 -> mailbox = me
        :: else -> push_ready(me, me)
        fi;
#else
        if
        :: searching && mailbox == 0 ->
            if
            :: d_step { mailbox == 0 -> mailbox = me } 
            :: else -> push_ready(me, me)   /* the CAS failed */
            fi
        :: else -> push_ready(me, me)
        fi;
#endif
        notify()
    :: else
    fi;

idle:   /* fj__worker_idle */
    if
    :: me == 0 -> searching = 1; watch_begin()
    :: else
    fi;
    do
    :: me == 0 && watching != 0 && watch[watching] == 2 ->   /* take_home: handed */
        d_step { got = watching; watch[watching] = 0; watching = 0 };
        WIT(4, 1);
        resume(got);
        searching = 0;
        goto idle
    :: me == 0 && mailbox != 0 ->         /* take_home, still searching */
        take_mail(got);
        if
        :: got != 0 ->
            WIT(1, 1);
            watch_end();
            resume(got);
            searching = 0;
            goto idle
        :: else
        fi
    :: me == 0 && !parked_once ->         /* the limit falls: park */
        parked_once = 1;
        watch_end();
        searching = 0;
        take_mail(got);
        if
        :: got != 0 -> WIT(3, 1); push_ready(0, got)
        :: else
        fi;
        goto idle
    :: WORK ->
        if
        :: me == 0 -> watch_end(); searching = 0
        :: else
        fi;
        goto find
    :: break                                /* the spin ran out */
    od;
    if
    :: me == 0 -> watch_end(); searching = 0
    :: else
    fi;
    /* registered; fence; the last look */
    if
    :: WORK -> goto find
    :: else
    fi;
    atomic { asleep[me] = 1 }
end_asleep:
    !asleep[me];
    goto idle;

find:   /* fj__try_find: take_local, then steal_any */
    if
    :: me == 0 -> take_mail(got)
    :: else -> got = 0
    fi;
    if
    :: got == 0 -> take_ready(me, got)
    :: else
    fi;
    v = 0;
    do
    :: got == 0 && v < W ->
        if
        :: v != me -> take_ready(v, got)
        :: else
        fi;
        if
        :: got == 0 && v == 0 && me != 0 && !searching ->
            take_mail(got);
            WIT(2, got != 0)
        :: else
        fi;
        v++
    :: else -> break
    od;
    if
    :: got != 0 -> resume(got)
    :: else
    fi;
    goto idle
}

init
{
    atomic {
        run Worker(0);
        run Worker(1);
        run Worker(2)
    }
    /* Nothing can move: every worker sleeps. Then nothing is stranded. */
    timeout ->
    assert(resumed[1] == 1 && resumed[2] == 1 && mailbox == 0 && ready[0] + ready[1] + ready[2] == 0 &&
           watching == 0 && watch[1] == 0 && watch[2] == 0)
}
