/*
 * The operating system behind one small contract: threads and affinity, futexes,
 * memory mappings, alternate signal stacks and the fault handler, and time. One
 * implementation file per OS (os_linux.c); no other file of the library includes
 * an OS header (pthread's portable types and mutexes excepted).
 *
 * Return convention: a call that can fail returns 0 or a negative errno, unless
 * its comment says otherwise (a pointer is NULL on failure, a bool false).
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

/* Memory: private anonymous mappings, sizes and addresses in whole pages. */
/* Reserve address space, inaccessible and not committed; NULL on failure. */
void *fj__os_reserve(size_t size);
/* Make part of a reservation read-write (committed as it is touched); 0 or a negative errno. */
int fj__os_commit(void *lo, size_t size);
/* fiber.c's name for fj__os_commit (a fiber stack is committed on first use). */
static inline int fj__os_stack_commit(void *lo, size_t size) { return fj__os_commit(lo, size); }
/* Map read-write memory, committed as it is touched; NULL on failure. */
void *fj__os_map(size_t size);
/* Unmap the whole of what fj__os_reserve or fj__os_map returned. */
void fj__os_release(void *p, size_t size);
/* The size of a page (read once, then remembered). */
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
