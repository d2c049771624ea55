/*
 * A lend's run (lend.c): after the lent job, the lent fiber runs up to 31
 * of the newest queued jobs, newest first, short ones claimed at once
 * (fj__deque_take_many). What it does not run goes back into the
 * queue. What must hold:
 *
 *   A. a claimed job that suspends gives back the claimed jobs older than
 *      it: each runs exactly once, after the submitter goes on;
 *   B. a large-stack job in the claim is not run on the small lent fiber:
 *      it and everything older go back;
 *   C. a claimed job that submits a high-priority job ends the lend: the
 *      high-priority job comes first, the rest of the claim goes back;
 *   D. a claimed job that submits a stream of its own lends in turn: every
 *      job of both streams runs exactly once;
 *   E. a batch's range entry at the newest end is never run as a job.
 *
 * Jobs seen to run under 300 ns are claimed at once; longer ones are taken
 * one at a time, the rest left to thieves. The scenes run with empty jobs
 * (claimed, unless the machine is very slow) and with jobs of 5 us (taken
 * one by one): what must hold is the same either way.
 *
 * With one worker taking part (fj_set_active_workers(s, 1): no thief) the
 * order is certain and checked job by job: "early" means the job started
 * before the submitter's fj_run_jobs returned, which only a lend does. With
 * every worker taking part the same scenes run as a stress, checked for
 * correctness only.
 */

#include "lend_test.h"

#define BACKLOG 256
#define STACK (64 * 1024)
#define LARGE_USE (200 * 1024)   /* more than a small fiber has */
#define NESTED 200

static bool certain;
static fj_scheduler *sched;

typedef enum { S_SUSPEND, S_LARGE, S_HIGH, S_NESTED, S_RANGE, S_COUNT } scene_kind;
static const char *const SCENE_NAME[] = { "suspend", "large", "high", "nested", "range" };

/* Where the scene's special job sits in the backlog (0 the oldest). */
static const int SPECIAL_AT[] = { 250, 252, 253, 254, -1 };

typedef struct scene {
    scene_kind k;
    bool slow;                    /* jobs of 5 us: taken one at a time, not claimed */
    int returned;                 /* the submitter's fj_run_jobs returned */
    int early[BACKLOG + 8];       /* started before that */
    int ran[BACKLOG + 8];         /* times run */
    fj_counter gate;              /* S_SUSPEND: finished by the submitter after */
    fj_counter side;              /* S_HIGH, S_NESTED: what the special job submits */
    int high_ran, nested_ran;
    int lone_ran;
} scene;

typedef struct slot {
    scene *x;
    int i;
} slot;

static slot slots[BACKLOG + 8];

static void high_job(void *arg) { T_ADD(&((scene *)arg)->high_ran, 1); }

static void nested_job(void *arg)
{
    if (arg)
        T_ADD(&((scene *)arg)->nested_ran, 1);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void filler(void *arg)
{
    slot *sl = arg;
    scene *x = sl->x;
    T_STORE(&x->early[sl->i], !T_LOAD(&x->returned));
    T_ADD(&x->ran[sl->i], 1);
    if (x->slow) {
        /* Long enough that the lend takes them one at a time rather than
         * claim them: the same outcome either way. */
        uint64_t t0 = now_ns();
        while (now_ns() - t0 < 5000)
            ;
    }
    if (sl->i != SPECIAL_AT[x->k])
        return;
    switch (x->k) {
    case S_SUSPEND:
        fj_wait(&x->gate, 0);
        break;
    case S_LARGE:
        lend_use_stack(LARGE_USE);
        break;
    case S_HIGH: {
        fj_job h = { .fn = high_job, .arg = x, .name = "high", .priority = FJ_PRIORITY_HIGH };
        fj_run_jobs(&h, 1, &x->side);
        break;
    }
    case S_NESTED: {
        fj_job n = { .fn = nested_job, .arg = x, .name = "nested" };
        for (int i = 0; i < NESTED; i++)
            fj_run_jobs(&n, 1, &x->side);
        break;
    }
    case S_RANGE:
    case S_COUNT:
        break;
    }
}

static void lone(void *arg)
{
    scene *x = arg;
    CHECK(!certain || !T_LOAD(&x->returned));
    T_ADD(&x->lone_ran, 1);
}

static void expect_early(scene *x, int i, int want)
{
    if (T_LOAD(&x->early[i]) != want) {
        fprintf(stderr, "scene %s: job %d %s before fj_run_jobs returned\n", SCENE_NAME[x->k], i,
                want ? "did not start" : "started");
        exit(1);
    }
}

static void scene_run(scene *x)
{
    memset(x->early, 0, sizeof x->early);
    memset(x->ran, 0, sizeof x->ran);
    x->returned = x->high_ran = x->nested_ran = x->lone_ran = 0;
    fj_counter fc, lc;
    fj_counter_init(&fc, 0);
    fj_counter_init(&lc, 0);
    fj_counter_init(&x->gate, 0);
    fj_counter_init(&x->side, 0);
    if (x->k == S_SUSPEND)
        fj_counter_add(&x->gate, 1);
    if (x->k == S_RANGE) {
                /* A batch entry needs a spare batch (batch.c): one allocated by a
         * submission too large for the queue, finished and handed back. */
        static fj_job many[4096];
        fj_counter mc;
        fj_counter_init(&mc, 0);
        for (int i = 0; i < 4096; i++)
            many[i] = (fj_job){ .fn = nested_job, .arg = NULL, .name = "warm" };
        fj_run_jobs(many, 4096, &mc);
        fj_wait(&mc, 0);
    }
    /* The backlog, four jobs a call (never lent). S_RANGE: the last eight
     * as one batch, queued as a range entry. */
    int plain = x->k == S_RANGE ? BACKLOG - 8 : BACKLOG;
    for (int i = 0; i < BACKLOG; i++)
        slots[i] = (slot){ x, i };
    for (int i = 0; i < plain; i += 4) {
        fj_job four[4];
        for (int k = 0; k < 4; k++) {
            four[k] = (fj_job){ .fn = filler, .arg = &slots[i + k], .name = "filler" };
            if (i + k == SPECIAL_AT[x->k] && x->k == S_LARGE)
                four[k].flags = FJ_JOB_LARGE_STACK;
        }
        fj_run_jobs(four, 4, &fc);
    }
    if (x->k == S_RANGE) {
        fj_job eight[8];
        for (int k = 0; k < 8; k++)
            eight[k] = (fj_job){ .fn = filler, .arg = &slots[plain + k], .name = "batched" };
        fj_run_jobs(eight, 8, &fc);
    }
    uint64_t lends_before = lend_count(sched);
    fj_job j = { .fn = lone, .arg = x, .name = "lone" };
    fj_run_jobs(&j, 1, &lc);
    T_STORE(&x->returned, 1);
    if (certain) {
        CHECK_EQ(T_LOAD(&x->lone_ran), 1);   /* lent */
        uint64_t lends = lend_count(sched) - lends_before;
        CHECK(x->k == S_NESTED ? lends >= 2 : lends == 1);
        int at = SPECIAL_AT[x->k];
        switch (x->k) {
        case S_SUSPEND:
        case S_HIGH:
            /* Newest first down to the special job, which started; then
             * the lend ends (suspended; a higher priority comes first) and
             * the older claimed jobs go back. */
            for (int i = 0; i < BACKLOG; i++)
                expect_early(x, i, i >= at);
            break;
        case S_NESTED:
            /* The nested lend starts from the special job and gives this
             * lend's claim back: what it runs of the older ones is its own. */
            for (int i = at; i < BACKLOG; i++)
                expect_early(x, i, 1);
            break;
        case S_LARGE:
            for (int i = at + 1; i < BACKLOG; i++)
                expect_early(x, i, 1);
            for (int i = 0; i <= at; i++)
                expect_early(x, i, 0);
            break;
        case S_RANGE:
            for (int i = 0; i < BACKLOG; i++)
                expect_early(x, i, 0);
            break;
        case S_COUNT:
            break;
        }
    }
    if (x->k == S_SUSPEND)
        fj_counter_done(&x->gate, 1);
    fj_wait(&lc, 0);
    fj_wait(&fc, 0);
    fj_wait(&x->side, 0);
    CHECK_EQ(T_LOAD(&x->lone_ran), 1);
    for (int i = 0; i < BACKLOG; i++)
        if (T_LOAD(&x->ran[i]) != 1) {
            fprintf(stderr, "scene %s: job %d ran %d times\n", SCENE_NAME[x->k], i, T_LOAD(&x->ran[i]));
            exit(1);
        }
    CHECK_EQ(T_LOAD(&x->high_ran), x->k == S_HIGH ? 1 : 0);
    CHECK_EQ(T_LOAD(&x->nested_ran), x->k == S_NESTED ? NESTED : 0);
}

static void scenes_job(void *arg)
{
    (void)arg;
    static scene x;
    for (int r = 0; r < 4; r++)
        for (int k = 0; k < S_COUNT; k++) {
            x.k = (scene_kind)k;
            x.slow = r == 3;
            scene_run(&x);
        }
}

/* On a small fiber, as a job of the engine's would be. */
static void root(void *arg)
{
    (void)arg;
    lend_on_small_fiber(scenes_job, "scenes");
}

static void run_all(const fj_config *cfg, bool one)
{
    sched = fj_create(cfg);
    CHECK(sched != NULL);
    if (one)
        CHECK_EQ(fj_set_active_workers(sched, 1), 0);
    certain = one;
    uint64_t before = lend_count(sched);
    CHECK_EQ(fj_main(sched, root, NULL), 0);
    uint64_t lends = lend_count(sched) - before;
    printf("%s: %llu lends\n", one ? "one worker taking part" : "every worker", (unsigned long long)lends);
    if (one)
        CHECK(lends >= 4 * (S_COUNT + 1));   /* one a scene, two in S_NESTED */
    fj_destroy(sched);
    sched = NULL;
}

int main(int argc, char **argv)
{
    fj_config cfg = test_config(argc, argv);
    cfg.small_stack_size = STACK;
    run_all(&cfg, true);
    run_all(&cfg, false);
    return test_finish();
}
