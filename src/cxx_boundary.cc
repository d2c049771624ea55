// The C++ side of the job boundary: a C++ exception that escapes a job is
// caught here and turned into a panic (with its what()) instead of reaching
// std::terminate. The try block costs nothing until something is thrown
// (table-based unwinding). fj_panic's forced unwind passes through: it is
// rethrown, as forced unwinding must be.
#include <cstddef>
#include <cstring>
#include <exception>

extern "C" int fj__cxx_invoke(void (*fn)(void *), void *arg, char *msg, std::size_t cap);
extern "C" int fj__unwinding_for_panic(void);

static void copy_message(char *msg, std::size_t cap, const char *prefix, const char *what)
{
    std::size_t n = std::strlen(prefix);
    if (n >= cap)
        n = cap - 1;
    std::memcpy(msg, prefix, n);
    std::size_t m = std::strlen(what);
    if (n + m >= cap)
        m = cap - 1 - n;
    std::memcpy(msg + n, what, m);
    msg[n + m] = 0;
}

extern "C" int fj__cxx_invoke(void (*fn)(void *), void *arg, char *msg, std::size_t cap)
{
    try {
        fn(arg);
        return 0;
    } catch (std::exception &e) {
        copy_message(msg, cap, "uncaught C++ exception: ", e.what());
    } catch (...) {
        // fj_panic's forced unwind also lands here (catch-all handlers run
        // during forced unwinding); it must go on to the boundary.
        if (fj__unwinding_for_panic())
            throw;
        copy_message(msg, cap, "uncaught C++ exception of a type not derived from std::exception", "");
    }
    return 1;
}
