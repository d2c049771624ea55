/**
 * @file fiberjob.hpp
 * @brief A header-only C++17 layer over fiberjob.h: lambdas as jobs, RAII
 *        counters and task groups, parallel_for, and fj::run.
 *
 * @code
 * #include <fiberjob.hpp>
 *
 * int main()
 * {
 *     fj::scheduler sched;                       // fj_create(NULL); fj_destroy at scope exit
 *     std::vector<float> v(1 << 20, 1.0f);
 *     fj::run(sched, [&] {                       // the root job (fj_main)
 *         fj::parallel_for(std::size_t{0}, v.size(), 0, [&](std::size_t lo, std::size_t hi) {
 *             for (std::size_t i = lo; i < hi; i++)
 *                 v[i] *= 2.0f;
 *         });
 *         fj::task_group g;                      // waits in its destructor
 *         g.run([&] { v[0] = 0.0f; });
 *         g.run("named", [&] { v[1] = 0.0f; });
 *     });
 * }
 * @endcode
 *
 * Lifetimes. fj_job copies only a function pointer and an argument pointer, so
 * whatever a job's argument points to must outlive the job. This layer keeps
 * that rule in the types:
 *  - fj::task_group copies each lambda into storage it owns (an inline buffer,
 *    then heap chunks that it keeps and reuses), and waits for its jobs in its
 *    destructor, so the lambdas cannot die before their jobs. Lambdas that fit
 *    the buffer, and all of them once the group has grown to its working size,
 *    are stored without a heap allocation.
 *  - fj::job_ref() makes a job that refers to a callable the caller keeps
 *    alive (and waits for), for use with fj::counter or the C API.
 *  - fj::counter waits in its destructor until its value is zero, so a counter
 *    cannot die while jobs counted on it still run.
 *  task_group and counter can be neither copied nor moved: jobs hold their
 *  addresses.
 *  - fj::handle owns a spawned job (fj_spawn); it is movable, and joins in its
 *    destructor if nobody did.
 *
 * Exceptions. A std::exception escaping a job started by this header (a
 * task_group job, a job_ref job, a parallel_for chunk, the fj::run root)
 * becomes a panic of that job with the message "uncaught C++ exception:
 * what()": the job's frames are unwound (destructors run), the panic is
 * reported through fj_config::panic_hook, counted on the job's counter (see
 * fj::task_group::panics(), fj::counter::panics(); fj::parallel_for returns
 * the count) and the worker carries on. The header does this itself, so it
 * also holds when the library was built without its C++ boundary
 * (FIBERJOB_CXX_EXCEPTIONS=OFF); an exception of another type is left to the
 * library's boundary (which makes it a panic too when it was built with one).
 * Exceptions are not carried to the waiting side: a job's failure is a count
 * on its counter, not a rethrow, because the waiter may be waiting on many
 * jobs, and the fiber system's contract is that a failed job finishes.
 *
 * Rules that come from fibers (see the README, "Things to know"):
 *  - a job may resume on another worker thread after anything that waits
 *    (fj_wait, counter::wait, task_group::wait and their destructors,
 *    parallel_for, fj_yield); thread-locals are per worker, not per job;
 *  - the C++ runtime keeps the exception being handled, and the count of
 *    exceptions in flight, per thread: do not wait inside a catch block, and
 *    avoid letting a task_group or counter with outstanding jobs be destroyed
 *    by an exception's unwinding (the unwinding may continue on another
 *    worker, which leaves std::uncaught_exceptions() wrong on both threads);
 *  - a catch (...) inside a job that catches fj_panic's forced unwind must
 *    rethrow it (catch abi::__forced_unwind first, or rethrow from catch
 *    (...)).
 *
 * Threads: task_group::run and task_group::wait are for the job (or thread)
 * that owns the group, not for its jobs: a job that spawns more work makes a
 * task_group of its own. Everything here also works from a thread outside
 * the scheduler while one exists (through fiberjob's slow path: an allocation
 * per submission, and a blocking wait).
 *
 * Compile with -std=c++17 or later; the library itself is C. Under
 * -fno-exceptions the exception handling above is left out.
 */
#ifndef FIBERJOB_HPP
#define FIBERJOB_HPP

#if !defined(__cplusplus) || __cplusplus < 201703L
#error "fiberjob.hpp needs C++17 (-std=c++17)"
#endif

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <new>
#include <thread>
#include <type_traits>
#include <utility>
#if __has_include(<memory_resource>)
#include <memory_resource>
#define FJ_HPP_PMR 1
#endif

#if defined(__cpp_exceptions) || defined(__EXCEPTIONS)
#define FJ_HPP_EXCEPTIONS 1
#include <exception>
#include <stdexcept>
#else
#define FJ_HPP_EXCEPTIONS 0
#endif

#include "fiberjob.h"

/** The C++ layer of fiberjob. */
namespace fj {

/** Name, priority and flags given to the jobs a call makes (see fj_job). */
struct job_options {
    /** Shown in reports and traces; must outlive the jobs (a string literal). NULL: a default. */
    const char *name = nullptr;
    /** FJ_PRIORITY_NORMAL, FJ_PRIORITY_HIGH or FJ_PRIORITY_LOW. */
    fj_priority priority = FJ_PRIORITY_NORMAL;
    /** FJ_JOB_... flags: FJ_JOB_LARGE_STACK, or FJ_JOB_SHALLOW (the job's own
     * frames need at most FJ_SHALLOW_STACK, so a waiter may run it nested). */
    unsigned flags = 0;
};

/// @cond FJ_DETAIL
namespace detail {

/* Copy what() into a buffer on the job's stack, so the exception can be
 * destroyed (its catch block left) before fj_panic unwinds the job. */
inline void copy_what(char *out, std::size_t cap, const char *what) noexcept
{
    std::size_t n = 0;
    if (what)
        for (; n + 1 < cap && what[n]; n++)
            out[n] = what[n];
    out[n] = 0;
}

/* Call f(args...) as the body of the running job. A std::exception escaping
 * it becomes a panic of the job. Not noexcept, and must not be: fj_panic's
 * forced unwind passes through here on its way to the job boundary. The catch
 * names std::exception only, so it never catches that unwind (which matches
 * only catch (...) and abi::__forced_unwind). */
template <class F, class... A>
void call_in_job(F &f, A... args)
{
#if FJ_HPP_EXCEPTIONS
    char what[200];
    try {
        f(args...);
        return;
    } catch (const std::exception &e) {
        copy_what(what, sizeof what, e.what());
    }
    fj_panic("uncaught C++ exception: %s", what);
#else
    f(args...);
#endif
}

/* A job whose argument is a callable that someone else owns. */
template <class F>
void invoke_ref(void *p)
{
    call_in_job(*static_cast<F *>(p));
}

/* A job whose argument is a callable it owns: destroyed right after it ran
 * (also when it threw or panicked), before the job's counter is finished. */
template <class F>
void invoke_owned(void *p)
{
    struct destroy_after {
        F *f;
        ~destroy_after() { f->~F(); }
    } guard{static_cast<F *>(p)};
    call_in_job(*guard.f);
}

/* Bump storage for a task group's callables: an inline buffer, then heap
 * chunks (each twice the last). reset() rewinds to the start and keeps the
 * chunks, so a group reused at the same size allocates nothing. Not thread
 * safe: only the group's owner allocates. */
class arena {
public:
    arena(unsigned char *buf, std::size_t size) noexcept : buf_(buf), buf_size_(size), cur_(buf), end_(buf + size) {}
    arena(const arena &) = delete;
    arena &operator=(const arena &) = delete;
    ~arena()
    {
        for (chunk *c = chunks_; c;) {
            chunk *next = c->next;
            ::operator delete(static_cast<void *>(c));
            c = next;
        }
    }

    void *allocate(std::size_t size, std::size_t align)
    {
        for (;;) {
            void *p = cur_;
            std::size_t space = static_cast<std::size_t>(end_ - cur_);
            if (std::align(align, size, p, space)) {
                cur_ = static_cast<unsigned char *>(p) + size;
                return p;
            }
            next_space(size + align);
        }
    }

    void reset() noexcept
    {
        cur_ = buf_;
        end_ = buf_ + buf_size_;
        next_ = chunks_;
    }

private:
    struct chunk {
        chunk *next;
        std::size_t size; /* payload bytes */
    };
    static constexpr std::size_t header = (sizeof(chunk) + alignof(std::max_align_t) - 1) & ~(alignof(std::max_align_t) - 1);

    static unsigned char *payload(chunk *c) noexcept { return reinterpret_cast<unsigned char *>(c) + header; }

    /* Move on to a chunk with room for `need` bytes: the next kept one, or a
     * new one at the end of the list. Kept chunks too small for it stay in
     * the list for later resets. */
    void next_space(std::size_t need)
    {
        while (next_) {
            chunk *c = next_;
            next_ = c->next;
            if (c->size >= need) {
                cur_ = payload(c);
                end_ = cur_ + c->size;
                return;
            }
        }
        std::size_t size = last_ ? last_->size * 2 : 4096;
        while (size < need)
            size *= 2;
        chunk *c = static_cast<chunk *>(::operator new(header + size));
        c->next = nullptr;
        c->size = size;
        if (last_)
            last_->next = c;
        else
            chunks_ = c;
        last_ = c;
        cur_ = payload(c);
        end_ = cur_ + size;
    }

    unsigned char *buf_;
    std::size_t buf_size_;
    unsigned char *cur_;
    unsigned char *end_;
    chunk *chunks_ = nullptr; /* every chunk, oldest first */
    chunk *last_ = nullptr;
    chunk *next_ = nullptr;   /* the kept chunk to use next after a reset */
};

/* The parallelism the automatic grain of parallel_for aims at. The C API
 * gives a job no way to name its scheduler, so this is the machine's count
 * of CPUs (the default worker count); more chunks than workers only costs a
 * little more splitting. */
inline unsigned default_parallelism() noexcept
{
    static const unsigned n = [] {
        unsigned c = std::thread::hardware_concurrency();
        return c ? c : 1u;
    }();
    return n;
}

template <class I, class F>
struct pfor_ctx {
    using U = std::make_unsigned_t<I>;
    const F *body;
    I begin;
    U size;  /* indices in the range */
    U grain; /* indices per chunk */
    job_options opts;
    std::atomic<std::uint32_t> panics{0};
};

template <class I, class F>
struct pfor_part {
    pfor_ctx<I, F> *ctx;
    typename pfor_ctx<I, F>::U first, last; /* chunk indices [first, last) */
};

template <class I, class F>
void pfor_job(void *p);

/* A part of one chunk is a leaf: it calls the body. A larger part splits
 * into up to four parts, each a job on a counter of its own, and waits:
 * fj_wait runs the parts still in this worker's deque inline (no switch),
 * thieves take the others. Every chunk is a job of its own, so a chunk that
 * throws or panics loses only itself. */
template <class I, class F>
void pfor_run(const pfor_part<I, F> &part)
{
    using U = typename pfor_ctx<I, F>::U;
    pfor_ctx<I, F> *ctx = part.ctx;
    U n = static_cast<U>(part.last - part.first);
    if (n == 1) {
        U lo = static_cast<U>(part.first * ctx->grain);
        U hi = static_cast<U>(ctx->size - lo < ctx->grain ? ctx->size : lo + ctx->grain);
        const F &body = *ctx->body;
        if constexpr (std::is_invocable_v<const F &, I, I>) {
            call_in_job(body, static_cast<I>(static_cast<U>(ctx->begin) + lo),
                        static_cast<I>(static_cast<U>(ctx->begin) + hi));
        } else {
            auto each = [&] {
                for (U o = lo; o != hi; o++)
                    body(static_cast<I>(static_cast<U>(ctx->begin) + o));
            };
            call_in_job(each);
        }
        return;
    }
    constexpr unsigned ways = 4;
    unsigned k = n < ways ? static_cast<unsigned>(n) : ways;
    U each = static_cast<U>(n / k), extra = static_cast<U>(n % k);
    pfor_part<I, F> parts[ways];
    fj_job jobs[ways];
    U at = part.first;
    for (unsigned i = 0; i < k; i++) {
        U len = static_cast<U>(each + (i < extra ? 1 : 0));
        parts[i] = pfor_part<I, F>{ctx, at, static_cast<U>(at + len)};
        at = static_cast<U>(at + len);
        jobs[i] = fj_job{&pfor_job<I, F>, &parts[i], ctx->opts.name, ctx->opts.priority, ctx->opts.flags};
    }
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs(jobs, k, &c);
    fj_wait(&c, 0);
    if (std::uint32_t p = fj_counter_panics(&c))
        ctx->panics.fetch_add(p, std::memory_order_relaxed);
}

template <class I, class F>
void pfor_job(void *p)
{
    pfor_run(*static_cast<const pfor_part<I, F> *>(p));
}

template <class F>
inline constexpr bool is_job_callable = std::is_invocable_v<F &>;

} // namespace detail
/// @endcond

/**
 * An error from fj_create() (thrown by fj::scheduler). code() is the FJ_E...
 * code and what() its fj_strerror() text.
 */
#if FJ_HPP_EXCEPTIONS
class error : public std::runtime_error {
public:
    /** An error for the FJ_E... code `code`. */
    explicit error(int code) : std::runtime_error(fj_strerror(code)), code_(code) {}
    /** The FJ_E... code. */
    int code() const noexcept { return code_; }

private:
    int code_;
};
#endif

/**
 * A counter (fj_counter) that waits in its destructor until its value is zero.
 *
 * Put it on the stack of the job that waits; run jobs on it with run() (or
 * pass native() to the C API). It can be neither copied nor moved: jobs and
 * waiters hold its address.
 */
class counter {
public:
    /** A counter at zero. */
    counter() noexcept { fj_counter_init(&c_, 0); }
    /** A counter at `initial` (0 to FJ_COUNTER_MAX), for hand-managed counts. */
    explicit counter(std::int64_t initial) noexcept { fj_counter_init(&c_, initial); }
    /** Waits until the value is zero (see wait()). */
    ~counter() { fj_wait(&c_, 0); }
    counter(const counter &) = delete;
    counter &operator=(const counter &) = delete;

    /** fj_run_jobs(jobs, n, this): queue n jobs (copied), counting them here. */
    void run(const fj_job *jobs, std::size_t n) { fj_run_jobs(jobs, n, &c_); }
    /** Queue one job, counting it here. */
    void run(const fj_job &job) { fj_run_jobs(&job, 1, &c_); }
    /** fj_wait(this, target): until the value is <= target (suspends the fiber inside a job). */
    void wait(std::int64_t target = 0) { fj_wait(&c_, target); }
    /** fj_wait_for: until the value is <= target or `timeout` has passed; true when reached. */
    template <class Rep, class Period>
    bool wait_for(std::chrono::duration<Rep, Period> timeout, std::int64_t target = 0)
    {
        auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(timeout).count();
        return fj_wait_for(&c_, target, ns > 0 ? static_cast<std::uint64_t>(ns) : 0) != 0;
    }
    /** fj_wait_until with a deadline of any clock (measured against that clock now); true when reached. */
    template <class Clock, class Duration>
    bool wait_until(std::chrono::time_point<Clock, Duration> deadline, std::int64_t target = 0)
    {
        return wait_for(deadline - Clock::now(), target);
    }
    /**
     * fj_run_jobs_after: queue n jobs counted here, launched once every
     * counter in `after` is zero, with no fiber waiting meanwhile (c.run_after({&a, &b}, job)).
     * The prerequisites must stay alive until the jobs are launched. Returns
     * 0 or FJ_ENOMEM / FJ_ELIMIT (nothing queued); with exceptions enabled
     * it throws fj::error instead.
     */
    int run_after(std::initializer_list<const counter *> after, const fj_job *jobs, std::size_t n)
    {
        fj_after a[16];
        std::unique_ptr<fj_after[]> big(after.size() > 16 ? new fj_after[after.size()] : nullptr);
        fj_after *p = big ? big.get() : a;
        std::size_t k = 0;
        for (const counter *c : after)
            p[k++] = fj_after{ c ? const_cast<fj_counter *>(&c->c_) : nullptr, 0 };
        int rc = fj_run_jobs_after(p, k, jobs, n, &c_);
#if FJ_HPP_EXCEPTIONS
        if (rc)
            throw error(rc);
#endif
        return rc;
    }
    /** run_after() for one job. */
    int run_after(std::initializer_list<const counter *> after, const fj_job &job) { return run_after(after, &job, 1); }
    /** fj_counter_add: count n more (hand-managed). */
    void add(std::int64_t n = 1) { fj_counter_add(&c_, n); }
    /** fj_counter_add_outside: count n more that a thread outside the schedulers will finish. */
    void add_outside(std::int64_t n = 1) { fj_counter_add_outside(&c_, n); }
    /** fj_counter_done: finish n (hand-managed). */
    void done(std::int64_t n = 1) { fj_counter_done(&c_, n); }
    /** The current value. */
    std::int64_t value() const noexcept { return fj_counter_value(&c_); }
    /** How many jobs counted here panicked (or threw) since the counter was made. */
    std::uint32_t panics() const noexcept { return fj_counter_panics(&c_); }
    /** fj_counter_cancel: skip the jobs counted here that have not started
     * (their count still finishes). Only for jobs that own nothing a skip
     * would leak (job_ref jobs, plain fj_jobs). */
    void cancel() noexcept { fj_counter_cancel(&c_); }
    /** fj_counter_is_cancelled: cancelled in the current round. */
    bool is_cancelled() const noexcept { return fj_counter_is_cancelled(&c_) != 0; }
    /** fj_counter_cancelled: how many jobs counted here were skipped since the counter was made. */
    std::uint32_t cancelled() const noexcept { return fj_counter_cancelled(&c_); }
    /** The C counter, for the C API. */
    fj_counter *native() noexcept { return &c_; }
    /** The C counter, for the C API. */
    const fj_counter *native() const noexcept { return &c_; }

private:
    fj_counter c_;
};

/** fj_cancelled: true when the counter the calling job is counted on was
 * cancelled (fj::counter::cancel), so a long job can stop early. */
inline bool cancelled() noexcept { return fj_cancelled() != 0; }

/**
 * A fiber-aware mutex (fj_mutex): lock() parks the calling job's fiber, never
 * its worker thread (outside the scheduler the thread blocks), and waiters
 * get it in FIFO order. It meets the standard Lockable requirements, so
 * std::lock_guard, std::unique_lock and std::scoped_lock work with it;
 * fj::lock_guard is the short name for the first. The owner is the job, not
 * the thread: it may unlock on another worker after waiting. Neither copied
 * nor moved (waiters hold its address). Misuse (unlocking what the caller
 * does not hold, locking it twice) stops the process with a line naming the
 * call and the job, as in C.
 */
class mutex {
public:
    mutex() noexcept { fj_mutex_init(&m_); }
    /** fj_mutex_destroy: it must not be locked any more. */
    ~mutex() { fj_mutex_destroy(&m_); }
    mutex(const mutex &) = delete;
    mutex &operator=(const mutex &) = delete;

    /** fj_mutex_lock. */
    void lock() { fj_mutex_lock(&m_); }
    /** fj_mutex_try_lock: true when locked. */
    bool try_lock() { return fj_mutex_try_lock(&m_) != 0; }
    /** fj_mutex_unlock. */
    void unlock() { fj_mutex_unlock(&m_); }
    /** The C mutex, for the C API. */
    fj_mutex *native() noexcept { return &m_; }

private:
    fj_mutex m_;
};

/** An RAII lock of an fj::mutex: locked for the guard's scope. */
using lock_guard = std::lock_guard<mutex>;

/**
 * A fiber-aware condition variable (fj_cond) for fj::mutex, used with
 * std::unique_lock<fj::mutex> as std::condition_variable is with std::mutex:
 * wait() unlocks, parks the job's fiber (never its worker thread; outside the
 * scheduler the thread blocks) and returns holding the lock again; a notified
 * waiter runs only once the mutex is handed to it. Waits may return without a
 * notify: use the predicate form. One condition variable serves one mutex.
 * Misuse (waiting without holding the lock, with a second mutex, destroying
 * it while waited on) stops the process with a line naming the call, as in C.
 */
class condition_variable {
public:
    condition_variable() noexcept { fj_cond_init(&c_); }
    /** fj_cond_destroy: nobody may wait on it any more. */
    ~condition_variable() { fj_cond_destroy(&c_); }
    condition_variable(const condition_variable &) = delete;
    condition_variable &operator=(const condition_variable &) = delete;

    /** fj_cond_signal: wake the oldest waiter. With or without the lock held. */
    void notify_one() noexcept { fj_cond_signal(&c_); }
    /** fj_cond_broadcast: wake every waiter. */
    void notify_all() noexcept { fj_cond_broadcast(&c_); }
    /** fj_cond_wait on the mutex of lock, which must own it. */
    void wait(std::unique_lock<mutex> &lock) { fj_cond_wait(&c_, lock.mutex() ? lock.mutex()->native() : nullptr); }
    /** Wait until pred() is true (tested with the lock held). */
    template <class Predicate> void wait(std::unique_lock<mutex> &lock, Predicate pred)
    {
        while (!pred())
            wait(lock);
    }
    /** The C condition variable, for the C API. */
    fj_cond *native() noexcept { return &c_; }

private:
    fj_cond c_;
};

/**
 * A spawned job (fj_spawn): movable, not copyable, joined once. join()
 * returns true when the job panicked; the destructor joins a handle not yet
 * joined (as std::jthread does), so a handle cannot be forgotten. The job is
 * an fj_job: whatever its arg points to must outlive it (join before it
 * dies), as with the C API.
 */
class handle {
public:
    handle() noexcept = default;
    /** fj_spawn(&job): inside a job, on its scheduler; elsewhere the newest. */
    explicit handle(const fj_job &job) : h_(fj_spawn(&job)) {}
    /** fj_spawn_on(s, &job). */
    handle(fj_scheduler *s, const fj_job &job) : h_(fj_spawn_on(s, &job)) {}
    /** Take over o's job (o is left empty, with nothing to join). */
    handle(handle &&o) noexcept : h_(o.h_) { o.h_ = fj_handle{}; }
    /** Join the job this handle holds (if any), then take over o's. */
    handle &operator=(handle &&o)
    {
        if (this != &o) {
            if (joinable())
                fj_join(h_);
            h_ = o.h_;
            o.h_ = fj_handle{};
        }
        return *this;
    }
    handle(const handle &) = delete;
    handle &operator=(const handle &) = delete;
    ~handle()
    {
        if (joinable())
            fj_join(h_);
    }
    /** Spawned and not yet joined. */
    bool joinable() const noexcept { return h_.fj__bits != 0; }
    /** fj_join: wait for the job; true if it panicked. Joining an empty handle stops the process. */
    bool join()
    {
        fj_handle h = h_;
        h_ = fj_handle{};
        return fj_join(h) == FJ_EPANIC;
    }
    /** Give up ownership: the caller joins the C handle. */
    fj_handle release() noexcept
    {
        fj_handle h = h_;
        h_ = fj_handle{};
        return h;
    }

private:
    fj_handle h_{};
};

/**
 * Counts one on a counter for as long as it lives: the C++ form of
 * FJ_COUNT_SCOPE, finished also when the scope is left by an exception or a
 * panic.
 */
class count_scope {
public:
    /** Add one to `c` now. */
    explicit count_scope(counter &c) : c_(c.native()) { fj_counter_add(c_, 1); }
    /** Add one to `c` now. */
    explicit count_scope(fj_counter &c) : c_(&c) { fj_counter_add(c_, 1); }
    /** Finish the one added. */
    ~count_scope() { fj_counter_done(c_, 1); }
    count_scope(const count_scope &) = delete;
    count_scope &operator=(const count_scope &) = delete;

private:
    fj_counter *c_;
};

/**
 * A job that calls `f()` by reference. The caller keeps `f` alive until the
 * job has finished (wait on the counter it was run with); nothing is copied
 * or allocated. A std::exception escaping `f` becomes a panic of the job.
 *
 * @code
 * auto work = [&] { ... };
 * fj::counter c;
 * c.run(fj::job_ref(work, {"work"}));
 * c.wait();
 * @endcode
 */
template <class F>
fj_job job_ref(F &f, const job_options &opts = {}) noexcept
{
    static_assert(detail::is_job_callable<F>, "fj::job_ref: f must be callable as f()");
    static_assert(!std::is_function_v<F>, "fj::job_ref: refers to a callable object; for a plain function "
                                          "make the fj_job directly");
    return fj_job{&detail::invoke_ref<F>, const_cast<void *>(static_cast<const void *>(std::addressof(f))),
                  opts.name, opts.priority, opts.flags};
}
/** Refused: a temporary would be gone before its job runs. */
template <class F>
fj_job job_ref(const F &&f, const job_options &opts = {}) = delete;

/**
 * Jobs made from lambdas, owned and waited for by the group.
 *
 * run() copies (or moves) the callable into the group's storage: an inline
 * buffer of `InlineBytes`, then heap chunks that the group keeps and reuses
 * after each wait(). So a job whose callable fits costs no heap allocation,
 * and neither does any job once the group has reached its working size. The
 * callable is destroyed on the worker right after it ran.
 *
 * wait() (and the destructor) returns once every job run so far has
 * finished; panics() then counts those that panicked or threw.
 *
 * run() and wait() belong to the group's owner (the job or thread that made
 * it); they are not meant to be called from the group's own jobs.
 *
 * @tparam InlineBytes  bytes of callable storage inside the group object
 *                      (which usually lives on a fiber's stack)
 */
template <std::size_t InlineBytes>
class basic_task_group {
public:
    /** A group whose jobs are named "fj::task_group", normal priority. */
    basic_task_group() noexcept : basic_task_group(job_options{"fj::task_group"}) {}
    /** A group whose jobs take `defaults` unless run() is given options. */
    explicit basic_task_group(const job_options &defaults) noexcept
        : defaults_(defaults), arena_(buf_, InlineBytes)
    {
        if (!defaults_.name)
            defaults_.name = "fj::task_group";
        fj_counter_init(&counter_, 0);
    }
    /** Waits for every job of the group (see wait()). */
    ~basic_task_group() { fj_wait(&counter_, 0); }
    basic_task_group(const basic_task_group &) = delete;
    basic_task_group &operator=(const basic_task_group &) = delete;

    /** Run `f()` as a job of the group, with the group's options. */
    template <class F>
    void run(F &&f)
    {
        run(defaults_, std::forward<F>(f));
    }
    /** Run `f()` as a job named `name` (a string that outlives the job). */
    template <class F>
    void run(const char *name, F &&f)
    {
        job_options o = defaults_;
        o.name = name;
        run(o, std::forward<F>(f));
    }
    /**
     * Run `f()` as a job with the given options (a NULL name takes the
     * group's). Throws std::bad_alloc if storage for `f` cannot be had, or
     * whatever copying `f` throws; nothing is queued then.
     */
    template <class F>
    void run(const job_options &opts, F &&f)
    {
        using Fn = std::decay_t<F>;
        static_assert(detail::is_job_callable<Fn>, "fj::task_group::run: f must be callable as f()");
        void *mem = arena_.allocate(sizeof(Fn), alignof(Fn));
        Fn *fn = ::new (mem) Fn(std::forward<F>(f));
        fj_job job{&detail::invoke_owned<Fn>, fn, opts.name ? opts.name : defaults_.name, opts.priority,
                   opts.flags};
        fj_run_jobs(&job, 1, &counter_);
    }
    /**
     * Until every job run so far has finished (suspends the fiber inside a
     * job; runs the group's jobs still queued on this worker first). Then the
     * storage is reused by later run()s.
     */
    void wait()
    {
        fj_wait(&counter_, 0);
        arena_.reset();
    }
    /** Jobs run and not yet finished. */
    std::int64_t pending() const noexcept { return fj_counter_value(&counter_); }
    /** How many of the group's jobs panicked (or threw) since it was made. */
    std::uint32_t panics() const noexcept { return fj_counter_panics(&counter_); }
    /** The group's counter, for the C API (fj_run_jobs with it joins the
     * group). Do not fj_counter_cancel it: a skipped job would never destroy
     * the callable the group stored for it. */
    fj_counter *native() noexcept { return &counter_; }

private:
    fj_counter counter_;
    job_options defaults_;
    alignas(std::max_align_t) unsigned char buf_[InlineBytes > 0 ? InlineBytes : 1];
    detail::arena arena_;
};

/** A task group with 256 bytes of inline storage (a few small lambdas). */
using task_group = basic_task_group<256>;

/**
 * Run `fs()...` as jobs, one each, and wait for all of them. Returns how many
 * panicked (or threw). Nothing is copied or allocated.
 */
template <class... F>
std::uint32_t parallel_invoke(F &&...fs)
{
    static_assert(sizeof...(F) > 0, "fj::parallel_invoke needs at least one callable");
    static_assert((detail::is_job_callable<std::remove_reference_t<F>> && ...),
                  "fj::parallel_invoke: every argument must be callable as f()");
    fj_job jobs[] = {job_ref(fs, job_options{"fj::parallel_invoke"})...};
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs(jobs, sizeof...(F), &c);
    fj_wait(&c, 0);
    return fj_counter_panics(&c);
}

/**
 * Run `f` over the integers [begin, end) in parallel and return when all is
 * done. Returns how many chunks panicked (or threw); the other chunks all ran.
 *
 * The range is cut into chunks of `grain` indices (the last may be shorter);
 * `grain` 0 picks about eight chunks per CPU. `f` is called concurrently, as
 * `f(lo, hi)` once per chunk when it accepts two indices, or as `f(i)` for
 * every index; it is called through a const reference (no mutable lambdas).
 * Each chunk is a job of its own (split four ways at a time, so the jobs are
 * spread by stealing and a chunk that fails loses only itself); the calling
 * fiber takes part while it waits. Nothing is allocated.
 *
 * Call it from a job (or, slower, from a thread outside the scheduler while
 * one exists). `end` before `begin` is a programming error: the process
 * stops with a message. Nesting is fine: a body may call parallel_for.
 */
template <class B, class E, class F>
std::uint32_t parallel_for(const job_options &opts, B begin, E end, std::size_t grain, const F &f)
{
    using I = std::common_type_t<B, E>;
    using U = std::make_unsigned_t<I>;
    static_assert(std::is_integral_v<I> && !std::is_same_v<I, bool>, "fj::parallel_for: the range is of integers");
    static_assert(std::is_invocable_v<const F &, I, I> || std::is_invocable_v<const F &, I>,
                  "fj::parallel_for: f must be callable as f(lo, hi) or f(i), through a const reference");
    I b = static_cast<I>(begin), e = static_cast<I>(end);
    if (e < b) {
        std::fprintf(stderr, "fiberjob: fj::parallel_for: end is before begin\n");
        std::fflush(stderr);
        std::abort();
    }
    U size = static_cast<U>(static_cast<U>(e) - static_cast<U>(b));
    if (size == 0)
        return 0;
    U g;
    if (grain == 0) {
        U target = static_cast<U>(8u * detail::default_parallelism());
        if (target == 0 || target > size) /* 0: the product wrapped in a narrow U */
            target = size;
        g = static_cast<U>(size / target + (size % target != 0));
    } else {
        g = grain >= size ? size : static_cast<U>(grain);
    }
    U chunks = static_cast<U>(size / g + (size % g != 0));
    detail::pfor_ctx<I, F> ctx{&f, b, size, g, opts};
    if (!ctx.opts.name)
        ctx.opts.name = "fj::parallel_for";
    detail::pfor_part<I, F> all{&ctx, 0, chunks};
    fj_job root{&detail::pfor_job<I, F>, &all, ctx.opts.name, ctx.opts.priority, ctx.opts.flags};
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs(&root, 1, &c);
    fj_wait(&c, 0);
    return ctx.panics.load(std::memory_order_relaxed) + fj_counter_panics(&c);
}

/** parallel_for with jobs named "fj::parallel_for", normal priority. */
template <class B, class E, class F>
std::uint32_t parallel_for(B begin, E end, std::size_t grain, const F &f)
{
    return parallel_for(job_options{}, begin, end, grain, f);
}

#if FJ_HPP_PMR
/**
 * An fj_allocator (for fj_config::allocator) that takes the runtime's memory
 * from `r`, which must be thread safe (std::pmr::synchronized_pool_resource,
 * new_delete_resource, or an engine heap behind a memory_resource) and
 * outlive the scheduler. A std::bad_alloc from r becomes a NULL, which the
 * runtime reports where it happens (see fj_allocator).
 */
inline fj_allocator allocator_from(std::pmr::memory_resource &r) noexcept
{
    struct adapt {
        static void *alloc(std::size_t size, std::size_t align, void *user)
        {
#if FJ_HPP_EXCEPTIONS
            try {
                return static_cast<std::pmr::memory_resource *>(user)->allocate(size, align);
            } catch (const std::bad_alloc &) {
                return nullptr;
            }
#else
            return static_cast<std::pmr::memory_resource *>(user)->allocate(size, align);
#endif
        }
        static void free(void *p, std::size_t size, std::size_t align, void *user)
        {
            static_cast<std::pmr::memory_resource *>(user)->deallocate(p, size, align);
        }
    };
    return fj_allocator{ adapt::alloc, adapt::free, &r };
}
#endif

/**
 * An owning fj_scheduler: fj_create() in the constructor, fj_destroy() (which
 * runs what is still queued, then joins the workers) in the destructor.
 * Movable, not copyable.
 */
class scheduler {
public:
    /** fj_create(NULL): the built-in defaults. */
    scheduler() : scheduler(nullptr) {}
    /** fj_create(&config). */
    explicit scheduler(const fj_config &config) : scheduler(&config) {}
    /**
     * fj_create(config) (NULL: defaults). On failure throws fj::error with the
     * FJ_E... code; built without exceptions, the object is empty instead
     * (operator bool is false; fj_last_error() says why).
     */
    explicit scheduler(const fj_config *config) : s_(fj_create(config))
    {
#if FJ_HPP_EXCEPTIONS
        if (!s_)
            throw error(fj_last_error());
#endif
    }
    /** fj_destroy. */
    ~scheduler()
    {
        if (s_)
            fj_destroy(s_);
    }
    /** Take over `other`'s scheduler. */
    scheduler(scheduler &&other) noexcept : s_(std::exchange(other.s_, nullptr)) {}
    /** Destroy ours, take over `other`'s. */
    scheduler &operator=(scheduler &&other) noexcept
    {
        if (this != &other) {
            if (s_)
                fj_destroy(s_);
            s_ = std::exchange(other.s_, nullptr);
        }
        return *this;
    }
    scheduler(const scheduler &) = delete;
    scheduler &operator=(const scheduler &) = delete;

    /** The C scheduler (NULL when empty). */
    fj_scheduler *get() const noexcept { return s_; }
    /** Give up ownership: the caller calls fj_destroy. */
    fj_scheduler *release() noexcept { return std::exchange(s_, nullptr); }
    /** True unless empty (moved from, or creation failed without exceptions). */
    explicit operator bool() const noexcept { return s_ != nullptr; }
    /** fj_worker_count: workers including the fj_main thread's worker 0. */
    unsigned workers() const { return fj_worker_count(s_); }
    /** fj_set_active_workers: only workers 0..n-1 take work (pinned jobs
     * aside); 0, or FJ_EINVAL for n outside 1..workers(). */
    int set_active_workers(unsigned n) const { return fj_set_active_workers(s_, n); }
    /** fj_active_workers: the current limit (workers() until it is set). */
    unsigned active_workers() const { return fj_active_workers(s_); }
    /** fj_run_pinned: run the jobs pinned to worker 0 (FJ_JOB_ON_MAIN) on this
     * thread, outside fj_main; 0, or FJ_EBUSY while a thread is in fj_main. */
    int run_pinned() const { return fj_run_pinned(s_); }
    /** fj_enter: take part as worker 0 on this thread until leave() (see fj_enter). */
    int enter() const { return fj_enter(s_); }
    /** fj_leave: stop taking part (see fj_leave). */
    void leave() const { fj_leave(s_); }

private:
    fj_scheduler *s_;
};

/**
 * fj_main with a callable: run `f()` as the root job (on a large fiber) with
 * the calling thread taking part as worker 0; return when it returns.
 * Returns 0, FJ_EPANIC when the root job panicked or threw, FJ_EBUSY when
 * the scheduler is already in fj_main on another thread, FJ_EINVAL for a NULL
 * scheduler.
 */
template <class F>
int run(fj_scheduler *s, F &&f)
{
    using Fn = std::remove_reference_t<F>;
    static_assert(detail::is_job_callable<Fn>, "fj::run: f must be callable as f()");
    if constexpr (std::is_function_v<Fn>) {
        Fn *fp = &f; /* a plain function: pass a pointer to a pointer to it */
        return run(s, fp);
    } else {
        return fj_main(s, &detail::invoke_ref<Fn>, const_cast<void *>(static_cast<const void *>(std::addressof(f))));
    }
}

/** fj::run on an fj::scheduler. */
template <class F>
int run(scheduler &s, F &&f)
{
    return run(s.get(), std::forward<F>(f));
}

} // namespace fj

#endif /* FIBERJOB_HPP */
