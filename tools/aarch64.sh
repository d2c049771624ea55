#!/usr/bin/env bash
# AArch64 cross-build and emulated test run (issue 7, item 3). See docs/aarch64.md.
#
#   tools/aarch64.sh [builddir]        (default: build-aarch64 in the source tree)
#
# For each variant: configure with cmake/toolchain-aarch64.cmake (ctest then runs
# every test under qemu-aarch64), build, run ctest with every test's time limit
# scaled for emulation (FIBERJOB_TEST_TIMEOUT_SCALE), then build tools/aarch64_regcheck.c against the variant's
# libfiberjob.a and run it under qemu. Variants:
#   asm       the assembly switch                     all tests
#   ucontext  -DFIBERJOB_CONTEXT=ucontext            FJ_AARCH64_SUBSET of the tests
#   fpu       -DFIBERJOB_SAVE_FPU=ON (FPCR switched)  FJ_AARCH64_SUBSET of the tests
#   bti       opt-in: the switch built with -mbranch-protection=standard and run
#             with BTI enforced (regcheck parts 1-2 only; see docs/aarch64.md)
# Prints one summary line per variant and a last line "aarch64: N passed, N failed";
# exits non-zero if anything failed to configure, build or pass.
#
# Environment:
#   FJ_AARCH64_VARIANTS       variants to run (default "asm ucontext fpu")
#   FJ_AARCH64_BUILD_TYPE     RelWithDebInfo (default) or Release
#   FJ_AARCH64_SUBSET         ctest -R regex for the ucontext and fpu variants
#                             (default: each test once, with 2 workers, by the
#                             ctest names area.name.w2 and area.name; "" = all)
#   FJ_AARCH64_EXCLUDE        ctest -E regex applied to every variant (default: none)
#   FJ_AARCH64_TIMEOUT_SCALE  multiply every test's TIMEOUT by this (default 3)
#   FJ_AARCH64_TIMEOUT        timeout for tests without one and for regcheck (default 300 s)
#   FJ_AARCH64_INSTALL=0      never apt-get install missing packages
#   FJ_QEMU_CPU               qemu -cpu model (default: qemu's "max")
#   JOBS                      parallel build and ctest jobs (default: nproc)
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${1:-$root/build-aarch64}
mkdir -p "$out" && out=$(cd "$out" && pwd)
jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}
build_type=${FJ_AARCH64_BUILD_TYPE:-RelWithDebInfo}
variants=${FJ_AARCH64_VARIANTS:-asm ucontext fpu}
subset=${FJ_AARCH64_SUBSET-'\.w2$|^[^.]+\.[^.]+$'}
exclude=${FJ_AARCH64_EXCLUDE:-}
scale=${FJ_AARCH64_TIMEOUT_SCALE:-3}
default_timeout=${FJ_AARCH64_TIMEOUT:-300}
prefix=aarch64-linux-gnu-
sysroot=/usr/aarch64-linux-gnu
toolchain=$root/cmake/toolchain-aarch64.cmake

say() { printf '%s\n' "$*"; }
now() { date +%s; }

# ---------------------------------------------------------------- tools

missing=()
command -v ${prefix}gcc >/dev/null 2>&1 || missing+=(gcc-aarch64-linux-gnu)
command -v ${prefix}g++ >/dev/null 2>&1 || missing+=(g++-aarch64-linux-gnu)
[ -e $sysroot/lib/libc.so.6 ] || missing+=(libc6-dev-arm64-cross)
command -v qemu-aarch64 >/dev/null 2>&1 || missing+=(qemu-user)
command -v cmake >/dev/null 2>&1 || missing+=(cmake)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "${FJ_AARCH64_INSTALL:-1}" != 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "== aarch64: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null 2>&1 || true
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
      say "aarch64: apt-get install ${missing[*]} failed"
  fi
fi
for tool in ${prefix}gcc qemu-aarch64 cmake ctest; do
  if ! command -v $tool >/dev/null 2>&1; then
    say "aarch64: $tool not found; install the Debian packages gcc-aarch64-linux-gnu" \
        "libc6-dev-arm64-cross qemu-user (and g++-aarch64-linux-gnu)"
    say "aarch64: 0 passed, 1 failed"
    exit 2
  fi
done
command -v ${prefix}g++ >/dev/null 2>&1 ||
  say "aarch64: note: ${prefix}g++ missing, the C++ exception boundary is left out"
generator=()
command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
qemu=(qemu-aarch64)
[ -n "${FJ_QEMU_CPU:-}" ] && qemu+=(-cpu "$FJ_QEMU_CPU")
qemu+=(-L $sysroot)

# ---------------------------------------------------------------- one variant

total_pass=0
total_fail=0
summaries=()

# run_variant NAME "CMAKE OPTIONS" "CTEST REGEX (empty: all)" "REGCHECK DEFINES"
run_variant() {
  local name=$1 opts=$2 regex=$3 defs=$4
  local dir=$out/$name t0 rc
  t0=$(now)
  mkdir -p "$dir"
  say "== aarch64 [$name]: configure ($build_type $opts)"
  local gen=()
  [ -f "$dir/CMakeCache.txt" ] || gen=("${generator[@]}")
  # shellcheck disable=SC2086
  if ! cmake -S "$root" -B "$dir" "${gen[@]}" -DCMAKE_TOOLCHAIN_FILE="$toolchain" \
      -DCMAKE_BUILD_TYPE="$build_type" -DFIBERJOB_WERROR=ON -DFIBERJOB_BUILD_BENCH=OFF \
      -DFIBERJOB_TEST_TIMEOUT_SCALE="$scale" \
      $opts >"$dir/aarch64-configure.log" 2>&1; then
    tail -n 40 "$dir/aarch64-configure.log"
    finish_variant "$name" "$t0" 0 1 "configure FAILED (see $dir/aarch64-configure.log)"
    return
  fi
  say "== aarch64 [$name]: build"
  if ! cmake --build "$dir" -j"$jobs" >"$dir/aarch64-build.log" 2>&1; then
    grep -E -A12 'error|FAILED' "$dir/aarch64-build.log" | head -n 60
    finish_variant "$name" "$t0" 0 1 "build FAILED (see $dir/aarch64-build.log)"
    return
  fi

  local ct_args=(--output-on-failure --no-tests=error -j"$jobs" --timeout "$default_timeout")
  local what="all tests"
  if [ -n "$regex" ]; then
    ct_args+=(-R "$regex")
    what="subset /$regex/"
  fi
  if [ -n "$exclude" ]; then
    ct_args+=(-E "$exclude")
    what="$what minus /$exclude/"
  fi
  say "== aarch64 [$name]: ctest under qemu ($what)"
  (cd "$dir" && ctest "${ct_args[@]}") >"$dir/aarch64-ctest.log" 2>&1
  rc=$?
  local line ct_total=0 ct_failed=0
  line=$(grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$dir/aarch64-ctest.log" | tail -n 1)
  if [ -n "$line" ]; then
    ct_failed=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")
    ct_total=$(sed -E 's/.* failed out of ([0-9]+).*/\1/' <<<"$line")
  elif [ $rc -ne 0 ]; then
    ct_failed=1
  fi
  local ct_skipped skipped_note=""
  ct_skipped=$(grep -cE 'Test +#[0-9]+: .*\*\*\*Skipped' "$dir/aarch64-ctest.log")
  [ "$ct_skipped" -gt 0 ] && skipped_note=" ($ct_skipped of them skipped)"
  if [ $rc -ne 0 ]; then
    grep -E -B2 -A30 'Failed|Timeout|\*\*\*Exception' "$dir/aarch64-ctest.log" | head -n 120
    sed -n '/tests passed/,$p' "$dir/aarch64-ctest.log"
    [ "$ct_failed" -gt 0 ] || ct_failed=1
  fi
  local ct_passed=$((ct_total - ct_failed))
  local ct_time
  ct_time=$(grep -E '^Total Test time' "$dir/aarch64-ctest.log" | sed -E 's/.*= *//')

  # The register and FPCR check, linked against this variant's library.
  say "== aarch64 [$name]: regcheck under qemu"
  local rc_pass=0 rc_fail=1 lib=$dir/libfiberjob.a link=(${prefix}gcc)
  if ${prefix}ar t "$lib" 2>/dev/null | grep -q '\.cc\.o$'; then
    link=(${prefix}g++ -x c)
  fi
  # shellcheck disable=SC2086
  if "${link[@]}" -std=c11 -O2 -g -Wall -Wextra -Wpedantic -Werror $defs \
      -I"$root/include" -I"$root/src" "$root/tools/aarch64_regcheck.c" -x none "$lib" \
      -lpthread -lm -o "$dir/aarch64_regcheck" >"$dir/aarch64-regcheck.log" 2>&1; then
    timeout "$default_timeout" "${qemu[@]}" "$dir/aarch64_regcheck" 4 >>"$dir/aarch64-regcheck.log" 2>&1
    rc=$?
    line=$(grep -E '^regcheck: [0-9]+ passed, [0-9]+ failed' "$dir/aarch64-regcheck.log" | tail -n 1)
    if [ -n "$line" ]; then
      rc_pass=$(sed -E 's/regcheck: ([0-9]+) passed.*/\1/' <<<"$line")
      rc_fail=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")
    fi
    if [ $rc -ne 0 ] && [ "$rc_fail" -eq 0 ]; then
      rc_fail=1   # crashed or timed out before its summary
    fi
  else
    say "aarch64 [$name]: regcheck did not build"
  fi
  sed 's/^/  /' "$dir/aarch64-regcheck.log" | grep -v '^  regcheck: [0-9]' | head -n 60

  finish_variant "$name" "$t0" $((ct_passed + rc_pass)) $((ct_failed + rc_fail)) \
    "ctest $ct_passed passed, $ct_failed failed of $ct_total$skipped_note [$what] in ${ct_time:-?}; regcheck $rc_pass passed, $rc_fail failed"
}

finish_variant() {
  local name=$1 t0=$2 pass=$3 fail=$4 text=$5 secs
  secs=$(($(now) - t0))
  total_pass=$((total_pass + pass))
  total_fail=$((total_fail + fail))
  local status=ok
  [ "$fail" -eq 0 ] || status=FAIL
  summaries+=("aarch64 [$name] $status: $text; ${secs} s")
  say "${summaries[-1]}"
}

# ---------------------------------------------------------------- BTI (opt-in)

# Branch Target Identification: a program is only BTI-guarded when every object
# carries the GNU property note, so the check links the switch into a program
# with -z force-bti. Debian's crt1.o/crti.o carry no note (and _start has no
# landing pad), so the program brings its own _start and skips the start files.
run_bti() {
  local dir=$out/bti t0 pass=0 fail=0 line rc
  t0=$(now)
  mkdir -p "$dir"
  say "== aarch64 [bti]: -mbranch-protection=standard, -z force-bti"
  cat >"$dir/bti_start.S" <<'EOS'
    .text
    .globl _start
    .type _start, %function
_start:
    hint #34                    /* bti c: entered from the dynamic loader by br */
    mov x29, #0
    mov x30, #0
    mov x5, x0                  /* rtld_fini */
    ldr x1, [sp]                /* argc */
    add x2, sp, #8              /* argv */
    mov x6, sp                  /* stack_end */
    adrp x0, :got:main
    ldr x0, [x0, :got_lo12:main]
    mov x3, #0                  /* init, fini: none (glibc >= 2.34) */
    mov x4, #0
    bl __libc_start_main
    brk #0
    .size _start, .-_start
    .section .note.GNU-stack, "", %progbits
    .pushsection .note.gnu.property, "a"
    .balign 8
    .long 4, 16, 5              /* namesz, descsz, NT_GNU_PROPERTY_TYPE_0 */
    .asciz "GNU"
    .long 0xc0000000, 4, 3, 0   /* GNU_PROPERTY_AARCH64_FEATURE_1_AND: BTI | PAC */
    .popsection
EOS
  # -mno-outline-atomics: libgcc's outline-atomics constructor has no landing pad.
  local cc=(${prefix}gcc -O2 -g -mbranch-protection=standard -mno-outline-atomics -I"$root/include" -I"$root/src")
  if "${cc[@]}" -c "$root/src/arch/ctx_aarch64.S" -o "$dir/ctx_aarch64.o" >"$dir/aarch64-bti.log" 2>&1 &&
     ${prefix}readelf -n "$dir/ctx_aarch64.o" | grep -q 'AArch64 feature: BTI'; then
    pass=$((pass + 1))
    say "    ok: src/arch/ctx_aarch64.S carries the BTI property note"
  else
    fail=$((fail + 1))
    say "FAIL: src/arch/ctx_aarch64.S built with -mbranch-protection=standard has no BTI property" \
        "note: every program linking it loses BTI"
  fi
  if "${cc[@]}" -std=c11 -Wall -Wextra -Wpedantic -Werror -DRC_CTX_ONLY -nostartfiles -Wl,-z,force-bti \
      "$dir/bti_start.S" "$root/tools/aarch64_regcheck.c" "$root/src/arch/ctx_make.c" "$dir/ctx_aarch64.o" \
      -lpthread -o "$dir/aarch64_regcheck_bti" >>"$dir/aarch64-bti.log" 2>&1; then
    timeout "$default_timeout" "${qemu[@]}" "$dir/aarch64_regcheck_bti" >>"$dir/aarch64-bti.log" 2>&1
    rc=$?
    line=$(grep -E '^regcheck: [0-9]+ passed, [0-9]+ failed' "$dir/aarch64-bti.log" | tail -n 1)
    if [ -n "$line" ]; then
      pass=$((pass + $(sed -E 's/regcheck: ([0-9]+) passed.*/\1/' <<<"$line")))
      fail=$((fail + $(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")))
    fi
    if [ $rc -ne 0 ] && [ -z "$line" ]; then
      fail=$((fail + 1))
      [ $rc -eq 132 ] && say "FAIL: SIGILL with BTI enforced: a branch into the switch or out of it" \
        "lands on no BTI landing pad (br x30 to a return address, or no bti c at the entry)"
    fi
  else
    fail=$((fail + 1))
  fi
  grep -vE 'warning: BTI turned on|^regcheck: [0-9]' "$dir/aarch64-bti.log" | sed 's/^/  /' | head -n 40
  finish_variant bti "$t0" "$pass" "$fail" "BTI note and regcheck with BTI enforced: $pass passed, $fail failed"
}

# ---------------------------------------------------------------- all variants

start=$(now)
say "== aarch64: $(${prefix}gcc --version | head -n 1); $(qemu-aarch64 --version | head -n 1)"
for v in $variants; do
  case $v in
    # FIBERJOB_CHECK_FPU=ON: the FPCR check after jobs and at waits, exercised
    # on AArch64 (test_ctx checks that it reports a job that leaves FPCR changed).
    # The fpu variant keeps the build type's default: see docs/aarch64.md.
    asm)      run_variant asm "-DFIBERJOB_CONTEXT=asm -DFIBERJOB_SAVE_FPU=OFF -DFIBERJOB_CHECK_FPU=ON" "" "" ;;
    ucontext) run_variant ucontext "-DFIBERJOB_CONTEXT=ucontext -DFIBERJOB_SAVE_FPU=OFF -DFIBERJOB_CHECK_FPU=ON -DFIBERJOB_BUILD_DEMO=OFF" \
                "$subset" "-DFJ_CTX_UCONTEXT=1" ;;
    fpu)      run_variant fpu "-DFIBERJOB_CONTEXT=asm -DFIBERJOB_SAVE_FPU=ON -DFIBERJOB_BUILD_DEMO=OFF" \
                "$subset" "-DFJ_SAVE_FPU=1" ;;
    bti)      run_bti ;;
    *) say "aarch64: unknown variant '$v' (asm, ucontext, fpu, bti)"; total_fail=$((total_fail + 1)) ;;
  esac
done

say "== aarch64 summary ($(( $(now) - start )) s in all, logs in $out/<variant>/aarch64-*.log)"
for s in "${summaries[@]}"; do say "$s"; done
say "aarch64: $total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
