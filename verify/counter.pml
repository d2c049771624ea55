/*
 * counter.pml: the counter and wait-list protocol of src/counter.c, together
 * with the post-switch publication of a waiting fiber in src/wait.c and
 * src/worker.c (fj_wait -> fj__switch_to -> after_switch, FJ_POST_WAIT), step
 * by step.
 *
 * THE WORD.  In C the counter is one 64-bit atomic: value:32 | max_target:16 |
 * head:16.  Here it is the globals cv, cm, ch, and each atomic operation of the
 * C code on the word is ONE indivisible step (d_step) over the whole triple: a
 * load copies all three, a CAS compares all three and, on success, writes all
 * three; on failure it refreshes the expected triple (as
 * __atomic_compare_exchange_n does).  Steps between atomic operations are
 * separate, except where a step only writes memory that no other process can
 * read at that moment (the process's locals; the wait_next / wait_target of a
 * fiber that is not listed, or that is on a chain this process owns).  Such a
 * write commutes with every step of every other process, so folding it into
 * the next step of the same process changes no reachable behaviour; each such
 * place says so.
 *
 * ACTORS (all start together; spin explores every interleaving):
 *   Waiter(f, T)  fiber f in fj_wait(c, T).  fj_counter_value (acquire load):
 *                 if <= T, return.  Otherwise fj__switch_to (the registers are
 *                 saved: saved[f] = 1, its own step), then the next context on
 *                 that worker runs after_switch -> fj__counter_publish: load,
 *                 and while value > T: write wait_next, CAS {v,m,h} ->
 *                 {v, max(m,T), f}.  If the value is <= T there, after_switch
 *                 resumes f at once (pushes it on the ready deque).  Once
 *                 resumed, f runs again and returns from fj_wait.
 *                 Fiber 1 is the parent (target 0): the counter lives in its
 *                 frame.  It frees it (alive = 0) as soon as it has returned
 *                 from fj_wait and the other waiters have returned from theirs
 *                 (the user contract: the counter outlives the fibers waiting
 *                 on it; target 0 means every counted job has finished).
 *                 Fibers 2 and 3 wait with targets 1 and 2.
 *   Job(spawn, k) a job counted on the counter.  With spawn it first counts one
 *                 more job on the same counter (fj__counter_add: fetch_add) and
 *                 makes it runnable, then finishes.  Finishing k jobs is
 *                 fj__counter_finish: load, CAS loop; the CAS that brings the
 *                 value to max_target or below while someone waits also clears
 *                 head and max_target and makes this job the chain owner, which
 *                 runs counter_wake_reached: split the chain, put the
 *                 unreached waiters back (CAS loop, re-checking the value),
 *                 resume the reached ones.  k = 2 models fj__fold_flush of
 *                 the finishes of two consecutive jobs of one counter on one
 *                 worker, folded by fj__fold_add (src/internal.h).
 *
 * CONFIGURATIONS (-D when running spin -a):
 *   (default)     3 waiters (targets 0, 1, 2) and 4 finishing jobs: the value
 *                 starts at 3 (J1, J2, J3 counted); J1 counts J4 on the same
 *                 counter before it finishes.
 *   BATCH         J2 and J3 finish as one batch (k = 2).
 *   WAITERS2      only the waiters with targets 0 and 1.
 *   SPURIOUS      weak CASes may also fail spuriously.  Off by default: a
 *                 spurious failure refreshes the expected word with the value
 *                 it already holds and goes back to the loop head with the
 *                 same locals, after a private write that it repeats with the
 *                 same value, so it adds stuttering steps and no reachable
 *                 state; the option is there to check that claim.
 *
 *   TIMED         timed waits (fj_wait_until; src/timer.c, src/wait.c): the
 *                 parent fiber 1 (target 0) and two jobs in timed waits
 *                 whose proxies 2 and 3 (targets 1 and 0) are listed in
 *                 their place; a Timer per proxy may claim it at any moment
 *                 once armed; three finishers.  A timed-out waiter takes
 *                 the chain off the counter (drop_dead) until the list's
 *                 reference to its proxy is gone, then returns.
 *                 -DFINISHERS2: two finishers (the value starts at 2).
 *   LAUNCH=n      launch records (fj_run_jobs_after; record.c): waiters 1
 *                 and 2 are fibers (targets 0 and 1), 3 and 4 launch records
 *                 (Launcher: targets 0 and 1), finished by three jobs (no
 *                 spawn); record 4 is reused n times (its target one less
 *                 each time).  2 waiters of each kind and 3 finishers,
 *                 exhaustively with n = 1.
 *
 * SEEDED BUGS (each must make the search fail):
 *   BUG_FETCH_SUB     finishing is fetch_sub, and the chain is taken in a later
 *                     step (the variant DESIGN.md rejects): caught as an access
 *                     to the freed counter (assert(alive)).
 *   BUG_NO_RECHECK    the put-back loop never re-checks the value, so a waiter
 *                     reached meanwhile goes back on the list: caught by the
 *                     word's invariant; with -DNO_INVARIANT (the invariant
 *                     not asserted), as an invalid end state (a waiter never
 *                     resumed: lost wake-up).
 *   BUG_PUBLISH_EARLY the waiter publishes itself before its registers are
 *                     saved: caught by assert(saved[..]) where the chain owner
 *                     takes it.
 *   BUG_STALE_TAIL    the put-back re-check does not first cut the tail's
 *                     wait_next (src/counter.c before commit 2ed35d3): after a
 *                     failed CAS the walk runs on into waiters that are still
 *                     listed or on another finisher's chain: caught as a
 *                     cyclic chain / a fiber resumed twice (needs 3 waiters).
 *
 *   BUG_TIMED_RETURN_EARLY (TIMED) a timed-out waiter drops once and
 *                     returns (the first version of wait.c): a finisher that
 *                     holds its dead proxy in the unreached part of a chain
 *                     puts it back into a counter the parent has freed
 *                     meanwhile: caught by assert(alive) (found first by a
 *                     review, with a reproducer under ASan).
 *   BUG_REC_STALE_CHECK (LAUNCH) the registrar checks the value once and
 *                     then lists the record whatever the value: a record
 *                     reached meanwhile is listed, caught by the word's
 *                     invariant, or with -DNO_INVARIANT as a launch that
 *                     never comes (invalid end state).
 *   BUG_LAUNCH_BEFORE_LINK (LAUNCH=2) the chain owner launches a record
 *                     before it reads the record's link: reused at once and
 *                     listed again, its link now leads into the live list,
 *                     and the owner resumes waiters it does not own (caught
 *                     as a waiter resumed twice / not listed).
 *
 * PROPERTIES:
 *   - no access to the counter after the wake that may free it: every access
 *     to the word asserts alive;
 *   - no fiber resumed before it finished switching out: resume asserts
 *     saved[f];
 *   - no fiber resumed twice: a resume by a chain owner asserts the fiber is
 *     listed (then marks it READY); the post-switch self-resume asserts it is
 *     switched out and not listed;
 *   - the chain owner owns what it walks: every fiber on a taken chain is
 *     listed and switched out;
 *   - the value never goes below zero: the finisher's check (the fj__fatal in
 *     fj__counter_finish) is an assertion;
 *   - the word's invariant, head != 0 => value > max_target (and head == 0 =>
 *     max_target == 0), after every successful CAS;
 *   - no lost wake-up: spin's end-state validity.  A waiter that is never
 *     resumed blocks forever (and so does the parent, which waits for it
 *     before freeing the counter), which is an invalid end state; when every
 *     process has ended, init asserts the word reads value 0, empty list.
 *
 * NOT CHECKED HERE: weak-memory reorderings.  Spin interleaves steps under
 * sequential consistency, so the model checks the algorithm (which
 * interleavings of atomic steps are safe); the acq_rel orderings that make a
 * C11 execution behave like one of these interleavings are argued in the
 * comment at the top of src/counter.c.  The resume itself (a push on a ready
 * deque that some worker takes) is one step; the deque is in deque.pml.
 */

#ifdef LAUNCH
#define NW 4              /* fibers 1 and 2, launch records 3 and 4 */
#define NF 2
#elif defined(TIMED)
#define NW 3              /* fiber 1 (the parent), the proxies 2 and 3 of two timed waiters */
#define NF 1
#elif defined(WAITERS2)
#define NW 2
#define NF 2
#else
#define NW 3
#define NF 3
#endif
#define PARENT 1          /* the fiber whose frame holds the counter */

/* fiber states (fst) */
#define RUNNING 0         /* in fj_wait, not switched out (or returned at once) */
#define OUT     1         /* switched out, publishing, not listed */
#define LISTED  2         /* on the list, or on a chain taken by a finisher */
#define READY   3         /* resumed: pushed on a ready deque */
#define DONE    4         /* switched back in, returned from fj_wait */

/* the counter word */
unsigned cv : 3;          /* value (at most 4 here) */
unsigned cm : 2;          /* max_target */
unsigned ch : 3;          /* head: waiter number (id in C); 0 = none */
bool alive = 1;           /* the parent's frame, holding the counter, exists */

/* fiber records (they live as long as the scheduler) */
byte wnext[NW + 1];       /* wait_next */
byte wtarget[NW + 1];     /* wait_target */
byte fst[NW + 1];
bool saved[NW + 1];       /* registers saved by fj__switch_to */
bool returned[NW + 1];    /* returned from fj_wait */

#ifdef TIMED
/* The timed waiter's proxy (src/timer.c): its claim (0 none, 1 reached,
 * 2 timed out), whether the list still holds a reference to it, and
 * whether the timer may fire (1 armed, 2 never: reached at once). */
byte claim[NW + 1];
bool lref[NW + 1];
byte armed[NW + 1];
#define DEADP(i) ((i) > NF && claim[i] != 0)
#else
#define DEADP(i) 0
#endif

/* temporaries used only within one d_step: not part of the state */
hidden byte i_, n_, c_;

/* Witnesses (-DWITNESS=n): assertions that FAIL when a scenario the
 * properties depend on is reachable, to show the model is not vacuous.
 *   1  a put-back CAS splices in front of waiters published meanwhile
 *   2  the put-back re-check finds waiters reached meanwhile
 *   3  a publishing waiter finds its target reached and resumes itself
 *   4  the value rises again (a job counts one more) after the target-1
 *      waiter was resumed: it fell through that target and rises again
 *   5  (LAUNCH=2) a launch record, launched and reused, is listed again
 * (The counter cannot die while a chain owner still has fibers to resume:
 * those fibers have not returned, and the parent waits for them.  So
 * assert(alive) is exercised by finishers that hold no waiter: the window
 * BUG_FETCH_SUB opens.) */
#ifndef WITNESS
#define WITNESS 0
#endif
#define WIT(n, cond) if :: WITNESS == n -> assert(!(cond)) :: else fi

#define MAX(a, b) ((a) > (b) -> (a) : (b))
#ifndef NO_INVARIANT
#define INVARIANT assert(ch == 0 && cm == 0 || ch != 0 && cv > cm)
#else
#define INVARIANT skip    /* to see what a broken invariant leads to */
#endif

/* an atomic load of the word (relaxed or acquire: the same under SC) */
#define LOAD_WORD d_step { assert(alive); v = cv; m = cm; h = ch }

/* PRE (a private write, see the top comment), then a weak acq_rel CAS of the
 * whole word from {v, m, h} to {NV, NM, NH}; ok tells the outcome; on failure
 * {v, m, h} is refreshed.  WON is model bookkeeping done on success. */
#define CAS_STRICT(PRE, NV, NM, NH, WON) \
    d_step { \
        PRE; \
        assert(alive); \
        if \
        :: (cv == v && cm == m && ch == h) -> \
            cv = NV; cm = NM; ch = NH; ok = 1; WON; INVARIANT \
        :: else -> v = cv; m = cm; h = ch; ok = 0 \
        fi \
    }
#ifdef SPURIOUS
#define CAS(PRE, NV, NM, NH, WON) \
    if \
    :: CAS_STRICT(PRE, NV, NM, NH, WON) \
    :: d_step { PRE; assert(alive); v = cv; m = cm; h = ch; ok = 0 } \
    fi
#else
#define CAS(PRE, NV, NM, NH, WON) CAS_STRICT(PRE, NV, NM, NH, WON)
#endif

/*
 * Split the list starting at i_ by the value VAL: reached (target >= VAL)
 * prepended to `reached`, the others prepended to `unr` (the first one kept
 * becomes the tail `utail`), umax their largest target.  This is chain_split
 * of src/counter.c, which counter_wake_reached calls for its two uses (the
 * split of the taken chain, and the re-check in the put-back loop, which
 * starts from unr).  It follows wait_next until 0, exactly as the C loop does.
 * Used inside a d_step.
 */
#define SPLIT(VAL) \
    unr = 0; utail = 0; umax = 0; c_ = 0; \
    do \
    :: i_ != 0 && c_ < NW -> \
        c_++; \
        n_ = wnext[i_]; \
        if \
        :: wtarget[i_] >= VAL || DEADP(i_) -> wnext[i_] = reached; reached = i_ \
        :: else -> \
            wnext[i_] = unr; \
            if :: unr == 0 -> utail = i_ :: else fi; \
            unr = i_; \
            umax = MAX(umax, wtarget[i_]) \
        fi; \
        i_ = n_ \
    :: else -> break \
    od; \
    assert(i_ == 0);   /* the list ended within NW fibers: no cycle */ \
    n_ = 0; c_ = 0

/*
 * counter_wake_reached(c, chain = h0, value = val): run by the finisher
 * whose CAS took the chain.  The split touches only the fibers on the chain,
 * which no other process can reach any more (they are switched out and on no
 * list), so it is one step; it asserts that ownership first.
 */
inline wake_reached()
{
    d_step {
        i_ = h0; c_ = 0;
        do
        :: i_ != 0 && c_ < NW ->
            c_++;
            assert(saved[i_]);                  /* switched out */
            assert(fst[i_] == LISTED);          /* listed, not resumed */
            i_ = wnext[i_]
        :: else -> break
        od;
        assert(i_ == 0);                        /* not a cycle */
        i_ = h0; reached = 0;
        SPLIT(val);
        h0 = 0
    }
    if
    :: unr != 0 ->
        LOAD_WORD;                              /* fj_load_acquire(&c->fj__word) */
        do
        :: true ->
#ifndef BUG_NO_RECHECK
            if
            :: v <= umax ->
                /* "Some became reached: move them over and rebuild the rest."
                 * The walk starts at unr and follows wait_next to 0, as in C;
                 * with the tail's link cut first it touches only records this
                 * process owns. */
                d_step {
                    WIT(2, true);
#ifndef BUG_STALE_TAIL
                    /* "A failed CAS below left our tail linked to the chain
                     * that was published meanwhile, which is not ours: cut it
                     * first." */
                    wnext[utail] = 0;
#endif
                    i_ = unr;
                    SPLIT(v)
                }
                if
                :: unr == 0 -> break
                :: else
                fi
            :: else
            fi;
#endif
            /* unreached_tail->wait_next = head(w) (our own record: private),
             * then the CAS that splices our list in front of the word's */
            CAS(wnext[utail] = h, v, MAX(m, umax), unr, WIT(1, h != 0));
            if
            :: ok -> break
            :: else
            fi
        od
    :: else
    fi;
    /* "From here on the counter may be dead: touch only the fibers."
     * fj__resume_waiter for each reached fiber: read its wait_next first (once
     * resumed it may run and reuse it), then push it on a ready deque. */
    atomic { unr = 0; utail = 0; umax = 0; v = 0; m = 0; h = 0; val = 0 }
    do
    :: reached != 0 ->
#ifdef TIMED
        if
        :: reached > NF ->
            /* fj__proxy_reached: claim it (resume the waiter) unless the
             * deadline did, then let go of the list's reference. */
            d_step {
                assert(fst[reached] == LISTED);
                i_ = wnext[reached];
                if :: claim[reached] == 0 -> claim[reached] = 1 :: else fi;
                fst[reached] = RUNNING;
                lref[reached] = 0;
                reached = i_;
                i_ = 0
            }
        :: else ->
#endif
#ifdef BUG_LAUNCH_BEFORE_LINK
        /* Seeded bug: a record is launched (and may be reused at once)
         * before its link is read. */
        if
        :: reached > NF ->
            d_step { assert(fst[reached] == LISTED); fst[reached] = READY }
            d_step { i_ = wnext[reached]; reached = i_; i_ = 0 }
        :: else ->
#endif
        d_step {
            assert(saved[reached]);             /* resumed before it switched out */
            assert(fst[reached] == LISTED);     /* resumed twice */
            i_ = wnext[reached];
            fst[reached] = READY;               /* a record: launched */
            reached = i_;
            i_ = 0
        }
#ifdef BUG_LAUNCH_BEFORE_LINK
        fi
#endif
#ifdef TIMED
        fi
#endif
    :: else -> break
    od
}

/* fj__counter_finish(c, k, call, job_name) */
inline finish()
{
#ifndef BUG_FETCH_SUB
    LOAD_WORD;                                  /* fj_load_relaxed */
    do
    :: true ->
        assert(v >= k);                         /* "went below zero" */
        if
        :: h != 0 && v - k <= m ->
            /* lower the value AND take the whole chain, in one CAS */
            CAS(skip, v - k, 0, 0, skip);
            if
            :: ok -> d_step { h0 = h; val = v - k }; wake_reached(); break
            :: else
            fi
        :: else ->
            CAS(skip, v - k, m, h, skip);       /* only lower the value */
            if
            :: ok -> break
            :: else
            fi
        fi
    od
#else
    /* Seeded bug: old = fetch_sub(k); if the new value reached max_target
     * with waiters, take the chain in a later step (load, then CAS head and
     * max_target to 0 while the value is still at or below max_target). */
    d_step { assert(alive); v = cv; m = cm; h = ch; assert(cv >= k); cv = cv - k }
    if
    :: h != 0 && v - k <= m ->
        LOAD_WORD;
        do
        :: h == 0 || v > m -> break             /* nothing (left) to take */
        :: else ->
            d_step {
                assert(alive);
                if
                :: (cv == v && cm == m && ch == h) -> cm = 0; ch = 0; ok = 1
                :: else -> v = cv; m = cm; h = ch; ok = 0
                fi
            }
            if
            :: ok -> d_step { h0 = h; val = v }; wake_reached(); break
            :: else
            fi
        od
    :: else
    fi
#endif
}

proctype Job(bool spawn; byte k)
{
    unsigned v : 3, m : 2, h : 3, h0 : 3, val : 3;
    unsigned reached : 3, unr : 3, utail : 3, umax : 2;
    bool ok;

    if
    :: spawn ->
        /* fj_run_jobs from inside the job: fj__counter_add (one fetch_add),
         * then the job is pushed and may run.  The new job existing one step
         * early is unobservable (it may always be delayed), so the push joins
         * the add step. */
        atomic { assert(alive); WIT(4, fst[2] >= READY); cv = cv + 1; run Job(0, 1) }
    :: else
    fi;
    finish();
    atomic { v = 0; m = 0; h = 0; ok = 0; k = 0; spawn = 0 }
}

proctype Waiter(byte f; byte T)
{
    unsigned v : 3, m : 2, h : 3;
    bool ok;

    d_step { assert(alive); v = cv }            /* fj_counter_value(c) <= target? */
    if
    :: v <= T                                   /* already there: return */
    :: else ->
#ifndef BUG_PUBLISH_EARLY
        saved[f] = 1;                           /* fj__switch_to: registers saved */
#endif
        /* after_switch (FJ_POST_WAIT), run by the next context on this worker:
         * fj__counter_publish.  wait_target is written before the load; f is
         * not listed, so nobody reads it: the write joins the load step. */
        d_step { wtarget[f] = T; fst[f] = OUT; assert(alive); v = cv; m = cm; h = ch }
        do
        :: v <= T ->
            /* reached while switching: state = READY, push on the ready deque */
            d_step {
#ifdef BUG_PUBLISH_EARLY
                saved[f] = 1;                   /* (the seeded bug just returns here) */
#endif
                WIT(3, true);
                assert(saved[f]); assert(fst[f] == OUT); fst[f] = READY
            }
            break
        :: else ->
            /* f->wait_next = head(w) (f is not listed: private), then the CAS
             * that lists f and raises max_target */
            CAS(wnext[f] = h, v, MAX(m, T), f, fst[f] = LISTED);
            if
            :: ok -> break
            :: else
            fi
        od;
#ifdef BUG_PUBLISH_EARLY
        saved[f] = 1;                           /* seeded bug: switches out only now */
#endif
        /* a worker takes the ready entry and switches to f, which returns */
        atomic { fst[f] == READY -> fst[f] = DONE }
    fi;
    d_step { returned[f] = 1; v = 0; m = 0; h = 0; ok = 0 }
    if
    :: f == PARENT ->
        /* The parent's frame dies once it has returned and every other
         * waiter has returned too (the user contract). */
#ifdef LAUNCH
        /* (and the records launched for the last time: the contract of
         * fj_run_jobs_after, prerequisites alive until the launch) */
        returned[2] && returned[3] && returned[4] -> alive = 0
#elif defined(TIMED)
        /* (and the timed waiter returned from its wait, whatever its result) */
        returned[2] && returned[3] -> alive = 0
#elif NW == 3
        returned[2] && returned[3] -> alive = 0
#else
        returned[2] -> alive = 0
#endif
    :: else
    fi
}

#ifdef TIMED
/*
 * Timed: a job in fj_wait_until(c, 0, deadline) (src/wait.c, timer.c).  Its
 * proxy PX is published by the post-switch action with the fiber's publish
 * loop (found reached there: claimed by the publisher, never listed); then
 * the timer is armed.  Whoever claims first resumes the job.  Timed out, the
 * job takes the whole chain off the counter with a CAS that keeps the value
 * and runs it through the finisher's code (fj__counter_drop_dead), until the
 * list's reference to its proxy is gone (wait_proxy_off); then it returns,
 * and the parent may free the counter.  A chain owner treats a claimed proxy
 * as reached (DEADP), so it never puts it back.
 */
inline drop_dead()
{
    LOAD_WORD;
    do
    :: h == 0 -> break
    :: else ->
        CAS(skip, v, 0, 0, skip);
        if
        :: ok -> d_step { h0 = h; val = v }; wake_reached(); break
        :: else
        fi
    od
}

proctype Timed(byte p; byte T)
{
    unsigned v : 3, m : 2, h : 3, h0 : 3, val : 3;
    unsigned reached : 3, unr : 3, utail : 3, umax : 2;
    bool ok;

    saved[p] = 1;                           /* the job has switched out first */
    d_step { assert(alive); v = cv }
    if
    :: v <= T -> armed[p] = 2               /* reached at once: returns 1 */
    :: else ->
        d_step { wtarget[p] = T; fst[p] = OUT; lref[p] = 1; assert(alive); v = cv; m = cm; h = ch }
        do
        :: v <= T ->
            /* reached while publishing: claimed here, never listed */
            d_step { assert(claim[p] == 0); claim[p] = 1; fst[p] = RUNNING; lref[p] = 0; armed[p] = 2 }
            break
        :: else ->
            CAS(wnext[p] = h, v, MAX(m, T), p, fst[p] = LISTED);
            if
            :: ok -> armed[p] = 1; break
            :: else
            fi
        od;
        claim[p] != 0;                      /* resumed by the claimer */
        if
        :: claim[p] == 2 ->
#ifndef BUG_TIMED_RETURN_EARLY
            do
            :: lref[p] == 0 -> break
            :: else -> drop_dead()
            od
#else
            /* seeded bug: one drop, then return (the first version) */
            if
            :: lref[p] != 0 -> drop_dead()
            :: else
            fi
#endif
        :: else
        fi
    fi;
    returned[p] = 1;
    d_step { v = 0; m = 0; h = 0; h0 = 0; val = 0; reached = 0; unr = 0; utail = 0; umax = 0; ok = 0; T = 0 }
}

/* The deadline: may come at any moment once the timer holds the proxy. */
proctype Timer(byte p)
{
    if
    :: atomic { armed[p] == 1 && claim[p] == 0 -> claim[p] = 2 }
    :: atomic { claim[p] != 0 || armed[p] == 2 -> skip }
    fi
}
#endif

#ifdef LAUNCH
/*
 * Launcher(r, T, rounds): fj_run_jobs_after with one prerequisite (this
 * counter, target T), `rounds` times with the same record r (a record is
 * reused as soon as it is launched: record.c's caches). Registration
 * (submit.c, fj__record_start): if the value is <= T, launch at once;
 * otherwise wait_target is written, then the publish loop (the fiber's:
 * load, and while value > T write wait_next and CAS r in).  A record has no
 * stack, so it is "switched out" (saved) from the start.  A chain owner
 * launches it by marking it READY (fj__record_launch), after reading its
 * link; the next round may then reuse it at once.
 */
proctype Launcher(byte r; byte T; byte rounds)
{
    unsigned v : 3, m : 2, h : 3;
    bool ok, again;

    saved[r] = 1;
    do
    :: rounds > 0 ->
        d_step { assert(alive); v = cv }    /* fj_counter_value: reached already? */
        if
        :: v <= T -> skip                   /* queued at once, no record listed */
        :: else ->
            d_step { wtarget[r] = T; fst[r] = OUT; assert(alive); v = cv; m = cm; h = ch }
            do
#ifndef BUG_REC_STALE_CHECK
            :: v <= T ->
                /* reached meanwhile: launched by the registrar itself */
                d_step { assert(fst[r] == OUT); fst[r] = READY }
                break
            :: else ->
#else
            /* Seeded bug: the value is checked once, before the loop; the
             * CAS then lists the record even if it was reached meanwhile. */
            :: true ->
#endif
                CAS(wnext[r] = h, v, MAX(m, T), r, fst[r] = LISTED; WIT(5, again));
                if
                :: ok -> break
                :: else
                fi
            od;
            /* the launch (by a chain owner or above): the record is free again */
            atomic { fst[r] == READY -> fst[r] = RUNNING }
        fi;
        /* reused for another launch, after one count less (target T - 1) */
        d_step { rounds--; again = 1; if :: T > 0 -> T-- :: else fi }
    :: else -> break
    od;
    returned[r] = 1;
    d_step { v = 0; m = 0; h = 0; ok = 0; T = 0; again = 0 }
}
#endif

init
{
    atomic {
#if defined(TIMED) && defined(FINISHERS2)
        cv = 2;                   /* J1, J2 counted (fj_run_jobs) */
#else
        cv = 3;                   /* J1, J2, J3 counted (fj_run_jobs) */
#endif
        run Waiter(1, 0);         /* the parent: fj_wait(c, 0) */
#ifndef TIMED
        run Waiter(2, 1);
#endif
#ifdef LAUNCH
        run Launcher(3, 0, 1);        /* fj_run_jobs_after(&(fj_after){c, 0}, ...) */
        run Launcher(4, 1, LAUNCH);   /* target 1, then (reused) target 0 */
#elif defined(TIMED)
        run Timed(2, 1);              /* fj_wait_until(c, 1, deadline) */
        run Timed(3, 0);              /* fj_wait_until(c, 0, deadline) */
        run Timer(2);
        run Timer(3);
#elif NW == 3
        run Waiter(3, 2);
#endif
#if defined(LAUNCH) || defined(TIMED)
        run Job(0, 1);            /* three finishers, no spawn: the records */
        run Job(0, 1);            /* double the waiters, and the state space */
#if !(defined(TIMED) && defined(FINISHERS2))
        run Job(0, 1);            /* with them */
#endif
#else
        run Job(1, 1);            /* J1: counts J4 on the same counter, then finishes */
#endif
#if defined(LAUNCH) || defined(TIMED)
        /* (no more jobs) */
#elif defined(BATCH)
        run Job(0, 2);            /* J2 and J3, finished as one batch */
#else
        run Job(0, 1);            /* J2 */
        run Job(0, 1);            /* J3 */
#endif
    }
    /* every process has ended: every waiter returned, every job finished */
    _nr_pr == 1 ->
    assert(cv == 0 && cm == 0 && ch == 0 && !alive);
#ifdef TIMED
    assert(!lref[2] && !lref[3]); /* the proxies are off every list */
#endif
    d_step {
        i_ = 1;
        do
        :: i_ <= NW -> assert(returned[i_] && (fst[i_] == DONE || fst[i_] == RUNNING)); i_++
        :: else -> break
        od;
        i_ = 0
    }
}
