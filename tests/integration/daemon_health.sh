#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Node health checks (agent.conf health_check), on two emulated agents
# (V100:2 each) at time_scale 1000. node1's check says what a control file
# tells it; node2 has none.
#  - node1's check fails from the start: the agent registers only once it
#    has run, as unhealthy; harectl nodes shows why; a job runs on node2
#    only, and a second one waits; one wider than node2 says why, counting
#    the unhealthy GPUs;
#  - the check passes: node1 is healthy again and the second job runs there;
#  - it fails again: that job moves off (its history says why), and the
#    metrics count both failures;
#  - it passes and fails a third time within the hour: hared quarantines
#    node1 (drains it, saying why; quarantine_health_fails = 3), and an
#    undrain gives it back;
#  - a check that hangs is killed at health_check_timeout_s, with its
#    process group, and says so;
#  - a restarted agent whose check fails comes back unhealthy;
#  - one restarted under running workers registers before its first check
#    ends, and the job keeps its lease;
#  - a check others may write to, or a missing one, is not run, and the
#    node is unhealthy; a relative path is a configuration error;
#  - the example check (deploy/hare-health.example).
# Usage: daemon_health.sh BUILD_DIR SOURCE_DIR (exit 77: a binary missing).
set -u

. "$(dirname "${BASH_SOURCE[0]}")/lib/cluster.bash"
it_setup "$@"

conf=(reconnect_grace_s=6 retry_backoff_s=0.1 "metrics_file=$tmp/hare.prom" metrics_interval_s=1)
write_conf 0 "${conf[@]}"
start_hared
write_conf "$port" "${conf[@]}"

# The check: the control file's first line is "ok", "fail TEXT", "hang"
# or "slow" (10 s, then healthy).
cat >"$tmp/check" <<EOF
#!/bin/sh
read -r what text <"$tmp/health1"
case "\$what" in
ok) exit 0 ;;
hang) echo "looking at GPU \$HARE_GPU_INDICES"; sleep 30 & echo \$! >"$tmp/hang.pid"; wait ;;
slow) sleep 10 ;;
*) echo "checked \$HARE_NODE (\$HARE_GPU_TYPES)"; echo "\$text"; echo; exit 3 ;;
esac
EOF
chmod 755 "$tmp/check"
printf '[agent]\nhealth_check_interval_s = 1\nhealth_check_timeout_s = 2\n' >"$tmp/agent1.conf"
echo "fail GPU 1: 3 uncorrectable ECC errors" >"$tmp/health1"

start_agent 1 V100:2 --config "$tmp/agent1.conf" --health-check "$tmp/check"
start_agent 2 V100:2
node_field() {
	nodes_json | "$py" -c '
import json, sys
n = [n for n in json.load(sys.stdin)["nodes"] if n["name"] == sys.argv[1]]
print(n[0].get(sys.argv[2], "") if n else "")' "$1" "$2"
}
both_up() { [ "$(node_field node1 up)" = True ] && [ "$(node_field node2 up)" = True ]; }
wait_for 15 "both nodes up" both_up || exit 1

# 1. Unhealthy from the start.
reason=$(node_field node1 unhealthy)
[ "$reason" = "health check exited with status 3: GPU 1: 3 uncorrectable ECC errors" ] &&
	echo "ok: node1 registered unhealthy: $reason" || fail "node1's unhealthy: '$reason'"
row=$("$harectl" nodes | awk '$1 == "node1"')
echo "$row" | grep -q "^node1 *unhealthy .* GPU 1: 3 uncorrectable ECC errors (since " &&
	echo "ok: harectl nodes: $row" || fail "harectl nodes row: '$row'"
grep -q "node=node1 unhealthy: health check exited with status 3" "$tmp/agent1.log" &&
	logged "node=node1 unhealthy: health check exited with status 3" &&
	echo "ok: the agent and hared log it" || fail "logs do not say node1 is unhealthy"

submit() { "$harectl" submit --model resnet50 --gpus 2 --rounds 50000000 "$@"; }
placed_on() {
	"$harectl" show "$1" -o json 2>/dev/null | "$py" -c '
import json, sys
print(" ".join(sorted(set(p["node"] for p in json.load(sys.stdin).get("placement", [])))))'
}
a=$(submit --name a) || fail "submit a"
wait_for 15 "job $a to run" progressed "$a"
[ "$(placed_on "$a")" = node2 ] && echo "ok: job $a runs on node2 only" ||
	fail "job $a placed on '$(placed_on "$a")'"
b=$(submit --name b) || fail "submit b"
c=$("$harectl" submit --model resnet50 --gpus 4 --min-gpus 4 --rounds 50000000 --name c 2>"$tmp/c.err") ||
	fail "submit c: $(cat "$tmp/c.err")"
waiting=$("$harectl" show "$c" | sed -n 's/^waiting: *//p')
[[ "$waiting" == *"2 it can use are up now (up: 2xV100; 2 more on unhealthy nodes (their health check fails))"* ]] &&
	echo "ok: job $c, wider than the healthy nodes, waits: $waiting" || fail "job $c: waiting '$waiting'"
"$harectl" cancel "$c" >/dev/null
sleep 1
state_is "$b" QUEUED && echo "ok: job $b waits" || fail "job $b: $(field "$b" state)"

# 2. The check passes: node1 is back, and job b runs there.
echo ok >"$tmp/health1"
healthy() { [ -z "$(node_field node1 unhealthy)" ]; }
wait_for 10 "node1 to be healthy" healthy && echo "ok: node1 healthy again"
wait_for 15 "job $b to run" progressed "$b"
[ "$(placed_on "$b")" = node1 ] && echo "ok: job $b runs on node1" ||
	fail "job $b placed on '$(placed_on "$b")'"
logged "node=node1 healthy again" || fail "hared does not log node1 healthy again"

# 3. It fails again: job b moves off.
echo "fail nvidia-smi: GPU has fallen off the bus" >"$tmp/health1"
moved() { "$harectl" history "$b" | grep -q "moved off node node1, unhealthy (health check exited with status 3: nvidia-smi: GPU has fallen off the bus)"; }
wait_for 10 "job $b to move off node1" moved && echo "ok: job $b moved off node1, its history says why"
no_b() { [ "$(workers_of "$b")" = 0 ]; }
wait_for 10 "job $b's workers to stop" no_b
state_is "$b" QUEUED && [ "$(node_field node1 up)" = True ] &&
	echo "ok: job $b waits again while node1 is unhealthy" || fail "job $b: $(field "$b" state)"
counted() { metric 'hare_node_health_failures_total 2' && metric 'hare_nodes{state="unhealthy"} 1' &&
	metric 'hare_gpus{type="V100",state="unavailable"} 2'; }
wait_for 5 "the metrics to count two failures" counted && echo "ok: metrics count the failures" ||
	grep -E "health|hare_nodes|V100" "$tmp/hare.prom"

# 3b. A third failure within the hour: node1 is quarantined, until undrained.
echo ok >"$tmp/health1"
wait_for 10 "node1 to be healthy" healthy
echo "fail GPU 0: fan at 0 rpm" >"$tmp/health1"
want="quarantined by hared: health check failed 3 times within the hour (last: exited with status 3: GPU 0: fan at 0 rpm)"
quarantined() { [ "$(node_field node1 drain_reason)" = "$want" ] && metric 'hare_node_quarantines_total 1'; }
wait_for 10 "node1 to be quarantined" quarantined && logged "node=node1 $want; harectl undrain node1 gives it back" &&
	echo "ok: a third failure within the hour drains node1: $want" ||
	fail "node1 after a third failure: drained '$(node_field node1 drained)' reason '$(node_field node1 drain_reason)'"
"$harectl" undrain node1 >/dev/null || fail "undrain node1"
[ "$(node_field node1 drained)" = False ] && echo "ok: an undrain gives node1 back" ||
	fail "node1 still drained after undrain"
hist=$("$harectl" history --node node1 -o json | "$py" -c '
import json, sys
h = json.load(sys.stdin)
print(h["node"], " ".join(e["kind"] for e in h["events"]))
print([e["detail"] for e in h["events"] if e["kind"] == "node-drain"][-1])')
want_kinds="node1 node-up node-unhealthy node-healthy node-unhealthy node-healthy node-unhealthy node-drain node-undrain"
[ "$(echo "$hist" | head -1)" = "$want_kinds" ] && [ "$(echo "$hist" | sed -n 2p)" = "node1: $want" ] &&
	"$harectl" history --node node1 | grep -q "node-unhealthy  *health check exited with status 3: GPU 0: fan at 0 rpm$" &&
	echo "ok: harectl history --node node1 lists its ups, failures and the quarantine, with why" ||
	fail "history --node node1: '$hist' / $("$harectl" history --node node1 2>&1)"
out=$("$harectl" history --node nosuch 2>&1); rc=$?
[ $rc -eq 1 ] && [ "$out" = "harectl: unknown node 'nosuch' (harectl nodes lists them)" ] ||
	fail "history --node nosuch: exit $rc, '$out'"

# 4. A check that hangs is killed with what it started.
echo hang >"$tmp/health1"
timed_out() { [[ "$(node_field node1 unhealthy)" == "health check did not end within 2 s (killed): looking at GPU 0,1" ]]; }
wait_for 10 "the hung check to be killed" timed_out && echo "ok: a hung check is killed: $(node_field node1 unhealthy)"
sleep_pid=$(cat "$tmp/hang.pid" 2>/dev/null)
gone() { [ -n "$sleep_pid" ] && ! kill -0 "$sleep_pid" 2>/dev/null; }
wait_for 5 "the check's child to be killed too" gone && echo "ok: its child process was killed with it"

# 5. A restarted agent comes back unhealthy at once.
echo "fail disk /scratch is 99% full" >"$tmp/health1"
kill "${apid[1]}"
wait "${apid[1]}" 2>/dev/null
down() { [ "$(node_field node1 up)" = False ]; }
wait_for 10 "node1 down" down
start_agent 1 V100:2 --config "$tmp/agent1.conf" --health-check "$tmp/check"
back_sick() { [ "$(node_field node1 up)" = True ] && [[ "$(node_field node1 unhealthy)" == *"disk /scratch is 99% full" ]]; }
wait_for 15 "node1 back, unhealthy" back_sick && echo "ok: a restarted agent registers unhealthy"
state_is "$b" QUEUED || fail "job $b ran on a node whose check failed: $(field "$b" state)"

# 6. An agent restarted under running workers registers at once, before
# its first check ends (10 s here, past hared's reconnect_grace_s of 6 s:
# room for a loaded machine):
# the job keeps its lease.
echo ok >"$tmp/health1"
wait_for 10 "node1 to be healthy" healthy
wait_for 15 "job $b to run on node1" progressed "$b"
restarts=$(field "$b" restarts)
printf '[agent]\nhealth_check_interval_s = 1\nhealth_check_timeout_s = 10\n' >"$tmp/agent1.conf"
echo slow >"$tmp/health1"
kill "${apid[1]}"
wait "${apid[1]}" 2>/dev/null
wait_for 10 "node1 down" down
start_agent 1 V100:2 --config "$tmp/agent1.conf" --health-check "$tmp/check"
up1() { [ "$(node_field node1 up)" = True ]; }
wait_for 8 "node1 back before its first check ends" up1 &&
	echo "ok: an agent with workers to adopt registers before its first check ends"
grep -q "registering now (workers run here), its outcome follows" "$tmp/agent1.log" ||
	fail "agent1 does not say it registers at once"
rounds=$(field "$b" rounds_done)
sleep 7
[ "$(field "$b" restarts)" = "$restarts" ] && [ "$(placed_on "$b")" = node1 ] &&
	progressed "$b" "$rounds" && [ -z "$(node_field node1 unhealthy)" ] &&
	echo "ok: job $b kept its lease on node1 across the agent's restart" ||
	fail "job $b: restarts $(field "$b" restarts) (was $restarts), on '$(placed_on "$b")'"

# 7. Checks the agent does not run: it says why, and the node is unhealthy
# (a check that others may change would run their code as root); a
# relative path is a configuration error.
printf '[agent]\nhealth_check_interval_s = 1\nhealth_check_timeout_s = 2\n' >"$tmp/agent1.conf"
chmod 777 "$tmp/check"
refused() { [[ "$(node_field node1 unhealthy)" == "health check not run: mode 777 lets others change $tmp/check (chmod go-w it): it runs as the agent" ]]; }
wait_for 10 "a check others may write to to be refused" refused &&
	echo "ok: a check others may write to is not run: $(node_field node1 unhealthy)"
chmod 755 "$tmp/check"
start_agent 9 V100:1 --health-check "$tmp/nothing"
missing() { [[ "$(node_field node9 unhealthy)" == "health check not run: $tmp/nothing: No such file or directory" ]]; }
wait_for 10 "node9 unhealthy, its check missing" missing &&
	echo "ok: a missing check makes the node unhealthy: $(node_field node9 unhealthy)"
kill "${apid[9]}"
wait "${apid[9]}" 2>/dev/null
unset 'apid[9]'
out=$("$agent" --daemon "127.0.0.1:$port" --node node8 --gpus V100:1 --key-file "$tmp/key" \
	--work-dir "$tmp/w8" --health-check check 2>&1); rc=$?
[ $rc -eq 2 ] && [[ "$out" == *"health_check must be an absolute path"* ]] &&
	echo "ok: a relative check is refused (exit 2)" || fail "agent with a relative check: exit $rc, '$out'"

# 8. The example check (deploy/hare-health.example), with a stand-in
# nvidia-smi that prints what $tmp/smi.out holds and exits with $tmp/smi.rc.
example=$src/deploy/hare-health.example
mkdir -p "$tmp/bin"
printf '#!/bin/sh\ncat "%s/smi.out"\nexit $(cat "%s/smi.rc")\n' "$tmp" "$tmp" >"$tmp/bin/nvidia-smi"
chmod 755 "$tmp/bin/nvidia-smi"
run_example() {	# SMI_OUTPUT SMI_RC GPU_INDICES [ENV...]: "RC: LAST LINE"
	printf '%b' "$1" >"$tmp/smi.out"
	echo "$2" >"$tmp/smi.rc"
	local out rc
	out=$(env -i PATH="$tmp/bin:/usr/bin:/bin" HARE_GPU_INDICES="$3" HARE_GPUS_EMULATED=0 \
		HARE_WORK_DIR="$tmp" HARE_HEALTH_DISK_MAX=101 "${@:4}" sh "$example" 2>&1)
	rc=$?
	echo "$rc: $(echo "$out" | tail -n 1)"
}
expect_example() {	# WANT SMI_OUTPUT SMI_RC GPU_INDICES [ENV...]
	local got
	got=$(run_example "${@:2}")
	[ "$got" = "$1" ] || fail "example check ($2, exit $3, GPUs $4 ${*:5}): '$got', want '$1'"
}
f0=$failures
expect_example "0: " '0, 0\n1, 0\n' 0 0,1
expect_example "0: " '0, [N/A]\n' 0 0
expect_example "1: GPU 1: 3 uncorrectable ECC errors" '0, 0\n1, 3\n' 0 0,1
expect_example "1: GPU 1 is not listed by nvidia-smi (fallen off the bus?)" '0, 0\n' 0 0,1
expect_example "1: nvidia-smi failed (exit 9): NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver." \
	"NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\n" 9 0
expect_example "0: " '' 9 0 HARE_GPUS_EMULATED=1
got=$(run_example '0, 0\n' 0 0 HARE_HEALTH_DISK_MAX=0)
[[ "$got" == "1: $tmp is "*"% full (the limit is 0%)" ]] || fail "example check, disk: '$got'"
got=$(env -i PATH=/nonexistent HARE_GPU_INDICES=0 HARE_WORK_DIR="$tmp" /bin/sh "$example" 2>&1; echo "rc $?")
[[ "$got" == *"nvidia-smi not found"*"rc 1" ]] || fail "example check without nvidia-smi: '$got'"
[ "$failures" -eq "$f0" ] &&
	echo "ok: the example check judges missing GPUs, ECC errors, nvidia-smi's failures and the disk"

"$harectl" cancel "$a" "$b" >/dev/null
it_finish "health check"
