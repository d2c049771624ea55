/*
 * fiberjob-bench-frame-alloc: the frame workload of issue 5, item 5, in the
 * shape of an engine's frame (many small jobs, a few objects each). bench/run.sh
 * runs it with the alloc workload and keeps its table in frame_alloc.txt.
 *
 * What it adds to the alloc workload (fj_alloc.c: 64 jobs x 512 allocations,
 * one metric per run): the cost of the jobs themselves measured ("none") and
 * subtracted, CPU time beside wall time, and the cost per object of one job
 * allocating and freeing alone, without the scheduler.
 *
 * Every frame runs JOBS jobs; each allocates OBJS objects of 16..256 bytes
 * (sizes fixed per job and object, the same for every allocator), writes into
 * them, and keeps them until the end of the frame, when they all die:
 *   frame     fj_frame_alloc in the frame's tag; fj_frame_free_tag at the end.
 *   glibc     malloc in the jobs; at the end, free jobs free every object (on
 *             whichever worker runs them, so some frees cross threads, as in
 *             an engine).
 *   jemalloc, mimalloc: the same through their malloc/free, loaded with dlopen
 *             (RTLD_LOCAL) so that they do not replace glibc's malloc for the
 *             rest of the process. Debian's jemalloc needs static TLS that
 *             dlopen cannot give without GLIBC_TUNABLES: the program re-executes
 *             itself with glibc.rtld.optional_static_tls set when it must.
 *   none      the same jobs writing into a static array: the cost of the jobs
 *             themselves, subtracted to get what the allocation costs.
 *
 * The variants run alternately (A/B/C/...), REPS times, each time a block of
 * FRAMES frames after a warm-up; a block's result is its median frame time, and
 * the program prints the median over blocks. "alloc cost" is frame time minus
 * the "none" frame time: what allocating and freeing the objects costs. A
 * second, single-job loop (no scheduler in the measurement) gives the cost per
 * object of allocating and freeing alone.
 *
 * Usage: fiberjob-bench-frame-alloc [--workers N] [--jobs N] [--objs N] [--reps N]
 *                          [--frames N] [--only NAME]
 */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fiberjob.h"

enum { V_NONE, V_FRAME, V_GLIBC, V_JEMALLOC, V_MIMALLOC, NVARIANTS };
static const char *const k_names[NVARIANTS] = { "none", "frame", "glibc", "jemalloc", "mimalloc" };

typedef struct variant {
    void *(*alloc)(size_t);
    void (*free)(void *);
    int available;
} variant;

static variant g_var[NVARIANTS];

static unsigned g_jobs = 10000, g_objs = 4, g_reps = 7, g_frames = 40, g_workers;
static int g_only = -1;

static fj_frame_heap *g_heap;
static uint64_t g_tag;
static int g_cur;                /* variant of the frame being run */
static void **g_ptrs;            /* g_jobs * g_objs objects of the frame */
static uint16_t *g_sizes;        /* their sizes */
/* "none": where the jobs write instead, per worker and small enough to stay in
 * the cache, so that "none" costs the jobs and the writes but no memory traffic
 * (the locality of what an allocator hands out is part of its cost). */
static unsigned char g_scratch[64][8][256];

static uint64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t now_ns(void) { return clock_ns(CLOCK_MONOTONIC); }

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ------------------------------------------------------------ allocators */

/* dlsym returns an object pointer; copying it is the POSIX way to get the function. */
static void bind_peer(variant *v, void *lib, const char *alloc_name, const char *free_name)
{
    void *a = dlsym(lib, alloc_name), *f = dlsym(lib, free_name);
    if (!a || !f)
        return;
    memcpy(&v->alloc, &a, sizeof a);
    memcpy(&v->free, &f, sizeof f);
    v->available = 1;
}

static void load_peers(char **argv)
{
    g_var[V_NONE].available = 1;
    g_var[V_FRAME].available = 1;
    g_var[V_GLIBC] = (variant){ malloc, free, 1 };
    void *je = dlopen("libjemalloc.so.2", RTLD_NOW | RTLD_LOCAL);
    if (!je && strstr(dlerror(), "static TLS") && !getenv("FJ_BENCH_REEXEC")) {
        /* Ask the dynamic loader for room for jemalloc's initial-exec TLS. */
        setenv("GLIBC_TUNABLES", "glibc.rtld.optional_static_tls=65536", 1);
        setenv("FJ_BENCH_REEXEC", "1", 1);
        execv("/proc/self/exe", argv);
    }
    if (je)
        bind_peer(&g_var[V_JEMALLOC], je, "malloc", "free");
    void *mi = dlopen("libmimalloc.so.2", RTLD_NOW | RTLD_LOCAL);
    if (!mi)
        mi = dlopen("libmimalloc.so", RTLD_NOW | RTLD_LOCAL);
    if (mi)
        bind_peer(&g_var[V_MIMALLOC], mi, "mi_malloc", "mi_free");
    for (int v = V_JEMALLOC; v <= V_MIMALLOC; v++)
        if (!g_var[v].available)
            fprintf(stderr, "fiberjob-bench-frame-alloc: %s not found; skipped\n", k_names[v]);
}

/* ------------------------------------------------------------ the frame */

static inline void use_object(unsigned char *p, size_t size, unsigned seed)
{
    /* Touch the object as a user would: a header word and its last byte. */
    uint64_t h = seed;
    memcpy(p, &h, sizeof h);
    p[size - 1] = (unsigned char)seed;
}

static void alloc_job(void *arg)
{
    size_t j = (size_t)(uintptr_t)arg;
    int v = g_cur;
    for (unsigned k = 0; k < g_objs; k++) {
        size_t i = j * g_objs + k;
        size_t size = g_sizes[i];
        unsigned char *p;
        if (v == V_FRAME)
            p = fj_frame_alloc(g_heap, g_tag, size, 16);
        else if (v == V_NONE)
            p = g_scratch[fj_worker_index() & 63][k & 7];
        else
            p = g_var[v].alloc(size);
        if (!p) {
            fprintf(stderr, "fiberjob-bench-frame-alloc: %s: allocation failed\n", k_names[v]);
            exit(1);
        }
        use_object(p, size, (unsigned)i);
        g_ptrs[i] = p;
    }
}

#define FREE_GRAIN 64   /* jobs' objects freed by one free job */

static void free_job(void *arg)
{
    size_t first = (size_t)(uintptr_t)arg * FREE_GRAIN;
    size_t end = first + FREE_GRAIN < g_jobs ? first + FREE_GRAIN : g_jobs;
    void (*fr)(void *) = g_var[g_cur].free;
    for (size_t i = first * g_objs; i < end * g_objs; i++)
        fr(g_ptrs[i]);
}

static fj_job *g_alloc_jobs, *g_free_jobs;

/* Wall time of one frame; *cpu gets the CPU time all threads used meanwhile
 * (less sensitive to other processes taking the CPUs). */
static double run_frame(int v, double *cpu)
{
    g_cur = v;
    g_tag++;
    uint64_t c0 = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
    uint64_t t0 = now_ns();
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs(g_alloc_jobs, g_jobs, &c);
    fj_wait(&c, 0);
    if (v == V_FRAME) {
        fj_frame_free_tag(g_heap, g_tag);
    } else if (v != V_NONE) {
        size_t nfree = (g_jobs + FREE_GRAIN - 1) / FREE_GRAIN;
        fj_run_jobs(g_free_jobs, nfree, &c);
        fj_wait(&c, 0);
    }
    uint64_t t1 = now_ns();
    *cpu = (double)(clock_ns(CLOCK_PROCESS_CPUTIME_ID) - c0);
    return (double)(t1 - t0);
}

/* ------------------------------------------------------------ single-job loop */

/* Allocate and free one frame's objects in one job: thread CPU ns per object
 * (the job does not wait, so it stays on one thread). */
static double loop_per_object(int v)
{
    size_t n = (size_t)g_jobs * g_objs;
    uint64_t t0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    g_tag++;
    for (size_t i = 0; i < n; i++) {
        unsigned char *p = v == V_FRAME ? fj_frame_alloc(g_heap, g_tag, g_sizes[i], 16)
                         : v == V_NONE  ? g_scratch[0][i & 7]
                                        : g_var[v].alloc(g_sizes[i]);
        use_object(p, g_sizes[i], (unsigned)i);
        g_ptrs[i] = p;
    }
    if (v == V_FRAME)
        fj_frame_free_tag(g_heap, g_tag);
    else if (v != V_NONE)
        for (size_t i = 0; i < n; i++)
            g_var[v].free(g_ptrs[i]);
    return (double)(clock_ns(CLOCK_THREAD_CPUTIME_ID) - t0) / (double)n;
}

/* ------------------------------------------------------------ driver */

static double g_frame_ns[NVARIANTS][64];   /* per block: median frame time */
static double g_cpu_ns[NVARIANTS][64];     /* per block: median CPU time per frame */
static double g_loop_ns[NVARIANTS][64];    /* per block: median ns per object */

static void root(void *arg)
{
    (void)arg;
    double *tmp = malloc(sizeof(double) * g_frames), *tmp_cpu = malloc(sizeof(double) * g_frames), cpu;
    int order[NVARIANTS], n = 0;
    for (int v = 0; v < NVARIANTS; v++)
        if (g_var[v].available && (g_only < 0 || v == g_only || v == V_NONE))
            order[n++] = v;
    for (unsigned rep = 0; rep < g_reps; rep++) {
        /* Rotate the order so no variant always runs right after another. */
        for (int k = 0; k < n; k++) {
            int v = order[(k + (int)rep) % n];
            for (int w = 0; w < 5; w++)
                run_frame(v, &cpu);
            for (unsigned f = 0; f < g_frames; f++)
                tmp[f] = run_frame(v, &tmp_cpu[f]);
            g_frame_ns[v][rep] = median(tmp, g_frames);
            g_cpu_ns[v][rep] = median(tmp_cpu, g_frames);
            loop_per_object(v);
            for (unsigned f = 0; f < g_frames; f++)
                tmp[f] = loop_per_object(v);
            g_loop_ns[v][rep] = median(tmp, g_frames);
        }
    }
    free(tmp);
    free(tmp_cpu);
}

static unsigned arg_uint(const char *s, const char *name)
{
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    if (*end || v == 0 || v > 10000000) {
        fprintf(stderr, "fiberjob-bench-frame-alloc: bad %s '%s'\n", name, s);
        exit(2);
    }
    return (unsigned)v;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!val) {
            fprintf(stderr, "usage: fiberjob-bench-frame-alloc [--workers N] [--jobs N] [--objs N] [--reps N] "
                            "[--frames N] [--only frame|glibc|jemalloc|mimalloc]\n");
            return 2;
        }
        i++;
        if (!strcmp(a, "--workers"))
            g_workers = arg_uint(val, a);
        else if (!strcmp(a, "--jobs"))
            g_jobs = arg_uint(val, a);
        else if (!strcmp(a, "--objs"))
            g_objs = arg_uint(val, a);
        else if (!strcmp(a, "--reps"))
            g_reps = arg_uint(val, a) > 64 ? 64 : arg_uint(val, a);
        else if (!strcmp(a, "--frames"))
            g_frames = arg_uint(val, a);
        else if (!strcmp(a, "--only")) {
            for (int v = 0; v < NVARIANTS; v++)
                if (!strcmp(val, k_names[v]))
                    g_only = v;
            if (g_only < 0) {
                fprintf(stderr, "fiberjob-bench-frame-alloc: unknown variant '%s'\n", val);
                return 2;
            }
        } else {
            fprintf(stderr, "fiberjob-bench-frame-alloc: unknown option '%s'\n", a);
            return 2;
        }
    }
    load_peers(argv);

    size_t n = (size_t)g_jobs * g_objs;
    g_ptrs = calloc(n, sizeof *g_ptrs);
    g_sizes = calloc(n, sizeof *g_sizes);
    g_alloc_jobs = calloc(g_jobs, sizeof *g_alloc_jobs);
    g_free_jobs = calloc(g_jobs / FREE_GRAIN + 1, sizeof *g_free_jobs);
    if (!g_ptrs || !g_sizes || !g_alloc_jobs || !g_free_jobs)
        return 1;
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        g_sizes[i] = (uint16_t)(16 + x % 241);   /* 16..256 bytes */
    }
    for (unsigned j = 0; j < g_jobs; j++)
        g_alloc_jobs[j] = (fj_job){ .fn = alloc_job, .arg = (void *)(uintptr_t)j, .name = "alloc" };
    for (unsigned j = 0; j <= g_jobs / FREE_GRAIN; j++)
        g_free_jobs[j] = (fj_job){ .fn = free_job, .arg = (void *)(uintptr_t)j, .name = "free" };

    fj_config cfg = fj_config_default();
    cfg.workers = g_workers;
    fj_scheduler *s = fj_create(&cfg);
    if (!s) {
        fprintf(stderr, "fj_create: %s\n", fj_strerror(fj_last_error()));
        return 1;
    }
    g_heap = fj_frame_heap_create(s, NULL);
    if (!g_heap) {
        fprintf(stderr, "fj_frame_heap_create: %s\n", fj_strerror(fj_frame_last_error()));
        return 1;
    }
    if (fj_main(s, root, NULL) != 0)
        return 1;

    printf("frame workload: %u jobs x %u objects of 16-256 B per frame, workers: %u; %u alternating blocks of "
           "%u frames; medians\n",
           g_jobs, g_objs, fj_worker_count(s), g_reps, g_frames);
    double med[3][NVARIANTS];   /* wall per frame, CPU per frame, 1-job ns per object */
    for (int v = 0; v < NVARIANTS; v++) {
        if (!g_var[v].available || (g_only >= 0 && v != g_only && v != V_NONE))
            continue;
        med[0][v] = median(g_frame_ns[v], g_reps);
        med[1][v] = median(g_cpu_ns[v], g_reps);
        med[2][v] = median(g_loop_ns[v], g_reps);
    }
    int have_frame = g_only < 0 || g_only == V_FRAME;
    printf("%-9s | %10s %10s %9s %8s | %10s %10s %8s | %9s %8s\n", "", "wall/frame", "alloc cost", "ns/object",
           "vs frame", "CPU/frame", "alloc cost", "vs frame", "1 job", "vs frame");
    printf("%-9s | %10s %10s %9s %8s | %10s %10s %8s | %9s %8s\n", "variant", "(us)", "(us)", "", "", "(us)",
           "(us)", "", "ns/object", "");
    for (int v = 0; v < NVARIANTS; v++) {
        if (!g_var[v].available || (g_only >= 0 && v != g_only && v != V_NONE))
            continue;
        double wall = med[0][v] - med[0][V_NONE], cpu = med[1][v] - med[1][V_NONE];
        double loop = med[2][v] - (v == V_NONE ? 0 : med[2][V_NONE]);
        printf("%-9s | %10.1f %10.1f %9.2f", k_names[v], med[0][v] / 1e3, wall / 1e3, wall / (double)n);
        if (v == V_NONE) {
            printf(" %8s | %10.1f %10s %8s | %9.2f %8s\n", "", med[1][v] / 1e3, "", "", loop, "(touch)");
            continue;
        }
        if (!have_frame) {
            printf(" %8s | %10.1f %10.1f %8s | %9.2f %8s\n", "", med[1][v] / 1e3, cpu / 1e3, "", loop, "");
            continue;
        }
        double fw = med[0][V_FRAME] - med[0][V_NONE], fc = med[1][V_FRAME] - med[1][V_NONE];
        double fl = med[2][V_FRAME] - med[2][V_NONE];
        printf(" %7.1fx | %10.1f %10.1f %7.1fx | %9.2f %7.1fx\n", wall / fw, med[1][v] / 1e3, cpu / 1e3, cpu / fc,
               loop, loop / fl);
    }
    printf("alloc cost: time per frame minus that of 'none' (the same jobs writing to a small buffer).\n"
           "CPU/frame: CPU time of all threads per frame. 1 job: one job allocating a frame's objects and\n"
           "freeing them (fj_frame_free_tag, or free of each), thread CPU time, minus the writes.\n");
    fj_frame_heap_destroy(g_heap);
    fj_destroy(s);
    return 0;
}
