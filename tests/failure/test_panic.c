/* fj_panic: the job is cut short, cleanups run, the counter is still finished
 * and counts the panic, and the worker goes on with other work. */
#include "test.h"

static int cleanups;
static int after_panic_ran;
static int ran;

static void on_scope_exit(int *p) { (void)p; __atomic_fetch_add(&cleanups, 1, __ATOMIC_RELAXED); }

static void deep(int depth)
{
    int guard __attribute__((cleanup(on_scope_exit))) = depth;
    (void)guard;
    if (depth <= 0)
        fj_panic("boom at depth %d", depth);
    if (depth < 1000)
        deep(depth - 1);
}

static void panicking(void *arg)
{
    (void)arg;
    __atomic_fetch_add(&ran, 1, __ATOMIC_RELAXED);
    deep(3); /* 4 frames with cleanups */
    after_panic_ran = 1;
}

static void fine(void *arg)
{
    (void)arg;
    __atomic_fetch_add(&ran, 1, __ATOMIC_RELAXED);
}

static void child_guarded(void *arg)
{
    fj_counter *hand = arg;
    FJ_COUNT_SCOPE(hand);
    fj_panic("panic inside a counted scope");
}

static void root(void *arg)
{
    (void)arg;
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_job jobs[10];
    for (int i = 0; i < 10; i++)
        jobs[i] = (fj_job){ .fn = i % 3 == 0 ? panicking : fine, .name = i % 3 == 0 ? "panicking" : "fine" };
    fj_run_jobs(jobs, 10, &c);
    fj_wait(&c, 0);
    CHECK_EQ(fj_counter_value(&c), 0);
    CHECK_EQ(fj_counter_panics(&c), 4);
    CHECK_EQ(ran, 10);
    CHECK_EQ(after_panic_ran, 0);
    CHECK_EQ(cleanups, 16);

    /* A hand-managed count finished by a scope guard when a panic leaves it. */
    fj_counter hand, jobc;
    fj_counter_init(&hand, 0);
    fj_counter_init(&jobc, 0);
    fj_job g = { .fn = child_guarded, .arg = &hand, .name = "guarded" };
    fj_run_jobs(&g, 1, &jobc);
    fj_wait(&jobc, 0);
    fj_wait(&hand, 0);
    CHECK_EQ(fj_counter_value(&hand), 0);
    CHECK_EQ(fj_counter_panics(&jobc), 1);

    /* The scheduler still works. */
    fj_counter d;
    fj_counter_init(&d, 0);
    fj_run_jobs(jobs + 1, 2, &d);
    fj_wait(&d, 0);
    CHECK_EQ(fj_counter_panics(&d), 0);
}

static int reports;
static void hook(const fj_panic_info *info, void *user)
{
    (void)user;
    CHECK(info->job_name && info->message);
    CHECK(strstr(info->message, "panic") || strstr(info->message, "boom") || strstr(info->message, "gives up"));
    __atomic_fetch_add(&reports, 1, __ATOMIC_RELAXED);
}

static void root_panics(void *arg)
{
    (void)arg;
    fj_panic("the root gives up");
}

int main(int argc, char **argv)
{
    fj_config cfg = test_config(argc, argv);
    cfg.panic_hook = hook;
    fj_scheduler *s = fj_create(&cfg);
    CHECK(s);
    CHECK_EQ(fj_main(s, root, NULL), 0);
    CHECK_EQ(reports, 5);
    CHECK_EQ(fj_main(s, root_panics, NULL), FJ_EPANIC);
    CHECK_EQ(reports, 6);
    fj_destroy(s);
    printf("ok\n");
    return 0;
}
