# The trace writers (src/trace/) see the runtime only through src/trace.h and
# the public header, never through internal.h (issue 13, item 4): every
# quoted #include in src/trace/ must name one of ALLOWED.
#
#   cmake -DSRC=<source dir> -P check_includes.cmake
cmake_minimum_required(VERSION 3.16)
set(ALLOWED model.h text.h svg.h trace.h fiberjob.h)
if(NOT DEFINED SRC)
  message(FATAL_ERROR "check_includes.cmake: SRC is not set")
endif()
file(GLOB files ${SRC}/src/trace/*.c ${SRC}/src/trace/*.h)
if(NOT files)
  message(FATAL_ERROR "no files in ${SRC}/src/trace")
endif()
set(failed "")
foreach(f ${files})
  file(STRINGS ${f} lines REGEX "^[ \t]*#[ \t]*include[ \t]*\"")
  foreach(line ${lines})
    string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]*\"([^\"]*)\".*" "\\1" name "${line}")
    if(NOT name IN_LIST ALLOWED)
      string(APPEND failed "  ${f}: #include \"${name}\"\n")
    endif()
  endforeach()
endforeach()
if(failed)
  message(FATAL_ERROR "src/trace/ includes what it must not (allowed: ${ALLOWED}):\n${failed}")
endif()
