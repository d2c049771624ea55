/*
 * Linux implementation of os.h: the only file of the library that includes
 * Linux or POSIX headers beyond <pthread.h>. It keeps two pieces of process-wide
 * state: the page size (a relaxed atomic) and the fault handler with the
 * handlers it replaced (installed and restored under fault_lock, counted).
 */
#include "os.h"
#include "atomics.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int fj__os_allowed_cpus(int *cpus, int max)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0)
        return 0;
    int n = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE && n < max; cpu++)
        if (CPU_ISSET(cpu, &set))
            cpus[n++] = cpu;
    return n;
}

int fj__os_pin_self(int cpu)
{
    if (cpu < 0 || cpu >= CPU_SETSIZE)
        return -EINVAL;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return -pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

int fj__os_thread_start(fj__os_thread *t, void *(*fn)(void *), void *arg, int cpu)
{
    *t = 0;
    pthread_attr_t attr;
    if (pthread_attr_init(&attr) != 0)
        return -ENOMEM;
    /* The thread's own stack only runs the worker's start-up and shut-down;
     * jobs run on fibers. */
    pthread_attr_setstacksize(&attr, 256 * 1024);
    if (cpu >= 0 && cpu < CPU_SETSIZE) {
        /* Pinned at creation rather than by the thread itself: no migration
         * after start, and no thread caught mid-way in sched_setaffinity if
         * the process dies early. */
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        int rc = pthread_attr_setaffinity_np(&attr, sizeof set, &set);
        if (rc != 0) {
            pthread_attr_destroy(&attr);
            return -EINVAL;
        }
    }
    int rc = pthread_create(t, &attr, fn, arg);
    pthread_attr_destroy(&attr);
    if (rc != 0)
        *t = 0;
    return -rc;
}

void fj__os_thread_join(fj__os_thread *t)
{
    if (*t)
        pthread_join(*t, NULL);
    *t = 0;
}

/* The address of a thread-local byte, odd: distinct for every live thread. */
static _Thread_local char thread_tag;

uint64_t fj__os_thread_tag(void) { return (uint64_t)(uintptr_t)&thread_tag | 1; }

void fj__os_thread_name_self(const char *name)
{
    char kept[16];   /* the kernel keeps 15 characters and the terminator */
    snprintf(kept, sizeof kept, "%s", name);
    (void)pthread_setname_np(pthread_self(), kept);
}

void fj__os_futex_wait(uint32_t *addr, uint32_t expected)
{
    syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}

bool fj__os_futex_wait_ns(uint32_t *addr, uint32_t expected, uint64_t ns)
{
    struct timespec ts = { (time_t)(ns / 1000000000u), (long)(ns % 1000000000u) };
    long r = syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, expected, &ts, NULL, 0);
    return !(r < 0 && errno == ETIMEDOUT);
}

int fj__os_futex_wake(uint32_t *addr, int n)
{
    long r = syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
    return r < 0 ? 0 : (int)r;
}

size_t fj__os_page_size(void)
{
    /* Any thread may be first here (fj_create, fj_frame_heap_create): every
     * one stores the same value, so a relaxed atomic is all the C11 memory
     * model needs to make the race benign. */
    static size_t page;
    size_t p = fj_load_relaxed(&page);
    if (!p) {
        p = (size_t)sysconf(_SC_PAGESIZE);
        fj_store_relaxed(&page, p);
    }
    return p;
}

void *fj__os_aligned_alloc(size_t align, size_t size)
{
    return aligned_alloc(align, size);
}

void fj__os_aligned_free(void *p)
{
    free(p);
}

static uint64_t read_number(const char *path)
{
    char buf[64];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t r = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (r <= 0)
        return 0;
    buf[r] = 0;
    return strtoull(buf, NULL, 10);
}

/* Mappings the process has now: the lines of /proc/self/maps. */
static uint64_t count_mappings(void)
{
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    char buf[65536];
    uint64_t lines = 0;
    ssize_t r;
    while ((r = read(fd, buf, sizeof buf)) > 0 || (r < 0 && errno == EINTR))
        for (ssize_t i = 0; i < r; i++)
            lines += buf[i] == '\n';
    close(fd);
    return lines;
}

bool fj__os_mappings_fit(uint64_t need)
{
    uint64_t max = read_number("/proc/sys/vm/max_map_count");
    if (max == 0)
        return true;
    if (need > max)
        return false;
    /* Counting the mappings reads a file whose size grows with them: only
     * when the pool is a sizeable part of the limit (the default pool needs
     * a few hundred of 65,530). */
    if (need < max / 8)
        return true;
    return count_mappings() + need <= max;
}

void *fj__os_reserve(size_t size)
{
    void *p = mmap(NULL, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

int fj__os_commit(void *lo, size_t size)
{
    return mprotect(lo, size, PROT_READ | PROT_WRITE) == 0 ? 0 : -errno;
}

int fj__os_stack_guard(void *lo, size_t *below)
{
    (void)lo;   /* the gap below the stack stays PROT_NONE: that is the guard */
    *below = 0;
    return 0;
}

void *fj__os_map(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void fj__os_release(void *p, size_t size)
{
    munmap(p, size);
}

uint64_t fj__os_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void fj__os_sleep_ns(uint64_t ns)
{
    struct timespec ts = { (time_t)(ns / 1000000000u), (long)(ns % 1000000000u) };
    nanosleep(&ts, NULL);
}

void fj__os_yield(void) { sched_yield(); }

bool fj__os_thread_stack(void **lo, size_t *size)
{
    pthread_attr_t attr;
    if (pthread_getattr_np(pthread_self(), &attr) != 0)
        return false;
    bool ok = pthread_attr_getstack(&attr, lo, size) == 0;
    pthread_attr_destroy(&attr);
    return ok;
}

_Static_assert(sizeof(fj__os_affinity) >= sizeof(cpu_set_t), "fj__os_affinity holds a cpu_set_t");

bool fj__os_affinity_save(fj__os_affinity *out)
{
    return pthread_getaffinity_np(pthread_self(), sizeof(cpu_set_t), (cpu_set_t *)out->bits) == 0;
}

void fj__os_affinity_restore(const fj__os_affinity *saved)
{
    pthread_setaffinity_np(pthread_self(), sizeof(cpu_set_t), (const cpu_set_t *)saved->bits);
}

/* ------------------------------------------------------------ signal stacks */

int fj__os_altstack_enter(fj__os_altstack *a)
{
    stack_t ss = { .ss_sp = a->base, .ss_size = a->size, .ss_flags = 0 }, prev;
    a->active = sigaltstack(&ss, &prev) == 0;
    if (!a->active)
        return -errno;
    a->prev_base = prev.ss_sp;
    a->prev_size = prev.ss_size;
    a->prev_flags = prev.ss_flags;
    return 0;
}

void fj__os_altstack_leave(fj__os_altstack *a)
{
    if (!a->active)
        return;
    stack_t prev = { .ss_sp = a->prev_base, .ss_size = a->prev_size, .ss_flags = a->prev_flags };
    sigaltstack(&prev, NULL);
    a->active = false;
}

/* ------------------------------------------------------------ faults */

/* Written once, before the first install; read by the handler on any thread.
 * Never cleared: a program that replaced our handler may still chain to it. */
static fj__os_fault_fn fault_fn;
static struct sigaction saved_segv, saved_bus;
static int fault_refs;
static fj__os_mutex fault_lock = FJ__OS_MUTEX_INIT;

static void set_default_action(int sig)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
}

/* A fault the client let go, or a SIGSEGV/SIGBUS sent by someone. */
static void pass_on(int sig, siginfo_t *si, void *uctx)
{
    const struct sigaction *prev = sig == SIGBUS ? &saved_bus : &saved_segv;
    if (prev->sa_flags & SA_SIGINFO) {
        prev->sa_sigaction(sig, si, uctx);
        return;
    }
    if (prev->sa_handler != SIG_IGN && prev->sa_handler != SIG_DFL) {
        prev->sa_handler(sig);
        return;
    }
    if (si->si_code <= 0) {
        /* Sent with kill(), raise() or sigqueue(): nothing re-executes. */
        if (prev->sa_handler == SIG_DFL) {
            set_default_action(sig);
            /* Blocked while this handler runs: delivered when it returns. */
            raise(sig);
        }
        return;
    }
    /* A fault: returning re-executes the faulting instruction. Ignoring it
     * would loop for ever, so an ignored fault gets the default action too,
     * as the kernel does when it finds a synchronous fault ignored. */
    set_default_action(sig);
}

static void fault_handler(int sig, siginfo_t *si, void *uctx)
{
    fj__os_fault_fn fn = fj_load_relaxed(&fault_fn);
    if (fn && si->si_code > 0)
        fn(si->si_addr);
    pass_on(sig, si, uctx);
}

int fj__os_fault_install(fj__os_fault_fn fn)
{
    int rc = 0;
    fj__os_mutex_lock(&fault_lock);
    if (fault_refs++ == 0) {
        fj_store_relaxed(&fault_fn, fn);
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = fault_handler;
        sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
        sigemptyset(&sa.sa_mask);
        if (sigaction(SIGSEGV, &sa, &saved_segv) != 0 || sigaction(SIGBUS, &sa, &saved_bus) != 0)
            rc = -errno;
    }
    fj__os_mutex_unlock(&fault_lock);
    return rc;
}

/* A handler the program installed after ours is its own choice (it may even
 * chain to ours, which stays callable): only ours is taken out. */
static void restore_if_ours(int sig, const struct sigaction *saved)
{
    struct sigaction cur;
    if (sigaction(sig, NULL, &cur) == 0 && (cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == fault_handler)
        sigaction(sig, saved, NULL);
}

void fj__os_fault_uninstall(void)
{
    fj__os_mutex_lock(&fault_lock);
    if (--fault_refs == 0) {
        restore_if_ours(SIGSEGV, &saved_segv);
        restore_if_ours(SIGBUS, &saved_bus);
    }
    fj__os_mutex_unlock(&fault_lock);
}

void fj__os_write_stderr(const char *s)
{
    ssize_t r = write(2, s, strlen(s));
    (void)r;
}

void fj__os_abort(void)
{
    signal(SIGABRT, SIG_DFL);
    abort();
}

/* ------------------------------------------------------------ topology */

bool fj__os_topology(const int *cpus, int n, fj__os_cpu_place *out)
{
    /* Linux has no one call for it: topology.c reads /sys itself. */
    (void)cpus;
    (void)n;
    (void)out;
    return false;
}
