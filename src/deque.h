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
    char pad1[FJ_CACHE_PAD - sizeof(int64_t) - sizeof(void *)];
} fj__deque;

typedef enum { FJ_DEQUE_OK, FJ_DEQUE_EMPTY, FJ_DEQUE_LOST } fj__deque_result;

int fj__deque_init(fj__deque *d, size_t capacity);
void fj__deque_free(fj__deque *d);
/* Owner only. Returns 0, or FJ_ENOMEM when the buffer could not grow (nothing pushed). */
int fj__deque_push(fj__deque *d, const fj__task *tasks, size_t n);
/* Owner only. */
bool fj__deque_take(fj__deque *d, fj__task *out);
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

#endif
