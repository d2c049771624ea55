/*
 * fj_parallel_for: a range split into chunks handed out from one shared index.
 *
 * The caller submits up to (workers x 2) identical jobs and waits for them; each
 * job takes the next chunk with a relaxed fetch_add on the shared index until
 * the range is exhausted. Workers that are busy elsewhere simply take fewer
 * chunks, so the load balances itself, and no per-chunk descriptor is needed:
 * nothing is allocated. The cost per chunk is one atomic increment (a
 * cross-core cache-line transfer when another worker took the last one), which
 * is why the automatic grain aims at about eight chunks per worker.
 */
#include "internal.h"

typedef struct pfor_ctx {
    _Alignas(FJ_CACHE_PAD) size_t next;   /* next chunk's first index; contended */
    char pad[FJ_CACHE_PAD - sizeof(size_t)];
    size_t end, grain;
    fj_range_fn fn;
    void *arg;
} pfor_ctx;

static void pfor_job(void *p)
{
    pfor_ctx *ctx = p;
    for (;;) {
        /* Relaxed is enough: the RMW's atomicity alone hands each chunk to one
         * job (every fetch_add reads the value the previous one wrote, in the
         * one modification order of `next`). No data travels through `next`:
         * ctx's other fields were written before fj_run_jobs and reach this
         * job through the deque's release/acquire, and the chunks' results
         * reach the caller through the counter's finish and its fj_wait. */
        size_t b = fj_fetch_add_relaxed(&ctx->next, ctx->grain);
        if (b >= ctx->end)
            return;
        size_t e = ctx->end - b < ctx->grain ? ctx->end : b + ctx->grain;
        ctx->fn(b, e, ctx->arg);
    }
}

uint32_t fj_parallel_for(size_t begin, size_t end, size_t grain, fj_range_fn fn, void *arg, const char *name)
{
    fj__worker *w = fj__current_worker();
    if (!w || !w->current)
        fj__fatal("fj_parallel_for", "called outside a job");
    if (!fn)
        fj__fatal("fj_parallel_for", "fn is NULL");
    if (end < begin)
        fj__fatal("fj_parallel_for", "end %zu is before begin %zu", end, begin);
    if (end == begin)
        return 0;
    size_t n = end - begin;
    unsigned workers = w->s->nworkers;
    if (grain == 0) {
        grain = n / ((size_t)workers * 8);
        if (grain == 0)
            grain = 1;
    }
    size_t chunks = n / grain + (n % grain != 0);
    size_t njobs = chunks < (size_t)workers * 2 ? chunks : (size_t)workers * 2;
    if (njobs > 64)
        njobs = 64;
    /* Guard the shared index against wrapping past SIZE_MAX: it stops below
     * end + grain, and then each job adds one grain more before it sees the
     * end, so it can reach end + (njobs + 1) x grain. */
    if (grain > (SIZE_MAX - end) / (njobs + 1))
        fj__fatal("fj_parallel_for", "end %zu + (%zu jobs + 1) x grain %zu overflows size_t", end, njobs, grain);
    pfor_ctx ctx = { .next = begin, .end = end, .grain = grain, .fn = fn, .arg = arg };
    fj_job jobs[64];
    for (size_t i = 0; i < njobs; i++)
        jobs[i] = (fj_job){ .fn = pfor_job, .arg = &ctx, .name = name ? name : "fj_parallel_for" };
    fj_counter done;
    fj_counter_init(&done, 0);
    fj_run_jobs(jobs, njobs, &done);
    fj_wait(&done, 0);
    return fj_counter_panics(&done);
}
