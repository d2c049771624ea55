/*
 * Trace writers: the per-worker event rings (trace.h) as Chrome trace-event
 * JSON (Perfetto, chrome://tracing) and as a standalone SVG timeline.
 *
 * Both writers draw from one model, built in three steps:
 *
 *  1. The window. A ring keeps only its newest `capacity` events, so a stretch
 *     of time can survive in one ring and be gone from another; replaying such
 *     a stretch would pair a JOB_END with the wrong JOB_BEGIN (the begin of an
 *     enclosing job may be lost while the inner one is kept). So the window
 *     starts after the newest event that any cut ring lost: from there on,
 *     every event of every ring is present (and the oldest event of every cut
 *     ring is left out). A fiber's history in the window is then a suffix of
 *     its real history, whose only imbalances are at the start (an end, wait
 *     or resume whose begin came before) and at the end (jobs still open).
 *
 *  2. The merge. Rings are merged by timestamp (CLOCK_MONOTONIC, one clock
 *     for all CPUs). A fiber moves between workers only through events that
 *     leave one worker (JOB_END before the fiber goes back to the pool,
 *     SUSPEND) followed by events on the next (JOB_BEGIN, RESUME), so on equal
 *     timestamps the leaving events go first; within a ring the recorded order
 *     is kept.
 *
 *  3. The replay. Per fiber, a stack of open jobs: JOB_BEGIN pushes, JOB_END
 *     pops (inline runs nest on one fiber). SUSPEND ends the running segment
 *     of every open job of the fiber, on the worker lane where it ran; RESUME
 *     opens new segments on the lane of the RESUME event. Each segment is a
 *     slice. A segment is opened and closed by events of the same worker (the
 *     fiber cannot change worker without a SUSPEND), so on one lane slices
 *     nest or are disjoint, which is what Perfetto requires of "X" events.
 *     Sleeps (SLEEP..WAKE) are slices too; waits, yields and steals are marks.
 *     What is still open at the end is closed at the last timestamp.
 *
 * The writers run while the scheduler is quiet, but after fj_main returns the
 * other workers may still record a SLEEP or WAKE on their way to the futex,
 * and once a ring has wrapped such a write lands in the slot of its oldest
 * event. So the writers start from fj__trace_snapshot_take (trace.c, where
 * the ring's protocol is argued), whose copies keep only whole events.
 *
 * A file that cannot be opened, written or closed is FJ_EIO, with errno
 * telling why (fj__trace_at_exit prints it): the output stops at the first
 * failed write instead of pushing megabytes more at a full disk.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fiberjob.h"
#include "trace.h"

/* ------------------------------------------------------------ the model */

enum { SLICE_JOB = 0, SLICE_SLEEP = 1 };
enum {
    SLICE_HEAD = 1,     /* the segment starts at the job's JOB_BEGIN */
    SLICE_TAIL = 2,     /* the segment ends at the job's JOB_END */
    SLICE_PANICKED = 4  /* the job ended by fj_panic */
};

typedef struct tw_slice {
    uint64_t t0, t1;    /* ns from the window's first event */
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
    tw_slice *slices;
    size_t nslices, cap_slices;
    tw_mark *marks;
    size_t nmarks, cap_marks;
} tw_model;

/* One open job of a fiber. */
typedef struct tw_open {
    const char *name;
    uint64_t t0;        /* start of the running segment (when running) */
    uint32_t lane;
    uint8_t flags;      /* SLICE_HEAD while the first segment runs */
    bool running;       /* false between SUSPEND and RESUME */
} tw_open;

typedef struct tw_fiber {
    tw_open *stack;
    uint32_t depth, cap;
    size_t pending_mark; /* the wait or yield mark to complete at RESUME, + 1 */
} tw_fiber;

static const char *name_or(const char *name) { return name ? name : "(unnamed)"; }

/* Room for element n of a growing array (*arr holds *cap elements of elem
 * bytes; the capacity doubles, starting at first). 0 or FJ_ENOMEM. */
static int grow_for(void **arr, size_t *cap, size_t n, size_t elem, size_t first)
{
    if (n < *cap)
        return 0;
    size_t c = *cap ? *cap * 2 : first;
    void *p = realloc(*arr, c * elem);
    if (!p)
        return FJ_ENOMEM;
    *arr = p;
    *cap = c;
    return 0;
}

static int add_slice(tw_model *m, tw_slice s)
{
    void *a = m->slices;
    int rc = grow_for(&a, &m->cap_slices, m->nslices, sizeof s, 1024);
    m->slices = a;
    if (rc == 0)
        m->slices[m->nslices++] = s;
    return rc;
}

static int add_mark(tw_model *m, tw_mark k)
{
    void *a = m->marks;
    int rc = grow_for(&a, &m->cap_marks, m->nmarks, sizeof k, 256);
    m->marks = a;
    if (rc == 0)
        m->marks[m->nmarks++] = k;
    return rc;
}

static void model_free(tw_model *m)
{
    free(m->slices);
    free(m->marks);
}

/* Leaving events go first among equal timestamps (see the comment on top). */
static bool leaves(const fj__event *e)
{
    return e->kind == FJ_EV_JOB_END || e->kind == FJ_EV_SUSPEND;
}

typedef struct tw_cursor {
    const fj__event *events;
    uint64_t at, end;
} tw_cursor;

/* The cursor whose next event comes first, or -1 when all are done. */
static int merge_pick(const tw_cursor *c, unsigned n)
{
    int best = -1;
    const fj__event *be = NULL;
    for (unsigned i = 0; i < n; i++) {
        if (c[i].at == c[i].end)
            continue;
        const fj__event *e = &c[i].events[c[i].at];
        if (!be || e->ts_ns < be->ts_ns || (e->ts_ns == be->ts_ns && leaves(e) && !leaves(be))) {
            best = (int)i;
            be = e;
        }
    }
    return best;
}

static int fiber_push(tw_fiber *f, tw_open o)
{
    void *a = f->stack;
    size_t cap = f->cap;
    int rc = grow_for(&a, &cap, f->depth, sizeof o, 4);
    f->stack = a;
    f->cap = (uint32_t)cap;
    if (rc == 0)
        f->stack[f->depth++] = o;
    return rc;
}

/* End the running segment of open job `d` of f at t. */
static int close_segment(tw_model *m, tw_fiber *f, uint32_t d, uint64_t t, uint8_t extra)
{
    tw_open *o = &f->stack[d];
    if (!o->running)
        return 0;
    o->running = false;
    tw_slice s = { .t0 = o->t0, .t1 = t, .name = o->name, .lane = o->lane,
                   .depth = (uint16_t)(d < UINT16_MAX ? d : UINT16_MAX), .kind = SLICE_JOB,
                   .flags = (uint8_t)(o->flags | extra) };
    o->flags &= (uint8_t)~SLICE_HEAD;
    return add_slice(m, s);
}

typedef struct tw_replay {
    tw_model *m;
    tw_fiber *fibers;
    uint32_t nfibers;
    uint64_t *sleep_since;   /* per lane, UINT64_MAX when awake */
    uint64_t t_first;
} tw_replay;

/* Replay event e of worker `lane`, at t ns into the window. */
static int replay_event(tw_replay *r, const fj__event *e, uint32_t lane, uint64_t t)
{
    tw_model *m = r->m;
    if (e->kind == FJ_EV_STEAL)
        return add_mark(m, (tw_mark){ .t = t, .t_resume = UINT64_MAX, .name = e->name, .arg = e->arg,
                                      .lane = lane, .resume_lane = lane, .kind = MARK_STEAL });
    if (e->kind == FJ_EV_SLEEP) {
        r->sleep_since[lane] = t;
        return 0;
    }
    if (e->kind == FJ_EV_WAKE) {
        uint64_t t0 = r->sleep_since[lane];
        r->sleep_since[lane] = UINT64_MAX;
        if (t0 == UINT64_MAX)
            return 0;   /* it fell asleep before the window */
        return add_slice(m, (tw_slice){ .t0 = t0, .t1 = t, .name = "sleep", .lane = lane, .kind = SLICE_SLEEP });
    }
    if (e->fiber >= r->nfibers)
        return 0;
    tw_fiber *f = &r->fibers[e->fiber];
    int rc = 0;
    switch ((fj__event_kind)e->kind) {
    case FJ_EV_JOB_BEGIN:
        return fiber_push(f, (tw_open){ .name = e->name, .t0 = t, .lane = lane, .flags = SLICE_HEAD, .running = true });
    case FJ_EV_JOB_END:
        if (f->depth == 0)
            return 0;   /* its begin came before the window */
        rc = close_segment(m, f, f->depth - 1, t, (uint8_t)(SLICE_TAIL | (e->arg ? SLICE_PANICKED : 0)));
        f->depth--;
        return rc;
    case FJ_EV_SUSPEND:
        for (uint32_t d = 0; d < f->depth && !rc; d++)
            rc = close_segment(m, f, d, t, 0);
        if (rc)
            return rc;
        f->pending_mark = m->nmarks + 1;
        return add_mark(m, (tw_mark){ .t = t, .t_resume = UINT64_MAX, .name = e->name, .arg = e->arg,
                                      .lane = lane, .resume_lane = lane,
                                      .kind = e->arg ? MARK_WAIT : MARK_YIELD });
    case FJ_EV_RESUME:
        if (f->pending_mark) {
            tw_mark *k = &m->marks[f->pending_mark - 1];
            k->t_resume = t;
            k->resume_lane = lane;
            f->pending_mark = 0;
        }
        if (f->depth == 0) {
            /* Suspended before the window: the event names the innermost
             * job, whose remaining run we can still show. */
            return fiber_push(f, (tw_open){ .name = e->name, .t0 = t, .lane = lane, .running = true });
        }
        for (uint32_t d = 0; d < f->depth; d++) {
            tw_open *o = &f->stack[d];
            if (!o->running) {
                o->running = true;
                o->t0 = t;
                o->lane = lane;
            }
        }
        return 0;
    default:
        return 0;
    }
}

/* The start of the window: after the newest event a cut ring lost. Returns
 * false when no ring was cut (the window is everything). */
static bool window_start(const fj__trace_copy *copies, unsigned n, uint64_t *start)
{
    bool cut = false;
    for (unsigned i = 0; i < n; i++) {
        if (copies[i].lost && copies[i].count) {
            uint64_t ts = copies[i].events[0].ts_ns;
            if (!cut || ts > *start)
                *start = ts;
            cut = true;
        }
    }
    return cut;
}

static int model_build(const fj__trace_snapshot *snap, tw_model *m)
{
    unsigned n = snap->nworkers;
    const fj__trace_copy *copies = snap->rings;
    memset(m, 0, sizeof *m);
    m->nlanes = n;
    tw_replay r = { .m = m, .nfibers = snap->nfibers };
    tw_cursor *c = calloc(n, sizeof *c);
    r.fibers = calloc(snap->nfibers ? snap->nfibers : 1, sizeof *r.fibers);
    r.sleep_since = malloc(n * sizeof *r.sleep_since);
    int rc = (c && r.fibers && r.sleep_since) ? 0 : FJ_ENOMEM;
    for (unsigned i = 0; !rc && i < n; i++) {
        r.sleep_since[i] = UINT64_MAX;
        c[i] = (tw_cursor){ .events = copies[i].events, .end = copies[i].count };
        m->nlost += copies[i].lost;
    }
    uint64_t start = 0;
    if (!rc && window_start(copies, n, &start)) {
        for (unsigned i = 0; i < n; i++) {
            while (c[i].at < c[i].end && c[i].events[c[i].at].ts_ns <= start)
                c[i].at++;
            m->nlost += c[i].at;
        }
    }
    if (!rc) {
        int first = merge_pick(c, n);
        r.t_first = first >= 0 ? c[first].events[c[first].at].ts_ns : 0;
    }
    uint64_t t_last = 0;
    for (int i = rc ? -1 : merge_pick(c, n); i >= 0 && !rc; i = merge_pick(c, n)) {
        const fj__event *e = &c[i].events[c[i].at++];
        /* Never back in time, whatever the clock did: no slice may end
         * before it starts. */
        uint64_t t = e->ts_ns > r.t_first ? e->ts_ns - r.t_first : 0;
        t_last = t > t_last ? t : t_last;
        m->nevents++;
        rc = replay_event(&r, e, (uint32_t)i, t_last);
    }
    m->span = t_last;
    /* Close what is still open at the last timestamp. */
    for (uint32_t f = 0; !rc && f < r.nfibers; f++)
        for (uint32_t d = 0; d < r.fibers[f].depth && !rc; d++)
            rc = close_segment(m, &r.fibers[f], d, t_last, 0);
    for (unsigned i = 0; !rc && i < n; i++)
        if (r.sleep_since[i] != UINT64_MAX)
            rc = add_slice(m, (tw_slice){ .t0 = r.sleep_since[i], .t1 = t_last, .name = "sleep", .lane = i,
                                          .kind = SLICE_SLEEP });
    for (uint32_t f = 0; r.fibers && f < r.nfibers; f++)
        free(r.fibers[f].stack);
    free(r.fibers);
    free(r.sleep_since);
    free(c);
    if (rc)
        model_free(m);
    return rc;
}

/* qsort, which must not be given the NULL of an empty array. */
static void sort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
    if (n > 1)
        qsort(base, n, size, cmp);
}

/* Lane, then start, then the longer (enclosing) slice first. */
static int slice_cmp_time(const void *a, const void *b)
{
    const tw_slice *x = a, *y = b;
    if (x->lane != y->lane)
        return x->lane < y->lane ? -1 : 1;
    if (x->t0 != y->t0)
        return x->t0 < y->t0 ? -1 : 1;
    if (x->t1 != y->t1)
        return x->t1 > y->t1 ? -1 : 1;
    return (x->depth > y->depth) - (x->depth < y->depth);
}

/* ------------------------------------------------------------ text escaping */

/* Length of the valid UTF-8 sequence at p (1 to 4), or 0 when p starts an
 * invalid one. A NUL never passes as a continuation byte, so this never reads
 * past the end of the string. */
static size_t utf8_len(const unsigned char *p)
{
    unsigned char c = p[0];
    if (c < 0x80)
        return 1;
    unsigned char lo = 0x80, hi = 0xbf;
    size_t n;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0)
            lo = 0xa0;
        if (c == 0xed)
            hi = 0x9f;   /* no surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0)
            lo = 0x90;
        if (c == 0xf4)
            hi = 0x8f;
    } else
        return 0;
    if (p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xbf)
            return 0;
    return n;
}

static void put_json_string(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    fputc('"', f);
    while (*p) {
        size_t n = utf8_len(p);
        if (n == 0) {
            fputs("\\ufffd", f);
            p++;
            continue;
        }
        if (n > 1) {
            fwrite(p, 1, n, f);
            p += n;
            continue;
        }
        unsigned char ch = *p++;
        switch (ch) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (ch < 0x20 || ch == 0x7f)
                fprintf(f, "\\u%04x", ch);
            else
                fputc(ch, f);
        }
    }
    fputc('"', f);
}

/* XML text or attribute value: at most max_chars characters (then "..."); the
 * characters XML 1.0 forbids (most controls, U+FFFE, U+FFFF) and invalid
 * UTF-8 become U+FFFD. */
static void put_xml_text(FILE *f, const char *s, size_t max_chars)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t k = 0; *p; k++) {
        if (k == max_chars) {
            fputs("...", f);
            return;
        }
        size_t n = utf8_len(p);
        if (n == 0 || (n == 1 && *p < 0x20 && *p != '\t' && *p != '\n' && *p != '\r') ||
            (n == 3 && p[0] == 0xef && p[1] == 0xbf && p[2] >= 0xbe)) {
            fputs("&#xFFFD;", f);
            p += n ? n : 1;
            continue;
        }
        if (n > 1) {
            fwrite(p, 1, n, f);
            p += n;
            continue;
        }
        switch (*p) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&apos;", f); break;
        default: fputc(*p, f);
        }
        p++;
    }
}

static size_t utf8_chars(const char *s)
{
    size_t k = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; k++) {
        size_t n = utf8_len(p);
        p += n ? n : 1;
    }
    return k;
}

/* ns as microseconds with three decimals, exactly. */
static void put_us(FILE *f, uint64_t ns)
{
    fprintf(f, "%" PRIu64 ".%03u", ns / 1000, (unsigned)(ns % 1000));
}

/* A duration for people: ns, µs or ms. */
static void put_duration(FILE *f, uint64_t ns)
{
    if (ns < 1000)
        fprintf(f, "%" PRIu64 " ns", ns);
    else if (ns < 1000000)
        fprintf(f, "%.2f \xc2\xb5s", (double)ns / 1e3);
    else
        fprintf(f, "%.3f ms", (double)ns / 1e6);
}

/* Close f: 0, or FJ_EIO when a write or the close failed, with errno saying
 * why. The writers stop at the first failed write (they check ferror between
 * the parts of the file), so errno is still that write's. */
static int close_checked(FILE *f)
{
    int err = ferror(f) ? (errno ? errno : EIO) : 0;
    if (fclose(f) != 0 && !err)
        err = errno ? errno : EIO;
    if (!err)
        return 0;
    errno = err;
    return FJ_EIO;
}

/* Write the file at path with body(f, m, arg): 0 or FJ_EIO (errno says why).
 * m is freed, errno kept across the free (free may set it before POSIX 2024). */
static int write_file(const char *path, tw_model *m, void (*body)(FILE *, tw_model *, void *), void *arg)
{
    FILE *f = fopen(path, "w");
    int rc = FJ_EIO;
    if (f) {
        body(f, m, arg);
        rc = close_checked(f);
    }
    int err = errno;
    model_free(m);
    errno = err;
    return rc;
}

/* ------------------------------------------------------------ JSON */

static const char *slice_part(uint8_t flags)
{
    switch (flags & (SLICE_HEAD | SLICE_TAIL)) {
    case SLICE_HEAD | SLICE_TAIL: return "whole";
    case SLICE_HEAD: return "begin";
    case SLICE_TAIL: return "end";
    default: return "middle";
    }
}

/* Worker i is thread i + 1: Perfetto takes tid 0 for the idle task (and
 * before its fix #2278 merged threads 0 and 1). Its name says "worker i". */
static void json_common(FILE *f, uint64_t t, uint32_t lane)
{
    fputs(",\"ts\":", f);
    put_us(f, t);
    fprintf(f, ",\"pid\":1,\"tid\":%" PRIu32, lane + 1);
}

static void json_slice(FILE *f, const tw_slice *s)
{
    fputs(",\n{\"name\":", f);
    put_json_string(f, name_or(s->name));
    fprintf(f, ",\"cat\":\"%s\",\"ph\":\"X\"", s->kind == SLICE_JOB ? "job" : "sleep");
    json_common(f, s->t0, s->lane);
    fputs(",\"dur\":", f);
    put_us(f, s->t1 - s->t0);
    if (s->kind == SLICE_JOB)
        fprintf(f, ",\"args\":{\"part\":\"%s\"%s}", slice_part(s->flags),
                (s->flags & SLICE_PANICKED) ? ",\"panicked\":true" : "");
    fputc('}', f);
}

static void json_mark(FILE *f, const tw_mark *k)
{
    static const char *const names[] = { "wait", "yield", "steal" };
    fprintf(f, ",\n{\"name\":\"%s\",\"cat\":\"%s\",\"ph\":\"i\",\"s\":\"t\"", names[k->kind], names[k->kind]);
    json_common(f, k->t, k->lane);
    fputs(",\"args\":{\"job\":", f);
    put_json_string(f, name_or(k->name));
    if (k->kind == MARK_STEAL) {
        fprintf(f, ",\"victim\":%" PRIu64 "}}", k->arg);
        return;
    }
    if (k->kind == MARK_WAIT)
        fprintf(f, ",\"counter\":\"0x%" PRIx64 "\"", k->arg);
    if (k->t_resume != UINT64_MAX) {
        fputs(",\"suspended_us\":", f);
        put_us(f, k->t_resume - k->t);
        fprintf(f, ",\"resumed_on\":%" PRIu32, k->resume_lane);
    }
    fputs("}}", f);
}

static void json_write(FILE *f, tw_model *m, void *unused)
{
    (void)unused;
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

/* What both writers start from: the arguments checked, the model built and
 * its slices sorted by time. */
static int model_for_writing(const fj_scheduler *s, const char *path, tw_model *m)
{
    if (!s || !path)
        return FJ_EINVAL;
    fj__trace_snapshot snap;
    int rc = fj__trace_snapshot_take(s, &snap);
    if (rc)
        return rc;
    rc = model_build(&snap, m);
    fj__trace_snapshot_free(&snap);
    if (rc == 0)
        sort(m->slices, m->nslices, sizeof *m->slices, slice_cmp_time);
    return rc;
}

int fj_trace_write_json(const fj_scheduler *s, const char *path)
{
    tw_model m;
    int rc = model_for_writing(s, path, &m);
    if (rc)
        return rc;
    return write_file(path, &m, json_write, NULL);
}

/* ------------------------------------------------------------ SVG */

/*
 * Layout: a title, a time axis, one lane per worker, a legend. Job slices are
 * rectangles coloured by a hash of the name; nested (inline) jobs are drawn
 * inset below their parent. Slices narrower than a pixel are merged with their
 * neighbours (same name: into one run of any length; different names: up to a
 * pixel, coloured by the longest slice), so the file stays a few hundred KiB
 * however many jobs ran.
 */
enum {
    SVG_WIDTH = 1600,
    SVG_LEFT = 80,
    SVG_RIGHT = 20,
    SVG_AXIS_Y = 52,
    SVG_LANE_TOP = 60,
    SVG_LANE_H = 36,
    SVG_LANE_GAP = 8,
    SVG_DEPTH_INSET = 7,
    SVG_DEPTH_MAX = 3,
    SVG_LEGEND_MAX = 16,
    SVG_LEGEND_COLS = 4,
    SVG_LEGEND_ROW = 20,
};

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

/* Whether text on colour c ("#rrggbb") reads better white than black. */
static bool dark(const char *c)
{
    unsigned r, g, b;
    if (sscanf(c, "#%2x%2x%2x", &r, &g, &b) != 3)
        return false;
    return 299u * r + 587u * g + 114u * b < 135000u;
}

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
} tw_names;

/* The entry of name; a new one when insert, else NULL when there is none. */
static tw_name *names_find(tw_names *t, const char *name, bool insert)
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
    tw_names bigger = { calloc(t->cap * 2, sizeof *t->slot), t->cap * 2, 0, NULL };
    if (!bigger.slot)
        return FJ_ENOMEM;
    for (size_t k = 0; k < t->cap; k++)
        if (t->slot[k].name)
            *names_find(&bigger, t->slot[k].name, true) = t->slot[k];
    free(t->slot);
    *t = bigger;
    return 0;
}

/* Self time of every job slice: its duration less that of the slices nested
 * directly in it. The slices are in time order (slice_cmp_time), so a slice's
 * parent is on the stack of slices that contain it. */
static int self_times(const tw_model *m, uint64_t *self)
{
    size_t *stack = malloc((m->nslices ? m->nslices : 1) * sizeof *stack), depth = 0;
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
    free(stack);
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
static int names_build(const tw_model *m, tw_names *t)
{
    *t = (tw_names){ .slot = calloc(64, sizeof *t->slot), .cap = 64 };
    uint64_t *self = malloc((m->nslices ? m->nslices : 1) * sizeof *self);
    int rc = t->slot && self ? self_times(m, self) : FJ_ENOMEM;
    for (size_t i = 0; !rc && i < m->nslices; i++) {
        const tw_slice *s = &m->slices[i];
        if (s->kind != SLICE_JOB)
            continue;
        if (2 * (t->count + 1) > t->cap && (rc = names_grow(t)) != 0)
            break;
        tw_name *n = names_find(t, name_or(s->name), true);
        n->jobs += (s->flags & SLICE_HEAD) != 0;
        n->self += self[i];
    }
    free(self);
    if (!rc && !(t->order = malloc((t->count ? t->count : 1) * sizeof *t->order)))
        rc = FJ_ENOMEM;
    if (rc) {
        free(t->slot);
        t->slot = NULL;
        return rc;
    }
    for (size_t k = 0, j = 0; k < t->cap; k++)
        if (t->slot[k].name)
            t->order[j++] = &t->slot[k];
    sort(t->order, t->count, sizeof *t->order, name_cmp_time);
    names_colour(t);
    return 0;
}

static void names_free(tw_names *t)
{
    free(t->slot);
    free(t->order);
}

typedef struct tw_svg {
    FILE *f;
    const tw_model *m;
    tw_names *names;
    double scale;       /* px per ns */
} tw_svg;

static double svg_x(const tw_svg *g, uint64_t t) { return SVG_LEFT + (double)t * g->scale; }
static double lane_y(unsigned lane) { return SVG_LANE_TOP + (double)lane * (SVG_LANE_H + SVG_LANE_GAP); }

/* A run of merged slices on one lane and depth. */
typedef struct tw_run {
    const tw_slice *first;
    const char *name;       /* the name of the longest slice */
    uint64_t longest;
    uint64_t t0, t1, busy;
    size_t count;
    bool mixed;             /* slices of other names were merged in */
    bool panicked;
} tw_run;

static void svg_run(const tw_svg *g, const tw_run *r)
{
    FILE *f = g->f;
    const tw_slice *s = r->first;
    const char *name = name_or(r->name);
    unsigned depth = s->depth < SVG_DEPTH_MAX ? s->depth : SVG_DEPTH_MAX;
    double x = svg_x(g, r->t0), w = (double)(r->t1 - r->t0) * g->scale;
    if (w < 0.5)
        w = 0.5;
    double y = lane_y(s->lane), h = SVG_LANE_H;
    const char *colour = "#c8c8c8";
    if (s->kind == SLICE_SLEEP) {
        y += SVG_LANE_H / 3.0;
        h = SVG_LANE_H / 3.0;
    } else {
        y += depth * SVG_DEPTH_INSET;
        h -= depth * SVG_DEPTH_INSET;
        const tw_name *n = names_find(g->names, name, false);
        colour = n ? n->colour : "#888888";
    }
    fprintf(f, "<rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%.1f\" fill=\"%s\"%s><title>", x, y, w, h,
            colour, r->panicked ? " stroke=\"#d00\" stroke-width=\"1.5\"" : "");
    put_xml_text(f, name, 200);
    if (r->mixed)
        fputs(" and others", f);
    if (r->count > 1) {
        fprintf(f, ": %zu slices, busy ", r->count);
        put_duration(f, r->busy);
        fputs(" of ", f);
        put_duration(f, r->t1 - r->t0);
    } else {
        fputs(": ", f);
        put_duration(f, r->t1 - r->t0);
        if (s->kind == SLICE_JOB && (s->flags & (SLICE_HEAD | SLICE_TAIL)) != (SLICE_HEAD | SLICE_TAIL))
            fprintf(f, " (%s of a job that waited)", slice_part(s->flags));
    }
    if (r->panicked)
        fputs(", panicked", f);
    fputs("</title></rect>\n", f);
    /* A label where it fits (about 6.5 px per character at 11 px). */
    size_t fit = (size_t)((w - 6) / 6.5);
    if (s->kind == SLICE_JOB && fit >= 4 && h >= 14) {
        fprintf(f, "<text x=\"%.2f\" y=\"%.1f\" class=\"%s\">", x + 3, y + h / 2 + 4, dark(colour) ? "lw" : "l");
        size_t len = utf8_chars(name);
        put_xml_text(f, name, len <= fit ? len : fit - 3);
        if (r->count > 1 && !r->mixed && len + 8 <= fit)
            fprintf(f, " \xc3\x97%zu", r->count);
        fputs("</text>\n", f);
    }
}

/* Whether slice s can join run r (see the comment on the layout): a slice a
 * pixel wide or more is drawn alone; a narrower one joins a run of its own
 * name across small gaps, or any run still narrower than a pixel. */
static bool run_takes(const tw_svg *g, const tw_run *r, const tw_slice *s)
{
    const tw_slice *a = r->first;
    if (a->lane != s->lane || a->depth != s->depth || a->kind != s->kind)
        return false;
    double gap = (double)(s->t0 > r->t1 ? s->t0 - r->t1 : 0) * g->scale;
    if (gap > 0.75 || (double)(s->t1 - s->t0) * g->scale >= 1.0 || (double)r->longest * g->scale >= 1.0)
        return false;
    if (strcmp(name_or(r->name), name_or(s->name)) == 0)
        return true;
    return (double)(r->t1 - r->t0) * g->scale < 1.0;
}

static void run_start(tw_run *r, const tw_slice *s)
{
    *r = (tw_run){ .first = s, .name = s->name, .longest = s->t1 - s->t0, .t0 = s->t0, .t1 = s->t1,
                   .busy = s->t1 - s->t0, .count = 1, .panicked = (s->flags & SLICE_PANICKED) != 0 };
}

static void run_add(tw_run *r, const tw_slice *s)
{
    uint64_t d = s->t1 - s->t0;
    if (strcmp(name_or(r->name), name_or(s->name)) != 0) {
        r->mixed = true;
        if (d > r->longest)
            r->name = s->name;
    }
    if (d > r->longest)
        r->longest = d;
    r->t1 = s->t1 > r->t1 ? s->t1 : r->t1;
    r->busy += d;
    r->count++;
    r->panicked |= (s->flags & SLICE_PANICKED) != 0;
}

/* Lane, then kind, then depth, then start: each (lane, kind, depth) stream is
 * a sequence of disjoint slices in time order. */
static int slice_cmp_stream(const void *a, const void *b)
{
    const tw_slice *x = a, *y = b;
    if (x->lane != y->lane)
        return x->lane < y->lane ? -1 : 1;
    if (x->kind != y->kind)
        return x->kind > y->kind ? -1 : 1;   /* sleeps first: drawn under the jobs */
    if (x->depth != y->depth)
        return x->depth < y->depth ? -1 : 1;
    return (x->t0 > y->t0) - (x->t0 < y->t0);
}

static int mark_cmp(const void *a, const void *b)
{
    const tw_mark *x = a, *y = b;
    if (x->lane != y->lane)
        return x->lane < y->lane ? -1 : 1;
    if (x->kind != y->kind)
        return x->kind < y->kind ? -1 : 1;
    return (x->t > y->t) - (x->t < y->t);
}

/* Marks of one kind falling on the same pixel of a lane are drawn once. */
static void svg_marks(const tw_svg *g, const tw_mark *k, size_t n)
{
    static const char *const what[] = { "wait", "yield", "steal" };
    static const char *const colour[] = { "#b01c1c", "#e07b00", "#1f5fbf" };
    FILE *f = g->f;
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        long px = (long)svg_x(g, k[i].t);
        while (j < n && k[j].lane == k[i].lane && k[j].kind == k[i].kind && (long)svg_x(g, k[j].t) == px)
            j++;
        double y = lane_y(k[i].lane);
        double x = svg_x(g, k[i].t);
        if (k[i].kind == MARK_STEAL)
            fprintf(f, "<rect x=\"%.2f\" y=\"%.1f\" width=\"1.2\" height=\"5\" fill=\"%s\">", x,
                    y + SVG_LANE_H + 1, colour[k[i].kind]);
        else
            fprintf(f, "<path d=\"M%.2f %.1fh5l-2.5 5z\" fill=\"%s\" stroke=\"%s\" stroke-width=\"0.6\">", x - 2.5,
                    y - 5.5, colour[k[i].kind], colour[k[i].kind]);
        fprintf(f, "<title>%s: ", what[k[i].kind]);
        put_xml_text(f, name_or(k[i].name), 200);
        if (k[i].kind == MARK_STEAL)
            fprintf(f, " (from worker %" PRIu64 ")", k[i].arg);
        if (k[i].kind == MARK_WAIT)
            fprintf(f, " on counter 0x%" PRIx64, k[i].arg);
        if (k[i].kind != MARK_STEAL && k[i].t_resume != UINT64_MAX) {
            fputs(", suspended ", f);
            put_duration(f, k[i].t_resume - k[i].t);
            fprintf(f, ", resumed on worker %" PRIu32, k[i].resume_lane);
        }
        if (j - i > 1)
            fprintf(f, " (and %zu more here)", j - i - 1);
        fputs("</title></", f);
        fputs(k[i].kind == MARK_STEAL ? "rect>\n" : "path>\n", f);
        if (k[i].kind == MARK_WAIT)
            fprintf(f, "<rect x=\"%.2f\" y=\"%.1f\" width=\"1\" height=\"%d\" fill=\"%s\" opacity=\"0.7\"/>\n",
                    x - 0.5, y, SVG_LANE_H, colour[k[i].kind]);
        i = j;
    }
}

/* A tick step from 1, 2, 5 times a power of ten: at most about 12 ticks. */
static uint64_t tick_step(uint64_t span)
{
    static const uint64_t mult[] = { 1, 2, 5 };
    for (uint64_t dec = 1;; dec *= 10)
        for (int i = 0; i < 3; i++)
            if (span / (mult[i] * dec) <= 12)
                return mult[i] * dec;
}

static void svg_axis(const tw_svg *g, double lanes_bottom)
{
    FILE *f = g->f;
    uint64_t step = tick_step(g->m->span ? g->m->span : 1);
    int decimals = step >= 1000000 ? 0 : step >= 100000 ? 1 : step >= 10000 ? 2 : step >= 1000 ? 3 : 6;
    fputs("<g id=\"axis\">\n", f);
    fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%.2f\" y2=\"%d\" class=\"ax\"/>\n", SVG_LEFT, SVG_AXIS_Y,
            svg_x(g, g->m->span), SVG_AXIS_Y);
    for (uint64_t t = 0; t <= g->m->span; t += step) {
        double x = svg_x(g, t);
        fprintf(f, "<line x1=\"%.2f\" y1=\"%d\" x2=\"%.2f\" y2=\"%.1f\" class=\"grid\"/>\n", x, SVG_AXIS_Y, x,
                lanes_bottom);
        fprintf(f, "<text x=\"%.2f\" y=\"%d\" class=\"tick\">%.*f ms</text>\n", x, SVG_AXIS_Y - 4, decimals,
                (double)t / 1e6);
    }
    fputs("</g>\n", f);
}

static void svg_legend(const tw_svg *g, double y0, uint64_t all_busy)
{
    FILE *f = g->f;
    const tw_names *names = g->names;
    size_t n = names->count < SVG_LEGEND_MAX ? names->count : SVG_LEGEND_MAX;
    double col_w = (double)(SVG_WIDTH - SVG_LEFT - SVG_RIGHT) / SVG_LEGEND_COLS;
    fprintf(f, "<g id=\"legend\">\n<text x=\"%d\" y=\"%.1f\" class=\"h\">Jobs by time run%s</text>\n", SVG_LEFT,
            y0 + 12, names->count > n ? " (the longest)" : "");
    for (size_t i = 0; i < n; i++) {
        const tw_name *e = names->order[i];
        double x = SVG_LEFT + (double)(i % SVG_LEGEND_COLS) * col_w;
        double y = y0 + 22 + (double)(i / SVG_LEGEND_COLS) * SVG_LEGEND_ROW;
        fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"14\" fill=\"%s\"/>\n", x, y, e->colour);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">", x + 20, y + 11);
        put_xml_text(f, e->name, 28);
        fprintf(f, " \xe2\x80\x94 %" PRIu64 " \xc3\x97, ", e->jobs);
        put_duration(f, e->self);
        if (all_busy)
            fprintf(f, " (%.0f%%)", 100.0 * (double)e->self / (double)all_busy);
        fputs("</text>\n", f);
    }
    double y = y0 + 22 + (double)((n + SVG_LEGEND_COLS - 1) / SVG_LEGEND_COLS) * SVG_LEGEND_ROW + 6;
    fprintf(f, "<rect x=\"%d\" y=\"%.1f\" width=\"14\" height=\"6\" fill=\"#c8c8c8\"/>"
               "<text x=\"%d\" y=\"%.1f\">worker asleep</text>\n", SVG_LEFT, y + 4, SVG_LEFT + 20, y + 11);
    fprintf(f, "<path d=\"M%.1f %.1fh10l-5 8z\" fill=\"#b01c1c\"/><text x=\"%.1f\" y=\"%.1f\">job waits on a counter "
               "(fj_wait)</text>\n", SVG_LEFT + col_w, y + 2, SVG_LEFT + col_w + 20, y + 11);
    fprintf(f, "<path d=\"M%.1f %.1fh10l-5 8z\" fill=\"#e07b00\"/><text x=\"%.1f\" y=\"%.1f\">fj_yield</text>\n",
            SVG_LEFT + 2 * col_w, y + 2, SVG_LEFT + 2 * col_w + 20, y + 11);
    fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"2\" height=\"10\" fill=\"#1f5fbf\"/><text x=\"%.1f\" y=\"%.1f\">"
               "steal</text>\n</g>\n", SVG_LEFT + 3 * col_w + 4, y + 2, SVG_LEFT + 3 * col_w + 20, y + 11);
}

static void svg_lane(const tw_svg *g, unsigned lane, const tw_slice **next, const tw_slice *end,
                     const tw_mark **mnext, const tw_mark *mend)
{
    FILE *f = g->f;
    double y = lane_y(lane);
    fprintf(f, "<g class=\"lane\" id=\"worker-%u\">\n", lane);
    fprintf(f, "<rect x=\"%d\" y=\"%.1f\" width=\"%d\" height=\"%d\" class=\"bg\"/>\n", SVG_LEFT, y,
            SVG_WIDTH - SVG_LEFT - SVG_RIGHT, SVG_LANE_H);
    fprintf(f, "<text x=\"%d\" y=\"%.1f\" class=\"lane-name\">worker %u</text>\n", SVG_LEFT - 8,
            y + SVG_LANE_H / 2.0 + 4, lane);
    const tw_slice *s = *next;
    tw_run run;
    bool open = false;
    for (; s < end && s->lane == lane; s++) {
        if (open && run_takes(g, &run, s)) {
            run_add(&run, s);
            continue;
        }
        if (open)
            svg_run(g, &run);
        run_start(&run, s);
        open = true;
    }
    if (open)
        svg_run(g, &run);
    *next = s;
    const tw_mark *k = *mnext;
    const tw_mark *kend = k;
    while (kend < mend && kend->lane == lane)
        kend++;
    svg_marks(g, k, (size_t)(kend - k));
    *mnext = kend;
    fputs("</g>\n", f);
}

static void svg_write(FILE *f, tw_model *m, void *names_arg)
{
    tw_names *names = names_arg;
    tw_svg g = { .f = f, .m = m, .names = names };
    g.scale = m->span ? (double)(SVG_WIDTH - SVG_LEFT - SVG_RIGHT) / (double)m->span : 0.0;
    double lanes_bottom = lane_y(m->nlanes) - SVG_LANE_GAP;
    size_t legend_rows = (names->count < SVG_LEGEND_MAX ? names->count : SVG_LEGEND_MAX);
    legend_rows = (legend_rows + SVG_LEGEND_COLS - 1) / SVG_LEGEND_COLS;
    double legend_y = lanes_bottom + 18;
    double height = legend_y + 22 + (double)legend_rows * SVG_LEGEND_ROW + 30;

    uint64_t all_busy = 0, jobs = 0, sleep = 0;
    for (size_t i = 0; i < names->count; i++) {
        all_busy += names->order[i]->self;
        jobs += names->order[i]->jobs;
    }
    for (size_t i = 0; i < m->nslices; i++)
        if (m->slices[i].kind == SLICE_SLEEP)
            sleep += m->slices[i].t1 - m->slices[i].t0;

    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%.0f\" viewBox=\"0 0 %d %.0f\" "
               "font-family=\"DejaVu Sans, Verdana, sans-serif\" font-size=\"11\">\n",
            SVG_WIDTH, height, SVG_WIDTH, height);
    fputs("<title>fiberjob trace</title>\n"
          "<style>\n"
          ".bg{fill:#f4f4f4}\n.grid{stroke:#000;stroke-opacity:0.12;stroke-width:1}\n"
          ".ax{stroke:#444;stroke-width:1}\n.tick{fill:#333;text-anchor:middle}\n"
          ".lane-name{fill:#222;text-anchor:end;font-size:12px}\n.l{fill:#111}\n.lw{fill:#fff}\n"
          ".h{font-weight:bold;font-size:12px}\n"
          "</style>\n", f);
    fprintf(f, "<rect width=\"%d\" height=\"%.0f\" fill=\"#fff\"/>\n", SVG_WIDTH, height);
    fprintf(f, "<text x=\"%d\" y=\"20\" class=\"h\" font-size=\"14\">fiberjob: %u workers, ", SVG_LEFT, m->nlanes);
    put_duration(f, m->span);
    fprintf(f, ", %" PRIu64 " jobs begun; workers ran jobs %.0f%% and slept %.0f%% of the time", jobs,
            m->span ? 100.0 * (double)all_busy / ((double)m->span * m->nlanes) : 0.0,
            m->span ? 100.0 * (double)sleep / ((double)m->span * m->nlanes) : 0.0);
    if (m->nlost)
        fprintf(f, " (the %" PRIu64 " oldest events were outside the window)", m->nlost);
    fputs("</text>\n", f);

    svg_axis(&g, lanes_bottom);
    sort(m->slices, m->nslices, sizeof *m->slices, slice_cmp_stream);
    sort(m->marks, m->nmarks, sizeof *m->marks, mark_cmp);
    const tw_slice *s = m->slices, *send = m->slices + m->nslices;
    const tw_mark *k = m->marks, *kend = m->marks + m->nmarks;
    for (unsigned lane = 0; lane < m->nlanes && !ferror(f); lane++)
        svg_lane(&g, lane, &s, send, &k, kend);
    if (!m->nevents)
        fprintf(f, "<text x=\"%d\" y=\"%.1f\">no events were traced</text>\n", SVG_LEFT + 8,
                lane_y(0) + SVG_LANE_H / 2.0 + 4);
    svg_legend(&g, legend_y, all_busy);
    fputs("</svg>\n", f);
}

int fj_trace_write_svg(const fj_scheduler *s, const char *path)
{
    tw_model m;
    int rc = model_for_writing(s, path, &m);
    if (rc)
        return rc;
    tw_names names;
    rc = names_build(&m, &names);
    if (rc) {
        model_free(&m);
        return rc;
    }
    rc = write_file(path, &m, svg_write, &names);
    int err = errno;
    names_free(&names);
    errno = err;
    return rc;
}
