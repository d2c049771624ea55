/*
 * The one helper header of the tests (C and C++). Each test is its own
 * program, registered by fj_add_test (cmake/testing.cmake) and run by ctest
 * with a timeout, and takes the worker count as its first argument (default 2).
 *
 *   CHECK, CHECK_EQ, CHECK_STREQ   stop the test at the first failed check;
 *   FAIL_SOFT, test_finish         report a failure and go on, fail at exit;
 *   run_in_child                   run a function in a forked child, stderr
 *                                  captured, killed by SIGALRM if it hangs;
 *   EXPECT_ABORT_LINE / _MATCH /   the child must die of SIGABRT and print
 *   _CONTAINS                      the line (exact, by parts, or a substring);
 *   EXPECT_CHILD_OK                the child must exit 0 (a hang is a soft
 *                                  failure);
 *   test_rand                      a cheap deterministic generator;
 *   test_block_*                   patterned blocks checked for overlap;
 *   test::expect_abort, test::config, test::panic_log   the same for C++.
 *
 * Fork only while the parent has no scheduler (no threads besides main), so
 * the child starts from a clean, single-threaded copy.
 */
#ifndef FJ_TEST_H
#define FJ_TEST_H

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fiberjob.h"

#define CHECK(cond)                                                                 \
    do {                                                                            \
        if (!(cond)) {                                                              \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            fflush(stderr);                                                         \
            exit(1);                                                                \
        }                                                                           \
    } while (0)

#define CHECK_EQ(a, b)                                                                        \
    do {                                                                                      \
        long long a_ = (long long)(a), b_ = (long long)(b);                                   \
        if (a_ != b_) {                                                                       \
            fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %lld, %s == %lld\n", __FILE__,    \
                    __LINE__, #a, a_, #b, b_);                                                \
            fflush(stderr);                                                                   \
            exit(1);                                                                          \
        }                                                                                     \
    } while (0)

#define CHECK_STREQ(a, b)                                                                     \
    do {                                                                                      \
        const char *a_ = (a), *b_ = (b);                                                      \
        if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                              \
            fprintf(stderr, "%s:%d: CHECK_STREQ failed: %s == \"%s\", %s == \"%s\"\n",       \
                    __FILE__, __LINE__, #a, a_ ? a_ : "(null)", #b, b_ ? b_ : "(null)");      \
            fflush(stderr);                                                                   \
            exit(1);                                                                          \
        }                                                                                     \
    } while (0)

/* A failure that should not stop the rest of the test from running (so one
 * library bug does not hide others): report it now, fail at exit. */
static int test_soft_failures;
#define FAIL_SOFT(...)                                            \
    do {                                                          \
        fprintf(stderr, "%s:%d: FAILED: ", __FILE__, __LINE__);   \
        fprintf(stderr, __VA_ARGS__);                             \
        fputc('\n', stderr);                                      \
        fflush(stderr);                                           \
        test_soft_failures++;                                     \
    } while (0)

/* End of main: 0 when nothing failed. */
static inline int test_finish(void)
{
    if (test_soft_failures) {
        fprintf(stderr, "%d check(s) failed\n", test_soft_failures);
        return 1;
    }
    printf("ok\n");
    return 0;
}

/* Relaxed atomics on plain ints shared between jobs. */
#define T_LOAD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define T_STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define T_ADD(p, v) __atomic_fetch_add((p), (v), __ATOMIC_ACQ_REL)

static inline unsigned test_workers(int argc, char **argv)
{
    unsigned n = argc > 1 ? (unsigned)atoi(argv[1]) : 2;
    return n ? n : 2;
}

/* Defaults with the worker count from the command line. Pinning stays on (with
 * more workers than CPUs, workers share CPUs round-robin). */
static inline fj_config test_config(int argc, char **argv)
{
    fj_config c = fj_config_default();
    c.workers = test_workers(argc, argv);
    return c;
}

/* ------------------------------------------------------------ child processes */

/* Sanitizer builds run several times slower: stretch the time limits of
 * child processes (they only catch hangs; tests never check speed), by the
 * larger of the sanitizer's factor here and the build's
 * FIBERJOB_TEST_TIMEOUT_SCALE (cmake/testing.cmake passes it as
 * FJ_TEST_TIMEOUT_SCALE: 10 under Valgrind, 3 under qemu in tools/aarch64.sh).
 * TEST_SANITIZED says whether this is an ASan or TSan build. */
#if defined(__SANITIZE_THREAD__)
#define TEST_SAN_TIME_SCALE 6
#elif defined(__SANITIZE_ADDRESS__)
#define TEST_SAN_TIME_SCALE 3
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TEST_SAN_TIME_SCALE 6
#elif __has_feature(address_sanitizer)
#define TEST_SAN_TIME_SCALE 3
#endif
#endif
#ifdef TEST_SAN_TIME_SCALE
#define TEST_SANITIZED 1
#else
#define TEST_SANITIZED 0
#define TEST_SAN_TIME_SCALE 1
#endif
#ifndef FJ_TEST_TIMEOUT_SCALE
#define FJ_TEST_TIMEOUT_SCALE 1
#endif
#if FJ_TEST_TIMEOUT_SCALE > TEST_SAN_TIME_SCALE
#define TEST_TIME_SCALE FJ_TEST_TIMEOUT_SCALE
#else
#define TEST_TIME_SCALE TEST_SAN_TIME_SCALE
#endif

/* The time limit of a child that must abort (before TEST_TIME_SCALE). */
#define TEST_ABORT_TIMEOUT 30

typedef struct child_result {
    int status;        /* as from waitpid */
    char err[16384];   /* what the child wrote on stderr (NUL-terminated, may be cut) */
    size_t err_len;
} child_result;

/*
 * Run fn(arg) in a forked child with stderr captured. The child exits 0 when fn
 * returns, and is killed by SIGALRM after timeout_s seconds (times
 * TEST_TIME_SCALE): a hang is then reported as death by SIGALRM instead of
 * hanging the test.
 */
/*
 * Threads of the process right now (/proc/self/task), 0 if unreadable.
 * Before a fork the tests let threads that are still winding down finish:
 * under qemu-user a fork made while the host thread of a guest thread that
 * has just exited (fj_destroy joined it) still held a lock inside the C
 * library left the child stuck on that lock for good, where not even
 * SIGALRM reached it (once, in CI's AArch64 stage). Natively, after
 * fj_destroy, the process has one thread and nothing waits; under qemu its
 * own helper thread stays, so the wait is 20 ms at most.
 */
static inline unsigned test_thread_count(void)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return 0;
    unsigned n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static inline void test_settle_before_fork(void)
{
    for (int i = 0; i < 20 && test_thread_count() > 1; i++) {
        struct timespec ts = { 0, 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
}

static inline void run_in_child(void (*fn)(void *), void *arg, unsigned timeout_s, child_result *out)
{
    int fds[2];
    CHECK(pipe(fds) == 0);
    fflush(stdout);
    fflush(stderr);
    test_settle_before_fork();
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], STDERR_FILENO);
        close(fds[1]);
        signal(SIGABRT, SIG_DFL);
        /* No core dump: on this kernel, a dump that starts while a worker
         * thread is still inside sched_setaffinity (pinning itself just after
         * fj_create) never finishes, and the child hangs in state D. */
        prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
        alarm(timeout_s * TEST_TIME_SCALE);
        fn(arg);
        fflush(stderr);
        _exit(0);
    }
    close(fds[1]);
    out->err_len = 0;
    for (;;) {
        size_t room = sizeof out->err - 1 - out->err_len;
        char sink[4096];
        ssize_t r = room ? read(fds[0], out->err + out->err_len, room) : read(fds[0], sink, sizeof sink);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        if (room)
            out->err_len += (size_t)r;
    }
    out->err[out->err_len] = '\0';
    close(fds[0]);
    while (waitpid(pid, &out->status, 0) < 0)
        CHECK(errno == EINTR);
}

/* The signal that killed the child, or 0. */
static inline int child_signal(const child_result *r)
{
    return WIFSIGNALED(r->status) ? WTERMSIG(r->status) : 0;
}

/* The child's exit code, or -1 when a signal killed it. */
static inline int child_exit_code(const child_result *r)
{
    return WIFEXITED(r->status) ? WEXITSTATUS(r->status) : -1;
}

static inline const char *child_status_text(int status, char *buf, size_t n)
{
    if (WIFEXITED(status))
        snprintf(buf, n, "exited with %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, n, "killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    else
        snprintf(buf, n, "status %#x", status);
    return buf;
}

/* Does text hold a whole line equal to line? */
static inline bool has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; p && *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (len == n && memcmp(p, line, n) == 0)
            return true;
        p = nl ? nl + 1 : NULL;
    }
    return false;
}

/* Does text hold a line that starts with prefix and contains every string of
 * the NULL-terminated list parts? */
static inline bool has_line_with(const char *text, const char *prefix, const char *const *parts)
{
    size_t np = strlen(prefix);
    for (const char *p = text; p && *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        char line[4096];
        size_t cut = len < sizeof line - 1 ? len : sizeof line - 1;
        memcpy(line, p, cut);
        line[cut] = '\0';
        bool ok = strncmp(line, prefix, np) == 0;
        for (size_t i = 0; ok && parts && parts[i]; i++)
            ok = strstr(line, parts[i]) != NULL;
        if (ok)
            return true;
        p = nl ? nl + 1 : NULL;
    }
    return false;
}

static inline void report_child(const char *file, int line, const char *what, const child_result *r,
                                const char *expected)
{
    char buf[128];
    fprintf(stderr, "%s:%d: %s: child %s; expected SIGABRT and the line\n  %s\nchild stderr:\n%s\n",
            file, line, what, child_status_text(r->status, buf, sizeof buf), expected, r->err);
    fflush(stderr);
}

/* Run fn(arg) in a child; it must die of SIGABRT with needle somewhere on
 * stderr. Returns the child's result, for further checks of its stderr. */
#define EXPECT_ABORT_CONTAINS(fn, arg, needle) \
    expect_abort_contains_(__FILE__, __LINE__, #fn, (fn), (arg), (needle))
static inline const child_result *expect_abort_contains_(const char *file, int ln, const char *what,
                                                         void (*fn)(void *), void *arg, const char *needle)
{
    static child_result r;
    run_in_child(fn, arg, TEST_ABORT_TIMEOUT, &r);
    if (!(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGABRT && strstr(r.err, needle))) {
        char want[1024];
        snprintf(want, sizeof want, "[contains \"%s\"]", needle);
        report_child(file, ln, what, &r, want);
        exit(1);
    }
    return &r;
}

/* Run fn(arg) in a child; it must die of SIGABRT with the exact line on stderr. */
#define EXPECT_ABORT_LINE(fn, arg, line) expect_abort_line_(__FILE__, __LINE__, #fn, (fn), (arg), (line))
static inline void expect_abort_line_(const char *file, int ln, const char *what, void (*fn)(void *),
                                      void *arg, const char *line)
{
    static child_result r;
    run_in_child(fn, arg, TEST_ABORT_TIMEOUT, &r);
    if (!(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGABRT && has_line(r.err, line))) {
        report_child(file, ln, what, &r, line);
        exit(1);
    }
}

/* Run fn(arg) in a child; it must die of SIGABRT with a line that starts with
 * prefix and contains each of the NULL-terminated strings after it (for
 * messages that hold addresses). */
#define EXPECT_ABORT_MATCH(fn, arg, prefix, ...)                                                  \
    do {                                                                                          \
        static const char *const parts_[] = { __VA_ARGS__, NULL };                               \
        expect_abort_match_(__FILE__, __LINE__, #fn, (fn), (arg), (prefix), parts_);             \
    } while (0)
static inline void expect_abort_match_(const char *file, int ln, const char *what, void (*fn)(void *),
                                       void *arg, const char *prefix, const char *const *parts)
{
    static child_result r;
    run_in_child(fn, arg, TEST_ABORT_TIMEOUT, &r);
    if (!(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGABRT && has_line_with(r.err, prefix, parts))) {
        char want[2048];
        size_t k = (size_t)snprintf(want, sizeof want, "%s...", prefix);
        for (size_t i = 0; parts[i] && k < sizeof want; i++)
            k += (size_t)snprintf(want + k, sizeof want - k, " [contains \"%s\"]", parts[i]);
        report_child(file, ln, what, &r, want);
        exit(1);
    }
}

/* Run fn(arg) in a child that must exit 0 within timeout_s seconds; otherwise
 * record a soft failure naming what, with the child's status and stderr. For
 * parts that a library bug could hang: the hang is reported, and the rest of
 * the test still runs. */
#define EXPECT_CHILD_OK(fn, arg, timeout_s, what) \
    expect_child_ok_(__FILE__, __LINE__, (fn), (arg), (timeout_s), (what))
static inline bool expect_child_ok_(const char *file, int ln, void (*fn)(void *), void *arg,
                                    unsigned timeout_s, const char *what)
{
    static child_result r;
    run_in_child(fn, arg, timeout_s, &r);
    if (WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0)
        return true;
    char buf[128];
    bool hung = WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGALRM;
    fprintf(stderr, "%s:%d: FAILED: %s: child %s%s. child stderr:\n%s\n", file, ln, what,
            child_status_text(r.status, buf, sizeof buf),
            hung ? " (it did not finish: hang)" : "", r.err);
    fflush(stderr);
    test_soft_failures++;
    return false;
}

/* ------------------------------------------------------------ small helpers */

/* Run fn(arg) as the root job of a fresh scheduler with the given config. */
static inline void run_root(const fj_config *cfg, fj_job_fn fn, void *arg)
{
    fj_scheduler *s = fj_create(cfg);
    if (!s) {
        fprintf(stderr, "fj_create failed: %s\n", fj_strerror(fj_last_error()));
        exit(1);
    }
    CHECK_EQ(fj_main(s, fn, arg), 0);
    fj_destroy(s);
}

/* Recurse with a 1 KiB frame per level until the stack ends (the limit is
 * never reached): the body of the stack-overflow tests' jobs. */
static volatile int test_recurse_limit = 1 << 30;
static inline int test_recurse_forever(volatile char *prev, int depth)
{
    volatile char buf[1024];
    buf[0] = (char)depth;
    if (prev)
        buf[1] = prev[0];
    if (depth >= test_recurse_limit)
        return buf[0];
    return test_recurse_forever(buf, depth + 1) + buf[0];
}

/* A cheap deterministic generator for the stress tests (xorshift64: the state
 * must not be 0). */
static inline uint64_t test_rand(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *state = x;
}

/* ------------------------------------------------------------ patterned blocks */

/* A block of memory filled with a pattern of its seed, to check afterwards that
 * nothing overwrote it and that no two blocks overlap (the frame allocator
 * tests). */
typedef struct test_block {
    unsigned char *p;
    size_t size;
    uint32_t seed;
} test_block;

static inline unsigned char test_block_byte(uint32_t seed, size_t i)
{
    return (unsigned char)((unsigned char)((seed * 2654435761u) >> 24) ^ (unsigned char)(i * 131u + (i >> 8)));
}

static inline void test_block_fill(const test_block *b)
{
    for (size_t i = 0; i < b->size; i++)
        b->p[i] = test_block_byte(b->seed, i);
}

static inline bool test_block_intact(const test_block *b)
{
    for (size_t i = 0; i < b->size; i++)
        if (b->p[i] != test_block_byte(b->seed, i))
            return false;
    return true;
}

static inline int test_block_cmp_addr(const void *x, const void *y)
{
    const test_block *a = (const test_block *)x, *b = (const test_block *)y;
    return a->p < b->p ? -1 : a->p > b->p;
}

/* Every block still holds its pattern and no two overlap (sorts b). */
static inline void test_blocks_check(test_block *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!test_block_intact(&b[i])) {
            fprintf(stderr, "block %zu (%p, %zu bytes) was overwritten\n", i, (void *)b[i].p, b[i].size);
            exit(1);
        }
    }
    qsort(b, n, sizeof *b, test_block_cmp_addr);
    for (size_t i = 1; i < n; i++) {
        if (b[i - 1].p + b[i - 1].size > b[i].p) {
            fprintf(stderr, "blocks overlap: %p + %zu and %p\n", (void *)b[i - 1].p, b[i - 1].size,
                    (void *)b[i].p);
            exit(1);
        }
    }
}

/* Write text to path (for made-up /sys trees and the like), creating the
 * folders it names after its first `keep` characters (a folder that exists). */
static inline void test_write_file(const char *path, size_t keep, const char *text)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s", path);
    for (char *p = dir + keep + 1; *p; p++) {
        if (*p == '/') {
            *p = 0;
            mkdir(dir, 0755);
            *p = '/';
        }
    }
    FILE *f = fopen(path, "w");
    CHECK(f);
    fputs(text, f);
    fclose(f);
}

/* ------------------------------------------------------------ C++ */

#ifdef __cplusplus
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

namespace test {

// Panic messages seen by the hook (which runs on the panicking fiber).
struct panic_log {
    std::mutex lock;
    std::vector<std::string> messages;

    static void hook(const fj_panic_info *info, void *self)
    {
        auto *log = static_cast<panic_log *>(self);
        std::lock_guard<std::mutex> g(log->lock);
        log->messages.emplace_back(info->message);
    }
    std::size_t count_containing(const char *text)
    {
        std::lock_guard<std::mutex> g(lock);
        std::size_t n = 0;
        for (const std::string &m : messages)
            n += m.find(text) != std::string::npos;
        return n;
    }
    void clear()
    {
        std::lock_guard<std::mutex> g(lock);
        messages.clear();
    }
};

// Defaults with this many workers, and the panic hook of log when given.
inline fj_config config(unsigned workers, panic_log *log = nullptr)
{
    fj_config cfg = fj_config_default();
    cfg.workers = workers;
    if (log) {
        cfg.panic_hook = &panic_log::hook;
        cfg.panic_hook_arg = log;
    }
    return cfg;
}

// EXPECT_ABORT_CONTAINS for a callable: fn() runs in a child (run_in_child)
// that must die of SIGABRT with needle on stderr.
template <class F>
const child_result *expect_abort(F fn, const char *needle)
{
    struct call {
        static void run(void *p) { (*static_cast<F *>(p))(); }
    };
    return EXPECT_ABORT_CONTAINS(call::run, &fn, needle);
}

} // namespace test
#endif

#endif
