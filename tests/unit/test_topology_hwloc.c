/* Topology through hwloc (built when the library is): each made-up machine is
 * given to hwloc as an XML file (FIBERJOB_HWLOC_XML, written here from an
 * hwloc synthetic description) and to the /sys reader as a fake tree
 * (FIBERJOB_SYSFS_ROOT); both must give the answers written down here, for the
 * cores, the last-level caches and the pinning order. Then: FIBERJOB_SYSFS_ROOT
 * wins over hwloc; a topology hwloc cannot load, or a CPU it does not know,
 * is read from /sys; fj_create follows hwloc's answers; and on this machine
 * hwloc and /sys agree.
 *
 * Not for Valgrind: hwloc 2.9's hwloc_topology_set_synthetic, used here to
 * write the XML files, copies overlapping memory with memcpy (inside hwloc;
 * the library itself never calls it). */
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
    int package[NCPU];       /* /sys: physical_package_id */
    int allowed[NCPU], nallowed;  /* the CPUs asked about */
    /* Expected, by CPU number (also what the /sys tree says): */
    int core[NCPU], llc[NCPU];
    int order[NCPU], order_avoid_smt;   /* pinning order; with avoid_smt, its first order_avoid_smt */
} fake_machine;

#define ALL_CPUS { 0, 1, 2, 3, 4, 5, 6, 7 }, NCPU

static const fake_machine machines[] = {
    {   /* Intel-like: siblings numbered 4 apart, an L3 per package. */
        "interleaved", "pack:2 l3:1 core:2 l2:1 l1d:1 pu:2(indexes=0,4,1,5,2,6,3,7)", NULL, 3, false,
        { 0, 0, 1, 1, 0, 0, 1, 1 }, ALL_CPUS,
        { 0, 1, 2, 3, 0, 1, 2, 3 }, { 0, 0, 2, 2, 0, 0, 2, 2 },
        { 0, 1, 2, 3, 4, 5, 6, 7 }, 4,
    },
    {   /* AMD-like: one package, two L3s of two cores, siblings adjacent. */
        "two-l3", "pack:1 l3:2 core:2 l2:1 l1d:1 pu:2", NULL, 3, false,
        { 0, 0, 0, 0, 0, 0, 0, 0 }, ALL_CPUS,
        { 0, 0, 2, 2, 4, 4, 6, 6 }, { 0, 0, 0, 0, 4, 4, 4, 4 },
        { 0, 2, 4, 6, 1, 3, 5, 7 }, 4,
    },
    {   /* No SMT, no L3: an L2 shared by two cores is the last level. */
        "shared-l2", "pack:2 l2:2 core:2 l1d:1 pu:1", NULL, 2, false,
        { 0, 0, 0, 0, 1, 1, 1, 1 }, ALL_CPUS,
        { 0, 1, 2, 3, 4, 5, 6, 7 }, { 0, 0, 2, 2, 4, 4, 6, 6 },
        { 0, 1, 2, 3, 4, 5, 6, 7 }, 8,
    },
    {   /* No cache at all: the package stands for the last level (numbered 1, 0). */
        "no-cache", "pack:2(indexes=1,0) core:2 pu:2(indexes=0,4,1,5,2,6,3,7)", NULL, 0, false,
        { 1, 1, 0, 0, 1, 1, 0, 0 }, ALL_CPUS,
        { 0, 1, 2, 3, 0, 1, 2, 3 }, { 100001, 100001, 100000, 100000, 100001, 100001, 100000, 100000 },
        { 0, 1, 2, 3, 4, 5, 6, 7 }, 4,
    },
    {   /* No core and no cache known: every CPU is its own core. */
        "no-core", "pack:2 pu:4", NULL, 0, true,
        { 0, 0, 0, 0, 1, 1, 1, 1 }, ALL_CPUS,
        { 0, 1, 2, 3, 4, 5, 6, 7 }, { 100000, 100000, 100000, 100000, 100001, 100001, 100001, 100001 },
        { 0, 1, 2, 3, 4, 5, 6, 7 }, 8,
    },
    {   /* The first machine where the process may use only CPUs 4-7 (a cgroup,
         * say): their cores are still represented by CPUs 0-3, as in /sys. */
        "disallowed", "pack:2 l3:1 core:2 l2:1 l1d:1 pu:2(indexes=0,4,1,5,2,6,3,7)", "4-7", 3, false,
        { 0, 0, 1, 1, 0, 0, 1, 1 }, { 4, 5, 6, 7 }, 4,
        { 0, 1, 2, 3, 0, 1, 2, 3 }, { 0, 0, 2, 2, 0, 0, 2, 2 },
        { 4, 5, 6, 7 }, 4,
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
}

/* The XML file hwloc exports for m's synthetic description. */
static void write_xml(const char *synthetic, const char *allowed_pus, const char *path)
{
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
    CHECK(hwloc_topology_export_xml(topo, path, 0) == 0);
    hwloc_topology_destroy(topo);
}

static void use_sysfs(const char *tree)
{
    setenv("FIBERJOB_SYSFS_ROOT", tree, 1);
}

static void use_xml(const char *xml)
{
    unsetenv("FIBERJOB_SYSFS_ROOT");
    if (xml)
        setenv("FIBERJOB_HWLOC_XML", xml, 1);
    else
        unsetenv("FIBERJOB_HWLOC_XML");
}

static void check_machine(const fake_machine *m, const char *reader)
{
    fj__cpu_info info[NCPU];
    fj__topology_read(m->allowed, m->nallowed, info);
    for (int i = 0; i < m->nallowed; i++) {
        int cpu = m->allowed[i];
        if (info[i].cpu != cpu || info[i].core != m->core[cpu] || info[i].llc != m->llc[cpu])
            FAIL_SOFT("%s, %s: cpu %d: core %d llc %d, expected core %d llc %d", m->name, reader, cpu,
                      info[i].core, info[i].llc, m->core[cpu], m->llc[cpu]);
    }
    int out[NCPU];
    fj__cpu_info scratch[NCPU];
    for (int avoid_smt = 0; avoid_smt <= 1; avoid_smt++) {
        int n = fj__topology_order(m->allowed, m->nallowed, avoid_smt, out, scratch);
        int expect = avoid_smt ? m->order_avoid_smt : m->nallowed;
        if (n != expect)
            FAIL_SOFT("%s, %s, avoid_smt %d: %d CPUs, expected %d", m->name, reader, avoid_smt, n, expect);
        for (int i = 0; i < n && i < expect; i++)
            if (out[i] != m->order[i])
                FAIL_SOFT("%s, %s, avoid_smt %d: order[%d] = %d, expected %d", m->name, reader, avoid_smt, i,
                          out[i], m->order[i]);
    }
}

static void same_info(const fj__cpu_info *a, const fj__cpu_info *b, int n, const char *what)
{
    for (int i = 0; i < n; i++)
        if (a[i].cpu != b[i].cpu || a[i].core != b[i].core || a[i].llc != b[i].llc)
            FAIL_SOFT("%s: cpu %d: core %d llc %d, /sys: cpu %d core %d llc %d", what, a[i].cpu, a[i].core,
                      a[i].llc, b[i].cpu, b[i].core, b[i].llc);
}

static int allowed_cpus[1024], nallowed_cpus;
static fj__cpu_info real_sysfs[1024], got[1024];

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    snprintf(root, sizeof root, "/tmp/fj-topo-hwloc-%d", (int)getpid());
    CHECK(mkdir(root, 0755) == 0);
    nallowed_cpus = fj__os_allowed_cpus(allowed_cpus, 1024);
    CHECK(nallowed_cpus >= 1);

    /* The made-up machines, through both readers. */
    char trees[NMACHINES][300], xmls[NMACHINES][300];
    for (int k = 0; k < NMACHINES; k++) {
        const fake_machine *m = &machines[k];
        write_sysfs(m, trees[k], sizeof trees[k]);
        snprintf(xmls[k], sizeof xmls[k], "%s/%s.xml", root, m->name);
        write_xml(m->synthetic, m->allowed_pus, xmls[k]);

        use_sysfs(trees[k]);
        check_machine(m, "/sys");

        use_xml(xmls[k]);
        /* The answers must come from hwloc, not from its fallback. */
        fj__cpu_info info[NCPU];
        CHECK_EQ(fj__topology_read_hwloc(m->allowed, m->nallowed, info), 0);
        for (int i = 0; i < m->nallowed; i++)
            CHECK(info[i].core >= 0);
        check_machine(m, "hwloc");
    }

    /* FIBERJOB_SYSFS_ROOT wins: the first machine's XML, the second one's tree. */
    use_xml(xmls[0]);
    use_sysfs(trees[1]);
    check_machine(&machines[1], "/sys over hwloc");

    /* This machine's /sys, the reference for the fallbacks below. */
    use_sysfs("/sys");
    fj__topology_read(allowed_cpus, nallowed_cpus, real_sysfs);

    /* An XML file hwloc cannot load: hwloc fails, /sys answers. */
    char path[400];
    snprintf(path, sizeof path, "%s/no-such-file.xml", root);
    use_xml(path);
    CHECK_EQ(fj__topology_read_hwloc(allowed_cpus, nallowed_cpus, got), -1);
    fj__topology_read(allowed_cpus, nallowed_cpus, got);
    same_info(got, real_sysfs, nallowed_cpus, "unloadable XML");

    /* A machine that has none of this machine's CPUs (one PU, number 1000):
     * hwloc knows none of them, so each is read from /sys. */
    snprintf(path, sizeof path, "%s/cpu1000.xml", root);
    write_xml("pack:1 core:1 pu:1(indexes=1000)", NULL, path);
    use_xml(path);
    CHECK_EQ(fj__topology_read_hwloc(allowed_cpus, nallowed_cpus, got), 0);
    for (int i = 0; i < nallowed_cpus; i++)
        CHECK_EQ(got[i].core, -1);
    fj__topology_read(allowed_cpus, nallowed_cpus, got);
    same_info(got, real_sysfs, nallowed_cpus, "CPUs hwloc does not know");

    /* fj_create pins by hwloc's answers: a machine where every allowed CPU is
     * an SMT sibling of one core leaves one worker with avoid_smt. */
    size_t cap = 64 + 12 * (size_t)nallowed_cpus, len;
    char *synthetic = malloc(cap);
    CHECK(synthetic);
    len = (size_t)snprintf(synthetic, cap, "pack:1 core:1 pu:%d(indexes=", nallowed_cpus);
    for (int i = 0; i < nallowed_cpus; i++)
        len += (size_t)snprintf(synthetic + len, cap - len, i ? ",%d" : "%d", allowed_cpus[i]);
    snprintf(synthetic + len, cap - len, ")");
    snprintf(path, sizeof path, "%s/one-core.xml", root);
    write_xml(synthetic, NULL, path);
    free(synthetic);
    use_xml(path);
    fj_config c = fj_config_default();
    c.avoid_smt = 1;
    fj_scheduler *s = fj_create(&c);
    CHECK(s);
    CHECK_EQ(fj_worker_count(s), 1);
    fj_destroy(s);
    c.avoid_smt = 0;
    s = fj_create(&c);
    CHECK(s);
    CHECK_EQ(fj_worker_count(s), nallowed_cpus);
    fj_destroy(s);

    /* This machine: hwloc (read once and kept) and /sys must agree. */
    use_xml(NULL);
    CHECK_EQ(fj__topology_read_hwloc(allowed_cpus, nallowed_cpus, got), 0);
    for (int i = 0; i < nallowed_cpus; i++)
        CHECK(got[i].core >= 0);
    same_info(got, real_sysfs, nallowed_cpus, "this machine, hwloc");
    fj__topology_read(allowed_cpus, nallowed_cpus, got);
    same_info(got, real_sysfs, nallowed_cpus, "this machine");
    static int order_hwloc[1024], order_sysfs[1024];
    static fj__cpu_info scratch[1024];
    for (int avoid_smt = 0; avoid_smt <= 1; avoid_smt++) {
        use_xml(NULL);
        int n_hwloc = fj__topology_order(allowed_cpus, nallowed_cpus, avoid_smt, order_hwloc, scratch);
        use_sysfs("/sys");
        int n_sysfs = fj__topology_order(allowed_cpus, nallowed_cpus, avoid_smt, order_sysfs, scratch);
        CHECK_EQ(n_hwloc, n_sysfs);
        for (int i = 0; i < n_hwloc; i++)
            CHECK_EQ(order_hwloc[i], order_sysfs[i]);
    }

    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    CHECK(system(cmd) == 0);
    return test_finish();
}
