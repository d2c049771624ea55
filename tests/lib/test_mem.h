/*
 * The C library's memory as the runtime's fj__mem (src/mem.h) presents it,
 * for the unit tests that call internal functions taking one (deques, trace
 * rings). Include after mem.h or an internal header that includes it.
 */
#ifndef FJ_TEST_MEM_H
#define FJ_TEST_MEM_H

#include <stdlib.h>

static void *test_mem_alloc(size_t size, size_t align, void *user)
{
    (void)align;
    (void)user;
    return malloc(size);
}
static void test_mem_free(void *p, size_t size, size_t align, void *user)
{
    (void)size;
    (void)align;
    (void)user;
    free(p);
}
static void test_mem_misaligned(const void *p, size_t size, size_t align)
{
    (void)p;
    (void)size;
    (void)align;
    abort();
}
static const fj__mem test_mem = { { test_mem_alloc, test_mem_free, NULL }, test_mem_misaligned };

#endif
