/*
 * Pinned tasks: jobs run with FJ_JOB_ON_WORKER(n), and the resume tasks of
 * fibers whose pinned job waits or yields, queued for that one worker.
 *
 * Any thread pushes (a submitter, a finisher waking a pinned waiter, an
 * outside thread); only the owning worker takes, in its find-work order
 * before its own deques (take_local, steal.c), so a pinned task is never
 * stolen. Pinned work is rare (main-thread work, TLS-bound middleware), so
 * the queue is a mutex and a FIFO per class: woken fibers first (as for the
 * ready deque), then high, normal, low jobs; the owner skips the lock while
 * `pin_count` is zero. No lost wake-up: the pusher raises pin_count (seq_cst)
 * and the caller then bumps the event count (fj__notify_all); a sleeper
 * registers, fences, and looks at its own pin_count (fj__has_work) before it
 * sleeps on the event count it read before registering, so either it sees
 * the count or its futex wait sees the bumped epoch. Another worker's pinned
 * queue is not work for a worker (it would spin on what it may not take), so
 * the judgements that look at every queue (quiescence in idle.c, the deadlock
 * judge) ask fj__pins_queued as well: fj_destroy's drain does not end, nor is
 * a deadlock declared, while a task pinned anywhere is queued.
 * A parked worker (over
 * fj_set_active_workers' limit) sleeps on a word of its own instead, and the
 * pusher kicks it there too (fj__park_kick): pinned work is the one work a
 * parked worker still does.
 */
#include "internal.h"

void fj__pin_init(fj__worker *w)
{
    fj__os_mutex_init(&w->pin_lock);
}

void fj__pin_free(fj__worker *w)
{
    for (int k = 0; k <= FJ_NQ; k++)
        fj__mem_free(&w->s->mem, w->pinq[k].buf, w->pinq[k].cap * sizeof(fj__task), _Alignof(fj__task));
    fj__os_mutex_destroy(&w->pin_lock);
}

static bool fifo_push(const fj__mem *m, fj__pin_fifo *f, const fj__task *t)
{
    if (f->len == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 16;
        fj__task *b = fj__mem_alloc(m, cap * sizeof *b, _Alignof(fj__task));
        if (!b)
            return false;
        for (size_t i = 0; i < f->len; i++)
            b[i] = f->buf[(f->head + i) % f->cap];
        fj__mem_free(m, f->buf, f->cap * sizeof *b, _Alignof(fj__task));
        f->buf = b;
        f->head = 0;
        f->cap = cap;
    }
    f->buf[(f->head + f->len) % f->cap] = *t;
    f->len++;
    return true;
}

void fj__pin_push(fj_scheduler *s, unsigned to, const fj__task *t, const char *call)
{
    if (to >= s->nworkers)
        fj__fatal(call, "job '%s' is pinned to worker %u, but the scheduler has %u workers (0..%u)",
                  fj__job_name(t->name), to, s->nworkers, s->nworkers - 1);
    fj__worker *w = &s->workers[to];
    int k = t->fn ? 1 + fj__task_queue(t) : 0;
    fj__os_mutex_lock(&w->pin_lock);
    bool ok = fifo_push(&s->mem, &w->pinq[k], t);
    fj__os_mutex_unlock(&w->pin_lock);
    if (!ok)
        fj__fatal(call, "out of memory queueing job '%s' pinned to worker %u", fj__job_name(t->name), to);
    fj_fetch_add_seq_cst(&w->pin_count, 1);
    /* Only w can run it, even parked (over fj_set_active_workers' limit):
     * wake it from its own word (idle.c, "Parking"). */
    fj__park_kick(w);
}

bool fj__pins_queued(fj_scheduler *s)
{
    /* seq_cst: read in the quiescence judgement, whose argument (idle.c) is
     * in the single total order of the counts it reads. */
    for (unsigned v = 0; v < s->nworkers; v++)
        if (fj_load_seq_cst(&s->workers[v].pin_count))
            return true;
    return false;
}

bool fj__pin_fibers_queued(fj__worker *w)
{
    fj__os_mutex_lock(&w->pin_lock);
    bool any = w->pinq[0].len != 0;
    fj__os_mutex_unlock(&w->pin_lock);
    return any;
}

/* Take the oldest task of the first non-empty class in first..last. */
static bool take_classes(fj__worker *w, int first, int last, fj__task *out)
{
    bool got = false;
    fj__os_mutex_lock(&w->pin_lock);
    for (int k = first; k <= last && !got; k++) {
        fj__pin_fifo *f = &w->pinq[k];
        if (f->len) {
            *out = f->buf[f->head];
            f->head = (f->head + 1) % f->cap;
            f->len--;
            got = true;
        }
    }
    fj__os_mutex_unlock(&w->pin_lock);
    if (got)
        fj_fetch_sub_seq_cst(&w->pin_count, 1);
    return got;
}

bool fj__pin_take_fiber(fj__worker *w, fj__task *out) { return take_classes(w, 0, 0, out); }

bool fj__pin_take(fj__worker *w, fj__task *out) { return take_classes(w, 0, FJ_NQ, out); }
