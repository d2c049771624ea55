#!/usr/bin/env bash
# Run a Windows program under Wine, headless and quiet: the emulator ctest
# puts before every test of a Windows build (cmake/toolchain-mingw64.cmake).
#
#   tools/wine-run.sh [--prefix DIR] PROGRAM.exe [ARGS...]
#
# The prefix is DIR, else $WINEPREFIX, else Wine's default (~/.wine). A prefix
# that does not exist yet is created first, once, under a lock (about 15 s;
# tools/windows.sh creates it before the tests and keeps a wineserver running,
# so each program then starts in a few tens of milliseconds). The program's
# exit code is the script's (Wine passes it on: abort() and fj__os_abort are 3);
# a non-zero one is also printed on stderr.
set -u
if [ "${1:-}" = --prefix ]; then
  export WINEPREFIX=$2
  shift 2
fi
export WINEDEBUG=${FJ_WINEDEBUG:--all}
# No Mono or Gecko installer dialogs when a prefix is created; no display.
export WINEDLLOVERRIDES=${WINEDLLOVERRIDES:-"mscoree,mshtml=;winedbg.exe=d"}
unset DISPLAY WAYLAND_DISPLAY
wine=$(command -v wine64 || true)
[ -n "$wine" ] || { [ -x /usr/lib/wine/wine64 ] && wine=/usr/lib/wine/wine64; }
[ -n "$wine" ] || wine=$(command -v wine || true)
[ -n "$wine" ] || { echo "wine-run: wine64 not found (Debian package wine64)" >&2; exit 127; }
if [ -n "${WINEPREFIX:-}" ] && [ ! -f "$WINEPREFIX/system.reg" ]; then
  mkdir -p "$(dirname "$WINEPREFIX")"
  (
    flock 9
    if [ ! -f "$WINEPREFIX/system.reg" ]; then
      "$wine" wineboot -i >/dev/null 2>&1
      wineserver -w 2>/dev/null || true
    fi
  ) 9>"$WINEPREFIX.lock"
fi
"$wine" "$@"
rc=$?
# A failure says how the program ended: a crash's code (5 for an access
# violation, Wine's low byte of 0xc0000005) or the program's own exit code,
# so a failed test that printed nothing still tells something. The tests'
# unhandled-exception filter (tests/lib/test.h) prints the code in full.
[ $rc -eq 0 ] || echo "wine-run: $(basename "$1") ended with exit code $rc" >&2
exit $rc
