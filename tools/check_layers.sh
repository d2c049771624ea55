#!/usr/bin/env bash
# The runtime's files depend one way only: each file calls (or reads) only
# internal fj__ symbols defined in itself or in a file included before it in
# src/unity.c, which lists them lowest layer first. A call upward must go
# through a function pointer (none shows as a symbol). Symbols defined in none
# of the listed files are the platform below them all (arch/, the C++
# boundary, the OS files that unity.c names through FJ_OS_SOURCE and
# FJ_OS_SOURCE2, which no #include "x.c" line lists). Reads the objects of a
# build made file by file (-DFIBERJOB_UNITY=OFF).
#
#   bash tools/check_layers.sh src/unity.c OBJECT_DIR
set -euo pipefail
unity=$1
objdir=$2
files=$(sed -n 's/^#include "\([a-z_/]*\)\.c"$/\1/p' "$unity")
[ -n "$files" ] || { echo "check_layers: no file listed in $unity" >&2; exit 1; }
defined_below=""
status=0
n=0
# Every listed file's defined symbols, once: "symbol file.c" lines (nm once
# per file; looking each symbol up in every object again took most of a
# minute).
owners=""
for g in $files; do
  [ -f "$objdir/$g.c.o" ] || continue
  owners+=$(nm --defined-only "$objdir/$g.c.o" | awk -v f="$g.c" '$3 ~ /^fj__/ { print $3 " " f }')
  owners+=$'\n'
done
for f in $files; do
  o=$objdir/$f.c.o
  [ -f "$o" ] || { echo "check_layers: $o is missing (build with -DFIBERJOB_UNITY=OFF)" >&2; exit 1; }
  mine=$(nm --defined-only "$o" | awk '$3 ~ /^fj__/ { print $3 }' | sort -u)
  for sym in $(nm --undefined-only "$o" | awk '$2 ~ /^fj__/ { print $2 }' | sort -u); do
    if ! grep -qx "$sym" <<<"$defined_below"; then
      owner=$(awk -v s="$sym" '$1 == s { o = $2 } END { print o }' <<<"$owners")
      # Defined in none of them: the platform below them all (the context
      # switch, the C++ boundary), built on its own.
      if [ -n "$owner" ]; then
        echo "check_layers: $f.c uses $sym, defined in $owner, above it in $unity" >&2
        status=1
      fi
    fi
  done
  defined_below=$(printf '%s\n%s\n' "$defined_below" "$mine")
  n=$((n + 1))
done
[ $status -eq 0 ] && echo "check_layers: $n files, every internal call goes down"
exit $status
