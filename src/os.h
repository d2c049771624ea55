/*
 * The operating system behind one small contract: threads and affinity, futexes,
 * memory mappings, alternate signal stacks and the fault handler, topology, and
 * time. One implementation file per OS (os_linux.c, os_windows.c: Windows x64
 * with mingw-w64); no other file of the library includes an OS header.
 *
 * Threads, mutexes and thread-locals come from here too, not from <pthread.h>
 * and __thread: on Windows those allocate with the C library's malloc behind
 * the library's back (winpthreads' thread records and mutexes, libgcc's
 * emulated TLS), which fj_config.allocator and the frame allocator's "nothing
 * after warm-up" promise forbid. On Linux they are pthread's and __thread
 * themselves, inline (nothing changes there).
 *
 * Return convention: a call that can fail returns 0 or a negative errno, unless
 * its comment says otherwise (a pointer is NULL on failure, a bool false).
 */
#ifndef FJ_OS_H
#define FJ_OS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#ifndef _WIN32
#include <pthread.h>
#endif

/* A mutex for the library's own short critical sections (not fj_mutex: it
 * blocks the OS thread). Linux: pthread_mutex_t; Windows: an SRWLOCK (one
 * pointer, statically initialised to zero, never allocates: os_windows.c
 * checks the size). Not recursive. FJ__OS_MUTEX_INIT initialises a static
 * one; fj__os_mutex_init one in other memory. */
#ifdef _WIN32
typedef struct fj__os_mutex {
    void *srw;
} fj__os_mutex;
#define FJ__OS_MUTEX_INIT { 0 }
void fj__os_mutex_lock(fj__os_mutex *m);
void fj__os_mutex_unlock(fj__os_mutex *m);
static inline void fj__os_mutex_init(fj__os_mutex *m) { m->srw = 0; }
static inline void fj__os_mutex_destroy(fj__os_mutex *m) { (void)m; }
#else
typedef pthread_mutex_t fj__os_mutex;
#define FJ__OS_MUTEX_INIT PTHREAD_MUTEX_INITIALIZER
static inline void fj__os_mutex_init(fj__os_mutex *m) { pthread_mutex_init(m, NULL); }
static inline void fj__os_mutex_destroy(fj__os_mutex *m) { pthread_mutex_destroy(m); }
static inline void fj__os_mutex_lock(fj__os_mutex *m) { pthread_mutex_lock(m); }
static inline void fj__os_mutex_unlock(fj__os_mutex *m) { pthread_mutex_unlock(m); }
#endif

/* A thread-local variable of the library: a pointer or an integer, zero in
 * every thread at first. FJ__OS_THREAD_LOCAL(type, name, slot) defines, in the
 * file that uses it, name_get() and name_set(v). Linux: a plain `static
 * __thread type name` (the gdb extension finds tls_worker by that name).
 * Windows: slot `slot` of fj__os_tls_slot, a Win32 TLS index taken when the
 * program starts (os_windows.c), read from the thread information block. */
#ifdef _WIN32
typedef enum fj__os_tls_slot {
    FJ__TLS_WORKER,         /* runtime.c: the worker running on this thread */
    FJ__TLS_LAST_ERROR,     /* runtime.c: fj_last_error */
    FJ__TLS_FRAME_ERROR,    /* frame_alloc.c: fj_frame_last_error */
    FJ__TLS_ALTSTACK,       /* os_windows.c: the thread's alternate stack */
    FJ__TLS_COUNT
} fj__os_tls_slot;
void *fj__os_tls_get(fj__os_tls_slot slot);
void fj__os_tls_set(fj__os_tls_slot slot, void *v);
#define FJ__OS_THREAD_LOCAL(type, name, slot)                                                                  \
    static inline type name##_get(void) { return (type)(uintptr_t)fj__os_tls_get(slot); }                      \
    static inline void name##_set(type v) { fj__os_tls_set(slot, (void *)(uintptr_t)v); }
#else
#define FJ__OS_THREAD_LOCAL(type, name, slot)                                                                  \
    static __thread type name;                                                                                 \
    static inline type name##_get(void) { return name; }                                                       \
    static inline void name##_set(type v) { name = v; }
#endif
/* The calling thread's identity while it lives, odd (never a pointer to an
 * aligned object) and not 0: mutex.c's owner tag of a thread outside the
 * scheduler. */
uint64_t fj__os_thread_tag(void);

/* CPUs the process may run on, in ascending order; returns their number (<= max).
 * Windows numbers CPU k as processor k % 64 of processor group k / 64. */
int fj__os_allowed_cpus(int *cpus, int max);
/* Pin the calling thread to one CPU; 0 or a negative errno. */
int fj__os_pin_self(int cpu);
/* A thread of the library (workers, the timer thread). All zero: not
 * started. Windows: the thread's handle, and its function and argument, read
 * by the new thread when it starts (so *t stays in place until the join). */
#ifdef _WIN32
typedef struct fj__os_thread {
    void *handle;
    void *(*fn)(void *);
    void *arg;
} fj__os_thread;
#else
typedef pthread_t fj__os_thread;
#endif
/* Start a thread with a small stack (the worker's loop runs on fibers), pinned
 * from birth to `cpu` unless it is negative; 0 or a negative errno, and then
 * *t is all zero. */
int fj__os_thread_start(fj__os_thread *t, void *(*fn)(void *), void *arg, int cpu);
/* Wait for a thread fj__os_thread_start started to end, and release it;
 * nothing for one all zero (never started). */
void fj__os_thread_join(fj__os_thread *t);
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
