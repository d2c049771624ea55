#!/usr/bin/env bash
# Run the fiberjob benchmark suite: every workload for fiberjob and for each peer
# that was built, alternating the implementations (A B C A B C ...), one fresh
# process per run; then print per metric the median, min-max and the ratio
# fiberjob/peer, and write CSV, a Markdown table and an SVG chart.
#
#   bash bench/run.sh BUILD_DIR [--smoke]
#
# BUILD_DIR is a configured and built (Release) build tree; `make bench` passes
# build-release. Environment:
#   FJ_BENCH_REPS=5        repetitions per implementation (--smoke: 1)
#   FJ_BENCH_SCALE=1       multiply every default size (fib: n + log_phi(scale))
#   FJ_BENCH_WORKLOADS     space-separated subset of: switch spawn1 spawn1024 fib pfor frame graph wake startup create-time alloc
#   FJ_BENCH_IMPLS         space-separated subset of implementations (default: all built)
#   FJ_BENCH_WORKERS       worker threads for every runtime (default: one per allowed CPU)
#   FJ_BENCH_GRAIN         parallel-for grain (default 65536 floats)
#   FJ_BENCH_TIMEOUT=300   seconds before a single run is abandoned (--smoke: 60)
#   FJ_BENCH_OUT           results folder (default bench/results; --smoke: BUILD_DIR/bench-smoke)
#   FJ_BENCH_SMOKE=1       same as --smoke: each workload once at a tiny size (CI)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
if [ $# -lt 1 ]; then
  echo "usage: bash bench/run.sh BUILD_DIR [--smoke]" >&2
  exit 2
fi
build=$(cd "$1" && pwd)
shift
smoke=${FJ_BENCH_SMOKE:-0}
for arg in "$@"; do
  case $arg in
    --smoke) smoke=1 ;;
    *) echo "run.sh: unknown argument '$arg'" >&2; exit 2 ;;
  esac
done

if [ "$smoke" = 1 ]; then
  reps=${FJ_BENCH_REPS:-1}
  tmo=${FJ_BENCH_TIMEOUT:-60}
  out=${FJ_BENCH_OUT:-$build/bench-smoke}
  runargs=(--smoke)
else
  reps=${FJ_BENCH_REPS:-5}
  tmo=${FJ_BENCH_TIMEOUT:-300}
  out=${FJ_BENCH_OUT:-$here/results}
  runargs=()
fi
scale=${FJ_BENCH_SCALE:-1}
[ "$scale" != 1 ] && runargs+=(--scale "$scale")
workloads=${FJ_BENCH_WORKLOADS:-"switch spawn1 spawn1024 fib pfor frame graph wake startup create-time alloc"}
want_impls=${FJ_BENCH_IMPLS:-}

bins=()
for b in fiberjob-bench fiberjob-bench-fpu fiberjob-bench-omp-gcc fiberjob-bench-omp-clang fiberjob-bench-jemalloc fiberjob-bench-mimalloc; do
  [ -x "$build/bench/$b" ] && bins+=("$build/bench/$b")
done
if [ ${#bins[@]} -eq 0 ] || [ ! -x "$build/bench/fiberjob-bench" ]; then
  echo "run.sh: $build/bench/fiberjob-bench not found: configure and build first" \
       "(cmake -S . -B $build -DCMAKE_BUILD_TYPE=Release && cmake --build $build)" >&2
  exit 1
fi

# What each program offers: "workload impl program" lines, fiberjob first.
pairs=$(for b in "${bins[@]}"; do "$b" list | sed "s|\$| $b|"; done |
        awk '{ print ($2 ~ /^fiberjob/ ? 0 : 1), NR, $0 }' | sort -k1,1n -k2,2n | cut -d' ' -f3-)

mkdir -p "$out"
raw=$out/raw.csv
tmp=$out/raw.csv.tmp
echo "workload,impl,rep,metric,value,unit,dir" > "$tmp"
failures=0
start=$(date +%s)

echo "fiberjob bench: reps=$reps scale=$scale smoke=$smoke build=$build"
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) allowed CPUs"
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
echo "load average: $load_start (other processes on the machine distort wall times)"
for w in $workloads; do
  impls=$(echo "$pairs" | awk -v w="$w" '$1 == w { print $2 " " $3 }')
  if [ -n "$want_impls" ]; then
    impls=$(echo "$impls" | awk -v keep=" $want_impls " 'index(keep, " " $1 " ")')
  fi
  [ -z "$impls" ] && continue
  for ((rep = 1; rep <= reps; rep++)); do
    while read -r impl bin; do
      [ -z "$impl" ] && continue
      if res=$(timeout "$tmo" "$bin" run "$w" "$impl" "${runargs[@]}" 2> "$out/last-stderr.txt"); then
        printf '%s' "$res" | awk -F, -v w="$w" -v i="$impl" -v r="$rep" 'NF == 4 { print w "," i "," r "," $0 }' >> "$tmp"
        printf '  %-10s rep %2d/%d  %-14s %s\n' "$w" "$rep" "$reps" "$impl" \
               "$(printf '%s' "$res" | awk -F, '{ printf "%s %s %s  ", $1, $2, $3 }')"
      else
        rc=$?
        failures=$((failures + 1))
        echo "  $w rep $rep $impl: FAILED (exit $rc$([ $rc = 124 ] && echo ", timeout ${tmo}s"))" >&2
        sed 's/^/    /' "$out/last-stderr.txt" >&2 || true
      fi
    done <<< "$impls"
  done
done
rm -f "$out/last-stderr.txt"
mv "$tmp" "$raw"

# The frame allocator in an engine-shaped frame (bench/frame_alloc.c): its own
# table, with the jobs' own cost subtracted, kept in frame_alloc.txt.
fa=$build/bench/fiberjob-bench-frame-alloc
if [[ " $workloads " == *" alloc "* ]] && [ -x "$fa" ]; then
  fa_args=()
  [ "$smoke" = 1 ] && fa_args=(--jobs 256 --reps 1 --frames 2)
  [ -n "${FJ_BENCH_WORKERS:-}" ] && fa_args+=(--workers "$FJ_BENCH_WORKERS")
  echo
  echo "== frame allocator, engine-shaped frame ($fa ${fa_args[*]})"
  if timeout "$tmo" "$fa" "${fa_args[@]}" > "$out/frame_alloc.txt"; then
    cat "$out/frame_alloc.txt"
  else
    failures=$((failures + 1))
    echo "  fiberjob-bench-frame-alloc: FAILED (exit $?)" >&2
  fi
fi

echo
echo "== summary (medians of $reps runs; fj/impl = fiberjob median / implementation median)"
awk -F, -v csv="$out/summary.csv" -v md="$out/summary.md" -v compact="$out/compact.md" -v chart="$out/chart.dat" -f "$here/summarize.awk" "$raw"

# The graph workload's table (bench/graph_table.awk): ratios to oneTBB's flow
# graph and to the two-core limit (serial / 2), and the fibers in use.
if grep -q '^graph,' "$raw"; then
  echo
  echo "== graph (medians of $reps runs; ratios taken within each repetition)"
  awk -F, -f "$here/graph_table.awk" "$raw" | tee "$out/graph.md"
fi

{
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "allowed cpus: $(nproc)"
  echo "kernel: $(uname -r)"
  echo "load average (1, 5, 15 min) at start: $load_start, at end: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "commit: $(git -C "$here/.." rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$here/.." diff --quiet HEAD 2>/dev/null || echo ' (with local changes)')"
  echo "c compiler: $(grep -m1 '^CMAKE_C_COMPILER:' "$build/CMakeCache.txt" 2>/dev/null | cut -d= -f2)"
  echo "build type: $(grep -m1 '^CMAKE_BUILD_TYPE:' "$build/CMakeCache.txt" 2>/dev/null | cut -d= -f2)"
  echo "reps: $reps  scale: $scale  smoke: $smoke  workers: ${FJ_BENCH_WORKERS:-default}  grain: ${FJ_BENCH_GRAIN:-$([ "$smoke" = 1 ] && echo 4096 || echo 65536)}"
  echo "implementations: $(echo "$pairs" | awk '{ print $2 }' | sort -u | tr '\n' ' ')"
  echo "wall time: $(( $(date +%s) - start )) s, failed runs: $failures"
} > "$out/env.txt"

if command -v gnuplot > /dev/null 2>&1 && [ "$(wc -l < "$out/chart.dat")" -gt 1 ]; then
  ncol=$(head -1 "$out/chart.dat" | wc -w)
  gnuplot <<GP || echo "run.sh: gnuplot failed; the CSV is still there" >&2
set terminal svg size 1200,520 dynamic background rgb 'white' font 'sans,12'
set output '$out/chart.svg'
set title "fiberjob's speed relative to each peer (median of $reps runs; above 1: fiberjob faster)"
set datafile missing '?'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set key top right outside
set grid ytics
set xtics rotate by -30
set ylabel 'peer time / fiberjob time (log scale)'
set ytics ('1/64' -6, '1/32' -5, '1/16' -4, '1/8' -3, '1/4' -2, '1/2' -1, '1' 0, '2' 1, '4' 2, '8' 3, '16' 4, '32' 5, '64' 6, '128' 7, '256' 8, '512' 9)
set xzeroaxis lt -1 lw 2
plot for [i=2:$ncol] '$out/chart.dat' using i:xtic(1) title columnheader(i)
set terminal pngcairo size 1200,520 background rgb 'white' font 'sans,10'
set output '$out/chart.png'
replot
GP
fi

echo
echo "results: $raw, $out/summary.csv, $out/summary.md, $out/compact.md, $out/chart.svg (.png), $out/env.txt$([ -f "$out/frame_alloc.txt" ] && echo ", $out/frame_alloc.txt")$([ -f "$out/graph.md" ] && echo ", $out/graph.md")"
if [ "$failures" -gt 0 ]; then
  echo "run.sh: $failures run(s) failed" >&2
  exit 1
fi
