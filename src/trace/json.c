/*
 * fj_trace_write_json: the model (model.h) as Chrome trace-event JSON, which
 * Perfetto and chrome://tracing open. Job runs and sleeps are complete ("X")
 * events on one thread per worker; waits, yields and steals are instant ("i")
 * events. A job's queueing delay is an arg of its first slice
 * ("queue_delay_us") and a flow arrow (ph "s" to "f", category "queue") from
 * the slice that queued it to the job's first slice; jobs queued from outside
 * the workers (and the root job) start their arrow at a zero-length slice on
 * a lane of their own, "outside the workers". This is also the writer behind FIBERJOB_TRACE (trace.c), so every
 * program that calls fj_destroy links it, and nothing of the SVG writer.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "model.h"
#include "text.h"

/* Worker i is thread i + 1: Perfetto takes tid 0 for the idle task (and
 * before its fix #2278 merged threads 0 and 1). Its name says "worker i". */
static void json_common(FILE *f, uint64_t t, uint32_t lane)
{
    fputs(",\"ts\":", f);
    fj__tw_put_us(f, t);
    fprintf(f, ",\"pid\":1,\"tid\":%" PRIu32, lane + 1);
}

static void json_slice(FILE *f, const tw_slice *s)
{
    fputs(",\n{\"name\":", f);
    fj__tw_put_json_string(f, fj__job_name(s->name));
    fprintf(f, ",\"cat\":\"%s\",\"ph\":\"X\"", s->kind == SLICE_JOB ? "job" : "sleep");
    json_common(f, s->t0, s->lane);
    fputs(",\"dur\":", f);
    fj__tw_put_us(f, s->t1 - s->t0);
    if (s->kind == SLICE_JOB) {
        fprintf(f, ",\"args\":{\"part\":\"%s\"%s", fj__tw_slice_part(s->flags),
                (s->flags & SLICE_PANICKED) ? ",\"panicked\":true" : "");
        if (s->delay != TW_NO_DELAY) {
            fputs(",\"queue_delay_us\":", f);
            fj__tw_put_us(f, s->delay);
        }
        fputc('}', f);
    }
    fputc('}', f);
}

/* The lane of outside submissions: after the workers. */
static uint32_t from_lane(const tw_model *m, const tw_slice *s)
{
    return s->from_lane == TW_OUTSIDE ? m->nlanes : s->from_lane;
}

/* Whether s has a queueing arrow: a delay, and a queueing time inside the window. */
static bool has_flow(const tw_slice *s)
{
    return s->delay != TW_NO_DELAY && s->queued != TW_NO_DELAY;
}

/* A flow from where job slice s was queued to its start; id: its number. */
static void json_flow(FILE *f, const tw_model *m, const tw_slice *s, size_t id)
{
    fprintf(f, ",\n{\"name\":\"queued\",\"cat\":\"queue\",\"ph\":\"s\",\"id\":%zu", id);
    json_common(f, s->queued, from_lane(m, s));
    fprintf(f, "},\n{\"name\":\"queued\",\"cat\":\"queue\",\"ph\":\"f\",\"bp\":\"e\",\"id\":%zu", id);
    json_common(f, s->t0, s->lane);
    fputc('}', f);
}

static int u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* The outside lane: a zero-length slice at each time something was queued
 * from outside, for the arrows to start from (a flow binds to a slice). */
static void json_outside(FILE *f, const tw_model *m)
{
    size_t n = 0;
    for (size_t i = 0; i < m->nslices; i++)
        n += has_flow(&m->slices[i]) && m->slices[i].from_lane == TW_OUTSIDE;
    if (n == 0)
        return;
    fprintf(f, ",\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":%u,"
               "\"args\":{\"name\":\"outside the workers\"}}", m->nlanes + 1);
    fprintf(f, ",\n{\"name\":\"thread_sort_index\",\"ph\":\"M\",\"pid\":1,\"tid\":%u,"
               "\"args\":{\"sort_index\":%u}}", m->nlanes + 1, m->nlanes);
    uint64_t *t = fj__tw_alloc(&m->mem, n, sizeof *t);
    size_t k = 0;
    for (size_t i = 0; t && i < m->nslices; i++)
        if (has_flow(&m->slices[i]) && m->slices[i].from_lane == TW_OUTSIDE)
            t[k++] = m->slices[i].queued;
    if (t)
        fj__tw_sort(t, n, sizeof *t, u64_cmp);
    /* Without memory for the list, one slice per arrow (repeats allowed). */
    for (size_t i = 0; i < (t ? n : m->nslices) && !ferror(f); i++) {
        uint64_t at;
        if (t) {
            if (i > 0 && t[i] == t[i - 1])
                continue;
            at = t[i];
        } else {
            const tw_slice *s = &m->slices[i];
            if (!has_flow(s) || s->from_lane != TW_OUTSIDE)
                continue;
            at = s->queued;
        }
        fputs(",\n{\"name\":\"queued from outside\",\"cat\":\"queue\",\"ph\":\"X\"", f);
        json_common(f, at, m->nlanes);
        fputs(",\"dur\":0}", f);
    }
    fj__tw_free(&m->mem, t, n, sizeof *t);
}

static void json_mark(FILE *f, const tw_mark *k)
{
    static const char *const names[] = { "wait", "yield", "steal" };
    fprintf(f, ",\n{\"name\":\"%s\",\"cat\":\"%s\",\"ph\":\"i\",\"s\":\"t\"", names[k->kind], names[k->kind]);
    json_common(f, k->t, k->lane);
    fputs(",\"args\":{\"job\":", f);
    fj__tw_put_json_string(f, fj__job_name(k->name));
    if (k->kind == MARK_STEAL) {
        fprintf(f, ",\"victim\":%" PRIu64 "}}", k->arg);
        return;
    }
    if (k->kind == MARK_WAIT)
        fprintf(f, ",\"counter\":\"0x%" PRIx64 "\"", k->arg);
    if (k->t_resume != UINT64_MAX) {
        fputs(",\"suspended_us\":", f);
        fj__tw_put_us(f, k->t_resume - k->t);
        fprintf(f, ",\"resumed_on\":%" PRIu32, k->resume_lane);
    }
    fputs("}}", f);
}

static void json_write(FILE *f, void *model)
{
    const tw_model *m = model;
    fputs("{\"traceEvents\":[\n{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":1,\"tid\":1,"
          "\"args\":{\"name\":\"fiberjob\"}}", f);
    for (unsigned i = 0; i < m->nlanes; i++) {
        fprintf(f, ",\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":%u,\"args\":{\"name\":\"worker %u\"}}",
                i + 1, i);
        fprintf(f, ",\n{\"name\":\"thread_sort_index\",\"ph\":\"M\",\"pid\":1,\"tid\":%u,\"args\":{\"sort_index\":%u}}",
                i + 1, i);
    }
    for (size_t i = 0; i < m->nslices && !ferror(f); i++)
        json_slice(f, &m->slices[i]);
    for (size_t i = 0; i < m->nmarks && !ferror(f); i++)
        json_mark(f, &m->marks[i]);
    json_outside(f, m);
    for (size_t i = 0; i < m->nslices && !ferror(f); i++)
        if (has_flow(&m->slices[i]))
            json_flow(f, m, &m->slices[i], i + 1);
    fprintf(f, "\n],\"displayTimeUnit\":\"ns\",\"otherData\":{\"workers\":%u,\"events\":%" PRIu64
               ",\"events_outside_window\":%" PRIu64 ",\"queue_delay\":{\"jobs\":%" PRIu64 ",\"mean_us\":",
            m->nlanes, m->nevents, m->nlost, m->delay_jobs);
    fj__tw_put_us(f, m->delay_jobs ? m->delay_total / m->delay_jobs : 0);
    fputs(",\"max_us\":", f);
    fj__tw_put_us(f, m->delay_max);
    fputs("}}}\n", f);
}

int fj_trace_write_json(const fj_scheduler *s, const char *path)
{
    tw_model m;
    int rc = fj__tw_model_for_writing(s, path, &m);
    if (rc)
        return rc;
    rc = fj__tw_write_file(path, json_write, &m);
    fj__tw_model_free(&m);
    return rc;
}
