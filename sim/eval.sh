#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The evaluation study: (a) the paper's setting over seeds, (b) scaling in cluster size and
# job count, (c) a Philly trace replay. Runs hare-sim once per (setting, seed, policy) and
# writes results/<date>/: CSV, JSON, gnuplot PNG/SVG and REPORT.md (sim/plots/report.sh).
# Usage: sim/eval.sh [BUILD_DIR]; settings through EVAL_* variables (docs/eval.md).
set -euo pipefail

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_arg=${1:-build}
build=$(cd "$build_arg" 2>/dev/null && pwd) || { echo "eval: no build directory '$build_arg' (run make build)" >&2; exit 1; }
cd "$src"
# Paths are written relative to the source root where they can be, so that the commands in
# the report can be pasted there.
rel() { case $1 in "$src"/*) printf '%s\n' "${1#"$src"/}" ;; *) printf '%s\n' "$1" ;; esac; }
sim=$(rel "$build/sim/hare-sim")
plots=sim/plots

quick=${EVAL_QUICK:-0}
[ "$quick" = 1 ] || quick=0
wanted=${EVAL_POLICIES:-hare,optimus,fifo,fifo-backfill,srtf,tiresias,gavel,gavel-tput,allox,gandiva}
cluster_a=${EVAL_CLUSTER:-deploy/clusters/paper-200.ini}
jobs_a=${EVAL_JOBS:-300}
trace=${EVAL_TRACE:-workloads/traces/philly.csv}
sim_args=${EVAL_SIM_ARGS:-}
run_timeout=${EVAL_RUN_TIMEOUT:-300}
trace_timeout=${EVAL_TRACE_TIMEOUT:-900}
budget=${EVAL_BUDGET_S:-1500}
if [ "$quick" = 1 ]; then
	seeds_a=${EVAL_SEEDS:-2}
	seeds_b=${EVAL_SCALE_SEEDS:-1}
	sizes_b=${EVAL_SCALE_GPUS:-"50 100 200 400"}
	jobs_b=${EVAL_SCALE_JOBS:-"100 300"}
	trace_args=${EVAL_TRACE_ARGS-"--max-jobs 1000"}
else
	seeds_a=${EVAL_SEEDS:-5}
	seeds_b=${EVAL_SCALE_SEEDS:-3}
	sizes_b=${EVAL_SCALE_GPUS:-"50 100 200 400"}
	jobs_b=${EVAL_SCALE_JOBS:-"100 300 600"}
	# The whole Philly trace (82,247 jobs); some policies (fifo, allox) take far longer
	# than the budget on it, but (c) runs only hare and the two best baselines of (a).
	trace_args=${EVAL_TRACE_ARGS-}
fi
scale_jobs_ref=300
scale_gpus_ref=200

die() {
	echo "eval: $*" >&2
	exit 1
}

[ -x "$sim" ] || die "$sim not built (run make build)"
# shellcheck disable=SC2086 # the size and job lists are split into words on purpose
for n in "$seeds_a" "$seeds_b" "$jobs_a" "$run_timeout" "$trace_timeout" "$budget" $sizes_b $jobs_b; do
	[[ $n =~ ^[0-9]+$ ]] || die "expected a whole number, got '$n' (check the EVAL_* variables)"
done
[ -r "$cluster_a" ] || die "cannot read cluster file $cluster_a"

day=$(date +%Y-%m-%d)
out=${EVAL_OUT:-results/$day}
if [ -z "${EVAL_OUT:-}" ] && [ -e "$out" ]; then
	i=2
	while [ -e "results/$day-$i" ]; do i=$((i + 1)); done
	out=results/$day-$i
fi
out=$(rel "$(mkdir -p "$out" && cd "$out" && pwd)")
[ -z "$(ls -A "$out")" ] || die "$out is not empty"

# Wall-clock time in microseconds, and whole seconds since the start.
now_us() {
	if [ -n "${EPOCHREALTIME:-}" ]; then
		local t=${EPOCHREALTIME/[.,]/}
		echo $((10#$t))
	else
		echo $(($(date +%s%N) / 1000))
	fi
}
t_start=$(now_us)
elapsed() { echo $((($(now_us) - t_start) / 1000000)); }

# Policies: the wanted ones that this hare-sim knows (its --help lists them after "known:").
sim_help=$("$sim" --help 2>&1 || true)
known_policies() {
	awk '
		/known:/ { on = 1; sub(/.*known:/, ""); print; next }
		on && /^[ \t]*(--|$)/ { exit }
		on { print }
	' <<<"$sim_help" | grep -oE '[a-z][a-z0-9_-]*' || true
}
known=$(known_policies | tr '\n' ' ')
if [ -z "$known" ]; then
	# No list in --help: probe each wanted policy on a tiny workload instead.
	for p in ${wanted//,/ }; do
		"$sim" --cluster deploy/clusters/tiny-8.ini --generate jobs=2,seed=1 --no-bound \
			--policies "$p" >/dev/null 2>&1 && known="$known $p"
	done
fi
policies=""
missing=""
for p in ${wanted//,/ }; do
	if [[ " $known " == *" $p "* ]]; then policies="$policies $p"; else missing="$missing $p"; fi
done
policies=${policies# }
missing=${missing# }
[ -n "$policies" ] || die "none of the wanted policies ($wanted) is known to $sim (known: $known)"
[[ " $policies " == *" hare "* ]] || die "hare-sim does not know the policy hare"
baselines=$(tr ' ' '\n' <<<"$policies" | grep -vx hare | tr '\n' ' ')
baselines=${baselines% }

has_flag() { grep -q -- "$1" <<<"$sim_help"; }
# hare-sim's own progress line would only fill stderr.txt; keep its import notes for (c).
quiet=""
has_flag '--quiet' && quiet=--quiet
trace_note=""
if ! has_flag '--trace'; then
	trace_note="hare-sim has no --trace option yet"
elif [ ! -r "$trace" ]; then
	trace_note="trace file $trace not found"
fi

# --- bookkeeping --------------------------------------------------------------------------
mkdir -p "$out/a" "$out/b/clusters" "$out/c" "$out/plots/data"
runs="$out/runs.tsv"      # study cfg seed policy metric value
status="$out/status.tsv"  # study cfg seed policy status seconds note
: >"$runs"
printf 'study\tcfg\tseed\tpolicy\tstatus\tseconds\tnote\n' >"$status"
{
	echo "# hare-sim commands of this evaluation, run from the source root"
} >"$out/commands.txt"

n_total=0
n_done=0
progress() {
	local msg
	msg="eval: [$n_done/$n_total] $* ($(elapsed) s elapsed)"
	if [ -t 2 ]; then printf '\r\033[K%s' "$msg" >&2; else printf '%s\n' "$msg" >&2; fi
}

# run_sim STUDY CFG SEED POLICY DIR ARGS...: one hare-sim run of one policy into DIR/POLICY/,
# then its metrics appended to runs.tsv. Never fails the script: failures go to status.tsv.
run_sim() {
	local study=$1 cfg=$2 seed=$3 p=$4 dir=$5
	shift 5
	n_done=$((n_done + 1))
	if [ "$(elapsed)" -ge "$budget" ]; then
		printf '%s\t%s\t%s\t%s\tskipped\t0\tover the time budget of %s s\n' \
			"$study" "$cfg" "$seed" "$p" "$budget" >>"$status"
		return 0
	fi
	progress "($study) $cfg seed $seed: $p"
	mkdir -p "$dir/$p"
	# shellcheck disable=SC2206 # EVAL_SIM_ARGS is a list of words on purpose
	local cmd=("$sim" "$@" $sim_args --policies "$p" --out "$dir")
	[ "$study" = c ] || [ -z "$quiet" ] || cmd+=("$quiet")
	printf '%s\n' "${cmd[*]}" >>"$out/commands.txt"
	local t0 rc=0 secs limit=$run_timeout
	[ "$study" != c ] || limit=$trace_timeout
	t0=$(now_us)
	timeout "$limit" "${cmd[@]}" >"$dir/$p/table.txt" 2>"$dir/$p/stderr.txt" || rc=$?
	secs=$((($(now_us) - t0) / 10000))
	secs=$((secs / 100)).$(printf '%02d' $((secs % 100)))
	[ -f "$dir/summary.json" ] && mv "$dir/summary.json" "$dir/$p/summary.json"
	if [ "$rc" -ne 0 ]; then
		local why
		why=$(tr '\r\t' '\n ' <"$dir/$p/stderr.txt" | grep -v '^ *$' | tail -n 1 | cut -c1-300 || true)
		why=${why:-no message on stderr}
		[ "$rc" -ne 124 ] || why="timed out after $limit s"
		printf '%s\t%s\t%s\t%s\tfailed (exit %s)\t%s\t%s\n' \
			"$study" "$cfg" "$seed" "$p" "$rc" "$secs" "$why" >>"$status"
		return 0
	fi
	ingest "$study" "$cfg" "$seed" "$p" "$dir/$p" || {
		printf '%s\t%s\t%s\t%s\tunreadable output\t%s\t%s\n' \
			"$study" "$cfg" "$seed" "$p" "$secs" "see $dir/$p" >>"$status"
		return 0
	}
	printf '%s\t%s\t%s\t%s\tok\t%s\t\n' "$study" "$cfg" "$seed" "$p" "$secs" >>"$status"
}

# ingest STUDY CFG SEED POLICY RUNDIR: metrics of one run into runs.tsv; keeps the sorted
# JCTs (jct_sorted.txt) for CDFs.
ingest() {
	local d=$5 q
	[ -f "$d/summary.json" ] && [ -f "$d/jobs.csv" ] || return 1
	awk -f "$plots/json_flat.awk" "$d/summary.json" >"$d/summary.flat" || return 1
	awk -f "$plots/csv.awk" -f "$plots/jct.awk" "$d/jobs.csv" | sort -g >"$d/jct_sorted.txt" || return 1
	q=$(awk -f "$plots/quant.awk" "$d/jct_sorted.txt")
	awk -F '\t' -v pre="$1	$2	$3	$4" -v med="${q% *}" -v p99="${q#* }" \
		-f "$plots/csv.awk" -f "$plots/ingest.awk" "$d/summary.flat" FS=, "$d/jobs.csv" >>"$runs"
}

# --- the plan -----------------------------------------------------------------------------
npol=$(wc -w <<<"$policies")
nsizes=$(wc -w <<<"$sizes_b")
njobs_b=$(wc -w <<<"$jobs_b")
n_c=0
[ -z "$trace_note" ] && n_c=$((npol < 3 ? npol : 3))
n_total=$((seeds_a * npol + seeds_b * nsizes * njobs_b * npol + n_c))

cat >"$out/run-info.txt" <<EOF
date=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)$( [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ] && echo ' (with uncommitted changes)')
machine=$(uname -srm), $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || echo 'cpu unknown'), $(nproc 2>/dev/null || echo '?') cores, $(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo 2>/dev/null || echo '? GiB') memory
os=$(sed -n 's/^PRETTY_NAME="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' /etc/os-release 2>/dev/null || uname -s)
gnuplot=$("${EVAL_GNUPLOT:-gnuplot}" --version 2>/dev/null || echo none)
quick=$quick
sim=$sim
wanted=$wanted
known=$known
policies=$policies
missing=$missing
baselines=$baselines
cluster_a=$cluster_a
jobs_a=$jobs_a
seeds_a=$seeds_a
seeds_b=$seeds_b
sizes_b=$sizes_b
jobs_b=$jobs_b
scale_jobs_ref=$scale_jobs_ref
scale_gpus_ref=$scale_gpus_ref
trace=$trace
trace_args=$trace_args
sim_args=$sim_args
trace_note=$trace_note
run_timeout=$run_timeout
trace_timeout=$trace_timeout
budget=$budget
EOF

echo "eval: $n_total runs into $out; policies: $policies${missing:+; not in this hare-sim: $missing}" >&2

# (a) the paper's setting.
for seed in $(seq 1 "$seeds_a"); do
	for p in $policies; do
		run_sim a paper "$seed" "$p" "$out/a/seed-$seed" \
			--cluster "$cluster_a" --generate "jobs=$jobs_a,seed=$seed"
	done
done

# (c) the Philly trace: hare and the two baselines with the lowest mean weighted JCT in (a).
if [ -z "$trace_note" ]; then
	best=$(awk -F '\t' '$1 == "a" && $5 == "wjct_s" && $4 != "hare" && $6 != "n/a" { s[$4] += $6; n[$4]++ }
		END { for (p in s) print s[p] / n[p], p }' "$runs" | sort -g | head -n 2 | awk '{ print $2 }')
	for p in hare $best; do
		# shellcheck disable=SC2086 # EVAL_TRACE_ARGS is a list of words on purpose
		run_sim c philly 1 "$p" "$out/c" --cluster "$cluster_a" --trace "$trace" $trace_args
	done
	echo "c_policies=hare $(tr '\n' ' ' <<<"$best")" >>"$out/run-info.txt"
fi

# (b) scaling: seed by seed, so that a time budget cuts whole seeds.
for g in $sizes_b; do
	awk -v gpus="$g" -f "$plots/cluster_ini.awk" </dev/null >"$out/b/clusters/gpus-$g.ini"
done
for seed in $(seq 1 "$seeds_b"); do
	for g in $sizes_b; do
		for j in $jobs_b; do
			for p in $policies; do
				run_sim b "g$g-j$j" "$seed" "$p" "$out/b/g$g-j$j/seed-$seed" \
					--cluster "$out/b/clusters/gpus-$g.ini" --generate "jobs=$j,seed=$seed"
			done
		done
	done
done
[ -t 2 ] && printf '\n' >&2

echo "runs_seconds=$(elapsed)" >>"$out/run-info.txt"
echo "eval: runs done in $(elapsed) s; writing tables, plots and the report" >&2
EVAL_T_START_US=$t_start bash "$plots/report.sh" "$out"
echo "total_seconds=$(elapsed)" >>"$out/run-info.txt"
case $out in results/*) ln -sfn "${out#results/}" results/latest 2>/dev/null || true ;; esac
echo "eval: done in $(elapsed) s: $out/REPORT.md" >&2
