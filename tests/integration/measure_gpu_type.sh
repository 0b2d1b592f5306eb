#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# GPU types the profile lacks, end to end: hared, and agents with an
# emulated H100 (a type the shipped profile does not have) that train on the
# CPU engine. (1) node2 has measuring turned off: it refuses, and its H100
# stays unused. (2) node1 registers: hared asks it, it runs hare-worker
# --profile (measure_models = ncf; hared restarts meanwhile, and node1 says
# in its Register that it still measures), and hared saves the rows in
# state_dir/measured-throughput.csv and plans on every H100 at once: a job
# that may only run on H100 runs there to DONE. (3) A restarted hared loads
# the type from the file and asks nobody. (4) A damaged file stops the start
# with a message naming it.
# Usage: measure_gpu_type.sh BUILD_DIR SOURCE_DIR (exit 77: a binary missing).
set -u

. "$(dirname "${BASH_SOURCE[0]}")/lib/cluster.bash"
it_setup "$@"

# real workers: profile seconds are wall seconds
conf=(time_scale=1 max_retries=1 retry_backoff_s=0.5 measure_models=ncf log_level=debug)
write_conf 0 "${conf[@]}"
start_hared
write_conf "$port" "${conf[@]}"	# a restarted hared comes back on the same port
measured="$tmp/state/measured-throughput.csv"
# enough timed steps that measuring takes a few seconds, to be seen
printf '[agent]\nprofile_unknown = yes\nprofile_iters = 200\n' >"$tmp/measure-yes.conf"
printf '[agent]\nprofile_unknown = no\n' >"$tmp/measure-no.conf"

finished() {
	queue_json | "$py" -c '
import json, sys
jobs = {j["job_id"]: j for j in json.load(sys.stdin)["jobs"]}
sys.exit(0 if all(jobs.get(int(i), {}).get("state") in ("DONE", "FAILED", "CANCELLED")
                  for i in sys.argv[1:]) else 1)' "$@"
}

# 1. A node that does not measure: asked, refuses, its H100 stays unused.
start_agent 2 H100:1 --worker-engine cpu --config "$tmp/measure-no.conf"
wait_for 10 "node2 to refuse measuring" logged "node=node2 could not measure GPU type H100: .*profile_unknown = no" &&
	echo "ok: node2 was asked to measure H100 and refused (profile_unknown = no)"
[ "$(node_gpus node2)" = "H100:1:0" ] && echo "ok: node2's H100 is listed unprofiled, not measuring" ||
	fail "node2 GPUs: '$(node_gpus node2)'"
"$harectl" nodes | grep -q "^node2 .* 0 *- *not profiled: H100$" && echo "ok: harectl nodes: no free GPU on node2, reason 'not profiled: H100'" ||
	fail "harectl nodes: $("$harectl" nodes | grep node2)"
out=$("$harectl" submit --model ncf --gpus 1 --rounds 10 --gpu-types H100 2>&1) &&
	fail "a job for H100 was accepted before H100 was measured: $out" ||
	echo "ok: a job for H100 is refused before it is measured: ${out#harectl: }"
[ -e "$measured" ] && fail "$measured exists before anything was measured"

# 2. node1 measures it (hared restarts meanwhile); the type is used at
# once, on both nodes.
start_agent 1 V100:1,H100:1 --worker-engine cpu --config "$tmp/measure-yes.conf"
wait_for 10 "node1 to be asked" logged "node=node1 measures GPU type H100" &&
	echo "ok: hared asked node1 to measure H100"
measuring_seen() { [ "$(node_gpus node1)" = "V100:0:0 H100:1:1" ]; }
wait_for 5 "node1's H100 listed as measuring" measuring_seen &&
	"$harectl" nodes | grep -q "^node1 .* 1 *- *measuring H100$" &&
	echo "ok: while node1 measures, its H100 is listed measuring and not free" ||
	fail "while measuring: $("$harectl" nodes | grep node1)"
# hared restarts while node1 measures: node1 says so in its Register and
# is not asked again; its result reaches the new hared
kill -TERM "$hpid"; wait "$hpid" 2>/dev/null
start_hared
wait_for 10 "node1 to say it measures" logged "node=node1 measures GPU type H100 (since before it registered)" &&
	echo "ok: after a restart of hared, node1's Register says it still measures H100"
[ "$(grep -c "node=node1 measures GPU type H100 (hare-worker" "$tmp/hared.log")" = 1 ] ||
	fail "node1 was asked to measure H100 more than once"
wait_for 60 "H100 to be measured" logged "node=node1 measured GPU type H100: 16 rows saved" &&
	echo "ok: node1 measured H100 ($(grep -c '^ncf,H100,' "$measured" 2>/dev/null) ncf rows saved)"
"$py" - "$measured" <<'EOF' || fail "measured file"
import csv, sys
lines = open(sys.argv[1]).read().splitlines()
rows = list(csv.DictReader(l for l in lines if not l.startswith("#")))
keys = {(r["model"], r["gpu_type"], int(r["workers"]), r["placement"]) for r in rows}
want = {("ncf", "H100", 1 << i, p) for i in range(8) for p in ("consolidated", "spread")}
comp = {float(r["compute_s"]) for r in rows}
assert keys == want and len(rows) == 16, "rows %s" % sorted(keys ^ want)
assert len(comp) == 1 and 0 < min(comp) < 1, "compute_s %s" % comp
assert any(l.startswith("# GPU type H100 measured by hare-worker --profile on node node1") for l in lines)
print("ok: measured file: 16 ncf rows for H100, compute_s %.4g s" % min(comp))
EOF
[ "$(node_gpus node1)" = "V100:0:0 H100:0:0" ] && [ "$(node_gpus node2)" = "H100:0:0" ] &&
	echo "ok: every H100 is profiled now (node1 and node2)" ||
	fail "GPUs after measuring: node1 '$(node_gpus node1)', node2 '$(node_gpus node2)'"
jobs=()
for i in 1 2; do
	id=$("$harectl" submit --model ncf --gpus 1 --rounds 150 --gpu-types H100 --name "h100-$i") ||
		fail "submit for H100 after measuring"
	jobs+=("$id")
done
wait_for 40 "the H100 jobs" finished "${jobs[@]}"
for id in "${jobs[@]}"; do
	"$harectl" show "$id" -o json | "$py" -c '
import json, sys
j = json.load(sys.stdin)
ok = j["state"] == "DONE" and j["rounds_done"] == 150
print("job %d: %s, %s/150 rounds" % (j["job_id"], j["state"], j["rounds_done"]))
sys.exit(0 if ok else 1)' || fail "job $id on H100"
	# the H100 is GPU 1 of node1 and GPU 0 of node2
	grep -q "task start job=$id .* gpu=1 " "$tmp/agent1.log" ||
		grep -q "task start job=$id .* gpu=0 " "$tmp/agent2.log" || fail "job $id: not started on an H100"
done
[ $failures -eq 0 ] && echo "ok: jobs for H100 ran to DONE on H100 GPUs"

# 3. A restarted hared loads the measured type and asks nobody.
kill -TERM "$hpid"; wait "$hpid" 2>/dev/null
asked=$(grep -c "measures GPU type" "$tmp/hared.log")
start_hared
wait_for 10 "the measured type to load" logged "profile: 1 GPU type(s) measured on this cluster" &&
	echo "ok: the restarted hared loaded H100 from $(basename "$measured")"
both_up() { [ "$(node_gpus node1)" = "V100:0:0 H100:0:0" ] && [ "$(node_gpus node2)" = "H100:0:0" ]; }
wait_for 15 "both agents back, H100 profiled" both_up && echo "ok: after the restart both nodes' H100 are profiled"
[ "$(grep -c "measures GPU type" "$tmp/hared.log")" = "$asked" ] && echo "ok: nobody was asked to measure again" ||
	fail "a node was asked to measure again after the restart"
id=$("$harectl" submit --model ncf --gpus 1 --rounds 50 --gpu-types H100 --name after-restart) &&
	wait_for 30 "the job after the restart" finished "$id" &&
	[ "$("$harectl" show "$id" -o json | "$py" -c 'import json,sys; print(json.load(sys.stdin)["state"])')" = DONE ] &&
	echo "ok: job $id for H100 DONE after the restart" || fail "job for H100 after the restart"

# 4. A damaged measured file stops the start and says which file.
kill -TERM "$hpid"; wait "$hpid" 2>/dev/null
cp "$measured" "$tmp/measured.good"
sed -i '0,/^ncf,H100,4,spread,/{/^ncf,H100,4,spread,/d}' "$measured"
out=$("$hared" --config "$tmp/hared.conf" --check-config 2>&1) && fail "a file with a hole was accepted" ||
	case "$out" in
	*measured-throughput.csv:*"hole: model ncf on H100 has no row for 4 workers spread"*"fix or remove the file"*)
		echo "ok: a damaged file is refused: ${out#hared: }" ;;
	*) fail "damaged file: '$out'" ;;
	esac
cp "$tmp/measured.good" "$measured"
"$hared" --config "$tmp/hared.conf" --check-config >/dev/null 2>&1 || fail "the restored file is refused"

it_finish measuring
