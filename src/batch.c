/*
 * Job batches: fj_run_jobs of many plain jobs queues one deque entry per
 * range of jobs instead of one per job, and the worker that takes a range
 * keeps it as its private chunk. It owns the batch pool (slabs, spares, the
 * return stacks) and the chunk of each worker (internal.h: fj__worker.chunk).
 *
 * Not to be confused with folded finishes (counter.c: fj__fold_*), which
 * fold the *finishes* of consecutive jobs of one counter into one CAS.
 */
#include <stddef.h>
#include <string.h>

#include "internal.h"

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
static size_t slab_bytes(size_t n)
{
    return sizeof(fj__batch_slab) + n * sizeof(fj__batch);
}

static fj__batch *batch_alloc(fj__worker *w)
{
    size_t n = w->batch_count < 4 ? 4 : w->batch_count;
    fj__batch_slab *slab = fj__mem_alloc(&w->s->mem, slab_bytes(n), _Alignof(fj__batch_slab));
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

void fj__batches_free(fj__worker *w)
{
    for (fj__batch_slab *slab = w->batch_slabs, *next; slab; slab = next) {
        next = slab->next;
        fj__mem_free(&w->s->mem, slab, slab_bytes(slab->n), _Alignof(fj__batch_slab));
    }
    w->batch_slabs = NULL;
    w->batch_free = NULL;
    w->batch_returned = NULL;
    w->batch_count = 0;
}

static int range_push(fj__worker *w, fj__batch *b, uint32_t lo, uint32_t hi, int q)
{
    fj__task e = { .fn = range_marker, .arg = b, .name = fj__batch_job_name(b, lo), .counter = b->counter,
                   .flags = FJ_TASK_RANGE | (uint32_t)b->flags | (uintptr_t)q << FJ_TASK_Q_SHIFT |
                            (uintptr_t)lo << FJ_TASK_LO_SHIFT | (uintptr_t)hi << FJ_TASK_HI_SHIFT };
    return fj__deque_push(&w->q[q], &e, 1);
}

/* Done with the chunk: count the jobs started from it off the batch (every
 * take moved chunk_lo up by one; a split moves only chunk_hi). */
void fj__chunk_close(fj__worker *w)
{
    fj__batch *b = w->chunk;
    int64_t k = (int64_t)(w->chunk_lo - w->chunk_lo0);
    w->chunk = NULL;
    if (k && fj_fetch_sub_acq_rel(&b->left, k) == k)
        batch_put(w, b);
}

void fj__chunk_hand_back(fj__worker *w)
{
    if (w->chunk_lo < w->chunk_hi && range_push(w, w->chunk, w->chunk_lo, w->chunk_hi, w->chunk_q) != 0)
        fj__fatal("fj_run_jobs", "out of memory (the allocator returned NULL for %zu bytes) queueing job '%s' "
                  "and the %u after it", w->q[w->chunk_q].failed_bytes,
                  fj__batch_job_name(w->chunk, w->chunk_lo), w->chunk_hi - w->chunk_lo - 1);
    fj__chunk_close(w);
}

/* Workers are idle (fj__chunk_take saw them): keep our share of the chunk,
 * give them the rest as one entry (the thief splits it again while others
 * are idle). If the deque cannot grow, keep it all: not lost, only not
 * shared. */
void fj__chunk_split(fj__worker *w)
{
    fj_scheduler *s = w->s;
    uint32_t lo = w->chunk_lo, hi = w->chunk_hi;
    uint32_t idle = fj_load_relaxed(&s->spinning) + fj_load_relaxed(&s->sleepers);
    if (idle == 0)
        return;   /* they found work meanwhile */
    uint32_t mid = lo + ((hi - lo) / (idle + 1) > 0 ? (hi - lo) / (idle + 1) : 1);
    if (range_push(w, w->chunk, mid, hi, w->chunk_q) == 0) {
        w->chunk_hi = mid;
        fj__notify(s, 1);
    }
}

bool fj__chunk_take(fj__worker *w, fj__task *out) { return fj__chunk_take_inline(w, out); }

/* A chunk already open goes back to the deque first. */
void fj__range_open(fj__worker *w, fj__task *t)
{
    if (w->chunk)
        fj__chunk_hand_back(w);
    w->chunk = t->arg;
    w->chunk_q = fj__task_queue(t);
    w->chunk_lo = fj__task_lo(t);
    w->chunk_hi = fj__task_hi(t);
    w->chunk_lo0 = w->chunk_lo;
    fj__chunk_take(w, t);
}

/* Copy k jobs into b: only their args when they all have the first one's
 * function and name (a uniform batch, fj__batch), else whole. */
static void batch_fill(fj__batch *b, const fj_job *jobs, uint32_t k)
{
    fj_job_fn fn = jobs[0].fn;
    const char *name = jobs[0].name;
    uint32_t i = 0;
    while (i < k && jobs[i].fn == fn && jobs[i].name == name) {
        b->u.args[i] = jobs[i].arg;
        i++;
    }
    if (i == k) {
        b->fn = fn;
        b->name = fj__job_name(name);
    } else {
        b->fn = NULL;
        memcpy(b->u.jobs, jobs, k * sizeof *jobs);
    }
}

/* A batch to queue n more jobs in (priority queue q): a spare, else a new
 * one unless the deque has room for the jobs one by one (then NULL, and the
 * caller queues them that way rather than allocate; NULL too when memory ran
 * out). A batch pool grows only when the deque would have to grow too, so a
 * steady state whose deques have stopped growing allocates nothing even when
 * more batches than ever happen to be in flight. */
static fj__batch *batch_get(fj__worker *w, int q, size_t n)
{
    fj__batch *b = batch_spare(w);
    if (!b) {
        fj__deque *d = &w->q[q];
        int64_t top;
        if (fj__deque_room(d, fj_load_relaxed(&d->array), fj_load_relaxed(&d->bottom), (int64_t)n, &top))
            return NULL;
        b = batch_alloc(w);
    }
    return b;
}

/* Queue the filled batch b as one range of k jobs; false (b back in the
 * pool) when the deque could not take the entry. */
static bool batch_queue(fj__worker *w, fj__batch *b, uint32_t k, int q, uintptr_t flags, fj_counter *counter)
{
    b->counter = counter;
    b->flags = flags;
    /* Plain store: the batch reaches other workers only through the
     * deque's release store of bottom below. */
    fj_store_relaxed(&b->left, (int64_t)k);
    if (range_push(w, b, 0, k, q) != 0) {
        batch_put(w, b);
        return false;
    }
    return true;
}

/* The priority and flags of a job as one word, to compare two jobs' in one
 * test (no padding between the two: checked below). */
_Static_assert(offsetof(fj_job, flags) == offsetof(fj_job, priority) + sizeof(fj_priority) &&
                   sizeof(fj_priority) + sizeof(unsigned) == sizeof(uint64_t),
               "fj_job's priority and flags are adjacent and fill 8 bytes");
static inline uint64_t job_key(const fj_job *j)
{
    uint64_t k;
    memcpy(&k, &j->priority, sizeof k);
    return k;
}

/* Is j equal to the job whose function, name and job_key are given? (The
 * caller keeps the three in locals: the batch's stores may alias the
 * bytes job_key reads, so they would be loaded again every job.) */
static inline bool job_is(const fj_job *j, fj_job_fn fn, const char *name, uint64_t key)
{
    return j->fn == fn && j->name == name && job_key(j) == key;
}

/* Fill b uniform with the jobs of jobs[0..k) equal to `like` in function,
 * name, priority and flags, up to the first that differs; returns how many.
 * Check and copy in one pass: such a job is as valid as `like`. */
static uint32_t batch_fill_like(fj__batch *b, const fj_job *jobs, uint32_t k, const fj_job *like)
{
    fj_job_fn fn = like->fn;
    const char *name = like->name;
    uint64_t key = job_key(like);
    uint32_t i = 0;
    while (i < k && job_is(&jobs[i], fn, name, key)) {
        b->u.args[i] = jobs[i].arg;
        i++;
    }
    b->fn = fn;
    b->name = fj__job_name(name);
    return i;
}

/* Both ways of queueing jobs[0..n) as batches: `like` NULL, every job (the
 * caller checked them; batch_fill); else the jobs equal to *like, up to the
 * first that differs (batch_fill_like). */
static inline __attribute__((always_inline)) size_t push_batches(fj__worker *w, const fj_job *jobs, size_t n, int q,
                                                                 uintptr_t flags, fj_counter *counter,
                                                                 const fj_job *like)
{
    /* A call that does not start with a batch's worth of jobs like the first
     * (names that differ, a large-stack job early on) is left to the caller
     * before a batch is taken from the pool, or a slab allocated, for it. */
    if (like) {
        if (n < FJ_BATCH_MIN)
            return 0;
        for (size_t i = 1; i < FJ_BATCH_MIN; i++)
            if (!job_is(&jobs[i], like->fn, like->name, job_key(like)))
                return 0;
    }
    size_t done = 0;
    while (done < n) {
        uint32_t k = n - done < FJ_BATCH_MAX ? (uint32_t)(n - done) : FJ_BATCH_MAX;
        fj__batch *b = batch_get(w, q, n - done);
        if (!b)
            break;
        uint32_t m = k;
        if (like)
            m = batch_fill_like(b, jobs + done, k, like);
        else
            batch_fill(b, jobs + done, k);
        /* A run cut short by a different job: queued if long enough to be
         * worth a batch, else left with the rest to the caller (the end of a
         * long call is queued whatever its length). */
        if (m < k && m < FJ_BATCH_MIN) {
            batch_put(w, b);
            break;
        }
        if (!batch_queue(w, b, m, q, flags, counter))
            break;
        done += m;
        if (m < k)
            break;
    }
    return done;
}

/* fj_run_jobs' path of runs (the jobs already checked); the caller queues
 * the rest one by one. */
size_t fj__push_batches(fj__worker *w, const fj_job *jobs, size_t n, int q, uintptr_t flags, fj_counter *counter)
{
    return push_batches(w, jobs, n, q, flags, counter, NULL);
}

size_t fj__push_uniform(fj__worker *w, const fj_job *jobs, size_t n, int q, fj_counter *counter)
{
    return push_batches(w, jobs, n, q, jobs[0].flags & FJ_JOB_SHALLOW, counter, &jobs[0]);
}

