// Shared helpers for the tests of fiberjob.hpp. Each test is its own program,
// run by ctest with a timeout, and takes the worker count as argv[1] (default 2).
#ifndef FJ_CXX_TEST_H
#define FJ_CXX_TEST_H

#include <cstdio>
#include <cstdlib>
#include <csignal>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fiberjob.hpp"

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            std::fflush(stderr);                                                     \
            std::exit(1);                                                            \
        }                                                                            \
    } while (0)

#define CHECK_EQ(a, b)                                                                        \
    do {                                                                                      \
        long long a_ = (long long)(a), b_ = (long long)(b);                                   \
        if (a_ != b_) {                                                                       \
            std::fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %lld, %s == %lld\n", __FILE__, \
                         __LINE__, #a, a_, #b, b_);                                           \
            std::fflush(stderr);                                                              \
            std::exit(1);                                                                     \
        }                                                                                     \
    } while (0)

namespace test {

inline unsigned workers_from(int argc, char **argv)
{
    int n = argc > 1 ? std::atoi(argv[1]) : 2;
    return n > 0 ? static_cast<unsigned>(n) : 2u;
}

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

// Run fn in a child process (fork while the parent has no scheduler) and
// check that it died by SIGABRT with `expect` on stderr.
template <class F>
void expect_abort(F fn, const char *expect)
{
    int pipefd[2];
    CHECK(pipe(pipefd) == 0);
    std::fflush(nullptr);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        close(pipefd[0]);
        dup2(pipefd[1], 2);
        fn();
        _exit(0);
    }
    close(pipefd[1]);
    std::string err;
    char buf[512];
    ssize_t n;
    while ((n = read(pipefd[0], buf, sizeof buf)) > 0)
        err.append(buf, static_cast<std::size_t>(n));
    close(pipefd[0]);
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT || err.find(expect) == std::string::npos) {
        std::fprintf(stderr, "expected death by SIGABRT with \"%s\"; got status %#x and stderr:\n%s\n", expect,
                     status, err.c_str());
        std::exit(1);
    }
}

} // namespace test

#endif
