/*
 * Deadlocks: judging whether waiters can still be woken, and the reports
 * when they cannot (every live scheduler at once; see below). Also the
 * report of fibers stranded at fj_destroy, and the pool-exhaustion question
 * a job stuck in fj_wait with no free fiber asks (fj__pool_deadlocked).
 *
 * The judges are the last worker of a scheduler to go idle (idle.c), a job
 * stuck in fj_wait (wait.c) and an outside thread that has waited a while
 * (wait.c). Nothing here changes scheduler state except `deadlock_reported`
 * (a hook said to keep waiting); the verdict needs every scheduler idle both
 * before and after a grace period, with nothing moved in between.
 */
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"
#include "os.h"

/*
 * A deadlock is judged over every live scheduler at once: a job of one may
 * finish a counter that a fiber of another waits on, and a thread outside
 * every scheduler may wait on a counter that jobs of any of them finish. So
 * waiters are a deadlock only when every live scheduler is idle (every worker
 * taking part asleep or stuck without a fiber, nothing queued, no outside
 * thread inside a call that touches it), and still so after a short grace
 * period. The judge is the last worker of a scheduler to go idle (fj__worker_idle),
 * a job stuck in fj_wait with no fiber to switch to (fj_wait), or an outside
 * thread that has waited a while (wait_external). A thread outside may still
 * finish a hand-managed count later: every scheduler's deadlock_hook is asked
 * before the report aborts.
 */

/* Is anything queued in s that one of its workers could take? */
static bool sched_queued(fj_scheduler *s)
{
    if (fj_load_acquire(&s->inject) ||
        (fj_load_seq_cst(&s->deferred_total) && fj__pool_has_free(fj_load_acquire(&s->free_large))))
        return true;
    if (fj__pins_queued(s))
        return true;   /* pinned to a worker (maybe one not taking part now) */
    return fj__deques_hold_work(s);
}

static bool sched_idle(fj_scheduler *s)
{
    return fj_load_seq_cst(&s->inject_inflight) == 0 && fj_load_seq_cst(&s->outside_refs) == 0 &&
           fj_load_seq_cst(&s->sleepers) + fj_load_seq_cst(&s->stuck) >= fj_load_seq_cst(&s->active) &&
           !sched_queued(s);
}

/* Does a fiber of s wait on a counter (listed, or running a child on another
 * fiber from fj_wait)? */
static bool sched_has_waiters(fj_scheduler *s)
{
    for (uint32_t i = 0; i < s->nfibers; i++) {
        int st = fj_load_seq_cst(&s->fibers[i].state);
        if (st == FJ_FIBER_WAITING || st == FJ_FIBER_CALLING)
            return true;
    }
    return false;
}

/* Is a scheduler other than s alive and not being destroyed? */
static bool other_sched_alive(fj_scheduler *s)
{
    bool other = false;
    for (fj_scheduler *r = fj__registry_lock(); r && !other; r = r->older)
        other = r != s && !r->destroying;
    fj__registry_unlock();
    return other;
}

static size_t report_waiter(char *buf, size_t len, size_t cap, const char *name, fj_counter *c,
                            int64_t target, const char *how)
{
    if (len + 200 > cap)
        return len;
    int n = c ? snprintf(buf + len, cap - len, "  job '%s' waits on counter " FJ_PTR " (value %d, target %lld)%s\n",
                         fj__job_name(name), (void *)c, fj__word_value(fj_load_acquire(&c->fj__word)),
                         (long long)target, how)
              : snprintf(buf + len, cap - len, "  job '%s' waits%s\n", fj__job_name(name), how);
    return n > 0 ? len + (size_t)n : len;
}

/* A job parked in fj_mutex_lock on m, and who holds the mutex (its owner
 * tag: a fiber, or odd for an outside thread; mutex.c). m is the judge's
 * own read of f->wait_mutex, never read again here: the job may be resumed
 * meanwhile and clear it (a second read found NULL and crashed the judge,
 * under qemu, in cxx.mutex). */
static size_t report_mutex_waiter(char *buf, size_t len, size_t cap, const fj__fiber *f, fj_mutex *m,
                                  const char *how)
{
    if (len + 300 > cap)
        return len;
    uint64_t o = fj_load_relaxed(&m->fj__owner);
    char job[96];
    const char *holder = o & 1 ? "a thread outside the schedulers"
                         : o  ? (snprintf(job, sizeof job, "job '%s'",
                                          fj__job_name(fj_load_relaxed(&((fj__fiber *)(uintptr_t)o)->job_name))),
                                 job)
                              : "nobody yet (being unlocked or handed over)";
    int n = snprintf(buf + len, cap - len, "  job '%s' waits to lock mutex " FJ_PTR ", held by %s%s\n",
                     fj__job_name(fj_load_relaxed(&f->job_name)), (void *)m, holder, how);
    return n > 0 ? len + (size_t)n : len;
}

/* A job (or an outside thread: job NULL) on a condition variable's list. */
static size_t report_cond_waiter(char *buf, size_t len, size_t cap, const char *job, const fj_cond *cv,
                                 const char *how)
{
    if (len + 300 > cap)
        return len;
    int n = job ? snprintf(buf + len, cap - len, "  job '%s' waits on condition variable " FJ_PTR " (mutex " FJ_PTR ")%s\n",
                           fj__job_name(job), (const void *)cv, (void *)fj_load_relaxed(&cv->fj__mutex), how)
                : snprintf(buf + len, cap - len, "  an outside thread waits on condition variable " FJ_PTR " (mutex " FJ_PTR ")\n",
                           (const void *)cv, (void *)fj_load_relaxed(&cv->fj__mutex));
    return n > 0 ? len + (size_t)n : len;
}

static size_t report_outside(char *buf, size_t len, size_t cap, const fj__fiber *r)
{
    if (len + 200 > cap)
        return len;
    fj_cond *cv = fj_load_relaxed(&r->wait_cond);
    if (cv)
        return report_cond_waiter(buf, len, cap, NULL, cv, "");
    fj_counter *c = fj_load_relaxed(&r->wait_counter);
    int n = snprintf(buf + len, cap - len, "  %s waits on counter " FJ_PTR " (value %d, target %lld)\n",
                     fj_load_relaxed(&r->kind) == FJ_KIND_NATIVE ? "the thread in fj_enter" : "an outside thread", (void *)c, c ? fj__word_value(fj_load_acquire(&c->fj__word)) : 0,
                     (long long)fj_load_relaxed(&r->wait_target));
    return n > 0 ? len + (size_t)n : len;
}

/* Has a waiter listed in the snapshot been reached meanwhile (something
 * moved)? Called with the registry locked; r is its newest scheduler. */
static bool some_waiter_reached(fj_scheduler *r)
{
    bool reached = false;
    for (; r && !reached; r = r->older) {
        for (uint32_t i = 0; i < r->nfibers && !reached; i++) {
            fj__fiber *f = &r->fibers[i];
            fj_counter *c = fj_load_relaxed(&f->wait_counter);
            reached = fj_load_seq_cst(&f->state) == FJ_FIBER_WAITING && c &&
                      fj__word_value(fj_load_acquire(&c->fj__word)) <= fj_load_relaxed(&f->wait_target);
        }
    }
    return reached;
}

typedef struct deadlock_hook_call {
    int (*fn)(const fj_deadlock_info *, void *);
    void *arg;
} deadlock_hook_call;

/* Counts of c held outside that can still matter: no more than its value.
 * The value is loaded before the hold (see counter.c, "Counts held outside"). */
static uint32_t held_of(fj_counter *c)
{
    if (!c)
        return 0;
    int32_t v = fj__word_value(fj_load_seq_cst(&c->fj__word));
    uint32_t h = fj_load_seq_cst(&c->fj__outside);
    return v <= 0 ? 0 : h < (uint32_t)v ? h : (uint32_t)v;
}

static const char *held_note(char *buf, size_t cap, fj_counter *c, const char *how)
{
    uint32_t h = held_of(c);
    if (!h)
        return how;
    snprintf(buf, cap, " [%u of its counts held by threads outside]%s", h, how);
    return buf;
}

/* A pending launch record's line (fj_run_jobs_after), and the counts
 * held outside on the counter it waits for. */
typedef struct rec_report {
    char *buf;
    size_t len, cap;
    unsigned held;
} rec_report;

static void report_record(const fj__record *r, void *arg)
{
    rec_report *rr = arg;
    fj_counter *c = fj_load_relaxed(&r->wait_counter);
    char note[128];
    rr->held += held_of(c);
    rr->len = report_waiter(rr->buf, rr->len, rr->cap, fj_load_relaxed(&r->job_name), c,
                            fj_load_relaxed(&r->wait_target),
                            held_note(note, sizeof note, c, " [not started: launches when it is reached, "
                                                            "fj_run_jobs_after]"));
}

/* The outside waiters' lines, with their held counts (one judge at a time). */
static unsigned outside_held;

static size_t report_outside_held(char *buf, size_t len, size_t cap, const fj__fiber *r)
{
    fj_counter *c = fj_load_relaxed(&r->wait_counter);
    uint32_t h = held_of(c);
    /* An outside thread on a condition variable: any thread may still
     * signal it: a stall (as a job on one, above). */
    if (fj_load_relaxed(&r->wait_cond))
        outside_held++;
    outside_held += h;
    len = report_outside(buf, len, cap, r);
    if (h && len > 0 && len + 64 < cap && buf[len - 1] == '\n') {
        int n = snprintf(buf + len - 1, cap - len + 1, " [%u of its counts held by threads outside]\n", h);
        if (n > 0)
            len += (size_t)n - 1;
    }
    return len;
}

/* The stall (every worker idle, waiters, counts held outside) being timed
 * for its report: when it began, and fj__outside_calls then (any outside add
 * or done since starts a new one). One judge at a time touches these. */
static uint64_t stall_since, stall_calls;
static bool stall_reported;

/* Judge and report a deadlock (see above and internal.h). */
int fj__deadlock_judge(fj_scheduler *s, const char *why, fj__fiber *stuck_fiber, fj_counter *sc, int64_t starget)
{
    /* Static: this may run on a small fiber stack (a job stuck in fj_wait),
     * where a 4 KiB buffer and stdio's own frames do not fit. One judge at a
     * time; a second one simply waits for the next chance. */
    static char report[4096];
    static uint32_t busy;
    static deadlock_hook_call hooks[32];
    uint32_t expected = 0;
    if (!fj_cas_strong_seq_cst(&busy, &expected, 1))
        return FJ__VERDICT_LATER;   /* another judge is at it: look again later */
    /* An outside add or done half done: no verdict now (counter.c). */
    uint64_t calls = fj_load_seq_cst(&fj__outside_calls);
    if ((uint32_t)calls != 0) {
        fj_store_seq_cst(&busy, 0);
        return FJ__VERDICT_LATER;
    }
    size_t len = 0, cap = sizeof report;
    unsigned waiting = 0, outside = 0, deferred = 0, nhooks = 0, held = 0, mutex_held = 0, timed = 0;
    unsigned report_ms = s ? s->cfg.outside_report_ms : 0;
    bool driven = false, idle = true, any = false;
    uint32_t epoch = s ? fj_load_seq_cst(&s->epoch) : 0;
    char note[128];
    report[0] = 0;
    for (fj_scheduler *r = fj__registry_lock(); r && idle; r = r->older) {
        /* A job stuck in fj_wait with no fiber has found its own scheduler
         * unable to progress (pool_deadlocked), queued jobs and all. */
        idle = (stuck_fiber && r == s) || sched_idle(r);
        /* Someone is in fj_main or fj_destroy: the program waits for the
         * scheduler, it does not drive it from outside. */
        driven |= fj_load_acquire(&r->main_running) != 0;
        if (!s && !any)
            report_ms = r->cfg.outside_report_ms;   /* outside: the newest scheduler's */
        any = true;
        for (uint32_t i = 0; i < r->nfibers; i++) {
            fj__fiber *f = &r->fibers[i];
            int st = fj_load_seq_cst(&f->state);
            if (st != FJ_FIBER_WAITING && st != FJ_FIBER_CALLING)
                continue;
            waiting++;
            if (fj_load_relaxed(&f->wait_deadline))
                timed++;   /* fj_wait_until: its deadline will end the wait */
            fj_counter *c = fj_load_relaxed(&f->wait_counter);
            held += held_of(c);
            char pin[48] = "";
            uint32_t pin1 = fj_load_relaxed(&f->pin1);   /* its owner may be clearing it */
            if (pin1)
                snprintf(pin, sizeof pin, " [pinned to worker %u]", pin1 - 1);
            fj_cond *cv = fj_load_relaxed(&f->wait_cond);
            if (!c && cv && st == FJ_FIBER_WAITING) {
                /* On a condition variable: a thread outside the schedulers
                 * may signal it at any time, undeclared (unlike a count, it
                 * has no fj_counter_add_outside), so this is a stall, never
                 * a deadlock (reported after outside_report_ms). */
                mutex_held++;
                len = report_cond_waiter(report, len, cap, fj_load_relaxed(&f->job_name), cv, pin);
                continue;
            }
            fj_mutex *m = fj_load_relaxed(&f->wait_mutex);
            if (!c && m && st == FJ_FIBER_WAITING) {
                /* Held by a thread outside (odd owner tag), or being handed
                 * to or unlocked by one (owner 0 while every worker idles:
                 * a job's handover or unlock runs on a busy worker; mutex.c):
                 * that thread can still let it go, as with a count held
                 * outside. */
                uint64_t o = fj_load_relaxed(&m->fj__owner);
                if (o == 0 || (o & 1))
                    mutex_held++;
                len = report_mutex_waiter(report, len, cap, f, m, pin);
                continue;
            }
            len = report_waiter(report, len, cap, fj_load_relaxed(&f->job_name), c, fj_load_relaxed(&f->wait_target),
                                held_note(note, sizeof note, c,
                                          st == FJ_FIBER_CALLING ? " [running one of its jobs on another fiber]"
                                                                 : pin));
        }
        rec_report rr = { report, len, cap, 0 };
        waiting += fj__records_each(r, report_record, &rr);
        len = rr.len;
        held += rr.held;
        uint32_t d = fj_load_seq_cst(&r->deferred_total);
        if (d && len + 200 < cap) {
            int n = snprintf(report + len, cap - len,
                             "  %u large-stack jobs wait for a large fiber (all %u are taken: raise "
                             "fj_config.large_fibers)\n", d, r->nlarge);
            if (n > 0)
                len += (size_t)n;
        }
        deferred += d;
        if (r->cfg.deadlock_hook && nhooks < 32)
            hooks[nhooks++] = (deadlock_hook_call){ r->cfg.deadlock_hook, r->cfg.deadlock_hook_arg };
    }
    fj__registry_unlock();
    if (idle) {
        outside_held = 0;
        len = fj__outside_report(report, len, cap, report_outside_held, &outside);
        held += outside_held;
    }
    if (stuck_fiber) {
        waiting++;
        held += held_of(sc);
        len = report_waiter(report, len, cap, stuck_fiber->job_name, sc, starget,
                            held_note(note, sizeof note, sc, " [no free fiber to switch to]"));
    }
    if (idle && timed) {
        /* A job in fj_wait_until: its deadline resumes it (the timer
         * thread), so nothing is stuck for good. Look again later. */
        fj_store_seq_cst(&busy, 0);
        return FJ__VERDICT_LATER;
    }
    if (idle && (waiting || outside) && (held || mutex_held)) {
        /* Not a deadlock: a thread outside still holds counts that waiters
         * wait for. Wait; report once if the stall lasts report_ms. */
        uint64_t now = fj__os_now_ns();
        if (!stall_since || stall_calls != calls) {
            stall_since = now;
            stall_calls = calls;
            stall_reported = false;
        }
        if (report_ms && !stall_reported && now - stall_since >= (uint64_t)report_ms * 1000000u) {
            stall_reported = true;
            fprintf(stderr, "fiberjob: every worker has been idle for %llu ms while %u jobs and %u outside threads "
                    "wait for %u counts (fj_counter_add_outside) and %u mutex locks or condition variables that threads outside the "
                    "schedulers hold or may signal (not a deadlock: still waiting):\n%s",
                    (unsigned long long)((now - stall_since) / 1000000u), waiting, outside, held, mutex_held,
                    report);
            fflush(stderr);
        }
        fj_store_seq_cst(&busy, 0);
        return FJ__VERDICT_LATER;
    }
    stall_since = 0;
    bool judge = idle && (waiting || outside || deferred) && (driven || outside);
    if (judge) {
        /* A thread outside may be finishing a count right now: give it a
         * moment, then judge again; anything that moved means no deadlock. */
        fj__os_sleep_ns(20 * 1000 * 1000);
        fj_scheduler *newest = fj__registry_lock();
        for (fj_scheduler *r = newest; r && judge; r = r->older)
            judge = (stuck_fiber && r == s) || sched_idle(r);
        judge = judge && !some_waiter_reached(newest);
        fj__registry_unlock();
        unsigned still = 0;
        fj__outside_report(NULL, 0, 0, NULL, &still);
        judge = judge && still == outside;
        if (s && fj_load_seq_cst(&s->epoch) != epoch)
            judge = false;
        if (stuck_fiber && fj__word_value(fj_load_acquire(&sc->fj__word)) <= starget)
            judge = false;
        if (judge && fj_load_seq_cst(&fj__outside_calls) != calls) {
            /* An outside add or done ran meanwhile: look again later. */
            fj_store_seq_cst(&busy, 0);
            return FJ__VERDICT_LATER;
        }
    }
    if (!judge) {
        fj_store_seq_cst(&busy, 0);
        /* Something moved during the grace period while jobs waited and every
         * worker was idle. It may have settled back by now with no one left
         * awake to judge: the judging worker must not sleep without a limit
         * (a hang seen under ThreadSanitizer in failure.failures: both
         * workers asleep, the root waiting, the deadlock hook never called;
         * a worker woken spuriously during this grace period, which then
         * lost the race to judge, explains it). Look again later; a real
         * change of state ends that sleep anyway. */
        return idle && (waiting || outside || deferred) && (driven || outside) ? FJ__VERDICT_LATER
                                                                                : FJ__VERDICT_NONE;
    }
    fj_deadlock_info info = { .waiting_fibers = waiting, .report = report };
    bool keep = false;
    for (unsigned i = 0; i < nhooks; i++)
        keep |= hooks[i].fn(&info, hooks[i].arg) != 0;
    if (keep) {
        if (s)
            fj_store_relaxed(&s->deadlock_reported, 1);
        fj_store_seq_cst(&busy, 0);
        return FJ__VERDICT_KEEP;
    }
    if (outside)
        fprintf(stderr, "fiberjob: deadlock: %s, and %u jobs and %u outside threads wait on counters that no job "
                "can finish:\n%s", why, waiting, outside, report);
    else
        fprintf(stderr, "fiberjob: deadlock: %s, and %u jobs wait on counters that no job can finish:\n%s", why,
                waiting, report);
    fflush(stderr);
    abort();
}

/* fj_destroy's drain may end: nothing of s waits, and an outside thread
 * that waits can still be finished by a scheduler that stays. */
bool fj__drain_done(fj_scheduler *s)
{
    if (fj_load_seq_cst(&s->deferred_total) || fj__records_pending(s) || sched_has_waiters(s))
        return false;
    if (fj_load_seq_cst(&fj__outside_waiting) == 0)
        return true;
    /* Outside threads still blocked on a count no one has finished (not
     * those being woken): only a scheduler that stays may finish it. */
    unsigned blocked = 0;
    fj__outside_report(NULL, 0, 0, NULL, &blocked);
    return blocked == 0 || other_sched_alive(s);
}

/* After the drain every fiber should be free: any still waiting waits for a
 * count that no job can finish. */
void fj__report_stranded(fj_scheduler *s)
{
    unsigned stranded = 0;
    for (uint32_t i = 0; i < s->nsmall + s->nlarge; i++) {
        fj__fiber *f = &s->fibers[i];
        if (fj_load_relaxed(&f->state) == FJ_FIBER_WAITING && fj_load_relaxed(&f->wait_cond)) {
            if (stranded++ < 32)
                fprintf(stderr, "fiberjob: fj_destroy: job '%s' still waits on condition variable " FJ_PTR "\n",
                        fj__job_name(fj_load_relaxed(&f->job_name)), (void *)fj_load_relaxed(&f->wait_cond));
        } else if (fj_load_relaxed(&f->state) == FJ_FIBER_WAITING && !fj_load_relaxed(&f->wait_counter)) {
            if (stranded++ < 32)
                fprintf(stderr, "fiberjob: fj_destroy: job '%s' still waits to lock mutex " FJ_PTR "\n",
                        fj__job_name(fj_load_relaxed(&f->job_name)), (void *)fj_load_relaxed(&f->wait_mutex));
        } else if (fj_load_relaxed(&f->state) == FJ_FIBER_WAITING) {
            if (stranded++ < 32)
                fprintf(stderr, "fiberjob: fj_destroy: job '%s' still waits on counter " FJ_PTR " (value %lld, target %lld)\n",
                        fj__job_name(fj_load_relaxed(&f->job_name)), (void *)fj_load_relaxed(&f->wait_counter),
                        (long long)fj__word_value(fj_load_acquire(&fj_load_relaxed(&f->wait_counter)->fj__word)),
                        (long long)fj_load_relaxed(&f->wait_target));
        }
    }
    if (stranded)
        fj__fatal("fj_destroy", "%u fibers wait on counters that no queued or running job can finish (deadlock)",
                  stranded);
}

/* A job spins in fj_wait with no fiber to switch to: is that final? Only when
 * both pools are empty, nothing could run here, and every other worker sleeps. */
bool fj__pool_deadlocked(fj__worker *w)
{
    fj_scheduler *s = w->s;
    if (fj__pool_has_free(fj_load_acquire(&s->free_small)) || fj__pool_has_free(fj_load_acquire(&s->free_large)))
        return false;
    if (fj_load_seq_cst(&s->inject_inflight) || fj_load_acquire(&s->inject) || w->yield_head)
        return false;
    if (fj__pin_queued(w) && fj__pin_fibers_queued(w))
        return false;   /* a woken fiber pinned here: fj_wait resumes it */
    if (fj_load_relaxed(&s->deadlock_reported))
        return false;
    for (unsigned v = 0; v < s->nworkers; v++)
        if (fj__deque_size_hint(&s->workers[v].ready) > 0)
            return false;   /* a woken fiber can still run */
    uint32_t active = fj_load_seq_cst(&s->active), stuck = fj_load_seq_cst(&s->stuck);
    /* Every worker is stuck like us (we count ourselves): queued jobs cannot
     * start, there is no fiber to start them on nor room to run them inline. */
    if (stuck >= active)
        return true;
    /* Or the rest sleep, which they only do when no job is queued. */
    return !fj__has_work(w) && fj_load_seq_cst(&s->sleepers) + stuck >= active;
}
