/*
 * The trace writers' misuse and failures: a NULL scheduler or path and
 * tracing off (FJ_EINVAL), a file that cannot be opened, written or closed
 * (FJ_EIO, errno saying why), an empty trace, rings far smaller than what ran
 * (the oldest events are lost: the writers still succeed), and
 * fj_trace_clear(NULL), which stops the process.
 */
#include "test.h"

static void child_clear_null(void *arg)
{
    (void)arg;
    fj_trace_clear(NULL);
}

static void expect_einval(const fj_scheduler *s, const char *path, const char *what)
{
    int rc = fj_trace_write_json(s, path);
    if (rc != FJ_EINVAL)
        FAIL_SOFT("fj_trace_write_json with %s returned %d (%s), not FJ_EINVAL", what, rc, fj_strerror(rc));
    rc = fj_trace_write_svg(s, path);
    if (rc != FJ_EINVAL)
        FAIL_SOFT("fj_trace_write_svg with %s returned %d (%s), not FJ_EINVAL", what, rc, fj_strerror(rc));
}

/* Both writers fail with FJ_EIO and errno == err. /dev/full takes every
 * open and fails every write: a small file fails only when fclose flushes it,
 * a large one in the middle of the writing. */
static void expect_eio(const fj_scheduler *s, const char *path, int err, const char *what)
{
    errno = 0;
    int rc = fj_trace_write_json(s, path);
    if (rc != FJ_EIO || errno != err)
        FAIL_SOFT("fj_trace_write_json with %s returned %d (%s), errno %d (%s); expected FJ_EIO, errno %d (%s)", what,
                  rc, fj_strerror(rc), errno, strerror(errno), err, strerror(err));
    errno = 0;
    rc = fj_trace_write_svg(s, path);
    if (rc != FJ_EIO || errno != err)
        FAIL_SOFT("fj_trace_write_svg with %s returned %d (%s), errno %d (%s); expected FJ_EIO, errno %d (%s)", what,
                  rc, fj_strerror(rc), errno, strerror(errno), err, strerror(err));
}

static void expect_ok(const fj_scheduler *s, const char *json, const char *svg, const char *what)
{
    int rc = fj_trace_write_json(s, json);
    if (rc != 0)
        FAIL_SOFT("fj_trace_write_json with %s returned %d (%s)", what, rc, fj_strerror(rc));
    rc = fj_trace_write_svg(s, svg);
    if (rc != 0)
        FAIL_SOFT("fj_trace_write_svg with %s returned %d (%s)", what, rc, fj_strerror(rc));
}

static bool file_has(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strstr(buf, needle) != NULL;
}

static void noop(void *arg) { (void)arg; }

static void many_jobs(void *arg)
{
    (void)arg;
    static fj_job jobs[2000];
    for (int i = 0; i < 2000; i++)
        jobs[i] = (fj_job){ .fn = noop, .name = i % 2 ? "odd" : "even" };
    fj_counter c;
    fj_counter_init(&c, 0);
    for (int round = 0; round < 5; round++) {
        fj_run_jobs(jobs, 2000, &c);
        fj_wait(&c, 0);
    }
}

int main(int argc, char **argv)
{
    unsetenv("FIBERJOB_TRACE");
    char json[128], svg[128];
    snprintf(json, sizeof json, "%s/fj_trace_misuse_%d.json", test_tmp_dir(), test_pid());
    snprintf(svg, sizeof svg, "%s/fj_trace_misuse_%d.svg", test_tmp_dir(), test_pid());

    /* fj_trace_clear(NULL) is a programming error (in a child, before any
     * scheduler exists in this process). */
    EXPECT_ABORT_LINE(child_clear_null, NULL, "fiberjob: fj_trace_clear: scheduler is NULL (outside any job)");

    expect_einval(NULL, json, "a NULL scheduler");

    /* Tracing off. */
    fj_config cfg = test_config(argc, argv);
    fj_scheduler *s = fj_create(&cfg);
    CHECK(s != NULL);
    CHECK_EQ(fj_main(s, many_jobs, NULL), 0);
    expect_einval(s, json, "tracing off");
    fj_trace_clear(s); /* nothing to forget: no effect */
    fj_destroy(s);

    /* Tracing on: bad paths, then an empty trace, then wrapped rings. */
    cfg.trace_events = 16;
    s = fj_create(&cfg);
    CHECK(s != NULL);
    expect_einval(s, NULL, "a NULL path");
    expect_eio(s, "/nonexistent-fiberjob-dir/trace.json", ENOENT, "a path in a missing folder");
#if TEST_WINDOWS
    expect_eio(s, test_tmp_dir(), EACCES, "a folder as the path");   /* what Windows' C library says */
#else
    expect_eio(s, "/tmp", EISDIR, "a folder as the path");
#endif
    bool have_full = access("/dev/full", W_OK) == 0;
    if (have_full)
        expect_eio(s, "/dev/full", ENOSPC, "/dev/full, a small file");
    else
        printf("no writable /dev/full here: the full-disk cases are left out\n");
    /* Nothing ran yet (idle workers may have recorded that they sleep). */
    expect_ok(s, json, svg, "nothing traced yet");
    if (!file_has(json, "\"traceEvents\":[") || !file_has(json, "\"displayTimeUnit\":\"ns\""))
        FAIL_SOFT("%s: the empty trace is not a trace-event file", json);
    if (!file_has(svg, "<g class=\"lane\" id=\"worker-0\">"))
        FAIL_SOFT("%s: the picture of an (almost) empty trace has no lane", svg);
    CHECK_EQ(fj_main(s, many_jobs, NULL), 0);
    expect_ok(s, json, svg, "16-event rings after 10,000 jobs");
    if (!file_has(json, "\"cat\":\"job\""))
        FAIL_SOFT("%s: the newest events of wrapped rings are missing", json);
    fj_trace_clear(s);
    CHECK_EQ(fj_main(s, many_jobs, NULL), 0);
    expect_ok(s, json, svg, "after fj_trace_clear and more jobs");
    fj_destroy(s);

    /* A trace far larger than stdio's buffer: the writes fail before fclose. */
    cfg.trace_events = 1u << 14;
    s = fj_create(&cfg);
    CHECK(s != NULL);
    CHECK_EQ(fj_main(s, many_jobs, NULL), 0);
    if (have_full)
        expect_eio(s, "/dev/full", ENOSPC, "/dev/full, a large file");
    expect_ok(s, json, svg, "the large trace, to a file that can be written");
    fj_destroy(s);

    unlink(json);
    unlink(svg);
    return test_finish();
}
