// A C++ program built against an installed fiberjob, through fiberjob.hpp.
#include <fiberjob.hpp>

#include <atomic>
#include <cstdio>
#include <cstdlib>

int main(int argc, char **argv)
{
    fj_config cfg = fj_config_default();
    cfg.workers = argc > 1 ? static_cast<unsigned>(std::atoi(argv[1])) : 2;
    fj::scheduler sched(cfg);
    std::atomic<long> sum{0};
    std::atomic<int> group{0};
    int rc = fj::run(sched, [&] {
        fj::parallel_for(0, 1000, 0, [&](int i) { sum += i; });
        fj::task_group g;
        for (int i = 0; i < 10; i++)
            g.run([&group, i] { group += i; });
    });
    bool ok = rc == 0 && sum == 999L * 1000 / 2 && group == 45;
    std::printf("consumer_hpp: %ld %d (%s)\n", sum.load(), group.load(), ok ? "ok" : "WRONG");
    return ok ? 0 : 1;
}
