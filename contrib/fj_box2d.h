/*
 * fj_box2d.h: Box2D v3's task callbacks on fiberjob. Copy this file into your
 * project (it is not installed with the library); it needs fiberjob.h only.
 *
 *     static fj_box2d tasks;                        // one per world
 *     fj_box2d_init(&tasks, sched);                 // or NULL: the job's scheduler
 *     b2WorldDef def = b2DefaultWorldDef();
 *     def.workerCount = (int)fj_worker_count(sched);
 *     def.enqueueTask = fj_box2d_enqueue;
 *     def.finishTask = fj_box2d_finish;
 *     def.userTaskContext = &tasks;
 *     ...
 *     b2World_Step(world, dt, 4);                   // inside a job, or on any thread
 *
 * The shapes are those of Box2D's include/box2d/types.h since the task
 * interface lost its parallel-for arguments (Box2D splits the work itself):
 *     typedef void b2TaskCallback(void *taskContext);
 *     typedef void *b2EnqueueTaskCallback(b2TaskCallback *task, void *taskContext, void *userContext);
 *     typedef void b2FinishTaskCallback(void *userTask, void *userContext);
 * (v3.0 and v3.1 passed itemCount, minRange and a workerIndex as well; this
 * file does not cover that form.)
 *
 * How it maps: enqueue spawns one job (fj_spawn: a pooled counter, no
 * allocation once the pool has grown) whose body calls task(taskContext), and
 * returns a record of this file's; finish joins its handle (fj_join). Called
 * inside a job, finish suspends that job's fiber and the worker runs other
 * jobs meanwhile, the Box2D tasks among them; called on a thread outside the
 * scheduler, it blocks that thread while the workers run them.
 *
 * Why Box2D's spinning solver cannot deadlock here. The solver's tasks spin:
 * worker tasks spin on a stage word until the orchestrator (worker 0)
 * announces a stage, and the orchestrator spins until every block of the
 * stage that some task claimed is complete. A fiber system must never let a
 * spinning task sit on top of, or in front of, the thing it spins for on the
 * same worker. Here that cannot happen, for three reasons together:
 *  1. A Box2D task never waits in fiberjob (it calls no fj_wait, fj_join or
 *     fj_yield), so once a worker has started it, it runs to its end on that
 *     worker: it is never suspended, and nothing is ever run nested on its
 *     stack. (Do not call fiberjob's waiting functions from Box2D callbacks
 *     that run inside its tasks: custom filters, pre-solve, friction mixing.)
 *  2. A spinner only ever waits for tasks that have already started: the
 *     orchestrator that won its claim, or tasks that claimed a block. Queued
 *     tasks are never waited for: any task may run any block, and the thread
 *     stepping the world itself enters the solver as worker 0 and races the
 *     queued worker-0 task for the orchestrator's role, so the step completes
 *     even if no queued task ever starts (fewer fiberjob workers than
 *     workerCount, tasks run out of order). Box2D's src/solver.c says so at
 *     b2SolverTask.
 *  3. The one fiber that is suspended is the stepping job in finish, and it
 *     gets there only after its own turn as worker 0 returned (orchestration
 *     done, or lost to a task that is running). fj_join may run the joined
 *     task nested on the stepping job's stack if it is still queued there,
 *     and a spinner that starts after the orchestrator is done returns at once.
 * So with workerCount above fiberjob's worker count the step still completes
 * (the extra tasks just return), though it wastes spins; set workerCount to
 * fj_worker_count(). One path breaks reason 2: fj_run_jobs runs a job at once
 * when its worker's queue cannot grow for want of memory; a spinner run that
 * way inside enqueue, before the caller reached the solver, waits for the
 * queued worker-0 task, which with one worker nobody runs.
 *
 * Limits: FJ_BOX2D_MAX_TASKS tasks in flight per world at once (Box2D's
 * B2_MAX_TASKS is 128 per step, all finished within the step). A task that
 * panics (fj_panic) is counted in fj_box2d.panics; Box2D is not told.
 * Tasks run on small fibers unless job_flags says FJ_JOB_LARGE_STACK.
 */
#ifndef FJ_BOX2D_H
#define FJ_BOX2D_H

#include <stdint.h>
#include <string.h>

#include "fiberjob.h"

#ifndef FJ_BOX2D_MAX_TASKS
#define FJ_BOX2D_MAX_TASKS 256
#endif

/** One enqueued Box2D task: what enqueue returns as the user task. */
typedef struct fj_box2d_record {
    void (*task)(void *taskContext);
    void *task_context;
    fj_handle handle;
    int busy;                 /* atomic: enqueued and not yet finished */
} fj_box2d_record;

/** The adapter's state: one per world, passed as b2WorldDef.userTaskContext. */
typedef struct fj_box2d {
    fj_scheduler *sched;      /* NULL: the calling job's scheduler (fj_spawn) */
    unsigned job_flags;       /* fj_job.flags of every task (0: a small fiber) */
    const char *job_name;     /* shown in reports and traces */
    unsigned next;            /* atomic: the next record to use */
    unsigned panics;          /* atomic: tasks that panicked */
    fj_box2d_record records[FJ_BOX2D_MAX_TASKS];
} fj_box2d;

static inline void fj_box2d_init(fj_box2d *b, fj_scheduler *sched)
{
    memset(b, 0, sizeof *b);
    b->sched = sched;
    b->job_name = "box2d task";
}

static inline void fj_box2d__run(void *arg)
{
    fj_box2d_record *r = (fj_box2d_record *)arg;
    r->task(r->task_context);
}

/** b2EnqueueTaskCallback: never returns NULL (the task always goes to a worker). */
static inline void *fj_box2d_enqueue(void (*task)(void *taskContext), void *taskContext, void *userContext)
{
    fj_box2d *b = (fj_box2d *)userContext;
    unsigned i = __atomic_fetch_add(&b->next, 1u, __ATOMIC_RELAXED) % FJ_BOX2D_MAX_TASKS;
    fj_box2d_record *r = &b->records[i];
    /* The record comes back in finish; acquire pairs with its release there. */
    if (__atomic_exchange_n(&r->busy, 1, __ATOMIC_ACQUIRE))
        fj_panic("fj_box2d_enqueue: more than %d Box2D tasks in flight on one fj_box2d (raise FJ_BOX2D_MAX_TASKS, "
                 "or give each world its own)", FJ_BOX2D_MAX_TASKS);
    r->task = task;
    r->task_context = taskContext;
    fj_job job = { .fn = fj_box2d__run, .arg = r, .name = b->job_name, .flags = b->job_flags };
    r->handle = b->sched ? fj_spawn_on(b->sched, &job) : fj_spawn(&job);
    return r;
}

/** b2FinishTaskCallback: returns when the task has run. */
static inline void fj_box2d_finish(void *userTask, void *userContext)
{
    fj_box2d *b = (fj_box2d *)userContext;
    fj_box2d_record *r = (fj_box2d_record *)userTask;
    if (fj_join(r->handle) == FJ_EPANIC)
        __atomic_fetch_add(&b->panics, 1u, __ATOMIC_RELAXED);
    __atomic_store_n(&r->busy, 0, __ATOMIC_RELEASE);
}

#endif
