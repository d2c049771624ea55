# The graph workload's table from bench/run.sh's raw CSV
# (workload,impl,rep,metric,value,unit,dir): per implementation the medians of
# the frame-time median and p99 over the repetitions, and ratios to oneTBB's
# flow graph and to half the serial time (the two-core limit, serial / 2).
# A ratio is taken within each repetition (the implementations of one
# repetition ran one after the other, under much the same load) and the
# median of those is shown. Markdown on stdout:
#   awk -F, -f bench/graph_table.awk raw.csv
function med(list,    n, v, i, j, t) {
    n = split(substr(list, 2), v, " ")
    for (i = 2; i <= n; i++) { t = v[i] + 0; for (j = i - 1; j >= 1 && v[j] + 0 > t; j--) v[j + 1] = v[j]; v[j + 1] = t }
    if (n == 0) return ""
    return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}
function ratio(impl, m, base, div,    r, list) {
    list = ""
    for (r = 1; r <= maxrep; r++)
        if (((impl, m, r) in val) && ((base, m, r) in val) && val[base, m, r] > 0)
            list = list " " val[impl, m, r] / (val[base, m, r] / div)
    return list == "" ? "–" : sprintf("%.2f", med(list))
}
$1 == "graph" {
    val[$2, $4, $3] = $5
    all[$2, $4] = all[$2, $4] " " $5
    if (!($2 in seen)) { seen[$2] = 1; order[++n] = $2 }
    if ($3 + 0 > maxrep) maxrep = $3 + 0
}
END {
    if (!n) exit
    print "| implementation | median, µs | p99, µs | median / oneTBB | p99 / oneTBB | median / (serial / 2) | p99 / (serial / 2) | fibers holding a node, peak |"
    print "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    for (i = 1; i <= n; i++) {
        impl = order[i]
        f = med(all[impl, "graph-fibers"])
        printf "| %s | %.0f | %.0f | %s | %s | %s | %s | %s |\n", impl, med(all[impl, "graph-median"]),
               med(all[impl, "graph-p99"]), ratio(impl, "graph-median", "tbb", 1), ratio(impl, "graph-p99", "tbb", 1),
               ratio(impl, "graph-median", "serial", 2), ratio(impl, "graph-p99", "serial", 2), f == "" ? "–" : f
    }
}
