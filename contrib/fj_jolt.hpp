// fj_jolt.hpp: Jolt Physics' JobSystem on fiberjob. Copy this file into your
// project (it is not installed with the library). Include Jolt first:
//
//     #include <Jolt/Jolt.h>
//     #include <Jolt/Core/JobSystem.h>
//     #include "fj_jolt.hpp"
//
//     fj_jolt::JobSystemFiber jobs(sched);        // sched: a live fj_scheduler
//     physics_system.Update(dt, 1, &temp_allocator, &jobs);   // in a job, or on any thread
//
// How it maps:
//  - CreateJob makes a Jolt Job (new/delete: FreeJob deletes it); with no
//    dependencies it is queued at once, otherwise when RemoveDependency
//    brings its count to zero (Jolt's own Job::RemoveDependencyAndQueue calls
//    QueueJob).
//  - QueueJob(s) takes a reference and runs one fiberjob job per Jolt job
//    (fj_run_jobs_on: the fast path from a worker of the scheduler, the
//    injection queue from anywhere else); the fiberjob job calls Execute and
//    drops the reference. Those jobs are counted on a counter of the job
//    system's, and its destructor waits (fj_wait) until every one of them
//    has returned: a job drops its reference after Execute has told the
//    barrier, and the last drop calls this object's FreeJob, so the job
//    system may be destroyed as soon as WaitForJobs returned.
//  - A Barrier is an fj_counter: AddJob adds one (and takes it back if the
//    job had already finished), the job's OnJobFinished finishes it, and
//    WaitForJobs is fj_wait on it. Inside a job that suspends the fiber (the
//    worker runs Jolt's jobs meanwhile, which is what Jolt's thread pool does
//    by hand in its WaitForJobs); on another thread it blocks that thread.
//    DestroyBarrier may free the counter as soon as the wait returned
//    (fj_counter's reuse rule, fiberjob.h). Do not use Jolt's
//    JobSystemWithBarrier: its barrier blocks on an OS semaphore, which on a
//    worker would stall the worker instead of the fiber.
//  - GetMaxConcurrency is fj_worker_count.
//
// Jolt's jobs do not wait inside fiberjob; those that spin (waiting for
// other jobs of a step to finish their share of a shared work list) wait
// only for work that a running job has claimed, and a running fiberjob job
// runs to its end without being suspended, so the spinners cannot stand in
// front of what they wait for.
#ifndef FJ_JOLT_HPP
#define FJ_JOLT_HPP

#include <cstddef>

#include "fiberjob.h"

namespace fj_jolt {

class JobSystemFiber final : public JPH::JobSystem {
public:
    explicit JobSystemFiber(fj_scheduler *sched, const char *job_name = "jolt job")
        : sched_(sched), name_(job_name)
    {
        fj_counter_init(&in_flight_, 0);
    }

    // A job's last step (dropping its reference, which may free it through
    // this object) can still run after its barrier's wait returned: wait for
    // every job to have returned before this object goes, as Jolt's own pool
    // joins its threads.
    ~JobSystemFiber() override { fj_wait(&in_flight_, 0); }
    JobSystemFiber(const JobSystemFiber &) = delete;
    JobSystemFiber &operator=(const JobSystemFiber &) = delete;

    int GetMaxConcurrency() const override { return static_cast<int>(fj_worker_count(sched_)); }

    JobHandle CreateJob(const char *name, JPH::ColorArg color, const JobFunction &fn,
                        JPH::uint32 dependencies = 0) override
    {
        Job *job = new Job(name, color, this, fn, dependencies);
        JobHandle handle(job);
        if (dependencies == 0)
            QueueJob(job);
        return handle;
    }

    Barrier *CreateBarrier() override { return new CounterBarrier; }
    void DestroyBarrier(Barrier *barrier) override { delete static_cast<CounterBarrier *>(barrier); }
    void WaitForJobs(Barrier *barrier) override { static_cast<CounterBarrier *>(barrier)->wait(); }

protected:
    void QueueJob(Job *job) override { QueueJobs(&job, 1); }

    void QueueJobs(Job **jobs, JPH::uint count) override
    {
        fj_job batch[64];
        for (JPH::uint i = 0; i < count;) {
            JPH::uint n = count - i < 64 ? count - i : 64;
            for (JPH::uint k = 0; k < n; k++) {
                jobs[i + k]->AddRef();   // dropped by run() after Execute
                batch[k] = fj_job{ run, jobs[i + k], name_, FJ_PRIORITY_NORMAL, 0 };
            }
            fj_run_jobs_on(sched_, batch, n, &in_flight_);
            i += n;
        }
    }

    void FreeJob(Job *job) override { delete job; }

private:
    static void run(void *arg)
    {
        Job *job = static_cast<Job *>(arg);
        job->Execute();
        job->Release();
    }

    class CounterBarrier final : public Barrier {
    public:
        CounterBarrier() { fj_counter_init(&count_, 0); }
        void AddJob(const JobHandle &job) override
        {
            // Count first: the job may finish (OnJobFinished) as soon as
            // SetBarrier has made this its barrier.
            fj_counter_add(&count_, 1);
            if (!job.GetPtr()->SetBarrier(this))
                fj_counter_done(&count_, 1);   // it had finished already
        }
        void AddJobs(const JobHandle *jobs, JPH::uint n) override
        {
            for (JPH::uint i = 0; i < n; i++)
                AddJob(jobs[i]);
        }
        void wait() { fj_wait(&count_, 0); }

    protected:
        void OnJobFinished(Job *) override { fj_counter_done(&count_, 1); }

    private:
        fj_counter count_;
    };

    fj_scheduler *sched_;
    const char *name_;
    fj_counter in_flight_;   // fiberjob jobs queued and not yet returned
};

} // namespace fj_jolt

#endif
