// The workloads written for Boost: Boost.Context's fcontext (the switch), and
// Boost.Fiber (switch by this_fiber::yield between two fibers on one thread;
// spawn and wake latency on the work_stealing scheduler, one thread per
// allowed CPU, like the other runtimes).
#include <atomic>
#include <cstdlib>
#include <thread>
#include <vector>

#include "bench.h"

#ifdef BENCH_WITH_BOOST_CONTEXT
#include <boost/context/detail/fcontext.hpp>

namespace bcd = boost::context::detail;

namespace {
void ctx_entry(bcd::transfer_t t)
{
    for (;;)
        t = bcd::jump_fcontext(t.fctx, nullptr);
}

bcd::fcontext_t ctx_run(bcd::fcontext_t other, long n)
{
    for (long i = 0; i < n; i++)
        other = bcd::jump_fcontext(other, nullptr).fctx;
    return other;
}
} // namespace

extern "C" int bctx_switch(const bench_args *a)
{
    const std::size_t size = 64 * 1024;
    char *stack = static_cast<char *>(std::aligned_alloc(64, size));
    if (!stack)
        return bench_fail("switch: out of memory");
    bcd::fcontext_t other = bcd::make_fcontext(stack + size, size, ctx_entry);
    other = ctx_run(other, a->size / 10 + 1);   // warm-up
    uint64_t t0 = bench_now_ns();
    other = ctx_run(other, a->size);
    uint64_t t1 = bench_now_ns();
    bench_emit("switch", (double)(t1 - t0) / (double)a->size, "ns", BENCH_LOWER);
    return 0;   // the other context stays suspended on its stack: never freed
}
#endif

#ifdef BENCH_WITH_BOOST_FIBER
#include <boost/fiber/all.hpp>

namespace bf = boost::fibers;

namespace {

// Helper threads that join the calling thread in one work_stealing scheduler
// and stay until the pool is destroyed.
class fiber_pool {
public:
    explicit fiber_pool(unsigned n)
    {
        for (unsigned i = 1; i < n; i++)
            threads_.emplace_back([this, n] {
                bf::use_scheduling_algorithm<bf::algo::work_stealing>(n);
                std::unique_lock<bf::mutex> lk(m_);
                cv_.wait(lk, [this] { return done_; });
            });
        bf::use_scheduling_algorithm<bf::algo::work_stealing>(n);
    }
    ~fiber_pool()
    {
        {
            std::unique_lock<bf::mutex> lk(m_);
            done_ = true;
        }
        cv_.notify_all();
        for (auto &t : threads_)
            t.join();
    }

private:
    std::vector<std::thread> threads_;
    bf::mutex m_;
    bf::condition_variable cv_;
    bool done_ = false;
};

struct latch {
    std::atomic<long> left;
    bf::mutex m;
    bf::condition_variable cv;
    bool done = false;
    explicit latch(long n) : left(n) {}
    void count_down()
    {
        if (left.fetch_sub(1, std::memory_order_acq_rel) == 1) {
            std::unique_lock<bf::mutex> lk(m);
            done = true;
            cv.notify_all();
        }
    }
    void wait()
    {
        std::unique_lock<bf::mutex> lk(m);
        cv.wait(lk, [this] { return done; });
    }
};

const std::size_t fiber_stack = 16 * 1024;

void spawn_pass(long n)
{
    latch l(n);
    for (long i = 0; i < n; i++)
        bf::fiber(std::allocator_arg, bf::fixedsize_stack(fiber_stack), [&l] {
            bench_opaque(nullptr);
            l.count_down();
        }).detach();
    l.wait();
}

void yield_pass(long n)
{
    auto body = [n] {
        for (long i = 0; i < n; i++)
            boost::this_fiber::yield();
    };
    bf::fiber f1(body), f2(body);
    f1.join();
    f2.join();
}

unsigned threads_of(const bench_args *a) { return a->workers ? a->workers : bench_allowed_cpus(); }

} // namespace

extern "C" int bfib_switch(const bench_args *a)
{
    // Boost.Fiber's yield costs ~100 ns: a tenth of the round trips keeps the
    // run short (the metric is per round trip).
    long n = a->size / 10 + 1;
    yield_pass(n / 10 + 1);
    uint64_t t0 = bench_now_ns();
    yield_pass(n);
    uint64_t t1 = bench_now_ns();
    bench_emit("switch", (double)(t1 - t0) / (double)n, "ns", BENCH_LOWER);
    return 0;
}

extern "C" int bfib_spawn1(const bench_args *a)
{
    // Every fiber has its own stack and all are queued before the first runs:
    // at most 100,000 per pass keeps memory bounded (the metric is a rate).
    long n = a->size < 100000 ? a->size : 100000;
    fiber_pool pool(threads_of(a));
    spawn_pass(n);   // warm-up
    uint64_t t0 = bench_now_ns();
    spawn_pass(n);
    uint64_t ns = bench_now_ns() - t0;
    bench_emit(a->workload, (double)n / ((double)ns / 1e9) / 1e6, "Mjobs/s", BENCH_HIGHER);
    return 0;
}

extern "C" int bfib_wake(const bench_args *a)
{
    fiber_pool pool(threads_of(a));
    const long warm = 20, n = a->size;
    std::vector<double> ns((size_t)n);
    std::atomic<uint64_t> t_done{0};
    for (long i = 0; i < warm + n; i++) {
        bf::fiber child(std::allocator_arg, bf::fixedsize_stack(fiber_stack), [&t_done] {
            bench_spin_ns(BENCH_WAKE_SPIN_NS);
            t_done.store(bench_now_ns(), std::memory_order_release);
        });
        child.join();
        uint64_t t1 = bench_now_ns();
        if (i >= warm)
            ns[(size_t)(i - warm)] = (double)(t1 - t_done.load(std::memory_order_acquire));
    }
    bench_emit("wake-median", bench_percentile(ns.data(), ns.size(), 50), "ns", BENCH_LOWER);
    bench_emit("wake-p99", bench_percentile(ns.data(), ns.size(), 99), "ns", BENCH_LOWER);
    return 0;
}
#endif
