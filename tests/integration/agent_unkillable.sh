#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A process that SIGKILL does not end (agent.conf unkillable_timeout_s),
# end to end on one emulated V100: a job's command starts a process that
# the test then freezes with the cgroup v1 freezer, where SIGKILL leaves it
# in state D until thawed, as a process stuck in a driver call is. When
# the job is cancelled, the agent waits for it, the next job does not get
# the GPU meanwhile, and after unkillable_timeout_s (2 s) hared drains the
# node naming the process (harectl nodes, the metrics); once thawed it
# dies, and the node undrained runs the next job (a lease that waited for
# the GPU is not started on the node the exit drains). Skipped (77) where no
# cgroup v1 freezer may be written (a cgroup v2 only host: its freezer
# lets SIGKILL through).
# Usage: agent_unkillable.sh BUILD_DIR SOURCE_DIR (exit 77: a binary missing).
set -u

. "$(dirname "${BASH_SOURCE[0]}")/lib/cluster.bash"
it_setup "$@"

freezer=/sys/fs/cgroup/freezer/hare-it-unkillable.$$
if ! mkdir "$freezer" 2>/dev/null; then
	echo "skip: no cgroup v1 freezer to write here"
	exit 77
fi
# thawed and removed however the test ends (it_cleanup calls this)
it_extra_kill() {
	[ -d "$freezer" ] || return 0
	echo THAWED >"$freezer/freezer.state" 2>/dev/null
	local p
	for p in $(cat "$freezer/cgroup.procs" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
	for _ in $(seq 50); do rmdir "$freezer" 2>/dev/null && break; sleep 0.1; done
}

conf=(max_retries=0 retry_backoff_s=0.1 "metrics_file=$tmp/hare.prom" metrics_interval_s=1)
write_conf 0 "${conf[@]}"
start_hared
write_conf "$port" "${conf[@]}"
printf '[agent]\nunkillable_timeout_s = 2\nstop_grace_ms = 300\n' >"$tmp/agent1.conf"
start_agent 1 V100:1 --config "$tmp/agent1.conf"
up1() { [ "$(node_gpus node1)" = "V100:0:0" ]; }
wait_for 10 "node1 to register" up1 || exit 1

alive() { [ -d "/proc/$1" ] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }
gone() { ! alive "$1"; }

# 1. A job whose command starts a process (its pid to $tmp/kid), which
# closes the report pipe and sleeps; frozen, it outlives SIGKILL.
cmd="sh -c 'eval \"exec \$HARE_REPORT_FD>&-\"; echo \$\$ >$tmp/kid.t; mv $tmp/kid.t $tmp/kid; exec sleep 300' </dev/null >/dev/null 2>&1 & while :; do sleep 0.1; done"
a=$("$harectl" submit --model lm --gpus 1 --rounds 100000 --gpu-types V100 --command "$cmd") ||
	fail "submit"
wait_for 10 "job $a's command to start its process" test -s "$tmp/kid" || exit 1
kid=$(cat "$tmp/kid")
echo "$kid" >"$freezer/cgroup.procs" && echo FROZEN >"$freezer/freezer.state" ||
	fail "cannot freeze pid $kid"
frozen() { grep -q FROZEN "$freezer/freezer.state"; }
wait_for 5 "pid $kid to be frozen" frozen || exit 1
b=$("$harectl" submit --model resnet50 --gpus 1 --rounds 2000 --name next) || fail "submit next"
"$harectl" cancel "$a" >/dev/null || fail "cancel $a"

# 2. The agent waits for it; the GPU goes to no other job meanwhile.
waiting() { grep -q "job=$a .*1 process alive 1 s after SIGKILL: $kid sleep (D); waiting up to 2 s" "$tmp/agent1.log"; }
wait_for 5 "the agent to wait for pid $kid" waiting &&
	echo "ok: the agent waits for pid $kid (state D after SIGKILL)" ||
	{ fail "the agent does not say it waits"; grep "job=$a" "$tmp/agent1.log"; }
alive "$kid" || fail "pid $kid is gone: it was not frozen"
state_is "$b" RUNNING && fail "job $b runs on the GPU a process of job $a still holds"

# 3. After 2 s: the exit goes with a node fault, node1 is drained.
want="processes alive 2 s after SIGKILL: $kid sleep (D) (job $a rank 0)"
drained() { [ "$(drain_reason node1)" = "$want" ]; }
wait_for 10 "node1 to be drained" drained && echo "ok: node1 drained: $want" ||
	fail "node1's drain reason: '$(drain_reason node1)'"
counted() { metric 'hare_prolog_epilog_failures_total 1'; }
wait_for 5 "the metrics to count the node fault" counted && echo "ok: the metrics count it" ||
	grep prolog_epilog "$tmp/hare.prom"
state_is "$a" CANCELLED && echo "ok: job $a is CANCELLED" || fail "job $a: $(field "$a" state)"
"$harectl" history --node node1 | grep -q "node-drain .*processes alive 2 s after SIGKILL: $kid sleep (D)" &&
	echo "ok: node1's history has the drain" || { fail "node1's history:"; "$harectl" history --node node1; }
# the exit freed the GPU and drained the node at once: job b, which
# waited for that GPU, must not start there
sleep 0.5
grep -q "task start job=$b " "$tmp/agent1.log" &&
	fail "job $b was started on node1 as it was drained"
state_is "$b" QUEUED && echo "ok: job $b waits, queued" || fail "job $b: $(field "$b" state)"

# 4. Thawed, it dies; undrained, node1 runs the next job.
echo THAWED >"$freezer/freezer.state"
wait_for 5 "pid $kid to die once thawed" gone "$kid" && echo "ok: pid $kid died once thawed"
"$harectl" undrain node1 >/dev/null || fail "undrain node1"
"$harectl" wait --max-wait 30s "$b" >/dev/null 2>&1 && echo "ok: job $b DONE on node1 once undrained" ||
	fail "job $b: $(field "$b" state)"

it_finish "unkillable process"
