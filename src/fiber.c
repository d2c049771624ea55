/*
 * The fiber pool: every fiber record and stack is made when the scheduler is
 * created and lives until it is destroyed, so a record may be read at any time
 * (wait lists and the pool hold indices into the table, never pointers that die).
 *
 * Layout of the table: small fibers, then large fibers, then records for threads
 * outside the scheduler that block in fj_wait (no stack; they wait on a futex).
 *
 * Free fibers sit on lock-free stacks (one per kind) whose head packs a 32-bit
 * tag with the index, so a pop that read a stale `free_next` fails its CAS (the
 * tag moved) instead of corrupting the list (ABA).
 *
 * Waiter ids. A counter's wait list names its waiters by a 16-bit id that is
 * unique in the process, not by an index into one scheduler's table: a counter
 * may be waited on from the fibers of one scheduler, from threads outside every
 * scheduler, and finished by the jobs of another scheduler or by an outside
 * thread, so whoever takes a chain must find the records without knowing whose
 * they are. fj__waiter_table maps an id to its record. A scheduler takes ids for
 * its fibers in fj_create and gives them back in fj_destroy, when none of its
 * fibers is on a list any more (fj_destroy does not finish while one waits), so
 * an id on a list always names a live record. Records of outside threads are
 * process-wide and never freed: a thread blocked in fj_wait does not depend on
 * any scheduler staying alive (fj_destroy may free the scheduler whose drain
 * ran the jobs it waits for while it is still being woken).
 *
 * Spare fibers: each worker keeps a few free small fibers off the shared
 * pool head (below). The pool calls up into the scheduler only through the
 * entry point fj_create gives it (s->fiber_entry, worker.c's fiber loop).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "os.h"

/* ------------------------------------------------------------ waiter ids */

/* Read by whoever takes a wait chain; written under ids_lock when a
 * scheduler is created or destroyed. A reader gets an id only from a counter
 * word it loaded with acquire after the record was published there, which
 * happens after the record's entry was written (the fiber runs on a worker
 * started by fj_create, the outside record is set up before it waits), so
 * plain loads are enough. Non-static so the gdb extension finds it. */
fj__fiber *fj__waiter_table[FJ_WAITER_ID_MAX + 1];
static uint16_t ids_free[FJ_WAITER_ID_MAX];
static uint32_t ids_nfree;
static bool ids_ready;
static fj__os_mutex ids_lock = FJ__OS_MUTEX_INIT;

static void ids_init_locked(void)
{
    if (!ids_ready) {
        /* Highest first on the stack, so the lowest ids are taken first. */
        for (uint32_t i = 0; i < FJ_WAITER_ID_MAX; i++)
            ids_free[i] = (uint16_t)(FJ_WAITER_ID_MAX - i);
        ids_nfree = FJ_WAITER_ID_MAX;
        ids_ready = true;
    }
}

/* Give n records ids (all or none); false when the process has not that many left. */
static bool ids_take(fj__fiber *recs, uint32_t n)
{
    fj__os_mutex_lock(&ids_lock);
    ids_init_locked();
    bool ok = n <= ids_nfree;
    for (uint32_t i = 0; ok && i < n; i++) {
        uint32_t id = ids_free[--ids_nfree];
        recs[i].id = id;
        fj__waiter_table[id] = &recs[i];
    }
    fj__os_mutex_unlock(&ids_lock);
    return ok;
}

/* Launch records' entries (record.c): the ids they hold are NULL in
 * fj__waiter_table. Written once, under ids_lock, when a group is made;
 * records are never unmade. Read as fj__waiter_table is. */
fj__record *fj__record_table[FJ_WAITER_ID_MAX + 1];

bool fj__ids_take_records(fj__record *recs, uint32_t n)
{
    fj__os_mutex_lock(&ids_lock);
    ids_init_locked();
    bool ok = n <= ids_nfree;
    for (uint32_t i = 0; ok && i < n; i++) {
        uint32_t id = ids_free[--ids_nfree];
        recs[i].id = id;
        fj__record_table[id] = &recs[i];
    }
    fj__os_mutex_unlock(&ids_lock);
    return ok;
}

static void ids_give_back(fj__fiber *recs, uint32_t n)
{
    fj__os_mutex_lock(&ids_lock);
    for (uint32_t i = n; i-- > 0;) {
        if (!recs[i].id)
            continue;
        fj__waiter_table[recs[i].id] = NULL;
        ids_free[ids_nfree++] = (uint16_t)recs[i].id;
        recs[i].id = 0;
    }
    fj__os_mutex_unlock(&ids_lock);
}

/*
 * Fiber names for the hooks (fj_hooks): "fj-fiber-<id>" by waiter id. A
 * profiler may keep the pointer for the life of the process (Tracy does), so
 * the table is never freed, and an id always has the same text at the same
 * address: a later scheduler given the id again reuses the entry as it is.
 * Written under ids_lock, and only where still empty (so never while read);
 * read only for fibers of a scheduler whose fj_create wrote them before
 * starting the threads that read them. 1 MiB of address space, allocated by
 * the first scheduler with hooks, touched a page per 256 ids in use.
 */
#define FIBER_NAME_LEN 16
static char (*fiber_names)[FIBER_NAME_LEN];

int fj__fiber_names_make(fj_scheduler *s)
{
    int rc = 0;
    fj__os_mutex_lock(&ids_lock);
    if (!fiber_names)
        fiber_names = calloc(FJ_WAITER_ID_MAX + 1, FIBER_NAME_LEN);
    if (!fiber_names)
        rc = FJ_ENOMEM;
    for (uint32_t i = 0; !rc && i < s->nfibers; i++) {
        char *name = fiber_names[s->fibers[i].id];
        if (!name[0])
            snprintf(name, FIBER_NAME_LEN, "fj-fiber-%u", (unsigned)s->fibers[i].id);
    }
    fj__os_mutex_unlock(&ids_lock);
    return rc;
}

const char *fj__fiber_name(uint32_t id)
{
    return fiber_names[id];
}

/* ------------------------------------------------------------ outside records */

/*
 * A thread outside every scheduler that blocks in fj_wait waits in one of
 * these: a futex word, and the fields a wait list and a deadlock report need.
 * Made in groups as more threads wait at once, never freed (a finisher may
 * still be waking a record whose thread has already returned), kept on a
 * free list under a mutex: an outside wait blocks in the kernel anyway.
 * A group is a page mapping, not an allocation: it belongs to no scheduler
 * and outlives them all, so no fj_config.allocator may be asked for it.
 */
#define OUTSIDE_GROUP 16
typedef struct outside_group {
    struct outside_group *next;
    fj__fiber recs[OUTSIDE_GROUP];
} outside_group;

static outside_group *outside_groups;
static fj__fiber *outside_free;
static fj__os_mutex outside_lock = FJ__OS_MUTEX_INIT;
uint32_t fj__outside_waiting;   /* outside records in the WAITING state */

fj__fiber *fj__outside_take(void)
{
    fj__os_mutex_lock(&outside_lock);
    if (!outside_free) {
        size_t page = fj__os_page_size(), bytes = (sizeof(outside_group) + page - 1) & ~(page - 1);
        outside_group *g = fj__os_map(bytes);   /* zeroed, page-aligned */
        if (g) {
            if (ids_take(g->recs, OUTSIDE_GROUP)) {
                g->next = outside_groups;
                outside_groups = g;
                for (uint32_t i = 0; i < OUTSIDE_GROUP; i++) {
                    fj__fiber *r = &g->recs[i];
                    r->kind = FJ_KIND_EXTERNAL;
                    r->index = UINT32_MAX;
                    fj_store_relaxed(&r->state, (int)FJ_FIBER_EXTERNAL);
                    r->free_rec = outside_free;
                    outside_free = r;
                }
            } else {
                fj__os_release(g, bytes);
            }
        }
    }
    fj__fiber *r = outside_free;
    if (r)
        outside_free = r->free_rec;
    fj__os_mutex_unlock(&outside_lock);
    if (r)
        fj_store_relaxed(&r->wake, 0);   /* a record comes back woken from its last wait */
    return r;
}

void fj__outside_put(fj__fiber *r)
{
    fj__os_mutex_lock(&outside_lock);
    r->free_rec = outside_free;
    outside_free = r;
    fj__os_mutex_unlock(&outside_lock);
}

size_t fj__outside_report(char *buf, size_t len, size_t cap,
                          size_t (*line)(char *, size_t, size_t, const fj__fiber *), unsigned *count)
{
    fj__os_mutex_lock(&outside_lock);
    for (outside_group *g = outside_groups; g; g = g->next) {
        for (uint32_t i = 0; i < OUTSIDE_GROUP; i++) {
            fj__fiber *r = &g->recs[i];
            if (fj_load_seq_cst(&r->state) != FJ_FIBER_WAITING || fj_load_acquire(&r->wake))
                continue;
            /* Listed, or about to be: a waiter whose count is reached is
             * being woken (or will find it reached before it publishes). */
            fj_counter *c = fj_load_relaxed(&r->wait_counter);
            if (!c || fj__word_value(fj_load_acquire(&c->fj__word)) <= fj_load_relaxed(&r->wait_target))
                continue;
            if (line)
                len = line(buf, len, cap, r);
            ++*count;
        }
    }
    fj__os_mutex_unlock(&outside_lock);
    return len;
}

static uint64_t pool_pack(uint64_t tag, uint32_t idx1) { return (tag << 32) | idx1; }

static void fiber_prepare(fj_scheduler *s, fj__fiber *f);

fj__fiber *fj__pool_take(fj_scheduler *s, uint64_t *head)
{
    /* acquire: pairs with the release in fj__pool_put, so the fiber's saved
     * context written before it was put back is visible to us. */
    uint64_t h = fj_load_acquire(head);
    for (;;) {
        uint32_t idx1 = (uint32_t)h;
        if (idx1 == 0)
            return NULL;
        fj__fiber *f = &s->fibers[idx1 - 1];
        uint32_t next = fj_load_relaxed(&f->free_next);
        uint64_t want = pool_pack((h >> 32) + 1, next);
        if (fj_cas_weak_acq_rel(head, &h, want)) {
            if (FJ_UNLIKELY(!f->prepared))
                fiber_prepare(s, f);
            return f;
        }
    }
}

void fj__pool_put(fj_scheduler *s, uint64_t *head, fj__fiber *f)
{
    (void)s;
    fj_store_relaxed(&f->state, (int)(FJ_FIBER_FREE));
    fj_store_relaxed(&f->job_name, (const char *)NULL);
    fj_store_relaxed(&f->wait_counter, (fj_counter *)NULL);
    uint64_t h = fj_load_relaxed(head);
    for (;;) {
        fj_store_relaxed(&f->free_next, (uint32_t)h);
        uint64_t want = pool_pack((h >> 32) + 1, f->index + 1);
        /* release: the fiber's record and saved context are published with it. */
        if (fj_cas_weak_release(head, &h, want))
            return;
    }
}

/* Make a fiber's stack usable the first time the fiber is taken: the pool's
 * stacks are reserved at start-up in one PROT_NONE mapping per kind, so that
 * creating a scheduler costs two system calls rather than two per fiber. The
 * gap below each stack (FJ_GUARD_GAP, internal.h) simply stays PROT_NONE.
 * Each stack made usable splits its region's mapping, so a fiber in use costs
 * up to two mappings: fj_create refuses pools the kernel's limit cannot hold. */
static void fiber_prepare(fj_scheduler *s, fj__fiber *f)
{
    size_t below = 0;   /* of the gap, what the OS counts as the stack's (os.h) */
    if (fj__os_commit(f->stack_lo, f->stack_size) != 0 || fj__os_stack_guard(f->stack_lo, &below) != 0)
        fj__fatal("fiber pool", "could not map a %zu KiB fiber stack (mprotect failed: too many "
                  "mappings, or out of memory)", f->stack_size / 1024);
    fj__ctx_make(&f->ctx, f->stack_lo, f->stack_size - fj__seg_colour(f, 0), below, s->fiber_entry, f);
    /* The sanitizers and Valgrind are told of the whole range a small fiber's
     * segments span (gaps included, never touched): moving to another
     * segment is then a deep call on the same stack, not a switch. */
    size_t span = f->stack_size;
    char *lo = f->stack_lo;
    if (f->kind == FJ_KIND_SMALL && s->nseg > 1) {
        lo = fj__seg_lo(f, s->nseg - 1);
        span = (size_t)((char *)f->stack_lo + f->stack_size - lo);
    }
    fj__san_fiber_create(&f->san, lo, span, f->kind == FJ_KIND_LARGE ? "large fiber" : "fiber");
    f->seg_lo = f->stack_lo;
    f->seg = 0;
    f->seg_ready = 1;
    f->prepared = true;
}

#if FJ_CTX_HAS_CALL_ON
/* Make segment k of small fiber f usable (its first use). False when the
 * kernel refuses (out of mappings or memory): the fiber then uses no segment
 * from k on, and waiters call their children on fibers of their own. */
#define FJ__SEG_REFUSED (1u << 31)   /* in seg_ready: the kernel refused one */
bool fj__seg_prepare(fj__fiber *f, uint32_t k)
{
    uint32_t ready = f->seg_ready & ~FJ__SEG_REFUSED;
    if (k < ready)
        return true;
    if ((f->seg_ready & FJ__SEG_REFUSED) || k != ready || k >= f->s->nseg)
        return false;
    if (fj__os_commit(fj__seg_lo(f, k), f->s->seg_size) != 0) {
        f->seg_ready |= FJ__SEG_REFUSED;   /* the ones made stay usable; no more */
        return false;
    }
    f->seg_ready = k + 1;
    return true;
}
#endif

int fj__fibers_create(fj_scheduler *s, void (*entry)(fj__ctx *, void *))
{
    uint32_t n = s->nsmall + s->nlarge;
    s->fibers = fj__mem_alloc(&s->mem, sizeof(fj__fiber) * n, FJ_CACHE_PAD);
    if (!s->fibers)
        return FJ_ENOMEM;
    memset(s->fibers, 0, sizeof(fj__fiber) * n);
    s->nfibers = n;
    if (!ids_take(s->fibers, n))
        return FJ_ELIMIT;   /* fj__fibers_destroy gives back what was taken */
    s->fiber_entry = entry;
    size_t page = fj__os_page_size();
    size_t gap = (FJ_GUARD_GAP + page - 1) & ~(page - 1);
    size_t sizes[2] = { s->cfg.small_stack_size * FJ_SAN_STACK_SCALE, s->cfg.large_stack_size * FJ_SAN_STACK_SCALE };
    uint32_t counts[2] = { s->nsmall, s->nlarge };
    /* Small fibers: FJ_STACK_SEGMENTS segments each where the switch can
     * call on another stack and the kernel's mapping limit holds two more
     * mappings per segment; else the fiber's own stack only. Each extra
     * segment holds a small job's whole need (s->stack_need[0]). */
    s->nseg = 1;
    s->seg_size = (s->stack_need[0] + FJ_SEG_COLOUR_SPAN + page - 1) & ~(page - 1);
    s->seg_stride = s->seg_size + gap;
    if (FJ_CTX_HAS_CALL_ON && FJ_STACK_SEGMENTS > 1 &&
        fj__os_mappings_fit(2 * ((uint64_t)s->nsmall * FJ_STACK_SEGMENTS + s->nlarge) + 2 * s->nworkers + 16)) {
        /* At most FJ_SEGMENTS_SPAN of address space per fiber for them (a
         * pool of huge small stacks gets fewer, or none): the sanitizers
         * shadow the whole span of a fiber it is told of. */
        size_t fit = FJ_SEGMENTS_SPAN / s->seg_stride;
        s->nseg = 1 + (uint32_t)(fit < FJ_STACK_SEGMENTS - 1 ? fit : FJ_STACK_SEGMENTS - 1);
    }
    /* Room for the fiber's colour (fj__seg_colour) on top of its class. */
    for (int k = 0; k < 2; k++)
        sizes[k] = (sizes[k] + FJ_SEG_COLOUR_SPAN + page - 1) & ~(page - 1);
    for (int k = 0; k < 2; k++) {
        size_t per = sizes[k] + gap + (k == 0 ? (size_t)(s->nseg - 1) * s->seg_stride : 0);
        s->stack_region_size[k] = (size_t)counts[k] * per;
        s->stack_region[k] = fj__os_reserve(s->stack_region_size[k]);
        if (!s->stack_region[k] && k == 0 && s->nseg > 1) {
            /* No room in the address space for the segments: none. */
            s->nseg = 1;
            k--;
            continue;
        }
        if (!s->stack_region[k])
            return FJ_ENOMEM;   /* fj__fibers_destroy frees what was made */
    }
    for (uint32_t i = 0; i < n; i++) {
        fj__fiber *f = &s->fibers[i];
        f->index = i;
        f->s = s;
        f->kind = i < s->nsmall ? FJ_KIND_SMALL : FJ_KIND_LARGE;
        int k = f->kind == FJ_KIND_LARGE;
        uint32_t j = k ? i - s->nsmall : i;
        /* Low to high: the segments' gaps and stacks, lowest segment first,
         * then the fiber's own gap and stack at the top. */
        size_t extra = k == 0 ? (size_t)(s->nseg - 1) * s->seg_stride : 0;
        f->guard_size = gap;
        f->stack_size = sizes[k];
        f->stack_lo = (char *)s->stack_region[k] + (size_t)j * (sizes[k] + gap + extra) + extra + gap;
        f->seg_lo = f->stack_lo;
    }
    /* Push in reverse so the lowest indices are taken first. */
    for (uint32_t i = n; i-- > 0;)
        fj__pool_put(s, fj__pool_of(s, &s->fibers[i]), &s->fibers[i]);
    return 0;
}

void fj__fibers_destroy(fj_scheduler *s)
{
    if (s->fibers) {
        for (uint32_t i = 0; i < s->nfibers; i++)
            if (s->fibers[i].prepared)
                fj__san_fiber_destroy(&s->fibers[i].san);
        ids_give_back(s->fibers, s->nfibers);
        fj__mem_free(&s->mem, s->fibers, sizeof(fj__fiber) * s->nfibers, FJ_CACHE_PAD);
        s->fibers = NULL;
    }
    for (int k = 0; k < 2; k++) {
        if (s->stack_region[k])
            fj__os_release(s->stack_region[k], s->stack_region_size[k]);
        s->stack_region[k] = NULL;
    }
}

/* ------------------------------------------------------------ spare fibers */

/*
 * A few free small fibers kept by each worker, off the shared pool: a waiter
 * calling its children (fj__call_child, worker.c) takes a fiber and gives it
 * back for every child at every level of a recursion, and the pool's head is
 * one cache line every worker writes (a line moving between cores costs
 * hundreds of nanoseconds here). A LIFO of up to FJ_SPARES fibers makes that take and put
 * local. A worker gives its spares back to the pool when it goes idle or
 * leaves, and a worker stuck with no fiber takes its own spares first, so a
 * fiber never sits unused where no one can reach it while a deadlock of the
 * pool is judged (every worker stuck or asleep).
 */
fj__fiber *fj__fiber_take_small(fj__worker *w)
{
    if (w->nspare)
        return w->spares[--w->nspare];
    return fj__pool_take(w->s, &w->s->free_small);
}

fj__fiber *fj__fiber_take(fj__worker *w, uintptr_t flags)
{
    return (flags & FJ_JOB_LARGE_STACK) ? fj__pool_take(w->s, &w->s->free_large) : fj__fiber_take_small(w);
}

void fj__fiber_put(fj__worker *w, fj__fiber *f)
{
    if (f->kind == FJ_KIND_SMALL && w->nspare < FJ_SPARES) {
        fj_store_relaxed(&f->state, (int)FJ_FIBER_FREE);
        fj_store_relaxed(&f->job_name, (const char *)NULL);
        w->spares[w->nspare++] = f;
        return;
    }
    fj__pool_put(w->s, fj__pool_of(w->s, f), f);
}

void fj__spares_give_back(fj__worker *w)
{
    while (w->nspare)
        fj__pool_put(w->s, &w->s->free_small, w->spares[--w->nspare]);
}

