/*
 * fj_trace_write_json: the model (model.h) as Chrome trace-event JSON, which
 * Perfetto and chrome://tracing open. Job runs and sleeps are complete ("X")
 * events on one thread per worker; waits, yields and steals are instant ("i")
 * events. This is also the writer behind FIBERJOB_TRACE (trace.c), so every
 * program that calls fj_destroy links it, and nothing of the SVG writer.
 */
#include <inttypes.h>
#include <stdio.h>

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
    if (s->kind == SLICE_JOB)
        fprintf(f, ",\"args\":{\"part\":\"%s\"%s}", fj__tw_slice_part(s->flags),
                (s->flags & SLICE_PANICKED) ? ",\"panicked\":true" : "");
    fputc('}', f);
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
    fprintf(f, "\n],\"displayTimeUnit\":\"ns\",\"otherData\":{\"workers\":%u,\"events\":%" PRIu64
               ",\"events_outside_window\":%" PRIu64 "}}\n",
            m->nlanes, m->nevents, m->nlost);
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
