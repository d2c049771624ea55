/*
 * Stress for the lock-free block stacks (built from src/frame_alloc.c itself,
 * with a hook that sometimes yields the thread inside a pop, between its read
 * of the top block's link and its CAS: the ABA window). Every job repeatedly takes one block
 * (a block-sized allocation in a tag of its own), stamps it with its id,
 * yields, checks that the stamp is still its own and frees the tag, so the
 * free-block stack is popped and pushed from every worker at once, with the
 * heap at its cap most of the time. A pop that succeeded on a stale link (ABA:
 * the head went away and came back while the pop was delayed) hands a block to
 * two jobs at once, which the stamps catch. Run with 8 workers on 2 cores, the
 * workers are preempted in the middle of their pops and pushes. The jobs spin
 * rather than yield while they hold a block: a yielded fiber stays on its
 * worker, and the point is to have every worker in the stacks at once.
 */
#include <sched.h>

static __thread unsigned tls_pops;
/* Every 4th pop on a thread gives the CPU away inside the window. */
#define FRAME_POP_WINDOW()              \
    do {                                \
        if ((++tls_pops & 3) == 0)      \
            sched_yield();              \
    } while (0)
#include "frame_alloc.c"

#include "test.h"

#define BLOCK ((size_t)4096)
#define CAP 6
#define JOBS 64
#define ROUNDS_PER_JOB 4000

static fj_frame_heap *g_heap;
static unsigned g_refused;

static void stamp(uint64_t *p, uint64_t id)
{
    for (size_t i = 0; i < BLOCK / sizeof(uint64_t); i += 64)
        __atomic_store_n(&p[i], id, __ATOMIC_RELAXED);
}

static bool stamped(const uint64_t *p, uint64_t id)
{
    for (size_t i = 0; i < BLOCK / sizeof(uint64_t); i += 64)
        if (__atomic_load_n(&p[i], __ATOMIC_RELAXED) != id)
            return false;
    return true;
}

static void spin(unsigned n)
{
    for (volatile unsigned i = 0; i < n; i++) {
    }
}

static void churn_job(void *arg)
{
    uint64_t id = (uint64_t)(uintptr_t)arg;
    uint64_t rng = id * 0x9e3779b97f4a7c15ull;
    unsigned refused = 0;
    for (unsigned r = 0; r < ROUNDS_PER_JOB; r++) {
        uint64_t tag = id * ROUNDS_PER_JOB + r;
        uint64_t *p = fj_frame_alloc(g_heap, tag, BLOCK, 0);
        if (!p) {
            /* Every block is held by other jobs right now. */
            CHECK_EQ(fj_frame_last_error(), FJ_ENOMEM);
            refused++;
            spin(64);
            continue;
        }
        stamp(p, tag + 1);
        spin((unsigned)(test_rand(&rng) % 128));
        if (!stamped(p, tag + 1)) {
            fprintf(stderr, "block %p was handed to two jobs at once\n", (void *)p);
            exit(1);
        }
        CHECK_EQ(fj_frame_free_tag(g_heap, tag), 1);
    }
    __atomic_fetch_add(&g_refused, refused, __ATOMIC_RELAXED);
}

static void root(void *arg)
{
    (void)arg;
    fj_job jobs[JOBS];
    for (uintptr_t i = 0; i < JOBS; i++)
        jobs[i] = (fj_job){ .fn = churn_job, .arg = (void *)(i + 1), .name = "churn" };
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs(jobs, JOBS, &c);
    fj_wait(&c, 0);
}

int main(int argc, char **argv)
{
    fj_config cfg = test_config(argc, argv);
    fj_scheduler *s = fj_create(&cfg);
    CHECK(s);
    size_t page = test_page_size();
    CHECK(page <= BLOCK);
    fj_frame_config fc = { .block_size = BLOCK, .reserve = 2 * BLOCK, .cap = CAP * BLOCK, .max_tags = JOBS };
    g_heap = fj_frame_heap_create(s, &fc);
    CHECK(g_heap);
    CHECK_EQ(fj_main(s, root, NULL), 0);
    fj_frame_stats st;
    fj_frame_heap_stats(g_heap, &st);
    CHECK_EQ(st.blocks_in_use, 0);
    CHECK(st.blocks_reserved <= CAP);
    fj_frame_heap_destroy(g_heap);
    fj_destroy(s);
    printf("ok (%u allocations refused at the cap and retried)\n", g_refused);
    return 0;
}
