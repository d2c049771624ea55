/*
 * Misuse of handles (fj_spawn, fj_spawn_on, fj_join): each bad call runs in a
 * child process that must die of SIGABRT with one line naming the call and
 * the job.
 *  - joining a zero handle; joining a handle twice; joining a handle whose
 *    slot was given back and taken by another job (the line names that job);
 *  - fj_spawn of a NULL job, of a job with a NULL function or bad flags, and
 *    outside any job with no scheduler;
 *  - the pool's limit: with fj_config.handles = 1 a pool holds 1,024 slots,
 *    so the 1,025th live handle stops the process saying so (while the first
 *    1,024, more than one chunk each, work).
 */
#include "test.h"

static unsigned nworkers;

static void noop(void *arg) { (void)arg; }

static void as_root(fj_job_fn fn, unsigned handles)
{
    fj_config cfg = fj_config_default();
    cfg.workers = nworkers;
    cfg.handles = handles;
    fj_scheduler *s = fj_create(&cfg);
    CHECK(s);
    fj_main(s, fn, NULL);
    fj_destroy(s);
}

#define ROOT_SUFFIX " (in job 'fj_main root' on worker "

static void join_zero_root(void *a)
{
    (void)a;
    fj_handle h = { 0 };
    fj_join(h);
}
static void join_zero(void *a) { (void)a; as_root(join_zero_root, 0); }

static void join_twice_root(void *a)
{
    (void)a;
    fj_handle h = fj_spawn(&(fj_job){ .fn = noop, .name = "twice" });
    CHECK_EQ(fj_join(h), 0);
    fj_join(h);
}
static void join_twice(void *a) { (void)a; as_root(join_twice_root, 0); }

static void join_reused_root(void *a)
{
    (void)a;
    fj_handle h = fj_spawn(&(fj_job){ .fn = noop, .name = "first" });
    CHECK_EQ(fj_join(h), 0);
    fj_handle h2 = fj_spawn(&(fj_job){ .fn = noop, .name = "second" });   /* the same slot: LIFO */
    fj_join(h);
    fj_join(h2);
}
static void join_reused(void *a) { (void)a; as_root(join_reused_root, 0); }

static void spawn_null_job_root(void *a)
{
    (void)a;
    fj_spawn(NULL);
}
static void spawn_null_job(void *a) { (void)a; as_root(spawn_null_job_root, 0); }

static void spawn_null_fn_root(void *a)
{
    (void)a;
    fj_spawn(&(fj_job){ .name = "no body" });
}
static void spawn_null_fn(void *a) { (void)a; as_root(spawn_null_fn_root, 0); }

static void spawn_bad_flags_root(void *a)
{
    (void)a;
    fj_spawn(&(fj_job){ .fn = noop, .name = "both", .flags = FJ_JOB_LARGE_STACK | FJ_JOB_SHALLOW });
}
static void spawn_bad_flags(void *a) { (void)a; as_root(spawn_bad_flags_root, 0); }

static void spawn_no_scheduler(void *a)
{
    (void)a;
    fj_spawn(&(fj_job){ .fn = noop, .name = "lonely" });
}

static void spawn_on_null(void *a)
{
    (void)a;
    fj_spawn_on(NULL, &(fj_job){ .fn = noop, .name = "nowhere" });
}

enum { POOL_MAX = 1024 };
static int live_ok;
static void pool_limit_root(void *a)
{
    (void)a;
    static fj_handle h[POOL_MAX + 1];
    /* Up to the limit: every spawn works and every join says 0. */
    for (int i = 0; i < POOL_MAX; i++)
        h[i] = fj_spawn(&(fj_job){ .fn = noop, .name = "held" });
    for (int i = 0; i < POOL_MAX; i++)
        CHECK_EQ(fj_join(h[i]), 0);
    for (int i = 0; i < POOL_MAX; i++)
        h[i] = fj_spawn(&(fj_job){ .fn = noop, .name = "held again" });
    live_ok = 1;
    fprintf(stderr, "limit reached\n");
    h[POOL_MAX] = fj_spawn(&(fj_job){ .fn = noop, .name = "one too many" });
}
static void pool_limit(void *a) { (void)a; as_root(pool_limit_root, 1); }

int main(int argc, char **argv)
{
    nworkers = test_workers(argc, argv);
    const child_result *r;
    r = EXPECT_ABORT_CONTAINS(join_zero, NULL, "fiberjob: fj_join: the handle is zero: it names no job");
    CHECK(strstr(r->err, ROOT_SUFFIX));
    r = EXPECT_ABORT_CONTAINS(join_twice, NULL,
                              "fiberjob: fj_join: the handle of job 'twice' was joined already: a handle is joined once");
    CHECK(strstr(r->err, ROOT_SUFFIX));
    EXPECT_ABORT_CONTAINS(join_reused, NULL,
                          "fiberjob: fj_join: the handle is stale: its job was joined already and its slot now holds "
                          "job 'second'");
    EXPECT_ABORT_CONTAINS(spawn_null_job, NULL, "fiberjob: fj_spawn: job is NULL (in job 'fj_main root'");
    EXPECT_ABORT_CONTAINS(spawn_null_fn, NULL,
                          "fiberjob: fj_spawn: job 'no body' has a NULL function (in job 'fj_main root'");
    EXPECT_ABORT_CONTAINS(spawn_bad_flags, NULL, "fiberjob: fj_spawn: job 'both' has flags 0x3");
    EXPECT_ABORT_CONTAINS(spawn_no_scheduler, NULL,
                          "fiberjob: fj_spawn: called outside a job and no scheduler exists (job 'lonely') "
                          "(outside any job)");
    EXPECT_ABORT_CONTAINS(spawn_on_null, NULL, "fiberjob: fj_spawn_on:");
    r = EXPECT_ABORT_CONTAINS(pool_limit, NULL,
                              "fiberjob: fj_spawn: 1024 handles are in use, the most a pool holds (fj_config.handles "
                              "1 x 1024): join handles before spawning more");
    CHECK(strstr(r->err, "limit reached\n"));
    return test_finish();
}
