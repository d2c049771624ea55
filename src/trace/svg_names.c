/*
 * The SVG writer's job names (svg.h): one entry per name with the jobs begun
 * and the time run under it, and the colour it is drawn in.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "svg.h"

static uint32_t name_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        h = (h ^ *p) * 16777619u;
    h ^= h >> 15;
    h *= 0x2c1b3c6du;
    return h ^ (h >> 12);
}

/*
 * Colours. A hash of the name picks a slot in a palette of well separated
 * colours (Tableau 10 without its grey, which means sleep here); names are
 * placed in order of time run and a taken slot sends the name to the next
 * one, so the names that matter most never share a colour. Then the lighter
 * Tableau 20 shades the same way, then a hue straight from the hash.
 */
static const char *const palette[] = {
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f",
};
static const char *const palette_light[] = {
    "#a0cbe8", "#ffbe7d", "#8cd17d", "#86bcb6", "#d37295", "#d4a6c8", "#d7b5a6", "#f1ce63",
};
enum { PALETTE_SIZE = sizeof palette / sizeof palette[0], PALETTE_LIGHT_SIZE = sizeof palette_light / sizeof palette_light[0] };

static void hue_colour(uint32_t h, char out[8])
{
    double hue = (double)(h % 360) / 60.0;
    double sat = 0.45 + (double)((h >> 9) % 25) / 100.0;
    double light = 0.55 + (double)((h >> 17) % 15) / 100.0;
    double chroma = (1.0 - (2.0 * light - 1.0)) * sat;   /* light > 0.5 */
    double hmod2 = hue - 2.0 * (double)(int)(hue / 2.0);
    double x = chroma * (1.0 - (hmod2 > 1.0 ? hmod2 - 1.0 : 1.0 - hmod2));
    /* Per sector of the hue: the channel that gets the chroma, the one that gets x. */
    static const int pick[6][2] = { { 0, 1 }, { 1, 0 }, { 1, 2 }, { 2, 1 }, { 2, 0 }, { 0, 2 } };
    double rgb[3] = { 0, 0, 0 };
    int sector = (int)hue;
    rgb[pick[sector][0]] = chroma;
    rgb[pick[sector][1]] = x;
    int c[3];
    for (int i = 0; i < 3; i++) {
        double v = (rgb[i] + light - chroma / 2.0) * 255.0 + 0.5;
        c[i] = v < 0 ? 0 : v > 255 ? 255 : (int)v;
    }
    snprintf(out, 8, "#%02x%02x%02x", c[0], c[1], c[2]);
}

tw_name *fj__tw_names_find(tw_names *t, const char *name, bool insert)
{
    uint32_t h = name_hash(name);
    size_t i = h & (t->cap - 1);
    while (t->slot[i].name && (t->slot[i].hash != h || strcmp(t->slot[i].name, name) != 0))
        i = (i + 1) & (t->cap - 1);
    if (!t->slot[i].name) {
        if (!insert)
            return NULL;
        t->slot[i].name = name;
        t->slot[i].hash = h;
        t->count++;
    }
    return &t->slot[i];
}

static int names_grow(tw_names *t)
{
    tw_names bigger = { fj__tw_alloc(t->mem, t->cap * 2, sizeof *t->slot), t->cap * 2, 0, NULL, t->mem };
    if (!bigger.slot)
        return FJ_ENOMEM;
    for (size_t k = 0; k < t->cap; k++)
        if (t->slot[k].name)
            *fj__tw_names_find(&bigger, t->slot[k].name, true) = t->slot[k];
    fj__tw_free(t->mem, t->slot, t->cap, sizeof *t->slot);
    *t = bigger;
    return 0;
}

/* Self time of every job slice: its duration less that of the slices nested
 * directly in it. The slices are in time order (model.c's slice_cmp_time), so
 * a slice's parent is on the stack of slices that contain it. */
static int self_times(const tw_model *m, uint64_t *self)
{
    size_t nstack = m->nslices ? m->nslices : 1;
    size_t *stack = fj__tw_alloc(&m->mem, nstack, sizeof *stack), depth = 0;
    if (!stack)
        return FJ_ENOMEM;
    for (size_t i = 0; i < m->nslices; i++) {
        const tw_slice *s = &m->slices[i];
        self[i] = s->t1 - s->t0;
        if (s->kind != SLICE_JOB)
            continue;
        while (depth) {
            const tw_slice *top = &m->slices[stack[depth - 1]];
            if (top->lane == s->lane && top->t0 <= s->t0 && s->t1 <= top->t1)
                break;
            depth--;
        }
        if (depth)
            self[stack[depth - 1]] -= s->t1 - s->t0;
        stack[depth++] = i;
    }
    fj__tw_free(&m->mem, stack, nstack, sizeof *stack);
    return 0;
}

static int name_cmp_time(const void *a, const void *b)
{
    const tw_name *x = *(tw_name *const *)a, *y = *(tw_name *const *)b;
    if (x->self != y->self)
        return x->self > y->self ? -1 : 1;
    if (x->jobs != y->jobs)
        return x->jobs > y->jobs ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* Place each name at the slot its hash picks in a palette of n colours, or
 * the next free one; false when the palette is full. */
static bool palette_place(tw_name *name, const char *const *colours, size_t n, bool *taken)
{
    size_t k = name->hash % n;
    for (size_t tries = 0; tries < n; tries++, k = (k + 1) % n) {
        if (!taken[k]) {
            taken[k] = true;
            snprintf(name->colour, sizeof name->colour, "%s", colours[k]);
            return true;
        }
    }
    return false;
}

static void names_colour(tw_names *t)
{
    bool taken[PALETTE_SIZE] = { false }, taken_light[PALETTE_LIGHT_SIZE] = { false };
    for (size_t i = 0; i < t->count; i++) {
        tw_name *n = t->order[i];
        if (!palette_place(n, palette, PALETTE_SIZE, taken) &&
            !palette_place(n, palette_light, PALETTE_LIGHT_SIZE, taken_light))
            hue_colour(n->hash, n->colour);
    }
}

/* The names of m's jobs with their totals and colours; m's slices must be in
 * time order. */
int fj__tw_names_build(const tw_model *m, tw_names *t)
{
    *t = (tw_names){ .slot = fj__tw_alloc(&m->mem, 64, sizeof *t->slot), .cap = 64, .mem = &m->mem };
    size_t nself = m->nslices ? m->nslices : 1;
    uint64_t *self = fj__tw_alloc(&m->mem, nself, sizeof *self);
    int rc = t->slot && self ? self_times(m, self) : FJ_ENOMEM;
    for (size_t i = 0; !rc && i < m->nslices; i++) {
        const tw_slice *s = &m->slices[i];
        if (s->kind != SLICE_JOB)
            continue;
        if (2 * (t->count + 1) > t->cap && (rc = names_grow(t)) != 0)
            break;
        tw_name *n = fj__tw_names_find(t, fj__job_name(s->name), true);
        n->jobs += (s->flags & SLICE_HEAD) != 0;
        n->self += self[i];
    }
    fj__tw_free(&m->mem, self, nself, sizeof *self);
    if (!rc && !(t->order = fj__tw_alloc(&m->mem, t->count ? t->count : 1, sizeof *t->order)))
        rc = FJ_ENOMEM;
    if (rc) {
        fj__tw_free(&m->mem, t->slot, t->cap, sizeof *t->slot);
        t->slot = NULL;
        return rc;
    }
    for (size_t k = 0, j = 0; k < t->cap; k++)
        if (t->slot[k].name)
            t->order[j++] = &t->slot[k];
    fj__tw_sort(t->order, t->count, sizeof *t->order, name_cmp_time);
    names_colour(t);
    return 0;
}

void fj__tw_names_free(tw_names *t)
{
    int err = errno;
    fj__tw_free(t->mem, t->slot, t->cap, sizeof *t->slot);
    fj__tw_free(t->mem, t->order, t->count ? t->count : 1, sizeof *t->order);
    errno = err;
}
