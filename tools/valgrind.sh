#!/usr/bin/env bash
# Run the core tests under Valgrind memcheck: no error and no leak allowed.
#   tools/valgrind.sh [builddir]
# The build registers fiber stacks with Valgrind (-DFIBERJOB_VALGRIND=ON).
set -euo pipefail
dir=${1:-build-valgrind}
cd "$(dirname "$0")/.."
jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 1; }
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFIBERJOB_WERROR=ON \
  -DFIBERJOB_VALGRIND=ON -DFIBERJOB_BUILD_BENCH=OFF >/dev/null
cmake --build "$dir" -j"$jobs"
# The core tests: everything but the death tests (whose children abort on
# purpose) and the timing-sensitive quiet-CPU test; 1 and 2 workers.
# Left out: unit.ctx (Valgrind does not emulate MXCSR rounding-mode changes),
# core.external and unit.deque (spinning threads: under Valgrind's
# one-thread-at-a-time scheduling they take many minutes; the deque is covered
# by the sanitizer runs and the spin model). Names are ctest names without the
# worker count; the program of area.name is tests/area/area_name.
tests=${FJ_VALGRIND_TESTS:-"core.smoke core.counter core.fib core.nesting core.priority core.yield core.lifecycle core.pool"}
fail=0
pass=0
for t in $tests; do
  exe="$dir/tests/${t%%.*}/${t//./_}"
  [ -x "$exe" ] || { echo "valgrind: $t not built"; fail=$((fail + 1)); continue; }
  for w in 1 2; do
    log=$(mktemp)
    if timeout 900 valgrind --tool=memcheck --error-exitcode=99 --leak-check=full \
         --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \
         --track-origins=no --quiet "$exe" "$w" >"$log" 2>&1; then
      pass=$((pass + 1)); echo "valgrind: $t $w workers: ok"
    else
      fail=$((fail + 1)); echo "valgrind: $t $w workers: FAILED"; tail -40 "$log"
    fi
    rm -f "$log"
  done
done
echo "valgrind: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
