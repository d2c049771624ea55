/*
 * The base of the runtime: what every other file may call and nothing here
 * calls up. It owns
 *   - the calling thread's worker (fj__current_worker, and its setter for
 *     worker.c) and last error (fj_last_error);
 *   - fatal errors: fj__fatal, the one way the library stops the process,
 *     with one line naming the call and the job; fj__job_name, the one
 *     "(unnamed)" fallback; fj__push_or_die;
 *   - the runtime's memory (mem.h): the C library's allocator pair, the
 *     resolution of fj_config.allocator, and the report of memory an
 *     allocator returned misaligned;
 *   - the error strings (fj_strerror);
 *   - the registry of live schedulers: which one outside submissions go to
 *     (the newest not being destroyed), whether a pointer is a live scheduler
 *     (fj__check_live), and the list deadlock judges walk (fj__registry_lock).
 *
 * Invariant: a scheduler is in the registry from the end of fj_create until
 * its memory is freed (at the end of fj_destroy), and `magic` is
 * FJ_SCHED_LIVE exactly while it is. The registry and the quarantine are
 * changed only under registry_lock; default_sched is also read without it
 * (acquire; it is stored with release under the lock).
 *
 * `registry` and `tls_worker` keep those names: the gdb extension
 * (tools/gdb/fiberjob.py) finds them by name.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

FJ__OS_THREAD_LOCAL(fj__worker *, tls_worker, FJ__TLS_WORKER)
/* Submissions from outside threads go to the newest live scheduler that is
 * not being destroyed. The registry changes only in fj_create and fj_destroy
 * (under the lock); readers load default_sched atomically. A scheduler stays in
 * the registry until its memory is freed: deadlock checks look at every live
 * scheduler (a job of one may finish a counter a fiber of another waits on),
 * including one whose fj_destroy is still running what is queued. */
static fj_scheduler *default_sched;
static fj_scheduler *registry;   /* newest first, linked through `older` */
static fj__os_mutex registry_lock = FJ__OS_MUTEX_INIT;

#define FJ_SCHED_LIVE 0x6a6f6273u   /* "jobs" */

/* Freed schedulers' addresses, kept to tell "destroyed already" from "never
 * was a scheduler" (until the allocator hands the address to a new one). */
#define FJ_QUARANTINE 16
static const void *quarantine[FJ_QUARANTINE];
static unsigned quarantine_next;

static void default_update_locked(void)
{
    fj_scheduler *d = registry;
    while (d && d->destroying)
        d = d->older;
    fj_store_release(&default_sched, d);
}

void fj__registry_add(fj_scheduler *s)
{
    fj__os_mutex_lock(&registry_lock);
    s->older = registry;
    registry = s;
    s->magic = FJ_SCHED_LIVE;
    default_update_locked();
    fj__os_mutex_unlock(&registry_lock);
}

void fj__registry_remove(fj_scheduler *s)
{
    fj__os_mutex_lock(&registry_lock);
    for (fj_scheduler **p = &registry; *p; p = &(*p)->older) {
        if (*p == s) {
            *p = s->older;
            break;
        }
    }
    s->magic = 0;
    for (unsigned i = 0; i < FJ_QUARANTINE; i++)
        if (quarantine[i] == s)
            quarantine[i] = NULL;
    quarantine[quarantine_next++ % FJ_QUARANTINE] = s;
    default_update_locked();
    fj__os_mutex_unlock(&registry_lock);
}

/* Stop with a plain line unless s is a live scheduler. Cheap enough for the
 * calls that take a scheduler from the user (a lock and a short list walk);
 * fj_run_jobs inside a job does not pay it. */
void fj__check_live(const char *call, const fj_scheduler *s)
{
    if (!s)
        fj__fatal(call, "scheduler is NULL");
    fj__os_mutex_lock(&registry_lock);
    bool live = false, dead = false;
    for (fj_scheduler *r = registry; r && !live; r = r->older)
        live = r == s;
    for (unsigned i = 0; i < FJ_QUARANTINE && !live; i++)
        dead |= quarantine[i] == s;
    fj__os_mutex_unlock(&registry_lock);
    if (live)
        return;
    if (dead)
        fj__fatal(call, "scheduler " FJ_PTR " was destroyed already (fj_destroy freed it)", (const void *)s);
    fj__fatal(call, FJ_PTR " is not a scheduler made by fj_create (or it was destroyed long ago)", (const void *)s);
}

void fj__registry_retire(fj_scheduler *s)
{
    fj__os_mutex_lock(&registry_lock);
    s->destroying = true;
    default_update_locked();
    fj__os_mutex_unlock(&registry_lock);
}

fj_scheduler *fj__registry_lock(void)
{
    fj__os_mutex_lock(&registry_lock);
    return registry;
}

void fj__registry_unlock(void) { fj__os_mutex_unlock(&registry_lock); }

fj_scheduler *fj__default_scheduler(void) { return fj_load_acquire(&default_sched); }
FJ__OS_THREAD_LOCAL(int, tls_last_error, FJ__TLS_LAST_ERROR)

void fj__set_last_error(int code) { tls_last_error_set(code); }

FJ_NOINLINE fj__worker *fj__current_worker(void)
{
    /* The empty asm makes the function opaque, so the compiler cannot treat it
     * as pure and reuse a result from before a switch. */
    __asm__ __volatile__("" ::: "memory");
    return tls_worker_get();
}

void fj__set_current_worker(fj__worker *w) { tls_worker_set(w); }

const char fj__unnamed[] = "(unnamed)";

void fj__fatal(const char *call, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fj__worker *w = tls_worker_get();
    if (w && w->current && w->current->job_name)
        fprintf(stderr, "fiberjob: %s: %s (in job '%s' on worker %u)\n", call, msg,
                w->current->job_name, w->index);
    else if (w)
        fprintf(stderr, "fiberjob: %s: %s (on worker %u)\n", call, msg, w->index);
    else
        fprintf(stderr, "fiberjob: %s: %s (outside any job)\n", call, msg);
    fflush(stderr);
    abort();
}

const char *fj_strerror(int code)
{
    switch (code) {
    case FJ_OK: return "success";
    case FJ_EINVAL: return "invalid argument or configuration value";
    case FJ_ENOMEM: return "out of memory (heap or stack mappings)";
    case FJ_ETHREAD: return "a worker thread could not be created";
    case FJ_EAFFINITY: return "a CPU is outside the allowed set, or pinning failed";
    case FJ_EBUSY: return "the scheduler is already running fj_main";
    case FJ_ELIMIT: return "a limit of the design was exceeded";
    case FJ_EPANIC: return "the root job panicked";
    case FJ_EIO: return "a file could not be written";
    default: return "unknown fiberjob error code";
    }
}

int fj_last_error(void) { return tls_last_error_get(); }

void fj__push_or_die(fj__deque *d, const fj__task *t, size_t n, const char *call)
{
    if (fj__deque_push(d, t, n) != 0)
        fj__fatal(call, "out of memory (the allocator returned NULL for %zu bytes) queueing %s '%s'",
                  d->failed_bytes, t->fn ? "job" : "the resumption of job", fj__job_name(t->name));
}

/* The C library's pair: malloc's alignment covers most requests; the rest
 * (cache-line aligned records) go to aligned_alloc (os.h), whose size must be a
 * multiple of the alignment. */
static void *libc_alloc(size_t size, size_t align, void *user)
{
    (void)user;
    /* malloc aligns for any object that fits in the size asked (C17
     * 7.22.3): glibc gives 16 bytes to 8-byte requests, mimalloc's malloc
     * only 8. Ask for at least `align` bytes so the guarantee covers it. */
    if (align <= FJ_MEM_ALIGN)
        return malloc(size < align ? align : size);
    return fj__os_aligned_alloc(align, (size + align - 1) & ~(align - 1));
}

static void libc_free(void *p, size_t size, size_t align, void *user)
{
    (void)size;
    (void)user;
    if (align <= FJ_MEM_ALIGN)
        free(p);
    else
        fj__os_aligned_free(p);   /* Windows: not free's to take back */
}

static void mem_misaligned(const void *p, size_t size, size_t align)
{
    fj__fatal("fj_config.allocator", "alloc returned " FJ_PTR " for %zu bytes, which is not aligned to %zu as asked", p,
              size, align);
}

int fj__mem_init(fj__mem *m, const fj_allocator *a)
{
    if (!a->alloc != !a->free)
        return FJ_EINVAL;
    m->a = a->alloc ? *a : (fj_allocator){ .alloc = libc_alloc, .free = libc_free };
    m->misaligned = mem_misaligned;
    return 0;
}

void *fj__mem_alloc_or_die(const fj__mem *m, size_t size, size_t align, const char *call, const char *what,
                           const char *job)
{
    void *p = fj__mem_alloc(m, size, align);
    if (!p)
        fj__fatal(call, "out of memory (the allocator returned NULL for %zu bytes) %s '%s'", size, what,
                  fj__job_name(job));
    return p;
}

int fj_worker_index(void)
{
    fj__worker *w = fj__current_worker();
    return w ? (int)w->index : -1;
}

const char *fj_current_job_name(void)
{
    fj__worker *w = fj__current_worker();
    return w && w->current ? w->current->job_name : NULL;
}

