/*
 * FIBERJOB_TRACE: set in the environment, it turns tracing on for schedulers
 * configured without it, and fj_destroy writes the Chrome trace JSON to the
 * file it names. Set but empty, it leaves tracing off. A file it cannot write
 * is reported on stderr, in one line. Each case runs in a child process, so
 * that the environment and the scheduler are its own.
 */
#include "test.h"

static unsigned g_workers;
static char g_path[512];

static void named_job(void *arg) { (void)arg; }

static void root(void *arg)
{
    (void)arg;
    fj_job jobs[64];
    for (int i = 0; i < 64; i++)
        jobs[i] = (fj_job){ .fn = named_job, .name = "env_traced_job" };
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs(jobs, 64, &c);
    fj_wait(&c, 0);
}

static fj_scheduler *create(void)
{
    fj_config cfg = fj_config_default();
    cfg.workers = g_workers;
    fj_scheduler *s = fj_create(&cfg);
    CHECK(s != NULL);
    return s;
}

/* The file is written by fj_destroy, without any call from the program. */
static void child_env_set(void *arg)
{
    (void)arg;
    CHECK(setenv("FIBERJOB_TRACE", g_path, 1) == 0);
    fj_scheduler *s = create();
    CHECK_EQ(fj_main(s, root, NULL), 0);
    CHECK(access(g_path, F_OK) != 0); /* not before fj_destroy */
    fj_destroy(s);
}

/* Tracing is on, so the writers work too. */
static void child_env_writers(void *arg)
{
    (void)arg;
    CHECK(setenv("FIBERJOB_TRACE", "/nonexistent-fiberjob-dir/at-exit.json", 1) == 0);
    fj_scheduler *s = create();
    CHECK_EQ(fj_main(s, root, NULL), 0);
    CHECK_EQ(fj_trace_write_json(s, g_path), 0);
    fj_destroy(s); /* its own file cannot be written: no crash */
}

/* FIBERJOB_TRACE names a file that cannot be written: the program made no
 * call whose result it could check, so fj_destroy must say so. */
static void child_env_unwritable(void *arg)
{
    CHECK(setenv("FIBERJOB_TRACE", arg, 1) == 0);
    fj_scheduler *s = create();
    CHECK_EQ(fj_main(s, root, NULL), 0);
    fj_destroy(s);
}

static void expect_unwritable_reported(const char *path, int err)
{
    static child_result r;
    char line[512], buf[128];
    snprintf(line, sizeof line, "fiberjob: FIBERJOB_TRACE: could not write the trace to '%s': %s\n", path,
             strerror(err));
    run_in_child(child_env_unwritable, (void *)path, 30, &r);
    if (!WIFEXITED(r.status) || WEXITSTATUS(r.status) != 0 || strcmp(r.err, line) != 0)
        FAIL_SOFT("FIBERJOB_TRACE=%s: child %s; expected exit 0 and stderr exactly\n  %schild stderr:\n%s", path,
                  child_status_text(r.status, buf, sizeof buf), line, r.err);
}

static void child_env_empty(void *arg)
{
    (void)arg;
    CHECK(setenv("FIBERJOB_TRACE", "", 1) == 0);
    fj_scheduler *s = create();
    CHECK_EQ(fj_main(s, root, NULL), 0);
    CHECK_EQ(fj_trace_write_json(s, g_path), FJ_EINVAL);
    CHECK_EQ(fj_trace_write_svg(s, g_path), FJ_EINVAL);
    fj_destroy(s);
}

static void expect_trace_file(const char *what)
{
    if (test_replaying())   /* a spawned child: its parent read the file */
        return;
    FILE *f = fopen(g_path, "r");
    if (!f) {
        FAIL_SOFT("%s: %s was not written", what, g_path);
        return;
    }
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    if (strncmp(buf, "{\"traceEvents\":[", 16) != 0 || !strstr(buf, "\"name\":\"env_traced_job\"") ||
        !strstr(buf, "\"displayTimeUnit\":\"ns\"") || n < 2 || strcmp(buf + n - 2, "}\n") != 0)
        FAIL_SOFT("%s: %s is not the expected trace (%zu bytes)", what, g_path, n);
    unlink(g_path);
}

int main(int argc, char **argv)
{
    g_workers = test_workers(argc, argv);
    snprintf(g_path, sizeof g_path, "%s/fj_trace_env_%d.json", test_tmp_dir(), test_pid());
    unlink(g_path);

    if (EXPECT_CHILD_OK(child_env_set, NULL, 30, "FIBERJOB_TRACE=path"))
        expect_trace_file("FIBERJOB_TRACE=path, at fj_destroy");
    if (EXPECT_CHILD_OK(child_env_writers, NULL, 30, "FIBERJOB_TRACE with the writers"))
        expect_trace_file("FIBERJOB_TRACE set, fj_trace_write_json");
    expect_unwritable_reported("/nonexistent-fiberjob-dir/t.json", ENOENT);
    if (access("/dev/full", W_OK) == 0)
        expect_unwritable_reported("/dev/full", ENOSPC);
    EXPECT_CHILD_OK(child_env_empty, NULL, 30, "FIBERJOB_TRACE=\"\"");
    if (access(g_path, F_OK) == 0)
        FAIL_SOFT("FIBERJOB_TRACE=\"\" wrote %s", g_path);
    unlink(g_path);
    return test_finish();
}
