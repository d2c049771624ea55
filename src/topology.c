/*
 * CPU topology from /sys (Linux): which allowed CPUs are SMT siblings of one
 * physical core, and which share a last-level cache. Used to order the CPUs
 * workers are pinned to (one per physical core first, siblings after, or none
 * of the siblings with fj_config.avoid_smt) and to order the victims a worker
 * steals from (those sharing its last-level cache first).
 *
 * When the library is built with hwloc (FJ_HAVE_HWLOC), the answers come
 * from hwloc (topology_hwloc.c), and from /sys when hwloc cannot load a
 * topology or does not know a CPU. Both give the same answers: see
 * topology_hwloc.c for how hwloc's objects map onto the files read here.
 *
 * The root of the tree can be moved with the environment variable
 * FIBERJOB_SYSFS_ROOT, which the tests use to feed a made-up machine; when it
 * is set, /sys (the tree it names) is read even with hwloc.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static const char *sysfs_root_set(void)
{
    const char *r = getenv("FIBERJOB_SYSFS_ROOT");
    return r && *r ? r : NULL;
}

static int read_first_int(const char *path, int fallback)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return fallback;
    int v;
    int ok = fscanf(f, "%d", &v) == 1;
    fclose(f);
    return ok ? v : fallback;
}

/* The lowest CPU of a list like "0-3,8-11" (the list's representative). */
static int read_list_first(const char *path, int fallback)
{
    return read_first_int(path, fallback);
}

static void sysfs_read_cpu(const char *root, int cpu, fj__cpu_info *out)
{
    char path[512];
    snprintf(path, sizeof path, "%s/devices/system/cpu/cpu%d/topology/thread_siblings_list", root, cpu);
    out->core = read_list_first(path, cpu);
    /* The last-level cache: the highest cache index that exists. */
    out->llc = -1;
    for (int idx = 4; idx >= 0 && out->llc < 0; idx--) {
        snprintf(path, sizeof path, "%s/devices/system/cpu/cpu%d/cache/index%d/shared_cpu_list", root, cpu, idx);
        out->llc = read_list_first(path, -1);
    }
    if (out->llc < 0) {
        snprintf(path, sizeof path, "%s/devices/system/cpu/cpu%d/topology/physical_package_id", root, cpu);
        out->llc = 100000 + read_first_int(path, 0);
    }
    out->cpu = cpu;
}

void fj__topology_read(const int *cpus, int n, fj__cpu_info *out)
{
    const char *root = sysfs_root_set();
#if FJ_HAVE_HWLOC
    if (!root && fj__topology_read_hwloc(cpus, n, out) == 0) {
        for (int i = 0; i < n; i++)
            if (out[i].core < 0)
                sysfs_read_cpu("/sys", cpus[i], &out[i]);
        return;
    }
#endif
    for (int i = 0; i < n; i++)
        sysfs_read_cpu(root ? root : "/sys", cpus[i], &out[i]);
}

int fj__topology_order(const int *allowed, int n, int avoid_smt, int *out, fj__cpu_info *info)
{
    if (!info) {
        memcpy(out, allowed, sizeof *out * (size_t)n);
        return n;
    }
    fj__topology_read(allowed, n, info);
    int k = 0;
    /* First pass: the first CPU of each physical core (its own representative). */
    for (int i = 0; i < n; i++)
        if (info[i].core == info[i].cpu)
            out[k++] = info[i].cpu;
    /* Cores whose representative is not allowed: their first allowed sibling. */
    for (int i = 0; i < n; i++) {
        if (info[i].core == info[i].cpu)
            continue;
        bool seen = false;
        for (int j = 0; j < n && !seen; j++)
            seen = info[j].core == info[i].core && (info[j].core == info[j].cpu || j < i);
        if (!seen)
            out[k++] = info[i].cpu;
    }
    /* Then the remaining siblings, unless avoiding SMT. */
    if (!avoid_smt) {
        for (int i = 0; i < n; i++) {
            bool placed = false;
            for (int j = 0; j < k && !placed; j++)
                placed = out[j] == info[i].cpu;
            if (!placed)
                out[k++] = info[i].cpu;
        }
    }
    return k;
}
