/*
 * The context switch (src/arch/ctx.h), driven directly.
 *
 * 1. Callee-saved registers survive fj__ctx_switch. A small helper, written as
 *    top-level inline assembly so the compiler cannot spill or reload around the
 *    call, loads a distinct sentinel into every callee-saved register, calls
 *    fj__ctx_switch, and stores the registers as they are when the call returns
 *    (plus the returned `from` pointer). Three contexts switch in a cycle
 *    main -> A -> B -> main, each with its own sentinels, so a switch that
 *    restored the wrong frame, or returned the wrong `from`, is caught.
 * 2. A new context starts in its entry with the right `from` and argument, on
 *    an ABI-aligned stack (a varargs call with doubles uses aligned SSE stores).
 * 3. FP control state in the scheduler: a job that changes the rounding mode
 *    and restores it before returning is fine, jobs on every worker start with
 *    the creating thread's MXCSR/FPCR, and (when the library checks) a job that
 *    leaves it changed is reported by name.
 */
#include <fenv.h>

#include "arch/ctx.h"
#include "test.h"

#if defined(__x86_64__)
/* rbx rbp r12 r13 r14 r15, then `from` */
#define NREGS 6
__asm__(".text\n"
        ".globl test_switch_sentinel\n"
        ".type test_switch_sentinel, @function\n"
        ".p2align 4\n"
        "test_switch_sentinel:\n"           /* rdi from, rsi to, rdx out, rcx base */
        "  pushq %rbp\n"
        "  pushq %rbx\n"
        "  pushq %r12\n"
        "  pushq %r13\n"
        "  pushq %r14\n"
        "  pushq %r15\n"
        "  pushq %rdx\n"                    /* 7 pushes: the call below is 16-aligned */
        "  leaq 1(%rcx), %rbx\n"
        "  leaq 2(%rcx), %rbp\n"
        "  leaq 3(%rcx), %r12\n"
        "  leaq 4(%rcx), %r13\n"
        "  leaq 5(%rcx), %r14\n"
        "  leaq 6(%rcx), %r15\n"
        /* Scribble the caller-saved ones too: only callee-saved must survive. */
        "  movq $-1, %rcx\n"
        "  movq $-1, %rdx\n"
        "  movq $-1, %r8\n"
        "  movq $-1, %r9\n"
        "  movq $-1, %r10\n"
        "  movq $-1, %r11\n"
        "  call fj__ctx_switch@PLT\n"
        "  popq %rdx\n"
        "  movq %rbx, 0(%rdx)\n"
        "  movq %rbp, 8(%rdx)\n"
        "  movq %r12, 16(%rdx)\n"
        "  movq %r13, 24(%rdx)\n"
        "  movq %r14, 32(%rdx)\n"
        "  movq %r15, 40(%rdx)\n"
        "  movq %rax, 48(%rdx)\n"
        "  popq %r15\n"
        "  popq %r14\n"
        "  popq %r13\n"
        "  popq %r12\n"
        "  popq %rbx\n"
        "  popq %rbp\n"
        "  ret\n"
        ".size test_switch_sentinel, .-test_switch_sentinel\n");
#elif defined(__aarch64__)
/* x19..x28, x29, d8..d15, then `from` */
#define NREGS 19
__asm__(".text\n"
        ".globl test_switch_sentinel\n"
        ".type test_switch_sentinel, %function\n"
        ".p2align 4\n"
        "test_switch_sentinel:\n"           /* x0 from, x1 to, x2 out, x3 base */
        "  stp x29, x30, [sp, #-176]!\n"
        "  stp x19, x20, [sp, #16]\n"
        "  stp x21, x22, [sp, #32]\n"
        "  stp x23, x24, [sp, #48]\n"
        "  stp x25, x26, [sp, #64]\n"
        "  stp x27, x28, [sp, #80]\n"
        "  stp d8, d9, [sp, #96]\n"
        "  stp d10, d11, [sp, #112]\n"
        "  stp d12, d13, [sp, #128]\n"
        "  stp d14, d15, [sp, #144]\n"
        "  str x2, [sp, #160]\n"
        "  add x19, x3, #1\n"
        "  add x20, x3, #2\n"
        "  add x21, x3, #3\n"
        "  add x22, x3, #4\n"
        "  add x23, x3, #5\n"
        "  add x24, x3, #6\n"
        "  add x25, x3, #7\n"
        "  add x26, x3, #8\n"
        "  add x27, x3, #9\n"
        "  add x28, x3, #10\n"
        "  add x29, x3, #11\n"
        "  add x9, x3, #12\n  fmov d8, x9\n"
        "  add x9, x3, #13\n  fmov d9, x9\n"
        "  add x9, x3, #14\n  fmov d10, x9\n"
        "  add x9, x3, #15\n  fmov d11, x9\n"
        "  add x9, x3, #16\n  fmov d12, x9\n"
        "  add x9, x3, #17\n  fmov d13, x9\n"
        "  add x9, x3, #18\n  fmov d14, x9\n"
        "  add x9, x3, #19\n  fmov d15, x9\n"
        "  mov x2, #-1\n  mov x3, #-1\n  mov x9, #-1\n  mov x16, #-1\n  mov x17, #-1\n"
        "  bl fj__ctx_switch\n"
        "  ldr x2, [sp, #160]\n"
        "  stp x19, x20, [x2, #0]\n"
        "  stp x21, x22, [x2, #16]\n"
        "  stp x23, x24, [x2, #32]\n"
        "  stp x25, x26, [x2, #48]\n"
        "  stp x27, x28, [x2, #64]\n"
        "  str x29, [x2, #80]\n"
        "  str d8, [x2, #88]\n"
        "  str d9, [x2, #96]\n"
        "  str d10, [x2, #104]\n"
        "  str d11, [x2, #112]\n"
        "  str d12, [x2, #120]\n"
        "  str d13, [x2, #128]\n"
        "  str d14, [x2, #136]\n"
        "  str d15, [x2, #144]\n"
        "  str x0, [x2, #152]\n"
        "  ldp x19, x20, [sp, #16]\n"
        "  ldp x21, x22, [sp, #32]\n"
        "  ldp x23, x24, [sp, #48]\n"
        "  ldp x25, x26, [sp, #64]\n"
        "  ldp x27, x28, [sp, #80]\n"
        "  ldp d8, d9, [sp, #96]\n"
        "  ldp d10, d11, [sp, #112]\n"
        "  ldp d12, d13, [sp, #128]\n"
        "  ldp d14, d15, [sp, #144]\n"
        "  ldp x29, x30, [sp], #176\n"
        "  ret\n"
        ".size test_switch_sentinel, .-test_switch_sentinel\n");
#endif

#ifdef NREGS
fj__ctx *test_switch_sentinel(fj__ctx *from, fj__ctx *to, uint64_t *out, uint64_t base);

enum { ROUNDS = 2000, STACK = 256 * 1024 };

static fj__ctx ctx_main, ctx_a, ctx_b;
static int arg_a, arg_b;
static unsigned long long switches_checked;

static void check_sentinels(const char *who, const uint64_t *out, uint64_t base, fj__ctx *from_want)
{
    for (int k = 0; k < NREGS; k++) {
        if (out[k] != base + (uint64_t)k + 1) {
            fprintf(stderr, "%s: callee-saved register #%d is %#llx after the switch back, want %#llx\n",
                    who, k, (unsigned long long)out[k], (unsigned long long)(base + (uint64_t)k + 1));
            exit(1);
        }
    }
    if ((fj__ctx *)(uintptr_t)out[NREGS] != from_want) {
        fprintf(stderr, "%s: fj__ctx_switch returned from=%p, want %p\n", who,
                (void *)(uintptr_t)out[NREGS], (void *)from_want);
        exit(1);
    }
    switches_checked++;
}

/* Keeps the aligned buffer in memory and exercises SSE stores of doubles. */
static __attribute__((noinline)) int format_double(char *buf, size_t n, double d)
{
    return snprintf(buf, n, "%.3f %.1e", d, d * 3.0);
}

static void check_entry_stack(void)
{
    _Alignas(16) char aligned[32];
    CHECK(((uintptr_t)aligned & 15) == 0);
    CHECK(format_double(aligned, sizeof aligned, 2.5) > 0);
    CHECK_STREQ(aligned, "2.500 7.5e+00");
}

static void entry_a(fj__ctx *from, void *arg)
{
    CHECK(from == &ctx_main);
    CHECK(arg == &arg_a);
    check_entry_stack();
    uint64_t out[NREGS + 1];
    for (uint64_t i = 0;; i++) {
        uint64_t base = 0xA0A0000000000000ull + i * 64;
        fj__ctx *f = test_switch_sentinel(&ctx_a, &ctx_b, out, base);
        (void)f;
        /* A is always resumed by main. */
        check_sentinels("context A", out, base, &ctx_main);
    }
}

static void entry_b(fj__ctx *from, void *arg)
{
    CHECK(from == &ctx_a);
    CHECK(arg == &arg_b);
    check_entry_stack();
    uint64_t out[NREGS + 1];
    for (uint64_t i = 0;; i++) {
        uint64_t base = 0xB0B0000000000000ull + i * 64;
        test_switch_sentinel(&ctx_b, &ctx_main, out, base);
        /* B is always resumed by A. */
        check_sentinels("context B", out, base, &ctx_a);
    }
}

static void *stack_new(void)
{
    void *p = test_pages_alloc(STACK);
    CHECK(p);
    return p;
}

static void test_register_preservation(void)
{
    void *sa = stack_new(), *sb = stack_new();
    /* Odd sizes: fj__ctx_make must align the top itself. */
    fj__ctx_make(&ctx_a, sa, STACK - 24, 0, entry_a, &arg_a);
    fj__ctx_make(&ctx_b, (char *)sb + 8, STACK - 8, 0, entry_b, &arg_b);
    uint64_t out[NREGS + 1];
    for (uint64_t i = 0; i < ROUNDS; i++) {
        uint64_t base = 0x5151000000000000ull + i * 64;
        test_switch_sentinel(&ctx_main, &ctx_a, out, base);
        /* Main is always resumed by B. */
        check_sentinels("main context", out, base, &ctx_b);
    }
    /* main: ROUNDS; A: ROUNDS - 1 (its first entry is not a return); B likewise. */
    CHECK_EQ(switches_checked, 3ull * ROUNDS - 2);
    test_pages_free(sa, STACK);
    test_pages_free(sb, STACK);
}

/* Plain C use of the switch, as the scheduler uses it: values in locals that
 * the compiler keeps in callee-saved registers across the call. */
static fj__ctx ctx_c;
static volatile uint64_t c_seen;

static void entry_c(fj__ctx *from, void *arg)
{
    (void)arg;
    uint64_t n = 0;
    for (;;) {
        c_seen = n++;
        from = fj__ctx_switch(&ctx_c, from);
    }
}

static __attribute__((noinline)) uint64_t mix(uint64_t x) { return x * 0x9e3779b97f4a7c15ull + 1; }

static void test_locals_survive(void)
{
    void *sc = stack_new();
    fj__ctx_make(&ctx_c, sc, STACK, 0, entry_c, NULL);
    uint64_t a = 1, b = 2, c = 3, d = 4, e = 5, f = 6;
    for (uint64_t i = 0; i < 10000; i++) {
        uint64_t a0 = a, b0 = b, c0 = c, d0 = d, e0 = e, f0 = f;
        fj__ctx *from = fj__ctx_switch(&ctx_main, &ctx_c);
        CHECK(from == &ctx_c);
        CHECK_EQ(c_seen, i);
        CHECK(a == a0 && b == b0 && c == c0 && d == d0 && e == e0 && f == f0);
        a = mix(a + i), b = mix(b ^ a), c = mix(c + b), d = mix(d ^ c), e = mix(e + d), f = mix(f ^ e);
    }
    test_pages_free(sc, STACK);
}
#endif /* NREGS */

/* ------------------------------------------------------------ FP control state */

static double div_volatile(double a, double b)
{
    /* The volatile store keeps the division on this side of fesetround calls
     * (without -frounding-math the compiler may move arithmetic across them). */
    volatile double x = a, y = b;
    volatile double r = x / y;
    return r;
}

static int fp_errors;

static void rounding_job(void *arg)
{
    (void)arg;
    /* Every job starts in the creating thread's mode. */
    if (fegetround() != FE_TONEAREST)
        T_ADD(&fp_errors, 1);
    double nearest = div_volatile(1.0, 10.0);
    CHECK(fesetround(FE_TOWARDZERO) == 0);
    double toward_zero = div_volatile(1.0, 10.0);
    if (fegetround() != FE_TOWARDZERO || toward_zero >= nearest)
        T_ADD(&fp_errors, 1);
    CHECK(fesetround(FE_TONEAREST) == 0);
}

static void rounding_root(void *arg)
{
    (void)arg;
    enum { N = 2000 };
    static fj_job jobs[N];
    for (int i = 0; i < N; i++)
        jobs[i] = (fj_job){ .fn = rounding_job, .name = "rounding" };
    fj_counter c;
    fj_counter_init(&c, 0);
    for (int round = 0; round < 5; round++) {
        fj_run_jobs(jobs, N, &c);
        fj_wait(&c, 0);
    }
    rounding_job(NULL);   /* the root job too */
}

#if defined(__x86_64__)
#define MXCSR_FTZ_DAZ 0x8040u
static uint32_t mxcsr_get(void)
{
    uint32_t v;
    __asm__ __volatile__("stmxcsr %0" : "=m"(v));
    return v;
}
static void mxcsr_set(uint32_t v) { __asm__ __volatile__("ldmxcsr %0" ::"m"(v)); }

static uint32_t mxcsr_want;
static int mxcsr_bad;
static int mxcsr_seen_worker[64];

static void mxcsr_job(void *arg)
{
    (void)arg;
    if ((mxcsr_get() & ~0x3fu) != mxcsr_want)
        T_ADD(&mxcsr_bad, 1);
    int w = fj_worker_index();
    if (w >= 0 && w < 64)
        T_STORE(&mxcsr_seen_worker[w], 1);
}

static void mxcsr_root(void *arg)
{
    (void)arg;
    enum { N = 4000 };
    static fj_job jobs[N];
    for (int i = 0; i < N; i++)
        jobs[i] = (fj_job){ .fn = mxcsr_job, .name = "mxcsr" };
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs(jobs, N, &c);
    fj_wait(&c, 0);
    mxcsr_job(NULL);
}

/* Workers start with the FP control state of the thread that created the
 * scheduler (here: flush-to-zero and denormals-are-zero on). */
static void test_mxcsr_inherited(unsigned workers)
{
    uint32_t saved = mxcsr_get();
    mxcsr_want = (saved | MXCSR_FTZ_DAZ) & ~0x3fu;
    mxcsr_set(mxcsr_want);
    fj_config cfg = fj_config_default();
    cfg.workers = workers;
    cfg.pin_threads = 0;
    run_root(&cfg, mxcsr_root, NULL);
    mxcsr_set(saved);
    CHECK_EQ(mxcsr_bad, 0);
    CHECK(mxcsr_seen_worker[0]);
}
#endif

#ifdef FJ_TEST_LIB_CHECKS_FPU
static void leak_job(void *arg)
{
    (void)arg;
    fesetround(FE_TOWARDZERO);   /* and do not restore it */
}

static void leak_root(void *arg)
{
    (void)arg;
    fj_job j = { .fn = leak_job, .name = "fpu-leak" };
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs(&j, 1, &c);
    fj_wait(&c, 0);
}

static void wait_leak_job(void *arg)
{
    (void)arg;
    fesetround(FE_UPWARD);
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_wait(&c, 0);
}

static void wait_leak_root(void *arg)
{
    (void)arg;
    fj_job j = { .fn = wait_leak_job, .name = "fpu-wait" };
    fj_counter c;
    fj_counter_init(&c, 0);
    fj_run_jobs(&j, 1, &c);
    fj_wait(&c, 0);
}

static void run_one_worker(fj_job_fn root)
{
    fj_config cfg = fj_config_default();
    cfg.workers = 1;
    run_root(&cfg, root, NULL);
}

static void leak_child(void *arg) { (void)arg; run_one_worker(leak_root); }
static __attribute__((unused)) void wait_leak_child(void *arg) { (void)arg; run_one_worker(wait_leak_root); }
#endif

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
#ifdef NREGS
    test_register_preservation();
    test_locals_survive();
#else
    printf("no assembly context switch on this architecture: register test skipped\n");
#endif
#ifdef FJ_TEST_LIB_CHECKS_FPU
    /* Fork before any scheduler exists in this process. */
#ifndef FJ_TEST_LIB_SAVES_FPU
    EXPECT_ABORT_MATCH(leak_child, NULL, "fiberjob: job return: job 'fpu-leak' changed the FP control state (",
                       "restore it before returning or waiting", "(in job 'fpu-leak' on worker 0)");
#else
    /* Run inline on its waiting parent's stack, the child's change becomes the
     * parent's (each fiber keeps its own state): the parent is reported. */
    EXPECT_ABORT_MATCH(leak_child, NULL, "fiberjob: job return: job '",
                       "changed the FP control state (", "restore it before returning or waiting");
#endif
#ifndef FJ_TEST_LIB_SAVES_FPU
    /* With FIBERJOB_SAVE_FPU each fiber keeps its own FP control state across
     * a wait, so only the job's return is checked. */
    EXPECT_ABORT_MATCH(wait_leak_child, NULL, "fiberjob: fj_wait: job 'fpu-wait' changed the FP control state (",
                       "(in job 'fpu-wait' on worker 0)");
#endif
#endif
    for (unsigned workers = 1; workers <= 4; workers *= 2) {
        fj_config cfg = fj_config_default();
        cfg.workers = workers;
        run_root(&cfg, rounding_root, NULL);
        CHECK_EQ(fp_errors, 0);
#if defined(__x86_64__)
        test_mxcsr_inherited(workers);
#endif
    }
    printf("ok\n");
    return 0;
}
