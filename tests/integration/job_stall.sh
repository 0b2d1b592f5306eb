#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A hung worker (SIGSTOP: a deadlocked all-reduce looks the same from
# outside) stops reporting rounds: after stall_timeout_s hared counts a
# failure, stops the lease (SIGKILL after the agent's grace), and runs the
# job again; show and history say why. On one emulated V100.
# Usage: job_stall.sh BUILD_DIR SOURCE_DIR (exit 77: a binary missing).
set -u

. "$(dirname "${BASH_SOURCE[0]}")/lib/cluster.bash"
it_setup "$@"

one_v100 stall_timeout_s=2 retry_backoff_s=0.1
job=$("$harectl" submit --model resnet50 --gpus 1 --rounds 100000000 --name hangs) || fail "submit"
wait_for 20 "job $job to run" progressed "$job"
# its worker: the process in node1's work dir running this job's lease
pid=""
for p in /proc/[0-9]*; do
	in_work_dir "$p" || continue
	mapfile -d '' args <"$p/cmdline" 2>/dev/null || continue
	case " ${args[*]} " in *" --job=$job --lease="*) pid=${p#/proc/} ;; esac
done
[ -n "$pid" ] || fail "no worker of job $job found"
kill -STOP "$pid"
stalled() { "$harectl" history "$job" | grep -q "no progress: no round for [0-9]* s after round [0-9]* (stall_timeout_s 2) on node node1; its workers were stopped (hung?)"; }
wait_for 20 "hared to see the stall" stalled && echo "ok: a stalled lease is a failure after stall_timeout_s"
gone() { ! kill -0 "$pid" 2>/dev/null || [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = Z ]; }
wait_for 20 "the hung worker to be killed" gone && echo "ok: the hung worker was killed"
wait_for 20 "job $job to run again" progressed "$job" &&
	"$harectl" show "$job" | grep -q "^last_error:  no progress: no round for" &&
	echo "ok: the job runs again; show's last_error says why"
kill -CONT "$pid" 2>/dev/null
"$harectl" cancel "$job" >/dev/null
it_finish "job stall"
