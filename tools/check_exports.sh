#!/usr/bin/env bash
# The shared library exports exactly the functions the public headers declare
# with FJ_API: nothing internal (fj__...) leaks, and nothing public is missing.
#
#   bash tools/check_exports.sh LIBFIBERJOB_SO INCLUDE_DIR
set -euo pipefail
lib=$1
inc=$2
want=$(grep -hoE 'FJ_API [^(]*\b(fj_[A-Za-z0-9_]+)\(' "$inc"/*.h | sed -E 's/.*\b(fj_[A-Za-z0-9_]+)\($/\1/' | sort -u)
have=$(nm -D --defined-only "$lib" | awk '{ print $NF }' | sort -u)
[ -n "$want" ] || { echo "check_exports: no FJ_API declaration found in $inc" >&2; exit 1; }
extra=$(comm -13 <(echo "$want") <(echo "$have") || true)
missing=$(comm -23 <(echo "$want") <(echo "$have") || true)
status=0
if [ -n "$extra" ]; then
  echo "check_exports: $lib exports symbols no public header declares:" >&2
  echo "$extra" | sed 's/^/  /' >&2
  status=1
fi
if [ -n "$missing" ]; then
  echo "check_exports: public functions $lib does not export:" >&2
  echo "$missing" | sed 's/^/  /' >&2
  status=1
fi
[ $status -eq 0 ] && echo "check_exports: $(echo "$want" | wc -l) public functions, nothing else"
exit $status
