# Cross-compile fiberjob for AArch64 Linux with Debian's gcc-aarch64-linux-gnu and
# run the tests under qemu-user (ctest prepends CMAKE_CROSSCOMPILING_EMULATOR to
# every test whose command is a target built here).
#
#   cmake -S . -B build-aarch64 -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-aarch64.cmake
#
# Debian packages: gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user, and
# g++-aarch64-linux-gnu for the optional C++ exception boundary.
# tools/aarch64.sh drives the whole thing; see docs/aarch64.md.
#
# Overrides (environment, so they also reach CMake's try_compile projects):
#   FJ_AARCH64_PREFIX  compiler prefix   (default aarch64-linux-gnu-)
#   FJ_AARCH64_SYSROOT target libraries  (default /usr/aarch64-linux-gnu)
#   FJ_QEMU_AARCH64    emulator          (default qemu-aarch64 from PATH)
#   FJ_QEMU_CPU        qemu -cpu model   (default: qemu's own, "max")

set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

if(DEFINED ENV{FJ_AARCH64_PREFIX})
  set(_fj_prefix "$ENV{FJ_AARCH64_PREFIX}")
else()
  set(_fj_prefix aarch64-linux-gnu-)
endif()
if(DEFINED ENV{FJ_AARCH64_SYSROOT})
  set(_fj_sysroot "$ENV{FJ_AARCH64_SYSROOT}")
else()
  set(_fj_sysroot /usr/aarch64-linux-gnu)
endif()

set(CMAKE_C_COMPILER ${_fj_prefix}gcc)
set(CMAKE_ASM_COMPILER ${_fj_prefix}gcc)
# Always name the cross C++ compiler: left unset, check_language(CXX) would find
# the host's g++ and mix x86-64 objects into the library. Without the package
# (g++-aarch64-linux-gnu) the check fails and the C++ parts are simply left out.
set(CMAKE_CXX_COMPILER ${_fj_prefix}g++)
set(CMAKE_AR ${_fj_prefix}ar CACHE FILEPATH "")
set(CMAKE_RANLIB ${_fj_prefix}ranlib CACHE FILEPATH "")
set(CMAKE_STRIP ${_fj_prefix}strip CACHE FILEPATH "")

# Debian's cross toolchain finds its own headers and libraries; this only keeps
# find_* from picking up the host's (x86-64) libraries and headers.
set(CMAKE_FIND_ROOT_PATH ${_fj_sysroot})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

if(DEFINED ENV{FJ_QEMU_AARCH64})
  set(_fj_qemu "$ENV{FJ_QEMU_AARCH64}")
else()
  find_program(_fj_qemu NAMES qemu-aarch64 qemu-aarch64-static)
endif()
if(NOT _fj_qemu)
  message(WARNING "qemu-aarch64 not found (Debian package qemu-user): tests cannot run")
else()
  set(_fj_emu ${_fj_qemu})
  if(DEFINED ENV{FJ_QEMU_CPU} AND NOT "$ENV{FJ_QEMU_CPU}" STREQUAL "")
    list(APPEND _fj_emu -cpu "$ENV{FJ_QEMU_CPU}")
  endif()
  # -L: where the emulated program's dynamic loader and libc live.
  list(APPEND _fj_emu -L ${_fj_sysroot})
  set(CMAKE_CROSSCOMPILING_EMULATOR ${_fj_emu} CACHE STRING
    "Runs AArch64 programs on the build host (ctest uses it)" FORCE)
endif()
