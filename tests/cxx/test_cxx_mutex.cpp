// fj::mutex: with fj::lock_guard, std::unique_lock (try_to_lock, deferred,
// unlock and relock) and std::scoped_lock, from jobs that wait inside the
// critical section and from a thread outside the scheduler; the total kept
// under the mutex is exact. Misuse in C++: unlocking an fj::mutex nobody
// holds stops the process with the C line. fj::condition_variable with
// std::unique_lock<fj::mutex> and a predicate: a bounded queue with job and
// outside-thread producers and consumers; every item arrives once.
#include <atomic>
#include <deque>
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

    // A bounded queue (capacity 2) under m with two condition variables.
    fj::condition_variable not_full, not_empty;
    std::deque<int> q;
    int produced = 0, consumed = 0;
    long sum = 0;
    const int items = 400;
    auto produce = [&](int n) {
        for (int i = 0; i < n; i++) {
            std::unique_lock<fj::mutex> l(m);
            not_full.wait(l, [&] { return q.size() < 2; });
            q.push_back(++produced);
            not_empty.notify_one();
        }
    };
    auto consume = [&] {
        for (;;) {
            std::unique_lock<fj::mutex> l(m);
            not_empty.wait(l, [&] { return !q.empty() || consumed == items; });
            if (consumed == items) {
                not_empty.notify_all();
                return;
            }
            sum += q.front();
            q.pop_front();
            if (++consumed == items)
                not_empty.notify_all();
            l.unlock();
            not_full.notify_one();
        }
    };
    std::thread outside_consumer(consume);
    std::thread outside_producer([&] { produce(100); });
    CHECK_EQ(fj::run(s, [&] {
        fj::task_group g;
        for (int j = 0; j < 3; j++)
            g.run([&] { produce(100); });
        for (int j = 0; j < 3; j++)
            g.run(consume);
        g.wait();
    }), 0);
    outside_consumer.join();
    outside_producer.join();
    CHECK_EQ(consumed, items);
    CHECK_EQ(sum, (long)items * (items + 1) / 2);
    return test_finish();
}
