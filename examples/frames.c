/*
 * frames: per-frame memory with the frame allocator, two frames in flight.
 *
 * A game-style loop: each frame is simulated by SLICES jobs, then rendered by
 * one job. The render of frame n runs while frame n+1 is simulated, so two
 * frames' data are alive at once. All of a frame's memory is allocated with
 * fj_frame_alloc under one tag, the frame number, and handed back at once with
 * fj_frame_free_tag when the frame's render is done: no per-allocation free,
 * and no malloc or system call once the heap has grown to what a frame needs.
 *
 * The rule that makes this safe: a tag is freed only after every job that
 * allocated in it or reads its memory has finished. Here that is "after
 * waiting on the frame's render counter" (the render job started after the
 * simulation jobs were waited for).
 *
 *   ./example_frames [workers]
 */
#include <fiberjob.h>
#include <fiberjob_frame.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define FRAMES 10
#define SLICES 16
#define PER_SLICE 4096

typedef struct particle {
    float x, y, vx, vy;
} particle;

typedef struct frame {
    uint64_t number;                  /* also the allocation tag */
    fj_frame_heap *heap;
    particle *slices[SLICES];         /* frame memory, filled by the simulation */
    double checksum;                  /* written by the render job */
    fj_counter rendered;              /* 1 while the render job is queued or runs */
} frame;

typedef struct slice_job {
    frame *f;
    int slice;
} slice_job;

static void simulate_slice(void *arg)
{
    slice_job *j = arg;
    frame *f = j->f;
    /* Memory for this frame only: valid until fj_frame_free_tag(heap, number). */
    particle *p = fj_frame_alloc(f->heap, f->number, PER_SLICE * sizeof *p, _Alignof(particle));
    if (!p)
        fj_panic("frame heap exhausted: %s", fj_strerror(fj_frame_last_error()));
    for (int i = 0; i < PER_SLICE; i++) {
        p[i] = (particle){ .x = (float)(f->number % 10), .y = (float)j->slice, .vx = 1.0f, .vy = 0.5f };
        p[i].x += p[i].vx;            /* one step of "physics" */
        p[i].y += p[i].vy;
    }
    f->slices[j->slice] = p;
}

static void render(void *arg)
{
    frame *f = arg;
    /* Scratch memory for the render, from the same frame: freed with it. */
    double *partial = fj_frame_alloc(f->heap, f->number, SLICES * sizeof *partial, 0);
    if (!partial)
        fj_panic("frame heap exhausted: %s", fj_strerror(fj_frame_last_error()));
    for (int k = 0; k < SLICES; k++) {
        partial[k] = 0;
        for (int i = 0; i < PER_SLICE; i++)
            partial[k] += f->slices[k][i].x + f->slices[k][i].y;
    }
    double sum = 0;
    for (int k = 0; k < SLICES; k++)
        sum += partial[k];
    f->checksum = sum;
}

static void simulate(frame *f)
{
    slice_job args[SLICES];
    fj_job jobs[SLICES];
    for (int k = 0; k < SLICES; k++) {
        args[k] = (slice_job){ .f = f, .slice = k };
        jobs[k] = (fj_job){ .fn = simulate_slice, .arg = &args[k], .name = "simulate_slice" };
    }
    fj_counter done;
    fj_counter_init(&done, 0);
    fj_run_jobs(jobs, SLICES, &done);
    fj_wait(&done, 0);
}

static double expected_checksum(uint64_t n)
{
    /* x = n % 10 + 1 and y = slice + 0.5 for every particle */
    double sum = 0;
    for (int k = 0; k < SLICES; k++)
        sum += PER_SLICE * ((double)(n % 10) + 1.0 + k + 0.5);
    return sum;
}

/* Wait for the frame's render, check it, and free all of its memory. */
static int finish(frame *f)
{
    fj_wait(&f->rendered, 0);
    int ok = f->checksum == expected_checksum(f->number);
    int blocks = fj_frame_free_tag(f->heap, f->number);
    printf("  frame %2llu: checksum %.1f %s, %d block(s) freed\n", (unsigned long long)f->number,
           f->checksum, ok ? "ok" : "WRONG", blocks);
    return ok;
}

typedef struct run {
    fj_frame_heap *heap;
    int ok;
} run;

static void root(void *arg)
{
    run *r = arg;
    fj_frame_heap *heap = r->heap;
    frame frames[2];                  /* frame n uses frames[n % 2] */
    int ok = 1;
    for (uint64_t n = 0; n < FRAMES; n++) {
        frame *f = &frames[n % 2];    /* its previous user, frame n - 2, is finished */
        f->number = n;
        f->heap = heap;
        fj_counter_init(&f->rendered, 0);
        simulate(f);                  /* meanwhile, frame n - 1 renders */
        if (n > 0)
            ok &= finish(&frames[(n - 1) % 2]);
        fj_job job = { .fn = render, .arg = f, .name = "render" };
        fj_run_jobs(&job, 1, &f->rendered);
    }
    ok &= finish(&frames[(FRAMES - 1) % 2]);
    r->ok = ok;
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
    fj_frame_heap *heap = fj_frame_heap_create(s, NULL);   /* default: 2 MiB blocks */
    if (!heap) {
        fprintf(stderr, "fj_frame_heap_create: %s\n", fj_strerror(fj_frame_last_error()));
        return 1;
    }
    run r = { .heap = heap, .ok = 0 };
    fj_main(s, root, &r);
    fj_frame_stats st;
    fj_frame_heap_stats(heap, &st);
    printf("heap: %zu blocks of %zu KiB made, %zu in use\n", st.blocks_reserved, st.block_size / 1024,
           st.blocks_in_use);
    fj_frame_heap_destroy(heap);      /* before the scheduler */
    fj_destroy(s);
    r.ok &= st.blocks_in_use == 0;
    printf("%s\n", r.ok ? "ok" : "FAILED");
    return r.ok ? 0 : 1;
}
