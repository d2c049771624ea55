/*
 * fj_run_jobs_after: launch when done (misuse: tests/failure/test_after_misuse.c).
 *  - a chain A -> B -> C: each starts after the one before finished, and
 *    sees its writes;
 *  - fan-out: 200 jobs after one counter, none before it is reached;
 *  - join: one job after 6 counters (more than the inline 4), finished in
 *    any order by jobs that yield; several jobs per call (a heap array);
 *  - targets above 0; prerequisites reached already (launched at once);
 *  - a random DAG of 4,000 nodes, each node summing its inputs' results, run
 *    with only 4 small fibers: no fiber waits for a prerequisite (a graph of
 *    waiting jobs would need a fiber per waiting node), and the results
 *    equal a serial evaluation;
 *  - from outside: registered by a thread outside, prerequisites finished by
 *    a thread outside (fj_counter_done: the launch goes through the
 *    injection queue), fj_destroy waiting for a pending launch;
 *  - a launched job pinned to a worker runs there.
 */
#include <pthread.h>
#include <time.h>

#include "test.h"

static unsigned nworkers;

/* ------------------------------------------------------------ chain */

static int seq, order[3], seen[3];
static int value_a, value_b;

static void step(void *arg)
{
    int k = (int)(intptr_t)arg;
    order[k] = T_ADD(&seq, 1);
    if (k == 0) {
        fj_yield();
        value_a = 10;
    } else if (k == 1) {
        seen[1] = value_a;
        value_b = value_a + 5;
    } else {
        seen[2] = value_b;
    }
}

static void chain_root(void *arg)
{
    (void)arg;
    fj_counter a, b, c;
    fj_counter_init(&a, 0);
    fj_counter_init(&b, 0);
    fj_counter_init(&c, 0);
    /* Registered in reverse order would be wrong (a counter not yet counted
     * reads 0: reached); in topological order each counter counts its job. */
    fj_run_jobs(&(fj_job){ .fn = step, .arg = (void *)0, .name = "A" }, 1, &a);
    CHECK_EQ(fj_run_jobs_after(&(fj_after){ &a, 0 }, 1, &(fj_job){ .fn = step, .arg = (void *)1, .name = "B" }, 1, &b), 0);
    CHECK_EQ(fj_run_jobs_after(&(fj_after){ &b, 0 }, 1, &(fj_job){ .fn = step, .arg = (void *)2, .name = "C" }, 1, &c), 0);
    fj_wait(&c, 0);
    CHECK_EQ(fj_counter_value(&a), 0);
    CHECK_EQ(fj_counter_value(&b), 0);
    CHECK(order[0] < order[1] && order[1] < order[2]);
    CHECK_EQ(seen[1], 10);
    CHECK_EQ(seen[2], 15);
}

/* ------------------------------------------------------------ fan-out, join */

enum { FAN = 200, JOIN = 6 };
static int pre_done;            /* prerequisite jobs finished (atomic) */
static int fan_early;           /* fan-out jobs that started too early */
static int fan_ran;
static int join_parts[JOIN];
static int join_sum, join_ran;

static void pre_job(void *arg)
{
    int *slot = arg;
    for (int i = 0; i < 3; i++)
        fj_yield();
    *slot = 1;
    T_ADD(&pre_done, 1);
}

static void fan_job(void *arg)
{
    int need = (int)(intptr_t)arg;
    if (T_LOAD(&pre_done) < need)
        T_ADD(&fan_early, 1);
    T_ADD(&fan_ran, 1);
}

static void join_job(void *arg)
{
    (void)arg;
    int sum = 0;
    for (int i = 0; i < JOIN; i++)
        sum += join_parts[i];   /* plain reads: ordered by the launch */
    T_ADD(&join_sum, sum);
    T_ADD(&join_ran, 1);
}

static void fan_join_root(void *arg)
{
    (void)arg;
    static int slots[4];
    /* Fan-out: 4 prerequisite jobs on one counter, 200 jobs after it. */
    fj_counter pre, fan;
    fj_counter_init(&pre, 0);
    fj_counter_init(&fan, 0);
    fj_job pj[4];
    for (int i = 0; i < 4; i++)
        pj[i] = (fj_job){ .fn = pre_job, .arg = &slots[i], .name = "pre" };
    fj_run_jobs(pj, 4, &pre);
    for (int i = 0; i < FAN; i++)
        CHECK_EQ(fj_run_jobs_after(&(fj_after){ &pre, 0 }, 1,
                                   &(fj_job){ .fn = fan_job, .arg = (void *)(intptr_t)4, .name = "fan" }, 1, &fan),
                 0);
    fj_wait(&fan, 0);
    CHECK_EQ(T_LOAD(&fan_ran), FAN);
    CHECK_EQ(T_LOAD(&fan_early), 0);

    /* Join: 3 jobs (one call) after 6 counters, each with its own job. */
    fj_counter parts[JOIN], joined;
    fj_after after[JOIN];
    fj_counter_init(&joined, 0);
    for (int i = 0; i < JOIN; i++) {
        fj_counter_init(&parts[i], 0);
        join_parts[i] = 0;
        after[i] = (fj_after){ &parts[i], 0 };
    }
    for (int i = 0; i < JOIN; i++)
        fj_run_jobs(&(fj_job){ .fn = pre_job, .arg = &join_parts[i], .name = "part" }, 1, &parts[i]);
    fj_job jj[3] = { { .fn = join_job, .name = "join" }, { .fn = join_job, .name = "join" },
                     { .fn = join_job, .name = "join" } };
    CHECK_EQ(fj_run_jobs_after(after, JOIN, jj, 3, &joined), 0);
    CHECK(fj_counter_value(&joined) == 3 || fj_counter_value(&joined) < 3);   /* counted at once */
    fj_wait(&joined, 0);
    CHECK_EQ(join_ran, 3);
    CHECK_EQ(join_sum, 3 * JOIN);

    /* Target above 0: after 2 of 4 jobs of a counter. */
    fj_counter four, half;
    fj_counter_init(&four, 0);
    fj_counter_init(&half, 0);
    pre_done = 0;
    fj_run_jobs(pj, 4, &four);
    CHECK_EQ(fj_run_jobs_after(&(fj_after){ &four, 2 }, 1,
                               &(fj_job){ .fn = fan_job, .arg = (void *)(intptr_t)2, .name = "half" }, 1, &half),
             0);
    fj_wait(&half, 0);
    fj_wait(&four, 0);
    CHECK_EQ(T_LOAD(&fan_early), 0);

    /* Reached already: queued at once, counted. */
    fj_counter zero, now;
    fj_counter_init(&zero, 0);
    fj_counter_init(&now, 0);
    fan_ran = 0;
    CHECK_EQ(fj_run_jobs_after(&(fj_after){ &zero, 0 }, 1, &(fj_job){ .fn = fan_job, .name = "now" }, 1, &now), 0);
    CHECK_EQ(fj_run_jobs_after(NULL, 0, &(fj_job){ .fn = fan_job, .name = "now" }, 1, &now), 0);
    fj_wait(&now, 0);
    CHECK_EQ(fan_ran, 2);
    /* count 0: nothing queued, nothing added, prerequisites still checked. */
    CHECK_EQ(fj_run_jobs_after(&(fj_after){ &zero, 0 }, 1, NULL, 0, &now), 0);
    CHECK_EQ(fj_counter_value(&now), 0);
}

/* ------------------------------------------------------------ random DAG */

enum { NODES = 4000, MAXIN = 4 };
typedef struct node {
    int nin;
    int in[MAXIN];
    long result;
    fj_counter done;
} node;
static node *graph;
static long expect[NODES];

static long node_work(int i)
{
    long r = (long)i * 7 + 1;
    for (int k = 0; k < graph[i].nin; k++)
        r += graph[i].in[k] >= 0 ? expect[graph[i].in[k]] % 1000003 : 0;
    return r;
}

static void run_node(void *arg)
{
    node *n = arg;
    int i = (int)(n - graph);
    long r = (long)i * 7 + 1;
    for (int k = 0; k < n->nin; k++)
        r += graph[n->in[k]].result % 1000003;   /* inputs finished: ordered by the launch */
    n->result = r;
}

static void dag_root(void *arg)
{
    (void)arg;
    fj_counter all;
    fj_counter_init(&all, 0);
    for (int i = 0; i < NODES; i++) {
        node *n = &graph[i];
        fj_counter_init(&n->done, 0);
        fj_after after[MAXIN];
        for (int k = 0; k < n->nin; k++)
            after[k] = (fj_after){ &graph[n->in[k]].done, 0 };
        CHECK_EQ(fj_run_jobs_after(after, (size_t)n->nin, &(fj_job){ .fn = run_node, .arg = n, .name = "node" }, 1,
                                   &n->done),
                 0);
    }
    /* Every node before the root returns (their counters live in graph[]). */
    for (int i = 0; i < NODES; i++)
        fj_wait(&graph[i].done, 0);
}

static void run_dag(fj_config cfg)
{
    graph = calloc(NODES, sizeof *graph);
    CHECK(graph);
    uint64_t rng = 12345;
    for (int i = 0; i < NODES; i++) {
        graph[i].nin = i == 0 ? 0 : (int)(test_rand(&rng) % (MAXIN + 1));
        for (int k = 0; k < graph[i].nin; k++) {
            int span = i < 64 ? i : 64;   /* mostly recent nodes: width and depth */
            graph[i].in[k] = i - 1 - (int)(test_rand(&rng) % (unsigned)span);
        }
        expect[i] = 0;
    }
    for (int i = 0; i < NODES; i++)
        expect[i] = node_work(i);
    /* Few fibers: a node never holds one while its inputs run. */
    cfg.small_fibers = 4;
    fj_scheduler *s = fj_create(&cfg);
    CHECK(s);
    CHECK_EQ(fj_main(s, dag_root, NULL), 0);
    fj_destroy(s);
    for (int i = 0; i < NODES; i++)
        if (graph[i].result != expect[i]) {
            FAIL_SOFT("node %d: result %ld, serial %ld", i, graph[i].result, expect[i]);
            break;
        }
    free(graph);
}

/* ------------------------------------------------------------ outside threads */

static fj_counter gate, launched;
static int outside_ran;

static void outside_job(void *arg)
{
    (void)arg;
    T_ADD(&outside_ran, 1);
}

static void *finisher(void *arg)
{
    (void)arg;
    struct timespec ts = { 0, 100 * 1000 * 1000 };
    nanosleep(&ts, NULL);
    fj_counter_done(&gate, 1);   /* launches through the injection queue */
    return NULL;
}

static void idle_root(void *arg) { (void)arg; }

static void run_outside(fj_config *cfg)
{
    outside_ran = 0;
    fj_scheduler *s = fj_create(cfg);
    CHECK(s);
    fj_counter_init(&gate, 0);
    fj_counter_init(&launched, 0);
    fj_counter_add_outside(&gate, 1);
    /* Registered from this thread (outside every scheduler). */
    CHECK_EQ(fj_run_jobs_after(&(fj_after){ &gate, 0 }, 1, &(fj_job){ .fn = outside_job, .name = "outside" }, 1,
                               &launched),
             0);
    pthread_t th;
    CHECK(pthread_create(&th, NULL, finisher, NULL) == 0);
    /* fj_main's root returns at once; fj_destroy must wait for the launch. */
    CHECK_EQ(fj_main(s, idle_root, NULL), 0);
    fj_destroy(s);
    CHECK_EQ(outside_ran, 1);
    CHECK_EQ(fj_counter_value(&launched), 0);
    pthread_join(th, NULL);
}

/* ------------------------------------------------------------ pinned */

static int pinned_where = -2;
static void pinned_job(void *arg)
{
    (void)arg;
    pinned_where = fj_worker_index();
}

static void pinned_root(void *arg)
{
    (void)arg;
    unsigned k = nworkers - 1;
    fj_counter pre, after;
    fj_counter_init(&pre, 0);
    fj_counter_init(&after, 0);
    static int slot;
    fj_run_jobs(&(fj_job){ .fn = pre_job, .arg = &slot, .name = "pre" }, 1, &pre);
    CHECK_EQ(fj_run_jobs_after(&(fj_after){ &pre, 0 }, 1,
                               &(fj_job){ .fn = pinned_job, .flags = FJ_JOB_ON_WORKER(k), .name = "pinned" }, 1,
                               &after),
             0);
    fj_wait(&after, 0);
    CHECK_EQ(pinned_where, (int)k);
}

static void run_with(fj_config *cfg, void (*root)(void *))
{
    fj_scheduler *s = fj_create(cfg);
    CHECK(s);
    CHECK_EQ(fj_main(s, root, NULL), 0);
    fj_destroy(s);
}

int main(int argc, char **argv)
{
    fj_config cfg = test_config(argc, argv);
    nworkers = cfg.workers;
    for (int rep = 0; rep < 3; rep++) {
        seq = 0;
        run_with(&cfg, chain_root);
    }
    run_with(&cfg, fan_join_root);
    run_dag(cfg);
    run_outside(&cfg);
    run_with(&cfg, pinned_root);
    return test_finish();
}
