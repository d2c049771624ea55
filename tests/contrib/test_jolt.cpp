// contrib/fj_jolt.hpp against a stand-in for Jolt's JobSystem interface
// (jolt_standin.hpp; Jolt is not installed here). A stand-in physics step:
//  - a chain A -> B -> C and a diamond D -> (E, F) -> G, each job removing a
//    dependency of the next when it is done (Jolt's pattern), created
//    dependents first and added to a barrier before they can run;
//  - a cooperative stage: GetMaxConcurrency() jobs share one work list, each
//    claims items until none is left and then spins (yielding the thread)
//    until every claimed item is done, as Jolt's step jobs do;
//  - a job that finished before it was added to the barrier;
//  - WaitForJobs on the barrier, then DestroyBarrier at once.
// Checked: every job ran once, after the jobs it depends on; every item was
// done once. Steps run in the root job, in several jobs at once, and on a
// thread outside the scheduler.
// Also: a job system on the heap deleted as soon as WaitForJobs returned,
// while the worker that ran the last job is held (by the stand-in's
// test_after_execute) before it releases the job, whose last Release calls
// the job system's FreeJob.
#include <atomic>
#include <pthread.h>
#include <sched.h>
#include <time.h>

#include "jolt_standin.hpp"
#include "fj_jolt.hpp"
#include "test.h"

namespace {

enum { ITEMS = 500 };

struct step_state {
    std::atomic<int> seq{ 0 };
    std::atomic<int> order[7];       // A..G: when each ran (seq + 1), 0: not yet
    std::atomic<int> runs[7];
    std::atomic<int> next_item{ 0 };
    std::atomic<int> items_done{ 0 };
    std::atomic<int> item_runs[ITEMS];
    std::atomic<int> early{ 0 };
    step_state()
    {
        for (auto &o : order)
            o = 0;
        for (auto &r : runs)
            r = 0;
        for (auto &r : item_runs)
            r = 0;
    }
    void mark(int job)
    {
        runs[job]++;
        order[job] = ++seq;
    }
};

void physics_step(fj_jolt::JobSystemFiber &js)
{
    step_state st;
    JPH::JobSystem::Barrier *barrier = js.CreateBarrier();
    enum { A, B, C, D, E, F, G };
    // Dependents first (they wait for a RemoveDependency), then the roots.
    JPH::JobHandle c = js.CreateJob("C", JPH::Color::sRed, [&] { st.mark(C); }, 1);
    JPH::JobHandle b = js.CreateJob("B", JPH::Color::sRed, [&, c] {
        st.mark(B);
        c.RemoveDependency();
    }, 1);
    JPH::JobHandle g = js.CreateJob("G", JPH::Color::sBlue, [&] { st.mark(G); }, 2);
    JPH::JobHandle e = js.CreateJob("E", JPH::Color::sBlue, [&, g] {
        st.mark(E);
        g.RemoveDependency();
    }, 1);
    JPH::JobHandle f = js.CreateJob("F", JPH::Color::sBlue, [&, g] {
        st.mark(F);
        g.RemoveDependency();
    }, 1);
    JPH::JobHandle handles[] = { c, b, g, e, f };
    barrier->AddJobs(handles, 5);
    JPH::JobHandle a = js.CreateJob("A", JPH::Color::sRed, [&, b] {
        st.mark(A);
        b.RemoveDependency();
    });
    JPH::JobHandle d = js.CreateJob("D", JPH::Color::sBlue, [&, e, f] {
        st.mark(D);
        JPH::JobHandle ef[] = { e, f };
        for (auto &h : ef)
            h.RemoveDependency();
    });
    barrier->AddJob(a);
    barrier->AddJob(d);

    // The cooperative stage.
    int n = js.GetMaxConcurrency();
    for (int i = 0; i < n; i++) {
        barrier->AddJob(js.CreateJob("cooperate", JPH::Color::sGreen, [&] {
            for (;;) {
                int item = st.next_item.fetch_add(1);
                if (item >= ITEMS)
                    break;
                st.item_runs[item]++;
                st.items_done++;
            }
            while (st.items_done.load() != ITEMS)
                sched_yield();
        }));
    }

    // A job that is done before the barrier hears of it.
    JPH::JobHandle quick = js.CreateJob("quick", JPH::Color::sGreen, [] {});
    while (!quick.IsDone()) {
        if (fj_worker_index() >= 0)
            fj_yield();
        else
            sched_yield();
    }
    barrier->AddJob(quick);

    js.WaitForJobs(barrier);
    js.DestroyBarrier(barrier);

    for (int j = 0; j < 7; j++)
        CHECK_EQ(st.runs[j].load(), 1);
    CHECK(st.order[A] < st.order[B] && st.order[B] < st.order[C]);
    CHECK(st.order[D] < st.order[E] && st.order[D] < st.order[F]);
    CHECK(st.order[E] < st.order[G] && st.order[F] < st.order[G]);
    CHECK_EQ(st.items_done.load(), ITEMS);
    for (int i = 0; i < ITEMS; i++)
        CHECK_EQ(st.item_runs[i].load(), 1);
    // A barrier promises that its jobs' functions have run, not that they
    // are marked done: Execute (Jolt's order, kept by the stand-in) leaves
    // the barrier before it stores the done state, and AddJob on a job in
    // between finds the barrier slot closed and does not wait for it (a CI
    // run under TSan caught A in that window). Done they become, soon.
    while (!(a.IsDone() && g.IsDone() && c.IsDone()))
        sched_yield();
}

fj_scheduler *sched;
constexpr int STEPS = 100;

void steps(void *)
{
    fj_jolt::JobSystemFiber js(sched);
    for (int i = 0; i < STEPS; i++)
        physics_step(js);
}

void root_steps(void *arg)
{
    steps(arg);
    // Several worlds at once, each stepped from a job of its own.
    fj_handle h[3];
    const fj_job world{ steps, nullptr, "world", FJ_PRIORITY_NORMAL, 0 };
    for (auto &x : h)
        x = fj_spawn(&world);
    for (auto &x : h)
        CHECK_EQ(fj_join(x), 0);
}

void hold_worker()
{
    struct timespec ts = { 0, 20 * 1000 * 1000 };
    nanosleep(&ts, nullptr);
}

void destroy_after_wait()
{
    std::atomic<int> ran{ 0 };
    JPH::test_after_execute = hold_worker;
    auto *js = new fj_jolt::JobSystemFiber(sched);
    JPH::JobSystem::Barrier *barrier = js->CreateBarrier();
    {
        JPH::JobHandle h = js->CreateJob("late release", JPH::Color::sRed, [&] { ran++; });
        barrier->AddJob(h);
    }   // from here only the fiberjob job holds the Jolt job
    js->WaitForJobs(barrier);
    js->DestroyBarrier(barrier);
    delete js;   // must wait for the held worker's Release
    JPH::test_after_execute = nullptr;
    CHECK_EQ(ran.load(), 1);
}

fj_counter outside_done;

void *outside(void *)
{
    destroy_after_wait();
    steps(nullptr);
    fj_counter_done(&outside_done, 1);
    return nullptr;
}

int keep_waiting(const fj_deadlock_info *, void *) { return 1; }

void root_waits(void *) { fj_wait(&outside_done, 0); }

} // namespace

int main(int argc, char **argv)
{
    fj_config cfg = test_config(argc, argv);
    cfg.deadlock_hook = keep_waiting;
    sched = fj_create(&cfg);
    CHECK(sched);
    CHECK_EQ(fj_main(sched, root_steps, nullptr), 0);
    fj_destroy(sched);

    sched = fj_create(&cfg);
    CHECK(sched);
    fj_counter_init(&outside_done, 1);
    pthread_t t;
    CHECK_EQ(pthread_create(&t, nullptr, outside, nullptr), 0);
    CHECK_EQ(fj_main(sched, root_waits, nullptr), 0);
    CHECK_EQ(pthread_join(t, nullptr), 0);
    fj_destroy(sched);
    return test_finish();
}
