/*
 * The Chase-Lev deque (src/deque.h), driven directly.
 *
 * Single-threaded: push/take is LIFO, steal is FIFO, both report empty, the
 * buffer grows past its initial capacity (one push at a time and one batch
 * larger than the buffer) without losing or reordering tasks, and the whole
 * task is kept by value.
 *
 * Multi-threaded: one owner pushes (single and batched) and takes, three
 * thieves steal; the owner goes through 64 fresh deques of the smallest
 * capacity, so buffers grow hundreds of times while thieves read them. Every task carries its id in every field, so a torn read
 * that won the race would show; every id must be taken or stolen exactly once.
 */
#include <pthread.h>

#include "deque.h"
#include "test.h"

#include "test_mem.h"   /* the C library's memory as an fj__mem */

static fj__task task_for(uint64_t id)
{
    /* Each field derives from id, so a task assembled from two slots shows. */
    return (fj__task){ .fn = (fj_job_fn)(uintptr_t)(id * 2 + 1),
                       .arg = (void *)(uintptr_t)(id + 1),
                       .name = (const char *)(uintptr_t)(id * 3 + 7),
                       .counter = (fj_counter *)(uintptr_t)(id * 5 + 11),
                       .flags = (uintptr_t)(id ^ 0x5a5a5a5aull) };
}

/* The id of a task, or UINT64_MAX when its fields disagree. */
static uint64_t id_of(const fj__task *t)
{
    uint64_t id = (uint64_t)(uintptr_t)t->arg - 1;
    fj__task want = task_for(id);
    return memcmp(&want, t, sizeof want) == 0 ? id : UINT64_MAX;
}

static void test_single_thread(void)
{
    fj__deque d;
    fj__task t;
    CHECK_EQ(fj__deque_init(&d, 1, &test_mem), 0);

    /* Empty: both ends say so, repeatedly. */
    CHECK(!fj__deque_take(&d, &t));
    CHECK(fj__deque_steal(&d, &t) == FJ_DEQUE_EMPTY);
    CHECK(!fj__deque_take(&d, &t));
    CHECK(!fj__deque_peek_bottom(&d, &t));
    CHECK_EQ(fj__deque_size_hint(&d), 0);

    /* LIFO at the bottom. */
    for (uint64_t i = 0; i < 5; i++) {
        fj__task x = task_for(i);
        CHECK_EQ(fj__deque_push(&d, &x, 1), 0);
    }
    CHECK_EQ(fj__deque_size_hint(&d), 5);
    CHECK(fj__deque_peek_bottom(&d, &t));
    CHECK_EQ(id_of(&t), 4);
    for (uint64_t i = 5; i-- > 0;) {
        CHECK(fj__deque_take(&d, &t));
        CHECK_EQ(id_of(&t), i);
    }
    CHECK(!fj__deque_take(&d, &t));
    CHECK(fj__deque_steal(&d, &t) == FJ_DEQUE_EMPTY);

    /* FIFO at the top. */
    for (uint64_t i = 10; i < 15; i++) {
        fj__task x = task_for(i);
        CHECK_EQ(fj__deque_push(&d, &x, 1), 0);
    }
    for (uint64_t i = 10; i < 15; i++) {
        CHECK(fj__deque_steal(&d, &t) == FJ_DEQUE_OK);
        CHECK_EQ(id_of(&t), i);
    }
    CHECK(fj__deque_steal(&d, &t) == FJ_DEQUE_EMPTY);
    CHECK(!fj__deque_take(&d, &t));

    /* Both ends at once: steal the oldest, take the newest, meet in the middle. */
    for (uint64_t i = 20; i < 26; i++) {
        fj__task x = task_for(i);
        CHECK_EQ(fj__deque_push(&d, &x, 1), 0);
    }
    CHECK(fj__deque_steal(&d, &t) == FJ_DEQUE_OK);
    CHECK_EQ(id_of(&t), 20);
    CHECK(fj__deque_take(&d, &t));
    CHECK_EQ(id_of(&t), 25);
    CHECK(fj__deque_steal(&d, &t) == FJ_DEQUE_OK);
    CHECK_EQ(id_of(&t), 21);
    CHECK(fj__deque_take(&d, &t));
    CHECK_EQ(id_of(&t), 24);
    CHECK(fj__deque_take(&d, &t));
    CHECK_EQ(id_of(&t), 23);
    CHECK(fj__deque_steal(&d, &t) == FJ_DEQUE_OK);
    CHECK_EQ(id_of(&t), 22);
    CHECK(!fj__deque_take(&d, &t));
    CHECK(fj__deque_steal(&d, &t) == FJ_DEQUE_EMPTY);

    /* Growth one push at a time, with the live range wrapped around the
     * buffer (steal a few first so top is not at zero). */
    for (uint64_t i = 0; i < 7; i++) {
        fj__task x = task_for(1000 + i);
        CHECK_EQ(fj__deque_push(&d, &x, 1), 0);
    }
    for (uint64_t i = 0; i < 7; i++)
        CHECK(fj__deque_steal(&d, &t) == FJ_DEQUE_OK);
    enum { MANY = 5000 };
    for (uint64_t i = 0; i < MANY; i++) {
        fj__task x = task_for(i);
        CHECK_EQ(fj__deque_push(&d, &x, 1), 0);
    }
    CHECK_EQ(fj__deque_size_hint(&d), MANY);
    /* Half from the top in order, the rest from the bottom in reverse. */
    for (uint64_t i = 0; i < MANY / 2; i++) {
        CHECK(fj__deque_steal(&d, &t) == FJ_DEQUE_OK);
        CHECK_EQ(id_of(&t), i);
    }
    for (uint64_t i = MANY; i-- > MANY / 2;) {
        CHECK(fj__deque_take(&d, &t));
        CHECK_EQ(id_of(&t), i);
    }
    CHECK(!fj__deque_take(&d, &t));

    /* Batch push, including one batch far larger than the buffer. */
    static fj__task batch[3000];
    for (uint64_t i = 0; i < 3000; i++)
        batch[i] = task_for(100000 + i);
    CHECK_EQ(fj__deque_push(&d, batch, 3), 0);
    CHECK_EQ(fj__deque_push(&d, batch + 3, 2997), 0);
    CHECK_EQ(fj__deque_push(&d, batch, 0), 0);   /* an empty batch changes nothing */
    CHECK_EQ(fj__deque_size_hint(&d), 3000);
    CHECK(fj__deque_steal(&d, &t) == FJ_DEQUE_OK);
    CHECK_EQ(id_of(&t), 100000);
    for (uint64_t i = 3000; i-- > 1;) {
        CHECK(fj__deque_take(&d, &t));
        CHECK_EQ(id_of(&t), 100000 + i);
    }
    CHECK(!fj__deque_take(&d, &t));
    CHECK(fj__deque_steal(&d, &t) == FJ_DEQUE_EMPTY);
    fj__deque_free(&d);

    /* A fresh deque with a large initial capacity works the same. */
    CHECK_EQ(fj__deque_init(&d, 1000, &test_mem), 0);
    CHECK_EQ(fj__deque_push(&d, batch, 1000), 0);
    for (uint64_t i = 0; i < 1000; i++) {
        CHECK(fj__deque_steal(&d, &t) == FJ_DEQUE_OK);
        CHECK_EQ(id_of(&t), 100000 + i);
    }
    CHECK(fj__deque_steal(&d, &t) == FJ_DEQUE_EMPTY);
    fj__deque_free(&d);
}

/* fj__deque_take_many: the n newest in queue order, only with more than n
 * there; otherwise nothing taken and the deque as it was. */
static void test_take_many(void)
{
    fj__deque d;
    fj__task t, out[8];
    CHECK_EQ(fj__deque_init(&d, 1, &test_mem), 0);
    CHECK_EQ(fj__deque_take_many(&d, out, 1), 0);   /* empty */
    for (uint64_t i = 0; i < 20; i++) {
        t = task_for(i);
        CHECK_EQ(fj__deque_push(&d, &t, 1), 0);
    }
    CHECK_EQ(fj__deque_take_many(&d, out, 8), 8);
    for (uint64_t i = 0; i < 8; i++)
        CHECK_EQ(id_of(&out[i]), 12 + i);
    CHECK_EQ(fj__deque_size_hint(&d), 12);
    /* 12 left: 8 more leave 4; 12 would leave none (refused), 11 one. */
    CHECK_EQ(fj__deque_take_many(&d, out, 8), 8);
    CHECK_EQ(id_of(&out[0]), 4);
    CHECK_EQ(fj__deque_take_many(&d, out, 4), 0);
    CHECK_EQ(fj__deque_size_hint(&d), 4);
    CHECK_EQ(fj__deque_take_many(&d, out, 3), 3);
    CHECK_EQ(id_of(&out[0]), 1);
    CHECK_EQ(id_of(&out[2]), 3);
    /* The one left is still the thieves' and the owner's as before. */
    CHECK(fj__deque_steal(&d, &t) == FJ_DEQUE_OK);
    CHECK_EQ(id_of(&t), 0);
    CHECK_EQ(fj__deque_take_many(&d, out, 1), 0);
    CHECK(!fj__deque_take(&d, &t));
    /* Pushes after a claim reuse its slots. */
    for (uint64_t i = 100; i < 103; i++) {
        t = task_for(i);
        CHECK_EQ(fj__deque_push(&d, &t, 1), 0);
    }
    CHECK_EQ(fj__deque_take_many(&d, out, 2), 2);
    CHECK_EQ(id_of(&out[0]), 101);
    CHECK_EQ(id_of(&out[1]), 102);
    CHECK(fj__deque_take(&d, &t));
    CHECK_EQ(id_of(&t), 100);
    fj__deque_free(&d);

    /* A claim across the end of the ring (16 slots: indices 15..19 are
     * slots 15, 0, 1, 2, 3). */
    CHECK_EQ(fj__deque_init(&d, 16, &test_mem), 0);
    for (uint64_t i = 0; i < 12; i++) {
        t = task_for(i);
        CHECK_EQ(fj__deque_push(&d, &t, 1), 0);
    }
    for (uint64_t i = 0; i < 12; i++)
        CHECK(fj__deque_steal(&d, &t) == FJ_DEQUE_OK);
    for (uint64_t i = 12; i < 20; i++) {
        t = task_for(i);
        CHECK_EQ(fj__deque_push(&d, &t, 1), 0);
    }
    CHECK_EQ(fj__deque_take_many(&d, out, 5), 5);
    for (uint64_t i = 0; i < 5; i++)
        CHECK_EQ(id_of(&out[i]), 15 + i);
    for (uint64_t i = 14; i >= 12; i--) {
        CHECK(fj__deque_take(&d, &t));
        CHECK_EQ(id_of(&t), i);
    }
    CHECK(!fj__deque_take(&d, &t));
    fj__deque_free(&d);
}

/* ------------------------------------------------------------ stress */

/* The owner works through NDEQ fresh deques in turn (each starts at the
 * smallest capacity, so each grows several times while thieves steal from it),
 * and drains each before moving on. Thieves steal from the current one. Old
 * deques stay allocated until the end, so a thief still looking at one only
 * finds it empty. */
enum { STRESS_ITEMS = 400000, THIEVES = 3, NDEQ = 64, PER_DEQ = STRESS_ITEMS / NDEQ };

static fj__deque deques[NDEQ];
static int current_deque;   /* NDEQ: the owner is done */
static unsigned char seen[STRESS_ITEMS];
static long long stolen_total, lost_total, torn_total;

static void record(const fj__task *t)
{
    uint64_t id = id_of(t);
    if (id >= STRESS_ITEMS) {
        T_ADD(&torn_total, 1);
        return;
    }
    unsigned char before = __atomic_fetch_add(&seen[id], 1, __ATOMIC_RELAXED);
    if (before != 0) {
        fprintf(stderr, "task %llu handed out twice\n", (unsigned long long)id);
        exit(1);
    }
}

static void *thief(void *arg)
{
    (void)arg;
    long long stolen = 0, lost = 0;
    fj__task t;
    for (;;) {
        int i = T_LOAD(&current_deque);
        if (i >= NDEQ)
            break;   /* the owner drained every deque before saying so */
        fj__deque_result r = fj__deque_steal(&deques[i], &t);
        if (r == FJ_DEQUE_OK) {
            record(&t);
            stolen++;
        } else if (r == FJ_DEQUE_LOST) {
            lost++;
        }
    }
    T_ADD(&stolen_total, stolen);
    T_ADD(&lost_total, lost);
    return NULL;
}

static long long owner_fill(fj__deque *d, uint64_t first, uint64_t *rng)
{
    long long taken = 0;
    uint64_t next = first, end = first + PER_DEQ;
    fj__task batch[64], t;
    while (next < end) {
        uint64_t r = test_rand(rng);
        /* Push 1..64 (sometimes as one batch), then take a few: the size
         * climbs (growth under stealing) with dips to empty now and then
         * (the owner and thieves racing for the last task). */
        unsigned n = (unsigned)(r % 64) + 1;
        if (next + n > end)
            n = (unsigned)(end - next);
        if (r & 0x100) {
            for (unsigned k = 0; k < n; k++)
                batch[k] = task_for(next + k);
            CHECK_EQ(fj__deque_push(d, batch, n), 0);
        } else {
            for (unsigned k = 0; k < n; k++) {
                fj__task x = task_for(next + k);
                CHECK_EQ(fj__deque_push(d, &x, 1), 0);
            }
        }
        next += n;
        /* Give the thieves time to keep up (the owner is far faster alone). */
        for (unsigned k = 0; k < 16 * n; k++)
            fj_cpu_relax();
        unsigned takes = (r & 0x3000) == 0 ? n + 8 : (unsigned)((r >> 16) % (n / 4 + 1));
        for (unsigned k = 0; k < takes; k++) {
            if (r & 0x4000) {
                /* Several at once (a lend's claim): all, or none and then
                 * one at a time. */
                size_t m = (size_t)((r >> 24) % 8) + 1, got = fj__deque_take_many(d, batch, m);
                CHECK(got == 0 || got == m);
                for (size_t i = 0; i < got; i++)
                    record(&batch[i]);
                taken += (long long)got;
                k += (unsigned)got;
                if (got)
                    continue;
            }
            if (!fj__deque_take(d, &t))
                break;
            record(&t);
            taken++;
        }
    }
    while (fj__deque_take(d, &t)) {
        record(&t);
        taken++;
    }
    return taken;
}

static void test_stress(void)
{
    for (int i = 0; i < NDEQ; i++)
        CHECK_EQ(fj__deque_init(&deques[i], 1, &test_mem), 0);
    T_STORE(&current_deque, 0);
    pthread_t th[THIEVES];
    for (int i = 0; i < THIEVES; i++)
        CHECK_EQ(pthread_create(&th[i], NULL, thief, NULL), 0);
    uint64_t rng = 0x12345678abcdefull;
    long long taken = 0;
    for (int i = 0; i < NDEQ; i++) {
        T_STORE(&current_deque, i);
        taken += owner_fill(&deques[i], (uint64_t)i * PER_DEQ, &rng);
    }
    T_STORE(&current_deque, NDEQ);
    for (int i = 0; i < THIEVES; i++)
        CHECK_EQ(pthread_join(th[i], NULL), 0);
    CHECK_EQ(torn_total, 0);
    CHECK_EQ(taken + stolen_total, (long long)NDEQ * PER_DEQ);
    for (uint64_t i = 0; i < (uint64_t)NDEQ * PER_DEQ; i++) {
        if (seen[i] != 1) {
            fprintf(stderr, "task %llu seen %d times\n", (unsigned long long)i, seen[i]);
            exit(1);
        }
    }
    fj__task t;
    for (int i = 0; i < NDEQ; i++) {
        CHECK(fj__deque_steal(&deques[i], &t) == FJ_DEQUE_EMPTY);
        CHECK(!fj__deque_take(&deques[i], &t));
        fj__deque_free(&deques[i]);
    }
    printf("stress: %lld taken, %lld stolen, %lld lost races\n", taken, stolen_total, lost_total);
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    test_single_thread();
    test_take_many();
    for (int round = 0; round < 3; round++) {
        memset(seen, 0, sizeof seen);
        stolen_total = lost_total = torn_total = 0;
        test_stress();
    }
    printf("ok\n");
    return 0;
}
