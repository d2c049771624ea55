/*
 * Event rings (see trace.h). The writers that turn them into Chrome trace JSON
 * and an SVG timeline are in trace_write.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "os.h"

/* Only the ring's worker writes it; a writer on another thread may read it at
 * any time (idle workers still record sleeps after fj_main returned). So every
 * field is a relaxed atomic and `next` is published with release: a reader
 * that loads `next` with acquire sees every event below it, and re-reads
 * `next` afterwards to drop the ones overwritten meanwhile (ring_copy in
 * trace_write.c). */
void fj__trace_record(fj__trace_ring *r, fj__event_kind kind, uint32_t fiber, const char *name, uint64_t arg)
{
    uint64_t n = fj_load_relaxed(&r->next);
    fj__event *e = &r->events[n & (r->capacity - 1)];
    fj_store_relaxed(&e->ts_ns, fj__os_now_ns());
    fj_store_relaxed(&e->name, name);
    fj_store_relaxed(&e->arg, arg);
    fj_store_relaxed(&e->kind, (uint32_t)kind);
    fj_store_relaxed(&e->fiber, fiber);
    fj_store_release(&r->next, n + 1);
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
        fj__trace_ring *r = calloc(1, sizeof *r);
        if (!r)
            return FJ_ENOMEM;
        r->events = calloc((size_t)cap, sizeof *r->events);
        if (!r->events) {
            free(r);
            return FJ_ENOMEM;
        }
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
            free(r->events);
            free(r);
            s->workers[i].trace = NULL;
        }
    }
}

/* The program asked for this file without a call it could check, so a
 * failure is said on stderr rather than lost. */
void fj__trace_at_exit(fj_scheduler *s)
{
    const char *env = getenv("FIBERJOB_TRACE");
    if (!env || !*env || !s->workers || !s->workers[0].trace)
        return;
    int rc = fj_trace_write_json(s, env);
    if (rc)
        fprintf(stderr, "fiberjob: FIBERJOB_TRACE: could not write the trace to '%s': %s\n", env,
                rc == FJ_EIO ? strerror(errno) : fj_strerror(rc));
}

void fj_trace_clear(fj_scheduler *s)
{
    if (!s)
        fj__fatal("fj_trace_clear", "scheduler is NULL");
    for (unsigned i = 0; i < s->nworkers; i++)
        if (s->workers[i].trace)
            fj_store_release(&s->workers[i].trace->next, 0);
}
