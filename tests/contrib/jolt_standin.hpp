// A stand-in for Jolt's JobSystem interface (Jolt/Core/JobSystem.h), which
// is not installed here: the same classes, members and behaviour that a job
// system implementation sees (Job with a reference count, a dependency
// count, a barrier slot and Execute; JobHandle; Barrier; the pure virtuals),
// written for this test. contrib/fj_jolt.hpp compiles against either.
#ifndef FJ_TEST_JOLT_STANDIN_HPP
#define FJ_TEST_JOLT_STANDIN_HPP

#include <atomic>
#include <cstdint>
#include <functional>

namespace JPH {

using uint = unsigned int;
using uint32 = std::uint32_t;

struct Color {
    uint32 value = 0;
    static const Color sRed, sGreen, sBlue;
};
inline const Color Color::sRed{ 0xff0000u }, Color::sGreen{ 0x00ff00u }, Color::sBlue{ 0x0000ffu };
using ColorArg = Color;

class NonCopyable {
public:
    NonCopyable() = default;
    NonCopyable(const NonCopyable &) = delete;
    void operator=(const NonCopyable &) = delete;
};

// Not in Jolt: called by Job::Execute after it has told the barrier, so that
// a test can hold a worker between Execute and the job system's Release.
inline void (*test_after_execute)() = nullptr;

class JobSystem : public NonCopyable {
protected:
    class Job;

public:
    class JobHandle {
    public:
        JobHandle() = default;
        explicit JobHandle(Job *job) : job_(job) { if (job_) job_->AddRef(); }
        JobHandle(const JobHandle &o) : job_(o.job_) { if (job_) job_->AddRef(); }
        JobHandle(JobHandle &&o) noexcept : job_(o.job_) { o.job_ = nullptr; }
        ~JobHandle() { if (job_) job_->Release(); }
        JobHandle &operator=(JobHandle o) noexcept
        {
            Job *t = job_;
            job_ = o.job_;
            o.job_ = t;
            return *this;
        }
        bool IsValid() const { return job_ != nullptr; }
        bool IsDone() const { return job_ && job_->IsDone(); }
        void AddDependency(int n = 1) const { job_->AddDependency(n); }
        void RemoveDependency(int n = 1) const { job_->RemoveDependencyAndQueue(n); }
        Job *GetPtr() const { return job_; }

    private:
        Job *job_ = nullptr;
    };

    class Barrier : public NonCopyable {
    public:
        virtual void AddJob(const JobHandle &job) = 0;
        virtual void AddJobs(const JobHandle *jobs, uint n) = 0;

    protected:
        friend class Job;
        virtual ~Barrier() = default;
        virtual void OnJobFinished(Job *job) = 0;
    };

    using JobFunction = std::function<void()>;

    virtual ~JobSystem() = default;
    virtual int GetMaxConcurrency() const = 0;
    virtual JobHandle CreateJob(const char *name, ColorArg color, const JobFunction &fn, uint32 deps = 0) = 0;
    virtual Barrier *CreateBarrier() = 0;
    virtual void DestroyBarrier(Barrier *barrier) = 0;
    virtual void WaitForJobs(Barrier *barrier) = 0;

protected:
    class Job {
    public:
        static constexpr uint32 cExecutingState = 0xe0e0e0e0u;
        static constexpr uint32 cDoneState = 0xd0d0d0d0u;
        static constexpr std::intptr_t cBarrierDoneState = ~std::intptr_t(0);

        Job(const char *, ColorArg, JobSystem *system, const JobFunction &fn, uint32 deps)
            : system_(system), fn_(fn), deps_(deps)
        {
        }
        JobSystem *GetJobSystem() { return system_; }
        void AddRef() { refs_.fetch_add(1, std::memory_order_relaxed); }
        void Release()
        {
            // acq_rel: the last release sees every other holder's writes
            // before freeing. Jolt writes release + an acquire fence, and
            // acq_rel under ThreadSanitizer, which does not model fences
            // (it reported the delete as racing the other holders).
            if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1)
                system_->FreeJob(this);
        }
        void AddDependency(int n) { deps_.fetch_add(uint32(n), std::memory_order_relaxed); }
        bool RemoveDependency(int n)
        {
            uint32 old = deps_.fetch_sub(uint32(n), std::memory_order_release);
            return old == uint32(n);
        }
        void RemoveDependencyAndQueue(int n)
        {
            if (RemoveDependency(n))
                system_->QueueJob(this);
        }
        bool SetBarrier(Barrier *b)
        {
            std::intptr_t none = 0;
            return barrier_.compare_exchange_strong(none, reinterpret_cast<std::intptr_t>(b), std::memory_order_relaxed);
        }
        uint32 Execute()
        {
            uint32 state = 0;
            if (!deps_.compare_exchange_strong(state, cExecutingState, std::memory_order_acquire))
                return state;
            fn_();
            std::intptr_t b = barrier_.exchange(cBarrierDoneState, std::memory_order_acq_rel);
            deps_.store(cDoneState, std::memory_order_release);
            if (b != 0)
                reinterpret_cast<Barrier *>(b)->OnJobFinished(this);
            if (test_after_execute)
                test_after_execute();
            return cDoneState;
        }
        bool CanBeExecuted() const { return deps_.load(std::memory_order_relaxed) == 0; }
        bool IsDone() const { return deps_.load(std::memory_order_acquire) == cDoneState; }

    private:
        JobSystem *system_;
        std::atomic<std::intptr_t> barrier_{ 0 };
        JobFunction fn_;
        std::atomic<uint32> refs_{ 0 };
        std::atomic<uint32> deps_;
    };

    virtual void QueueJob(Job *job) = 0;
    virtual void QueueJobs(Job **jobs, uint n) = 0;
    virtual void FreeJob(Job *job) = 0;
};

using JobHandle = JobSystem::JobHandle;

} // namespace JPH

#endif
