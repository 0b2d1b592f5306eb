#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Evaluation: every policy on deploy/clusters/paper-200.ini with 300 generated
# jobs for several seeds; results in BUILD/eval/seed-N/, then the mean weighted
# JCT and ratio to the LP bound per policy. Usage: eval.sh BUILD_DIR [SEEDS] [JOBS]
set -euo pipefail
build=${1:-build}
seeds=${2:-5}
jobs=${3:-300}
src=$(cd "$(dirname "$0")/.." && pwd)
sim="$build/sim/hare-sim"
policies=hare,optimus,srtf,fifo
if [ ! -x "$sim" ]; then
	echo "eval: $sim not built (run make build)" >&2
	exit 1
fi
out="$build/eval"
mkdir -p "$out"
echo "eval: $jobs jobs x $seeds seeds on paper-200.ini, policies $policies; results in $out"
for seed in $(seq 1 "$seeds"); do
	"$sim" --cluster "$src/deploy/clusters/paper-200.ini" --generate "jobs=$jobs,seed=$seed" \
		--policies "$policies" --out "$out/seed-$seed" --json >"$out/seed-$seed.json"
done
# One policy per line in the JSON: pull out name, weighted JCT and ratio.
for seed in $(seq 1 "$seeds"); do
	sed -nE 's/.*"name":"([^"]+)","weighted_jct_s":([0-9.]+).*"ratio_to_bound":([0-9.]+|null).*/\1 \2 \3/p' \
		"$out/seed-$seed.json"
done | awk '
	{ n[$1]++; w[$1] += $2; r[$1] += $3; if (!($1 in order)) order[$1] = ++k; name[k] = $1 }
	END {
		printf "%-10s %14s %16s\n", "policy", "mean wJCT (h)", "mean ratio to LP"
		for (i = 1; i <= k; i++) { p = name[i]; printf "%-10s %14.2f %16.3f\n", p, w[p] / n[p] / 3600, r[p] / n[p] }
	}'
