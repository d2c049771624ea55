/*
 * Cancellation (fj_counter_cancel, fj_counter_cancelled, fj_counter_is_cancelled,
 * fj_cancelled), through the public API.
 *
 *  - Jobs queued, then cancelled before the root lets any run: every kind of
 *    job (a batch, single pushes, large-stack, shallow, pinned to each
 *    worker) is either skipped or ran, never both, and skipped + ran is the
 *    total. With one worker none can have started: all are skipped. None
 *    starts on the cancelling thread after the cancel returned.
 *  - Jobs queued after the cancel (a hand-managed count keeps the round
 *    open), from a job and from a thread outside: all skipped, whatever the
 *    number of workers (the queue carries the cancel to whoever takes them).
 *  - Reuse: once the cancelled round reached zero, the next jobs counted on
 *    the counter run (fj_run_jobs and fj_counter_add start a new round), a
 *    cancel made at zero does not reach them, and fj_counter_init clears the
 *    skipped count. Repeated many rounds without re-initialising, a cancel
 *    in every other round.
 *  - A job counted on the counter cancels it: it still finishes, the rest
 *    are skipped (with one worker, all of them).
 *  - fj_cancelled(): 0 outside a job, in the root, in a job with no counter;
 *    a running job that polls sees the cancel; a nested job sees its own
 *    counter, and its waiter its own again afterwards.
 *  - Panics and skips are counted apart; a job that panics on seeing the
 *    cancel counts as a panic.
 *  - Skipped jobs run no job_begin/job_end hook, and fj_stats counts them.
 *  - A cancel from a thread outside the scheduler while jobs run.
 */
#include <pthread.h>
#include <sched.h>

#include "test.h"

static fj_config cfg;
static unsigned nworkers;

/* ------------------------------------------------------------ records */

enum { MAXJOBS = 2048 };

static struct {
    fj_counter c;
    int ran[MAXJOBS];        /* times each job's function ran */
    int worker[MAXJOBS];     /* where it ran */
    unsigned seq[MAXJOBS];   /* when it started, on `clock` */
    unsigned clock;
    int nran;
} rec;

static void rec_reset(void)
{
    memset(rec.ran, 0, sizeof rec.ran);
    T_STORE(&rec.nran, 0);
}

static void recorded(void *arg)
{
    int i = (int)(intptr_t)arg;
    rec.seq[i] = T_ADD(&rec.clock, 1);
    rec.worker[i] = fj_worker_index();
    T_ADD(&rec.ran[i], 1);
    T_ADD(&rec.nran, 1);
}

/* Queue n jobs numbered from first, of every kind, counted on c. */
static int queue_mixed(fj_counter *c, int first)
{
    static fj_job jobs[MAXJOBS];
    int n = 0;
    /* Single pushes, first: after the batch below (pushed one entry per job
     * while no spare batch exists) they would find 64 jobs queued and be
     * lent (worker.c, "Lending"), run before the cancel even on one worker. */
    for (int k = 0; k < 50; k++, n++) {
        jobs[n] = (fj_job){ .fn = recorded, .arg = (void *)(intptr_t)(first + n), .name = "cancel.one" };
        fj_run_jobs(&jobs[n], 1, c);
    }
    /* A batch (8 or more plain jobs). */
    int batch = n;
    for (int k = 0; k < 200; k++, n++)
        jobs[n] = (fj_job){ .fn = recorded, .arg = (void *)(intptr_t)(first + n), .name = "cancel.batch" };
    fj_run_jobs(jobs + batch, (size_t)(n - batch), c);
    /* Large-stack and shallow jobs, a few at a time (not batched). */
    int from = n;
    for (int k = 0; k < 20; k++, n++)
        jobs[n] = (fj_job){ .fn = recorded, .arg = (void *)(intptr_t)(first + n), .name = "cancel.large",
                            .flags = k & 1 ? FJ_JOB_LARGE_STACK : FJ_JOB_SHALLOW };
    fj_run_jobs(jobs + from, (size_t)(n - from), c);
    /* Pinned to each worker. */
    from = n;
    for (unsigned k = 0; k < 2 * nworkers; k++, n++)
        jobs[n] = (fj_job){ .fn = recorded, .arg = (void *)(intptr_t)(first + n), .name = "cancel.pinned",
                            .flags = FJ_JOB_ON_WORKER(k % nworkers) };
    fj_run_jobs(jobs + from, (size_t)(n - from), c);
    return n;
}

static int count_ran(int n)
{
    int ran = 0;
    for (int i = 0; i < n; i++) {
        if (rec.ran[i] > 1)
            FAIL_SOFT("job %d ran %d times", i, rec.ran[i]);
        ran += rec.ran[i];
    }
    return ran;
}

/* ------------------------------------------------------------ queued, then cancelled */

static uint32_t total_skipped;   /* what fj_stats must add up to */

static void queued_then_cancelled(void *arg)
{
    (void)arg;
    rec_reset();
    fj_counter_init(&rec.c, 0);
    int n = queue_mixed(&rec.c, 0);
    CHECK_EQ(fj_counter_is_cancelled(&rec.c), 0);
    fj_counter_cancel(&rec.c);
    unsigned after = T_ADD(&rec.clock, 1);
    int me = fj_worker_index();
    CHECK_EQ(fj_counter_is_cancelled(&rec.c), 1);
    fj_wait(&rec.c, 0);
    int ran = count_ran(n);
    uint32_t skipped = fj_counter_cancelled(&rec.c);
    CHECK_EQ((int)skipped + ran, n);
    CHECK_EQ(T_LOAD(&rec.nran), ran);
    if (nworkers == 1)
        CHECK_EQ(ran, 0);   /* none could start before the cancel */
    for (int i = 0; i < n; i++)
        if (rec.ran[i] && rec.worker[i] == me && rec.seq[i] > after)
            FAIL_SOFT("job %d started on the cancelling worker %d after the cancel returned", i, me);
    CHECK_EQ(fj_counter_panics(&rec.c), 0);
    total_skipped += skipped;
}

/* ------------------------------------------------------------ queued after the cancel */

static void *outside_submit(void *arg)
{
    fj_scheduler *s = arg;
    static fj_job jobs[64];
    for (int k = 0; k < 64; k++)
        jobs[k] = (fj_job){ .fn = recorded, .arg = (void *)(intptr_t)(1000 + k), .name = "cancel.outside" };
    fj_run_jobs_on(s, jobs, 32, &rec.c);
    for (int k = 32; k < 64; k++)
        fj_run_jobs_on(s, &jobs[k], 1, &rec.c);
    return NULL;
}

static fj_scheduler *sched;

static void queued_after_cancel(void *arg)
{
    (void)arg;
    rec_reset();
    fj_counter_init(&rec.c, 0);
    fj_counter_add(&rec.c, 1);   /* keeps the round open */
    fj_counter_cancel(&rec.c);
    int n = queue_mixed(&rec.c, 0);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, outside_submit, sched) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    fj_counter_done(&rec.c, 1);
    fj_wait(&rec.c, 0);
    CHECK_EQ(count_ran(MAXJOBS), 0);
    CHECK_EQ(fj_counter_cancelled(&rec.c), n + 64);
    total_skipped += (uint32_t)(n + 64);
    CHECK_EQ(fj_counter_is_cancelled(&rec.c), 1);   /* until the next round starts */

    /* Reused with no fj_counter_init: a new round from zero, none skipped. */
    n = queue_mixed(&rec.c, 0);
    CHECK_EQ(fj_counter_is_cancelled(&rec.c), 0);
    fj_wait(&rec.c, 0);
    CHECK_EQ(count_ran(n), n);
    CHECK_EQ(fj_counter_cancelled(&rec.c), n + 64);   /* since fj_counter_init */

    /* A cancel at zero reaches no later job: fj_counter_add starts the round. */
    rec_reset();
    fj_counter_cancel(&rec.c);
    fj_counter_add(&rec.c, 1);
    CHECK_EQ(fj_counter_is_cancelled(&rec.c), 0);
    n = queue_mixed(&rec.c, 0);
    fj_counter_done(&rec.c, 1);
    fj_wait(&rec.c, 0);
    CHECK_EQ(count_ran(n), n);

    /* fj_counter_init clears both. */
    fj_counter_cancel(&rec.c);
    fj_counter_init(&rec.c, 0);
    CHECK_EQ(fj_counter_cancelled(&rec.c), 0);
    CHECK_EQ(fj_counter_is_cancelled(&rec.c), 0);
}

/* ------------------------------------------------------------ rounds of reuse */

static struct {
    fj_counter c;
    int ran;
    int round;
} rr;

static void round_job(void *arg)
{
    int i = (int)(intptr_t)arg;
    /* In odd rounds job 10 cancels its own counter. */
    if ((T_LOAD(&rr.round) & 1) && i == 10)
        fj_counter_cancel(&rr.c);
    T_ADD(&rr.ran, 1);
}

static void rounds(void *arg)
{
    (void)arg;
    static fj_job jobs[100];
    fj_counter_init(&rr.c, 0);
    uint32_t skipped_before = 0;
    for (int r = 0; r < 200; r++) {
        T_STORE(&rr.round, r);
        T_STORE(&rr.ran, 0);
        for (int k = 0; k < 100; k++)
            jobs[k] = (fj_job){ .fn = round_job, .arg = (void *)(intptr_t)k, .name = "cancel.round",
                                .flags = r % 3 == 0 ? 0u : FJ_JOB_SHALLOW };
        if (r % 4 == 1) {
            for (int k = 0; k < 100; k++)
                fj_run_jobs(&jobs[k], 1, &rr.c);
        } else {
            fj_run_jobs(jobs, 100, &rr.c);
        }
        fj_wait(&rr.c, 0);
        uint32_t skipped = fj_counter_cancelled(&rr.c) - skipped_before;
        skipped_before += skipped;
        if (r & 1) {
            CHECK_EQ(T_LOAD(&rr.ran) + (int)skipped, 100);
            CHECK(T_LOAD(&rr.ran) >= 1);   /* the canceller itself */
        } else if (T_LOAD(&rr.ran) != 100 || skipped) {
            FAIL_SOFT("round %d after a cancelled one: %d ran, %u skipped (a reused counter skipped new jobs)", r,
                      T_LOAD(&rr.ran), skipped);
        }
    }
    total_skipped += skipped_before;
}

/* ------------------------------------------------------------ cancelled from inside */

static struct {
    fj_counter c;
    int ran;
    int saw_own_cancel;
} in;

static void cancel_first(void *arg)
{
    (void)arg;
    if (T_ADD(&in.ran, 1) == 0) {
        CHECK_EQ(fj_cancelled(), 0);
        fj_counter_cancel(&in.c);
        T_STORE(&in.saw_own_cancel, fj_cancelled());
    }
}

static void inside(void *arg)
{
    (void)arg;
    static fj_job jobs[100];
    for (int k = 0; k < 100; k++)
        jobs[k] = (fj_job){ .fn = cancel_first, .name = "cancel.first" };
    fj_counter_init(&in.c, 0);
    fj_run_jobs(jobs, 100, &in.c);
    fj_wait(&in.c, 0);
    int ran = T_LOAD(&in.ran);
    CHECK(ran >= 1);
    CHECK_EQ(ran + (int)fj_counter_cancelled(&in.c), 100);
    CHECK_EQ(T_LOAD(&in.saw_own_cancel), 1);
    if (nworkers == 1)
        CHECK_EQ(ran, 1);
    total_skipped += fj_counter_cancelled(&in.c);
}

/* ------------------------------------------------------------ fj_cancelled */

static struct {
    fj_counter c, other, nocounter_done;
    int started;
    int polls;
    int saw;
    int before;
    int nocounter;
    int nested_saw, after_nested;
} pl;

static void poller(void *arg)
{
    (void)arg;
    T_STORE(&pl.before, fj_cancelled());
    T_STORE(&pl.started, 1);
    while (!fj_cancelled()) {
        T_ADD(&pl.polls, 1);
        fj_yield();
    }
    T_STORE(&pl.saw, 1);
}

static void no_counter_job(void *arg)
{
    (void)arg;
    T_STORE(&pl.nocounter, fj_cancelled() + 10);
    fj_counter_done(&pl.nocounter_done, 1);
}

static void nested_child(void *arg)
{
    (void)arg;
    T_STORE(&pl.nested_saw, fj_cancelled());
}

/* Counted on pl.c, which it cancels; its child (shallow: it may run nested
 * on this fiber's stack) is counted on pl.other, not cancelled. */
static void nested_parent(void *arg)
{
    (void)arg;
    fj_counter_cancel(&pl.c);
    CHECK_EQ(fj_cancelled(), 1);
    fj_counter_init(&pl.other, 0);
    fj_run_jobs(&(fj_job){ .fn = nested_child, .name = "cancel.nested", .flags = FJ_JOB_SHALLOW }, 1, &pl.other);
    fj_wait(&pl.other, 0);
    T_STORE(&pl.after_nested, fj_cancelled());
}

static void *outside_query(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)(fj_cancelled() + 1);
}

static void poll_root(void *arg)
{
    (void)arg;
    CHECK_EQ(fj_cancelled(), 0);   /* the root has no counter */
    fj_counter_init(&pl.c, 0);
    fj_run_jobs(&(fj_job){ .fn = poller, .name = "cancel.poller" }, 1, &pl.c);
    while (!T_LOAD(&pl.started))
        fj_yield();
    fj_counter_cancel(&pl.c);
    CHECK_EQ(fj_cancelled(), 0);   /* still the root's own: none */
    fj_wait(&pl.c, 0);
    CHECK_EQ(T_LOAD(&pl.saw), 1);
    CHECK_EQ(T_LOAD(&pl.before), 0);
    CHECK_EQ(fj_counter_cancelled(&pl.c), 0);   /* it ran: not skipped */

    fj_counter_init(&pl.nocounter_done, 0);
    fj_counter_add(&pl.nocounter_done, 1);
    fj_run_jobs(&(fj_job){ .fn = no_counter_job, .name = "cancel.nocounter" }, 1, NULL);
    fj_wait(&pl.nocounter_done, 0);
    CHECK_EQ(T_LOAD(&pl.nocounter), 10);

    fj_counter_init(&pl.c, 0);
    T_STORE(&pl.nested_saw, -1);
    T_STORE(&pl.after_nested, -1);
    fj_run_jobs(&(fj_job){ .fn = nested_parent, .name = "cancel.parent" }, 1, &pl.c);
    fj_wait(&pl.c, 0);
    CHECK_EQ(T_LOAD(&pl.nested_saw), 0);
    CHECK_EQ(T_LOAD(&pl.after_nested), 1);

    pthread_t t;
    void *r = NULL;
    CHECK(pthread_create(&t, NULL, outside_query, NULL) == 0);
    CHECK(pthread_join(t, &r) == 0);
    CHECK_EQ((intptr_t)r, 1);
}

/* ------------------------------------------------------------ panics apart */

static struct {
    fj_counter c;
    int ran;
} pa;

static void panicker(void *arg)
{
    (void)arg;
    T_ADD(&pa.ran, 1);
    fj_panic("on purpose");
}

static void panic_when_cancelled(void *arg)
{
    (void)arg;
    T_ADD(&pa.ran, 1);
    while (!fj_cancelled())
        fj_yield();
    fj_panic("cancelled");
}

static void panics_apart(void *arg)
{
    (void)arg;
    static fj_job jobs[10];
    for (int k = 0; k < 10; k++)
        jobs[k] = (fj_job){ .fn = panicker, .name = "cancel.panicker" };
    fj_counter_init(&pa.c, 0);
    fj_run_jobs(jobs, 5, &pa.c);
    fj_wait(&pa.c, 0);
    CHECK_EQ(fj_counter_panics(&pa.c), 5);
    CHECK_EQ(fj_counter_cancelled(&pa.c), 0);

    fj_counter_add(&pa.c, 1);
    fj_counter_cancel(&pa.c);
    fj_run_jobs(jobs, 10, &pa.c);
    fj_counter_done(&pa.c, 1);
    fj_wait(&pa.c, 0);
    CHECK_EQ(fj_counter_panics(&pa.c), 5);
    CHECK_EQ(fj_counter_cancelled(&pa.c), 10);
    CHECK_EQ(T_LOAD(&pa.ran), 5);
    total_skipped += 10;

    /* A running job that stops by panicking on the cancel is a panic. */
    fj_run_jobs(&(fj_job){ .fn = panic_when_cancelled, .name = "cancel.stopper" }, 1, &pa.c);
    while (T_LOAD(&pa.ran) < 6)
        fj_yield();
    fj_counter_cancel(&pa.c);
    fj_wait(&pa.c, 0);
    CHECK_EQ(fj_counter_panics(&pa.c), 6);
    CHECK_EQ(fj_counter_cancelled(&pa.c), 10);
}

/* ------------------------------------------------------------ cancel from outside */

static struct {
    fj_counter c;
    int running;
    int ran;
} ou;

static void long_job(void *arg)
{
    (void)arg;
    T_ADD(&ou.running, 1);
    while (!fj_cancelled())
        fj_yield();
    T_ADD(&ou.ran, 1);
}

static void *outside_cancel(void *arg)
{
    (void)arg;
    while (!T_LOAD(&ou.running))
        sched_yield();
    fj_counter_cancel(&ou.c);
    fj_wait(&ou.c, 0);   /* from outside: blocks on its futex */
    return NULL;
}

static void outside_root(void *arg)
{
    (void)arg;
    static fj_job jobs[300];
    for (int k = 0; k < 300; k++)
        jobs[k] = (fj_job){ .fn = long_job, .name = "cancel.long" };
    fj_counter_init(&ou.c, 0);
    fj_run_jobs(jobs, 300, &ou.c);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, outside_cancel, NULL) == 0);
    fj_wait(&ou.c, 0);
    CHECK(pthread_join(t, NULL) == 0);
    CHECK(T_LOAD(&ou.ran) >= 1);
    CHECK_EQ(T_LOAD(&ou.ran) + (int)fj_counter_cancelled(&ou.c), 300);
    total_skipped += fj_counter_cancelled(&ou.c);
}

/* ------------------------------------------------------------ hooks */

static int skipped_begins;

static uint64_t on_job_begin(const char *name, void *user)
{
    (void)user;
    if (strcmp(name, "cancel.outside") == 0 || strcmp(name, "cancel.batch") == 0 ||
        strcmp(name, "cancel.one") == 0 || strcmp(name, "cancel.large") == 0 || strcmp(name, "cancel.pinned") == 0)
        T_ADD(&skipped_begins, 1);
    return 0;
}

static void on_job_end(const char *name, uint64_t token, int panicked, void *user)
{
    (void)token;
    (void)panicked;
    on_job_begin(name, user);
}

static void run_all(void *arg)
{
    (void)arg;
    queued_then_cancelled(NULL);
    inside(NULL);
    rounds(NULL);
    poll_root(NULL);
    panics_apart(NULL);
    outside_root(NULL);
}

static void quiet_panic(const fj_panic_info *info, void *arg)
{
    (void)info;
    (void)arg;
}

int main(int argc, char **argv)
{
    cfg = test_config(argc, argv);
    nworkers = cfg.workers;
    cfg.panic_hook = quiet_panic;

    sched = fj_create(&cfg);
    CHECK(sched);
    CHECK_EQ(fj_cancelled(), 0);   /* outside a job */
    CHECK_EQ(fj_main(sched, run_all, NULL), 0);
    CHECK_EQ(fj_main(sched, queued_after_cancel, NULL), 0);
    fj_worker_stats st[64];
    unsigned nw = fj_stats(sched, st, 64);
    uint64_t stat_skipped = 0;
    for (unsigned i = 0; i < nw; i++)
        stat_skipped += st[i].jobs_skipped;
    CHECK_EQ(stat_skipped, total_skipped);
    fj_destroy(sched);

    /* With hooks: a skipped job makes no job_begin or job_end. */
    static fj_hooks hooks = { .job_begin = on_job_begin, .job_end = on_job_end };
    cfg.hooks = hooks;
    sched = fj_create(&cfg);
    CHECK(sched);
    CHECK_EQ(fj_main(sched, queued_after_cancel, NULL), 0);
    fj_destroy(sched);
    /* queued_after_cancel's later rounds run their jobs: two hooks each. */
    int ran_later = 2 * 2 * (250 + 20 + 2 * (int)nworkers);
    CHECK_EQ(T_LOAD(&skipped_begins), ran_later);
    return test_finish();
}
