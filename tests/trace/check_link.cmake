# What a static program links of the trace writers (issue 13, item 4).
#
#   cmake -DNM=nm -DPROG=program -DPRESENT=a,b -DABSENT=c -DOUT=file
#         -DOUT_START=text [-DTRACE_ENV=ON] [-DEMULATOR=cmd,arg,...] -P check_link.cmake
#
# Checks with nm that PROG defines every symbol of PRESENT and none of
# ABSENT, then runs it, with FIBERJOB_TRACE=OUT when TRACE_ENV is set and
# with OUT as its argument otherwise, and checks that OUT starts with
# OUT_START; through EMULATOR when it is set (a cross build's qemu). PRESENT holds symbols the program must have (fj_create, the JSON
# writer), so that an nm that sees nothing cannot pass the ABSENT check.
cmake_minimum_required(VERSION 3.16)
foreach(var NM PROG OUT OUT_START)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "check_link.cmake: ${var} is not set")
  endif()
endforeach()
# Comma-separated on the command line: a ';' does not survive add_test.
string(REPLACE "," ";" PRESENT "${PRESENT}")
string(REPLACE "," ";" ABSENT "${ABSENT}")
string(REPLACE "," ";" EMULATOR "${EMULATOR}")

execute_process(COMMAND ${NM} --defined-only ${PROG}
  OUTPUT_VARIABLE syms ERROR_VARIABLE err RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${NM} ${PROG} failed (${rc}): ${err}")
endif()
set(failed "")
foreach(sym ${PRESENT})
  if(NOT syms MATCHES "[ \t]${sym}\n")
    string(APPEND failed "  ${sym} is not linked, and it must be\n")
  endif()
endforeach()
foreach(sym ${ABSENT})
  if(syms MATCHES "[ \t]${sym}\n")
    string(APPEND failed "  ${sym} is linked, and it must not be\n")
  endif()
endforeach()
if(failed)
  message(FATAL_ERROR "${PROG}:\n${failed}")
endif()

file(REMOVE ${OUT})
if(TRACE_ENV)
  execute_process(COMMAND ${CMAKE_COMMAND} -E env FIBERJOB_TRACE=${OUT} ${EMULATOR} ${PROG} RESULT_VARIABLE rc)
else()
  execute_process(COMMAND ${EMULATOR} ${PROG} ${OUT} RESULT_VARIABLE rc)
endif()
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${PROG} exited with ${rc}")
endif()
if(NOT EXISTS ${OUT})
  message(FATAL_ERROR "${PROG} did not write ${OUT}")
endif()
# Not file(READ ... LIMIT): here (CMake 3.25) a short read of a file with a
# newline further on came back with a newline at its end.
file(READ ${OUT} content)
file(REMOVE ${OUT})
string(FIND "${content}" "${OUT_START}" at)
if(NOT at EQUAL 0)
  string(SUBSTRING "${content}" 0 40 head)
  message(FATAL_ERROR "${OUT} starts with '${head}', not '${OUT_START}'")
endif()
message(STATUS "${PROG}: links ${PRESENT}, not ${ABSENT}; wrote ${OUT_START}...")
