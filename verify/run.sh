#!/usr/bin/env bash
# Run every spin model check of fiberjob and every seeded bug; print a table.
# Models: counter.pml, deque.pml, sched2.pml, held.pml, mutex.pml, wake.pml, mailbox.pml (see verify/README.md).
#
#   bash verify/run.sh            (what `make verify` runs)
#   VERIFY_JOBS=1 bash verify/run.sh     run the checks one at a time
#   VERIFY_KEEP=1 bash verify/run.sh     keep the work directory (trails)
#
# Exit status 0 only if every row came out as expected: each model of the
# code passes (exhaustive search, no error, search not cut short), each seeded
# bug is caught by the property named in its row, and each witness (a
# scenario the properties depend on) is reachable.  See verify/README.md.
set -u

here=$(cd "$(dirname "$0")" && pwd)
jobs=${VERIFY_JOBS:-2}

for tool in spin gcc; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "verify: '$tool' not found (install the Debian packages spin and gcc)" >&2
        exit 2
    fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/fiberjob-verify.XXXXXX")
# shellcheck disable=SC2317  # invoked by the traps
cleanup() { [ "${VERIFY_KEEP:-0}" = 1 ] || rm -rf "$work"; }
# shellcheck disable=SC2317
interrupted() {
    # stop the checks this script started (their process ids), then leave
    for p in $(jobs -p); do kill -- "$p" 2>/dev/null; done
    exit 130
}
trap cleanup EXIT
trap interrupted INT TERM

# name | model | spin -D flags | expectation   (the two long ones first, so
# that they run side by side)
#   pass          no error, full search
#   catch:REGEX   an error whose pan message matches REGEX
rows=(
"counter launch|counter.pml|-DLAUNCH=1|pass"
"counter timed|counter.pml|-DTIMED -DFINISHERS2|pass"
"counter|counter.pml||pass"
"wake 4 workers|wake.pml|-DW=4|pass"
"counter spurious|counter.pml|-DSPURIOUS|pass"
"counter batch|counter.pml|-DBATCH|pass"
"counter 2 waiters|counter.pml|-DWAITERS2|pass"
"BUG_FETCH_SUB|counter.pml|-DBUG_FETCH_SUB -DNO_INVARIANT|catch:assertion violated alive"
"BUG_NO_RECHECK|counter.pml|-DBUG_NO_RECHECK|catch:assertion violated \\(\\(\\(ch==0\\)"
"BUG_NO_RECHECK no inv.|counter.pml|-DBUG_NO_RECHECK -DNO_INVARIANT|catch:invalid end state"
"BUG_PUBLISH_EARLY|counter.pml|-DBUG_PUBLISH_EARLY|catch:assertion violated saved\\["
"BUG_STALE_TAIL|counter.pml|-DBUG_STALE_TAIL|catch:assertion violated \\((i_==0|fst\\[(reached|i_)\\]==2)\\)"
"BUG_TIMED_RETURN_EARLY|counter.pml|-DTIMED -DFINISHERS2 -DBUG_TIMED_RETURN_EARLY|catch:assertion violated alive"
"BUG_REC_STALE_CHECK|counter.pml|-DLAUNCH=1 -DBUG_REC_STALE_CHECK|catch:assertion violated \\(\\(\\(ch==0\\)"
"BUG_REC_STALE_CHECK no inv.|counter.pml|-DLAUNCH=1 -DBUG_REC_STALE_CHECK -DNO_INVARIANT|catch:invalid end state"
"BUG_LAUNCH_BEFORE_LINK|counter.pml|-DLAUNCH=2 -DBUG_LAUNCH_BEFORE_LINK|catch:assertion violated \\(fst\\[reached\\]==2\\)"
"witness counter 5|counter.pml|-DLAUNCH=2 -DWITNESS=5|catch:assertion violated +!\\("
"witness counter 1|counter.pml|-DWITNESS=1|catch:assertion violated +!\\("
"witness counter 2|counter.pml|-DWITNESS=2|catch:assertion violated +!\\("
"witness counter 3|counter.pml|-DWITNESS=3|catch:assertion violated +!\\("
"witness counter 4|counter.pml|-DWITNESS=4|catch:assertion violated +!\\("
"deque|deque.pml||pass"
"BUG_TAKE_NO_CAS|deque.pml|-DBUG_TAKE_NO_CAS|catch:assertion violated \\(got\\[x\\]==1\\)"
"BUG_STEAL_NO_CAS|deque.pml|-DBUG_STEAL_NO_CAS|catch:assertion violated \\(got\\[x\\]==1\\)"
"BUG_GROW_FREE|deque.pml|-DBUG_GROW_FREE|catch:assertion violated \\(\\(?x(==y|>=1)"
"BUG_ROOM_GUESS|deque.pml|-DBUG_ROOM_GUESS|catch:assertion violated"
"BUG_MANY_LAST|deque.pml|-DBUG_MANY_LAST|catch:assertion violated \\(got\\[x\\]==1\\)"
"witness deque 1|deque.pml|-DWITNESS=1|catch:assertion violated +!\\("
"witness deque 2|deque.pml|-DWITNESS=2|catch:assertion violated +!\\("
"witness deque 3|deque.pml|-DWITNESS=3|catch:assertion violated +!\\("
"witness deque 4|deque.pml|-DWITNESS=4|catch:assertion violated +!\\("
"sched2|sched2.pml||pass"
"BUG_REF_LATE|sched2.pml|-DBUG_REF_LATE -DNO_ENDCHECK|catch:assertion violated aliveA"
"BUG_OWN_SCHED|sched2.pml|-DBUG_OWN_SCHED|catch:assertion violated \\(home\\["
"BUG_DRAIN_WAITING|sched2.pml|-DBUG_DRAIN_WAITING -DNO_ENDCHECK|catch:assertion violated aliveA"
"BUG_DRAIN_ORDER|sched2.pml|-DBUG_DRAIN_ORDER|catch:assertion violated \\(+fst\\["
"BUG_NO_REFS_WAIT|sched2.pml|-DBUG_NO_REFS_WAIT|catch:assertion violated aliveA"
"witness sched2 1|sched2.pml|-DWITNESS=1|catch:assertion violated +!\\("
"witness sched2 2|sched2.pml|-DWITNESS=2|catch:assertion violated +!\\("
"witness sched2 3|sched2.pml|-DWITNESS=3|catch:assertion violated +!\\("
"witness sched2 4|sched2.pml|-DWITNESS=4|catch:assertion violated +!\\("
"mutex|mutex.pml||pass"
"mutex 3 rounds|mutex.pml|-DROUNDS=3|pass"
"mutex cond|mutex.pml|-DCOND|pass"
"mutex spin 2|mutex.pml|-DSPIN=2|pass"
"BUG_UNLOCK_STORE|mutex.pml|-DBUG_UNLOCK_STORE|catch:assertion violated \\(\\(\\(nparked==0\\)"
"BUG_UNLOCK_STORE no inv.|mutex.pml|-DBUG_UNLOCK_STORE -DNO_INVARIANT|catch:invalid end state"
"BUG_NO_RECHECK m|mutex.pml|-DBUG_NO_RECHECK|catch:assertion violated \\(\\(\\(nparked==0\\)"
"BUG_NO_RECHECK m no inv.|mutex.pml|-DBUG_NO_RECHECK -DNO_INVARIANT|catch:invalid end state"
"BUG_PUBLISH_EARLY m|mutex.pml|-DBUG_PUBLISH_EARLY|catch:assertion violated saved\\["
"BUG_NO_REVERSE|mutex.pml|-DBUG_NO_REVERSE|catch:assertion violated \\(pseq\\["
"BUG_QUEUE_IGNORED|mutex.pml|-DBUG_QUEUE_IGNORED|catch:assertion violated \\(\\(\\(nparked==0\\)"
"BUG_COND_UNLOCK_EARLY|mutex.pml|-DCOND -DBUG_COND_UNLOCK_EARLY|catch:assertion violated saved\\["
"witness mutex 1|mutex.pml|-DWITNESS=1|catch:assertion violated +!\\("
"witness mutex 2|mutex.pml|-DWITNESS=2|catch:assertion violated +!\\("
"witness mutex 3|mutex.pml|-DWITNESS=3|catch:assertion violated +!\\("
"witness mutex 4|mutex.pml|-DWITNESS=4|catch:assertion violated +!\\("
"witness mutex 5|mutex.pml|-DWITNESS=5|catch:assertion violated +!\\("
"witness mutex 6|mutex.pml|-DCOND -DWITNESS=6|catch:assertion violated +!\\("
"held|held.pml||pass"
"BUG_PARITY|held.pml|-DBUG_PARITY|catch:assertion violated \\(pending==0\\)"
"witness held 1|held.pml|-DWITNESS=1|catch:assertion violated +!\\("
"wake|wake.pml||pass"
"BUG_WOKEN_NO_PASS|wake.pml|-DBUG_WOKEN_NO_PASS|catch:assertion violated \\(\\(jobs==0\\)"
"BUG_RECHECK_NO_PASS|wake.pml|-DBUG_RECHECK_NO_PASS|catch:assertion violated \\(\\(jobs==0\\)"
"BUG_STEAL_MORE_QUIET|wake.pml|-DBUG_STEAL_MORE_QUIET|catch:assertion violated \\(\\(jobs==0\\)"
"BUG_PENDING_NO_RELOOK|wake.pml|-DW=4 -DBUG_PENDING_NO_RELOOK|catch:assertion violated \\(\\(jobs==0\\)"
"witness wake 1|wake.pml|-DWITNESS=1|catch:assertion violated +!\\("
"witness wake 2|wake.pml|-DWITNESS=2|catch:assertion violated +!\\("
"mailbox|mailbox.pml||pass"
"BUG_PUT_NO_CAS|mailbox.pml|-DBUG_PUT_NO_CAS|catch:assertion violated \\(+resumed\\[1\\]==1"
"BUG_TAKE_NO_XCHG|mailbox.pml|-DBUG_TAKE_NO_XCHG|catch:assertion violated \\(resumed\\[got\\]==0\\)"
"BUG_LOOK_NO_MAIL|mailbox.pml|-DBUG_LOOK_NO_MAIL|catch:assertion violated \\(+resumed\\[1\\]==1"
"witness mailbox 1|mailbox.pml|-DWITNESS=1|catch:assertion violated +!\\("
"witness mailbox 2|mailbox.pml|-DWITNESS=2|catch:assertion violated +!\\("
"witness mailbox 3|mailbox.pml|-DWITNESS=3|catch:assertion violated +!\\("
"BUG_HAND_NO_CAS|mailbox.pml|-DBUG_HAND_NO_CAS|catch:assertion violated \\(+resumed\\[1\\]==1"
"BUG_END_NO_CAS|mailbox.pml|-DBUG_END_NO_CAS|catch:assertion violated \\(+resumed\\[1\\]==1"
"witness mailbox 4|mailbox.pml|-DWITNESS=4|catch:assertion violated +!\\("
"witness mailbox 5|mailbox.pml|-DWITNESS=5|catch:assertion violated +!\\("
)

# One check in its own directory: spin -a, compile pan, search.
# Exhaustive: no bitstate, no hash-compact; -DCOLLAPSE only compresses the
# stored states losslessly.  -DSAFETY: safety properties (assertions and end
# states); -DNOFAIR: no fairness needed for safety.  The size of the hash
# table changes only the speed, never what is searched: a row expected to
# pass searches everything, with 2^26 slots (512 MB); a seeded bug or a
# witness stops at its first error, mostly within a few thousand states, so
# it gets 2^22 slots (32 MB, zeroed in a tenth of the time) and a pan
# compiled at -O1 (half the compile time of -O2).
run_one() {
    local i=$1 model=$2 flags=$3 expect=$4 dir="$work/$1"
    local opt=-O2 slots=26
    if [ "${expect%%:*}" = catch ]; then
        opt=-O1 slots=22
    fi
    mkdir -p "$dir"
    cp "$here/$model" "$dir/"
    local t0 t1 rc=0
    t0=$(date +%s%N)
    (
        cd "$dir" || exit 1
        # shellcheck disable=SC2086
        spin -a $flags "$model" >spin.out 2>&1 &&
        gcc "$opt" -w -DSAFETY -DNOFAIR -DCOLLAPSE -DMEMLIM=6000 -o pan pan.c >gcc.out 2>&1 &&
        ./pan -m200000 -w"$slots" >pan.out 2>&1
    ) || rc=$?
    t1=$(date +%s%N)
    echo "$rc $(( (t1 - t0) / 1000000 ))" >"$dir/done"
}

t_start=$(date +%s)
i=0
running=0
for row in "${rows[@]}"; do
    IFS='|' read -r name model flags expect <<<"$row"
    run_one "$i" "$model" "$flags" "$expect" &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then
        wait -n
        running=$((running - 1))
    fi
    i=$((i + 1))
done
wait

fmt='%-24s %-7s %-46s %11s %6s %6s %7s\n'
# shellcheck disable=SC2059
printf "$fmt" "check" "expect" "result" "states" "depth" "MB" "time"
# shellcheck disable=SC2059
printf "$fmt" "-----" "------" "------" "------" "-----" "--" "----"
bad=0
failed=()
i=0
for row in "${rows[@]}"; do
    IFS='|' read -r name model flags expect <<<"$row"
    dir="$work/$i"
    read -r rc ms <"$dir/done"
    out="$dir/pan.out"
    states=$(sed -n 's/^ *\([0-9][0-9]*\) states, stored.*/\1/p' "$out" 2>/dev/null | head -1)
    depth=$(sed -n 's/.*depth reached \([0-9][0-9]*\).*/\1/p' "$out" 2>/dev/null | head -1)
    mb=$(sed -n 's/^ *\([0-9.]*\)\.[0-9]*[[:space:]]*total actual memory usage.*/\1/p' "$out" 2>/dev/null | head -1)
    errors=$(sed -n 's/.*errors: \([0-9][0-9]*\).*/\1/p' "$out" 2>/dev/null | head -1)
    msg=$(grep -m1 -E '^pan:[0-9]+: ' "$out" 2>/dev/null | sed -E 's/^pan:[0-9]+: //; s/ \(at depth [0-9]+\)//')
    cut_short=$(grep -m1 -E 'max search depth too small|out of memory|memory limit' "$out" 2>/dev/null)
    if [ ! -s "$out" ] || [ -z "$errors" ]; then
        result="ERROR: spin/gcc/pan failed"
        ok=0
    elif [ "${expect%%:*}" = pass ]; then
        if [ "$errors" = 0 ] && [ -z "$cut_short" ]; then
            result="pass"; ok=1
        elif [ -n "$cut_short" ]; then
            result="INCOMPLETE: $cut_short"; ok=0
        else
            result="FAIL: $msg"; ok=0
        fi
    else
        re=${expect#catch:}
        if [ "$errors" != 0 ] && echo "$msg" | grep -qE "$re"; then
            case $name in
            witness*) result="reached" ;;
            *) result="caught: $msg" ;;
            esac
            ok=1
        elif [ "$errors" != 0 ]; then
            result="WRONG ERROR: $msg"; ok=0
        else
            case $name in
            witness*) result="NOT REACHED (vacuous)" ;;
            *) result="NOT CAUGHT" ;;
            esac
            ok=0
        fi
    fi
    short=${expect%%:*}
    [ "$short" = catch ] && short=fail
    # shellcheck disable=SC2059
    printf "$fmt" "$name" "$short" "${result:0:46}" "${states:--}" "${depth:--}" "${mb:--}" \
        "$((ms / 1000)).$(((ms % 1000) / 100))s"
    if [ "$ok" = 0 ]; then
        bad=$((bad + 1))
        failed+=("$name: $result
        spin -a $flags $model   (in $dir: pan.out, $model.trail; replay: spin -t -p $flags $model)")
    fi
    i=$((i + 1))
done
t_end=$(date +%s)
echo
if [ "$bad" = 0 ]; then
    echo "verify: all ${#rows[@]} checks as expected ($((t_end - t_start)) s)"
    exit 0
fi
echo "verify: $bad of ${#rows[@]} checks NOT as expected ($((t_end - t_start)) s):"
for f in "${failed[@]}"; do echo "  $f"; done
VERIFY_KEEP=1   # keep the trails
echo "  work directory kept: $work"
exit 1
