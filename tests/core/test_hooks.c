/*
 * fj_config.hooks, through a recording stub that checks every call as it
 * comes, the way a profiler would rely on it:
 *   - worker_start/worker_stop pair on one thread, once per worker 1..N-1,
 *     twice for worker 0 (fj_main, then fj_destroy's drain); worker threads
 *     are named fj-worker-N (test_thread_name: pthread_getname_np);
 *   - contexts: created before any switch to or from them, destroyed after
 *     the last; each switch begins on the context the thread runs (so the
 *     switches of a thread alternate: leave X for Y, then only Y may leave or
 *     end); a context that made a begin gets exactly one end when it runs
 *     again, on whatever thread; a context never runs on two threads at once;
 *     a fiber's name is the same pointer at every call, "fj-fiber-<id>";
 *   - job_begin/job_end nest per fiber (the token comes back to the end on
 *     the fiber it began on, even when the job waited and resumed on another
 *     worker), with the same name, and a panicking job gets its end;
 * with many jobs that wait, yield, run nested (shallow) and panic. Misuse:
 * fj_wait, fj_yield and fj_panic inside a hook stop the process with one line
 * naming the hook.
 */
#include <pthread.h>

#include "test.h"

/* ------------------------------------------------------------ the recorder */

enum { CTX_NONE = 0, CTX_FRESH, CTX_RUNNING, CTX_SUSPENDED };
#define MAX_THREAD_CTX 64
#define MAX_DEPTH 64

typedef struct ctx_rec {
    uint64_t id;
    int state;
    const char *name;
    uint64_t jobs[MAX_DEPTH];    /* tokens of the jobs open on this fiber, innermost last */
    const char *job_names[MAX_DEPTH];
    int depth;
} ctx_rec;

static pthread_mutex_t rec_lock = PTHREAD_MUTEX_INITIALIZER;
static ctx_rec fibers[65536];
static ctx_rec threads[MAX_THREAD_CTX];
static unsigned starts[64], stops[64];
static uint64_t next_token = 1;
static unsigned begins, ends, panicked_ends, switches, creates, destroys, pool_creates;
static char first_error[512];
static unsigned errors;
static _Thread_local int my_worker = -1;
static _Thread_local uint64_t my_ctx;   /* the context this thread runs (0: not a worker now) */

#define REC_FAIL(...)                                                       \
    do {                                                                    \
        if (!errors++)                                                      \
            snprintf(first_error, sizeof first_error, __VA_ARGS__);         \
    } while (0)

static bool is_thread_ctx(uint64_t id) { return id >> 32 != 0; }

/* The record of a context (created on demand for thread stacks), under rec_lock. */
static ctx_rec *ctx_of(uint64_t id, bool make)
{
    if (!is_thread_ctx(id))
        return id < 65536 ? &fibers[id] : NULL;
    for (int i = 0; i < MAX_THREAD_CTX; i++)
        if (threads[i].id == id)
            return &threads[i];
    for (int i = 0; make && i < MAX_THREAD_CTX; i++)
        if (threads[i].id == 0) {
            threads[i].id = id;
            return &threads[i];
        }
    return NULL;
}

static void on_worker_start(unsigned worker, void *user)
{
    (void)user;
    pthread_mutex_lock(&rec_lock);
    if (my_worker != -1)
        REC_FAIL("worker_start(%u) on a thread that is already worker %d", worker, my_worker);
    if (worker < 64)
        starts[worker]++;
    my_worker = (int)worker;
    pthread_mutex_unlock(&rec_lock);
    if (worker > 0) {
        char name[32] = "", want[32];
        snprintf(want, sizeof want, "fj-worker-%u", worker);
        test_thread_name(name, sizeof name);
        if (strcmp(name, want) != 0) {
            pthread_mutex_lock(&rec_lock);
            REC_FAIL("worker %u's thread is named '%s', not '%s'", worker, name, want);
            pthread_mutex_unlock(&rec_lock);
        }
    }
}

static void on_worker_stop(unsigned worker, void *user)
{
    (void)user;
    pthread_mutex_lock(&rec_lock);
    if (my_worker != (int)worker)
        REC_FAIL("worker_stop(%u) on a thread that is worker %d", worker, my_worker);
    if (my_ctx != 0)
        REC_FAIL("worker_stop(%u) while the thread still runs context %llx", worker, (unsigned long long)my_ctx);
    if (worker < 64)
        stops[worker]++;
    my_worker = -1;
    pthread_mutex_unlock(&rec_lock);
}

static void on_fiber_create(uint64_t id, const char *name, void *user)
{
    (void)user;
    pthread_mutex_lock(&rec_lock);
    creates++;
    ctx_rec *c = ctx_of(id, true);
    if (!c || c->state != CTX_NONE) {
        REC_FAIL("fiber_create(%llx): %s", (unsigned long long)id, c ? "already live" : "no room");
    } else if (is_thread_ctx(id)) {
        /* A thread's own stack: created on it, running it, nameless. */
        if (name)
            REC_FAIL("the thread context %llx has a name", (unsigned long long)id);
        if (my_worker < 0 || my_ctx)
            REC_FAIL("thread context %llx created off a starting worker", (unsigned long long)id);
        c->state = CTX_RUNNING;
        my_ctx = id;
    } else {
        char want[32];
        pool_creates++;
        snprintf(want, sizeof want, "fj-fiber-%llu", (unsigned long long)id);
        if (!name || strcmp(name, want) != 0)
            REC_FAIL("fiber %llu is named '%s'", (unsigned long long)id, name ? name : "(null)");
        if (c->name && c->name != name)
            REC_FAIL("fiber %llu's name moved", (unsigned long long)id);
        c->name = name;
        c->state = CTX_FRESH;
    }
    pthread_mutex_unlock(&rec_lock);
}

static void on_fiber_destroy(uint64_t id, void *user)
{
    (void)user;
    pthread_mutex_lock(&rec_lock);
    destroys++;
    ctx_rec *c = ctx_of(id, false);
    if (!c || c->state == CTX_NONE) {
        REC_FAIL("fiber_destroy(%llx) of a context that is not live", (unsigned long long)id);
    } else {
        if (c->depth)
            REC_FAIL("context %llx destroyed with %d jobs open", (unsigned long long)id, c->depth);
        if (is_thread_ctx(id)) {
            if (my_ctx != id)
                REC_FAIL("thread context %llx destroyed off its thread", (unsigned long long)id);
            my_ctx = 0;
            c->id = 0;
        } else if (c->state == CTX_RUNNING) {
            REC_FAIL("fiber %llx destroyed while running", (unsigned long long)id);
        }
        c->state = CTX_NONE;
    }
    pthread_mutex_unlock(&rec_lock);
}

static void on_switch_begin(uint64_t from, uint64_t to, const char *to_name, void *user)
{
    (void)user;
    pthread_mutex_lock(&rec_lock);
    switches++;
    ctx_rec *f = ctx_of(from, false), *t = ctx_of(to, false);
    if (from != my_ctx)
        REC_FAIL("switch from %llx on a thread running %llx", (unsigned long long)from, (unsigned long long)my_ctx);
    if (!f || f->state != CTX_RUNNING)
        REC_FAIL("switch from %llx, which is not running", (unsigned long long)from);
    if (!t || (t->state != CTX_FRESH && t->state != CTX_SUSPENDED))
        REC_FAIL("switch to %llx, which is not live or runs elsewhere (state %d)", (unsigned long long)to,
                 t ? t->state : -1);
    if (t && to_name != t->name)
        REC_FAIL("switch to %llx names it '%s'", (unsigned long long)to, to_name ? to_name : "(null)");
    if (f)
        f->state = CTX_SUSPENDED;
    /* A fresh fiber starts without an end; a suspended one ends its switch. */
    if (t && t->state == CTX_FRESH)
        t->state = CTX_RUNNING;
    my_ctx = to;
    pthread_mutex_unlock(&rec_lock);
}

static void on_switch_end(uint64_t id, void *user)
{
    (void)user;
    pthread_mutex_lock(&rec_lock);
    ctx_rec *c = ctx_of(id, false);
    if (id != my_ctx)
        REC_FAIL("switch_end(%llx) on a thread switched to %llx", (unsigned long long)id, (unsigned long long)my_ctx);
    if (!c || c->state != CTX_SUSPENDED)
        REC_FAIL("switch_end(%llx) of a context that made no begin", (unsigned long long)id);
    else
        c->state = CTX_RUNNING;
    pthread_mutex_unlock(&rec_lock);
}

static uint64_t on_job_begin(const char *name, void *user)
{
    (void)user;
    pthread_mutex_lock(&rec_lock);
    uint64_t token = next_token++;
    begins++;
    ctx_rec *c = ctx_of(my_ctx, false);
    if (!c || is_thread_ctx(my_ctx) || c->state != CTX_RUNNING)
        REC_FAIL("job '%s' begins on context %llx, not a running fiber", name, (unsigned long long)my_ctx);
    else if (c->depth == MAX_DEPTH)
        REC_FAIL("jobs nest deeper than %d", MAX_DEPTH);
    else {
        c->jobs[c->depth] = token;
        c->job_names[c->depth++] = name;
    }
    const char *current = fj_current_job_name();
    if (!name || !current || strcmp(current, name) != 0)
        REC_FAIL("job_begin('%s') while fj_current_job_name is '%s'", name ? name : "(null)",
                 current ? current : "(null)");
    pthread_mutex_unlock(&rec_lock);
    return token;
}

static void on_job_end(const char *name, uint64_t token, int panicked, void *user)
{
    (void)user;
    pthread_mutex_lock(&rec_lock);
    ends++;
    panicked_ends += panicked != 0;
    ctx_rec *c = ctx_of(my_ctx, false);
    if (!c || !c->depth || c->jobs[c->depth - 1] != token)
        REC_FAIL("job '%s' (token %llu) ends on fiber %llx, which it did not begin on last",
                 name, (unsigned long long)token, (unsigned long long)my_ctx);
    else if (strcmp(c->job_names[c->depth - 1], name) != 0)
        REC_FAIL("job '%s' ends as '%s'", c->job_names[c->depth - 1], name);
    else
        c->depth--;
    pthread_mutex_unlock(&rec_lock);
}

static fj_hooks recording_hooks(void)
{
    return (fj_hooks){ .worker_start = on_worker_start, .worker_stop = on_worker_stop,
                       .job_begin = on_job_begin, .job_end = on_job_end,
                       .fiber_create = on_fiber_create, .fiber_destroy = on_fiber_destroy,
                       .fiber_switch_begin = on_switch_begin, .fiber_switch_end = on_switch_end };
}

/* ------------------------------------------------------------ the workload */

#define MIDS 64
#define LEAVES 16
static int leaves_run;

static void quiet_panic(const fj_panic_info *info, void *user)
{
    (void)info;
    (void)user;
}

static void leaf(void *arg)
{
    intptr_t i = (intptr_t)arg;
    T_ADD(&leaves_run, 1);
    if (i % 7 == 3)
        fj_yield();
    if (i % 13 == 5)
        fj_panic("leaf %d panics on purpose", (int)i);
}

static void mid(void *arg)
{
    intptr_t m = (intptr_t)arg;
    fj_job jobs[LEAVES];
    for (int i = 0; i < LEAVES; i++)
        jobs[i] = (fj_job){ .fn = leaf, .arg = (void *)(intptr_t)(m * LEAVES + i), .name = "leaf",
                            .flags = (m & 1) ? FJ_JOB_SHALLOW : 0 };
    fj_counter c;
    fj_counter_init(&c, 0);
    /* In two halves, so some leaves go through the deque one by one and some as a batch. */
    fj_run_jobs(jobs, 4, &c);
    fj_run_jobs(jobs + 4, LEAVES - 4, &c);
    fj_wait(&c, 0);
    if (m % 9 == 2)
        fj_panic("mid %d panics after its wait", (int)m);
}

static void root(void *arg)
{
    (void)arg;
    for (int round = 0; round < 4; round++) {
        fj_job jobs[MIDS];
        for (int m = 0; m < MIDS; m++)
            jobs[m] = (fj_job){ .fn = mid, .arg = (void *)(intptr_t)m, .name = "mid" };
        fj_counter c;
        fj_counter_init(&c, 0);
        fj_run_jobs(jobs, MIDS, &c);
        fj_wait(&c, 0);
    }
}

static void test_recorded(int argc, char **argv)
{
    fj_config cfg = test_config(argc, argv);
    cfg.hooks = recording_hooks();
    cfg.panic_hook = quiet_panic;
    unsigned n = cfg.workers;
    fj_scheduler *s = fj_create(&cfg);
    CHECK(s);
    CHECK_EQ(fj_main(s, root, NULL), 0);
    fj_destroy(s);

    if (errors)
        FAIL_SOFT("%u errors in the hook calls; the first: %s", errors, first_error);
    CHECK_EQ(leaves_run, 4 * MIDS * LEAVES);
    unsigned jobs = 1 + 4 * MIDS * (1 + LEAVES);   /* the root, mids, leaves */
    CHECK_EQ(begins, jobs);
    CHECK_EQ(ends, jobs);
    unsigned leaf_panics = 0, mid_panics = 0;
    for (int i = 0; i < MIDS * LEAVES; i++)
        leaf_panics += i % 13 == 5;
    for (int m = 0; m < MIDS; m++)
        mid_panics += m % 9 == 2;
    CHECK_EQ(panicked_ends, 4 * (leaf_panics + mid_panics));
    CHECK(switches > 0);
    CHECK_EQ(creates, destroys);
    for (unsigned w = 0; w < n && w < 64; w++) {
        CHECK_EQ(starts[w], stops[w]);
        CHECK_EQ(starts[w], w == 0 ? 2 : 1);   /* worker 0: fj_main and fj_destroy's drain */
    }
    for (uint32_t id = 0; id < 65536; id++)
        if (fibers[id].state != CTX_NONE)
            FAIL_SOFT("fiber %u is still live after fj_destroy", (unsigned)id);
}

/* Two schedulers alive at once: their contexts never share an id. */
static void test_two_schedulers(int argc, char **argv)
{
    errors = 0;
    memset(fibers, 0, sizeof fibers);
    memset(threads, 0, sizeof threads);
    fj_config cfg = test_config(argc, argv);
    cfg.hooks = recording_hooks();
    cfg.small_fibers = 8;
    cfg.large_fibers = 2 + cfg.workers;
    unsigned before = pool_creates;
    fj_scheduler *a = fj_create(&cfg);
    fj_scheduler *b = fj_create(&cfg);
    CHECK(a && b);
    CHECK_EQ(pool_creates - before, 2 * (8 + 2 + cfg.workers));   /* and none refused as already live */
    fj_destroy(b);
    fj_destroy(a);
    CHECK_EQ(creates, destroys);
    if (errors)
        FAIL_SOFT("%u errors in the hook calls; the first: %s", errors, first_error);
}

/* Without hooks, worker threads are named too. */
static int names_bad;
static void name_job(void *arg)
{
    (void)arg;
    char name[32] = "", want[32];
    int w = fj_worker_index();
    snprintf(want, sizeof want, "fj-worker-%d", w);
    test_thread_name(name, sizeof name);
    if (w > 0 && strcmp(name, want) != 0)
        T_ADD(&names_bad, 1);
}

static void names_root(void *arg)
{
    (void)arg;
    fj_job jobs[256];
    for (int i = 0; i < 256; i++)
        jobs[i] = (fj_job){ .fn = name_job, .name = "name" };
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs(jobs, 256, &c);
    fj_wait(&c, 0);
}

static void test_thread_names(int argc, char **argv)
{
    fj_config cfg = test_config(argc, argv);
    fj_scheduler *s = fj_create(&cfg);
    CHECK(s);
    CHECK_EQ(fj_main(s, names_root, NULL), 0);
    fj_destroy(s);
    CHECK_EQ(names_bad, 0);
}

/* ------------------------------------------------------------ misuse */

static fj_counter never;
static uint64_t waiting_begin(const char *name, void *user)
{
    (void)name;
    (void)user;
    fj_counter_init(&never, 1);
    fj_wait(&never, 0);
    return 0;
}
static void yielding_start(unsigned worker, void *user)
{
    (void)user;
    if (worker == 0)
        fj_yield();
}
static void panicking_end(const char *name, uint64_t token, int panicked, void *user)
{
    (void)name;
    (void)token;
    (void)panicked;
    (void)user;
    fj_panic("from a hook");
}

static void nothing(void *arg) { (void)arg; }

static void run_with(void *arg)
{
    fj_config cfg = fj_config_default();
    cfg.workers = 1;
    cfg.hooks = *(const fj_hooks *)arg;
    fj_scheduler *s = fj_create(&cfg);
    fj_main(s, nothing, NULL);
    fj_destroy(s);
    exit(0);
}

static void test_misuse(void)
{
    fj_hooks h = { .job_begin = waiting_begin };
    EXPECT_ABORT_LINE(run_with, &h,
                      "fiberjob: fj_wait: called inside the job_begin hook: a hook must not wait, yield or panic "
                      "(in job 'fj_main root' on worker 0)");
    h = (fj_hooks){ .worker_start = yielding_start };
    EXPECT_ABORT_LINE(run_with, &h,
                      "fiberjob: fj_yield: called inside the worker_start hook: a hook must not wait, yield or "
                      "panic (on worker 0)");
    h = (fj_hooks){ .job_end = panicking_end };
    EXPECT_ABORT_CONTAINS(run_with, &h,
                          "fiberjob: fj_panic: called inside the job_end hook: a hook must not wait, yield or panic");
}

int main(int argc, char **argv)
{
    test_misuse();   /* first: forks, so no scheduler may exist yet */
    test_recorded(argc, argv);
    test_two_schedulers(argc, argv);
    test_thread_names(argc, argv);
    return test_finish();
}
