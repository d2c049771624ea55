/*
 * Event rings (see trace.h): set up from the configuration or FIBERJOB_TRACE,
 * recorded into by their workers, copied out whole by any thread, and handed
 * to the trace writers (src/trace/) as a snapshot. FIBERJOB_TRACE's file is
 * written from here, at the end of fj_destroy.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "os.h"

/*
 * The ring is a seqlock with one writer, the worker, and `next` as its
 * sequence: event n lives in slot n mod capacity, and next == n says that the
 * events below n are complete and that event n may be being written. A reader
 * copies while the worker records (after fj_main returns, idle workers still
 * record their sleeps; a test copies in the middle of a run), so it must drop
 * the slots a later event overwrote while it copied. Every field is a relaxed
 * atomic: a race costs a dropped event, never undefined behaviour.
 *
 *   writer, event n               reader
 *   W1 release fence              R1 hi = next (acquire)
 *   W2 the fields (relaxed)       R2 copy events hi - capacity .. hi-1 (relaxed)
 *   W3 next = n + 1 (release)     R3 acquire fence
 *                                 R4 now = next (relaxed); keep events > now - capacity
 *
 * Why the copies it keeps are whole events. Take a kept event i < hi.
 *
 * No field holds an older value: W3 of event i is, or precedes, the store R1
 * read, so W2 of event i happens before the copy, which by coherence cannot
 * read what the slot held before.
 *
 * No field holds a newer value: say the copy of one field read the store W2
 * of a later event j = i + k * capacity (the only events that write that
 * slot). The store next = j (W3 of event j - 1) is sequenced before W1 of
 * event j, W1 before that field store; the reader's load of it is sequenced
 * before R3. A release fence followed by a store, an acquire fence preceded
 * by a load that reads it: W1 synchronizes with R3 (C11 7.17.4), so the
 * store next = j happens before R4, which then reads j or later:
 * now >= i + capacity, and event i is dropped. Each field is argued alone, so
 * a copy mixing fields of several events is dropped as well.
 *
 * Without W1, the field stores of event j may become visible before next = j
 * (a release store orders what precedes it, not what follows; AArch64 and
 * POWER do reorder stores). Without R3, the load of next may be satisfied
 * before the copies (an acquire load orders only what follows it). Either
 * way a reader could keep event i with a field of event j, and replay a job
 * that never ran. On x86-64 both fences cost nothing (stores stay in order,
 * loads stay in order: they only stop the compiler); on AArch64 W1 is one
 * barrier per event, paid only with tracing on.
 */
void fj__trace_record_at(fj__trace_ring *r, uint64_t ts_ns, fj__event_kind kind, uint32_t fiber, const char *name,
                         uint64_t arg)
{
    uint64_t n = fj_load_relaxed(&r->next);   /* its own store: one writer */
    fj__event *e = &r->events[n & (r->capacity - 1)];
    fj_fence_release();                        /* W1 */
    fj_store_relaxed(&e->ts_ns, ts_ns);
    fj_store_relaxed(&e->name, name);
    fj_store_relaxed(&e->arg, arg);
    fj_store_relaxed(&e->kind, (uint32_t)kind);
    fj_store_relaxed(&e->fiber, fiber);
    fj_store_release(&r->next, n + 1);        /* W3 */
}

void fj__trace_record(fj__trace_ring *r, fj__event_kind kind, uint32_t fiber, const char *name, uint64_t arg)
{
    fj__trace_record_at(r, fj__os_now_ns(), kind, fiber, name, arg);
}

/*
 * Queueing delay: from the call that queued a job (fj_run_jobs,
 * fj_run_jobs_on; fj_main for the root job) to the moment a worker starts it,
 * whoever took it, however it travelled (a deque, a batch, the injection
 * queue, a steal, a large-stack hand-off or deferral). Measured only while
 * tracing is on: with tracing off, queueing costs nothing per job, and a clock
 * read per job started would cost more than the rest of the job's path.
 *
 * A submission reads the clock once for all its jobs (one fj_run_jobs of N
 * jobs or batches: one read, not N) and stamps each task with it: the
 * FJ_TASK_QUEUED flag, and the time in units of FJ_QUEUE_STAMP_NS, truncated
 * to 32 bits, in the upper half of the task's flags, which a job's task does
 * not use otherwise (range entries carry lo and hi there, so a batch keeps the
 * stamp in its own flags and hands it to every job taken from it). The task
 * stays five words: a sixth for a full timestamp would cost every job a
 * store and a load with tracing off too.
 *
 * When the job starts, the worker reads the clock (the one JOB_BEGIN reads
 * anyway) and rebuilds the submission time from the units that passed since,
 * mod 2^32: exact up to 2^32 units (about 4.5 minutes), and rounded down to a
 * unit, so the delay is never less than the true one and at most one unit
 * more. Resumed fibers are not queued jobs: their tasks carry no stamp.
 */
uintptr_t fj__trace_queued(fj__trace_ring *r, uint32_t fiber, const char *name, uint64_t count)
{
    uint64_t now = fj__os_now_ns();
    if (r)
        fj__trace_record_at(r, now, FJ_EV_JOB_QUEUE, fiber, name, count);
    return FJ_TASK_QUEUED | (uintptr_t)(uint32_t)(now >> FJ_QUEUE_STAMP_SHIFT) << 32;
}

void fj__trace_job_begin(fj__worker *w, uint32_t fiber, const fj__task *t)
{
    uint64_t now = fj__os_now_ns(), queued = 0;
    if (t->flags & FJ_TASK_QUEUED) {
        uint64_t units = (uint32_t)((uint32_t)(now >> FJ_QUEUE_STAMP_SHIFT) - (uint32_t)(t->flags >> 32));
        queued = ((now >> FJ_QUEUE_STAMP_SHIFT) - units) << FJ_QUEUE_STAMP_SHIFT;
        uint64_t delay = now - queued;
        FJ__STAT_INC(w, queue_delay_jobs);
        FJ__STAT_ADD(w, queue_delay_total_ns, delay);
        if (delay > fj_load_relaxed(&w->stats.queue_delay_max_ns))
            fj_store_relaxed(&w->stats.queue_delay_max_ns, delay);
    }
    fj__trace_record_at(w->trace, now, FJ_EV_JOB_BEGIN, fiber, t->name, queued);
}

/* The reader: R1 to R4 of the argument above. */
int fj__trace_ring_copy(const fj__trace_ring *r, const fj__mem *mem, fj__trace_copy *out)
{
    uint64_t hi = fj_load_acquire(&r->next);  /* R1 */
    uint64_t lo = hi > r->capacity ? hi - r->capacity : 0;
    out->capacity = hi > lo ? hi - lo : 1;
    out->events = fj__mem_alloc(mem, (size_t)out->capacity * sizeof *out->events, FJ_MEM_ALIGN);
    if (!out->events)
        return FJ_ENOMEM;
    for (uint64_t i = lo; i < hi; i++) {     /* R2 */
        const fj__event *e = &r->events[i & (r->capacity - 1)];
        fj__event *c = &out->events[i - lo];
        c->ts_ns = fj_load_relaxed(&e->ts_ns);
        c->name = fj_load_relaxed(&e->name);
        c->arg = fj_load_relaxed(&e->arg);
        c->kind = fj_load_relaxed(&e->kind);
        c->fiber = fj_load_relaxed(&e->fiber);
    }
    fj_fence_acquire();                        /* R3 */
    uint64_t now = fj_load_relaxed(&r->next);  /* R4 */
    uint64_t valid = now >= r->capacity ? now - r->capacity + 1 : 0;
    if (valid > lo) {
        uint64_t drop = valid < hi ? valid - lo : hi - lo;
        memmove(out->events, out->events + drop, (size_t)(hi - lo - drop) * sizeof *out->events);
        lo += drop;
    }
    out->count = hi - lo;
    out->lost = lo;
    return 0;
}

const fj__trace_ring *fj__trace_ring_of(const fj_scheduler *s, unsigned i)
{
    return s->workers && i < s->nworkers ? s->workers[i].trace : NULL;
}

/* The writers' one view of the scheduler (trace.h). A worker without a ring
 * would read as empty; once fj__trace_init succeeded, every worker has one. */
int fj__trace_snapshot_take(const fj_scheduler *s, fj__trace_snapshot *out)
{
    memset(out, 0, sizeof *out);
    if (!s || !fj__trace_ring_of(s, 0))
        return FJ_EINVAL;
    fj__trace_copy *rings = fj__mem_alloc(&s->mem, s->nworkers * sizeof *rings, FJ_MEM_ALIGN);
    if (!rings)
        return FJ_ENOMEM;
    memset(rings, 0, s->nworkers * sizeof *rings);
    *out = (fj__trace_snapshot){ .rings = rings, .nworkers = s->nworkers, .nfibers = s->nfibers, .mem = s->mem };
    for (unsigned i = 0; i < s->nworkers; i++) {
        const fj__trace_ring *r = s->workers[i].trace;
        if (r && fj__trace_ring_copy(r, &s->mem, &rings[i]) != 0) {
            fj__trace_snapshot_free(out);
            return FJ_ENOMEM;
        }
    }
    return 0;
}

void fj__trace_copy_free(const fj__mem *mem, fj__trace_copy *c)
{
    fj__mem_free(mem, c->events, (size_t)c->capacity * sizeof *c->events, FJ_MEM_ALIGN);
    c->events = NULL;
}

void fj__trace_snapshot_free(fj__trace_snapshot *snap)
{
    for (unsigned i = 0; snap->rings && i < snap->nworkers; i++)
        fj__trace_copy_free(&snap->mem, &snap->rings[i]);
    fj__mem_free(&snap->mem, snap->rings, snap->nworkers * sizeof *snap->rings, FJ_MEM_ALIGN);
    memset(snap, 0, sizeof *snap);
}

int fj__trace_init(fj_scheduler *s)
{
    uint64_t n = s->cfg.trace_events;
    const char *env = getenv("FIBERJOB_TRACE");
    if (!n && env && *env)
        n = 65536;
    if (!n)
        return 0;
    uint64_t cap = 1;
    while (cap < n)
        cap *= 2;
    for (unsigned i = 0; i < s->nworkers; i++) {
        fj__trace_ring *r = fj__mem_alloc(&s->mem, sizeof *r, FJ_MEM_ALIGN);
        if (!r)
            return FJ_ENOMEM;
        memset(r, 0, sizeof *r);
        r->events = fj__mem_alloc(&s->mem, (size_t)cap * sizeof *r->events, FJ_MEM_ALIGN);
        if (!r->events) {
            fj__mem_free(&s->mem, r, sizeof *r, FJ_MEM_ALIGN);
            return FJ_ENOMEM;
        }
        memset(r->events, 0, (size_t)cap * sizeof *r->events);
        r->capacity = cap;
        s->workers[i].trace = r;
    }
    return 0;
}

void fj__trace_destroy(fj_scheduler *s)
{
    if (!s->workers)
        return;
    for (unsigned i = 0; i < s->nworkers; i++) {
        fj__trace_ring *r = s->workers[i].trace;
        if (r) {
            fj__mem_free(&s->mem, r->events, (size_t)r->capacity * sizeof *r->events, FJ_MEM_ALIGN);
            fj__mem_free(&s->mem, r, sizeof *r, FJ_MEM_ALIGN);
            s->workers[i].trace = NULL;
        }
    }
}

/* The program asked for this file without a call it could check, so a
 * failure is said on stderr rather than lost. */
void fj__trace_at_exit(fj_scheduler *s)
{
    const char *env = getenv("FIBERJOB_TRACE");
    if (!env || !*env || !fj__trace_ring_of(s, 0))
        return;
    int rc = fj_trace_write_json(s, env);
    if (rc)
        fprintf(stderr, "fiberjob: FIBERJOB_TRACE: could not write the trace to '%s': %s\n", env,
                rc == FJ_EIO ? strerror(errno) : fj_strerror(rc));
}

/* The one store to `next` outside the ring's worker, so the one exception to
 * the single writer the protocol above assumes: an idle worker recording a
 * sleep at this moment stores its n + 1 after this 0 and undoes the clear. A
 * fix would leave `next` to the worker and keep a `cleared` mark that the
 * copy starts from. */
void fj_trace_clear(fj_scheduler *s)
{
    if (!s)
        fj__fatal("fj_trace_clear", "scheduler is NULL");
    for (unsigned i = 0; i < s->nworkers; i++)
        if (s->workers[i].trace)
            fj_store_release(&s->workers[i].trace->next, 0);
}
