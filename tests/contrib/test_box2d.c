/*
 * contrib/fj_box2d.h against a stand-in for Box2D's solver (Box2D is not
 * installed here). The stand-in behaves as Box2D v3's b2SolverStage /
 * b2SolverTask do: the step enqueues workerCount tasks, enters the solver
 * itself as worker 0, then finishes every task. Worker 0's role
 * (orchestrator) goes to whoever claims it first (a CAS): it announces each
 * stage in an atomic word and spins until the stage's blocks are complete;
 * the other tasks spin on that word (pause, and an OS yield now and then, as
 * b2Pause/b2Yield) and claim blocks of the announced stage with a CAS, as
 * does the orchestrator, so any task can run any block.
 *
 * Checked on every step: each block of each stage ran exactly once, and only
 * after every block of the stage before it had completed. Steps run inside a
 * job (the root, and several worlds at once from jobs of their own) and on a
 * thread outside the scheduler (blocking in finish, or taking part with
 * fj_enter), with workerCount 1, 2 and 4 against 1, 2 and
 * 8 fiberjob workers (more Box2D workers than fiberjob workers included),
 * and with the tasks finished in reverse order.
 */
#include <pthread.h>
#include <sched.h>

#include "fj_box2d.h"
#include "test.h"

enum { STAGES = 9, BLOCKS = 12, MAX_WORKERS = 8, STEPS = 60 };

typedef struct world world;
typedef struct worker_ctx {
    world *w;
    int index;
} worker_ctx;

struct world {
    int worker_count;
    int reverse_finish;
    fj_box2d tasks;
    uint32_t sync_bits;              /* stage | sync << 16; UINT32_MAX: done */
    int main_claimed;
    int block_sync[STAGES][BLOCKS];  /* 0: free, 1: claimed this step */
    int completion[STAGES];          /* blocks of the stage completed */
    int stage_done[STAGES];          /* the orchestrator saw the stage complete */
    int ran[STAGES][BLOCKS];
    int out_of_order;
    worker_ctx ctx[MAX_WORKERS];
};

static void pause_cpu(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __asm__ __volatile__("pause");
#elif defined(__aarch64__)
    __asm__ __volatile__("yield" ::: "memory");
#endif
}

static void run_block(world *w, int stage, int block)
{
    if (stage > 0 && !T_LOAD(&w->stage_done[stage - 1]))
        T_ADD(&w->out_of_order, 1);
    T_ADD(&w->ran[stage][block], 1);
}

static void execute_stage(world *w, int stage, int worker)
{
    int done = 0;
    int start = (worker * BLOCKS) / w->worker_count;
    for (int i = 0; i < BLOCKS; i++) {
        int b = (start + i) % BLOCKS;
        int expected = 0;
        if (__atomic_compare_exchange_n(&w->block_sync[stage][b], &expected, 1, false, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE)) {
            run_block(w, stage, b);
            done++;
        }
    }
    T_ADD(&w->completion[stage], done);
}

static void solver_task(void *arg)
{
    worker_ctx *c = arg;
    world *w = c->w;
    if (c->index == 0) {
        int expected = 0;
        if (!__atomic_compare_exchange_n(&w->main_claimed, &expected, 1, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            return;   /* another worker 0 orchestrates */
        for (int s = 0; s < STAGES; s++) {
            T_STORE(&w->sync_bits, (uint32_t)(1u << 16) | (uint32_t)s);
            execute_stage(w, s, 0);
            while (T_LOAD(&w->completion[s]) != BLOCKS)
                pause_cpu();
            T_STORE(&w->stage_done[s], 1);
        }
        T_STORE(&w->sync_bits, UINT32_MAX);
        return;
    }
    uint32_t last = 0;
    for (;;) {
        uint32_t bits;
        int spins = 0;
        while ((bits = T_LOAD(&w->sync_bits)) == last) {
            if (++spins > 5) {
                sched_yield();
                spins = 0;
            } else {
                pause_cpu();
                pause_cpu();
            }
        }
        if (bits == UINT32_MAX)
            return;
        execute_stage(w, (int)(bits & 0xffff), c->index);
        last = bits;
    }
}

/* One b2World_Step's solver: enqueue, enter as worker 0, finish. */
static void world_step(world *w)
{
    memset(w->block_sync, 0, sizeof w->block_sync);
    memset(w->completion, 0, sizeof w->completion);
    memset(w->stage_done, 0, sizeof w->stage_done);
    memset(w->ran, 0, sizeof w->ran);
    T_STORE(&w->sync_bits, 0u);
    T_STORE(&w->main_claimed, 0);
    void *user_task[MAX_WORKERS];
    for (int i = 0; i < w->worker_count; i++) {
        w->ctx[i] = (worker_ctx){ w, i };
        user_task[i] = fj_box2d_enqueue(solver_task, &w->ctx[i], &w->tasks);
        CHECK(user_task[i] != NULL);
    }
    worker_ctx caller = { w, 0 };
    solver_task(&caller);
    for (int k = 0; k < w->worker_count; k++) {
        int i = w->reverse_finish ? w->worker_count - 1 - k : k;
        fj_box2d_finish(user_task[i], &w->tasks);
    }
    CHECK_EQ(T_LOAD(&w->sync_bits), UINT32_MAX);
    for (int s = 0; s < STAGES; s++)
        for (int b = 0; b < BLOCKS; b++)
            if (w->ran[s][b] != 1)
                FAIL_SOFT("workers %d: stage %d block %d ran %d times", w->worker_count, s, b, w->ran[s][b]);
}

static void world_init(world *w, int workers, fj_scheduler *s)
{
    memset(w, 0, sizeof *w);
    w->worker_count = workers;
    fj_box2d_init(&w->tasks, s);
}

static void world_check(world *w)
{
    CHECK_EQ(w->out_of_order, 0);
    CHECK_EQ(w->tasks.panics, 0u);
}

/* ------------------------------------------------------------ inside a job */

static world worlds[3];

static void step_many(void *arg)
{
    world *w = arg;
    for (int i = 0; i < STEPS; i++)
        world_step(w);
}

static void root_one_world(void *arg)
{
    step_many(arg);
}

/* Three worlds stepped at once, each from a job of its own. */
static void root_three_worlds(void *arg)
{
    (void)arg;
    fj_handle h[3];
    for (int i = 0; i < 3; i++)
        h[i] = fj_spawn(&(fj_job){ .fn = step_many, .arg = &worlds[i], .name = "world step" });
    for (int i = 0; i < 3; i++)
        CHECK_EQ(fj_join(h[i]), 0);
}

/* ------------------------------------------------------------ outside thread */

static fj_counter outside_done;

static void *outside_stepper(void *arg)
{
    step_many(arg);
    fj_counter_done(&outside_done, 1);
    return NULL;
}

static void root_waits(void *arg)
{
    (void)arg;
    fj_wait(&outside_done, 0);
}

int main(int argc, char **argv)
{
    fj_config cfg = test_config(argc, argv);
    static const int counts[] = { 1, 2, 4 };
    for (int reverse = 0; reverse < 2; reverse++) {
        for (size_t k = 0; k < 3; k++) {
            world_init(&worlds[0], counts[k], NULL);
            worlds[0].reverse_finish = reverse;
            run_root(&cfg, root_one_world, &worlds[0]);
            world_check(&worlds[0]);
        }
    }
    for (size_t k = 0; k < 3; k++)
        world_init(&worlds[k], counts[k], NULL);
    run_root(&cfg, root_three_worlds, NULL);
    for (size_t k = 0; k < 3; k++)
        world_check(&worlds[k]);

    /* From a thread outside the scheduler: finish blocks that thread. */
    for (size_t k = 0; k < 3; k++) {
        fj_scheduler *s = fj_create(&cfg);
        CHECK(s);
        world_init(&worlds[0], counts[k], s);
        /* Finished by the outside thread: held outside, so the idle workers
         * meanwhile are not a deadlock. */
        fj_counter_init(&outside_done, 0);
        fj_counter_add_outside(&outside_done, 1);
        pthread_t t;
        CHECK_EQ(pthread_create(&t, NULL, outside_stepper, &worlds[0]), 0);
        CHECK_EQ(fj_main(s, root_waits, NULL), 0);
        CHECK_EQ(pthread_join(t, NULL), 0);
        world_check(&worlds[0]);
        fj_destroy(s);
    }

    /* From a thread that takes part (fj_enter): enqueue takes the fast path,
     * finish runs tasks on this thread while it waits. */
    for (int reverse = 0; reverse < 2; reverse++) {
        for (size_t k = 0; k < 3; k++) {
            fj_scheduler *s = fj_create(&cfg);
            CHECK(s);
            world_init(&worlds[0], counts[k], NULL);
            worlds[0].reverse_finish = reverse;
            CHECK_EQ(fj_enter(s), 0);
            step_many(&worlds[0]);
            fj_leave(s);
            world_check(&worlds[0]);
            fj_destroy(s);
        }
    }
    return test_finish();
}
