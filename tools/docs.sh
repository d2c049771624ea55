#!/usr/bin/env bash
# The API reference (`make docs`): Doxygen over the public headers in include/,
# with docs/design.md as a related page. HTML goes to build-docs/html/index.html.
#
# Fails when Doxygen warns about anything, in particular about a public
# declaration without documentation: every declaration a user can reach must
# say what it does. Internal names (fj__*, FJ__*, fj::detail) are left out.
#
#   tools/docs.sh [outdir]        (default build-docs)
# Environment: FJ_DOCS_WARN_ONLY=1 lists the warnings but does not fail.
#
# Needs Debian's `doxygen`; run as root with apt-get available, the script
# installs it when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-build-docs}

if ! command -v doxygen >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "docs: installing doxygen"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends doxygen >/dev/null ||
      { apt-get update -qq && apt-get install -y -qq --no-install-recommends doxygen >/dev/null; }
  else
    echo "docs: doxygen is not installed (Debian: apt-get install doxygen)" >&2
    exit 1
  fi
fi

mkdir -p "$out"
rm -rf "$out/html"

# The version, from the header.
version=$(awk '/#define FIBERJOB_VERSION_(MAJOR|MINOR|PATCH)/ { v = v (v ? "." : "") $3 } END { print v }' \
  include/fiberjob.h)

headers=""
for h in fiberjob.h fiberjob_frame.h fiberjob.hpp; do
  if [ -f "include/$h" ]; then headers="$headers include/$h"; fi
done

# The main page, and an @file block for each header that has none of its own
# (Doxygen lists a C header's functions, types and macros only when the file
# itself is documented).
{
  cat <<'MAIN'
/**
 * @mainpage fiberjob
 *
 * A fiber-based job system in C11: worker threads pinned one per CPU, jobs on
 * user-space fibers, atomic counters as the one synchronisation primitive,
 * and waiting that suspends the fiber, never the thread.
 *
 * - fiberjob.h: the C API (schedulers, jobs, counters, waiting, panics,
 *   parallel-for, tracing, statistics).
 * - fiberjob_frame.h: the frame allocator (per-worker linear allocation with
 *   frame lifetimes).
 * - fiberjob.hpp: the header-only C++17 layer (lambdas as jobs, RAII counters
 *   and task groups, parallel_for).
 * - @ref md_docs_design "The design": the parts, the wait protocol and where
 *   each lives in the source, for contributors.
 *
 * Building, testing and the rules of use ("Things to know") are in the
 * README of the source tree; small programs to start from are in examples/.
 */
MAIN
  for h in $headers; do
    if grep -q '[@\]file' "$h"; then continue; fi
    case "$h" in
      */fiberjob.h) brief="The C API: schedulers, jobs, counters, waiting, panics, tracing and statistics." ;;
      */fiberjob_frame.h) brief="The frame allocator: a tagged linear heap with frame lifetimes." ;;
      *) brief="Part of fiberjob's public API." ;;
    esac
    printf '/**\n * @file %s\n * @brief %s\n */\n' "$(basename "$h")" "$brief"
  done
} >"$out/main.dox"

# The design page only: the other pages in docs/ are written for readers of
# the source tree and link into it.
pages=""
if [ -f docs/design.md ]; then pages=docs/design.md; fi

cat >"$out/Doxyfile" <<EOF
PROJECT_NAME           = fiberjob
PROJECT_NUMBER         = $version
PROJECT_BRIEF          = "A fiber-based job system in C11"
OUTPUT_DIRECTORY       = $out
INPUT                  = $headers $pages $out/main.dox
FILE_PATTERNS          = *.h *.hpp *.md *.dox
RECURSIVE              = NO
MARKDOWN_SUPPORT       = YES
FULL_PATH_NAMES        = YES
STRIP_FROM_PATH        = $PWD/include $PWD
STRIP_FROM_INC_PATH    = include
EXTRACT_ALL            = NO
EXTRACT_STATIC         = NO
EXTRACT_PRIVATE        = NO
EXTRACT_LOCAL_CLASSES  = NO
EXCLUDE_SYMBOLS        = fj__* FJ__* fj::detail detail FJ_HPP_EXCEPTIONS FIBERJOB_H FIBERJOB_FRAME_H FIBERJOB_HPP
ENABLE_PREPROCESSING   = YES
MACRO_EXPANSION        = YES
EXPAND_ONLY_PREDEF     = YES
PREDEFINED             = __cplusplus=201703L __cpp_exceptions=199711L __GNUC__=12 \\
                         "FJ_NORETURN=" "FJ_PRINTF(f,a)=" "FJ_ALIGNAS(n)="
SEARCH_INCLUDES        = YES
INCLUDE_PATH           = include
QUIET                  = YES
WARNINGS               = YES
WARN_IF_UNDOCUMENTED   = YES
WARN_IF_DOC_ERROR      = YES
WARN_NO_PARAMDOC       = NO
WARN_LOGFILE           = $out/warnings.log
GENERATE_HTML          = YES
HTML_OUTPUT            = html
GENERATE_TREEVIEW      = YES
GENERATE_LATEX         = NO
GENERATE_XML           = NO
SOURCE_BROWSER         = NO
HAVE_DOT               = NO
EOF

doxygen "$out/Doxyfile"

log="$out/warnings.log"
count=$(grep -c 'warning:' "$log" || true)
undocumented=$(grep -c 'is not documented' "$log" || true)
if [ "$count" -gt 0 ]; then
  sed "s|$PWD/||" "$log"
  echo "docs: $count warning(s), $undocumented about undocumented public declarations (listed above)"
  if [ "${FJ_DOCS_WARN_ONLY:-0}" != 1 ]; then
    exit 1
  fi
fi
echo "docs: $out/html/index.html"
