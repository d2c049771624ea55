/*
 * Compiler hints shared by every file: branch expectations, keeping a function
 * out of line, and the padding that keeps contended data on its own lines.
 * Nothing here changes what the code means, only how it is laid out; it needs
 * GCC or Clang (both builtins and attributes are theirs).
 */
#ifndef FJ_COMPILER_H
#define FJ_COMPILER_H

#define FJ_LIKELY(x) __builtin_expect(!!(x), 1)
#define FJ_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define FJ_NOINLINE __attribute__((noinline))
/* Tell the optimiser that x holds (undefined behaviour if it does not): only
 * for what the code around it has already established. */
#define FJ_ASSUME(x) ((x) ? (void)0 : __builtin_unreachable())
#define FJ_CACHE_PAD 128 /* adjacent-line prefetch pairs lines: pad contended data to 128 */

/* A pointer in a message: "%p" prints 0x... with glibc, but bare hex digits
 * with mingw-w64's printf; every message writes pointers the same way on
 * both (used as "counter " FJ_PTR " overflows"). */
#ifdef _WIN32
#define FJ_PTR "0x%p"
#else
#define FJ_PTR "%p"
#endif

#endif
