/*
 * The trace writers' model: the per-worker event rings (trace.h) turned into
 * the slices and marks that json.c writes as Chrome trace-event JSON
 * (Perfetto, chrome://tracing) and svg.c draws as a standalone SVG timeline.
 *
 * Both writers draw from this one model, built in three steps:
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
 *     timestamps the leaving events go first; then JOB_QUEUE events, as a job
 *     is queued before it begins (its JOB_BEGIN looks its JOB_QUEUE up, which
 *     must have been replayed); within a ring the recorded order is kept.
 *
 *  3. The replay. Per fiber, a stack of open jobs: JOB_BEGIN pushes, JOB_END
 *     pops (inline runs nest on one fiber). SUSPEND ends the running segment
 *     of every open job of the fiber, on the worker lane where it ran; RESUME
 *     opens new segments on the lane of the RESUME event. Each segment is a
 *     slice. A segment is opened and closed by events of the same worker (the
 *     fiber cannot change worker without a SUSPEND), so on one lane slices
 *     nest or are disjoint, which is what Perfetto requires of "X" events.
 *     Sleeps (SLEEP..WAKE) are slices too; waits, yields and steals are marks.
 *     What is still open at the end is closed at the last timestamp. A job's
 *     first slice carries its queueing delay (JOB_BEGIN's arg is when it was
 *     queued) and the lane whose JOB_QUEUE event has that time.
 *     JOB_QUEUE events themselves draw nothing, but they note whether a slice
 *     of their lane covers them: the queueing job's running segment, drawn
 *     only when its fiber has an open job (see "Arrows" at tw_queued).
 *
 * The writers run while the scheduler is quiet, but after fj_main returns the
 * other workers may still record a SLEEP or WAKE on their way to the futex,
 * and once a ring has wrapped such a write lands in the slot of its oldest
 * event. So the writers start from fj__trace_snapshot_take (trace.c, where
 * the ring's protocol is argued), whose copies keep only whole events.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

/* One open job of a fiber. */
typedef struct tw_open {
    const char *name;
    uint64_t t0;        /* start of the running segment (when running) */
    uint64_t delay;     /* for the head slice (tw_slice) */
    uint64_t queued;
    uint32_t from_lane;
    uint32_t lane;
    uint8_t flags;      /* SLICE_HEAD while the first segment runs */
    bool running;       /* false between SUSPEND and RESUME */
} tw_open;

typedef struct tw_fiber {
    tw_open *stack;
    uint32_t depth, cap;
    size_t pending_mark; /* the wait or yield mark to complete at RESUME, + 1 */
} tw_fiber;

/* Room for element n of a growing array (*arr holds *cap elements of elem
 * bytes; the capacity doubles, starting at first). 0 or FJ_ENOMEM. */
void *fj__tw_alloc(const fj__mem *mem, size_t n, size_t elem)
{
    void *p = fj__mem_alloc(mem, n * elem, FJ_MEM_ALIGN);
    if (p)
        memset(p, 0, n * elem);
    return p;
}

void fj__tw_free(const fj__mem *mem, void *p, size_t n, size_t elem)
{
    fj__mem_free(mem, p, n * elem, FJ_MEM_ALIGN);
}

static int grow_for(const fj__mem *mem, void **arr, size_t *cap, size_t n, size_t elem, size_t first)
{
    if (n < *cap)
        return 0;
    size_t c = *cap ? *cap * 2 : first;
    void *p = fj__tw_alloc(mem, c, elem);
    if (!p)
        return FJ_ENOMEM;
    if (*cap)
        memcpy(p, *arr, *cap * elem);
    fj__tw_free(mem, *arr, *cap, elem);
    *arr = p;
    *cap = c;
    return 0;
}

static int add_slice(tw_model *m, tw_slice s)
{
    void *a = m->slices;
    int rc = grow_for(&m->mem, &a, &m->cap_slices, m->nslices, sizeof s, 1024);
    m->slices = a;
    if (rc == 0)
        m->slices[m->nslices++] = s;
    return rc;
}

static int add_mark(tw_model *m, tw_mark k)
{
    void *a = m->marks;
    int rc = grow_for(&m->mem, &a, &m->cap_marks, m->nmarks, sizeof k, 256);
    m->marks = a;
    if (rc == 0)
        m->marks[m->nmarks++] = k;
    return rc;
}

void fj__tw_model_free(tw_model *m)
{
    int err = errno;
    fj__tw_free(&m->mem, m->slices, m->cap_slices, sizeof *m->slices);
    fj__tw_free(&m->mem, m->marks, m->cap_marks, sizeof *m->marks);
    errno = err;
}

/* Among equal timestamps, leaving events go first, then queueing events
 * (see the comment on top): the lower rank first. */
static int tie_rank(const fj__event *e)
{
    if (e->kind == FJ_EV_JOB_END || e->kind == FJ_EV_SUSPEND)
        return 0;
    return e->kind == FJ_EV_JOB_QUEUE ? 1 : 2;
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
        if (!be || e->ts_ns < be->ts_ns || (e->ts_ns == be->ts_ns && tie_rank(e) < tie_rank(be))) {
            best = (int)i;
            be = e;
        }
    }
    return best;
}

static int fiber_push(const fj__mem *mem, tw_fiber *f, tw_open o)
{
    void *a = f->stack;
    size_t cap = f->cap;
    int rc = grow_for(mem, &a, &cap, f->depth, sizeof o, 4);
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
                   .delay = (o->flags & SLICE_HEAD) ? o->delay : TW_NO_DELAY, .queued = o->queued,
                   .from_lane = o->from_lane,
                   .depth = (uint16_t)(d < UINT16_MAX ? d : UINT16_MAX), .kind = SLICE_JOB,
                   .flags = (uint8_t)(o->flags | extra) };
    o->flags &= (uint8_t)~SLICE_HEAD;
    return add_slice(m, s);
}

/*
 * A JOB_QUEUE event: its time in stamp units, and its lane.
 *
 * Arrows. A queueing arrow starts at the JOB_QUEUE event, and a flow binds to
 * the slice around its start, so the event must lie in a slice of its lane.
 * It does when the queueing job's running segment is drawn, which the replay
 * knows when it meets the event: the fiber has an open job. It does not when
 * that job began before the window (the window cuts between its JOB_BEGIN
 * and the JOB_QUEUE): a JOB_END or SUSPEND without its begin draws nothing,
 * and the lane is empty at that time. The queued job's slice then keeps its
 * queue_delay_us, which is known, but gets no arrow: one from the empty lane
 * would bind to no slice (or to a wrong one), and one from the lane outside
 * the workers would say a thread that is no worker queued it.
 */
typedef struct tw_queued {
    uint64_t unit;
    uint64_t ts;
    uint32_t lane;
    bool drawn;         /* replayed inside a running segment of its fiber */
} tw_queued;

typedef struct tw_replay {
    tw_model *m;
    tw_queued *queued;       /* every JOB_QUEUE event of the copies, by unit */
    size_t nqueued, queued_cap;
    tw_fiber *fibers;
    uint32_t nfibers;
    uint64_t *sleep_since;   /* per lane, UINT64_MAX when awake */
    uint64_t t_first;
} tw_replay;

static int queued_cmp(const void *a, const void *b)
{
    const tw_queued *x = a, *y = b;
    if (x->unit != y->unit)
        return x->unit < y->unit ? -1 : 1;
    return (x->lane > y->lane) - (x->lane < y->lane);
}

/* Every JOB_QUEUE event of the copies, the ones before the window too (a
 * job begun in the window may have been queued before it). 0 or FJ_ENOMEM. */
static int queued_collect(tw_replay *r, const fj__trace_copy *copies, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        for (uint64_t k = 0; k < copies[i].count; k++) {
            const fj__event *e = &copies[i].events[k];
            if (e->kind != FJ_EV_JOB_QUEUE)
                continue;
            void *a = r->queued;
            int rc = grow_for(&r->m->mem, &a, &r->queued_cap, r->nqueued, sizeof *r->queued, 256);
            r->queued = a;
            if (rc)
                return rc;
            r->queued[r->nqueued++] = (tw_queued){ .unit = e->ts_ns >> FJ_QUEUE_STAMP_SHIFT, .ts = e->ts_ns,
                                                      .lane = i };
        }
    fj__tw_sort(r->queued, r->nqueued, sizeof *r->queued, queued_cmp);
    return 0;
}

/* The first JOB_QUEUE event of the stamp unit of queued_ns (index into
 * r->queued; r->nqueued when there is none). */
static size_t queued_first(const tw_replay *r, uint64_t queued_ns)
{
    uint64_t unit = queued_ns >> FJ_QUEUE_STAMP_SHIFT;
    size_t lo = 0, hi = r->nqueued;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r->queued[mid].unit < unit)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < r->nqueued && r->queued[lo].unit == unit ? lo : r->nqueued;
}

/* The JOB_QUEUE event a JOB_BEGIN's arg (its queueing time, rounded down
 * to a stamp unit) names; NULL when none does (queued from outside). Two
 * submissions in the same 64 ns on two workers are told apart by neither
 * side: the lower lane whose event is drawn is taken, else the lower lane. */
static const tw_queued *queued_find(const tw_replay *r, uint64_t queued_ns)
{
    size_t first = queued_first(r, queued_ns);
    for (size_t k = first; k < r->nqueued && r->queued[k].unit == r->queued[first].unit; k++)
        if (r->queued[k].drawn)
            return &r->queued[k];
    return first < r->nqueued ? &r->queued[first] : NULL;
}

/* JOB_QUEUE event e of worker `lane` is replayed while fiber f runs: note
 * whether a slice of the lane covers it (see "Arrows" above). */
static void queued_replayed(tw_replay *r, const fj__event *e, uint32_t lane, const tw_fiber *f)
{
    if (f->depth == 0 || !f->stack[f->depth - 1].running)
        return;   /* the job that queued it began before the window */
    uint64_t unit = e->ts_ns >> FJ_QUEUE_STAMP_SHIFT;
    for (size_t k = queued_first(r, e->ts_ns); k < r->nqueued && r->queued[k].unit == unit; k++)
        if (r->queued[k].lane == lane && r->queued[k].ts == e->ts_ns)
            r->queued[k].drawn = true;
}

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
        return add_slice(m, (tw_slice){ .t0 = t0, .t1 = t, .name = "sleep", .delay = TW_NO_DELAY,
                                        .queued = TW_NO_DELAY, .lane = lane, .kind = SLICE_SLEEP });
    }
    if (e->fiber >= r->nfibers)
        return 0;
    tw_fiber *f = &r->fibers[e->fiber];
    int rc = 0;
    switch ((fj__event_kind)e->kind) {
    case FJ_EV_JOB_BEGIN: {
        tw_open o = { .name = e->name, .t0 = t, .delay = TW_NO_DELAY, .queued = TW_NO_DELAY,
                      .from_lane = TW_OUTSIDE, .lane = lane, .flags = SLICE_HEAD, .running = true };
        if (e->arg) {
            const tw_queued *q = queued_find(r, e->arg);
            uint64_t at = q ? q->ts : e->arg;
            o.delay = e->ts_ns > e->arg ? e->ts_ns - e->arg : 0;
            o.from_lane = q ? q->lane : TW_OUTSIDE;
            /* An arrow only from a time in the window, and from a drawn
             * slice when a worker queued it (see "Arrows" above). */
            bool drawable = at >= r->t_first && at - r->t_first <= t && (!q || q->drawn);
            o.queued = drawable ? at - r->t_first : TW_NO_DELAY;
            m->delay_jobs++;
            m->delay_total += o.delay;
            m->delay_max = o.delay > m->delay_max ? o.delay : m->delay_max;
        }
        return fiber_push(&r->m->mem, f, o);
    }
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
            return fiber_push(&r->m->mem, f, (tw_open){ .name = e->name, .t0 = t, .delay = TW_NO_DELAY,
                                                        .queued = TW_NO_DELAY, .from_lane = TW_OUTSIDE,
                                                        .lane = lane, .running = true });
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
    case FJ_EV_JOB_QUEUE:
        queued_replayed(r, e, lane, f);
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
    m->mem = snap->mem;
    const fj__mem *mem = &m->mem;
    size_t nf = snap->nfibers ? snap->nfibers : 1;
    tw_replay r = { .m = m, .nfibers = snap->nfibers };
    tw_cursor *c = fj__tw_alloc(mem, n, sizeof *c);
    r.fibers = fj__tw_alloc(mem, nf, sizeof *r.fibers);
    r.sleep_since = fj__tw_alloc(mem, n, sizeof *r.sleep_since);
    int rc = (c && r.fibers && r.sleep_since) ? 0 : FJ_ENOMEM;
    if (!rc)
        rc = queued_collect(&r, copies, n);
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
        /* Time starts at the first event, or earlier at the queueing of a
         * job begun in the window, so that its arrow can be drawn: a time
         * after the window's start, which no ring has lost (the root job's,
         * and jobs queued from outside, have no event of their own). */
        for (unsigned i = 0; first >= 0 && i < n; i++)
            for (uint64_t k = c[i].at; k < c[i].end; k++) {
                const fj__event *e = &c[i].events[k];
                if (e->kind == FJ_EV_JOB_BEGIN && e->arg > start && e->arg < r.t_first)
                    r.t_first = e->arg;
            }
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
            rc = add_slice(m, (tw_slice){ .t0 = r.sleep_since[i], .t1 = t_last, .name = "sleep",
                                          .delay = TW_NO_DELAY, .queued = TW_NO_DELAY, .lane = i,
                                          .kind = SLICE_SLEEP });
    for (uint32_t f = 0; r.fibers && f < r.nfibers; f++)
        fj__tw_free(mem, r.fibers[f].stack, r.fibers[f].cap, sizeof *r.fibers[f].stack);
    fj__tw_free(mem, r.fibers, nf, sizeof *r.fibers);
    fj__tw_free(mem, r.queued, r.queued_cap, sizeof *r.queued);
    fj__tw_free(mem, r.sleep_since, n, sizeof *r.sleep_since);
    fj__tw_free(mem, c, n, sizeof *c);
    if (rc)
        fj__tw_model_free(m);
    return rc;
}

void fj__tw_sort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
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

const char *fj__tw_slice_part(uint8_t flags)
{
    switch (flags & (SLICE_HEAD | SLICE_TAIL)) {
    case SLICE_HEAD | SLICE_TAIL: return "whole";
    case SLICE_HEAD: return "begin";
    case SLICE_TAIL: return "end";
    default: return "middle";
    }
}

int fj__tw_model_for_writing(const fj_scheduler *s, const char *path, tw_model *m)
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
        fj__tw_sort(m->slices, m->nslices, sizeof *m->slices, slice_cmp_time);
    return rc;
}
