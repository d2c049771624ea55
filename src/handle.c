/*
 * Handles: fj_spawn, fj_spawn_on, fj_join.
 *
 * fj_spawn runs one job counted on a counter of its own, a slot of the
 * scheduler's handle pool, and returns a handle naming that slot; fj_join
 * waits on the slot's counter, says whether the job panicked and gives the
 * slot back. This is the pool of counters that every enqueue/finish
 * interface (Box2D's task callbacks, contrib/fj_box2d.h) would otherwise
 * write by hand, with its reuse rule in one place: a slot goes back only
 * after fj_wait on its counter returned, which is when fj_counter's own
 * guarantee (fiberjob.h) lets a counter be reused.
 *
 * Slots come in chunks of fj_config.handles (256 by default): none until the
 * first fj_spawn, another whenever every slot is in use, all kept until
 * fj_destroy. A spawn therefore never fails for want of a slot (only for
 * want of memory, which stops the process naming the call), and a slot's
 * address never changes, so a handle carries it: bits 0-47 the address,
 * bits 48-63 the slot's generation. The generation moves on each time the
 * slot is given back, so a second fj_join of a handle, or a join after its
 * slot was reused, no longer matches and stops the process naming the job.
 * That check is exact up to the 16-bit wrap (a slot reused 65,536 times
 * between a join and a stale join of the same handle goes unnoticed).
 *
 * A slot's gen word: the generation (low 16 bits, never 0), FJ_SLOT_JOINING
 * while an fj_join owns it, FJ_SLOT_FREE while it is on the free list.
 * fj_join claims the slot with one CAS from "generation, in use" to
 * "generation, joining", so two threads joining one handle at once are
 * caught too.
 *
 * The free list is a Treiber stack of slot indices (index + 1; 0: empty) in
 * one 64-bit word with a 32-bit tag that every successful CAS increments.
 * ABA: a taker reads the head (index i, tag t), then slot i's free_next, then
 * CASes (t, i) to (t + 1, next). If i was taken and given back meanwhile (its
 * free_next now different), the head's tag moved on and the CAS fails: a
 * stale `next` is never installed (2^32 operations would have to fit inside
 * one taker's window). free_next is a relaxed atomic because such a stale
 * reader may read it while a putter writes it.
 *
 * Orderings. Put: free_next and the slot's new generation are written, then
 * the release CAS of the head publishes them. Take: the acquire load (and
 * the acquire of a failed CAS) of the head sees them, and the chunk pointer
 * the index leads to, which was stored before the chunk's slots were first
 * published with a release CAS. A joiner's acquire on the slot's gen word
 * pairs with the spawner's release store that cleared FJ_SLOT_FREE (in
 * fj__handle_take's caller, before the job was queued), and the wait's own
 * acquire makes the job's writes visible, as for any counter.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define FJ_HANDLE_CHUNKS 1024u        /* chunks per pool: live handles <= handles x this */
#define FJ_HANDLE_CHUNK_MAX 65536u    /* fj_config.handles at most */
#define FJ_HANDLE_CHUNK_DEFAULT 256u
#define FJ_SLOT_GEN_MASK 0xffffu
#define FJ_SLOT_JOINING (1u << 16)
#define FJ_SLOT_FREE (1u << 17)
#define FJ_HANDLE_ADDR_BITS 48

typedef struct fj__handle_slot {
    fj_counter counter;               /* the job's count: first, cache-line aligned */
    struct fj__handle_pool *pool;     /* the pool it goes back to */
    const char *job_name;             /* relaxed atomic: the last job spawned on it */
    uint32_t index;                   /* in the pool */
    uint32_t gen;                     /* atomic: generation | FJ_SLOT_JOINING | FJ_SLOT_FREE */
    uint32_t free_next;               /* relaxed atomic: free-list link (index + 1) */
} __attribute__((aligned(FJ_CACHE_PAD))) fj__handle_slot;

struct fj__handle_pool {
    _Alignas(FJ_CACHE_PAD) uint64_t free_head;  /* tag << 32 | index + 1 */
    _Alignas(FJ_CACHE_PAD) fj__os_mutex grow_lock;
    uint32_t chunk_size;
    uint32_t nchunks;                 /* written under grow_lock */
    const fj__mem *mem;               /* the scheduler's allocator */
    fj__handle_slot *chunks[FJ_HANDLE_CHUNKS];
};

int fj__handles_create(fj_scheduler *s)
{
    unsigned n = s->cfg.handles ? s->cfg.handles : FJ_HANDLE_CHUNK_DEFAULT;
    if (n > FJ_HANDLE_CHUNK_MAX)
        return FJ_EINVAL;
    struct fj__handle_pool *p = fj__mem_alloc(&s->mem, sizeof *p, FJ_CACHE_PAD);
    if (!p)
        return FJ_ENOMEM;
    memset(p, 0, sizeof *p);
    p->mem = &s->mem;
    fj__os_mutex_init(&p->grow_lock);
    p->chunk_size = n;
    s->handles = p;
    return 0;
}

void fj__handles_destroy(fj_scheduler *s)
{
    struct fj__handle_pool *p = s->handles;
    if (!p)
        return;
    for (uint32_t i = 0; i < p->nchunks; i++)
        fj__mem_free(p->mem, p->chunks[i], sizeof(fj__handle_slot) * p->chunk_size, FJ_CACHE_PAD);
    fj__os_mutex_destroy(&p->grow_lock);
    fj__mem_free(&s->mem, p, sizeof *p, FJ_CACHE_PAD);
    s->handles = NULL;
}

static inline fj__handle_slot *slot_at(struct fj__handle_pool *p, uint32_t index)
{
    return &p->chunks[index / p->chunk_size][index % p->chunk_size];
}

static inline uint64_t head_pack(uint64_t tag, uint32_t index1)
{
    return (tag << 32) | index1;
}

/* Pop a free slot, or NULL when the list is empty. */
static fj__handle_slot *slot_pop(struct fj__handle_pool *p)
{
    uint64_t h = fj_load_acquire(&p->free_head);
    for (;;) {
        uint32_t idx1 = (uint32_t)h;
        if (idx1 == 0)
            return NULL;
        fj__handle_slot *slot = slot_at(p, idx1 - 1);
        uint32_t next = fj_load_relaxed(&slot->free_next);
        if (fj_cas_weak_acq_rel(&p->free_head, &h, head_pack((h >> 32) + 1, next)))
            return slot;
    }
}

/* Push the chain first..last (linked through free_next) in one CAS. */
static void chain_push(struct fj__handle_pool *p, fj__handle_slot *first, fj__handle_slot *last)
{
    uint64_t h = fj_load_relaxed(&p->free_head);
    for (;;) {
        fj_store_relaxed(&last->free_next, (uint32_t)h);
        if (fj_cas_weak_acq_rel(&p->free_head, &h, head_pack((h >> 32) + 1, first->index + 1)))
            return;
    }
}

/* Every slot is in use: add a chunk (rare; under the mutex, so that racing
 * spawners add one chunk, not one each), keep its first slot, publish the
 * rest. A failure here would lose the job: stop, naming the call. */
static FJ_NOINLINE fj__handle_slot *pool_grow(struct fj__handle_pool *p, const char *call)
{
    fj__os_mutex_lock(&p->grow_lock);
    fj__handle_slot *slot = slot_pop(p);    /* another spawner may have grown it meanwhile */
    if (!slot) {
        uint32_t n = p->chunk_size, k = p->nchunks;
        if (k == FJ_HANDLE_CHUNKS)
            fj__fatal(call, "%u handles are in use, the most a pool holds (fj_config.handles %u x %u): "
                      "join handles before spawning more", n * k, n, FJ_HANDLE_CHUNKS);
        fj__handle_slot *c = fj__mem_alloc(p->mem, sizeof *c * n, FJ_CACHE_PAD);
        if (!c)
            fj__fatal(call, "out of memory for %u more handle slots (%u in use)", n, n * k);
        if (((uintptr_t)c + sizeof *c * n) >> FJ_HANDLE_ADDR_BITS)
            fj__fatal(call, "handle slots at " FJ_PTR " are above the 48-bit addresses a handle holds", (void *)c);
        memset(c, 0, sizeof *c * n);
        for (uint32_t i = 0; i < n; i++) {
            c[i].pool = p;
            c[i].index = k * n + i;
            c[i].gen = 1 | FJ_SLOT_FREE;
            c[i].free_next = i + 1 < n ? k * n + i + 2 : 0;
        }
        p->chunks[k] = c;
        p->nchunks = k + 1;
        slot = &c[0];
        if (n > 1)
            chain_push(p, &c[1], &c[n - 1]);   /* its release publishes chunks[k] and the slots */
    }
    fj__os_mutex_unlock(&p->grow_lock);
    return slot;
}

static inline void check_job(const char *call, const fj_job *job)
{
    if (!job)
        fj__fatal(call, "job is NULL");
    if (!job->fn)
        fj__fatal(call, "job '%s' has a NULL function", fj__job_name(job->name));
    if ((unsigned)job->priority > FJ_PRIORITY_LOW)
        fj__fatal(call, "job '%s' has priority %d, not an fj_priority", fj__job_name(job->name), (int)job->priority);
    if (fj__bad_flags(job->flags))
        fj__fatal(call, "job '%s' has flags %#x: undefined bits, or both FJ_JOB_LARGE_STACK and FJ_JOB_SHALLOW",
                  fj__job_name(job->name), job->flags);
}

static fj_handle spawn(fj_scheduler *s, const fj_job *job, const char *call)
{
    struct fj__handle_pool *p = s->handles;
    fj__handle_slot *slot = slot_pop(p);
    if (FJ_UNLIKELY(!slot))
        slot = pool_grow(p, call);
    /* Ours alone now: no job counts on the counter and nobody waits on it
     * (its last join returned from fj_wait before giving it back). */
    fj_counter_init(&slot->counter, 0);
    fj_store_relaxed(&slot->job_name, fj__job_name(job->name));
    uint32_t gen = fj_load_relaxed(&slot->gen) & FJ_SLOT_GEN_MASK;
    fj_store_release(&slot->gen, gen);   /* in use; pairs with fj_join's acquire */
    fj__worker *w = fj__current_worker();
    if (w && w->s == s)
        fj_run_jobs(job, 1, &slot->counter);
    else
        fj_run_jobs_on(s, job, 1, &slot->counter);
    return (fj_handle){ .fj__bits = ((uint64_t)gen << FJ_HANDLE_ADDR_BITS) | (uint64_t)(uintptr_t)slot };
}

fj_handle fj_spawn(const fj_job *job)
{
    check_job("fj_spawn", job);
    fj__worker *w = fj__current_worker();
    fj_scheduler *s = w ? w->s : fj__default_scheduler();
    if (!s)
        fj__fatal("fj_spawn", "called outside a job and no scheduler exists (job '%s')", fj__job_name(job->name));
    return spawn(s, job, "fj_spawn");
}

fj_handle fj_spawn_on(fj_scheduler *s, const fj_job *job)
{
    fj__check_live("fj_spawn_on", s);
    check_job("fj_spawn_on", job);
    return spawn(s, job, "fj_spawn_on");
}

int fj_join(fj_handle h)
{
    if (h.fj__bits == 0)
        fj__fatal("fj_join", "the handle is zero: it names no job (fj_spawn returns a handle; join it once)");
    fj__handle_slot *slot = (fj__handle_slot *)(uintptr_t)(h.fj__bits & (((uint64_t)1 << FJ_HANDLE_ADDR_BITS) - 1));
    uint32_t want = (uint32_t)(h.fj__bits >> FJ_HANDLE_ADDR_BITS);
    uint32_t g = fj_load_acquire(&slot->gen);
    for (;;) {
        if (g != want) {
            const char *name = fj_load_relaxed(&slot->job_name);
            if ((g & FJ_SLOT_GEN_MASK) == want && (g & FJ_SLOT_JOINING))
                fj__fatal("fj_join", "the handle of job '%s' is being joined on another thread: a handle is "
                          "joined once", name);
            if ((g & FJ_SLOT_GEN_MASK) == want || (g & FJ_SLOT_FREE))
                fj__fatal("fj_join", "the handle of job '%s' was joined already: a handle is joined once", name);
            fj__fatal("fj_join", "the handle is stale: its job was joined already and its slot now holds job "
                      "'%s' (a handle is joined once)", name);
        }
        if (fj_cas_weak_acq_rel(&slot->gen, &g, g | FJ_SLOT_JOINING))
            break;
    }
    fj_wait(&slot->counter, 0);
    /* fj_wait returned: the job's finish is done with the counter (the
     * reuse rule at fj_counter), and its panic was counted before it. */
    int rc = fj_counter_panics(&slot->counter) ? FJ_EPANIC : 0;
    uint32_t next = (want + 1) & FJ_SLOT_GEN_MASK;
    fj_store_relaxed(&slot->gen, (next ? next : 1) | FJ_SLOT_FREE);
    chain_push(slot->pool, slot, slot);
    return rc;
}
