/*
 * The scheduler: workers, the worker loop, waiting, yielding, sleeping.
 *
 * Vocabulary
 *   worker   an OS thread taking part in the scheduler: N-1 background threads
 *            pinned one per CPU, plus worker 0, which is the thread inside
 *            fj_main() (and fj_destroy(), which drains the remaining work).
 *   fiber    a stack and a saved context from the pool (fiber.c). Every fiber
 *            runs the same loop: take a task, run it, take the next. A fiber
 *            only switches when its job waits or yields, or to hand over.
 *   task     a queued job (fn != NULL) or a woken fiber to resume (fn == NULL).
 *   post-switch action
 *            work that must happen after a context has saved its registers and
 *            left its stack: publish it on a counter's wait list (wait), append
 *            it to the yield FIFO (yield), or return it to the pool (free). The
 *            switching code stores the action in its worker; the context it
 *            switches to performs it first thing (after_switch). Doing it before
 *            the switch would let another worker resume a fiber still running on
 *            its stack, the classic fiber-system bug.
 *
 * Where a worker looks for work, in order: a task handed to the fiber (large-
 * stack jobs, the root job); its ready deque (woken fibers come before new
 * jobs); its job deques, high then normal then low (the jobs of a batch it
 * holds come first within their priority: see "batches"); the injection queue
 * (submissions from outside threads); stealing from the other workers in the
 * same order, starting at a random victim; its yield FIFO (yielded fibers go
 * behind all other ready work; every 32nd pick looks there first, so a stream
 * of jobs cannot starve them). Then it spins a while and sleeps.
 *
 * Sleeping is an event count. A worker about to sleep reads the epoch,
 * registers in `sleepers` (seq_cst), looks for work once more and only then
 * futex-waits on the epoch. A submitter pushes, issues a seq_cst fence and
 * reads `sleepers`: zero (the busy case) means no system call. Either the
 * submitter sees the registration and bumps the epoch (so the futex wait
 * returns at once), or the sleeper's last look sees the pushed task.
 *
 * Quiescence (the end of fj_destroy's drain): every active worker registered as
 * sleeping, and no registered sleeper found work in between (`idle_gen`, bumped
 * by a sleeper before it takes the work it found, did not move) while the
 * observer looked at every queue. See worker_idle.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "os.h"

static __thread fj__worker *tls_worker;
/* Submissions from outside threads go to the newest live scheduler that is
 * not being destroyed. The registry changes only in fj_create and fj_destroy
 * (under the lock); readers load default_sched atomically. A scheduler stays in
 * the registry until its memory is freed: deadlock checks look at every live
 * scheduler (a job of one may finish a counter a fiber of another waits on),
 * including one whose fj_destroy is still running what is queued. */
static fj_scheduler *default_sched;
static fj_scheduler *registry;   /* newest first, linked through `older` */
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;

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
    __atomic_store_n(&default_sched, d, __ATOMIC_RELEASE);
}

static void registry_add(fj_scheduler *s)
{
    pthread_mutex_lock(&registry_lock);
    s->older = registry;
    registry = s;
    s->magic = FJ_SCHED_LIVE;
    default_update_locked();
    pthread_mutex_unlock(&registry_lock);
}

static void registry_remove(fj_scheduler *s)
{
    pthread_mutex_lock(&registry_lock);
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
    pthread_mutex_unlock(&registry_lock);
}

/* Stop with a plain line unless s is a live scheduler. Cheap enough for the
 * calls that take a scheduler from the user (a lock and a short list walk);
 * fj_run_jobs inside a job does not pay it. */
static void check_live(const char *call, const fj_scheduler *s)
{
    if (!s)
        fj__fatal(call, "scheduler is NULL");
    pthread_mutex_lock(&registry_lock);
    bool live = false, dead = false;
    for (fj_scheduler *r = registry; r && !live; r = r->older)
        live = r == s;
    for (unsigned i = 0; i < FJ_QUARANTINE && !live; i++)
        dead |= quarantine[i] == s;
    pthread_mutex_unlock(&registry_lock);
    if (live)
        return;
    if (dead)
        fj__fatal(call, "scheduler %p was destroyed already (fj_destroy freed it)", (const void *)s);
    fj__fatal(call, "%p is not a scheduler made by fj_create (or it was destroyed long ago)", (const void *)s);
}
static __thread int tls_last_error;

/* Room for the library's own frames between a waiter and a job run on its
 * stack, on top of the job's whole stack class (fits_here). */
#define FJ_INLINE_MARGIN (8 * 1024 * FJ_SAN_STACK_SCALE)

FJ_NOINLINE fj__worker *fj__current_worker(void)
{
    /* The empty asm makes the function opaque, so the compiler cannot treat it
     * as pure and reuse a result from before a switch. */
    __asm__ __volatile__("" ::: "memory");
    return tls_worker;
}

static const char *job_name_or(const char *name) { return name ? name : "(unnamed)"; }

void fj__fatal(const char *call, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fj__worker *w = tls_worker;
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

int fj_last_error(void) { return tls_last_error; }


fj_config fj_config_default(void)
{
    fj_config c;
    memset(&c, 0, sizeof c);
    c.workers = 0;
    c.pin_threads = 1;
    c.small_fibers = 128;
    c.small_stack_size = 64 * 1024;
    c.large_fibers = 32;
    c.large_stack_size = 512 * 1024;
    c.spin_before_sleep = 2000;
    return c;
}

/* ------------------------------------------------------------------ FP state */

static void fpu_capture(fj__worker *w)
{
#if defined(__x86_64__)
    __asm__ __volatile__("stmxcsr %0" : "=m"(w->fpu_mxcsr));
    __asm__ __volatile__("fnstcw %0" : "=m"(w->fpu_cw));
#elif defined(__aarch64__)
    __asm__ __volatile__("mrs %0, fpcr" : "=r"(w->fpu_fpcr));
#else
    (void)w;
#endif
}

static void fpu_apply(const fj__worker *from, fj__worker *to)
{
#if defined(__x86_64__)
    to->fpu_mxcsr = from->fpu_mxcsr;
    to->fpu_cw = from->fpu_cw;
    __asm__ __volatile__("ldmxcsr %0" ::"m"(to->fpu_mxcsr));
    __asm__ __volatile__("fldcw %0" ::"m"(to->fpu_cw));
#elif defined(__aarch64__)
    to->fpu_fpcr = from->fpu_fpcr;
    __asm__ __volatile__("msr fpcr, %0" ::"r"(to->fpu_fpcr));
#else
    (void)from;
    (void)to;
#endif
}

#ifdef FJ_CHECK_FPU
static void fpu_check(fj__worker *w, const char *when, const char *job)
{
#if defined(__x86_64__)
    uint32_t mxcsr;
    uint16_t cw;
    __asm__ __volatile__("stmxcsr %0" : "=m"(mxcsr));
    __asm__ __volatile__("fnstcw %0" : "=m"(cw));
    /* The low six MXCSR bits are sticky exception flags, not control state. */
    if ((mxcsr & ~0x3fu) != (w->fpu_mxcsr & ~0x3fu) || cw != w->fpu_cw)
        fj__fatal(when, "job '%s' changed the FP control state (MXCSR %#x -> %#x, x87 CW %#x -> %#x); "
                  "restore it before returning or waiting, or build with -DFIBERJOB_SAVE_FPU=ON",
                  job_name_or(job), w->fpu_mxcsr, mxcsr, w->fpu_cw, cw);
#elif defined(__aarch64__)
    uint64_t fpcr;
    __asm__ __volatile__("mrs %0, fpcr" : "=r"(fpcr));
    if (fpcr != w->fpu_fpcr)
        fj__fatal(when, "job '%s' changed the FP control state (FPCR %#llx -> %#llx); restore it "
                  "before returning or waiting, or build with -DFIBERJOB_SAVE_FPU=ON",
                  job_name_or(job), (unsigned long long)w->fpu_fpcr, (unsigned long long)fpcr);
#else
    (void)w;
    (void)when;
    (void)job;
#endif
}
#define FPU_CHECK(w, when, job) fpu_check((w), (when), (job))
#else
#define FPU_CHECK(w, when, job) ((void)0)
#endif

/* ------------------------------------------------------------- statistics */

#define STAT_INC(w, field) STAT_ADD(w, field, 1)
#define STAT_ADD(w, field, n) fj_store_relaxed(&(w)->stats.field, fj_load_relaxed(&(w)->stats.field) + (n))

unsigned fj_stats(const fj_scheduler *s, fj_worker_stats *out, unsigned max)
{
    check_live("fj_stats", s);
    if (!out && max)
        fj__fatal("fj_stats", "out is NULL with max %u", max);
    for (unsigned i = 0; i < s->nworkers && i < max; i++) {
        fj__worker *w = &s->workers[i];
        out[i].jobs = fj_load_relaxed(&w->stats.jobs);
        out[i].steals = fj_load_relaxed(&w->stats.steals);
        out[i].steal_failures = fj_load_relaxed(&w->stats.steal_failures);
        out[i].switches = fj_load_relaxed(&w->stats.switches);
        out[i].sleeps = fj_load_relaxed(&w->stats.sleeps);
        out[i].wakes = fj_load_relaxed(&w->stats.wakes);
    }
    return s->nworkers;
}

unsigned fj_worker_count(const fj_scheduler *s)
{
    check_live("fj_worker_count", s);
    return s->nworkers;
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

/* ------------------------------------------------------------ waking sleepers */

/*
 * Wake at most one sleeper, and only when it is needed: nobody sleeps (the busy
 * case: no system call), or a worker is awake and searching (it will find the
 * work; when it does it wakes the next one, so sleepers are woken in a chain
 * as long as there is work), or a wake is already in flight (`wake_pending`,
 * cleared by whoever returns from the futex wait, or by the waker itself when
 * its wake found nobody). This keeps a submitter of many small batches from
 * issuing a futex wake per batch while the woken worker is still getting up.
 *
 * No lost wake-up: the submitter pushes, then a seq_cst fence, then reads.
 * A searching worker counted in `spinning` decrements it (seq_cst) before it
 * registers as a sleeper and looks at every queue once more, so it sees the
 * push; a pending wake is cleared by a worker that then searches, likewise
 * after the submitter's read.
 */
void fj__notify(fj_scheduler *s, size_t n)
{
    if (n == 0)
        return;
    fj_fence_seq_cst();
    if (FJ_LIKELY(fj_load_relaxed(&s->sleepers) == 0) || fj_load_relaxed(&s->spinning) != 0)
        return;
    uint32_t expected = 0;
    if (!fj_cas_strong_seq_cst(&s->wake_pending, &expected, 1))
        return;
    fj_fetch_add_seq_cst(&s->epoch, 1);
    if (fj__os_futex_wake(&s->epoch, 1) == 0)
        fj_store_seq_cst(&s->wake_pending, 0);
    fj__worker *w = tls_worker;
    if (w)
        STAT_INC(w, wakes);
}

static void notify_all(fj_scheduler *s)
{
    fj_fetch_add_seq_cst(&s->epoch, 1);
    fj__os_futex_wake(&s->epoch, 1 << 30);
}

/* An outside thread leaves fj_run_jobs or fj_counter_done. A worker judging
 * quiescence (for fj_destroy's drain or a deadlock) may have seen it still
 * inside and gone to sleep: wake the sleepers so one judges again. Dekker with
 * worker_idle: there, sleepers++ then a read of inject_inflight; here the
 * decrement then a read of sleepers (all seq_cst). */
void fj__inflight_leave(fj_scheduler *s)
{
    if (fj_fetch_sub_seq_cst(&s->inject_inflight, 1) == 1 && fj_load_seq_cst(&s->sleepers))
        notify_all(s);
    /* The last touch: fj_destroy frees s once outside_refs is zero. */
    fj_fetch_sub_seq_cst(&s->outside_refs, 1);
}

void fj__inflight_enter(fj_scheduler *s)
{
    fj_fetch_add_seq_cst(&s->outside_refs, 1);
    fj_fetch_add_seq_cst(&s->inject_inflight, 1);
}

/* ------------------------------------------------------------ batched finish */

static inline void batch_flush(fj__worker *w)
{
    if (w->batch_counter) {
        fj_counter *c = w->batch_counter;
        int64_t k = w->batch_k;
        w->batch_counter = NULL;
        w->batch_k = 0;
        fj__counter_finish(c, k, "job finish", w->batch_name);
    }
}

static inline void job_finished(fj__worker *w, fj_counter *c, const char *name)
{
    if (!c)
        return;
    if (w->batch_counter == c) {
        w->batch_k++;
        w->batch_name = name;
        return;
    }
    batch_flush(w);
    w->batch_counter = c;
    w->batch_k = 1;
    w->batch_name = name;
}

/* ------------------------------------------------------------ batches */

/*
 * fj_run_jobs of FJ_BATCH_MIN or more jobs of one priority (and no flags)
 * does not queue a task per job. It copies the jobs into a batch and queues one
 * entry standing for the range lo..hi-1 of the batch. Whoever takes or steals
 * the entry owns that range (the deque decides, as for any task) and keeps it
 * as its private chunk, from which it starts the jobs one by one with no
 * atomic operation per job. So a thief moves up to FJ_BATCH_MAX jobs with one
 * steal, and the owner pays the fence of a take once per range.
 *
 * Lazy splitting: before starting a job from its chunk, a worker that sees
 * k workers idle (spinning or asleep) keeps 1/(k+1) of the chunk and pushes
 * the rest back to its deque as one range (and wakes a sleeper), where an idle
 * one steals it and splits it the same way. A busy system never splits. The
 * cost: jobs a worker holds wait for the job it is running, so a worker that
 * goes idle meanwhile gets them only when that job returns (with one entry per
 * job it could have stolen them at once). Coarse jobs are spread at the start,
 * when the other workers are idle: each worker keeps about its share.
 * A chunk is worker state, not fiber state: when a job from it waits, the
 * fiber the worker switches to goes on with the chunk, so a job waiting on
 * a later job of its own batch cannot deadlock.
 *
 * Freeing: `left` counts the batch's jobs not yet started. A worker subtracts
 * the jobs it started from a range when it is done with the range (one acq_rel
 * operation per range); whoever brings it to zero gives the batch back to the
 * worker that made it, to be reused. Every job was copied out of the batch
 * before its subtraction (release), and the zero is read with acquire, so no
 * one reads a batch once it is given back.
 *
 * Allocation: a worker with no spare batch of its own first adopts the
 * spares given back to other workers; failing that, it queues the jobs one by
 * one if its deque has room for them, and otherwise allocates a slab of as
 * many batches as it has already (at least 4), so, like a deque's buffer, the
 * number of allocations grows with the logarithm of the peak number of
 * batches in flight, and a steady state (frames) allocates nothing. Batches
 * are never freed one by one; the slabs go with the scheduler.
 */
#define FJ_BATCH_MIN 8
#define FJ_BATCH_MAX 256    /* jobs per batch (lo and hi are 16-bit fields of an entry) */

typedef struct fj__batch {
    struct fj__batch *next;     /* free list, return stack */
    fj__worker *home;           /* the worker whose pool it goes back to */
    fj_counter *counter;
    int64_t left;               /* atomic: jobs not yet started */
    fj_job jobs[FJ_BATCH_MAX];
} fj__batch;

_Static_assert(sizeof(uintptr_t) == 8, "range entries pack lo and hi into the flags word");

/* The function of a range entry; never called (entries are opened, not run). */
static void range_marker(void *arg)
{
    (void)arg;
    fj__fatal("scheduler", "internal error: a batch entry was run as a job");
}

typedef struct fj__batch_slab {
    struct fj__batch_slab *next;
    size_t n;
    _Alignas(64) fj__batch batches[];
} fj__batch_slab;

/* Spare batches given back to another worker, taken whole (the same
 * exchange as the owner's, so no ABA) and made ours: a batch on a return
 * stack is referenced by no one. Without this, a worker that runs out would
 * allocate while others hold spares it cannot see. */
static fj__batch *batch_adopt(fj__worker *w)
{
    fj_scheduler *s = w->s;
    for (unsigned v = 0; v < s->nworkers; v++) {
        fj__worker *o = &s->workers[v];
        if (o == w || !fj_load_relaxed(&o->batch_returned))
            continue;
        fj__batch *list = fj_exchange_acq_rel(&o->batch_returned, (fj__batch *)NULL);
        for (fj__batch *b = list; b; b = b->next)
            b->home = w;
        if (list)
            return list;
    }
    return NULL;
}

/* A spare batch (ours, given back to us, or adopted), or NULL. */
static fj__batch *batch_spare(fj__worker *w)
{
    fj__batch *b = w->batch_free;
    if (!b && fj_load_relaxed(&w->batch_returned))
        b = fj_exchange_acq_rel(&w->batch_returned, (fj__batch *)NULL);
    if (!b)
        b = batch_adopt(w);
    if (b)
        w->batch_free = b->next;
    return b;
}

/* A new slab of as many batches as we have (at least 4); returns one of
 * them, the rest go on our free list. NULL when out of memory. */
static fj__batch *batch_alloc(fj__worker *w)
{
    size_t n = w->batch_count < 4 ? 4 : w->batch_count;
    fj__batch_slab *slab = malloc(sizeof *slab + n * sizeof(fj__batch));
    if (!slab)
        return NULL;
    slab->next = w->batch_slabs;
    slab->n = n;
    w->batch_slabs = slab;
    w->batch_count += n;
    for (size_t i = 0; i < n; i++) {
        slab->batches[i].home = w;
        slab->batches[i].next = i + 1 < n ? &slab->batches[i + 1] : w->batch_free;
    }
    w->batch_free = slab->batches[0].next;
    return &slab->batches[0];
}

static void batch_put(fj__worker *w, fj__batch *b)
{
    if (b->home == w) {
        b->next = w->batch_free;
        w->batch_free = b;
        return;
    }
    /* Other workers only push; the home worker takes the whole stack with an
     * exchange, so there is no ABA. The release publishes b->next. */
    fj__batch *head = fj_load_relaxed(&b->home->batch_returned);
    do {
        b->next = head;
    } while (!fj_cas_weak_release(&b->home->batch_returned, &head, b));
}

static void batch_free_all(fj__worker *w)
{
    for (fj__batch_slab *slab = w->batch_slabs, *next; slab; slab = next) {
        next = slab->next;
        free(slab);
    }
    w->batch_slabs = NULL;
    w->batch_free = NULL;
    w->batch_returned = NULL;
    w->batch_count = 0;
}

static inline bool is_range(const fj__task *t) { return t->fn == range_marker; }

static int range_push(fj__worker *w, fj__batch *b, uint32_t lo, uint32_t hi, int q)
{
    const char *name = b->jobs[lo].name;
    fj__task e = { .fn = range_marker, .arg = b, .name = name ? name : "(unnamed)", .counter = b->counter,
                   .flags = FJ_TASK_RANGE | (uintptr_t)q << 24 | (uintptr_t)lo << 32 | (uintptr_t)hi << 48 };
    return fj__deque_push(&w->q[q], &e, 1);
}

/* Done with the chunk: count the jobs started from it off the batch. */
static void chunk_close(fj__worker *w)
{
    fj__batch *b = w->chunk;
    int64_t k = w->chunk_taken;
    w->chunk = NULL;
    if (k && fj_fetch_sub_acq_rel(&b->left, k) == k)
        batch_put(w, b);
}

/* Put the chunk's jobs not yet started back in the deque, as one entry. */
static void chunk_hand_back(fj__worker *w)
{
    if (w->chunk_lo < w->chunk_hi && range_push(w, w->chunk, w->chunk_lo, w->chunk_hi, w->chunk_q) != 0)
        fj__fatal("scheduler", "out of memory growing a job queue");
    chunk_close(w);
}

/* The next job of the chunk; false when there is no chunk. */
static bool chunk_take(fj__worker *w, fj__task *out)
{
    fj__batch *b = w->chunk;
    if (!b)
        return false;
    uint32_t lo = w->chunk_lo, hi = w->chunk_hi;
    fj_scheduler *s = w->s;
    uint32_t idle;
    /* Relaxed loads: a heuristic. A stale count only splits once too many
     * (the entry is stolen back or taken by us later) or one job later. */
    if (hi - lo >= 2 && FJ_UNLIKELY(idle = fj_load_relaxed(&s->spinning) + fj_load_relaxed(&s->sleepers))) {
        /* Workers are idle: keep our share, give them the rest as one entry
         * (the thief splits it again while others are idle). If the deque
         * cannot grow, keep it all: not lost, only not shared. */
        uint32_t mid = lo + ((hi - lo) / (idle + 1) > 0 ? (hi - lo) / (idle + 1) : 1);
        if (range_push(w, b, mid, hi, w->chunk_q) == 0) {
            w->chunk_hi = hi = mid;
            fj__notify(s, 1);
        }
    }
    const fj_job *j = &b->jobs[lo];
    *out = (fj__task){ .fn = j->fn, .arg = j->arg, .name = j->name ? j->name : "(unnamed)", .counter = b->counter,
                       .flags = (uintptr_t)w->chunk_q << 24 };
    w->chunk_lo = lo + 1;
    w->chunk_taken++;
    if (lo + 1 == hi)
        chunk_close(w);
    return true;
}

/* A range entry was taken or stolen: make it our chunk and turn *t into its
 * first job. A chunk already open goes back to the deque first. */
static void range_open(fj__worker *w, fj__task *t)
{
    if (w->chunk)
        chunk_hand_back(w);
    w->chunk = t->arg;
    w->chunk_q = (int)((t->flags >> 24) & 0xff);
    w->chunk_lo = (uint32_t)((t->flags >> 32) & 0xffff);
    w->chunk_hi = (uint32_t)(t->flags >> 48);
    w->chunk_taken = 0;
    chunk_take(w, t);
}

/* fj_run_jobs' fast path: queue jobs[0..n) (one priority queue q, no flags,
 * already checked) as batches. Returns how many it queued; the caller queues
 * the rest one by one (only when memory ran out). */
static size_t push_batches(fj__worker *w, const fj_job *jobs, size_t n, int q, fj_counter *counter)
{
    size_t done = 0;
    while (done < n) {
        uint32_t k = n - done < FJ_BATCH_MAX ? (uint32_t)(n - done) : FJ_BATCH_MAX;
        /* No spare batch and room in the deque for the jobs one by one: queue
         * them that way rather than allocate (the caller does). A batch pool
         * grows only when the deque would have to grow too, so a steady state
         * whose deques have stopped growing allocates nothing even when more
         * batches than ever happen to be in flight. */
        fj__batch *b = batch_spare(w);
        if (!b) {
            fj__deque *d = &w->q[q];
            int64_t top;
            if (fj__deque_room(d, fj_load_relaxed(&d->array), fj_load_relaxed(&d->bottom), (int64_t)(n - done), &top))
                break;
            b = batch_alloc(w);
            if (!b)
                break;
        }
        memcpy(b->jobs, jobs + done, k * sizeof *jobs);
        b->counter = counter;
        /* Plain store: the batch reaches other workers only through the
         * deque's release store of bottom below. */
        fj_store_relaxed(&b->left, (int64_t)k);
        if (range_push(w, b, 0, k, q) != 0) {
            batch_put(w, b);
            break;
        }
        done += k;
    }
    return done;
}

/* ------------------------------------------------------------ resuming */

static void inject_push(fj_scheduler *s, fj__inject_node *node)
{
    /* Release: the node and its tasks are written before it is visible. */
    fj__inject_node *head = fj_load_relaxed(&s->inject);
    do {
        node->next = head;
    } while (!fj_cas_weak_release(&s->inject, &head, node));
    fj__notify(s, 1);
}

static void inject_tasks(fj_scheduler *s, const fj__task *tasks, size_t count)
{
    fj__inject_node *node = malloc(sizeof *node + count * sizeof(fj__task));
    if (!node)
        fj__fatal("fj_run_jobs", "out of memory queueing %zu tasks from outside the scheduler", count);
    node->count = count;
    node->tasks = (fj__task *)(node + 1);
    node->heap = true;
    memcpy(node->tasks, tasks, count * sizeof *tasks);
    inject_push(s, node);
}

/*
 * Resume a waiter that a finisher took off a wait list. A thread outside every
 * scheduler is woken through its futex word. A fiber goes to its own
 * scheduler: onto the ready deque of the worker that finished its count when
 * that worker belongs to it (returns true: the caller notifies once for all),
 * otherwise (a worker of another scheduler, or an outside thread) through its
 * scheduler's injection queue, in a node of its own record (no allocation).
 *
 * A foreign finisher holds a reference on the fiber's scheduler while it
 * pushes and notifies, taken *before* the fiber leaves the WAITING state:
 * fj_destroy does not end its drain while a fiber of its scheduler waits
 * (worker_idle), and after the drain it frees the scheduler only once the
 * references are gone, so the scheduler cannot be freed under the finisher.
 * inject_inflight also keeps the quiescence judgement from passing between
 * the state change and the push (see fj__inflight_leave).
 */
bool fj__resume_waiter(fj__fiber *f)
{
    if (f->kind == FJ_KIND_EXTERNAL) {
        /* The record is never freed, so the wake after the store is safe even
         * if the thread has returned meanwhile (a spurious futex wake at most). */
        fj_store_release(&f->wake, 1);
        fj__os_futex_wake(&f->wake, 1);
        return false;
    }
    fj_scheduler *s = f->s;
    fj__worker *w = tls_worker;
    fj__task t = { .fn = NULL, .arg = f, .name = f->job_name };
    if (w && w->s == s) {
        fj_store_relaxed(&f->state, (int)FJ_FIBER_READY);
        if (fj__deque_push(&w->ready, &t, 1) == 0)
            return true;
        fj__fatal("resume", "out of memory growing a ready queue");
    }
    fj__inflight_enter(s);
    fj_store_seq_cst(&f->state, (int)FJ_FIBER_READY);
    f->wake_task = t;
    f->wake_node.count = 1;
    f->wake_node.tasks = &f->wake_task;
    f->wake_node.heap = false;
    inject_push(s, &f->wake_node);
    fj__inflight_leave(s);
    return false;
}

/* ------------------------------------------------------------ spare fibers */

/*
 * A few free small fibers kept by each worker, off the shared pool: a waiter
 * calling its children (call_child) takes a fiber and gives it back for every
 * child at every level of a recursion, and the pool's head is one cache line
 * every worker writes (a line moving between cores costs hundreds of
 * nanoseconds here). A LIFO of up to FJ_SPARES fibers makes that take and put
 * local. A worker gives its spares back to the pool when it goes idle or
 * leaves, and a worker stuck with no fiber takes its own spares first, so a
 * fiber never sits unused where no one can reach it while a deadlock of the
 * pool is judged (every worker stuck or asleep).
 */
static fj__fiber *take_small(fj__worker *w)
{
    if (w->nspare)
        return w->spares[--w->nspare];
    return fj__pool_take(w->s, &w->s->free_small);
}

static fj__fiber *take_fiber(fj__worker *w, uintptr_t flags)
{
    return (flags & FJ_JOB_LARGE_STACK) ? fj__pool_take(w->s, &w->s->free_large) : take_small(w);
}

static void put_fiber(fj__worker *w, fj__fiber *f)
{
    if (f->kind == FJ_KIND_SMALL && w->nspare < FJ_SPARES) {
        fj_store_relaxed(&f->state, (int)FJ_FIBER_FREE);
        fj_store_relaxed(&f->job_name, (const char *)NULL);
        w->spares[w->nspare++] = f;
        return;
    }
    fj__pool_put(w->s, fj__pool_of(w->s, f), f);
}

static void spare_give_back(fj__worker *w)
{
    while (w->nspare)
        fj__pool_put(w->s, &w->s->free_small, w->spares[--w->nspare]);
}

/* ------------------------------------------------------------ switching */

/* The post-switch action. The publication of a waiting fiber (FJ_POST_WAIT)
 * is modelled step by step in verify/counter.pml (the waiter process). */
static void after_switch(fj__worker *w, fj__fiber *self)
{
    switch (w->post_kind) {
    case FJ_POST_NONE:
        break;
    case FJ_POST_FREE:
        put_fiber(w, w->post_fiber);
        /* A deferred large-stack job can run now. Store-buffering with
         * deferred_put (the count raised, then free_large read by the
         * deferring side's loop): a seq_cst fence on each side between its
         * write and its read, or a wake-up can be lost. Large fibers only. */
        if (FJ_UNLIKELY(w->post_fiber->kind == FJ_KIND_LARGE)) {
            fj_fence_seq_cst();
            if (fj_load_seq_cst(&w->s->deferred_total))
                notify_all(w->s);
        }
        break;
    case FJ_POST_WAIT: {
        fj__fiber *f = w->post_fiber;
        if (!fj__counter_publish(w->post_counter, f, w->post_target)) {
            /* Reached while we were switching: queue it to run again. */
            fj_store_relaxed(&f->state, (int)(FJ_FIBER_READY));
            fj__task t = { .fn = NULL, .arg = f, .name = f->job_name };
            if (fj__deque_push(&w->ready, &t, 1) != 0)
                fj__fatal("fj_wait", "out of memory growing a ready queue");
        }
        break;
    }
    case FJ_POST_YIELD: {
        fj__fiber *f = w->post_fiber;
        f->yield_next = 0;
        if (w->yield_tail)
            w->yield_tail->yield_next = f->index + 1;
        else
            w->yield_head = f;
        w->yield_tail = f;
        break;
    }
    }
    w->post_kind = FJ_POST_NONE;
    w->current = self;
    if (self)
        fj_store_relaxed(&self->state, (int)(FJ_FIBER_RUNNING));
}

/* Switch from the running fiber `self` to `to` with a post-switch action;
 * returns once `self` runs again, possibly on another worker. */
static fj__worker *switch_to(fj__worker *w, fj__fiber *self, fj__fiber *to, fj__post_kind post)
{
    w->post_kind = post;
    w->post_fiber = self;
    STAT_INC(w, switches);
    fj__san_before_switch(&self->san, &to->san);
    fj__ctx_switch(&self->ctx, &to->ctx);
    fj__san_after_switch(&self->san);
    w = fj__current_worker();
    after_switch(w, self);
    return w;
}

/* ------------------------------------------------------------ finding work */

static inline int prio_queue(fj_priority p)
{
    return p == FJ_PRIORITY_HIGH ? FJ_Q_HIGH : p == FJ_PRIORITY_LOW ? FJ_Q_LOW : FJ_Q_NORMAL;
}

static inline uint64_t rng_next(fj__worker *w)
{
    uint64_t x = w->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return w->rng = x;
}

static bool take_yielded(fj__worker *w, fj__task *out)
{
    fj__fiber *f = w->yield_head;
    if (!f)
        return false;
    w->yield_head = f->yield_next ? &w->s->fibers[f->yield_next - 1] : NULL;
    if (!w->yield_head)
        w->yield_tail = NULL;
    *out = (fj__task){ .fn = NULL, .arg = f, .name = f->job_name };
    return true;
}

/* Take the whole injection list and move its tasks to our deques. */
static bool take_injected(fj__worker *w)
{
    fj_scheduler *s = w->s;
    if (!fj_load_relaxed(&s->inject))
        return false;
    fj__inject_node *list = fj_exchange_acq_rel(&s->inject, NULL);
    if (!list)
        return false;
    fj__inject_node *fifo = NULL;   /* reverse: oldest submission first */
    while (list) {
        fj__inject_node *next = list->next;
        list->next = fifo;
        fifo = list;
        list = next;
    }
    size_t moved = 0;
    while (fifo) {
        /* Read all of the node first: once a fiber's resume task is pushed,
         * another worker may resume it, and the fiber may wait and be woken
         * again, rewriting its wake_node. */
        fj__inject_node *next = fifo->next;
        size_t count = fifo->count;
        bool heap = fifo->heap;
        fj__task *tasks = fifo->tasks;
        /* Push the batch in reverse so the owner's LIFO pops run it in order. */
        for (size_t i = count; i-- > 0;) {
            fj__task t = tasks[i];
            fj__deque *d = t.fn ? &w->q[t.flags >> 24] : &w->ready;
            if (fj__deque_push(d, &t, 1) != 0)
                fj__fatal("fj_run_jobs", "out of memory growing a job queue");
        }
        moved += count;
        if (heap)
            free(fifo);
        fifo = next;
    }
    if (moved > 1)
        fj__notify(s, moved - 1);
    return moved > 0;
}

/* After stealing a job from d: while d still holds two or more, steal up to
 * FJ_STEAL_MORE more into our own deque. Each is an ordinary steal; in a row
 * they find d's lines already in our cache, where one steal per job would
 * fetch them again each time. The last task is left to the owner. */
#define FJ_STEAL_MORE 7
static void steal_more(fj__worker *w, fj__deque *d, int q)
{
    fj__task t[FJ_STEAL_MORE];
    int k = 0;
    while (k < FJ_STEAL_MORE && fj__deque_size_hint(d) >= 2) {
        if (fj__deque_steal(d, &t[k]) != FJ_DEQUE_OK)
            break;
        k++;
    }
    if (k == 0)
        return;
    STAT_ADD(w, steals, (uint64_t)k);
    /* Oldest first at the bottom's far end: pushed in reverse, our LIFO
     * takes run them in the order they were stolen. */
    fj__task rev[FJ_STEAL_MORE];
    for (int i = 0; i < k; i++)
        rev[i] = t[k - 1 - i];
    if (fj__deque_push(&w->q[q], rev, (size_t)k) != 0)
        fj__fatal("scheduler", "out of memory growing a job queue");
}

static bool steal_any(fj__worker *w, fj__task *out)
{
    fj_scheduler *s = w->s;
    unsigned n = s->nworkers;
    if (n <= 1)
        return false;
    unsigned start = (unsigned)(rng_next(w) % n);
    for (int q = -1; q < FJ_NQ; q++) {
        /* Victims that share our last-level cache first (pass 0), then the rest. */
        for (unsigned k = 0; k < 2 * n; k++) {
            unsigned v = (start + k) % n;
            bool near = s->workers[v].llc == w->llc;
            if (v == w->index || near != (k < n))
                continue;
            fj__deque *d = q < 0 ? &s->workers[v].ready : &s->workers[v].q[q];
            /* Looks empty: skip the fence and the loads of the protocol. */
            if (fj__deque_size_hint(d) <= 0)
                continue;
            for (int tries = 0; tries < 4; tries++) {
                fj__deque_result r = fj__deque_steal(d, out);
                if (r == FJ_DEQUE_OK) {
                    STAT_INC(w, steals);
                    FJ_TRACE(w, FJ_EV_STEAL, UINT32_MAX, out->name, v);
                    if (is_range(out))
                        range_open(w, out);
                    else if (q >= 0)
                        steal_more(w, d, q);
                    return true;
                }
                if (r == FJ_DEQUE_EMPTY)
                    break;
                STAT_INC(w, steal_failures);
            }
        }
    }
    return false;
}

static bool take_local(fj__worker *w, fj__task *out)
{
    if (fj__deque_size_hint(&w->ready) > 0 && fj__deque_take(&w->ready, out))
        return true;
    if ((++w->pick_tick & 31) == 0 && take_yielded(w, out))
        return true;
    for (int q = 0; q < FJ_NQ; q++) {
        if (w->chunk && w->chunk_q == q && chunk_take(w, out))
            return true;
        if (fj__deque_size_hint(&w->q[q]) > 0 && fj__deque_take(&w->q[q], out)) {
            if (is_range(out))
                range_open(w, out);
            return true;
        }
    }
    return false;
}

static bool try_find(fj__worker *w, fj__task *out)
{
    if (take_local(w, out))
        return true;
    if (take_injected(w) && take_local(w, out))
        return true;
    /* Finishes folded so far stay folded across steals of the same counter's
     * jobs, unless someone waits on the counter: then they go out now. */
    if (w->batch_counter && fj__word_head(fj_load_relaxed(&w->batch_counter->fj__word)))
        batch_flush(w);
    if (steal_any(w, out))
        return true;
    return take_yielded(w, out);
}

/* Does any worker's deque of s hold a task (a hint: racy, never blocking)? */
static bool deques_hold_work(fj_scheduler *s)
{
    for (unsigned v = 0; v < s->nworkers; v++) {
        fj__worker *o = &s->workers[v];
        if (fj__deque_size_hint(&o->ready) > 0)
            return true;
        for (int q = 0; q < FJ_NQ; q++)
            if (fj__deque_size_hint(&o->q[q]) > 0)
                return true;
    }
    return false;
}

/* Non-destructive: is there anything this worker could take? */
static bool has_work(fj__worker *w)
{
    fj_scheduler *s = w->s;
    if (w->chunk)
        return true;
    /* Deferred large-stack jobs count only for a worker on a large fiber or
     * when a large fiber is free; when one comes back to the pool, every
     * worker is woken. */
    if (w->yield_head || fj_load_acquire(&s->inject) ||
        (fj_load_seq_cst(&s->deferred_total) &&
         ((w->current && w->current->kind == FJ_KIND_LARGE) || (fj_load_acquire(&s->free_large) & 0xffffffffu))))
        return true;
    return deques_hold_work(s);
}

static bool should_leave(fj__worker *w)
{
    fj_scheduler *s = w->s;
    if (fj_load_acquire(&s->exit))
        return true;
    return w->index == 0 && fj_load_acquire(&s->root_done) && !fj_load_relaxed(&s->shutdown);
}

/* ------------------------------------------------------------ deadlocks */

/*
 * A deadlock is judged over every live scheduler at once: a job of one may
 * finish a counter that a fiber of another waits on, and a thread outside
 * every scheduler may wait on a counter that jobs of any of them finish. So
 * waiters are a deadlock only when every live scheduler is idle (every worker
 * taking part asleep or stuck without a fiber, nothing queued, no outside
 * thread inside a call that touches it), and still so after a short grace
 * period. The judge is the last worker of a scheduler to go idle (worker_idle),
 * a job stuck in fj_wait with no fiber to switch to (fj_wait), or an outside
 * thread that has waited a while (wait_external). A thread outside may still
 * finish a hand-managed count later: every scheduler's deadlock_hook is asked
 * before the report aborts.
 */

/* Is anything queued in s that one of its workers could take? */
static bool sched_queued(fj_scheduler *s)
{
    if (fj_load_acquire(&s->inject) ||
        (fj_load_seq_cst(&s->deferred_total) && (fj_load_acquire(&s->free_large) & 0xffffffffu)))
        return true;
    return deques_hold_work(s);
}

static bool sched_idle(fj_scheduler *s)
{
    return fj_load_seq_cst(&s->inject_inflight) == 0 && fj_load_seq_cst(&s->outside_refs) == 0 &&
           fj_load_seq_cst(&s->sleepers) + fj_load_seq_cst(&s->stuck) >= fj_load_seq_cst(&s->active) &&
           !sched_queued(s);
}

/* Does a fiber of s wait on a counter (listed, or running a child on another
 * fiber from fj_wait)? */
static bool sched_has_waiters(fj_scheduler *s)
{
    for (uint32_t i = 0; i < s->nfibers; i++) {
        int st = fj_load_seq_cst(&s->fibers[i].state);
        if (st == FJ_FIBER_WAITING || st == FJ_FIBER_CALLING)
            return true;
    }
    return false;
}

/* Is a scheduler other than s alive and not being destroyed? */
static bool other_sched_alive(fj_scheduler *s)
{
    pthread_mutex_lock(&registry_lock);
    bool other = false;
    for (fj_scheduler *r = registry; r && !other; r = r->older)
        other = r != s && !r->destroying;
    pthread_mutex_unlock(&registry_lock);
    return other;
}

static size_t report_waiter(char *buf, size_t len, size_t cap, const char *name, fj_counter *c,
                            int64_t target, const char *how)
{
    if (len + 200 > cap)
        return len;
    int n = c ? snprintf(buf + len, cap - len, "  job '%s' waits on counter %p (value %d, target %lld)%s\n",
                         job_name_or(name), (void *)c, fj__word_value(fj_load_acquire(&c->fj__word)),
                         (long long)target, how)
              : snprintf(buf + len, cap - len, "  job '%s' waits%s\n", job_name_or(name), how);
    return n > 0 ? len + (size_t)n : len;
}

static size_t report_outside(char *buf, size_t len, size_t cap, const fj__fiber *r)
{
    if (len + 200 > cap)
        return len;
    fj_counter *c = fj_load_relaxed(&r->wait_counter);
    int n = snprintf(buf + len, cap - len, "  an outside thread waits on counter %p (value %d, target %lld)\n",
                     (void *)c, c ? fj__word_value(fj_load_acquire(&c->fj__word)) : 0,
                     (long long)fj_load_relaxed(&r->wait_target));
    return n > 0 ? len + (size_t)n : len;
}

/* Has a waiter listed in the snapshot been reached meanwhile (something moved)? */
static bool some_waiter_reached(void)
{
    bool reached = false;
    for (fj_scheduler *r = registry; r && !reached; r = r->older) {
        for (uint32_t i = 0; i < r->nfibers && !reached; i++) {
            fj__fiber *f = &r->fibers[i];
            fj_counter *c = fj_load_relaxed(&f->wait_counter);
            reached = fj_load_seq_cst(&f->state) == FJ_FIBER_WAITING && c &&
                      fj__word_value(fj_load_acquire(&c->fj__word)) <= fj_load_relaxed(&f->wait_target);
        }
    }
    return reached;
}

typedef struct deadlock_hook_call {
    int (*fn)(const fj_deadlock_info *, void *);
    void *arg;
} deadlock_hook_call;

/*
 * Judge and report a deadlock (see above). s is the judging worker's
 * scheduler (NULL for an outside thread); `spinning` a job stuck in fj_wait
 * with no free fiber, waiting on sc for starget. Aborts with the report,
 * unless a deadlock hook says to keep waiting: returns true then. Returns
 * false when it is no deadlock (or another judge is reporting).
 */
static bool deadlock_judge(fj_scheduler *s, const char *why, fj__fiber *spinning, fj_counter *sc, int64_t starget)
{
    /* Static: this may run on a small fiber stack (a job stuck in fj_wait),
     * where a 4 KiB buffer and stdio's own frames do not fit. One judge at a
     * time; a second one simply waits for the next chance. */
    static char report[4096];
    static uint32_t busy;
    static deadlock_hook_call hooks[32];
    uint32_t expected = 0;
    if (!fj_cas_strong_seq_cst(&busy, &expected, 1))
        return false;
    size_t len = 0, cap = sizeof report;
    unsigned waiting = 0, outside = 0, deferred = 0, nhooks = 0;
    bool driven = false, idle = true;
    uint32_t epoch = s ? fj_load_seq_cst(&s->epoch) : 0;
    report[0] = 0;
    pthread_mutex_lock(&registry_lock);
    for (fj_scheduler *r = registry; r && idle; r = r->older) {
        /* A job stuck in fj_wait with no fiber has found its own scheduler
         * unable to progress (pool_deadlocked), queued jobs and all. */
        idle = (spinning && r == s) || sched_idle(r);
        /* Someone is in fj_main or fj_destroy: the program waits for the
         * scheduler, it does not drive it from outside. */
        driven |= fj_load_acquire(&r->main_running) != 0;
        for (uint32_t i = 0; i < r->nfibers; i++) {
            fj__fiber *f = &r->fibers[i];
            int st = fj_load_seq_cst(&f->state);
            if (st != FJ_FIBER_WAITING && st != FJ_FIBER_CALLING)
                continue;
            waiting++;
            len = report_waiter(report, len, cap, fj_load_relaxed(&f->job_name), fj_load_relaxed(&f->wait_counter),
                                fj_load_relaxed(&f->wait_target),
                                st == FJ_FIBER_CALLING ? " [running one of its jobs on another fiber]" : "");
        }
        uint32_t d = fj_load_seq_cst(&r->deferred_total);
        if (d && len + 200 < cap) {
            int n = snprintf(report + len, cap - len,
                             "  %u large-stack jobs wait for a large fiber (all %u are taken: raise "
                             "fj_config.large_fibers)\n", d, r->nlarge);
            if (n > 0)
                len += (size_t)n;
        }
        deferred += d;
        if (r->cfg.deadlock_hook && nhooks < 32)
            hooks[nhooks++] = (deadlock_hook_call){ r->cfg.deadlock_hook, r->cfg.deadlock_hook_arg };
    }
    pthread_mutex_unlock(&registry_lock);
    if (idle)
        len = fj__outside_report(report, len, cap, report_outside, &outside);
    if (spinning) {
        waiting++;
        len = report_waiter(report, len, cap, spinning->job_name, sc, starget, " [no free fiber to switch to]");
    }
    bool judge = idle && (waiting || outside || deferred) && (driven || outside);
    if (judge) {
        /* A thread outside may be finishing a count right now: give it a
         * moment, then judge again; anything that moved means no deadlock. */
        fj__os_sleep_ns(20 * 1000 * 1000);
        pthread_mutex_lock(&registry_lock);
        for (fj_scheduler *r = registry; r && judge; r = r->older)
            judge = (spinning && r == s) || sched_idle(r);
        judge = judge && !some_waiter_reached();
        pthread_mutex_unlock(&registry_lock);
        unsigned still = 0;
        fj__outside_report(NULL, 0, 0, NULL, &still);
        judge = judge && still == outside;
        if (s && fj_load_seq_cst(&s->epoch) != epoch)
            judge = false;
        if (spinning && fj__word_value(fj_load_acquire(&sc->fj__word)) <= starget)
            judge = false;
    }
    if (!judge) {
        fj_store_seq_cst(&busy, 0);
        return false;
    }
    fj_deadlock_info info = { .waiting_fibers = waiting, .report = report };
    bool keep = false;
    for (unsigned i = 0; i < nhooks; i++)
        keep |= hooks[i].fn(&info, hooks[i].arg) != 0;
    if (keep) {
        if (s)
            fj_store_relaxed(&s->deadlock_reported, 1);
        fj_store_seq_cst(&busy, 0);
        return true;
    }
    if (outside)
        fprintf(stderr, "fiberjob: deadlock: %s, and %u jobs and %u outside threads wait on counters that no job "
                "can finish:\n%s", why, waiting, outside, report);
    else
        fprintf(stderr, "fiberjob: deadlock: %s, and %u jobs wait on counters that no job can finish:\n%s", why,
                waiting, report);
    fflush(stderr);
    abort();
}

static void deadlock_check(fj_scheduler *s)
{
    deadlock_judge(s, "every worker is idle and nothing is queued", NULL, NULL, 0);
}

/* fj_destroy's drain may end: nothing of s waits, and an outside thread
 * that waits can still be finished by a scheduler that stays. */
static bool drain_done(fj_scheduler *s)
{
    if (fj_load_seq_cst(&s->deferred_total) || sched_has_waiters(s))
        return false;
    if (fj_load_seq_cst(&fj__outside_waiting) == 0)
        return true;
    /* Outside threads still blocked on a count no one has finished (not
     * those being woken): only a scheduler that stays may finish it. */
    unsigned blocked = 0;
    fj__outside_report(NULL, 0, 0, NULL, &blocked);
    return blocked == 0 || other_sched_alive(s);
}

/* Spin, then sleep until there may be work. Returns false when the worker
 * should leave the scheduler. */
static bool worker_idle(fj__worker *w)
{
    fj_scheduler *s = w->s;
    batch_flush(w);
    spare_give_back(w);
    unsigned spins = s->cfg.spin_before_sleep;
    fj_fetch_add_seq_cst(&s->spinning, 1);
    for (unsigned i = 0; i < spins; i++) {
        if (should_leave(w)) {
            fj_fetch_sub_seq_cst(&s->spinning, 1);
            return false;
        }
        if (has_work(w)) {
            /* Found work: if we were the last searcher, wake the next sleeper
             * so parallelism ramps up while there is work. */
            fj_fetch_sub_seq_cst(&s->spinning, 1);
            fj__notify(s, 1);
            return true;
        }
        fj_cpu_relax();
    }
    fj_fetch_sub_seq_cst(&s->spinning, 1);
    uint32_t e = fj_load_acquire(&s->epoch);
    uint64_t gen = fj_load_seq_cst(&s->idle_gen);
    uint32_t sleeping = fj_fetch_add_seq_cst(&s->sleepers, 1) + 1;
    /* Store-buffering with fj__notify: there a push, a seq_cst fence, a load
     * of `sleepers`; here the registration, then loads of the queues. C11
     * forbids both sides reading the old value only if each side has a
     * seq_cst fence between its write and its read (a seq_cst read-modify-
     * write is not one for the relaxed and acquire loads after it, though
     * x86-64 and AArch64 happen to compile it as one): without this fence a
     * lost wake-up is allowed by the language. The idle path only. */
    fj_fence_seq_cst();
    if (should_leave(w) || has_work(w)) {
        /* Bump the generation before taking what we saw, so a worker judging
         * quiescence notices that a registered sleeper went back to work. */
        fj_fetch_add_seq_cst(&s->idle_gen, 1);
        fj_fetch_sub_seq_cst(&s->sleepers, 1);
        return !should_leave(w);
    }
    if (sleeping >= fj_load_seq_cst(&s->active) && fj_load_seq_cst(&s->inject_inflight) == 0 &&
        !has_work(w) && fj_load_seq_cst(&s->idle_gen) == gen &&
        fj_load_seq_cst(&s->sleepers) >= fj_load_seq_cst(&s->active)) {
        /* Quiescent: every worker is idle and no queue holds work. fj_destroy's
         * drain ends here, unless something still waits: then it is judged
         * as during fj_main (a hook may say an outside thread will finish it). */
        /* drain_done reads the fibers' states first, then inject_inflight and
         * the queues again: a finisher of another scheduler (or an outside
         * thread) takes its reference (inject_inflight) before it marks the
         * fiber READY, and drops it only after the push, so a drain that saw
         * the fiber no longer WAITING sees the reference or the queued fiber
         * (all seq_cst; found by verify/sched2.pml, BUG_DRAIN_ORDER). */
        if (fj_load_relaxed(&s->shutdown) && drain_done(s) && fj_load_seq_cst(&s->inject_inflight) == 0 &&
            !has_work(w)) {
            fj_store_release(&s->exit, 1);
            notify_all(s);
            fj_fetch_sub_seq_cst(&s->sleepers, 1);
            return false;
        }
        if (!fj_load_relaxed(&s->deadlock_reported))
            deadlock_check(s);
    }
    STAT_INC(w, sleeps);
    FJ_TRACE(w, FJ_EV_SLEEP, UINT32_MAX, NULL, 0);
    /* While fj_destroy drains, worker 0 (fj_destroy's thread) looks again
     * now and then: an outside thread the drain waits for is woken without
     * touching this scheduler. */
    if (fj_load_relaxed(&s->shutdown) && w->index == 0)
        fj__os_futex_wait_ns(&s->epoch, e, 100u * 1000 * 1000);
    else
        fj__os_futex_wait(&s->epoch, e);
    FJ_TRACE(w, FJ_EV_WAKE, UINT32_MAX, NULL, 0);
    fj_store_seq_cst(&s->wake_pending, 0);
    /* Something happened: a deadlock the hook let stand may be judged again. */
    fj_store_relaxed(&s->deadlock_reported, 0);
    fj_fetch_sub_seq_cst(&s->sleepers, 1);
    return !should_leave(w);
}

/* ------------------------------------------------------------ running jobs */

static void run_task_inline(fj__worker *w, fj__fiber *self, const fj__task *t)
{
    if (w->batch_counter != t->counter)
        batch_flush(w);
    const char *saved = self->job_name;
    /* job_name is read by reports on other threads: relaxed atomic stores. */
    fj_store_relaxed(&self->job_name, t->name);
    STAT_INC(w, jobs);
    FJ_TRACE(w, FJ_EV_JOB_BEGIN, self->index, t->name, 0);
    bool panicked = fj__job_call(self, t);
    w = fj__current_worker();
    FJ_TRACE(w, FJ_EV_JOB_END, self->index, t->name, panicked);
#ifndef FJ_SAVE_FPU
    /* With FJ_SAVE_FPU a waiting parent may have its own FP control state,
     * which a child run inline on its stack starts from: no fixed reference. */
    FPU_CHECK(w, "job return", t->name);
#endif
    fj_store_relaxed(&self->job_name, saved);
    if (FJ_UNLIKELY(panicked) && t->counter)
        fj_fetch_add_relaxed(&t->counter->fj__panics, 1);
    job_finished(w, t->counter, t->name);
}

/*
 * Every job gets the whole stack its class promises (small_stack_size, or
 * large_stack_size with FJ_JOB_LARGE_STACK). So a waiter never runs a child
 * on what is left of its own stack unless the whole class fits there
 * (fits_here: only a waiter high up a large stack, such as the root). It
 * *calls* the child on a fiber of its own instead (call_child): the waiter
 * hands the job to a fresh fiber and switches to it; when the job returns,
 * that fiber switches straight back to the waiter and goes back to the pool.
 * The waiter is not published on the counter, nor resumed through a deque:
 * two switches and a pool take and put, against a publish, a wake, a deque
 * push and take for parking. Meanwhile the waiter is FJ_FIBER_CALLING and
 * referenced only by the child's call_parent; if the child waits in turn,
 * the child is what the deadlock report shows, and whichever worker finishes
 * the child resumes the waiter.
 */
static size_t stack_left(const fj__fiber *self)
{
    char here;
    return (size_t)(&here - (char *)self->stack_lo);
}

static bool fits_here(const fj__worker *w, const fj__fiber *self, uintptr_t flags)
{
    size_t need = (flags & FJ_JOB_LARGE_STACK) ? w->s->cfg.large_stack_size : w->s->cfg.small_stack_size;
    return stack_left(self) >= need * FJ_SAN_STACK_SCALE + FJ_INLINE_MARGIN;
}

/* A job counted on the counter `parent` waits on (in fj_wait), queued on
 * this worker where the parent would have taken it next (run_child), which
 * this fiber can run: the parent still waits, and the job's stack class fits
 * this fiber's. */
static bool take_sibling(fj__worker *w, const fj__fiber *self, const fj__fiber *parent, fj__task *out)
{
    fj_counter *c = fj_load_relaxed(&parent->wait_counter);
    if (!c)
        return false;
    int64_t pending = w->batch_counter == c ? w->batch_k : 0;
    if (fj_counter_value(c) - pending <= fj_load_relaxed(&parent->wait_target))
        return false;
    for (int q = 0; q < FJ_NQ; q++) {
        fj_counter *tc;
        uintptr_t tflags;
        if (w->chunk && w->chunk_q == q && w->chunk->counter == c)
            return chunk_take(w, out);
        if (!fj__deque_peek_bottom_counter(&w->q[q], &tc, &tflags) || tc != c)
            continue;
        if ((tflags & FJ_JOB_LARGE_STACK) && self->kind != FJ_KIND_LARGE)
            return false;
        if (!fj__deque_take(&w->q[q], out))
            return false;
        if (out->counter != c) {
            /* Cannot happen (only the owner changes the bottom); never lose it. */
            if (fj__deque_push(&w->q[q], out, 1) != 0)
                fj__fatal("fj_wait", "out of memory growing a job queue");
            return false;
        }
        if (is_range(out))
            range_open(w, out);
        return true;
    }
    return false;
}

/* Run t on `child` (taken from the pool for t's class) and return once t
 * has returned; the worker we come back on may be another. */
static fj__worker *call_child(fj__worker *w, fj__fiber *self, fj__fiber *child, const fj__task *t)
{
    child->call_parent = self;
    w->handoff = *t;
    w->has_handoff = true;
    fj_store_relaxed(&self->state, (int)FJ_FIBER_CALLING);
    /* In the trace the caller is suspended meanwhile, as a parked waiter is. */
    FJ_TRACE(w, FJ_EV_SUSPEND, self->index, self->job_name, (uintptr_t)t->counter);
    w = switch_to(w, self, child, FJ_POST_NONE);
    FJ_TRACE(w, FJ_EV_RESUME, self->index, self->job_name, (uintptr_t)t->counter);
    return w;
}

static fj__worker *worker_leave(fj__worker *w, fj__fiber *self);

static void deferred_put(fj_scheduler *s, const fj__task *t)
{
    pthread_mutex_lock(&s->deferred_lock);
    if (s->ndeferred == s->deferred_cap) {
        size_t cap = s->deferred_cap ? s->deferred_cap * 2 : 16;
        fj__task *d = realloc(s->deferred, cap * sizeof *d);
        if (!d)
            fj__fatal("fj_run_jobs", "out of memory deferring a large-stack job");
        s->deferred = d;
        s->deferred_cap = cap;
    }
    s->deferred[s->ndeferred++] = *t;
    fj_fetch_add_seq_cst(&s->deferred_total, 1);
    fj_fence_seq_cst();   /* the other half of the hand-shake in after_switch */
    pthread_mutex_unlock(&s->deferred_lock);
}

static bool deferred_take(fj_scheduler *s, fj__task *out)
{
    bool got = false;
    pthread_mutex_lock(&s->deferred_lock);
    if (s->ndeferred) {
        *out = s->deferred[--s->ndeferred];
        fj_fetch_sub_seq_cst(&s->deferred_total, 1);
        got = true;
    }
    pthread_mutex_unlock(&s->deferred_lock);
    return got;
}

/* A large fiber whose job is done goes back to the pool if a small one can
 * carry on the worker's loop: otherwise idle workers would end up holding the
 * few large fibers and large-stack jobs would wait for them forever. */
static fj__worker *give_back_large(fj__worker *w, fj__fiber *self)
{
    fj__fiber *small = take_small(w);
    if (!small)
        return w;
    batch_flush(w);
    return switch_to(w, self, small, FJ_POST_FREE);
}

/* The loop every fiber runs. Never returns. */
static void fiber_loop(fj__worker *w, fj__fiber *self)
{
    for (;;) {
        fj__task t;
        /* A task handed to this fiber comes first: a call (call_child) must
         * come back even if the worker is about to leave. */
        if (FJ_UNLIKELY(!w->has_handoff && should_leave(w))) {
            w = worker_leave(w, self);
            continue;
        }
        if (FJ_UNLIKELY(fj_load_relaxed(&w->s->deferred_total)) && !w->has_handoff &&
            (self->kind == FJ_KIND_LARGE || (fj_load_relaxed(&w->s->free_large) & 0xffffffffu)))
            w->has_handoff = deferred_take(w->s, &w->handoff);
        if (w->has_handoff) {
            t = w->handoff;
            w->has_handoff = false;
        } else if (!try_find(w, &t)) {
            if (FJ_UNLIKELY(self->kind == FJ_KIND_LARGE) &&
                (w->nspare || (fj_load_relaxed(&w->s->free_small) & 0xffffffffu))) {
                w = give_back_large(w, self);
                continue;
            }
            worker_idle(w);
            continue;
        }
        if (t.fn == NULL) {
            /* Resume a woken or yielded fiber; this one goes back to the pool. */
            fj__fiber *f = t.arg;
            batch_flush(w);
            w = switch_to(w, self, f, FJ_POST_FREE);
            continue;
        }
        if ((t.flags & FJ_JOB_LARGE_STACK) && self->kind != FJ_KIND_LARGE) {
            fj__fiber *big = fj__pool_take(w->s, &w->s->free_large);
            if (!big) {
                deferred_put(w->s, &t);
                continue;
            }
            w->handoff = t;
            w->has_handoff = true;
            batch_flush(w);
            w = switch_to(w, self, big, FJ_POST_FREE);
            continue;
        }
        /* Folded finishes wait only while jobs of their own counter run: a
         * job of any other counter (or none) could run for ever. */
        if (w->batch_counter != t.counter)
            batch_flush(w);
        fj_store_relaxed(&self->job_name, t.name);
        STAT_INC(w, jobs);
        FJ_TRACE(w, FJ_EV_JOB_BEGIN, self->index, t.name, 0);
        bool panicked = fj__job_call(self, &t);
        w = fj__current_worker();
        FJ_TRACE(w, FJ_EV_JOB_END, self->index, t.name, panicked);
        FPU_CHECK(w, "job return", t.name);
        fj_store_relaxed(&self->job_name, (const char *)NULL);
        if (FJ_UNLIKELY(t.flags & FJ_TASK_ROOT)) {
            batch_flush(w);
            fj_store_relaxed(&w->s->root_panicked, panicked ? 1u : 0u);
            fj_store_release(&w->s->root_done, 1);
            notify_all(w->s);
            w = give_back_large(w, self);
            continue;
        }
        if (FJ_UNLIKELY(panicked) && t.counter)
            fj_fetch_add_relaxed(&t.counter->fj__panics, 1);
        job_finished(w, t.counter, t.name);
        if (FJ_UNLIKELY(self->call_parent)) {
            /* Called by a waiter (call_child). If another child of the same
             * wait is still queued here, run it on this fiber, back at its
             * base with its whole stack, instead of two more switches; then
             * back to the waiter, and this fiber back to the pool. */
            if (take_sibling(w, self, self->call_parent, &w->handoff)) {
                w->has_handoff = true;
                continue;
            }
            fj__fiber *parent = self->call_parent;
            self->call_parent = NULL;
            w = switch_to(w, self, parent, FJ_POST_FREE);
            continue;
        }
        if (FJ_UNLIKELY(self->kind == FJ_KIND_LARGE))
            w = give_back_large(w, self);
    }
}

static void fiber_entry(fj__ctx *from, void *arg)
{
    (void)from;
    fj__fiber *self = arg;
    fj__san_first_start();
    fj__worker *w = fj__current_worker();
    after_switch(w, self);
    fiber_loop(w, self);
    abort();
}

/* Leave the scheduler (worker 0 when the root job returned, everyone at exit):
 * hand private work to the deques where others can steal it, then go back to
 * the thread's own stack. Returns only if this fiber is later reused. */
static fj__worker *worker_leave(fj__worker *w, fj__fiber *self)
{
    batch_flush(w);
    spare_give_back(w);
    size_t moved = 0;
    if (w->chunk) {
        chunk_hand_back(w);
        moved++;
    }
    fj__task t;
    while (take_yielded(w, &t)) {
        if (fj__deque_push(&w->ready, &t, 1) != 0)
            fj__fatal("fj_main", "out of memory growing a ready queue");
        moved++;
    }
    fj__notify(w->s, moved);
    w->post_kind = FJ_POST_FREE;
    w->post_fiber = self;
    fj__san_before_switch(&self->san, &w->thread_san);
    fj__ctx_switch(&self->ctx, &w->thread_ctx);
    fj__san_after_switch(&self->san);
    w = fj__current_worker();
    after_switch(w, self);
    return w;
}

/* Enter the scheduler on the calling thread as worker w, starting on a fiber
 * from the pool; return when the worker leaves. */
static void worker_enter(fj__worker *w, const fj__task *first)
{
    fj_scheduler *s = w->s;
    tls_worker = w;
    fj__fiber *f;
    bool counted_stuck = false;
    for (;;) {
        f = fj__pool_take(s, first ? &s->free_large : &s->free_small);
        if (!f)
            f = fj__pool_take(s, first ? &s->free_small : &s->free_large);
        if (f)
            break;
        /* Every fiber is in use (waiting jobs hold them): this worker can only
         * join once one comes free. Meanwhile it counts as stuck for the
         * deadlock check. */
        if (!counted_stuck) {
            fj_fetch_add_seq_cst(&s->stuck, 1);
            counted_stuck = true;
        }
        if (!first && fj_load_acquire(&s->exit))
            break;
        fj__os_sleep_ns(200 * 1000);
    }
    if (counted_stuck)
        fj_fetch_sub_seq_cst(&s->stuck, 1);
    if (!f) {
        tls_worker = NULL;
        return;
    }
    if (first) {
        w->handoff = *first;
        w->has_handoff = true;
    }
    w->post_kind = FJ_POST_NONE;
    w->current = f;
    void *stack_lo = NULL;
    size_t stack_size = 0;
    fj__os_thread_stack(&stack_lo, &stack_size);
    fj__san_thread_init(&w->thread_san, stack_lo, stack_size);
    fj__san_before_switch(&w->thread_san, &f->san);
    fj__ctx_switch(&w->thread_ctx, &f->ctx);
    fj__san_after_switch(&w->thread_san);
    /* Back on the thread's own stack: finish the leaving fiber's hand-off
     * (to the pool: a worker away keeps no spares). */
    after_switch(w, NULL);
    spare_give_back(w);
    tls_worker = NULL;
}

static void *worker_thread(void *arg)
{
    fj__worker *w = arg;
    fj_scheduler *s = w->s;
    fpu_apply(&s->workers[0], w);
    fj__altstack_enter(w);
    worker_enter(w, NULL);
    fj__altstack_leave(w);
    return NULL;
}

/* ------------------------------------------------------------ public API */

static int config_check(const fj_config *c, unsigned *nworkers, int **cpus_out)
{
    int allowed[1024], raw[1024];
    int nraw = fj__os_allowed_cpus(raw, 1024);
    if (nraw <= 0)
        return FJ_EAFFINITY;
    /* One per physical core first, then SMT siblings (none with avoid_smt). */
    int nallowed = fj__topology_order(raw, nraw, c->avoid_smt, allowed);
    /* The ranges are documented at the fields of fj_config (fiberjob.h). */
    if ((c->pin_threads != 0 && c->pin_threads != 1) || (c->avoid_smt != 0 && c->avoid_smt != 1))
        return FJ_EINVAL;
    if (c->small_fibers == 0 || c->large_fibers == 0)
        return FJ_EINVAL;
    if ((uint64_t)c->small_fibers + c->large_fibers > FJ_MAX_FIBERS)
        return FJ_ELIMIT;   /* wait lists name waiters by 16-bit ids */
    if (c->small_stack_size < FJ_MIN_STACK || c->large_stack_size < FJ_MIN_STACK ||
        c->small_stack_size > FJ_MAX_STACK || c->large_stack_size > FJ_MAX_STACK)
        return FJ_EINVAL;
    if (c->spin_before_sleep > FJ_MAX_SPIN || c->trace_events > FJ_MAX_TRACE_EVENTS)
        return FJ_EINVAL;
    unsigned n = c->workers ? c->workers : (unsigned)nallowed;
    if (n > FJ_MAX_WORKERS)
        return FJ_ELIMIT;
    /* Each fiber in use splits its stack region's mapping (up to two more
     * mappings): refuse now a pool that the kernel's limit cannot hold,
     * rather than stop mid-run when the pool is used. */
    uint64_t need = 2 * ((uint64_t)c->small_fibers + c->large_fibers) + 2 * n + 16;
    if (!fj__os_mappings_fit(need))
        return FJ_ELIMIT;
    /* Every worker needs a fiber to run on, and the root job a large one. */
    if (c->small_fibers + c->large_fibers < n + 1)
        return FJ_EINVAL;
    if (c->cpus && (c->cpu_count == 0 || c->cpu_count > FJ_MAX_WORKERS))
        return FJ_EINVAL;
    if (!c->cpus && c->cpu_count)
        return FJ_EINVAL;
    *nworkers = n;
    *cpus_out = NULL;
    if (!c->pin_threads)
        return 0;
    int *cpus = malloc(sizeof(int) * n);
    if (!cpus)
        return FJ_ENOMEM;
    for (unsigned i = 0; i < n; i++) {
        int cpu = c->cpus ? c->cpus[i % c->cpu_count] : allowed[i % (unsigned)nallowed];
        bool ok = false;
        for (int k = 0; k < nraw; k++)
            ok |= raw[k] == cpu;
        if (!ok) {
            free(cpus);
            return FJ_EAFFINITY;
        }
        cpus[i] = cpu;
    }
    *cpus_out = cpus;
    return 0;
}

static void sched_free(fj_scheduler *s)
{
    if (s->workers) {
        for (unsigned i = 0; i < s->nworkers; i++) {
            fj__deque_free(&s->workers[i].ready);
            for (int q = 0; q < FJ_NQ; q++)
                fj__deque_free(&s->workers[i].q[q]);
            batch_free_all(&s->workers[i]);
            fj__altstack_free(&s->workers[i]);
        }
        fj__trace_destroy(s);
        free(s->workers);
    }
    fj__fibers_destroy(s);
    free(s->deferred);
    pthread_mutex_destroy(&s->deferred_lock);
    if (s->signals_installed)
        fj__signals_uninstall();
    free(s->cpus);
    free(s);
}

static void sched_stop_threads(fj_scheduler *s)
{
    fj_store_release(&s->shutdown, 1);
    fj_store_release(&s->exit, 1);
    notify_all(s);
    for (unsigned i = 1; i < s->nworkers; i++)
        if (s->workers[i].thread)
            pthread_join(s->workers[i].thread, NULL);
}

fj_scheduler *fj_create(const fj_config *config)
{
    fj_config c = config ? *config : fj_config_default();
    unsigned n;
    int *cpus;
    int rc = config_check(&c, &n, &cpus);
    if (rc) {
        tls_last_error = rc;
        return NULL;
    }
    fj_scheduler *s = aligned_alloc(FJ_CACHE_PAD, sizeof *s);
    if (!s) {
        free(cpus);
        tls_last_error = FJ_ENOMEM;
        return NULL;
    }
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->deferred_lock, NULL);
    s->cfg = c;
    s->cpus = cpus;
    s->nworkers = n;
    s->nsmall = c.small_fibers;
    s->nlarge = c.large_fibers;
    s->workers = aligned_alloc(FJ_CACHE_PAD, sizeof(fj__worker) * n);
    rc = s->workers ? 0 : FJ_ENOMEM;
    if (!rc) {
        memset(s->workers, 0, sizeof(fj__worker) * n);
        for (unsigned i = 0; i < n && !rc; i++) {
            fj__worker *w = &s->workers[i];
            w->s = s;
            w->index = i;
            w->cpu = cpus ? cpus[i] : -1;
            w->llc = -1;
            w->rng = 0x9e3779b97f4a7c15ull * (i + 1) | 1;
            rc = fj__deque_init(&w->ready, 64);
            for (int q = 0; q < FJ_NQ && !rc; q++)
                rc = fj__deque_init(&w->q[q], 256);
        }
    }
    if (!rc)
        rc = fj__fibers_create(s, fiber_entry);
    /* Signal stacks now, not on the workers: a worker that could not have one
     * could not report a stack overflow. */
    for (unsigned i = 0; i < n && !rc; i++)
        rc = fj__altstack_alloc(&s->workers[i]);
    if (!rc)
        rc = fj__trace_init(s);
    if (!rc) {
        fj__signals_install();
        s->signals_installed = true;
    }
    if (rc) {
        sched_free(s);
        tls_last_error = rc;
        return NULL;
    }
    if (cpus) {
        fj__cpu_info *info = malloc(sizeof *info * n);
        if (info) {
            fj__topology_read(cpus, (int)n, info);
            for (unsigned i = 0; i < n; i++)
                s->workers[i].llc = info[i].llc;
            free(info);
        }
    }
    fpu_capture(&s->workers[0]);
    s->active = n - 1;   /* worker 0 joins in fj_main */
    for (unsigned i = 1; i < n; i++) {
        rc = fj__os_thread_start(&s->workers[i].thread, worker_thread, &s->workers[i], s->workers[i].cpu);
        if (rc != 0) {
            s->workers[i].thread = 0;
            sched_stop_threads(s);
            sched_free(s);
            /* A CPU the thread could not be pinned to, or no thread at all. */
            tls_last_error = rc == -EINVAL && cpus ? FJ_EAFFINITY : FJ_ETHREAD;
            return NULL;
        }
    }
    registry_add(s);
    tls_last_error = 0;
    return s;
}

/* Run the calling thread as worker 0 until it leaves. */
static void main_participate(fj_scheduler *s, const fj__task *root)
{
    fj__worker *w0 = &s->workers[0];
    void *saved = NULL;
    if (w0->cpu >= 0 && (saved = fj__os_affinity_save()) != NULL) {
        int rc = fj__os_pin_self(w0->cpu);
        if (rc != 0) {
            free(saved);
            saved = NULL;
        }
        if (rc != 0 && !s->pin_warned) {
            /* Not worth failing fj_main for, but not to be hidden either. */
            s->pin_warned = true;
            fprintf(stderr, "fiberjob: %s: could not pin the calling thread (worker 0) to CPU %d (%s); it runs "
                    "unpinned\n", root ? "fj_main" : "fj_destroy", w0->cpu, strerror(-rc));
        }
    }
    fpu_capture(w0);
    fj__altstack_enter(w0);
    fj_fetch_add_seq_cst(&s->active, 1);
    worker_enter(w0, root);
    fj_fetch_sub_seq_cst(&s->active, 1);
    fj__altstack_leave(w0);
    fj__os_affinity_restore(saved);
}

int fj_main(fj_scheduler *s, fj_job_fn fn, void *arg)
{
    if (fj__current_worker())
        fj__fatal("fj_main", "called from inside a job: fj_main does not nest; use fj_run_jobs and fj_wait");
    if (!s || !fn)
        return FJ_EINVAL;
    check_live("fj_main", s);
    uint32_t expected = 0;
    if (!__atomic_compare_exchange_n(&s->main_running, &expected, 1, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE))
        return FJ_EBUSY;
    fj_store_relaxed(&s->root_done, 0);
    fj__task root = { .fn = fn, .arg = arg, .name = "fj_main root", .flags = FJ_TASK_ROOT };
    main_participate(s, &root);
    int rc = fj_load_relaxed(&s->root_panicked) ? FJ_EPANIC : 0;
    fj_store_release(&s->main_running, 0);
    return rc;
}

/* After the drain every fiber should be free: any still waiting waits for a
 * count that no job can finish. */
static void report_stranded(fj_scheduler *s)
{
    unsigned stranded = 0;
    for (uint32_t i = 0; i < s->nsmall + s->nlarge; i++) {
        fj__fiber *f = &s->fibers[i];
        if (fj_load_relaxed(&f->state) == FJ_FIBER_WAITING) {
            if (stranded++ < 32)
                fprintf(stderr, "fiberjob: fj_destroy: job '%s' still waits on counter %p (value %lld, target %lld)\n",
                        job_name_or(fj_load_relaxed(&f->job_name)), (void *)fj_load_relaxed(&f->wait_counter),
                        (long long)fj__word_value(fj_load_acquire(&fj_load_relaxed(&f->wait_counter)->fj__word)),
                        (long long)fj_load_relaxed(&f->wait_target));
        }
    }
    if (stranded)
        fj__fatal("fj_destroy", "%u fibers wait on counters that no queued or running job can finish (deadlock)",
                  stranded);
}

void fj_destroy(fj_scheduler *s)
{
    if (!s)
        return;
    if (fj__current_worker())
        fj__fatal("fj_destroy", "called from inside a job");
    check_live("fj_destroy", s);
    uint32_t expected = 0;
    if (!__atomic_compare_exchange_n(&s->main_running, &expected, 1, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE))
        fj__fatal("fj_destroy", "called while fj_main runs on another thread");
    /* Outside threads submit elsewhere from now on; deadlock checks still see
     * s until it is freed. */
    pthread_mutex_lock(&registry_lock);
    s->destroying = true;
    default_update_locked();
    pthread_mutex_unlock(&registry_lock);
    /* Drain: worker 0 joins until every worker is idle, no queue holds work
     * and nothing waits (drain_done); what still waits is judged as a
     * deadlock, with the hook asked as during fj_main. */
    fj_store_release(&s->shutdown, 1);
    notify_all(s);
    main_participate(s, NULL);
    sched_stop_threads(s);
    /* A thread outside, or a worker of another scheduler, may still be
     * leaving fj_run_jobs or a wake it queued here (fj__resume_waiter). */
    while (fj_load_seq_cst(&s->outside_refs))
        fj__os_yield();
    report_stranded(s);
    fj__trace_at_exit(s);
    registry_remove(s);
    sched_free(s);
}

/* ------------------------------------------------------------ jobs */

static void check_jobs(const char *call, const fj_job *jobs, size_t count)
{
    if (!jobs && count)
        fj__fatal(call, "jobs is NULL with count %zu", count);
    for (size_t i = 0; i < count; i++) {
        if (!jobs[i].fn)
            fj__fatal(call, "job %zu of %zu ('%s') has a NULL function", i, count, job_name_or(jobs[i].name));
        if ((unsigned)jobs[i].priority > FJ_PRIORITY_LOW)
            fj__fatal(call, "job %zu ('%s') has priority %d, not an fj_priority", i,
                      job_name_or(jobs[i].name), (int)jobs[i].priority);
        if (jobs[i].flags & ~FJ_JOB_DEFINED)
            fj__fatal(call, "job %zu of %zu ('%s') has undefined flag bits %#x (only FJ_JOB_LARGE_STACK is defined)",
                      i, count, job_name_or(jobs[i].name), jobs[i].flags & ~FJ_JOB_DEFINED);
    }
}

static inline fj__task task_of(const fj_job *j, fj_counter *c)
{
    return (fj__task){ .fn = j->fn, .arg = j->arg, .name = j->name ? j->name : "(unnamed)",
                       .counter = c, .flags = j->flags | ((uintptr_t)prio_queue(j->priority) << 24) };
}

static void run_jobs_external(fj_scheduler *s, const fj_job *jobs, size_t count, fj_counter *counter)
{
    fj__task buf[64];
    /* Between the add and the push the count is not yet visible as queued work:
     * inject_inflight keeps the deadlock check from judging in that window. */
    fj__inflight_enter(s);
    if (counter)
        fj__counter_add(counter, count, "fj_run_jobs");
    for (size_t i = 0; i < count;) {
        size_t n = count - i < 64 ? count - i : 64;
        for (size_t k = 0; k < n; k++)
            buf[k] = task_of(&jobs[i + k], counter);
        inject_tasks(s, buf, n);
        i += n;
    }
    fj__inflight_leave(s);
}

void fj_run_jobs_on(fj_scheduler *s, const fj_job *jobs, size_t count, fj_counter *counter)
{
    check_live("fj_run_jobs_on", s);
    check_jobs("fj_run_jobs_on", jobs, count);
    if (count == 0)
        return;
    fj__worker *w = fj__current_worker();
    if (w && w->s == s) {
        fj_run_jobs(jobs, count, counter);
        return;
    }
    run_jobs_external(s, jobs, count, counter);
}

void fj_run_jobs(const fj_job *jobs, size_t count, fj_counter *counter)
{
    fj__worker *w = fj__current_worker();
    if (FJ_UNLIKELY(!w)) {
        check_jobs("fj_run_jobs", jobs, count);
        if (count == 0)
            return;
        fj_scheduler *s = __atomic_load_n(&default_sched, __ATOMIC_ACQUIRE);
        if (!s)
            fj__fatal("fj_run_jobs", "called outside a job and no scheduler exists");
        run_jobs_external(s, jobs, count, counter);
        return;
    }
    if (FJ_UNLIKELY(!jobs || count == 0)) {
        check_jobs("fj_run_jobs", jobs, count);
        return;
    }
    if (counter)
        fj__counter_add(counter, count, "fj_run_jobs");
    size_t i = 0;
    while (i < count) {
        /* Runs of equal priority are pushed as one batch (one release store of
         * bottom), written straight into the deque's slots. */
        int q = prio_queue(jobs[i].priority);
        size_t n = 1;
        unsigned flags = jobs[i].flags;
        while (i + n < count && prio_queue(jobs[i + n].priority) == q) {
            flags |= jobs[i + n].flags;
            n++;
        }
        if (n >= FJ_BATCH_MIN && flags == 0) {
            /* Many plain jobs: queue them as batches (see "batches"). */
            for (size_t k = 0; k < n; k++)
                if (FJ_UNLIKELY(!jobs[i + k].fn || (unsigned)jobs[i + k].priority > FJ_PRIORITY_LOW))
                    check_jobs("fj_run_jobs", jobs, count); /* names the bad job and stops */
            size_t done = push_batches(w, jobs + i, n, q, counter);
            i += done;
            n -= done;
            if (n == 0)
                continue;
        }
        int64_t b;
        fj__deque_array *a = fj__deque_reserve(&w->q[q], n, &b);
        for (size_t k = 0; k < n; k++) {
            const fj_job *j = &jobs[i + k];
            if (FJ_UNLIKELY(!j->fn || (unsigned)j->priority > FJ_PRIORITY_LOW || (j->flags & ~FJ_JOB_DEFINED)))
                check_jobs("fj_run_jobs", jobs, count); /* names the bad job and stops */
            fj__task t = task_of(j, counter);
            if (FJ_LIKELY(a != NULL)) {
                fj__deque_write(a, b + (int64_t)k, &t);
            } else {
                /* The queue could not grow: run it now rather than lose it,
                 * on a fiber of its own or here if its whole stack fits. */
                fj__fiber *self = w->current, *child = take_fiber(w, t.flags);
                if (child) {
                    fj_store_relaxed(&self->wait_counter, (fj_counter *)NULL);
                    w = call_child(w, self, child, &t);
                }
                else if (fits_here(w, self, t.flags))
                    run_task_inline(w, self, &t);
                else
                    fj__fatal("fj_run_jobs", "out of memory growing a job queue, and no free fiber to run job "
                              "'%s' on", t.name);
                w = fj__current_worker();
            }
        }
        if (FJ_LIKELY(a != NULL))
            fj__deque_publish(&w->q[q], b + (int64_t)n);
        i += n;
    }
    fj__notify(w->s, count);
}

/* ------------------------------------------------------------ waiting */

/*
 * fj_wait on a thread outside every scheduler: block on a futex in a
 * process-wide record (fiber.c), so that nothing here depends on a scheduler
 * staying alive. Now and then (50 ms, doubling to 1 s) the thread looks at
 * whether anything could still finish the count, and reports a deadlock
 * as a fiber's would be (deadlock_judge).
 */
static void wait_external(fj_counter *c, int64_t target)
{
    if (fj_counter_value(c) <= target)
        return;
    /* Any live scheduler, one being destroyed included: its drain may still
     * run the jobs this thread waits for. */
    pthread_mutex_lock(&registry_lock);
    bool alive = registry != NULL;
    pthread_mutex_unlock(&registry_lock);
    /* None: the last one may have drained the jobs and left the registry
     * since the read above (its removal, under the lock we just took, comes
     * after its drain), so look at the value once more before judging. */
    if (!alive && fj_counter_value(c) <= target)
        return;
    if (!alive)
        fj__fatal("fj_wait", "called outside a job with no scheduler running: nothing could ever "
                  "finish the counter (value %lld, target %lld)",
                  (long long)fj_counter_value(c), (long long)target);
    fj__fiber *rec = fj__outside_take();
    if (!rec) {
        /* No memory or no waiter id left for a record: poll, slowly. */
        while (fj_counter_value(c) > target) {
            fj__os_sleep_ns(100 * 1000);
        }
        return;
    }
    fj_store_relaxed(&rec->job_name, "(outside thread)");
    fj_store_relaxed(&rec->wake, 0);
    fj_store_seq_cst(&rec->state, (int)(FJ_FIBER_WAITING));
    fj_fetch_add_seq_cst(&fj__outside_waiting, 1);
    if (fj__counter_publish(c, rec, target)) {
        uint64_t nap = 50u * 1000 * 1000;
        while (fj_load_acquire(&rec->wake) == 0) {
            if (fj__os_futex_wait_ns(&rec->wake, 0, nap))
                continue;
            if (fj_load_acquire(&rec->wake) == 0)
                deadlock_judge(NULL, "every worker is idle and nothing is queued", NULL, NULL, 0);
            nap = nap < 500u * 1000 * 1000 ? nap * 2 : 1000u * 1000 * 1000;
        }
    }
    fj_store_seq_cst(&rec->state, (int)(FJ_FIBER_EXTERNAL));
    fj_fetch_sub_seq_cst(&fj__outside_waiting, 1);
    fj__outside_put(rec);
}

/* Run one of our own children of c that is still queued on this worker (the
 * chunk or the bottom of a deque), on a fiber of its own (call_child), or
 * here when its whole stack class fits. False when there is none, or no fiber
 * and no room: then the caller parks. */
static bool run_child(fj__worker **wp, fj__fiber *self, fj_counter *c)
{
    fj__worker *w = *wp;
    for (int q = 0; q < FJ_NQ; q++) { /* high, normal, low: priority order holds here too */
        fj__task t;
        fj_counter *tc;
        uintptr_t tflags;
        bool in_chunk = w->chunk && w->chunk_q == q && w->chunk->counter == c;
        if (!in_chunk && !(fj__deque_peek_bottom_counter(&w->q[q], &tc, &tflags) && tc == c))
            continue;
        if (in_chunk)
            tflags = 0;   /* batched jobs are plain: small stack */
        fj__fiber *child = NULL;
        if (!fits_here(w, self, tflags)) {
            child = take_fiber(w, tflags);
            if (!child)
                return false;
        }
        bool took = in_chunk ? chunk_take(w, &t) : fj__deque_take(&w->q[q], &t);
        if (!took || t.counter != c) {
            /* A thief took it meanwhile (the deque's last entry), or (cannot
             * happen: only the owner changes the bottom) another job is there
             * now: never lose a job or a fiber. */
            if (took && fj__deque_push(&w->q[q], &t, 1) != 0)
                fj__fatal("fj_wait", "out of memory growing a job queue");
            if (child)
                put_fiber(w, child);
            return false;
        }
        if (!in_chunk && is_range(&t)) {
            range_open(w, &t);
        }
        if (child)
            *wp = call_child(w, self, child, &t);
        else
            run_task_inline(w, self, &t);
        return true;
    }
    return false;
}

/* A job spins in fj_wait with no fiber to switch to: is that final? Only when
 * both pools are empty, nothing could run here, and every other worker sleeps. */
static bool pool_deadlocked(fj__worker *w)
{
    fj_scheduler *s = w->s;
    if ((fj_load_acquire(&s->free_small) | fj_load_acquire(&s->free_large)) & 0xffffffffu)
        return false;
    if (fj_load_seq_cst(&s->inject_inflight) || fj_load_acquire(&s->inject) || w->yield_head)
        return false;
    if (fj_load_relaxed(&s->deadlock_reported))
        return false;
    for (unsigned v = 0; v < s->nworkers; v++)
        if (fj__deque_size_hint(&s->workers[v].ready) > 0)
            return false;   /* a woken fiber can still run */
    uint32_t active = fj_load_seq_cst(&s->active), stuck = fj_load_seq_cst(&s->stuck);
    /* Every worker is stuck like us (we count ourselves): queued jobs cannot
     * start, there is no fiber to start them on nor room to run them inline. */
    if (stuck >= active)
        return true;
    /* Or the rest sleep, which they only do when no job is queued. */
    return !has_work(w) && fj_load_seq_cst(&s->sleepers) + stuck >= active;
}

/* Every fiber is taken: run a queued job of our own here, on this stack,
 * if its whole stack class fits below us (fits_here). */
static bool run_any_inline(fj__worker *w, fj__fiber *self)
{
    if (!fits_here(w, self, 0)) {
        /* No room here: a private chunk must not wait for this fiber. Put it
         * where a worker with a fiber free can steal it. */
        if (w->chunk) {
            chunk_hand_back(w);
            fj__notify(w->s, 1);
        }
        return false;
    }
    fj__task t;
    if (chunk_take(w, &t)) {
        run_task_inline(w, self, &t);
        return true;
    }
    for (int q = 0; q < FJ_NQ; q++) {
        if (fj__deque_take(&w->q[q], &t)) {
            if (is_range(&t))
                range_open(w, &t);
            if (!t.fn || !fits_here(w, self, t.flags)) {
                if (fj__deque_push(&w->q[q], &t, 1) != 0)
                    fj__fatal("fj_wait", "out of memory growing a job queue");
                continue;
            }
            run_task_inline(w, self, &t);
            return true;
        }
    }
    return false;
}

void fj_wait(fj_counter *c, int64_t target)
{
    if (!c)
        fj__fatal("fj_wait", "counter is NULL");
    if (target < 0 || target > FJ_WAIT_TARGET_MAX)
        fj__fatal("fj_wait", "target %lld is outside 0..%d", (long long)target, FJ_WAIT_TARGET_MAX);
    fj__worker *w = fj__current_worker();
    if (!w) {
        wait_external(c, target);
        return;
    }
    fj__fiber *self = w->current;
    if (w->batch_counter != c)
        batch_flush(w);
#ifndef FJ_SAVE_FPU
    /* With FJ_SAVE_FPU each fiber keeps its own FP control state across the
     * switch, so only the job's return is checked. */
    FPU_CHECK(w, "fj_wait", self->job_name);
#endif
    /* Run our own children that are still in our deque before parking. Their
     * finishes collect in the worker's batch; the value we compare counts them.
     * The counter and target are recorded for reports (and the debugger) while
     * a child runs on another fiber (call_child). */
    fj_store_relaxed(&self->wait_counter, c);
    fj_store_relaxed(&self->wait_target, target);
    for (;;) {
        int64_t pending = w->batch_counter == c ? w->batch_k : 0;
        if (fj_counter_value(c) - pending <= target || !run_child(&w, self, c))
            break;
        w = fj__current_worker();
    }
    batch_flush(w);
    unsigned stuck = 0;
    uint64_t stuck_since = 0;
    for (;;) {
        if (fj_counter_value(c) <= target) {
            if (stuck >= 1000)
                fj_fetch_sub_seq_cst(&w->s->stuck, 1);
            return;
        }
        fj__task t;
        fj__fiber *next = NULL;
        if (fj__deque_take(&w->ready, &t)) {
            next = t.arg;
        } else if (stuck && take_yielded(w, &t)) {
            next = t.arg;   /* no fiber to spare: let a yielded one go on */
        } else {
            next = take_small(w);
            if (!next)
                next = fj__pool_take(w->s, &w->s->free_large);
        }
        if (next) {
            if (stuck >= 1000)
                fj_fetch_sub_seq_cst(&w->s->stuck, 1);
            w->post_counter = c;
            w->post_target = target;
            fj_store_relaxed(&self->state, (int)(FJ_FIBER_WAITING));
            FJ_TRACE(w, FJ_EV_SUSPEND, self->index, self->job_name, c);
            w = switch_to(w, self, next, FJ_POST_WAIT);
            FJ_TRACE(w, FJ_EV_RESUME, self->index, self->job_name, c);
            return;
        }
        /* Every fiber is taken. Keep resuming woken fibers (above); rather than
         * deadlock, run a queued job of our own on this stack while it has room
         * (it delays this fiber's return until that job is done); otherwise wait
         * for a fiber to come free. */
        if (!run_any_inline(w, self)) {
            fj_cpu_relax();
            fj__os_yield();
            if (++stuck == 1000) {
                fj_fetch_add_seq_cst(&w->s->stuck, 1);
                stuck_since = fj__os_now_ns();
            }
            /* Sleepers could take the queued work this stuck fiber cannot run
             * (each has a fiber of its own): wake one now and then. */
            if ((stuck & 255) == 0 && fj_load_relaxed(&w->s->sleepers) && has_work(w))
                fj__notify(w->s, 1);
            /* Judged after a while stuck (time, not spins: sched_yield is slow
             * on a loaded machine), and then only when nothing can progress. */
            if (stuck > 1000 && (stuck & 255) == 0 && fj__os_now_ns() - stuck_since > 100000000u &&
                pool_deadlocked(w)) {
                deadlock_judge(w->s, "the fiber pool is exhausted and every worker is idle or waiting", self,
                               c, target);
                fj_fetch_sub_seq_cst(&w->s->stuck, 1);
                stuck = 0;
            }
        } else {
            if (stuck >= 1000)
                fj_fetch_sub_seq_cst(&w->s->stuck, 1);
            stuck = 0;
        }
        w = fj__current_worker();
        batch_flush(w);
    }
}

void fj_yield(void)
{
    fj__worker *w = fj__current_worker();
    if (!w || !w->current)
        fj__fatal("fj_yield", "called outside a job");
    fj__fiber *self = w->current;
    batch_flush(w);
    fj__task t;
    fj__fiber *next = NULL;
    if (fj__deque_take(&w->ready, &t)) {
        next = t.arg;
    } else {
        bool other = w->yield_head || w->chunk || fj_load_relaxed(&w->s->inject);
        for (int q = 0; q < FJ_NQ && !other; q++)
            other = fj__deque_size_hint(&w->q[q]) > 0;
        for (unsigned v = 0; v < w->s->nworkers && !other; v++)
            other = fj__deque_size_hint(&w->s->workers[v].ready) > 0;
        if (!other)
            return;   /* nothing else is ready: carry on */
        next = take_small(w);
        if (!next)
            return;
    }
    fj_store_relaxed(&self->state, (int)(FJ_FIBER_YIELDED));
    FJ_TRACE(w, FJ_EV_SUSPEND, self->index, self->job_name, 0);
    w = switch_to(w, self, next, FJ_POST_YIELD);
    FJ_TRACE(w, FJ_EV_RESUME, self->index, self->job_name, 0);
}
