/*
 * Windows x64 context-switch check, run under Wine (modeled on
 * tools/aarch64_regcheck.c). It drives fj__ctx_switch and fj__ctx_make
 * directly (src/arch/ctx.h) and needs nothing else of the library.
 *
 * Part 1, registers: an assembly harness loads a known pattern into every
 * register the Microsoft x64 convention makes callee-saved (rbx, rbp, rdi,
 * rsi, r12-r15, all 128 bits of xmm6-xmm15), scribbles the volatile ones,
 * calls the switch and stores what it finds after the call returns. The
 * other context does the same with another pattern, so both directions are
 * checked, over many rounds, on fresh contexts (the trampoline, odd stack
 * sizes) and after the suspended context moved to another thread. Also: rsp
 * is the same after the switch, the value returned is the context we came
 * from, a new context's rsp is 16-byte aligned at its entry's call.
 * Part 2, the thread information block: inside a fiber teb_self()'s
 * StackBase/StackLimit/DeallocationStack describe the fiber's stack (as
 * fj__ctx_make set them), and after switching back they are the thread's
 * again, also when the fiber is resumed on another thread (whose own values
 * must come back). A stack walk (RtlVirtualUnwind) from inside a fiber ends
 * at the trampoline with rsp on StackBase and return address 0, and
 * RtlCaptureStackBackTrace stops there too.
 * Part 3, C++ exceptions (RC_CXX: the C++ half of this file, built with g++):
 * thrown and caught inside a fiber, across a C frame, many times, with
 * switches in between; mingw-w64's unwinder is SEH-based and refuses frames
 * outside StackLimit..StackBase.
 * Part 4, deep recursion: frames of 12 KiB (each calls ___chkstk_ms, which
 * probes page by page) using most of a fully committed fiber stack; then the
 * same on a stack committed the way Windows commits a thread's, a few pages
 * at the top and a PAGE_GUARD page below, which Windows (and Wine) only grow
 * when the guard page lies between the TEB's DeallocationStack and StackBase.
 * Part 5, MXCSR and the x87 control word: with FJ_SAVE_FPU each context keeps
 * its own and a new context starts with its preparer's; without, they flow
 * from one context to the next (as DESIGN.md says). Checks whichever the build
 * claims.
 *
 * Build (from the repository root, into O; the C++ half with g++, the rest
 * with gcc, all three C/asm files with the same [-DFJ_SAVE_FPU=1]):
 *   O=build-windows/regcheck; mkdir -p $O
 *   x86_64-w64-mingw32-g++-posix -O2 -DRC_CXX -x c++ -c tools/windows_regcheck.c -o $O/rc_cxx.o
 *   for f in tools/windows_regcheck.c src/arch/ctx_make.c src/arch/ctx_win64.S; do
 *     x86_64-w64-mingw32-gcc-posix -O2 -std=c11 -Wall -Wextra -Wpedantic -Werror \
 *       -D__USE_MINGW_ANSI_STDIO=1 -I src [-DFJ_SAVE_FPU=1] -c $f -o $O/$(basename ${f%.*}).o
 *   done
 *   x86_64-w64-mingw32-g++-posix -static -o $O/windows_regcheck.exe $O/windows_regcheck.o \
 *     $O/ctx_make.o $O/ctx_win64.o $O/rc_cxx.o
 * Run: WINEDEBUG=-all wine windows_regcheck.exe
 * Exit status 0 when every check passed; prints "regcheck: N passed, M failed".
 */

#ifdef RC_CXX
/* ------------------------------------------------------------ part 3, C++ half */
#include <stdexcept>
#include <string>

extern "C" {
typedef int (*rc_c_fn)(int);
int rc_cxx_catch(rc_c_fn through, int depth);
int rc_cxx_throw(int depth);
}

/* Throws from depth 0 after recursing (the frames between have destructors to
 * run). */
struct rc_guard {
    int *count;
    ~rc_guard() { ++*count; }
};
static int rc_unwound;

extern "C" int rc_cxx_throw(int depth)
{
    rc_guard g{ &rc_unwound };
    if (depth == 0)
        throw std::runtime_error("thrown in a fiber");
    volatile int r = rc_cxx_throw(depth - 1);
    return r + 1;
}

/* Calls through (a C function, which calls rc_cxx_throw) and catches what it
 * throws. Returns the destructors run plus 1000 if the message arrived intact,
 * or -1 if nothing was thrown. */
extern "C" int rc_cxx_catch(rc_c_fn through, int depth)
{
    rc_unwound = 0;
    try {
        through(depth);
    } catch (const std::runtime_error &e) {
        return rc_unwound + (std::string(e.what()) == "thrown in a fiber" ? 1000 : 0);
    }
    return -1;
}

#else /* the C part */

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <windows.h>

#include "arch/ctx.h"

#ifndef FJ_CTX_WIN64
#error "tools/windows_regcheck.c is for the Windows x64 switch"
#endif

/* ------------------------------------------------------------ harness */

/* rbx rbp rdi rsi r12 r13 r14 r15, then xmm6..xmm15 (low quadword first). */
typedef struct rc_regs {
    uint64_t g[8];
    uint64_t x[10][2];
} rc_regs;

typedef struct rc_out {
    rc_regs r;             /* 0 */
    uint64_t rax;          /* 224: value returned by fn */
    uint64_t sp_before;    /* 232 */
    uint64_t sp_after;     /* 240 */
} rc_out;

_Static_assert(sizeof(rc_regs) == 224, "rc_regs layout");
_Static_assert(sizeof(rc_out) == 248, "rc_out layout");

static const char *const gname[8] = { "rbx", "rbp", "rdi", "rsi", "r12", "r13", "r14", "r15" };

/* void *rc_call_checked(fn, a0, a1, const rc_regs *pat, rc_out *out): keep the
 * caller's callee-saved registers, load pat into them, scribble the volatile
 * ones, call fn(a0, a1), store what the registers hold afterwards into out,
 * restore the caller's. Frame: 8 pushes, then 216 bytes: shadow space +0,
 * out +32, the caller's xmm6-15 +48; the fifth argument is at +320. */
typedef void *(*rc_fn)(void *, void *);
void *rc_call_checked(rc_fn fn, void *a0, void *a1, const rc_regs *pat, rc_out *out);

__asm__(
    "    .text\n"
    "    .globl rc_call_checked\n"
    "    .def rc_call_checked; .scl 2; .type 32; .endef\n"
    "    .p2align 4\n"
    "rc_call_checked:\n"
    "    pushq %rbp\n"
    "    pushq %rbx\n"
    "    pushq %rdi\n"
    "    pushq %rsi\n"
    "    pushq %r12\n"
    "    pushq %r13\n"
    "    pushq %r14\n"
    "    pushq %r15\n"
    "    subq $216, %rsp\n"
    "    movq 320(%rsp), %rax\n"
    "    movq %rax, 32(%rsp)\n"
    "    movq %rsp, 232(%rax)\n"
    "    movaps %xmm6, 48(%rsp)\n"
    "    movaps %xmm7, 64(%rsp)\n"
    "    movaps %xmm8, 80(%rsp)\n"
    "    movaps %xmm9, 96(%rsp)\n"
    "    movaps %xmm10, 112(%rsp)\n"
    "    movaps %xmm11, 128(%rsp)\n"
    "    movaps %xmm12, 144(%rsp)\n"
    "    movaps %xmm13, 160(%rsp)\n"
    "    movaps %xmm14, 176(%rsp)\n"
    "    movaps %xmm15, 192(%rsp)\n"
    "    movq %rcx, %r11\n"
    "    movq %rdx, %rcx\n"
    "    movq %r8, %rdx\n"
    "    movq %r9, %r10\n"
    "    movq 0(%r10), %rbx\n"
    "    movq 8(%r10), %rbp\n"
    "    movq 16(%r10), %rdi\n"
    "    movq 24(%r10), %rsi\n"
    "    movq 32(%r10), %r12\n"
    "    movq 40(%r10), %r13\n"
    "    movq 48(%r10), %r14\n"
    "    movq 56(%r10), %r15\n"
    "    movups 64(%r10), %xmm6\n"
    "    movups 80(%r10), %xmm7\n"
    "    movups 96(%r10), %xmm8\n"
    "    movups 112(%r10), %xmm9\n"
    "    movups 128(%r10), %xmm10\n"
    "    movups 144(%r10), %xmm11\n"
    "    movups 160(%r10), %xmm12\n"
    "    movups 176(%r10), %xmm13\n"
    "    movups 192(%r10), %xmm14\n"
    "    movups 208(%r10), %xmm15\n"
    /* Junk in the volatile registers, so nothing passes because a register
     * happened to keep a value. */
    "    movq $-1, %r8\n"
    "    movq $-1, %r9\n"
    "    movq $-1, %r10\n"
    "    movq $-1, %rax\n"
    "    pcmpeqd %xmm0, %xmm0\n"
    "    pcmpeqd %xmm1, %xmm1\n"
    "    pcmpeqd %xmm2, %xmm2\n"
    "    pcmpeqd %xmm3, %xmm3\n"
    "    pcmpeqd %xmm4, %xmm4\n"
    "    pcmpeqd %xmm5, %xmm5\n"
    "    callq *%r11\n"
    "    movq 32(%rsp), %r10\n"
    "    movq %rbx, 0(%r10)\n"
    "    movq %rbp, 8(%r10)\n"
    "    movq %rdi, 16(%r10)\n"
    "    movq %rsi, 24(%r10)\n"
    "    movq %r12, 32(%r10)\n"
    "    movq %r13, 40(%r10)\n"
    "    movq %r14, 48(%r10)\n"
    "    movq %r15, 56(%r10)\n"
    "    movups %xmm6, 64(%r10)\n"
    "    movups %xmm7, 80(%r10)\n"
    "    movups %xmm8, 96(%r10)\n"
    "    movups %xmm9, 112(%r10)\n"
    "    movups %xmm10, 128(%r10)\n"
    "    movups %xmm11, 144(%r10)\n"
    "    movups %xmm12, 160(%r10)\n"
    "    movups %xmm13, 176(%r10)\n"
    "    movups %xmm14, 192(%r10)\n"
    "    movups %xmm15, 208(%r10)\n"
    "    movq %rax, 224(%r10)\n"
    "    movq %rsp, 240(%r10)\n"
    "    movaps 48(%rsp), %xmm6\n"
    "    movaps 64(%rsp), %xmm7\n"
    "    movaps 80(%rsp), %xmm8\n"
    "    movaps 96(%rsp), %xmm9\n"
    "    movaps 112(%rsp), %xmm10\n"
    "    movaps 128(%rsp), %xmm11\n"
    "    movaps 144(%rsp), %xmm12\n"
    "    movaps 160(%rsp), %xmm13\n"
    "    movaps 176(%rsp), %xmm14\n"
    "    movaps 192(%rsp), %xmm15\n"
    "    addq $216, %rsp\n"
    "    popq %r15\n"
    "    popq %r14\n"
    "    popq %r13\n"
    "    popq %r12\n"
    "    popq %rsi\n"
    "    popq %rdi\n"
    "    popq %rbx\n"
    "    popq %rbp\n"
    "    ret\n");

static uint64_t read_sp(void)
{
    uint64_t v;
    __asm__ __volatile__("movq %%rsp, %0" : "=r"(v));
    return v;
}

typedef struct tib_view {
    uint64_t base, limit, dealloc, exception_list;
} tib_view;

/* The TEB through gs: directly (mingw's __readgsqword draws a false -Warray-bounds
 * from gcc 12 at these constant addresses). */
static uint64_t gs_read(uint32_t offset)
{
    uint64_t v;
    __asm__ __volatile__("movq %%gs:(%1), %0" : "=r"(v) : "r"((uint64_t)offset));
    return v;
}

static void *teb_self(void) { return (void *)(uintptr_t)gs_read(0x30); }  /* NT_TIB.Self */

static tib_view read_tib(void)
{
    tib_view v = { gs_read(FJ_CTX_WIN64_TEB_STACK_BASE), gs_read(FJ_CTX_WIN64_TEB_STACK_LIMIT),
                   gs_read(FJ_CTX_WIN64_TEB_DEALLOC), gs_read(FJ_CTX_WIN64_TEB_EXCEPTION_LIST) };
    return v;
}

/* ------------------------------------------------------------ reporting */

static int npassed, nfailed;

static void result(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void result(int ok, const char *fmt, ...)
{
    va_list ap;
    if (ok) {
        npassed++;
        return;
    }
    nfailed++;
    fputs("FAIL: ", stdout);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
}

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
    va_list ap;
    fputs("  ok: ", stdout);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
}

static void make_pattern(rc_regs *p, uint64_t seed)
{
    for (int i = 0; i < 8; i++)
        p->g[i] = (seed * 0x9e3779b97f4a7c15ull) ^ ((uint64_t)(i + 1) << 56) ^ (0x1111111111111111ull * (uint64_t)(i + 1));
    for (int i = 0; i < 10; i++) {
        p->x[i][0] = (seed * 0xc2b2ae3d27d4eb4full) ^ ((uint64_t)(6 + i) << 48) ^ (uint64_t)i;
        p->x[i][1] = (seed * 0x165667b19e3779f9ull) ^ ((uint64_t)(6 + i) << 40) ^ 0xa5a5000000000000ull;
    }
}

static int nprinted;
#define MISMATCH(...)                 \
    do {                              \
        if (nprinted++ < 24)          \
            printf(__VA_ARGS__);      \
    } while (0)

static int compare(const char *what, const rc_regs *want, const rc_out *got)
{
    int bad = 0;
    for (int i = 0; i < 8; i++)
        if (got->r.g[i] != want->g[i]) {
            MISMATCH("  %s: %s = %#llx, expected %#llx\n", what, gname[i],
                     (unsigned long long)got->r.g[i], (unsigned long long)want->g[i]);
            bad++;
        }
    for (int i = 0; i < 10; i++)
        for (int h = 0; h < 2; h++)
            if (got->r.x[i][h] != want->x[i][h]) {
                MISMATCH("  %s: xmm%d %s = %#llx, expected %#llx\n", what, 6 + i, h ? "high" : "low",
                         (unsigned long long)got->r.x[i][h], (unsigned long long)want->x[i][h]);
                bad++;
            }
    if (got->sp_after != got->sp_before) {
        MISMATCH("  %s: rsp = %#llx after the switch, %#llx before\n", what,
                 (unsigned long long)got->sp_after, (unsigned long long)got->sp_before);
        bad++;
    }
    return bad;
}

/* ------------------------------------------------------------ stacks */

#define STACK_SIZE (256 * 1024)
#define GUARD (64 * 1024)

typedef struct stack {
    char *reserve;   /* guard gap, then the stack */
    char *lo;
    size_t size;
} stack;

/* A fiberjob-style stack: a reservation whose lowest GUARD bytes stay
 * inaccessible, the rest committed. */
static stack stack_new(size_t size)
{
    stack s;
    s.reserve = VirtualAlloc(NULL, GUARD + size, MEM_RESERVE, PAGE_NOACCESS);
    if (!s.reserve || !VirtualAlloc(s.reserve + GUARD, size, MEM_COMMIT, PAGE_READWRITE)) {
        printf("VirtualAlloc failed: %lu\n", (unsigned long)GetLastError());
        exit(2);
    }
    s.lo = s.reserve + GUARD;
    s.size = size;
    return s;
}

static void stack_free(stack *s) { VirtualFree(s->reserve, 0, MEM_RELEASE); }

/* ------------------------------------------------------------ part 1 and 2 */

void fj__ctx_trampoline(void);

static int in_trampoline(uint64_t pc)
{
    uint64_t t = (uint64_t)(uintptr_t)fj__ctx_trampoline;
    return pc > t && pc < t + 32;
}


#define ROUNDS 2000

typedef struct peer {
    fj__ctx ctx;
    stack st;
    fj__ctx *back;
    fj__ctx *first_from;
    uint64_t entry_sp;        /* rsp at entry: where the return address lies, + 8 */
    uint64_t entry_ret;       /* the return address: inside the trampoline */
    tib_view tib[2];        /* as seen in phase 0 (first thread) and 1 (second) */
    void *teb[2];
    int rounds;
    int bad;
    volatile int phase;
} peer;

static void *switch_thunk(void *from, void *to) { return fj__ctx_switch(from, to); }

static void peer_entry(fj__ctx *from, void *arg)
{
    peer *p = arg;
    /* The caller's rsp at its call (the CFA). */
    p->entry_sp = (uint64_t)(uintptr_t)__builtin_dwarf_cfa();
    p->entry_ret = (uint64_t)(uintptr_t)__builtin_return_address(0);
    p->first_from = from;
    p->back = from;
    for (int round = 0;; round++) {
        int ph = p->phase ? 1 : 0;
        p->tib[ph] = read_tib();
        p->teb[ph] = teb_self();
        rc_regs pat;
        rc_out out;
        make_pattern(&pat, 0xbeef0000ull + (uint64_t)round);
        (void)rc_call_checked((rc_fn)(void (*)(void))fj__ctx_switch, &p->ctx, p->back, &pat, &out);
        p->bad += compare("peer side", &pat, &out);
        if (out.rax == 0) {
            printf("  peer side: fj__ctx_switch returned NULL\n");
            p->bad++;
        }
        p->back = (fj__ctx *)(uintptr_t)out.rax;
        p->rounds++;
    }
}

/* Round trips to the peer from the calling thread; also checks that the
 * calling thread's TIB is its own again after every switch back. */
static int drive(peer *p, fj__ctx *self, int first_round, int rounds)
{
    int bad = 0;
    tib_view mine = read_tib();
    for (int i = 0; i < rounds; i++) {
        rc_regs pat;
        rc_out out;
        make_pattern(&pat, 0x51de0000ull + (uint64_t)(first_round + i));
        (void)rc_call_checked((rc_fn)switch_thunk, self, &p->ctx, &pat, &out);
        bad += compare("driver side (via C)", &pat, &out);
        make_pattern(&pat, 0x5a1e0000ull + (uint64_t)(first_round + i));
        (void)rc_call_checked((rc_fn)(void (*)(void))fj__ctx_switch, self, &p->ctx, &pat, &out);
        bad += compare("driver side", &pat, &out);
        if ((fj__ctx *)(uintptr_t)out.rax != &p->ctx) {
            MISMATCH("  driver side: fj__ctx_switch returned %p, expected the peer %p\n",
                     (void *)(uintptr_t)out.rax, (void *)&p->ctx);
            bad++;
        }
        tib_view now = read_tib();
        if (memcmp(&now, &mine, sizeof now) != 0) {
            MISMATCH("  driver side: TIB after the switch back: base %#llx limit %#llx dealloc %#llx list %#llx, "
                     "the thread's are %#llx %#llx %#llx %#llx\n",
                     (unsigned long long)now.base, (unsigned long long)now.limit,
                     (unsigned long long)now.dealloc, (unsigned long long)now.exception_list,
                     (unsigned long long)mine.base, (unsigned long long)mine.limit,
                     (unsigned long long)mine.dealloc, (unsigned long long)mine.exception_list);
            bad++;
        }
    }
    return bad;
}

typedef struct thread_arg {
    peer *p;
    int bad;
    void *teb;
    tib_view tib;
} thread_arg;

static DWORD WINAPI migrate_thread(LPVOID arg)
{
    thread_arg *t = arg;
    fj__ctx self;
    memset(&self, 0, sizeof self);
    t->teb = teb_self();
    t->tib = read_tib();
    t->p->phase = 1;
    t->bad = drive(t->p, &self, ROUNDS, ROUNDS / 4);
    return 0;
}

static int tib_is_fiber(const tib_view *v, const stack *s)
{
    uint64_t lo = (uint64_t)(uintptr_t)s->lo, hi = lo + s->size;
    return v->limit == lo && v->dealloc == lo - GUARD && v->base <= hi && v->base > hi - 32 && (v->base & 15) == 8 &&
           v->exception_list == UINT64_MAX;
}

static void part1(void)
{
    peer *p = calloc(1, sizeof *p);
    fj__ctx self;
    memset(&self, 0, sizeof self);
    p->st = stack_new(STACK_SIZE);
    fj__ctx_make(&p->ctx, p->st.lo, STACK_SIZE, GUARD, peer_entry, p);

    tib_view thread_tib = read_tib();
    int bad = drive(p, &self, 0, ROUNDS);
    uint64_t lo = (uint64_t)(uintptr_t)p->st.lo, hi = lo + STACK_SIZE;
    result(p->first_from == &self, "first switch into a new context: entry got from=%p, expected %p",
           (void *)p->first_from, (void *)&self);
    /* The trampoline's rsp at the call is 16-byte aligned, with 32 bytes of
     * shadow space above it inside the stack, and the return address is in
     * the trampoline. */
    result(p->entry_sp > lo && p->entry_sp + 32 < hi && (p->entry_sp & 15) == 0 && in_trampoline(p->entry_ret),
           "new context's entry: caller's rsp %#llx not 16-byte aligned inside its stack [%#llx, %#llx) "
           "or return address %#llx not in the trampoline",
           (unsigned long long)p->entry_sp, (unsigned long long)lo, (unsigned long long)hi,
           (unsigned long long)p->entry_ret);
    result(bad == 0, "callee-saved registers on the driving side: %d mismatches", bad);
    result(p->bad == 0, "callee-saved registers on the new context's side: %d mismatches", p->bad);
    result(p->rounds == 2 * ROUNDS - 1, "peer completed %d rounds, expected %d", p->rounds, 2 * ROUNDS - 1);
    note("part 1: %d round trips, rbx rbp rdi rsi r12-r15, xmm6-xmm15 (128 bits), rsp, return value: %s",
         2 * ROUNDS, bad || p->bad ? "MISMATCH" : "preserved");
    result(tib_is_fiber(&p->tib[0], &p->st),
           "TIB in the fiber: base %#llx limit %#llx dealloc %#llx exception list %#llx; stack [%#llx, %#llx), guard %#x",
           (unsigned long long)p->tib[0].base, (unsigned long long)p->tib[0].limit,
           (unsigned long long)p->tib[0].dealloc, (unsigned long long)p->tib[0].exception_list, (unsigned long long)lo, (unsigned long long)hi, GUARD);
    result(!tib_is_fiber(&thread_tib, &p->st), "the thread's TIB looks like the fiber's: the check proves nothing");
    note("part 2: TIB StackBase/StackLimit/DeallocationStack are the fiber's inside it, the thread's after each switch back");

    /* Resume the suspended fiber from another thread: registers preserved,
     * the fiber sees its own stack fields in the new thread's TEB, and the
     * new thread gets its own back. */
    int before_bad = p->bad;
    thread_arg t = { .p = p };
    HANDLE th = CreateThread(NULL, 0, migrate_thread, &t, 0, NULL);
    if (!th) {
        printf("CreateThread failed\n");
        exit(2);
    }
    WaitForSingleObject(th, INFINITE);
    CloseHandle(th);
    result(t.bad == 0 && p->bad == before_bad,
           "after moving the suspended context to another thread: %d + %d mismatches (registers or that thread's TIB)",
           t.bad, p->bad - before_bad);
    result(p->teb[1] == t.teb && p->teb[1] != p->teb[0],
           "TEB in the fiber after it moved threads: %p, that thread's %p, the first thread's %p", p->teb[1], t.teb,
           p->teb[0]);
    result(tib_is_fiber(&p->tib[1], &p->st), "TIB in the fiber on the second thread: base %#llx limit %#llx",
           (unsigned long long)p->tib[1].base, (unsigned long long)p->tib[1].limit);
    note("part 2: resumed on another thread: registers preserved, that thread's TEB with the fiber's stack fields");

    int fresh_bad = 0;
    for (int i = 0; i < 64; i++) {
        peer *q = calloc(1, sizeof *q);
        size_t size = STACK_SIZE - 16 * (size_t)i - (size_t)(i & 1) * 8;
        q->st = stack_new(STACK_SIZE);
        fj__ctx_make(&q->ctx, q->st.lo, size, GUARD, peer_entry, q);
        q->st.size = size;
        fresh_bad += drive(q, &self, 1000 * i, 2);
        fresh_bad += q->bad;
        if ((q->entry_sp & 15) != 0 || !tib_is_fiber(&q->tib[0], &q->st))
            fresh_bad++;
        stack_free(&q->st);
        free(q);
    }
    result(fresh_bad == 0, "64 fresh contexts (odd stack sizes): %d mismatches", fresh_bad);
    note("part 1: 64 fresh contexts with odd stack sizes: aligned, preserved, their own TIB");
    /* p stays suspended on its stack; never freed. */
}

/* ------------------------------------------------------------ part 2b: stack walks */

typedef struct walk {
    fj__ctx ctx;
    fj__ctx *back;
    int frames;
    int ended_clean;          /* the last frame was the trampoline, then rsp == StackBase, rip == 0 */
    uint64_t last_rip, end_rsp, end_rip, base;
    USHORT captured;
    int captured_ends_in_trampoline;
} walk;

static __attribute__((noinline)) void walk_now(walk *w, int depth)
{
    if (depth > 0) {
        walk_now(w, depth - 1);
        __asm__ __volatile__("" ::: "memory");   /* not a tail call */
        return;
    }
    CONTEXT c;
    RtlCaptureContext(&c);
    w->base = read_tib().base;
    int n = 0;
    uint64_t last = 0;
    while (n < 100) {
        DWORD64 image = 0;
        PRUNTIME_FUNCTION fe = RtlLookupFunctionEntry(c.Rip, &image, NULL);
        if (!fe)
            break;   /* every frame here has unwind info: a leaf means garbage */
        PVOID handler_data;
        DWORD64 establisher;
        last = c.Rip;
        RtlVirtualUnwind(UNW_FLAG_NHANDLER, image, c.Rip, fe, &c, &handler_data, &establisher, NULL);
        n++;
        if (c.Rip == 0 || c.Rsp >= w->base)
            break;
    }
    w->frames = n;
    w->last_rip = last;
    w->end_rsp = c.Rsp;
    w->end_rip = c.Rip;
    w->ended_clean = in_trampoline(last) && c.Rsp == w->base && c.Rip == 0;
    void *frames[62];
    w->captured = RtlCaptureStackBackTrace(0, 62, frames, NULL);
    w->captured_ends_in_trampoline = w->captured > 0 && in_trampoline((uint64_t)(uintptr_t)frames[w->captured - 1]);
}

static void walk_entry(fj__ctx *from, void *arg)
{
    walk *w = arg;
    walk_now(w, 5);
    for (;;)
        from = fj__ctx_switch(&w->ctx, from);
}

static void part2b(void)
{
    walk *w = calloc(1, sizeof *w);
    stack st = stack_new(STACK_SIZE);
    fj__ctx self;
    fj__ctx_make(&w->ctx, st.lo, STACK_SIZE, GUARD, walk_entry, w);
    fj__ctx_switch(&self, &w->ctx);
    result(w->ended_clean,
           "stack walk in a fiber: %d frames, last rip %#llx (trampoline at %p), then rsp %#llx (StackBase %#llx) rip %#llx",
           w->frames, (unsigned long long)w->last_rip, (void *)(uintptr_t)fj__ctx_trampoline,
           (unsigned long long)w->end_rsp, (unsigned long long)w->base, (unsigned long long)w->end_rip);
    result(w->captured_ends_in_trampoline, "RtlCaptureStackBackTrace in a fiber: %u frames, the last not the trampoline",
           (unsigned)w->captured);
    note("part 2: a stack walk in a fiber ends at the trampoline (%d frames; rsp = StackBase, return address 0); "
         "RtlCaptureStackBackTrace: %u frames", w->frames, (unsigned)w->captured);
}

/* ------------------------------------------------------------ part 3: C++ exceptions */

typedef int (*rc_c_fn)(int);
int rc_cxx_catch(rc_c_fn through, int depth);
int rc_cxx_throw(int depth);

/* A C frame between the catch and the throw. */
static __attribute__((noinline)) int c_through(int depth)
{
    volatile int r = rc_cxx_throw(depth);
    return r + 1;
}

typedef struct cxx {
    fj__ctx ctx;
    int bad, ran;
} cxx;

static void cxx_entry(fj__ctx *from, void *arg)
{
    cxx *x = arg;
    for (int i = 0; i < 200; i++) {
        int depth = i % 7;
        int r = rc_cxx_catch(c_through, depth);
        if (r != 1000 + depth + 1) {
            if (x->bad++ < 5)
                printf("  C++ exception in a fiber, depth %d: got %d, expected %d\n", depth, r, 1000 + depth + 1);
        }
        x->ran++;
        from = fj__ctx_switch(&x->ctx, from);
    }
    for (;;)
        from = fj__ctx_switch(&x->ctx, from);
}

static void part3(void)
{
    cxx *x = calloc(1, sizeof *x), *y = calloc(1, sizeof *y);
    stack sx = stack_new(STACK_SIZE), sy = stack_new(STACK_SIZE);
    fj__ctx self;
    fj__ctx_make(&x->ctx, sx.lo, STACK_SIZE, GUARD, cxx_entry, x);
    fj__ctx_make(&y->ctx, sy.lo, STACK_SIZE, GUARD, cxx_entry, y);
    for (int i = 0; i < 200; i++) {
        fj__ctx_switch(&self, &x->ctx);
        fj__ctx_switch(&self, &y->ctx);
    }
    /* And on the thread's own stack, after all that. */
    int r = rc_cxx_catch(c_through, 3);
    result(x->ran == 200 && y->ran == 200 && x->bad == 0 && y->bad == 0,
           "C++ exceptions in two fibers: %d + %d runs, %d + %d wrong", x->ran, y->ran, x->bad, y->bad);
    result(r == 1004, "C++ exception on the thread's stack after the fibers: got %d", r);
    note("part 3: 400 C++ exceptions thrown and caught inside fibers across a C frame, destructors run");
}

/* ------------------------------------------------------------ part 4: deep recursion */

/* 12 KiB of locals: the compiler calls ___chkstk_ms, which probes each page. */
static __attribute__((noinline)) uint64_t deep(int n)
{
    volatile char buf[12 * 1024];
    buf[0] = (char)n;
    buf[sizeof buf - 1] = (char)n;
    if (n == 0)
        return (uint64_t)read_sp();
    uint64_t r = deep(n - 1);
    return r + (uint64_t)(buf[0] != (char)n) + (uint64_t)(buf[sizeof buf - 1] != (char)n);
}

typedef struct rec {
    fj__ctx ctx;
    int depth;
    uint64_t lowest_sp;
    tib_view after;
} rec;

static void rec_entry(fj__ctx *from, void *arg)
{
    rec *r = arg;
    r->lowest_sp = deep(r->depth);
    r->after = read_tib();
    for (;;)
        from = fj__ctx_switch(&r->ctx, from);
}

static void part4(void)
{
    /* Fully committed, as fiberjob's stacks are: about 90% of 256 KiB. */
    rec *r = calloc(1, sizeof *r);
    stack st = stack_new(STACK_SIZE);
    fj__ctx self;
    r->depth = 18;   /* 19 frames of 12 KiB and a little */
    fj__ctx_make(&r->ctx, st.lo, STACK_SIZE, GUARD, rec_entry, r);
    fj__ctx_switch(&self, &r->ctx);
    uint64_t used = (uint64_t)(uintptr_t)st.lo + STACK_SIZE - r->lowest_sp;
    result(r->lowest_sp > (uint64_t)(uintptr_t)st.lo && used > STACK_SIZE * 8 / 10,
           "deep recursion on a committed fiber stack: used %llu of %u bytes", (unsigned long long)used, STACK_SIZE);
    note("part 4: recursion through ___chkstk_ms used %llu of %u KiB of a committed fiber stack",
         (unsigned long long)used / 1024, STACK_SIZE / 1024);

    /* Committed like a thread's stack: the top pages, a guard page below, the
     * rest reserved. Windows (Wine) commits the next page each time the guard
     * page is touched, if the page lies in DeallocationStack..StackBase of the
     * TEB; otherwise the touch is a STATUS_GUARD_PAGE_VIOLATION and the
     * process dies. StackLimit follows the committed part. */
    rec *g = calloc(1, sizeof *g);
    /* Reserved read-write as Windows reserves thread stacks: the pages the
     * guard-page mechanism commits take the reservation's protection. */
    char *res = VirtualAlloc(NULL, GUARD + STACK_SIZE, MEM_RESERVE, PAGE_READWRITE);
    SYSTEM_INFO si;
    GetSystemInfo(&si);
    size_t page = si.dwPageSize;
    char *lo = res + GUARD, *top = lo + STACK_SIZE;
    if (!res || !VirtualAlloc(top - 2 * page, 2 * page, MEM_COMMIT, PAGE_READWRITE) ||
        !VirtualAlloc(top - 3 * page, page, MEM_COMMIT, PAGE_READWRITE | PAGE_GUARD)) {
        printf("VirtualAlloc failed: %lu\n", (unsigned long)GetLastError());
        exit(2);
    }
    g->depth = 18;
    fj__ctx_make(&g->ctx, lo, STACK_SIZE, GUARD, rec_entry, g);
    fj__ctx_frame *frame = (fj__ctx_frame *)g->ctx.sp;
    frame->stack_limit = (uint64_t)(uintptr_t)(top - 2 * page);
    frame->dealloc = (uint64_t)(uintptr_t)res;
    fj__ctx_switch(&self, &g->ctx);
    used = (uint64_t)(uintptr_t)top - g->lowest_sp;
    result(used > STACK_SIZE * 8 / 10 && g->after.limit < (uint64_t)(uintptr_t)(top - 2 * page) &&
               g->after.limit <= g->lowest_sp,
           "deep recursion on a guard-page fiber stack: used %llu bytes, StackLimit %#llx", (unsigned long long)used,
           (unsigned long long)g->after.limit);
    note("part 4: the same on a stack grown through its guard page: StackLimit followed it down to %#llx (%llu KiB committed)",
         (unsigned long long)g->after.limit, (unsigned long long)((uint64_t)(uintptr_t)top - g->after.limit) / 1024);
}

/* ------------------------------------------------------------ part 5: MXCSR, x87 control word */

static uint32_t read_mxcsr(void)
{
    uint32_t v;
    __asm__ __volatile__("stmxcsr %0" : "=m"(v));
    return v;
}
static void write_mxcsr(uint32_t v) { __asm__ __volatile__("ldmxcsr %0" ::"m"(v)); }
static uint16_t read_fcw(void)
{
    uint16_t v;
    __asm__ __volatile__("fnstcw %0" : "=m"(v));
    return v;
}
static void write_fcw(uint16_t v) { __asm__ __volatile__("fldcw %0" ::"m"(v)); }

typedef struct fpeer {
    fj__ctx ctx;
    uint32_t seen[3], set[2];
    uint16_t fcw_seen[3], fcw_set[2];
} fpeer;

static void fpeer_entry(fj__ctx *from, void *arg)
{
    fpeer *p = arg;
    p->seen[0] = read_mxcsr();
    p->fcw_seen[0] = read_fcw();
    write_mxcsr(p->set[0]);
    write_fcw(p->fcw_set[0]);
    from = fj__ctx_switch(&p->ctx, from);
    p->seen[1] = read_mxcsr();
    p->fcw_seen[1] = read_fcw();
    write_mxcsr(p->set[1]);
    write_fcw(p->fcw_set[1]);
    from = fj__ctx_switch(&p->ctx, from);
    p->seen[2] = read_mxcsr();
    p->fcw_seen[2] = read_fcw();
    for (;;)
        from = fj__ctx_switch(&p->ctx, from);
}

static float divide(float a, float b)
{
    volatile float x = a, y = b;
    return x / y;
}

static void part5(void)
{
    const uint32_t orig = read_mxcsr();
    const uint16_t ofcw = read_fcw();
    const uint32_t base = orig & ~0x7fc0u & ~0x3fu;   /* masks kept, RC, FTZ, DAZ cleared */
    /* The rounding control (bits 13-14) must have an effect, or the checks prove nothing. */
    write_mxcsr(base | 0x1f80u | (2u << 13));
    float up = divide(1.0f, 3.0f);
    write_mxcsr(base | 0x1f80u | (1u << 13));
    float down = divide(1.0f, 3.0f);
    write_mxcsr(orig);
    result(up > down, "MXCSR rounding control has no effect here (%a vs %a)", (double)up, (double)down);

    const uint32_t M = base | 0x1f80u;
    const uint32_t A = M | (2u << 13), B = M | (3u << 13) | 0x8000u, C = M | (1u << 13),
                   D = M | 0x40u, E = M | (3u << 13);
    const uint16_t fbase = ofcw & ~0x0c00u;
    const uint16_t FA = fbase | 0x0800u, FB = fbase | 0x0c00u, FC = fbase | 0x0400u, FD = fbase, FE = fbase | 0x0c00u;
    fpeer *p = calloc(1, sizeof *p);
    stack st = stack_new(STACK_SIZE);
    p->set[0] = C;
    p->set[1] = E;
    p->fcw_set[0] = FC;
    p->fcw_set[1] = FE;
    write_mxcsr(A);
    write_fcw(FA);
    fj__ctx_make(&p->ctx, st.lo, STACK_SIZE, GUARD, fpeer_entry, p);
    write_mxcsr(B);
    write_fcw(FB);
    fj__ctx self;
    fj__ctx_switch(&self, &p->ctx);
    uint32_t main1 = read_mxcsr();
    uint16_t fmain1 = read_fcw();
    write_mxcsr(D);
    write_fcw(FD);
    fj__ctx_switch(&self, &p->ctx);
    uint32_t main2 = read_mxcsr();
    uint16_t fmain2 = read_fcw();
    write_mxcsr(orig);
    write_fcw(ofcw);
    fj__ctx_switch(&self, &p->ctx);
    write_mxcsr(orig);
    write_fcw(ofcw);
#ifdef FJ_SAVE_FPU
    const int saved = 1;
    const char *mode = "saved per context (FJ_SAVE_FPU)";
#else
    const int saved = 0;
    const char *mode = "not switched: flows between contexts (no FJ_SAVE_FPU)";
#endif
    uint32_t want[5] = { saved ? A : B, saved ? B : C, saved ? C : D, saved ? D : E, saved ? E : orig };
    uint16_t fwant[5] = { saved ? FA : FB, saved ? FB : FC, saved ? FC : FD, saved ? FD : FE, saved ? FE : ofcw };
    uint32_t got[5] = { p->seen[0], main1, p->seen[1], main2, p->seen[2] };
    uint16_t fgot[5] = { p->fcw_seen[0], fmain1, p->fcw_seen[1], fmain2, p->fcw_seen[2] };
    static const char *const what[5] = { "at entry of a new context", "back in the first context",
                                         "in the second context when resumed", "back in the first context again",
                                         "in the second context when resumed again" };
    int bad = 0;
    for (int i = 0; i < 5; i++) {
        /* The sticky exception flags (low six bits) are results, not state. */
        if ((got[i] & ~0x3fu) != (want[i] & ~0x3fu)) {
            printf("  MXCSR %s: %#x, expected %#x\n", what[i], got[i], want[i]);
            bad++;
        }
        if (fgot[i] != fwant[i]) {
            printf("  x87 control word %s: %#x, expected %#x\n", what[i], fgot[i], fwant[i]);
            bad++;
        }
    }
    result(bad == 0, "MXCSR and x87 control word across switches, %s: %d mismatches", mode, bad);
    note("part 5: MXCSR and x87 control word %s", mode);
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    printf("regcheck: Windows x64 context switch%s\n",
#ifdef FJ_SAVE_FPU
           ", FJ_SAVE_FPU"
#else
           ""
#endif
    );
    part1();
    part2b();
    part3();
    part4();
    part5();
    printf("regcheck: %d passed, %d failed\n", npassed, nfailed);
    return nfailed ? 1 : 0;
}

#endif /* RC_CXX */
