/*
 * Atomics with the memory order in the name, so every ordering in the library can
 * be found with grep and argued about where it is used.
 *
 * They work on plain integer and pointer objects through the GCC/Clang __atomic
 * builtins (the same operations as C11 <stdatomic.h>, which both compilers
 * implement with them). Plain types let the public fj_counter stay a C and C++
 * compatible struct, and ThreadSanitizer understands the builtins.
 */
#ifndef FJ_ATOMICS_H
#define FJ_ATOMICS_H

#include <stdint.h>
#include <stdbool.h>

#include "compiler.h"
#include "sanitize.h"

#define fj_load_relaxed(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define fj_load_acquire(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define fj_load_seq_cst(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define fj_store_relaxed(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define fj_store_release(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define fj_store_seq_cst(p, v) __atomic_store_n((p), (v), __ATOMIC_SEQ_CST)
#define fj_fetch_add_relaxed(p, v) __atomic_fetch_add((p), (v), __ATOMIC_RELAXED)
#define fj_fetch_add_acq_rel(p, v) __atomic_fetch_add((p), (v), __ATOMIC_ACQ_REL)
#define fj_fetch_add_seq_cst(p, v) __atomic_fetch_add((p), (v), __ATOMIC_SEQ_CST)
#define fj_fetch_sub_seq_cst(p, v) __atomic_fetch_sub((p), (v), __ATOMIC_SEQ_CST)
#define fj_fetch_sub_acq_rel(p, v) __atomic_fetch_sub((p), (v), __ATOMIC_ACQ_REL)
#define fj_exchange_acq_rel(p, v) __atomic_exchange_n((p), (v), __ATOMIC_ACQ_REL)
/* Compare-and-swap; on failure *expected is refreshed with the current value. */
#define fj_cas_weak_acq_rel(p, expected, desired) \
    __atomic_compare_exchange_n((p), (expected), (desired), true, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)
#define fj_cas_weak_release(p, expected, desired) \
    __atomic_compare_exchange_n((p), (expected), (desired), true, __ATOMIC_RELEASE, __ATOMIC_RELAXED)
#define fj_cas_strong_acq_rel(p, expected, desired) \
    __atomic_compare_exchange_n((p), (expected), (desired), false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)
#define fj_cas_strong_seq_cst(p, expected, desired) \
    __atomic_compare_exchange_n((p), (expected), (desired), false, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)
/* A full fence. On x86-64 a locked no-op on the top of the stack orders
 * stores before later loads as mfence does, at about half its cost (which is
 * what clang emits for a seq_cst fence; gcc emits mfence). ThreadSanitizer
 * builds keep the builtin. */
#if defined(__x86_64__) && !defined(FJ_TSAN)
#define fj_fence_seq_cst() __asm__ __volatile__("lock orq $0, (%%rsp)" ::: "memory", "cc")
#else
#define fj_fence_seq_cst() __atomic_thread_fence(__ATOMIC_SEQ_CST)
#endif
#define fj_fence_acquire() __atomic_thread_fence(__ATOMIC_ACQUIRE)
#define fj_fence_release() __atomic_thread_fence(__ATOMIC_RELEASE)

static inline void fj_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield" ::: "memory");
#else
    __asm__ __volatile__("" ::: "memory");
#endif
}

#endif
