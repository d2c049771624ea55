// fj::parallel_for: every index exactly once for any grain (automatic and set),
// chunks of the grain's size, both body forms, signed, narrow and extreme index
// types, empty ranges, nesting, use from a task group; and its misuse (end
// before begin stops the process with a message).
#include <atomic>
#include <climits>
#include <cstdint>
#include <memory>

#include "fiberjob.hpp"
#include "test.h"

namespace {

void every_index_once(std::size_t n, std::size_t grain)
{
    std::unique_ptr<std::atomic<int>[]> hits(new std::atomic<int>[n]);
    for (std::size_t i = 0; i < n; i++)
        hits[i] = 0;
    std::atomic<bool> bad_chunk{false};
    CHECK_EQ(fj::parallel_for(std::size_t{0}, n, grain, [&](std::size_t lo, std::size_t hi) {
        if (!(lo < hi && hi <= n))
            bad_chunk = true;
        if (grain != 0 && (hi - lo > grain || lo % grain != 0 || (hi - lo < grain && hi != n)))
            bad_chunk = true;
        for (std::size_t i = lo; i < hi; i++)
            hits[i]++;
    }), 0u);
    CHECK(!bad_chunk);
    for (std::size_t i = 0; i < n; i++)
        CHECK_EQ(hits[i].load(), 1);

    // The per-index form.
    for (std::size_t i = 0; i < n; i++)
        hits[i] = 0;
    fj::parallel_for(std::size_t{0}, n, grain, [&](std::size_t i) { hits[i]++; });
    for (std::size_t i = 0; i < n; i++)
        CHECK_EQ(hits[i].load(), 1);
}

void index_types()
{
    // Signed, across zero; begin and end of different types.
    std::atomic<long> sum{0};
    fj::parallel_for(-500, 501L, 7, [&](long i) { sum += i; });
    CHECK_EQ(sum.load(), 0);

    // A narrow unsigned type over its whole width.
    std::atomic<int> count{0};
    std::atomic<int> total{0};
    fj::parallel_for(static_cast<unsigned char>(0), static_cast<unsigned char>(255), 0, [&](unsigned char c) {
        count++;
        total += c;
    });
    CHECK_EQ(count.load(), 255);
    CHECK_EQ(total.load(), 254 * 255 / 2);

    // At the very top of a signed 64-bit range (no overflow in the splitting).
    std::atomic<std::int64_t> seen{0};
    fj::parallel_for(INT64_MAX - 1000, INT64_MAX, 3, [&](std::int64_t lo, std::int64_t hi) {
        CHECK(lo < hi);
        seen += hi - lo;
    });
    CHECK_EQ(seen.load(), 1000);
    seen = 0;
    fj::parallel_for(INT64_MIN, INT64_MIN + 999, 0, [&](std::int64_t) { seen++; });
    CHECK_EQ(seen.load(), 999);

    // Empty ranges call nothing.
    bool called = false;
    CHECK_EQ(fj::parallel_for(5, 5, 0, [&](int) { called = true; }), 0u);
    CHECK_EQ(fj::parallel_for(0u, 0u, 1, [&](unsigned, unsigned) { called = true; }), 0u);
    CHECK(!called);
}

void nested()
{
    std::atomic<long> sum{0};
    fj::parallel_for(0, 64, 1, [&](int outer) {
        fj::parallel_for(0, 1000, 0, [&](int lo, int hi) {
            long s = 0;
            for (int i = lo; i < hi; i++)
                s += i;
            sum += s * (outer + 1);
        });
    });
    CHECK_EQ(sum.load(), 999L * 1000 / 2 * (64 * 65 / 2));

    // From the jobs of a task group, with options.
    sum = 0;
    {
        fj::task_group g;
        for (int k = 0; k < 4; k++)
            g.run([&sum] {
                fj::parallel_for(fj::job_options{"inner pfor", FJ_PRIORITY_HIGH, 0}, 0, 100, 10, [&](int i) {
                    CHECK(std::strcmp(fj_current_job_name(), "inner pfor") == 0);
                    sum += i;
                });
            });
    }
    CHECK_EQ(sum.load(), 4 * 4950);
}

} // namespace

int main(int argc, char **argv)
{
    unsigned workers = test_workers(argc, argv);

    // Misuse, in a child: end before begin stops the process.
    test::expect_abort([] {
        fj::scheduler s(test::config(2));
        fj::run(s, [] { fj::parallel_for(10, 5, 0, [](int) {}); });
    }, "fiberjob: fj::parallel_for: end is before begin");

    fj::scheduler s(test::config(workers));
    CHECK_EQ(fj::run(s, [] {
        const std::size_t sizes[] = {1, 2, 3, 17, 1000, 100003};
        const std::size_t grains[] = {0, 1, 7, 64, 1000};
        for (std::size_t n : sizes)
            for (std::size_t g : grains)
                every_index_once(n, g);
        every_index_once(1000, 1000);
        every_index_once(1000, 5000);
        index_types();
        nested();
    }), 0);
    std::printf("ok\n");
    return 0;
}
