/*
 * The operating system behind one small contract: threads and affinity, futexes,
 * stacks with guard pages, and time. One implementation file per OS (os_linux.c).
 */
#ifndef FJ_OS_H
#define FJ_OS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>

/* CPUs the process may run on, in ascending order; returns their number (<= max). */
int fj__os_allowed_cpus(int *cpus, int max);
/* Pin the calling thread to one CPU; 0 or a negative errno. */
int fj__os_pin_self(int cpu);
/* Start a thread with a small stack (the worker's loop runs on fibers), pinned
 * from birth to `cpu` unless it is negative. */
int fj__os_thread_start(pthread_t *t, void *(*fn)(void *), void *arg, int cpu);

/* Sleep while *addr == expected (spurious returns allowed); wake up to n sleepers. */
void fj__os_futex_wait(uint32_t *addr, uint32_t expected);
int fj__os_futex_wake(uint32_t *addr, int n); /* returns how many were woken */
/* The same with a limit: returns false when the time ran out. */
bool fj__os_futex_wait_ns(uint32_t *addr, uint32_t expected, uint64_t ns);

/* Reserve address space (PROT_NONE, nothing committed); commit part of it
 * read-write (memory is still only committed as it is touched); release it. */
void *fj__os_reserve(size_t size);
int fj__os_stack_commit(void *lo, size_t size);
void fj__os_release(void *p, size_t size);

size_t fj__os_page_size(void);

/* Can the process make `need` more memory mappings under the kernel's limit
 * (vm.max_map_count)? True when the limit cannot be read. */
bool fj__os_mappings_fit(uint64_t need);

uint64_t fj__os_now_ns(void);
/* Sleep the calling thread for about `ns` nanoseconds; give up the CPU once. */
void fj__os_sleep_ns(uint64_t ns);
void fj__os_yield(void);

/* The calling thread's own stack (lowest address and size); false, with both
 * left untouched, when the OS cannot say. */
bool fj__os_thread_stack(void **lo, size_t *size);
/* Save the calling thread's CPU affinity (NULL when it cannot be read or there
 * is no memory); restore it and free the saved copy. */
void *fj__os_affinity_save(void);
void fj__os_affinity_restore(void *saved);

#endif
