#!/usr/bin/env bash
# Instruction counts per unit of work, with valgrind's callgrind (repeatable,
# unlike wall time on a shared machine, and perf counters may be unavailable).
#
#   bash bench/profile.sh BUILD_DIR WORKLOAD IMPL [SIZE1 SIZE2] [-- extra fiberjob-bench args]
#
# Runs `fiberjob-bench run WORKLOAD IMPL --size S` under callgrind at two sizes
# and divides the difference of the instruction counts by the difference of the
# units of work, so start-up and warm-up costs cancel out. Default is one
# worker (--workers 1): the per-job path without steals or idle spinning
# (valgrind runs one thread at a time, so spinning workers would dominate).
# Prints instructions per unit and the functions that take them (self and
# inclusive, from the larger run). The callgrind files stay in
# BUILD_DIR/bench-profile/ for callgrind_annotate --auto=yes (build with -g for
# source lines, e.g. -DCMAKE_C_FLAGS_RELEASE="-O3 -DNDEBUG -g").
#
# Units: switch: round trips; spawn1/spawn1024: jobs; fib: calls (n <= 22);
# frame: frames (and jobs, 10,024 per frame); graph: frames (and nodes, 10,000
# per frame; the serial implementation gives the nodes' own work); startup: create+run+destroy cycles;
# alloc: allocations (with their frees).
set -euo pipefail
if [ $# -lt 3 ]; then
  sed -n 2,20p "$0" >&2
  exit 2
fi
build=$(cd "$1" && pwd)
w=$2
impl=$3
shift 3
s1=""; s2=""
if [ $# -ge 2 ] && [ "$1" != "--" ]; then s1=$1; s2=$2; shift 2; fi
[ "${1:-}" = "--" ] && shift
extra=("$@")
case "$w" in
  switch) s1=${s1:-100000}; s2=${s2:-200000} ;;
  spawn1|spawn1024) s1=${s1:-50000}; s2=${s2:-100000} ;;
  fib) s1=${s1:-18}; s2=${s2:-20} ;;
  frame|graph) s1=${s1:-5}; s2=${s2:-10} ;;
  startup) s1=${s1:-5}; s2=${s2:-10} ;;
  alloc) s1=${s1:-5}; s2=${s2:-10} ;;
  *) echo "profile.sh: no unit defined for '$w' (use switch spawn1 spawn1024 fib frame graph startup alloc)" >&2; exit 2 ;;
esac
bin=""
for b in fiberjob-bench fiberjob-bench-fpu fiberjob-bench-omp-gcc fiberjob-bench-omp-clang fiberjob-bench-jemalloc fiberjob-bench-mimalloc; do
  if [ -x "$build/bench/$b" ] && "$build/bench/$b" list | grep -qx "$w $impl"; then bin=$build/bench/$b; break; fi
done
[ -n "$bin" ] || { echo "profile.sh: no program in $build/bench runs '$w' for '$impl'" >&2; exit 1; }
workers=(--workers 1)
for a in "${extra[@]}"; do [ "$a" = "--workers" ] && workers=(); done
out=$build/bench-profile
mkdir -p "$out"

units() {   # units of work done by one run of size $1
  case "$w" in
    switch) echo $(( $1 + $1 / 10 + 1 )) ;;
    spawn1|spawn1024) echo $(( 2 * $1 )) ;;
    fib) awk -v n="$1" 'BEGIN { a = 0; b = 1; for (i = 0; i < n + 1; i++) { t = a + b; a = b; b = t } print 2 * (2 * a - 1) }' ;;
    frame|graph) echo $(( $1 + 10 )) ;;
    startup) echo $(( $1 + 1 )) ;;
    alloc) echo $(( ($1 + 10) * 32768 )) ;;
  esac
}

declare -A ir
for s in "$s1" "$s2"; do
  f=$out/cg.$w.$impl.$s
  OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} valgrind --tool=callgrind --dump-instr=yes --callgrind-out-file="$f" \
    "$bin" run "$w" "$impl" --size "$s" "${workers[@]}" "${extra[@]}" > "$f.stdout" 2> "$f.log"
  ir[$s]=$(grep -m1 '^summary:' "$f" | awk '{ print $2 }')
done
u1=$(units "$s1"); u2=$(units "$s2")
per=$(awk -v a="${ir[$s1]}" -v b="${ir[$s2]}" -v u="$u1" -v v="$u2" 'BEGIN { printf "%.1f", (b - a) / (v - u) }')
echo "$w $impl: ${ir[$s1]} Ir at size $s1, ${ir[$s2]} Ir at size $s2: $per instructions per unit"
[ "$w" = frame ] && echo "  per job: $(awk -v p="$per" 'BEGIN { printf "%.1f", p / 10024 }')"
[ "$w" = graph ] && echo "  per node: $(awk -v p="$per" 'BEGIN { printf "%.1f", p / 10000 }')"
f=$out/cg.$w.$impl.$s2
echo "-- self (size $s2)"
callgrind_annotate --show-percs=yes "$f" 2>/dev/null | awk '/file:function/ { on = 1; next } on && NF && $0 !~ /^-+$/ { print "  " $0 }' | head -20
echo "-- inclusive (size $s2)"
callgrind_annotate --inclusive=yes --show-percs=yes "$f" 2>/dev/null | awk '/file:function/ { on = 1; next } on && NF && $0 !~ /^-+$/ { print "  " $0 }' | head -25
