#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A node's prolog and epilog (agent.conf prolog, epilog), end to end on
# emulated V100s at time_scale 1000. node1's prolog and epilog do what a
# control file says, and log what they were told.
#  - both pass: a job runs, the prolog before its worker, the epilog after
#    it with how it ended (DONE);
#  - the prolog fails: the worker is not started, hared drains node1 with
#    the prolog's reason (harectl nodes, history --node, the metrics), the
#    job is queued again without being charged a failure, the epilog still
#    runs (FAILED), and the job runs on node2 once that comes up;
#  - undrained, with an epilog that fails: the job ends DONE, and node1 is
#    drained with the epilog's reason;
#  - a job cancelled while an epilog of 7 s follows: the next job's prolog
#    runs on the GPU only once that epilog has ended (hared holds the GPU
#    for the agent's stop grace, 0.3 s, and its epilog_timeout_s, 15 s);
#  - the example prolog and epilog (deploy/hare-prolog.example,
#    hare-epilog.example) with a stand-in nvidia-smi: a busy GPU fails the
#    prolog, the scratch folder is made for the job's owner and removed,
#    the owner's process left on the GPU is killed.
# Usage: job_prolog.sh BUILD_DIR SOURCE_DIR (exit 77: a binary missing).
set -u

. "$(dirname "${BASH_SOURCE[0]}")/lib/cluster.bash"
it_setup "$@"

conf=(max_retries=0 retry_backoff_s=0.1 "metrics_file=$tmp/hare.prom" metrics_interval_s=1)
write_conf 0 "${conf[@]}"
start_hared
write_conf "$port" "${conf[@]}"

# Each control file's first line: "ok", "sleep S" (then ok) or "fail
# TEXT". Each run logs what it was told, and ends a line in order.log.
for what in prolog epilog; do
	echo ok >"$tmp/$what.ctl"
	cat >"$tmp/$what" <<EOF
#!/bin/sh
read -r how text <"$tmp/$what.ctl"
echo "$what job=\$HARE_JOB_ID rank=\$HARE_RANK gpu=\$HARE_GPU_INDEX type=\$HARE_GPU_TYPE status=\${HARE_TASK_STATUS:-} rounds=\${HARE_ROUNDS_DONE:-}" >>"$tmp/$what.log"
[ "\$how" = sleep ] && sleep "\$text"
echo "$what \$HARE_JOB_ID" >>"$tmp/order.log"
[ "\$how" != fail ] && exit 0
echo "checking node \$HARE_NODE"
echo "\$text"
exit 2
EOF
	chmod 755 "$tmp/$what"
done
printf '[agent]\nprolog_timeout_s = 5\nepilog_timeout_s = 15\nstop_grace_ms = 300\n' >"$tmp/agent1.conf"
start_agent 1 V100:1 --config "$tmp/agent1.conf" --prolog "$tmp/prolog" --epilog "$tmp/epilog"
up1() { [ "$(node_gpus node1)" = "V100:0:0" ]; }
wait_for 10 "node1 to register" up1 || exit 1

short() { "$harectl" submit --model resnet50 --gpus 1 --rounds 2000 "$@"; }

# 1. Both pass.
a=$(short --name a) || fail "submit a"
"$harectl" wait --max-wait 30s "$a" >/dev/null 2>&1 && echo "ok: job $a DONE" ||
	fail "job $a: $(field "$a" state)"
[ "$(cat "$tmp/prolog.log")" = "prolog job=$a rank=0 gpu=0 type=V100 status= rounds=" ] &&
	echo "ok: the prolog was told the task: $(cat "$tmp/prolog.log")" ||
	fail "prolog log: '$(cat "$tmp/prolog.log")'"
[ "$(cat "$tmp/epilog.log")" = "epilog job=$a rank=0 gpu=0 type=V100 status=DONE rounds=2000" ] &&
	echo "ok: the epilog was told how it ended: $(cat "$tmp/epilog.log")" ||
	fail "epilog log: '$(cat "$tmp/epilog.log")'"
[ -z "$(drain_reason node1)" ] || fail "node1 drained: $(drain_reason node1)"

# 2. The prolog fails: node1 is drained, the job waits, uncharged.
echo "fail /scratch is full" >"$tmp/prolog.ctl"
b=$(short --name b) || fail "submit b"
want="prolog exited with status 2: /scratch is full (job $b rank 0)"
drained() { [ "$(drain_reason node1)" = "$want" ]; }
wait_for 15 "node1 to be drained" drained && echo "ok: node1 drained: $want" ||
	fail "node1's drain reason: '$(drain_reason node1)'"
queued() { state_is "$b" QUEUED; }
wait_for 5 "job $b to be queued" queued && echo "ok: job $b queued again" ||
	fail "job $b: $(field "$b" state)"
"$harectl" history "$b" | grep -q "not run on node node1 (rank 0): prolog exited with status 2: /scratch is full; the node is drained, the job is not charged" &&
	echo "ok: job $b's history says why" || { fail "job $b's history:"; "$harectl" history "$b"; }
"$harectl" history --node node1 | grep -q "node-drain .*prolog exited with status 2: /scratch is full (job $b rank 0)" &&
	echo "ok: node1's history has the drain" || { fail "node1's history:"; "$harectl" history --node node1; }
epilog_b() { grep -q "epilog job=$b rank=0 gpu=0 type=V100 status=FAILED rounds=0" "$tmp/epilog.log"; }
wait_for 5 "the epilog of job $b" epilog_b && echo "ok: the epilog ran after the failed prolog"
counted() { metric 'hare_prolog_epilog_failures_total 1' && metric 'hare_nodes{state="drained"} 1'; }
wait_for 5 "the metrics to count the failure" counted && echo "ok: metrics count it" ||
	grep -E "prolog|hare_nodes" "$tmp/hare.prom"
logged "node=node1 drained: $want" || fail "hared does not log the drain"
start_agent 2 V100:1
# with max_retries = 0 a failure charged to the job would have ended it
"$harectl" wait --max-wait 30s "$b" >/dev/null 2>&1 && echo "ok: job $b DONE on node2, uncharged" ||
	fail "job $b: $(field "$b" state) $(field "$b" message)"
charged=$(nodes_json | "$py" -c '
import json, sys
print([n.get("recent_failures", 0) for n in json.load(sys.stdin)["nodes"] if n["name"] == "node1"][0])')
[ "$charged" = 0 ] && echo "ok: node1 not charged a worker failure" || fail "node1 charged $charged"

# 3. Undrained, the epilog fails: the job is DONE, node1 drained again.
kill "${apid[2]}"
down2() { "$harectl" nodes | awk '$1 == "node2"' | grep -q down; }
wait_for 10 "node2 to be down" down2
echo ok >"$tmp/prolog.ctl"
echo "fail /scratch/job left behind" >"$tmp/epilog.ctl"
"$harectl" undrain node1 >/dev/null || fail "undrain node1"
c=$(short --name c) || fail "submit c"
"$harectl" wait --max-wait 30s "$c" >/dev/null 2>&1 && echo "ok: job $c DONE despite its epilog" ||
	fail "job $c: $(field "$c" state)"
want="epilog exited with status 2: /scratch/job left behind (job $c rank 0)"
wait_for 10 "node1 to be drained" drained && echo "ok: node1 drained: $want" ||
	fail "node1's drain reason: '$(drain_reason node1)'"

# 4. The GPU stays held while a stopped task's epilog runs.
"$harectl" undrain node1 >/dev/null || fail "undrain node1"
echo ok >"$tmp/epilog.ctl"
d=$("$harectl" submit --model resnet50 --gpus 1 --rounds 50000000 --name d) || fail "submit d"
wait_for 15 "job $d to run" progressed "$d"
echo "sleep 7" >"$tmp/epilog.ctl"
"$harectl" cancel "$d" >/dev/null || fail "cancel $d"
e=$(short --name e) || fail "submit e"
"$harectl" wait --max-wait 40s "$e" >/dev/null 2>&1 && echo "ok: job $e DONE" ||
	fail "job $e: $(field "$e" state)"
order=$(grep -E "^(epilog $d|prolog $e)\$" "$tmp/order.log" | tr '\n' ' ')
[ "$order" = "epilog $d prolog $e " ] &&
	echo "ok: job $e's prolog ran after job $d's epilog had ended" || fail "order: '$order'"

# 5. The example prolog and epilog, with a stand-in nvidia-smi that lists
# the lines of $tmp/smi.out whose pid is alive, and exits with $tmp/smi.rc.
mkdir -p "$tmp/bin" "$tmp/scratch"
cat >"$tmp/bin/nvidia-smi" <<EOF
#!/bin/sh
while IFS= read -r line; do kill -0 "\${line%%,*}" 2>/dev/null && echo "\$line"; done <"$tmp/smi.out"
exit \$(cat "$tmp/smi.rc")
EOF
chmod 755 "$tmp/bin/nvidia-smi"
run_example() {	# WHICH SMI_LINES SMI_RC [ENV...]: "RC: LAST LINE"
	printf '%b' "$2" >"$tmp/smi.out"
	echo "$3" >"$tmp/smi.rc"
	local out rc
	out=$(env -i PATH="$tmp/bin:/usr/bin:/bin" HARE_GPU_INDEX=0 HARE_GPUS_EMULATED=0 \
		HARE_JOB_ID=7 HARE_RANK=1 HARE_USER=nobody SCRATCH_DIR="$tmp/scratch" "${@:4}" \
		sh "$src/deploy/hare-$1.example" 2>&1)
	rc=$?
	echo "$rc: $(echo "$out" | tail -n 1)"
}
f0=$failures
sleep 60 &
busy=$!
got=$(run_example prolog "$busy, python\n" 0)
[ "$got" = "1: GPU 0 is not free: it runs $busy, python" ] || fail "example prolog, busy GPU: '$got'"
got=$(run_example prolog "" 9)
[ "$got" = "1: nvidia-smi failed (exit 9): " ] || fail "example prolog, nvidia-smi fails: '$got'"
got=$(run_example prolog "$busy, python\n" 0 HARE_GPUS_EMULATED=1)
[ "$got" = "0: " ] || fail "example prolog, emulated: '$got'"
got=$(run_example prolog "" 0)
[ "$got" = "0: " ] && [ "$(stat -c '%U %a' "$tmp/scratch/job-7.rank-1")" = "nobody 700" ] ||
	fail "example prolog: '$got', scratch '$(stat -c '%U %a' "$tmp/scratch/job-7.rank-1" 2>&1)'"
got=$(run_example epilog "$busy, sleep\n" 0 HARE_USER=root)
[ "$got" = "0: " ] && ! kill -0 "$busy" 2>/dev/null && [ ! -e "$tmp/scratch/job-7.rank-1" ] ||
	fail "example epilog: '$got', pid $busy $(kill -0 "$busy" 2>/dev/null && echo alive)"
got=$(run_example epilog "" 0)
[ "$got" = "0: " ] || fail "example epilog, run again: '$got'"
kill "$busy" 2>/dev/null
[ "$failures" -eq "$f0" ] &&
	echo "ok: the example prolog and epilog: a busy GPU, nvidia-smi failing, the scratch folder, a process left"

it_finish "prolog and epilog"
