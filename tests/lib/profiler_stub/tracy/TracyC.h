/*
 * A recording stand-in for Tracy's C API (TracyC.h, with TRACY_ENABLE and
 * TRACY_FIBERS): the fiber and zone calls examples/profiler_hooks.c makes,
 * with Tracy's names and signatures. It checks what Tracy relies on: a zone
 * ends on the fiber (or thread) it began on, innermost first, whichever
 * thread that fiber runs on by then (otherwise Tracy reports zones ended
 * twice or on the wrong thread); a fiber's name is one persistent pointer;
 * at exit no zone is open. See stub_common.h.
 */
#ifndef PROFILER_STUB_TRACYC_H
#define PROFILER_STUB_TRACYC_H

#include "../stub_common.h"

struct ___tracy_source_location_data {
    const char *name;
    const char *function;
    const char *file;
    uint32_t line;
    uint32_t color;
};
typedef struct ___tracy_c_zone_context {
    uint32_t id;
    int32_t active;
} TracyCZoneCtx;

static _Thread_local const char *tracy_stub_fiber;   /* NULL: the thread itself */
static uint32_t tracy_stub_next_id = 1;
static unsigned tracy_stub_zones, tracy_stub_enters;

/* The zones open where the calling thread runs now: its fiber, or itself. */
static stub_rec *tracy_stub_here(void)
{
    return stub_find(tracy_stub_fiber ? (uint64_t)(uintptr_t)tracy_stub_fiber
                                      : 0x8000000000000000ull | (uint64_t)(uintptr_t)pthread_self());
}

static void ___tracy_fiber_enter(const char *fiber)
{
    pthread_mutex_lock(&stub_lock);
    tracy_stub_enters++;
    if (!fiber)
        STUB_FAIL("TracyCFiberEnter(NULL)");
    tracy_stub_fiber = fiber;
    pthread_mutex_unlock(&stub_lock);
}

static void ___tracy_fiber_leave(void)
{
    pthread_mutex_lock(&stub_lock);
    if (!tracy_stub_fiber)
        STUB_FAIL("TracyCFiberLeave on a thread in no fiber");
    tracy_stub_fiber = NULL;
    pthread_mutex_unlock(&stub_lock);
}

static TracyCZoneCtx ___tracy_emit_zone_begin(const struct ___tracy_source_location_data *srcloc, int32_t active)
{
    (void)srcloc;
    pthread_mutex_lock(&stub_lock);
    TracyCZoneCtx ctx = { tracy_stub_next_id++, active };
    tracy_stub_zones++;
    stub_rec *r = tracy_stub_here();
    if (r->depth == 64)
        STUB_FAIL("zones nest deeper than 64");
    else
        r->ids[r->depth++] = ctx.id;
    pthread_mutex_unlock(&stub_lock);
    return ctx;
}

static void ___tracy_emit_zone_name(TracyCZoneCtx ctx, const char *txt, size_t size)
{
    (void)ctx;
    if (!txt || strlen(txt) != size) {
        pthread_mutex_lock(&stub_lock);
        STUB_FAIL("a zone name that is not its size");
        pthread_mutex_unlock(&stub_lock);
    }
}

static void ___tracy_emit_zone_end(TracyCZoneCtx ctx)
{
    pthread_mutex_lock(&stub_lock);
    stub_rec *r = tracy_stub_here();
    if (!r->depth || r->ids[r->depth - 1] != ctx.id)
        STUB_FAIL("zone %u ends on %s '%s', where it is not the innermost open zone", ctx.id,
                  tracy_stub_fiber ? "fiber" : "thread", tracy_stub_fiber ? tracy_stub_fiber : "");
    else
        r->depth--;
    pthread_mutex_unlock(&stub_lock);
}

#define TracyCZone(ctx, active)                                                                    \
    static const struct ___tracy_source_location_data ctx##_loc = { NULL, __func__, __FILE__,      \
                                                                    (uint32_t)__LINE__, 0 };       \
    TracyCZoneCtx ctx = ___tracy_emit_zone_begin(&ctx##_loc, active);
#define TracyCZoneName(ctx, txt, size) ___tracy_emit_zone_name(ctx, txt, size);
#define TracyCZoneEnd(ctx) ___tracy_emit_zone_end(ctx);
#define TracyCFiberEnter(fiber) ___tracy_fiber_enter(fiber);
#define TracyCFiberLeave ___tracy_fiber_leave();

__attribute__((destructor)) static void tracy_stub_report(void)
{
    if (!tracy_stub_zones && !tracy_stub_enters)
        return;
    for (unsigned i = 0; i < STUB_SLOTS; i++)
        if (stub_table[i].used && stub_table[i].depth)
            STUB_FAIL("%d zones still open at exit", stub_table[i].depth);
    fprintf(stderr, "tracy stub: %u zones, %u fiber enters, %u errors%s%s\n", tracy_stub_zones,
            tracy_stub_enters, stub_errors, stub_errors ? "; the first: " : "", stub_first_error);
    if (stub_errors)
        _exit(1);
}

#endif
