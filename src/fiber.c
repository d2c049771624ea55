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
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "os.h"

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
            if (FJ_UNLIKELY(!f->prepared) && f->kind != FJ_KIND_EXTERNAL)
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
 * guard page below each stack simply stays PROT_NONE. */
static void fiber_prepare(fj_scheduler *s, fj__fiber *f)
{
    if (fj__os_stack_commit(f->stack_lo, f->stack_size) != 0)
        fj__fatal("fiber pool", "could not map a %zu KiB fiber stack (mprotect failed: too many "
                  "mappings, or out of memory)", f->stack_size / 1024);
    fj__ctx_make(&f->ctx, f->stack_lo, f->stack_size, s->fiber_entry, f);
    fj__san_fiber_create(&f->san, f->stack_lo, f->stack_size, f->kind == FJ_KIND_LARGE ? "large fiber" : "fiber");
    f->prepared = true;
}

int fj__fibers_create(fj_scheduler *s, void (*entry)(fj__ctx *, void *))
{
    uint32_t n = s->nsmall + s->nlarge + s->nexternal;
    s->fibers = aligned_alloc(FJ_CACHE_PAD, sizeof(fj__fiber) * n);
    if (!s->fibers)
        return FJ_ENOMEM;
    memset(s->fibers, 0, sizeof(fj__fiber) * n);
    s->nfibers = n;
    s->fiber_entry = entry;
    size_t page = fj__os_page_size();
    size_t sizes[2] = { s->cfg.small_stack_size * FJ_SAN_STACK_SCALE, s->cfg.large_stack_size * FJ_SAN_STACK_SCALE };
    uint32_t counts[2] = { s->nsmall, s->nlarge };
    for (int k = 0; k < 2; k++) {
        sizes[k] = (sizes[k] + page - 1) & ~(page - 1);
        s->stack_region_size[k] = (size_t)counts[k] * (sizes[k] + page);
        s->stack_region[k] = fj__os_reserve(s->stack_region_size[k]);
        if (!s->stack_region[k])
            return FJ_ENOMEM;   /* fj__fibers_destroy frees what was made */
    }
    for (uint32_t i = 0; i < n; i++) {
        fj__fiber *f = &s->fibers[i];
        f->index = i;
        f->kind = i < s->nsmall ? FJ_KIND_SMALL : i < s->nsmall + s->nlarge ? FJ_KIND_LARGE : FJ_KIND_EXTERNAL;
        if (f->kind != FJ_KIND_EXTERNAL) {
            int k = f->kind == FJ_KIND_LARGE;
            uint32_t j = k ? i - s->nsmall : i;
            f->guard_size = page;
            f->stack_size = sizes[k];
            f->stack_lo = (char *)s->stack_region[k] + (size_t)j * (sizes[k] + page) + page;
        }
    }
    /* Push in reverse so the lowest indices are taken first. */
    for (uint32_t i = n; i-- > 0;)
        fj__pool_put(s, fj__pool_of(s, &s->fibers[i]), &s->fibers[i]);
    for (uint32_t i = 0; i < n; i++)
        fj_store_relaxed(&s->fibers[i].state, (int)(s->fibers[i].kind == FJ_KIND_EXTERNAL ? FJ_FIBER_EXTERNAL : FJ_FIBER_FREE));
    return 0;
}

void fj__fibers_destroy(fj_scheduler *s)
{
    if (s->fibers) {
        for (uint32_t i = 0; i < s->nfibers; i++)
            if (s->fibers[i].prepared)
                fj__san_fiber_destroy(&s->fibers[i].san);
        free(s->fibers);
        s->fibers = NULL;
    }
    for (int k = 0; k < 2; k++) {
        if (s->stack_region[k])
            fj__os_release(s->stack_region[k], s->stack_region_size[k]);
        s->stack_region[k] = NULL;
    }
}
