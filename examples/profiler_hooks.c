/*
 * Wiring a profiler to fiberjob: Tracy or Superluminal through fj_config.hooks.
 *
 *   example_profiler_hooks [workers] [tracy|superluminal]
 *
 * Jobs move between worker threads when they wait, so a profiler must be
 * told which fiber a thread runs: otherwise a zone begun before fj_wait ends
 * on another thread (Tracy reports it as ended twice, or on the wrong
 * thread). Both profilers have a fiber API, and each maps onto the hooks
 * with one line per hook:
 *
 *   Tracy (TracyC.h, build Tracy with TRACY_ENABLE and TRACY_FIBERS): enter
 *   the fiber a switch goes to, leave fibers when the worker goes back to
 *   its thread's own stack (to_name NULL); a job is a zone, and the token
 *   carries its context from job_begin to job_end.
 *
 *   Superluminal (PerformanceAPI.h): register every context before it is
 *   used, bracket every switch with BeginFiberSwitch/EndFiberSwitch; a job
 *   is an event.
 *
 * Neither profiler is packaged in Debian, so this build compiles against
 * recording stand-ins with the same header names and signatures
 * (tests/lib/profiler_stub/), which check that the calls follow each
 * profiler's rules and say what they saw at exit. To profile for real, put
 * Tracy's public/ or Superluminal's API include folder on the include path
 * instead and link TracyClient.cpp or PerformanceAPI's library.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <Superluminal/PerformanceAPI.h>
#include <tracy/TracyC.h>

#include "fiberjob.h"

/* ------------------------------------------------------------ Tracy */

static void tracy_switch(uint64_t from, uint64_t to, const char *to_name, void *user)
{
    (void)from, (void)to, (void)user;
    if (to_name) {
        TracyCFiberEnter(to_name);   /* the name is persistent and unique, as Tracy needs */
    } else {
        TracyCFiberLeave;
    }
}

static uint64_t tracy_job_begin(const char *name, void *user)
{
    (void)user;
    TracyCZone(zone, 1);
    TracyCZoneName(zone, name, strlen(name));
    uint64_t token;
    _Static_assert(sizeof zone <= sizeof token, "a zone context fits the token");
    memcpy(&token, &zone, sizeof zone);
    return token;
}

static void tracy_job_end(const char *name, uint64_t token, int panicked, void *user)
{
    (void)name, (void)panicked, (void)user;
    TracyCZoneCtx zone;
    memcpy(&zone, &token, sizeof zone);
    TracyCZoneEnd(zone);
}

static fj_hooks tracy_hooks(void)
{
    return (fj_hooks){ .fiber_switch_begin = tracy_switch, .job_begin = tracy_job_begin,
                       .job_end = tracy_job_end };
}

/* ------------------------------------------------------------ Superluminal */

static void sl_create(uint64_t fiber, const char *name, void *user)
{
    (void)name, (void)user;
    PerformanceAPI_RegisterFiber(fiber);
}

static void sl_destroy(uint64_t fiber, void *user)
{
    (void)user;
    PerformanceAPI_UnregisterFiber(fiber);
}

static void sl_switch_begin(uint64_t from, uint64_t to, const char *to_name, void *user)
{
    (void)to_name, (void)user;
    PerformanceAPI_BeginFiberSwitch(from, to);
}

static void sl_switch_end(uint64_t fiber, void *user)
{
    (void)user;
    PerformanceAPI_EndFiberSwitch(fiber);
}

static uint64_t sl_job_begin(const char *name, void *user)
{
    (void)user;
    PerformanceAPI_BeginEvent(name, NULL, PERFORMANCEAPI_DEFAULT_COLOR);   /* job names are static strings */
    return 0;
}

static void sl_job_end(const char *name, uint64_t token, int panicked, void *user)
{
    (void)name, (void)token, (void)panicked, (void)user;
    PerformanceAPI_EndEvent();
}

static fj_hooks superluminal_hooks(void)
{
    return (fj_hooks){ .fiber_create = sl_create, .fiber_destroy = sl_destroy,
                       .fiber_switch_begin = sl_switch_begin, .fiber_switch_end = sl_switch_end,
                       .job_begin = sl_job_begin, .job_end = sl_job_end };
}

/* ------------------------------------------------------------ a frame of work */

static void leaf(void *arg)
{
    volatile double x = (double)(uintptr_t)arg;
    for (int i = 0; i < 1000; i++)
        x = x * 1.0000001 + 1.0;
}

/* Waits on its leaves: the zone or event it is in stays open on its fiber
 * while other jobs run, and closes wherever the job resumes. */
static void system_update(void *arg)
{
    fj_job leaves[32];
    for (int i = 0; i < 32; i++)
        leaves[i] = (fj_job){ .fn = leaf, .arg = (void *)(uintptr_t)i, .name = "leaf" };
    fj_counter done;
    fj_counter_init(&done, 0);
    fj_run_jobs(leaves, 32, &done);
    fj_wait(&done, 0);
    (void)arg;
}

static void frame(void *arg)
{
    (void)arg;
    for (int f = 0; f < 20; f++) {
        fj_job systems[16];
        for (int i = 0; i < 16; i++)
            systems[i] = (fj_job){ .fn = system_update, .name = "system_update" };
        fj_counter done;
        fj_counter_init(&done, 0);
        fj_run_jobs(systems, 16, &done);
        fj_wait(&done, 0);
    }
}

int main(int argc, char **argv)
{
    fj_config cfg = fj_config_default();
    cfg.workers = argc > 1 ? (unsigned)atoi(argv[1]) : 0;
    const char *profiler = argc > 2 ? argv[2] : "tracy";
    if (strcmp(profiler, "tracy") == 0) {
        cfg.hooks = tracy_hooks();
    } else if (strcmp(profiler, "superluminal") == 0) {
        cfg.hooks = superluminal_hooks();
    } else {
        fprintf(stderr, "usage: %s [workers] [tracy|superluminal]\n", argv[0]);
        return 2;
    }
    fj_scheduler *s = fj_create(&cfg);
    if (!s) {
        fprintf(stderr, "fj_create: %s\n", fj_strerror(fj_last_error()));
        return 1;
    }
    int rc = fj_main(s, frame, NULL);
    fj_destroy(s);
    printf("20 frames with %s hooks\n", profiler);
    return rc == 0 ? 0 : 1;
}
