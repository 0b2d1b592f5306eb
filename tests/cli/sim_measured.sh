#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# hare-sim --measured: a cluster with a GPU type the shipped profile lacks
# (H100) is refused without the measured rows and runs with them (the file
# hared keeps in its state_dir). The H100 rows here are made from the
# shipped V100 rows with compute_s / 3, so the H100 cluster must finish the
# same workload sooner than the same cluster with V100s in their place, and
# its jobs must use the H100s.
# Usage: sim_measured.sh BUILD_DIR SOURCE_DIR (exit 77: hare-sim not built).
set -u

build=${1:?build dir}
src=${2:?source dir}
sim="$build/sim/hare-sim"
[ -x "$sim" ] || { echo "skip: $sim not built"; exit 77; }
py=$(command -v python3) || { echo "skip: no python3"; exit 77; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

{
	echo "# GPU type H100 measured by hare-worker --profile on node n1, 2026-01-01T00:00:00Z"
	echo "model,gpu_type,workers,placement,compute_s,sync_s,source"
	awk -F, 'NR > 1 && $2 == "V100" { printf "%s,H100,%s,%s,%.6g,%s,measured/test\n", $1, $3, $4, $5 / 3, $6 }' \
		"$src/workloads/profiles/throughput.csv"
} >"$tmp/measured.csv"
for t in H100 V100; do
	printf '[a]\ntype = V100\nnodes = 1\ngpus_per_node = 4\n\n[b]\ntype = %s\nnodes = 1\ngpus_per_node = 4\n' \
		"$t" >"$tmp/$t.ini"
done
args=(--generate jobs=40,seed=3 --json --no-bound)

out=$("$sim" --cluster "$tmp/H100.ini" "${args[@]}" 2>&1 >/dev/null)
rc=$?
[ $rc -eq 2 ] && echo "$out" | grep -q "H100" &&
	echo "ok: without --measured the H100 cluster is refused: $out" ||
	fail "without --measured: exit $rc, '$out'"

out=$("$sim" --cluster "$tmp/H100.ini" --measured "$tmp/nosuch.csv" "${args[@]}" 2>&1 >/dev/null)
rc=$?
[ $rc -eq 2 ] && echo "$out" | grep -q "nosuch.csv" &&
	echo "ok: a missing --measured file is an error: $out" || fail "missing file: exit $rc, '$out'"

"$sim" --cluster "$tmp/H100.ini" --measured "$tmp/measured.csv" "${args[@]}" >"$tmp/h100.json" ||
	fail "hare-sim with --measured failed"
"$sim" --cluster "$tmp/V100.ini" "${args[@]}" >"$tmp/v100.json" || fail "hare-sim on 8 V100 failed"
"$py" - "$tmp/h100.json" "$tmp/v100.json" <<'EOF' || fail "results"
import json, sys
h = json.load(open(sys.argv[1]))["policies"][0]
v = json.load(open(sys.argv[2]))["policies"][0]
assert h["jobs_completed"] == h["jobs"] == 40, h["jobs_completed"]
hours = h["gpu_hours"]
assert hours.get("H100", 0) > 0, hours
assert h["weighted_jct_s"] < v["weighted_jct_s"], (h["weighted_jct_s"], v["weighted_jct_s"])
print("ok: 40 jobs done on 4 V100 + 4 measured H100: weighted JCT %.0f s (8 V100: %.0f s), "
      "H100 GPU-hours %.1f" % (h["weighted_jct_s"], v["weighted_jct_s"], hours["H100"]))
EOF

[ $failures -eq 0 ] && echo "all hare-sim --measured checks passed"
[ $failures -eq 0 ]
