// The job boundary. A C++ exception that escapes a job is caught here and
// turned into a panic (with its what()) instead of reaching std::terminate
// (returns 1). fj_panic's forced unwind also stops here: handlers for forced
// unwinding run during it, and this one ends it (returns 2); the exception is
// fj_panic's own, so ending it is allowed and its cleanup does nothing. Any
// other forced unwind is pthread_exit's or a cancellation's: ending it would
// make glibc abort with "exception not rethrown" naming no job, and letting it
// through would unwind the worker's own frames off the fiber's stack, so the
// process stops with a line naming the job. The try block costs nothing until
// something is thrown (table-based unwinding).
//
// It knows nothing of the scheduler: fj__job_call (panic.c) passes the fiber's
// `unwinding` flag, which fj_panic sets before its forced unwind starts (a panic
// never leaves its fiber, so the flag read here is the one fj_panic set).
#include <cstddef>
#include <cstring>
#include <exception>
#if defined(__GLIBCXX__)
#include <cxxabi.h>
#endif

extern "C" int fj__cxx_invoke(void (*fn)(void *), void *arg, char *msg, std::size_t cap, const bool *unwinding);
extern "C" [[noreturn]] void fj__foreign_unwind_fatal(void);

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

// A forced unwind carries no object: libstdc++ binds the handler's reference
// to a null pointer (never read here), a binding UBSan would report.
#if defined(__GLIBCXX__)
#define FJ_FORCED_UNWIND_HANDLER __attribute__((no_sanitize("null")))
#else
#define FJ_FORCED_UNWIND_HANDLER
#endif

extern "C" FJ_FORCED_UNWIND_HANDLER int fj__cxx_invoke(void (*fn)(void *), void *arg, char *msg, std::size_t cap,
                                                       const bool *unwinding)
{
    try {
        fn(arg);
        return 0;
    } catch (std::exception &e) {
        copy_message(msg, cap, "uncaught C++ exception: ", e.what());
#if defined(__GLIBCXX__)
    } catch (abi::__forced_unwind &) {
        if (*unwinding)
            return 2;
        fj__foreign_unwind_fatal();
#endif
    } catch (...) {
        if (*unwinding)
            return 2;
        copy_message(msg, cap, "uncaught C++ exception of a type not derived from std::exception", "");
    }
    return 1;
}
