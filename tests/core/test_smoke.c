#include "test.h"

static void leaf(void *arg) { __atomic_fetch_add((int *)arg, 1, __ATOMIC_RELAXED); }

static void root(void *arg)
{
    int *hits = arg;
    fj_job jobs[100];
    for (int i = 0; i < 100; i++)
        jobs[i] = (fj_job){ .fn = leaf, .arg = hits, .name = "leaf" };
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs(jobs, 100, &c);
    fj_wait(&c, 0);
    CHECK_EQ(fj_counter_value(&c), 0);
    CHECK_EQ(*hits, 100);
}

int main(int argc, char **argv)
{
    fj_config cfg = test_config(argc, argv);
    fj_scheduler *s = fj_create(&cfg);
    CHECK(s);
    int hits = 0;
    CHECK_EQ(fj_main(s, root, &hits), 0);
    CHECK_EQ(hits, 100);
    fj_destroy(s);
    printf("ok\n");
    return 0;
}
