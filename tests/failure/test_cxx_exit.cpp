// Forced unwinds that are not fj_panic's, seen by the C++ boundary: a job that
// calls pthread_exit, or whose worker thread is cancelled, stops the process
// with one line naming the job and the worker (glibc used to abort with
// "exception not rethrown", naming no job). Also: fj_panic from the panic hook
// that reports a C++ exception escaping a job. Each case runs in a child.
#include <pthread.h>

#include <stdexcept>

#include "test.h"

// Windows: winpthreads' pthread_exit and cancellation are not glibc's forced
// unwind through the job's frames, so the C++ boundary cannot see them (under
// Wine the child hung until its time limit): those two cases are left out
// there, and the program says so.
#if defined(_WIN32)
#define T_NO_FORCED_UNWIND "Windows (winpthreads' pthread_exit and cancellation are no forced unwind)"
#elif defined(__SANITIZE_THREAD__)
#define T_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define T_TSAN 1
#endif
#endif
#if defined(T_TSAN)
// TSan's own pthread_exit fails a CHECK on a fiber before any unwinding.
#define T_NO_FORCED_UNWIND "ThreadSanitizer"
#endif

static unsigned g_workers;

static void run(fj_job_fn fn, const char *name, void (*hook)(const fj_panic_info *, void *))
{
    fj_config c = fj_config_default();
    c.workers = g_workers;
    c.panic_hook = hook;
    fj_scheduler *s = fj_create(&c);
    CHECK(s);
    struct args { fj_job_fn fn; const char *name; } a = { fn, name };
    fj_main(s, [](void *p) {
        args *a = static_cast<args *>(p);
        fj_job j = { a->fn, nullptr, a->name, FJ_PRIORITY_NORMAL, 0 };
        fj_counter c;
        fj_counter_init(&c, 0);
        fj_run_jobs(&j, 1, &c);
        fj_wait(&c, 0);
    }, &a);
    fj_destroy(s);
}

#ifndef T_NO_FORCED_UNWIND
static void exiting_job(void *) { pthread_exit(nullptr); }
static void child_exit(void *) { run(exiting_job, "exiting_job", nullptr); }

static void cancelled_job(void *)
{
    pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, nullptr);
    pthread_cancel(pthread_self());
    pthread_testcancel();
}
static void child_cancel(void *) { run(cancelled_job, "cancelled_job", nullptr); }

// The child died of SIGABRT and wrote the line for one of the workers.
static void expect_exit_line(void (*child)(void *), const char *job)
{
    static child_result r;
    run_in_child(child, nullptr, 20, &r);
    bool found = false;
    for (unsigned w = 0; w < g_workers && !found; w++) {
        char line[512];
        std::snprintf(line, sizeof line,
                      "fiberjob: pthread_exit: called in job '%s' on worker %u: a job cannot end its worker "
                      "thread (return from the job instead)",
                      job, w);
        found = has_line(r.err, line);
    }
    if (!(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGABRT && found)) {
        report_child(__FILE__, __LINE__, job, &r,
                     "fiberjob: pthread_exit: called in job '...' on worker N: a job cannot end its worker "
                     "thread (return from the job instead)");
        test_soft_failures++;
    }
}
#endif

static void throwing_job(void *) { throw std::runtime_error("boom"); }
static void hook_panics(const fj_panic_info *, void *) { fj_panic("again from the hook"); }
static void child_hook(void *) { run(throwing_job, "thrower", hook_panics); }

int main(int argc, char **argv)
{
    g_workers = test_workers(argc, argv);
#ifdef T_NO_FORCED_UNWIND
    std::printf("pthread_exit and cancellation: skipped under %s\n", T_NO_FORCED_UNWIND);
#else
    expect_exit_line(child_exit, "exiting_job");
    expect_exit_line(child_cancel, "cancelled_job");
#endif
    EXPECT_ABORT_MATCH(child_hook, nullptr,
                       "fiberjob: fj_panic: called from the panic hook while reporting the panic of job 'thrower': "
                       "uncaught C++ exception: boom (",
                       "on worker ");
    return test_finish();
}
