// parallel_for.cpp: the same loop as parallel_for.c, with the C++ layer
// (fiberjob.hpp): a scheduler object, the root job as a lambda, the range
// split by fj::parallel_for, and a task group for a few unrelated jobs.
//
//   ./example_parallel_for_cxx [workers]
#include <fiberjob.hpp>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <vector>

int main(int argc, char **argv)
{
    fj_config cfg = fj_config_default();
    if (argc > 1)
        cfg.workers = static_cast<unsigned>(std::atoi(argv[1]));
    fj::scheduler sched(cfg);                    // throws fj::error if fj_create fails

    std::vector<float> v(1u << 20);
    for (std::size_t i = 0; i < v.size(); i++)
        v[i] = static_cast<float>(i % 100);
    double sum = 0;
    int rc = fj::run(sched, [&] {                // the root job; this thread is worker 0
        // A body taking (lo, hi) is called once per chunk; grain 0 picks the
        // chunk size. Chunks run concurrently: each writes only its own part.
        fj::parallel_for(std::size_t{0}, v.size(), 0, [&](std::size_t lo, std::size_t hi) {
            for (std::size_t i = lo; i < hi; i++)
                v[i] = v[i] * 0.5f + 1.0f;
        });

        // A reduction: partial sums per chunk of 64 Ki elements, added up after.
        const std::size_t grain = 1u << 16;
        std::vector<double> partial(v.size() / grain);
        fj::parallel_for(std::size_t{0}, v.size(), grain, [&](std::size_t lo, std::size_t hi) {
            double s = 0;
            for (std::size_t i = lo; i < hi; i++)
                s += v[i];
            partial[lo / grain] = s;
        });
        for (double s : partial)
            sum += s;

        // Unrelated jobs: the lambdas are stored in the group (no allocation
        // when they are small) and the group waits for them when it goes out
        // of scope.
        std::atomic<int> checks{0};
        fj::task_group g;
        g.run("check first", [&] { checks += v.front() == 1.0f; });
        g.run("check last", [&] { checks += v.back() == (v.size() - 1) % 100 * 0.5f + 1.0f; });
        g.wait();
        if (checks != 2)
            throw std::runtime_error("wrong values"); // becomes a panic: fj::run returns FJ_EPANIC
    });

    double expect = 0;
    for (std::size_t i = 0; i < v.size(); i++)
        expect += static_cast<float>(i % 100) * 0.5f + 1.0f;
    bool ok = rc == 0 && sum == expect;
    std::printf("%u workers: sum %.0f (%s)\n", sched.workers(), sum, ok ? "ok" : "WRONG");
    return ok ? 0 : 1;
}
