/* Topology from a made-up /sys tree (FIBERJOB_SYSFS_ROOT): pinning order is one
 * CPU per physical core first, then SMT siblings; avoid_smt leaves siblings
 * out; on hybrid machines (cpu_core/cpu_atom, or cpu_capacity) the faster
 * cores come first in each part; last-level cache groups are read for the
 * steal order. */
#include <sys/stat.h>

#include "test.h"

#if TEST_WINDOWS
int main(void)
{
    test_skip("unit.topology", "made-up /sys trees (FIBERJOB_SYSFS_ROOT) feed only Linux's topology reader");
}
#else
#include "internal.h"
#include "os.h"

static char root[256];

static void write_file(const char *rel, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    test_write_file(path, strlen(root), text);
}

/* ncpu CPUs; sibling_of[i] is the representative of CPU i's core; llc_of[i] likewise. */
static void make_tree(int ncpu, const int *sibling_of, const int *llc_of)
{
    char rel[256], text[64];
    for (int i = 0; i < ncpu; i++) {
        snprintf(rel, sizeof rel, "devices/system/cpu/cpu%d/topology/thread_siblings_list", i);
        snprintf(text, sizeof text, "%d\n", sibling_of[i]);
        write_file(rel, text);
        snprintf(rel, sizeof rel, "devices/system/cpu/cpu%d/cache/index3/shared_cpu_list", i);
        snprintf(text, sizeof text, "%d\n", llc_of[i]);
        write_file(rel, text);
    }
}

static void remove_dir(const char *rel)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s/%s", root, rel);
    CHECK(system(cmd) == 0);
}

static void check_order(const int *expect, int nexpect, int avoid_smt)
{
    int allowed[8] = { 0, 1, 2, 3, 4, 5, 6, 7 }, out[8];
    fj__cpu_info scratch[8];
    int n = fj__topology_order(allowed, 8, avoid_smt, out, scratch);
    CHECK_EQ(n, nexpect);
    for (int i = 0; i < n; i++)
        CHECK_EQ(out[i], expect[i]);
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    snprintf(root, sizeof root, "%s/fj-topo-%d", test_tmp_dir(), test_pid());
    mkdir(root, 0755);
    setenv("FIBERJOB_SYSFS_ROOT", root, 1);

    /* Siblings numbered apart (0,4) (1,5) (2,6) (3,7); two LLCs. */
    static const int sib_a[8] = { 0, 1, 2, 3, 0, 1, 2, 3 }, llc_a[8] = { 0, 0, 2, 2, 0, 0, 2, 2 };
    make_tree(8, sib_a, llc_a);
    static const int order_a[8] = { 0, 1, 2, 3, 4, 5, 6, 7 };
    check_order(order_a, 8, 0);
    check_order(order_a, 4, 1);
    fj__cpu_info info[8];
    int cpus[8] = { 0, 1, 2, 3, 4, 5, 6, 7 };
    fj__topology_read(cpus, 8, info);
    for (int i = 0; i < 8; i++) {
        CHECK_EQ(info[i].core, sib_a[i]);
        CHECK_EQ(info[i].llc, llc_a[i]);
    }

    /* Siblings adjacent (0,1) (2,3) (4,5) (6,7). */
    static const int sib_b[8] = { 0, 0, 2, 2, 4, 4, 6, 6 }, llc_b[8] = { 0, 0, 0, 0, 4, 4, 4, 4 };
    make_tree(8, sib_b, llc_b);
    static const int order_b[8] = { 0, 2, 4, 6, 1, 3, 5, 7 };
    check_order(order_b, 8, 0);
    check_order(order_b, 4, 1);

    /* Hybrid Intel: efficiency cores 0-3 (one thread each), performance cores
     * (4,5) (6,7). Performance cores, efficiency cores, then the siblings. */
    static const int sib_h[8] = { 0, 1, 2, 3, 4, 4, 6, 6 }, llc_h[8] = { 0, 0, 0, 0, 0, 0, 0, 0 };
    make_tree(8, sib_h, llc_h);
    write_file("devices/cpu_atom/cpus", "0-3\n");
    write_file("devices/cpu_core/cpus", "4-7\n");
    static const int order_h[8] = { 4, 6, 0, 1, 2, 3, 5, 7 };
    check_order(order_h, 8, 0);
    check_order(order_h, 6, 1);
    fj__topology_read(cpus, 8, info);
    for (int i = 0; i < 8; i++)
        CHECK_EQ(info[i].perf, i >= 4);
    /* A list with gaps: efficiency cores 1 and 3, the others performance. */
    write_file("devices/cpu_atom/cpus", "1,3\n");
    write_file("devices/cpu_core/cpus", "0,2,4-7\n");
    static const int order_h2[8] = { 0, 2, 4, 6, 1, 3, 5, 7 };
    check_order(order_h2, 8, 0);
    check_order(order_h2, 6, 1);
    remove_dir("devices/cpu_atom");
    remove_dir("devices/cpu_core");

    /* ARM big.LITTLE: no SMT, three capacities; the highest first. */
    static const int sib_c8[8] = { 0, 1, 2, 3, 4, 5, 6, 7 };
    static const char *const capacity[8] = { "446", "446", "446", "446", "871", "871", "1024", "1024" };
    make_tree(8, sib_c8, llc_h);
    for (int i = 0; i < 8; i++) {
        char rel[128];
        snprintf(rel, sizeof rel, "devices/system/cpu/cpu%d/cpu_capacity", i);
        write_file(rel, capacity[i]);
    }
    static const int order_c[8] = { 6, 7, 4, 5, 0, 1, 2, 3 };
    check_order(order_c, 8, 0);
    check_order(order_c, 8, 1);
    remove_dir("devices/system/cpu");

    /* On the real allowed set: a tree where every allowed CPU is a sibling of
     * the lowest one, so avoid_smt leaves one worker. */
    int allowed[1024];
    int nallowed = fj__os_allowed_cpus(allowed, 1024);
    CHECK(nallowed >= 1);
    static int sib_c[1024], llc_c[1024];
    int maxcpu = allowed[nallowed - 1];
    for (int i = 0; i <= maxcpu && i < 1024; i++) {
        sib_c[i] = allowed[0];
        llc_c[i] = allowed[0];
    }
    make_tree(maxcpu + 1, sib_c, llc_c);
    fj_config c = fj_config_default();
    c.avoid_smt = 1;
    fj_scheduler *s = fj_create(&c);
    CHECK(s);
    CHECK_EQ(fj_worker_count(s), 1);
    fj_destroy(s);
    c.avoid_smt = 0;
    s = fj_create(&c);
    CHECK(s);
    CHECK_EQ(fj_worker_count(s), nallowed);
    fj_destroy(s);

    /* This machine's /sys, read once and kept: the kept answers are what a
     * fresh read gives, for the allowed CPUs in any order and any subset. */
    unsetenv("FIBERJOB_SYSFS_ROOT");
    static fj__cpu_info fresh[1024], kept[1024];
    static int reversed[1024];
    for (int i = 0; i < nallowed; i++)
        reversed[i] = allowed[nallowed - 1 - i];
    for (int round = 0; round < 3; round++) {
        const int *ask = round == 1 ? reversed : allowed;
        int n = round == 2 ? (nallowed + 1) / 2 : nallowed;
        fj__topology_read_at("/sys", ask, n, fresh);
        fj__topology_read(ask, n, kept);
        for (int i = 0; i < n; i++) {
            CHECK_EQ(kept[i].cpu, ask[i]);
            CHECK_EQ(kept[i].core, fresh[i].core);
            CHECK_EQ(kept[i].llc, fresh[i].llc);
            CHECK_EQ(kept[i].perf, fresh[i].perf);
        }
    }

    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    CHECK(system(cmd) == 0);
    printf("ok\n");
    return 0;
}
#endif
