/*
 * AArch64 context-switch check, run under qemu-user by tools/aarch64.sh.
 *
 * Part 1 drives fj__ctx_switch directly (ctx.h) from an assembly harness that
 * loads a known pattern into every register the AAPCS64 makes callee-saved
 * (x19-x28, x29, d8-d15), calls the switch, and stores what it finds after the
 * call returns. The other context does the same with a different pattern, so
 * both directions are checked, over many rounds with a fresh pattern each time,
 * on fresh contexts (the trampoline) and after the suspended context has moved
 * to another thread (as fibers do between workers). Also checked: sp is the
 * same after the switch returns, control returns right after the call with x30
 * holding that return address (the asm switch returns with `br x30`), the value
 * returned is the context we came from, the new context's stack is 16-byte
 * aligned and inside its stack, x29 is 0 in the trampoline's frame, and
 * tpidr_el0 (the thread pointer) is the resuming thread's, not the suspending
 * one's.
 *
 * Part 2 checks FPCR: with FJ_SAVE_FPU each context keeps its own FPCR across
 * switches and a new context starts with the FPCR of whoever prepared it;
 * without it FPCR is not switched (it flows from one context to the next, as
 * DESIGN.md says: no FP control state in the switch by default). The check
 * asserts whichever behaviour the build claims, so it fails on both a missing
 * save and an unexpected one. It also checks that qemu honours the FPCR
 * rounding mode at all, so the FPCR checks are not vacuous.
 *
 * Part 3 runs the same register harness around real jobs through the public
 * API (fj_run_jobs/fj_wait/fj_yield with several workers), so the registers
 * must survive the scheduler's own switches, including resumption on another
 * worker. Part 3b (only with FJ_SAVE_FPU, or with --fpcr-api) changes FPCR in a
 * job, waits, and checks it afterwards: the case FIBERJOB_SAVE_FPU is for.
 *
 * With -DRC_CTX_ONLY only parts 1 and 2 are built, against src/arch/ctx_make.c and
 * ctx_aarch64.S alone: tools/aarch64.sh's opt-in "bti" variant builds it that way
 * with -mbranch-protection=standard and runs it with BTI enforced.
 *
 * Build (tools/aarch64.sh does this against each variant's libfiberjob.a):
 *   aarch64-linux-gnu-gcc -O2 -I include -I src [-DFJ_SAVE_FPU=1|-DFJ_CTX_UCONTEXT=1]
 *       tools/aarch64_regcheck.c BUILD/libfiberjob.a -lpthread
 * Exit status 0 when every check passed; prints "regcheck: N passed, N failed".
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef RC_CTX_ONLY
#include "fiberjob.h"
#endif
#include "arch/ctx.h"

#ifndef __aarch64__
#error "tools/aarch64_regcheck.c is AArch64-only"
#endif

#ifdef FJ_CTX_USE_UCONTEXT
#define MODE "ucontext"
#else
#define MODE "asm"
#endif

/* ------------------------------------------------------------ harness */

/* Callee-saved registers: x19..x29 (x[0..10]), a pad word, d8..d15. */
typedef struct rc_regs {
    uint64_t x[12];
    uint64_t d[8];
} rc_regs;

typedef struct rc_out {
    rc_regs r;             /* 0 */
    uint64_t x0;           /* 160: value returned by fn */
    uint64_t x30;          /* 168: x30 right after fn returned */
    uint64_t sp_before;    /* 176 */
    uint64_t sp_after;     /* 184 */
    uint64_t ret_addr;     /* 192: address of the instruction after the call */
} rc_out;

_Static_assert(sizeof(rc_regs) == 160, "rc_regs layout");
_Static_assert(sizeof(rc_out) == 200, "rc_out layout");

/* uint64_t rc_call_checked(fn, a0, a1, const rc_regs *pat, rc_out *out):
 * keep the caller's callee-saved registers, load pat into x19..x29/d8..d15,
 * call fn(a0, a1), store what the registers hold afterwards into out, restore
 * the caller's registers. */
typedef void *(*rc_fn)(void *, void *);
void *rc_call_checked(rc_fn fn, void *a0, void *a1, const rc_regs *pat, rc_out *out);

__asm__(
    "    .text\n"
    "    .globl rc_call_checked\n"
    "    .type rc_call_checked, %function\n"
    "    .p2align 4\n"
    "rc_call_checked:\n"
    "    hint #34\n" /* bti c: harmless without BTI */
    "    stp x29, x30, [sp, #-192]!\n"
    "    mov x29, sp\n"
    "    stp x19, x20, [sp, #16]\n"
    "    stp x21, x22, [sp, #32]\n"
    "    stp x23, x24, [sp, #48]\n"
    "    stp x25, x26, [sp, #64]\n"
    "    stp x27, x28, [sp, #80]\n"
    "    stp d8, d9, [sp, #96]\n"
    "    stp d10, d11, [sp, #112]\n"
    "    stp d12, d13, [sp, #128]\n"
    "    stp d14, d15, [sp, #144]\n"
    "    stp x3, x4, [sp, #160]\n"
    "    mov x9, sp\n"
    "    str x9, [x4, #176]\n"
    "    mov x9, x0\n"
    "    mov x0, x1\n"
    "    mov x1, x2\n"
    "    ldp x19, x20, [x3, #0]\n"
    "    ldp x21, x22, [x3, #16]\n"
    "    ldp x23, x24, [x3, #32]\n"
    "    ldp x25, x26, [x3, #48]\n"
    "    ldp x27, x28, [x3, #64]\n"
    "    ldr x29, [x3, #80]\n"
    "    ldp d8, d9, [x3, #96]\n"
    "    ldp d10, d11, [x3, #112]\n"
    "    ldp d12, d13, [x3, #128]\n"
    "    ldp d14, d15, [x3, #144]\n"
    /* Junk in the upper halves of v8-v15 and in the caller-saved registers,
     * so nothing passes because a register happened to stay zero. */
    "    movi v16.16b, #0xa5\n"
    "    mov v8.d[1], v16.d[0]\n"
    "    mov v15.d[1], v16.d[0]\n"
    "    mov x10, #0x5a5a\n"
    "    mov x11, x10\n"
    "    mov x12, x10\n"
    "    mov x13, x10\n"
    "    mov x14, x10\n"
    "    mov x15, x10\n"
    "    blr x9\n"
    ".Lrc_after_call:\n"
    "    mov x10, sp\n"
    "    mov x11, x30\n"
    "    ldr x9, [sp, #168]\n"
    "    stp x19, x20, [x9, #0]\n"
    "    stp x21, x22, [x9, #16]\n"
    "    stp x23, x24, [x9, #32]\n"
    "    stp x25, x26, [x9, #48]\n"
    "    stp x27, x28, [x9, #64]\n"
    "    str x29, [x9, #80]\n"
    "    stp d8, d9, [x9, #96]\n"
    "    stp d10, d11, [x9, #112]\n"
    "    stp d12, d13, [x9, #128]\n"
    "    stp d14, d15, [x9, #144]\n"
    "    str x0, [x9, #160]\n"
    "    str x11, [x9, #168]\n"
    "    str x10, [x9, #184]\n"
    "    adr x12, .Lrc_after_call\n"
    "    str x12, [x9, #192]\n"
    "    ldp x19, x20, [sp, #16]\n"
    "    ldp x21, x22, [sp, #32]\n"
    "    ldp x23, x24, [sp, #48]\n"
    "    ldp x25, x26, [sp, #64]\n"
    "    ldp x27, x28, [sp, #80]\n"
    "    ldp d8, d9, [sp, #96]\n"
    "    ldp d10, d11, [sp, #112]\n"
    "    ldp d12, d13, [sp, #128]\n"
    "    ldp d14, d15, [sp, #144]\n"
    "    ldp x29, x30, [sp], #192\n"
    "    ret\n"
    "    .size rc_call_checked, .-rc_call_checked\n");

static uint64_t read_fpcr(void)
{
    uint64_t v;
    __asm__ __volatile__("mrs %0, fpcr" : "=r"(v));
    return v;
}

static void write_fpcr(uint64_t v) { __asm__ __volatile__("msr fpcr, %0" ::"r"(v) : "memory"); }

static uint64_t read_tpidr(void)
{
    uint64_t v;
    __asm__ __volatile__("mrs %0, tpidr_el0" : "=r"(v));
    return v;
}

static uint64_t read_sp(void)
{
    uint64_t v;
    __asm__ __volatile__("mov %0, sp" : "=r"(v));
    return v;
}

/* ------------------------------------------------------------ reporting */

static int npassed, nfailed;
static pthread_mutex_t report_mu = PTHREAD_MUTEX_INITIALIZER;

static void result(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void result(int ok, const char *fmt, ...)
{
    va_list ap;
    pthread_mutex_lock(&report_mu);
    if (ok) {
        npassed++;
    } else {
        nfailed++;
        fputs("FAIL: ", stdout);
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        fputc('\n', stdout);
    }
    pthread_mutex_unlock(&report_mu);
}

static void pass_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void pass_note(const char *fmt, ...)
{
    va_list ap;
    pthread_mutex_lock(&report_mu);
    fputs("  ok: ", stdout);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
    pthread_mutex_unlock(&report_mu);
}

static void make_pattern(rc_regs *p, uint64_t seed)
{
    for (int i = 0; i < 11; i++)
        p->x[i] = (seed * 0x9e3779b97f4a7c15ull) ^ ((uint64_t)(19 + i) << 56) ^ (0x1111111111111111ull * (uint64_t)(i + 1));
    p->x[11] = 0;
    for (int i = 0; i < 8; i++)
        p->d[i] = (seed * 0xc2b2ae3d27d4eb4full) ^ ((uint64_t)(8 + i) << 48) ^ 0x3ff0000000000000ull ^ (uint64_t)i;
}

/* Compare; returns the number of mismatches and prints the first few. */
static int nprinted;
#define MISMATCH(...)                                               \
    do {                                                            \
        if (__atomic_fetch_add(&nprinted, 1, __ATOMIC_RELAXED) < 24) \
            printf(__VA_ARGS__);                                    \
    } while (0)

static int compare(const char *what, const rc_regs *want, const rc_out *got, int check_x30)
{
    int bad = 0;
    for (int i = 0; i < 11; i++)
        if (got->r.x[i] != want->x[i]) {
            MISMATCH("  %s: x%d = %#llx, expected %#llx\n", what, 19 + i,
                   (unsigned long long)got->r.x[i], (unsigned long long)want->x[i]);
            bad++;
        }
    for (int i = 0; i < 8; i++)
        if (got->r.d[i] != want->d[i]) {
            MISMATCH("  %s: d%d = %#llx, expected %#llx\n", what, 8 + i,
                   (unsigned long long)got->r.d[i], (unsigned long long)want->d[i]);
            bad++;
        }
    if (got->sp_after != got->sp_before) {
        MISMATCH("  %s: sp = %#llx after the switch, %#llx before\n", what,
               (unsigned long long)got->sp_after, (unsigned long long)got->sp_before);
        bad++;
    }
    if (check_x30 && got->x30 != got->ret_addr) {
        MISMATCH("  %s: x30 = %#llx after the switch returned, expected the return address %#llx\n",
               what, (unsigned long long)got->x30, (unsigned long long)got->ret_addr);
        bad++;
    }
    return bad;
}

/* In the asm switch x30 is the resume address by construction (`br x30`); the
 * ucontext switch is a C function and leaves x30 to the compiler. */
#ifdef FJ_CTX_USE_UCONTEXT
#define CHECK_X30 0
#else
#define CHECK_X30 1
#endif

/* ------------------------------------------------------------ part 1: raw switch */

#define STACK_SIZE (256 * 1024)
#define ROUNDS 2000

typedef struct peer {
    fj__ctx ctx;
    void *stack;
    fj__ctx *back;          /* where to switch back to: whoever switched to us */
    fj__ctx *first_from;
    uint64_t entry_sp;
    uint64_t entry_fp;
    uint64_t tpidr_seen[2]; /* tpidr_el0 as seen by the peer in phase 0 / 1 */
    int rounds;             /* rounds the peer completed */
    int bad;                /* mismatches the peer saw */
    volatile int phase;     /* set by the driving side */
} peer;

static void *alloc_stack(void)
{
    void *p = mmap(NULL, STACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        exit(2);
    }
    return p;
}

static void *switch_thunk(void *from, void *to) { return fj__ctx_switch(from, to); }

static void peer_entry(fj__ctx *from, void *arg)
{
    peer *p = arg;
    p->entry_sp = read_sp();
    /* Our frame record holds the caller's x29: the trampoline's. */
    p->entry_fp = *(volatile uint64_t *)__builtin_frame_address(0);
    p->first_from = from;
    p->back = from;
    for (int round = 0;; round++) {
        p->tpidr_seen[p->phase ? 1 : 0] = read_tpidr();
        rc_regs pat;
        rc_out out;
        make_pattern(&pat, 0xbeef0000ull + (uint64_t)round);
        fj__ctx *came = rc_call_checked((rc_fn)(void (*)(void))fj__ctx_switch, &p->ctx, p->back, &pat, &out);
        (void)came;
        p->bad += compare("peer side", &pat, &out, CHECK_X30);
        if ((fj__ctx *)(uintptr_t)out.x0 == NULL) {
            printf("  peer side: fj__ctx_switch returned NULL\n");
            p->bad++;
        }
        p->back = (fj__ctx *)(uintptr_t)out.x0;
        p->rounds++;
    }
}

/* Drive `rounds` round trips to the peer from the calling thread. */
static int drive(peer *p, fj__ctx *self, int first_round, int rounds)
{
    int bad = 0;
    for (int i = 0; i < rounds; i++) {
        rc_regs pat;
        rc_out out;
        make_pattern(&pat, 0x51de0000ull + (uint64_t)(first_round + i));
        (void)rc_call_checked((rc_fn)switch_thunk, self, &p->ctx, &pat, &out);
        /* switch_thunk is a C function around the switch: its own frame is
         * restored by the compiler, so drive the switch directly as well. */
        bad += compare("driver side (via C)", &pat, &out, 0);
        make_pattern(&pat, 0x5a1e0000ull + (uint64_t)(first_round + i));
        (void)rc_call_checked((rc_fn)(void (*)(void))fj__ctx_switch, self, &p->ctx, &pat, &out);
        bad += compare("driver side", &pat, &out, CHECK_X30);
        if ((fj__ctx *)(uintptr_t)out.x0 != &p->ctx) {
            printf("  driver side: fj__ctx_switch returned %p, expected the peer %p\n",
                   (void *)(uintptr_t)out.x0, (void *)&p->ctx);
            bad++;
        }
    }
    return bad;
}

typedef struct thread_arg {
    peer *p;
    int bad;
    uint64_t tpidr;
} thread_arg;

static void *migrate_thread(void *arg)
{
    thread_arg *t = arg;
    fj__ctx self;
    memset(&self, 0, sizeof self);
    t->tpidr = read_tpidr();
    t->p->phase = 1;
    t->bad = drive(t->p, &self, ROUNDS, ROUNDS / 4);
    return NULL;
}

static void part1(void)
{
    peer *p = calloc(1, sizeof *p);
    fj__ctx self;
    memset(&self, 0, sizeof self);
    p->stack = alloc_stack();
    fj__ctx_make(&p->ctx, p->stack, STACK_SIZE, 0, peer_entry, p);

    int bad = drive(p, &self, 0, ROUNDS);
    uint64_t lo = (uint64_t)(uintptr_t)p->stack, hi = lo + STACK_SIZE;
    result(p->first_from == &self, "first switch into a new context: entry got from=%p, expected %p",
           (void *)p->first_from, (void *)&self);
    result(p->entry_sp > lo && p->entry_sp < hi && (p->entry_sp & 15) == 0,
           "new context's sp %#llx not 16-byte aligned inside its stack [%#llx, %#llx)",
           (unsigned long long)p->entry_sp, (unsigned long long)lo, (unsigned long long)hi);
#ifndef FJ_CTX_USE_UCONTEXT
    /* The trampoline zeroes x29 so a frame-pointer walk stops there. */
    result(p->entry_fp == 0, "trampoline frame: x29 = %#llx, expected 0", (unsigned long long)p->entry_fp);
#endif
    result(bad == 0, "callee-saved registers on the driving side: %d mismatches", bad);
    result(p->bad == 0, "callee-saved registers on the new context's side: %d mismatches", p->bad);
    result(p->rounds == 2 * ROUNDS - 1,
           "peer completed %d rounds, expected %d", p->rounds, 2 * ROUNDS - 1);
    pass_note("part 1: %d round trips, x19-x29, d8-d15, sp, %sreturn value: %s", 2 * ROUNDS,
              CHECK_X30 ? "x30 = return address, " : "", bad || p->bad ? "MISMATCH" : "preserved");

    /* Resume the suspended context from another thread: registers still
     * preserved, and tpidr_el0 is the new thread's (the switch must not carry
     * the thread pointer along, or TLS would point at the old thread). */
    int before_bad = p->bad;
    thread_arg t = { .p = p };
    pthread_t th;
    if (pthread_create(&th, NULL, migrate_thread, &t) != 0) {
        perror("pthread_create");
        exit(2);
    }
    pthread_join(th, NULL);
    result(t.bad == 0 && p->bad == before_bad,
           "after moving the suspended context to another thread: %d + %d mismatches", t.bad,
           p->bad - before_bad);
    result(p->tpidr_seen[1] == t.tpidr && p->tpidr_seen[1] != p->tpidr_seen[0],
           "tpidr_el0 in the context after it moved threads: %#llx, thread's %#llx, old thread's %#llx",
           (unsigned long long)p->tpidr_seen[1], (unsigned long long)t.tpidr,
           (unsigned long long)p->tpidr_seen[0]);
    pass_note("part 1: resumed on another thread: registers preserved, tpidr_el0 is the new thread's");

    /* Fresh contexts, many of them, each entered once and left suspended. */
    int fresh_bad = 0;
    for (int i = 0; i < 64; i++) {
        peer *q = calloc(1, sizeof *q);
        q->stack = alloc_stack();
        fj__ctx_make(&q->ctx, q->stack, STACK_SIZE - 16 * (size_t)i - (size_t)(i & 1) * 8, 0, peer_entry, q);
        fresh_bad += drive(q, &self, 1000 * i, 2);
        fresh_bad += q->bad;
        if ((q->entry_sp & 15) != 0)
            fresh_bad++;
        munmap(q->stack, STACK_SIZE);
        free(q);
    }
    result(fresh_bad == 0, "64 fresh contexts (odd stack sizes): %d mismatches", fresh_bad);
    pass_note("part 1: 64 fresh contexts with odd stack sizes: aligned, preserved");
    /* p stays suspended on its stack; never freed. */
}

/* ------------------------------------------------------------ part 2: FPCR */

#define FPCR_RMODE_SHIFT 22
#define FPCR_RN (0ull << FPCR_RMODE_SHIFT)
#define FPCR_RP (1ull << FPCR_RMODE_SHIFT)
#define FPCR_RM (2ull << FPCR_RMODE_SHIFT)
#define FPCR_RZ (3ull << FPCR_RMODE_SHIFT)
#define FPCR_FZ (1ull << 24)
#define FPCR_DN (1ull << 25)
#define FPCR_AHP (1ull << 26)

typedef struct fpeer {
    fj__ctx ctx;
    fj__ctx *back;
    uint64_t seen[3];
    uint64_t set[2];
} fpeer;

static void fpeer_entry(fj__ctx *from, void *arg)
{
    fpeer *p = arg;
    p->back = from;
    p->seen[0] = read_fpcr();
    write_fpcr(p->set[0]);
    p->back = fj__ctx_switch(&p->ctx, p->back);
    p->seen[1] = read_fpcr();
    write_fpcr(p->set[1]);
    p->back = fj__ctx_switch(&p->ctx, p->back);
    p->seen[2] = read_fpcr();
    for (;;)
        p->back = fj__ctx_switch(&p->ctx, p->back);
}

static double divide(double a, double b)
{
    volatile double x = a, y = b;
    return x / y;
}

static const char *fpcr_expected_mode(void)
{
#if defined(FJ_CTX_USE_UCONTEXT)
    return "ucontext (glibc's swapcontext restores FPCR)";
#elif defined(FJ_SAVE_FPU)
    return "asm with FJ_SAVE_FPU (saved per context)";
#else
    return "asm without FJ_SAVE_FPU (not switched: flows between contexts)";
#endif
}

static void part2(void)
{
    const uint64_t orig = read_fpcr();

    /* qemu must honour the rounding mode, or the checks below prove nothing. */
    write_fpcr(orig | FPCR_RP);
    double up = divide(1.0, 3.0);
    write_fpcr((orig & ~(3ull << FPCR_RMODE_SHIFT)) | FPCR_RM);
    double down = divide(1.0, 3.0);
    write_fpcr(orig);
    result(up > down, "FPCR rounding mode has no effect under this emulator (%a vs %a)", up, down);

    const uint64_t base = orig & ~(3ull << FPCR_RMODE_SHIFT) & ~(FPCR_FZ | FPCR_DN | FPCR_AHP);
    const uint64_t A = base | FPCR_RP | FPCR_DN;   /* while the context is prepared */
    const uint64_t B = base | FPCR_RZ | FPCR_FZ;   /* main before the first switch */
    const uint64_t C = base | FPCR_RM;             /* peer sets, then switches back */
    const uint64_t D = base | FPCR_RN | FPCR_AHP;  /* main sets before the second switch */
    const uint64_t E = base | FPCR_RZ | FPCR_DN;   /* peer sets before the second switch back */

    fpeer *p = calloc(1, sizeof *p);
    void *stack = alloc_stack();
    p->set[0] = C;
    p->set[1] = E;
    write_fpcr(A);
    uint64_t a_read = read_fpcr();
    fj__ctx_make(&p->ctx, stack, STACK_SIZE, 0, fpeer_entry, p);
    write_fpcr(B);
    fj__ctx self;
    memset(&self, 0, sizeof self);
    fj__ctx_switch(&self, &p->ctx);
    uint64_t main1 = read_fpcr();
    write_fpcr(D);
    fj__ctx_switch(&self, &p->ctx);
    uint64_t main2 = read_fpcr();
    write_fpcr(orig);
    fj__ctx_switch(&self, &p->ctx);
    write_fpcr(orig);
    result(a_read == A && read_fpcr() == orig, "FPCR bits not writable under this emulator (%#llx)",
           (unsigned long long)a_read);

    int saved;
#if defined(FJ_CTX_USE_UCONTEXT) || defined(FJ_SAVE_FPU)
    saved = 1;
#else
    saved = 0;
#endif
    uint64_t want_entry = saved ? A : B;
#ifdef FJ_CTX_USE_UCONTEXT
    /* makecontext keeps what getcontext saw in fj__ctx_make: A as well. */
#endif
    uint64_t want_main1 = saved ? B : C;
    uint64_t want_peer1 = saved ? C : D;
    uint64_t want_main2 = saved ? D : E;
    uint64_t want_peer2 = saved ? E : orig;
    int bad = 0;
#define FPCHK(got, want, what)                                                               \
    do {                                                                                   \
        if ((got) != (want)) {                                                             \
            printf("  FPCR %s: %#llx, expected %#llx\n", what, (unsigned long long)(got), \
                   (unsigned long long)(want));                                            \
            bad++;                                                                         \
        }                                                                                  \
    } while (0)
    FPCHK(p->seen[0], want_entry, "at entry of a new context");
    FPCHK(main1, want_main1, "back in the first context after the switch");
    FPCHK(p->seen[1], want_peer1, "in the second context when resumed");
    FPCHK(main2, want_main2, "back in the first context after the second switch");
    FPCHK(p->seen[2], want_peer2, "in the second context when resumed again");
    result(bad == 0, "FPCR across switches, mode %s: %d mismatches", fpcr_expected_mode(), bad);
    pass_note("part 2: FPCR %s", fpcr_expected_mode());
}

#ifndef RC_CTX_ONLY
/* ------------------------------------------------------------ part 3: through the scheduler */

#define P3_JOBS 64
#define P3_CHILDREN 8

static int p3_moved;     /* jobs that resumed on a different worker */
static int p3_bad;

static void p3_leaf(void *arg)
{
    volatile double x = 1.0;
    for (int i = 0; i < 200; i++)
        x = x * 1.000001 + (double)(uintptr_t)arg * 1e-9;
    (void)x;
}

static void *p3_body(void *a0, void *a1)
{
    (void)a1;
    uintptr_t id = (uintptr_t)a0;
    int w0 = fj_worker_index();
    fj_job kids[P3_CHILDREN];
    for (int i = 0; i < P3_CHILDREN; i++)
        kids[i] = (fj_job){ .fn = p3_leaf, .arg = (void *)(id * 100 + (uintptr_t)i), .name = "p3 leaf" };
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs(kids, P3_CHILDREN, &c);
    fj_yield();
    fj_wait(&c, 0);
    fj_yield();
    int w1 = fj_worker_index();
    if (w1 != w0)
        __atomic_fetch_add(&p3_moved, 1, __ATOMIC_RELAXED);
    return (void *)(id ^ 0x77);
}

static void p3_job(void *arg)
{
    uintptr_t id = (uintptr_t)arg;
    rc_regs pat;
    rc_out out;
    make_pattern(&pat, 0xf1be0000ull + id);
    void *r = rc_call_checked(p3_body, (void *)id, NULL, &pat, &out);
    char what[64];
    snprintf(what, sizeof what, "job %lu", (unsigned long)id);
    int bad = compare(what, &pat, &out, 0);
    if ((uintptr_t)r != (id ^ 0x77))
        bad++;
    if (bad)
        __atomic_fetch_add(&p3_bad, bad, __ATOMIC_RELAXED);
}

static void p3_root(void *arg)
{
    (void)arg;
    fj_job jobs[P3_JOBS];
    for (uintptr_t i = 0; i < P3_JOBS; i++)
        jobs[i] = (fj_job){ .fn = p3_job, .arg = (void *)i, .name = "regcheck job" };
    for (int rep = 0; rep < 4; rep++) {
        fj_counter c;
        fj_counter_init(&c, 0);
        fj_run_jobs(jobs, P3_JOBS, &c);
        fj_wait(&c, 0);
    }
}

/* Part 3b: a job changes FPCR, waits (its fiber is switched out and may resume
 * on another worker), and expects its FPCR back; the child jobs must see the
 * worker's FPCR, not the waiting job's. Only meaningful with FJ_SAVE_FPU. */
static int p3b_bad;
static uint64_t p3b_worker_fpcr;

static void p3b_leaf(void *arg)
{
    (void)arg;
    p3_leaf(arg);
}

static void p3b_job(void *arg)
{
    uintptr_t id = (uintptr_t)arg;
    uint64_t before = read_fpcr();
    uint64_t mine = (before & ~(3ull << FPCR_RMODE_SHIFT)) | ((id & 1) ? FPCR_RZ : FPCR_RP);
    write_fpcr(mine);
    fj_job kids[4];
    for (int i = 0; i < 4; i++)
        kids[i] = (fj_job){ .fn = p3b_leaf, .arg = NULL, .name = "fpcr leaf", .flags = 0 };
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs(kids, 4, &c);
    fj_wait(&c, 0);
    fj_yield();
    uint64_t after = read_fpcr();
    if (after != mine) {
        printf("  job %lu: FPCR %#llx after fj_wait, set %#llx before it\n", (unsigned long)id,
               (unsigned long long)after, (unsigned long long)mine);
        __atomic_fetch_add(&p3b_bad, 1, __ATOMIC_RELAXED);
    }
    write_fpcr(before);
}

static void p3b_root(void *arg)
{
    (void)arg;
    p3b_worker_fpcr = read_fpcr();
    fj_job jobs[32];
    for (uintptr_t i = 0; i < 32; i++)
        jobs[i] = (fj_job){ .fn = p3b_job, .arg = (void *)i, .name = "fpcr job" };
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs(jobs, 32, &c);
    fj_wait(&c, 0);
}

static void part3(unsigned workers, int fpcr_api)
{
    fj_config cfg = fj_config_default();
    cfg.workers = workers;
    fj_scheduler *s = fj_create(&cfg);
    if (!s) {
        result(0, "fj_create failed: %s", fj_strerror(fj_last_error()));
        return;
    }
    int rc = fj_main(s, p3_root, NULL);
    result(rc == 0, "fj_main returned %d", rc);
    result(p3_bad == 0, "callee-saved registers around jobs that wait and yield: %d mismatches", p3_bad);
    pass_note("part 3: %d jobs x 4 with %u workers around fj_wait/fj_yield: registers %s "
              "(%d resumed on another worker)",
              P3_JOBS, workers, p3_bad ? "MISMATCH" : "preserved", p3_moved);
    if (fpcr_api) {
        rc = fj_main(s, p3b_root, NULL);
        result(rc == 0 && p3b_bad == 0, "FPCR changed in a job across fj_wait: %d jobs lost it", p3b_bad);
        pass_note("part 3b: FPCR set in a job survives fj_wait%s", p3b_bad ? " -- NO" : "");
    }
    fj_destroy(s);
}

#endif /* RC_CTX_ONLY */

int main(int argc, char **argv)
{
    unsigned workers = 4;
    int fpcr_api = 0;
#if defined(FJ_SAVE_FPU)
    fpcr_api = 1;
#endif
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--fpcr-api"))
            fpcr_api = 1;
        else if (!strcmp(argv[i], "--no-fpcr-api"))
            fpcr_api = 0;
        else
            workers = (unsigned)atoi(argv[i]);
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("regcheck: context switch = %s%s\n", MODE,
#ifdef FJ_SAVE_FPU
           ", FJ_SAVE_FPU"
#else
           ""
#endif
    );
    part1();
    part2();
#ifndef RC_CTX_ONLY
    part3(workers ? workers : 4, fpcr_api);
#else
    (void)workers;
    (void)fpcr_api;
#endif
    printf("regcheck: %d passed, %d failed\n", npassed, nfailed);
    return nfailed ? 1 : 0;
}
