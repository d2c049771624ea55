/*
 * hello: the README's example. Four jobs square four numbers; the root job
 * waits for them on a counter.
 *
 *   fj_create  makes the scheduler: worker threads, one per allowed CPU.
 *   fj_main    runs root() as the first job, with this thread as worker 0.
 *   fj_run_jobs queues jobs (copied by value) and adds their number to a
 *              counter; each job subtracts one when it finishes.
 *   fj_wait    suspends the root's fiber until the counter is 0; meanwhile its
 *              worker runs other jobs (here, the squares themselves).
 */
#include <fiberjob.h>
#include <stdio.h>

static void square(void *arg) { int *x = arg; *x *= *x; }

static void root(void *arg)
{
    int *v = arg;
    fj_job jobs[4];
    for (int i = 0; i < 4; i++)
        jobs[i] = (fj_job){ .fn = square, .arg = &v[i], .name = "square" };
    fj_counter done;
    fj_counter_init(&done, 0);
    fj_run_jobs(jobs, 4, &done);   /* adds 4; each finished job subtracts 1 */
    fj_wait(&done, 0);             /* this fiber sleeps; the worker runs other jobs */
}

int main(void)
{
    int v[4] = { 1, 2, 3, 4 };
    fj_scheduler *s = fj_create(NULL);     /* one worker per allowed CPU, pinned */
    fj_main(s, root, v);                   /* this thread joins as worker 0 */
    fj_destroy(s);
    printf("%d %d %d %d\n", v[0], v[1], v[2], v[3]);
}
