/*
 * Annotations for sanitizers and Valgrind at every fiber switch, compiled in
 * only when the build asks for them (-fsanitize=address / thread, or
 * -DFIBERJOB_VALGRIND=ON), so the default build pays nothing.
 *
 *  ASan:  __sanitizer_start_switch_fiber before each switch (naming the stack we
 *         go to), __sanitizer_finish_switch_fiber first thing after it, so ASan
 *         knows which stack is live and keeps fake stacks per fiber.
 *  TSan:  one TSan fiber per fiber (and the thread's own), switched to right
 *         before each switch, so happens-before follows the fiber, not the thread.
 *  Valgrind: every fiber stack registered, so memcheck does not take a switch for
 *         a huge stack-pointer change.
 *
 * This is also the one place that tells whether the build has ASan or TSan
 * (FJ_ASAN, FJ_TSAN): atomics.h and frame_alloc.c ask here rather than repeat
 * the compiler checks. It includes nothing of the library.
 */
#ifndef FJ_SANITIZE_H
#define FJ_SANITIZE_H

#include <stddef.h>

#if defined(__SANITIZE_ADDRESS__)
#define FJ_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FJ_ASAN 1
#endif
#endif

#if defined(__SANITIZE_THREAD__)
#define FJ_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define FJ_TSAN 1
#endif
#endif

#ifdef FJ_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#ifdef FJ_TSAN
#include <sanitizer/tsan_interface.h>
#endif
#ifdef FJ_VALGRIND
#include <valgrind/valgrind.h>
#endif

/* ASan's redzones make frames several times larger: give fibers room for them
 * (reports still name the configured size). */
#ifdef FJ_ASAN
#define FJ_SAN_STACK_SCALE 4
#else
#define FJ_SAN_STACK_SCALE 1
#endif

/* What one side of a switch needs: where its stack is and its TSan fiber. */
typedef struct fj__san_ctx {
    const void *stack_lo;
    size_t stack_size;
    void *asan_fake_stack;   /* ASan's fake stack of this context while switched out */
    void *tsan_fiber;
    unsigned valgrind_id;
} fj__san_ctx;

/* Right before fj__ctx_switch(from, to). */
static inline void fj__san_before_switch(fj__san_ctx *from, fj__san_ctx *to)
{
#ifdef FJ_ASAN
    __sanitizer_start_switch_fiber(&from->asan_fake_stack, to->stack_lo, to->stack_size);
#endif
#ifdef FJ_TSAN
    __tsan_switch_to_fiber(to->tsan_fiber, 0);
#endif
    (void)from;
    (void)to;
}

/* First thing in the context that was switched to (`self`). */
static inline void fj__san_after_switch(fj__san_ctx *self)
{
#ifdef FJ_ASAN
    __sanitizer_finish_switch_fiber(self->asan_fake_stack, NULL, NULL);
#endif
    (void)self;
}

/* A fiber's first start: there is no fake stack to restore yet. */
static inline void fj__san_first_start(void)
{
#ifdef FJ_ASAN
    __sanitizer_finish_switch_fiber(NULL, NULL, NULL);
#endif
}

static inline void fj__san_fiber_create(fj__san_ctx *c, const void *lo, size_t size, const char *name)
{
#ifdef FJ_ASAN
    ASAN_UNPOISON_MEMORY_REGION(lo, size);
#endif
    c->stack_lo = lo;
    c->stack_size = size;
    c->asan_fake_stack = NULL;
#ifdef FJ_TSAN
    c->tsan_fiber = __tsan_create_fiber(0);
    __tsan_set_fiber_name(c->tsan_fiber, name);
#else
    (void)name;
    c->tsan_fiber = NULL;
#endif
#ifdef FJ_VALGRIND
    c->valgrind_id = VALGRIND_STACK_REGISTER(lo, (const char *)lo + size);
#else
    c->valgrind_id = 0;
#endif
}

static inline void fj__san_fiber_destroy(fj__san_ctx *c)
{
#ifdef FJ_ASAN
    /* Fibers parked at destroy still have live, poisoned frames; the next
     * mapping at this address must not inherit their shadow. */
    ASAN_UNPOISON_MEMORY_REGION(c->stack_lo, c->stack_size);
#endif
#ifdef FJ_TSAN
    if (c->tsan_fiber)
        __tsan_destroy_fiber(c->tsan_fiber);
    c->tsan_fiber = NULL;
#endif
#ifdef FJ_VALGRIND
    VALGRIND_STACK_DEREGISTER(c->valgrind_id);
#endif
    (void)c;
}

/* The thread's own context, described when the thread enters the scheduler. */
static inline void fj__san_thread_init(fj__san_ctx *c, const void *lo, size_t size)
{
    c->stack_lo = lo;
    c->stack_size = size;
    c->asan_fake_stack = NULL;
#ifdef FJ_TSAN
    c->tsan_fiber = __tsan_get_current_fiber();
#else
    c->tsan_fiber = NULL;
#endif
}

/* Before jumping over frames (a panic's longjmp), so ASan forgets their poison. */
static inline void fj__san_no_return(void)
{
#ifdef FJ_ASAN
    __asan_handle_no_return();
#endif
}

#endif
