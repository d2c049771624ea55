/*
 * fj_mutex in use (misuse: tests/failure/test_mutex_misuse.c).
 *  - exclusion: many jobs add to a plain (non-atomic) total under one mutex,
 *    waiting (fj_wait on children of their own) or yielding inside the
 *    critical section, so they resume on other workers and unlock there; the
 *    total is exact and no two are ever inside at once;
 *  - FIFO handover: with one worker, jobs that park on a held mutex get it in
 *    the order they parked;
 *  - outside threads contend with jobs for one mutex (they block, jobs park);
 *  - a mutex an outside thread holds for 300 ms while jobs park on it and
 *    every worker idles is not reported as a deadlock;
 *  - try_lock: fails while held and while waiters are queued, works when free;
 *  - a job pinned to a worker that parks on the mutex resumes on that worker;
 *  - FJ_MUTEX_INIT and fj_mutex_init/fj_mutex_destroy round trips.
 */
#include <pthread.h>
#include <time.h>

#include "test.h"

static fj_mutex mu = FJ_MUTEX_INIT;
static long total;      /* plain: only touched under mu */
static int inside;      /* jobs inside the critical section (atomic) */
enum { JOBS = 64, ROUNDS = 30 };   /* fewer jobs than fibers: each parked one holds a fiber */

static void child(void *arg) { (void)arg; }

static void critical(int how)
{
    if (T_ADD(&inside, 1) != 0)
        FAIL_SOFT("two holders of the mutex at once");
    long v = total;
    if (how == 1) {
        fj_yield();
    } else if (how == 2) {
        /* Wait on children: the job parks (or calls them) and may resume
         * on another worker, still the owner. */
        fj_counter c;
        fj_counter_init(&c, 0);
        fj_job j[3] = { { .fn = child }, { .fn = child }, { .fn = child } };
        fj_run_jobs(j, 3, &c);
        fj_wait(&c, 0);
    }
    total = v + 1;
    T_ADD(&inside, -1);
}

static void adder(void *arg)
{
    int id = (int)(intptr_t)arg;
    for (int r = 0; r < ROUNDS; r++) {
        fj_mutex_lock(&mu);
        critical((id + r) % 3);
        fj_mutex_unlock(&mu);
    }
}

/* Outside threads run this while the jobs run. */
enum { THREADS = 2, THREAD_ROUNDS = 300 };
static int go;
static void *outside_adder(void *arg)
{
    (void)arg;
    while (!T_LOAD(&go))
        ;
    for (int r = 0; r < THREAD_ROUNDS; r++) {
        fj_mutex_lock(&mu);
        if (T_ADD(&inside, 1) != 0)
            FAIL_SOFT("two holders of the mutex at once (outside thread)");
        long v = total;
        if (r % 16 == 0)
            sched_yield();
        total = v + 1;
        T_ADD(&inside, -1);
        fj_mutex_unlock(&mu);
    }
    return NULL;
}

static void exclusion_root(void *arg)
{
    bool with_threads = arg != NULL;
    pthread_t th[THREADS];
    if (with_threads)
        for (int i = 0; i < THREADS; i++)
            CHECK(pthread_create(&th[i], NULL, outside_adder, NULL) == 0);
    static fj_job jobs[JOBS];
    for (int i = 0; i < JOBS; i++)
        jobs[i] = (fj_job){ .fn = adder, .arg = (void *)(intptr_t)i, .name = "adder" };
    fj_counter c;
    fj_counter_init(&c, 0);
    T_STORE(&go, 1);
    fj_run_jobs(jobs, JOBS, &c);
    fj_wait(&c, 0);
    if (with_threads)
        for (int i = 0; i < THREADS; i++)
            pthread_join(th[i], NULL);
}

static void run_exclusion(fj_config *cfg, bool with_threads)
{
    total = 0;
    go = 0;
    fj_scheduler *s = fj_create(cfg);
    CHECK(s);
    CHECK_EQ(fj_main(s, exclusion_root, with_threads ? (void *)1 : NULL), 0);
    fj_destroy(s);
    CHECK_EQ(total, (long)JOBS * ROUNDS + (with_threads ? THREADS * THREAD_ROUNDS : 0));
    CHECK_EQ(T_LOAD(&inside), 0);
}

/* ------------------------------------------------------------ held outside */

/* An outside thread holds mu for 300 ms while jobs park on it and every
 * worker idles: not a deadlock (the thread will let go), so no abort. */
static int held_now, held_got;
static void *outside_holder(void *arg)
{
    (void)arg;
    fj_mutex_lock(&mu);
    T_STORE(&held_now, 1);
    struct timespec ts = { 0, 300 * 1000 * 1000 };
    nanosleep(&ts, NULL);
    fj_mutex_unlock(&mu);
    return NULL;
}

static void held_locker(void *arg)
{
    (void)arg;
    fj_mutex_lock(&mu);
    held_got++;   /* under mu */
    fj_mutex_unlock(&mu);
}

static void held_root(void *arg)
{
    (void)arg;
    pthread_t th;
    CHECK(pthread_create(&th, NULL, outside_holder, NULL) == 0);
    while (!T_LOAD(&held_now))
        fj_yield();
    fj_job jobs[4];
    for (int i = 0; i < 4; i++)
        jobs[i] = (fj_job){ .fn = held_locker, .name = "held locker" };
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs(jobs, 4, &c);
    fj_wait(&c, 0);
    pthread_join(th, NULL);
}

static void run_held_outside(fj_config *cfg)
{
    held_now = held_got = 0;
    fj_scheduler *s = fj_create(cfg);
    CHECK(s);
    CHECK_EQ(fj_main(s, held_root, NULL), 0);
    fj_destroy(s);
    CHECK_EQ(held_got, 4);
}

/* ------------------------------------------------------------ FIFO handover */

enum { WAITERS = 6 };
static int arrived, arrival[WAITERS], got[WAITERS], ngot;

static void fifo_waiter(void *arg)
{
    int id = (int)(intptr_t)arg;
    arrival[T_ADD(&arrived, 1)] = id;
    fj_mutex_lock(&mu);
    got[ngot++] = id;   /* under mu */
    fj_mutex_unlock(&mu);
}

static void fifo_root(void *arg)
{
    (void)arg;
    fj_mutex_lock(&mu);
    fj_job jobs[WAITERS];
    for (int i = 0; i < WAITERS; i++)
        jobs[i] = (fj_job){ .fn = fifo_waiter, .arg = (void *)(intptr_t)i, .name = "fifo" };
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs(jobs, WAITERS, &c);
    /* Not fj_wait while holding mu: the jobs need it. Let them all park. */
    while (T_LOAD(&arrived) < WAITERS)
        fj_yield();
    /* One worker: each parked before the next one ran (it found mu held). */
    if (fj_mutex_try_lock(&mu))
        FAIL_SOFT("try_lock of a held mutex succeeded");
    fj_mutex_unlock(&mu);
    fj_wait(&c, 0);
}

static void run_fifo(void)
{
    arrived = ngot = 0;
    fj_config cfg = fj_config_default();
    cfg.workers = 1;
    fj_scheduler *s = fj_create(&cfg);
    CHECK(s);
    CHECK_EQ(fj_main(s, fifo_root, NULL), 0);
    fj_destroy(s);
    CHECK_EQ(ngot, WAITERS);
    for (int i = 0; i < WAITERS; i++)
        if (got[i] != arrival[i])
            FAIL_SOFT("turn %d went to waiter %d, but waiter %d parked at that turn (FIFO handover)", i, got[i],
                      arrival[i]);
}

/* ------------------------------------------------------------ try_lock, pinned */

static int try_results[3];
static int pin_ok, pin_arrived;
static unsigned nworkers;

static void try_job(void *arg)
{
    int *slot = arg;
    *slot = fj_mutex_try_lock(&mu);
    if (*slot)
        fj_mutex_unlock(&mu);
}

static void pinned_locker(void *arg)
{
    unsigned k = (unsigned)(uintptr_t)arg;
    CHECK_EQ(fj_worker_index(), (int)k);
    T_ADD(&pin_arrived, 1);
    fj_mutex_lock(&mu);   /* held by the root: parks */
    if (fj_worker_index() == (int)k)
        T_ADD(&pin_ok, 1);
    fj_mutex_unlock(&mu);
}

static void try_pin_root(void *arg)
{
    (void)arg;
    fj_counter c;
    fj_counter_init(&c, 0);
    /* Held: try_lock from another job fails. */
    fj_mutex_lock(&mu);
    fj_run_jobs(&(fj_job){ .fn = try_job, .arg = &try_results[0] }, 1, &c);
    /* Jobs pinned to the last worker park on mu while the root holds it. */
    unsigned k = nworkers - 1;
    fj_job pj[4];
    for (int i = 0; i < 4; i++)
        pj[i] = (fj_job){ .fn = pinned_locker, .arg = (void *)(uintptr_t)k, .flags = FJ_JOB_ON_WORKER(k),
                          .name = "pinned locker" };
    fj_counter pc;
    fj_counter_init(&pc, 0);
    fj_run_jobs(pj, 4, &pc);
    while (fj_counter_value(&c) > 0 || T_LOAD(&pin_arrived) < 4)
        fj_yield();
    fj_mutex_unlock(&mu);
    fj_wait(&pc, 0);
    fj_wait(&c, 0);
    /* Free: try_lock works (and unlocks). */
    fj_run_jobs(&(fj_job){ .fn = try_job, .arg = &try_results[1] }, 1, &c);
    fj_wait(&c, 0);
    /* From the root itself: works, and a second try fails while held. */
    try_results[2] = fj_mutex_try_lock(&mu);
    CHECK(!fj_mutex_try_lock(&mu));
    fj_mutex_unlock(&mu);
}

static void run_try_pin(fj_config *cfg)
{
    pin_ok = pin_arrived = 0;
    fj_scheduler *s = fj_create(cfg);
    CHECK(s);
    CHECK_EQ(fj_main(s, try_pin_root, NULL), 0);
    fj_destroy(s);
    CHECK_EQ(try_results[0], 0);
    CHECK_EQ(try_results[1], 1);
    CHECK_EQ(try_results[2], 1);
    CHECK_EQ(pin_ok, 4);
}

int main(int argc, char **argv)
{
    fj_config cfg = test_config(argc, argv);
    nworkers = cfg.workers;
    /* Initialise, destroy, initialise again: usable. */
    fj_mutex m2;
    fj_mutex_init(&m2);
    CHECK(fj_mutex_try_lock(&m2));
    fj_mutex_unlock(&m2);
    fj_mutex_destroy(&m2);
    fj_mutex_init(&m2);
    fj_mutex_lock(&m2);   /* outside any scheduler: uncontended works */
    fj_mutex_unlock(&m2);
    fj_mutex_destroy(&m2);

    for (int rep = 0; rep < 3; rep++)
        run_exclusion(&cfg, false);
    for (int rep = 0; rep < 3; rep++)
        run_exclusion(&cfg, true);
    for (int rep = 0; rep < 3; rep++)
        run_fifo();
    run_held_outside(&cfg);
    run_try_pin(&cfg);
    return test_finish();
}
