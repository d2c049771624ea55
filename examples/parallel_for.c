/*
 * parallel_for: one loop over a big array, run on every worker, two ways.
 *
 *  1. By hand: cut the range into chunks, make one job per chunk, run them on
 *     one counter and wait. Each chunk keeps its own partial sum, so the jobs
 *     share nothing and need no atomics; the root adds the partial sums up.
 *  2. With fj_parallel_for, which does the cutting (automatic chunk size with
 *     grain 0) and the waiting for you.
 *
 *   ./example_parallel_for [workers]     (default: one per allowed CPU)
 */
#include <fiberjob.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define N (1u << 20)
#define CHUNKS 64

static float *in, *out;

/* --- 1. by hand ---------------------------------------------------------- */

typedef struct chunk {
    size_t begin, end;
    double sum;            /* written by this chunk's job only */
} chunk;

static void scale_chunk(void *arg)
{
    chunk *c = arg;
    double sum = 0;
    for (size_t i = c->begin; i < c->end; i++) {
        out[i] = in[i] * 0.5f + 1.0f;
        sum += out[i];
    }
    c->sum = sum;
}

static double scale_by_hand(void)
{
    /* fj_run_jobs copies the fj_job structs, but the chunk each one points to
     * must stay alive until the jobs are done: both arrays live on this
     * job's stack, and we wait before returning. */
    chunk chunks[CHUNKS];
    fj_job jobs[CHUNKS];
    for (size_t k = 0; k < CHUNKS; k++) {
        chunks[k] = (chunk){ .begin = N / CHUNKS * k, .end = N / CHUNKS * (k + 1) };
        jobs[k] = (fj_job){ .fn = scale_chunk, .arg = &chunks[k], .name = "scale_chunk" };
    }
    fj_counter done;
    fj_counter_init(&done, 0);
    fj_run_jobs(jobs, CHUNKS, &done);
    fj_wait(&done, 0);   /* runs chunks still in our queue itself, then sleeps */
    double sum = 0;
    for (size_t k = 0; k < CHUNKS; k++)
        sum += chunks[k].sum;
    return sum;
}

/* --- 2. with fj_parallel_for --------------------------------------------- */

static void square_range(size_t begin, size_t end, void *arg)
{
    (void)arg;
    for (size_t i = begin; i < end; i++)
        out[i] = out[i] * out[i];
}

static void root(void *arg)
{
    double *sum = arg;
    *sum = scale_by_hand();
    /* grain 0: about eight chunks per worker. Returns once every chunk ran. */
    uint32_t failed = fj_parallel_for(0, N, 0, square_range, NULL, "square_range");
    if (failed)
        fprintf(stderr, "%u chunks panicked\n", failed);
}

int main(int argc, char **argv)
{
    in = malloc(N * sizeof *in);
    out = malloc(N * sizeof *out);
    if (!in || !out)
        return 1;
    for (size_t i = 0; i < N; i++)
        in[i] = (float)(i % 100);

    fj_config cfg = fj_config_default();
    if (argc > 1)
        cfg.workers = (unsigned)atoi(argv[1]);
    fj_scheduler *s = fj_create(&cfg);
    if (!s) {
        fprintf(stderr, "fj_create: %s\n", fj_strerror(fj_last_error()));
        return 1;
    }
    double sum = 0;
    fj_main(s, root, &sum);
    printf("%u workers: sum of in*0.5+1 = %.0f\n", fj_worker_count(s), sum);
    fj_destroy(s);

    /* Check against a plain loop. */
    double expect = 0;
    int ok = 1;
    for (size_t i = 0; i < N; i++) {
        float v = in[i] * 0.5f + 1.0f;
        expect += v;
        ok &= out[i] == v * v;
    }
    ok &= fabs(sum - expect) < 1e-6 * expect;
    printf("%s\n", ok ? "ok" : "MISMATCH");
    free(in);
    free(out);
    return ok ? 0 : 1;
}
