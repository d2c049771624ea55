/*
 * Deep nesting: a chain of jobs, each running one child and waiting for it,
 * 100 and 1000 deep, on a pool just large enough (one fiber per level and per
 * worker). Each child runs on a fiber of its own (a job is promised its whole
 * stack); every level must finish, innermost first, and each parent must see
 * its child's result. A pool far smaller than the chain is a reported deadlock.
 * Variants: a leaf beside each chain_link (the parent waits on two jobs, one of
 * which is not at the bottom of its deque), and links that yield first (so a
 * level parks while the rest of the chain is queued).
 */
#include "test.h"

enum { MAXDEPTH = 1000 };

typedef struct chain_link {
    int depth;          /* levels below this one */
    int variant;
    long long sum;      /* depth + sum of the child's */
} chain_link;

static int finished_order[MAXDEPTH + 1];
static int finished_count;
static int leaves;

static void leaf_job(void *arg)
{
    (void)arg;
    T_ADD(&leaves, 1);
}

static void link_job(void *p)
{
    chain_link *l = p;
    if (l->variant == 2)
        fj_yield();
    long long below = 0;
    if (l->depth > 0) {
        chain_link child = { l->depth - 1, l->variant, -1 };
        fj_job jobs[2] = {
            { .fn = link_job, .arg = &child, .name = "link" },
            { .fn = leaf_job, .name = "leaf" },
        };
        fj_counter c;
        fj_counter_init(&c, 0);
        /* variant 1: the leaf is pushed last, so the chain_link is not at the bottom. */
        fj_run_jobs(jobs, l->variant == 1 ? 2 : 1, &c);
        fj_wait(&c, 0);
        CHECK_EQ(fj_counter_value(&c), 0);
        below = child.sum;
        CHECK(below >= 0);
    }
    l->sum = l->depth + below;
    int k = T_ADD(&finished_count, 1);
    if (k <= MAXDEPTH)
        finished_order[k] = l->depth;
}

static void chain_root(void *p)
{
    chain_link *top = p;
    fj_job j = { .fn = link_job, .arg = top, .name = "link-top" };
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs(&j, 1, &c);
    fj_wait(&c, 0);
}

static void run_chain(const fj_config *cfg, int depth, int variant)
{
    chain_link top = { depth, variant, -1 };
    finished_count = 0;
    leaves = 0;
    run_root(cfg, chain_root, &top);
    CHECK_EQ(top.sum, (long long)depth * (depth + 1) / 2);
    CHECK_EQ(finished_count, depth + 1);
    /* A parent finishes only after its child: innermost first. */
    for (int k = 0; k <= depth; k++)
        CHECK_EQ(finished_order[k], k);
    CHECK_EQ(leaves, variant == 1 ? depth : 0);
}

static void deep_chain_small_pool(void *arg)
{
    fj_config cfg = fj_config_default();
    cfg.workers = 1;
    /* Each fiber holds a few dozen links at most, on its own stack and its
     * stack segments (src/segment.c): 4 cannot hold 1,000. */
    cfg.small_fibers = 4;
    cfg.large_fibers = 1;
    /* A root stack no larger than a small one: no child's whole stack fits
     * below it either, so none runs there (whatever the frame sizes). */
    cfg.large_stack_size = cfg.small_stack_size;
    run_chain(&cfg, 1000, (int)(intptr_t)arg);
}

int main(int argc, char **argv)
{
    int depths[] = { 1, 100, 1000 };
    for (int v = 0; v < 3; v++) {
        for (int d = 0; d < 3; d++) {
            fj_config cfg = test_config(argc, argv);
            cfg.small_stack_size = 16 * 1024;
            cfg.small_fibers = (unsigned)depths[d] + cfg.workers + 1;
            cfg.large_fibers = 2;
            run_chain(&cfg, depths[d], v);
        }
    }
    /* A chain far deeper than the pool: every link waits on the next, and
     * each link is a job that is promised a whole small stack, so it needs a
     * fiber of its own (children never run on what is left of a waiter's
     * stack). That is a deadlock of the pool, reported, not a crash. */
    for (int v = 0; v < 3; v++)
        EXPECT_ABORT_MATCH(deep_chain_small_pool, (void *)(intptr_t)v,
                           "fiberjob: deadlock: the fiber pool is exhausted and every worker is idle or waiting",
                           "jobs wait on counters that no job can finish:");
    return test_finish();
}
