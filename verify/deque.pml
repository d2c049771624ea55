/*
 * deque.pml: the Chase-Lev deque of src/deque.c (fj__deque_push with
 * fj__deque_grow_for, fj__deque_take, fj__deque_take_many, fj__deque_steal),
 * step by step: one owner that pushes, takes (one, or two at once) and
 * grows, and two thieves that steal.
 *
 * PROPERTY: every pushed job is taken or stolen exactly once.  Each job is
 * stored as two words (a task is several relaxed-atomic words in C, read one
 * by one); a copy that was read torn, or from a slot never written or freed,
 * must never be used: whoever wins a job asserts that both words carry the same
 * valid job number, and got[x] counts its winners (assert <= 1 at once, == 1
 * for every job when all processes have ended).
 *
 * MEMORY.  Spin interleaves steps under sequential consistency.  So this model
 * checks the algorithm: the race of take and steal for the last task (decided
 * by the CAS on top), thieves reading a slot that the owner reuses after a
 * wrap-around (the copy is used only if the CAS succeeds), and a thief that
 * loaded the old buffer while the owner grows into a new one (the old one is
 * retired, never freed or overwritten).  It does NOT check that the C11
 * orderings are strong enough: that take's seq_cst fence between its store of
 * bottom and its load of top, and the thief's fence between its loads of top
 * and bottom, forbid the store-buffering outcome in which both see the last
 * task as theirs; that push's release store of bottom (Le et al.: a release
 * fence and a relaxed store) publishes the slots before the new bottom; that
 * the array pointer is published with release and read with acquire.  Under
 * SC those hold by construction; removing a fence cannot be seen here.  That argument is in the comment at the top of src/deque.c
 * (following Le, Pop, Cohen and Zappa Nardelli, PPoPP 2013, which proves
 * these orderings correct for this algorithm).
 *
 * STEPS.  Each atomic access of the C code to top, bottom, array or a slot
 * word that another process may access at the same time is its own step.
 * Accesses to data no other process can touch at that moment are folded into
 * a neighbouring step: the owner's loads of bottom and array (only the owner
 * writes them), the owner's read of its own bottom slot in take (thieves never
 * write slots), and fj__deque_grow_for's copy into the new buffer before it is
 * published.  Such accesses commute with every step of the other processes.
 *
 * BUFFERS.  Buffer g (0, 1, 2) has 2 << g slots; the slots of all buffers
 * live in w0[] / w1[] at offset BASE(g).  Buffer 0 has 2 slots (in C the
 * minimum is 16; the algorithm does not depend on it, and 2 forces the
 * wrap-around and two growths, 2 -> 4 -> 8, with 5 jobs).
 *
 * OWNER.  Pushes jobs 1..N one at a time, in an order nondeterministically
 * interleaved with takes of one and of two at once, then takes until a take
 * of one fails.
 *
 * SEEDED BUGS (each must make the search fail):
 *   BUG_TAKE_NO_CAS   take returns the last task without the CAS on top (and
 *                     leaves bottom at b): a thief that read the old bottom
 *                     steals it as well.
 *   BUG_STEAL_NO_CAS  steal claims index t with a plain store of t + 1.
 *   BUG_GROW_FREE     deque_grow frees (poisons) the old buffer instead of
 *                     retiring it: a thief still reading it uses garbage.
 *   BUG_MANY_LAST     take_many claims its range when top reaches its
 *                     lowest index (t == b), as take may for its one task,
 *                     but without take's CAS: a thief takes that one too.
 *   BUG_ROOM_GUESS    the room check, finding the buffer full by top_seen,
 *                     guesses the deque empty instead of loading top: a push
 *                     overwrites a task not yet taken.
 */

#ifndef N
#define N 5               /* jobs pushed */
#endif
#define CAP0 2
#define NBUF 3
#define CAP(g) (CAP0 << (g))
#define BASE(g) (CAP0 * ((1 << (g)) - 1))
#define SLOT(g, i) (BASE(g) + ((i) % CAP(g)))
#define NSLOTS 14         /* CAP0 * (2^NBUF - 1): 2 + 4 + 8 (array sizes must be literal) */

short top;                /* thieves CAS here (int64_t in C; no overflow within N pushes) */
short bottom;
short top_seen;           /* owner only: top as last loaded by a push */
byte arr;                 /* current buffer */
byte w0[NSLOTS];          /* first word of each task slot */
byte w1[NSLOTS];          /* second word */
byte got[N + 1];          /* winners of each job */
bool owner_done;

hidden byte i_;           /* used only inside one d_step */

/* Witnesses (-DWITNESS=n): assertions that FAIL when a scenario the property
 * depends on is reachable, to show the model is not vacuous.
 *   1  a thief wins a job it read from a retired buffer (growth raced it)
 *   2  the owner loses the race for the last task to a thief
 *   3  a thief read a torn copy of a reused slot, and its CAS failed
 *   4  take_many claims two at once */
#ifndef WITNESS
#define WITNESS 0
#endif
#define WIT(n, cond) if :: WITNESS == n -> assert(!(cond)) :: else fi

#define WIN(x, y) \
    assert(x == y);                 /* not a torn copy */ \
    assert(x >= 1 && x <= N);       /* a job that was pushed (not garbage) */ \
    got[x]++; \
    assert(got[x] == 1)             /* nobody else has it */

proctype Owner()
{
    short b, t;
    byte a, x, y, pushed;
    bool won;

    do
    :: pushed < N ->
        /* ---- fj__deque_push(d, &job, 1) ---- */
        d_step { b = bottom; a = arr }  /* relaxed loads of the owner's own fields */
        /* fj__deque_room: top as last loaded (top_seen, owner-private) when
         * that shows room; otherwise load top again (acquire) */
        if
        :: b - top_seen + 1 <= CAP(a) -> t = top_seen
        :: else ->
            t = top;                    /* fj_load_acquire(&d->top) */
#ifdef BUG_ROOM_GUESS
            t = b;                      /* seeded bug: assume the thieves emptied it */
#endif
            top_seen = t
        fi;
        if
        :: b - t + 1 > CAP(a) ->
            /* fj__deque_grow_for: copy the live range [t, b) into a buffer
             * twice the size (private until published, so one step) */
            d_step {
                assert(a + 1 < NBUF);
                i_ = t;
                do
                :: i_ < b ->
                    w0[SLOT(a + 1, i_)] = w0[SLOT(a, i_)];
                    w1[SLOT(a + 1, i_)] = w1[SLOT(a, i_)];
                    i_++
                :: else -> break
                od;
                i_ = 0
            }
#ifdef BUG_GROW_FREE
            /* seeded bug: the old buffer is freed, not retired */
            arr = a + 1;
            d_step { i_ = 0; do :: i_ < CAP(a) -> w0[BASE(a) + i_] = 0; w1[BASE(a) + i_] = 0; i_++ :: else -> break od; i_ = 0 }
#else
            arr = a + 1;                /* fj_store_release(&d->array, a) */
#endif
            a = a + 1
        :: else
        fi;
        pushed++;
        w0[SLOT(a, b)] = pushed;        /* slot_write: relaxed stores, word by word */
        w1[SLOT(a, b)] = pushed;
        bottom = b + 1;                 /* fj_store_release(&d->bottom, b + 1) */
        d_step { b = 0; t = 0; a = 0 }
    :: true ->
        /* ---- fj__deque_take_many(d, out, 2): the two newest, or none ---- */
        d_step { b = bottom - 2; a = arr }
        bottom = b;                     /* store bottom = b - 2; then a seq_cst fence */
        t = top;                        /* load top (relaxed) */
        if
#ifndef BUG_MANY_LAST
        :: t >= b ->
#else
        :: t > b ->                     /* seeded bug: claims index b that a thief may be taking */
#endif
            bottom = b + 2              /* refused: restore, as take's empty case */
        :: else ->
            /* slot_read of the two claimed slots: no one writes them now */
            d_step {
                x = w0[SLOT(a, b)]; y = w1[SLOT(a, b)];
                WIN(x, y);
                x = w0[SLOT(a, b + 1)]; y = w1[SLOT(a, b + 1)];
                WIN(x, y);
                WIT(4, true)
            }
        fi;
        d_step { b = 0; t = 0; a = 0; x = 0; y = 0 }
    :: true ->
        /* ---- fj__deque_take(d, &out) ---- */
        d_step { b = bottom - 1; a = arr }
        bottom = b;                     /* store bottom = b - 1; then a seq_cst fence */
        t = top;                        /* load top (relaxed) */
        if
        :: t > b ->
            bottom = b + 1;             /* empty: restore */
            won = 0
        :: else ->
            /* slot_read of the owner's own bottom slot: no one writes it now */
            d_step { x = w0[SLOT(a, b)]; y = w1[SLOT(a, b)] }
            if
            :: t == b ->
#ifndef BUG_TAKE_NO_CAS
                /* the last task: race the thieves for it on top */
                d_step {
                    if
                    :: top == t -> top = t + 1; won = 1
                    :: else -> won = 0; WIT(2, true)
                    fi
                }
                bottom = b + 1
#else
                won = 1                 /* seeded bug: no CAS, bottom left at b */
#endif
            :: else -> won = 1
            fi;
            if
            :: won -> d_step { WIN(x, y) }
            :: else
            fi
        fi;
        if
        :: !won && pushed == N -> break /* all pushed, and the deque is empty */
        :: else
        fi;
        d_step { b = 0; t = 0; a = 0; x = 0; y = 0; won = 0 }
    od;
    owner_done = 1
}

proctype Thief()
{
    short t, b;
    byte a, x, y;

    do
    :: owner_done -> break
    :: else ->
        /* ---- fj__deque_steal(d, &out) ---- */
        t = top;                        /* acquire; then a seq_cst fence */
        b = bottom;                     /* acquire */
        if
        :: t >= b                       /* FJ_DEQUE_EMPTY */
        :: else ->
            a = arr;                    /* fj_load_acquire(&d->array) */
            x = w0[SLOT(a, t)];         /* slot_read: may race with the owner */
            y = w1[SLOT(a, t)];         /* reusing the slot after a wrap */
#ifndef BUG_STEAL_NO_CAS
            d_step {
                if
                :: top == t -> top = t + 1; WIT(1, a != arr); WIN(x, y) /* FJ_DEQUE_OK */
                :: else -> WIT(3, x != y)                               /* FJ_DEQUE_LOST */
                fi
            }
#else
            d_step { top = t + 1; WIN(x, y) }          /* seeded bug: no CAS */
#endif
        fi;
        d_step { t = 0; b = 0; a = 0; x = 0; y = 0 }
    od
}

init
{
    atomic {
        run Owner();
        run Thief();
        run Thief()
    }
    _nr_pr == 1 ->
    d_step {
        i_ = 1;
        do
        :: i_ <= N -> assert(got[i_] == 1); i_++    /* every job exactly once */
        :: else -> break
        od;
        i_ = 0
    }
}
