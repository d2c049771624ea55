// fj::counter::wait_for / wait_until with std::chrono: a wait that times out
// (the counted job is held back) returns false, one that is reached returns
// true, a deadline in the past returns at once; inside a job and outside.
#include <chrono>
#include <thread>

#include "fiberjob.hpp"
#include "test.h"

namespace {

fj_counter gate;

void held(void *) { fj_wait(&gate, 0); }

} // namespace

int main(int argc, char **argv)
{
    using namespace std::chrono_literals;
    fj_config cfg = test_config(argc, argv);
    fj::scheduler s(cfg);
    CHECK_EQ(fj::run(s, [] {
        fj_counter_init(&gate, 1);
        fj::counter c;
        c.run(fj_job{ held, nullptr, "held", FJ_PRIORITY_NORMAL, 0 });
        CHECK(!c.wait_for(10ms));
        CHECK(!c.wait_until(std::chrono::steady_clock::now() + 5ms));
        CHECK(!c.wait_until(std::chrono::steady_clock::now() - 1s));   // in the past
        CHECK(c.wait_for(0ms, 1));                                       // target 1: reached
        fj_counter_done(&gate, 1);
        CHECK(c.wait_for(60s));
        CHECK(c.wait_until(std::chrono::system_clock::now() - 1s));     // reached: true at once
    }), 0);
    return test_finish();
}
