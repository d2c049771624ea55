/*
 * Windows x64 implementation of os.h (mingw-w64), on the Win32 API alone:
 * no winpthreads and no emulated __thread, which allocate with the C
 * library's malloc (os.h says why that matters). The crash path (alternate
 * stacks, the fault handler, stderr, abort) is in os_windows_fault.c; these
 * two are the only files of the library that include <windows.h>.
 * Process-wide state: the page size and the performance counter's frequency
 * (relaxed atomics, written with the same value by any thread), and the table
 * of threads inside a futex wait (futex_waiters, below), which makes
 * fj__os_futex_wake's count honest.
 *
 * CPU numbers: CPU k is processor k % 64 of processor group k / 64, so on a
 * machine of one group (64 CPUs or fewer: nearly all) they are Windows' own
 * processor numbers, and on a larger one every CPU of every group has a number
 * below 1024 (16 groups) that pinning (SetThreadGroupAffinity) understands.
 */
#include "os.h"
#include "atomics.h"

#include <errno.h>
#include <string.h>

#define WIN32_LEAN_AND_MEAN
#define NOMINMAX
#include <windows.h>
/* The unity build includes every other file after this one: none of
 * windows.h's lower-case macros may reach them (steal.c has a `near`). */
#undef near
#undef far
#undef small
#undef interface

/* 64 processors per group (KAFFINITY's bits), 16 groups: the 1024 CPUs the
 * rest of the library is sized for (sched.c asks for at most 1024). */
#define GROUP_CPUS 64
#define MAX_GROUPS 16

static int cpu_of(WORD group, int number) { return (int)group * GROUP_CPUS + number; }

/* ------------------------------------------------------------ CPUs and threads */

/* The logical processor information of one relationship kind, in a buffer
 * the caller frees; NULL when the OS cannot say. */
static SYSTEM_LOGICAL_PROCESSOR_INFORMATION_EX *processor_info(LOGICAL_PROCESSOR_RELATIONSHIP rel, DWORD *len)
{
    *len = 0;
    GetLogicalProcessorInformationEx(rel, NULL, len);
    if (GetLastError() != ERROR_INSUFFICIENT_BUFFER || *len == 0)
        return NULL;
    SYSTEM_LOGICAL_PROCESSOR_INFORMATION_EX *buf = HeapAlloc(GetProcessHeap(), 0, *len);
    if (buf && !GetLogicalProcessorInformationEx(rel, buf, len)) {
        HeapFree(GetProcessHeap(), 0, buf);
        buf = NULL;
    }
    return buf;
}

#define NEXT_INFO(p) ((SYSTEM_LOGICAL_PROCESSOR_INFORMATION_EX *)((char *)(p) + (p)->Size))

/* Which CPUs the process may use. A process confined by its affinity mask
 * (start /affinity, a job object, SetProcessAffinityMask) gets the CPUs of that
 * mask in its group. Otherwise: every active processor of every group. On a
 * machine of one group that is the same set; on one of several, Windows 11 and
 * Server 2022 schedule a process's threads across all groups anyway, and
 * earlier versions run a thread in another group once it is given an affinity
 * there, which fj__os_pin_self and fj__os_thread_start do. */
int fj__os_allowed_cpus(int *cpus, int max)
{
    DWORD_PTR proc = 0, sys = 0;
    USHORT groups[MAX_GROUPS];
    USHORT ngroups = MAX_GROUPS;
    WORD active = GetActiveProcessorGroupCount();
    bool have_mask = GetProcessAffinityMask(GetCurrentProcess(), &proc, &sys) && proc != 0;
    int n = 0;
    if (have_mask && (active <= 1 || proc != sys)) {
        /* The mask is of the process's (one) group: which one it is. */
        WORD group = 0;
        if (GetProcessGroupAffinity(GetCurrentProcess(), &ngroups, groups) && ngroups == 1)
            group = groups[0];
        for (int bit = 0; bit < GROUP_CPUS && n < max; bit++)
            if (proc & ((DWORD_PTR)1 << bit))
                cpus[n++] = cpu_of(group, bit);
        return n;
    }
    DWORD len;
    SYSTEM_LOGICAL_PROCESSOR_INFORMATION_EX *info = processor_info(RelationGroup, &len);
    if (info && info->Relationship == RelationGroup) {
        const GROUP_RELATIONSHIP *g = &info->Group;
        for (WORD k = 0; k < g->ActiveGroupCount && k < MAX_GROUPS; k++)
            for (int bit = 0; bit < GROUP_CPUS && n < max; bit++)
                if (g->GroupInfo[k].ActiveProcessorMask & ((KAFFINITY)1 << bit))
                    cpus[n++] = cpu_of(k, bit);
    } else if (have_mask) {   /* no group information: the process mask, group 0 */
        for (int bit = 0; bit < GROUP_CPUS && n < max; bit++)
            if (proc & ((DWORD_PTR)1 << bit))
                cpus[n++] = bit;
    }
    if (info)
        HeapFree(GetProcessHeap(), 0, info);
    return n;
}

static int pin_handle(HANDLE h, int cpu)
{
    if (cpu < 0 || cpu >= GROUP_CPUS * MAX_GROUPS)
        return -EINVAL;
    GROUP_AFFINITY ga;
    memset(&ga, 0, sizeof ga);
    ga.Group = (WORD)(cpu / GROUP_CPUS);
    ga.Mask = (KAFFINITY)1 << (cpu % GROUP_CPUS);
    return SetThreadGroupAffinity(h, &ga, NULL) ? 0 : -EINVAL;
}

int fj__os_pin_self(int cpu)
{
    return pin_handle(GetCurrentThread(), cpu);
}

/* The first code of a thread fj__os_thread_start made: fn(arg), unless the
 * creator cleared fn (it could not pin the thread). */
static DWORD WINAPI thread_main(LPVOID p)
{
    fj__os_thread *t = p;
    void *(*fn)(void *) = t->fn;
    if (fn)
        fn(t->arg);
    return 0;
}

/* CreateThread, not winpthreads (its thread record is malloc'd) nor
 * _beginthreadex (the C runtime's thread data is made on demand anyway). The
 * thread is created suspended, so it is pinned before it runs a single
 * instruction of its own. */
int fj__os_thread_start(fj__os_thread *t, void *(*fn)(void *), void *arg, int cpu)
{
    memset(t, 0, sizeof *t);
    if (cpu >= GROUP_CPUS * MAX_GROUPS)
        return -EINVAL;
    t->fn = fn;
    t->arg = arg;
    /* The thread's own stack only runs the worker's start-up and shut-down;
     * jobs run on fibers. 256 KiB committed, as winpthreads asked for. */
    HANDLE h = CreateThread(NULL, 256 * 1024, thread_main, t, CREATE_SUSPENDED, NULL);
    if (!h) {
        memset(t, 0, sizeof *t);
        return GetLastError() == ERROR_NOT_ENOUGH_MEMORY ? -ENOMEM : -EAGAIN;
    }
    int rc = cpu >= 0 ? pin_handle(h, cpu) : 0;
    if (rc != 0)
        t->fn = NULL;   /* it starts, sees no fn, and ends at once */
    ResumeThread(h);
    if (rc != 0) {
        WaitForSingleObject(h, INFINITE);
        CloseHandle(h);
        memset(t, 0, sizeof *t);
        return rc;
    }
    t->handle = h;
    return 0;
}

void fj__os_thread_join(fj__os_thread *t)
{
    if (!t->handle)
        return;
    WaitForSingleObject(t->handle, INFINITE);
    CloseHandle(t->handle);
    memset(t, 0, sizeof *t);
}

uint64_t fj__os_thread_tag(void)
{
    /* Thread ids are unique among live threads (and below 2^32). */
    return (uint64_t)GetCurrentThreadId() << 1 | 1;
}

/* ------------------------------------------------------------ mutexes and thread-locals */

_Static_assert(sizeof(fj__os_mutex) == sizeof(SRWLOCK), "fj__os_mutex holds an SRWLOCK");
_Static_assert(_Alignof(fj__os_mutex) >= _Alignof(SRWLOCK), "fj__os_mutex holds an SRWLOCK");

void fj__os_mutex_lock(fj__os_mutex *m) { AcquireSRWLockExclusive((PSRWLOCK)(void *)m); }
void fj__os_mutex_unlock(fj__os_mutex *m) { ReleaseSRWLockExclusive((PSRWLOCK)(void *)m); }

/* The Win32 TLS index of each fj__os_tls_slot, taken by a constructor, before
 * main and so before any use (written once, then only read): of the
 * earliest priority, so that it runs before a program's own constructors
 * (a C++ static object that makes a scheduler). An index below
 * 64 is one of the thread information block's TlsSlots (at gs:0x1480 on x64),
 * read and written here directly: TlsGetValue would be a call into kernel32
 * that also clears the thread's last error (the fault handler reads
 * FJ__TLS_ALTSTACK), and nothing in either allocates. An index of 64 and up
 * (only when the program took most slots first) goes through TlsGetValue and
 * TlsSetValue. */
static DWORD tls_index[FJ__TLS_COUNT];

__attribute__((constructor(101))) static void tls_init(void)
{
    for (int i = 0; i < FJ__TLS_COUNT; i++) {
        tls_index[i] = TlsAlloc();
        if (tls_index[i] == TLS_OUT_OF_INDEXES) {
            fj__os_write_stderr("fiberjob: no thread-local storage index left (TlsAlloc)\n");
            fj__os_abort();
        }
    }
}

void *fj__os_tls_get(fj__os_tls_slot slot)
{
    DWORD i = tls_index[slot];
    if (i < 64) {
        void *v;
        __asm__ __volatile__("movq %%gs:0x1480(,%1,8), %0" : "=r"(v) : "r"((uint64_t)i));
        return v;
    }
    return TlsGetValue(i);
}

void fj__os_tls_set(fj__os_tls_slot slot, void *v)
{
    DWORD i = tls_index[slot];
    if (i < 64)
        __asm__ __volatile__("movq %0, %%gs:0x1480(,%1,8)" ::"r"(v), "r"((uint64_t)i) : "memory");
    else
        TlsSetValue(i, v);
}

typedef HRESULT(WINAPI *set_description_fn)(HANDLE, PCWSTR);

void fj__os_thread_name_self(const char *name)
{
    char narrow[16];   /* 15 characters, as on Linux, and the terminator */
    size_t len = strlen(name) < 15 ? strlen(name) : 15;
    memcpy(narrow, name, len);
    narrow[len] = 0;
    /* Windows' own name of a thread is its description (not winpthreads'
     * copy: our threads are not winpthreads', and pthread_self would make
     * them a record with malloc). */
    /* SetThreadDescription is Windows 10 1607 and later (and recent Wine):
     * looked up, so that the program still starts where it is missing. */
    static set_description_fn set_description;
    static uint32_t looked_up;
    if (!fj_load_acquire(&looked_up)) {
        HMODULE k32 = GetModuleHandleW(L"kernel32.dll");
        set_description_fn f = NULL;
        if (k32)
            f = (set_description_fn)(void (*)(void))GetProcAddress(k32, "SetThreadDescription");
        fj_store_relaxed(&set_description, f);
        fj_store_release(&looked_up, 1);
    }
    set_description_fn f = fj_load_relaxed(&set_description);
    if (!f)
        return;
    wchar_t kept[16];
    size_t i = 0;
    for (; narrow[i]; i++)
        kept[i] = (wchar_t)(unsigned char)narrow[i];
    kept[i] = 0;
    (void)f(GetCurrentThread(), kept);
}

/* ------------------------------------------------------------ futexes */

/*
 * WaitOnAddress and WakeByAddress* are Windows' futex, with one difference
 * that matters here: a wake returns nothing, and its callers need to know
 * whether it found anyone (wake.c, wake_one: a wake that found nobody clears
 * wake_pending itself and looks again; one that reports a wake it did not
 * make leaves wake_pending set and loses later wakes; one that always reports
 * nobody makes the waker spin). So every thread inside fj__os_futex_wait*
 * stands in a list of waiters kept per address, and a wake reports how many
 * it found there (at most n).
 *
 * The lists: one per stripe of a small table keyed by the address's hash, each
 * under a slim reader-writer lock; a waiter's node is on its own stack (no
 * allocation, no limit). Only waits take the lock exclusively; wakes take it
 * shared.
 *
 * Why the count is honest (the caller of a wake changed *addr before it,
 * as every caller of fj__os_futex_wake does):
 *  - A waiter W counted by a wake is in the list, between its insertion and
 *    its removal, so it has not yet returned from fj__os_futex_wait. Either it
 *    sleeps in WaitOnAddress (WakeByAddress wakes a sleeper on addr: it or
 *    another counted one, and that one returns), or it has not slept yet (its
 *    insertion came first in the lock's order, but WaitOnAddress compares
 *    *addr atomically with going to sleep, as a futex does: it sees the new
 *    value, or sleeps before our WakeByAddress and is woken by it), or it is
 *    leaving already. In every case a counted waiter returns after the wake's
 *    count, which is what wake.c needs: whoever returns clears wake_pending
 *    after that return, so after the waker set it.
 *  - A waiter not counted inserted itself after the wake's count: its lock
 *    acquisition follows the wake's unlock, which follows the caller's change
 *    of *addr, so its WaitOnAddress sees the changed value and returns at
 *    once. Returning 0 then loses nothing, and skipping the system call is
 *    safe.
 * Several counted waiters and n == 1: WakeByAddressSingle wakes one sleeper;
 * the report is 1. A wake of n > 1 wakes all sleepers (WakeByAddressAll): the
 * only such caller, fj__notify_all, wants all.
 */
typedef struct futex_node {
    const volatile void *addr;
    struct futex_node *prev, *next;
} futex_node;

typedef struct futex_stripe {
    SRWLOCK lock;
    futex_node *head;
    char pad[64 - sizeof(SRWLOCK) - sizeof(futex_node *)];
} futex_stripe;

#define FUTEX_STRIPES 64
static futex_stripe futex_waiters[FUTEX_STRIPES];   /* zero is SRWLOCK_INIT */

static futex_stripe *stripe_of(const void *addr)
{
    uintptr_t a = (uintptr_t)addr >> 2;
    a ^= a >> 7;
    a *= (uintptr_t)0x9e3779b97f4a7c15u;
    return &futex_waiters[(a >> 32) % FUTEX_STRIPES];
}

/* Wait on addr for at most ms milliseconds (INFINITE: no limit); false when
 * the time ran out. */
static bool futex_wait_ms(uint32_t *addr, uint32_t expected, DWORD ms)
{
    futex_stripe *st = stripe_of(addr);
    futex_node node = { addr, NULL, NULL };
    AcquireSRWLockExclusive(&st->lock);
    node.next = st->head;
    if (st->head)
        st->head->prev = &node;
    st->head = &node;
    ReleaseSRWLockExclusive(&st->lock);

    BOOL woke = WaitOnAddress(addr, &expected, sizeof expected, ms);
    bool timed_out = !woke && GetLastError() == ERROR_TIMEOUT;

    AcquireSRWLockExclusive(&st->lock);
    if (node.prev)
        node.prev->next = node.next;
    else
        st->head = node.next;
    if (node.next)
        node.next->prev = node.prev;
    ReleaseSRWLockExclusive(&st->lock);
    return !timed_out;
}

void fj__os_futex_wait(uint32_t *addr, uint32_t expected)
{
    futex_wait_ms(addr, expected, INFINITE);
}

bool fj__os_futex_wait_ns(uint32_t *addr, uint32_t expected, uint64_t ns)
{
    /* WaitOnAddress counts whole milliseconds: round up, never wait for less
     * than asked (a return before the limit is allowed, as a spurious one). */
    uint64_t ms = (ns + 999999u) / 1000000u;
    if (ms >= INFINITE)
        ms = INFINITE - 1;
    return futex_wait_ms(addr, expected, (DWORD)ms);
}

int fj__os_futex_wake(uint32_t *addr, int n)
{
    if (n <= 0)
        return 0;
    futex_stripe *st = stripe_of(addr);
    int found = 0;
    AcquireSRWLockShared(&st->lock);
    for (const futex_node *p = st->head; p && found < n; p = p->next)
        found += p->addr == addr;
    ReleaseSRWLockShared(&st->lock);
    if (found == 0)
        return 0;
    if (n == 1)
        WakeByAddressSingle(addr);
    else
        WakeByAddressAll(addr);
    return found;
}

/* ------------------------------------------------------------ memory */

size_t fj__os_page_size(void)
{
    /* Any thread may be first here: every one stores the same value. */
    static size_t page;
    size_t p = fj_load_relaxed(&page);
    if (!p) {
        SYSTEM_INFO si;
        GetSystemInfo(&si);
        p = si.dwPageSize;
        fj_store_relaxed(&page, p);
    }
    return p;
}

bool fj__os_mappings_fit(uint64_t need)
{
    (void)need;   /* Windows has no limit on the number of regions like vm.max_map_count */
    return true;
}

/* Reserved read-write though nothing is committed yet (reserved memory is
 * inaccessible whatever its protection): when a fiber's stack grows through
 * its guard page (fj__os_stack_guard), Wine commits the next page with the
 * reservation's protection, and PAGE_NOACCESS there would turn the growth
 * into an access violation on a stack with no room left to report it. */
void *fj__os_reserve(size_t size)
{
    return VirtualAlloc(NULL, size, MEM_RESERVE, PAGE_READWRITE);
}

/* Committed at once (charged against the commit limit), though Windows
 * too gives a page physical memory only when it is first touched. */
int fj__os_commit(void *lo, size_t size)
{
    return VirtualAlloc(lo, size, MEM_COMMIT, PAGE_READWRITE) ? 0 : -ENOMEM;
}

/*
 * The page below a fiber's stack becomes a guard page, and the two pages
 * under it (reserved, never committed) the bottom of the stack as the system
 * sees it: DeallocationStack is lo - 3 pages (*below; arch/ctx_win64.S
 * switches it with the fiber, with StackLimit = lo and StackBase). A touch of
 * a guard page inside a stack's limits is the stack growing: the system
 * commits the next page down as the new guard and goes on, unless that would
 * leave less than its stack guarantee (at least two pages on x64) above
 * DeallocationStack; then it raises EXCEPTION_STACK_OVERFLOW, delivered on
 * the page just unguarded (4 KiB: the exception record and context take
 * about 1.5). With the guard page right at that limit, the first touch below
 * lo is reported, as on Linux: a job gets its whole stack from lo up and not
 * a page more (no growth into the gap, which stays reserved). The vectored
 * handler (fault_handler) then reports the overflow from the alternate stack.
 * Without the guard page, a touch of the gap would be an access violation on
 * a stack with no room below it for the exception: the process ends with no
 * word (Windows), or Wine's own handler faults. Checked under Wine 8
 * (tests/failure: test_failures, test_stack_promise); Windows itself uses the
 * same rule for its threads' stacks (its guarantee can only be larger).
 */
int fj__os_stack_guard(void *lo, size_t *below)
{
    size_t page = fj__os_page_size();
    *below = 3 * page;
    return VirtualAlloc((char *)lo - page, page, MEM_COMMIT, PAGE_READWRITE | PAGE_GUARD) ? 0 : -ENOMEM;
}

void *fj__os_map(size_t size)
{
    return VirtualAlloc(NULL, size, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
}

void fj__os_release(void *p, size_t size)
{
    (void)size;   /* MEM_RELEASE frees the whole reservation p starts */
    VirtualFree(p, 0, MEM_RELEASE);
}

void *fj__os_aligned_alloc(size_t align, size_t size)
{
    return _aligned_malloc(size, align);   /* the C runtime has no aligned_alloc */
}

void fj__os_aligned_free(void *p)
{
    _aligned_free(p);
}

/* ------------------------------------------------------------ time */

uint64_t fj__os_now_ns(void)
{
    static uint64_t freq;
    uint64_t f = fj_load_relaxed(&freq);
    if (!f) {
        LARGE_INTEGER q;
        QueryPerformanceFrequency(&q);   /* fixed at boot; never fails since Windows XP */
        f = (uint64_t)q.QuadPart;
        fj_store_relaxed(&freq, f);
    }
    LARGE_INTEGER c;
    QueryPerformanceCounter(&c);
    uint64_t t = (uint64_t)c.QuadPart;
    return t / f * 1000000000u + t % f * 1000000000u / f;
}

#ifndef CREATE_WAITABLE_TIMER_HIGH_RESOLUTION
#define CREATE_WAITABLE_TIMER_HIGH_RESOLUTION 0x00000002
#endif

/* Sleep on a waitable timer, high-resolution where Windows has them (10 1803
 * and later: sub-millisecond sleeps); where it does not, a plain one (the
 * system tick, about 1 to 16 ms), and Sleep if no timer can be made. */
void fj__os_sleep_ns(uint64_t ns)
{
    static uint32_t no_high_res;
    HANDLE timer = NULL;
    if (!fj_load_relaxed(&no_high_res)) {
        timer = CreateWaitableTimerExW(NULL, NULL, CREATE_WAITABLE_TIMER_HIGH_RESOLUTION, TIMER_ALL_ACCESS);
        if (!timer)
            fj_store_relaxed(&no_high_res, 1);
    }
    if (!timer)
        timer = CreateWaitableTimerExW(NULL, NULL, 0, TIMER_ALL_ACCESS);
    if (timer) {
        LARGE_INTEGER due;
        uint64_t units = (ns + 99) / 100;   /* 100 ns units; negative: relative */
        due.QuadPart = -(LONGLONG)(units ? units : 1);
        if (SetWaitableTimer(timer, &due, 0, NULL, NULL, FALSE)) {
            WaitForSingleObject(timer, INFINITE);
            CloseHandle(timer);
            return;
        }
        CloseHandle(timer);
    }
    uint64_t ms = (ns + 999999u) / 1000000u;
    Sleep(ms >= INFINITE ? INFINITE - 1 : (DWORD)ms);
}

void fj__os_yield(void)
{
    SwitchToThread();
}

/* ------------------------------------------------------------ stacks and affinity */

/* The bottom of a thread's reservation that code cannot use: Windows' guard
 * page and the room it keeps to report a stack overflow (a few pages, more
 * after SetThreadStackGuarantee). Left out of the stack reported, so that a
 * caller measuring what is left (worker.c, fits_here) never counts it. */
#define STACK_RESERVED_BOTTOM ((ULONG_PTR)64 * 1024)

bool fj__os_thread_stack(void **lo, size_t *size)
{
    /* From the thread information block (DeallocationStack, StackBase): the
     * fiber switch keeps those fields right for the stack it runs on. */
    ULONG_PTR low = 0, high = 0;
    GetCurrentThreadStackLimits(&low, &high);
    if (high <= low + STACK_RESERVED_BOTTOM)
        return false;
    low += STACK_RESERVED_BOTTOM;
    *lo = (void *)low;
    *size = (size_t)(high - low);
    return true;
}

/* bits[0]: the processor mask, bits[1]: its group. A thread of Windows 11
 * running in several groups at once is saved as its primary group. */
bool fj__os_affinity_save(fj__os_affinity *out)
{
    GROUP_AFFINITY ga;
    if (!GetThreadGroupAffinity(GetCurrentThread(), &ga))
        return false;
    memset(out, 0, sizeof *out);
    out->bits[0] = ga.Mask;
    out->bits[1] = ga.Group;
    return true;
}

void fj__os_affinity_restore(const fj__os_affinity *saved)
{
    GROUP_AFFINITY ga;
    memset(&ga, 0, sizeof ga);
    ga.Mask = (KAFFINITY)saved->bits[0];
    ga.Group = (WORD)saved->bits[1];
    SetThreadGroupAffinity(GetCurrentThread(), &ga, NULL);
}

/* ------------------------------------------------------------ topology */

static void mark_cpus(const GROUP_AFFINITY *ga, const int *cpus, int n, int *field, int value, bool lowest)
{
    for (int i = 0; i < n; i++) {
        int g = cpus[i] / GROUP_CPUS, bit = cpus[i] % GROUP_CPUS;
        if (g == ga->Group && (ga->Mask & ((KAFFINITY)1 << bit)) && (!lowest || field[i] < 0 || value < field[i]))
            field[i] = value;
    }
}

/* The lowest CPU of a group mask. */
static int first_cpu(const GROUP_AFFINITY *ga)
{
    for (int bit = 0; bit < GROUP_CPUS; bit++)
        if (ga->Mask & ((KAFFINITY)1 << bit))
            return cpu_of(ga->Group, bit);
    return -1;
}

bool fj__os_topology(const int *cpus, int n, fj__os_cpu_place *out)
{
    DWORD len;
    SYSTEM_LOGICAL_PROCESSOR_INFORMATION_EX *info = processor_info(RelationAll, &len);
    if (!info)
        return false;
    for (int i = 0; i < n; i++)
        out[i] = (fj__os_cpu_place){ .core = cpus[i], .llc = -1, .package = 0, .perf = 0 };
    /* Scratch columns, one int per CPU asked about. */
    int *core = HeapAlloc(GetProcessHeap(), 0, sizeof(int) * 4 * (size_t)(n ? n : 1));
    if (!core) {
        HeapFree(GetProcessHeap(), 0, info);
        return false;
    }
    int *llc_level = core + n, *llc = core + 2 * n, *package = core + 3 * n;
    for (int i = 0; i < n; i++)
        core[i] = llc_level[i] = llc[i] = package[i] = -1;
    const char *end = (const char *)info + len;
    int npackage = 0;
    for (SYSTEM_LOGICAL_PROCESSOR_INFORMATION_EX *p = info; (const char *)p < end && p->Size; p = NEXT_INFO(p)) {
        if (p->Relationship == RelationProcessorCore) {
            /* EfficiencyClass (the byte after Flags; older headers call it
             * Reserved[0]): higher is faster, 0 everywhere on a machine that
             * is not hybrid, as topology.c's perf. */
            int perf = p->Processor.Reserved[0];
            int rep = -1;
            for (WORD k = 0; k < p->Processor.GroupCount; k++) {
                int c = first_cpu(&p->Processor.GroupMask[k]);
                if (c >= 0 && (rep < 0 || c < rep))
                    rep = c;
            }
            for (WORD k = 0; k < p->Processor.GroupCount; k++) {
                mark_cpus(&p->Processor.GroupMask[k], cpus, n, core, rep, false);
                for (int i = 0; i < n; i++)
                    if (core[i] == rep)
                        out[i].perf = perf;
            }
        } else if (p->Relationship == RelationProcessorPackage) {
            for (WORD k = 0; k < p->Processor.GroupCount; k++)
                mark_cpus(&p->Processor.GroupMask[k], cpus, n, package, npackage, false);
            npackage++;
        } else if (p->Relationship == RelationCache && p->Cache.Type != CacheInstruction) {
            /* The last level: the highest level holding the CPU. */
            const GROUP_AFFINITY *ga = &p->Cache.GroupMask;
            int rep = first_cpu(ga);
            for (int i = 0; i < n; i++) {
                int g = cpus[i] / GROUP_CPUS, bit = cpus[i] % GROUP_CPUS;
                if (g == ga->Group && (ga->Mask & ((KAFFINITY)1 << bit)) && p->Cache.Level > llc_level[i]) {
                    llc_level[i] = p->Cache.Level;
                    llc[i] = rep;
                }
            }
        }
    }
    for (int i = 0; i < n; i++) {
        if (core[i] >= 0)
            out[i].core = core[i];
        out[i].llc = llc[i];
        out[i].package = package[i] < 0 ? 0 : package[i];
    }
    HeapFree(GetProcessHeap(), 0, core);
    HeapFree(GetProcessHeap(), 0, info);
    return true;
}
