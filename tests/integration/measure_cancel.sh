#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Measurements nobody needs end, end to end (emulated H100s, a type the
# shipped profile lacks, measured on the CPU engine). (1) An agent killed
# with SIGKILL while it measures takes its hare-worker --profile with it
# (--parent-pid), and its next start measures again. (2) node1's agent is
# stopped (SIGSTOP) while it measures and hared restarts; node2 registers
# and measures H100 meanwhile. When node1 comes back, its Register says it
# still measures H100: hared tells it to stop (ProfileCancel), the
# measurement ends, node1 answers that it was cancelled (no rows), and its
# H100 is planned on from then: two jobs for H100 run on both nodes.
# Usage: measure_cancel.sh BUILD_DIR SOURCE_DIR (exit 77: a binary missing).
set -u

. "$(dirname "${BASH_SOURCE[0]}")/lib/cluster.bash"
it_setup "$@"

conf=(time_scale=1 max_retries=1 retry_backoff_s=0.5 measure_models=ncf log_level=debug)
write_conf 0 "${conf[@]}"
start_hared
write_conf "$port" "${conf[@]}"	# a restarted hared comes back on the same port
# node1 would measure for many minutes; node2 in a second or two
printf '[agent]\nprofile_unknown = yes\nprofile_iters = 100000\n' >"$tmp/slow.conf"
printf '[agent]\nprofile_unknown = yes\nprofile_iters = 20\n' >"$tmp/fast.conf"

# profile_pid N: the pid of agent N's latest hare-worker --profile
profile_pid() { sed -n 's/.*profile start type=H100 .* pid=\([0-9]*\).*/\1/p' "$tmp/agent$1.log" | tail -1; }
# gone PID: no such process, or a zombie nobody reaped yet
gone() { [ ! -e "/proc/$1" ] || [ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" = Z ]; }
running() { [ -n "$1" ] && ! gone "$1"; }
# the last profile worker seen, in case the test fails with it running
it_extra_kill() { local p; for p in $(profile_pid 1) $(profile_pid 2); do kill -9 "$p" 2>/dev/null; done; }

# 1. SIGKILL of a measuring agent ends its measurement.
start_agent 1 H100:1 --worker-engine cpu --config "$tmp/slow.conf"
first_pid() { p1=$(profile_pid 1); running "$p1"; }
wait_for 10 "node1 to be asked" logged "node=node1 measures GPU type H100 (hare-worker" &&
	wait_for 5 "node1's profile worker" first_pid
sleep 0.5	# well into its measuring
running "$p1" || fail "node1's hare-worker --profile ($p1) ended by itself"
kill -KILL "${apid[1]}"; wait "${apid[1]}" 2>/dev/null
gone_p1() { gone "$p1"; }
wait_for 5 "the measurement of the killed agent to end" gone_p1 &&
	echo "ok: SIGKILL of node1's agent ended its hare-worker --profile (pid $p1) with it"
start_agent 1 H100:1 --worker-engine cpu --config "$tmp/slow.conf"
asked_twice() { [ "$(grep -c "node=node1 measures GPU type H100 (hare-worker" "$tmp/hared.log")" = 2 ]; }
new_pid() { p=$(profile_pid 1); [ -n "$p" ] && [ "$p" != "$p1" ] && running "$p"; }
wait_for 10 "node1 to be asked again" asked_twice &&
	wait_for 5 "node1's new profile worker" new_pid &&
	echo "ok: node1's agent, started again, was asked again and measures (pid $(profile_pid 1))"
p2=$(profile_pid 1)

# 2. node1 still measures when node2's rows make H100 known.
kill -STOP "${apid[1]}"
kill -TERM "$hpid"; wait "$hpid" 2>/dev/null
start_hared
start_agent 2 H100:1 --worker-engine cpu --config "$tmp/fast.conf"
wait_for 60 "node2 to measure H100" logged "node=node2 measured GPU type H100: 16 rows saved" &&
	echo "ok: node2 measured H100 while node1's agent was stopped"
running "$p2" || fail "node1's measurement (pid $p2) ended while its agent was stopped"
kill -CONT "${apid[1]}"
wait_for 30 "hared to cancel node1's measurement" logged "node=node1 stops measuring GPU type H100: the profile has it already" &&
	echo "ok: node1 registered still measuring H100 and was told to stop"
gone_p2() { gone "$p2"; }
wait_for 5 "node1's measurement to end" gone_p2 &&
	grep -q "profile cancelled type=H100" "$tmp/agent1.log" &&
	echo "ok: node1's hare-worker --profile (pid $p2) ended on the cancel" ||
	fail "node1's agent log: $(grep 'profile cancel' "$tmp/agent1.log")"
wait_for 5 "node1's answer" logged "node=node1 stopped measuring GPU type H100 (cancelled); its GPUs are free" &&
	echo "ok: node1 answered that its measurement was cancelled"
node1_free() { [ "$(node_gpus node1)" = "H100:0:0" ]; }
wait_for 5 "node1's H100 profiled and not measuring" node1_free &&
	echo "ok: node1's H100 is profiled and not measuring"
sleep 1	# a result node1 might still send would be here by now
logged "node=node1 measured GPU type H100" && fail "node1 sent rows after the cancel"
[ "$(grep -c '^# GPU type H100 measured' "$tmp/state/measured-throughput.csv")" = 1 ] &&
	echo "ok: only node2's rows are saved" || fail "measured file: $(grep '^#' "$tmp/state/measured-throughput.csv")"

# both H100s are planned on: two jobs for H100 start, one on each node
jobs=()
for i in 1 2; do
	id=$("$harectl" submit --model ncf --gpus 1 --rounds 2000 --gpu-types H100 --name "h100-$i") ||
		fail "submit for H100"
	jobs+=("$id")
done
started() { grep -q "task start job=$1 " "$tmp/agent1.log" || grep -q "task start job=$1 " "$tmp/agent2.log"; }
both_nodes() {
	for id in "${jobs[@]}"; do started "$id" || return 1; done
	grep -q "task start job=" "$tmp/agent1.log" && grep -q "task start job=" "$tmp/agent2.log"
}
wait_for 20 "the H100 jobs to start on both nodes" both_nodes &&
	echo "ok: jobs ${jobs[*]} for H100 started, one on node1's H100 and one on node2's"
"$harectl" cancel "${jobs[@]}" >/dev/null || fail "cancel"

it_finish "measure cancel"
