/*
 * CPU topology from /sys (Linux; on Windows from the OS's own query, through
 * os.h's fj__os_topology, with the same answers): which allowed CPUs are SMT siblings of one
 * physical core, which share a last-level cache, and, on hybrid machines,
 * which are the faster cores. Used to order the CPUs workers are pinned to and
 * to order the victims a worker steals from (those sharing its last-level
 * cache first).
 *
 * The pinning order: one CPU per physical core first, faster cores before
 * slower ones, then the SMT siblings (none with fj_config.avoid_smt), faster
 * cores' first. That puts an efficiency core before a performance core's
 * second hardware thread, as Linux's own scheduler does on hybrid Intel parts:
 * a second thread shares its core's pipeline, an efficiency core has its own.
 *
 * What /sys says, by file (under /sys/devices):
 *   system/cpu/cpuN/topology/thread_siblings_list   the CPUs of N's core
 *   system/cpu/cpuN/cache/indexK/shared_cpu_list    the CPUs sharing cache K
 *                                                   (the highest K is the last level)
 *   system/cpu/cpuN/topology/physical_package_id    the package, when no cache is listed
 *   cpu_core/cpus, cpu_atom/cpus                    hybrid Intel: performance and
 *                                                   efficiency cores (the two PMUs)
 *   system/cpu/cpuN/cpu_capacity                    elsewhere (ARM big.LITTLE): the
 *                                                   scheduler's capacity, 1024 the fastest
 *
 * This is all hwloc's Linux backend reads for these answers too, at a tiny
 * part of the cost (hwloc loads its plugins and the whole machine: milliseconds
 * on the first fj_create). The library does not use hwloc; a test built with it
 * (tests/unit/test_topology_hwloc.c, -DFIBERJOB_HWLOC) checks that both agree.
 *
 * This machine's answers are read once per CPU and kept for the process. The
 * root of the tree can be moved with the environment variable
 * FIBERJOB_SYSFS_ROOT, which the tests use to feed a made-up machine to
 * fj_create (read every time, never kept); fj__topology_read_at takes the
 * root as an argument.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "os.h"

/* The whole (short) file as a string; false when it cannot be read. */
static bool read_text(const char *path, char *text, size_t size)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t len = fread(text, 1, size - 1, f);
    fclose(f);
    text[len] = '\0';
    return len > 0;
}

static int read_first_int(const char *path, int fallback)
{
    char text[32];
    int v;
    return read_text(path, text, sizeof text) && sscanf(text, "%d", &v) == 1 ? v : fallback;
}

/* The lowest CPU of a list like "0-3,8-11" (the list's representative). */
static int read_list_first(const char *path, int fallback)
{
    return read_first_int(path, fallback);
}

/* Whether a list like "0-3,8-11" holds cpu. */
static bool list_has(const char *list, int cpu)
{
    const char *p = list;
    while (*p) {
        char *end;
        long lo = strtol(p, &end, 10), hi = lo;
        if (end == p)
            return false;
        if (*end == '-') {
            p = end + 1;
            hi = strtol(p, &end, 10);
            if (end == p)
                return false;
        }
        if (cpu >= lo && cpu <= hi)
            return true;
        p = *end == ',' ? end + 1 : end;
        if (*end != ',')
            break;
    }
    return false;
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
        out->llc = FJ__LLC_PACKAGE + read_first_int(path, 0);
    }
    out->cpu = cpu;
    out->perf = 0;
}

/* perf of each CPU: on a hybrid Intel machine 1 for the performance cores and
 * 0 for the efficiency cores (a CPU in neither list counts as a performance
 * core); elsewhere its cpu_capacity, 0 when the kernel shows none. */
static void sysfs_read_perf(const char *root, int n, fj__cpu_info *out)
{
    char path[512];
    char atom[4096];
    snprintf(path, sizeof path, "%s/devices/cpu_atom/cpus", root);
    if (read_text(path, atom, sizeof atom)) {
        for (int i = 0; i < n; i++)
            out[i].perf = list_has(atom, out[i].cpu) ? 0 : 1;
        return;
    }
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/devices/system/cpu/cpu%d/cpu_capacity", root, out[i].cpu);
        out[i].perf = read_first_int(path, 0);
    }
}

void fj__topology_read_at(const char *root, const int *cpus, int n, fj__cpu_info *out)
{
    for (int i = 0; i < n; i++)
        sysfs_read_cpu(root, cpus[i], &out[i]);
    sysfs_read_perf(root, n, out);
}

/* This machine's answers: from the OS's own query where it has one (Windows:
 * GetLogicalProcessorInformationEx, os.h), else from /sys. */
static void read_this_machine(const int *cpus, int n, fj__cpu_info *out)
{
    fj__os_cpu_place *place = n ? malloc(sizeof *place * (size_t)n) : NULL;
    if (place && fj__os_topology(cpus, n, place)) {
        for (int i = 0; i < n; i++) {
            out[i].cpu = cpus[i];
            out[i].core = place[i].core;
            out[i].llc = place[i].llc >= 0 ? place[i].llc : FJ__LLC_PACKAGE + place[i].package;
            out[i].perf = place[i].perf;
        }
    } else {
        fj__topology_read_at("/sys", cpus, n, out);
    }
    free(place);
}

/* This machine's answers, kept for the life of the process: fj_create asks
 * twice (the pinning order, then the workers' caches), and every read is a
 * few files per CPU (about 4 us each here). A CPU not asked about before, as
 * one brought online later, is read when first asked about. */
enum { KEPT_CPUS = 1024 };
static fj__os_mutex kept_lock = FJ__OS_MUTEX_INIT;
static fj__cpu_info kept[KEPT_CPUS];
static bool kept_known[KEPT_CPUS];

static bool is_kept(int cpu)
{
    return cpu >= 0 && cpu < KEPT_CPUS && kept_known[cpu];
}

void fj__topology_read(const int *cpus, int n, fj__cpu_info *out)
{
    const char *root = getenv("FIBERJOB_SYSFS_ROOT");
    if (root && *root) {   /* a made-up machine (tests): read it every time */
        fj__topology_read_at(root, cpus, n, out);
        return;
    }
    fj__os_mutex_lock(&kept_lock);
    int nnew = 0;
    for (int i = 0; i < n; i++)
        if (!is_kept(cpus[i]))
            nnew++;
    int *fresh = nnew ? malloc(sizeof *fresh * (size_t)nnew) : NULL;
    fj__cpu_info *got = nnew ? malloc(sizeof *got * (size_t)nnew) : NULL;
    if (nnew && (!fresh || !got)) {   /* no memory: read them all, keep nothing */
        free(fresh);
        free(got);
        fj__os_mutex_unlock(&kept_lock);
        read_this_machine(cpus, n, out);
        return;
    }
    int k = 0;
    for (int i = 0; i < n; i++)
        if (!is_kept(cpus[i]))
            fresh[k++] = cpus[i];
    if (nnew)
        read_this_machine(fresh, nnew, got);
    for (int j = 0; j < nnew; j++) {
        if (got[j].cpu >= 0 && got[j].cpu < KEPT_CPUS) {
            kept[got[j].cpu] = got[j];
            kept_known[got[j].cpu] = true;
        }
    }
    for (int i = 0, j = 0; i < n; i++) {
        if (is_kept(cpus[i]))
            out[i] = kept[cpus[i]];
        else   /* beyond the table: read just now, in the order asked */
            for (; j < nnew; j++)
                if (got[j].cpu == cpus[i]) {
                    out[i] = got[j++];
                    break;
                }
    }
    free(fresh);
    free(got);
    fj__os_mutex_unlock(&kept_lock);
}

/* Whether info[i] is the CPU that stands for its physical core: its
 * representative (the lowest CPU of the core), or, when that one is not
 * allowed, the core's first allowed CPU. */
static bool stands_for_core(const fj__cpu_info *info, int n, int i)
{
    if (info[i].core == info[i].cpu)
        return true;
    for (int j = 0; j < n; j++)
        if (info[j].core == info[i].core && (info[j].core == info[j].cpu || j < i))
            return false;
    return true;
}

/* Stable insertion sort of the indices idx[0..n) into info, highest perf first. */
static void sort_by_perf(int *idx, int n, const fj__cpu_info *info)
{
    for (int i = 1; i < n; i++) {
        int v = idx[i], k = i;
        for (; k > 0 && info[idx[k - 1]].perf < info[v].perf; k--)
            idx[k] = idx[k - 1];
        idx[k] = v;
    }
}

int fj__topology_order_info(const fj__cpu_info *info, int n, int avoid_smt, int *out)
{
    /* out holds indices into info until the end. */
    int k = 0;
    /* One CPU per core: the cores' representatives, then the first allowed
     * CPU of each core whose representative is not allowed. */
    for (int i = 0; i < n; i++)
        if (info[i].core == info[i].cpu)
            out[k++] = i;
    for (int i = 0; i < n; i++)
        if (info[i].core != info[i].cpu && stands_for_core(info, n, i))
            out[k++] = i;
    sort_by_perf(out, k, info);
    int cores = k;
    if (!avoid_smt) {   /* then the other SMT siblings */
        for (int i = 0; i < n; i++)
            if (!stands_for_core(info, n, i))
                out[k++] = i;
        sort_by_perf(out + cores, k - cores, info);
    }
    for (int i = 0; i < k; i++)
        out[i] = info[out[i]].cpu;
    return k;
}

int fj__topology_order(const int *allowed, int n, int avoid_smt, int *out, fj__cpu_info *info)
{
    if (!info) {
        memcpy(out, allowed, sizeof *out * (size_t)n);
        return n;
    }
    fj__topology_read(allowed, n, info);
    return fj__topology_order_info(info, n, avoid_smt, out);
}
