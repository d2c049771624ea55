/* Every job gets the whole stack its class promises (default classes: small
 * 64 KiB, large 512 KiB with FJ_JOB_LARGE_STACK), however deep the job that
 * waits for it already is, and a frame larger than the stack is reported as a
 * stack overflow instead of writing over the neighbouring fiber's stack.
 *
 *  1. A small-stack parent about 28 KiB deep runs a child counted on a counter
 *     and waits for it; the child uses about 56 KiB of its own stack. Once,
 *     and 64 parents with 2 children each at once.
 *     Also with a batch of 16 children using 62 KiB (one chunk): the parent
 *     runs them one after another on the same stack segment
 *     (fj__drain_chunk), and each has its whole stack there (a loop that
 *     kept 12 KiB more of the segment per child faults).
 *  2. The same with large stacks: a parent 400 KiB deep, children using 480 KiB.
 *  3. The root job (a large fiber) 480 KiB deep waits for 16 small children
 *     (a batch it runs nested, one after another) that use 56 KiB each.
 *  4. A small fiber pool (workers + 3 small, 2 large): 200 parents 20 KiB deep,
 *     each waiting for one child that uses 56 KiB. All run exactly once.
 *  5. A single frame larger than the stack (76 KiB and 200 KiB arrays on a
 *     64 KiB stack, the lowest element written first, as code built without
 *     -fstack-clash-protection does) stops the process with the stack-overflow
 *     report, while other jobs are suspended on the fibers next to it; also
 *     in a child its waiting parent runs on a stack segment of its fiber.
 *  6. A fiber pool the kernel could not map (2 mappings per fiber in use, more
 *     than /proc/sys/vm/max_map_count) is refused by fj_create with FJ_ELIMIT;
 *     one that fits works with 4,000 jobs suspended at once.
 *  7. With the process's mappings used up, every new stack segment is
 *     refused: chains of waits still complete (their children run on fibers
 *     of their own), twice, and again once the mappings are back.
 *
 * Every scenario runs in a child process with a time limit (a failure is
 * recorded and the others still run). Depths are measured with frame
 * addresses, not counted in frames, so they hold under any optimisation level
 * and under ASan (whose redzones and fake stacks change frame sizes).
 */
#include <stdint.h>

#include "test.h"

#if defined(__SANITIZE_ADDRESS__)
#define SP_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SP_ASAN 1
#endif
#endif

#if defined(__SANITIZE_THREAD__)
#define SP_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SP_TSAN 1
#endif
#endif

/* Scenario 7 uses up the process's mappings: only natively on x86-64 Linux
 * (the sanitizers' runtimes and an emulator need mappings of their own). */
#if defined(__x86_64__) && defined(__linux__) && !defined(SP_ASAN) && !defined(SP_TSAN) && !TEST_WINDOWS
#define SP_HOG 1
#include <sys/mman.h>
#endif

#define KiB ((size_t)1024)

/* Make an array's address escape, so the compiler keeps all of it in the
 * frame (clang otherwise shrinks a local volatile array to the elements used). */
#define ESCAPE(p) __asm__ __volatile__("" : : "r"(p) : "memory")

static unsigned g_workers;

/* ------------------------------------------------------------ using stack */

static uintptr_t frame_addr(void) __attribute__((noinline));
static uintptr_t frame_addr(void) { return (uintptr_t)__builtin_frame_address(0); }

/* Recurse until the frames between `top` and here span `bytes`, touching every
 * frame (a volatile array per frame, read after the call so the frames stay),
 * then call fn(arg) from the deepest frame. Each frame is far smaller than a
 * guard page, so running past the end of the stack always faults in the guard. */
static __attribute__((noinline)) int dig(uintptr_t top, size_t bytes, void (*fn)(void *), void *arg)
{
    volatile char buf[512];
    for (size_t i = sizeof buf; i-- > 0;)
        buf[i] = (char)i;
    ESCAPE(buf);
    uintptr_t here = (uintptr_t)__builtin_frame_address(0);
    int r;
    if (top - here >= bytes) {
        if (fn)
            fn(arg);
        r = 1;
    } else {
        r = dig(top, bytes, fn, arg) + 1;
    }
    return r + buf[0] + buf[sizeof buf - 1];
}

/* ------------------------------------------------------------ parents and kids */

enum { MAX_KIDS = 16 };   /* 8 or more: fj_run_jobs queues them as one batch */

typedef struct kid {
    size_t bytes; /* stack the kid uses */
    int ran;
} kid;

typedef struct parent {
    size_t depth;        /* how deep the parent is when it runs its kids */
    unsigned kid_flags;  /* FJ_JOB_LARGE_STACK or 0 */
    int nkids;
    kid kids[MAX_KIDS];
    fj_counter *done;    /* hand-managed: the parent finishes one count */
    int ran;
    bool warm;           /* first run WARM_JOBS empty jobs (see run_kids_and_wait) */
} parent;

/* More jobs than a worker's deque holds at first (256): fj_run_jobs then
 * takes batches for them, which stay with the worker as spares, so the
 * kids after them go out as one batch as well (a worker with no spare batch
 * queues a few jobs one by one instead). */
enum { WARM_JOBS = 600 };
static fj_job warm_jobs[WARM_JOBS];

static void warm_job(void *arg) { (void)arg; }

static void kid_job(void *arg)
{
    kid *k = arg;
    dig(frame_addr(), k->bytes, NULL, NULL);
    T_ADD(&k->ran, 1);
}

/* Run the kids counted on a counter and wait for them (from deep down). */
static void run_kids_and_wait(void *arg)
{
    parent *p = arg;
    if (p->warm) {
        fj_counter w;
        fj_counter_init(&w, 0);
        fj_run_jobs(warm_jobs, WARM_JOBS, &w);
        fj_wait(&w, 0);
    }
    fj_job jobs[MAX_KIDS];
    for (int i = 0; i < p->nkids; i++)
        jobs[i] = (fj_job){ .fn = kid_job, .arg = &p->kids[i], .name = "kid", .flags = p->kid_flags };
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs(jobs, (size_t)p->nkids, &c);
    fj_wait(&c, 0);
    for (int i = 0; i < p->nkids; i++)
        if (T_LOAD(&p->kids[i].ran) != 1) {
            fprintf(stderr, "fj_wait returned before kid %d of its parent ran (ran %d times)\n", i,
                    T_LOAD(&p->kids[i].ran));
            abort();
        }
}

static void parent_job(void *arg)
{
    parent *p = arg;
    dig(frame_addr(), p->depth, run_kids_and_wait, p);
    T_ADD(&p->ran, 1);
    fj_counter_done(p->done, 1);
}

/* A set of parents run by the root. They are not counted on the counter the
 * root waits on (it is hand-managed), so they are not run on the root's own
 * large stack: each gets a fiber of its class. */
typedef struct family {
    int nparents;
    parent *parents;
    unsigned parent_flags;
} family;

static void family_root(void *arg)
{
    family *f = arg;
    fj_counter done;
    fj_counter_init(&done, 0);
    fj_counter_add(&done, f->nparents);
    fj_job *jobs = calloc((size_t)f->nparents, sizeof *jobs);
    CHECK(jobs);
    for (int i = 0; i < f->nparents; i++) {
        f->parents[i].done = &done;
        jobs[i] = (fj_job){ .fn = parent_job, .arg = &f->parents[i], .name = "parent", .flags = f->parent_flags };
    }
    fj_run_jobs(jobs, (size_t)f->nparents, NULL);
    free(jobs);
    fj_wait(&done, 0);
}

/* Run nparents parents (depth, flags) each with nkids kids (bytes, flags) on a
 * scheduler with cfg, then check that everything ran exactly once. Runs in a
 * child: any failure exits nonzero or aborts. */
static bool g_warm;   /* the parents of run_family warm their worker's batches first */

static void run_family(const fj_config *cfg, int nparents, size_t depth, unsigned parent_flags, int nkids,
                       size_t kid_bytes, unsigned kid_flags)
{
    parent *ps = calloc((size_t)nparents, sizeof *ps);
    CHECK(ps);
    for (int i = 0; i < WARM_JOBS; i++)
        warm_jobs[i] = (fj_job){ .fn = warm_job, .name = "warm" };
    for (int i = 0; i < nparents; i++) {
        ps[i].warm = g_warm;
        ps[i].depth = depth;
        ps[i].kid_flags = kid_flags;
        ps[i].nkids = nkids;
        for (int k = 0; k < nkids; k++)
            ps[i].kids[k].bytes = kid_bytes;
    }
    family f = { nparents, ps, parent_flags };
    run_root(cfg, family_root, &f);
    for (int i = 0; i < nparents; i++) {
        if (ps[i].ran != 1) {
            fprintf(stderr, "parent %d ran %d times\n", i, ps[i].ran);
            exit(1);
        }
        for (int k = 0; k < nkids; k++)
            if (ps[i].kids[k].ran != 1) {
                fprintf(stderr, "kid %d of parent %d ran %d times\n", k, i, ps[i].kids[k].ran);
                exit(1);
            }
    }
    free(ps);
}

static fj_config base_cfg(void)
{
    fj_config c = fj_config_default();
    c.workers = g_workers;
    return c;
}

/* 1. Small parents 28 KiB deep, small kids using 56 KiB. */
static void child_small_one(void *a)
{
    (void)a;
    fj_config c = base_cfg();
    run_family(&c, 1, 28 * KiB, 0, 1, 56 * KiB, 0);
}
static void child_small_many(void *a)
{
    (void)a;
    fj_config c = base_cfg();
    run_family(&c, 64, 28 * KiB, 0, 2, 56 * KiB, 0);
}

static void child_small_batch(void *a)
{
    (void)a;
    fj_config c = base_cfg();
    g_warm = true;
    run_family(&c, 8, 28 * KiB, 0, MAX_KIDS, 62 * KiB, 0);
}

/* 2. Large parents 400 KiB deep, large kids using 480 KiB. */
static void child_large_one(void *a)
{
    (void)a;
    fj_config c = base_cfg();
    run_family(&c, 1, 400 * KiB, FJ_JOB_LARGE_STACK, 1, 480 * KiB, FJ_JOB_LARGE_STACK);
}
static void child_large_many(void *a)
{
    (void)a;
    fj_config c = base_cfg();
    run_family(&c, 8, 400 * KiB, FJ_JOB_LARGE_STACK, 2, 480 * KiB, FJ_JOB_LARGE_STACK);
}

/* 3. The root itself 480 KiB deep waits for small kids using 56 KiB. */
static void deep_root(void *arg)
{
    parent *p = arg;
    dig(frame_addr(), p->depth, run_kids_and_wait, p);
    p->ran++;
}
static void child_deep_root(void *a)
{
    (void)a;
    fj_config c = base_cfg();
    parent p;
    memset(&p, 0, sizeof p);
    p.depth = 480 * KiB;
    p.nkids = MAX_KIDS;
    p.warm = true;
    for (int i = 0; i < WARM_JOBS; i++)
        warm_jobs[i] = (fj_job){ .fn = warm_job, .name = "warm" };
    for (int k = 0; k < MAX_KIDS; k++)
        p.kids[k].bytes = 56 * KiB;
    run_root(&c, deep_root, &p);
    CHECK_EQ(p.ran, 1);
    for (int k = 0; k < MAX_KIDS; k++)
        CHECK_EQ(p.kids[k].ran, 1);
}

/* 4. A small pool: 200 parents 20 KiB deep, one kid each using 56 KiB. */
static void child_small_pool(void *a)
{
    (void)a;
    fj_config c = base_cfg();
    c.small_fibers = g_workers + 3 < 4 ? 4 : g_workers + 3;
    c.large_fibers = 2;
    run_family(&c, 200, 20 * KiB, 0, 1, 56 * KiB, 0);
}

/* ------------------------------------------------------------ 5. a frame larger than the stack */

/* The big frames must not probe their stack page by page from the top (which
 * -fstack-clash-protection does, and which would fault in the guard page
 * before anything is overwritten): the point is code built without it. GCC
 * can turn it off for one function; clang cannot, but does not turn it on
 * unless asked (-fstack-clash-protection is not in this build's flags). */
#if defined(__GNUC__) && !defined(__clang__)
#define NO_STACK_CLASH_PROTECTION __attribute__((optimize("no-stack-clash-protection")))
#else
#define NO_STACK_CLASH_PROTECTION
#endif

static int g_waiters_started, g_big_done;
static fj_counter g_gate;

static NO_STACK_CLASH_PROTECTION __attribute__((noinline)) void big_frame_76k(void *arg)
{
    (void)arg;
    volatile char a[76 * 1024];
    a[0] = 1; /* the lowest element first: far below the end of a 64 KiB stack */
    ESCAPE(a);
    a[sizeof a - 1] = 2;
    T_STORE(&g_big_done, a[0] + a[sizeof a - 1]);
}

static NO_STACK_CLASH_PROTECTION __attribute__((noinline)) void big_frame_200k(void *arg)
{
    (void)arg;
    volatile char a[200 * 1024];
    a[0] = 1;
    ESCAPE(a);
    a[sizeof a - 1] = 2;
    T_STORE(&g_big_done, a[0] + a[sizeof a - 1]);
}

static void gate_waiter(void *arg)
{
    (void)arg;
    T_ADD(&g_waiters_started, 1);
    fj_wait(&g_gate, 0);
}

/* Suspend more waiting jobs than there are workers on small fibers (the pool
 * hands out the lowest free fibers first, so the fibers next to the one the
 * big frame runs on are held by suspended jobs), then run the big frame. */
typedef struct big_case {
    fj_job_fn fn;
    int nested;   /* run by a waiting small job: on its fiber's next stack segment */
} big_case;

/* A small job that runs the big frame as its child and waits: the child does
 * not fit under it, so it runs on the next stack segment of the same fiber
 * (segment.c; or on a fiber of its own when another worker
 * steals it first), and must be reported all the same. */
static void big_frame_parent(void *arg)
{
    fj_counter done;
    fj_counter_init(&done, 0);
    fj_job j = { .fn = (fj_job_fn)(uintptr_t)arg, .name = "big_frame" };
    fj_run_jobs(&j, 1, &done);
    fj_wait(&done, 0);
}

static void big_frame_root(void *arg)
{
    fj_job_fn big = ((const big_case *)arg)->fn;
    int nwaiters = (int)g_workers + 4;
    fj_counter_init(&g_gate, 1);
    fj_counter waiters;
    fj_counter_init(&waiters, 0);
    fj_job w = { .fn = gate_waiter, .name = "gate_waiter" };
    for (int i = 0; i < nwaiters; i++)
        fj_run_jobs(&w, 1, &waiters);
    while (T_LOAD(&g_waiters_started) < nwaiters)
        fj_yield();
    /* Not counted on a counter the root waits on, so not run on the root's
     * own (large) stack. */
    fj_job j = { .fn = big, .name = "big_frame" };
    if (((const big_case *)arg)->nested)
        j = (fj_job){ .fn = big_frame_parent, .arg = (void *)(uintptr_t)big, .name = "big_frame_parent" };
    fj_run_jobs(&j, 1, NULL);
    while (!T_LOAD(&g_big_done))
        fj_yield();
    /* Only reached when the overflow went unnoticed. */
    fj_counter_done(&g_gate, 1);
    fj_wait(&waiters, 0);
}

static void child_big_frame(void *arg)
{
    fj_config c = base_cfg();
    run_root(&c, big_frame_root, arg);
}

/* ------------------------------------------------------------ 6. fiber counts and max_map_count */

static long read_max_map_count(void)
{
#if TEST_WINDOWS
    return -1;   /* Windows has no such limit (and under Wine the path reaches the Linux host's) */
#endif
    FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
    if (!f)
        return -1;
    long v = -1;
    if (fscanf(f, "%ld", &v) != 1)
        v = -1;
    fclose(f);
    return v;
}

static unsigned g_too_many_small, g_too_many_large;

static void child_too_many_fibers(void *a)
{
    (void)a;
    fj_config c = base_cfg();
    c.small_fibers = g_too_many_small;
    c.large_fibers = g_too_many_large;
    fj_scheduler *s = fj_create(&c);
    if (s) {
        fprintf(stderr, "fj_create accepted %u small + %u large fibers (2 mappings each would exceed "
                "max_map_count)\n", c.small_fibers, c.large_fibers);
        fflush(stderr);
        _exit(3); /* without fj_destroy: nothing more to learn */
    }
    int err = fj_last_error();
    if (err != FJ_ELIMIT) {
        fprintf(stderr, "fj_create returned NULL with %d (%s), expected FJ_ELIMIT\n", err, fj_strerror(err));
        fflush(stderr);
        _exit(2);
    }
}

enum { MANY_WAITERS = 4000 };
static int g_many_started, g_many_finished;
static fj_counter g_many_gate;

static void many_waiter(void *arg)
{
    (void)arg;
    T_ADD(&g_many_started, 1);
    fj_wait(&g_many_gate, 0);
    T_ADD(&g_many_finished, 1);
}

static void many_waiters_root(void *arg)
{
    (void)arg;
    fj_counter_init(&g_many_gate, 1);
    fj_counter done;
    fj_counter_init(&done, 0);
    static fj_job jobs[MANY_WAITERS];
    for (int i = 0; i < MANY_WAITERS; i++)
        jobs[i] = (fj_job){ .fn = many_waiter, .name = "many_waiter" };
    fj_run_jobs(jobs, MANY_WAITERS, &done);
    /* Poll with fj_yield rather than wait: every waiter must be suspended on a
     * fiber of its own before the gate opens. */
    while (T_LOAD(&g_many_started) < MANY_WAITERS)
        fj_yield();
    CHECK_EQ(T_LOAD(&g_many_finished), 0);
    fj_counter_done(&g_many_gate, 1);
    fj_wait(&done, 0);
    CHECK_EQ(T_LOAD(&g_many_finished), MANY_WAITERS);
}

static void child_many_waiters(void *a)
{
    (void)a;
    fj_config c = base_cfg();
    c.small_fibers = 5000;
    run_root(&c, many_waiters_root, NULL);
    CHECK_EQ(g_many_started, MANY_WAITERS);
    CHECK_EQ(g_many_finished, MANY_WAITERS);
}

/* ------------------------------------------------------------ main */

/* EXPECT_ABORT_MATCH of tests/lib/test.h, but recording a soft failure so that
 * every scenario runs. */
#define EXPECT_ABORT_MATCH_SOFT(fn, arg, what, prefix, ...)                                        \
    do {                                                                                           \
        static const char *const parts_[] = { __VA_ARGS__, NULL };                                \
        expect_abort_match_soft_(__FILE__, __LINE__, (what), (fn), (arg), (prefix), parts_);       \
    } while (0)
static void expect_abort_match_soft_(const char *file, int ln, const char *what, void (*fn)(void *), void *arg,
                                     const char *prefix, const char *const *parts)
{
    static child_result r;
    run_in_child(fn, arg, 30, &r);
    if (WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGABRT && has_line_with(r.err, prefix, parts))
        return;
    char buf[128];
    fprintf(stderr, "%s:%d: FAILED: %s: child %s; expected SIGABRT and a line starting\n  %s\n", file, ln, what,
            child_status_text(r.status, buf, sizeof buf), prefix);
    for (size_t i = 0; parts[i]; i++)
        fprintf(stderr, "  containing \"%s\"\n", parts[i]);
    fprintf(stderr, "child stderr:\n%s\n", r.err);
    fflush(stderr);
    test_soft_failures++;
}

/* ------------------------------------------------------------ 7. a stack segment the kernel refuses */

#ifdef SP_HOG
/* A chain of waits: each link runs the next as its child and waits for it.
 * The children do not fit under their waiters, so each runs on its waiter's
 * next stack segment (src/segment.c), or on a fiber of its own when the
 * kernel refuses to make that segment usable. */
static int g_links;

static void link_job(void *arg)
{
    uintptr_t depth = (uintptr_t)arg;
    T_ADD(&g_links, 1);
    if (depth == 0)
        return;
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_job j = { .fn = link_job, .arg = (void *)(depth - 1), .name = "link" };
    fj_run_jobs(&j, 1, &c);
    fj_wait(&c, 0);
}

static int run_chain(uintptr_t depth)
{
    g_links = 0;
    link_job((void *)depth);
    return T_LOAD(&g_links) == (int)depth + 1;
}

static fj_counter g_hog_gate, g_hog_started;

static void hog_parker(void *arg)
{
    (void)arg;
    fj_counter_done(&g_hog_started, 1);
    fj_wait(&g_hog_gate, 0);
}

/* Split a reserved region page by page until the kernel refuses another
 * mapping (vm.max_map_count): from then on no stack segment can be made
 * usable. Returns the region to unmap. */
static char *hog_mappings(size_t *len)
{
    long max = read_max_map_count();
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    if (max <= 0 || max > 1000000)
        return NULL;
    size_t pages = (size_t)max + 256;
    char *p = mmap(NULL, pages * page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    size_t i = 1;
    for (; i < pages; i += 2)
        if (mprotect(p + i * page, page, PROT_READ) != 0)
            break;
    *len = pages * page;
    return i < pages ? p : NULL;   /* NULL: never refused (a limit beyond what we split) */
}

static int g_hog_ok;

static void hog_then_chains(void *arg)
{
    (void)arg;
    size_t len = 0;
    char *hog = hog_mappings(&len);
    if (!hog) {
        g_hog_ok = -1;
        return;
    }
    /* Every nested child's segment is refused: the children run on the
     * fibers the warm-up made usable, and the chain completes; the second
     * chain meets fibers whose refusal is remembered. */
    int ok = run_chain(4) && run_chain(4);
    munmap(hog, len);
    ok = ok && run_chain(4);   /* and with mappings to spare again */
    g_hog_ok = ok ? 1 : 0;
}

static void filler_job(void *arg) { (void)arg; }

static void refused_root(void *arg)
{
    (void)arg;
    /* Make 8 small fibers usable first: 8 jobs parked at once on a gate. */
    enum { PARKERS = 8 };
    fj_counter_init(&g_hog_gate, 1);
    fj_counter_init(&g_hog_started, PARKERS);
    fj_counter parked;
    fj_counter_init(&parked, 0);
    fj_job p = { .fn = hog_parker, .name = "parker" };
    for (int i = 0; i < PARKERS; i++)
        fj_run_jobs(&p, 1, &parked);
    fj_wait(&g_hog_started, 0);
    fj_counter_done(&g_hog_gate, 1);
    fj_wait(&parked, 0);
    /* The chains start at the base of a small fiber: a job of another
     * counter on top of ours makes the root park instead of running it. */
    fj_counter done;
    fj_counter_init(&done, 0);
    fj_job j = { .fn = hog_then_chains, .name = "hog_then_chains" };
    fj_job f = { .fn = filler_job, .name = "filler" };
    fj_run_jobs(&j, 1, &done);
    fj_run_jobs(&f, 1, NULL);
    fj_wait(&done, 0);
}

static void child_refused_segment(void *a)
{
    (void)a;
    fj_config c = base_cfg();
    c.workers = 1;
    run_root(&c, refused_root, NULL);
    if (g_hog_ok < 0) {
        printf("max_map_count not reached by splitting a region: nothing refused, nothing checked\n");
        fflush(stdout);
        _exit(0);
    }
    if (g_hog_ok != 1) {
        fprintf(stderr, "a chain of waits lost a link while stack segments were refused\n");
        fflush(stderr);
        _exit(2);
    }
}
#endif

int main(int argc, char **argv)
{
    g_workers = test_workers(argc, argv);

    /* 1-4: the whole stack of the class, however deep the waiting job is. */
    EXPECT_CHILD_OK(child_small_one, NULL, 30, "small parent 28 KiB deep waits for a kid using 56 KiB");
    EXPECT_CHILD_OK(child_small_many, NULL, 30, "64 small parents 28 KiB deep, 2 kids using 56 KiB each");
    EXPECT_CHILD_OK(child_small_batch, NULL, 30, "8 small parents 28 KiB deep, a batch of 16 kids using 62 KiB each");
    EXPECT_CHILD_OK(child_large_one, NULL, 30, "large parent 400 KiB deep waits for a large kid using 480 KiB");
    EXPECT_CHILD_OK(child_large_many, NULL, 30, "8 large parents 400 KiB deep, 2 large kids using 480 KiB each");
    EXPECT_CHILD_OK(child_deep_root, NULL, 30, "root 480 KiB deep waits for a batch of 16 small kids using 56 KiB");
    EXPECT_CHILD_OK(child_small_pool, NULL, 60,
                    "small pool (workers+3 small, 2 large): 200 parents 20 KiB deep, a kid using 56 KiB each");

    /* 5: a frame larger than the stack. Under ASan the stacks are several
     * times larger than configured (room for redzones), so these frames fit,
     * and ASan owns SIGSEGV: skipped there. */
#ifdef SP_ASAN
    printf("big-frame checks skipped under AddressSanitizer\n");
    (void)child_big_frame;
    (void)big_frame_76k;
    (void)big_frame_200k;
    (void)expect_abort_match_soft_;
#else
    static big_case big76 = { big_frame_76k, 0 }, big200 = { big_frame_200k, 0 };
    static big_case nested76 = { big_frame_76k, 1 }, nested200 = { big_frame_200k, 1 };
    EXPECT_ABORT_MATCH_SOFT(child_big_frame, &big76, "76 KiB frame on a 64 KiB stack",
                            "fiberjob: stack overflow in job 'big_frame' on worker ", "64 KiB small stack");
    EXPECT_ABORT_MATCH_SOFT(child_big_frame, &big200, "200 KiB frame on a 64 KiB stack",
                            "fiberjob: stack overflow in job 'big_frame' on worker ", "64 KiB small stack");
    EXPECT_ABORT_MATCH_SOFT(child_big_frame, &nested76, "76 KiB frame in a child on a stack segment",
                            "fiberjob: stack overflow in job 'big_frame' on worker ", "64 KiB small stack");
    EXPECT_ABORT_MATCH_SOFT(child_big_frame, &nested200, "200 KiB frame in a child on a stack segment",
                            "fiberjob: stack overflow in job 'big_frame' on worker ", "64 KiB small stack");
#endif

    /* 6: fiber counts against max_map_count. */
    long maps = read_max_map_count();
    const unsigned fiber_max = 65471, large = 1000;
    if (maps == 65530) {
        g_too_many_small = 40000;
        g_too_many_large = large;
    } else if (maps > 0 && (unsigned long)maps / 2 + 2000 <= fiber_max) {
        g_too_many_large = large;
        g_too_many_small = (unsigned)(maps / 2 + 2000) - large;
    }
    if (g_too_many_small) {
        EXPECT_CHILD_OK(child_too_many_fibers, NULL, 30,
                        "fj_create with 2 x (small + large fibers) > max_map_count returns NULL, FJ_ELIMIT");
    } else {
        printf("max_map_count %ld: no fiber count both fits the 16-bit limit and exceeds it; "
               "that check skipped\n", maps);
    }
    EXPECT_CHILD_OK(child_many_waiters, NULL, 60, "5000 small fibers, 4000 jobs suspended at once on one gate");

    /* 7: a stack segment the kernel refuses to make usable. */
#ifdef SP_HOG
    EXPECT_CHILD_OK(child_refused_segment, NULL, 60,
                    "chains of waits while every new stack segment is refused (max_map_count used up)");
#else
    printf("refused-segment check skipped (needs native x86-64 Linux without a sanitizer)\n");
#endif

    return test_finish();
}
