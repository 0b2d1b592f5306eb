#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# hared with four emulated agents (2 x V100:4, 2 x T4:4) at time_scale 1000:
# a batch of jobs runs to DONE, a heavy short job overtakes a light long
# one, cancel stops a running job's workers, a daemon restart keeps
# every job and adopts the running one, a drained node's job moves to
# another node, and a node whose agent stopped is forgotten (root only). A
# second agent with a connected node's name is refused.
# Usage: daemon_cluster.sh BUILD_DIR SOURCE_DIR (exit 77: a binary missing).
set -u

. "$(dirname "${BASH_SOURCE[0]}")/lib/cluster.bash"
it_setup "$@"

all_done() {
	queue_json | "$py" -c '
import json, sys
jobs = json.load(sys.stdin)["jobs"]
sys.exit(0 if jobs and all(j["state"] in ("DONE", "CANCELLED") for j in jobs) else 1)'
}

running_with_progress() { state_is "$1" RUNNING && [ "$(field "$1" rounds_done)" -gt 0 ]; }

submit() {
	local id
	id=$("$harectl" submit "$@") || { fail "submit $*"; echo 0; return; }
	echo "$id"
}

conf=(reconnect_grace_s=4 heartbeat_timeout_s=10 log_level=debug)
write_conf 0 "${conf[@]}"
start_hared
write_conf "$port" "${conf[@]}"	# a restart must come back on the same port
i=0
for gpus in V100:4 V100:4 T4:4 T4:4; do
	i=$((i + 1))
	mkdir -p "$tmp/w$i"
	"$agent" --daemon "127.0.0.1:$port" --node "node$i" --gpus "$gpus" --key-file "$tmp/key" \
		--work-dir="$tmp/w$i" --worker "$worker" >"$tmp/agent$i.log" 2>&1 &
	pids+=($!)
	node_pid[i]=$!
done

nodes_ok() {
	"$harectl" nodes -o json 2>/dev/null | "$py" -c '
import collections, json, sys
nodes = json.load(sys.stdin)["nodes"]
types = collections.Counter(g["type"] for n in nodes if n["up"] for g in n["gpus"])
sys.exit(0 if len(nodes) == 4 and types == {"V100": 8, "T4": 8} else 1)'
}
wait_for 10 "4 agents with 8 V100 and 8 T4" nodes_ok && echo "ok: nodes lists 4 agents, 8xV100 + 8xT4"
# an agent that gets SIGHUP goes on
kill -HUP "${node_pid[1]}"
hup_logged() { grep -q "agent signal=SIGHUP ignored" "$tmp/agent1.log"; }
wait_for 5 "agent 1 to log the SIGHUP" hup_logged && kill -0 "${node_pid[1]}" &&
	echo "ok: an agent goes on after SIGHUP" || fail "agent 1 after SIGHUP"

# 1. A batch of jobs runs to completion.
batch=()
batch+=("$(submit --model resnet50 --gpus 4 --rounds 5000)")
batch+=("$(submit --model resnet18 --gpus 2 --rounds 20000)")
batch+=("$(submit --model transformer --gpus 4 --rounds 8000)")
batch+=("$(submit --model lm --gpus 2 --rounds 50000)")
batch+=("$(submit --model recommendation --gpus 1 --rounds 100000)")
batch+=("$(submit --model resnet50 --gpus 8 --min-gpus 2 --rounds 4000 --weight 2)")
batch+=("$(submit --model lm --gpus 4 --rounds 40000 --gpu-types T4)")
batch+=("$(submit --model resnet18 --gpus 1 --rounds 30000 --name single)")
wait_for 40 "the batch to finish" all_done
bad=$(queue_json | "$py" -c '
import json, sys
jobs = {j["job_id"]: j for j in json.load(sys.stdin)["jobs"]}
for i in map(int, sys.argv[1:]):
    j = jobs.get(i, {})
    if j.get("state") != "DONE" or j.get("rounds_done") != j.get("rounds_total"):
        print(i, j.get("state"), j.get("rounds_done"), j.get("rounds_total"))' "${batch[@]}")
[ -z "$bad" ] && echo "ok: ${#batch[@]} jobs DONE with every round ($(($(date +%s) - t0))s)" \
	|| fail "jobs not done: $bad"
"$harectl" show "${batch[6]}" | grep -q "T4" || fail "job ${batch[6]} limited to T4 shows no T4"
# GPU time: each job's (show) lies within its run times its tasks, and
# usage's sums over all time are the jobs' own, by user and by type
gpu_time() {
	local id
	for id in "$@"; do "$harectl" show "$id" -o json || return 1; done | "$py" -c '
import json, sys
dec = json.JSONDecoder()
text, at, jobs = sys.stdin.read(), 0, []
while text[at:].strip():
    j, at = dec.raw_decode(text, at + len(text[at:]) - len(text[at:].lstrip()))
    jobs.append(j)
total = {}
for j in jobs:
    secs = j.get("gpu_seconds", {})
    span = j["finish_time"] - j["start_time"]
    s = sum(secs.values())
    if not (0 < s <= span * j["tasks"] + 0.5):
        print("job %d: %.3f GPU-s in a run of %.3f s with %d tasks" % (j["job_id"], s, span, j["tasks"]))
    for t, v in secs.items():
        total[t] = total.get(t, 0) + v
print(json.dumps(total))'
}
usage_all() { "$harectl" usage --since @0 -o json; }
jobs_time=$(gpu_time "${batch[@]}") || fail "show of the batch"
bad=$(echo "$jobs_time" | grep -v '^{')
[ -z "$bad" ] || fail "GPU time of a job: $bad"
bad=$(usage_all | "$py" -c '
import json, sys
u = json.load(sys.stdin)
want = json.loads(sys.argv[1])
if len(u["users"]) != 1 or u["users"][0]["jobs"] != int(sys.argv[2]) or u["cut"]:
    print("users:", u["users"]); sys.exit()
got = u["users"][0]["types"]
if set(got) != set(want) or set(got) != {"V100", "T4"} or any(abs(got[t] - want[t]) > 1e-6 * want[t] for t in want):
    print("usage", got, "jobs", want)
if abs(u["users"][0]["gpu_seconds"] - sum(got.values())) > 1e-6 * sum(got.values()):
    print("total", u["users"][0]["gpu_seconds"], "types", got)' "$(echo "$jobs_time" | tail -1)" "${#batch[@]}")
[ -z "$bad" ] && echo "ok: usage gives the batch's GPU time by type, as the jobs' own: $(echo "$jobs_time" | tail -1)" ||
	fail "usage: $bad"
"$harectl" usage --user nobody-here | grep -q "^no job held a GPU then$" || fail "usage of a user with no jobs"
"$harectl" usage | grep -qE "^$(id -un) +${#batch[@]} +[0-9]+\.[0-9]{2} " || fail "usage table: $("$harectl" usage)"

# 2. Order: while a whole-cluster job runs, a light long job and a heavy
# short one are submitted together (one job file, light first). Both wait
# for the blocker (shorter than the light job), and the heavy one is
# planned, and so started, first.
blocker=$(submit --model resnet50 --gpus 16 --min-gpus 16 --rounds 8000 --name blocker)
cat >"$tmp/pair.ini" <<EOF
[job]
name = light
model = resnet50
gpus = 16
min-gpus = 16
rounds = 12000
weight = 1

[job]
name = heavy
model = resnet50
gpus = 16
min-gpus = 16
rounds = 1000
weight = 10
EOF
wait_for 10 "the blocker to run" state_is "$blocker" RUNNING
ids=$("$harectl" submit --file "$tmp/pair.ini") || fail "submit the job file"
light=$(echo "$ids" | sed -n 1p)
heavy=$(echo "$ids" | sed -n 2p)
wait_for 40 "blocker, light and heavy to finish" all_done
starts=$(queue_json | "$py" -c '
import json, sys
jobs = {j["job_id"]: j for j in json.load(sys.stdin)["jobs"]}
b, l, h = (jobs[int(i)] for i in sys.argv[1:])
print(h["start_time"], l["start_time"], b["finish_time"])' "$blocker" "$light" "$heavy")
read -r hs ls bf <<<"$starts"
if "$py" -c "import sys; sys.exit(0 if 0 < $hs < $ls and $bf <= $ls + 0.05 else 1)"; then
	echo "ok: heavy short job started before the light long one ($hs < $ls)"
else
	fail "heavy job started at $hs, light job at $ls, blocker finished at $bf"
fi

# 3. Cancel stops a running job's workers.
long=$(submit --model transformer --gpus 4 --rounds 1000000 --name long)
wait_for 10 "the long job to run" running_with_progress "$long"
n=$(workers_of "$long")
[ "$n" -ge 1 ] || fail "no hare-worker found for running job $long"
"$harectl" cancel "$long" >/dev/null || fail "cancel $long"
state_is "$long" CANCELLED || fail "job $long is $(field "$long" state) after cancel"
no_workers() { [ "$(workers_of "$long")" = 0 ]; }
wait_for 8 "job $long's workers to exit" no_workers && echo "ok: cancel stopped $n workers of job $long"

# 4. Restart: SIGTERM and start again; nothing is lost and the running job
# is adopted, not restarted.
keep=$(submit --model lm --gpus 2 --rounds 400000 --name survivor)
wait_for 10 "the survivor to run" running_with_progress "$keep"
before=$(queue_json | "$py" -c '
import json, sys
print(sorted((j["job_id"], j["state"]) for j in json.load(sys.stdin)["jobs"] if j["state"] != "RUNNING"))')
restarts=$(field "$keep" restarts)
kill -TERM "$hpid"
wait "$hpid"
rc=$?
[ $rc -eq 0 ] || fail "hared exited with $rc on SIGTERM"
start_hared
after=$(queue_json | "$py" -c '
import json, sys
print(sorted((j["job_id"], j["state"]) for j in json.load(sys.stdin)["jobs"] if j["state"] != "RUNNING" and j["job_id"] != '"$keep"'))')
[ "$before" = "$after" ] || fail "jobs changed across the restart: $before -> $after"
wait_for 30 "the survivor to finish after the restart" state_is "$keep" DONE
grep -q "job=$keep lease=[0-9]* adopted" "$tmp/hared.log" || fail "job $keep was not adopted"
[ "$(field "$keep" restarts)" = "$restarts" ] || fail "job $keep restarted after the daemon restart"
# its GPU time covers the whole run, hared's down time included
bad=$("$harectl" show "$keep" -o json | "$py" -c '
import json, sys
j = json.load(sys.stdin)
s, span = sum(j.get("gpu_seconds", {}).values()), j["finish_time"] - j["start_time"]
if not (0.95 * span <= s <= 2 * span + 0.5):
    print("%.3f GPU-s in a run of %.3f s on 1-2 GPUs" % (s, span))')
[ -z "$bad" ] || fail "GPU time of the adopted job $keep: $bad"
total=$("$harectl" queue --all -o json 2>"$tmp/queue.err" |
	"$py" -c 'import json,sys; print(len(json.load(sys.stdin)["jobs"]))' 2>/dev/null)
[ "$total" -eq $((${#batch[@]} + 5)) ] 2>/dev/null ||
	fail "expected $((${#batch[@]} + 5)) jobs, queue has '$total' ($(cat "$tmp/queue.err"))"
[ $failures -eq 0 ] && echo "ok: restart kept all $total jobs; job $keep adopted and DONE"

# 5. Drain (root only): the node of a running job is drained; the job moves
# to another node, the drained node's GPUs empty out and it stays drained
# across a daemon restart; undrain gives it back.
node_of() {
	"$harectl" show "$1" -o json | "$py" -c '
import json, sys
p = json.load(sys.stdin).get("placement", [])
print(p[0]["node"] if p else "")'
}
node_state() {
	"$harectl" nodes -o json | "$py" -c '
import json, sys
n = [n for n in json.load(sys.stdin)["nodes"] if n["name"] == sys.argv[1]][0]
busy = sum(1 for g in n["gpus"] if g["job_id"] or g["stopping"])
print("%s %s %d %s" % (n["up"], n["drained"], busy, n.get("drain_reason", "-").replace(" ", "_")))' "$1"
}
moved_off() { local n; n=$(node_of "$mover"); [ -n "$n" ] && [ "$n" != "$from" ]; }
emptied() { [ "$(node_state "$from")" = "True True 0 new_fans" ]; }
if [ "$(id -u)" -ne 0 ]; then
	echo "skip: drain checks need root (harectl drain is for root on the local socket)"
else
	mover=$(submit --model lm --gpus 2 --max-gpus 2 --rounds 2000000 --gpu-types V100 --name mover)
	wait_for 10 "the job to drain away from to run" running_with_progress "$mover"
	from=$(node_of "$mover")
	out=$("$harectl" drain "$from" --reason "new fans") || fail "harectl drain $from"
	[ "$out" = "node $from drained (1 job moved)" ] || fail "drain printed '$out'"
	wait_for 10 "job $mover to move off $from" moved_off &&
		wait_for 10 "$from to empty" emptied &&
		echo "ok: drained $from; job $mover moved to $(node_of "$mover"), $from has no job left"
	"$harectl" nodes | grep -qE "^$from +drained .* new fans$" || fail "nodes does not show $from drained"
	kill -TERM "$hpid"
	wait "$hpid"
	start_hared
	wait_for 10 "4 agents back" nodes_ok
	[ "$(node_state "$from")" = "True True 0 new_fans" ] &&
		echo "ok: $from still drained after a daemon restart" || fail "$from after restart: $(node_state "$from")"
	out=$("$harectl" undrain "$from") || fail "harectl undrain $from"
	[ "$(node_state "$from" | cut -d' ' -f2)" = False ] && echo "ok: undrained $from" ||
		fail "$from still drained after undrain"
	"$harectl" cancel "$mover" >/dev/null || fail "cancel $mover"

	# 6. Forget (root only): refused while the node's agent is connected;
	# once it is stopped, the node leaves the list.
	out=$("$harectl" forget node4 2>&1) && fail "forget of a connected node succeeded"
	[ "$out" = "harectl: node node4 is not forgotten: its agent is connected; stop hare-agent there first" ] ||
		fail "forget of a connected node printed '$out'"
	kill -TERM "${node_pid[4]}"
	forgot() { out=$("$harectl" forget node4 2>&1); }
	wait_for 15 "node4 to be forgotten" forgot
	[ "$out" = "node node4 forgotten" ] || fail "forget printed '$out'"
	names=$("$harectl" nodes -o json | "$py" -c '
import json, sys
print(" ".join(n["name"] for n in json.load(sys.stdin)["nodes"]))')
	[ "$names" = "node1 node2 node3" ] && echo "ok: node4 forgotten once its agent stopped" ||
		fail "nodes after forget: $names"
fi

# 7. A second agent with node1's name (two hosts with one name) is refused
# while node1's agent is heard from; node1 keeps its GPUs and session
twin_long=$(submit --model resnet50 --gpus 4 --min-gpus 4 --gpu-types V100 --rounds 2000000 --name twin)
wait_for 10 "a job on the V100s" running_with_progress "$twin_long"
timeout 4 "$agent" --daemon "127.0.0.1:$port" --node node1 --gpus K80:1 --key-file "$tmp/key" \
	--work-dir="$tmp/w1b" --worker "$worker" >"$tmp/agent1b.log" 2>&1
grep -q "node node1 is connected already" "$tmp/agent1b.log" &&
	grep -q "node=node1 peer=.* refused: the node is connected from" "$tmp/hared.log" &&
	[ "$(node_gpus node1)" = "V100:0:0 V100:0:0 V100:0:0 V100:0:0" ] && [ "$(field "$twin_long" restarts)" = 0 ] && state_is "$twin_long" RUNNING &&
	echo "ok: a second agent named node1 is refused; node1 and its job go on" ||
	fail "twin agent: $(tail -3 "$tmp/agent1b.log"); job $twin_long: $(field "$twin_long" state), $(field "$twin_long" restarts) restarts"

# 8. A second agent on node1's work dir (run by hand beside the service) is
# refused before it adopts node1's workers; node1's job goes on
rc=0
timeout 4 "$agent" --daemon "127.0.0.1:$port" --node node1c --gpus K80:1 --key-file "$tmp/key" \
	--work-dir="$tmp/w1" --worker "$worker" >"$tmp/agent1c.log" 2>&1 || rc=$?
[ "$rc" = 1 ] && grep -q "work_dir $tmp/w1 is in use by another hare-agent (pid ${node_pid[1]})" "$tmp/agent1c.log" &&
	! grep -q "task adopt" "$tmp/agent1c.log" && ! grep -q "node=node1c" "$tmp/hared.log" &&
	[ "$(field "$twin_long" restarts)" = 0 ] && state_is "$twin_long" RUNNING &&
	echo "ok: a second agent on node1's work dir is refused; node1's job goes on" ||
	fail "agent on a busy work dir: rc $rc, $(tail -3 "$tmp/agent1c.log"); job $twin_long: $(field "$twin_long" state)"
"$harectl" cancel "$twin_long" >/dev/null || fail "cancel $twin_long"

# Under ASan/UBSan builds the daemon reports memory errors and leaks here.
grep -qE "Sanitizer|runtime error" "$tmp/hared.log" && fail "sanitizer report in the hared log"
if [ $failures -ne 0 ]; then
	echo "--- hared log (tail)"; grep -v "conn=" "$tmp/hared.log" | tail -40
	exit 1
fi
echo "all cluster checks passed in $(($(date +%s) - t0))s"
