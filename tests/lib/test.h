/*
 * The one helper header of the tests (C and C++). Each test is its own
 * program, registered by fj_add_test (cmake/testing.cmake) and run by ctest
 * with a timeout, and takes the worker count as its first argument (default 2).
 *
 *   CHECK, CHECK_EQ, CHECK_STREQ   stop the test at the first failed check;
 *   FAIL_SOFT, test_finish         report a failure and go on, fail at exit;
 *   run_in_child                   run a function in a child process, stderr
 *                                  captured, killed if it hangs;
 *   EXPECT_ABORT_LINE / _MATCH /   the child must die of SIGABRT and print
 *   _CONTAINS                      the line (exact, by parts, or a substring);
 *   EXPECT_CHILD_OK                the child must exit 0 (a hang is a soft
 *                                  failure);
 *   test_rand                      a cheap deterministic generator;
 *   test_block_*                   patterned blocks checked for overlap;
 *   test_pid, test_tmp_dir         names of files shared with a child;
 *   test::expect_abort, test::config, test::panic_log   the same for C++.
 *
 * Call run_in_child only while the process has no scheduler (no threads
 * besides main), so that a forked child starts from a clean, single-threaded
 * copy. How children are made (fork, or the spawn-and-replay of Windows and
 * of FJ_TEST_SPAWN=1) is explained at run_in_child.
 */
#ifndef FJ_TEST_H
#define FJ_TEST_H

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#ifdef _WIN32
#define TEST_WINDOWS 1
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#ifndef NOMINMAX
#define NOMINMAX
#endif
#include <windows.h>
#include <io.h>
#include <pthread.h>
#include <sched.h>
#else
#define TEST_WINDOWS 0
#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#endif

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

/* A pointer as the library's messages write it (src/compiler.h, FJ_PTR). */
#ifdef _WIN32
#define FJ_TEST_PTR "0x%p"
#else
#define FJ_TEST_PTR "%p"
#endif

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

/* Gathering: from a job, n jobs (n = the workers taking part), each waiting
 * until every one of the n workers runs one. So after it each has started
 * and run a job. Each job is submitted alone (a deque entry of its own,
 * stealable). A worker woken for one job does not wake the next sleeper
 * after a wake-up (only one that finds work while spinning does), so with
 * every awake worker blocked here the others' jobs could wait for ever; a
 * submission every 256 yields wakes a sleeper. */
#define TEST_GATHER_MAX 64
typedef struct test_gathering_ {
    unsigned n;
    unsigned seen[TEST_GATHER_MAX];
    unsigned count;
} test_gathering_;

static inline void test_nop_(void *arg) { (void)arg; }

static inline void test_gather_job_(void *arg)
{
    test_gathering_ *g = (test_gathering_ *)arg;   /* C and C++ */
    int w = fj_worker_index();
    CHECK(w >= 0 && (unsigned)w < g->n);
    if (__atomic_exchange_n(&g->seen[w], 1u, __ATOMIC_ACQ_REL) == 0)
        T_ADD(&g->count, 1);
    for (unsigned k = 1; T_LOAD(&g->count) < g->n; k++) {
        sched_yield();
        if (k % 256 == 0) {
            fj_job j;
            memset(&j, 0, sizeof j);
            j.fn = test_nop_;
            j.name = "nudge";
            fj_run_jobs(&j, 1, NULL);
        }
    }
}

static inline void test_gather_workers(unsigned n)
{
    CHECK(n >= 1 && n <= TEST_GATHER_MAX);
    test_gathering_ g;
    memset(&g, 0, sizeof g);
    g.n = n;
    fj_counter c;
    fj_counter_init(&c, 0);
    for (unsigned i = 0; i < n; i++) {
        fj_job j;
        memset(&j, 0, sizeof j);
        j.fn = test_gather_job_;
        j.arg = &g;
        j.name = "gather";
        fj_run_jobs(&j, 1, &c);
    }
    fj_wait(&c, 0);
    CHECK_EQ(T_LOAD(&g.count), n);
}

/* ------------------------------------------------------------ portability */

/* What the tests need of POSIX that Windows (mingw-w64) spells otherwise or
 * lacks. Children's results keep waitpid's encoding on every platform (see
 * test_status_from_exit_code_ for Windows), so the W* macros below read
 * them, and the signal numbers Windows lacks get their Linux values. */
#if TEST_WINDOWS
#ifndef SIGTRAP
#define SIGTRAP 5
#endif
#ifndef SIGBUS
#define SIGBUS 7
#endif
#ifndef SIGKILL
#define SIGKILL 9
#endif
#ifndef SIGALRM
#define SIGALRM 14
#endif
#define WIFEXITED(s) (((s) & 0x7f) == 0)
#define WEXITSTATUS(s) (((s) >> 8) & 0xff)
#define WIFSIGNALED(s) (((s) & 0x7f) != 0)
#define WTERMSIG(s) ((s) & 0x7f)
#define TEST_NULL_DEVICE "NUL"
#define test_mkdir(path) mkdir(path)
static inline int setenv(const char *name, const char *value, int overwrite)
{
    if (!overwrite && getenv(name))
        return 0;
    return _putenv_s(name, value) == 0 ? 0 : -1;
}
static inline int unsetenv(const char *name) { return _putenv_s(name, "") == 0 ? 0 : -1; }

/* CPU affinity as Linux spells it, over processor group 0 (64 CPUs: all
 * that the tests' machines have). pid 0 and pthread_self() only. */
#define CPU_SETSIZE 64
typedef struct { uint64_t bits; } cpu_set_t;
#define CPU_ZERO(s) ((s)->bits = 0)
#define CPU_SET(c, s) ((s)->bits |= (uint64_t)1 << (c))
#define CPU_CLR(c, s) ((s)->bits &= ~((uint64_t)1 << (c)))
#define CPU_ISSET(c, s) ((c) >= 0 && (c) < CPU_SETSIZE && (((s)->bits >> (c)) & 1))
#define CPU_COUNT(s) __builtin_popcountll((s)->bits)
#define CPU_EQUAL(a, b) ((a)->bits == (b)->bits)
static inline int test_thread_affinity_(HANDLE thread, cpu_set_t *set)
{
    GROUP_AFFINITY ga;
    if (!GetThreadGroupAffinity(thread, &ga) || ga.Group != 0)
        return -1;
    set->bits = (uint64_t)ga.Mask;
    return 0;
}
static inline int sched_getaffinity(int pid, size_t size, cpu_set_t *set)
{
    (void)size;
    return pid == 0 ? test_thread_affinity_(GetCurrentThread(), set) : -1;
}
static inline int sched_setaffinity(int pid, size_t size, const cpu_set_t *set)
{
    (void)size;
    return pid == 0 && SetThreadAffinityMask(GetCurrentThread(), (DWORD_PTR)set->bits) ? 0 : -1;
}
static inline int pthread_getaffinity_np(pthread_t t, size_t size, cpu_set_t *set)
{
    (void)size;
    return test_thread_affinity_(pthread_gethandle(t), set) == 0 ? 0 : EINVAL;
}
static inline int sched_getcpu(void) { return (int)GetCurrentProcessorNumber(); }

/* The calling thread's name as the OS keeps it: fiberjob names threads
 * with SetThreadDescription on Windows (winpthreads' pthread_getname_np
 * sees only its own pthread_setname_np). "" when there is none. */
static inline void test_thread_name(char *buf, size_t n)
{
    typedef HRESULT(WINAPI * get_fn)(HANDLE, PWSTR *);
    HMODULE k32 = GetModuleHandleA("kernel32.dll");
    get_fn get = k32 ? (get_fn)(void (*)(void))GetProcAddress(k32, "GetThreadDescription") : NULL;
    PWSTR w = NULL;
    size_t i = 0;
    if (get && SUCCEEDED(get(GetCurrentThread(), &w)) && w) {
        for (; w[i] && i + 1 < n; i++)
            buf[i] = (char)w[i];
        LocalFree(w);
    }
    if (n)
        buf[i] = '\0';
}

/* Running under Wine (ntdll exports wine_get_version)? For the few cases
 * whose cost under Wine is out of proportion (a thread's exit goes through
 * the wineserver: 1024 threads take 20 s to end). */
static inline bool test_under_wine(void)
{
    HMODULE nt = GetModuleHandleA("ntdll.dll");
    return nt && GetProcAddress(nt, "wine_get_version") != NULL;
}

static inline size_t test_page_size(void)
{
    SYSTEM_INFO si;
    GetSystemInfo(&si);
    return si.dwPageSize;
}
/* Fresh zeroed pages, read-write (stacks for the context switch tests). */
static inline void *test_pages_alloc(size_t size)
{
    return VirtualAlloc(NULL, size, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
}
static inline void test_pages_free(void *p, size_t size)
{
    (void)size;
    VirtualFree(p, 0, MEM_RELEASE);
}
#else
#define TEST_NULL_DEVICE "/dev/null"
#define test_mkdir(path) mkdir(path, 0755)
static inline size_t test_page_size(void) { return (size_t)sysconf(_SC_PAGESIZE); }
static inline bool test_under_wine(void) { return false; }
static inline void test_thread_name(char *buf, size_t n) { pthread_getname_np(pthread_self(), buf, n); }
static inline void *test_pages_alloc(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}
static inline void test_pages_free(void *p, size_t size) { munmap(p, size); }
#endif

/* The process id that names this test's files: the parent's in a spawned
 * child, which replays the parent's steps and must find the same files. */
static inline int test_pid(void)
{
    const char *p = getenv("FJ_TEST_PARENT_PID");
    return p ? atoi(p) : (int)getpid();
}

/* The folder for temporary files, without a trailing separator. */
static inline const char *test_tmp_dir(void)
{
#if TEST_WINDOWS
    static char dir[MAX_PATH + 1];
    if (!dir[0]) {
        DWORD n = GetTempPathA(sizeof dir, dir);
        if (n == 0 || n >= sizeof dir)
            snprintf(dir, sizeof dir, ".");
        else if (dir[n - 1] == '\\' || dir[n - 1] == '/')
            dir[n - 1] = '\0';
    }
    return dir;
#else
    return "/tmp";
#endif
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
/* TEST_TSAN: a ThreadSanitizer build (its factor is 6). */
#if defined(TEST_SAN_TIME_SCALE) && TEST_SAN_TIME_SCALE == 6
#define TEST_TSAN 1
#else
#define TEST_TSAN 0
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
/* A spawned child's limit for replaying the parent's steps up to its call. */
#define TEST_REPLAY_TIMEOUT 120

typedef struct child_result {
    int status;        /* as from waitpid (on Windows: see test_status_from_exit_code_) */
    char err[16384];   /* what the child wrote on stderr (NUL-terminated, may be cut) */
    size_t err_len;
} child_result;

/*
 * Children are made one of two ways.
 *
 * fork (Linux's default): the child is a copy of the parent at the call; it
 * runs fn(arg) with stderr on a pipe the parent reads, and SIGALRM ends it
 * after the time limit.
 *
 * spawn and replay (always on Windows, which has no fork; on Linux with
 * FJ_TEST_SPAWN=1, so that the path is checked natively): the k-th
 * run_in_child call of the process starts the test's own program again with
 * the same command line and FJ_TEST_CHILD=k in its environment. The child
 * runs main from the start with its output discarded; its calls before the
 * k-th do not run anything but return the results the parent got for them
 * (the parent logs each child's result to a file, FJ_TEST_CHILD_LOG), so it
 * takes the same steps as the parent did; the k-th call runs fn(arg) with
 * stderr sent to a file the parent reads (FJ_TEST_CHILD_ERR) and exits 0
 * when fn returns. This needs the steps of main between children to be the
 * same on every run: fixed seeds, no decision on timing, and file names made
 * with test_pid() (the parent's id in a child). A child that ends before its
 * call says so on its stderr and exits 125. Its stdout is discarded.
 * The time limit: on Linux, SIGALRM as with fork (the replay has its own,
 * TEST_REPLAY_TIMEOUT); on Windows a watchdog thread of the child ends it
 * with the exit code TEST_EXIT_TIMEOUT, read as SIGALRM, and the parent ends
 * a child that outlives both limits the same way.
 *
 * On Windows the exit code is put in waitpid's form: 3 (what abort() and
 * fiberjob's fatal path exit with) as SIGABRT, an exception code as the
 * signal Linux raises for it (access violation and stack overflow: SIGSEGV),
 * anything else as an exit with that code.
 */
#define TEST_EXIT_TIMEOUT 0x7E57A1A
#define TEST_EXIT_DIVERGED 125

static struct test_child_state {
    unsigned calls;        /* run_in_child calls made so far */
    /* In a spawned child: FJ_TEST_CHILD, the calls it enters (a child's
     * child runs its parent's call on to reach its own: "7,9") and last the
     * call it runs for its parent; target 0 in the top process. */
    char path[256];
    unsigned enter[16], nenter, target;
    bool ran;              /* the target call was reached */
    FILE *replay;          /* a child: its parent's log, being read */
    FILE *log;             /* results of this process's children, for theirs */
    char log_path[512];
} test_child_;

static inline bool test_spawn_mode_(void)
{
#if TEST_WINDOWS
    return true;
#else
    const char *s = getenv("FJ_TEST_SPAWN");
    return s && *s && strcmp(s, "0") != 0;
#endif
}

/* In a spawned child: send stderr to the parent's file from now on. */
static inline void test_child_capture_stderr_(void)
{
    const char *path = getenv("FJ_TEST_CHILD_ERR");
    fflush(stderr);
    int fd = path ? open(path, O_WRONLY | O_TRUNC) : -1;
    if (fd >= 0) {
        dup2(fd, 2);
        close(fd);
#if TEST_WINDOWS
        SetStdHandle(STD_ERROR_HANDLE, (HANDLE)_get_osfhandle(2));
#endif
    }
}

static void test_child_at_exit_(void)
{
    if (test_child_.ran)
        return;
    test_child_capture_stderr_();
    fprintf(stderr,
            "test.h: the spawned child ended after %u of the %u run_in_child calls it had to replay: "
            "the test's steps before that call differ between runs\n",
            test_child_.calls, test_child_.target - 1);
    fflush(stderr);
    _exit(TEST_EXIT_DIVERGED);
}

#if TEST_WINDOWS
/* No crash dialog and no debugger (Wine would start winedbg): an unhandled
 * exception ends the process with its code, after one line on stderr naming
 * the code, where it was raised and, for an access violation, the address
 * (a crash otherwise leaves nothing: stdout is a pipe's buffer, lost). */
static LONG WINAPI test_unhandled_exception_(EXCEPTION_POINTERS *e)
{
    const EXCEPTION_RECORD *r = e->ExceptionRecord;
    char line[160];
    int n = snprintf(line, sizeof line, "test: unhandled exception 0x%08lx at " FJ_TEST_PTR " (thread %lu)",
                     (unsigned long)r->ExceptionCode, r->ExceptionAddress, (unsigned long)GetCurrentThreadId());
    if (r->ExceptionCode == EXCEPTION_ACCESS_VIOLATION && r->NumberParameters >= 2 && n > 0 &&
        (size_t)n < sizeof line)
        snprintf(line + n, sizeof line - (size_t)n, ", %s " FJ_TEST_PTR,
                 r->ExceptionInformation[0] == 1 ? "writing" : "reading", (void *)r->ExceptionInformation[1]);
    DWORD written;
    HANDLE h = GetStdHandle(STD_ERROR_HANDLE);
    WriteFile(h, line, (DWORD)strlen(line), &written, NULL);
    WriteFile(h, "\n", 1, &written, NULL);
    TerminateProcess(GetCurrentProcess(), (UINT)r->ExceptionCode);
    return EXCEPTION_CONTINUE_SEARCH;
}

static DWORD WINAPI test_child_watchdog_(LPVOID ms)
{
    Sleep((DWORD)(uintptr_t)ms);
    TerminateProcess(GetCurrentProcess(), TEST_EXIT_TIMEOUT);
    return 0;
}
#endif

/* Before main: a spawned child discards its output until its own call. */
__attribute__((constructor)) static void test_child_init_(void)
{
#if TEST_WINDOWS
    SetErrorMode(SEM_FAILCRITICALERRORS | SEM_NOGPFAULTERRORBOX | SEM_NOOPENFILEERRORBOX);
    SetUnhandledExceptionFilter(test_unhandled_exception_);
    /* Windows has no line buffering (_IOLBF is full buffering): stdout
     * unbuffered, so what a test printed before a crash is not lost. */
    setvbuf(stdout, NULL, _IONBF, 0);
#endif
    const char *k = getenv("FJ_TEST_CHILD");
    if (!k)
        return;
    snprintf(test_child_.path, sizeof test_child_.path, "%s", k);
    for (char *p = test_child_.path, *end; *p; p = *end ? end + 1 : end) {
        unsigned v = (unsigned)strtoul(p, &end, 10);
        if (test_child_.target && test_child_.nenter < 16)
            test_child_.enter[test_child_.nenter++] = test_child_.target;
        test_child_.target = v;
        if (end == p)
            break;
    }
    int fd = open(TEST_NULL_DEVICE, O_WRONLY);
    if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
    }
    atexit(test_child_at_exit_);
#if !TEST_WINDOWS
    alarm(TEST_REPLAY_TIMEOUT * TEST_TIME_SCALE);
#endif
}

/* Drop '\r' before '\n' (Windows' text mode), in place. */
static inline size_t test_drop_cr_(char *s, size_t n)
{
    size_t j = 0;
    for (size_t i = 0; i < n; i++)
        if (!(s[i] == '\r' && i + 1 < n && s[i + 1] == '\n'))
            s[j++] = s[i];
    s[j] = '\0';
    return j;
}

/* The parent: append a child's result to the log its later children replay. */
static void test_child_log_remove_(void)
{
    if (test_child_.log)
        fclose(test_child_.log);
    test_child_.log = NULL;
    remove(test_child_.log_path);
}

static inline void test_child_log_(const child_result *r)
{
    if (!test_child_.log) {
        snprintf(test_child_.log_path, sizeof test_child_.log_path, "%s/fj_test_children_%d.log",
                 test_tmp_dir(), (int)getpid());
        test_child_.log = fopen(test_child_.log_path, "w+b");
        if (!test_child_.log) {
            fprintf(stderr, "test.h: cannot create %s\n", test_child_.log_path);
            exit(1);
        }
        atexit(test_child_log_remove_);
        /* A child's children replay its parent's results first. */
        if (test_child_.replay) {
            long n = ftell(test_child_.replay);
            char buf[4096];
            rewind(test_child_.replay);
            for (long done = 0; done < n;) {
                size_t want = (size_t)(n - done) < sizeof buf ? (size_t)(n - done) : sizeof buf;
                size_t got = fread(buf, 1, want, test_child_.replay);
                if (got == 0 || fwrite(buf, 1, got, test_child_.log) != got)
                    break;
                done += (long)got;
            }
        }
    }
    uint32_t head[2] = { (uint32_t)r->status, (uint32_t)r->err_len };
    if (fwrite(head, sizeof head, 1, test_child_.log) != 1 ||
        fwrite(r->err, 1, r->err_len, test_child_.log) != r->err_len || fflush(test_child_.log) != 0) {
        fprintf(stderr, "test.h: cannot write %s\n", test_child_.log_path);
        exit(1);
    }
}

/* The child, at a call before its own: the parent's result for it. */
static inline void test_child_replay_(child_result *out)
{
    if (!test_child_.replay) {
        const char *path = getenv("FJ_TEST_CHILD_LOG");
        test_child_.replay = path ? fopen(path, "rb") : NULL;
    }
    uint32_t head[2];
    if (!test_child_.replay || fread(head, sizeof head, 1, test_child_.replay) != 1 ||
        head[1] >= sizeof out->err || fread(out->err, 1, head[1], test_child_.replay) != head[1]) {
        test_child_capture_stderr_();
        fprintf(stderr, "test.h: the spawned child cannot read the result of call %u from FJ_TEST_CHILD_LOG\n",
                test_child_.calls);
        fflush(stderr);
        _exit(TEST_EXIT_DIVERGED);
    }
    out->status = (int)head[0];
    out->err_len = head[1];
    out->err[out->err_len] = '\0';
}

static inline bool test_child_enters_(unsigned k)
{
    for (unsigned i = 0; i < test_child_.nenter; i++)
        if (test_child_.enter[i] == k)
            return true;
    return false;
}

#if TEST_WINDOWS
/* The child exited (fn returned, or called exit): it says so in a file
 * beside its stderr's. Under Wine a fault Wine cannot deliver (a stack
 * overflow with no stack left) kills Wine's own process, and the parent
 * then reads exit code 0: without this mark that would pass as success. */
static void test_child_mark_exited_(void)
{
    char path[MAX_PATH + 8];
    const char *err = getenv("FJ_TEST_CHILD_ERR");
    snprintf(path, sizeof path, "%s.ok", err ? err : "");
    FILE *f = fopen(path, "w");
    if (f)
        fclose(f);
}
#endif

/* The child, at its own call: run fn(arg) and exit 0. */
static inline void test_child_run_(void (*fn)(void *), void *arg, unsigned limit_s)
{
    fflush(stdout);
    test_child_capture_stderr_();
#if TEST_WINDOWS
    atexit(test_child_mark_exited_);
    HANDLE t = CreateThread(NULL, 0, test_child_watchdog_, (LPVOID)(uintptr_t)(limit_s * 1000u), 0, NULL);
    if (t)
        CloseHandle(t);
#else
    signal(SIGABRT, SIG_DFL);
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);   /* no core dump: see run_in_child */
    alarm(limit_s);
#endif
    fn(arg);
    fflush(stdout);
    fflush(stderr);
#if TEST_WINDOWS
    test_child_mark_exited_();
#endif
    _exit(0);
}

#if TEST_WINDOWS
static inline int test_status_from_exit_code_(DWORD code)
{
    switch (code) {
    case 3:            /* abort(), fiberjob's fatal path */
    case 0xC0000409:   /* __fastfail (the UCRT's abort) */
    case 0x40000015:   /* STATUS_FATAL_APP_EXIT */
        return SIGABRT;
    case TEST_EXIT_TIMEOUT:
        return SIGALRM;
    case 0xC0000005:   /* access violation */
    case 0xC0000006:   /* in-page error */
    case 0xC00000FD:   /* stack overflow */
    case 0x80000002:   /* misaligned data */
        return SIGSEGV;
    case 0xC000001D:   /* illegal instruction (ud2, __builtin_trap) */
    case 0xC0000096:   /* privileged instruction */
        return SIGILL;
    case 0xC000008E: case 0xC000008F: case 0xC0000090: case 0xC0000091:
    case 0xC0000092: case 0xC0000093: case 0xC0000094: case 0xC0000095:
        return SIGFPE;
    case 0x80000003:   /* breakpoint */
        return SIGTRAP;
    case 0x20474343:   /* a GCC exception that nothing caught: std::terminate on Linux */
        return SIGABRT;
    default:
        return (int)((code & 0xff) << 8);
    }
}

/* Start the k-th child (see above); fill out. */
static inline void test_spawn_child_(unsigned k, unsigned limit_s, child_result *out)
{
    char errpath[MAX_PATH], exe[MAX_PATH], val[64];
    CHECK(GetTempFileNameA(test_tmp_dir(), "fjt", 0, errpath) != 0);
    CHECK(GetModuleFileNameA(NULL, exe, sizeof exe) < sizeof exe);
    char *cmdline = _strdup(GetCommandLineA());
    CHECK(cmdline);
    char path[sizeof test_child_.path + 16];
    snprintf(path, sizeof path, "%s%s%u", test_child_.path, test_child_.target ? "," : "", k);
    SetEnvironmentVariableA("FJ_TEST_CHILD", path);
    SetEnvironmentVariableA("FJ_TEST_CHILD_ERR", errpath);
    SetEnvironmentVariableA("FJ_TEST_CHILD_LOG", test_child_.log ? test_child_.log_path : NULL);
    snprintf(val, sizeof val, "%d", test_pid());
    SetEnvironmentVariableA("FJ_TEST_PARENT_PID", val);
    snprintf(val, sizeof val, "%u", limit_s);
    SetEnvironmentVariableA("FJ_TEST_CHILD_TIMEOUT", val);

    SECURITY_ATTRIBUTES sa = { sizeof sa, NULL, TRUE };
    HANDLE nul = CreateFileA("NUL", GENERIC_READ | GENERIC_WRITE, FILE_SHARE_READ | FILE_SHARE_WRITE, &sa,
                             OPEN_EXISTING, 0, NULL);
    CHECK(nul != INVALID_HANDLE_VALUE);
    STARTUPINFOA si;
    memset(&si, 0, sizeof si);
    si.cb = sizeof si;
    si.dwFlags = STARTF_USESTDHANDLES;
    si.hStdInput = si.hStdOutput = si.hStdError = nul;
    PROCESS_INFORMATION pi;
    fflush(stdout);
    fflush(stderr);
    /* Wine now and then fails a CreateProcess with ERROR_INTERNAL_ERROR
     * (1359) under load (seen once in ~230 tests): the harness tries again,
     * three times at most; a real failure still stops the test. */
    BOOL ok = FALSE;
    DWORD err = 0;
    for (int attempt = 0; attempt < 4 && !ok; attempt++) {
        if (attempt)
            Sleep(100u * (DWORD)attempt);
        ok = CreateProcessA(exe, cmdline, NULL, NULL, TRUE, 0, NULL, NULL, &si, &pi);
        err = ok ? 0 : GetLastError();
        if (!ok && err != ERROR_INTERNAL_ERROR)
            break;
    }
    CloseHandle(nul);
    free(cmdline);
    SetEnvironmentVariableA("FJ_TEST_CHILD", NULL);
    SetEnvironmentVariableA("FJ_TEST_CHILD_ERR", NULL);
    SetEnvironmentVariableA("FJ_TEST_CHILD_LOG", NULL);
    SetEnvironmentVariableA("FJ_TEST_CHILD_TIMEOUT", NULL);
    if (!getenv("FJ_TEST_PARENT_PID"))
        SetEnvironmentVariableA("FJ_TEST_PARENT_PID", NULL);
    if (!ok) {
        fprintf(stderr, "test.h: CreateProcess(%s) failed: error %lu\n", exe, (unsigned long)err);
        exit(1);
    }
    CloseHandle(pi.hThread);
    /* The backstop: the child's watchdog should have ended it long before. */
    DWORD limit_ms = (limit_s + TEST_REPLAY_TIMEOUT * TEST_TIME_SCALE + 10) * 1000u;
    if (WaitForSingleObject(pi.hProcess, limit_ms) != WAIT_OBJECT_0) {
        TerminateProcess(pi.hProcess, TEST_EXIT_TIMEOUT);
        WaitForSingleObject(pi.hProcess, INFINITE);
    }
    DWORD code = 0;
    CHECK(GetExitCodeProcess(pi.hProcess, &code));
    CloseHandle(pi.hProcess);
    out->status = test_status_from_exit_code_(code);

    FILE *f = fopen(errpath, "rb");
    out->err_len = f ? fread(out->err, 1, sizeof out->err - 1, f) : 0;
    if (f)
        fclose(f);
    out->err_len = test_drop_cr_(out->err, out->err_len);
    DeleteFileA(errpath);
    char okpath[MAX_PATH + 8];
    snprintf(okpath, sizeof okpath, "%s.ok", errpath);
    bool exited = DeleteFileA(okpath) != 0;
    if (code == 0 && !exited) {
        out->status = SIGSEGV;
        if (out->err_len + 200 < sizeof out->err)
            out->err_len += (size_t)snprintf(out->err + out->err_len, sizeof out->err - out->err_len,
                                             "test.h: the child ended with exit code 0 but never exited: its "
                                             "process crashed outside Windows' view (under Wine: Wine's own)\n");
    }
    /* An exit code that is not a small number is named where a failure
     * report shows it (0xC0000005 access violation, 0x20474343 a GCC
     * exception no handler caught, ...). */
    if (code > 255 && code != TEST_EXIT_TIMEOUT && out->err_len + 80 < sizeof out->err)
        out->err_len += (size_t)snprintf(out->err + out->err_len, sizeof out->err - out->err_len,
                                         "test.h: the child's exit code was 0x%08lx\n", (unsigned long)code);
}
#else
extern char **environ;

/* Start the k-th child (see above); fill out. */
static inline void test_spawn_child_(unsigned k, unsigned limit_s, child_result *out)
{
    char errpath[256];
    snprintf(errpath, sizeof errpath, "%s/fj_test_child_%d_%u.err", test_tmp_dir(), (int)getpid(), k);
    FILE *ef = fopen(errpath, "w");
    CHECK(ef);
    fclose(ef);

    /* The same command line (/proc/self/cmdline: NUL-separated arguments). */
    static char cmd[65536];
    char *argv[256];
    FILE *cf = fopen("/proc/self/cmdline", "rb");
    CHECK(cf);
    size_t len = fread(cmd, 1, sizeof cmd - 1, cf);
    fclose(cf);
    cmd[len] = '\0';
    size_t argc = 0;
    for (size_t i = 0; i < len && argc < 255; i += strlen(cmd + i) + 1)
        argv[argc++] = cmd + i;
    argv[argc] = NULL;

    /* This environment with the child's variables first (getenv takes the first). */
    char vars[5][640];
    size_t nv = 0;
    snprintf(vars[nv++], sizeof vars[0], "FJ_TEST_CHILD=%s%s%u", test_child_.path, test_child_.target ? "," : "",
             k);
    snprintf(vars[nv++], sizeof vars[0], "FJ_TEST_CHILD_ERR=%s", errpath);
    snprintf(vars[nv++], sizeof vars[0], "FJ_TEST_CHILD_TIMEOUT=%u", limit_s);
    snprintf(vars[nv++], sizeof vars[0], "FJ_TEST_PARENT_PID=%d", test_pid());
    if (test_child_.log)
        snprintf(vars[nv++], sizeof vars[0], "FJ_TEST_CHILD_LOG=%s", test_child_.log_path);
    size_t ne = 0;
    while (environ[ne])
        ne++;
    char **envp = (char **)calloc(ne + nv + 1, sizeof *envp);
    CHECK(envp);
    for (size_t i = 0; i < nv; i++)
        envp[i] = vars[i];
    for (size_t i = 0, j = nv; i < ne; i++)   /* a child's own variables are replaced */
        if (strncmp(environ[i], "FJ_TEST_CHILD", 13) != 0 && strncmp(environ[i], "FJ_TEST_PARENT_PID=", 19) != 0)
            envp[j++] = environ[i];

    posix_spawn_file_actions_t fa;
    CHECK(posix_spawn_file_actions_init(&fa) == 0);
    for (int fd = 0; fd < 3; fd++)
        CHECK(posix_spawn_file_actions_addopen(&fa, fd, TEST_NULL_DEVICE, O_RDWR, 0) == 0);
    fflush(stdout);
    fflush(stderr);
    pid_t pid;
    int rc = posix_spawn(&pid, "/proc/self/exe", &fa, NULL, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    free(envp);
    if (rc != 0) {
        fprintf(stderr, "test.h: posix_spawn(/proc/self/exe) failed: %s\n", strerror(rc));
        exit(1);
    }
    while (waitpid(pid, &out->status, 0) < 0)
        CHECK(errno == EINTR);

    FILE *f = fopen(errpath, "rb");
    out->err_len = f ? fread(out->err, 1, sizeof out->err - 1, f) : 0;
    if (f)
        fclose(f);
    out->err[out->err_len] = '\0';
    unlink(errpath);
}

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

/* The fork path of run_in_child. */
static inline void test_fork_child_(void (*fn)(void *), void *arg, unsigned limit_s, child_result *out)
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
        alarm(limit_s);
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
#endif

/*
 * Run fn(arg) in a child process with stderr captured (see above for how the
 * child is made). The child exits 0 when fn returns, and is ended after
 * timeout_s seconds (times TEST_TIME_SCALE), reported as death by SIGALRM,
 * so that a hang is reported instead of hanging the test.
 */
static inline void run_in_child(void (*fn)(void *), void *arg, unsigned timeout_s, child_result *out)
{
    unsigned k = ++test_child_.calls;
    unsigned limit_s = timeout_s * TEST_TIME_SCALE;
    if (test_child_.target && !test_child_.ran) {
        if (k < test_child_.target && test_child_enters_(k)) {
            fn(arg);   /* on to the nested call this child runs */
            test_child_at_exit_();
        }
        if (k < test_child_.target) {
            test_child_replay_(out);
            return;
        }
        test_child_.ran = true;
        test_child_run_(fn, arg, limit_s);
    }
    if (test_spawn_mode_()) {
        test_spawn_child_(k, limit_s, out);
        test_child_log_(out);
        return;
    }
#if !TEST_WINDOWS
    test_fork_child_(fn, arg, limit_s, out);
#endif
}

/* A test (or part) that cannot run on this platform: say why and exit 77,
 * which ctest reports as skipped (cmake/testing.cmake sets SKIP_RETURN_CODE
 * where a platform needs it). */
#define TEST_SKIP_CODE 77
static inline void test_skip(const char *name, const char *why)
{
    printf("%s: SKIP: %s\n", name, why);
    fflush(stdout);
    exit(TEST_SKIP_CODE);
}

/* Is this a spawned child replaying its parent's steps (see run_in_child)?
 * For the rare step that must differ, e.g. reading a file a child wrote. */
static inline bool test_replaying(void) { return test_child_.target && !test_child_.ran; }

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

static inline const char *test_signal_name(int sig)
{
#if TEST_WINDOWS
    switch (sig) {
    case SIGABRT: return "Aborted (exit code 3)";
    case SIGALRM: return "Alarm clock (time limit)";
    case SIGSEGV: return "Segmentation fault (access violation or stack overflow)";
    case SIGILL: return "Illegal instruction";
    case SIGFPE: return "Floating point exception";
    case SIGTRAP: return "Trace/breakpoint trap";
    default: return "?";
    }
#else
    return strsignal(sig);
#endif
}

static inline const char *child_status_text(int status, char *buf, size_t n)
{
    if (WIFEXITED(status))
        snprintf(buf, n, "exited with %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, n, "killed by signal %d (%s)", WTERMSIG(status), test_signal_name(WTERMSIG(status)));
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

/* Eight bytes of the pattern from i. The block is written and read eight
 * bytes at a time (one access each for the sanitizers, which made byte
 * accesses to the megabytes of frame.basic cost 30 s a run under TSan),
 * still every byte of it. */
static inline void test_block_word(uint32_t seed, size_t i, unsigned char w[8])
{
    for (int k = 0; k < 8; k++)
        w[k] = test_block_byte(seed, i + (size_t)k);
}

static inline void test_block_fill(const test_block *b)
{
    size_t i = 0;
    for (; i + 8 <= b->size; i += 8) {
        unsigned char w[8];
        test_block_word(b->seed, i, w);
        memcpy(b->p + i, w, 8);
    }
    for (; i < b->size; i++)
        b->p[i] = test_block_byte(b->seed, i);
}

static inline bool test_block_intact(const test_block *b)
{
    size_t i = 0;
    for (; i + 8 <= b->size; i += 8) {
        unsigned char w[8], have[8];
        test_block_word(b->seed, i, w);
        memcpy(have, b->p + i, 8);
        if (memcmp(w, have, 8) != 0)
            return false;
    }
    for (; i < b->size; i++)
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
            test_mkdir(dir);
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
