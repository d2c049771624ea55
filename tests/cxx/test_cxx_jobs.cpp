// fiberjob.hpp: lambdas as jobs (small, large, over-aligned and move-only
// captures), task groups waited explicitly and in destructors, reuse, nesting,
// fj::counter, fj::count_scope, fj::job_ref, fj::parallel_invoke, fj::run and
// fj::scheduler (and its misuse: a bad configuration throws fj::error).
#include <array>
#include <chrono>
#include <thread>
#include <atomic>
#include <memory>

#include "fiberjob.hpp"
#include "test.h"

namespace {

std::atomic<long> copies{0}, destroyed{0}, made{0};

// Counts its lives, to check that a group destroys each stored callable once.
struct tracker {
    tracker() { made++; }
    tracker(const tracker &) { copies++; made++; }
    tracker(tracker &&) noexcept { made++; }
    ~tracker() { destroyed++; }
};

struct alignas(64) aligned_payload {
    unsigned char bytes[64];
};

void small_and_large_captures()
{
    std::atomic<long> sum{0};
    {
        fj::task_group g;
        for (int i = 0; i < 1000; i++)
            g.run([&sum, i] { sum += i; });
        g.wait();
        CHECK_EQ(sum.load(), 999L * 1000 / 2);
        CHECK_EQ(g.pending(), 0);
        CHECK_EQ(g.panics(), 0u);
    }

    // 1 KiB captured by value: bigger than the inline buffer, in heap chunks.
    sum = 0;
    {
        fj::task_group g;
        for (int i = 0; i < 300; i++) {
            std::array<std::uint64_t, 128> big;
            for (std::size_t k = 0; k < big.size(); k++)
                big[k] = static_cast<std::uint64_t>(i) * 1000 + k;
            g.run([&sum, big, i] {
                std::uint64_t s = 0;
                for (std::size_t k = 0; k < big.size(); k++) {
                    CHECK(big[k] == static_cast<std::uint64_t>(i) * 1000 + k);
                    s += big[k];
                }
                sum += static_cast<long>(s);
            });
        }
        g.wait();
    }
    long expect = 0;
    for (long i = 0; i < 300; i++)
        expect += i * 1000 * 128 + 127 * 128 / 2;
    CHECK_EQ(sum.load(), expect);

    // A capture bigger than a first heap chunk (4 KiB) gets a chunk of its own.
    {
        fj::task_group g;
        std::array<char, 10000> huge{};
        huge[9999] = 7;
        g.run([&sum, huge] { sum += huge[9999]; });
    }
    CHECK_EQ(sum.load(), expect + 7);
}

void over_aligned_and_move_only()
{
    std::atomic<int> ok{0};
    fj::task_group g;
    for (int i = 0; i < 50; i++) {
        aligned_payload p{};
        p.bytes[0] = static_cast<unsigned char>(i);
        g.run([&ok, p, i] {
            if (reinterpret_cast<std::uintptr_t>(&p) % 64 == 0 && p.bytes[0] == i)
                ok++;
        });
    }
    std::atomic<int> deleted{0};
    auto del = [&deleted](int *q) {
        delete q;
        deleted++;
    };
    for (int i = 0; i < 20; i++) {
        std::unique_ptr<int, decltype(del)> owned(new int(i), del);
        g.run([&ok, owned = std::move(owned), i] {
            if (*owned == i)
                ok++;
        });
    }
    g.wait();
    CHECK_EQ(ok.load(), 70);
    CHECK_EQ(deleted.load(), 20); // destroyed with the job's callable, before wait returned
}

void each_callable_destroyed_once()
{
    copies = destroyed = made = 0;
    {
        fj::task_group g;
        tracker t;
        for (int i = 0; i < 100; i++)
            g.run([t] { (void)t; });         // copied into the lambda, the lambda moved in
        g.wait();
        CHECK_EQ(destroyed.load(), made.load() - 1); // all but `t` itself
    }
    CHECK_EQ(destroyed.load(), made.load());
}

void waited_in_destructors()
{
    std::atomic<int> done{0};
    {
        fj::task_group g;
        for (int i = 0; i < 64; i++)
            g.run([&done] {
                for (int k = 0; k < 3; k++)
                    fj_yield();
                done++;
            });
    } // ~task_group waits
    CHECK_EQ(done.load(), 64);

    // A group in a job waits for its own jobs; groups nest.
    done = 0;
    {
        fj::task_group outer;
        for (int i = 0; i < 8; i++)
            outer.run([&done] {
                fj::task_group inner;
                for (int k = 0; k < 8; k++)
                    inner.run([&done] { done++; });
            });
    }
    CHECK_EQ(done.load(), 64);

    // Reuse after wait, with the storage it kept: many rounds.
    fj::task_group g({"reused", FJ_PRIORITY_HIGH, 0});
    for (int round = 0; round < 100; round++) {
        for (int i = 0; i < 40; i++)
            g.run([&done] { done++; });
        g.wait();
    }
    CHECK_EQ(done.load(), 64 + 4000);

    // Names and options reach the job.
    fj::task_group named;
    named.run("named job", [] { CHECK(std::strcmp(fj_current_job_name(), "named job") == 0); });
    named.run([] { CHECK(std::strcmp(fj_current_job_name(), "fj::task_group") == 0); });
    named.run(fj::job_options{"large", FJ_PRIORITY_LOW, FJ_JOB_LARGE_STACK}, [] {
        volatile char big[200 * 1024]; // fits only a large stack
        big[0] = 1;
        big[sizeof big - 1] = 1;
        CHECK(std::strcmp(fj_current_job_name(), "large") == 0);
    });
    named.wait();
}

void counters_and_refs()
{
    std::atomic<int> n{0};
    auto work = [&n] { n++; };
    {
        fj::counter c;
        fj_job jobs[3] = {fj::job_ref(work), fj::job_ref(work, {"work"}), fj::job_ref(work)};
        c.run(jobs, 3);
        c.run(fj::job_ref(work));
        c.wait();
        CHECK_EQ(n.load(), 4);
        CHECK_EQ(c.value(), 0);
        c.run(fj::job_ref(work));
    } // ~counter waits
    CHECK_EQ(n.load(), 5);

    // Hand-managed counts and count_scope.
    fj::counter c(2);
    CHECK_EQ(c.value(), 2);
    c.done(2);
    c.add(1);
    fj::task_group g;
    g.run([&c] { c.done(); });
    c.wait();
    {
        fj::count_scope scope(c);
        CHECK_EQ(c.value(), 1);
    }
    CHECK_EQ(c.value(), 0);
    {
        fj::count_scope scope(*c.native());
        CHECK_EQ(fj_counter_value(c.native()), 1);
    }
    CHECK_EQ(c.value(), 0);

    // A count handed to a thread outside (the loading pattern): it finishes
    // it later, and the wait is not judged a deadlock meanwhile.
    c.add_outside(1);
    CHECK_EQ(c.value(), 1);
    std::thread io([&c] {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        c.done();
    });
    c.wait();
    io.join();
    CHECK_EQ(c.value(), 0);

    // parallel_invoke runs each callable once.
    std::atomic<int> a{0}, b{0};
    CHECK_EQ(fj::parallel_invoke([&] { a++; }, [&] { b += 2; }, work), 0u);
    CHECK_EQ(a.load() + b.load(), 3);
    CHECK_EQ(n.load(), 6);
}

void handles()
{
    // fj::handle: join() says whether the job panicked; a moved-from handle
    // is empty; the destructor joins one nobody joined.
    std::atomic<int> n{0};
    auto work = [&n] { n++; };
    auto boom = [] { fj_panic("handle job fails"); };
    fj::handle a(fj::job_ref(work, {"a"}));
    fj::handle b(std::move(a));
    CHECK(!a.joinable());
    CHECK(b.joinable());
    CHECK(!b.join());
    CHECK(!b.joinable());
    CHECK_EQ(n.load(), 1);
    fj::handle bad(fj::job_ref(boom, {"boom"}));
    CHECK(bad.join());
    {
        fj::handle c(fj::job_ref(work));
        fj::handle d(fj::job_ref(work));
        c = std::move(d);   // joins c's first job
        CHECK(n.load() >= 2);
    } // ~handle joins d's job (now in c)
    CHECK_EQ(n.load(), 3);
    fj_handle raw = fj::handle(fj::job_ref(work)).release();
    CHECK_EQ(fj_join(raw), 0);
    CHECK_EQ(n.load(), 4);
}

void from_outside()
{
    // A task group on a thread outside the scheduler: submissions go through
    // the injection queue, the wait blocks the thread. Needs a worker besides
    // the (absent) fj_main thread.
    std::atomic<int> done{0};
    {
        fj::task_group g;
        for (int i = 0; i < 10; i++)
            g.run([&done] { done++; });
    }
    CHECK_EQ(done.load(), 10);
    std::atomic<long> sum{0};
    CHECK_EQ(fj::parallel_for(0, 1000, 0, [&](int i) { sum += i; }), 0u);
    CHECK_EQ(sum.load(), 999L * 1000 / 2);
}

} // namespace

int main(int argc, char **argv)
{
    unsigned workers = test_workers(argc, argv);

    // Misuse: a configuration fj_create refuses throws fj::error with its code.
    {
        fj_config bad = fj_config_default();
        bad.small_fibers = 0;
        bool thrown = false;
        try {
            fj::scheduler s(bad);
        } catch (const fj::error &e) {
            thrown = true;
            CHECK_EQ(e.code(), FJ_EINVAL);
            CHECK(std::strcmp(e.what(), fj_strerror(FJ_EINVAL)) == 0);
        }
        CHECK(thrown);
    }

    static test::panic_log plog;   // handles() makes one job panic
    fj_config cfg = test::config(workers, &plog);
    fj::scheduler s(cfg);
    CHECK(s);
    CHECK_EQ(s.workers(), workers);
    int ran = 0;
    CHECK_EQ(fj::run(s, [&] {
        small_and_large_captures();
        over_aligned_and_move_only();
        each_callable_destroyed_once();
        waited_in_destructors();
        counters_and_refs();
        handles();
        ran = 1;
    }), 0);
    CHECK_EQ(ran, 1);
    if (workers > 1)
        from_outside();

    // set_active_workers: the limit; out of range is refused, nothing changes.
    CHECK_EQ(s.active_workers(), workers);
    CHECK_EQ(s.set_active_workers(0), FJ_EINVAL);
    CHECK_EQ(s.set_active_workers(workers + 1), FJ_EINVAL);
    CHECK_EQ(s.set_active_workers(1), 0);
    CHECK_EQ(s.active_workers(), 1u);
    int on_zero = 0;
    CHECK_EQ(fj::run(s, [&] {
        fj::task_group g;
        for (int i = 0; i < 64; i++)
            g.run([&] { __atomic_fetch_add(&on_zero, fj_worker_index() == 0, __ATOMIC_RELAXED); });
    }), 0);
    CHECK_EQ(on_zero, 64);   // one worker takes work: worker 0
    CHECK_EQ(s.set_active_workers(workers), 0);

    // The scheduler moves; the moved-from one is empty.
    fj::scheduler moved(std::move(s));
    CHECK(!s);
    CHECK(moved);
    CHECK_EQ(fj::run(moved.get(), [] {}), 0);
    CHECK_EQ(fj::run(s, [] {}), FJ_EINVAL); // empty: fj_main(NULL, ...)
    std::printf("ok\n");
    return 0;
}
