/* Run a function in a child process and capture its stderr and how it ended. */
#ifndef FJ_SAFETY_CHILD_H
#define FJ_SAFETY_CHILD_H

#include "../test.h"

typedef struct sf_child {
    int exited, code;   /* normal exit and its code */
    int signaled, sig;  /* killed by a signal */
    char err[sizeof(((child_result *)0)->err)]; /* what it wrote on stderr */
} sf_child;

/* run_in_child of tests/test.h (60 s limit), its status taken apart. */
static inline sf_child sf_run_child(void (*fn)(void *), void *arg)
{
    static child_result c;
    run_in_child(fn, arg, 60, &c);
    sf_child r;
    r.exited = WIFEXITED(c.status);
    r.code = r.exited ? WEXITSTATUS(c.status) : 0;
    r.signaled = WIFSIGNALED(c.status);
    r.sig = r.signaled ? WTERMSIG(c.status) : 0;
    memcpy(r.err, c.err, c.err_len + 1);
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
