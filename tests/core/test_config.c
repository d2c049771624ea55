/*
 * Every fj_config field has a documented range that fj_create checks: a value
 * outside it makes fj_create return NULL with fj_last_error() telling why,
 * and the boundary values inside it work. Jobs with flag bits that mean
 * nothing are refused by fj_run_jobs and fj_run_jobs_on.
 *
 *  - workers: 0 (one per allowed CPU), 1..4096; 4097: FJ_ELIMIT.
 *  - pin_threads: 0, 1 or 2; 3 and -1: FJ_EINVAL. avoid_smt: 0 or 1; 2 and
 *    -1: FJ_EINVAL.
 *  - cpus/cpu_count: NULL with a count, a list with count 0: FJ_EINVAL; a CPU
 *    outside the allowed set: FJ_EAFFINITY.
 *  - small_fibers, large_fibers: 0: FJ_EINVAL; more than 65,471 in total:
 *    FJ_ELIMIT; fewer than workers + 1 in total: FJ_EINVAL.
 *  - small_stack_size, large_stack_size: 16 KiB .. 1 GiB.
 *  - spin_before_sleep: 0 .. 1,000,000.
 *  - trace_events: 0 .. 1 << 24.
 *  - fj_strerror of every code returned is not the text for unknown codes;
 *    fj_last_error() is 0 after a successful fj_create (even after a failed one).
 *  - jobs with undefined flag bits stop the process with one line naming the
 *    call, the job's index and the bits; FJ_JOB_LARGE_STACK alone is fine.
 *
 * Each fj_create runs in a child process: a value that is wrongly accepted
 * may start workers that never stop (spin_before_sleep = UINT_MAX), and the
 * child then exits without fj_destroy. A check that fails is recorded and the
 * others still run.
 */
#include <limits.h>
#include <sched.h>

#include "test.h"

#define KiB ((size_t)1024)
#define GiB ((size_t)1024 * 1024 * 1024)

static unsigned nworkers;

/* ------------------------------------------------------------ jobs */

static int hits;

static void hit(void *arg)
{
    (void)arg;
    T_ADD(&hits, 1);
}

static void few_jobs_root(void *arg)
{
    (void)arg;
    fj_job jobs[8];
    for (int i = 0; i < 8; i++)
        jobs[i] = (fj_job){ .fn = hit, .name = "hit" };
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs(jobs, 8, &c);
    fj_wait(&c, 0);
    CHECK_EQ(T_LOAD(&hits), 8);
}

/* ------------------------------------------------------------ fj_create in a child */

typedef struct create_case {
    fj_config cfg;
    int expect;          /* 0: accepted; otherwise the FJ_E... code */
    bool run;            /* when accepted: fj_main a root that runs a few jobs */
    bool enomem_ok;      /* when accepted: FJ_ENOMEM is an answer of the machine, not a range check */
    bool ethread_ok;     /* when accepted: so is FJ_ETHREAD (thread limits) */
    void (*check)(fj_scheduler *s, const fj_config *cfg);
} create_case;

/* Exit codes of the child. */
enum { CC_OK = 0, CC_WRONG_CODE = 2, CC_ACCEPTED = 3, CC_UNKNOWN_TEXT = 4, CC_STALE_ERROR = 5, CC_REFUSED = 6,
       CC_MACHINE = 7 };

static const char *unknown_text(void) { return fj_strerror(-12345); }

static void create_child(void *arg)
{
    const create_case *cc = arg;
    if (cc->expect == 0) {
        /* A failure first, so a stale error would show. */
        fj_config bad = fj_config_default();
        bad.small_fibers = 0;
        CHECK(fj_create(&bad) == NULL);
        CHECK(fj_last_error() != 0);
    }
    fj_scheduler *s = fj_create(&cc->cfg);
    int err = fj_last_error();
    if (cc->expect != 0) {
        if (s) {
            fprintf(stderr, "fj_create accepted it (fj_last_error() %d)\n", err);
            fflush(stderr);
            _exit(CC_ACCEPTED); /* no fj_destroy: it may never return */
        }
        if (err != cc->expect) {
            fprintf(stderr, "fj_create returned NULL with fj_last_error() %d (%s), expected %d (%s)\n", err,
                    fj_strerror(err), cc->expect, fj_strerror(cc->expect));
            fflush(stderr);
            _exit(CC_WRONG_CODE);
        }
        if (strcmp(fj_strerror(err), unknown_text()) == 0) {
            fprintf(stderr, "fj_strerror(%d) is the text for unknown codes: \"%s\"\n", err, fj_strerror(err));
            fflush(stderr);
            _exit(CC_UNKNOWN_TEXT);
        }
        return;
    }
    if (!s) {
        fprintf(stderr, "fj_create refused it: fj_last_error() %d (%s)\n", err, fj_strerror(err));
        fflush(stderr);
        if ((cc->enomem_ok && err == FJ_ENOMEM) || (cc->ethread_ok && err == FJ_ETHREAD))
            _exit(CC_MACHINE);
        _exit(CC_REFUSED);
    }
    if (err != 0) {
        fprintf(stderr, "fj_last_error() is %d after a successful fj_create\n", err);
        fflush(stderr);
        _exit(CC_STALE_ERROR);
    }
    if (cc->check)
        cc->check(s, &cc->cfg);
    if (cc->run)
        CHECK_EQ(fj_main(s, few_jobs_root, NULL), 0);
    fj_destroy(s);
}

static void expect_create_(int ln, const char *what, const create_case *cc, unsigned timeout_s)
{
    static child_result r;
    run_in_child(create_child, (void *)cc, timeout_s, &r);
    char buf[128];
    if (WIFEXITED(r.status) && WEXITSTATUS(r.status) == CC_OK)
        return;
    if (WIFEXITED(r.status) && WEXITSTATUS(r.status) == CC_MACHINE) {
        printf("%s: not checked, the machine refused: %s", what, r.err);
        return;
    }
    fprintf(stderr, "%s:%d: FAILED: %s (expected %s): child %s%s. child stderr:\n%s\n", __FILE__, ln, what,
            cc->expect ? fj_strerror(cc->expect) : "accepted", child_status_text(r.status, buf, sizeof buf),
            WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGALRM ? " (it did not finish: hang)" : "", r.err);
    fflush(stderr);
    test_soft_failures++;
}

/* fj_create(cfg) must return NULL with fj_last_error() == code. */
#define EXPECT_REFUSED(cfg_, code_, what) \
    do {                                                                     \
        static create_case cc_;                                              \
        memset(&cc_, 0, sizeof cc_);                                         \
        cc_.cfg = (cfg_);                                                    \
        cc_.expect = (code_);                                                \
        expect_create_(__LINE__, (what), &cc_, 20);                          \
    } while (0)

/* fj_create(cfg) must succeed (and, with run_, run a root with a few jobs). */
#define EXPECT_ACCEPTED(cfg_, run_, what)                                    \
    do {                                                                     \
        static create_case cc_;                                              \
        memset(&cc_, 0, sizeof cc_);                                         \
        cc_.cfg = (cfg_);                                                    \
        cc_.run = (run_);                                                    \
        expect_create_(__LINE__, (what), &cc_, 30);                          \
    } while (0)

static fj_config base(void)
{
    fj_config c = fj_config_default();
    c.workers = nworkers;
    return c;
}

/* ------------------------------------------------------------ workers */

static int allowed_cpu_count(void)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CHECK(sched_getaffinity(0, sizeof set, &set) == 0);
    return CPU_COUNT(&set);
}

static int first_allowed_cpu(void)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CHECK(sched_getaffinity(0, sizeof set, &set) == 0);
    for (int i = 0; i < CPU_SETSIZE; i++)
        if (CPU_ISSET(i, &set))
            return i;
    return 0;
}

static void check_one_per_cpu(fj_scheduler *s, const fj_config *cfg)
{
    (void)cfg;
    int want = allowed_cpu_count();
    if ((int)fj_worker_count(s) != want) {
        fprintf(stderr, "workers = 0 made %u workers; %d CPUs are allowed\n", fj_worker_count(s), want);
        fflush(stderr);
        _exit(1);
    }
}

static void check_workers(void)
{
    fj_config c;

    /* 0: one per allowed CPU (without avoid_smt every allowed CPU counts). */
    {
        static create_case cc;
        memset(&cc, 0, sizeof cc);
        cc.cfg = fj_config_default();
        cc.cfg.workers = 0;
        cc.cfg.avoid_smt = 0;
        cc.run = true;
        cc.check = check_one_per_cpu;
        expect_create_(__LINE__, "workers = 0: one per allowed CPU", &cc, 30);
    }
    c = base();
    c.workers = 1;
    EXPECT_ACCEPTED(c, true, "workers = 1");
    c = base();
    EXPECT_ACCEPTED(c, true, "workers from the command line");

    /* 4096: the limit itself, with enough fibers for it. Thread limits of the
     * machine (FJ_ETHREAD) are not a range check. Unpinned and without
     * spinning, so 4096 threads on a small machine start and stop quickly. */
    if (test_under_wine()) {
        printf("workers = 4096: left out under Wine (ending 4096 threads there takes minutes)\n");
    } else if (TEST_TSAN) {
        /* 65 s of the ThreadSanitizer stage for create and destroy paths
         * that the runs with 1-8 workers cover under TSan; every other
         * build still creates 4096 workers. */
        printf("workers = 4096: left out under ThreadSanitizer (65 s for 4096 threads)\n");
    } else if (nworkers != 1) {
        /* It does not depend on the worker count the test runs with, and it
         * is the slowest case of the suite in the slow builds (TSan: 90 s,
         * qemu: 20 s), so the .w1 run alone has it. */
        printf("workers = 4096: left to the run with 1 worker\n");
    } else {
        static create_case cc;
        memset(&cc, 0, sizeof cc);
        cc.cfg = fj_config_default();
        cc.cfg.workers = 4096;
        cc.cfg.small_fibers = 4200;
        cc.cfg.pin_threads = 0;
        cc.cfg.spin_before_sleep = 0;
        cc.ethread_ok = true;
        cc.enomem_ok = true;
        expect_create_(__LINE__, "workers = 4096 (4200 small fibers, unpinned, no spinning; create, destroy)", &cc, 25);
    }
    c = fj_config_default();
    c.workers = 4097;
    c.small_fibers = 4200;
    EXPECT_REFUSED(c, FJ_ELIMIT, "workers = 4097 (with 4200 small fibers)");
}

/* ------------------------------------------------------------ flags, CPUs */

static int cpu_list[1];
static const int bad_cpu[1] = { 100000 };

static void check_switches_and_cpus(void)
{
    fj_config c;
    int vals_bad[2] = { 2, -1 };
    for (int i = 0; i < 2; i++) {
        char what[64];
        c = base();
        c.pin_threads = vals_bad[i] == 2 ? 3 : vals_bad[i];
        snprintf(what, sizeof what, "pin_threads = %d", c.pin_threads);
        EXPECT_REFUSED(c, FJ_EINVAL, what);
        c = base();
        c.avoid_smt = vals_bad[i];
        snprintf(what, sizeof what, "avoid_smt = %d", vals_bad[i]);
        EXPECT_REFUSED(c, FJ_EINVAL, what);
    }
    c = base();
    c.pin_threads = 0;
    EXPECT_ACCEPTED(c, true, "pin_threads = 0");
    c = base();
    c.pin_threads = 1;
    EXPECT_ACCEPTED(c, true, "pin_threads = 1");
    c = base();
    c.pin_threads = 2;
    EXPECT_ACCEPTED(c, true, "pin_threads = 2");
    c = base();
    c.avoid_smt = 1;
    EXPECT_ACCEPTED(c, true, "avoid_smt = 1");

    cpu_list[0] = first_allowed_cpu();
    c = base();
    c.cpus = NULL;
    c.cpu_count = 3;
    EXPECT_REFUSED(c, FJ_EINVAL, "cpus NULL with cpu_count 3");
    c = base();
    c.cpus = cpu_list;
    c.cpu_count = 0;
    EXPECT_REFUSED(c, FJ_EINVAL, "cpus given with cpu_count 0");
    c = base();
    c.cpus = bad_cpu;
    c.cpu_count = 1;
    EXPECT_REFUSED(c, FJ_EAFFINITY, "cpus = { 100000 }");
    c = base();
    c.cpus = cpu_list;
    c.cpu_count = 1;
    EXPECT_ACCEPTED(c, true, "cpus = { the first allowed CPU }");
}

/* ------------------------------------------------------------ fibers and stacks */

static void check_fibers_and_stacks(void)
{
    fj_config c;
    c = base();
    c.small_fibers = 0;
    EXPECT_REFUSED(c, FJ_EINVAL, "small_fibers = 0");
    c = base();
    c.large_fibers = 0;
    EXPECT_REFUSED(c, FJ_EINVAL, "large_fibers = 0");
    c = base();
    c.small_fibers = 65000;
    c.large_fibers = 472;
    EXPECT_REFUSED(c, FJ_ELIMIT, "small_fibers + large_fibers = 65472");
    c = base();
    c.small_fibers = 65471;
    c.large_fibers = 1;
    EXPECT_REFUSED(c, FJ_ELIMIT, "small_fibers 65471 + large_fibers 1");

    /* Fewer fibers than workers + 1; with one worker the smallest legal pool
     * (1 + 1) is already enough, so use two workers there. */
    unsigned w = nworkers < 2 ? 2 : nworkers;
    c = base();
    c.workers = w;
    c.small_fibers = w - 1;
    c.large_fibers = 1;
    EXPECT_REFUSED(c, FJ_EINVAL, "small + large fibers = workers");
    c = base();
    c.workers = w;
    c.small_fibers = w;
    c.large_fibers = 1;
    EXPECT_ACCEPTED(c, true, "small + large fibers = workers + 1");
    c = base();
    c.small_fibers = 1;
    c.large_fibers = nworkers;
    EXPECT_ACCEPTED(c, true, "1 small fiber, large fibers = workers");

    const size_t min = 16 * KiB, max = GiB;
    c = base();
    c.small_stack_size = min - 1;
    EXPECT_REFUSED(c, FJ_EINVAL, "small_stack_size = 16 KiB - 1");
    c = base();
    c.small_stack_size = max + 1;
    EXPECT_REFUSED(c, FJ_EINVAL, "small_stack_size = 1 GiB + 1");
    c = base();
    c.large_stack_size = min - 1;
    EXPECT_REFUSED(c, FJ_EINVAL, "large_stack_size = 16 KiB - 1");
    c = base();
    c.large_stack_size = max + 1;
    EXPECT_REFUSED(c, FJ_EINVAL, "large_stack_size = 1 GiB + 1");
    c = base();
    c.small_stack_size = 0;
    EXPECT_REFUSED(c, FJ_EINVAL, "small_stack_size = 0");
    c = base();
    c.large_stack_size = SIZE_MAX;
    EXPECT_REFUSED(c, FJ_EINVAL, "large_stack_size = SIZE_MAX");

    c = base();
    c.small_stack_size = min;
    EXPECT_ACCEPTED(c, true, "small_stack_size = 16 KiB");
    c = base();
    c.large_stack_size = min;
    EXPECT_ACCEPTED(c, true, "large_stack_size = 16 KiB (the root runs on it)");
    c = base();
    c.small_stack_size = min;
    c.large_stack_size = min;
    EXPECT_ACCEPTED(c, true, "both stack sizes 16 KiB");

    /* 1 GiB: in range. Few fibers, since each reserves its whole stack; the
     * machine may still refuse the address space (FJ_ENOMEM), which is not
     * a range check. */
    {
        static create_case cc;
        memset(&cc, 0, sizeof cc);
        cc.cfg = base();
        cc.cfg.small_fibers = nworkers;
        cc.cfg.large_fibers = 1;
        cc.cfg.small_stack_size = max;
        cc.cfg.large_stack_size = max;
        cc.run = true;
        cc.enomem_ok = true;
        expect_create_(__LINE__, "small and large stack size = 1 GiB", &cc, 30);
    }
}

/* ------------------------------------------------------------ spinning, tracing */

static void check_spin_and_trace(void)
{
    fj_config c;
    c = base();
    c.spin_before_sleep = 0;
    EXPECT_ACCEPTED(c, true, "spin_before_sleep = 0");
    c = base();
    c.spin_before_sleep = 1000000;
    EXPECT_ACCEPTED(c, true, "spin_before_sleep = 1,000,000 (create, run, destroy)");
    c = base();
    c.spin_before_sleep = 1000001;
    EXPECT_REFUSED(c, FJ_EINVAL, "spin_before_sleep = 1,000,001");
    c = base();
    c.spin_before_sleep = UINT_MAX;
    EXPECT_REFUSED(c, FJ_EINVAL, "spin_before_sleep = UINT_MAX");

    c = base();
    c.trace_events = 0;
    EXPECT_ACCEPTED(c, true, "trace_events = 0");
    c = base();
    c.trace_events = 1024;
    EXPECT_ACCEPTED(c, true, "trace_events = 1024");
    c = base();
    c.trace_events = (1u << 24) + 1;
    EXPECT_REFUSED(c, FJ_EINVAL, "trace_events = (1 << 24) + 1");
    c = base();
    c.trace_events = UINT_MAX;
    EXPECT_REFUSED(c, FJ_EINVAL, "trace_events = UINT_MAX");
}

/* ------------------------------------------------------------ undefined job flags */

static void noop(void *arg) { (void)arg; }

typedef struct flag_case {
    unsigned flags; /* of the bad job */
    int count;      /* jobs in the call */
    int bad_index;  /* which one is bad */
} flag_case;

static const flag_case *g_flag_case;

static void submit(const flag_case *fc, bool on, fj_scheduler *s, fj_counter *c)
{
    fj_job jobs[32];
    CHECK(fc->count <= 32);
    for (int i = 0; i < fc->count; i++)
        jobs[i] = (fj_job){ .fn = noop, .name = i == fc->bad_index ? "bad" : "good",
                            .flags = i == fc->bad_index ? fc->flags : 0 };
    if (on)
        fj_run_jobs_on(s, jobs, (size_t)fc->count, c);
    else
        fj_run_jobs(jobs, (size_t)fc->count, c);
}

/* Inside a job: the root runs the jobs and waits for them. */
static void flags_root(void *arg)
{
    (void)arg;
    fj_counter c;
    fj_counter_init(&c, 0);
    submit(g_flag_case, false, NULL, &c);
    fj_wait(&c, 0);
}

/* And from a job that is not the root. */
static void flags_job(void *arg)
{
    (void)arg;
    fj_counter c;
    fj_counter_init(&c, 0);
    submit(g_flag_case, false, NULL, &c);
    fj_wait(&c, 0);
}
static void flags_job_root(void *arg)
{
    (void)arg;
    fj_job j = { .fn = flags_job, .name = "submitter" };
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs(&j, 1, &c);
    fj_wait(&c, 0);
}

static fj_scheduler *make(void)
{
    fj_config c = base();
    fj_scheduler *s = fj_create(&c);
    CHECK(s);
    return s;
}

static void child_flags_in_root(void *arg)
{
    g_flag_case = arg;
    fj_scheduler *s = make();
    fj_main(s, flags_root, NULL);
    fj_destroy(s);
}
static void child_flags_in_job(void *arg)
{
    g_flag_case = arg;
    fj_scheduler *s = make();
    fj_main(s, flags_job_root, NULL);
    fj_destroy(s);
}
/* From the main thread, outside any job, with no fj_main running. */
static void child_flags_outside(void *arg)
{
    fj_scheduler *s = make();
    fj_counter c;
    fj_counter_init(&c, 0);
    submit(arg, false, s, &c);
    fj_destroy(s);
}
static void child_flags_outside_on(void *arg)
{
    fj_scheduler *s = make();
    fj_counter c;
    fj_counter_init(&c, 0);
    submit(arg, true, s, &c);
    fj_destroy(s);
}

/* Does text hold a line that starts with prefix, where the prefix is not
 * followed by more of the same hexadecimal number? */
static bool has_line_prefix_num(const char *text, const char *prefix)
{
    size_t np = strlen(prefix);
    for (const char *p = text; p && *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (len >= np && memcmp(p, prefix, np) == 0) {
            char next = len > np ? p[np] : '\0';
            bool more = (next >= '0' && next <= '9') || (next >= 'a' && next <= 'f') || (next >= 'A' && next <= 'F');
            if (!more)
                return true;
        }
        p = nl ? nl + 1 : NULL;
    }
    return false;
}

/* The child must die of SIGABRT with a line that starts with prefix (and
 * whose number ends there); otherwise record a failure. */
#define EXPECT_ABORT_PREFIX(fn, arg, what, prefix) expect_abort_prefix_(__LINE__, (fn), (arg), (what), (prefix))
static void expect_abort_prefix_(int ln, void (*fn)(void *), void *arg, const char *what, const char *prefix)
{
    static child_result r;
    run_in_child(fn, arg, 20, &r);
    if (WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGABRT && has_line_prefix_num(r.err, prefix))
        return;
    char buf[128];
    fprintf(stderr, "%s:%d: FAILED: %s: child %s; expected SIGABRT and a line starting\n  %s\nchild stderr:\n%s\n",
            __FILE__, ln, what, child_status_text(r.status, buf, sizeof buf), prefix, r.err);
    fflush(stderr);
    test_soft_failures++;
}

static int large_ran;
static void large_job(void *arg)
{
    (void)arg;
    volatile char buf[100 * 1024]; /* more than a small stack would hold */
    for (size_t i = sizeof buf; i-- > 0;)
        buf[i] = (char)i;
    __asm__ __volatile__("" : : "r"(buf) : "memory"); /* keep all of it */
    T_ADD(&large_ran, 1 + buf[0] * 0);
}
static void large_root(void *arg)
{
    (void)arg;
    fj_job j = { .fn = large_job, .name = "large", .flags = FJ_JOB_LARGE_STACK };
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs(&j, 1, &c);
    fj_wait(&c, 0);
    CHECK_EQ(T_LOAD(&large_ran), 1);
}
static void child_large_flag(void *arg)
{
    (void)arg;
    fj_scheduler *s = make();
    CHECK_EQ(fj_main(s, large_root, NULL), 0);
    /* From outside, too. */
    fj_job j = { .fn = large_job, .name = "large", .flags = FJ_JOB_LARGE_STACK };
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs_on(s, &j, 1, &c);
    fj_run_jobs(&j, 1, &c);
    if (nworkers > 1)
        fj_wait(&c, 0);   /* with one worker nothing runs outside fj_main */
    fj_destroy(s);
    CHECK_EQ(T_LOAD(&large_ran), 3);
}

static void check_job_flags(void)
{
    static const flag_case b16 = { 1u << 16, 1, 0 }, b24 = { 1u << 24, 1, 0 }, b31 = { 1u << 31, 1, 0 };
    static const flag_case batch16 = { 1u << 16, 20, 13 }, batch24 = { 1u << 24, 20, 13 };
    static const flag_case large_and_16 = { FJ_JOB_LARGE_STACK | 1u << 16, 1, 0 };

    EXPECT_ABORT_PREFIX(child_flags_in_root, (void *)&b16, "flag 1 << 16, fj_run_jobs in the root job",
                        "fiberjob: fj_run_jobs: job 0 of 1 ('bad') has undefined flag bits 0x10000");
    EXPECT_ABORT_PREFIX(child_flags_in_root, (void *)&b24, "flag 1 << 24, fj_run_jobs in the root job",
                        "fiberjob: fj_run_jobs: job 0 of 1 ('bad') has undefined flag bits 0x1000000");
    EXPECT_ABORT_PREFIX(child_flags_in_root, (void *)&b31, "flag 1 << 31, fj_run_jobs in the root job",
                        "fiberjob: fj_run_jobs: job 0 of 1 ('bad') has undefined flag bits 0x80000000");
    EXPECT_ABORT_PREFIX(child_flags_in_job, (void *)&b16, "flag 1 << 16, fj_run_jobs in a job",
                        "fiberjob: fj_run_jobs: job 0 of 1 ('bad') has undefined flag bits 0x10000");
    EXPECT_ABORT_PREFIX(child_flags_in_job, (void *)&large_and_16,
                        "FJ_JOB_LARGE_STACK | 1 << 16, fj_run_jobs in a job (the line names only the undefined bits)",
                        "fiberjob: fj_run_jobs: job 0 of 1 ('bad') has undefined flag bits 0x10000");
    EXPECT_ABORT_PREFIX(child_flags_in_job, (void *)&batch16, "job 13 of 20 with flag 1 << 16, fj_run_jobs in a job",
                        "fiberjob: fj_run_jobs: job 13 of 20 ('bad') has undefined flag bits 0x10000");

    EXPECT_ABORT_PREFIX(child_flags_outside, (void *)&b24, "flag 1 << 24, fj_run_jobs from outside",
                        "fiberjob: fj_run_jobs: job 0 of 1 ('bad') has undefined flag bits 0x1000000");
    EXPECT_ABORT_PREFIX(child_flags_outside, (void *)&batch24, "job 13 of 20 with flag 1 << 24, fj_run_jobs from outside",
                        "fiberjob: fj_run_jobs: job 13 of 20 ('bad') has undefined flag bits 0x1000000");
    EXPECT_ABORT_PREFIX(child_flags_outside_on, (void *)&b16, "flag 1 << 16, fj_run_jobs_on",
                        "fiberjob: fj_run_jobs_on: job 0 of 1 ('bad') has undefined flag bits 0x10000");
    EXPECT_ABORT_PREFIX(child_flags_outside_on, (void *)&b31, "flag 1 << 31, fj_run_jobs_on",
                        "fiberjob: fj_run_jobs_on: job 0 of 1 ('bad') has undefined flag bits 0x80000000");
    EXPECT_ABORT_PREFIX(child_flags_outside_on, (void *)&batch16, "job 13 of 20 with flag 1 << 16, fj_run_jobs_on",
                        "fiberjob: fj_run_jobs_on: job 13 of 20 ('bad') has undefined flag bits 0x10000");

    EXPECT_CHILD_OK(child_large_flag, NULL, 30, "FJ_JOB_LARGE_STACK alone is a valid flag");
}

int main(int argc, char **argv)
{
    nworkers = test_workers(argc, argv);
    /* No trace file from the environment in these children. */
    unsetenv("FIBERJOB_TRACE");

    check_workers();
    check_switches_and_cpus();
    check_fibers_and_stacks();
    check_spin_and_trace();
    check_job_flags();
    return test_finish();
}
