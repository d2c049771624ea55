#!/usr/bin/env bash
# Windows x64 cross-build with Debian's mingw-w64 and test run under Wine
# (issue 17). See docs/windows.md.
#
#   tools/windows.sh [builddir]        (default: build-windows in the source tree)
#
# Configures with cmake/toolchain-mingw64.cmake (ctest then runs every test
# under tools/wine-run.sh), builds, starts a private Wine prefix (in the build
# directory, created once) with a persistent wineserver for the length of the
# run, runs the demo and the examples as a first check, then ctest with every
# test's time limit scaled (FIBERJOB_TEST_TIMEOUT_SCALE), and stops the
# wineserver. Prints a summary; the last line is "windows: N passed, N failed";
# exits non-zero if anything failed to configure, build or pass.
#
# Environment:
#   FJ_WINDOWS_TESTS=0          build without the tests (FIBERJOB_BUILD_TESTS=OFF):
#                               the demo, the examples and the benchmark only
#   FJ_WINDOWS_BUILD_TYPE       RelWithDebInfo (default) or Release
#   FJ_WINDOWS_EXCLUDE          ctest -E regex (default: the tests driven by host
#                               tools: trace checks (python3), gdb)
#   FJ_WINDOWS_TIMEOUT_SCALE    multiply every test's TIMEOUT by this (default 3)
#   FJ_WINDOWS_TIMEOUT          timeout for tests without one, and for each
#                               example run (default 300 s)
#   FJ_WINDOWS_INSTALL=0        never apt-get install missing packages
#   JOBS                        parallel build and ctest jobs (default: nproc)
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${1:-$root/build-windows}
mkdir -p "$out" && out=$(cd "$out" && pwd)
jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}
build_type=${FJ_WINDOWS_BUILD_TYPE:-RelWithDebInfo}
tests=${FJ_WINDOWS_TESTS:-1}
exclude=${FJ_WINDOWS_EXCLUDE-'^(trace\.check|trace\.check_cut|trace\.demo|gdb\.extension)\.'}
scale=${FJ_WINDOWS_TIMEOUT_SCALE:-3}
default_timeout=${FJ_WINDOWS_TIMEOUT:-300}
cc=x86_64-w64-mingw32-gcc-posix
toolchain=$root/cmake/toolchain-mingw64.cmake
run=$root/tools/wine-run.sh
export WINEPREFIX=$out/wineprefix FJ_WINEPREFIX=$out/wineprefix
export WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml=;winedbg.exe=d"

say() { printf '%s\n' "$*"; }
now() { date +%s; }
start=$(now)
pass=0
fail=0
summaries=()
note() {   # note ok|FAIL TEXT
  summaries+=("windows $1: $2")
  say "windows $1: $2"
}

# ---------------------------------------------------------------- tools

# The names of the tests a ctest log lists under "The following tests FAILED".
failed_names() {   # failed_names LOG
  sed -n '/The following tests FAILED:/,/^Errors while/p' "$1" |
    grep -E '^[[:space:]]*[0-9]+ - ' | sed -E 's/^[[:space:]]*[0-9]+ - ([^ ]+).*/\1/' | sort -u
}
wine_bin() { command -v wine64 || { [ -x /usr/lib/wine/wine64 ] && echo /usr/lib/wine/wine64; } || command -v wine; }
missing=()
command -v $cc >/dev/null 2>&1 || missing+=(gcc-mingw-w64-x86-64-posix g++-mingw-w64-x86-64-posix)
command -v x86_64-w64-mingw32-g++-posix >/dev/null 2>&1 || missing+=(g++-mingw-w64-x86-64-posix)
[ -n "$(wine_bin)" ] || missing+=(wine64)
# wineserver (and wine) on the PATH come with the package wine, which wine64
# only recommends: an install without recommends has them in /usr/lib/wine.
command -v wineserver >/dev/null 2>&1 || missing+=(wine64 wine)
command -v cmake >/dev/null 2>&1 || missing+=(cmake)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "${FJ_WINDOWS_INSTALL:-1}" != 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "== windows: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null 2>&1 || true
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
      say "windows: apt-get install ${missing[*]} failed"
  fi
fi
for tool in $cc wineserver cmake ctest; do
  if ! command -v $tool >/dev/null 2>&1; then
    say "windows: $tool not found; install the Debian packages mingw-w64 (gcc-mingw-w64-x86-64-posix," \
        "g++-mingw-w64-x86-64-posix), wine64 and wine"
    say "windows: 0 passed, 1 failed"
    exit 2
  fi
done
say "== windows: $($cc --version | head -n 1); $("$(wine_bin)" --version 2>/dev/null)"

# ---------------------------------------------------------------- build

generator=()
command -v ninja >/dev/null 2>&1 && [ ! -f "$out/CMakeCache.txt" ] && generator=(-G Ninja)
test_opt=ON
[ "$tests" = 0 ] && test_opt=OFF
say "== windows: configure ($build_type, tests $test_opt)"
if ! cmake -S "$root" -B "$out" "${generator[@]}" -DCMAKE_TOOLCHAIN_FILE="$toolchain" \
    -DCMAKE_BUILD_TYPE="$build_type" -DFIBERJOB_WERROR=ON -DFIBERJOB_BUILD_TESTS=$test_opt \
    -DFIBERJOB_TEST_TIMEOUT_SCALE="$scale" >"$out/windows-configure.log" 2>&1; then
  tail -n 40 "$out/windows-configure.log"
  say "windows: configure FAILED (see $out/windows-configure.log)"
  say "windows: 0 passed, 1 failed"
  exit 1
fi
say "== windows: build"
if ! cmake --build "$out" -j"$jobs" >"$out/windows-build.log" 2>&1; then
  grep -E -A12 'error|FAILED' "$out/windows-build.log" | head -n 60
  say "windows: build FAILED (see $out/windows-build.log)"
  say "windows: 0 passed, 1 failed"
  exit 1
fi

# ---------------------------------------------------------------- wine

# The prefix is made once (about 15 s); a persistent wineserver then makes
# each program start in tens of milliseconds. Stopped on every way out.
if [ ! -f "$WINEPREFIX/system.reg" ]; then
  say "== windows: creating the Wine prefix $WINEPREFIX"
  "$(wine_bin)" wineboot -i >/dev/null 2>&1
  wineserver -w
fi
wineserver -p
trap 'wineserver -k 2>/dev/null || true' EXIT

# ---------------------------------------------------------------- first check

# run_program NAME EXPECTED_RC PROGRAM [ARGS...]
run_program() {
  local name=$1 want=$2 rc
  shift 2
  timeout "$default_timeout" "$run" "$@" >"$out/windows-$name.log" 2>&1
  rc=$?
  if [ $rc -eq "$want" ]; then
    pass=$((pass + 1))
    say "    ok: $name ($(tail -n 1 "$out/windows-$name.log"))"
  else
    fail=$((fail + 1))
    say "  FAIL: $name exited with $rc (expected $want); its output:"
    sed 's/^/    /' "$out/windows-$name.log" | tail -n 20
  fi
}

say "== windows: the demo and the examples under Wine"
p0=$pass f0=$fail
run_program demo 0 "$out/fiberjob-demo.exe" --frames 60
for ex in "$out"/examples/example_*.exe; do
  [ -e "$ex" ] || continue
  run_program "$(basename "$ex" .exe)" 0 "$ex"
done
run_program bench-switch 0 "$out/bench/fiberjob-bench.exe" run switch fiberjob --smoke

# The switch's own check (tools/windows_regcheck.c): callee-saved registers,
# the TIB's stack fields, stack walks, C++ exceptions inside fibers, deep
# recursion, MXCSR; built as its header says, once without and once with the
# FP control words in the switch.
for fpu in 0 1; do
  rc_dir=$out/regcheck$fpu
  mkdir -p "$rc_dir"
  defs=()
  [ $fpu = 1 ] && defs=(-DFJ_SAVE_FPU=1)
  if x86_64-w64-mingw32-g++-posix -O2 -DRC_CXX -x c++ -c "$root/tools/windows_regcheck.c" -o "$rc_dir/rc_cxx.o" \
       >"$out/windows-regcheck$fpu-build.log" 2>&1 &&
     (for f in tools/windows_regcheck.c src/arch/ctx_make.c src/arch/ctx_win64.S; do
       $cc -O2 -std=c11 -Wall -Wextra -Wpedantic -Werror -D__USE_MINGW_ANSI_STDIO=1 "${defs[@]}" -I "$root/src" \
         -c "$root/$f" -o "$rc_dir/$(basename "${f%.*}").o" || exit 1
     done) >>"$out/windows-regcheck$fpu-build.log" 2>&1 &&
     x86_64-w64-mingw32-g++-posix -static -o "$rc_dir/windows_regcheck.exe" "$rc_dir/windows_regcheck.o" \
       "$rc_dir/ctx_make.o" "$rc_dir/ctx_win64.o" "$rc_dir/rc_cxx.o" >>"$out/windows-regcheck$fpu-build.log" 2>&1; then
    run_program "regcheck$fpu" 0 "$rc_dir/windows_regcheck.exe"
    if ! grep -qE '^regcheck: [0-9]+ passed, 0 failed' "$out/windows-regcheck$fpu.log"; then
      say "  FAIL: regcheck$fpu printed no clean summary"
      fail=$((fail + 1))
    fi
  else
    fail=$((fail + 1))
    say "  FAIL: regcheck$fpu did not build:"
    tail -n 20 "$out/windows-regcheck$fpu-build.log" | sed 's/^/    /'
  fi
done
if [ $fail -eq $f0 ]; then
  note ok "demo, examples, bench smoke and regcheck: $((pass - p0)) passed"
else
  note FAIL "demo, examples, bench smoke and regcheck: $((pass - p0)) passed, $((fail - f0)) failed"
fi

# ---------------------------------------------------------------- ctest

if [ "$tests" != 0 ]; then
  ct_args=(--output-on-failure --no-tests=error -j"$jobs" --timeout "$default_timeout")
  what="all tests"
  if [ -n "$exclude" ]; then
    ct_args+=(-E "$exclude")
    what="$what minus /$exclude/"
  fi
  say "== windows: ctest under Wine ($what)"
  (cd "$out" && ctest "${ct_args[@]}") >"$out/windows-ctest.log" 2>&1
  rc=$?
  line=$(grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$out/windows-ctest.log" | tail -n 1)
  ct_total=0 ct_failed=0
  if [ -n "$line" ]; then
    ct_failed=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")
    ct_total=$(sed -E 's/.* failed out of ([0-9]+).*/\1/' <<<"$line")
  fi
  if [ $rc -ne 0 ]; then
    grep -E -B2 -A30 'Failed|Timeout|\*\*\*Exception' "$out/windows-ctest.log" | head -n 120
    sed -n '/tests passed/,$p' "$out/windows-ctest.log"
    [ "$ct_failed" -gt 0 ] || ct_failed=1
  fi
  # The tests that failed are run once more (ctest --rerun-failed, only
  # them). One that then passes is named on a line of its own, "failed once
  # under Wine", with its first failure's output above, and counts as
  # passed; one that fails again fails the stage. Why: the one such failure
  # seen (stop 29's CI: core.wake_home.w2 ended 0.05 s after its start with
  # no output) never came back in 4,490 runs of that test under Wine here,
  # and could not be told from a failure of Wine's own.
  flaky=""
  if [ $rc -ne 0 ] && [ "$ct_failed" -gt 0 ]; then
    first=$(failed_names "$out/windows-ctest.log")
    say "== windows: running the $ct_failed failed test(s) once more: $(echo $first)"
    (cd "$out" && ctest --rerun-failed --output-on-failure -j"$jobs" --timeout "$default_timeout") \
      >"$out/windows-ctest-rerun.log" 2>&1
    rerun_rc=$?
    sed -n '/tests passed/,$p' "$out/windows-ctest-rerun.log"
    again=$(failed_names "$out/windows-ctest-rerun.log")
    if [ $rerun_rc -eq 0 ] || [ -n "$again" ]; then
      flaky=$(comm -23 <(echo "$first") <(echo "$again") | tr '\n' ' ')
      ct_failed=$(echo -n "$again" | grep -c . || true)
    fi
  fi
  ct_skipped=$(grep -cE 'Test +#[0-9]+: .*\*\*\*Skipped' "$out/windows-ctest.log")
  ct_time=$(grep -E '^Total Test time' "$out/windows-ctest.log" | sed -E 's/.*= *//')
  ct_passed=$((ct_total - ct_failed - ct_skipped))
  pass=$((pass + ct_passed))
  fail=$((fail + ct_failed))
  status=ok
  [ "$ct_failed" -eq 0 ] || status=FAIL
  note $status "ctest $ct_passed passed, $ct_failed failed, $ct_skipped skipped of $ct_total [$what] in ${ct_time:-?}"
  [ -z "${flaky// /}" ] || note ok "failed once under Wine, then passed (first output above): $flaky"
else
  note ok "ctest not run (FJ_WINDOWS_TESTS=0: built without tests)"
fi

say "== windows summary ($(( $(now) - start )) s in all, logs in $out/windows-*.log)"
for s in "${summaries[@]}"; do say "$s"; done
say "windows: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
