/*
 * The operating system behind one small contract: threads and affinity, futexes,
 * memory mappings, alternate signal stacks and the fault handler, topology, and
 * time. One implementation file per OS (os_linux.c, os_windows.c: Windows x64
 * with mingw-w64 and winpthreads); no other file of the library includes an OS
 * header (pthread's portable types and mutexes excepted).
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

/* CPUs the process may run on, in ascending order; returns their number (<= max).
 * Windows numbers CPU k as processor k % 64 of processor group k / 64. */
int fj__os_allowed_cpus(int *cpus, int max);
/* Pin the calling thread to one CPU; 0 or a negative errno. */
int fj__os_pin_self(int cpu);
/* Start a thread with a small stack (the worker's loop runs on fibers), pinned
 * from birth to `cpu` unless it is negative; 0 or a negative errno. */
int fj__os_thread_start(pthread_t *t, void *(*fn)(void *), void *arg, int cpu);
/* Name the calling thread for debuggers and profilers (at most 15 characters
 * are kept); a name the OS refuses is left out silently. */
void fj__os_thread_name_self(const char *name);

/* Sleep while *addr == expected (spurious returns allowed). */
void fj__os_futex_wait(uint32_t *addr, uint32_t expected);
/* Wake up to n sleepers on addr; returns how many were woken: 0 exactly when no
 * thread was inside a wait on addr (wake.c relies on both sides of that). The
 * caller changes *addr before the wake. */
int fj__os_futex_wake(uint32_t *addr, int n);
/* fj__os_futex_wait with a limit: returns false when the time ran out. */
bool fj__os_futex_wait_ns(uint32_t *addr, uint32_t expected, uint64_t ns);

/* Memory: private anonymous mappings, sizes and addresses in whole pages. */
/* Reserve address space, inaccessible and not committed; NULL on failure. */
void *fj__os_reserve(size_t size);
/* Make part of a reservation read-write (committed as it is touched); 0 or a negative errno. */
int fj__os_commit(void *lo, size_t size);
/* Arm the page right below a stack made usable with fj__os_commit, so that a
 * use of the stack past its end is caught, with room left for the report; 0 or
 * a negative errno. *below is set to how many bytes under lo the thread
 * information block must count as the stack's (its DeallocationStack is lo -
 * *below: fj__ctx_make's guard argument). Linux: nothing to do and 0 (the gap
 * below stays inaccessible and the fault handler runs on the alternate signal
 * stack). Windows: a guard page (PAGE_GUARD) under lo and two reserved pages
 * under it, which the system's stack growth sees as the end of the stack: the
 * first touch of the guard page raises its stack overflow exception, with the
 * guard page as room to deliver it (os_windows.c). */
int fj__os_stack_guard(void *lo, size_t *below);
/* Map read-write memory, committed as it is touched; NULL on failure. */
void *fj__os_map(size_t size);
/* Unmap the whole of what fj__os_reserve or fj__os_map returned. */
void fj__os_release(void *p, size_t size);
/* The size of a page (read once, then remembered). */
size_t fj__os_page_size(void);
/* Heap memory aligned to `align` (a power of two), size a multiple of it
 * (C11's aligned_alloc; Windows' C runtime has _aligned_malloc instead); NULL
 * on failure. Freed only with fj__os_aligned_free. */
void *fj__os_aligned_alloc(size_t align, size_t size);
void fj__os_aligned_free(void *p);

/* An alternate stack: where the fault handler runs when a thread's own stack
 * is used up (Linux: the alternate signal stack; Windows: the vectored
 * exception handler switches onto it). The caller maps it (fj__os_map) and
 * sets base and size; enter and leave fill in the rest, keeping the thread's
 * previous one. */
typedef struct fj__os_altstack {
    void *base;
    size_t size;
    void *prev_base;            /* the thread's alternate stack before enter */
    size_t prev_size;
    int prev_flags;
    bool active;                /* entered and not yet left */
    bool in_handler;            /* Windows: the fault handler runs on it now */
    void *fault_sp[2];          /* Windows: the switch onto it and back (os_windows.c) */
    struct fj__os_altstack *prev; /* Windows: the thread's one before enter */
} fj__os_altstack;
/* Make a's stack the calling thread's alternate signal stack; 0 or a negative errno. */
int fj__os_altstack_enter(fj__os_altstack *a);
/* Give the calling thread back the alternate stack it had before enter (nothing if enter failed). */
void fj__os_altstack_leave(fj__os_altstack *a);

/* Called on the thread that made a memory access fault (Linux: SIGSEGV or
 * SIGBUS raised by the hardware, not sent with kill, raise or sigqueue, on its
 * alternate stack; Windows: an access violation or stack overflow, from a
 * vectored exception handler, for now on the faulting stack), with the
 * faulting address. It either does not return, or returns and the fault goes
 * on to the handler installed before ours (or gets the default action). */
typedef void (*fj__os_fault_fn)(void *addr);
/* Install fn as the fault handler, counted: the first call installs, later
 * ones (same fn) count; 0 or a negative errno. */
int fj__os_fault_install(fj__os_fault_fn fn);
/* Undo one install; the last puts back the previous handlers, unless the program has replaced ours since. */
void fj__os_fault_uninstall(void);
/* Write a string to standard error with one async-signal-safe call. */
void fj__os_write_stderr(const char *s);
/* End the process at once, as abort() does: Linux, with SIGABRT, even if the
 * program catches or ignores it; Windows, with exit code 3 and no dialog or
 * message (TerminateProcess). */
_Noreturn void fj__os_abort(void);

/* Can the process make `need` more memory mappings under the kernel's limit
 * (Linux: vm.max_map_count)? True when the limit cannot be read or there is
 * none (Windows). */
bool fj__os_mappings_fit(uint64_t need);

/* A monotonic clock, in nanoseconds. */
uint64_t fj__os_now_ns(void);
/* Sleep the calling thread for about `ns` nanoseconds. */
void fj__os_sleep_ns(uint64_t ns);
/* Give up the CPU once. */
void fj__os_yield(void);

/* The calling thread's own stack (lowest address and size); false, with both
 * left untouched, when the OS cannot say. */
bool fj__os_thread_stack(void **lo, size_t *size);
/* A thread's saved CPU affinity, in the caller's storage (no allocation:
 * large enough for the OS's set; os_linux.c checks that). */
typedef struct fj__os_affinity {
    uint64_t bits[16];
} fj__os_affinity;
/* Save the calling thread's CPU affinity into *out (false when it cannot be read). */
bool fj__os_affinity_save(fj__os_affinity *out);
/* Restore an affinity fj__os_affinity_save saved. */
void fj__os_affinity_restore(const fj__os_affinity *saved);

/* Where a CPU sits in the machine, as the OS's own topology query says. */
typedef struct fj__os_cpu_place {
    int core;       /* the lowest CPU of its physical core (SMT siblings share it) */
    int llc;        /* the lowest CPU sharing its last-level cache; -1: no cache listed */
    int package;    /* its package, numbered from 0 (used when llc is -1) */
    int perf;       /* higher is faster (Windows: EfficiencyClass); 0 when all are alike */
} fj__os_cpu_place;
/* Fill out[i] for cpus[i]; false when this OS has no such query (Linux:
 * topology.c reads /sys itself). */
bool fj__os_topology(const int *cpus, int n, fj__os_cpu_place *out);

#endif
