/* Shared helpers for the tests: each test is its own program, run by ctest with a
 * timeout, and takes the worker count as its first argument (default 2). */
#ifndef FJ_TEST_H
#define FJ_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fiberjob.h"

#define CHECK(cond)                                                                 \
    do {                                                                            \
        if (!(cond)) {                                                              \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            exit(1);                                                                \
        }                                                                           \
    } while (0)

#define CHECK_EQ(a, b)                                                                        \
    do {                                                                                      \
        long long a_ = (long long)(a), b_ = (long long)(b);                                   \
        if (a_ != b_) {                                                                       \
            fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %lld, %s == %lld\n", __FILE__,    \
                    __LINE__, #a, a_, #b, b_);                                                \
            exit(1);                                                                          \
        }                                                                                     \
    } while (0)

static inline unsigned test_workers(int argc, char **argv)
{
    unsigned n = argc > 1 ? (unsigned)atoi(argv[1]) : 2;
    return n ? n : 2;
}

/* Defaults with the worker count from the command line; pinning stays on unless
 * there are more workers than CPUs would make it meaningless (it still works). */
static inline fj_config test_config(int argc, char **argv)
{
    fj_config c = fj_config_default();
    c.workers = test_workers(argc, argv);
    return c;
}

#endif
