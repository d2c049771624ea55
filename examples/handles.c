/*
 * handles: one job, one handle. fj_spawn starts a job and returns an
 * fj_handle; fj_join waits for it and says whether it panicked.
 *
 *   ./example_handles [workers]
 *
 * A counter is the tool for many jobs; a handle is the tool when jobs are
 * started and finished one by one, in an order decided elsewhere: most
 * often a library that asks the application for a task system through two
 * callbacks, "enqueue this task, give me something to finish it with" and
 * "finish it" (Box2D v3, and in other shapes Jolt and PhysX). Each handle
 * holds a counter from a pool the scheduler keeps (it grows when all are in
 * use, so fj_spawn never fails); fj_join gives it back.
 *
 * Rules: join every handle exactly once (a second join stops the process
 * with a line naming fj_join and the job), and before fj_destroy.
 *
 * Part 1 spawns parse jobs, one of which panics on bad input: its fj_join
 * returns FJ_EPANIC, and the others are unaffected. Part 2 plugs
 * fj_spawn/fj_join into a middleware's enqueue/finish callbacks (a stand-in
 * with Box2D's shape). For Box2D and Jolt themselves, copy the adapters in
 * contrib/.
 */
#include <fiberjob.h>
#include <stdio.h>
#include <stdlib.h>

/* ----------------------------------------- Part 1: spawn, join, FJ_EPANIC */

typedef struct parse {
    const char *text;
    long value;
} parse;

static void parse_number(void *arg)
{
    parse *p = arg;
    char *end;
    p->value = strtol(p->text, &end, 10);
    if (*p->text == '\0' || *end != '\0')
        fj_panic("'%s' is not a number", p->text);   /* ends this job only */
}

static int spawn_and_join(void)
{
    parse inputs[] = { { .text = "12" }, { .text = "30" }, { .text = "x7" }, { .text = "100" } };
    enum { N = sizeof inputs / sizeof inputs[0] };
    fj_handle h[N];
    for (int i = 0; i < N; i++)
        h[i] = fj_spawn(&(fj_job){ .fn = parse_number, .arg = &inputs[i], .name = "parse_number" });
    long sum = 0;
    int panicked = 0;
    for (int i = 0; i < N; i++) {
        /* Suspends this fiber until job i has finished. */
        if (fj_join(h[i]) == FJ_EPANIC)
            panicked++;   /* its panic line is on stderr: expected here */
        else
            sum += inputs[i].value;
    }
    printf("parsed: sum %ld, %d input(s) rejected\n", sum, panicked);
    return sum == 142 && panicked == 1;
}

/* ----------------------------------------- Part 2: enqueue/finish callbacks */

/* The middleware's side (a stand-in shaped like Box2D v3's interface). */
typedef void mw_task_fn(void *task_context);
typedef void *mw_enqueue_fn(mw_task_fn *task, void *task_context, void *user_context);
typedef void mw_finish_fn(void *user_task, void *user_context);

typedef struct mw_world {
    mw_enqueue_fn *enqueue;
    mw_finish_fn *finish;
    void *user_context;
    int bodies[8][256];
} mw_world;

static void mw_integrate(void *task_context)
{
    int *bodies = task_context;
    for (int i = 0; i < 256; i++)
        bodies[i] += 1;
}

/* The middleware's step: its own split into tasks, then finish each one. */
static void mw_step(mw_world *w)
{
    void *tasks[8];
    for (int t = 0; t < 8; t++)
        tasks[t] = w->enqueue(mw_integrate, w->bodies[t], w->user_context);
    for (int t = 0; t < 8; t++)
        w->finish(tasks[t], w->user_context);
}

/* The application's side. The callbacks pass a void *, and an fj_handle
 * does not fit one everywhere, so each task gets a record to point at. */
typedef struct task_record {
    mw_task_fn *task;
    void *task_context;
    fj_handle handle;
} task_record;

typedef struct task_system {
    task_record records[64];   /* tasks in flight at once: 8 per step here */
    unsigned next;             /* enqueue is called by the stepping job only */
    int panics;
} task_system;

static void run_task(void *arg)
{
    task_record *r = arg;
    r->task(r->task_context);
}

static void *app_enqueue(mw_task_fn *task, void *task_context, void *user_context)
{
    task_system *ts = user_context;
    task_record *r = &ts->records[ts->next++ % 64];   /* finished before it comes round again */
    r->task = task;
    r->task_context = task_context;
    r->handle = fj_spawn(&(fj_job){ .fn = run_task, .arg = r, .name = "middleware task" });
    return r;
}

static void app_finish(void *user_task, void *user_context)
{
    task_system *ts = user_context;
    task_record *r = user_task;
    if (fj_join(r->handle) == FJ_EPANIC)   /* the middleware cannot be told; count it */
        ts->panics++;
}

static int middleware_steps(void)
{
    static task_system ts;
    static mw_world world = { .enqueue = app_enqueue, .finish = app_finish, .user_context = &ts };
    for (int step = 0; step < 10; step++)
        mw_step(&world);
    int ok = ts.panics == 0;
    for (int t = 0; t < 8; t++)
        for (int i = 0; i < 256; i++)
            ok &= world.bodies[t][i] == 10;
    printf("middleware: 10 steps of 8 tasks, %s\n", ok ? "all integrated" : "WRONG");
    return ok;
}

static void root(void *arg)
{
    int *ok = arg;
    *ok = spawn_and_join();
    *ok &= middleware_steps();
}

int main(int argc, char **argv)
{
    fj_config cfg = fj_config_default();
    cfg.workers = argc > 1 ? (unsigned)atoi(argv[1]) : 0;
    fj_scheduler *s = fj_create(&cfg);
    if (!s) {
        fprintf(stderr, "fj_create: %s\n", fj_strerror(fj_last_error()));
        return 1;
    }
    int ok = 0;
    int rc = fj_main(s, root, &ok);   /* every handle is joined before it returns */
    fj_destroy(s);
    return rc == 0 && ok ? 0 : 1;
}
