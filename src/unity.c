/*
 * The library's runtime as one translation unit (FIBERJOB_UNITY, on by
 * default): the per-job path crosses sched.c, counter.c, deque.c, fiber.c and
 * panic.c, and split into files it would pay a call at every crossing. Built
 * as one unit, the compiler inlines across them as if they were one file,
 * while each stays its own file to read and review. The separate files build
 * on their own as well (-DFIBERJOB_UNITY=OFF; CI builds that way with clang),
 * so none may lean on what another file's includes brought in.
 *
 * Not included: the trace writers (their own objects, linked only when used),
 * the frame allocator, the hwloc reader, the context switch and the C++
 * boundary (their own languages or build options).
 */
#include "sched.c"
#include "counter.c"
#include "deque.c"
#include "fiber.c"
#include "panic.c"
#include "parallel.c"
#include "topology.c"
#include "trace.c"
#include "os_linux.c"
