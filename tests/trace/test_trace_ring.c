/*
 * The trace ring's reader against its writer (the seqlock in src/trace.c):
 * copies taken while the rings are being written must keep whole events only,
 * never one holding a field of a later event that overwrote its slot.
 *
 *  0. A ring caught between the writer's field stores and its store of next
 *     (built by hand, no thread): the oldest event's slot already holds the
 *     next event, so a copy must leave it out.
 *  1. Bare rings: WORKERS threads each record into a ring of 64 events, with
 *     fields that all derive from the event's number; a reader copies the
 *     rings over and over, and every event it keeps must be exactly event
 *     number lost + k, in every field.
 *  2. A scheduler with 64-event rings: a thread outside copies the workers'
 *     rings while they run jobs that wait on counters, and every event kept
 *     must agree with itself: a wait names the job that owns the counter it
 *     waits on, worker events carry no job, timestamps never go back.
 *
 * Parts 1 and 2 stop on what the reader has done (a number of copies), never on
 * time, and the writers keep writing until then, so every copy races with
 * them. What the test can show depends on the machine: on x86-64 (TSO),
 * stores become visible in order and loads are not reordered with loads, so
 * it catches a reader that keeps overwritten slots (a wrong drop computation)
 * but cannot catch a missing fence of the protocol; only the ordering
 * argument beside fj__trace_record shows those are needed. On AArch64 it can.
 */
#include <pthread.h>
#include <sched.h>

#include "test.h"
#include "trace.h"

#include "test_mem.h"   /* the C library's memory as an fj__mem */

enum { RING_EVENTS = 64, COPIES = 20000, MAX_WRITERS = 64 };

static const char *const tags[] = { "t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8", "t9", "t10" };
enum { NTAGS = sizeof tags / sizeof tags[0] };

static int stop;
static int started;

/* ------------------------------------------------------------ bare rings */

static uint32_t fiber_of(uint64_t n) { return (uint32_t)(n * 2654435761u); }
static uint32_t kind_of(uint64_t n) { return (uint32_t)(1 + n % 7); }

static void *ring_writer(void *arg)
{
    fj__trace_ring *r = arg;
    for (uint64_t n = 0; n < 2 * RING_EVENTS || !T_LOAD(&stop); n++)
        fj__trace_record(r, (fj__event_kind)kind_of(n), fiber_of(n), tags[n % NTAGS], n);
    return NULL;
}

/* Every kept event is the event of its number, whole; false after reporting
 * the first one that is not. */
static bool check_bare_copy(const fj__trace_copy *c, unsigned ring)
{
    if (c->count > RING_EVENTS) {
        FAIL_SOFT("ring %u: a copy kept %llu events of a %d-event ring", ring, (unsigned long long)c->count,
                  RING_EVENTS);
        return false;
    }
    for (uint64_t k = 0; k < c->count; k++) {
        const fj__event *e = &c->events[k];
        uint64_t n = c->lost + k;
        /* A timestamp of a later event shows as one that goes back. */
        if (e->arg != n || e->kind != kind_of(n) || e->fiber != fiber_of(n) || e->name != tags[n % NTAGS] ||
            (k > 0 && e->ts_ns < e[-1].ts_ns)) {
            FAIL_SOFT("ring %u: kept event %llu holds arg %llu, kind %u, fiber %u, name %s, ts %llu (previous "
                      "%llu): it or the one before holds fields of another event",
                      ring, (unsigned long long)n, (unsigned long long)e->arg, e->kind, e->fiber,
                      e->name ? e->name : "(null)", (unsigned long long)e->ts_ns,
                      (unsigned long long)(k ? e[-1].ts_ns : 0));
            return false;
        }
    }
    return true;
}

static void slot_being_written(void)
{
    fj__trace_ring r = { .events = calloc(RING_EVENTS, sizeof(fj__event)), .capacity = RING_EVENTS };
    CHECK(r.events != NULL);
    for (uint64_t n = 0; n < 2 * RING_EVENTS + 5; n++)
        fj__trace_record(&r, (fj__event_kind)kind_of(n), fiber_of(n), tags[n % NTAGS], n);
    uint64_t n = r.next;
    fj__event *slot = &r.events[n % RING_EVENTS];
    /* Event n half stored over event n - capacity: its name and arg. */
    slot->name = tags[n % NTAGS];
    slot->arg = n;
    fj__trace_copy c;
    CHECK_EQ(fj__trace_ring_copy(&r, &test_mem, &c), 0);
    if (c.count != RING_EVENTS - 1 || c.lost != n - RING_EVENTS + 1)
        FAIL_SOFT("a copy with event %llu half written kept events %llu..%llu, not %llu..%llu",
                  (unsigned long long)n, (unsigned long long)c.lost, (unsigned long long)(c.lost + c.count - 1),
                  (unsigned long long)(n - RING_EVENTS + 1), (unsigned long long)(n - 1));
    check_bare_copy(&c, 0);
    free(c.events);
    free(r.events);
}

static void bare_rings(unsigned nwriters)
{
    static fj__trace_ring rings[MAX_WRITERS];
    pthread_t th[MAX_WRITERS];
    T_STORE(&stop, 0);
    for (unsigned i = 0; i < nwriters; i++) {
        rings[i] = (fj__trace_ring){ .events = calloc(RING_EVENTS, sizeof(fj__event)), .capacity = RING_EVENTS };
        CHECK(rings[i].events != NULL);
        CHECK(pthread_create(&th[i], NULL, ring_writer, &rings[i]) == 0);
    }
    /* Copies of rings that have not wrapped yet would race with nothing. */
    for (unsigned i = 0; i < nwriters; i++)
        while (T_LOAD(&rings[i].next) < 2 * RING_EVENTS)
            sched_yield();
    bool ok = true;
    uint64_t kept = 0, copies_cut = 0;
    for (unsigned round = 0; round < COPIES && ok; round++) {
        for (unsigned i = 0; i < nwriters && ok; i++) {
            fj__trace_copy c;
            CHECK_EQ(fj__trace_ring_copy(&rings[i], &test_mem, &c), 0);
            ok = check_bare_copy(&c, i);
            kept += c.count;
            copies_cut += c.count < RING_EVENTS - 1;   /* the slot being written always goes */
            free(c.events);
        }
    }
    T_STORE(&stop, 1);
    for (unsigned i = 0; i < nwriters; i++) {
        CHECK(pthread_join(th[i], NULL) == 0);
        free(rings[i].events);
    }
    printf("bare rings: %u writers, %llu events kept, %llu copies dropped slots overwritten meanwhile\n", nwriters,
           (unsigned long long)kept, (unsigned long long)copies_cut);
}

/* ------------------------------------------------------------ a scheduler */

/* Waiter k waits on counter[k] and nothing else; children yield and do not
 * wait; the root waits on root_counter. */
static fj_counter counter[NTAGS];
static fj_counter root_counter;
static const char child_name[] = "child";

static void child(void *arg)
{
    (void)arg;
    fj_yield();
}

static void waiter(void *arg)
{
    uintptr_t k = (uintptr_t)arg;
    fj_job jobs[3];
    for (int i = 0; i < 3; i++)
        jobs[i] = (fj_job){ .fn = child, .name = child_name };
    fj_counter_init(&counter[k], 0);
    fj_run_jobs(jobs, 3, &counter[k]);
    fj_wait(&counter[k], 0);
}

static void root(void *arg)
{
    (void)arg;
    T_STORE(&started, 1);
    fj_job jobs[NTAGS];
    for (uintptr_t k = 0; k < NTAGS; k++)
        jobs[k] = (fj_job){ .fn = waiter, .arg = (void *)k, .name = tags[k] };
    while (!T_LOAD(&stop)) {
        fj_counter_init(&root_counter, 0);
        fj_run_jobs(jobs, NTAGS, &root_counter);
        fj_wait(&root_counter, 0);
    }
}

/* Why e cannot be one event the scheduler recorded, or NULL when it can. */
static const char *inconsistent(const fj__event *e, unsigned nworkers)
{
    bool worker_event = e->kind == FJ_EV_STEAL || e->kind == FJ_EV_SLEEP || e->kind == FJ_EV_WAKE;
    if (e->kind < FJ_EV_JOB_BEGIN || e->kind > FJ_EV_JOB_QUEUE)
        return "no such kind";
    if (worker_event != (e->fiber == UINT32_MAX))
        return "a fiber on a worker event, or none on a fiber event";
    switch (e->kind) {
    case FJ_EV_JOB_BEGIN:
        /* Every job was queued with tracing on: arg is when, a little before. */
        if (e->arg == 0 || e->arg > e->ts_ns || e->ts_ns - e->arg > 60ull * 1000000000)
            return "a job begin without the time it was queued, or with one after it or a minute before";
        return NULL;
    case FJ_EV_JOB_END:
        return e->arg == 0 ? NULL : "a job end with an arg (none panicked)";
    case FJ_EV_JOB_QUEUE:
        if (e->name == child_name)
            return e->arg == 3 ? NULL : "the children queued, not 3 of them";
        return e->name == tags[0] && e->arg == NTAGS ? NULL : "a queueing of no submission of the test";
    case FJ_EV_SUSPEND:
    case FJ_EV_RESUME:
        if (e->arg == 0)
            return e->name == child_name ? NULL : "a yield by a job that never yields";
        if (e->arg == (uintptr_t)&root_counter)
            return NULL;
        for (unsigned k = 0; k < NTAGS; k++)
            if (e->arg == (uintptr_t)&counter[k])
                return e->name == tags[k] ? NULL : "a wait on a counter of another job";
        return "a wait on no counter of the test";
    case FJ_EV_STEAL:
        return e->arg < nworkers ? NULL : "a steal from no worker";
    default:
        return e->name == NULL && e->arg == 0 ? NULL : "a sleep or wake with a job or an arg";
    }
}

static bool check_sched_copy(const fj__trace_copy *c, unsigned lane, unsigned nworkers)
{
    for (uint64_t k = 0; k < c->count; k++) {
        const fj__event *e = &c->events[k];
        const char *why = inconsistent(e, nworkers);
        if (!why && k > 0 && e->ts_ns < e[-1].ts_ns)
            why = "earlier than the event before it";
        if (why) {
            FAIL_SOFT("worker %u, kept event %llu (kind %u, fiber %u, name %s, arg %#llx): %s", lane,
                      (unsigned long long)(c->lost + k), e->kind, e->fiber, e->name ? e->name : "(null)",
                      (unsigned long long)e->arg, why);
            return false;
        }
    }
    return true;
}

typedef struct reader_arg {
    const fj_scheduler *s;
    unsigned nworkers;
    uint64_t kept;
} reader_arg;

static void *sched_reader(void *arg)
{
    reader_arg *a = arg;
    while (!T_LOAD(&started))
        sched_yield();
    bool ok = true;
    for (unsigned round = 0; round < COPIES && ok; round++) {
        for (unsigned i = 0; i < a->nworkers && ok; i++) {
            fj__trace_copy c;
            CHECK_EQ(fj__trace_ring_copy(fj__trace_ring_of(a->s, i), &test_mem, &c), 0);
            ok = check_sched_copy(&c, i, a->nworkers);
            a->kept += c.count;
            free(c.events);
        }
    }
    T_STORE(&stop, 1);
    return NULL;
}

static void scheduler_rings(int argc, char **argv)
{
    fj_config cfg = test_config(argc, argv);
    cfg.trace_events = RING_EVENTS;
    fj_scheduler *s = fj_create(&cfg);
    CHECK(s != NULL);
    T_STORE(&stop, 0);
    reader_arg a = { .s = s, .nworkers = fj_worker_count(s) };
    pthread_t th;
    CHECK(pthread_create(&th, NULL, sched_reader, &a) == 0);
    CHECK_EQ(fj_main(s, root, NULL), 0);
    CHECK(pthread_join(th, NULL) == 0);
    fj_destroy(s);
    printf("scheduler: %u workers, %llu events kept\n", a.nworkers, (unsigned long long)a.kept);
}

int main(int argc, char **argv)
{
    unsetenv("FIBERJOB_TRACE");
    unsigned n = test_workers(argc, argv);
    slot_being_written();
    bare_rings(n < MAX_WRITERS ? n : MAX_WRITERS);
    scheduler_rings(argc, argv);
    return test_finish();
}
