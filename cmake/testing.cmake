# How a test is registered: the one place for test names, worker counts,
# labels and time limits (included by the top-level CMakeLists.txt before the
# tests/ folders).
#
#   fj_add_test(NAME area.name
#               SOURCES file...          build a program from these (C or C++)
#               | COMMAND cmd arg...     or run this; {workers} becomes the count
#               [ARGS arg...]            after the worker count, for SOURCES
#               [ONCE]                   register once, without a worker count
#               [WORKERS n...]           default: FJ_TEST_WORKERS (1 2 8)
#               [TIMEOUT seconds]        default 60, times FJ_TEST_TIMEOUT_SCALE
#               [INTERNAL]               the program sees src/ (library internals)
#               [LIBRARIES lib...] [COMPILE_OPTIONS opt...] [PROPERTIES prop value...])
#
# A test that may skip itself exits 77 and says so with PROPERTIES
# SKIP_RETURN_CODE 77 (the gdb test). On Windows every test has it: a test
# or part that needs what Windows lacks calls test_skip (tests/lib/test.h),
# which prints the reason and exits 77, and ctest reports it as skipped.
#
# Windows (a mingw-w64 cross build, run under Wine through
# CMAKE_CROSSCOMPILING_EMULATOR): tests/lib/test.h makes children by
# spawning the program again (no fork); tests driven by host tools (gdb,
# python, checks of the source tree) are not registered there (see each
# tests/ folder).
#
# Names: `area.name.wN` for each worker count N (the program gets N as its
# first argument), `area.name` for a test registered ONCE. The area is the
# test's folder under tests/ and its ctest LABEL: `ctest -L failure` runs the
# failure tests, `ctest -R '\.w2$'` every test once with 2 workers. A SOURCES
# test's program is the target `area_name` (dots become underscores), built
# into its folder of the build tree.
#
# Time limits only catch hangs (tests never check speed). Every limit is set
# here, scaled by one factor for slow builds: FIBERJOB_TEST_TIMEOUT_SCALE, by
# default 3 under AddressSanitizer or UBSan, 5 under ThreadSanitizer, 10 in a
# Valgrind build, else 1 (tools/aarch64.sh sets it for emulation). `ctest
# --timeout` cannot do this: a test's TIMEOUT property takes precedence over it.

set(FJ_TEST_WORKERS 1 2 8)
set(FJ_TEST_DEFAULT_TIMEOUT 60)

set(FIBERJOB_TEST_TIMEOUT_SCALE "" CACHE STRING
  "Multiply every test's TIMEOUT by this (empty: 3 under address/undefined, 5 under thread, 10 with FIBERJOB_VALGRIND, else 1)")
if(NOT FIBERJOB_TEST_TIMEOUT_SCALE STREQUAL "")
  set(FJ_TEST_TIMEOUT_SCALE ${FIBERJOB_TEST_TIMEOUT_SCALE})
elseif(FIBERJOB_SANITIZE STREQUAL "thread")
  set(FJ_TEST_TIMEOUT_SCALE 5)
elseif(FIBERJOB_SANITIZE STREQUAL "address" OR FIBERJOB_SANITIZE STREQUAL "undefined")
  set(FJ_TEST_TIMEOUT_SCALE 3)
elseif(FIBERJOB_VALGRIND)
  set(FJ_TEST_TIMEOUT_SCALE 10)
else()
  set(FJ_TEST_TIMEOUT_SCALE 1)
endif()
if(NOT FJ_TEST_TIMEOUT_SCALE MATCHES "^[1-9][0-9]*$")
  message(FATAL_ERROR "FIBERJOB_TEST_TIMEOUT_SCALE must be a positive whole number")
endif()
if(NOT FJ_TEST_TIMEOUT_SCALE EQUAL 1)
  message(STATUS "fiberjob tests: time limits x${FJ_TEST_TIMEOUT_SCALE}")
endif()

function(fj_add_test)
  cmake_parse_arguments(T "ONCE;INTERNAL" "NAME;TIMEOUT"
    "SOURCES;COMMAND;ARGS;WORKERS;LIBRARIES;COMPILE_OPTIONS;PROPERTIES" ${ARGN})
  if(NOT T_NAME MATCHES "^([a-z0-9]+)\\.([a-z0-9_]+)$")
    message(FATAL_ERROR "fj_add_test: NAME '${T_NAME}' is not area.name")
  endif()
  set(area ${CMAKE_MATCH_1})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT ${FJ_TEST_DEFAULT_TIMEOUT})
  endif()
  math(EXPR timeout "${T_TIMEOUT} * ${FJ_TEST_TIMEOUT_SCALE}")
  if(NOT T_WORKERS)
    set(T_WORKERS ${FJ_TEST_WORKERS})
  endif()

  if(T_SOURCES)
    string(REPLACE "." "_" exe ${T_NAME})
    add_executable(${exe} ${T_SOURCES})
    target_link_libraries(${exe} PRIVATE fiberjob::fiberjob Threads::Threads ${T_LIBRARIES})
    target_include_directories(${exe} PRIVATE ${PROJECT_SOURCE_DIR}/tests/lib)
    target_compile_options(${exe} PRIVATE ${FJ_WARN} ${T_COMPILE_OPTIONS})
    target_compile_definitions(${exe} PRIVATE $<$<COMPILE_LANGUAGE:C>:_GNU_SOURCE>)
    # The child processes' time limits (tests/lib/test.h) scale with the rest.
    target_compile_definitions(${exe} PRIVATE FJ_TEST_TIMEOUT_SCALE=${FJ_TEST_TIMEOUT_SCALE})
    # What the library was built with, for tests whose expectations depend on it.
    if(FIBERJOB_CHECK_FPU STREQUAL "")
      target_compile_definitions(${exe} PRIVATE $<$<NOT:$<CONFIG:Release>>:FJ_TEST_LIB_CHECKS_FPU=1>)
    elseif(FIBERJOB_CHECK_FPU)
      target_compile_definitions(${exe} PRIVATE FJ_TEST_LIB_CHECKS_FPU=1)
    endif()
    if(FIBERJOB_SAVE_FPU)
      target_compile_definitions(${exe} PRIVATE FJ_TEST_LIB_SAVES_FPU=1)
    endif()
    if(FJ_HAVE_CXX)
      target_compile_definitions(${exe} PRIVATE FJ_TEST_LIB_CXX_BOUNDARY=1)
    endif()
    if(T_INTERNAL)
      target_include_directories(${exe} PRIVATE ${PROJECT_SOURCE_DIR}/src)
      if(FIBERJOB_CONTEXT STREQUAL "ucontext")
        target_compile_definitions(${exe} PRIVATE FJ_CTX_UCONTEXT=1)
      endif()
    endif()
    set(T_COMMAND ${exe})
    set(args {workers} ${T_ARGS})
  elseif(T_COMMAND)
    set(args "")
  else()
    message(FATAL_ERROR "fj_add_test(${T_NAME}): SOURCES or COMMAND is needed")
  endif()

  if(T_ONCE)
    set(names ${T_NAME})
  else()
    set(names "")
    foreach(n ${T_WORKERS})
      list(APPEND names ${T_NAME}.w${n})
    endforeach()
  endif()
  foreach(name ${names})
    if(T_ONCE)
      set(cmd ${T_COMMAND} ${T_ARGS})
      list(FILTER cmd EXCLUDE REGEX "^{workers}$")
    else()
      string(REGEX REPLACE ".*\\.w" "" n ${name})
      set(cmd ${T_COMMAND} ${args})
      list(TRANSFORM cmd REPLACE "{workers}" ${n})
    endif()
    add_test(NAME ${name} COMMAND ${cmd})
    set_tests_properties(${name} PROPERTIES TIMEOUT ${timeout} LABELS ${area} ${T_PROPERTIES})
    if(WIN32)
      set_tests_properties(${name} PROPERTIES SKIP_RETURN_CODE 77)
    endif()
  endforeach()
endfunction()
