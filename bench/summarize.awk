# Summarise bench/run.sh's raw CSV (workload,impl,rep,metric,value,unit,dir).
# Writes, for every metric and implementation: repetitions, median, min, max,
# and the ratio fiberjob/implementation of the medians (for "lower is better"
# metrics a ratio below 1 means fiberjob is faster; for "higher is better"
# ones, above 1; "info" metrics are facts about the run, with no ratio). Outputs: a text table on stdout, and (when the variables
# are set) summary CSV, a Markdown table and the chart's data file.
#   awk -F, -v csv=FILE -v md=FILE -v compact=FILE -v chart=FILE -f summarize.awk raw.csv
# compact: one Markdown row per metric, the implementations side by side,
# each peer's cell "median (fiberjob/peer ratio)".
function fmt(x) {
    if (x == "" ) return "-"
    if (x < 0) return sprintf("%.3g", x)
    if (x >= 100) return sprintf("%.0f", x)
    if (x >= 10) return sprintf("%.1f", x)
    if (x >= 1) return sprintf("%.2f", x)
    return sprintf("%.3g", x)
}
function median(key,    n, i, j, v, t) {
    n = cnt[key]
    for (i = 1; i <= n; i++) v[i] = val[key, i]
    for (i = 2; i <= n; i++) { t = v[i]; for (j = i - 1; j >= 1 && v[j] > t; j--) v[j + 1] = v[j]; v[j + 1] = t }
    vmin[key] = v[1]; vmax[key] = v[n]
    if (n % 2) return v[(n + 1) / 2]
    return (v[n / 2] + v[n / 2 + 1]) / 2
}
NR == 1 && $1 == "workload" { next }
{
    metric = $4; impl = $2
    if (!(metric in seen_m)) { seen_m[metric] = 1; morder[++nm] = metric; unit[metric] = $6; dir[metric] = $7 }
    key = metric SUBSEP impl
    if (!(key in cnt)) { iorder[metric, ++ni[metric]] = impl; if (!(impl in seen_i)) { seen_i[impl] = 1; allimpl[++na] = impl } }
    cnt[key]++
    val[key, cnt[key]] = $5 + 0
}
END {
    if (csv != "") print "metric,unit,better,impl,reps,median,min,max,fiberjob_over_impl,fiberjob_faster" > csv
    if (md != "") {
        print "| workload (metric) | unit | implementation | median | min – max | reps | fiberjob / peer | fiberjob faster |" > md
        print "| --- | --- | --- | ---: | ---: | ---: | ---: | :---: |" > md
    }
    printf "%-15s %-8s %-14s %10s %21s %4s %9s %s\n", "metric", "unit", "impl", "median", "min-max", "n", "fj/impl", "fj faster" 
    for (m = 1; m <= nm; m++) {
        metric = morder[m]
        better = dir[metric] == "higher" ? "higher" : dir[metric] == "info" ? "info" : "lower"
        fj = ""
        for (i = 1; i <= ni[metric]; i++) { impl = iorder[metric, i]; med[metric, impl] = median(metric SUBSEP impl) }
        if ((metric SUBSEP "fiberjob") in cnt) fj = med[metric, "fiberjob"]
        for (i = 1; i <= ni[metric]; i++) {
            impl = iorder[metric, i]; key = metric SUBSEP impl
            ratio = ""; faster = ""
            if (fj != "" && better != "info" && impl !~ /^fiberjob/ && med[metric, impl] > 0) {
                ratio = fj / med[metric, impl]
                faster = (better == "lower" ? ratio < 1 : ratio > 1) ? "yes" : "no"
                speed[metric, impl] = better == "lower" ? 1 / ratio : ratio
            }
            unitlabel = unit[metric] (better == "info" ? "" : " (" better " better)")
            printf "%-15s %-8s %-14s %10s %21s %4d %9s %s\n", metric, unit[metric], impl, fmt(med[metric, impl]),
                   fmt(vmin[key]) "-" fmt(vmax[key]), cnt[key], ratio == "" ? "" : sprintf("%.2f", ratio), faster
            if (csv != "")
                printf "%s,%s,%s,%s,%d,%g,%g,%g,%s,%s\n", metric, unit[metric], better, impl, cnt[key], med[metric, impl],
                       vmin[key], vmax[key], ratio == "" ? "" : sprintf("%.4f", ratio), faster > csv
            if (md != "")
                printf "| %s | %s | %s | %s | %s – %s | %d | %s | %s |\n", i == 1 ? metric : "", i == 1 ? unitlabel : "",
                       impl, fmt(med[metric, impl]), fmt(vmin[key]), fmt(vmax[key]), cnt[key],
                       ratio == "" ? "" : sprintf("%.2f", ratio), faster > md
        }
    }
    if (compact != "") {
        head = "| metric | unit |"; sep = "| --- | --- |"
        for (a = 1; a <= na; a++) { head = head " " allimpl[a] " |"; sep = sep " ---: |" }
        print head > compact; print sep > compact
        for (m = 1; m <= nm; m++) {
            metric = morder[m]
            line = "| " metric " | " unit[metric] (dir[metric] == "info" ? "" : " (" (dir[metric] == "higher" ? "higher" : "lower") " better)") " |"
            for (a = 1; a <= na; a++) {
                impl = allimpl[a]
                if (!((metric SUBSEP impl) in cnt)) { line = line " |"; continue }
                cell = fmt(med[metric, impl])
                if ((metric SUBSEP impl) in speed)
                    cell = cell sprintf(" (%.2f)", med[metric, "fiberjob"] / med[metric, impl])
                line = line " " cell " |"
            }
            print line > compact
        }
    }
    if (chart != "") {
        # Columns: metric, then log2(speed of fiberjob relative to each peer), "?" where absent.
        printf "metric" > chart
        np = 0
        for (a = 1; a <= na; a++) if (allimpl[a] !~ /^fiberjob/) { peer[++np] = allimpl[a]; printf " %s", allimpl[a] > chart }
        printf "\n" > chart
        for (m = 1; m <= nm; m++) {
            metric = morder[m]; any = 0; line = metric
            for (p = 1; p <= np; p++) {
                if ((metric SUBSEP peer[p]) in speed) { line = line sprintf(" %.4f", log(speed[metric, peer[p]]) / log(2)); any = 1 }
                else line = line " ?"
            }
            if (any) print line > chart
        }
    }
}
