/*
 * Lending (worker.c, "Lending"): fj_run_jobs of one job, from a job whose
 * worker's queue of that priority already holds 64 jobs or more, runs the
 * job at once on a fiber of its own (and then up to 31 of the newest jobs
 * queued there), while the submitter waits on its own fiber. What must hold:
 *
 *   1. a stream of lone jobs: each runs exactly once, a count reaches zero
 *      only once its last job finished (the finishes a worker folds are
 *      taken back for the next job counted: counter.c, fj__count_one), and
 *      the submitter never changes threads across fj_run_jobs;
 *   2. a lent job that waits for what its submitter does after fj_run_jobs
 *      returns gets it: a count the submitter finishes, an fj_mutex it holds,
 *      a condition variable it signals, a timed wait, a yield, a wait for
 *      the job's own children;
 *   3. a lent job, and each queued job run after it, gets its whole stack;
 *   4. never lent: a large-stack job, a job submitted from a pinned job;
 *   5. never lent from a hook (it runs between the halves of a switch).
 *
 * With one worker taking part (fj_set_active_workers(s, 1): no thief) the
 * backlog, and so the lend, is certain: 256 jobs are queued first in groups
 * of four (fj_run_jobs of a few jobs never lends), and the cases check
 * that the job was lent (it started before its fj_run_jobs returned) or,
 * for 4, that it was not. With every worker taking part the same cases run
 * as a stress, checked for correctness only.
 */

#include "lend_test.h"

#define STREAM 20000
#define BACKLOG 256
#define STACK (64 * 1024)
#define STACK_USE (STACK - 12 * 1024)

static bool certain;   /* one worker taking part: lending is certain */

/* ------------------------------------------------------------ 1. a stream */

static unsigned char ran[STREAM];
static int done_a, done_b;
static fj_counter uncounted;   /* finished by hand by the jobs queued on no counter */

static void stream_job(void *arg)
{
    long i = (long)(intptr_t)arg;
    ran[i]++;   /* plain: each job its own byte, read after fj_wait */
    T_ADD(i % 3 == 0 ? &done_b : &done_a, 1);
    if (i % 3 != 0 && i % 7 == 0)
        fj_counter_done(&uncounted, 1);
}

typedef struct watcher {
    fj_counter *c;
    int *done;
    int expect;
    int seen;
} watcher;

/* Waits on the stream's counter from another fiber: woken early, it would
 * see fewer jobs done than the count promised. */
static void watch_job(void *arg)
{
    watcher *w = arg;
    fj_wait(w->c, 0);
    w->seen = T_LOAD(w->done);
}

static void stream_root(void *arg)
{
    (void)arg;
    memset(ran, 0, sizeof ran);
    done_a = done_b = 0;
    fj_counter a, b, wc;
    fj_counter_init(&a, 0);
    fj_counter_init(&b, 0);
    fj_counter_init(&wc, 0);
    fj_counter_init(&uncounted, 0);
    for (long i = 0; i < STREAM; i++)
        if (i % 3 != 0 && i % 7 == 0)
            fj_counter_add(&uncounted, 1);
    /* A count of our own on a until the stream is all submitted: the
     * watcher may not see zero before. */
    fj_counter_add(&a, 1);
    watcher wa = { &a, &done_a, 0, -1 };
    fj_job watch = { .fn = watch_job, .arg = &wa, .name = "watcher" };
    fj_run_jobs(&watch, 1, &wc);
    int me = fj_worker_index();
    pthread_t thread = pthread_self();
    for (long i = 0; i < STREAM; i++) {
        /* Jobs i % 3 == 0 on b, the others on a, every 7th on no counter at
         * all (it still counts in done_a: waited for below by other means). */
        fj_counter *c = i % 3 == 0 ? &b : i % 7 == 0 ? NULL : &a;
        fj_job j = { .fn = stream_job, .arg = (void *)(intptr_t)i, .name = "stream" };
        fj_run_jobs(&j, 1, c);
        CHECK_EQ(fj_worker_index(), me);
        CHECK(pthread_equal(pthread_self(), thread));
    }
    fj_counter_done(&a, 1);
    fj_wait(&b, 0);
    int nb = (STREAM + 2) / 3;
    CHECK_EQ(T_LOAD(&done_b), nb);
    fj_wait(&a, 0);
    fj_wait(&wc, 0);
    /* Every job counted on a was done when a reached zero. */
    int counted_a = 0;
    for (long i = 0; i < STREAM; i++)
        counted_a += i % 3 != 0 && i % 7 != 0;
    CHECK(wa.seen >= counted_a);
    CHECK(T_LOAD(&done_a) >= counted_a);
    CHECK_EQ(fj_counter_value(&a), 0);
    CHECK_EQ(fj_counter_value(&b), 0);
    /* The ones queued on no counter (not a spin on done_a: a worker over the
     * active limit may hold some that steal_more took before it parked,
     * and only a look for work on worker 0 steals them back). */
    fj_wait(&uncounted, 0);
    CHECK_EQ(T_LOAD(&done_a) + T_LOAD(&done_b), STREAM);
    for (long i = 0; i < STREAM; i++)
        CHECK_EQ(ran[i], 1);
}

/* ------------------------------------------------------------ 2-4. one job after a backlog */

typedef enum {
    K_COUNT,       /* waits for a count its submitter finishes afterwards */
    K_TIMED,       /* the same with fj_wait_for */
    K_MUTEX,       /* locks an fj_mutex its submitter holds across fj_run_jobs */
    K_COND,        /* waits on a condition its submitter signals afterwards */
    K_YIELD,       /* yields */
    K_CHILDREN,    /* waits for children of its own */
    K_STACK,       /* uses its whole stack, as the jobs queued before it do */
    K_LARGE,       /* FJ_JOB_LARGE_STACK: never lent */
    K_SHALLOW,     /* FJ_JOB_SHALLOW: lent */
    K_COUNT_KINDS
} kind;

static const char *const KIND_NAME[] = { "count", "timed", "mutex", "cond", "yield",
                                         "children", "stack", "large", "shallow" };

typedef struct scene {
    kind k;
    fj_counter gate;      /* K_COUNT, K_TIMED: finished by the submitter */
    fj_mutex m;
    fj_cond cv;
    int flag;             /* K_COND: guarded by m */
    int returned;         /* the submitter's fj_run_jobs returned */
    int started_early;    /* the job started before that */
    int finished;
    int children;
} scene;

static int fillers_ran;

static void filler(void *arg)
{
    if (arg)
        lend_use_stack(STACK_USE);
    T_ADD(&fillers_ran, 1);
}

static void child(void *arg)
{
    T_ADD(&((scene *)arg)->children, 1);
}

static void scene_job(void *arg)
{
    scene *x = arg;
    T_STORE(&x->started_early, !T_LOAD(&x->returned));
    switch (x->k) {
    case K_COUNT:
        fj_wait(&x->gate, 0);
        break;
    case K_TIMED:
        CHECK_EQ(fj_wait_for(&x->gate, 0, 60ull * 1000 * 1000 * 1000), 1);
        break;
    case K_MUTEX:
        fj_mutex_lock(&x->m);
        CHECK(T_LOAD(&x->returned));
        fj_mutex_unlock(&x->m);
        break;
    case K_COND:
        fj_mutex_lock(&x->m);
        while (!x->flag)
            fj_cond_wait(&x->cv, &x->m);
        fj_mutex_unlock(&x->m);
        break;
    case K_YIELD:
        fj_yield();
        break;
    case K_CHILDREN: {
        fj_counter c;
        fj_counter_init(&c, 0);
        fj_job kids[2] = { { .fn = child, .arg = x, .name = "child" }, { .fn = child, .arg = x, .name = "child" } };
        fj_run_jobs(&kids[0], 1, &c);
        fj_run_jobs(&kids[1], 1, &c);
        fj_wait(&c, 0);
        CHECK_EQ(T_LOAD(&x->children), 2);
        break;
    }
    case K_STACK:
    case K_LARGE:
    case K_SHALLOW:
        if (x->k != K_SHALLOW)
            lend_use_stack(STACK_USE);
        break;
    case K_COUNT_KINDS:
        break;
    }
    T_STORE(&x->finished, 1);
}

static fj_scheduler *lend_sched;

static void scene_run(scene *x)
{
    fj_counter fc, xc;
    fj_counter_init(&fc, 0);
    fj_counter_init(&xc, 0);
    fj_counter_init(&x->gate, 0);
    fj_mutex_init(&x->m);
    fj_cond_init(&x->cv);
    x->flag = 0;
    x->returned = x->started_early = x->finished = x->children = 0;
    fillers_ran = 0;
    if (x->k == K_COUNT || x->k == K_TIMED)
        fj_counter_add(&x->gate, 1);
    /* The backlog: 256 queue entries, four jobs a call (never lent). */
    void *deep = x->k == K_STACK ? (void *)1 : NULL;
    fj_job four[4];
    for (int i = 0; i < 4; i++)
        four[i] = (fj_job){ .fn = filler, .arg = deep, .name = "filler" };
    for (int i = 0; i < BACKLOG / 4; i++)
        fj_run_jobs(four, 4, &fc);
    fj_job j = { .fn = scene_job, .arg = x, .name = "scene" };
    if (x->k == K_LARGE)
        j.flags = FJ_JOB_LARGE_STACK;
    if (x->k == K_SHALLOW)
        j.flags = FJ_JOB_SHALLOW;
    uint64_t lends_before = lend_count(lend_sched);
    int me = fj_worker_index();
    pthread_t thread = pthread_self();
    if (x->k == K_MUTEX)
        fj_mutex_lock(&x->m);
    fj_run_jobs(&j, 1, &xc);
    CHECK_EQ(fj_worker_index(), me);
    CHECK(pthread_equal(pthread_self(), thread));
    T_STORE(&x->returned, 1);
    bool lent = x->k != K_LARGE;
    if (certain) {
        if (T_LOAD(&x->started_early) != lent) {
            fprintf(stderr, "case %s: the job %s lent\n", KIND_NAME[x->k], lent ? "was not" : "was");
            exit(1);
        }
        /* K_CHILDREN's children may be lent too. */
        uint64_t lends = lend_count(lend_sched) - lends_before;
        CHECK(lent ? lends >= 1 : lends == 0);
    }
    switch (x->k) {
    case K_COUNT:
    case K_TIMED:
        fj_counter_done(&x->gate, 1);
        break;
    case K_MUTEX:
        fj_mutex_unlock(&x->m);
        break;
    case K_COND:
        fj_mutex_lock(&x->m);
        x->flag = 1;
        fj_cond_signal(&x->cv);
        fj_mutex_unlock(&x->m);
        break;
    default:
        break;
    }
    fj_wait(&xc, 0);
    fj_wait(&fc, 0);
    CHECK_EQ(T_LOAD(&x->finished), 1);
    CHECK_EQ(T_LOAD(&fillers_ran), BACKLOG);
}

/* The submitter itself deep in its stack: what is left of it is less than
 * the lent job's whole class. */
static __attribute__((noinline)) void scene_run_deep(scene *x)
{
    volatile char *buf = __builtin_alloca(16 * 1024);
    buf[0] = 1;
    scene_run(x);
    buf[1] = 2;
}

static void scenes_job(void *arg)
{
    (void)arg;
    scene x;
    memset(&x, 0, sizeof x);
    for (int k = 0; k < K_COUNT_KINDS; k++) {
        x.k = (kind)k;
        if (k == K_STACK)
            scene_run_deep(&x);
        else
            scene_run(&x);
    }
}

/* On a small fiber (the root's is large): a lent job run on what is left
 * of the submitter's stack would overflow it in K_STACK. */
static void scenes_root(void *arg)
{
    (void)arg;
    lend_on_small_fiber(scenes_job, "scenes");
}

/* 4. From a pinned job: nothing is lent. */
static void pinned_scenes(void *arg)
{
    scene *x = arg;
    x->k = K_YIELD;
    bool was = certain;
    certain = false;
    uint64_t before = lend_count(lend_sched);
    scene_run(x);
    certain = was;
    if (was)
        CHECK_EQ(lend_count(lend_sched) - before, 0);
    CHECK(!was || !T_LOAD(&x->started_early));
}

static void pinned_root(void *arg)
{
    (void)arg;
    scene x;
    memset(&x, 0, sizeof x);
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_job j = { .fn = pinned_scenes, .arg = &x, .name = "pinned", .flags = FJ_JOB_ON_WORKER(0) };
    fj_run_jobs(&j, 1, &c);
    fj_wait(&c, 0);
}

/* 5. From a hook (job_begin): a hook runs between the halves of a switch,
 * so what it submits is queued, never lent, whatever the backlog. */
static int hook_jobs_ran;
static fj_counter hook_counter;

static void hook_job(void *arg)
{
    (void)arg;
    T_ADD(&hook_jobs_ran, 1);
}

static uint64_t submitting_hook(const char *job_name, void *user)
{
    (void)user;
    if (strcmp(job_name, "hooked") != 0)
        return 0;
    uint64_t before = lend_count(lend_sched);
    fj_job j = { .fn = hook_job, .name = "from hook" };
    for (int i = 0; i < 3 * BACKLOG; i++)
        fj_run_jobs(&j, 1, &hook_counter);
    CHECK_EQ(lend_count(lend_sched) - before, 0);
    return 0;
}

static void hooked(void *arg) { (void)arg; }

static void hook_root(void *arg)
{
    (void)arg;
    hook_jobs_ran = 0;
    fj_counter_init(&hook_counter, 0);
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_job j = { .fn = hooked, .name = "hooked" };
    fj_run_jobs(&j, 1, &c);
    fj_wait(&c, 0);
    fj_wait(&hook_counter, 0);
    CHECK_EQ(T_LOAD(&hook_jobs_ran), 3 * BACKLOG);
}

static void run_hooked(const fj_config *base)
{
    fj_config cfg = *base;
    cfg.hooks.job_begin = submitting_hook;
    lend_sched = fj_create(&cfg);
    CHECK(lend_sched != NULL);
    CHECK_EQ(fj_set_active_workers(lend_sched, 1), 0);
    CHECK_EQ(fj_main(lend_sched, hook_root, NULL), 0);
    fj_destroy(lend_sched);
    lend_sched = NULL;
}

static void run_all(const fj_config *cfg, bool one)
{
    lend_sched = fj_create(cfg);
    CHECK(lend_sched != NULL);
    if (one)
        CHECK_EQ(fj_set_active_workers(lend_sched, 1), 0);
    certain = one;
    CHECK_EQ(fj_main(lend_sched, stream_root, NULL), 0);
    CHECK_EQ(fj_main(lend_sched, scenes_root, NULL), 0);
    CHECK_EQ(fj_main(lend_sched, pinned_root, NULL), 0);
    fj_worker_stats st[64];
    unsigned n = fj_stats(lend_sched, st, 64);
    uint64_t lends = 0, others = 0;
    for (unsigned i = 0; i < n && i < 64; i++) {
        lends += st[i].lends;
        others += i ? st[i].jobs : 0;
    }
    printf("%s: %llu lends, %llu jobs run by workers other than 0\n", one ? "one worker taking part" : "every worker",
           (unsigned long long)lends, (unsigned long long)others);
    /* One worker: the stream of 20,000 lone jobs cannot stay under 64. */
    if (one)
        CHECK(lends >= (STREAM - BACKLOG) / 32);
    fj_destroy(lend_sched);
    lend_sched = NULL;
}

int main(int argc, char **argv)
{
    fj_config cfg = test_config(argc, argv);
    cfg.small_stack_size = STACK;
    run_all(&cfg, true);
    run_all(&cfg, false);
    run_hooked(&cfg);
    return test_finish();
}
