// fiberjob.hpp: exceptions thrown by lambda jobs become panics with what(),
// counted on the counter of the job (task_group::panics, counter::panics, the
// return of parallel_for and parallel_invoke), with every destructor run; the
// other jobs carry on. fj_panic from a lambda job; a throwing root (fj::run
// returns FJ_EPANIC); a group destroyed by an exception's unwinding.
#include <atomic>
#include <stdexcept>

#include "fiberjob.hpp"
#include "test.h"

namespace {

std::atomic<long> lives{0};

struct alive {
    alive() { lives++; }
    alive(const alive &) { lives++; }
    alive(alive &&) noexcept { lives++; }
    ~alive() { lives--; }
};

test::panic_log plog;

void group_exceptions()
{
    std::atomic<int> ran{0};
    {
        fj::task_group g;
        alive a;
        for (int i = 0; i < 10; i++)
            g.run([&ran, a, i] {
                alive local;
                if (i % 3 == 0)
                    throw std::runtime_error("boom " + std::to_string(i));
                ran++;
            });
        g.wait();
        CHECK_EQ(g.panics(), 4u); // 0, 3, 6, 9
        CHECK_EQ(ran.load(), 6);
        CHECK_EQ(lives.load(), 1); // only `a`: each job's capture and local died
    }
    CHECK_EQ(lives.load(), 0);
    CHECK_EQ(plog.count_containing("uncaught C++ exception: boom "), 4u);
    CHECK_EQ(plog.count_containing("uncaught C++ exception: boom 9"), 1u);

    // fj_panic from a lambda: the same count, the capture still destroyed.
    plog.clear();
    {
        fj::task_group g;
        alive a;
        g.run([a] { fj_panic("lambda panic %d", 7); });
        g.run([a] {});
        g.wait();
        CHECK_EQ(g.panics(), 1u);
        CHECK_EQ(lives.load(), 1);
    }
    CHECK_EQ(plog.count_containing("lambda panic 7"), 1u);
}

void other_forms()
{
    plog.clear();
    auto thrower = [] { throw std::logic_error("from a ref job"); };
    fj::counter c;
    c.run(fj::job_ref(thrower, {"thrower"}));
    c.wait();
    CHECK_EQ(c.panics(), 1u);
    CHECK_EQ(plog.count_containing("uncaught C++ exception: from a ref job"), 1u);

    std::atomic<int> fine{0};
    CHECK_EQ(fj::parallel_invoke([&] { fine++; }, [] { throw std::runtime_error("invoke"); }, [&] { fine++; }), 1u);
    CHECK_EQ(fine.load(), 2);

    // parallel_for: a chunk that throws loses only itself.
    std::atomic<int> done{0};
    std::uint32_t failed = fj::parallel_for(0, 1000, 1, [&](int i) {
        if (i % 100 == 42)
            throw std::out_of_range("bad index");
        done++;
    });
    CHECK_EQ(failed, 10u);
    CHECK_EQ(done.load(), 990);
    done = 0;
    failed = fj::parallel_for(0, 1000, 10, [&](int lo, int hi) {
        if (lo == 500)
            throw std::runtime_error("bad chunk");
        done += hi - lo;
    });
    CHECK_EQ(failed, 1u);
    CHECK_EQ(done.load(), 990);

#ifdef FJ_TEST_LIB_CXX_BOUNDARY
    // Not a std::exception: the library's own boundary makes it a panic.
    fj::task_group g;
    g.run([] { throw 42; });
    g.wait();
    CHECK_EQ(g.panics(), 1u);
    CHECK_EQ(plog.count_containing("not derived from std::exception"), 1u);
#endif
}

void unwinding_waits()
{
    // A job throws while a group of its own has jobs outstanding: the group's
    // destructor waits during the unwinding, then the job panics.
    std::atomic<int> inner_done{0};
    fj::task_group outer;
    outer.run([&inner_done] {
        fj::task_group inner;
        for (int i = 0; i < 8; i++)
            inner.run([&inner_done] {
                fj_yield();
                inner_done++;
            });
        throw std::runtime_error("leaving with work outstanding");
    });
    outer.wait();
    CHECK_EQ(outer.panics(), 1u);
    CHECK_EQ(inner_done.load(), 8);
}

} // namespace

int main(int argc, char **argv)
{
    unsigned workers = test_workers(argc, argv);
    fj::scheduler s(test::config(workers, &plog));
    CHECK_EQ(fj::run(s, [] {
        group_exceptions();
        other_forms();
        unwinding_waits();
    }), 0);
    CHECK_EQ(lives.load(), 0);

    // The root job throws: fj::run returns FJ_EPANIC, destructors ran.
    plog.clear();
    CHECK_EQ(fj::run(s, [] {
        alive a;
        throw std::runtime_error("root failed");
    }), FJ_EPANIC);
    CHECK_EQ(lives.load(), 0);
    CHECK_EQ(plog.count_containing("uncaught C++ exception: root failed"), 1u);
    std::printf("ok\n");
    return 0;
}
