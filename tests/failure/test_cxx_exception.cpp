// A C++ exception escaping a job becomes a panic with its what(); destructors
// run during the unwinding, both for exceptions and for fj_panic.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

#include "fiberjob.h"

#define CHECK(c) do { if (!(c)) { std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #c); std::exit(1); } } while (0)

static int destroyed;
static std::string last_message;

struct Tracker {
    ~Tracker() { __atomic_fetch_add(&destroyed, 1, __ATOMIC_RELAXED); }
};

static void throws_std(void *) { Tracker t; throw std::runtime_error("disk on fire"); }
static void throws_int(void *) { Tracker t; throw 42; }
static void panics(void *) { Tracker a; { Tracker b; fj_panic("plain panic from C++"); } }

static void hook(const fj_panic_info *info, void *)
{
    last_message = info->message;
}

static void root(void *)
{
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_job j = { throws_std, nullptr, "throws_std", FJ_PRIORITY_NORMAL, 0 };
    fj_run_jobs(&j, 1, &c);
    fj_wait(&c, 0);
    CHECK(fj_counter_panics(&c) == 1);
    CHECK(last_message == "uncaught C++ exception: disk on fire");
    CHECK(destroyed == 1);

    j.fn = throws_int;
    fj_run_jobs(&j, 1, &c);
    fj_wait(&c, 0);
    CHECK(fj_counter_panics(&c) == 2);
    CHECK(last_message.find("not derived from std::exception") != std::string::npos);
    CHECK(destroyed == 2);

    j.fn = panics;
    fj_run_jobs(&j, 1, &c);
    fj_wait(&c, 0);
    CHECK(fj_counter_panics(&c) == 3);
    CHECK(last_message == "plain panic from C++");
    CHECK(destroyed == 4);
}

int main(int argc, char **argv)
{
    fj_config cfg = fj_config_default();
    cfg.workers = argc > 1 ? (unsigned)std::atoi(argv[1]) : 2;
    cfg.panic_hook = hook;
    fj_scheduler *s = fj_create(&cfg);
    CHECK(s);
    CHECK(fj_main(s, root, nullptr) == 0);
    fj_destroy(s);
    std::printf("ok\n");
    return 0;
}
