/*
 * fiberjob frame allocator: a tagged linear heap (included by fiberjob.h).
 *
 * Memory for data that lives for a frame, in the style of Naughty Dog's tagged
 * heap. A heap is made of blocks (2 MiB by default) carved from one address
 * range reserved when the heap is created. Every allocation names a tag (a
 * frame number, say). Each worker allocates by bumping a pointer in its own
 * current block for that tag, with no atomic operation, no lock and no system
 * call; taking a fresh block is one lock-free pop. Freeing a tag hands all of
 * its blocks back at once; there is no per-allocation free. Several tags may be
 * in flight at once (frame N+1 simulating while frame N renders).
 *
 *     fj_frame_heap *h = fj_frame_heap_create(sched, NULL);
 *     ...in any job of frame f:
 *     particle *p = fj_frame_alloc(h, f, n * sizeof *p, _Alignof(particle));
 *     ...once every job of frame f is done (for example after fj_wait on the
 *     counter of the frame's jobs):
 *     fj_frame_free_tag(h, f);
 *
 * Lifetime rules (the user's contract):
 *  - Memory allocated with tag T stays valid until fj_frame_free_tag(h, T).
 *  - Every allocation in T, and every use of that memory, must happen before
 *    fj_frame_free_tag(h, T) starts; typically the job that frees T has waited
 *    on a counter of every job that used T. Allocating in T while T is being
 *    freed is a programming error: the heap detects it where that is cheap (a
 *    job that takes a new block for T while T is freed stops the process with a
 *    message naming fj_frame_alloc; debug builds, those without NDEBUG, and ASan
 *    builds also check after each allocation), but cannot see every case.
 *  - Allocating in T after fj_frame_free_tag(h, T) returned is allowed and
 *    starts a new lifetime of T (fixed tags such as "render" can be reused every
 *    frame); that free must happen before the allocation (same rule as above).
 *  - Under AddressSanitizer the memory of a freed tag is poisoned, so a use after
 *    the free is reported; so are the gaps between allocations.
 *  - Destroy the heap before its scheduler, when no job uses it any more.
 *
 * Threads: every function may be called from any job of the heap's scheduler
 * and from threads outside it. Outside threads (and workers of another
 * scheduler) share one table of tags guarded by a mutex: correct, but a slow
 * path. Several jobs may free different tags at once.
 *
 * Steady state: after the heap has grown to what a frame needs, allocating and
 * freeing tags calls neither malloc nor the kernel. Memory is not returned to
 * the system before fj_frame_heap_destroy.
 */
#ifndef FIBERJOB_FRAME_H
#define FIBERJOB_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "fiberjob.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A tagged linear heap for one scheduler (opaque). */
typedef struct fj_frame_heap fj_frame_heap;

/** The largest tag value (the two values above it are reserved by the heap). */
#define FJ_FRAME_TAG_MAX (UINT64_MAX - 2)

/** Heap configuration. Zero-initialised fields take the defaults given here. */
typedef struct fj_frame_config {
    /** Block size in bytes: a power of two from the page size to 1 GiB; 0: 2 MiB. */
    size_t block_size;
    /** Bytes made usable at creation, rounded up to whole blocks; 0: two blocks
     *  per worker plus two (at most the cap). */
    size_t reserve;
    /** The most the heap grows to, rounded up to whole blocks: when the usable
     *  blocks run out the heap grows by whole blocks up to this cap, then
     *  fj_frame_alloc returns NULL (FJ_ENOMEM). 0: the larger of reserve and
     *  1 GiB. This much address space (not memory) is reserved at creation.
     *  Runs of blocks (see fj_frame_alloc) are reused as runs and cut into
     *  single blocks when those run out at the cap, but single blocks are never
     *  joined into runs: near the cap, an allocation larger than a block can
     *  fail while smaller blocks are free. */
    size_t cap;
    /** Tags a worker (or the outside threads together) can have in flight at
     *  once; past it fj_frame_alloc returns NULL (FJ_ELIMIT). 0: 32; at most 1024. */
    unsigned max_tags;
} fj_frame_config;

/** A snapshot of a heap's blocks (exact when no job uses the heap). */
typedef struct fj_frame_stats {
    size_t block_size;       /**< bytes per block */
    size_t blocks_reserved;  /**< usable blocks (reserve plus growth) */
    size_t blocks_cap;       /**< the cap in blocks */
    size_t blocks_in_use;    /**< blocks held by tags not yet freed */
} fj_frame_stats;

/**
 * Create a heap for the jobs of scheduler s (its per-worker tables are sized by
 * fj_worker_count(s)). NULL cfg: defaults. Returns NULL on failure, with the
 * reason in fj_frame_last_error(): FJ_EINVAL for a configuration value out of
 * range, FJ_ENOMEM when the address space or the memory cannot be had.
 * A NULL scheduler is a programming error (the process stops).
 */
FJ_API fj_frame_heap *fj_frame_heap_create(fj_scheduler *s, const fj_frame_config *cfg);

/** Release every block of h (all tags) back to the system. NULL: nothing. */
FJ_API void fj_frame_heap_destroy(fj_frame_heap *h);

/**
 * size bytes aligned to align, valid until tag is freed. align is a power of
 * two up to the block size (a page is always allowed), or 0 for
 * _Alignof(max_align_t). A size larger than a block gets a run of contiguous
 * blocks of its own, block-aligned; its block count is rounded up to a size
 * class (by at most a quarter) so that a freed run fits later requests. size 0
 * returns a unique pointer that must not be dereferenced.
 *
 * From a job this is a compare and a pointer bump in the worker's own block
 * for the tag (no atomic read-modify-write, no lock); a fresh block is one
 * lock-free pop.
 *
 * Returns NULL when the heap is at its cap (FJ_ENOMEM in fj_frame_last_error(),
 * also when the kernel refuses to grow the heap) or when the calling worker has
 * max_tags other tags in flight (FJ_ELIMIT). Nothing is corrupted by a failure,
 * and allocation works again once tags are freed.
 *
 * A NULL heap, tag > FJ_FRAME_TAG_MAX or an alignment that is not a power of
 * two or exceeds the block size are programming errors: the process stops with
 * a line naming fj_frame_alloc.
 */
FJ_API void *fj_frame_alloc(fj_frame_heap *h, uint64_t tag, size_t size, size_t align);

/**
 * Free every allocation made with tag, on every worker, at once; the blocks go
 * back to the heap for any tag to reuse. Returns the number of blocks released
 * (0 when the tag has no allocation: freeing a tag twice is harmless). It never
 * fails. See the lifetime rules above: no job may still allocate in or use tag.
 */
FJ_API int fj_frame_free_tag(fj_frame_heap *h, uint64_t tag);

/** A snapshot of h's block counts. */
FJ_API void fj_frame_heap_stats(const fj_frame_heap *h, fj_frame_stats *out);

/**
 * The code (FJ_ENOMEM, FJ_ELIMIT, FJ_EINVAL) of the most recent failed
 * fj_frame_alloc or fj_frame_heap_create on the calling thread; successes do
 * not clear it. Inside a job, read it right after the failed call, before the
 * job waits or yields (the job may then resume on another worker thread).
 */
FJ_API int fj_frame_last_error(void);

#ifdef __cplusplus
}
#endif

#endif /* FIBERJOB_FRAME_H */
