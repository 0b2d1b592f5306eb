# SPDX-License-Identifier: MIT
# Turns one hare-sim run (one policy) into long-format rows "PRE<TAB>metric<TAB>value".
# Input 1: summary.json flattened by json_flat.awk; input 2: the policy's jobs.csv.
# -v pre=...: the run's key columns, tab-separated; -v med=, -v p99=: JCT quantiles in
# seconds computed from jobs.csv (fallbacks when the summary lacks them; may be empty).
# GPU-hours per type come from the summary's gpu_hours object, else from jobs.csv.
# Canonical metrics take the first summary field found among known spellings; a metric that
# is nowhere prints "n/a". Every numeric summary field is also kept as "raw:<field>".

function num(v) {
	return v ~ /^-?[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?$/ || v ~ /^-?\.[0-9]+$/
}

# First present field of a space-separated list of spellings, else "".
function pick(names,    n, a, i) {
	n = split(names, a, " ")
	for (i = 1; i <= n; i++)
		if (a[i] in f)
			return f[a[i]]
	return ""
}

# First field (in summary order) whose name matches re and not skip, else "".
function pick_re(re, skip,    i) {
	for (i = 1; i <= nf; i++)
		if (order[i] ~ re && (skip == "" || order[i] !~ skip))
			return f[order[i]]
	return ""
}

function out(metric, v) {
	if (v == "" || v == "null" || !num(v))
		v = "n/a"
	printf "%s\t%s\t%s\n", pre, metric, v
}

FNR == NR {
	# Only the first (only) policy object of a per-policy run, or top-level fields.
	key = $1
	if (key ~ /^policies\.0\./)
		sub(/^policies\.0\./, "", key)
	else if (key ~ /^policies\./)
		next
	val = substr($0, index($0, "\t") + 1)
	if (!(key in f))
		order[++nf] = key
	f[key] = val
	next
}

FNR == 1 {
	for (i = 1; i <= NF; i++) {
		col[$i] = i
		if ($i ~ /^gpu_s_/) {
			t = substr($i, 7)
			types[++ntypes] = t
			tcol[t] = i
		}
	}
	next
}

{
	njobs++
	if ("restarts" in col)
		csv_restarts += $(col["restarts"])
	for (k = 1; k <= ntypes; k++)
		gpu_s[types[k]] += $(tcol[types[k]])
}

END {
	out("wjct_s", pick("weighted_jct_s weighted_jct"))
	out("avg_jct_s", pick("avg_jct_s mean_jct_s"))
	v = pick("median_jct_s p50_jct_s jct_median_s jct_p50_s")
	out("median_jct_s", v != "" ? v : med)
	v = pick("p99_jct_s jct_p99_s")
	out("p99_jct_s", v != "" ? v : p99)
	out("makespan_s", pick("makespan_s"))
	out("utilisation", pick("utilisation utilization"))
	out("lp_bound_s", pick("lp_lower_bound_s lp_bound_s"))
	out("ratio_to_bound", pick("ratio_to_bound"))
	v = pick("avg_queueing_delay_s queueing_delay_s avg_queueing_s avg_queue_delay_s queue_delay_s avg_queue_s")
	out("queue_s", v != "" ? v : pick_re("queu", ""))
	out("queue_p99_s", pick("p99_queue_s queue_p99_s"))
	v = pick("rho_mean fairness_rho avg_rho mean_rho rho")
	out("rho_mean", v != "" ? v : pick_re("rho", "max|le1|frac"))
	out("rho_max", pick("rho_max max_rho"))
	out("rho_le1_frac", pick("rho_le1_frac"))
	v = pick("restarts")
	out("restarts", v != "" ? v : csv_restarts)
	v = pick("restarts_per_job avg_restarts mean_restarts")
	if (v == "")
		v = njobs > 0 ? sprintf("%.4f", (pick("restarts") != "" ? pick("restarts") : csv_restarts) / njobs) : ""
	out("restarts_per_job", v)
	out("decision_ms_p50", pick("decision_ms_p50"))
	out("decision_ms_p99", pick("decision_ms_p99"))
	out("plans", pick("plans"))
	out("jobs", pick("jobs") != "" ? pick("jobs") : njobs)
	out("jobs_completed", pick("jobs_completed"))
	out("sim_wall_s", pick("sim_wall_s wall_s"))
	for (k = 1; k <= ntypes; k++) {
		v = pick("gpu_hours." types[k] " gpu_h_" types[k])
		out("gpu_h_" types[k], v != "" ? v : sprintf("%.3f", gpu_s[types[k]] / 3600))
	}
	for (i = 1; i <= nf; i++)
		if (num(f[order[i]]))
			out("raw:" order[i], f[order[i]])
}
