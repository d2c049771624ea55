/*
 * Misuse of fj_mutex: each bad call runs in a child process that must die
 * of SIGABRT with one line naming the call and the job.
 *  - unlocking a mutex that is not locked (in a job, and outside);
 *  - unlocking a mutex another job holds, and one a job holds from a thread
 *    outside the scheduler;
 *  - locking a mutex the job holds already (it would deadlock);
 *  - destroying a locked mutex; locking, unlocking or try-locking a
 *    destroyed one;
 *  - NULL mutexes;
 *  - a deadlock through a mutex: the holder waits on a counter nothing
 *    finishes, another job parks on the mutex; the report lists both.
 */
#include <pthread.h>

#include "test.h"

static unsigned nworkers;
static fj_mutex mu = FJ_MUTEX_INIT;

static void as_root(fj_job_fn fn)
{
    fj_config cfg = fj_config_default();
    cfg.workers = nworkers;
    fj_scheduler *s = fj_create(&cfg);
    CHECK(s);
    fj_main(s, fn, NULL);
    fj_destroy(s);
}

static void run_one(fj_job_fn fn, const char *name)
{
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs(&(fj_job){ .fn = fn, .name = name }, 1, &c);
    fj_wait(&c, 0);
}

static void unlock_free_job(void *a)
{
    (void)a;
    fj_mutex_unlock(&mu);
}
static void unlock_free_root(void *a) { (void)a; run_one(unlock_free_job, "unlocker"); }
static void unlock_free(void *a) { (void)a; as_root(unlock_free_root); }

static void unlock_free_outside(void *a)
{
    (void)a;
    fj_mutex_unlock(&mu);
}

static void lock_job(void *a)
{
    (void)a;
    fj_mutex_lock(&mu);
}

/* A job that locks mu and stays (waits on a counter nobody finishes: the
 * misuse under test stops the process first). The owner is a job's fiber, so
 * the holder must still be there for another job to be told apart from it
 * (see the README: a job that returns holding a mutex is not detected). */
static fj_counter gate, gate_jobs;
/* Set by the holder once fj_mutex_lock returned. A failed try-lock is not
 * enough: it also fails while the mutex is being handed to the holder (a
 * root that held it meanwhile unlocked it to the parked holder), and a
 * misuse in that window is reported as such, not as one against the
 * holder (seen under qemu). */
static int holder_has;
static void await_holder(void)
{
    while (!T_LOAD(&holder_has))
        fj_yield();
}
static void holder_job(void *a)
{
    (void)a;
    fj_mutex_lock(&mu);
    T_STORE(&holder_has, 1);
    fj_wait(&gate, 0);
}
static void start_holder(void)
{
    fj_counter_init(&gate, 1);
    fj_counter_init(&gate_jobs, 0);
    T_STORE(&holder_has, 0);
    fj_run_jobs(&(fj_job){ .fn = holder_job, .name = "holder" }, 1, &gate_jobs);
    await_holder();
}

static void unlock_other_root(void *a)
{
    (void)a;
    start_holder();
    run_one(unlock_free_job, "thief");
}
static void unlock_other(void *a) { (void)a; as_root(unlock_other_root); }

static void *outside_unlock(void *a)
{
    (void)a;
    fj_mutex_unlock(&mu);
    return NULL;
}
static void unlock_from_outside_root(void *a)
{
    (void)a;
    start_holder();
    pthread_t t;
    CHECK(pthread_create(&t, NULL, outside_unlock, NULL) == 0);
    pthread_join(t, NULL);
}
static void unlock_from_outside(void *a) { (void)a; as_root(unlock_from_outside_root); }

static void relock_job(void *a)
{
    (void)a;
    fj_mutex_lock(&mu);
    fj_mutex_lock(&mu);
}
static void relock_root(void *a) { (void)a; run_one(relock_job, "twice"); }
static void relock(void *a) { (void)a; as_root(relock_root); }

static void destroy_locked_root(void *a)
{
    (void)a;
    start_holder();
    fj_mutex_destroy(&mu);
}
static void destroy_locked(void *a) { (void)a; as_root(destroy_locked_root); }

static void lock_destroyed_root(void *a)
{
    (void)a;
    fj_mutex_destroy(&mu);
    fj_mutex_lock(&mu);
}
static void lock_destroyed(void *a) { (void)a; as_root(lock_destroyed_root); }

static void unlock_destroyed_root(void *a)
{
    (void)a;
    fj_mutex_destroy(&mu);
    fj_mutex_unlock(&mu);
}
static void unlock_destroyed(void *a) { (void)a; as_root(unlock_destroyed_root); }

static void try_destroyed(void *a)
{
    (void)a;
    fj_mutex_destroy(&mu);
    fj_mutex_try_lock(&mu);
}

static void lock_null(void *a) { (void)a; fj_mutex_lock(NULL); }
static void unlock_null(void *a) { (void)a; fj_mutex_unlock(NULL); }
static void init_null(void *a) { (void)a; fj_mutex_init(NULL); }

/* The holder waits on a counter nothing finishes while it holds mu. */
static fj_counter never;
static void holder_waits(void *a)
{
    (void)a;
    fj_mutex_lock(&mu);
    T_STORE(&holder_has, 1);
    fj_wait(&never, 0);
}
static void deadlock_root(void *a)
{
    (void)a;
    fj_counter_init(&never, 1);
    fj_counter c;
    fj_counter_init(&c, 0);
    T_STORE(&holder_has, 0);
    fj_run_jobs(&(fj_job){ .fn = holder_waits, .name = "holder" }, 1, &c);
    await_holder();
    fj_run_jobs(&(fj_job){ .fn = lock_job, .name = "blocked" }, 1, &c);
    fj_wait(&c, 0);
}
static void deadlock(void *a) { (void)a; as_root(deadlock_root); }

int main(int argc, char **argv)
{
    nworkers = test_workers(argc, argv);
    EXPECT_ABORT_MATCH(unlock_free, NULL, "fiberjob: fj_mutex_unlock: mutex ", " is not locked (in job 'unlocker' on worker ");
    EXPECT_ABORT_MATCH(unlock_free_outside, NULL, "fiberjob: fj_mutex_unlock: mutex ",
                       " is not locked (outside any job)");
    EXPECT_ABORT_MATCH(unlock_other, NULL, "fiberjob: fj_mutex_unlock: mutex ",
                       " is held by job 'holder', not by the caller (in job 'thief' on worker ");
    EXPECT_ABORT_MATCH(unlock_from_outside, NULL, "fiberjob: fj_mutex_unlock: mutex ",
                       " is held by job 'holder', not by the caller (outside any job)");
    EXPECT_ABORT_MATCH(relock, NULL, "fiberjob: fj_mutex_lock: mutex ",
                       " is held by this job already (locked twice, or this job runs nested on the stack of the "
                       "holder while it waits): it would never be unlocked (in job 'twice' on worker ");
    EXPECT_ABORT_MATCH(destroy_locked, NULL, "fiberjob: fj_mutex_destroy: mutex ",
                       " is locked, held by job 'holder' (in job 'fj_main root'");
    EXPECT_ABORT_MATCH(lock_destroyed, NULL, "fiberjob: fj_mutex_lock: mutex ",
                       " was destroyed (fj_mutex_destroy); fj_mutex_init it to use it again (in job 'fj_main root'");
    EXPECT_ABORT_MATCH(unlock_destroyed, NULL, "fiberjob: fj_mutex_unlock: mutex ", " was destroyed");
    EXPECT_ABORT_MATCH(try_destroyed, NULL, "fiberjob: fj_mutex_try_lock: mutex ",
                       " was destroyed (fj_mutex_destroy); fj_mutex_init it to use it again (outside any job)");
    EXPECT_ABORT_LINE(lock_null, NULL, "fiberjob: fj_mutex_lock: mutex is NULL (outside any job)");
    EXPECT_ABORT_LINE(unlock_null, NULL, "fiberjob: fj_mutex_unlock: mutex is NULL (outside any job)");
    EXPECT_ABORT_LINE(init_null, NULL, "fiberjob: fj_mutex_init: mutex is NULL (outside any job)");
    EXPECT_ABORT_MATCH(deadlock, NULL, "  job 'blocked' waits to lock mutex ", ", held by job 'holder'");
    EXPECT_ABORT_MATCH(deadlock, NULL, "  job 'holder' waits on counter ", "(value 1, target 0)");
    EXPECT_ABORT_MATCH(deadlock, NULL, "fiberjob: deadlock: ", "jobs wait on counters that no job can finish:");
    return test_finish();
}
