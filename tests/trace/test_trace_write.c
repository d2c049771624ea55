/*
 * Tracing on: a job tree with nested waits, yields, a panic and many names
 * (some that JSON and XML must escape, one that is not valid UTF-8), written
 * as Chrome trace JSON and as SVG.
 *
 *   test_trace_write WORKERS [PREFIX [--cut]]
 *
 * Writes PREFIX.json, PREFIX.svg, the same after fj_trace_clear as
 * PREFIX.empty.json and PREFIX.empty.svg, and PREFIX.expect: what
 * check_trace.py compares the files with (workers, jobs run, one job name per
 * line in hex). --cut keeps only 64 events per worker, so the rings wrap and
 * the writers must cope with lost events (the job count is then unknown: -1).
 * Without PREFIX the files go to /tmp and are removed at the end; this program
 * checks only that the writers succeed and the files start right.
 */
#include <sys/stat.h>

#include "test.h"

static const char *const names[] = {
    "tree_root", "branch", "twig", "leaf_a", "leaf_b", "leaf_c", "leaf_d", "yielder", "spinner",
    "quote\"name", "back\\slash", "new\nline", "tab\tname", "<xml & 'chars'>", "caf\xc3\xa9 \xe2\x98\x95",
    "ctrl\x01" "char", "bad\xff" "utf8", "a long job name that does not fit in any slice of the picture",
    "panicking",
};
enum { NNAMES = sizeof names / sizeof names[0], N_PLAIN = 9, PANICKING = NNAMES - 1 };
enum { ROUNDS = 3, BRANCHES = 6, CHILDREN = 10, TWIG_LEAVES = 4 };

static unsigned long jobs_run;
static unsigned panics_seen;

static void spin(unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        __asm__ __volatile__("" ::: "memory");
}

/* A leaf named after one of the names: some yield, the special names spin. */
static void leaf(void *arg)
{
    uintptr_t i = (uintptr_t)arg;
    T_ADD(&jobs_run, 1);
    spin(2000 + (unsigned)(i % 7) * 500);
    if (i % 4 == 0) {
        fj_yield();
        spin(500);
        fj_yield();
    }
}

static void panicking(void *arg)
{
    (void)arg;
    T_ADD(&jobs_run, 1);
    fj_panic("a panic the trace marks");
}

static void run_and_wait(fj_job *jobs, size_t n)
{
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs(jobs, n, &c);
    fj_wait(&c, 0);
}

/* Level 2: a few leaves, waited for (a wait nested in two others). */
static void twig(void *arg)
{
    uintptr_t base = (uintptr_t)arg;
    T_ADD(&jobs_run, 1);
    fj_job jobs[TWIG_LEAVES];
    for (uintptr_t k = 0; k < TWIG_LEAVES; k++)
        jobs[k] = (fj_job){ .fn = leaf, .arg = (void *)(base + k), .name = names[3 + (base + k) % 6] };
    run_and_wait(jobs, TWIG_LEAVES);
}

/* Level 1: twigs and leaves with every name, waited for in two steps. */
static void branch(void *arg)
{
    uintptr_t b = (uintptr_t)arg;
    T_ADD(&jobs_run, 1);
    fj_job jobs[CHILDREN];
    for (uintptr_t k = 0; k < CHILDREN; k++) {
        uintptr_t i = b * CHILDREN + k;
        if (k % 3 == 0)
            jobs[k] = (fj_job){ .fn = twig, .arg = (void *)(i * 8), .name = names[2] };
        else
            jobs[k] = (fj_job){ .fn = leaf, .arg = (void *)i, .name = names[3 + i % (PANICKING - 3)] };
    }
    run_and_wait(jobs, CHILDREN / 2);
    run_and_wait(jobs + CHILDREN / 2, CHILDREN - CHILDREN / 2);
}

static void tree_root(void *arg)
{
    (void)arg;
    T_ADD(&jobs_run, 1);
    fj_job jobs[BRANCHES];
    for (int round = 0; round < ROUNDS; round++) {
        for (uintptr_t b = 0; b < BRANCHES; b++)
            jobs[b] = (fj_job){ .fn = branch, .arg = (void *)(round * BRANCHES + b), .name = names[1] };
        run_and_wait(jobs, BRANCHES);
    }
    fj_job p = { .fn = panicking, .name = names[PANICKING] };
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs(&p, 1, &c);
    fj_wait(&c, 0);
    CHECK_EQ(fj_counter_panics(&c), 1);
}

static void root(void *arg)
{
    (void)arg;
    fj_job t = { .fn = tree_root, .name = names[0] };
    run_and_wait(&t, 1);
}

static void quiet_panic(const fj_panic_info *info, void *user)
{
    (void)info;
    (void)user;
    T_ADD(&panics_seen, 1);
}

static void check_file_starts(const char *path, const char *start)
{
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    char buf[64] = { 0 };
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    if (n < strlen(start) || memcmp(buf, start, strlen(start)) != 0)
        FAIL_SOFT("%s starts with \"%.20s\", not \"%s\"", path, buf, start);
}

static void write_both(fj_scheduler *s, const char *prefix, const char *what)
{
    char path[4096];
    snprintf(path, sizeof path, "%s%s.json", prefix, what);
    CHECK_EQ(fj_trace_write_json(s, path), 0);
    check_file_starts(path, "{\"traceEvents\":[");
    snprintf(path, sizeof path, "%s%s.svg", prefix, what);
    CHECK_EQ(fj_trace_write_svg(s, path), 0);
    check_file_starts(path, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg ");
}

static void write_expect(const char *prefix, unsigned workers, long jobs)
{
    char path[4096];
    snprintf(path, sizeof path, "%s.expect", prefix);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    fprintf(f, "workers %u\njobs %ld\n", workers, jobs);
    for (int i = 0; i < NNAMES; i++) {
        fputs("name ", f);
        for (const unsigned char *p = (const unsigned char *)names[i]; *p; p++)
            fprintf(f, "%02x", *p);
        fputc('\n', f);
    }
    CHECK(fclose(f) == 0);
}

int main(int argc, char **argv)
{
    unsetenv("FIBERJOB_TRACE");
    fj_config cfg = test_config(argc, argv);
    bool cut = argc > 3 && strcmp(argv[3], "--cut") == 0;
    cfg.trace_events = cut ? 64 : 1u << 16;
    cfg.panic_hook = quiet_panic;
    char tmp[512];
    const char *prefix = argc > 2 ? argv[2] : NULL;
    if (!prefix) {
        snprintf(tmp, sizeof tmp, "%s/fj_trace_write_%d", test_tmp_dir(), test_pid());
        prefix = tmp;
    }

    fj_scheduler *s = fj_create(&cfg);
    CHECK(s != NULL);
    unsigned workers = fj_worker_count(s);
    CHECK_EQ(fj_main(s, root, NULL), 0);
    CHECK_EQ(T_LOAD(&panics_seen), 1);
    long expected = (long)T_LOAD(&jobs_run) + 1; /* and the root job fj_main ran */
    CHECK_EQ(expected, 1 + 1 + ROUNDS * BRANCHES * (1 + CHILDREN + 4 * TWIG_LEAVES) + 1);
    write_both(s, prefix, "");
    fj_trace_clear(s);
    write_both(s, prefix, ".empty");
    write_expect(prefix, workers, cut ? -1 : expected);
    fj_destroy(s);

    if (prefix == tmp) {
        static const char *const parts[] = { ".json", ".svg", ".empty.json", ".empty.svg", ".expect" };
        for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
            char path[640];
            snprintf(path, sizeof path, "%s%s", prefix, parts[i]);
            unlink(path);
        }
    }
    return test_finish();
}
