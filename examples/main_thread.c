/*
 * main_thread: jobs that must run on the program's main thread.
 *
 *   ./example_main_thread [workers]
 *
 * Some work may only be done on one thread: the one that owns the window,
 * the GL context or the swap chain, or middleware that keeps its state in
 * thread-locals. A plain job may run on any worker, and after fj_wait it may
 * come back on another one. Two tools fix that:
 *
 *  - .flags = FJ_JOB_ON_MAIN pins a job to worker 0, the thread that called
 *    fj_main (or fj_run_pinned). It starts there, is never stolen, and comes
 *    back there after every fj_wait and fj_yield.
 *  - fj_config.root_on_main = 1 does the same for the root job of fj_main.
 *
 * Part 1 is a game loop inside fj_main: each frame the root (pinned by
 * root_on_main) queues "animate" jobs that run anywhere and one "upload" job
 * pinned to the main thread that waits for them, then presents.
 *
 * Part 2 is the same frame for a host whose loop lives outside fj_main (an
 * engine that owns main(), a middleware that only gets callbacks): the host
 * queues the frame's jobs with fj_run_jobs_on and calls fj_run_pinned once a
 * frame, which runs the jobs pinned to worker 0 on the calling thread (and
 * other jobs meanwhile) and returns when none is left.
 *
 * The stand-in for "the GL context is current on this thread" is a
 * thread-local set on the main thread only. Every main-thread step checks it
 * and the thread's identity; the exit code is 1 if one ran anywhere else.
 */
#include <fiberjob.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

enum { FRAMES = 20, ANIMATE_JOBS = 16, BONES = 64 };

static _Thread_local int gl_context_current;   /* like a GL context: per thread */
static pthread_t main_thread;
static int wrong_thread;                       /* main-thread steps run elsewhere */

/* What a GL call would need: this thread, with its context current. */
static void check_on_main(const char *what)
{
    if (!gl_context_current || !pthread_equal(pthread_self(), main_thread)) {
        fprintf(stderr, "%s ran on worker %d, not on the main thread\n", what, fj_worker_index());
        __atomic_store_n(&wrong_thread, 1, __ATOMIC_RELAXED);
    }
}

typedef struct frame {
    float bones[ANIMATE_JOBS][BONES];   /* written by animate, read by upload */
    fj_counter animated;                /* the animate jobs of this frame */
    fj_counter uploaded;                /* the upload job */
    float uploaded_sum;                 /* what "reached the GPU" */
} frame;

/* Any worker: pure computation on the job's own slice. */
static void animate(void *arg)
{
    float *bones = arg;
    for (int i = 0; i < BONES; i++)
        bones[i] = (float)i * 0.5f;
}

/* The main thread only: wait for the animation, then "upload" it. The wait
 * suspends this fiber; being pinned, it resumes on the main thread, so the
 * check after the wait holds too (an unpinned job could resume elsewhere). */
static void upload_to_gpu(void *arg)
{
    frame *f = arg;
    check_on_main("upload (before its wait)");
    fj_wait(&f->animated, 0);
    check_on_main("upload (after its wait)");
    float sum = 0;
    for (int j = 0; j < ANIMATE_JOBS; j++)
        for (int i = 0; i < BONES; i++)
            sum += f->bones[j][i];
    f->uploaded_sum = sum;
}

/* Queue one frame: animate jobs anywhere, the upload pinned to the main
 * thread. s NULL: from inside a job (fj_run_jobs); else from the host
 * thread outside the scheduler (fj_run_jobs_on). */
static void queue_frame(fj_scheduler *s, frame *f)
{
    fj_job animate_jobs[ANIMATE_JOBS];
    for (int j = 0; j < ANIMATE_JOBS; j++)
        animate_jobs[j] = (fj_job){ .fn = animate, .arg = f->bones[j], .name = "animate" };
    fj_job upload = { .fn = upload_to_gpu, .arg = f, .name = "upload", .flags = FJ_JOB_ON_MAIN };
    fj_counter_init(&f->animated, 0);
    fj_counter_init(&f->uploaded, 0);
    /* Animate first: upload waits on `animated`, which must already count them. */
    if (s) {
        fj_run_jobs_on(s, animate_jobs, ANIMATE_JOBS, &f->animated);
        fj_run_jobs_on(s, &upload, 1, &f->uploaded);
    } else {
        fj_run_jobs(animate_jobs, ANIMATE_JOBS, &f->animated);
        fj_run_jobs(&upload, 1, &f->uploaded);
    }
}

static int present(const frame *f)
{
    check_on_main("present");
    return f->uploaded_sum == (float)ANIMATE_JOBS * (BONES - 1) * BONES / 4;   /* sum of i/2 */
}

/* Part 1: the game loop is the root job (root_on_main keeps it on the main
 * thread across its waits). */
static void game_loop(void *arg)
{
    int *presented = arg;
    for (int n = 0; n < FRAMES; n++) {
        frame f;
        queue_frame(NULL, &f);
        fj_wait(&f.uploaded, 0);   /* upload waited for `animated`: all done */
        *presented += present(&f);
    }
}

int main(int argc, char **argv)
{
    fj_config cfg = fj_config_default();
    cfg.workers = argc > 1 ? (unsigned)atoi(argv[1]) : 0;
    cfg.root_on_main = 1;
    fj_scheduler *s = fj_create(&cfg);
    if (!s) {
        fprintf(stderr, "fj_create: %s\n", fj_strerror(fj_last_error()));
        return 1;
    }
    main_thread = pthread_self();
    gl_context_current = 1;   /* as if the window and its context were made here */

    /* Part 1: the loop inside fj_main. */
    int presented_inside = 0;
    int rc = fj_main(s, game_loop, &presented_inside);

    /* Part 2: the host's own loop; the scheduler is driven once a frame.
     * While this thread is not in fj_run_pinned the other workers run the
     * animate jobs; with one worker nothing runs outside fj_run_pinned. It
     * returns once no pinned job is left, and the pinned upload waits for
     * the animate jobs, so the whole frame is done by then. (A frame with no
     * pinned job waiting for its work would need an fj_wait here, which does
     * not run jobs: with one worker it would wait for ever.) */
    int presented_outside = 0;
    for (int n = 0; n < FRAMES && rc == 0; n++) {
        frame f;
        queue_frame(s, &f);
        rc = fj_run_pinned(s);     /* returns once the upload has run here */
        fj_wait(&f.uploaded, 0);   /* already 0: no block */
        presented_outside += present(&f);
    }
    fj_destroy(s);

    printf("%d + %d of %d frames presented, main-thread work %s\n", presented_inside, presented_outside,
           2 * FRAMES, wrong_thread ? "ran on ANOTHER thread" : "stayed on the main thread");
    return rc == 0 && !wrong_thread && presented_inside + presented_outside == 2 * FRAMES ? 0 : 1;
}
