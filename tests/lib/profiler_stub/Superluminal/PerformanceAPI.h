/*
 * A recording stand-in for Superluminal's PerformanceAPI.h: the fiber and
 * event calls examples/profiler_hooks.c makes, with Superluminal's names and
 * signatures. It checks what Superluminal's documentation asks: a fiber is
 * registered before it is switched to or from, and unregistered once;
 * BeginFiberSwitch(current, new) names the fiber the thread runs; each
 * EndFiberSwitch(id) comes from the fiber that made the matching begin, once
 * it runs again (on any thread); events begun on a fiber end on it; at exit
 * every fiber is unregistered and no event is open. See stub_common.h.
 */
#ifndef PROFILER_STUB_PERFORMANCEAPI_H
#define PROFILER_STUB_PERFORMANCEAPI_H

#include "../stub_common.h"

#define PERFORMANCEAPI_DEFAULT_COLOR 0xFFFFFFFF

typedef struct PerformanceAPI_SuppressTailCallOptimization {
    int64_t SuppressTailCall[3];
} PerformanceAPI_SuppressTailCallOptimization;

static _Thread_local uint64_t sl_stub_current;   /* the fiber this thread runs; 0: not known yet */
static unsigned sl_stub_registered, sl_stub_switches, sl_stub_events;

static void PerformanceAPI_RegisterFiber(uint64_t inFiberID)
{
    pthread_mutex_lock(&stub_lock);
    stub_rec *r = stub_find(inFiberID);
    if (r->live)
        STUB_FAIL("fiber %llx registered twice", (unsigned long long)inFiberID);
    r->live = 1;
    r->out = 0;
    sl_stub_registered++;
    pthread_mutex_unlock(&stub_lock);
}

static void PerformanceAPI_UnregisterFiber(uint64_t inFiberID)
{
    pthread_mutex_lock(&stub_lock);
    stub_rec *r = stub_find(inFiberID);
    if (!r->live)
        STUB_FAIL("fiber %llx unregistered but not registered", (unsigned long long)inFiberID);
    if (r->depth)
        STUB_FAIL("fiber %llx unregistered with %d events open", (unsigned long long)inFiberID, r->depth);
    r->live = 0;
    if (sl_stub_current == inFiberID)
        sl_stub_current = 0;
    pthread_mutex_unlock(&stub_lock);
}

static void PerformanceAPI_BeginFiberSwitch(uint64_t inCurrentFiberID, uint64_t inNewFiberID)
{
    pthread_mutex_lock(&stub_lock);
    sl_stub_switches++;
    stub_rec *cur = stub_find(inCurrentFiberID), *next = stub_find(inNewFiberID);
    if (!cur->live || !next->live)
        STUB_FAIL("switch %llx -> %llx with a fiber not registered", (unsigned long long)inCurrentFiberID,
                  (unsigned long long)inNewFiberID);
    if (sl_stub_current && sl_stub_current != inCurrentFiberID)
        STUB_FAIL("switch from %llx on a thread running %llx", (unsigned long long)inCurrentFiberID,
                  (unsigned long long)sl_stub_current);
    cur->out = 1;
    sl_stub_current = inNewFiberID;
    pthread_mutex_unlock(&stub_lock);
}

static void PerformanceAPI_EndFiberSwitch(uint64_t inFiberID)
{
    pthread_mutex_lock(&stub_lock);
    stub_rec *r = stub_find(inFiberID);
    if (!r->out)
        STUB_FAIL("EndFiberSwitch(%llx) with no begin from it", (unsigned long long)inFiberID);
    if (sl_stub_current != inFiberID)
        STUB_FAIL("EndFiberSwitch(%llx) on a thread switched to %llx", (unsigned long long)inFiberID,
                  (unsigned long long)sl_stub_current);
    r->out = 0;
    pthread_mutex_unlock(&stub_lock);
}

static void PerformanceAPI_BeginEvent(const char *inID, const char *inData, uint32_t inColor)
{
    (void)inData;
    (void)inColor;
    pthread_mutex_lock(&stub_lock);
    sl_stub_events++;
    if (!inID || !sl_stub_current)
        STUB_FAIL("an event with no name or on no known fiber");
    else
        stub_find(sl_stub_current)->depth++;
    pthread_mutex_unlock(&stub_lock);
}

static PerformanceAPI_SuppressTailCallOptimization PerformanceAPI_EndEvent(void)
{
    PerformanceAPI_SuppressTailCallOptimization none = { { 0, 0, 0 } };
    pthread_mutex_lock(&stub_lock);
    stub_rec *r = sl_stub_current ? stub_find(sl_stub_current) : NULL;
    if (!r || r->depth == 0)
        STUB_FAIL("an event ends on fiber %llx, which has none open", (unsigned long long)sl_stub_current);
    else
        r->depth--;
    pthread_mutex_unlock(&stub_lock);
    return none;
}

__attribute__((destructor)) static void sl_stub_report(void)
{
    if (!sl_stub_registered)
        return;
    for (unsigned i = 0; i < STUB_SLOTS; i++)
        if (stub_table[i].used && (stub_table[i].live || stub_table[i].depth))
            STUB_FAIL("fiber %llx still registered or with events open at exit",
                      (unsigned long long)stub_table[i].key);
    fprintf(stderr, "superluminal stub: %u fibers registered, %u switches, %u events, %u errors%s%s\n",
            sl_stub_registered, sl_stub_switches, sl_stub_events, stub_errors, stub_errors ? "; the first: " : "",
            stub_first_error);
    if (stub_errors)
        _exit(1);
}

#endif
