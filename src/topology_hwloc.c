/*
 * CPU topology through hwloc (built when CMake finds libhwloc-dev; see
 * cmake/hwloc.cmake). It gives the same two answers as the /sys reader in
 * topology.c, which is used instead when hwloc cannot load a topology:
 *
 *   core  the lowest CPU of the physical core (thread_siblings_list in /sys);
 *         the CPU itself when hwloc has no Core object above it;
 *   llc   the lowest CPU of the last-level cache, i.e. the cache ancestor
 *         with the largest level (the highest cache/indexN in /sys); with no
 *         cache, 100000 + the package number (physical_package_id).
 *
 * CPUs the calling process may not use stay in the topology
 * (HWLOC_TOPOLOGY_FLAG_INCLUDE_DISALLOWED), since /sys lists them as siblings
 * too and fj__topology_order relies on it ("a core whose representative is
 * not allowed"). hwloc's x86 backend is left out: it pins the calling thread
 * to every CPU in turn to run cpuid (the caller of fj_create would see its
 * affinity change under it), and what matters here is what /sys says, which
 * the Linux backend reads.
 *
 * This machine is read once per process and kept as a table: hwloc_topology_init
 * loads hwloc's plugins (1-2 ms) and the load itself takes about as long,
 * while fj_create reads the topology twice. A CPU brought online later is not
 * in the table and is read from /sys like any CPU hwloc does not know.
 *
 * Test only: FIBERJOB_HWLOC_XML=<file> loads an hwloc XML file instead of
 * this machine, at every call (never kept), so the tests can feed a made-up
 * machine to this path. FIBERJOB_SYSFS_ROOT, when set, turns this file off
 * (topology.c reads the tree it names).
 */
#include <hwloc.h>
#include <pthread.h>
#include <stdlib.h>

#include "internal.h"

#define NO_PACKAGE_LLC 100000   /* the /sys reader's base for "no cache: the package" */

typedef struct machine {
    int ncpu;           /* entries in cpu[]: the largest PU number + 1 */
    fj__cpu_info *cpu;  /* indexed by CPU number; core < 0 where hwloc has no PU */
} machine;

static int lowest_cpu(hwloc_const_cpuset_t set, int fallback)
{
    int first = hwloc_bitmap_first(set);
    return first >= 0 ? first : fallback;
}

static void pu_describe(hwloc_topology_t topo, hwloc_obj_t pu, fj__cpu_info *out)
{
    int cpu = (int)pu->os_index;
    hwloc_obj_t core = hwloc_get_ancestor_obj_by_type(topo, HWLOC_OBJ_CORE, pu);
    out->cpu = cpu;
    out->core = core ? lowest_cpu(core->cpuset, cpu) : cpu;
    /* The last-level cache: the cache ancestor of the largest level (on a tie,
     * an instruction and a data cache of one level, the nearer one). */
    hwloc_obj_t llc = NULL;
    for (hwloc_obj_t o = pu->parent; o; o = o->parent)
        if (hwloc_obj_type_is_cache(o->type) && (!llc || o->attr->cache.depth > llc->attr->cache.depth))
            llc = o;
    if (llc) {
        out->llc = lowest_cpu(llc->cpuset, cpu);
    } else {
        hwloc_obj_t pkg = hwloc_get_ancestor_obj_by_type(topo, HWLOC_OBJ_PACKAGE, pu);
        bool known = pkg && pkg->os_index != HWLOC_UNKNOWN_INDEX;
        out->llc = NO_PACKAGE_LLC + (known ? (int)pkg->os_index : 0);
    }
}

static int machine_fill(hwloc_topology_t topo, machine *m)
{
    int top = -1;
    for (hwloc_obj_t pu = NULL; (pu = hwloc_get_next_obj_by_type(topo, HWLOC_OBJ_PU, pu));)
        if (pu->os_index != HWLOC_UNKNOWN_INDEX && (int)pu->os_index > top)
            top = (int)pu->os_index;
    if (top < 0)
        return -1;
    m->ncpu = top + 1;
    m->cpu = malloc(sizeof *m->cpu * (size_t)m->ncpu);
    if (!m->cpu)
        return -1;
    for (int i = 0; i < m->ncpu; i++)
        m->cpu[i] = (fj__cpu_info){ .cpu = i, .core = -1, .llc = -1 };
    for (hwloc_obj_t pu = NULL; (pu = hwloc_get_next_obj_by_type(topo, HWLOC_OBJ_PU, pu));)
        if (pu->os_index != HWLOC_UNKNOWN_INDEX)
            pu_describe(topo, pu, &m->cpu[pu->os_index]);
    return 0;
}

/* Load this machine (xml == NULL) or an XML file into m; 0 on success. */
static int machine_load(const char *xml, machine *m)
{
    hwloc_topology_t topo;
    if (hwloc_topology_init(&topo) != 0)
        return -1;
    /* hwloc built for another architecture has no x86 backend and refuses
     * the name: nothing to leave out then. */
    (void)hwloc_topology_set_components(topo, HWLOC_TOPOLOGY_COMPONENTS_FLAG_BLACKLIST, "x86");
    int rc = -1;
    if (hwloc_topology_set_flags(topo, HWLOC_TOPOLOGY_FLAG_INCLUDE_DISALLOWED) == 0 &&
        (!xml || hwloc_topology_set_xml(topo, xml) == 0) && hwloc_topology_load(topo) == 0)
        rc = machine_fill(topo, m);
    hwloc_topology_destroy(topo);
    return rc;
}

static pthread_once_t this_machine_once = PTHREAD_ONCE_INIT;
static machine this_machine;   /* kept for the life of the process */
static int this_machine_rc = -1;

static void this_machine_load(void)
{
    this_machine_rc = machine_load(NULL, &this_machine);
}

int fj__topology_read_hwloc(const int *cpus, int n, fj__cpu_info *out)
{
    const char *xml = getenv("FIBERJOB_HWLOC_XML");
    machine made_up = { 0, NULL };
    const machine *m = &made_up;
    if (xml && *xml) {
        if (machine_load(xml, &made_up) != 0)
            return -1;
    } else {
        pthread_once(&this_machine_once, this_machine_load);
        if (this_machine_rc != 0)
            return -1;
        m = &this_machine;
    }
    for (int i = 0; i < n; i++) {
        int cpu = cpus[i];
        if (cpu >= 0 && cpu < m->ncpu)
            out[i] = m->cpu[cpu];
        else
            out[i] = (fj__cpu_info){ .cpu = cpu, .core = -1, .llc = -1 };
    }
    free(made_up.cpu);
    return 0;
}
