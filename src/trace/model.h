/*
 * The trace writers' shared model (src/trace/): the slices and marks that the
 * JSON writer (json.c) and the SVG writer (svg.c) both draw, built by model.c
 * from a snapshot of the event rings (src/trace.h).
 *
 * The files of src/trace/ see the runtime only through src/trace.h and the
 * public header, never through internal.h, so the runtime's layout can change
 * without them. Their functions shared between files carry the prefix fj__tw_
 * ("trace writer"), as internal symbols of the library; their types (tw_...)
 * never leave this folder.
 */
#ifndef FJ_TRACE_MODEL_H
#define FJ_TRACE_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "fiberjob.h"
#include "trace.h"

enum { SLICE_JOB = 0, SLICE_SLEEP = 1 };
enum {
    SLICE_HEAD = 1,     /* the segment starts at the job's JOB_BEGIN */
    SLICE_TAIL = 2,     /* the segment ends at the job's JOB_END */
    SLICE_PANICKED = 4  /* the job ended by fj_panic */
};

/* No queueing delay known (tw_slice.delay). */
#define TW_NO_DELAY UINT64_MAX
/* The lane of submissions from outside the workers (and of the root job,
 * queued by fj_main's thread before it is a worker), or whose submitter's
 * JOB_QUEUE event was not kept: tw_slice.from_lane. */
#define TW_OUTSIDE UINT32_MAX

typedef struct tw_slice {
    uint64_t t0, t1;    /* ns from the window's first event */
    uint64_t delay;     /* SLICE_HEAD of a job: ns from its queueing to t0; else TW_NO_DELAY */
    uint64_t queued;    /* with delay: when it was queued, ns into the window (the JOB_QUEUE
                         * event's time when there is one); TW_NO_DELAY: before the window,
                         * or by a job begun before it, which has no slice there (model.c) */
    uint32_t from_lane; /* the lane that queued it (with delay), or TW_OUTSIDE */
    const char *name;
    uint32_t lane;      /* worker index */
    uint16_t depth;     /* position in the fiber's stack of open jobs */
    uint8_t kind;       /* SLICE_... */
    uint8_t flags;
} tw_slice;

enum { MARK_WAIT = 0, MARK_YIELD = 1, MARK_STEAL = 2 };

typedef struct tw_mark {
    uint64_t t;
    uint64_t t_resume;  /* waits and yields: when the fiber ran again; UINT64_MAX: not in the window */
    const char *name;
    uint64_t arg;       /* waits: the counter; steals: the victim */
    uint32_t lane;
    uint32_t resume_lane;
    uint8_t kind;       /* MARK_... */
} tw_mark;

typedef struct tw_model {
    unsigned nlanes;
    uint64_t span;          /* ns from the first to the last event of the window */
    uint64_t nevents;       /* events in the window */
    uint64_t nlost;         /* events recorded but outside the window */
    uint64_t delay_jobs;    /* jobs begun in the window with a queueing delay */
    uint64_t delay_total;   /* their delays summed, ns */
    uint64_t delay_max;
    tw_slice *slices;
    size_t nslices, cap_slices;
    tw_mark *marks;
    size_t nmarks, cap_marks;
    fj__mem mem;            /* the scheduler's: everything the writers build comes from it */
} tw_model;

/* What both writers start from: the arguments checked (FJ_EINVAL for a NULL
 * scheduler or path, or a scheduler that does not trace), the rings copied,
 * the model built and its slices sorted by time (lane, then start, the
 * enclosing slice first). 0, FJ_EINVAL or FJ_ENOMEM; on 0 the caller frees m
 * with fj__tw_model_free. */
int fj__tw_model_for_writing(const fj_scheduler *s, const char *path, tw_model *m);
/* Free what m holds. errno is kept (free may set it before POSIX 2024), so a
 * writer can free after a failed write and still return its FJ_EIO. */
void fj__tw_model_free(tw_model *m);

/* Which part of its job a slice shows: "whole", "begin", "end" or "middle". */
const char *fj__tw_slice_part(uint8_t flags);

/* n elements of elem bytes, zeroed, from mem (NULL when it has none), and back. */
void *fj__tw_alloc(const fj__mem *mem, size_t n, size_t elem);
void fj__tw_free(const fj__mem *mem, void *p, size_t n, size_t elem);

/* qsort, which must not be given the NULL of an empty array. */
void fj__tw_sort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *));

#endif
