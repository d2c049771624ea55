/*
 * Frame allocator: a tagged linear heap (public contract in fiberjob_frame.h).
 *
 * Vocabulary
 *   block    block_size bytes (a power of two) of one address range reserved
 *            when the heap is made; block i starts at base + i * block_size,
 *            and its descriptor blocks[i] holds the links used below.
 *   run      2 or more contiguous blocks taken together for an allocation
 *            larger than a block; its first descriptor holds the length.
 *   tag      the user's name for a lifetime (a frame). A tag in flight has a
 *            slot in the table of every worker that allocated in it.
 *   slot     per worker and tag: the bump pointer and end of the worker's
 *            current block for the tag, and the chain of every block or run
 *            the worker took for it. The outside table is one more table,
 *            shared under a mutex by threads that are not workers of the heap's
 *            scheduler.
 *
 * Allocating: the fast path reads the worker's last-used slot, checks its key
 * and bumps the pointer. The worker is the only writer of its slots' pointers,
 * so this needs no atomic read-modify-write. On a miss it scans its table,
 * claims an empty slot for a new tag, or takes a fresh block: a pop from a
 * lock-free stack of free blocks (growing the heap when that is empty).
 *
 * Freeing a tag: for every slot holding the tag, the freer moves the key from
 * the tag to FREEING with a CAS (so concurrent frees of one tag cannot both take
 * a slot), exchanges the chain with 0, returns the chain's single blocks to the
 * free stack in one push (each run to the stack of its size class), and only
 * then stores EMPTY in the key. The owner claims only EMPTY slots (resetting
 * its bump pointer: the rest of the old block went back with the chain), so it
 * never sees a slot whose chain is still being taken. An allocation that fails
 * in a slot it has just claimed gives the slot back, so a tag whose every
 * allocation failed holds nothing.
 *
 * Orderings
 *  - Free stacks (single blocks, and runs by size class) are Treiber stacks
 *    whose head packs a 32-bit ABA tag above index + 1. push writes the links
 *    (relaxed atomics) and CASes the head with release; pop loads the head with
 *    acquire, reads the link of the top block (relaxed: the block may meanwhile
 *    be popped and relinked by another thread, which is why the link is an
 *    atomic) and CASes with acq_rel. The tag moves on every push and pop, so a
 *    pop that read a stale link fails its CAS (ABA), unless 2^32 pushes and pops
 *    happened during its read.
 *  - A block's memory passes from user to user only through these stacks. The
 *    user's contract gives every use of a tag's memory a happens-before edge to
 *    fj_frame_free_tag, whose release push hands it to the next taker's acquire
 *    pop; so the next tag's writes never race with the previous tag's.
 *  - The owner pushes a block on its slot's chain with a release CAS (publishing
 *    the block's link and run length); the freer takes the chain with acq_rel.
 *    A failed chain CAS can only mean that a free of the tag ran while the owner
 *    allocated in it: that is reported, not ignored.
 *  - The freer's release store of EMPTY pairs with the owner's acquire load of
 *    the key when it claims the slot, so the owner sees the chain emptied.
 *  - The fast path's relaxed key load relies on the lifetime contract: the last
 *    free of the tag happened before this allocation, so the load sees the
 *    owner's own claim or the free's EMPTY, never a stale older key. A free of
 *    another tag running meanwhile moves that slot's key only between values
 *    that are not this tag (only the owner ever writes this tag), so the worst
 *    it causes is a trip through the slow path.
 *  - test_frame_stress builds this file with FRAME_POP_WINDOW yielding inside
 *    the pop window; without the ABA tag it hands one block to two jobs.
 *
 * Growth: `committed` counts the usable blocks from base. A thread that finds no
 * free block claims the next k with a CAS on it (never past the cap) and makes
 * them usable with fj__os_commit; only that thread knows of them until it chains
 * them to a tag. Runs are never merged: when the heap is at its cap, a single
 * block may be cut from a free run and a run from a larger free run, but free
 * single blocks are not joined into runs, so at the cap a large allocation can
 * fail while smaller blocks are free (FJ_ENOMEM, never corruption).
 *
 * AddressSanitizer: blocks are poisoned when they become usable and when their
 * tag is freed; each allocation unpoisons exactly its bytes. With ASan the
 * minimum alignment is 8 (the shadow granule), so no two allocations share one.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "os.h"

#ifdef FJ_ASAN
#define FRAME_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define FRAME_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#define FRAME_MIN_ALIGN 8
#else
#define FRAME_POISON(p, n) ((void)(p), (void)(n))
#define FRAME_UNPOISON(p, n) ((void)(p), (void)(n))
#define FRAME_MIN_ALIGN 1
#endif

/* Debug builds check after each allocation that its tag was not freed meanwhile. */
#if !defined(NDEBUG) || defined(FJ_ASAN)
#define FRAME_DEBUG 1
#else
#define FRAME_DEBUG 0
#endif

/* The stress test widens the window between a pop's read of the link and its
 * CAS, where ABA would strike, by defining this before including this file. */
#ifndef FRAME_POP_WINDOW
#define FRAME_POP_WINDOW() ((void)0)
#endif

#define KEY_EMPTY UINT64_MAX
#define KEY_FREEING (UINT64_MAX - 1)

#define DEFAULT_BLOCK_SIZE ((size_t)2 << 20)
#define MAX_BLOCK_SIZE ((size_t)1 << 30)
#define DEFAULT_CAP ((size_t)1 << 30)
#define DEFAULT_MAX_TAGS 32u
#define MAX_MAX_TAGS 1024u
#define MAX_BLOCKS ((uint64_t)INT32_MAX) /* block counts fit the int of fj_frame_free_tag */
#define DEFAULT_ALIGN _Alignof(max_align_t)
#define NCLASSES 128u                    /* run classes; see run_class */

typedef struct frame_block {
    uint32_t next;   /* index + 1 of the next block on a free stack or chain; 0 ends */
    uint32_t count;  /* blocks in the run that starts here (1: a single block) */
} frame_block;

typedef struct frame_slot {
    uintptr_t cur;   /* bump pointer in the current block (owner only) */
    uintptr_t end;   /* end of the current block (owner only) */
    uint32_t chain;  /* index + 1 of the newest block taken for the tag here */
    uint32_t pad;
} frame_slot;

/* One per worker, plus one for outside threads. The keys live apart from the
 * slots: the freer scans every key, and keeping them off the lines the owner
 * writes on each allocation means the scan does not steal those lines. */
typedef struct frame_table {
    uint64_t *keys;      /* tag in flight in each slot, KEY_EMPTY or KEY_FREEING */
    frame_slot *slots;
    unsigned hint;       /* slot of the last allocation (owner only) */
} frame_table;

struct fj_frame_heap {
    /* Read-only after creation. */
    fj_scheduler *sched;
    fj__mem mem;             /* the scheduler's allocator (the heap and its tables) */
    char *base;              /* block 0, aligned to block_size */
    void *map;               /* the whole reservation */
    size_t map_size;
    size_t block_size;
    unsigned shift;          /* log2(block_size) */
    uint32_t cap_blocks;
    unsigned nworkers;       /* table nworkers is the outside table */
    unsigned max_tags;
    size_t table_stride;
    char *tables;
    frame_block *blocks;     /* one descriptor per block of the cap */
    size_t blocks_map_size;
    fj__os_mutex outside_lock;

    _Alignas(FJ_CACHE_PAD) uint64_t free_singles;   /* Treiber head: aba << 32 | index + 1 */
    _Alignas(FJ_CACHE_PAD) uint32_t committed;      /* usable blocks from base */
    _Alignas(FJ_CACHE_PAD) int64_t in_use;          /* blocks held by tags (statistics) */
    _Alignas(FJ_CACHE_PAD) uint64_t free_runs[NCLASSES];
};

FJ__OS_THREAD_LOCAL(int, tls_frame_error, FJ__TLS_FRAME_ERROR)

int fj_frame_last_error(void) { return tls_frame_error_get(); }

static void *fail(int err)
{
    tls_frame_error_set(err);
    return NULL;
}

static inline frame_table *table_at(const fj_frame_heap *h, unsigned i)
{
    return (frame_table *)(h->tables + (size_t)i * h->table_stride);
}

static inline char *block_addr(const fj_frame_heap *h, uint32_t b1)
{
    return h->base + ((size_t)(b1 - 1) << h->shift);
}

/* ------------------------------------------------------------ free stacks */

static uint32_t stack_pop(fj_frame_heap *h, uint64_t *head)
{
    uint64_t old = fj_load_acquire(head);
    for (;;) {
        uint32_t b1 = (uint32_t)old;
        if (!b1)
            return 0;
        uint32_t next = fj_load_relaxed(&h->blocks[b1 - 1].next);
        FRAME_POP_WINDOW();
        uint64_t want = (((old >> 32) + 1) << 32) | next;
        if (fj_cas_weak_acq_rel(head, &old, want))
            return b1;
    }
}

/* Push the linked list first1 .. last1 (already linked through next). */
static void stack_push(fj_frame_heap *h, uint64_t *head, uint32_t first1, uint32_t last1)
{
    uint64_t old = fj_load_relaxed(head);
    for (;;) {
        fj_store_relaxed(&h->blocks[last1 - 1].next, (uint32_t)old);
        uint64_t want = (((old >> 32) + 1) << 32) | first1;
        if (fj_cas_weak_release(head, &old, want))
            return;
    }
}

/* Blocks first1 .. first1 + n - 1 become single free blocks. */
static void put_singles(fj_frame_heap *h, uint32_t first1, uint32_t n)
{
    if (!n)
        return;
    for (uint32_t i = 0; i < n; i++) {
        frame_block *b = &h->blocks[first1 - 1 + i];
        b->count = 1;
        fj_store_relaxed(&b->next, i + 1 < n ? first1 + i + 1 : 0);
    }
    stack_push(h, &h->free_singles, first1, first1 + n - 1);
}

/* Runs of 2..8 blocks have a class each; above that, four classes per doubling
 * (10, 12, 14, 16, 20, 24, 28, 32, 40, ...), so rounding a run up to its class
 * wastes at most a quarter of it, and a freed run fits the next request of the
 * same class exactly. */
static unsigned run_class(uint32_t k)
{
    if (k <= 8)
        return k - 2;
    uint32_t m = k - 1;
    unsigned e = 31u - (unsigned)__builtin_clz(m);
    return 7u + (e - 3u) * 4u + ((m >> (e - 2u)) & 3u);
}

static uint64_t run_class_size(unsigned c)
{
    if (c < 7)
        return c + 2u;
    unsigned e = (c - 7u) / 4u + 3u, sub = (c - 7u) % 4u;
    return (uint64_t)(5u + sub) << (e - 2u);
}

/* ------------------------------------------------------------ growth */

/* Make the next k blocks usable; index + 1 of the first, or 0 at the cap. */
static uint32_t grow(fj_frame_heap *h, uint32_t k, int *err)
{
    uint32_t n = fj_load_relaxed(&h->committed);
    do {
        if (k > h->cap_blocks - n) {
            *err = FJ_ENOMEM;
            return 0;
        }
    } while (!fj_cas_weak_acq_rel(&h->committed, &n, n + k));
    char *p = h->base + ((size_t)n << h->shift);
    size_t bytes = (size_t)k << h->shift;
    if (fj__os_commit(p, bytes) != 0) {
        /* Give the range back if nobody grew past it meanwhile; otherwise it
         * stays inaccessible and counts against the cap. */
        uint32_t mine = n + k;
        while (!fj_cas_weak_acq_rel(&h->committed, &mine, n) && mine == n + k) {
        }
        *err = FJ_ENOMEM;
        return 0;
    }
    FRAME_POISON(p, bytes);
    return n + 1;
}

/* ------------------------------------------------------------ taking blocks */

static uint32_t take_block(fj_frame_heap *h, int *err)
{
    uint32_t b1 = stack_pop(h, &h->free_singles);
    if (!b1)
        b1 = grow(h, 1, err);
    if (!b1) {
        /* At the cap: cut a free run into single blocks. */
        for (unsigned c = 0; c < NCLASSES && !b1; c++)
            b1 = stack_pop(h, &h->free_runs[c]);
        if (!b1)
            return 0;
        put_singles(h, b1 + 1, h->blocks[b1 - 1].count - 1);
    }
    h->blocks[b1 - 1].count = 1;
    fj_fetch_add_relaxed(&h->in_use, 1);
    return b1;
}

static uint32_t take_run(fj_frame_heap *h, uint32_t k, int *err)
{
    unsigned c = run_class(k);
    uint64_t n = run_class_size(c);
    if (n > h->cap_blocks) {
        *err = FJ_ENOMEM;
        return 0;
    }
    uint32_t b1 = stack_pop(h, &h->free_runs[c]);
    if (!b1)
        b1 = grow(h, (uint32_t)n, err);
    if (!b1) {
        /* At the cap: the front of a larger free run; its tail becomes singles. */
        for (unsigned d = c + 1; d < NCLASSES && !b1; d++)
            b1 = stack_pop(h, &h->free_runs[d]);
        if (!b1)
            return 0;
        put_singles(h, b1 + (uint32_t)n, h->blocks[b1 - 1].count - (uint32_t)n);
    }
    h->blocks[b1 - 1].count = (uint32_t)n;
    fj_fetch_add_relaxed(&h->in_use, (int64_t)n);
    return b1;
}

/* Return a tag's chain to the free stacks; the number of blocks released. */
static uint64_t release_chain(fj_frame_heap *h, uint32_t b1)
{
    uint32_t first = 0, last = 0;
    uint64_t n = 0;
    while (b1) {
        frame_block *b = &h->blocks[b1 - 1];
        uint32_t next = fj_load_relaxed(&b->next);
        uint32_t count = b->count;
        FRAME_POISON(block_addr(h, b1), (size_t)count << h->shift);
        if (count == 1) {
            fj_store_relaxed(&b->next, first);
            first = b1;
            if (!last)
                last = b1;
        } else {
            stack_push(h, &h->free_runs[run_class(count)], b1, b1);
        }
        n += count;
        b1 = next;
    }
    if (first)
        stack_push(h, &h->free_singles, first, last);
    if (n)
        fj_fetch_add_relaxed(&h->in_use, -(int64_t)n);
    return n;
}

/* ------------------------------------------------------------ allocation */

static FJ_NORETURN FJ_NOINLINE void freed_while_allocating(uint64_t tag)
{
    fj__fatal("fj_frame_alloc", "tag %llu was freed (fj_frame_free_tag) while a job still allocated in it",
              (unsigned long long)tag);
}

static FJ_NORETURN FJ_NOINLINE void alloc_misuse(const fj_frame_heap *h, uint64_t tag, size_t align)
{
    if (!h)
        fj__fatal("fj_frame_alloc", "heap is NULL");
    if (tag > FJ_FRAME_TAG_MAX)
        fj__fatal("fj_frame_alloc", "tag %llu is above FJ_FRAME_TAG_MAX (the top two values are reserved)",
                  (unsigned long long)tag);
    if (align & (align - 1))
        fj__fatal("fj_frame_alloc", "alignment %zu is not a power of two", align);
    fj__fatal("fj_frame_alloc", "alignment %zu is larger than the block size (%zu)", align, h->block_size);
}

static inline void *slot_bump(frame_slot *sl, size_t size, size_t align)
{
    uintptr_t p = (sl->cur + align - 1) & ~(uintptr_t)(align - 1);
    if (p <= sl->end && size <= sl->end - p) {
        sl->cur = p + size;
        return (void *)p;
    }
    return NULL;
}

/* Chain a block the owner took for the slot's tag. */
static void chain_push(fj_frame_heap *h, frame_slot *sl, uint64_t tag, uint32_t b1)
{
    uint32_t head = fj_load_relaxed(&sl->chain);
    fj_store_relaxed(&h->blocks[b1 - 1].next, head);
    uint32_t seen = head;
    while (!fj_cas_weak_release(&sl->chain, &seen, b1)) {
        if (seen != head)
            freed_while_allocating(tag);
    }
}

static unsigned table_find_or_claim(frame_table *t, unsigned nslots, uint64_t tag, bool *found)
{
    for (unsigned i = 0; i < nslots; i++) {
        if (fj_load_relaxed(&t->keys[i]) == tag) {
            *found = true;
            return i;
        }
    }
    *found = false;
    for (unsigned i = 0; i < nslots; i++) {
        /* acquire: pairs with the freer's release of EMPTY (the chain is 0). */
        if (fj_load_acquire(&t->keys[i]) == KEY_EMPTY) {
            if (fj_load_relaxed(&t->slots[i].chain) != 0)
                freed_while_allocating(tag);
            t->slots[i].cur = 0;
            t->slots[i].end = 0;
            fj_store_relaxed(&t->keys[i], tag);
            return i;
        }
    }
    return nslots;
}

/* A failed allocation must not leave a tag holding a slot without a block: the
 * user may never free a tag whose every allocation failed. Only the owner takes
 * a slot back, and only with a CAS from the tag, so a concurrent free (a misuse)
 * still wins the slot. */
static void slot_release_if_unused(frame_table *t, unsigned i, uint64_t tag)
{
    if (fj_load_relaxed(&t->slots[i].chain) != 0)
        return;
    uint64_t key = tag;
    while (key == tag && !fj_cas_weak_acq_rel(&t->keys[i], &key, KEY_EMPTY)) {
    }
}

static void *alloc_run(fj_frame_heap *h, frame_slot *sl, uint64_t tag, size_t size)
{
    uint64_t k = (size >> h->shift) + ((size & (h->block_size - 1)) != 0);
    if (k > h->cap_blocks)
        return fail(FJ_ENOMEM);
    int err = FJ_ENOMEM;
    uint32_t b1 = take_run(h, (uint32_t)k, &err);
    if (!b1)
        return fail(err);
    chain_push(h, sl, tag, b1);
    return block_addr(h, b1);
}

/* Hand out p from the slot whose key is *key: unpoison exactly its bytes, and
 * in debug builds check that no free of the tag ran meanwhile. */
static inline void *handed_out(void *p, size_t size, const uint64_t *key, uint64_t tag)
{
    FRAME_UNPOISON(p, size);
    if (FRAME_DEBUG && FJ_UNLIKELY(fj_load_relaxed(key) != tag))
        freed_while_allocating(tag);
    (void)key;
    (void)tag;
    return p;
}

/* The slow path in one table: find or claim the tag's slot, bump, or take a
 * block. */
static void *table_alloc(fj_frame_heap *h, frame_table *t, uint64_t tag, size_t size, size_t align)
{
    bool found;
    unsigned i = table_find_or_claim(t, h->max_tags, tag, &found);
    if (i == h->max_tags)
        return fail(FJ_ELIMIT);
    t->hint = i;
    frame_slot *sl = &t->slots[i];
    void *p = found ? slot_bump(sl, size, align) : NULL;
    if (p)
        return handed_out(p, size, &t->keys[i], tag);
    if (size > h->block_size) {
        p = alloc_run(h, sl, tag, size);
        if (!p)
            slot_release_if_unused(t, i, tag);
        return p ? handed_out(p, size, &t->keys[i], tag) : NULL;
    }
    int err = FJ_ENOMEM;
    uint32_t b1 = take_block(h, &err);
    if (!b1) {
        slot_release_if_unused(t, i, tag);
        return fail(err);
    }
    chain_push(h, sl, tag, b1);
    /* A block start is aligned to block_size >= align. Keep as current the
     * block with more room left, so one large request does not waste the rest
     * of the current block. */
    uintptr_t start = (uintptr_t)block_addr(h, b1), end = start + h->block_size;
    if (end - (start + size) > sl->end - sl->cur) {
        sl->cur = start + size;
        sl->end = end;
    }
    return handed_out((void *)start, size, &t->keys[i], tag);
}

FJ_NOINLINE static void *alloc_outside(fj_frame_heap *h, uint64_t tag, size_t size, size_t align)
{
    frame_table *t = table_at(h, h->nworkers);
    fj__os_mutex_lock(&h->outside_lock);
    unsigned i = t->hint;
    void *p = NULL;
    if (fj_load_relaxed(&t->keys[i]) == tag)
        p = slot_bump(&t->slots[i], size, align);
    if (p)
        p = handed_out(p, size, &t->keys[i], tag);
    else
        p = table_alloc(h, t, tag, size, align);
    fj__os_mutex_unlock(&h->outside_lock);
    return p;
}

void *fj_frame_alloc(fj_frame_heap *h, uint64_t tag, size_t size, size_t align)
{
    if (FJ_UNLIKELY(!h || tag > FJ_FRAME_TAG_MAX || (align & (align - 1)) || align > h->block_size))
        alloc_misuse(h, tag, align);
    if (align < FRAME_MIN_ALIGN || align == 0)
        align = align ? FRAME_MIN_ALIGN : DEFAULT_ALIGN;
    size += size == 0;
    /* Threads that are not workers of the heap's scheduler share the outside
     * table. (The index check only guards a heap outliving its scheduler.) */
    fj__worker *w = fj__current_worker();
    if (FJ_UNLIKELY(!w || w->s != h->sched || w->index >= h->nworkers))
        return alloc_outside(h, tag, size, align);
    /* The fast path: the worker's last slot, a compare and a bump. */
    frame_table *t = table_at(h, w->index);
    unsigned i = t->hint;
    if (FJ_LIKELY(fj_load_relaxed(&t->keys[i]) == tag)) {
        void *p = slot_bump(&t->slots[i], size, align);
        if (FJ_LIKELY(p != NULL))
            return handed_out(p, size, &t->keys[i], tag);
    }
    return table_alloc(h, t, tag, size, align);
}

/* ------------------------------------------------------------ freeing a tag */

int fj_frame_free_tag(fj_frame_heap *h, uint64_t tag)
{
    if (!h)
        fj__fatal("fj_frame_free_tag", "heap is NULL");
    if (tag > FJ_FRAME_TAG_MAX)
        fj__fatal("fj_frame_free_tag", "tag %llu is above FJ_FRAME_TAG_MAX", (unsigned long long)tag);
    uint64_t released = 0;
    for (unsigned ti = 0; ti <= h->nworkers; ti++) {
        frame_table *t = table_at(h, ti);
        for (unsigned i = 0; i < h->max_tags; i++) {
            uint64_t key = fj_load_relaxed(&t->keys[i]);
            while (key == tag && !fj_cas_weak_acq_rel(&t->keys[i], &key, KEY_FREEING)) {
            }
            if (key != tag)
                continue;
            uint32_t chain = fj_exchange_acq_rel(&t->slots[i].chain, 0);
            released += release_chain(h, chain);
            fj_store_release(&t->keys[i], KEY_EMPTY);
        }
    }
    return (int)(released > (uint64_t)INT32_MAX ? INT32_MAX : released);
}

/* ------------------------------------------------------------ heap */

static fj_frame_heap *create_fail(fj_frame_heap *h, int err)
{
    fj_frame_heap_destroy(h);
    return fail(err);
}

static size_t round_up(size_t n, size_t to) { return (n + to - 1) & ~(to - 1); }

fj_frame_heap *fj_frame_heap_create(fj_scheduler *s, const fj_frame_config *cfg)
{
    if (!s)
        fj__fatal("fj_frame_heap_create", "scheduler is NULL");
    fj_frame_config c;
    memset(&c, 0, sizeof c);
    if (cfg)
        c = *cfg;
    size_t page = fj__os_page_size();
    size_t bs = c.block_size ? c.block_size : DEFAULT_BLOCK_SIZE;
    if ((bs & (bs - 1)) || bs < page || bs > MAX_BLOCK_SIZE)
        return fail(FJ_EINVAL);
    unsigned max_tags = c.max_tags ? c.max_tags : DEFAULT_MAX_TAGS;
    if (max_tags > MAX_MAX_TAGS)
        return fail(FJ_EINVAL);
    unsigned nworkers = fj_worker_count(s);
    unsigned shift = (unsigned)__builtin_ctzll(bs);
    uint64_t reserve = c.reserve ? (c.reserve >> shift) + ((c.reserve & (bs - 1)) != 0) : 2u * nworkers + 2u;
    uint64_t cap = c.cap ? (c.cap >> shift) + ((c.cap & (bs - 1)) != 0) : DEFAULT_CAP >> shift;
    if (!c.cap && cap < reserve)
        cap = reserve;
    if (!c.reserve && reserve > cap)
        reserve = cap;
    if (cap < reserve || cap > MAX_BLOCKS || cap == 0)
        return fail(FJ_EINVAL);

    fj_frame_heap *h = fj__mem_alloc(&s->mem, sizeof *h, FJ_CACHE_PAD);
    if (!h)
        return fail(FJ_ENOMEM);
    memset(h, 0, sizeof *h);
    h->mem = s->mem;
    h->sched = s;
    h->block_size = bs;
    h->shift = shift;
    h->cap_blocks = (uint32_t)cap;
    h->nworkers = nworkers;
    h->max_tags = max_tags;
    fj__os_mutex_init(&h->outside_lock);

    /* One reservation for the cap (plus a block, to align the base): nothing
     * is accessible until grow() makes it so, and nothing is committed. */
    h->map_size = ((size_t)cap << shift) + bs;
    void *map = fj__os_reserve(h->map_size);
    if (!map) {
        h->map_size = 0;
        return create_fail(h, FJ_ENOMEM);
    }
    h->map = map;
    h->base = (char *)round_up((uintptr_t)map, bs);

    h->blocks_map_size = round_up((size_t)cap * sizeof(frame_block), page);
    void *blocks = fj__os_map(h->blocks_map_size);
    if (!blocks) {
        h->blocks_map_size = 0;
        return create_fail(h, FJ_ENOMEM);
    }
    h->blocks = blocks;

    size_t keys_bytes = round_up(sizeof(uint64_t) * max_tags, FJ_CACHE_PAD);
    size_t slots_bytes = round_up(sizeof(frame_slot) * max_tags, FJ_CACHE_PAD);
    h->table_stride = FJ_CACHE_PAD + keys_bytes + slots_bytes;
    h->tables = fj__mem_alloc(&h->mem, h->table_stride * (nworkers + 1), FJ_CACHE_PAD);
    if (!h->tables)
        return create_fail(h, FJ_ENOMEM);
    memset(h->tables, 0, h->table_stride * (nworkers + 1));
    for (unsigned i = 0; i <= nworkers; i++) {
        frame_table *t = table_at(h, i);
        t->keys = (uint64_t *)((char *)t + FJ_CACHE_PAD);
        t->slots = (frame_slot *)((char *)t + FJ_CACHE_PAD + keys_bytes);
        for (unsigned k = 0; k < max_tags; k++)
            t->keys[k] = KEY_EMPTY;
    }

    int err = FJ_ENOMEM;
    if (grow(h, (uint32_t)reserve, &err) != 1)
        return create_fail(h, err);
    put_singles(h, 1, (uint32_t)reserve);
    return h;
}

void fj_frame_heap_destroy(fj_frame_heap *h)
{
    if (!h)
        return;
    if (h->map) {
        /* Leave no poisoned shadow behind for whatever is mapped here next. */
        FRAME_UNPOISON(h->base, (size_t)fj_load_acquire(&h->committed) << h->shift);
        fj__os_release(h->map, h->map_size);
    }
    if (h->blocks)
        fj__os_release(h->blocks, h->blocks_map_size);
    fj__mem mem = h->mem;
    if (h->tables)
        fj__mem_free(&mem, h->tables, h->table_stride * (h->nworkers + 1), FJ_CACHE_PAD);
    fj__os_mutex_destroy(&h->outside_lock);
    fj__mem_free(&mem, h, sizeof *h, FJ_CACHE_PAD);
}

void fj_frame_heap_stats(const fj_frame_heap *h, fj_frame_stats *out)
{
    if (!h)
        fj__fatal("fj_frame_heap_stats", "heap is NULL");
    if (!out)
        fj__fatal("fj_frame_heap_stats", "out is NULL");
    int64_t in_use = fj_load_relaxed(&h->in_use);
    out->block_size = h->block_size;
    out->blocks_reserved = fj_load_relaxed(&h->committed);
    out->blocks_cap = h->cap_blocks;
    out->blocks_in_use = in_use > 0 ? (size_t)in_use : 0;
}
