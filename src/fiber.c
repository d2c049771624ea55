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
        if (fj_cas_weak_acq_rel(head, &h, want))
            return f;
    }
}

void fj__pool_put(fj_scheduler *s, uint64_t *head, fj__fiber *f)
{
    (void)s;
    fj_store_relaxed(&f->state, (int)(FJ_FIBER_FREE));
    f->job_name = NULL;
    f->wait_counter = NULL;
    uint64_t h = fj_load_relaxed(head);
    for (;;) {
        fj_store_relaxed(&f->free_next, (uint32_t)h);
        uint64_t want = pool_pack((h >> 32) + 1, f->index + 1);
        /* release: the fiber's record and saved context are published with it. */
        if (fj_cas_weak_release(head, &h, want))
            return;
    }
}

int fj__fibers_create(fj_scheduler *s, void (*entry)(fj__ctx *, void *))
{
    uint32_t n = s->nsmall + s->nlarge + s->nexternal;
    s->fibers = aligned_alloc(FJ_CACHE_PAD, sizeof(fj__fiber) * n);
    if (!s->fibers)
        return FJ_ENOMEM;
    memset(s->fibers, 0, sizeof(fj__fiber) * n);
    s->nfibers = n;
    for (uint32_t i = 0; i < n; i++) {
        fj__fiber *f = &s->fibers[i];
        f->index = i;
        f->kind = i < s->nsmall ? FJ_KIND_SMALL : i < s->nsmall + s->nlarge ? FJ_KIND_LARGE : FJ_KIND_EXTERNAL;
        if (f->kind != FJ_KIND_EXTERNAL) {
            size_t size = f->kind == FJ_KIND_LARGE ? s->cfg.large_stack_size : s->cfg.small_stack_size;
            size *= FJ_SAN_STACK_SCALE;
            f->stack_lo = fj__os_stack_alloc(size, &f->guard_size);
            if (!f->stack_lo)
                return FJ_ENOMEM;   /* fj__fibers_destroy frees what was made */
            f->stack_size = size;
            fj__ctx_make(&f->ctx, f->stack_lo, size, entry, f);
            fj__san_fiber_create(&f->san, f->stack_lo, size, f->kind == FJ_KIND_LARGE ? "large fiber" : "fiber");
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
    if (!s->fibers)
        return;
    for (uint32_t i = 0; i < s->nfibers; i++)
        if (s->fibers[i].stack_lo) {
            fj__san_fiber_destroy(&s->fibers[i].san);
            fj__os_stack_free(s->fibers[i].stack_lo, s->fibers[i].stack_size, s->fibers[i].guard_size);
        }
    free(s->fibers);
    s->fibers = NULL;
}
