/*
 * Both context preparations in one file, for programs that build the switch
 * from source outside the library's CMake target (bench/CMakeLists.txt's
 * fiberjob-bench-fpu names this file). The library builds ctx_make.c and
 * ctx_ucontext.c themselves; each compiles to nothing where it does not apply.
 * This file can go once the bench names those two.
 */
#include "ctx_make.c"
#include "ctx_ucontext.c"
