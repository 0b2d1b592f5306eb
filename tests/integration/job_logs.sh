#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Workers' output, end to end. (1) A --command job that prints and fails:
# its output is in the node's file for its rank, between the agent's lines
# that say when and where each lease started and how it ended;
# harectl show quotes its last line in last_error; harectl logs prints it
# (control characters masked), --lines, --rank and bad requests. (2) A job
# moved from node1 to node2 (drain, as root): logs prints both nodes'
# files, oldest first; a node whose agent does not answer is named after
# the 5 s timeout, and one that is down is named at once. logs -f goes on
# across a restart of hared.
# Usage: job_logs.sh BUILD_DIR SOURCE_DIR (exit 77: a binary missing).
set -u

. "$(dirname "${BASH_SOURCE[0]}")/lib/cluster.bash"
it_setup "$@"

write_conf 0 time_scale=1 max_retries=1 retry_backoff_s=1 log_level=debug
start_hared
start_agent 1 V100:1
up() { [ "$(node_gpus "$1")" = "V100:0:0" ]; }
wait_for 10 "node1 to register" up node1

state_of() { field "$1" state; }
state_is() { [ "$(state_of "$1")" = "$2" ]; }

# 1. A job that fails twice (max_retries = 1), saying why on stderr.
cmd='echo "hello from rank $HARE_RANK"; printf "\033[31mred\033[0m\n"; echo "ValueError: boom" >&2; exit 3'
id=$("$harectl" submit --model lm --gpus 1 --rounds 10 --gpu-types V100 --command "$cmd") ||
	fail "submit the failing job"
wait_for 20 "job $id to fail" state_is "$id" FAILED
file="$tmp/w1/logs/job-$id.rank-0.log"
[ -f "$file" ] || fail "no output file $file"
[ "$(grep -c "^hare-agent .*: job $id lease [0-9]* rank 0/1 on node node1 GPU 0 (V100), rounds 0\.\.10$" "$file")" = 2 ] ||
	fail "expected 2 lease lines in $file: $(cat "$file")"
[ "$(grep -c '^ValueError: boom$' "$file")" = 2 ] || fail "stderr not in $file"
# retry_backoff_s = 1: the second lease started a second or more after the first
starts=$(sed -n 's/^hare-agent \([^ ]*\): job [0-9]* lease [0-9]* rank 0\/1 on .*/\1/p' "$file")
gap=$(( $(date -d "$(echo "$starts" | sed -n 2p)" +%s) - $(date -d "$(echo "$starts" | sed -n 1p)" +%s) ))
[ "$gap" -ge 1 ] && echo "ok: the retry waited (leases ${gap} s apart)" || fail "leases $gap s apart: $starts"
[ "$(grep -c "^hare-agent .*: job $id lease [0-9]* rank 0 failed: exited with code 3$" "$file")" = 2 ] ||
	fail "expected 2 lines saying how the leases ended in $file: $(cat "$file")"
err=$(field "$id" last_error)
case "$err" in
*"(exit code 3; last output: ValueError: boom); 2 failures, giving up") echo "ok: show's last_error quotes the output: $err" ;;
*) fail "last_error is '$err'" ;;
esac

out=$("$harectl" logs "$id" 2>"$tmp/logs.err"); rc=$?
[ $rc -eq 0 ] || fail "harectl logs exited $rc: $(cat "$tmp/logs.err")"
[ "$out" = "$(sed 's/\x1b/?/g' "$file")" ] || fail "logs printed '$out', the file holds '$(cat "$file")'"
printf '%s' "$out" | grep -q $'\x1b' && fail "logs printed an escape character"
printf '%s\n' "$out" | grep -qx '?\[31mred?\[0m' && [ ! -s "$tmp/logs.err" ] &&
	echo "ok: harectl logs printed the whole file (2 leases), escapes masked" ||
	fail "logs output or stderr wrong: $(cat "$tmp/logs.err")"
last=$("$harectl" logs "$id" -n 2)
[ "$last" = "$(tail -n 2 "$file")" ] && [ "$(echo "$last" | head -1)" = "ValueError: boom" ] &&
	echo "ok: logs -n 2 printed the last 2 lines" || fail "logs -n 2 printed '$last'"
part=$("$harectl" logs "$id" --bytes 30 2>"$tmp/logs.err")
[ "$part" = "$(tail -c 30 "$file")" ] && grep -q "older output not shown" "$tmp/logs.err" &&
	echo "ok: logs --bytes 30 printed the last 30 bytes and said older output was left out" ||
	fail "logs --bytes 30 printed '$part' / '$(cat "$tmp/logs.err")'"

expect_fail() {	# expect_fail STATUS MESSAGE ARGS...
	local want=$1 msg=$2 got
	shift 2
	got=$("$harectl" logs "$@" 2>&1); rc=$?
	[ $rc -eq "$want" ] && [[ "$got" == *"$msg"* ]] || fail "harectl logs $*: exit $rc, '$got'"
}
expect_fail 1 "job $id has only rank 0; there is no rank 1" "$id" --rank 1
expect_fail 1 "no job 9999" 9999
expect_fail 2 "--bytes must be between 1 and 1048576" "$id" --bytes 0
expect_fail 2 "missing job id" --rank 0
[ $failures -eq 0 ] && echo "ok: bad requests refused (rank, job, --bytes, no id)"

# --follow from before the job starts to after it FAILED: every line of
# both leases once, in order, then exit 0.
cmd='for i in 1 2 3 4 5; do echo "tick $i"; sleep 0.3; done; exit 1'
fid=$("$harectl" submit --model lm --gpus 1 --rounds 10 --gpu-types V100 --command "$cmd")
timeout 60 "$harectl" logs -f "$fid" >"$tmp/follow.out" 2>"$tmp/follow.err"; rc=$?
ffile="$tmp/w1/logs/job-$fid.rank-0.log"
if [ $rc -eq 0 ] && [ "$(state_of "$fid")" = FAILED ] &&
	[ "$(grep -v '^==> node ' "$tmp/follow.out" | grep -v '^$')" = "$(cat "$ffile")" ] &&
	[ "$(grep -c '^tick' "$tmp/follow.out")" = 10 ]; then
	echo "ok: logs -f printed both leases' $(wc -l <"$ffile") lines as they came and ended with the job"
else
	fail "logs -f: exit $rc, state $(state_of "$fid"), printed '$(cat "$tmp/follow.out")' / '$(cat "$tmp/follow.err")', file '$(cat "$ffile")'"
fi
# a job is DONE once its last round is reported; what its program prints
# after that (saving a model ...) is followed to the end too
cmd='printf "round 0 10 1 1 1\n" >&$HARE_REPORT_FD; sleep 1.5; echo "saving model"; sleep 1; echo bye; printf "done 10\n" >&$HARE_REPORT_FD'
did=$("$harectl" submit --model lm --gpus 1 --rounds 10 --gpu-types V100 --command "$cmd")
timeout 60 "$harectl" logs -f "$did" >"$tmp/follow.out" 2>"$tmp/follow.err"; rc=$?
dfile="$tmp/w1/logs/job-$did.rank-0.log"
if [ $rc -eq 0 ] && [ "$(state_of "$did")" = DONE ] && grep -qx bye "$tmp/follow.out" &&
	[ "$(grep -v '^==> node ' "$tmp/follow.out" | grep -v '^$')" = "$(cat "$dfile")" ]; then
	echo "ok: logs -f of a job DONE before its program ended printed it to the agent's last line"
else
	fail "logs -f after DONE: exit $rc, state $(state_of "$did"), printed '$(cat "$tmp/follow.out")' / '$(cat "$tmp/follow.err")', file '$(cat "$dfile")'"
fi

# logs -f goes on across a restart of hared (it reconnects), to the end
write_conf "$port" time_scale=1 max_retries=1 retry_backoff_s=1 log_level=debug reconnect_grace_s=20
cmd='echo before; sleep 5; echo after; printf "round 0 10 1 1 1\ndone 10\n" >&$HARE_REPORT_FD'
rid=$("$harectl" submit --model lm --gpus 1 --rounds 10 --gpu-types V100 --command "$cmd")
timeout 60 "$harectl" logs -f "$rid" >"$tmp/follow.out" 2>"$tmp/follow.err" &
fpid=$!
seen_before() { grep -qx before "$tmp/follow.out"; }
wait_for 15 "logs -f to print the first line" seen_before
kill -TERM "$hpid"
wait "$hpid" 2>/dev/null
start_hared
wait "$fpid"; rc=$?
rfile="$tmp/w1/logs/job-$rid.rank-0.log"
if [ $rc -eq 0 ] && [ "$(state_of "$rid")" = DONE ] && grep -qx after "$tmp/follow.out" &&
	grep -q "hared closed the connection; following on once it is back" "$tmp/follow.err" &&
	[ "$(grep -v '^==> node ' "$tmp/follow.out" | grep -v '^$')" = "$(cat "$rfile")" ]; then
	echo "ok: logs -f followed the job across a restart of hared to its end"
else
	fail "logs -f across a restart: exit $rc, state $(state_of "$rid"), printed '$(cat "$tmp/follow.out")' / '$(cat "$tmp/follow.err")', file '$(cat "$rfile")'"
fi

# 2. A job moved between nodes has output on both (drain needs root).
if [ "$(id -u)" -ne 0 ]; then
	echo "skip: the two-node checks need root (harectl drain is for root on the local socket)"
else
	start_agent 2 V100:1
	wait_for 10 "node2 to register" up node2
	# node2 is free now; keep it busy so the mover starts on node1
	"$harectl" drain node2 >/dev/null || fail "drain node2"
	cmd='echo "start of lease $HARE_LEASE_ID on $HARE_GPU_TYPE"; exec sleep 600'
	mover=$("$harectl" submit --model lm --gpus 1 --rounds 10 --gpu-types V100 --command "$cmd")
	on() { "$harectl" show "$mover" -o json | "$py" -c '
import json, sys
p = json.load(sys.stdin).get("placement", [])
print(p[0]["node"] if p else "")' | grep -qx "$1"; }
	wait_for 10 "job $mover on node1" on node1
	"$harectl" undrain node2 >/dev/null && "$harectl" drain node1 >/dev/null || fail "drain node1"
	has_start() { [ "$(grep -c '^start of lease' "$tmp/w2/logs/job-$mover.rank-0.log" 2>/dev/null)" = 1 ]; }
	stopped_line() { grep -q "^hare-agent .*: job $mover lease [0-9]* rank 0 stopped (.*): " "$tmp/w1/logs/job-$mover.rank-0.log"; }
	wait_for 10 "job $mover to move to node2" on node2 && wait_for 5 "its output on node2" has_start &&
		wait_for 5 "node1's file to say why its lease stopped" stopped_line
	out=$("$harectl" logs "$mover" 2>"$tmp/logs.err")
	heads=$(printf '%s\n' "$out" | grep '^==> ' | sed 's/: .*//')
	[ "$heads" = $'==> node node1\n==> node node2' ] && [ "$(printf '%s\n' "$out" | grep -c '^start of lease')" = 2 ] &&
		echo "ok: logs printed node1's file, then node2's" || fail "two-node logs: '$out' / '$(cat "$tmp/logs.err")'"
	kill -STOP "${apid[2]}"
	t=$(date +%s)
	out=$("$harectl" logs "$mover" 2>"$tmp/logs.err"); rc=$?
	kill -CONT "${apid[2]}"
	dt=$(($(date +%s) - t))
	grep -q "harectl: not read: node2: no answer within 5 s" "$tmp/logs.err" && [ $rc -eq 0 ] &&
		[ $dt -ge 4 ] && [ $dt -le 8 ] && [ "$(printf '%s\n' "$out" | grep -c '^start of lease')" = 1 ] &&
		echo "ok: a stopped agent was named after ${dt}s; node1's part printed" ||
		fail "stopped agent: exit $rc after ${dt}s, '$out' / '$(cat "$tmp/logs.err")'"
	kill -TERM "${apid[1]}"; wait "${apid[1]}" 2>/dev/null
	down() { ! "$harectl" nodes | grep -q '^node1 *up'; }
	wait_for 10 "node1 to be down" down
	out=$("$harectl" logs "$mover" 2>"$tmp/logs.err"); rc=$?
	grep -q "harectl: not read: node1: down" "$tmp/logs.err" && [ $rc -eq 0 ] &&
		! printf '%s\n' "$out" | grep -q '^==> ' &&
		echo "ok: node1 down is named; node2's part printed alone" ||
		fail "node1 down: exit $rc, '$out' / '$(cat "$tmp/logs.err")'"
	"$harectl" cancel "$mover" >/dev/null || fail "cancel $mover"
fi
it_finish "job logs"
