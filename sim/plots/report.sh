#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Turns an evaluation directory written by sim/eval.sh (runs.tsv, status.tsv, run-info.txt,
# the runs' folders) into runs.csv, means.csv, results.json, plots/*.{png,svg} and REPORT.md.
# Usage: sim/plots/report.sh RESULTS_DIR   (can be re-run on an existing directory)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:?usage: report.sh RESULTS_DIR}
[ -f "$out/runs.tsv" ] && [ -f "$out/run-info.txt" ] || { echo "report: $out has no runs.tsv/run-info.txt" >&2; exit 1; }
pd="$out/plots"
mkdir -p "$pd/data"
md="$out/REPORT.md"
gplog="$pd/gnuplot.log"
: >"$gplog"
notes=()

info() { awk -v k="$1" 'index($0, k "=") == 1 { print substr($0, length(k) + 2); exit }' "$out/run-info.txt"; }

policies=$(info policies)
baselines=$(info baselines)
missing=$(info missing)

# --- data: derived rows, aggregates, CSV, JSON -------------------------------------------
all="$out/runs-all.tsv"
{ cat "$out/runs.tsv"; awk -f "$here/derive.awk" "$out/runs.tsv"; } >"$all"
awk -f "$here/agg.awk" "$all" >"$out/means.tsv"
awk -f "$here/wide.awk" "$all" >"$out/runs.csv"
{
	echo "study,cfg,policy,metric,n,mean,sd,min,max"
	grep -v $'\traw:' "$out/means.tsv" | tr '\t' ','
} >"$out/means.csv"
awk -f "$here/tojson.awk" "$out/run-info.txt" "$out/runs.tsv" "$out/means.tsv" >"$out/results.json"

# Policies of STUDY CFG that have a value of METRIC, in the order of $policies.
have() {
	awk -F '\t' -v s="$1" -v c="$2" -v m="$3" -v pol="$policies" '
		$1 == s && $2 == c && $4 == m && $5 > 0 { ok[$3] = 1 }
		END { n = split(pol, p, " "); for (i = 1; i <= n; i++) if (p[i] in ok) l = l (l == "" ? "" : " ") p[i]; print l }
	' "$out/means.tsv"
}

# mean STUDY CFG POLICY METRIC -> the mean over seeds, or n/a.
mean() {
	awk -F '\t' -v s="$1" -v c="$2" -v p="$3" -v m="$4" \
		'$1 == s && $2 == c && $3 == p && $4 == m { print $6; f = 1; exit } END { if (!f) print "n/a" }' \
		"$out/means.tsv"
}

# md_table STUDY CFG SPEC [SEED]: policy table from the means, or from one seed's rows.
md_table() {
	local s=$1 c=$2 spec=$3 seed=${4:-}
	if [ -n "$seed" ]; then
		awk -F '\t' -v OFS='\t' -v s="$s" -v c="$c" -v e="$seed" \
			'$1 == s && $2 == c && $3 == e { print $1, $2, $4, $5, ($6 == "n/a" ? 0 : 1), $6, 0 }' "$all"
	else
		awk -F '\t' -v s="$s" -v c="$c" '$1 == s && $2 == c' "$out/means.tsv"
	fi | awk -v policies="$(have "$s" "$c" wjct_s)" -v spec="$spec" -v self=hare -f "$here/mdtable.awk"
}

# GPU-hour columns of a study for md_table.
gpu_spec() {
	awk -F '\t' -v s="$1" '$1 == s && $4 ~ /^gpu_h_/ && !seen[$4]++ {
		t = substr($4, 7); printf ";%s|%s GPU-hours|1|0|0", $4, t }' "$out/means.tsv"
}

# seeds_phrase "1 2 3" -> "seeds 1-3"; "1" -> "seed 1"; "1 3" -> "seeds 1, 3".
seeds_phrase() {
	echo "$1" | awk '{ if (NF == 1) { print "seed " $1; exit }
		c = 1; for (i = 2; i <= NF; i++) if ($i != $(i - 1) + 1) c = 0
		if (c) print "seeds " $1 "-" $NF; else { s = $1; for (i = 2; i <= NF; i++) s = s ", " $i; print "seeds " s } }'
}

fmt_h() { awk -v x="$1" 'BEGIN { if (x == "n/a") print "n/a"; else printf "%.2f h", x / 3600 }'; }
fmt_pct() { awk -v x="$1" 'BEGIN { if (x == "n/a") print "n/a"; else printf "%.1f %%", 100 * x }'; }
fmt_3() { awk -v x="$1" 'BEGIN { if (x == "n/a") print "n/a"; else printf "%.3f", x }'; }

# --- plots ------------------------------------------------------------------------------------
gnuplot=${EVAL_GNUPLOT:-gnuplot}
have_gnuplot=0
command -v "$gnuplot" >/dev/null 2>&1 && have_gnuplot=1
[ "$have_gnuplot" = 1 ] || notes+=("gnuplot is not installed: no plots (Debian: apt-get install gnuplot-nox).")

# gp SCRIPT NAME var=value...: renders plots/NAME.{png,svg}; string values are quoted here.
plotted=()
gp() {
	local script=$1 name=$2 e kv
	e="plotdir='$here'; out='$pd/$name'"
	shift 2
	[ "$have_gnuplot" = 1 ] || return 0
	for kv in "$@"; do
		case ${kv#*=} in
		'#'*) e="$e; ${kv%%=*}=${kv#*=#}" ;;
		*) e="$e; ${kv%%=*}='$(printf '%s' "${kv#*=}" | sed "s/'/''/g")'" ;;
		esac
	done
	if "$gnuplot" -e "$e" "$here/$script" >>"$gplog" 2>&1 && [ -s "$pd/$name.png" ]; then
		plotted+=("$name")
	else
		notes+=("plot $name failed: see plots/gnuplot.log.")
	fi
}

is_plotted() { [[ " ${plotted[*]:-} " == *" $1 "* ]]; }

# img NAME ALT [WIDTH]: an image linked to its SVG, or a note that it is missing.
img() {
	if is_plotted "$1"; then
		printf '<a href="plots/%s.svg"><img src="plots/%s.png" alt="%s" width="%s"></a>' "$1" "$1" "$2" "${3:-100%}"
	else
		printf '*(no plot: %s)*' "$2"
	fi
}

# cdf_data STUDY_DIR DEST: CDF files for the policies with sorted JCTs; prints those policies.
cdf_data() {
	local dir=$1 dest=$2 p list=""
	mkdir -p "$dest"
	for p in $policies; do
		[ -s "$dir/$p/jct_sorted.txt" ] || continue
		awk -f "$here/cdf.awk" "$dir/$p/jct_sorted.txt" >"$dest/cdf_$p.dat"
		list="$list $p"
	done
	echo "${list# }"
}

seeds_a=$(info seeds_a)
jobs_a=$(info jobs_a)
cluster_a=$(info cluster_a)
cname=$(basename "$cluster_a" .ini)

# (a) bars of weighted JCT with the LP bound, CDF and utilisation of seed 1.
pa=$(have a paper wjct_s)
if [ -n "$pa" ]; then
	for p in $pa; do
		awk -F '\t' -v p="$p" '$1 == "a" && $2 == "paper" && $3 == p && $4 == "wjct_s" {
			printf "%s %.6g %.6g\n", p, $6 / 3600, ($7 == "n/a" ? 0 : $7 / 3600) }' "$out/means.tsv"
	done >"$pd/data/a_wjct.dat"
	lpb=$(mean a paper hare lp_bound_s)
	lpb_h=$(awk -v x="$lpb" 'BEGIN { print (x == "n/a" ? 0 : x / 3600) }')
	gp bars.gp a_wjct_bars data="$pd/data/a_wjct.dat" policies="$pa" ref="#$lpb_h" \
		ttl="Weighted JCT per policy: $cname, $jobs_a jobs, $(seeds_phrase "$(seq -s ' ' 1 "$seeds_a")")" \
		ylab="weighted mean JCT (hours)" reflabel="LP lower bound (mean)"
	pc=$(cdf_data "$out/a/seed-1" "$pd/data/a_cdf")
	[ -n "$pc" ] && gp cdf.gp a_jct_cdf_seed1 dir="$pd/data/a_cdf" policies="$pc" \
		ttl="JCT distribution: $cname, $jobs_a jobs, seed 1"
	pu=""
	for p in $pa; do
		f="$out/a/seed-1/$p/utilisation.csv"
		[ -s "$f" ] || continue
		gpus=$(awk -F '\t' '$1 == "a" && $3 == 1 && $5 ~ /^raw:(gpus|cluster_gpus)$/ { print $6; exit }' "$out/runs.tsv")
		if awk -v gpus="${gpus:-0}" -f "$here/csv.awk" -f "$here/util.awk" "$f" >"$pd/data/util_$p.dat" 2>>"$gplog"; then
			pu="$pu $p"
		fi
	done
	pu=${pu# }
	if [ -n "$pu" ]; then
		mkdir -p "$pd/data/a_util"
		for p in $pu; do mv "$pd/data/util_$p.dat" "$pd/data/a_util/"; done
		gp util.gp a_utilisation_seed1 dir="$pd/data/a_util" policies="$pu" \
			ttl="Utilisation over time: $cname, $jobs_a jobs, seed 1"
	else
		rm -f "$pd"/data/util_*.dat
		notes+=("(a) utilisation over time: no usable \`<policy>/utilisation.csv\` from hare-sim, so no plot.")
	fi
fi

# (b) weighted JCT against cluster size (at the reference job count) and job count (at the
# reference size).
sizes_b=$(info sizes_b)
jobs_b=$(info jobs_b)
jref=$(info scale_jobs_ref)
gref=$(info scale_gpus_ref)
[[ " $jobs_b " == *" $jref "* ]] || jref=$(echo $jobs_b | awk '{ print $NF }')
[[ " $sizes_b " == *" $gref "* ]] || gref=$(echo $sizes_b | awk '{ print $NF }')
seeds_b=$(awk -F '\t' '$1 == "b" && $5 == "ok" { print $3 }' "$out/status.tsv" | sort -un | tr '\n' ' ')
seeds_b=${seeds_b% }

# line_data PREFIX AXIS: files <prefix>_<policy>.dat; prints the policies and "logy=1" when
# the means span more than a factor 5.
line_data() {
	local prefix=$1 axis=$2 p x c list=""
	for p in $policies; do
		: >"$pd/data/${prefix}_$p.dat"
		for x in $([ "$axis" = gpus ] && echo $sizes_b || echo $jobs_b); do
			[ "$axis" = gpus ] && c="g$x-j$jref" || c="g$gref-j$x"
			awk -F '\t' -v c="$c" -v p="$p" -v x="$x" '$1 == "b" && $2 == c && $3 == p && $4 == "wjct_s" && $5 > 0 {
				printf "%s %.6g %.6g\n", x, $6 / 3600, ($7 == "n/a" ? 0 : $7 / 3600) }' \
				"$out/means.tsv" >>"$pd/data/${prefix}_$p.dat"
		done
		[ -s "$pd/data/${prefix}_$p.dat" ] && list="$list $p" || rm -f "$pd/data/${prefix}_$p.dat"
	done
	echo "${list# }"
}

# y_axis PREFIX: "logy=#1 ylo=#L yhi=#H" (the means ± sd, padded) when the means span more
# than a factor 5, else "logy=#0".
y_axis() {
	cat "$pd/data/$1"_*.dat 2>/dev/null | awk '
		{ lo1 = $2 - $3 > $2 / 2 ? $2 - $3 : $2 / 2; hi1 = $2 + $3 }
		NR == 1 || $2 < lo { lo = $2 } NR == 1 || $2 > hi { hi = $2 }
		NR == 1 || lo1 < ylo { ylo = lo1 } NR == 1 || hi1 > yhi { yhi = hi1 }
		END { if (lo > 0 && hi / lo > 5) printf "logy=#1 ylo=#%g yhi=#%g\n", ylo / 1.15, yhi * 1.15; else print "logy=#0" }'
}

if [ -n "$seeds_b" ]; then
	pg=$(line_data b_gpus gpus)
	read -ra ya <<<"$(y_axis b_gpus)"
	[ -n "$pg" ] && gp lines.gp b_wjct_vs_gpus dir="$pd/data" prefix=b_gpus policies="$pg" \
		xt="$sizes_b" logx="#1" "${ya[@]}" \
		ttl="Weighted JCT vs cluster size ($jref jobs, $(seeds_phrase "$seeds_b"))" \
		xlab="GPUs in the cluster (log scale)" ylab="weighted mean JCT (hours)"
	pj=$(line_data b_jobs jobs)
	read -ra ya <<<"$(y_axis b_jobs)"
	[ -n "$pj" ] && gp lines.gp b_wjct_vs_jobs dir="$pd/data" prefix=b_jobs policies="$pj" \
		xt="$jobs_b" logx="#0" "${ya[@]}" \
		ttl="Weighted JCT vs number of jobs ($gref GPUs, $(seeds_phrase "$seeds_b"))" \
		xlab="jobs in the workload" ylab="weighted mean JCT (hours)"
fi

# (c) CDF of the trace replay.
trace_note=$(info trace_note)
targs=$(info trace_args)
pcc=""
if [ -z "$trace_note" ] && [ -d "$out/c" ]; then
	pcc=$(cdf_data "$out/c" "$pd/data/c_cdf")
	[ -n "$pcc" ] && gp cdf.gp c_jct_cdf dir="$pd/data/c_cdf" policies="$pcc" \
		ttl="JCT distribution: Philly trace${targs:+ ($targs)} on $cname"
fi

# --- REPORT.md --------------------------------------------------------------------------------
main_spec="wjct_s|weighted JCT (h)|h|2|1;hare_reduction|hare's reduction|pct|1|0"
main_spec="$main_spec;ratio_to_bound|ratio to LP bound|1|3|0;avg_jct_s|avg JCT (h)|h|2|0"
main_spec="$main_spec;median_jct_s|median JCT (h)|h|2|0;p99_jct_s|p99 JCT (h)|h|1|0"
main_spec="$main_spec;makespan_s|makespan (h)|h|1|0;utilisation|utilisation|pct|1|0"
main_spec="$main_spec;restarts_per_job|restarts per job|1|2|0"
main_spec="$main_spec;decision_ms_p50|decision p50 (ms)|1|3|0;decision_ms_p99|decision p99 (ms)|1|2|0"
more_spec="queue_s|mean queueing delay (h)|h|2|0;queue_p99_s|p99 queueing delay (h)|h|2|0"
more_spec="$more_spec;rho_mean|fairness ρ mean|1|3|0;rho_max|ρ max|1|2|0;rho_le1_frac|jobs with ρ ≤ 1|pct|1|0"
more_spec="$more_spec;restarts|restarts|1|0|0;jobs_completed|jobs completed|1|0|0"

# pivot_seeds METRIC SCALE DEC ROWS: ROWS x seeds of study (a), with a mean column.
pivot_seeds() {
	local cols="" names="" s
	for s in $(seq 1 "$seeds_a"); do cols="$cols $s"; names="$names|seed $s"; done
	awk -F '\t' -v OFS='\t' -v m="$1" '$1 == "a" && $5 == m { print $4, $3, $6 }
		$1 == "a" && m == "wjct_s" && $4 == "hare" && $5 == "lp_bound_s" { print "LP_lower_bound", $3, $6 }' "$all" |
		awk -v rows="$4" -v cols="${cols# }" -v colnames="${names#|}" -v corner=policy -v spaces=1 \
			-v scale="$2" -v dec="$3" -v mean=1 -f "$here/pivot.awk"
}

# pivot_b METRIC SCALE DEC ROWS(configs) COLS(policies) COLNAMES: means of study (b).
pivot_b_grid() {
	awk -F '\t' -v OFS='\t' -v m="$1" '$1 == "b" && $4 == m { print $2, $3, $6 }' "$out/means.tsv" |
		awk -v rows="$4" -v cols="$5" -v corner="GPUs × jobs" -v scale="$2" -v dec="$3" -f "$here/pivot.awk" |
		sed -E 's/^\| g([0-9]+)-j([0-9]+) \|/| \1 × \2 |/'
}

# pivot_b_slice AXIS: policies x (sizes at jref | job counts at gref), weighted JCT means.
pivot_b_slice() {
	local axis=$1 x cols="" names=""
	for x in $([ "$axis" = gpus ] && echo $sizes_b || echo $jobs_b); do
		if [ "$axis" = gpus ]; then cols="$cols g$x-j$jref"; names="$names|$x GPUs"
		else cols="$cols g$gref-j$x"; names="$names|$x jobs"; fi
	done
	awk -F '\t' -v OFS='\t' '$1 == "b" && $4 == "wjct_s" { print $3, $2, $6 }' "$out/means.tsv" |
		awk -v rows="$(have b "g$gref-j$jref" wjct_s)" -v cols="${cols# }" -v colnames="${names#|}" \
			-v corner=policy -v scale=h -v dec=2 -f "$here/pivot.awk"
}

side_by_side() {
	printf '<table><tr><td valign="top">\n\n%s\n\n</td><td valign="top" width="55%%">\n\n%s\n\n</td></tr></table>\n' "$1" "$2"
}

# Runs that did not complete, grouped by what happened (at most six named per group).
status_lines() {
	awk -F '\t' 'NR > 1 && $5 != "ok" {
			k = $5 ($7 != "" ? ": " $7 : "")
			if (!(k in n)) order[++nk] = k
			if (++n[k] <= 6) runs[k] = runs[k] (n[k] > 1 ? "; " : "") "(" $1 ") " $2 " seed " $3 " " $4
		}
		END { for (i = 1; i <= nk; i++) { k = order[i]
			printf "- %d run%s %s — %s%s\n", n[k], (n[k] > 1 ? "s" : ""), k, runs[k], (n[k] > 6 ? "; …" : "") } }' \
		"$out/status.tsv"
}

# What hare-sim says it replayed in (c), from the summary's "workload" object.
c_workload() {
	awk -F '\t' '$1 == "c" && $4 == "hare" && $5 ~ /^raw:workload\./ { k = substr($5, 14); v[k] = $6 }
		END { if (!("jobs" in v)) exit
			printf "hare-sim replayed %d jobs of the trace'"'"'s %d rows", v["jobs"], v["rows"]
			if (v["skipped"] > 0) printf " (%d malformed rows skipped)", v["skipped"]
			if (v["capped"] > 0) printf ", %d jobs capped at %d tasks", v["capped"], v["max_tasks"]
			if ("offered_load" in v && v["offered_load"] != "n/a") printf ", arrivals scaled to an offered load of %.2f", v["offered_load"]
			print "." }' "$all"
}

# Numbers-only summary of the headline results.
summary_lines() {
	local b r lo hi
	[ -n "$pa" ] || return 0
	printf -- '- (a) %s, %s jobs, %s seeds: hare weighted JCT %s (mean), LP lower bound %s, ratio %s.\n' \
		"$cname" "$jobs_a" "$seeds_a" "$(fmt_h "$(mean a paper hare wjct_s)")" "$(fmt_h "$lpb")" \
		"$(fmt_3 "$(mean a paper hare ratio_to_bound)")"
	for b in $baselines; do
		r=$(mean a paper "$b" hare_reduction)
		[ "$r" = n/a ] && continue
		lo=$(awk -F '\t' -v b="$b" '$1 == "a" && $3 == b && $4 == "hare_reduction" { print $8 }' "$out/means.tsv")
		hi=$(awk -F '\t' -v b="$b" '$1 == "a" && $3 == b && $4 == "hare_reduction" { print $9 }' "$out/means.tsv")
		printf -- '  - vs %s: weighted JCT %s, ratio to LP bound %s; hare'"'"'s reduction %s (mean over seeds; per seed %s to %s); no schedule could reduce it by more than %s.\n' \
			"$b" "$(fmt_h "$(mean a paper "$b" wjct_s)")" "$(fmt_3 "$(mean a paper "$b" ratio_to_bound)")" \
			"$(fmt_pct "$r")" "$(fmt_pct "$lo")" "$(fmt_pct "$hi")" "$(fmt_pct "$(mean a paper "$b" bound_headroom)")"
	done
	if [ -n "$seeds_b" ]; then
		awk -F '\t' '$1 == "b" && $4 == "wjct_s" && $5 > 0 {
				if (!($2 in best) || $6 < best[$2]) { best[$2] = $6; who[$2] = $3 }
				if ($3 == "hare") h[$2] = $6 }
			END { for (c in best) { n++; if (who[c] == "hare") w++
					else if (c in h) { split(substr(c, 2), gj, "-j")
						lost = lost sprintf("%s%s GPUs × %s jobs: %s %.2f h vs hare %.2f h", (lost == "" ? "" : "; "),
							gj[1], gj[2], who[c], best[c] / 3600, h[c] / 3600) } }
				printf "- (b) hare had the lowest mean weighted JCT in %d of %d cluster-size × job-count settings%s.\n",
					w, n, (lost == "" ? "" : " (otherwise: " lost ")") }' \
			"$out/means.tsv"
		awk -F '\t' '$1 == "b" && $4 == "hare_reduction" && $5 > 0 {
				if (!($3 in n)) o[++k] = $3; n[$3]++; s[$3] += $6
				if (n[$3] == 1 || $6 < lo[$3]) lo[$3] = $6; if (n[$3] == 1 || $6 > hi[$3]) hi[$3] = $6 }
			END { for (i = 1; i <= k; i++) { p = o[i]
				printf "  - vs %s: hare'"'"'s reduction %.1f %% on average over the settings (%.1f %% to %.1f %%).\n",
					p, 100 * s[p] / n[p], 100 * lo[p], 100 * hi[p] } }' "$out/means.tsv"
	fi
	if [ -n "$pcc" ]; then
		for b in ${pcc#hare}; do
			printf -- '- (c) Philly trace: hare weighted JCT %s vs %s %s (hare'"'"'s reduction %s).\n' \
				"$(fmt_h "$(mean c philly hare wjct_s)")" "$b" "$(fmt_h "$(mean c philly "$b" wjct_s)")" \
				"$(fmt_pct "$(mean c philly "$b" hare_reduction)")"
		done
	fi
}

total_s=""
if [ -n "${EVAL_T_START_US:-}" ] && [ -n "${EPOCHREALTIME:-}" ]; then
	t_now=${EPOCHREALTIME/[.,]/}
	total_s=$(((10#$t_now - EVAL_T_START_US) / 1000000))
fi
runs_s=$(info runs_seconds)
n_ok=$(awk -F '\t' 'NR > 1 && $5 == "ok"' "$out/status.tsv" | wc -l)
n_all=$(($(wc -l <"$out/status.tsv") - 1))
mode="full"
[ "$(info quick)" = 1 ] && mode="quick (EVAL_QUICK=1)"

# What was run, and the data files.
report_header() {
	echo "# Hare evaluation, $(info date | cut -d' ' -f1)"
	echo
	echo "## What was run"
	echo
	echo "| | |"
	echo "|---|---|"
	echo "| date | $(info date) |"
	echo "| git commit | $(info commit) |"
	echo "| machine | $(info machine); $(info os) |"
	echo "| simulator | \`$(info sim)\`, one run per (setting, seed, policy); $n_ok of $n_all runs completed |"
	echo "| mode | $mode; runs took ${runs_s:-?} s${total_s:+, runs + tables + plots $total_s s} |"
	echo "| policies | $policies |"
	echo "| not in this hare-sim | ${missing:-none} |"
	echo "| plots | $(info gnuplot) |"
	echo
	echo "Every hare-sim command is in [commands.txt](commands.txt); per-run status and wall time in"
	echo "[status.tsv](status.tsv). Data: [runs.csv](runs.csv) (one row per run), [means.csv](means.csv)"
	echo "(mean, standard deviation, min, max over seeds), [results.json](results.json) (both, plus each run's"
	echo "summary fields); each run's \`jobs.csv\` and \`summary.json\` are in its folder. JCT = completion"
	echo "time − arrival; weighted JCT = Σ w·JCT / Σ w. \"hare's reduction\" = (baseline − hare) / baseline"
	echo "of weighted JCT, per seed, then averaged. No schedule beats the LP lower bound, so against a"
	echo "baseline at ratio r to the bound no policy can reduce weighted JCT by more than 1 − 1/r (the"
	echo "\"no schedule could reduce it by more than\" figure). Times are in hours unless marked."
	echo
	echo "Example: \`$(sed -n 2p "$out/commands.txt")\`"
	echo
}

# The numbers-only summary.
report_summary() {
	echo "## Summary"
	echo
	summary_lines
	echo
}

# Study (a).
report_a() {
	echo "## (a) The paper's setting: $cname, $jobs_a generated jobs, $(seeds_phrase "$(seq -s ' ' 1 "$seeds_a")")"
	echo
	if [ -n "$pa" ]; then
		echo "Mean over seeds (weighted JCT: mean ± standard deviation):"
		echo
		md_table a paper "$main_spec"
		echo
		side_by_side "Hare's reduction in weighted JCT against each baseline, per seed:

$(pivot_seeds hare_reduction pct 1 "$baselines")

Weighted JCT (h) per seed:

$(pivot_seeds wjct_s h 2 "$pa LP_lower_bound")

Ratio to the LP lower bound per seed:

$(pivot_seeds ratio_to_bound 1 3 "$pa")" "$(img a_wjct_bars "weighted JCT per policy")"
		echo
		echo "$(img a_jct_cdf_seed1 "JCT CDF, seed 1" 49%) $(img a_utilisation_seed1 "utilisation over time, seed 1" 49%)"
		echo
		echo "Other metrics (mean over seeds; GPU-hours include time lost to restarts):"
		echo
		md_table a paper "$more_spec$(gpu_spec a)"
		echo
		for s in $(seq 1 "$seeds_a"); do
			echo "<details><summary>Seed $s</summary>"
			echo
			md_table a paper "$main_spec;queue_s|mean queueing delay (h)|h|2|0;rho_mean|fairness ρ mean|1|3|0" "$s"
			echo
			echo "</details>"
			echo
		done
		echo "<details><summary>Every numeric field of summary.json (mean over seeds)</summary>"
		echo
		fields=$(awk -F '\t' '$1 == "a" && $4 ~ /^raw:/ && !seen[$4]++ { printf "%s ", $4 }' "$out/means.tsv")
		awk -F '\t' -v OFS='\t' '$1 == "a" && $4 ~ /^raw:/ { sub(/^raw:/, "", $4); print $4, $3, $6 }' "$out/means.tsv" |
			awk -v rows="$(echo $fields | sed 's/raw://g')" -v cols="$pa" -v corner=field -v scale=1 -v dec=4 -f "$here/pivot.awk"
		echo
		echo "</details>"
	else
		echo "No run of (a) completed."
	fi
	echo
}

# Study (b).
report_b() {
	echo "## (b) Scaling: cluster size × number of jobs"
	echo
	if [ -n "$seeds_b" ]; then
		echo "Clusters of $(echo $sizes_b | sed 's/ /, /g') GPUs, a quarter each of V100, P100, T4 and K80 in 8-GPU nodes plus one"
		echo "smaller node per type where needed (files in [b/clusters](b/clusters)); $(echo $jobs_b | sed 's/ /, /g') generated"
		echo "jobs at load 1 (arrival rate scaled to each cluster); $(seeds_phrase "$seeds_b"). Weighted JCT (h), mean over seeds:"
		echo
		side_by_side "$(pivot_b_slice gpus)" "$(img b_wjct_vs_gpus "weighted JCT vs cluster size")"
		echo
		side_by_side "$(pivot_b_slice jobs)" "$(img b_wjct_vs_jobs "weighted JCT vs number of jobs")"
		echo
		cfgs=""
		for g in $sizes_b; do for j in $jobs_b; do cfgs="$cfgs g$g-j$j"; done; done
		echo "Every setting, weighted JCT (h):"
		echo
		pivot_b_grid wjct_s h 2 "${cfgs# }" "$policies"
		echo
		echo "Hare's reduction in weighted JCT against each baseline (mean over seeds):"
		echo
		awk -F '\t' -v OFS='\t' '$1 == "b" && $4 == "hare_reduction" { print $2, $3, $6 }' "$out/means.tsv" |
			awk -v rows="${cfgs# }" -v cols="$baselines" -v corner="GPUs × jobs" -v scale=pct -v dec=1 \
				-f "$here/pivot.awk" | sed -E 's/^\| g([0-9]+)-j([0-9]+) \|/| \1 × \2 |/'
		echo
		echo "Ratio to the LP lower bound (mean over seeds):"
		echo
		pivot_b_grid ratio_to_bound 1 3 "${cfgs# }" "$policies"
	else
		echo "No run of (b) completed."
	fi
	echo
}

# Study (c).
report_c() {
	echo "## (c) Philly trace replay on $cname"
	echo
	if [ -n "$trace_note" ]; then
		echo "Skipped: $trace_note."
	elif [ -n "$pcc" ]; then
		echo "Trace \`$(info trace)\`${targs:+ with \`$targs\`}; hare and the two baselines with the lowest mean weighted"
		echo "JCT in (a). $(c_workload)"
		echo
		md_table c philly "$main_spec"
		echo
		md_table c philly "$more_spec$(gpu_spec c)"
		echo
		echo "$(img c_jct_cdf "JCT CDF on the Philly trace" 70%)"
	else
		echo "No run of (c) completed."
	fi
	echo
}

# What is missing, failed or partial.
report_notes() {
	echo "## Missing and notes"
	echo
	[ -n "$missing" ] && echo "- Policies wanted but not in this hare-sim (\`--help\`): $missing."
	[ -n "$trace_note" ] && echo "- (c) skipped: $trace_note."
	na=$(awk -F '\t' '$5 !~ /^raw:/ && $6 == "n/a" && !seen[$5]++ { printf "%s%s", (n++ ? ", " : ""), $5 }' "$all")
	[ -n "$na" ] && echo "- Metrics that some runs' summary.json lacked (printed n/a): $na."
	awk -F '\t' -v sa="$seeds_a" -v sb="$(info seeds_b)" 'BEGIN { mx["a"] = sa; mx["b"] = sb }
		$4 == "wjct_s" { k = $1 " " $2 " " $3; n[k] = $5; if ($5 > mx[$1]) mx[$1] = $5 }
		END { for (k in n) { split(k, f, " "); if (n[k] < mx[f[1]]) printf "%s\t%s\t%d\t%d\t%s\n", f[1], f[2], n[k], mx[f[1]], f[3] } }' \
		"$out/means.tsv" | sort | awk -F '\t' '{ k = $1 "\t" $2 "\t" $3 "\t" $4; if (!(k in p)) o[++n] = k; p[k] = p[k] (p[k] == "" ? "" : ", ") $5 }
		END { for (i = 1; i <= n; i++) { split(o[i], f, "\t"); g = f[1] "\t" f[3] "\t" f[4] "\t" p[o[i]]
			if (!(g in c)) go[++ng] = g; c[g] = c[g] (c[g] == "" ? "" : ", ") f[2] }
			for (i = 1; i <= ng; i++) { split(go[i], f, "\t")
				printf "- (%s) %s: %d of %d seeds completed for %s; means are over those.\n", f[1], c[go[i]], f[2], f[3], f[4] } }'
	status_lines
	for n in "${notes[@]+"${notes[@]}"}"; do echo "- $n"; done
}

{
	report_header
	report_summary
	report_a
	report_b
	report_c
	report_notes
} >"$md.tmp"
# An empty last section says so.
if [ "$(tail -n 1 "$md.tmp")" = "" ] && tail -n 3 "$md.tmp" | grep -q '^## Missing and notes$'; then
	echo "- Nothing missing: every wanted policy ran and every run completed." >>"$md.tmp"
fi
mv "$md.tmp" "$md"
echo "report: $md" >&2
