/*
 * Resuming at home (wake.c): a job that parked in fj_wait on one worker and
 * whose count another worker finished may be resumed through its home
 * worker's mailbox or handed to it over the home watch (a word in the
 * fiber's record the idle home worker watches). Whichever way it is resumed,
 * it is resumed exactly once, it sees everything its children wrote (plain,
 * non-atomic writes: under ThreadSanitizer a mailbox put or take, or a
 * watch's hand or claim, weaker than release / acquire is reported as a race
 * here: tried each), and nothing is lost when the home worker stops
 * searching: it finds other work, sleeps, or is parked by
 * fj_set_active_workers while a fiber sits in its mailbox or was just
 * handed to it.
 *
 * Each round: a child, then a job of no counter on top of it (so the waiter
 * does not run the child inline but parks, and its worker runs the filler
 * and goes idle while another worker steals and runs the child), then
 * fj_wait. How many resumes went home depends on timing: it is printed, and
 * checked only against what cannot happen (more home resumes than parks;
 * any with one worker).
 */

#include "test.h"

#define ROUNDS 3000

typedef struct payload {
    long value;        /* plain: written by the child, read by the waiter */
    long pad[7];
} payload;

static void child(void *p)
{
    payload *x = p;
    /* Long enough that the waiter's worker has gone idle (a few µs of
     * work), short enough for thousands of rounds. */
    volatile long sink = 0;
    for (int i = 0; i < 2000; i++)
        sink += i;
    (void)sink;
    x->value += 1;
}

static void filler(void *p) { (void)p; }

typedef struct root_arg {
    fj_scheduler *s;
    unsigned workers;
    bool toggle;       /* change the active-worker limit now and then */
    long rounds;
} root_arg;

static void round_once(long i, payload *x)
{
    fj_counter c;
    fj_counter_init(&c, 0);
    x->value = i;
    fj_job j = { .fn = child, .arg = x, .name = "home child" };
    fj_job f = { .fn = filler, .arg = NULL, .name = "filler" };
    fj_run_jobs(&j, 1, &c);
    fj_run_jobs(&f, 1, NULL);
    fj_wait(&c, 0);
    CHECK_EQ(x->value, i + 1);
}

static void root(void *p)
{
    root_arg *a = p;
    payload x = { 0, { 0 } };
    for (long i = 0; i < ROUNDS; i++) {
        if (a->toggle && a->workers > 1 && i % 100 == 50)
            CHECK_EQ(fj_set_active_workers(a->s, (i / 100) % 2 ? 1 : a->workers), 0);
        round_once(i, &x);
        a->rounds++;
    }
    if (a->toggle)
        CHECK_EQ(fj_set_active_workers(a->s, a->workers), 0);
}

/* A waiter on a small fiber (a job of the root), several at once: waiters
 * park on both workers and are woken across them. */
static void nested_waiter(void *p)
{
    payload x = { 0, { 0 } };
    long *rounds = p;
    for (long i = 0; i < ROUNDS / 10; i++)
        round_once(i, &x);
    __atomic_fetch_add(rounds, ROUNDS / 10, __ATOMIC_RELAXED);
}

static void many_root(void *p)
{
    root_arg *a = p;
    fj_job jobs[4];
    long rounds = 0;
    for (int k = 0; k < 4; k++)
        jobs[k] = (fj_job){ .fn = nested_waiter, .arg = &rounds, .name = "nested waiter" };
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs(jobs, 4, &c);
    fj_wait(&c, 0);
    a->rounds = rounds;
}

static uint64_t home_resumes(fj_scheduler *s, unsigned workers, uint64_t *switches)
{
    fj_worker_stats st[64];
    unsigned n = fj_stats(s, st, 64);
    CHECK_EQ(n, workers);
    uint64_t home = 0;
    *switches = 0;
    for (unsigned i = 0; i < n && i < 64; i++) {
        home += st[i].home_resumes;
        *switches += st[i].switches;
    }
    return home;
}

static void run_case(const char *name, fj_config cfg, fj_job_fn fn, bool toggle, long want_rounds)
{
    fj_scheduler *s = fj_create(&cfg);
    CHECK(s);
    root_arg a = { s, cfg.workers, toggle, 0 };
    CHECK_EQ(fj_main(s, fn, &a), 0);
    CHECK_EQ(a.rounds, want_rounds);
    uint64_t switches = 0;
    uint64_t home = home_resumes(s, cfg.workers, &switches);
    printf("%s, %u workers: %llu of %ld waits resumed at home\n", name, cfg.workers, (unsigned long long)home,
           want_rounds);
    /* A home resume is a resume of a parked fiber: never more than the
     * waits that parked, and only with another worker to finish the count. */
    CHECK(home <= (uint64_t)want_rounds);
    CHECK(home <= switches);
    if (cfg.workers == 1)
        CHECK_EQ(home, 0);
    fj_destroy(s);
}

int main(int argc, char **argv)
{
    fj_config cfg = test_config(argc, argv);
    run_case("root waiter", cfg, root, false, ROUNDS);
    /* Workers that spin long before sleeping: the home worker is searching
     * when the child finishes, so most resumes go through the mailbox. */
    fj_config spin = cfg;
    spin.spin_before_sleep = 100000;
    run_case("root waiter, long spin", spin, root, false, ROUNDS);
    /* Workers that sleep at once: the mailbox is rarely used; a fiber put
     * in one whose owner then sleeps is found by its last look. */
    fj_config nospin = cfg;
    nospin.spin_before_sleep = 0;
    run_case("root waiter, no spin", nospin, root, false, ROUNDS);
    /* The limit going down to one worker and back every 100 rounds: a
     * parked worker gives its mailbox back (idle.c, fj__park_give_back). */
    run_case("root waiter, active workers changing", spin, root, true, ROUNDS);
    run_case("four waiters on small fibers", spin, many_root, false, 4 * (ROUNDS / 10));
    return test_finish();
}
