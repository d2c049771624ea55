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
// It knows nothing of the scheduler: its handlers ask panic.c (fj__cxx_unwinding)
// for the running fiber's `unwinding` flag, which fj_panic sets before its
// forced unwind starts (a panic never leaves its fiber, so the flag read there
// is the one fj_panic set), and hand it the message of an escaped exception
// (fj__cxx_message).
#include <exception>
#if defined(__GLIBCXX__)
#include <cxxabi.h>
#endif

extern "C" int fj__cxx_invoke(void (*fn)(void *), void *arg);
extern "C" [[noreturn]] void fj__foreign_unwind_fatal(void);
extern "C" bool fj__cxx_unwinding(void);
extern "C" void fj__cxx_message(const char *prefix, const char *what);

// A forced unwind carries no object: libstdc++ binds the handler's reference
// to a null pointer (never read here), a binding UBSan would report.
#if defined(__GLIBCXX__)
#define FJ_FORCED_UNWIND_HANDLER __attribute__((no_sanitize("null")))
#else
#define FJ_FORCED_UNWIND_HANDLER
#endif

// Two arguments only: what the handlers need (the fiber's panic message and
// its `unwinding` flag) they ask panic.c for, on the path of a throw, so the
// path of every job that returns keeps nothing across the call.
extern "C" FJ_FORCED_UNWIND_HANDLER int fj__cxx_invoke(void (*fn)(void *), void *arg)
{
    try {
        fn(arg);
        return 0;
    } catch (std::exception &e) {
        fj__cxx_message("uncaught C++ exception: ", e.what());
#if defined(__GLIBCXX__)
    } catch (abi::__forced_unwind &) {
        if (fj__cxx_unwinding())
            return 2;
        fj__foreign_unwind_fatal();
#endif
    } catch (...) {
        if (fj__cxx_unwinding())
            return 2;
        fj__cxx_message("uncaught C++ exception of a type not derived from std::exception", "");
    }
    return 1;
}
