/*
 * Handles: fj_spawn, fj_spawn_on, fj_join.
 *
 *  - The root spawns more jobs than one chunk of slots holds (the pool grows)
 *    and joins them in an order of its own; each job ran exactly once before
 *    its join returned, and the join says 0.
 *  - A job that panics: its join returns FJ_EPANIC, the others 0, and a slot
 *    given back by a panicked job starts clean (its next job's join says 0).
 *  - Many jobs at once spawn and join children and grandchildren (slots
 *    taken and given back on every worker at once), with a pool that grows
 *    one slot at a time (fj_config.handles = 1).
 *  - A job spawned inside fj_main is joined from a thread outside the
 *    scheduler (which blocks), while the root waits on a count that thread
 *    finishes; and an outside thread spawns with fj_spawn_on and joins its
 *    own handles.
 *  - fj_config.handles above 65,536 makes fj_create fail with FJ_EINVAL.
 */
#include <pthread.h>

#include "test.h"

static fj_config cfg;

/* ------------------------------------------------------------ many, joined out of order */

enum { MANY = 1500 };
static int ran[MANY];
static int early_join;

static void mark(void *arg)
{
    int i = (int)(intptr_t)arg;
    if (i % 7 == 0)
        fj_yield();
    T_ADD(&ran[i], 1);
}

static void many_root(void *arg)
{
    (void)arg;
    static fj_handle h[MANY];
    for (int i = 0; i < MANY; i++)
        h[i] = fj_spawn(&(fj_job){ .fn = mark, .arg = (void *)(intptr_t)i, .name = "mark" });
    /* Odd ones first, then the even ones backwards. */
    for (int i = 1; i < MANY; i += 2) {
        CHECK_EQ(fj_join(h[i]), 0);
        if (T_LOAD(&ran[i]) != 1)
            T_ADD(&early_join, 1);
    }
    for (int i = (MANY - 1) & ~1; i >= 0; i -= 2) {
        CHECK_EQ(fj_join(h[i]), 0);
        if (T_LOAD(&ran[i]) != 1)
            T_ADD(&early_join, 1);
    }
    /* Slots given back are used again: another round on the same pool. */
    for (int i = 0; i < MANY; i++)
        h[i] = fj_spawn(&(fj_job){ .fn = mark, .arg = (void *)(intptr_t)i, .name = "mark again" });
    for (int i = 0; i < MANY; i++) {
        CHECK_EQ(fj_join(h[i]), 0);
        if (T_LOAD(&ran[i]) != 2)
            T_ADD(&early_join, 1);
    }
}

static void test_many(void)
{
    memset(ran, 0, sizeof ran);
    run_root(&cfg, many_root, NULL);
    CHECK_EQ(T_LOAD(&early_join), 0);
    for (int i = 0; i < MANY; i++)
        CHECK_EQ(ran[i], 2);
}

/* ------------------------------------------------------------ panics */

static int panics_seen;
static void count_panic(const fj_panic_info *info, void *user)
{
    (void)info;
    (void)user;
    T_ADD(&panics_seen, 1);
}

static void maybe_panic(void *arg)
{
    if (arg)
        fj_panic("handle job %d fails", (int)(intptr_t)arg);
}

static void panic_root(void *arg)
{
    (void)arg;
    for (int round = 0; round < 20; round++) {
        fj_handle bad = fj_spawn(&(fj_job){ .fn = maybe_panic, .arg = (void *)(intptr_t)(round + 1), .name = "bad" });
        fj_handle good = fj_spawn(&(fj_job){ .fn = maybe_panic, .name = "good" });
        CHECK_EQ(fj_join(bad), FJ_EPANIC);
        CHECK_EQ(fj_join(good), 0);
        /* The slot the panicked job had is the next one taken (the free
         * list is LIFO after good's): its new job must not inherit the panic. */
        fj_handle again = fj_spawn(&(fj_job){ .fn = maybe_panic, .name = "again" });
        fj_handle again2 = fj_spawn(&(fj_job){ .fn = maybe_panic, .name = "again2" });
        CHECK_EQ(fj_join(again), 0);
        CHECK_EQ(fj_join(again2), 0);
    }
}

static void test_panics(void)
{
    fj_config c = cfg;
    c.panic_hook = count_panic;
    run_root(&c, panic_root, NULL);
    CHECK_EQ(T_LOAD(&panics_seen), 20);
}

/* ------------------------------------------------------------ nested, all workers at once */

enum { PARENTS = 16, CHILDREN = 40, GRANDCHILDREN = 3 };
static int leaves;

static void leaf(void *arg)
{
    (void)arg;
    T_ADD(&leaves, 1);
}

static void child(void *arg)
{
    (void)arg;
    fj_handle h[GRANDCHILDREN];
    for (int i = 0; i < GRANDCHILDREN; i++)
        h[i] = fj_spawn(&(fj_job){ .fn = leaf, .name = "grandchild" });
    for (int i = GRANDCHILDREN - 1; i >= 0; i--)
        CHECK_EQ(fj_join(h[i]), 0);
}

static void parent(void *arg)
{
    (void)arg;
    for (int round = 0; round < 5; round++) {
        fj_handle h[CHILDREN];
        for (int i = 0; i < CHILDREN; i++)
            h[i] = fj_spawn(&(fj_job){ .fn = child, .name = "child" });
        for (int i = 0; i < CHILDREN; i++)
            CHECK_EQ(fj_join(h[i]), 0);
    }
}

static void nested_root(void *arg)
{
    (void)arg;
    fj_handle h[PARENTS];
    for (int i = 0; i < PARENTS; i++)
        h[i] = fj_spawn(&(fj_job){ .fn = parent, .name = "parent" });
    for (int i = 0; i < PARENTS; i++)
        CHECK_EQ(fj_join(h[i]), 0);
}

static void test_nested(void)
{
    fj_config c = cfg;
    c.handles = 1;   /* the pool grows a slot at a time, racing spawners and all */
    c.small_fibers = 512;
    leaves = 0;
    run_root(&c, nested_root, NULL);
    CHECK_EQ(leaves, PARENTS * 5 * CHILDREN * GRANDCHILDREN);
}

/* ------------------------------------------------------------ outside threads */

static fj_scheduler *sched;
static fj_handle shared_handle;
static int handle_ready;
static int outsider_joined;
static int slow_done;
static fj_counter outsider_count;   /* the root waits; the outsider finishes it */

static void slow(void *arg)
{
    (void)arg;
    for (int i = 0; i < 200; i++)
        fj_yield();
    T_STORE(&slow_done, 1);
}

static void *outsider(void *arg)
{
    (void)arg;
    while (!T_LOAD(&handle_ready))
        sched_yield();
    CHECK(fj_worker_index() < 0);
    CHECK_EQ(fj_join(shared_handle), 0);   /* blocks this thread */
    CHECK_EQ(T_LOAD(&slow_done), 1);
    T_STORE(&outsider_joined, 1);
    /* Spawned from here, on the named scheduler, joined here. */
    for (int round = 0; round < 50; round++) {
        fj_handle h[4];
        for (int i = 0; i < 4; i++)
            h[i] = fj_spawn_on(sched, &(fj_job){ .fn = leaf, .name = "from outside" });
        for (int i = 0; i < 4; i++)
            CHECK_EQ(fj_join(h[i]), 0);
    }
    fj_counter_done(&outsider_count, 1);
    return NULL;
}

static int keep_waiting(const fj_deadlock_info *info, void *user)
{
    (void)info;
    (void)user;
    return 1;   /* the outside thread finishes the root's count */
}

static void outside_root(void *arg)
{
    (void)arg;
    shared_handle = fj_spawn(&(fj_job){ .fn = slow, .name = "joined outside" });
    T_STORE(&handle_ready, 1);
    fj_wait(&outsider_count, 0);
    CHECK_EQ(T_LOAD(&outsider_joined), 1);
}

static void test_outside(void)
{
    fj_config c = cfg;
    c.deadlock_hook = keep_waiting;
    sched = fj_create(&c);
    CHECK(sched);
    leaves = 0;
    fj_counter_init(&outsider_count, 0);
    fj_counter_add(&outsider_count, 1);
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, outsider, NULL), 0);
    CHECK_EQ(fj_main(sched, outside_root, NULL), 0);
    CHECK_EQ(pthread_join(t, NULL), 0);
    CHECK_EQ(leaves, 50 * 4);
    fj_destroy(sched);
}

/* ------------------------------------------------------------ configuration */

static void test_config_range(void)
{
    fj_config c = cfg;
    c.handles = 65537;
    CHECK(fj_create(&c) == NULL);
    CHECK_EQ(fj_last_error(), FJ_EINVAL);
    c.handles = 65536;
    fj_scheduler *s = fj_create(&c);
    CHECK(s);
    fj_destroy(s);
}

int main(int argc, char **argv)
{
    cfg = test_config(argc, argv);
    test_many();
    test_panics();
    test_nested();
    test_outside();
    test_config_range();
    return test_finish();
}
