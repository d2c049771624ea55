/*
 * Counts held outside against the deadlock judge (src/counter.c, "Counts held
 * outside"; src/deadlock.c, fj__deadlock_judge).
 *
 * A counter c has value 2 and 2 counts held outside; two outside threads each
 * call fj_counter_done(c, 1); one fiber waits for c <= 0 and every worker is
 * idle. The judge must never report a deadlock while an outside done is still
 * to lower the value (ghost `pending`): a report means every count that could
 * still come has come.
 *
 * The code: fj__outside_calls is one word, calls under way (inflight) and
 * calls begun (gen); a call adds one to both at its start and takes one off
 * inflight at its end. The judge reads the word first, passes no verdict if a
 * call is under way, reads the value then the hold (held_of), calls it a
 * stall if counts are held, and after its grace period (any interleaving)
 * reports only if no waiter was reached and the word has not moved.
 *
 *   -DBUG_PARITY   the first code: one counter bumped at a call's start and
 *                  end, the judge's test "even and unchanged"; two calls each
 *                  half done leave it even (caught: the assertion).
 *   -DWITNESS=1    a true deadlock (value 1, nothing held, nobody to finish
 *                  it) is reported: the property is not vacuous.
 */
#ifdef WITNESS
byte value = 1, held = 0, pending = 0;
#define OUTSIDE_THREADS 0
#else
byte value = 2, held = 2, pending = 2;
#define OUTSIDE_THREADS 2
#endif
#ifdef BUG_PARITY
byte calls = 4;
#else
byte inflight = 0, gen = 0;
#endif
bool reported = false;

proctype outside_done()
{
#ifdef BUG_PARITY
    calls++;
#else
    atomic { inflight++; gen++ };               /* fetch_add(FJ__OUTSIDE_BEGIN) */
#endif
    atomic { if :: held > 0 -> held-- :: else -> skip fi };   /* the CAS loop on the hold */
    atomic { value--; pending-- };              /* fj__counter_finish */
#ifdef BUG_PARITY
    calls++;
#else
    inflight--;                                 /* fetch_sub(1) */
#endif
}

proctype judge()
{
    byte v, h;   /* (locals are set when the process starts: assigned below) */
#ifdef BUG_PARITY
    byte c0;
    c0 = calls;
    if :: c0 % 2 == 1 -> goto later :: else -> skip fi;
#else
    byte i0, g0;
    atomic { i0 = inflight; g0 = gen };         /* one load of the word */
    if :: i0 != 0 -> goto later :: else -> skip fi;
#endif
    v = value;                                  /* held_of: the value, then the hold */
    h = held;
    if :: v > 0 && h > 0 -> goto later :: else -> skip fi;   /* a stall, not a deadlock */
    /* the grace period: anything may run here */
    if :: value == 0 -> goto none :: else -> skip fi;         /* some_waiter_reached */
#ifdef BUG_PARITY
    if :: calls != c0 -> goto later :: else -> skip fi;
#else
    if :: atomic { inflight != i0 || gen != g0 } -> goto later :: else -> skip fi;
#endif
    reported = true;
    assert(pending == 0);
#if WITNESS == 1
    assert(!reported);
#endif
later: skip;
none: skip
}

init {
    atomic {
        byte k = 0;
        do
        :: k < OUTSIDE_THREADS -> run outside_done(); k++
        :: else -> break
        od;
        run judge()
    }
}
