/*
 * Chase-Lev deque (see deque.h). Orderings, from Le et al. (PPoPP 2013):
 *
 *  push:  write the slots (relaxed), then bottom with a release store (Le et
 *         al. write a release fence and a relaxed store: the same ordering). A
 *         thief that reads the new bottom with acquire, after its seq_cst fence,
 *         therefore sees the slots. The room check reads top with acquire
 *         (so a thief's read of a slot happens before the owner reuses it),
 *         but only when its last value of top (top_seen) says the buffer is
 *         full: an older top only overstates the size (fj__deque_room).
 *  take:  bottom = b - 1 (relaxed), seq_cst fence, read top. The fence pairs with
 *         the thief's fence between its read of top and its read of bottom: of an
 *         owner and a thief racing for the last task, at least one sees the other's
 *         claim, and the seq_cst CAS on top decides who has it.
 *  steal: read top (relaxed), seq_cst fence, read bottom (acquire), read the slot,
 *         then CAS top (seq_cst). The slot read may race with the owner reusing the
 *         slot after a wrap; the read is of relaxed atomics (no undefined
 *         behaviour) and its value is used only if the CAS succeeds, which proves
 *         no one else took index t and hence that the owner had not reused it.
 *         Le et al. read top with acquire; why relaxed is the same here is
 *         argued in fj__deque_steal.
 *  take_many: as take, for n at once (one fence), argued at fj__deque_take_many.
 *  grow:  the owner copies the live range to a buffer twice the size and
 *         publishes it with a release store; thieves load it with acquire. The old
 *         buffer stays valid (retired, freed with the deque), so a thief still
 *         reading it reads the same tasks.
 *
 * The model of these steps is verify/deque.pml.
 */
#include "deque.h"

#include <string.h>

_Static_assert(sizeof(fj__task) == FJ_TASK_WORDS * sizeof(uint64_t), "a slot is a task, word for word");

static size_t deque_array_bytes(int64_t capacity)
{
    return sizeof(fj__deque_array) + (size_t)capacity * FJ_TASK_WORDS * sizeof(uint64_t);
}

static fj__deque_array *deque_array_new(fj__deque *d, int64_t capacity)
{
    fj__deque_array *a = fj__mem_alloc(d->mem, deque_array_bytes(capacity), FJ_MEM_ALIGN);
    if (!a) {
        d->failed_bytes = deque_array_bytes(capacity);
        return NULL;
    }
    a->mask = capacity - 1;
    a->retired = NULL;
    return a;
}

static inline void slot_write(fj__deque_array *a, int64_t i, const fj__task *t)
{
    uint64_t w[FJ_TASK_WORDS];
    memcpy(w, t, sizeof w);
    uint64_t *s = &a->slots[(size_t)(i & a->mask) * FJ_TASK_WORDS];
    for (size_t k = 0; k < FJ_TASK_WORDS; k++)
        fj_store_relaxed(&s[k], w[k]);
}

static inline void slot_read(fj__deque_array *a, int64_t i, fj__task *t)
{
    uint64_t w[FJ_TASK_WORDS];
    uint64_t *s = &a->slots[(size_t)(i & a->mask) * FJ_TASK_WORDS];
    for (size_t k = 0; k < FJ_TASK_WORDS; k++)
        w[k] = fj_load_relaxed(&s[k]);
    memcpy(t, w, sizeof w);
}

/* The owner reading a slot: only the owner writes slots, so its plain read
 * races with no write (a thief's read of the same slot is a read). */
static inline void slot_read_own(fj__deque_array *a, int64_t i, fj__task *t)
{
    memcpy(t, &a->slots[(size_t)(i & a->mask) * FJ_TASK_WORDS], sizeof *t);
}

int fj__deque_init(fj__deque *d, size_t capacity, const fj__mem *mem)
{
    int64_t cap = 16;
    while ((size_t)cap < capacity)
        cap *= 2;
    memset(d, 0, sizeof *d);
    d->mem = mem;
    d->array = deque_array_new(d, cap);
    return d->array ? 0 : FJ_ENOMEM;
}

void fj__deque_free(fj__deque *d)
{
    fj__deque_array *a = d->array;
    while (a) {
        fj__deque_array *next = a->retired;
        fj__mem_free(d->mem, a, deque_array_bytes(a->mask + 1), FJ_MEM_ALIGN);
        a = next;
    }
    d->array = NULL;
}

fj__deque_array *fj__deque_grow_for(fj__deque *d, fj__deque_array *old, int64_t t, int64_t b, int64_t need)
{
    int64_t cap = (old->mask + 1) * 2;
    while (cap < need)
        cap *= 2;
    fj__deque_array *a = deque_array_new(d, cap);
    if (!a)
        return NULL;
    for (int64_t i = t; i < b; i++) {
        fj__task task;
        slot_read(old, i, &task);
        slot_write(a, i, &task);
    }
    a->retired = old;
    fj_store_release(&d->array, a);
    return a;
}

int fj__deque_push(fj__deque *d, const fj__task *tasks, size_t n)
{
    int64_t b = fj_load_relaxed(&d->bottom);
    fj__deque_array *a = fj_load_relaxed(&d->array);
    int64_t t;
    if (!fj__deque_room(d, a, b, (int64_t)n, &t)) {
        a = fj__deque_grow_for(d, a, t, b, b - t + (int64_t)n);
        if (!a)
            return FJ_ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        slot_write(a, b + (int64_t)i, &tasks[i]);
    /* A release store rather than Le et al.'s release fence and relaxed store:
     * the same ordering (and the same instruction on x86-64; stlr on AArch64),
     * and ThreadSanitizer, which does not model fences, sees it. */
    fj_store_release(&d->bottom, b + (int64_t)n);
    return 0;
}

bool fj__deque_take(fj__deque *d, fj__task *out)
{
    int64_t b = fj_load_relaxed(&d->bottom) - 1;
    fj__deque_array *a = fj_load_relaxed(&d->array);
    /* Le et al. store bottom relaxed here. A release store costs nothing more
     * on x86-64 and keeps a thief that reads this value synchronised with the
     * earlier pushes without leaning on C11's release-sequence rule for
     * same-thread stores (C++20 dropped it). */
    fj_store_release(&d->bottom, b);
    fj_fence_seq_cst();
    int64_t t = fj_load_relaxed(&d->top);
    if (t > b) {
        fj_store_release(&d->bottom, b + 1);
        return false;
    }
    slot_read_own(a, b, out);
    if (t == b) {
        /* The last task: race the thieves for it on top. */
        bool won = fj_cas_strong_seq_cst(&d->top, &t, t + 1);
        fj_store_release(&d->bottom, b + 1);
        return won;
    }
    return true;
}

/* The n newest tasks with one fence, or none. As take, with b = bottom - n:
 * this claims [b, bottom) and needs top < b, i.e. at least one task left
 * below the claim. The argument is take's, for its index b: a thief takes
 * only the index top holds at its CAS, and top reaches b only by a steal of
 * b - 1 followed by a thief that reads top == b and then bottom; of that
 * thief's fence and ours, whichever is first in the seq_cst order, either it
 * reads our lowered bottom (b: empty for it) or we read its top. So when our
 * read of top is below b, no index from b up is stolen until bottom is
 * raised again (a later push, after our copy): no CAS needed.
 * With top >= b (few tasks left, or a thief on the claim) bottom goes back
 * as take's empty case puts it back, and nothing is taken. */
size_t fj__deque_take_many(fj__deque *d, fj__task *out, size_t n)
{
    int64_t b0 = fj_load_relaxed(&d->bottom), b = b0 - (int64_t)n;
    fj__deque_array *a = fj_load_relaxed(&d->array);
    fj_store_release(&d->bottom, b);
    fj_fence_seq_cst();
    int64_t t = fj_load_relaxed(&d->top);
    if (t >= b) {
        fj_store_release(&d->bottom, b0);
        return 0;
    }
    /* Plain copies, as slot_read_own. Two when the claim wraps. */
    size_t lo = (size_t)(b & a->mask), k = (size_t)a->mask + 1 - lo;
    if (k > n)
        k = n;
    memcpy(out, &a->slots[lo * FJ_TASK_WORDS], k * sizeof *out);
    memcpy(out + k, &a->slots[0], (n - k) * sizeof *out);
    return n;
}

bool fj__deque_peek_bottom(fj__deque *d, fj__task *out)
{
    int64_t b = fj_load_relaxed(&d->bottom) - 1;
    int64_t t = fj_load_acquire(&d->top);
    if (t > b)
        return false;
    slot_read_own(fj_load_relaxed(&d->array), b, out);
    return true;
}

fj__deque_result fj__deque_steal(fj__deque *d, fj__task *out)
{
    /* Relaxed, where Le et al. write acquire; the fence below does the
     * acquire's work. The edge is needed: when this load reads a top written
     * by another thief's CAS (or the owner's), that CAS must come before our
     * fence in the single total order of seq_cst operations, so that an owner
     * whose take fence comes after ours reads that top or a later one (C11
     * 7.17.3: a load after a seq_cst fence reads the last seq_cst write
     * before that fence in the order, or a later one). Otherwise the owner could read an older top, take the task
     * at t without a CAS, and we, reading the old bottom, steal it too. With
     * an acquire load, that CAS would synchronise with the load and so happen
     * before the fence. With a relaxed load it synchronises with the fence
     * itself, which is also an acquire fence (7.17.4: a release operation
     * read by an atomic load sequenced before an acquire fence synchronises
     * with the fence), and nothing lies between the load and the fence for
     * the acquire to order on its own. So the two are equivalent here, and
     * the plain load is what AArch64 needs (ldr before dmb ish, not ldar).
     * ThreadSanitizer ignores fences, so it sees no edge from top: it needs
     * none, since the slots are atomics and the job's data comes through the
     * acquire load of bottom. A stale t costs only a failed CAS: top only
     * grows. */
    int64_t t = fj_load_relaxed(&d->top);
    fj_fence_seq_cst();
    int64_t b = fj_load_acquire(&d->bottom);
    if (t >= b)
        return FJ_DEQUE_EMPTY;
    fj__deque_array *a = fj_load_acquire(&d->array);
    slot_read(a, t, out);
    if (!fj_cas_strong_seq_cst(&d->top, &t, t + 1))
        return FJ_DEQUE_LOST;
    return FJ_DEQUE_OK;
}
