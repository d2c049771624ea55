#!/usr/bin/env bash
# The install test (`make install-test`): build fiberjob, install it into a
# temporary prefix, and build and run a small consumer against the installed
# copy only:
#   - through its CMake package (find_package with CMAKE_PREFIX_PATH): a C-only
#     project linking fiberjob::fiberjob (static) and fiberjob::shared, then the
#     same project with a C++ program using fiberjob.hpp;
#   - through pkg-config (PKG_CONFIG_PATH): `--cflags --libs` (shared library)
#     and `--static` (the static archive, linked by the C compiler, so its C++
#     runtime must come from Libs.private);
#   - and the checks around them: the installed files, the version file
#     refusing an incompatible version, the .pc file after the prefix moved.
# Every step's output goes to a log that is shown when the step fails.
#
#   tests/install/run.sh
# Environment: CC, CXX (compilers for the library and the consumers), JOBS,
# FJ_INSTALL_TEST_CMAKE_ARGS (more options for the library's configure),
# FJ_INSTALL_TEST_KEEP=1 (keep the temporary folder).
# shellcheck disable=SC2317 # the steps are functions run through `step`
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
src=$PWD
jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}
cc=${CC:-cc}
cxx=${CXX:-c++}
work=$(mktemp -d "${TMPDIR:-/tmp}/fiberjob-install-test.XXXXXX")
if [ "${FJ_INSTALL_TEST_KEEP:-0}" = 1 ]; then
  echo "install-test: working in $work (kept)"
else
  trap 'rm -rf "$work"' EXIT
fi
prefix=$work/prefix
pass=0
fail=0

# step NAME COMMAND...: run it with its output in a log; count the result.
step() {
  local name=$1
  shift
  local log="$work/log.${name// /_}"
  if "$@" >"$log" 2>&1; then
    pass=$((pass + 1))
    echo "install-test: $name: ok"
    return 0
  fi
  fail=$((fail + 1))
  echo "install-test: $name: FAILED"
  tail -n 40 "$log" | sed 's/^/    /'
  return 1
}

finish() {
  echo "install-test: $pass passed, $fail failed"
  [ "$fail" -eq 0 ]
  exit
}

# --- the library: configure, build, install --------------------------------

build_library() {
  # shellcheck disable=SC2086 # FJ_INSTALL_TEST_CMAKE_ARGS is a list of options
  cmake -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DFIBERJOB_WERROR=ON \
    -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx" \
    -DFIBERJOB_BUILD_TESTS=OFF -DFIBERJOB_BUILD_BENCH=OFF -DFIBERJOB_BUILD_DEMO=OFF \
    -DFIBERJOB_BUILD_EXAMPLES=OFF ${FJ_INSTALL_TEST_CMAKE_ARGS:-} &&
    cmake --build "$work/build" -j"$jobs" &&
    cmake --install "$work/build" --prefix "$prefix"
}
step "build and install" build_library || finish

pcfile=$(find "$prefix" -name fiberjob.pc | head -n 1)
pcdir=$(dirname "${pcfile:-$prefix/lib/pkgconfig/fiberjob.pc}")
libdir=$(dirname "$pcdir")   # <libdir>/pkgconfig/fiberjob.pc

installed_files() {
  local missing=0
  for f in include/fiberjob.h include/fiberjob_frame.h include/fiberjob.hpp; do
    [ -f "$prefix/$f" ] || { echo "missing: $f"; missing=1; }
  done
  for f in libfiberjob.a libfiberjob.so cmake/fiberjob/fiberjobConfig.cmake \
           cmake/fiberjob/fiberjobConfigVersion.cmake cmake/fiberjob/fiberjobTargets.cmake \
           pkgconfig/fiberjob.pc; do
    [ -e "$libdir/$f" ] || { echo "missing: $libdir/$f"; missing=1; }
  done
  find "$prefix" -type f -o -type l | sort
  return "$missing"
}
step "installed files" installed_files

# --- find_package -----------------------------------------------------------

consumer=$src/tests/install/consumer

cmake_consumer() {   # cmake_consumer DIR [options]
  local dir=$1
  shift
  cmake -S "$consumer" -B "$dir" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx" "$@" &&
    cmake --build "$dir" -j"$jobs" --verbose
}

find_package_c() {
  cmake_consumer "$work/consumer-c" &&
    "$work/consumer-c/consumer_static" 2 &&
    "$work/consumer-c/consumer_shared" 2 &&
    ! (readelf -d "$work/consumer-c/consumer_static" | grep -q 'NEEDED.*libfiberjob') &&
    readelf -d "$work/consumer-c/consumer_shared" | grep -q 'NEEDED.*libfiberjob'
}
step "find_package, C (static and shared)" find_package_c

find_package_cxx() {
  cmake_consumer "$work/consumer-cxx" -DCONSUMER_CXX=ON && "$work/consumer-cxx/consumer_hpp" 2
}
step "find_package, C++ (fiberjob.hpp)" find_package_cxx

version_refused() {
  # An incompatible version must be refused by fiberjobConfigVersion.cmake.
  local out
  if out=$(cmake -S "$consumer" -B "$work/consumer-v9" -DCMAKE_PREFIX_PATH="$prefix" \
             -DCMAKE_C_COMPILER="$cc" -DFIBERJOB_WANT_VERSION=9.0 2>&1); then
    echo "$out"
    echo "find_package(fiberjob 9.0) was accepted"
    return 1
  fi
  echo "$out"
  grep -q 'compatible with requested version' <<<"$out"
}
step "find_package refuses version 9.0" version_refused

# --- pkg-config -------------------------------------------------------------

pkgconf() { PKG_CONFIG_PATH="$pcdir" pkg-config "$@" fiberjob; }

have_pkg_config() {
  command -v pkg-config >/dev/null 2>&1 && return 0
  echo "pkg-config is not installed (Debian: apt-get install pkgconf)"
  return 1
}

pkg_config_shared() {
  have_pkg_config || return 1
  pkgconf --modversion || return 1
  local cflags libs
  cflags=$(pkgconf --cflags) || return 1
  libs=$(pkgconf --libs) || return 1
  echo "pkg-config --cflags --libs: $cflags $libs"
  # shellcheck disable=SC2086 # pkg-config's output is a list of flags
  "$cc" -std=c11 -Wall -Wextra -Wpedantic -Werror $cflags "$consumer/consumer.c" \
    -o "$work/consumer-pc-shared" $libs -Wl,-rpath,"$libdir" || return 1
  readelf -d "$work/consumer-pc-shared" | grep -q 'NEEDED.*libfiberjob' &&
    "$work/consumer-pc-shared" 2
}
step "pkg-config --cflags --libs (shared)" pkg_config_shared

pkg_config_static() {
  # The static archive, with the C compiler: everything besides the archive
  # (threads, the C++ runtime) must come from Libs.private. -Bstatic picks
  # libfiberjob.a where -lfiberjob would otherwise find the .so.
  have_pkg_config || return 1
  local cflags libs
  cflags=$(pkgconf --cflags --static) || return 1
  libs=$(pkgconf --libs --static) || return 1
  echo "pkg-config --static --cflags --libs: $cflags $libs"
  libs=${libs/-lfiberjob/-Wl,-Bstatic -lfiberjob -Wl,-Bdynamic}
  # shellcheck disable=SC2086 # pkg-config's output is a list of flags
  "$cc" -std=c11 -Wall -Wextra -Wpedantic -Werror $cflags "$consumer/consumer.c" \
    -o "$work/consumer-pc-static" $libs || return 1
  ! (readelf -d "$work/consumer-pc-static" | grep -q 'NEEDED.*libfiberjob') &&
    "$work/consumer-pc-static" 2
}

step "pkg-config --static (static archive)" pkg_config_static

relocated() {
  # The .pc file finds its prefix from where it lies: move the whole prefix.
  have_pkg_config || return 1
  mv "$prefix" "$work/moved" || return 1
  local moved_pcdir=${pcdir/#$prefix/$work/moved}
  local flags
  flags=$(PKG_CONFIG_PATH="$moved_pcdir" pkg-config --cflags --libs fiberjob) || return 1
  echo "after the move: $flags"
  # shellcheck disable=SC2086
  "$cc" -std=c11 -Wall -Werror "$consumer/consumer.c" -o "$work/consumer-moved" $flags \
    -Wl,-rpath,"${libdir/#$prefix/$work/moved}" && "$work/consumer-moved" 2
  local rc=$?
  mv "$work/moved" "$prefix"
  return "$rc"
}
step "pkg-config after the prefix moved" relocated

# --- no other package needed -------------------------------------------------

no_dependency_named() {
  # Neither package file asks for another package (Requires*, find_dependency
  # of anything but Threads), and neither library refers to hwloc.
  local status=0
  cat "$pcfile"
  if grep -E '^Requires' "$pcfile"; then
    echo "fiberjob.pc requires another package"
    status=1
  fi
  if grep -n 'find_dependency' "$libdir"/cmake/fiberjob/*.cmake | grep -v 'find_dependency(Threads)'; then
    echo "the CMake package finds another dependency"
    status=1
  fi
  if grep -il hwloc "$pcfile" "$libdir"/cmake/fiberjob/*.cmake; then
    echo "an installed package file names hwloc"
    status=1
  fi
  if readelf -d "$libdir/libfiberjob.so" | grep 'NEEDED' | grep -i hwloc; then
    echo "libfiberjob.so needs hwloc"
    status=1
  fi
  if nm -u "$libdir/libfiberjob.a" 2>/dev/null | grep -i ' hwloc_'; then
    echo "libfiberjob.a refers to hwloc"
    status=1
  fi
  return "$status"
}
step "no other package named" no_dependency_named

alone_pkg_config() {
  # Only fiberjob.pc visible (PKG_CONFIG_LIBDIR replaces the system folders):
  # a Requires on any other package would fail here, shared or static.
  have_pkg_config || return 1
  local flags static
  flags=$(PKG_CONFIG_LIBDIR="$pcdir" PKG_CONFIG_PATH= pkg-config --cflags --libs fiberjob) || return 1
  static=$(PKG_CONFIG_LIBDIR="$pcdir" PKG_CONFIG_PATH= pkg-config --static --cflags --libs fiberjob) || return 1
  echo "pkg-config: $flags; --static: $static"
  static=${static/-lfiberjob/-Wl,-Bstatic -lfiberjob -Wl,-Bdynamic}
  # shellcheck disable=SC2086
  "$cc" -std=c11 -Wall -Werror "$consumer/consumer.c" -o "$work/consumer-alone" $flags \
    -Wl,-rpath,"$libdir" && "$work/consumer-alone" 2 &&
    "$cc" -std=c11 -Wall -Werror "$consumer/consumer.c" -o "$work/consumer-alone-static" $static &&
    "$work/consumer-alone-static" 2
}
step "pkg-config with fiberjob.pc alone" alone_pkg_config

alone_find_package() {
  # find_package with PkgConfig unavailable to the consumer's CMake.
  PKG_CONFIG_LIBDIR="$work/none" PKG_CONFIG_PATH= \
    cmake_consumer "$work/consumer-alone-cmake" -DCMAKE_DISABLE_FIND_PACKAGE_PkgConfig=ON &&
    "$work/consumer-alone-cmake/consumer_static" 2 &&
    "$work/consumer-alone-cmake/consumer_shared" 2
}
step "find_package without PkgConfig" alone_find_package

finish
