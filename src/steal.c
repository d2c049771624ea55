/*
 * Finding work: where a worker looks, in order (see sched.c's top comment):
 * its ready deque, its job deques by priority (its chunk first within its
 * priority, batch.c), the injection queue (moved to its own deques in one
 * go), the other workers' deques (stealing: victims sharing our last-level
 * cache first, then the rest, from a random start), and its yield FIFO
 * (every 32nd pick looks there first, so yielded fibers cannot starve).
 * Also the non-destructive question "is there work?" that idle workers and
 * deadlock judges ask (fj__has_work, fj__deques_hold_work).
 *
 * Everything here runs on the worker that owns `w`; other workers' deques
 * are only stolen from (deque.c's protocol).
 */
#include <stdlib.h>

#include "internal.h"
#include "os.h"

static inline uint64_t rng_next(fj__worker *w)
{
    uint64_t x = w->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return w->rng = x;
}

bool fj__take_yielded(fj__worker *w, fj__task *out)
{
    fj__fiber *f = w->yield_head;
    if (!f)
        return false;
    w->yield_head = f->yield_next ? &w->s->fibers[f->yield_next - 1] : NULL;
    if (!w->yield_head)
        w->yield_tail = NULL;
    *out = fj__resume_task(f);
    return true;
}

/* Take the whole injection list and move its tasks to our deques. */
static bool take_injected(fj__worker *w)
{
    fj_scheduler *s = w->s;
    if (!fj_load_relaxed(&s->inject))
        return false;
    fj__inject_node *list = fj_exchange_acq_rel(&s->inject, NULL);
    if (!list)
        return false;
    fj__inject_node *fifo = NULL;   /* reverse: oldest submission first */
    while (list) {
        fj__inject_node *next = list->next;
        list->next = fifo;
        fifo = list;
        list = next;
    }
    size_t moved = 0;
    while (fifo) {
        /* Read all of the node first: once a fiber's resume task is pushed,
         * another worker may resume it, and the fiber may wait and be woken
         * again, rewriting its wake_node. */
        fj__inject_node *next = fifo->next;
        size_t count = fifo->count;
        bool heap = fifo->heap;
        fj__task *tasks = fifo->tasks;
        /* Push the batch in reverse so the owner's LIFO pops run it in order. */
        for (size_t i = count; i-- > 0;) {
            fj__task t = tasks[i];
            fj__push_or_die(t.fn ? &w->q[fj__task_queue(&t)] : &w->ready, &t, 1, "fj_run_jobs");
        }
        moved += count;
        if (heap)
            fj__mem_free(&s->mem, fifo, fj__inject_node_bytes(count), FJ_MEM_ALIGN);
        fifo = next;
    }
    if (moved > 1)
        fj__notify(s, moved - 1);
    return moved > 0;
}

/* A fiber put in o's mailbox (wake.c, "Resuming at home"); acquire: its
 * putter's CAS released it. */
bool fj__take_mail(fj__worker *o, fj__task *out)
{
    if (!fj_load_relaxed(&o->mailbox))
        return false;
    fj__fiber *f = fj_exchange_acq_rel(&o->mailbox, NULL);
    if (!f)
        return false;
    *out = fj__resume_task(f);
    return true;
}

/* After stealing a job from d: while d still holds two or more, steal up to
 * FJ_STEAL_MORE more into our own deque. Each is an ordinary steal; in a row
 * they find d's lines already in our cache, where one steal per job would
 * fetch them again each time. The last task is left to the owner.
 *
 * Between the steals and the push the jobs are in no deque: a worker woken
 * for them may look then, find nothing and sleep again, and we are about to
 * run a job that may not return soon. So the push is a submission like any
 * other and notifies (fj__notify: a fence and a load while nobody sleeps);
 * without it a batch's wake chain could end there (verify/wake.pml,
 * BUG_STEAL_MORE_QUIET). */
#define FJ_STEAL_MORE 7
static int steal_more(fj__worker *w, fj__deque *d, int q)
{
    fj__task t[FJ_STEAL_MORE];
    int k = 0;
    while (k < FJ_STEAL_MORE && fj__deque_size_hint(d) >= 2) {
        if (fj__deque_steal(d, &t[k]) != FJ_DEQUE_OK)
            break;
        k++;
    }
    if (k == 0)
        return 0;
    FJ__STAT_ADD(w, steals, (uint64_t)k);
    /* Oldest first at the bottom's far end: pushed in reverse, our LIFO
     * takes run them in the order they were stolen. */
    fj__task rev[FJ_STEAL_MORE];
    for (int i = 0; i < k; i++)
        rev[i] = t[k - 1 - i];
    fj__push_or_die(&w->q[q], rev, (size_t)k, "fj_run_jobs");
    fj__notify(w->s, (size_t)k);
    return k;
}

/*
 * A stream of short jobs. A submitter that queues one job at a time, with
 * a thief taking them as they appear, pays a cross-core transfer for every
 * push: each writes lines the thief keeps reading, and the counter's
 * locked add waits for those stores (spawn1: 3-6 M jobs/s with a thief, 24
 * without). Two cases:
 *
 *   - A lone stream: the thief's steals each leave the deque empty, each
 *     within FJ_LONE_GAP_NS of the last (the thief runs the jobs faster
 *     than they come). From the second such steal on, it lets the next
 *     jobs collect for FJ_LONE_WAIT_NS before it looks again, then takes
 *     them together (steal_more).
 *   - A lending victim: the submitter is FJ_LEND_AFTER ahead and runs its
 *     stream itself (worker.c, "Lending"; its fj_worker_stats.lends moved
 *     since our last steal from it), and the jobs we took ran for less
 *     than FJ_SHORT_JOB_NS each. Then each of our steals costs the
 *     submitter more than the jobs it takes: the wait doubles with each
 *     one of the run, up to FJ_LONE_WAIT_MAX_NS (spawn1, two workers, slow
 *     mode: 5.8 M jobs/s with neither, 23.8 with lending and this;
 *     BENCHMARKS.md, "Issue 14, eighth pass").
 *
 * The time is measured from the end of one steal to the start of the next
 * (what the thief spent running what it took; the steals themselves may
 * take longer than that on a slow machine). Anything else (a longer job, a
 * steal that found more and no lending, another victim) ends the run, so
 * a queue of short jobs whose owner is busy elsewhere is stolen from at
 * full speed (a graph of short jobs lost 20% when every quick run backed
 * off). During a wait the thief reads none of the victim's lines; a fiber
 * resumed to it ends the wait. Nothing waits for this: the jobs stay in a
 * deque every look for work sees, and the lending submitter runs them.
 */
#define FJ_LONE_GAP_NS 2000u
#define FJ_LONE_WAIT_NS 2000u
#define FJ_LONE_WAIT_MAX_NS 64000u

/* After a steal of a plain job (and of those steal_more took with it) from
 * v that began at `look`; lone: it left v's deque empty. */
static void lone_note(fj__worker *w, unsigned v, uint64_t look, unsigned k, bool lone)
{
    uint64_t now = fj__os_now_ns();
    bool same = w->lone_run && w->lone_victim == v;
    /* What the thief did since its last steal: ran the w->lone_k jobs it took. */
    uint64_t ran = look - w->lone_at;
    /* The victim's statistics line is written with every job it runs: read
     * only when the answer matters (not on a lone steal, say a wake-up's). */
    bool lending = false;
    uint64_t lends = w->lone_lends;
    if (same && !lone && ran < (uint64_t)w->lone_k * FJ_SHORT_JOB_NS) {
        lends = fj_load_relaxed(&w->s->workers[v].stats.lends);
        lending = lends != w->lone_lends;
    } else if (!same) {
        lends = fj_load_relaxed(&w->s->workers[v].stats.lends);
    }
    if (same && ((lone && ran < FJ_LONE_GAP_NS) || lending)) {
        w->lone_run++;
        if (!lending)
            w->lone_wait = FJ_LONE_WAIT_NS;   /* a lone stream: the short wait */
    } else {
        w->lone_run = 1;
        w->lone_wait = FJ_LONE_WAIT_NS;
    }
    w->lone_victim = v;
    w->lone_lends = lends;
    w->lone_k = k;
    w->lone_at = now;
}

/* In a run of quick steals from v: let its jobs collect before looking.
 * A fiber resumed to this worker (its mailbox, its pinned queue: lines only
 * a finisher writes, when it has one for us) ends the wait at once. */
static void lone_wait(fj__worker *w, unsigned v)
{
    if (w->lone_run < 2 || w->lone_victim != v)
        return;
    uint64_t until = w->lone_at + w->lone_wait, now;
    while ((now = fj__os_now_ns()) < until && !fj_load_relaxed(&w->mailbox) && !fj__pin_queued(w))
        fj_cpu_relax();
    w->lone_run = 1;
    w->lone_at = now;
    w->lone_wait = w->lone_wait * 2 < FJ_LONE_WAIT_MAX_NS ? w->lone_wait * 2 : FJ_LONE_WAIT_MAX_NS;
}

static bool steal_any(fj__worker *w, fj__task *out)
{
    fj_scheduler *s = w->s;
    unsigned n = s->nworkers;
    if (n <= 1)
        return false;
    unsigned start = (unsigned)(rng_next(w) % n);
    for (int q = -1; q < FJ_NQ; q++) {
        /* Victims that share our last-level cache first (pass 0), then the rest. */
        for (unsigned k = 0; k < 2 * n; k++) {
            unsigned v = (start + k) % n;
            bool near = s->workers[v].llc == w->llc;
            if (v == w->index || near != (k < n))
                continue;
            /* A mailbox only when its owner is not searching: one that
             * is will take it at once (wake.c, "Resuming at home"). */
            if (q < 0 && !fj_load_relaxed(&s->workers[v].searching) && fj__take_mail(&s->workers[v], out)) {
                FJ__STAT_INC(w, steals);
                return true;
            }
            fj__deque *d = q < 0 ? &s->workers[v].ready : &s->workers[v].q[q];
            if (q >= 0)
                lone_wait(w, v);
            /* Looks empty: skip the fence and the loads of the protocol. */
            if (fj__deque_size_hint(d) <= 0)
                continue;
            uint64_t look = q >= 0 ? fj__os_now_ns() : 0;
            for (int tries = 0; tries < 4; tries++) {
                fj__deque_result r = fj__deque_steal(d, out);
                if (r == FJ_DEQUE_OK) {
                    FJ__STAT_INC(w, steals);
                    FJ_TRACE(w, FJ_EV_STEAL, UINT32_MAX, out->name, v);
                    if (fj__is_range(out))
                        fj__range_open(w, out);
                    else if (q >= 0) {
                        int more = steal_more(w, d, q);
                        lone_note(w, v, look, 1u + (unsigned)more, more == 0 && fj__deque_size_hint(d) <= 0);
                    }
                    return true;
                }
                if (r == FJ_DEQUE_EMPTY)
                    break;
                FJ__STAT_INC(w, steal_failures);
            }
        }
    }
    return false;
}

static bool take_local(fj__worker *w, fj__task *out)
{
    /* Pinned here (pinned.c): only this worker can run them. */
    if (FJ_UNLIKELY(fj__pin_queued(w)) && fj__pin_take(w, out))
        return true;
    if (fj__take_mail(w, out)) {
        FJ__STAT_INC(w, home_resumes);
        return true;
    }
    if (fj__deque_size_hint(&w->ready) > 0 && fj__deque_take(&w->ready, out))
        return true;
    if ((++w->pick_tick & 31) == 0 && fj__take_yielded(w, out))
        return true;
    for (int q = 0; q < FJ_NQ; q++) {
        if (w->chunk && w->chunk_q == q && fj__chunk_take(w, out))
            return true;
        if (fj__deque_size_hint(&w->q[q]) > 0 && fj__deque_take(&w->q[q], out)) {
            if (fj__is_range(out))
                fj__range_open(w, out);
            return true;
        }
    }
    return false;
}

bool fj__try_find(fj__worker *w, fj__task *out)
{
    if (take_local(w, out))
        return true;
    if (take_injected(w) && take_local(w, out))
        return true;
    /* Finishes folded so far stay folded across steals of the same counter's
     * jobs, unless someone waits on the counter: then they go out now. */
    if (w->fold_counter && fj__word_head(fj_load_relaxed(&w->fold_counter->fj__word)))
        fj__fold_flush(w);
    if (steal_any(w, out))
        return true;
    return fj__take_yielded(w, out);
}

bool fj__deques_hold_work(fj_scheduler *s)
{
    for (unsigned v = 0; v < s->nworkers; v++) {
        fj__worker *o = &s->workers[v];
        if (fj__deque_size_hint(&o->ready) > 0 || fj_load_relaxed(&o->mailbox))
            return true;
        for (int q = 0; q < FJ_NQ; q++)
            if (fj__deque_size_hint(&o->q[q]) > 0)
                return true;
    }
    return false;
}

bool fj__has_work(fj__worker *w)
{
    fj_scheduler *s = w->s;
    if (w->chunk || fj__pin_queued(w))
        return true;
    /* Deferred large-stack jobs count only for a worker on a large fiber or
     * when a large fiber is free; when one comes back to the pool, every
     * worker is woken. */
    if (w->yield_head || fj_load_acquire(&s->inject) ||
        (fj_load_seq_cst(&s->deferred_total) &&
         ((w->current && w->current->kind == FJ_KIND_LARGE) || fj__pool_has_free(fj_load_acquire(&s->free_large)))))
        return true;
    return fj__deques_hold_work(s);
}

