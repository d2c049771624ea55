// fj::counter::run_after: a diamond (A -> B, C -> D) of plain C jobs counted
// on fj::counter objects, launched when their inputs are done, with no fiber
// waiting; D sees what B and C wrote. An error code comes back as fj::error
// (nothing here runs out of ids, so only the happy path and the C misuse
// line are checked: a NULL prerequisite stops the process naming the call).
#include <atomic>

#include "fiberjob.hpp"
#include "test.h"

namespace {

int a_val, b_val, c_val, d_val;
std::atomic<int> order{0};
int seen[4];

void job_a(void *) { a_val = 1; seen[0] = ++order; }
void job_b(void *) { b_val = a_val + 10; seen[1] = ++order; }
void job_c(void *) { c_val = a_val + 100; seen[2] = ++order; }
void job_d(void *) { d_val = b_val + c_val; seen[3] = ++order; }

void null_prereq(void *)
{
    fj::scheduler s(fj_config_default());
    fj::run(s, [] {
        fj::counter done;
        done.run_after({ nullptr }, fj_job{ job_a, nullptr, "a", FJ_PRIORITY_NORMAL, 0 });
    });
}

} // namespace

int main(int argc, char **argv)
{
    EXPECT_ABORT_MATCH(null_prereq, nullptr, "fiberjob: fj_run_jobs_after: prerequisite 0 of 1 has a NULL counter",
                       " (in job ");
    fj_config cfg = test_config(argc, argv);
    fj::scheduler s(cfg);
    for (int rep = 0; rep < 20; rep++) {
        order = 0;
        a_val = b_val = c_val = d_val = 0;
        CHECK_EQ(fj::run(s, [] {
            fj::counter a, b, c, d;   // destroyed in reverse: each waits for zero
            a.run(fj_job{ job_a, nullptr, "A", FJ_PRIORITY_NORMAL, 0 });
            CHECK_EQ(b.run_after({ &a }, fj_job{ job_b, nullptr, "B", FJ_PRIORITY_NORMAL, 0 }), 0);
            CHECK_EQ(c.run_after({ &a }, fj_job{ job_c, nullptr, "C", FJ_PRIORITY_NORMAL, 0 }), 0);
            CHECK_EQ(d.run_after({ &b, &c }, fj_job{ job_d, nullptr, "D", FJ_PRIORITY_NORMAL, 0 }), 0);
            d.wait();
        }), 0);
        CHECK_EQ(d_val, 112);
        CHECK(seen[0] < seen[1] && seen[0] < seen[2] && seen[1] < seen[3] && seen[2] < seen[3]);
    }
    return test_finish();
}
