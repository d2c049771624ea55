/*
 * Submitting jobs: fj_run_jobs and fj_run_jobs_on.
 *
 * Inside a job, jobs go to the calling worker's deques: runs of one priority
 * are written straight into the deque's slots and published with one release
 * store, and runs of FJ_BATCH_MIN or more plain jobs as batches (batch.c).
 * From a thread outside the scheduler they go through the injection queue
 * (wake.c), bracketed by fj__inflight_enter/leave so that no quiescence or
 * deadlock judgement passes between the counter's add and the push.
 *
 * Nothing is ever dropped: every job is checked first (a bad one stops the
 * process naming it), and a queue that cannot grow runs the job now.
 */
#include <string.h>

#include "internal.h"

static void check_jobs(const char *call, const fj_job *jobs, size_t count)
{
    if (!jobs && count)
        fj__fatal(call, "jobs is NULL with count %zu", count);
    for (size_t i = 0; i < count; i++) {
        if (!jobs[i].fn)
            fj__fatal(call, "job %zu of %zu ('%s') has a NULL function", i, count, fj__job_name(jobs[i].name));
        if ((unsigned)jobs[i].priority > FJ_PRIORITY_LOW)
            fj__fatal(call, "job %zu ('%s') has priority %d, not an fj_priority", i,
                      fj__job_name(jobs[i].name), (int)jobs[i].priority);
        if (jobs[i].flags & ~FJ_JOB_DEFINED)
            fj__fatal(call, "job %zu of %zu ('%s') has undefined flag bits %#x (only FJ_JOB_LARGE_STACK, "
                      "FJ_JOB_SHALLOW and FJ_JOB_ON_WORKER(n) are defined)", i, count, fj__job_name(jobs[i].name),
                      jobs[i].flags & ~FJ_JOB_DEFINED);
        if ((jobs[i].flags & FJ_JOB_WORKER_BITS) && !(jobs[i].flags & FJ_JOB_PINNED))
            fj__fatal(call, "job %zu of %zu ('%s') names a worker in its flags without FJ_JOB_PINNED: use "
                      "FJ_JOB_ON_WORKER(n)", i, count, fj__job_name(jobs[i].name));
        if (fj__bad_flags(jobs[i].flags))
            fj__fatal(call, "job %zu of %zu ('%s') has both FJ_JOB_LARGE_STACK and FJ_JOB_SHALLOW: a job "
                      "declares one stack class", i, count, fj__job_name(jobs[i].name));
    }
}

static inline fj__task task_of(const fj_job *j, fj_counter *c)
{
    return (fj__task){ .fn = j->fn, .arg = j->arg, .name = fj__job_name(j->name),
                       .counter = c, .flags = j->flags | ((uintptr_t)fj__prio_queue(j->priority) << FJ_TASK_Q_SHIFT) };
}

/* fj_run_jobs' path for a few jobs: every one valid, plain (no flag but
 * its stack class), of the first one's priority, and the worker not traced.
 * Anything else takes the path of runs, which names a bad job. */
static inline bool few_plain(const fj__worker *w, const fj_job *jobs, size_t count)
{
    fj_priority p = jobs[0].priority;
    bool ok = (unsigned)p <= FJ_PRIORITY_LOW && !w->trace;
    for (size_t k = 0; k < count; k++)
        ok &= jobs[k].fn != NULL && jobs[k].priority == p && !fj__not_plain(jobs[k].flags);
    return ok;
}

static void run_jobs_external(const char *call, fj_scheduler *s, const fj_job *jobs, size_t count,
                              fj_counter *counter)
{
    fj__task buf[64];
    /* Tracing: one queueing stamp for the call (an outside thread has no ring
     * to record the JOB_QUEUE event in). */
    uintptr_t stamp = s->workers[0].trace ? fj__trace_queued(NULL, 0, jobs[0].name, count) : 0;
    /* Between the add and the push the count is not yet visible as queued work:
     * inject_inflight keeps the deadlock check from judging in that window. */
    fj__inflight_enter(s);
    if (counter)
        fj__counter_add(counter, count, "fj_run_jobs");
    bool pinned = false;
    for (size_t i = 0; i < count;) {
        size_t n = 0;
        for (; i < count && n < 64; i++) {
            fj__task t = task_of(&jobs[i], counter);
            t.flags |= stamp;
            if (FJ_UNLIKELY(t.flags & FJ_JOB_PINNED)) {
                fj__pin_push(s, fj__pin_worker(t.flags), &t, call);   /* straight to its worker */
                pinned = true;
            } else {
                buf[n++] = t;
            }
        }
        if (n)
            fj__inject_tasks(s, buf, n, call);
    }
    if (pinned)
        fj__notify_all(s);
    fj__inflight_leave(s);
}

void fj_run_jobs_on(fj_scheduler *s, const fj_job *jobs, size_t count, fj_counter *counter)
{
    fj__check_live("fj_run_jobs_on", s);
    check_jobs("fj_run_jobs_on", jobs, count);
    if (count == 0)
        return;
    fj__worker *w = fj__current_worker();
    if (w && w->s == s) {
        fj_run_jobs(jobs, count, counter);
        return;
    }
    run_jobs_external("fj_run_jobs_on", s, jobs, count, counter);
}

/* The queue could not grow: run t now rather than lose it, on a fiber of its
 * own or here if its whole stack fits; returns the worker we are on after.
 * The fiber is lent as for a backlog (worker.c, "Lending"), running t alone:
 * if t suspends, the caller goes on at once, on this worker. */
static FJ_NOINLINE fj__worker *run_now(fj__worker *w, const fj__task *t)
{
    fj__fiber *self = w->current, *child = self->pin1 ? NULL : fj__fiber_take(w, t->flags);
    if (child) {
        child->lend_q1 = (uint32_t)fj__task_queue(t) + 1;
        child->lend_left = 0;
        fj_store_relaxed(&self->wait_counter, (fj_counter *)NULL);
        fj__call_child(w, self, child, t);
    } else if (fj__fits_here(w, self, t->flags)) {
        fj__run_nested(w, self, t);
    } else {
        fj__fatal("fj_run_jobs", "out of memory (the allocator returned NULL for %zu bytes) queueing job '%s', "
                  "and no free fiber to run it on", w->q[fj__task_queue(t)].failed_bytes, t->name);
    }
    return fj__current_worker();
}

/* fj_run_jobs' run jobs[i..i+n) holds pinned jobs (or is a single job off
 * the plain path): each pinned one to its worker's queue (then every sleeper
 * is woken: the one worker that can run it must be), the others to our deque
 * one by one. Checks each job first (a bad one stops the process). */
static FJ_NOINLINE fj__worker *push_run_with_pinned(fj__worker *w, const fj_job *jobs, size_t count, size_t i,
                                                   size_t n, fj_counter *counter, uintptr_t stamp)
{
    bool pinned = false;
    for (size_t k = i; k < i + n; k++) {
        const fj_job *j = &jobs[k];
        if (!j->fn || (unsigned)j->priority > FJ_PRIORITY_LOW || fj__bad_flags(j->flags))
            check_jobs("fj_run_jobs", jobs, count); /* names the bad job and stops */
        fj__task t = task_of(j, counter);
        t.flags |= stamp;
        if (j->flags & FJ_JOB_PINNED) {
            fj__pin_push(w->s, fj__pin_worker(t.flags), &t, "fj_run_jobs");
            pinned = true;
            continue;
        }
        int64_t b;
        int q = fj__task_queue(&t);
        fj__deque_array *a = fj__deque_reserve(&w->q[q], 1, &b);
        if (a) {
            fj__deque_write(a, b, &t);
            fj__deque_publish(&w->q[q], b + 1);
        } else {
            w = run_now(w, &t);
        }
    }
    if (pinned)
        fj__notify_all(w->s);
    else
        fj__notify(w->s, n);
    return w;
}

/* Jobs i..i+n-1 of a call, of queue q, written straight into the deque's
 * slots and made visible with one release store of bottom; each run now if
 * the deque cannot grow. Unless `checked` (few_plain), each is checked first
 * and a bad one is named (check_jobs). Returns the worker we are on after. */
static inline __attribute__((always_inline)) fj__worker *push_run(fj__worker *w, const fj_job *jobs, size_t count,
                                                                  size_t i, size_t n, int q, fj_counter *counter,
                                                                  bool checked)
{
    int64_t b;
    fj__deque_array *a = fj__deque_reserve(&w->q[q], n, &b);
    for (size_t k = 0; k < n; k++) {
        const fj_job *j = &jobs[i + k];
        if (!checked && FJ_UNLIKELY(!j->fn || (unsigned)j->priority > FJ_PRIORITY_LOW || fj__not_plain(j->flags)))
            check_jobs("fj_run_jobs", jobs, count); /* names the bad job and stops */
        fj__task t = task_of(j, counter);
        if (FJ_LIKELY(a != NULL))
            fj__deque_write(a, b + (int64_t)k, &t);
        else
            w = run_now(w, &t);
    }
    if (FJ_LIKELY(a != NULL))
        fj__deque_publish(&w->q[q], b + (int64_t)n);
    return w;
}

/* fj_run_jobs of 8 or more jobs, or of a few that are not plain or not of
 * one priority: runs of one priority, each as batches or job by job. Out of
 * line, so that the paths of one job and of a few keep a short prologue
 * (spawning one at a time paid 5 instructions a call for this loop's
 * registers when it was inline). */
static FJ_NOINLINE void run_jobs_grouped(fj__worker *w, const fj_job *jobs, size_t count, fj_counter *counter)
{
    if (counter)
        fj__counter_add(counter, count, "fj_run_jobs");
    /* Tracing: one queueing stamp for all the jobs of the call (trace.c). */
    uintptr_t stamp = 0;
    if (FJ_UNLIKELY(w->trace))
        stamp = fj__trace_queued(w->trace, w->current->index, fj__job_name(jobs[0].name), count);
    size_t i = 0;
    /* The common call, a stage of a frame or a loop written with jobs: jobs
     * of one function, name, priority and flags (none or FJ_JOB_SHALLOW),
     * checked against the first while they are copied into batches (batch.c),
     * one pass where the runs below take two. What it leaves, from the first
     * job that differs, goes the general way. */
    if (FJ_LIKELY(!stamp) && jobs[0].fn && (unsigned)jobs[0].priority <= FJ_PRIORITY_LOW &&
        (jobs[0].flags & ~(unsigned)FJ_JOB_SHALLOW) == 0)
        i = fj__push_uniform(w, jobs, count, fj__prio_queue(jobs[0].priority), counter);
    while (i < count) {
        /* Runs of equal priority are pushed as one batch (one release store of
         * bottom), written straight into the deque's slots. */
        fj_priority p = jobs[i].priority;
        int q = fj__prio_queue(p);
        size_t n = 1;
        unsigned flags = jobs[i].flags, all = jobs[i].flags;
        /* bad: a job of the run the batch path must not queue (a NULL
         * function, a priority that is not an fj_priority), found on the
         * way: the three valid priorities map to three queues, so a job of
         * the same queue under another value than the first's means one of
         * the two is invalid. */
        bool bad = !jobs[i].fn || (unsigned)p > FJ_PRIORITY_LOW;
        while (i + n < count) {
            const fj_job *j = &jobs[i + n];
            if (FJ_UNLIKELY(j->priority != p)) {
                if (fj__prio_queue(j->priority) != q)
                    break;
                bad = true;
            }
            bad |= !j->fn;
            flags |= j->flags;
            all &= j->flags;
            n++;
        }
        if (FJ_UNLIKELY(flags & FJ_JOB_PINNED)) {
            /* Pinned jobs in the run: one at a time (pinned.c for those). */
            w = push_run_with_pinned(w, jobs, count, i, n, counter, stamp);
            i += n;
            continue;
        }
        if (n >= FJ_BATCH_MIN && (flags & ~(unsigned)FJ_JOB_SHALLOW) == 0) {
            /* Many small-stack jobs: queue them as batches (batch.c), shallow
             * when all of them are (a mix runs as small-stack jobs: each still
             * gets at least what it declared). */
            if (FJ_UNLIKELY(bad))
                check_jobs("fj_run_jobs", jobs, count); /* names the bad job and stops */
            size_t done = fj__push_batches(w, jobs + i, n, q, (all & FJ_JOB_SHALLOW) | stamp, counter);
            i += done;
            n -= done;
            if (n == 0)
                continue;
        }
        if (FJ_UNLIKELY(stamp)) {
            /* Traced: each job carries the stamp (the path of pinned runs). */
            w = push_run_with_pinned(w, jobs, count, i, n, counter, stamp);
            i += n;
            continue;
        }
        w = push_run(w, jobs, count, i, n, q, counter, false);
        i += n;
    }
    fj__notify(w->s, count);
}

void fj_run_jobs(const fj_job *jobs, size_t count, fj_counter *counter)
{
    fj__worker *w = fj__current_worker();
    if (FJ_UNLIKELY(!w)) {
        check_jobs("fj_run_jobs", jobs, count);
        if (count == 0)
            return;
        fj_scheduler *s = fj__default_scheduler();
        if (!s)
            fj__fatal("fj_run_jobs", "called outside a job and no scheduler exists");
        run_jobs_external("fj_run_jobs", s, jobs, count, counter);
        return;
    }
    if (FJ_UNLIKELY(!jobs || count == 0)) {
        check_jobs("fj_run_jobs", jobs, count);
        return;
    }
    if (count == 1) {
        /* One job (spawning one at a time, a fork of one): nothing to group.
         * Anything but a plain job of one stack class (a bad job, a pinned
         * one) or a traced worker takes the path of runs, one test here. */
        if (FJ_UNLIKELY(!jobs->fn || (unsigned)jobs->priority > FJ_PRIORITY_LOW || fj__not_plain(jobs->flags) ||
                        w->trace)) {
            if (counter)
                fj__counter_add(counter, 1, "fj_run_jobs");
            uintptr_t stamp = w->trace ? fj__trace_queued(w->trace, w->current->index, fj__job_name(jobs->name), 1) : 0;
            push_run_with_pinned(w, jobs, 1, 0, 1, counter, stamp);
            return;
        }
        if (counter)
            fj__count_one(w, counter, "fj_run_jobs");
        fj__task t = task_of(jobs, counter);
        int q = fj__task_queue(&t);
        /* Far ahead of the thieves (by the cached top, which overstates it):
         * lend the worker to the job (worker.c, "Lending"), before the
         * deque would grow for it. */
        int64_t b = fj_load_relaxed(&w->q[q].bottom);
        if (FJ_UNLIKELY(b - w->q[q].top_seen >= FJ_LEND_AFTER) && fj__lend(&w, &t, q, b))
            return;
        fj__deque_array *a = fj__deque_reserve(&w->q[q], 1, &b);
        if (FJ_LIKELY(a != NULL)) {
            fj__deque_write(a, b, &t);
            fj__deque_publish(&w->q[q], b + 1);
        } else {
            w = run_now(w, &t);
        }
        fj__notify(w->s, 1);
        return;
    }
    if (count < FJ_BATCH_MIN && FJ_LIKELY(few_plain(w, jobs, count))) {
        /* A few plain jobs of one priority (a fork of two, a handful of
         * stages): one pass, straight into the deque's slots, without the
         * grouping by priority below. */
        if (counter)
            fj__counter_add(counter, (int64_t)count, "fj_run_jobs");
        w = push_run(w, jobs, count, 0, count, fj__prio_queue(jobs[0].priority), counter, true);
        fj__notify(w->s, count);
        return;
    }
    run_jobs_grouped(w, jobs, count, counter);
}


/*
 * fj_run_jobs_after: launch when done (record.c, counter.c). The jobs are
 * checked, counted on `counter` and copied into a record, which is listed
 * on the first prerequisite not yet reached (fj__record_start). The count is
 * added before the record can be listed anywhere, so no finisher can launch
 * (and no job finish) before it; the record is counted as pending first, so
 * fj_destroy's drain and the deadlock judge see it from then on. From a
 * thread outside s the whole registration is inflight (wake.c).
 */
static FJ_NOINLINE void check_after(const char *call, const fj_after *after, size_t nafter)
{
    if (!after && nafter)
        fj__fatal(call, "after is NULL with nafter %zu", nafter);
    if (nafter > UINT32_MAX)
        fj__fatal(call, "nafter %zu is more than %u prerequisites", nafter, UINT32_MAX);
    for (size_t i = 0; i < nafter; i++) {
        if (!after[i].counter)
            fj__fatal(call, "prerequisite %zu of %zu has a NULL counter", i, nafter);
        if (after[i].target < 0 || after[i].target > FJ_WAIT_TARGET_MAX)
            fj__fatal(call, "prerequisite %zu of %zu has target %lld, outside 0..%d", i, nafter,
                      (long long)after[i].target, FJ_WAIT_TARGET_MAX);
    }
}

int fj_run_jobs_after(const fj_after *after, size_t nafter, const fj_job *jobs, size_t count, fj_counter *counter)
{
    static const char call[] = "fj_run_jobs_after";
    /* One pass over the prerequisites: check each, and skip those reached
     * already (an acquire load: see fj__record_start). */
    size_t first = nafter;
    if (FJ_UNLIKELY(!after && nafter) || nafter > UINT32_MAX)
        check_after(call, after, nafter);
    for (size_t i = 0; i < nafter; i++) {
        fj_counter *c = after[i].counter;
        if (FJ_UNLIKELY(!c || (uint64_t)after[i].target > FJ_WAIT_TARGET_MAX))
            check_after(call, after, nafter);   /* names it and stops */
        if (first == nafter && fj__word_value(fj_load_acquire(&c->fj__word)) > after[i].target)
            first = i;
    }
    if (FJ_UNLIKELY(count != 1 || !jobs || !jobs->fn || (unsigned)jobs->priority > FJ_PRIORITY_LOW ||
                    fj__bad_flags(jobs->flags)))
        check_jobs(call, jobs, count);
    if (count == 0)
        return 0;
    fj__worker *w = fj__current_worker();
    fj_scheduler *s = w ? w->s : fj__default_scheduler();
    if (!s)
        fj__fatal(call, "called outside a job and no scheduler exists");
    if (first == nafter) {
        if (w)
            fj_run_jobs(jobs, count, counter);
        else
            run_jobs_external(call, s, jobs, count, counter);
        return 0;
    }
    int err = 0;
    fj__record *r = fj__record_take(w, &err);
    if (!r) {
        fj__set_last_error(err);
        return err;
    }
    size_t left = nafter - first;
    r->after = r->inline_after;
    r->tasks = &r->task;
    r->nafter = (uint32_t)left;
    r->ntasks = count;
    fj_store_relaxed(&r->s, s);
    if (FJ_UNLIKELY(left > FJ__AFTER_INLINE || count > 1)) {
        fj_after *a = left > FJ__AFTER_INLINE ? fj__mem_alloc(&s->mem, left * sizeof *a, FJ_MEM_ALIGN) : r->inline_after;
        fj__task *t = count > 1 ? fj__mem_alloc(&s->mem, count * sizeof *t, FJ_MEM_ALIGN) : &r->task;
        r->after = a ? a : r->inline_after;   /* NULL: nothing to free */
        r->tasks = t ? t : &r->task;
        if (!a || !t) {
            fj__record_put(w, r);
            fj__set_last_error(FJ_ENOMEM);
            return FJ_ENOMEM;
        }
    }
    for (size_t i = 0; i < left; i++)
        r->after[i] = after[first + i];
    for (size_t i = 0; i < count; i++)
        r->tasks[i] = task_of(&jobs[i], counter);
    r->next_after = 0;
    fj_store_relaxed(&r->job_name, r->tasks[0].name);
    if (!w)
        fj__inflight_enter(s);
    fj__record_pending(s, w, 1);
    fj_store_relaxed(&r->state, (uint32_t)FJ__REC_PENDING);
    if (counter)
        fj__counter_add(counter, count, call);
    size_t n = fj__record_start(w, r);   /* r is not ours after this */
    if (n)
        fj__notify(s, n);
    if (!w)
        fj__inflight_leave(s);
    return 0;
}
