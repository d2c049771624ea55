/*
 * The runtime's memory: every allocation it makes for a scheduler goes through
 * the scheduler's fj__mem, the allocator of fj_config (or the C library's),
 * with the size and alignment handed back to free. runtime.c sets one up
 * (fj__mem_init) and owns the C library's pair and the misalignment report;
 * the deque, below runtime.c, reaches that report through the pointer here.
 *
 * What stays outside (docs/design.md, "Memory"): fiber and signal stacks and
 * the records of outside threads that wait (page mappings, through os.h),
 * hwloc's own allocations and its one table of the machine per process, and
 * the C library's own (thread stacks and TLS, stdio buffers).
 */
#ifndef FJ_MEM_H
#define FJ_MEM_H

#include <stddef.h>
#include <stdint.h>

#include "compiler.h"
#include "fiberjob.h"

/* The alignment malloc gives, asked for by allocations with no need of their own. */
#define FJ_MEM_ALIGN _Alignof(max_align_t)

typedef struct fj__mem {
    fj_allocator a;   /* resolved: the C library's pair when the config set none */
    /* Stop the process: a.alloc returned p for size bytes not aligned to
     * align. runtime.c's fj__mem_misaligned, so files below it can call it. */
    void (*misaligned)(const void *p, size_t size, size_t align);
} fj__mem;

/* size bytes aligned to align, or NULL when the allocator has none. */
static inline void *fj__mem_alloc(const fj__mem *m, size_t size, size_t align)
{
    void *p = m->a.alloc(size, align, m->a.user);
    if (FJ_UNLIKELY(((uintptr_t)p & (align - 1)) != 0))
        m->misaligned(p, size, align);
    return p;
}

/* Give back p (NULL: nothing) with the size and align it was taken with. */
static inline void fj__mem_free(const fj__mem *m, void *p, size_t size, size_t align)
{
    if (p)
        m->a.free(p, size, align, m->a.user);
}

#endif
