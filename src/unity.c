/*
 * The library's runtime as one translation unit (FIBERJOB_UNITY, on by
 * default): the per-job path crosses worker.c, steal.c, batch.c, counter.c,
 * deque.c, fiber.c and panic.c, and split into files it would pay a call at
 * every crossing. The files are included lowest layer first (sched.c's top
 * comment has the map). Built
 * as one unit, the compiler inlines across them as if they were one file,
 * while each stays its own file to read and review. The separate files build
 * on their own as well (-DFIBERJOB_UNITY=OFF; CI builds that way with clang),
 * so none may lean on what another file's includes brought in.
 *
 * Not included: the trace writers (their own objects, linked only when used),
 * the frame allocator, the context switch and the C++
 * boundary (their own languages or build options).
 */
#define FJ_UNITY_BUILD 1

/* The OS layer, below every other file: one or two files per OS (os.h; on
 * Windows the crash path has a file of its own). Named through macros so that
 * the list of #include lines below, which CMakeLists.txt and
 * tools/check_layers.sh read, is the same on every OS; CMakeLists.txt checks
 * the macros' files too. */
#if defined(_WIN32)
#define FJ_OS_SOURCE "os_windows.c"
#define FJ_OS_SOURCE2 "os_windows_fault.c"
#else
#define FJ_OS_SOURCE "os_linux.c"
#endif
#include FJ_OS_SOURCE
#ifdef FJ_OS_SOURCE2
#include FJ_OS_SOURCE2
#endif
#include "deque.c"
#include "topology.c"
#include "runtime.c"
#include "trace.c"
#include "fiber.c"
#include "hooks.c"
#include "panic.c"
#include "overflow.c"
#include "pinned.c"
#include "wake.c"
#include "record.c"
#include "timer.c"
#include "counter.c"
#include "cancel.c"
#include "batch.c"
#include "steal.c"
#include "deadlock.c"
#include "idle.c"
#include "lend.c"
#include "worker.c"
#include "drain.c"
#include "enter.c"
#include "segment.c"
#include "wait.c"
#include "mutex.c"
#include "submit.c"
#include "handle.c"
#include "sched.c"
#include "parallel.c"
