/*
 * loading: a job waits for a count that a thread outside fiberjob finishes.
 *
 *   ./example_loading [workers] [io_ms]     (io_ms: how long the "read" takes, default 300)
 *
 * The loading pattern: the root asks an I/O thread (or a GPU fence poller, or
 * the network thread) for a file and waits for it with fj_wait. While the
 * file loads, no job runs: every worker is idle, and the only job there is
 * waits on a counter that no job will ever finish. For fiberjob's deadlock
 * detector that is what a deadlock looks like, and it would stop the
 * process with a report.
 *
 * It is not one, because a thread outside will call fj_counter_done. Say so
 * by adding the count with fj_counter_add_outside(c, n) instead of
 * fj_counter_add: the count is then "held outside" until fj_counter_done is
 * called on it from a thread that is not a worker, and while a counter that
 * someone waits on has counts held outside, idle workers are not judged a
 * deadlock. fiberjob just waits, its workers asleep (one looks again four
 * times a second).
 *
 * If the I/O thread never finishes (a hung disk, a lost network reply), the
 * program waits for ever, as it asked. So that a stall is not silent, once
 * every worker has been idle for fj_config.outside_report_ms (default 10 s;
 * 1 s here) fiberjob prints one report on stderr naming the waiting jobs and
 * the counts held outside ("not a deadlock: still waiting"), and keeps
 * waiting. Try it: ./example_loading 2 1500. A true deadlock (a job waiting
 * for a count nobody holds) is still reported and stops the process.
 *
 * (fj_counter_add called on a thread that is not a worker, by the I/O
 * thread itself for example, holds its count outside as well.)
 */
#define _POSIX_C_SOURCE 200809L
#include <fiberjob.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct load_request {
    const char *path;
    unsigned io_ms;
    char data[64];        /* filled by the I/O thread */
    fj_counter loaded;    /* 1 while the I/O thread holds the request */
} load_request;

/* The I/O thread: not a worker, knows nothing of jobs. */
static void *io_thread(void *arg)
{
    load_request *r = arg;
    struct timespec t = { .tv_sec = r->io_ms / 1000, .tv_nsec = (long)(r->io_ms % 1000) * 1000000L };
    nanosleep(&t, NULL);   /* a slow disk */
    snprintf(r->data, sizeof r->data, "contents of %s", r->path);
    /* Publishes data (the waiter reads it after fj_wait returns) and ends
     * the hold: this is not a worker thread. */
    fj_counter_done(&r->loaded, 1);
    return NULL;
}

static unsigned io_ms = 300;
static int loaded_ok;

static void root(void *arg)
{
    (void)arg;
    load_request r = { .path = "level1.pak", .io_ms = io_ms };
    fj_counter_init(&r.loaded, 0);
    fj_counter_add_outside(&r.loaded, 1);   /* before the thread can finish it */
    pthread_t io;
    if (pthread_create(&io, NULL, io_thread, &r) != 0)
        fj_panic("cannot start the I/O thread");   /* fj_main returns FJ_EPANIC */
    /* Suspends this fiber; the workers sleep until the I/O thread's
     * fj_counter_done wakes the root. */
    fj_wait(&r.loaded, 0);
    printf("loaded on worker %d: %s\n", fj_worker_index(), r.data);
    loaded_ok = strcmp(r.data, "contents of level1.pak") == 0;
    pthread_join(io, NULL);   /* it has finished: this does not block the worker long */
}

int main(int argc, char **argv)
{
    fj_config cfg = fj_config_default();
    cfg.workers = argc > 1 ? (unsigned)atoi(argv[1]) : 0;
    cfg.outside_report_ms = 1000;   /* report a stall after 1 s (default 10 s; 0: never) */
    if (argc > 2)
        io_ms = (unsigned)atoi(argv[2]);
    fj_scheduler *s = fj_create(&cfg);
    if (!s) {
        fprintf(stderr, "fj_create: %s\n", fj_strerror(fj_last_error()));
        return 1;
    }
    int rc = fj_main(s, root, NULL);
    fj_destroy(s);
    return rc == 0 && loaded_ok ? 0 : 1;
}
