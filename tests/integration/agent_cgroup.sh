#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Each worker in a cgroup of its own (agent.conf cgroup = auto), end to end
# on one emulated V100: a job's command starts a process in a session of
# its own that ignores SIGTERM (out of its process group, which the group's
# signals miss). Cancelling the job kills it; so does cancelling a job
# whose agent restarted meanwhile (the new agent adopts the worker's cgroup
# from its task state); the agent's folder under its cgroup is gone once
# the agent stopped with no worker left. Skipped (77) where the agent may
# make no cgroup v2 (it then says why in its log).
# Usage: agent_cgroup.sh BUILD_DIR SOURCE_DIR (exit 77: a binary missing).
set -u

. "$(dirname "${BASH_SOURCE[0]}")/lib/cluster.bash"
it_setup "$@"

one_v100 max_retries=0 retry_backoff_s=0.1 reconnect_grace_s=20
base=$(sed -n "s/.*tracks each task's processes in a cgroup of its own under //p" \
	"$tmp/agent1.log" | head -1)
if [ -z "$base" ]; then
	grep "tracks each task's processes" "$tmp/agent1.log"
	echo "skip: the agent makes no cgroup here"
	exit 77
fi
echo "ok: the agent tracks tasks in cgroups under $base"
# emulated GPUs have no device files: not isolated, said in the agent's log
# and by harectl nodes -o json (Register.gpus_isolated)
grep -q "agent does not isolate GPUs (constrain_devices = auto): the node's GPUs are emulated" \
	"$tmp/agent1.log" || fail "the agent's log does not say why it does not isolate GPUs"
nodes_json | grep -q '"name":"node1","up":true.*"gpus_isolated":false' ||
	fail "harectl nodes -o json: $(nodes_json)"
echo "ok: emulated GPUs are not isolated, and the log and harectl nodes -o json say so"

# submit_escaping NAME: a job whose command starts the escaping process
# (its pid to $tmp/NAME) and then runs on; prints the job id.
submit_escaping() {
	local cmd="setsid sh -c 'trap \"\" TERM; echo \$\$ >$tmp/$1.t; mv $tmp/$1.t $tmp/$1; exec sleep 300' </dev/null >/dev/null 2>&1 & while :; do sleep 0.1; done"
	"$harectl" submit --model lm --gpus 1 --rounds 100 --gpu-types V100 --command "$cmd"
}
alive() { [ -d "/proc/$1" ] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }
gone() { ! alive "$1"; }

# 1. Cancelled: the process that left the worker's group goes with it.
id=$(submit_escaping esc1) || fail "submit"
wait_for 10 "job $id's command to start its escaping process" test -s "$tmp/esc1" || exit 1
pid=$(cat "$tmp/esc1")
cg=$(sed -n 's/^0:://p' "/proc/$pid/cgroup")
case "$cg" in
*"/$(basename "$base")/worker.$id."*".0") echo "ok: the escaping process (pid $pid) is in its worker's cgroup ${cg##*/}" ;;
*) fail "pid $pid is in cgroup '$cg', not a worker's of job $id under $base" ;;
esac
"$harectl" cancel "$id" >/dev/null || fail "cancel $id"
wait_for 10 "job $id to be cancelled" state_is "$id" CANCELLED
wait_for 5 "the escaping process $pid to be killed" gone "$pid" &&
	echo "ok: cancelling job $id killed the process that had left its group"

# 2. The agent restarts in between: the new one adopts the cgroup.
id=$(submit_escaping esc2) || fail "submit"
wait_for 10 "job $id's command to start its escaping process" test -s "$tmp/esc2" || exit 1
pid=$(cat "$tmp/esc2")
kill "${apid[1]}"
timeout 10 tail --pid="${apid[1]}" -f /dev/null
grep -q "^cgroup=.*/worker\.$id\.[0-9]*\.0$" "$tmp"/w1/tasks/"$id".*.task ||
	fail "the task state of job $id names no worker cgroup"
alive "$pid" || fail "the agent's stop killed job $id's process"
start_agent 1 V100:1
wait_for 10 "node1 to register again" one_v100_up
"$harectl" cancel "$id" >/dev/null || fail "cancel $id"
wait_for 10 "job $id to be cancelled" state_is "$id" CANCELLED
# it holds the worker's report pipe: the adopted task ends once the stop's
# grace (5 s) has passed and its pipe is given 1 s more
wait_for 15 "the escaping process $pid to be killed" gone "$pid" &&
	echo "ok: after the agent's restart, cancelling job $id killed the process that had left its group"

# 3. Stopped with nothing left: the agent's cgroup folder is removed.
sleep 0.5
kill "${apid[1]}"
timeout 10 tail --pid="${apid[1]}" -f /dev/null
[ ! -d "$base" ] && echo "ok: the agent's cgroup folder is removed at its stop" ||
	fail "$base is left: $(ls "$base")"

it_finish "agent cgroup"
