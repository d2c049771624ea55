// fj::mutex: with fj::lock_guard, std::unique_lock (try_to_lock, deferred,
// unlock and relock) and std::scoped_lock, from jobs that wait inside the
// critical section and from a thread outside the scheduler; the total kept
// under the mutex is exact. Misuse in C++: unlocking an fj::mutex nobody
// holds stops the process with the C line.
#include <atomic>
#include <mutex>
#include <thread>

#include "fiberjob.hpp"
#include "test.h"

namespace {

fj::mutex *mu;
long total;   // plain: under *mu only
std::atomic<int> inside{0};

void critical_step()
{
    if (inside.fetch_add(1) != 0)
        FAIL_SOFT("two holders of fj::mutex at once");
    long v = total;
    fj_yield();
    total = v + 1;
    inside.fetch_sub(1);
}

void unlock_unheld(void *)
{
    fj::mutex m;
    m.unlock();
}

} // namespace

int main(int argc, char **argv)
{
    // Before any scheduler exists: children are forked from one thread.
    EXPECT_ABORT_MATCH(unlock_unheld, nullptr, "fiberjob: fj_mutex_unlock: mutex ", " is not locked (outside any job)");
    fj_config cfg = test_config(argc, argv);
    fj::scheduler s(cfg);
    fj::mutex m;
    mu = &m;
    std::atomic<bool> go{false};
    std::thread outside([&] {
        while (!go.load())
            std::this_thread::yield();
        for (int i = 0; i < 200; i++) {
            fj::lock_guard g(m);
            if (inside.fetch_add(1) != 0)
                FAIL_SOFT("two holders of fj::mutex at once (outside thread)");
            total++;
            inside.fetch_sub(1);
        }
    });
    CHECK_EQ(fj::run(s, [&] {
        fj::task_group g;
        go = true;
        for (int j = 0; j < 32; j++) {
            g.run([j] {
                for (int r = 0; r < 10; r++) {
                    switch ((j + r) % 3) {
                    case 0: {
                        fj::lock_guard l(*mu);
                        critical_step();
                        break;
                    }
                    case 1: {
                        std::unique_lock<fj::mutex> l(*mu, std::defer_lock);
                        l.lock();
                        critical_step();
                        l.unlock();
                        l.lock();   // relock: one more step
                        critical_step();
                        break;
                    }
                    default: {
                        std::unique_lock<fj::mutex> l(*mu, std::try_to_lock);
                        if (!l.owns_lock())
                            l.lock();
                        critical_step();
                    }
                    }
                }
            });
        }
        g.wait();
        {
            std::scoped_lock l(*mu);
            CHECK(!mu->try_lock());
        }
    }), 0);
    outside.join();
    long expect = 200;
    for (int j = 0; j < 32; j++)
        for (int r = 0; r < 10; r++)
            expect += (j + r) % 3 == 1 ? 2 : 1;
    CHECK_EQ(total, expect);
    return test_finish();
}
