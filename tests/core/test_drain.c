/*
 * A waiter's identity across the inline run of its children (fj__drain_chunk,
 * src/drain.c). A waiter that finds a batch of its own children runs them
 * one after another in its place; the loop saves the waiter's job name and
 * counter once, gives every child its own, and gives the waiter its own back
 * when the run ends. Each case checks, in every child and in the waiter after
 * fj_wait: fj_current_job_name() and fj_cancelled() (which reads the counter
 * of the job running), and that every child ran or was skipped exactly once.
 *
 * The waiter is the root (its large stack holds the children: the run is on
 * it) and a job on a small fiber (the run is on a stack segment or a called
 * fiber); children of one name and function (a uniform batch), of two names,
 * children that panic, yield, wait on children of their own, cancel their
 * own counter or cancel their waiter's, and a child that leaves a batch of
 * another counter open as the worker's chunk, in memory that may be the
 * children's own batch, freed (the run must not take it for theirs). With
 * one worker every batch is drained by its waiter; with more some are
 * stolen, and the same must hold.
 */
#include <string.h>

#include "test.h"

enum { N = 300 };

enum mode {
    M_UNIFORM,      /* one function, one name */
    M_TWO_NAMES,    /* "even" and "odd" */
    M_PANIC,        /* every 7th panics */
    M_YIELD,        /* every 13th yields (may come back on another worker) */
    M_NESTED,       /* every 10th waits on 3 children of its own */
    M_CANCEL_OWN,   /* child 100 cancels the children's counter */
    M_CANCEL_WAITER, /* child 100 cancels the waiter's counter */
    M_REUSE         /* the last child to start queues 100 jobs of another
                     * counter and waits for 50 of them: its batch may be the
                     * memory of the children's batch it came from, freed when
                     * it was taken, and is left open as the worker's chunk */
};

typedef struct drain_case {
    enum mode mode;
    fj_counter *waiter_counter;   /* the waiter's (NULL: the root) */
    fj_counter children;
    int ran[N];
    int bad_name, bad_cancelled, grand, started;
    fj_counter reuse;             /* M_REUSE: the other counter */
} drain_case;

static const char *child_name(const drain_case *dc, size_t i)
{
    if (dc->mode == M_TWO_NAMES)
        return i % 2 ? "odd" : "even";
    return "child";
}

static void grandchild(void *arg)
{
    drain_case *dc = arg;
    T_ADD(&dc->grand, 1);
}

static void child_check(drain_case *dc, size_t i)
{
    const char *nm = fj_current_job_name();
    if (!nm || strcmp(nm, child_name(dc, i)) != 0)
        T_ADD(&dc->bad_name, 1);
}

typedef struct child_arg {
    drain_case *dc;
    size_t i;
} child_arg;

static child_arg args[2][N];

static void child(void *p)
{
    child_arg *a = p;
    drain_case *dc = a->dc;
    size_t i = a->i;
    T_ADD(&dc->ran[i], 1);
    child_check(dc, i);
    /* The children's counter is cancelled only in M_CANCEL_OWN (a child
     * already running when child 100 cancels it may read either value). */
    if (dc->mode != M_CANCEL_OWN && fj_cancelled() != 0)
        T_ADD(&dc->bad_cancelled, 1);
    switch (dc->mode) {
    case M_PANIC:
        if (i % 7 == 3)
            fj_panic("child %zu panics on purpose", i);
        break;
    case M_YIELD:
        if (i % 13 == 5) {
            fj_yield();
            child_check(dc, i);
        }
        break;
    case M_NESTED:
        if (i % 10 == 4) {
            fj_job g[3];
            for (int k = 0; k < 3; k++)
                g[k] = (fj_job){ .fn = grandchild, .arg = dc, .name = "grandchild" };
            fj_counter gc;
            fj_counter_init(&gc, 0);
            fj_run_jobs(g, 3, &gc);
            fj_wait(&gc, 0);
            child_check(dc, i);
        }
        break;
    case M_CANCEL_OWN:
        if (i == 100)
            fj_counter_cancel(&dc->children);
        break;
    case M_CANCEL_WAITER:
        if (i == 100 && dc->waiter_counter)
            fj_counter_cancel(dc->waiter_counter);
        break;
    case M_REUSE:
        if (T_ADD(&dc->started, 1) == N - 1) {
            fj_job g[100];
            for (int k = 0; k < 100; k++)
                g[k] = (fj_job){ .fn = grandchild, .arg = dc, .name = "other" };
            fj_run_jobs(g, 100, &dc->reuse);
            fj_wait(&dc->reuse, 50);
            child_check(dc, i);
        }
        break;
    default:
        break;
    }
}

/* The waiter: submit the children as one fj_run_jobs, wait, and check its own
 * name and counter are its own again. */
static void waiter(void *p)
{
    drain_case *dc = p;
    const char *own = fj_current_job_name();
    int own_cancelled = fj_cancelled();
    CHECK_EQ(own_cancelled, 0);
    static fj_job jobs[2][N];
    int slot = dc->waiter_counter ? 1 : 0;
    for (size_t i = 0; i < N; i++) {
        args[slot][i] = (child_arg){ dc, i };
        jobs[slot][i] = (fj_job){ .fn = child, .arg = &args[slot][i], .name = child_name(dc, i) };
    }
    fj_counter_init(&dc->children, 0);
    fj_counter_init(&dc->reuse, 0);
    fj_run_jobs(jobs[slot], N, &dc->children);
    fj_wait(&dc->children, 0);
    fj_wait(&dc->reuse, 0);   /* M_REUSE: the other counter's rest */
    const char *after = fj_current_job_name();
    CHECK(after == own || (after && own && strcmp(after, own) == 0));
    /* The waiter's counter: cancelled only by M_CANCEL_WAITER's child. */
    int want = dc->mode == M_CANCEL_WAITER && dc->waiter_counter ? 1 : 0;
    CHECK_EQ(fj_cancelled(), want);
}

static void check_case(drain_case *dc, const char *what)
{
    uint32_t skipped = fj_counter_cancelled(&dc->children);
    uint32_t ran = 0;
    for (size_t i = 0; i < N; i++) {
        if (dc->ran[i] > 1)
            FAIL_SOFT("%s: child %zu ran %d times", what, i, dc->ran[i]);
        ran += (uint32_t)dc->ran[i];
    }
    if (ran + skipped != N)
        FAIL_SOFT("%s: %u ran and %u skipped of %d", what, ran, skipped, N);
    if (dc->mode != M_CANCEL_OWN)
        CHECK_EQ(skipped, 0u);
    else
        CHECK(dc->ran[100] == 1);   /* a child before the cancel: never skipped */
    if (dc->bad_name)
        FAIL_SOFT("%s: %d children saw a wrong fj_current_job_name()", what, dc->bad_name);
    if (dc->bad_cancelled)
        FAIL_SOFT("%s: %d children saw fj_cancelled() of another counter", what, dc->bad_cancelled);
    CHECK_EQ(fj_counter_panics(&dc->children), dc->mode == M_PANIC ? (uint32_t)((N - 3 + 6) / 7) : 0u);
    CHECK_EQ(dc->grand, dc->mode == M_NESTED ? 3 * (N / 10) : dc->mode == M_REUSE ? 100 : 0);
}

/* The root runs one case as itself, then the same case in a job of its own. */
static void root(void *p)
{
    enum mode mode = (enum mode)(intptr_t)p;
    static drain_case as_root, as_job;
    memset(&as_root, 0, sizeof as_root);
    as_root.mode = mode;
    waiter(&as_root);
    check_case(&as_root, "the root waits");

    memset(&as_job, 0, sizeof as_job);
    as_job.mode = mode;
    fj_counter wc;
    fj_counter_init(&wc, 0);
    as_job.waiter_counter = &wc;
    fj_job j = { .fn = waiter, .arg = &as_job, .name = "waiter" };
    fj_run_jobs(&j, 1, &wc);
    fj_wait(&wc, 0);
    check_case(&as_job, "a job waits");
    /* M_CANCEL_WAITER cancels wc only after the waiter started: it ran. */
    CHECK_EQ(fj_counter_cancelled(&wc), 0u);
}

static void quiet_panic(const fj_panic_info *info, void *user)
{
    (void)info;
    (void)user;
}

int main(int argc, char **argv)
{
    for (int m = M_UNIFORM; m <= M_REUSE; m++) {
        fj_config cfg = test_config(argc, argv);
        cfg.panic_hook = quiet_panic;
        run_root(&cfg, root, (void *)(intptr_t)m);
    }
    return test_finish();
}
