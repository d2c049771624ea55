/*
 * Batches (src/batch.c): fj_run_jobs from inside a job with
 * FJ_BATCH_MIN (8) or more consecutive jobs of one priority and no flags
 * queues one deque entry per batch of up to FJ_BATCH_MAX (256) jobs; whoever
 * takes the entry runs the range as a private chunk, splitting it when
 * another worker is idle. These tests check the behaviour that must not
 * change because of that:
 *
 *   1. exactly once: every job runs once with its own arg and name, for run
 *      lengths around FJ_BATCH_MIN and FJ_BATCH_MAX, at each priority, from
 *      the root (large fiber) and from a job on a small fiber; the caller's
 *      array may be overwritten as soon as fj_run_jobs returns;
 *  1b. uniform batches (one function and one name: only the args are kept),
 *      and batches where the first or the last job differs by name or by
 *      function, NULL names included;
 *   2. many batches outstanding (200 calls of 300 jobs before a wait), with
 *      a counter per call: each counter reaches zero only when its own jobs
 *      have all run (no job counted on the wrong counter);
 *   3. mixed priorities and flags in one call (a large-stack job disables
 *      batching for its run, and really runs on a large stack: it touches
 *      256 KiB of stack with small stacks of 16 KiB);
 *   4. on one worker (only with worker count 1), priorities: high before
 *      normal before low, whether the waiting job or the worker loop picks
 *      the jobs, and also when higher jobs are queued while a lower batch is
 *      half done (the open chunk goes back behind them);
 *   5. a job waiting on a later job of its own batch (and of the next batch
 *      of the same call, and on an earlier call's batch) completes, also on
 *      one worker with a fiber pool too small for every waiter;
 *   6. three levels of nested batches, each parent waiting;
 *   7. panics in batch jobs: the counter reaches zero and counts them;
 *   8. yields in batch jobs; on one worker, a batch job that yields resumes
 *      only after the rest of its batch ran;
 *   9. fire-and-forget batches (NULL counter) all run by fj_destroy (fj_main
 *      may return while worker 0 holds part of a batch); hand-managed
 *      counting;
 *  10. misuse: a NULL function or a bad priority inside a batch-sized run
 *      stops the process with the line naming that job (by its index in the
 *      whole call); when the call is one run, no job of it runs first;
 *  11. fj_stats counts every batch job exactly (counts are exact once quiet);
 *  12. batch jobs adding more batches to the counter their parent waits on;
 *  13. fj_wait with a target above zero on batches (on one worker it runs
 *      exactly the jobs the target needs, and returns);
 *  14. jobs slow enough for idle workers to steal parts of a running batch
 *      (repeated lazy splitting, batches freed by other workers).
 *
 * Each part runs in a child process with its own scheduler, so a hang or a
 * crash in one is reported with its name and the others still run.
 */
#include "test.h"

enum { MAXJ = 60000 };

static unsigned nworkers;
static int hits[MAXJ];
static fj_job jobs[MAXJ];
static int bad_name, bad_worker, poisoned_ran;

/* Job names cycle through these; index 7 leaves the name NULL. */
static const char *const NAMES[8] = { "batch-a", "batch-b", "batch-c", "batch-d",
                                      "batch-e", "batch-f", "batch-g", NULL };

static const char *expected_name(size_t i)
{
    const char *n = NAMES[i % 8];
    return n ? n : "(unnamed)";
}

static fj_scheduler *make_sched(const fj_config *cfg)
{
    fj_scheduler *s = fj_create(cfg);
    if (!s) {
        fprintf(stderr, "fj_create failed: %s\n", fj_strerror(fj_last_error()));
        exit(1);
    }
    return s;
}

static fj_config base_config(void)
{
    fj_config c = fj_config_default();
    c.workers = nworkers;
    return c;
}

/* Check the calling job's name and worker against what job i should see. */
static void check_job_identity(size_t i)
{
    const char *nm = fj_current_job_name();
    if (!nm || strcmp(nm, expected_name(i)) != 0)
        T_ADD(&bad_name, 1);
    int w = fj_worker_index();
    if (w < 0 || w >= (int)nworkers)
        T_ADD(&bad_worker, 1);
}

/* The plain job: arg is &hits[i]. */
static void hit(void *arg)
{
    int *h = arg;
    size_t i = (size_t)(h - hits);
    if (i >= MAXJ) {
        fprintf(stderr, "hit: arg %p is not in hits[]\n", arg);
        exit(1);
    }
    check_job_identity(i);
    T_ADD(h, 1);
}

static void poisoned(void *arg)
{
    (void)arg;
    T_ADD(&poisoned_ran, 1);
}

/* js[k] runs fn on &hits[first + k], named after first + k. */
static void fill(fj_job *js, size_t first, size_t n, fj_priority p, fj_job_fn fn)
{
    for (size_t k = 0; k < n; k++)
        js[k] = (fj_job){ .fn = fn, .arg = &hits[first + k], .name = NAMES[(first + k) % 8], .priority = p };
}

static const char *prio_text(int p)
{
    return p == FJ_PRIORITY_HIGH ? "high" : p == FJ_PRIORITY_LOW ? "low" : "normal";
}

/* hits[0..n) must be 1 and the rest 0; no job saw a wrong name or worker and
 * no overwritten job ran. Resets everything. Only while nothing runs. */
static void expect_once(size_t n, const char *what)
{
    size_t bad = 0;
    for (size_t i = 0; i < MAXJ; i++) {
        int want = i < n ? 1 : 0;
        int got = T_LOAD(&hits[i]);
        if (got != want) {
            if (bad < 10)
                fprintf(stderr, "%s: job %zu ran %d times, expected %d\n", what, i, got, want);
            bad++;
        }
    }
    if (bad)
        FAIL_SOFT("%s: %zu of %zu jobs ran a wrong number of times", what, bad, n);
    if (T_LOAD(&bad_name))
        FAIL_SOFT("%s: %d jobs saw a wrong fj_current_job_name()", what, T_LOAD(&bad_name));
    if (T_LOAD(&bad_worker))
        FAIL_SOFT("%s: %d jobs saw a wrong fj_worker_index()", what, T_LOAD(&bad_worker));
    if (T_LOAD(&poisoned_ran))
        FAIL_SOFT("%s: %d jobs ran from the caller's array after fj_run_jobs returned (not copied)", what,
                  T_LOAD(&poisoned_ran));
    memset(hits, 0, sizeof hits);
    T_STORE(&bad_name, 0);
    T_STORE(&bad_worker, 0);
    T_STORE(&poisoned_ran, 0);
}

/* hits[first..first+n) are all 1 now (while other jobs may still run). */
static bool range_done(size_t first, size_t n)
{
    for (size_t i = first; i < first + n; i++)
        if (T_LOAD(&hits[i]) != 1)
            return false;
    return true;
}

/* Run fn as a job on a small fiber and wait for it: counted by hand on a
 * counter of its own, so the waiting root does not run it inline on its
 * own (large) stack. */
static fj_counter submitted;

typedef struct thunk {
    void (*fn)(void);
} thunk;

static void submitted_job(void *arg)
{
    const thunk *t = arg;
    t->fn();
    fj_counter_done(&submitted, 1);
}

static void run_on_small_fiber(void (*fn)(void))
{
    thunk t = { fn };
    fj_counter_init(&submitted, 0);
    fj_counter_add(&submitted, 1);
    fj_job j = { .fn = submitted_job, .arg = &t, .name = "submitter" };
    fj_run_jobs(&j, 1, NULL);
    fj_wait(&submitted, 0);
}

/* ------------------------------------------------------------ 1. exactly once */

static const size_t SIZES[] = { 1,  2,  3,  4,  5,  6,  7,  8,   9,   10,  11,  12,   13,  14,  15,
                                16, 17, 18, 19, 20, 255, 256, 257, 511, 512, 513, 1000, 5000 };

static void once_sizes(const char *where)
{
    for (size_t si = 0; si < sizeof SIZES / sizeof SIZES[0]; si++) {
        for (int p = 0; p < 3; p++) {
            size_t n = SIZES[si];
            fill(jobs, 0, n, (fj_priority)p, hit);
            fj_counter c;
            fj_counter_init(&c, 0);
            fj_run_jobs(jobs, n, &c);
            /* The jobs were copied: overwriting the array must not matter. */
            for (size_t k = 0; k < n; k++)
                jobs[k] = (fj_job){ .fn = poisoned, .name = "poisoned", .priority = (fj_priority)p };
            fj_wait(&c, 0);
            CHECK_EQ(fj_counter_value(&c), 0);
            CHECK_EQ(fj_counter_panics(&c), 0);
            char what[96];
            snprintf(what, sizeof what, "exactly once (%s): %zu %s jobs", where, n, prio_text(p));
            expect_once(n, what);
        }
    }
}

static void once_from_job(void) { once_sizes("from a job"); }

static void once_root(void *arg)
{
    (void)arg;
    once_sizes("from the root");
    /* The same from a job on a small fiber. */
    run_on_small_fiber(once_from_job);
}

static void part_exactly_once(void)
{
    fj_config cfg = base_config();
    fj_scheduler *s = make_sched(&cfg);
    for (int round = 0; round < 4; round++)
        CHECK_EQ(fj_main(s, once_root, NULL), 0);
    fj_destroy(s);
}

/* ------------------------------------------------------------ 1b. uniform batches */

/* A batch whose jobs all share a function and a name keeps only their args
 * (batch.c, fj__batch): every job must still run once with its own arg, its
 * name and its function, and a batch where one job differs (first, last, by
 * name or by function) must keep that job's own. */
/* The jobs of one function and name where something else changes halfway
 * (the priority, FJ_JOB_SHALLOW, one FJ_JOB_LARGE_STACK job) are checked
 * and batched one pass (batch.c, fj__push_uniform) up to that job, and go
 * the general way from it: each must still run once, and the large-stack
 * job on a large stack. */
enum { UNI_ALL, UNI_LAST_NAME, UNI_LAST_FN, UNI_FIRST_NAME, UNI_NULL_NAME, UNI_PRIO_HALF, UNI_SHALLOW_HALF,
       UNI_LARGE_MID, UNI_MODES };
static void touch_stack(void);
static int uni_large_ran;
static int uni_hits[MAXJ], uni_odd_fn[MAXJ];
static int uni_bad;
static int uni_mode;
static size_t uni_n;

static const char *uni_name(size_t i)
{
    switch (uni_mode) {
    case UNI_LAST_NAME: return i == uni_n - 1 ? "odd-name" : "uniform";
    case UNI_FIRST_NAME: return i == 0 ? "odd-name" : "uniform";
    case UNI_NULL_NAME: return NULL;
    default: return "uniform";
    }
}

static void uni_check(void *arg, bool odd_fn)
{
    int *h = arg;
    size_t i = (size_t)(h - uni_hits);
    if (i >= MAXJ) {
        fprintf(stderr, "uniform: arg %p is not in uni_hits[]\n", arg);
        exit(1);
    }
    const char *want = uni_name(i) ? uni_name(i) : "(unnamed)";
    const char *nm = fj_current_job_name();
    bool want_odd = uni_mode == UNI_LAST_FN && i == uni_n - 1;
    if (!nm || strcmp(nm, want) != 0 || odd_fn != want_odd)
        T_ADD(&uni_bad, 1);
    if (odd_fn)
        T_ADD(&uni_odd_fn[i], 1);
    if (uni_mode == UNI_LARGE_MID && i == uni_n / 2) {
        touch_stack();
        T_ADD(&uni_large_ran, 1);
    }
    T_ADD(h, 1);
}

static void uni_job(void *arg) { uni_check(arg, false); }
static void uni_job_odd(void *arg) { uni_check(arg, true); }

static void uniform_root(void *arg)
{
    (void)arg;
    static const size_t sizes[] = { 8, 9, 255, 256, 257, 1000, 5000 };
    for (int mode = 0; mode < UNI_MODES; mode++) {
        for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
            size_t n = sizes[si];
            uni_mode = mode;
            uni_n = n;
            for (size_t i = 0; i < n; i++) {
                T_STORE(&uni_hits[i], 0);
                T_STORE(&uni_odd_fn[i], 0);
                bool odd = mode == UNI_LAST_FN && i == n - 1;
                jobs[i] = (fj_job){ .fn = odd ? uni_job_odd : uni_job, .arg = &uni_hits[i], .name = uni_name(i) };
                if (mode == UNI_PRIO_HALF && i >= n / 2)
                    jobs[i].priority = FJ_PRIORITY_HIGH;
                if (mode == UNI_SHALLOW_HALF && i < n / 2)
                    jobs[i].flags = FJ_JOB_SHALLOW;
                if (mode == UNI_LARGE_MID && i == n / 2)
                    jobs[i].flags = FJ_JOB_LARGE_STACK;
            }
            T_STORE(&uni_large_ran, 0);
            fj_counter c;
            fj_counter_init(&c, 0);
            fj_run_jobs(jobs, n, &c);
            for (size_t i = 0; i < n; i++)
                jobs[i] = (fj_job){ .fn = poisoned, .name = "poisoned" };
            fj_wait(&c, 0);
            size_t wrong = 0;
            for (size_t i = 0; i < n; i++)
                wrong += T_LOAD(&uni_hits[i]) != 1;
            if (wrong || T_LOAD(&uni_bad) || T_LOAD(&poisoned_ran))
                FAIL_SOFT("uniform batches, mode %d, %zu jobs: %zu not run exactly once, %d with the wrong name or "
                          "function, %d poisoned", mode, n, wrong, T_LOAD(&uni_bad), T_LOAD(&poisoned_ran));
            if (mode == UNI_LARGE_MID && T_LOAD(&uni_large_ran) != 1)
                FAIL_SOFT("uniform batches: the large-stack job ran %d times (%zu jobs)", T_LOAD(&uni_large_ran), n);
            if (mode == UNI_LAST_FN && T_LOAD(&uni_odd_fn[n - 1]) != 1)
                FAIL_SOFT("uniform batches: the last job's own function did not run (%zu jobs)", n);
            T_STORE(&uni_bad, 0);
        }
    }
}

static void part_uniform(void)
{
    fj_config cfg = base_config();
    /* Small fibers the large-stack job's 256 KiB would overflow. */
    cfg.small_stack_size = 16 * 1024;
    cfg.large_stack_size = 1024 * 1024;
    fj_scheduler *s = make_sched(&cfg);
    /* Twice: the second time every worker has spare batches (a worker with
     * none queues a few jobs one by one instead). */
    for (int round = 0; round < 2; round++)
        CHECK_EQ(fj_main(s, uniform_root, NULL), 0);
    fj_destroy(s);
}

/* ------------------------------------------------------------ 2. many outstanding */

enum { CALLS = 200, PER_CALL = 300 };
static fj_counter call_c[CALLS];

static void outstanding_root(void *arg)
{
    (void)arg;
    for (int round = 0; round < 8; round++) {
        fj_counter shared;
        fj_counter_init(&shared, 0);
        /* Even calls share one counter, odd calls have their own. */
        for (int k = 0; k < CALLS; k++) {
            fj_counter *c = &shared;
            if (k % 2) {
                c = &call_c[k];
                fj_counter_init(c, 0);
            }
            fill(jobs + (size_t)k * PER_CALL, (size_t)k * PER_CALL, PER_CALL, (fj_priority)(k % 3), hit);
            fj_run_jobs(jobs + (size_t)k * PER_CALL, PER_CALL, c);
        }
        /* Wait on the own counters, in push order or in reverse: when one is
         * zero, every job of its call has run. */
        for (int i = 0; i < CALLS / 2; i++) {
            int k = round % 2 ? 2 * i + 1 : CALLS - 1 - 2 * i;
            fj_wait(&call_c[k], 0);
            CHECK_EQ(fj_counter_value(&call_c[k]), 0);
            if (!range_done((size_t)k * PER_CALL, PER_CALL))
                FAIL_SOFT("many outstanding, round %d: the counter of call %d reached zero before all its "
                          "jobs ran",
                          round, k);
        }
        fj_wait(&shared, 0);
        CHECK_EQ(fj_counter_value(&shared), 0);
        char what[64];
        snprintf(what, sizeof what, "many outstanding, round %d", round);
        expect_once((size_t)CALLS * PER_CALL, what);
    }
}

static void part_many_outstanding(void)
{
    fj_config cfg = base_config();
    fj_scheduler *s = make_sched(&cfg);
    /* The batches made in the first fj_main are reused in the second. */
    for (int i = 0; i < 2; i++)
        CHECK_EQ(fj_main(s, outstanding_root, NULL), 0);
    fj_destroy(s);
}

/* ------------------------------------------------------------ 3. mixed priorities and flags */

static int large_ran;

/* Touches 256 KiB of stack, page by page from the top, so that on a 16 KiB
 * small fiber (64 KiB in sanitizer builds) it hits the guard page. */
static __attribute__((noinline)) void touch_stack(void)
{
    volatile char buf[256 * 1024];
    for (size_t i = sizeof buf; i >= 4096; i -= 4096)
        buf[i - 1] = (char)i;
    buf[0] = 1;
}

static void large_hit(void *arg)
{
    touch_stack();
    T_ADD(&large_ran, 1);
    hit(arg);
}

typedef struct run_spec {
    fj_priority p;
    int len;
    int large_at; /* index in the run of a FJ_JOB_LARGE_STACK job, -1 for none */
} run_spec;

static const run_spec MIXED[] = {
    { FJ_PRIORITY_HIGH, 10, -1 },  { FJ_PRIORITY_NORMAL, 3, -1 }, { FJ_PRIORITY_LOW, 50, -1 },
    { FJ_PRIORITY_HIGH, 9, -1 },   { FJ_PRIORITY_NORMAL, 8, -1 }, { FJ_PRIORITY_LOW, 7, -1 },
    { FJ_PRIORITY_HIGH, 1, -1 },   { FJ_PRIORITY_NORMAL, 20, 10 }, { FJ_PRIORITY_LOW, 256, -1 },
    { FJ_PRIORITY_NORMAL, 257, -1 }, { FJ_PRIORITY_HIGH, 8, 0 },  { FJ_PRIORITY_LOW, 300, 299 },
    { FJ_PRIORITY_HIGH, 8, -1 },   { FJ_PRIORITY_LOW, 1, -1 },    { FJ_PRIORITY_NORMAL, 513, -1 },
    { FJ_PRIORITY_HIGH, 2, -1 },   { FJ_PRIORITY_LOW, 9, 4 },     { FJ_PRIORITY_NORMAL, 8, -1 },
};

static size_t fill_mixed(int *nlarge)
{
    size_t n = 0;
    *nlarge = 0;
    for (size_t r = 0; r < sizeof MIXED / sizeof MIXED[0]; r++) {
        fill(jobs + n, n, (size_t)MIXED[r].len, MIXED[r].p, hit);
        if (MIXED[r].large_at >= 0) {
            fj_job *j = &jobs[n + (size_t)MIXED[r].large_at];
            j->fn = large_hit;
            j->flags = FJ_JOB_LARGE_STACK;
            ++*nlarge;
        }
        n += (size_t)MIXED[r].len;
    }
    return n;
}

static void mixed_once(const char *where)
{
    for (int round = 0; round < 10; round++) {
        int nlarge;
        size_t n = fill_mixed(&nlarge);
        fj_counter c;
        fj_counter_init(&c, 0);
        T_STORE(&large_ran, 0);
        fj_run_jobs(jobs, n, &c);
        fj_wait(&c, 0);
        CHECK_EQ(fj_counter_value(&c), 0);
        if (T_LOAD(&large_ran) != nlarge)
            FAIL_SOFT("mixed (%s): %d large-stack jobs ran, expected %d", where, T_LOAD(&large_ran), nlarge);
        char what[64];
        snprintf(what, sizeof what, "mixed priorities and flags (%s), round %d", where, round);
        expect_once(n, what);
    }
}

static void mixed_from_job(void) { mixed_once("from a job"); }

static void mixed_root(void *arg)
{
    (void)arg;
    mixed_once("from the root");
    /* From a job on a 16 KiB fiber, which cannot run children inline: the
     * large-stack jobs must still get large fibers. */
    run_on_small_fiber(mixed_from_job);
}

static void part_mixed(void)
{
    fj_config cfg = base_config();
    cfg.small_stack_size = 16 * 1024;
    cfg.large_stack_size = 1024 * 1024;
    fj_scheduler *s = make_sched(&cfg);
    CHECK_EQ(fj_main(s, mixed_root, NULL), 0);
    fj_destroy(s);
}

/* ------------------------------------------------------------ 4. priorities on one worker */

enum { MAXORDER = 512 };
static int order[MAXORDER];
static int nran;

static int rank_of(fj_priority p) { return p == FJ_PRIORITY_HIGH ? 0 : p == FJ_PRIORITY_NORMAL ? 1 : 2; }

static void record(void *arg)
{
    int k = T_ADD(&nran, 1);
    if (k < MAXORDER)
        order[k] = (int)(intptr_t)arg;
}

/* Ranks order[from..nran) never decrease; nran must be expect. Resets. */
static void check_order(const char *how, int from, int expect)
{
    int n = T_LOAD(&nran);
    if (n != expect)
        FAIL_SOFT("priority, %s: %d jobs ran, expected %d", how, n, expect);
    for (int i = from + 1; i < n && i < MAXORDER; i++) {
        if (order[i] < order[i - 1]) {
            fprintf(stderr, "priority, %s: job %d ran with rank %d after one of rank %d (0 high, 1 normal, 2 low):",
                    how, i, order[i], order[i - 1]);
            for (int k = 0; k < n && k < MAXORDER; k++)
                fprintf(stderr, " %d", order[k]);
            fprintf(stderr, "\n");
            FAIL_SOFT("priority, %s: out of order", how);
            break;
        }
    }
    T_STORE(&nran, 0);
}

static int add_run(fj_job *js, int at, fj_priority p, int len)
{
    for (int i = 0; i < len; i++)
        js[at + i] = (fj_job){ .fn = record, .arg = (void *)(intptr_t)rank_of(p), .name = "prio", .priority = p };
    return at + len;
}

static fj_counter *pusher_counter;
static int pusher_at;

/* Records itself (low), then queues 20 high and 10 normal jobs on
 * pusher_counter (NULL: none) while the rest of its own batch is queued. */
static void pusher(void *arg)
{
    (void)arg;
    int k = T_ADD(&nran, 1);
    if (k < MAXORDER)
        order[k] = 2;
    T_STORE(&pusher_at, k);
    fj_job js[30];
    int n = add_run(js, 0, FJ_PRIORITY_HIGH, 20);
    n = add_run(js, n, FJ_PRIORITY_NORMAL, 10);
    fj_run_jobs(js, (size_t)n, pusher_counter);
}

static void stop_job(void *arg) { record(arg); }

static void prio_root(void *arg)
{
    (void)arg;
    fj_job js[MAXORDER];
    fj_counter c, d;
    fj_counter_init(&c, 0);
    fj_counter_init(&d, 0);

    for (int rep = 0; rep < 10; rep++) {
        /* a. One call, 20 low then 20 high; the root waits. */
        int n = add_run(js, 0, FJ_PRIORITY_LOW, 20);
        n = add_run(js, n, FJ_PRIORITY_HIGH, 20);
        fj_run_jobs(js, (size_t)n, &c);
        fj_wait(&c, 0);
        check_order("20 low then 20 high in one call, wait", 0, n);

        /* b. Runs of each priority, lowest first, three times over (with
         * runs above FJ_BATCH_MAX). */
        n = 0;
        for (int k = 0; k < 3; k++) {
            n = add_run(js, n, FJ_PRIORITY_LOW, k == 1 ? 260 : 10);
            n = add_run(js, n, FJ_PRIORITY_NORMAL, 10 + k);
            n = add_run(js, n, FJ_PRIORITY_HIGH, k == 2 ? 9 : 8);
        }
        fj_run_jobs(js, (size_t)n, &c);
        fj_wait(&c, 0);
        check_order("runs low/normal/high, one call, wait", 0, n);

        /* c. A call per run, lowest first; the root yields, so the worker
         * loop picks them (it may resume the root early; the wait then runs
         * the rest, in order too). */
        n = add_run(js, 0, FJ_PRIORITY_LOW, 257);
        fj_run_jobs(js, (size_t)n, &c);
        int m = add_run(js, 0, FJ_PRIORITY_NORMAL, 30);
        fj_run_jobs(js, (size_t)m, &c);
        int h = add_run(js, 0, FJ_PRIORITY_HIGH, 12);
        fj_run_jobs(js, (size_t)h, &c);
        fj_yield();
        fj_wait(&c, 0);
        check_order("a call per run, yield", 0, n + m + h);

        /* d. No counter; the root waits on an unrelated counter whose one
         * low job was queued first, so everything else runs before it. */
        fj_job stop = { .fn = stop_job, .arg = (void *)(intptr_t)2, .name = "stop", .priority = FJ_PRIORITY_LOW };
        fj_run_jobs(&stop, 1, &d);
        n = 0;
        for (int k = 0; k < 2; k++) {
            n = add_run(js, n, FJ_PRIORITY_LOW, 10);
            n = add_run(js, n, FJ_PRIORITY_NORMAL, 10);
            n = add_run(js, n, FJ_PRIORITY_HIGH, 10);
        }
        fj_run_jobs(js, (size_t)n, NULL);
        fj_wait(&d, 0);
        fj_yield();
        check_order("no counter, wait on another", 0, n + 1);

        /* e. A low batch is open when one of its jobs queues high and normal
         * jobs (no counter): the worker loop runs those before the rest of
         * the low batch. */
        pusher_counter = NULL;
        fj_run_jobs(&stop, 1, &d);
        n = add_run(js, 0, FJ_PRIORITY_LOW, 20);
        js[0] = (fj_job){ .fn = pusher, .name = "pusher", .priority = FJ_PRIORITY_LOW };
        fj_run_jobs(js, (size_t)n, NULL);
        fj_wait(&d, 0);
        fj_yield();
        check_order("higher jobs queued by a job of an open low batch, worker loop", T_LOAD(&pusher_at) + 1,
                    n + 30 + 1);

        /* f. The same on the counter the root waits on: the waiting root's
         * inline loop runs them before the rest of the low batch. */
        pusher_counter = &c;
        n = add_run(js, 0, FJ_PRIORITY_LOW, 20);
        js[0] = (fj_job){ .fn = pusher, .name = "pusher", .priority = FJ_PRIORITY_LOW };
        fj_run_jobs(js, (size_t)n, &c);
        fj_wait(&c, 0);
        check_order("higher jobs queued by a job of an open low batch, waiting root", T_LOAD(&pusher_at) + 1,
                    n + 30);
    }
}

static void part_priority(void)
{
    if (nworkers != 1)
        return;   /* an order holds only on one worker */
    fj_config cfg = base_config();
    fj_scheduler *s = make_sched(&cfg);
    CHECK_EQ(fj_worker_count(s), 1);
    for (int i = 0; i < 5; i++)
        CHECK_EQ(fj_main(s, prio_root, NULL), 0);
    fj_destroy(s);
}

/* ------------------------------------------------------------ 5. waiting on a later job */

enum { MAXPAIRS = 256 };
static fj_counter pair_c[MAXPAIRS];
static int partner_ran[MAXPAIRS];
static int waited_too_early;
static int pair_first, pair_dist;

/* arg: the job's index i in the call; it waits for pair i - pair_first. */
static void pair_waiter(void *arg)
{
    int i = (int)(intptr_t)arg;
    int k = i - pair_first;
    fj_wait(&pair_c[k], 0);
    if (!T_LOAD(&partner_ran[k]))
        T_ADD(&waited_too_early, 1);
    T_ADD(&hits[i], 1);
}

/* arg: the job's index i in the call; it finishes pair i - pair_first - pair_dist. */
static void pair_partner(void *arg)
{
    int i = (int)(intptr_t)arg;
    int k = i - pair_first - pair_dist;
    T_STORE(&partner_ran[k], 1);
    T_ADD(&hits[i], 1);
    fj_counter_done(&pair_c[k], 1);
}

/* n jobs in one call; for each pair k < npairs, job first + k waits (on a
 * hand-managed count) for job first + k + dist. The other jobs just count. */
static void run_pairs(int n, int first, int npairs, int dist, fj_priority p, const char *what)
{
    CHECK(first + npairs + dist <= n && npairs <= MAXPAIRS && dist >= npairs && n <= MAXJ);
    pair_first = first;
    pair_dist = dist;
    fill(jobs, 0, (size_t)n, p, hit);
    for (int k = 0; k < npairs; k++) {
        fj_counter_init(&pair_c[k], 0);
        fj_counter_add(&pair_c[k], 1);
        T_STORE(&partner_ran[k], 0);
        int w = first + k, q = first + k + dist;
        jobs[w] = (fj_job){ .fn = pair_waiter, .arg = (void *)(intptr_t)w, .name = "waiter", .priority = p };
        jobs[q] = (fj_job){ .fn = pair_partner, .arg = (void *)(intptr_t)q, .name = "partner", .priority = p };
    }
    fj_counter c;
    fj_counter_init(&c, 0);
    T_STORE(&waited_too_early, 0);
    fj_run_jobs(jobs, (size_t)n, &c);
    fj_wait(&c, 0);
    CHECK_EQ(fj_counter_value(&c), 0);
    for (int k = 0; k < npairs; k++)
        CHECK_EQ(fj_counter_value(&pair_c[k]), 0);
    if (T_LOAD(&waited_too_early))
        FAIL_SOFT("%s: %d waiters returned before their partner ran", what, T_LOAD(&waited_too_early));
    expect_once((size_t)n, what);
}

/* Cross-wait: a job of a later call waits on the counter of an earlier call
 * whose batch is queued below it. */
static fj_counter cross_b;
static int cross_bad;

static void cross_waiter(void *arg)
{
    fj_wait(&cross_b, 0);
    if (!range_done(0, 64))
        T_ADD(&cross_bad, 1);
    T_ADD((int *)arg, 1);
}

static void pairs_root(void *arg)
{
    (void)arg;
    for (int round = 0; round < 60; round++) {
        fj_priority p = (fj_priority)(round % 3);
        run_pairs(64, 0, 32, 32, p, "job i < 32 of 64 waits on job i + 32");
        run_pairs(200, 0, 100, 100, p, "job i < 100 of 200 waits on job i + 100");
        /* Batches of one call are 256 + 44 jobs: 212..255 wait on 256..299. */
        run_pairs(300, 212, 44, 44, p, "jobs 212..255 of 300 wait on jobs 256..299 (next batch)");

        /* Cross-wait: B (64 jobs, counter cross_b) then A (64 jobs), every
         * eighth job of A waits on cross_b and then sees all of B done. */
        fj_counter a;
        fj_counter_init(&a, 0);
        fj_counter_init(&cross_b, 0);
        T_STORE(&cross_bad, 0);
        fill(jobs, 0, 128, p, hit);
        for (int k = 64; k < 128; k += 8)
            jobs[k] = (fj_job){ .fn = cross_waiter, .arg = &hits[k], .name = NAMES[k % 8], .priority = p };
        fj_run_jobs(jobs, 64, &cross_b);
        fj_run_jobs(jobs + 64, 64, &a);
        fj_wait(&a, 0);
        fj_wait(&cross_b, 0);
        if (T_LOAD(&cross_bad))
            FAIL_SOFT("cross-wait: %d jobs saw counter B at zero before its jobs all ran", T_LOAD(&cross_bad));
        expect_once(128, "cross-wait");
    }
}

static void small_pool_root(void *arg)
{
    (void)arg;
    for (int round = 0; round < 20; round++)
        run_pairs(40, 0, 20, 20, (fj_priority)(round % 3),
                  "small pool, one worker: job i < 20 of 40 waits on job i + 20");
}

static void part_wait_later(void)
{
    fj_config cfg = base_config();
    fj_scheduler *s = make_sched(&cfg);
    CHECK_EQ(fj_main(s, pairs_root, NULL), 0);
    fj_destroy(s);

    /* One worker and fewer fibers than waiters: waiting jobs run the rest
     * of the batch on their own stacks. */
    cfg = fj_config_default();
    cfg.workers = 1;
    cfg.small_fibers = 4;
    cfg.large_fibers = 2;
    s = make_sched(&cfg);
    CHECK_EQ(fj_main(s, small_pool_root, NULL), 0);
    fj_destroy(s);
}

/* ------------------------------------------------------------ 6. nesting */

enum { FAN = 16, L1 = 0, L2 = FAN, L3 = FAN + FAN * FAN, NEST_TOTAL = FAN + FAN * FAN + FAN * FAN * FAN };
static int nest_bad;

static void nest_node(void *arg)
{
    int *h = arg;
    size_t i = (size_t)(h - hits);
    check_job_identity(i);
    T_ADD(h, 1);
    size_t first;
    fj_priority p;
    if (i < L2) {
        first = L2 + (i - L1) * FAN;
        p = FJ_PRIORITY_HIGH;
    } else {
        first = L3 + (i - L2) * FAN;
        p = FJ_PRIORITY_LOW;
    }
    fj_job kids[FAN];
    fill(kids, first, FAN, p, first >= L3 ? hit : nest_node);
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs(kids, FAN, &c);
    fj_wait(&c, 0);
    if (fj_counter_value(&c) != 0 || !range_done(first, FAN))
        T_ADD(&nest_bad, 1);
}

static void nest_root(void *arg)
{
    (void)arg;
    for (int round = 0; round < 50; round++) {
        fill(jobs, L1, FAN, FJ_PRIORITY_NORMAL, nest_node);
        fj_counter c;
        fj_counter_init(&c, 0);
        T_STORE(&nest_bad, 0);
        fj_run_jobs(jobs, FAN, &c);
        fj_wait(&c, 0);
        CHECK_EQ(fj_counter_value(&c), 0);
        if (T_LOAD(&nest_bad))
            FAIL_SOFT("nested: %d parents returned from fj_wait before all their children ran", T_LOAD(&nest_bad));
        expect_once(NEST_TOTAL, "nested batches, 16 x 16 x 16");
    }
}

static void part_nested(void)
{
    fj_config cfg = base_config();
    fj_scheduler *s = make_sched(&cfg);
    CHECK_EQ(fj_main(s, nest_root, NULL), 0);
    fj_destroy(s);
}

/* ------------------------------------------------------------ 7. panics */

static int panic_reports, panic_bad_name, after_panic;

static void panic_hook(const fj_panic_info *info, void *user)
{
    (void)user;
    if (!info->job_name || strcmp(info->job_name, "panicker") != 0 || !info->message ||
        !strstr(info->message, "batch panic"))
        T_ADD(&panic_bad_name, 1);
    T_ADD(&panic_reports, 1);
}

static void panicker(void *arg)
{
    int *h = arg;
    size_t i = (size_t)(h - hits);
    const char *nm = fj_current_job_name();
    if (!nm || strcmp(nm, "panicker") != 0)
        T_ADD(&bad_name, 1);
    T_ADD(h, 1);
    if (i % 11 == 5)
        fj_yield();   /* panic after a switch */
    fj_panic("batch panic %zu", i);
    T_ADD(&after_panic, 1);
}

static void panic_root(void *arg)
{
    (void)arg;
    for (int round = 0; round < 20; round++) {
        size_t n = round % 2 ? 300 : 64;
        fill(jobs, 0, n, (fj_priority)(round % 3), hit);
        int expect = 0;
        for (size_t i = 0; i < n; i++) {
            if (i % 7 == 3 || i % 11 == 5) {
                jobs[i].fn = panicker;
                jobs[i].name = "panicker";
                expect++;
            }
        }
        fj_counter c;
        fj_counter_init(&c, 0);
        T_STORE(&panic_reports, 0);
        fj_run_jobs(jobs, n, &c);
        fj_wait(&c, 0);
        CHECK_EQ(fj_counter_value(&c), 0);
        if ((int)fj_counter_panics(&c) != expect)
            FAIL_SOFT("panics: fj_counter_panics is %u, expected %d", fj_counter_panics(&c), expect);
        if (T_LOAD(&panic_reports) != expect)
            FAIL_SOFT("panics: %d reports, expected %d", T_LOAD(&panic_reports), expect);
        expect_once(n, "panics in batch jobs");
    }
    if (T_LOAD(&after_panic))
        FAIL_SOFT("panics: code after fj_panic ran %d times", T_LOAD(&after_panic));
    if (T_LOAD(&panic_bad_name))
        FAIL_SOFT("panics: %d reports with a wrong job name or message", T_LOAD(&panic_bad_name));
}

static void part_panics(void)
{
    fj_config cfg = base_config();
    cfg.panic_hook = panic_hook;
    fj_scheduler *s = make_sched(&cfg);
    CHECK_EQ(fj_main(s, panic_root, NULL), 0);
    fj_destroy(s);
}

/* ------------------------------------------------------------ 8. yields */

static int yield_bad;

static void yielder(void *arg)
{
    int *h = arg;
    size_t i = (size_t)(h - hits);
    volatile size_t local = i * 3 + 1;
    char marker;
    char *where = &marker;
    check_job_identity(i);
    fj_yield();
    check_job_identity(i);
    fj_yield();
    if (local != i * 3 + 1 || where != &marker)
        T_ADD(&yield_bad, 1);
    check_job_identity(i);
    T_ADD(h, 1);
}

static void yield_root(void *arg)
{
    (void)arg;
    for (int round = 0; round < 20; round++) {
        size_t n = round % 2 ? 500 : 40;
        fill(jobs, 0, n, (fj_priority)(round % 3), hit);
        for (size_t i = 0; i < n; i += 5)
            jobs[i].fn = yielder;
        fj_counter c;
        fj_counter_init(&c, 0);
        fj_run_jobs(jobs, n, &c);
        fj_wait(&c, 0);
        CHECK_EQ(fj_counter_value(&c), 0);
        expect_once(n, "yields in batch jobs");
    }
    if (T_LOAD(&yield_bad))
        FAIL_SOFT("yields: %d jobs resumed with their locals changed or on another stack", T_LOAD(&yield_bad));
}

/* One worker: the first job of a batch to start yields while the rest of
 * the batch is queued (taken as this worker's chunk): it resumes only after
 * they ran, like a yield behind any other queued jobs (tests/core/test_yield.c). */
enum { BEHIND = 9 };
static int behind_started, behind_finished, behind_seen;

static void behind_job(void *arg)
{
    (void)arg;
    if (T_ADD(&behind_started, 1) == 0) {
        fj_yield();
        T_STORE(&behind_seen, T_LOAD(&behind_finished));
    }
    T_ADD(&behind_finished, 1);
}

static void behind_root(void *arg)
{
    (void)arg;
    fj_job js[BEHIND];
    for (int i = 0; i < BEHIND; i++)
        js[i] = (fj_job){ .fn = behind_job, .name = "behind" };
    fj_counter c;
    fj_counter_init(&c, 0);
    T_STORE(&behind_started, 0);
    T_STORE(&behind_finished, 0);
    T_STORE(&behind_seen, -1);
    fj_run_jobs(js, BEHIND, &c);
    fj_wait(&c, 0);
    if (T_LOAD(&behind_seen) != BEHIND - 1)
        FAIL_SOFT("yields: a batch job that yielded resumed when %d of the %d other jobs of its batch had run",
                  T_LOAD(&behind_seen), BEHIND - 1);
}

static void part_yields(void)
{
    fj_config cfg = base_config();
    fj_scheduler *s = make_sched(&cfg);
    CHECK_EQ(fj_main(s, yield_root, NULL), 0);
    fj_destroy(s);
    if (nworkers != 1)
        return;
    /* A fresh scheduler each time, as in tests/core/test_yield.c: a worker also
     * resumes yielded fibers now and then (every so many picks). */
    for (int i = 0; i < 10; i++) {
        s = make_sched(&cfg);
        CHECK_EQ(fj_main(s, behind_root, NULL), 0);
        fj_destroy(s);
    }
}

/* ------------------------------------------------------------ 9. no counter */

static fj_counter hand;

static void hit_done(void *arg)
{
    hit(arg);
    fj_counter_done(&hand, 1);
}

static void hand_root(void *arg)
{
    (void)arg;
    fj_counter_init(&hand, 0);
    fj_counter_add(&hand, 1000);
    fill(jobs, 0, 1000, FJ_PRIORITY_NORMAL, hit_done);
    fj_run_jobs(jobs, 1000, NULL);
    fj_wait(&hand, 0);
}

enum { FF_SPAWNERS = 20, FF_KIDS = 16 };
static const size_t FF_SIZES[] = { 8, 255, 256, 1000 };
static size_t ff_plain, ff_total;

static void ff_spawner(void *arg)
{
    int *h = arg;
    size_t s = (size_t)(h - hits) - ff_plain - FF_SPAWNERS * FF_KIDS;
    hit(arg);
    fj_job kids[FF_KIDS];
    fill(kids, ff_plain + s * FF_KIDS, FF_KIDS, (fj_priority)(s % 3), hit);
    fj_run_jobs(kids, FF_KIDS, NULL);
}

static void ff_root(void *arg)
{
    (void)arg;
    size_t at = 0;
    for (size_t k = 0; k < sizeof FF_SIZES / sizeof FF_SIZES[0]; k++) {
        fill(jobs, at, FF_SIZES[k], (fj_priority)(k % 3), hit);
        fj_run_jobs(jobs, FF_SIZES[k], NULL);
        at += FF_SIZES[k];
        fj_yield();
    }
    /* Spawners after the kids' slots. */
    fill(jobs, ff_plain + FF_SPAWNERS * FF_KIDS, FF_SPAWNERS, FJ_PRIORITY_NORMAL, ff_spawner);
    fj_run_jobs(jobs, FF_SPAWNERS, NULL);
    fj_yield();
    /* Return with jobs still queued (and maybe a batch half done). */
}

static void nothing(void *arg) { (void)arg; }

static void part_no_counter(void)
{
    ff_plain = 0;
    for (size_t k = 0; k < sizeof FF_SIZES / sizeof FF_SIZES[0]; k++)
        ff_plain += FF_SIZES[k];
    ff_total = ff_plain + FF_SPAWNERS * FF_KIDS + FF_SPAWNERS;

    fj_config cfg = base_config();
    fj_scheduler *s = make_sched(&cfg);
    CHECK_EQ(fj_main(s, hand_root, NULL), 0);
    expect_once(1000, "no counter, hand-managed count");
    for (int round = 0; round < 3; round++) {
        CHECK_EQ(fj_main(s, ff_root, NULL), 0);
        /* Another fj_main: the jobs left over may run during it or after. */
        CHECK_EQ(fj_main(s, nothing, NULL), 0);
    }
    fj_destroy(s);
    /* Three rounds on the same slots: every job ran three times. */
    size_t bad = 0;
    for (size_t i = 0; i < MAXJ; i++) {
        int want = i < ff_total ? 3 : 0;
        if (T_LOAD(&hits[i]) != want) {
            if (bad < 10)
                fprintf(stderr, "no counter: job %zu ran %d times, expected %d\n", i, T_LOAD(&hits[i]), want);
            bad++;
        }
    }
    if (bad)
        FAIL_SOFT("no counter: %zu of %zu fire-and-forget jobs ran a wrong number of times by fj_destroy", bad,
                  ff_total);
    if (T_LOAD(&bad_name) || T_LOAD(&bad_worker))
        FAIL_SOFT("no counter: %d wrong names, %d wrong workers", T_LOAD(&bad_name), T_LOAD(&bad_worker));
    memset(hits, 0, sizeof hits);
}

/* ------------------------------------------------------------ 10. misuse */

static void misuse_job(void *arg)
{
    (void)arg;
    static const char msg[] = "test_batch: a job of the bad call ran\n";
    ssize_t r = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)r;
}

static void as_root(fj_job_fn fn)
{
    fj_config cfg = base_config();
    fj_scheduler *s = make_sched(&cfg);
    fj_main(s, fn, NULL);
    fj_destroy(s);
}

static void fill_misuse(fj_job *js, size_t n, fj_priority p)
{
    for (size_t i = 0; i < n; i++)
        js[i] = (fj_job){ .fn = misuse_job, .name = "fine", .priority = p };
}

static void null_fn_root(void *arg)
{
    (void)arg;
    fj_job js[20];
    fill_misuse(js, 20, FJ_PRIORITY_NORMAL);
    js[5] = (fj_job){ .fn = NULL, .name = "null5" };
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs(js, 20, &c);
    fj_wait(&c, 0);
}
static void null_fn_in_batch(void *a) { (void)a; as_root(null_fn_root); }

static void bad_prio_root(void *arg)
{
    (void)arg;
    fj_job js[20];
    fill_misuse(js, 20, FJ_PRIORITY_NORMAL);
    js[9].priority = (fj_priority)7;
    js[9].name = "prio9";
    fj_run_jobs(js, 20, NULL);
    fj_yield();
}
static void bad_prio_in_batch(void *a) { (void)a; as_root(bad_prio_root); }

static void neg_prio_root(void *arg)
{
    (void)arg;
    fj_job js[16];
    fill_misuse(js, 16, FJ_PRIORITY_NORMAL); /* -1 is queued as normal: one run */
    js[12].priority = (fj_priority)-1;
    js[12].name = "neg12";
    fj_run_jobs(js, 16, NULL);
    fj_yield();
}
static void neg_prio_in_batch(void *a) { (void)a; as_root(neg_prio_root); }

static void later_run_root(void *arg)
{
    (void)arg;
    fj_job js[22];
    fill_misuse(js, 10, FJ_PRIORITY_HIGH);
    fill_misuse(js + 10, 12, FJ_PRIORITY_NORMAL);
    js[15] = (fj_job){ .fn = NULL, .name = "null15" };
    fj_run_jobs(js, 22, NULL);
    fj_yield();
}
static void null_fn_later_run(void *a) { (void)a; as_root(later_run_root); }

static void bad_caller(void *arg)
{
    if ((intptr_t)arg != 3)
        return;
    fj_job js[20];
    fill_misuse(js, 20, FJ_PRIORITY_HIGH);
    js[5] = (fj_job){ .fn = NULL, .name = "null5", .priority = FJ_PRIORITY_HIGH };
    fj_run_jobs(js, 20, NULL);
}

static void from_batch_root(void *arg)
{
    (void)arg;
    fj_job js[8];
    for (int i = 0; i < 8; i++)
        js[i] = (fj_job){ .fn = bad_caller, .arg = (void *)(intptr_t)i, .name = "caller" };
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs(js, 8, &c);
    fj_wait(&c, 0);
}
static void null_fn_from_batch_job(void *a) { (void)a; as_root(from_batch_root); }

#define ROOT_SUFFIX " (in job 'fj_main root' on worker 0)"
#define RAN_LINE "test_batch: a job of the bad call ran"

/* The child must die of SIGABRT with the line; with nothing_ran, no job of
 * the bad call may have run (the check comes before anything is queued). */
static void expect_misuse(void (*fn)(void *), const char *line, bool nothing_ran, const char *what)
{
    static child_result r;
    run_in_child(fn, NULL, 20, &r);
    if (!(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGABRT && has_line(r.err, line))) {
        report_child(__FILE__, __LINE__, what, &r, line);
        test_soft_failures++;
        return;
    }
    if (nothing_ran && strstr(r.err, RAN_LINE))
        FAIL_SOFT("%s: a job of the bad call ran before the process stopped; child stderr:\n%s", what, r.err);
}

static void part_misuse(void)
{
    expect_misuse(null_fn_in_batch, "fiberjob: fj_run_jobs: job 5 of 20 ('null5') has a NULL function" ROOT_SUFFIX,
                  true, "NULL function at index 5 of a batch-sized run");
    expect_misuse(bad_prio_in_batch, "fiberjob: fj_run_jobs: job 9 ('prio9') has priority 7, not an fj_priority" ROOT_SUFFIX,
                  true, "priority 7 at index 9 of a batch-sized run");
    expect_misuse(neg_prio_in_batch,
                  "fiberjob: fj_run_jobs: job 12 ('neg12') has priority -1, not an fj_priority" ROOT_SUFFIX, true,
                  "priority -1 at index 12 of a batch-sized run");
    /* An earlier run of the same call may already be queued (and run by
     * another worker): only the line is checked. */
    expect_misuse(null_fn_later_run,
                  "fiberjob: fj_run_jobs: job 15 of 22 ('null15') has a NULL function" ROOT_SUFFIX, false,
                  "NULL function in the second batch-sized run of a call");
    /* From a job of a batch: the line names that job (on any worker). */
    EXPECT_ABORT_MATCH(null_fn_from_batch_job, NULL,
                       "fiberjob: fj_run_jobs: job 5 of 20 ('null5') has a NULL function (in job 'caller' on worker ",
                       ")");
}

/* ------------------------------------------------------------ 11. stats */

enum { STAT_PLAIN = 3000, STAT_SPAWNERS = 20, STAT_KIDS = 50 };

static void stat_spawner(void *arg)
{
    (void)arg;
    fj_job kids[STAT_KIDS];
    for (int i = 0; i < STAT_KIDS; i++)
        kids[i] = (fj_job){ .fn = nothing, .name = "kid" };
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs(kids, STAT_KIDS, &c);
    fj_wait(&c, 0);
}

static void stat_root(void *arg)
{
    (void)arg;
    for (int i = 0; i < STAT_PLAIN; i++)
        jobs[i] = (fj_job){ .fn = nothing, .name = "plain", .priority = (fj_priority)(i / 1000) };
    for (int i = 0; i < STAT_SPAWNERS; i++)
        jobs[STAT_PLAIN + i] = (fj_job){ .fn = stat_spawner, .name = "spawner" };
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs(jobs, STAT_PLAIN + STAT_SPAWNERS, &c);
    fj_wait(&c, 0);
}

static uint64_t total_jobs(const fj_scheduler *s)
{
    fj_worker_stats st[64];
    unsigned n = fj_stats(s, st, 64);
    CHECK(n == nworkers && n <= 64);
    uint64_t t = 0;
    for (unsigned i = 0; i < n; i++)
        t += st[i].jobs;
    return t;
}

static void part_stats(void)
{
    if (nworkers > 64)
        return;
    fj_config cfg = base_config();
    fj_scheduler *s = make_sched(&cfg);
    uint64_t t0 = total_jobs(s);
    CHECK_EQ(fj_main(s, nothing, NULL), 0);
    uint64_t t1 = total_jobs(s);
    CHECK_EQ(t1 - t0, 1);   /* the root */
    for (int round = 0; round < 3; round++) {
        CHECK_EQ(fj_main(s, stat_root, NULL), 0);
        uint64_t t2 = total_jobs(s);
        uint64_t expect = 1 + STAT_PLAIN + STAT_SPAWNERS + STAT_SPAWNERS * STAT_KIDS;
        if (t2 - t1 != expect)
            FAIL_SOFT("stats: the workers counted %llu jobs, %llu ran", (unsigned long long)(t2 - t1),
                      (unsigned long long)expect);
        t1 = t2;
    }
    fj_destroy(s);
}

/* ------------------------------------------------------------ 12. children on the parent's counter */

static fj_counter *parent_counter;

static void adder(void *arg)
{
    int *h = arg;
    size_t i = (size_t)(h - hits);
    hit(arg);
    if (i < 50) {
        fj_job kids[10];
        fill(kids, 100 + i * 10, 10, (fj_priority)(i % 3), hit);
        fj_run_jobs(kids, 10, parent_counter);
    }
}

static void same_counter_root(void *arg)
{
    (void)arg;
    for (int round = 0; round < 50; round++) {
        fj_counter c;
        fj_counter_init(&c, 0);
        parent_counter = &c;
        fill(jobs, 0, 100, (fj_priority)(round % 3), adder);
        fj_run_jobs(jobs, 100, &c);
        fj_wait(&c, 0);
        CHECK_EQ(fj_counter_value(&c), 0);
        expect_once(600, "batch jobs adding batches to the counter their parent waits on");
    }
}

static void part_same_counter(void)
{
    fj_config cfg = base_config();
    fj_scheduler *s = make_sched(&cfg);
    CHECK_EQ(fj_main(s, same_counter_root, NULL), 0);
    fj_destroy(s);
}

/* ------------------------------------------------------------ 13. wait with a target */

static void target_root(void *arg)
{
    (void)arg;
    for (int round = 0; round < 20; round++) {
        size_t n = 3000;
        fill(jobs, 0, n, (fj_priority)(round % 3), hit);
        fj_counter c;
        fj_counter_init(&c, 0);
        fj_run_jobs(jobs, n, &c);
        int64_t target = round % 2 ? 1000 : 255;
        fj_wait(&c, target);
        CHECK(fj_counter_value(&c) <= (int64_t)n);
        /* The value was <= target: at least n - target jobs had finished. */
        size_t done = 0;
        for (size_t i = 0; i < n; i++)
            done += (size_t)T_LOAD(&hits[i]);
        if (done < n - (size_t)target)
            FAIL_SOFT("wait with target %lld: returned when only %zu of %zu jobs had run", (long long)target, done,
                      n);
        /* On one worker only the waiter runs them, and it stops as soon as
         * the target is reached: it runs no job of c the target does not
         * need (also when it drains a chunk in one loop: worker.c,
         * fj__drain_chunk). */
        if (nworkers == 1 && done != n - (size_t)target)
            FAIL_SOFT("wait with target %lld on one worker: %zu of %zu jobs ran before it returned, not %zu",
                      (long long)target, done, n, n - (size_t)target);
        fj_wait(&c, 0);
        CHECK_EQ(fj_counter_value(&c), 0);
        expect_once(n, "wait with a target");
    }
}

static void part_target(void)
{
    fj_config cfg = base_config();
    fj_scheduler *s = make_sched(&cfg);
    CHECK_EQ(fj_main(s, target_root, NULL), 0);
    fj_destroy(s);
}

/* ------------------------------------------------------------ 14. spreading */

/* Jobs that take a little while, so that other workers go idle and steal
 * while a chunk is being run: the holder splits it again and again, and
 * batches go back to their home worker from the thieves. */
static void slow_hit(void *arg)
{
    volatile unsigned x = 0;
    for (unsigned i = 0; i < 500; i++)
        x += i;
    (void)x;
    hit(arg);
}

static void spread_root(void *arg)
{
    (void)arg;
    for (int round = 0; round < 100; round++) {
        size_t n = round % 2 ? 2000 : 257;
        fill(jobs, 0, n, (fj_priority)(round % 3), slow_hit);
        fj_counter c;
        fj_counter_init(&c, 0);
        fj_run_jobs(jobs, n, &c);
        fj_wait(&c, 0);
        CHECK_EQ(fj_counter_value(&c), 0);
        expect_once(n, "slow jobs spreading over the workers");
    }
}

static void part_spread(void)
{
    fj_config cfg = base_config();
    fj_scheduler *s = make_sched(&cfg);
    CHECK_EQ(fj_main(s, spread_root, NULL), 0);
    fj_destroy(s);
}

/* ------------------------------------------------------------ main */

typedef struct part {
    const char *name;
    void (*fn)(void);
} part;

static const part PARTS[] = {
    { "misuse", part_misuse },
    { "exactly once", part_exactly_once },
    { "uniform batches", part_uniform },
    { "many outstanding", part_many_outstanding },
    { "mixed priorities and flags", part_mixed },
    { "priorities on one worker", part_priority },
    { "waiting on a later job", part_wait_later },
    { "nesting", part_nested },
    { "panics", part_panics },
    { "yields", part_yields },
    { "no counter", part_no_counter },
    { "stats", part_stats },
    { "children on the parent's counter", part_same_counter },
    { "wait with a target", part_target },
    { "spreading", part_spread },
};

static void part_child(void *arg)
{
    const part *p = arg;
    test_soft_failures = 0;   /* count only this part's (the parent's were copied by fork) */
    p->fn();
    fflush(stderr);
    /* exit, not _exit: a leak checker (ASan builds) looks at this child too. */
    exit(test_soft_failures ? 1 : 0);
}

int main(int argc, char **argv)
{
    nworkers = test_workers(argc, argv);
    /* Only the children create schedulers: the parent forks from a
     * single-threaded state. */
    for (size_t i = 0; i < sizeof PARTS / sizeof PARTS[0]; i++)
        EXPECT_CHILD_OK(part_child, (void *)&PARTS[i], 40, PARTS[i].name);
    return test_finish();
}
