#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Restarts under running jobs, on three emulated agents (V100:2, V100:2,
# T4:2) at time_scale 1000: a job across two nodes and a job with uneven
# tasks per GPU run; one agent restarts (its workers keep their lease: no
# restart counted, progress goes on); then hared restarts and adopts both
# leases exactly (same lease, GPUs and tasks per GPU) before the grace
# period is over. A job whose worker ends at its last round while hared is
# down (kill -9) is DONE when hared is back, not run again.
# Usage: daemon_restart.sh BUILD_DIR SOURCE_DIR (exit 77: a binary missing).
set -u

. "$(dirname "${BASH_SOURCE[0]}")/lib/cluster.bash"
it_setup "$@"
grace=8
wait_poll_s=0.1

# info JOB: "STATE ROUNDS_DONE RESTARTS PLACEMENT", the placement as sorted
# node/index/type*tasks words, in one request (read st rd rs pl <<<...).
info() {
	"$harectl" show "$1" -o json 2>/dev/null | "$py" -c '
import json, sys
j = json.load(sys.stdin)
p = sorted("%s/%d/%s*%d" % (g["node"], g["gpu_index"], g["gpu_type"], g["tasks"])
           for g in j.get("placement", []))
print(j.get("state", "?"), j.get("rounds_done", 0), j.get("restarts", 0), " ".join(p))'
}

running_with_progress() {
	local st rd rs pl
	read -r st rd rs pl <<<"$(info "$1")"
	[ "$st" = RUNNING ] && [ "$rd" -gt 0 ]
}
progress_beyond() {
	local st rd rs pl
	read -r st rd rs pl <<<"$(info "$1")"
	[ "$rd" -gt "$2" ]
}
log_after() { tail -n +"$(($1 + 1))" "$tmp/hared.log"; }
log_has() { log_after "$1" | grep -qE "$2"; }

conf=(reconnect_grace_s="$grace" heartbeat_timeout_s=10 log_level=debug)
write_conf 0 "${conf[@]}"
start_hared
write_conf "$port" "${conf[@]}"	# the restarted daemon comes back on the same port
start_agent 1 V100:2
start_agent 2 V100:2
start_agent 3 T4:2

nodes_up() {
	[ "$("$harectl" nodes -o json 2>/dev/null | "$py" -c '
import json, sys
print(sum(n["up"] for n in json.load(sys.stdin)["nodes"]))')" = 3 ]
}
wait_for 10 "3 agents" nodes_up

wide=$("$harectl" submit --model resnet50 --gpus 4 --min-gpus 4 --gpu-types V100 \
	--rounds 2000000 --name wide) || fail "submit wide"
split=$("$harectl" submit --model lm --gpus 3 --min-gpus 2 --max-gpus 2 --gpu-types T4 \
	--rounds 2000000 --name split) || fail "submit split"
wait_for 10 "both jobs to run" eval "running_with_progress $wide && running_with_progress $split"
read -r _ _ _ pw <<<"$(info "$wide")"
read -r _ _ _ ps <<<"$(info "$split")"
case "$pw" in *node1/*node2/*) ;; *) fail "job $wide is not on node1 and node2: $pw" ;; esac
[ "$(echo "$ps" | grep -o '\*[0-9]*' | sort | tr -d '\n')" = "*1*2" ] ||
	fail "job $split should run 2+1 tasks on two T4: $ps"
lease_w=$(sed -n "s/.*job=$wide lease=\([0-9]*\) start.*/\1/p" "$tmp/hared.log")
lease_s=$(sed -n "s/.*job=$split lease=\([0-9]*\) start.*/\1/p" "$tmp/hared.log")
[ "$(echo "$lease_w" | wc -w)" = 1 ] || fail "job $wide has leases '$lease_w'"
echo "ok: job $wide on $pw, job $split on $ps ($(($(date +%s) - t0))s)"

# 1. node2's agent restarts: its worker of job $wide is adopted by the new
# agent and keeps its lease (no TaskStop, no new lease, no restart).
mark=$(wc -l <"$tmp/hared.log")
kill -TERM "${apid[2]}"
wait "${apid[2]}"
log_has "$mark" "job=$wide lease=$lease_w waits up to" || fail "job $wide did not wait for node2"
read -r st _ _ _ <<<"$(info "$wide")"
[ "$st" = RUNNING ] || fail "job $wide is $st while node2 is away"
start_agent 2 V100:2
wait_for 10 "job $wide to go on" log_has "$mark" "job=$wide lease=$lease_w goes on"
read -r _ r1 _ _ <<<"$(info "$wide")"
wait_for 10 "job $wide to progress after the agent restart" progress_beyond "$wide" "$((r1 + 1000))"
grep -q "task adopt job=$wide lease=$lease_w" "$tmp/agent2.log" || fail "node2 did not adopt its worker"
grep -h "reason=" "$tmp"/agent*.log | grep -q "job=$wide " && fail "a worker of job $wide was stopped"
log_has "$mark" "job=$wide lease=[0-9]* (start|requeue|node-down|preempt)" &&
	fail "job $wide changed lease across the agent restart"
read -r st rd rs pl <<<"$(info "$wide")"
[ "$rs" = 0 ] || fail "job $wide counts $rs restarts"
[ "$pl" = "$pw" ] || fail "job $wide moved: $pw -> $pl"
[ $failures -eq 0 ] && echo "ok: agent restart kept job $wide's lease; $r1 -> $rd rounds"

# 2. hared restarts: both leases are adopted as they run, as soon as every
# rank is back (well within the grace period).
mark=$(wc -l <"$tmp/hared.log")
kill -TERM "$hpid"
wait "$hpid" || fail "hared exited with $? on SIGTERM"
t1=$(date +%s)
start_hared
wait_for $((grace - 2)) "the adoption to end the grace period early" \
	log_has "$mark" "every running lease is back"
took=$(($(date +%s) - t1))
log_has "$mark" "job=$wide lease=$lease_w adopted ranks=4" || fail "job $wide not adopted with its lease"
log_has "$mark" "job=$split lease=$lease_s adopted ranks=2" || fail "job $split not adopted with its lease"
log_has "$mark" "guessed" && fail "an adoption guessed GPUs or tasks"
read -r st rd rs pl <<<"$(info "$wide")"
[ "$pl" = "$pw" ] || fail "job $wide adopted on $pl, ran on $pw"
[ "$st $rs" = "RUNNING 0" ] || fail "job $wide is $st with $rs restarts after the daemon restart"
read -r st r2 rs pl <<<"$(info "$split")"
[ "$pl" = "$ps" ] || fail "job $split adopted on $pl, ran on $ps"
[ "$st $rs" = "RUNNING 0" ] || fail "job $split is $st with $rs restarts after the daemon restart"
wait_for 10 "job $split to progress after the daemon restart" progress_beyond "$split" "$((r2 + 1000))"
log_has "$mark" "job=($wide|$split) lease=[0-9]* (start|requeue|preempt)" &&
	fail "a job changed lease across the daemon restart"
grep -h "reason=" "$tmp"/agent*.log | grep -qE "job=($wide|$split) " && fail "a worker was stopped"
[ $failures -eq 0 ] && echo "ok: hared restart adopted both leases exactly in ${took}s (grace ${grace}s)"

# 3. Cancel: the adopted workers stop.
[ "$(workers_of "$wide")" = 4 ] && [ "$(workers_of "$split")" = 2 ] ||
	fail "expected 4 + 2 workers, found $(workers_of "$wide") + $(workers_of "$split")"
"$harectl" cancel "$wide" "$split" >/dev/null || fail "cancel"
no_workers() { [ "$(workers_of "$wide")" = 0 ] && [ "$(workers_of "$split")" = 0 ]; }
wait_for 8 "the workers to exit" no_workers

# 4. A job whose worker runs to its last round while hared is down is
# DONE when hared is back: not run again, no restart counted.
fin=$("$harectl" submit --model resnet50 --gpus 1 --gpu-types V100 --rounds 15000 --name fin) ||
	fail "submit fin"
wait_for 10 "job $fin to run" progressed "$fin"
kill -KILL "$hpid"
wait "$hpid" 2>/dev/null
exited() { grep -q "task exit job=$fin .*status=0" "$tmp"/agent*.log; }
wait_for 20 "job $fin's worker to end while hared is down" exited
mark=$(wc -l <"$tmp/hared.log")
start_hared
wait_for 10 "job $fin to be DONE" state_is "$fin" DONE
read -r st rd rs _ <<<"$(info "$fin")"
[ "$st $rd $rs" = "DONE 15000 0" ] || fail "job $fin after the restart: $st, $rd rounds, $rs restarts"
log_has "$mark" "job=$fin lease=[0-9]* (start|requeue)" && fail "job $fin ran again after the restart"
"$harectl" history "$fin" | grep -q "its worker ended while hared restarted" ||
	fail "job $fin's history: $("$harectl" history "$fin")"
[ $failures -eq 0 ] && echo "ok: a job that ended while hared was down is DONE, not run again"

grep -qE "Sanitizer|runtime error" "$tmp/hared.log" && fail "sanitizer report in the hared log"
if [ $failures -ne 0 ]; then
	echo "--- hared log (tail)"; grep -v "conn=" "$tmp/hared.log" | tail -40
	exit 1
fi
echo "all restart checks passed in $(($(date +%s) - t0))s"
