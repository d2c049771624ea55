/*
 * fj_cond in use (misuse: tests/failure/test_cond_misuse.c).
 *  - producer/consumer on a bounded queue (capacity 3) under one mutex with
 *    two condition variables, producers and consumers both jobs and threads
 *    outside the scheduler; some signals are sent holding the mutex, some
 *    after unlocking it. Every item is taken exactly once, the queue never
 *    over- or underflows, and a woken waiter always holds the mutex alone;
 *  - broadcast wakes every waiter (jobs and an outside thread), and the
 *    waiting jobs get the mutex in the order they waited;
 *  - ping-pong between a job and an outside thread, each signalling only
 *    after unlocking (the signal that takes the mutex itself);
 *  - FJ_COND_INIT and fj_cond_init/fj_cond_destroy round trips; signal and
 *    broadcast with nobody waiting.
 */
#include <pthread.h>

#include "test.h"

static fj_mutex mu = FJ_MUTEX_INIT;
static fj_cond not_full = FJ_COND_INIT, not_empty = FJ_COND_INIT;
static int inside;      /* holders of mu (atomic): must be 0 or 1 */

enum { CAP = 3, PROD_JOBS = 6, CONS_JOBS = 6, PROD_THREADS = 2, CONS_THREADS = 1, PER_PRODUCER = 150 };
enum { TOTAL = (PROD_JOBS + PROD_THREADS) * PER_PRODUCER };
static int queue[CAP], qhead, qlen;   /* under mu */
static int taken_total;               /* under mu */
static unsigned char seen[TOTAL];     /* under mu */

static void enter(void)
{
    if (T_ADD(&inside, 1) != 0)
        FAIL_SOFT("two holders of the mutex at once");
}
static void leave(void) { T_ADD(&inside, -1); }

static void produce(int id)
{
    for (int k = 0; k < PER_PRODUCER; k++) {
        fj_mutex_lock(&mu);
        enter();
        while (qlen == CAP) {
            leave();
            fj_cond_wait(&not_full, &mu);
            enter();
        }
        queue[(qhead + qlen) % CAP] = id * PER_PRODUCER + k;
        qlen++;
        leave();
        if (k % 2) {
            fj_cond_signal(&not_empty);   /* holding the mutex */
            fj_mutex_unlock(&mu);
        } else {
            fj_mutex_unlock(&mu);
            fj_cond_signal(&not_empty);   /* after unlocking */
        }
    }
}

/* Returns when every item has been taken. */
static void consume(void)
{
    for (int k = 0;; k++) {
        fj_mutex_lock(&mu);
        enter();
        while (qlen == 0 && taken_total < TOTAL) {
            leave();
            fj_cond_wait(&not_empty, &mu);
            enter();
        }
        if (taken_total == TOTAL) {
            leave();
            fj_cond_broadcast(&not_empty);   /* the other consumers: done */
            fj_mutex_unlock(&mu);
            return;
        }
        if (qlen < 1 || qlen > CAP)
            FAIL_SOFT("queue length %d out of range", qlen);
        int item = queue[qhead];
        qhead = (qhead + 1) % CAP;
        qlen--;
        if (item < 0 || item >= TOTAL || seen[item])
            FAIL_SOFT("item %d taken twice or invalid", item);
        else
            seen[item] = 1;
        taken_total++;
        bool last = taken_total == TOTAL;
        leave();
        if (k % 2) {
            fj_mutex_unlock(&mu);
            fj_cond_signal(&not_full);
        } else {
            fj_cond_signal(&not_full);
            fj_mutex_unlock(&mu);
        }
        if (last)
            fj_cond_broadcast(&not_empty);
    }
}

static void producer_job(void *arg) { produce((int)(intptr_t)arg); }
static void consumer_job(void *arg) { (void)arg; consume(); }
static void *producer_thread(void *arg) { produce((int)(intptr_t)arg); return NULL; }
static void *consumer_thread(void *arg) { (void)arg; consume(); return NULL; }

static void pc_root(void *arg)
{
    (void)arg;
    pthread_t pt[PROD_THREADS], ct[CONS_THREADS];
    for (int i = 0; i < PROD_THREADS; i++)
        CHECK(pthread_create(&pt[i], NULL, producer_thread, (void *)(intptr_t)(PROD_JOBS + i)) == 0);
    for (int i = 0; i < CONS_THREADS; i++)
        CHECK(pthread_create(&ct[i], NULL, consumer_thread, NULL) == 0);
    static fj_job jobs[PROD_JOBS + CONS_JOBS];
    for (int i = 0; i < PROD_JOBS; i++)
        jobs[i] = (fj_job){ .fn = producer_job, .arg = (void *)(intptr_t)i, .name = "producer" };
    for (int i = 0; i < CONS_JOBS; i++)
        jobs[PROD_JOBS + i] = (fj_job){ .fn = consumer_job, .name = "consumer" };
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs(jobs, PROD_JOBS + CONS_JOBS, &c);
    fj_wait(&c, 0);
    for (int i = 0; i < PROD_THREADS; i++)
        pthread_join(pt[i], NULL);
    for (int i = 0; i < CONS_THREADS; i++)
        pthread_join(ct[i], NULL);
}

static void run_producer_consumer(fj_config *cfg)
{
    qhead = qlen = taken_total = 0;
    memset(seen, 0, sizeof seen);
    fj_cond_init(&not_full);
    fj_cond_init(&not_empty);
    fj_scheduler *s = fj_create(cfg);
    CHECK(s);
    CHECK_EQ(fj_main(s, pc_root, NULL), 0);
    fj_destroy(s);
    CHECK_EQ(taken_total, TOTAL);
    CHECK_EQ(qlen, 0);
    for (int i = 0; i < TOTAL; i++)
        if (!seen[i])
            FAIL_SOFT("item %d never taken", i);
    fj_cond_destroy(&not_full);
    fj_cond_destroy(&not_empty);
}

/* --------------------------------------------------------------- broadcast */

enum { WAITERS = 12 };
static fj_cond gate_cv = FJ_COND_INIT;
static bool gate_open;                           /* under mu */
static int nwaiting, wait_order[WAITERS + 1], nwoken, wake_order[WAITERS + 1];   /* under mu */

static void gate_wait(int id)
{
    fj_mutex_lock(&mu);
    while (!gate_open) {
        wait_order[nwaiting++] = id;
        fj_cond_wait(&gate_cv, &mu);
    }
    enter();
    wake_order[nwoken++] = id;
    leave();
    fj_mutex_unlock(&mu);
}
static void gate_job(void *arg) { gate_wait((int)(intptr_t)arg); }
static void *gate_thread(void *arg) { gate_wait((int)(intptr_t)arg); return NULL; }

static void broadcast_root(void *arg)
{
    bool with_thread = arg != NULL;
    pthread_t t;
    if (with_thread)
        CHECK(pthread_create(&t, NULL, gate_thread, (void *)(intptr_t)WAITERS) == 0);
    static fj_job jobs[WAITERS];
    for (int i = 0; i < WAITERS; i++)
        jobs[i] = (fj_job){ .fn = gate_job, .arg = (void *)(intptr_t)i, .name = "gate" };
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs(jobs, WAITERS, &c);
    int want = WAITERS + (with_thread ? 1 : 0);
    for (;;) {
        fj_mutex_lock(&mu);
        if (nwaiting == want)
            break;   /* every one is on the list: it appended before unlocking */
        fj_mutex_unlock(&mu);
        fj_yield();
    }
    gate_open = true;
    fj_cond_broadcast(&gate_cv);
    fj_mutex_unlock(&mu);
    fj_wait(&c, 0);
    if (with_thread)
        pthread_join(t, NULL);
    CHECK_EQ(nwoken, want);
    /* Every waiter waited once, and they got the mutex in that order. */
    CHECK_EQ(nwaiting, want);
    for (int i = 0; i < want; i++)
        CHECK_EQ(wake_order[i], wait_order[i]);
}

static void run_broadcast(fj_config *cfg, bool with_thread)
{
    gate_open = false;
    nwaiting = nwoken = 0;
    fj_cond_init(&gate_cv);
    fj_scheduler *s = fj_create(cfg);
    CHECK(s);
    CHECK_EQ(fj_main(s, broadcast_root, with_thread ? (void *)1 : NULL), 0);
    fj_destroy(s);
    fj_cond_destroy(&gate_cv);
}

/* --------------------------------------------------------------- ping-pong */

enum { PINGS = 200 };
static fj_cond ping_cv = FJ_COND_INIT, pong_cv = FJ_COND_INIT;
static int ball;   /* under mu: odd when the job is to move, even for the thread */

static void pong(int parity, fj_cond *mine, fj_cond *theirs)
{
    for (int i = 0; i < PINGS; i++) {
        fj_mutex_lock(&mu);
        while (ball % 2 != parity)
            fj_cond_wait(mine, &mu);
        ball++;
        fj_mutex_unlock(&mu);
        fj_cond_signal(theirs);   /* never while holding the mutex */
    }
}
static void pong_job(void *arg) { (void)arg; pong(1, &ping_cv, &pong_cv); }
static void *pong_thread(void *arg) { (void)arg; pong(0, &pong_cv, &ping_cv); return NULL; }

static void pingpong_root(void *arg)
{
    (void)arg;
    pthread_t t;
    CHECK(pthread_create(&t, NULL, pong_thread, NULL) == 0);
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs(&(fj_job){ .fn = pong_job, .name = "pong" }, 1, &c);
    fj_wait(&c, 0);
    pthread_join(t, NULL);
    CHECK_EQ(ball, 2 * PINGS);
}

static void run_pingpong(fj_config *cfg)
{
    ball = 0;
    fj_scheduler *s = fj_create(cfg);
    CHECK(s);
    CHECK_EQ(fj_main(s, pingpong_root, NULL), 0);
    fj_destroy(s);
}

int main(int argc, char **argv)
{
    fj_config cfg = test_config(argc, argv);
    /* With nobody waiting, outside any scheduler: no effect. */
    fj_cond c2 = FJ_COND_INIT;
    fj_cond_signal(&c2);
    fj_cond_broadcast(&c2);
    fj_cond_destroy(&c2);
    fj_cond_init(&c2);
    fj_cond_signal(&c2);
    fj_cond_destroy(&c2);

    for (int rep = 0; rep < 3; rep++)
        run_producer_consumer(&cfg);
    run_pingpong(&cfg);
    for (int rep = 0; rep < 3; rep++) {
        run_broadcast(&cfg, false);
        run_broadcast(&cfg, true);
    }
    return test_finish();
}
