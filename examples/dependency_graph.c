/*
 * dependency_graph: a small DAG of jobs, launched when their inputs are done.
 *
 *      parse_a     parse_b
 *         \        /     \
 *          compile        docs
 *               \        /
 *                package
 *
 * Every node has a counter, `done`, on which its own job is counted: it is 1
 * from the moment the node is registered until its job has finished. A node
 * is registered with fj_run_jobs_after, naming its inputs' counters as
 * prerequisites: its job starts only once each of them is 0, and sees
 * everything the inputs' jobs wrote. No job waits meanwhile, so no fiber is
 * held for a node whose inputs are still running: a graph of thousands of
 * nodes needs no more fibers than one job per worker.
 *
 * The root registers the nodes in topological order (inputs before the nodes
 * that use them). That order matters: a node's counter is counted when the
 * node is registered, so a later node that names it as a prerequisite finds
 * it "not done". Naming a counter of a node not yet registered would find it
 * at 0, reached at once.
 *
 * Counters must stay alive until the jobs counted on them have finished and
 * every launch that names them has started: the nodes live on the root's
 * stack, and the root waits for every node before it returns.
 *
 * (The same graph with jobs that fj_wait on their inputs works too, but each
 * waiting node holds a fiber from the pool, 128 by default.)
 *
 *   ./example_dependency_graph [workers]
 */
#include <fiberjob.h>
#include <stdio.h>
#include <stdlib.h>

#define MAX_INPUTS 2

typedef struct node {
    const char *name;
    int work;                          /* this node's own contribution */
    struct node *inputs[MAX_INPUTS];
    int result;                        /* work + the inputs' results */
    fj_counter done;
} node;

static void run_node(void *arg)
{
    node *n = arg;
    int result = n->work;
    for (int i = 0; i < MAX_INPUTS && n->inputs[i]; i++)
        result += n->inputs[i]->result;   /* finished before this job started */
    n->result = result;
    printf("  %-8s done on worker %d: %d\n", n->name, fj_worker_index(), result);
}

static void root(void *arg)
{
    int *package_result = arg;
    node parse_a = { .name = "parse_a", .work = 1 };
    node parse_b = { .name = "parse_b", .work = 2 };
    node compile = { .name = "compile", .work = 10, .inputs = { &parse_a, &parse_b } };
    node docs = { .name = "docs", .work = 100, .inputs = { &parse_b } };
    node package = { .name = "package", .work = 1000, .inputs = { &compile, &docs } };
    /* Topological order: every node after its inputs. */
    node *order[] = { &parse_a, &parse_b, &compile, &docs, &package };
    size_t count = sizeof order / sizeof order[0];

    for (size_t i = 0; i < count; i++)
        fj_counter_init(&order[i]->done, 0);
    for (size_t i = 0; i < count; i++) {
        node *n = order[i];
        fj_after after[MAX_INPUTS];
        size_t nafter = 0;
        for (int k = 0; k < MAX_INPUTS && n->inputs[k]; k++)
            after[nafter++] = (fj_after){ .counter = &n->inputs[k]->done, .target = 0 };
        fj_job job = { .fn = run_node, .arg = n, .name = n->name };
        /* done: 0 -> 1 now; the job starts once every input's done is 0. */
        int rc = fj_run_jobs_after(after, nafter, &job, 1, &n->done);
        if (rc != 0) {
            /* Out of memory or waiter ids: nothing was queued for this node. */
            fprintf(stderr, "fj_run_jobs_after: %s\n", fj_strerror(rc));
            abort();
        }
    }
    /* Wait for every node, not only the last: the counters live here. */
    for (size_t i = count; i-- > 0;)
        fj_wait(&order[i]->done, 0);
    *package_result = package.result;
}

int main(int argc, char **argv)
{
    fj_config cfg = fj_config_default();
    if (argc > 1)
        cfg.workers = (unsigned)atoi(argv[1]);
    fj_scheduler *s = fj_create(&cfg);
    if (!s) {
        fprintf(stderr, "fj_create: %s\n", fj_strerror(fj_last_error()));
        return 1;
    }
    int result = 0;
    fj_main(s, root, &result);
    fj_destroy(s);
    /* package = 1000 + compile (10 + 1 + 2) + docs (100 + 2) */
    printf("package: %d (%s)\n", result, result == 1115 ? "ok" : "WRONG");
    return result == 1115 ? 0 : 1;
}
