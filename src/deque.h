/*
 * Chase-Lev work-stealing deque of tasks stored by value.
 *
 * The owner pushes and takes at the bottom (LIFO); thieves steal at the top
 * (FIFO). Orderings follow Le, Pop, Cohen and Zappa Nardelli, "Correct and
 * Efficient Work-Stealing for Weak Memory Models" (PPoPP 2013); the argument is
 * in deque.c beside each operation, and the model is verify/deque.pml.
 */
#ifndef FJ_DEQUE_H
#define FJ_DEQUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "atomics.h"
#include "fiberjob.h"
#include "mem.h"

/* One queued unit of work. fn == NULL means "resume the fiber in arg". */
typedef struct fj__task {
    fj_job_fn fn;
    void *arg;
    const char *name;
    fj_counter *counter;
    uintptr_t flags;
} fj__task;

#define FJ_TASK_WORDS (sizeof(fj__task) / sizeof(uint64_t))

typedef struct fj__deque_array {
    int64_t mask;                      /* capacity - 1 (capacity a power of two) */
    struct fj__deque_array *retired;   /* older buffers, freed with the deque */
    uint64_t slots[];                  /* capacity * FJ_TASK_WORDS relaxed-atomic words */
} fj__deque_array;

typedef struct fj__deque {
    _Alignas(FJ_CACHE_PAD) int64_t top;       /* thieves CAS here */
    char pad0[FJ_CACHE_PAD - sizeof(int64_t)];
    _Alignas(FJ_CACHE_PAD) int64_t bottom;    /* owner writes here */
    fj__deque_array *array;                   /* owner writes, thieves read (acquire) */
    int64_t top_seen;                         /* owner only: top as last loaded (acquire) by a push */
    const fj__mem *mem;                       /* where the buffers come from */
    size_t failed_bytes;                      /* owner only: the size of the last buffer refused */
    char pad1[FJ_CACHE_PAD - 2 * sizeof(int64_t) - 2 * sizeof(void *) - sizeof(size_t)];
} fj__deque;

typedef enum { FJ_DEQUE_OK, FJ_DEQUE_EMPTY, FJ_DEQUE_LOST } fj__deque_result;

/* 0, or FJ_ENOMEM (nothing to free). Buffers come from mem, which must
 * outlive the deque. */
int fj__deque_init(fj__deque *d, size_t capacity, const fj__mem *mem);
void fj__deque_free(fj__deque *d);
/* Owner only. Returns 0, or FJ_ENOMEM when the buffer could not grow (nothing
 * pushed; d->failed_bytes says how much was asked for). */
int fj__deque_push(fj__deque *d, const fj__task *tasks, size_t n);
/* Owner only. */
bool fj__deque_take(fj__deque *d, fj__task *out);
/* Owner only: the n newest tasks into out[0..n) (in queue order: the
 * newest last) with one fence, and n; or 0, nothing taken, unless more
 * than n are there. */
size_t fj__deque_take_many(fj__deque *d, fj__task *out, size_t n);
/* Any thread. FJ_DEQUE_LOST: lost a race with another thief or the owner. */
fj__deque_result fj__deque_steal(fj__deque *d, fj__task *out);
/* A racy size, for heuristics only. */
static inline int64_t fj__deque_size_hint(fj__deque *d)
{
    int64_t b = fj_load_relaxed(&d->bottom), t = fj_load_relaxed(&d->top);
    return b - t;
}
/* Owner only: the bottom task without taking it (false when empty). A thief may
 * steal it meanwhile; fj__deque_take decides who gets it. */
bool fj__deque_peek_bottom(fj__deque *d, fj__task *out);

/* Owner only, cheaper: the counter and flags of the bottom task. */
static inline bool fj__deque_peek_bottom_counter(fj__deque *d, fj_counter **counter, uintptr_t *flags)
{
    int64_t b = fj_load_relaxed(&d->bottom) - 1;
    if (fj_load_relaxed(&d->top) > b)
        return false;
    fj__deque_array *a = fj_load_relaxed(&d->array);
    uint64_t *s = &a->slots[(size_t)(b & a->mask) * FJ_TASK_WORDS];
    *counter = (fj_counter *)(uintptr_t)fj_load_relaxed(&s[offsetof(fj__task, counter) / 8]);
    *flags = (uintptr_t)fj_load_relaxed(&s[offsetof(fj__task, flags) / 8]);
    return true;
}

/* Pushing in three steps, without an intermediate copy (owner only):
 * fj__deque_reserve makes room for n tasks and returns the buffer and the first
 * index (NULL when the buffer could not grow); fj__deque_write fills slots;
 * fj__deque_publish makes them visible to thieves (see push in deque.c). */
fj__deque_array *fj__deque_grow_for(fj__deque *d, fj__deque_array *a, int64_t t, int64_t b, int64_t need);

/* Room for n more tasks? top only grows, so an old value of it (top_seen)
 * overstates the size: when that says there is room, there is, and the slots
 * about to be reused were freed by steals that the acquire load of top_seen
 * saw (so the thieves' reads of them happen before these writes). Only when
 * it says there is not is top loaded again. Thieves CAS top all the time;
 * not loading it on every push keeps its line out of the owner's way. */
static inline bool fj__deque_room(fj__deque *d, fj__deque_array *a, int64_t b, int64_t n, int64_t *t)
{
    *t = d->top_seen;
    if (FJ_LIKELY(b - *t + n <= a->mask + 1))
        return true;
    *t = d->top_seen = fj_load_acquire(&d->top);
    return b - *t + n <= a->mask + 1;
}

static inline fj__deque_array *fj__deque_reserve(fj__deque *d, size_t n, int64_t *first)
{
    int64_t b = fj_load_relaxed(&d->bottom);
    fj__deque_array *a = fj_load_relaxed(&d->array);
    *first = b;
    int64_t t;
    if (FJ_UNLIKELY(!fj__deque_room(d, a, b, (int64_t)n, &t)))
        a = fj__deque_grow_for(d, a, t, b, b - t + (int64_t)n);
    return a;
}

static inline void fj__deque_write(fj__deque_array *a, int64_t i, const fj__task *t)
{
    uint64_t *s = &a->slots[(size_t)(i & a->mask) * FJ_TASK_WORDS];
    fj_store_relaxed(&s[0], (uint64_t)(uintptr_t)t->fn);
    fj_store_relaxed(&s[1], (uint64_t)(uintptr_t)t->arg);
    fj_store_relaxed(&s[2], (uint64_t)(uintptr_t)t->name);
    fj_store_relaxed(&s[3], (uint64_t)(uintptr_t)t->counter);
    fj_store_relaxed(&s[4], (uint64_t)t->flags);
}

static inline void fj__deque_publish(fj__deque *d, int64_t bottom)
{
    fj_store_release(&d->bottom, bottom);
}

#endif
