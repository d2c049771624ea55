/*
 * Helpers shared by the frame allocator tests (on top of tests/test.h): death
 * tests in a forked child, and patterned allocations checked for overlap.
 */
#ifndef FJ_FRAME_TEST_H
#define FJ_FRAME_TEST_H

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

/* ------------------------------------------------------------ child processes */

/* Run fn(arg) in a forked child with stderr captured (run_in_child of
 * tests/test.h, 30 s limit). Fork only while the calling process has no
 * scheduler (no other threads). */
typedef child_result ft_child;

static inline void ft_run_child(void (*fn)(void *), void *arg, ft_child *out)
{
    run_in_child(fn, arg, 30, out);
}

/* fn(arg) must stop the process with SIGABRT and print a line holding needle. */
#define FT_EXPECT_ABORT(fn, arg, needle) ft_expect_abort_(__FILE__, __LINE__, #fn, (fn), (arg), (needle))
static inline void ft_expect_abort_(const char *file, int line, const char *what, void (*fn)(void *),
                                    void *arg, const char *needle)
{
    static ft_child r;
    ft_run_child(fn, arg, &r);
    if (!(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGABRT && strstr(r.err, needle))) {
        fprintf(stderr, "%s:%d: %s: expected SIGABRT and \"%s\"; status %#x, stderr:\n%s\n", file, line,
                what, needle, r.status, r.err);
        exit(1);
    }
}

/* ------------------------------------------------------------ patterns */

typedef struct ft_alloc {
    unsigned char *p;
    size_t size;
    uint32_t seed;
} ft_alloc;

static inline unsigned char ft_byte(uint32_t seed, size_t i)
{
    return (unsigned char)((seed * 2654435761u) >> 24) ^ (unsigned char)(i * 131u + (i >> 8));
}

static inline void ft_fill(const ft_alloc *a)
{
    for (size_t i = 0; i < a->size; i++)
        a->p[i] = ft_byte(a->seed, i);
}

static inline bool ft_intact(const ft_alloc *a)
{
    for (size_t i = 0; i < a->size; i++)
        if (a->p[i] != ft_byte(a->seed, i))
            return false;
    return true;
}

static int ft_cmp_addr(const void *x, const void *y)
{
    const ft_alloc *a = x, *b = y;
    return a->p < b->p ? -1 : a->p > b->p;
}

/* Every allocation still holds its pattern and no two overlap (sorts a). */
static inline void ft_check_all(ft_alloc *a, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!ft_intact(&a[i])) {
            fprintf(stderr, "allocation %zu (%p, %zu bytes) was overwritten\n", i, (void *)a[i].p, a[i].size);
            exit(1);
        }
    }
    qsort(a, n, sizeof *a, ft_cmp_addr);
    for (size_t i = 1; i < n; i++) {
        if (a[i - 1].p + a[i - 1].size > a[i].p) {
            fprintf(stderr, "allocations overlap: %p + %zu and %p\n", (void *)a[i - 1].p, a[i - 1].size,
                    (void *)a[i].p);
            exit(1);
        }
    }
}

static inline uint64_t ft_rand(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *state = x;
}

#endif
