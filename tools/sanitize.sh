#!/usr/bin/env bash
# Build everything with a sanitizer and run the whole test suite.
#   tools/sanitize.sh address|thread|undefined [builddir]
# address means ASan + UBSan. No suppression is used for the library's code.
set -euo pipefail
kind=${1:?usage: tools/sanitize.sh address|thread|undefined [builddir]}
dir=${2:-build-$kind}
cd "$(dirname "$0")/.."
jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}
cc=${CC:-}
if [ -z "$cc" ]; then
  # Clang's TSan tolerates the fiber switches best; either compiler works for ASan.
  if [ "$kind" = thread ] && command -v clang >/dev/null; then cc=clang; else cc=gcc; fi
fi
cxx=${CXX:-}
if [ -z "$cxx" ]; then
  case "$cc" in clang*) cxx=clang++ ;; *) cxx=g++ ;; esac
fi
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFIBERJOB_WERROR=ON \
  -DFIBERJOB_SANITIZE="$kind" -DFIBERJOB_BUILD_BENCH=OFF \
  -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx" >/dev/null
cmake --build "$dir" -j"$jobs"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}
cd "$dir"
# Sanitized runs are slower: the build scales every test's time limit
# (FIBERJOB_TEST_TIMEOUT_SCALE, cmake/testing.cmake).
ctest --output-on-failure -j"$jobs" ${FJ_CTEST_ARGS:-}
