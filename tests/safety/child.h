/* Run a function in a child process and capture its stderr and how it ended. */
#ifndef FJ_SAFETY_CHILD_H
#define FJ_SAFETY_CHILD_H

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct sf_child {
    int exited, code;   /* normal exit and its code */
    int signaled, sig;  /* killed by a signal */
    char err[8192];     /* what it wrote on stderr */
} sf_child;

static inline sf_child sf_run_child(void (*fn)(void *), void *arg)
{
    sf_child r;
    memset(&r, 0, sizeof r);
    int fds[2];
    if (pipe(fds) != 0)
        abort();
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], 2);
        fn(arg);
        _exit(0);
    }
    close(fds[1]);
    size_t len = 0;
    ssize_t n;
    while ((n = read(fds[0], r.err + len, sizeof r.err - 1 - len)) > 0)
        len += (size_t)n;
    r.err[len] = 0;
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    r.exited = WIFEXITED(status);
    r.code = r.exited ? WEXITSTATUS(status) : 0;
    r.signaled = WIFSIGNALED(status);
    r.sig = r.signaled ? WTERMSIG(status) : 0;
    return r;
}

/* The child died of SIGABRT and said `needle` on stderr. */
#define SF_CHECK_ABORTS(res, needle)                                                        \
    do {                                                                                      \
        sf_child r_ = (res);                                                              \
        if (!r_.signaled || r_.sig != SIGABRT || !strstr(r_.err, (needle))) {                 \
            fprintf(stderr, "%s:%d: expected SIGABRT with \"%s\"; got exited=%d code=%d "     \
                    "signal=%d, stderr:\n%s\n", __FILE__, __LINE__, (needle), r_.exited,      \
                    r_.code, r_.sig, r_.err);                                                 \
            exit(1);                                                                          \
        }                                                                                     \
    } while (0)

#endif
