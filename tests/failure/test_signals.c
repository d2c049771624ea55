/* The SIGSEGV/SIGBUS handler and what it leaves behind, the stack-overflow
 * report, signal stacks, and fj_panic called from the panic hook.
 *
 *  1. A fault that is not an overflow, with SIGSEGV ignored before fj_create,
 *     kills the process with SIGSEGV (it used to loop in the handler for
 *     ever). A SIGSEGV sent with kill() is ignored when it was ignored before,
 *     and kills the process when the default action was in place.
 *  2. fj_destroy puts back the handler that was there before fj_create, but
 *     leaves alone one the program installed after fj_create.
 *  3. The overflow report: the advice for a small stack names
 *     FJ_JOB_LARGE_STACK, for a large one only large_stack_size. An overflow
 *     is a fault in the guard gap below a stack, its lowest byte included; a
 *     fault one byte below the gap is a bad pointer, not an overflow.
 *  4. Signal stacks are mapped by fj_create: it fails with FJ_ENOMEM when it
 *     cannot map them, and a worker whose stack could not be mapped later
 *     (the old lazy mapping) would die of the overflow with no report.
 *  5. fj_panic called from the panic hook for the job being reported stops
 *     with one line; a job the hook runs may still panic.
 *
 * Every scenario runs in a child process with a time limit.
 *
 * On Windows, which has neither signals sent with kill() nor sigaction nor
 * signal stacks, 1 is the bad pointer alone (it must end the process with
 * an access violation, read as SIGSEGV, not hang), 3 the overflow advice
 * without the gap edges (they read /proc/self/maps), and 2 and 4 are left
 * out; the program says so.
 */
#include <stdint.h>

#include "test.h"

#if !TEST_WINDOWS
#include <sys/mman.h>
#include <sys/syscall.h>
#endif

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define T_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define T_SANITIZER 1
#endif
#endif

static unsigned g_workers;

static fj_scheduler *make(void)
{
    fj_config c = fj_config_default();
    c.workers = g_workers;
    fj_scheduler *s = fj_create(&c);
    if (!s) {
        fprintf(stderr, "fj_create failed: %s\n", fj_strerror(fj_last_error()));
        exit(1);
    }
    return s;
}

/* Run one job named `name` and wait for it (it may run inline on our stack). */
static void run_one(fj_job_fn fn, const char *name)
{
    fj_job j = { .fn = fn, .name = name };
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs(&j, 1, &c);
    fj_wait(&c, 0);
}

static bool child_ended(const child_result *r, int sig, const char *what)
{
    char buf[128];
    bool ok = WIFSIGNALED(r->status) && WTERMSIG(r->status) == sig;
    if (!ok)
        FAIL_SOFT("%s: expected death by signal %d; child %s%s. child stderr:\n%s", what, sig,
                  child_status_text(r->status, buf, sizeof buf),
                  WIFSIGNALED(r->status) && WTERMSIG(r->status) == SIGALRM ? " (hang)" : "", r->err);
    return ok;
}

/* ------------------------------------------------------------ 1. chaining */

static int *volatile g_bad_pointer = (int *)(uintptr_t)8;
static void bad_pointer_job(void *arg) { (void)arg; *g_bad_pointer = 1; }
static void bad_pointer_root(void *arg) { (void)arg; run_one(bad_pointer_job, "bad_pointer"); }

static void child_ignored_fault(void *arg)
{
    (void)arg;
#if !TEST_WINDOWS
    signal(SIGSEGV, SIG_IGN);
#endif
    fj_main(make(), bad_pointer_root, NULL);
}

#if !TEST_WINDOWS

static void kill_self_job(void *arg) { (void)arg; kill(getpid(), SIGSEGV); }
static void kill_self_root(void *arg) { (void)arg; run_one(kill_self_job, "kill_self"); }

static void child_sent_ignored(void *arg)
{
    (void)arg;
    signal(SIGSEGV, SIG_IGN);
    fj_scheduler *s = make();
    CHECK_EQ(fj_main(s, kill_self_root, NULL), 0);
    fj_destroy(s);
}

static void child_sent_default(void *arg)
{
    (void)arg;
    fj_scheduler *s = make();
    fj_main(s, kill_self_root, NULL);
    /* Alive here: the signal was swallowed. Exit 0 so the parent says so. */
    fj_destroy(s);
}

/* ------------------------------------------------------------ 2. uninstall */

static void program_handler(int sig) { (void)sig; }
static void program_info_handler(int sig, siginfo_t *si, void *uctx) { (void)sig; (void)si; (void)uctx; }

static bool handler_is(int sig, void (*plain)(int), void (*info)(int, siginfo_t *, void *))
{
    struct sigaction cur;
    CHECK(sigaction(sig, NULL, &cur) == 0);
    if (info)
        return (cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == info;
    return !(cur.sa_flags & SA_SIGINFO) && cur.sa_handler == plain;
}

static void root_nothing(void *arg) { (void)arg; }

/* The program installs its own handlers after fj_create: they stay. */
static void child_handler_kept(void *arg)
{
    (void)arg;
    fj_scheduler *s = make();
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = program_info_handler;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    CHECK(sigaction(SIGSEGV, &sa, NULL) == 0);
    CHECK(signal(SIGBUS, program_handler) != SIG_ERR);
    CHECK_EQ(fj_main(s, root_nothing, NULL), 0);
    fj_destroy(s);
    bool segv_ok = handler_is(SIGSEGV, NULL, program_info_handler);
    bool bus_ok = handler_is(SIGBUS, program_handler, NULL);
    if (!segv_ok)
        fprintf(stderr, "SIGSEGV handler installed after fj_create was replaced by fj_destroy\n");
    if (!bus_ok)
        fprintf(stderr, "SIGBUS handler installed after fj_create was replaced by fj_destroy\n");
    if (!segv_ok || !bus_ok)
        exit(1);
}

static bool same_handler(const struct sigaction *a, const struct sigaction *b)
{
    if ((a->sa_flags & SA_SIGINFO) != (b->sa_flags & SA_SIGINFO))
        return false;
    return a->sa_flags & SA_SIGINFO ? a->sa_sigaction == b->sa_sigaction : a->sa_handler == b->sa_handler;
}

/* Handlers from before fj_create (here the default action for SIGSEGV, or a
 * sanitizer's, and the program's for SIGBUS) come back at fj_destroy. */
static void child_handler_restored(void *arg)
{
    (void)arg;
    CHECK(signal(SIGBUS, program_handler) != SIG_ERR);
    struct sigaction segv, bus, cur;
    CHECK(sigaction(SIGSEGV, NULL, &segv) == 0);
    CHECK(sigaction(SIGBUS, NULL, &bus) == 0);
    fj_scheduler *s = make();
    CHECK(sigaction(SIGSEGV, NULL, &cur) == 0 && !same_handler(&cur, &segv));
    CHECK(sigaction(SIGBUS, NULL, &cur) == 0 && !same_handler(&cur, &bus));
    CHECK_EQ(fj_main(s, root_nothing, NULL), 0);
    fj_destroy(s);
    CHECK(sigaction(SIGSEGV, NULL, &cur) == 0);
    bool segv_ok = same_handler(&cur, &segv);
    CHECK(sigaction(SIGBUS, NULL, &cur) == 0);
    bool bus_ok = same_handler(&cur, &bus);
    if (!segv_ok)
        fprintf(stderr, "SIGSEGV: the handler from before fj_create was not restored by fj_destroy\n");
    if (!bus_ok)
        fprintf(stderr, "SIGBUS: the handler from before fj_create was not restored by fj_destroy\n");
    if (!segv_ok || !bus_ok)
        exit(1);
}

#endif /* !TEST_WINDOWS */

/* ------------------------------------------------------------ 3. overflow report */

/* Under ASan the stacks are larger than configured (room for redzones) and
 * ASan owns SIGSEGV; sanitizers also intercept mmap (section 4). */
#ifndef T_SANITIZER

static void deep_job(void *arg) { (void)arg; test_recurse_forever(NULL, 0); }
static void overflow_root(void *arg)
{
    /* Not counted on what the root waits on, so it gets a fiber of its own
     * rather than running inline on the root's stack. */
    fj_job j = { .fn = deep_job, .name = "deep", .flags = (unsigned)(uintptr_t)arg };
    fj_counter never;
    fj_counter_init(&never, 1);
    fj_run_jobs(&j, 1, NULL);
    fj_wait(&never, 0);
}
static void child_overflow(void *arg) { fj_main(make(), overflow_root, arg); }

/* The first line of text that starts with prefix, copied into out ("" if none). */
static void find_line(const char *text, const char *prefix, char *out, size_t n)
{
    out[0] = '\0';
    const char *p = text;
    while (p && *p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (strncmp(p, prefix, strlen(prefix)) == 0) {
            size_t cut = len < n - 1 ? len : n - 1;
            memcpy(out, p, cut);
            out[cut] = '\0';
            return;
        }
        p = nl ? nl + 1 : NULL;
    }
}

static bool ends_with(const char *s, const char *tail)
{
    size_t a = strlen(s), b = strlen(tail);
    return a >= b && strcmp(s + a - b, tail) == 0;
}

static void check_overflow_advice(void)
{
    static child_result r;
    char line[1024];
    const char *prefix = "fiberjob: stack overflow in job 'deep' on worker ";

    run_in_child(child_overflow, (void *)0, 30, &r);
    find_line(r.err, prefix, line, sizeof line);
    if (!child_ended(&r, SIGABRT, "small overflow") || !strstr(line, ": it used all of its 64 KiB small stack (") ||
        !ends_with(line, "); run it with FJ_JOB_LARGE_STACK (512 KiB) or raise fj_config.small_stack_size"))
        FAIL_SOFT("small overflow: wrong report; child stderr:\n%s", r.err);

    run_in_child(child_overflow, (void *)(uintptr_t)FJ_JOB_LARGE_STACK, 30, &r);
    find_line(r.err, prefix, line, sizeof line);
    if (!child_ended(&r, SIGABRT, "large overflow") || !strstr(line, ": it used all of its 512 KiB large stack (") ||
        !ends_with(line, "); raise fj_config.large_stack_size") || strstr(line, "FJ_JOB_LARGE_STACK"))
        FAIL_SOFT("large overflow: wrong report (a job on a large stack cannot ask for a larger one); "
                  "child stderr:\n%s", r.err);
}

/* The edges of the gap. The job finds its own stack, the gap below it and the
 * gap's size in /proc/self/maps (the size from the gap above its stack, with
 * the next fiber's stack in use by a job that waits), then writes to the
 * lowest byte of the gap (an overflow) or to the byte below it (not one; made
 * inaccessible first if it is the top of a stack in use). */
#if !TEST_WINDOWS
typedef struct map_entry {
    uintptr_t lo, hi;
    char perms[5];
} map_entry;

static int read_maps(map_entry *out, int cap)
{
    FILE *f = fopen("/proc/self/maps", "r");
    CHECK(f);
    int n = 0;
    char line[512];
    while (n < cap && fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        char perms[5];
        if (sscanf(line, "%lx-%lx %4s", &lo, &hi, perms) == 3) {
            out[n].lo = lo;
            out[n].hi = hi;
            memcpy(out[n].perms, perms, 5);
            n++;
        }
    }
    fclose(f);
    return n;
}

static const map_entry *map_find(const map_entry *m, int n, uintptr_t addr)
{
    for (int i = 0; i < n; i++)
        if (m[i].lo <= addr && addr < m[i].hi)
            return &m[i];
    return NULL;
}

static fj_counter g_neighbour_started, g_never;
static void neighbour_job(void *arg)
{
    (void)arg;
    fj_counter_done(&g_neighbour_started, 1);
    fj_wait(&g_never, 0);
}

static void skip(const char *why)
{
    fprintf(stderr, "SKIP: %s\n", why);
    fflush(stderr);
    _exit(0);
}

static map_entry g_maps[4096];
static void edge_job(void *below_gap)
{
    fj_job n = { .fn = neighbour_job, .name = "neighbour" };
    fj_run_jobs(&n, 1, NULL);
    fj_wait(&g_neighbour_started, 0);
    int nm = read_maps(g_maps, 4096);
    const map_entry *stack = map_find(g_maps, nm, (uintptr_t)__builtin_frame_address(0));
    const map_entry *above = stack ? map_find(g_maps, nm, stack->hi) : NULL;
    const map_entry *next = above ? map_find(g_maps, nm, above->hi) : NULL;
    /* The mapping above must be exactly one gap (256 KiB, FJ_GUARD_GAP): when
     * the fiber above has never run, its stack is still PROT_NONE and merges
     * with the gaps on both sides into one larger mapping. */
    if (!stack || !above || !next || strncmp(above->perms, "---", 3) != 0 || strncmp(next->perms, "rw", 2) != 0 ||
        next->hi - next->lo != stack->hi - stack->lo || above->hi - above->lo != 256 * 1024)
        skip("the neighbouring fiber's stack is not directly above this one");
    uintptr_t gap = above->hi - above->lo;
    uintptr_t target = stack->lo - gap - (below_gap ? 1 : 0);
    const map_entry *t = map_find(g_maps, nm, target);
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    if (t && (t->perms[0] == 'r' || t->perms[1] == 'w')) {
        /* The top of the stack below, in use (a worker's own fiber, say):
         * make its top page fault. If that worker faults on it first, the
         * fault is below our gap all the same. */
        if (mprotect((void *)(target & ~(page - 1)), page, PROT_NONE) != 0)
            skip("the byte below the gap is accessible memory and mprotect failed");
    } else if (t) {
        /* Reserved, not yet committed (a fiber never used): another worker
         * may take that fiber and commit its stack at any moment. Make the
         * page inaccessible again just before the write, to narrow that. */
        (void)mprotect((void *)(target & ~(page - 1)), page, PROT_NONE);
    }
    *(volatile char *)target = 1;
    /* Still here: the page was made accessible between the mprotect and the
     * write (a worker committed the stack below for a fiber it took), so
     * this run cannot tell; it was once reported as a deadlock, the test's
     * root waiting for ever on a job that had returned. */
    skip("the byte below the gap became accessible meanwhile (another worker committed the stack below)");
}
static void edge_root(void *below_gap)
{
    fj_counter_init(&g_neighbour_started, 1);
    fj_counter_init(&g_never, 1);
    /* Not counted, so not run inline on the root's (large) stack. */
    fj_job j = { .fn = edge_job, .arg = below_gap, .name = "edge" };
    fj_run_jobs(&j, 1, NULL);
    fj_wait(&g_never, 0);
}
static void child_edge(void *below_gap) { fj_main(make(), edge_root, below_gap); }

static void check_gap_edges(void)
{
    static child_result r;
    run_in_child(child_edge, NULL, 30, &r);
    if (strstr(r.err, "SKIP: "))
        printf("lowest byte of the gap: %s", strstr(r.err, "SKIP: "));
    else if (child_ended(&r, SIGABRT, "fault at the lowest byte of the gap"))
        if (!has_line_with(r.err, "fiberjob: stack overflow in job 'edge' on worker ",
                           (const char *const[]){ "it used all of its 64 KiB small stack", NULL }))
            FAIL_SOFT("fault at the lowest byte of the gap: no overflow report; child stderr:\n%s", r.err);

    run_in_child(child_edge, (void *)1, 30, &r);
    if (strstr(r.err, "SKIP: "))
        printf("byte below the gap: %s", strstr(r.err, "SKIP: "));
    else if (strstr(r.err, "stack overflow"))
        FAIL_SOFT("a fault below the gap was reported as a stack overflow:\n%s", r.err);
    else
        child_ended(&r, SIGSEGV, "fault one byte below the gap");
}

/* ------------------------------------------------------------ 4. signal stacks */

/* The library's mmap calls come here (the test links it statically): while
 * g_fail_altstack is set, 64 KiB read-write anonymous maps, which only the
 * signal stacks are, fail. */
static int g_fail_altstack;
void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    if (__atomic_load_n(&g_fail_altstack, __ATOMIC_RELAXED) && len == 64 * 1024 &&
        prot == (PROT_READ | PROT_WRITE) && (flags & MAP_ANONYMOUS)) {
        errno = ENOMEM;
        return MAP_FAILED;
    }
    return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
}

static void child_altstack_enomem(void *arg)
{
    (void)arg;
    fj_config c = fj_config_default();
    c.workers = g_workers;
    __atomic_store_n(&g_fail_altstack, 1, __ATOMIC_RELAXED);
    fj_scheduler *s = fj_create(&c);
    if (s) {
        fprintf(stderr, "fj_create succeeded without signal stacks\n");
        exit(1);
    }
    CHECK_EQ(fj_last_error(), FJ_ENOMEM);
}

static void root_overflow(void *arg) { (void)arg; test_recurse_forever(NULL, 0); }
static void child_altstack_later(void *arg)
{
    (void)arg;
    fj_scheduler *s = make();
    /* From here on no signal stack can be mapped: worker 0, which the root
     * job runs on, must already have one. */
    __atomic_store_n(&g_fail_altstack, 1, __ATOMIC_RELAXED);
    fj_main(s, root_overflow, NULL);
}

static void check_altstacks(void)
{
    EXPECT_CHILD_OK(child_altstack_enomem, NULL, 20, "fj_create must fail with FJ_ENOMEM without signal stacks");
    static child_result r;
    run_in_child(child_altstack_later, NULL, 30, &r);
    if (!child_ended(&r, SIGABRT, "overflow of the root job after fj_create") ||
        !has_line_with(r.err, "fiberjob: stack overflow in job 'fj_main root' on worker 0: ",
                       (const char *const[]){ "large stack", NULL }))
        FAIL_SOFT("root overflow with no signal stack mappable after fj_create: no report; child stderr:\n%s",
                  r.err);
}
#endif /* !TEST_WINDOWS */
#endif

/* ------------------------------------------------------------ 5. panic hook */

static void hook_panics_again(const fj_panic_info *info, void *user)
{
    (void)info;
    (void)user;
    fj_panic("again from the hook");
}
static void first_panic_job(void *arg) { (void)arg; fj_panic("first %d", 1); }
static void hook_root(void *arg) { (void)arg; run_one(first_panic_job, "hooked"); }
static void child_hook_recursion(void *arg)
{
    (void)arg;
    fj_config c = fj_config_default();
    c.workers = g_workers;
    c.panic_hook = hook_panics_again;
    fj_scheduler *s = fj_create(&c);
    CHECK(s);
    fj_main(s, hook_root, NULL);
}

/* The hook of the outer job's panic runs a job that panics in turn: a panic of
 * another job (maybe run inline on the same fiber), not a re-entry. */
static int g_inner_reports;
static fj_counter g_inner_done;
static void inner_panic_job(void *arg) { (void)arg; fj_panic("inner"); }
static void hook_runs_job(const fj_panic_info *info, void *user)
{
    (void)user;
    if (strcmp(info->job_name, "inner") == 0) {
        g_inner_reports++;
        return;
    }
    fj_job j = { .fn = inner_panic_job, .name = "inner" };
    fj_counter_init(&g_inner_done, 0);
    fj_run_jobs(&j, 1, &g_inner_done);
    fj_wait(&g_inner_done, 0);
}
static void outer_panic_job(void *arg) { (void)arg; fj_panic("outer"); }
static void hook_job_root(void *arg)
{
    (void)arg;
    fj_job j = { .fn = outer_panic_job, .name = "outer" };
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs(&j, 1, &c);
    fj_wait(&c, 0);
    CHECK_EQ(fj_counter_panics(&c), 1);
    CHECK_EQ(fj_counter_panics(&g_inner_done), 1);
}
static void child_hook_runs_job(void *arg)
{
    (void)arg;
    fj_config c = fj_config_default();
    c.workers = g_workers;
    c.panic_hook = hook_runs_job;
    fj_scheduler *s = fj_create(&c);
    CHECK(s);
    CHECK_EQ(fj_main(s, hook_job_root, NULL), 0);
    fj_destroy(s);
    CHECK_EQ(g_inner_reports, 1);
}

int main(int argc, char **argv)
{
    g_workers = test_workers(argc, argv);
    static child_result r;

    /* 1. A sanitizer's own handler comes before ours: it reports the fault
     * itself and exits, which is fine, as long as nothing hangs. */
    run_in_child(child_ignored_fault, NULL, 20, &r);
#ifdef T_SANITIZER
    if (!(WIFEXITED(r.status) && WEXITSTATUS(r.status) != 0 && strstr(r.err, "Sanitizer")))
#endif
        child_ended(&r, SIGSEGV, "bad pointer in a job with SIGSEGV ignored before fj_create");
#if TEST_WINDOWS
    printf("Windows: SIGSEGV sent with kill() (1), the handlers left at fj_destroy (2), the overflow gap's edges (3) "
           "and signal stacks (4) are left out: Windows has no kill(), sigaction or sigaltstack\n");
#else
    EXPECT_CHILD_OK(child_sent_ignored, NULL, 20, "SIGSEGV sent with kill() while ignored before fj_create");
    run_in_child(child_sent_default, NULL, 20, &r);
#ifdef T_SANITIZER
    if (!(WIFEXITED(r.status) && WEXITSTATUS(r.status) != 0 && strstr(r.err, "Sanitizer")))
#endif
        child_ended(&r, SIGSEGV, "SIGSEGV sent with kill() with the default action before fj_create");

    /* 2. */
    EXPECT_CHILD_OK(child_handler_kept, NULL, 20, "handlers installed after fj_create survive fj_destroy");
    EXPECT_CHILD_OK(child_handler_restored, NULL, 20, "handlers from before fj_create come back at fj_destroy");
#endif

    /* 3 and 4. */
#ifdef T_SANITIZER
    printf("overflow reports and signal stacks: skipped under a sanitizer\n");
#else
    check_overflow_advice();
#if !TEST_WINDOWS
    check_gap_edges();
    check_altstacks();
#endif
#endif

    /* 5. */
    EXPECT_ABORT_MATCH(child_hook_recursion, NULL,
                       "fiberjob: fj_panic: called from the panic hook while reporting the panic of job 'hooked': "
                       "first 1 (in job 'hooked' on worker ",
                       ")");
    EXPECT_CHILD_OK(child_hook_runs_job, NULL, 20, "a job run by the panic hook panics");
    return test_finish();
}
