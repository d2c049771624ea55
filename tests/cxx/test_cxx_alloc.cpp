// fiberjob.hpp allocates nothing per job: lambdas whose captures fit a task
// group's inline buffer, every lambda once a reused group has reached its
// working size, job_ref jobs and parallel_for. Counted with a replaced global
// operator new (the library itself is C and allocates with malloc, and nothing
// inside jobs).
#include <array>
#include <atomic>
#include <cstdlib>
#include <new>

#include "fiberjob.hpp"
#include "test.h"

static std::atomic<long> news{0};

static void *counted_alloc(std::size_t size, std::size_t align)
{
    news.fetch_add(1, std::memory_order_relaxed);
    if (size == 0)
        size = 1;
    void *p = nullptr;
#ifdef _WIN32
    // Aligned blocks must go back through _aligned_free: every aligned new
    // takes one, whatever its alignment.
    if (align == 0)
        p = std::malloc(size);
    else
        p = _aligned_malloc(size, align);
#else
    if (align <= alignof(std::max_align_t))
        p = std::malloc(size);
    else if (posix_memalign(&p, align, size) != 0)
        p = nullptr;
#endif
    if (!p)
        throw std::bad_alloc();
    return p;
}

void *operator new(std::size_t size) { return counted_alloc(size, 0); }
void *operator new[](std::size_t size) { return counted_alloc(size, 0); }
void *operator new(std::size_t size, std::align_val_t a) { return counted_alloc(size, static_cast<std::size_t>(a)); }
void *operator new[](std::size_t size, std::align_val_t a) { return counted_alloc(size, static_cast<std::size_t>(a)); }
void *operator new(std::size_t size, const std::nothrow_t &) noexcept
{
    news.fetch_add(1, std::memory_order_relaxed);
    return std::malloc(size ? size : 1);
}
void *operator new[](std::size_t size, const std::nothrow_t &) noexcept
{
    news.fetch_add(1, std::memory_order_relaxed);
    return std::malloc(size ? size : 1);
}
#ifdef _WIN32
static void aligned_free(void *p) { _aligned_free(p); }
#else
static void aligned_free(void *p) { std::free(p); }
#endif

void operator delete(void *p) noexcept { std::free(p); }
void operator delete[](void *p) noexcept { std::free(p); }
void operator delete(void *p, std::size_t) noexcept { std::free(p); }
void operator delete[](void *p, std::size_t) noexcept { std::free(p); }
void operator delete(void *p, std::align_val_t) noexcept { aligned_free(p); }
void operator delete[](void *p, std::align_val_t) noexcept { aligned_free(p); }
void operator delete(void *p, std::size_t, std::align_val_t) noexcept { aligned_free(p); }
void operator delete[](void *p, std::size_t, std::align_val_t) noexcept { aligned_free(p); }
void operator delete(void *p, const std::nothrow_t &) noexcept { std::free(p); }
void operator delete[](void *p, const std::nothrow_t &) noexcept { std::free(p); }

namespace {

void no_allocation_per_job()
{
    std::atomic<long> sum{0};

    // Small captures (a reference and an int: 16 bytes) that fit the inline
    // buffer of a task_group (256 bytes: 16 of them): nothing at all.
    long before = news.load();
    {
        fj::task_group g;
        for (int i = 0; i < 16; i++)
            g.run([&sum, i] { sum += i; });
    }
    CHECK_EQ(news.load() - before, 0);

    // Many small jobs: a few chunks (not one per job) the first time...
    fj::task_group g;
    before = news.load();
    for (int i = 0; i < 10000; i++)
        g.run([&sum, i] { sum += i; });
    g.wait();
    long first = news.load() - before;
    CHECK(first > 0 && first <= 8);
    // ...and none once the group has reached its size.
    before = news.load();
    for (int round = 0; round < 10; round++) {
        for (int i = 0; i < 10000; i++)
            g.run([&sum, i] { sum += i; });
        g.wait();
    }
    CHECK_EQ(news.load() - before, 0);

    // Large captures: amortised too (chunks double), then none.
    before = news.load();
    std::array<char, 512> big{};
    for (int i = 0; i < 1000; i++)
        g.run([&sum, big] { sum += big[0]; });
    g.wait();
    CHECK(news.load() - before <= 10);
    before = news.load();
    for (int i = 0; i < 1000; i++)
        g.run([&sum, big] { sum += big[1]; });
    g.wait();
    CHECK_EQ(news.load() - before, 0);

    // job_ref, counter, parallel_for, parallel_invoke: nothing.
    before = news.load();
    auto work = [&sum] { sum++; };
    {
        fj::counter c;
        for (int i = 0; i < 1000; i++)
            c.run(fj::job_ref(work));
    }
    fj::parallel_for(0, 100000, 0, [&](int lo, int hi) { sum += hi - lo; });
    fj::parallel_for(0, 10000, 1, [&](int) { sum++; });
    fj::parallel_invoke(work, work, [&sum] { sum++; });
    CHECK_EQ(news.load() - before, 0);
}

} // namespace

#if FJ_HPP_PMR
/* A memory_resource that counts what is live: fj::allocator_from routes the
 * runtime's every allocation to it, each given back with its size. */
class counting_resource : public std::pmr::memory_resource {
public:
    std::atomic<long> live{0}, bytes{0}, total{0};

private:
    void *do_allocate(std::size_t size, std::size_t align) override
    {
        live++;
        total++;
        bytes += static_cast<long>(size);
        return std::pmr::new_delete_resource()->allocate(size, align);
    }
    void do_deallocate(void *p, std::size_t size, std::size_t align) override
    {
        live--;
        bytes -= static_cast<long>(size);
        std::pmr::new_delete_resource()->deallocate(p, size, align);
    }
    bool do_is_equal(const std::pmr::memory_resource &o) const noexcept override { return this == &o; }
};

static void runtime_memory_from_a_resource(unsigned workers)
{
    counting_resource r;
    {
        fj_config cfg = test::config(workers);
        cfg.allocator = fj::allocator_from(r);
        fj::scheduler s(cfg);
        CHECK(r.total.load() > 0);
        CHECK_EQ(fj::run(s, [] {
            fj::task_group g;
            for (int i = 0; i < 2000; i++)
                g.run([] {});
        }), 0);
    }
    CHECK_EQ(r.live.load(), 0);
    CHECK_EQ(r.bytes.load(), 0);
}
#endif

int main(int argc, char **argv)
{
    unsigned workers = test_workers(argc, argv);
#if FJ_HPP_PMR
    runtime_memory_from_a_resource(workers);
#endif
    fj::scheduler s(test::config(workers));
    CHECK_EQ(fj::run(s, no_allocation_per_job), 0);
    std::printf("ok\n");
    return 0;
}
