/*
 * Launch-when-done records: the storage of fj_run_jobs_after.
 *
 * A record holds jobs that start once a list of prerequisites (counter,
 * target) has been reached. It waits on one prerequisite's wait list at a
 * time, exactly as a waiting fiber does (counter.c): the finisher that takes
 * it off a list, with the counter behind it, moves it on to the next
 * prerequisite not yet reached, and after the last one launches its jobs
 * (fj__record_launch). No fiber and no stack is held meanwhile.
 *
 * Storage. Records are made in groups (a page mapping each, as the outside
 * records of fiber.c: they belong to no scheduler and are never unmapped, so
 * a finisher walking a wait list never reaches freed memory), each with a
 * waiter id from the process-wide space shared with fibers. Free records sit
 * on a shared list under a mutex, and each worker keeps up to REC_CACHE of
 * them off it (owner only), taking and giving back REC_MOVE at a time: a
 * graph of one-job nodes registers and launches without a lock or an
 * allocation in steady state. Only a record's arrays for more than one job
 * or more than FJ__AFTER_INLINE prerequisites come from its scheduler's
 * allocator, for the time it is pending.
 *
 * Lifetime of the scheduler. fj__records_pending counts s's records between
 * registration and launch ("Pending" below); fj_destroy's drain waits for it
 * (deadlock.c, fj__drain_done), and the deadlock judge lists pending records
 * as waiters.
 * A launch from a thread that is not one of s's workers holds an inflight
 * reference on s (wake.c) from before its push to after the decrement.
 */
#include <string.h>

#include "internal.h"
#include "os.h"

#define REC_GROUP 64
#define REC_CACHE 64
#define REC_MOVE 32

typedef struct rec_group {
    struct rec_group *next;
    fj__record recs[REC_GROUP];
} rec_group;

static rec_group *rec_groups;
static fj__record *rec_free;
static fj__os_mutex rec_lock = FJ__OS_MUTEX_INIT;

/* With rec_lock held: a new group onto the free list. */
static int group_add(void)
{
    size_t page = fj__os_page_size(), bytes = (sizeof(rec_group) + page - 1) & ~(page - 1);
    rec_group *g = fj__os_map(bytes);   /* zeroed */
    if (!g)
        return FJ_ENOMEM;
    if (!fj__ids_take_records(g->recs, REC_GROUP)) {
        fj__os_release(g, bytes);
        return FJ_ELIMIT;
    }
    g->next = rec_groups;
    rec_groups = g;
    for (uint32_t i = REC_GROUP; i-- > 0;) {
        g->recs[i].free_next = rec_free;
        rec_free = &g->recs[i];
    }
    return 0;
}

fj__record *fj__record_take(fj__worker *w, int *err)
{
    if (w && w->rec_cache) {
        fj__record *r = w->rec_cache;
        w->rec_cache = r->free_next;
        w->nrec_cache--;
        return r;
    }
    fj__os_mutex_lock(&rec_lock);
    int e = rec_free ? 0 : group_add();
    fj__record *r = rec_free;
    if (r) {
        rec_free = r->free_next;
        /* A worker takes a handful more for its cache while it holds the lock. */
        for (unsigned i = 1; w && i < REC_MOVE && rec_free; i++) {
            fj__record *x = rec_free;
            rec_free = x->free_next;
            x->free_next = w->rec_cache;
            w->rec_cache = x;
            w->nrec_cache++;
        }
    }
    fj__os_mutex_unlock(&rec_lock);
    if (!r)
        *err = e;
    return r;
}

void fj__record_put(fj__worker *w, fj__record *r)
{
    fj_scheduler *s = r->s;
    if (r->after != r->inline_after)
        fj__mem_free(&s->mem, r->after, r->nafter * sizeof *r->after, FJ_MEM_ALIGN);
    if (r->tasks != &r->task)
        fj__mem_free(&s->mem, r->tasks, r->ntasks * sizeof *r->tasks, FJ_MEM_ALIGN);
    r->after = NULL;
    r->tasks = NULL;
    fj_store_relaxed(&r->s, (fj_scheduler *)NULL);
    fj_store_relaxed(&r->job_name, (const char *)NULL);
    fj_store_relaxed(&r->wait_counter, (fj_counter *)NULL);
    fj_store_relaxed(&r->state, (uint32_t)FJ__REC_FREE);
    if (w) {
        r->free_next = w->rec_cache;
        w->rec_cache = r;
        if (++w->nrec_cache <= REC_CACHE)
            return;
        /* Too many kept: REC_MOVE of them back to the shared list. */
        fj__record *first = w->rec_cache, *last = first;
        for (unsigned i = 1; i < REC_MOVE; i++)
            last = last->free_next;
        w->rec_cache = last->free_next;
        w->nrec_cache -= REC_MOVE;
        fj__os_mutex_lock(&rec_lock);
        last->free_next = rec_free;
        rec_free = first;
        fj__os_mutex_unlock(&rec_lock);
        return;
    }
    fj__os_mutex_lock(&rec_lock);
    r->free_next = rec_free;
    rec_free = r;
    fj__os_mutex_unlock(&rec_lock);
}

void fj__records_give_back(fj__worker *w)
{
    if (!w->rec_cache)
        return;
    fj__record *first = w->rec_cache, *last = first;
    while (last->free_next)
        last = last->free_next;
    w->rec_cache = NULL;
    w->nrec_cache = 0;
    fj__os_mutex_lock(&rec_lock);
    last->free_next = rec_free;
    rec_free = first;
    fj__os_mutex_unlock(&rec_lock);
}

/* Push r's tasks onto w's deques (w is one of r->s's workers); false when a
 * deque cannot grow (the caller injects the rest). Pinned jobs go to their
 * worker's pinned queue. */
static size_t push_local(fj__worker *w, fj__record *r, bool *pinned)
{
    for (size_t i = 0; i < r->ntasks; i++) {
        const fj__task *t = &r->tasks[i];
        if (FJ_UNLIKELY(t->flags & FJ_JOB_PINNED)) {
            fj__pin_push(w->s, fj__pin_worker(t->flags), t, "fj_run_jobs_after");
            *pinned = true;
            continue;
        }
        int q = fj__task_queue(t);
        int64_t b;
        fj__deque_array *a = fj__deque_reserve(&w->q[q], 1, &b);
        if (FJ_UNLIKELY(!a))
            return i;
        fj__deque_write(a, b, t);
        fj__deque_publish(&w->q[q], b + 1);
    }
    return r->ntasks;
}

/* Queue tasks[from..) through the injection queue (pinned ones to their worker). */
static void push_injected(fj_scheduler *s, fj__record *r, size_t from, bool *pinned)
{
    for (size_t i = from; i < r->ntasks; i++) {
        const fj__task *t = &r->tasks[i];
        if (t->flags & FJ_JOB_PINNED) {
            fj__pin_push(s, fj__pin_worker(t->flags), t, "fj_run_jobs_after");
            *pinned = true;
        } else {
            fj__inject_tasks(s, t, 1, "fj_run_jobs_after");
        }
    }
}

FJ_NOINLINE size_t fj__record_launch(fj__worker *w, fj__record *r)
{
    fj_scheduler *s = r->s;
    bool pinned = false;
    if (w && w->s == s) {
        /* One of s's workers (usually the finisher of the last prerequisite):
         * onto its own deques, where the jobs are hot, and stolen from there.
         * The release store of bottom publishes the tasks; the finisher's
         * acquire CAS on the prerequisite (counter.c) came before, so a thief
         * that takes a job sees what the prerequisite's jobs wrote. */
        size_t done = push_local(w, r, &pinned), n = r->ntasks;
        if (FJ_UNLIKELY(done < n))
            push_injected(s, r, done, &pinned);   /* announced by the injection */
        if (FJ_UNLIKELY(pinned))
            fj__notify_all(s);
        /* Busy (this worker runs): no quiescence passes before the decrement. */
        fj__record_pending(s, w, -1);
        fj__record_put(w, r);
        return done;
    }
    /* Another thread: hold s alive and keep quiescence from being judged
     * between the push and the decrement (wake.c, inflight). */
    fj__inflight_enter(s);
    push_injected(s, r, 0, &pinned);
    if (pinned)
        fj__notify_all(s);
    fj__record_pending(s, NULL, -1);
    fj__record_put(NULL, r);   /* uses s's allocator: before the reference goes */
    fj__inflight_leave(s);
    return 0;
}

/*
 * Pending. How many of s's records are not launched yet is what
 * fj_destroy's drain needs, and only then: at quiescence. Counting it in one
 * shared word would move that word's line between cores twice per record,
 * so each worker counts the records registered on it minus those launched
 * on it (w->rec_pending: owner-written), and other threads use the shared
 * word. A worker's count can be negative; the sum is exact once every
 * worker has stopped: each wrote its count before the seq_cst steps of
 * going to sleep that the quiescence judge reads (idle.c), and an outside
 * thread's change lies inside its inflight reference.
 */
int64_t fj__records_pending(fj_scheduler *s)
{
    int64_t n = fj_load_seq_cst(&s->records_pending);
    for (unsigned i = 0; i < s->nworkers; i++)
        n += fj_load_relaxed(&s->workers[i].rec_pending);
    return n;
}

unsigned fj__records_each(fj_scheduler *s, void (*line)(const fj__record *r, void *arg), void *arg)
{
    unsigned n = 0;
    fj__os_mutex_lock(&rec_lock);
    for (rec_group *g = rec_groups; g; g = g->next) {
        for (uint32_t i = 0; i < REC_GROUP; i++) {
            const fj__record *r = &g->recs[i];
            if (fj_load_relaxed(&r->state) != FJ__REC_PENDING || (s && fj_load_relaxed(&r->s) != s))
                continue;
            n++;
            if (line)
                line(r, arg);
        }
    }
    fj__os_mutex_unlock(&rec_lock);
    return n;
}
