/*
 * Shared by the two profiler stubs (tracy/TracyC.h, Superluminal/PerformanceAPI.h):
 * neither profiler is packaged in Debian, so examples/profiler_hooks.c is
 * built against these stand-ins. They declare the calls the example makes,
 * with the real signatures, and instead of sending anything they check the
 * rules each profiler relies on (see each header), under one lock. At exit
 * they print what they saw and end the process with status 1 if a rule was
 * broken. Header-only, for one translation unit.
 */
#ifndef PROFILER_STUB_COMMON_H
#define PROFILER_STUB_COMMON_H

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pthread_mutex_t stub_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned stub_errors;
static char stub_first_error[256];

#define STUB_FAIL(...)                                                            \
    do {                                                                          \
        if (!stub_errors++)                                                       \
            snprintf(stub_first_error, sizeof stub_first_error, __VA_ARGS__);     \
    } while (0)

/* A small table from a 64-bit key (a fiber id or a name's address) to a
 * record, under stub_lock. */
#define STUB_SLOTS 4096
typedef struct stub_rec {
    uint64_t key;
    int used;
    int live;          /* registered (Superluminal) */
    int out;           /* switched out, its EndFiberSwitch owed (Superluminal) */
    int depth;         /* open zones or events */
    uint32_t ids[64];  /* open Tracy zone ids, innermost last */
} stub_rec;
static stub_rec stub_table[STUB_SLOTS];

static stub_rec *stub_find(uint64_t key)
{
    uint64_t h = (key * 0x9e3779b97f4a7c15ull) >> 52;
    for (unsigned i = 0; i < STUB_SLOTS; i++) {
        stub_rec *r = &stub_table[(h + i) % STUB_SLOTS];
        if (r->used && r->key == key)
            return r;
        if (!r->used) {
            r->used = 1;
            r->key = key;
            return r;
        }
    }
    fprintf(stderr, "profiler stub: table full\n");
    _exit(1);
}

#endif
