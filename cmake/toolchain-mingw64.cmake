# Cross-compile fiberjob for Windows x64 with Debian's mingw-w64 (gcc, the
# -posix flavour: winpthreads gives <pthread.h>) and run the tests under Wine
# (ctest prepends CMAKE_CROSSCOMPILING_EMULATOR, tools/wine-run.sh, to every
# test whose command is a target built here).
#
#   cmake -S . -B build-windows -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-mingw64.cmake
#
# Debian packages: mingw-w64 (gcc-mingw-w64-x86-64-posix, g++-mingw-w64-x86-64-posix)
# and wine64. tools/windows.sh drives the whole thing; see docs/windows.md.
#
# Programs are linked -static: no libwinpthread-1.dll, libgcc or libstdc++ DLL
# to find at run time, under Wine or on a Windows machine.
#
# Overrides (environment, so they also reach CMake's try_compile projects):
#   FJ_MINGW_PREFIX  compiler prefix   (default x86_64-w64-mingw32-)
#   FJ_MINGW_FLAVOR  compiler suffix   (default -posix; "" for the plain names)
#   FJ_WINEPREFIX    the Wine prefix the tests run in (default: wineprefix in
#                    the build directory, created on first use)

set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR AMD64)

if(DEFINED ENV{FJ_MINGW_PREFIX})
  set(_fj_prefix "$ENV{FJ_MINGW_PREFIX}")
else()
  set(_fj_prefix x86_64-w64-mingw32-)
endif()
if(DEFINED ENV{FJ_MINGW_FLAVOR})
  set(_fj_flavor "$ENV{FJ_MINGW_FLAVOR}")
else()
  set(_fj_flavor -posix)
endif()

set(CMAKE_C_COMPILER ${_fj_prefix}gcc${_fj_flavor})
set(CMAKE_ASM_COMPILER ${_fj_prefix}gcc${_fj_flavor})
# Named always, so that check_language(CXX) never finds the host's g++.
set(CMAKE_CXX_COMPILER ${_fj_prefix}g++${_fj_flavor})
set(CMAKE_RC_COMPILER ${_fj_prefix}windres)
set(CMAKE_AR ${_fj_prefix}ar CACHE FILEPATH "")
set(CMAKE_RANLIB ${_fj_prefix}ranlib CACHE FILEPATH "")
set(CMAKE_STRIP ${_fj_prefix}strip CACHE FILEPATH "")

# C99 printf and scanf (%zu, %llu) from mingw-w64's own implementation rather
# than msvcrt's.
set(CMAKE_C_FLAGS_INIT "-D__USE_MINGW_ANSI_STDIO=1")
set(CMAKE_CXX_FLAGS_INIT "-D__USE_MINGW_ANSI_STDIO=1")
set(CMAKE_EXE_LINKER_FLAGS_INIT "-static")
set(CMAKE_SHARED_LINKER_FLAGS_INIT "-static")

set(CMAKE_FIND_ROOT_PATH /usr/x86_64-w64-mingw32)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# Wine, headless and quiet (tools/wine-run.sh).
if(DEFINED ENV{FJ_WINEPREFIX} AND NOT "$ENV{FJ_WINEPREFIX}" STREQUAL "")
  set(_fj_wineprefix "$ENV{FJ_WINEPREFIX}")
else()
  set(_fj_wineprefix "${CMAKE_BINARY_DIR}/wineprefix")
endif()
set(CMAKE_CROSSCOMPILING_EMULATOR "${CMAKE_CURRENT_LIST_DIR}/../tools/wine-run.sh;--prefix;${_fj_wineprefix}"
  CACHE STRING "Runs Windows programs on the build host (ctest uses it)" FORCE)
