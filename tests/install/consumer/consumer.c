/* A program built against an installed fiberjob: runs a few jobs on a counter
 * and checks their result. argv[1]: worker count (default 2). */
#include <fiberjob.h>
#include <stdio.h>
#include <stdlib.h>

#if !defined(FIBERJOB_VERSION_MAJOR)
#error "fiberjob.h without its version macros"
#endif

#define JOBS 100

static void square(void *arg)
{
    long *x = arg;
    *x *= *x;
}

static void root(void *arg)
{
    long *v = arg;
    fj_job jobs[JOBS];
    for (int i = 0; i < JOBS; i++)
        jobs[i] = (fj_job){ .fn = square, .arg = &v[i], .name = "square" };
    fj_counter done;
    fj_counter_init(&done, 0);
    fj_run_jobs(jobs, JOBS, &done);
    fj_wait(&done, 0);
}

int main(int argc, char **argv)
{
    long v[JOBS];
    for (int i = 0; i < JOBS; i++)
        v[i] = i;
    fj_config cfg = fj_config_default();
    cfg.workers = argc > 1 ? (unsigned)atoi(argv[1]) : 2;
    fj_scheduler *s = fj_create(&cfg);
    if (!s) {
        fprintf(stderr, "fj_create: %s\n", fj_strerror(fj_last_error()));
        return 1;
    }
    int rc = fj_main(s, root, v);
    fj_destroy(s);
    long sum = 0;
    for (int i = 0; i < JOBS; i++)
        sum += v[i];
    long expect = (long)(JOBS - 1) * JOBS * (2 * JOBS - 1) / 6;
    printf("consumer (fiberjob %d.%d.%d): sum of squares %ld (%s)\n", FIBERJOB_VERSION_MAJOR,
           FIBERJOB_VERSION_MINOR, FIBERJOB_VERSION_PATCH, sum, sum == expect ? "ok" : "WRONG");
    return rc == 0 && sum == expect ? 0 : 1;
}
