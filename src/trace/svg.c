/*
 * fj_trace_write_svg: the model (model.h) drawn as a standalone SVG timeline,
 * one lane per worker, with the job names coloured and summed by svg_names.c.
 * Only a program that calls fj_trace_write_svg links this file.
 *
 * Layout: a title, a time axis, one lane per worker, a legend. Job slices are
 * rectangles coloured by a hash of the name; nested (inline) jobs are drawn
 * inset below their parent. Slices narrower than a pixel are merged with their
 * neighbours (same name: into one run of any length; different names: up to a
 * pixel, coloured by the longest slice), so the file stays a few hundred KiB
 * however many jobs ran.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "svg.h"
#include "text.h"

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

/* The value of two hex digits, or -1. */
static int hex2(const char *c)
{
    int v = 0;
    for (int i = 0; i < 2; i++) {
        char d = c[i];
        int x = d >= '0' && d <= '9' ? d - '0' : d >= 'a' && d <= 'f' ? d - 'a' + 10 : d >= 'A' && d <= 'F' ? d - 'A' + 10 : -1;
        if (x < 0)
            return -1;
        v = v * 16 + x;
    }
    return v;
}

/* Whether text on colour c ("#rrggbb") reads better white than black.
 * Parsed by hand: mingw-w64's sscanf allocates with realloc (the allocator
 * promise of fj_config.allocator). */
static bool dark(const char *c)
{
    if (c[0] != '#')
        return false;
    int r = hex2(c + 1), g = r < 0 ? -1 : hex2(c + 3), b = g < 0 ? -1 : hex2(c + 5);
    if (b < 0)
        return false;
    return 299u * (unsigned)r + 587u * (unsigned)g + 114u * (unsigned)b < 135000u;
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
    uint64_t delay_max;     /* the longest queueing delay of its jobs' first slices */
    size_t delayed;         /* first slices with a queueing delay */
} tw_run;

static void svg_run(const tw_svg *g, const tw_run *r)
{
    FILE *f = g->f;
    const tw_slice *s = r->first;
    const char *name = fj__job_name(r->name);
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
        const tw_name *n = fj__tw_names_find(g->names, name, false);
        colour = n ? n->colour : "#888888";
    }
    fprintf(f, "<rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%.1f\" fill=\"%s\"%s><title>", x, y, w, h,
            colour, r->panicked ? " stroke=\"#d00\" stroke-width=\"1.5\"" : "");
    fj__tw_put_xml_text(f, name, 200);
    if (r->mixed)
        fputs(" and others", f);
    if (r->count > 1) {
        fprintf(f, ": %zu slices, busy ", r->count);
        fj__tw_put_duration(f, r->busy);
        fputs(" of ", f);
        fj__tw_put_duration(f, r->t1 - r->t0);
    } else {
        fputs(": ", f);
        fj__tw_put_duration(f, r->t1 - r->t0);
        if (s->kind == SLICE_JOB && (s->flags & (SLICE_HEAD | SLICE_TAIL)) != (SLICE_HEAD | SLICE_TAIL))
            fprintf(f, " (%s of a job that waited)", fj__tw_slice_part(s->flags));
    }
    if (r->delayed) {
        fputs(r->delayed > 1 ? ", queued up to " : ", queued ", f);
        fj__tw_put_duration(f, r->delay_max);
        fputs(" before it started", f);
    }
    if (r->panicked)
        fputs(", panicked", f);
    fputs("</title></rect>\n", f);
    /* A label where it fits (about 6.5 px per character at 11 px). */
    size_t fit = (size_t)((w - 6) / 6.5);
    if (s->kind == SLICE_JOB && fit >= 4 && h >= 14) {
        fprintf(f, "<text x=\"%.2f\" y=\"%.1f\" class=\"%s\">", x + 3, y + h / 2 + 4, dark(colour) ? "lw" : "l");
        size_t len = fj__tw_utf8_chars(name);
        fj__tw_put_xml_text(f, name, len <= fit ? len : fit - 3);
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
    if (strcmp(fj__job_name(r->name), fj__job_name(s->name)) == 0)
        return true;
    return (double)(r->t1 - r->t0) * g->scale < 1.0;
}

static void run_start(tw_run *r, const tw_slice *s)
{
    *r = (tw_run){ .first = s, .name = s->name, .longest = s->t1 - s->t0, .t0 = s->t0, .t1 = s->t1,
                   .busy = s->t1 - s->t0, .count = 1, .panicked = (s->flags & SLICE_PANICKED) != 0,
                   .delay_max = s->delay != TW_NO_DELAY ? s->delay : 0, .delayed = s->delay != TW_NO_DELAY };
}

static void run_add(tw_run *r, const tw_slice *s)
{
    uint64_t d = s->t1 - s->t0;
    if (strcmp(fj__job_name(r->name), fj__job_name(s->name)) != 0) {
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
    if (s->delay != TW_NO_DELAY) {
        r->delayed++;
        r->delay_max = s->delay > r->delay_max ? s->delay : r->delay_max;
    }
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
        fj__tw_put_xml_text(f, fj__job_name(k[i].name), 200);
        if (k[i].kind == MARK_STEAL)
            fprintf(f, " (from worker %" PRIu64 ")", k[i].arg);
        if (k[i].kind == MARK_WAIT)
            fprintf(f, " on counter 0x%" PRIx64, k[i].arg);
        if (k[i].kind != MARK_STEAL && k[i].t_resume != UINT64_MAX) {
            fputs(", suspended ", f);
            fj__tw_put_duration(f, k[i].t_resume - k[i].t);
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
        fj__tw_put_xml_text(f, e->name, 28);
        fprintf(f, " \xe2\x80\x94 %" PRIu64 " \xc3\x97, ", e->jobs);
        fj__tw_put_duration(f, e->self);
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

static void svg_write(FILE *f, tw_model *m, tw_names *names)
{
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
    fj__tw_put_duration(f, m->span);
    fprintf(f, ", %" PRIu64 " jobs begun; workers ran jobs %.0f%% and slept %.0f%% of the time", jobs,
            m->span ? 100.0 * (double)all_busy / ((double)m->span * m->nlanes) : 0.0,
            m->span ? 100.0 * (double)sleep / ((double)m->span * m->nlanes) : 0.0);
    if (m->nlost)
        fprintf(f, " (the %" PRIu64 " oldest events were outside the window)", m->nlost);
    fputs("</text>\n", f);
    if (m->delay_jobs) {
        fprintf(f, "<text x=\"%d\" y=\"36\" id=\"queue-delay\">queueing delay (from fj_run_jobs to the start) of "
                   "%" PRIu64 " jobs: mean ", SVG_LEFT, m->delay_jobs);
        fj__tw_put_duration(f, m->delay_total / m->delay_jobs);
        fputs(", max ", f);
        fj__tw_put_duration(f, m->delay_max);
        fputs("</text>\n", f);
    }

    svg_axis(&g, lanes_bottom);
    fj__tw_sort(m->slices, m->nslices, sizeof *m->slices, slice_cmp_stream);
    fj__tw_sort(m->marks, m->nmarks, sizeof *m->marks, mark_cmp);
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

typedef struct tw_svg_input {
    tw_model *m;
    tw_names *names;
} tw_svg_input;

static void svg_body(FILE *f, void *arg)
{
    tw_svg_input *in = arg;
    svg_write(f, in->m, in->names);
}

int fj_trace_write_svg(const fj_scheduler *s, const char *path)
{
    tw_model m;
    int rc = fj__tw_model_for_writing(s, path, &m);
    if (rc)
        return rc;
    tw_names names;
    rc = fj__tw_names_build(&m, &names);
    if (rc == 0) {
        rc = fj__tw_write_file(path, svg_body, &(tw_svg_input){ .m = &m, .names = &names });
        fj__tw_names_free(&names);
    }
    fj__tw_model_free(&m);
    return rc;
}
