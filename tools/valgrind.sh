#!/usr/bin/env bash
# Run the core tests under Valgrind memcheck: no error and no leak allowed.
#   tools/valgrind.sh [builddir]
# The build registers fiber stacks with Valgrind (-DFIBERJOB_VALGRIND=ON).
set -euo pipefail
dir=${1:-build-valgrind}
cd "$(dirname "$0")/.."
jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 1; }
# Every test program runs under memcheck through ctest (the emulator CMake
# puts in front of each test's program), so the time limits are the ones in
# cmake/testing.cmake, scaled for Valgrind there (FIBERJOB_VALGRIND: x10).
vg="valgrind;--tool=memcheck;--error-exitcode=99;--leak-check=full;--errors-for-leak-kinds=definite,indirect"
vg="$vg;--show-leak-kinds=definite,indirect;--track-origins=no;--quiet"
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFIBERJOB_WERROR=ON \
  -DFIBERJOB_VALGRIND=ON -DFIBERJOB_BUILD_BENCH=OFF "-DCMAKE_CROSSCOMPILING_EMULATOR=$vg" >/dev/null
cmake --build "$dir" -j"$jobs"
# The core tests: everything but the death tests (whose children abort on
# purpose) and the timing-sensitive quiet-CPU test; 1 and 2 workers.
# Left out: unit.ctx (Valgrind does not emulate MXCSR rounding-mode changes),
# core.external and unit.deque (spinning threads: under Valgrind's
# one-thread-at-a-time scheduling they take many minutes; the deque is covered
# by the sanitizer runs and the spin model), core.config (starts more threads
# than Valgrind's --max-threads) and core.multi_sched (clean, but ~45 s with
# 2 workers under memcheck). The second line: issue 15's pinned jobs, handles,
# hooks, outside counts and contrib/ adapters. Names are ctest names without
# the worker count.
tests=${FJ_VALGRIND_TESTS:-"core.smoke core.counter core.fib core.nesting core.priority core.yield core.lifecycle core.pool
  core.pinned core.handle core.hooks core.outside_counts contrib.box2d contrib.jolt"}
pattern="^($(echo $tests | sed 's/ /|/g; s/\./\\./g'))(\.w[12])?$"
for t in $tests; do   # a name that matches nothing would pass silently
  one="^$(echo "$t" | sed 's/\./\\./g')(\.w[12])?$"
  k=$(cd "$dir" && ctest -N -R "$one" | sed -n 's/^Total Tests: //p')
  [ "${k:-0}" -gt 0 ] || { echo "valgrind: no test is called $t" >&2; exit 1; }
done
(cd "$dir" && ctest --output-on-failure -j"$jobs" -R "$pattern")
