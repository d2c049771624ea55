/*
 * The one part of gdb_target that reads the library's internals: how many
 * waiters a counter's wait list holds. Built with -g0 (see CMakeLists.txt), so
 * the program's debug info does not describe fj_scheduler and friends: the gdb
 * extension must find them in the library's own debug info, as it would in a
 * user's program.
 */
#include "internal.h"

unsigned gdb_target_listed_waiters(fj_counter *c);

/* A fiber is published on a wait list only after it has switched away (the
 * post-switch action), so a listed waiter is fully suspended. The lists only
 * grow while the counters stay above their targets, and a push writes the link
 * before the CAS that makes it the head. Lists name their waiters by waiter id
 * (fj__waiter_table: the scheduler's fibers and the outside threads' records;
 * fj__record_table: launch records, fj_run_jobs_after). */
unsigned gdb_target_listed_waiters(fj_counter *c)
{
    unsigned n = 0;
    uint32_t id = fj__word_head(__atomic_load_n(&c->fj__word, __ATOMIC_ACQUIRE));
    while (id && n <= FJ_WAITER_ID_MAX) {
        const fj__fiber *f = fj__waiter_of(id);
        const fj__record *r = f ? NULL : fj__record_table[id];   /* a launch record */
        if (!f && !r)
            break;
        n++;
        id = __atomic_load_n(f ? &f->wait_next : &r->wait_next, __ATOMIC_RELAXED);
    }
    return n;
}
