/*
 * The SVG writer's job names, shared by svg.c (which draws them) and
 * svg_names.c (which counts and colours them).
 */
#ifndef FJ_TRACE_SVG_H
#define FJ_TRACE_SVG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model.h"

/* Per-name totals, in an open-addressing table keyed by the string (two jobs
 * may carry equal names at different addresses). */
typedef struct tw_name {
    const char *name;
    uint32_t hash;
    uint64_t jobs;      /* slices that start at a JOB_BEGIN */
    uint64_t self;      /* ns run, not counting jobs run inline inside */
    char colour[8];
} tw_name;

typedef struct tw_names {
    tw_name *slot;
    size_t cap, count;
    tw_name **order;    /* the names by time run, longest first */
    const fj__mem *mem; /* the model's */
} tw_names;

/* The names of m's jobs with their totals and colours; m's slices must be in
 * time order (fj__tw_model_for_writing leaves them so). 0 or FJ_ENOMEM; on 0
 * the caller frees t with fj__tw_names_free, which keeps errno. */
int fj__tw_names_build(const tw_model *m, tw_names *t);
void fj__tw_names_free(tw_names *t);
/* The entry of name; a new one when insert, else NULL when there is none. */
tw_name *fj__tw_names_find(tw_names *t, const char *name, bool insert);

#endif
