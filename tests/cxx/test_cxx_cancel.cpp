// fiberjob.hpp: fj::counter::cancel, is_cancelled, cancelled and fj::cancelled.
//  - jobs counted on an fj::counter after cancel() (a hand-managed count keeps
//    the round open) are skipped on any worker count; the counter's
//    destructor still returns; the next round on the same counter runs;
//  - a job_ref job that polls fj::cancelled() stops once the counter is
//    cancelled, and is counted as run, not skipped.
#include <atomic>

#include "fiberjob.hpp"
#include "test.h"

namespace {

void skipped_then_reused()
{
    std::atomic<int> ran{0};
    auto work = [&ran] { ran++; };
    {
        fj::counter c;
        c.add();
        c.cancel();
        CHECK(c.is_cancelled());
        for (int i = 0; i < 100; i++)
            c.run(fj::job_ref(work));
        c.done();
        c.wait();
        CHECK_EQ(ran.load(), 0);
        CHECK_EQ(c.cancelled(), 100u);
        CHECK_EQ(c.panics(), 0u);
        // A new round: not cancelled.
        for (int i = 0; i < 10; i++)
            c.run(fj::job_ref(work));
        CHECK(!c.is_cancelled());
    } // waits
    CHECK_EQ(ran.load(), 10);
}

void poll()
{
    std::atomic<int> started{0}, stopped{0};
    auto poller = [&] {
        CHECK(!fj::cancelled());
        started = 1;
        while (!fj::cancelled())
            fj_yield();
        stopped = 1;
    };
    fj::counter c;
    c.run(fj::job_ref(poller, {"poller"}));
    while (!started.load())
        fj_yield();
    CHECK(!fj::cancelled()); // the root has no counter
    c.cancel();
    c.wait();
    CHECK_EQ(stopped.load(), 1);
    CHECK_EQ(c.cancelled(), 0u);
}

} // namespace

int main(int argc, char **argv)
{
    fj_config cfg = fj_config_default();
    cfg.workers = test_workers(argc, argv);
    fj::scheduler s(cfg);
    CHECK_EQ(fj::run(s, [] {
                 skipped_then_reused();
                 poll();
             }),
             0);
    CHECK(!fj::cancelled());
    return test_finish();
}
