/* The /sys reader (src/topology.c) checked against hwloc, built when hwloc is
 * found (cmake/hwloc.cmake; the library itself never uses hwloc). hwloc's
 * answers are read here the way the library once read them: the core is the
 * lowest CPU of the PU's Core object, the last-level cache the lowest CPU of
 * its deepest cache ancestor (without caches, FJ__LLC_PACKAGE + the package),
 * and the CPU kinds rank the cores (hwloc's efficiency, higher is faster).
 *
 * Each made-up machine is given to hwloc as an XML file (written here from an
 * hwloc synthetic description, with CPU kinds registered for the hybrid one)
 * and to the /sys reader as a fake tree; both must give the answers written
 * down here: cores, last-level caches and the pinning order. Then this
 * machine: hwloc's Linux backend and the /sys reader must agree on the cores,
 * the caches, the order of the kinds and the pinning order.
 *
 * Not for Valgrind: hwloc 2.9's hwloc_topology_set_synthetic, used here to
 * write the XML files, copies overlapping memory with memcpy (inside hwloc). */
#include <hwloc.h>
#include <sys/stat.h>

#include "test.h"
#include "internal.h"
#include "os.h"

enum { NCPU = 8 };

typedef struct fake_machine {
    const char *name;
    const char *synthetic;   /* the machine for hwloc */
    const char *allowed_pus; /* the PUs the XML lets the process use (an hwloc list), NULL: all */
    int cache_levels;        /* /sys: 0, or caches L1..Ln, the last one shared as llc[] says */
    bool no_siblings_file;   /* /sys: no thread_siblings_list (hwloc: no Core objects) */
    const char *atom_cpus;   /* hybrid: the efficiency cores (cpu_atom/cpus; an hwloc kind of
                              * efficiency 0, the others of efficiency 1), NULL: not hybrid */
    const char *core_cpus;   /* hybrid: the performance cores (cpu_core/cpus) */
    int package[NCPU];       /* /sys: physical_package_id */
    int allowed[NCPU], nallowed;  /* the CPUs asked about */
    /* Expected, by CPU number (also what the /sys tree says): */
    int core[NCPU], llc[NCPU];
    int order[NCPU], order_avoid_smt;   /* pinning order; with avoid_smt, its first order_avoid_smt */
} fake_machine;

#define ALL_CPUS { 0, 1, 2, 3, 4, 5, 6, 7 }, NCPU

static const fake_machine machines[] = {
    {   /* Intel-like: siblings numbered 4 apart, an L3 per package. */
        "interleaved", "pack:2 l3:1 core:2 l2:1 l1d:1 pu:2(indexes=0,4,1,5,2,6,3,7)", NULL, 3, false, NULL, NULL,
        { 0, 0, 1, 1, 0, 0, 1, 1 }, ALL_CPUS,
        { 0, 1, 2, 3, 0, 1, 2, 3 }, { 0, 0, 2, 2, 0, 0, 2, 2 },
        { 0, 1, 2, 3, 4, 5, 6, 7 }, 4,
    },
    {   /* AMD-like: one package, two L3s of two cores, siblings adjacent. */
        "two-l3", "pack:1 l3:2 core:2 l2:1 l1d:1 pu:2", NULL, 3, false, NULL, NULL,
        { 0, 0, 0, 0, 0, 0, 0, 0 }, ALL_CPUS,
        { 0, 0, 2, 2, 4, 4, 6, 6 }, { 0, 0, 0, 0, 4, 4, 4, 4 },
        { 0, 2, 4, 6, 1, 3, 5, 7 }, 4,
    },
    {   /* No SMT, no L3: an L2 shared by two cores is the last level. */
        "shared-l2", "pack:2 l2:2 core:2 l1d:1 pu:1", NULL, 2, false, NULL, NULL,
        { 0, 0, 0, 0, 1, 1, 1, 1 }, ALL_CPUS,
        { 0, 1, 2, 3, 4, 5, 6, 7 }, { 0, 0, 2, 2, 4, 4, 6, 6 },
        { 0, 1, 2, 3, 4, 5, 6, 7 }, 8,
    },
    {   /* No cache at all: the package stands for the last level (numbered 1, 0). */
        "no-cache", "pack:2(indexes=1,0) core:2 pu:2(indexes=0,4,1,5,2,6,3,7)", NULL, 0, false, NULL, NULL,
        { 1, 1, 0, 0, 1, 1, 0, 0 }, ALL_CPUS,
        { 0, 1, 2, 3, 0, 1, 2, 3 }, { 100001, 100001, 100000, 100000, 100001, 100001, 100000, 100000 },
        { 0, 1, 2, 3, 4, 5, 6, 7 }, 4,
    },
    {   /* No core and no cache known: every CPU is its own core. */
        "no-core", "pack:2 pu:4", NULL, 0, true, NULL, NULL,
        { 0, 0, 0, 0, 1, 1, 1, 1 }, ALL_CPUS,
        { 0, 1, 2, 3, 4, 5, 6, 7 }, { 100000, 100000, 100000, 100000, 100001, 100001, 100001, 100001 },
        { 0, 1, 2, 3, 4, 5, 6, 7 }, 8,
    },
    {   /* The first machine where the process may use only CPUs 4-7 (a cgroup,
         * say): their cores are still represented by CPUs 0-3, as in /sys. */
        "disallowed", "pack:2 l3:1 core:2 l2:1 l1d:1 pu:2(indexes=0,4,1,5,2,6,3,7)", "4-7", 3, false, NULL, NULL,
        { 0, 0, 1, 1, 0, 0, 1, 1 }, { 4, 5, 6, 7 }, 4,
        { 0, 1, 2, 3, 0, 1, 2, 3 }, { 0, 0, 2, 2, 0, 0, 2, 2 },
        { 4, 5, 6, 7 }, 4,
    },
    {   /* Hybrid: the efficiency cores are numbered first (0,4) (1,5), the
         * performance cores after (2,6) (3,7). Performance cores, efficiency
         * cores, then the performance cores' siblings, then the others. */
        "hybrid", "pack:1 l3:1 core:4 l2:1 l1d:1 pu:2(indexes=0,4,1,5,2,6,3,7)", NULL, 3, false,
        "0-1,4-5", "2-3,6-7",
        { 0, 0, 0, 0, 0, 0, 0, 0 }, ALL_CPUS,
        { 0, 1, 2, 3, 0, 1, 2, 3 }, { 0, 0, 0, 0, 0, 0, 0, 0 },
        { 2, 3, 0, 1, 6, 7, 4, 5 }, 4,
    },
};
#define NMACHINES (int)(sizeof machines / sizeof machines[0])

static char root[256];

static void write_file(const char *path, const char *text)
{
    test_write_file(path, strlen(root), text);
}

/* "a,b,c": the CPUs j with key[j] == key[i], as /sys writes a shared list. */
static void list_of(const int *key, int i, char *text, size_t size)
{
    size_t len = 0;
    for (int j = 0; j < NCPU; j++)
        if (key[j] == key[i])
            len += (size_t)snprintf(text + len, size - len, len ? ",%d" : "%d", j);
    snprintf(text + len, size - len, "\n");
}

/* The /sys tree of machine m (all 8 CPUs) under root/name. */
static void write_sysfs(const fake_machine *m, char *tree, size_t size)
{
    snprintf(tree, size, "%s/%s", root, m->name);
    char path[512], text[64];
    for (int cpu = 0; cpu < NCPU; cpu++) {
        snprintf(path, sizeof path, "%s/devices/system/cpu/cpu%d/topology/physical_package_id", tree, cpu);
        snprintf(text, sizeof text, "%d\n", m->package[cpu]);
        write_file(path, text);
        if (!m->no_siblings_file) {
            snprintf(path, sizeof path, "%s/devices/system/cpu/cpu%d/topology/thread_siblings_list", tree, cpu);
            list_of(m->core, cpu, text, sizeof text);
            write_file(path, text);
        }
        /* index0 L1d, index1 L1i, index2 L2, index3 L3; the last level is shared. */
        static const int level_of_index[4] = { 1, 1, 2, 3 };
        for (int idx = 0; idx < 4 && level_of_index[idx] <= m->cache_levels; idx++) {
            snprintf(path, sizeof path, "%s/devices/system/cpu/cpu%d/cache/index%d/shared_cpu_list", tree, cpu, idx);
            list_of(level_of_index[idx] == m->cache_levels ? m->llc : m->core, cpu, text, sizeof text);
            write_file(path, text);
        }
    }
    if (m->atom_cpus) {
        snprintf(path, sizeof path, "%s/devices/cpu_atom/cpus", tree);
        snprintf(text, sizeof text, "%s\n", m->atom_cpus);
        write_file(path, text);
        snprintf(path, sizeof path, "%s/devices/cpu_core/cpus", tree);
        snprintf(text, sizeof text, "%s\n", m->core_cpus);
        write_file(path, text);
    }
}

/* The XML file hwloc exports for m's synthetic description. */
static void register_kind(hwloc_topology_t topo, const char *cpus, int efficiency)
{
    hwloc_bitmap_t set = hwloc_bitmap_alloc();
    CHECK(set && hwloc_bitmap_list_sscanf(set, cpus) == 0);
    CHECK(hwloc_cpukinds_register(topo, set, efficiency, 0, NULL, 0) == 0);
    hwloc_bitmap_free(set);
}

static void write_xml(const fake_machine *m, const char *path)
{
    const char *synthetic = m->synthetic, *allowed_pus = m->allowed_pus;
    hwloc_topology_t topo;
    CHECK(hwloc_topology_init(&topo) == 0);
    CHECK(hwloc_topology_set_flags(topo, HWLOC_TOPOLOGY_FLAG_INCLUDE_DISALLOWED) == 0);
    CHECK(hwloc_topology_set_synthetic(topo, synthetic) == 0);
    CHECK(hwloc_topology_load(topo) == 0);
    if (allowed_pus) {
        hwloc_bitmap_t set = hwloc_bitmap_alloc();
        CHECK(set && hwloc_bitmap_list_sscanf(set, allowed_pus) == 0);
        CHECK(hwloc_topology_allow(topo, set, NULL, HWLOC_ALLOW_FLAG_CUSTOM) == 0);
        hwloc_bitmap_free(set);
    }
    if (m->atom_cpus) {
        register_kind(topo, m->atom_cpus, 0);
        register_kind(topo, m->core_cpus, 1);
    }
    CHECK(hwloc_topology_export_xml(topo, path, 0) == 0);
    hwloc_topology_destroy(topo);
}

/* --- hwloc's answers ----------------------------------------------------- */

static int lowest_cpu(hwloc_const_cpuset_t set, int fallback)
{
    int first = hwloc_bitmap_first(set);
    return first >= 0 ? first : fallback;
}

/* What hwloc says of CPU cpu (core -1 when hwloc has no such PU). */
static fj__cpu_info hwloc_describe(hwloc_topology_t topo, int cpu)
{
    fj__cpu_info out = { .cpu = cpu, .core = -1, .llc = -1, .perf = 0 };
    hwloc_obj_t pu = hwloc_get_pu_obj_by_os_index(topo, (unsigned)cpu);
    if (!pu)
        return out;
    hwloc_obj_t core = hwloc_get_ancestor_obj_by_type(topo, HWLOC_OBJ_CORE, pu);
    out.core = core ? lowest_cpu(core->cpuset, cpu) : cpu;
    /* The last-level cache: the cache ancestor of the largest level. */
    hwloc_obj_t llc = NULL;
    for (hwloc_obj_t o = pu->parent; o; o = o->parent)
        if (hwloc_obj_type_is_cache(o->type) && (!llc || o->attr->cache.depth > llc->attr->cache.depth))
            llc = o;
    if (llc) {
        out.llc = lowest_cpu(llc->cpuset, cpu);
    } else {
        hwloc_obj_t pkg = hwloc_get_ancestor_obj_by_type(topo, HWLOC_OBJ_PACKAGE, pu);
        bool known = pkg && pkg->os_index != HWLOC_UNKNOWN_INDEX;
        out.llc = FJ__LLC_PACKAGE + (known ? (int)pkg->os_index : 0);
    }
    /* The kind: its efficiency (higher is faster), when hwloc ranked them. */
    hwloc_bitmap_t set = hwloc_bitmap_alloc();
    CHECK(set);
    hwloc_bitmap_only(set, (unsigned)cpu);
    int kind = hwloc_cpukinds_get_by_cpuset(topo, set, 0);
    int efficiency = -1;
    if (kind >= 0)
        CHECK(hwloc_cpukinds_get_info(topo, (unsigned)kind, NULL, &efficiency, NULL, NULL, 0) == 0);
    out.perf = efficiency > 0 ? efficiency : 0;
    hwloc_bitmap_free(set);
    return out;
}

/* hwloc's answers for cpus[0..n): from an XML file, or this machine (NULL). */
static void hwloc_read(const char *xml, const int *cpus, int n, fj__cpu_info *out)
{
    hwloc_topology_t topo;
    CHECK(hwloc_topology_init(&topo) == 0);
    /* CPUs the process may not use stay in the topology, as in /sys. The x86
     * backend is left out: it reads cpuid (which a virtual machine may set up
     * unlike what its kernel shows), and what is compared here is /sys, which
     * the Linux backend reads. hwloc built for another architecture has no
     * x86 backend and refuses the name. */
    CHECK(hwloc_topology_set_flags(topo, HWLOC_TOPOLOGY_FLAG_INCLUDE_DISALLOWED) == 0);
    (void)hwloc_topology_set_components(topo, HWLOC_TOPOLOGY_COMPONENTS_FLAG_BLACKLIST, "x86");
    if (xml)
        CHECK(hwloc_topology_set_xml(topo, xml) == 0);
    CHECK(hwloc_topology_load(topo) == 0);
    for (int i = 0; i < n; i++)
        out[i] = hwloc_describe(topo, cpus[i]);
    hwloc_topology_destroy(topo);
}

/* --- comparisons ---------------------------------------------------------- */

static void check_machine(const fake_machine *m, const fj__cpu_info *info, const char *reader)
{
    for (int i = 0; i < m->nallowed; i++) {
        int cpu = m->allowed[i];
        if (info[i].cpu != cpu || info[i].core != m->core[cpu] || info[i].llc != m->llc[cpu])
            FAIL_SOFT("%s, %s: cpu %d: core %d llc %d, expected core %d llc %d", m->name, reader, cpu,
                      info[i].core, info[i].llc, m->core[cpu], m->llc[cpu]);
    }
    int out[NCPU];
    for (int avoid_smt = 0; avoid_smt <= 1; avoid_smt++) {
        int n = fj__topology_order_info(info, m->nallowed, avoid_smt, out);
        int expect = avoid_smt ? m->order_avoid_smt : m->nallowed;
        if (n != expect)
            FAIL_SOFT("%s, %s, avoid_smt %d: %d CPUs, expected %d", m->name, reader, avoid_smt, n, expect);
        for (int i = 0; i < n && i < expect; i++)
            if (out[i] != m->order[i])
                FAIL_SOFT("%s, %s, avoid_smt %d: order[%d] = %d, expected %d", m->name, reader, avoid_smt, i,
                          out[i], m->order[i]);
    }
}

static int sign(int x)
{
    return (x > 0) - (x < 0);
}

/* hwloc (a) and /sys (b) agree: same cores, same caches, and the kinds
 * ranked alike (the scales differ: hwloc counts kinds, /sys may give the
 * capacity). */
static void same_info(const fj__cpu_info *a, const fj__cpu_info *b, int n, const char *what)
{
    for (int i = 0; i < n; i++) {
        if (a[i].cpu != b[i].cpu || a[i].core != b[i].core || a[i].llc != b[i].llc)
            FAIL_SOFT("%s: cpu %d: hwloc core %d llc %d, /sys cpu %d core %d llc %d", what, a[i].cpu, a[i].core,
                      a[i].llc, b[i].cpu, b[i].core, b[i].llc);
        for (int j = 0; j < n; j++)
            if (sign(a[i].perf - a[j].perf) != sign(b[i].perf - b[j].perf))
                FAIL_SOFT("%s: cpus %d and %d: hwloc kinds %d and %d, /sys perf %d and %d", what, a[i].cpu,
                          a[j].cpu, a[i].perf, a[j].perf, b[i].perf, b[j].perf);
    }
}

static int allowed_cpus[1024], nallowed_cpus;
static fj__cpu_info from_sysfs[1024], from_hwloc[1024];
static int order_hwloc[1024], order_sysfs[1024];
static fj__cpu_info scratch_sysfs[1024];

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    snprintf(root, sizeof root, "/tmp/fj-topo-hwloc-%d", (int)getpid());
    CHECK(mkdir(root, 0755) == 0);

    /* The made-up machines, through both readers. */
    for (int k = 0; k < NMACHINES; k++) {
        const fake_machine *m = &machines[k];
        char tree[300], xml[300];
        write_sysfs(m, tree, sizeof tree);
        snprintf(xml, sizeof xml, "%s/%s.xml", root, m->name);
        write_xml(m, xml);
        fj__cpu_info info[NCPU];
        fj__topology_read_at(tree, m->allowed, m->nallowed, info);
        check_machine(m, info, "/sys");
        hwloc_read(xml, m->allowed, m->nallowed, info);
        check_machine(m, info, "hwloc");
    }

    /* This machine: what fj_create reads, and what hwloc's Linux backend says. */
    nallowed_cpus = fj__os_allowed_cpus(allowed_cpus, 1024);
    CHECK(nallowed_cpus >= 1);
    fj__topology_read_at("/sys", allowed_cpus, nallowed_cpus, from_sysfs);
    hwloc_read(NULL, allowed_cpus, nallowed_cpus, from_hwloc);
    same_info(from_hwloc, from_sysfs, nallowed_cpus, "this machine");
    for (int avoid_smt = 0; avoid_smt <= 1; avoid_smt++) {
        int n_hwloc = fj__topology_order_info(from_hwloc, nallowed_cpus, avoid_smt, order_hwloc);
        int n_sysfs = fj__topology_order(allowed_cpus, nallowed_cpus, avoid_smt, order_sysfs, scratch_sysfs);
        CHECK_EQ(n_hwloc, n_sysfs);
        for (int i = 0; i < n_hwloc; i++)
            CHECK_EQ(order_hwloc[i], order_sysfs[i]);
    }

    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    CHECK(system(cmd) == 0);
    return test_finish();
}
