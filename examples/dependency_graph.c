/*
 * dependency_graph: a small DAG of jobs, ordered by counters.
 *
 *      parse_a     parse_b
 *         \        /     \
 *          compile        docs
 *               \        /
 *                package
 *
 * Every node has a counter, `done`, on which its own job is run: it is 1
 * while the job is queued or running and 0 once the job has finished. A node's
 * job first waits for the `done` of each of its inputs (fj_wait suspends only
 * this job's fiber; the worker runs other jobs meanwhile), then does its work.
 *
 * The root queues the nodes in topological order (inputs before the nodes
 * that use them). That order matters: fj_run_jobs adds 1 to a node's counter
 * when it queues the node, so by the time a node that waits on it is queued,
 * the counter already says "not done". Waiting on a counter of a job not yet
 * queued would return at once.
 *
 * Counters must outlive the jobs counted on them and the jobs that wait on
 * them: the nodes live on the root's stack, and the root waits for every node
 * before it returns.
 *
 * (A waiting node holds a fiber from the pool, 128 by default. For graphs of
 * thousands of nodes, queue a node only when its inputs are done instead.)
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
    for (int i = 0; i < MAX_INPUTS && n->inputs[i]; i++) {
        fj_wait(&n->inputs[i]->done, 0);   /* until that input has finished */
        result += n->inputs[i]->result;    /* ...so its result is complete */
    }
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
        fj_job job = { .fn = run_node, .arg = order[i], .name = order[i]->name };
        fj_run_jobs(&job, 1, &order[i]->done);   /* done: 0 -> 1 */
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
