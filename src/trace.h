/*
 * Tracing: per-worker rings of events, written only by their worker, read when
 * the scheduler is quiet (after fj_main returned, or in fj_destroy). Always
 * compiled in (there is no build switch), off at run time: every event site
 * costs one predictable branch on the worker's `trace` pointer, which is NULL
 * unless fj_config.trace_events or the FIBERJOB_TRACE environment variable
 * asked for tracing.
 *
 * trace.c owns the rings: their writer, their reader and the ordering
 * argument that ties the two. The trace writers (src/trace/) see the runtime
 * only through the snapshot declared here, never through internal.h.
 */
#ifndef FJ_TRACE_H
#define FJ_TRACE_H

#include <stdint.h>

#include "mem.h"

typedef enum fj__event_kind {
    FJ_EV_JOB_BEGIN = 1, /* name: job; a job starts on this fiber (may nest: inline runs); arg: when
                          * it was queued (ns, rounded down to FJ_QUEUE_STAMP_NS), 0: not known */
    FJ_EV_JOB_END,       /* name: job; the innermost job on this fiber returned (arg: 1 if it panicked) */
    FJ_EV_SUSPEND,       /* the fiber switches out in fj_wait (arg: counter) or fj_yield (arg: 0) */
    FJ_EV_RESUME,        /* the fiber runs again, on this worker */
    FJ_EV_STEAL,         /* arg: victim worker index */
    FJ_EV_SLEEP,         /* the worker sleeps on its futex */
    FJ_EV_WAKE,          /* the worker woke up */
    FJ_EV_JOB_QUEUE,     /* name: the first job; a job on this fiber queued arg jobs (fj_run_jobs) */
} fj__event_kind;

/* A job's queueing stamp counts units of 1 << FJ_QUEUE_STAMP_SHIFT ns (in 32
 * bits: delays up to 2^38 ns, about 4.5 minutes, are measured right). A
 * JOB_BEGIN's arg is its JOB_QUEUE's time rounded down to a unit. */
#define FJ_QUEUE_STAMP_SHIFT 6
#define FJ_QUEUE_STAMP_NS (1u << FJ_QUEUE_STAMP_SHIFT)

typedef struct fj__event {
    uint64_t ts_ns;      /* CLOCK_MONOTONIC */
    const char *name;
    uint64_t arg;
    uint32_t kind;       /* fj__event_kind */
    uint32_t fiber;      /* fiber index (or UINT32_MAX for worker events) */
} fj__event;

typedef struct fj__trace_ring {
    fj__event *events;
    uint64_t capacity;   /* a power of two */
    uint64_t next;       /* total events recorded; the ring keeps the last `capacity` */
} fj__trace_ring;

struct fj__worker;
struct fj_scheduler;

/* Record one event. Only the ring's worker calls it (the ring has one writer);
 * readers on other threads copy with fj__trace_ring_copy. The stores are
 * relaxed atomics between two fences, so that such a copy keeps only whole
 * events: trace.c argues why. */
void fj__trace_record(fj__trace_ring *r, fj__event_kind kind, uint32_t fiber, const char *name, uint64_t arg);
/* The same at a time the caller read (CLOCK_MONOTONIC, fj__os_now_ns). */
void fj__trace_record_at(fj__trace_ring *r, uint64_t ts_ns, fj__event_kind kind, uint32_t fiber, const char *name,
                         uint64_t arg);

/* A ring's events copied out of it: events[0..count) are events number
 * lost..lost+count-1 of the ring, each whole (no field from another event). */
typedef struct fj__trace_copy {
    fj__event *events;   /* from the copy's fj__mem, capacity of them; the caller frees it */
    uint64_t capacity;
    uint64_t count;
    uint64_t lost;       /* older events the ring no longer held */
} fj__trace_copy;

/* Copy r, taking the memory from mem, while its worker may still record; 0
 * or FJ_ENOMEM. The caller gives out->events back with fj__trace_copy_free. */
int fj__trace_ring_copy(const fj__trace_ring *r, const fj__mem *mem, fj__trace_copy *out);
void fj__trace_copy_free(const fj__mem *mem, fj__trace_copy *c);
/* Worker i's ring, NULL when tracing is off (for trace.c and tests). */
const fj__trace_ring *fj__trace_ring_of(const struct fj_scheduler *s, unsigned i);

/* Every worker's ring copied whole, and what the trace writers need to know of
 * the scheduler besides: they read this, never the scheduler itself. */
typedef struct fj__trace_snapshot {
    fj__trace_copy *rings;   /* rings[i]: worker i's events; nworkers of them */
    unsigned nworkers;
    uint32_t nfibers;        /* every fiber index in the events is below it */
    fj__mem mem;             /* the scheduler's: for the copies and whatever the writers build */
} fj__trace_snapshot;

/* Copy every ring of s with fj__trace_ring_copy (so workers may still record
 * meanwhile). 0; FJ_EINVAL when s is NULL or its tracing is off; FJ_ENOMEM.
 * On success the caller frees *out with fj__trace_snapshot_free; on failure
 * *out holds nothing to free. */
int fj__trace_snapshot_take(const struct fj_scheduler *s, fj__trace_snapshot *out);
/* A job's name as every report shows it: "(unnamed)" for NULL (the string
 * is runtime.c's). Inline: the per-job paths (a chunk's take) call it for
 * every job. */
extern const char fj__unnamed[];
static inline const char *fj__job_name(const char *name) { return name ? name : fj__unnamed; }
void fj__trace_snapshot_free(fj__trace_snapshot *snap);

/* Set up rings for every worker when the configuration or the environment asks
 * for tracing; 0 or FJ_ENOMEM. Freed by fj__trace_destroy. */
int fj__trace_init(struct fj_scheduler *s);
void fj__trace_destroy(struct fj_scheduler *s);
/* Called at the end of fj_destroy's drain: writes FIBERJOB_TRACE's file if set. */
void fj__trace_at_exit(struct fj_scheduler *s);

#define FJ_TRACE(w, kind, fiber, name, arg)                                                    \
    do {                                                                                       \
        if (__builtin_expect((w)->trace != 0, 0))                                              \
            fj__trace_record((w)->trace, (kind), (fiber), (name), (uint64_t)(uintptr_t)(arg)); \
    } while (0)

#endif
