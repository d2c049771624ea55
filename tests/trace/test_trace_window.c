/*
 * Queueing arrows at the edge of the trace window (src/trace/model.c,
 * "Arrows"), on rings written by hand: a scheduler of one worker (so no other
 * worker records while the test writes), its ring cleared after fj_main and
 * filled with fj__trace_record_at at chosen times, then written as JSON.
 *
 * One fiber runs "twig", which queues "leaf" and waits; another fiber runs
 * "leaf"; twig resumes and ends. The ring holds 8 events.
 *
 *  - Whole: twig's JOB_BEGIN is in the window, so its slice covers the
 *    JOB_QUEUE event and leaf's arrow starts there (worker 0, 0.280 us).
 *  - Cut: two more events come after twig's JOB_BEGIN and the ring wraps, so
 *    the window starts after that begin. twig's first segment is not drawn,
 *    nothing covers the JOB_QUEUE event, and leaf must get no arrow (one
 *    would start in no slice of its lane, as trace.check_cut saw about once
 *    in 30 runs) while keeping its queue delay (220 ns).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test.h"
#include "trace.h"

static void nothing(void *arg)
{
    (void)arg;
}

enum { T0 = 1000000 };   /* a multiple of the 64 ns stamp unit */

static size_t count_of(const char *text, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static void scenario(bool cut, const char *path)
{
    fj_config cfg = fj_config_default();
    cfg.workers = 1;
    cfg.trace_events = 8;
    fj_scheduler *s = fj_create(&cfg);
    CHECK(s != NULL);
    CHECK_EQ(fj_main(s, nothing, NULL), 0);
    fj_trace_clear(s);
    fj__trace_ring *r = (fj__trace_ring *)fj__trace_ring_of(s, 0);
    CHECK(r != NULL && r->capacity == 8);

    uint64_t t = T0;
    fj__trace_record_at(r, t, FJ_EV_JOB_BEGIN, 0, "twig", 0);
    if (cut) {
        /* Pushed out with twig's begin: the window starts after them. */
        fj__trace_record_at(r, t + 100, FJ_EV_JOB_BEGIN, 0, "inner", 0);
        fj__trace_record_at(r, t + 200, FJ_EV_JOB_END, 0, "inner", 0);
    }
    fj__trace_record_at(r, t + 320, FJ_EV_JOB_QUEUE, 0, "leaf", 1);
    fj__trace_record_at(r, t + 400, FJ_EV_SUSPEND, 0, "twig", 0x1230);
    fj__trace_record_at(r, t + 540, FJ_EV_JOB_BEGIN, 1, "leaf", t + 320);
    fj__trace_record_at(r, t + 600, FJ_EV_JOB_END, 1, "leaf", 0);
    fj__trace_record_at(r, t + 700, FJ_EV_RESUME, 0, "twig", 0x1230);
    fj__trace_record_at(r, t + 800, FJ_EV_JOB_END, 0, "twig", 0);

    CHECK_EQ(fj_trace_write_json(s, path), 0);
    fj_destroy(s);

    static char text[1 << 16];
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    remove(path);

    /* leaf's delay is known either way: 540 - 320 ns. */
    CHECK_EQ(count_of(text, "\"queue_delay_us\":0.220"), 1);
    const char *start = strstr(text, "\"ph\":\"s\"");
    if (!cut) {
        /* One arrow, from twig's first slice (0 to 0.400) at the queueing. */
        CHECK_EQ(count_of(text, "\"ph\":\"s\""), 1);
        CHECK(start != NULL);
        char event[256];
        size_t len = (size_t)(strchr(start, '}') - start);
        CHECK(len < sizeof event);
        memcpy(event, start, len);
        event[len] = '\0';
        CHECK(strstr(event, ",\"ts\":0.320,\"pid\":1,\"tid\":1") != NULL);
        CHECK_EQ(count_of(text, "{\"name\":\"twig\",\"cat\":\"job\",\"ph\":\"X\",\"ts\":0.000,\"pid\":1,\"tid\":1,"
                                "\"dur\":0.400,"), 1);
    } else {
        /* The window starts after inner's events: twig's first segment is
         * gone, and with it any slice around the queueing. No arrow, and
         * none from the lane outside the workers either. */
        CHECK_EQ(count_of(text, "\"dur\":0.400,"), 0);
        CHECK(start == NULL);
        CHECK_EQ(count_of(text, "\"ph\":\"f\""), 0);
        CHECK_EQ(count_of(text, "queued from outside"), 0);
    }
    printf("%s: %s\n", cut ? "cut" : "whole", cut ? "no arrow, delay kept" : "one arrow from twig");
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    unsetenv("FIBERJOB_TRACE");
    char path[512];
    snprintf(path, sizeof path, "%s/fj_trace_window_%d.json", test_tmp_dir(), test_pid());
    scenario(false, path);
    scenario(true, path);
    return test_finish();
}
