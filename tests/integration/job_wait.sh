#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# harectl wait and submit --wait, end to end on one emulated V100 at
# time_scale 1000. submit --wait keeps its id alone on stdout and says on
# stderr how the job ended, exit 0 once it is DONE. wait prints a job that
# has already ended at once, one that is cancelled while waited for with
# who cancelled it (exit 1), one that fails with its last failure (exit 1);
# --max-wait names the jobs still running and exits 3 (0 looks once); -o
# json prints each ended job as show -o json does; an unknown job stops the
# wait before it starts (exit 1); a held job gets a note; a wait goes on
# across a restart of hared, but not past --max-wait while hared is away.
# submit --array makes one job per index,
# named after it, each command seeing its HARE_ARRAY_INDEX and
# HARE_ARRAY_COUNT, and --wait waits for them all. submit --check submits
# nothing.
# Usage: job_wait.sh BUILD_DIR SOURCE_DIR (exit 77: a binary missing).
set -u

. "$(dirname "${BASH_SOURCE[0]}")/lib/cluster.bash"
it_setup "$@"

one_v100 max_retries=0 retry_backoff_s=0.1 reconnect_grace_s=3

long() { "$harectl" submit --model resnet50 --gpus 1 --rounds 50000000 "$@"; }

# 1. submit --wait: the id on stdout, how it ended on stderr, exit 0.
"$harectl" submit --model resnet50 --gpus 1 --rounds 2000 --name short --wait \
	>"$tmp/out" 2>"$tmp/err"; rc=$?
short=$(cat "$tmp/out")
if [ $rc -eq 0 ] && [[ "$short" =~ ^[0-9]+$ ]] && [ "$(cat "$tmp/err")" = "job $short: DONE" ] &&
	[ "$(field "$short" state)" = DONE ]; then
	echo "ok: submit --wait printed id $short, then 'job $short: DONE' on stderr, exit 0"
else
	fail "submit --wait: exit $rc, out '$(cat "$tmp/out")', err '$(cat "$tmp/err")'"
fi

# 2. A job that already ended is printed at once; -o json as show has it.
out=$("$harectl" wait "$short" 2>&1); rc=$?
[ $rc -eq 0 ] && [ "$out" = "job $short: DONE" ] && echo "ok: wait on an ended job returns at once" ||
	fail "wait $short: exit $rc, '$out'"
out=$("$harectl" wait -o json "$short"); rc=$?
echo "$out" | "$py" -c 'import json, sys
j = json.loads(sys.stdin.read())
sys.exit(0 if j["job_id"] == int(sys.argv[1]) and j["state"] == "DONE" and j["name"] == "short" else 1)' "$short" &&
	[ $rc -eq 0 ] && echo "ok: wait -o json prints the job as JSON" || fail "wait -o json: exit $rc, '$out'"

# 3. --max-wait: the job still running is named, exit 3; 0 looks once.
a=$(long --name a) || fail "submit a"
wait_for 20 "job $a to run" progressed "$a"
start=$(date +%s.%N)
out=$("$harectl" wait "$a" --max-wait 2 2>&1); rc=$?
took=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
if [ $rc -eq 3 ] && [[ "$out" =~ ^"harectl: 1 job not ended after --max-wait 2: job $a (RUNNING, "[0-9]+/50000000" rounds)"$ ]] &&
	awk -v t="$took" 'BEGIN { exit !(t >= 2 && t < 6) }'; then
	echo "ok: --max-wait 2 gave up after ${took}s, naming job $a, exit 3"
else
	fail "wait --max-wait 2: exit $rc after ${took}s, '$out'"
fi
out=$("$harectl" wait "$a" "$short" --max-wait 0 2>&1); rc=$?
[ $rc -eq 3 ] && [ "$(echo "$out" | head -1)" = "job $short: DONE" ] &&
	echo "$out" | grep -q "^harectl: 1 job not ended after --max-wait 0: job $a (RUNNING" &&
	echo "ok: --max-wait 0 looks once" || fail "wait --max-wait 0: exit $rc, '$out'"

# 4. Cancelled while waited for: who cancelled it, exit 1.
"$harectl" wait "$a" >"$tmp/wait_a" 2>&1 &
wpid=$!
sleep 1.5
"$harectl" cancel "$a" >/dev/null || fail "cancel $a"
end=$(($(date +%s) + 10))
while kill -0 "$wpid" 2>/dev/null && [ "$(date +%s)" -lt "$end" ]; do sleep 0.1; done
wait "$wpid"; rc=$?
[ $rc -eq 1 ] && [ "$(cat "$tmp/wait_a")" = "job $a: CANCELLED: cancelled by $(id -un)" ] &&
	echo "ok: a job cancelled while waited for ends the wait, exit 1" ||
	fail "wait $a (cancelled): exit $rc, '$(cat "$tmp/wait_a")'"

# 5. A failing job: its last failure, exit 1.
out=$("$harectl" submit --model lm --gpus 1 --rounds 10 --command 'echo "boom: bad config" >&2; exit 3' \
	--wait 2>&1); rc=$?
f=$(echo "$out" | head -1)
[ $rc -eq 1 ] && [[ "$(echo "$out" | sed -n 2p)" =~ ^"job $f: FAILED: rank 0 on node node1 ".*"boom: bad config" ]] &&
	echo "ok: submit --wait of a failing job says why it failed, exit 1" ||
	fail "submit --wait (failing): exit $rc, '$out'"

# 6. An unknown job: nothing is waited for.
out=$("$harectl" wait "$short" 999999 2>&1); rc=$?
[ $rc -eq 1 ] && [ "$out" = $'job '"$short"$': DONE\nharectl: no job 999999' ] &&
	echo "ok: an unknown job stops the wait at once, exit 1" || fail "wait 999999: exit $rc, '$out'"
out=$("$harectl" wait 2>&1); rc=$?
[ $rc -eq 2 ] && [ "$out" = "harectl wait: missing job id (see harectl wait --help)" ] ||
	fail "wait without ids: exit $rc, '$out'"
out=$("$harectl" wait "$short" --max-wait 5x 2>&1); rc=$?
[ $rc -eq 2 ] && [[ "$out" =~ "--max-wait wants seconds" ]] || fail "--max-wait 5x: exit $rc, '$out'"
before=$(queue_json | "$py" -c 'import json,sys; print(len(json.load(sys.stdin)["jobs"]))')
out=$("$harectl" submit --model lm --gpus 1 --rounds 10 --check 2>&1); rc=$?
[ $rc -eq 0 ] && [ "$out" = "ok: hared would accept the job (nothing was submitted)" ] ||
	fail "submit --check: exit $rc, '$out'"
out=$("$harectl" submit --model nosuch --gpus 1 --rounds 10 --check 2>&1); rc=$?
[ $rc -eq 1 ] && [[ "$out" == "harectl: unknown model 'nosuch'"*$'\nharectl: nothing was submitted' ]] ||
	fail "submit --check of an unknown model: exit $rc, '$out'"
after=$(queue_json | "$py" -c 'import json,sys; print(len(json.load(sys.stdin)["jobs"]))')
[ "$before" = "$after" ] && echo "ok: submit --check says ok or why not, and submits nothing ($before jobs before and after)" ||
	fail "submit --check changed the queue: $before -> $after jobs"
out=$("$harectl" submit --model lm --gpus 1 --rounds 10 --max-wait 5 2>&1); rc=$?
[ $rc -eq 2 ] && [[ "$out" =~ "--max-wait goes with --wait" ]] || fail "submit --max-wait alone: exit $rc, '$out'"

# 7. A held job gets a note; the wait goes on across a restart of hared.
b=$(long --name b) || fail "submit b"
wait_for 20 "job $b to run" progressed "$b"
"$harectl" hold "$b" >/dev/null || fail "hold $b"
"$harectl" wait "$b" >"$tmp/wait_b" 2>"$tmp/wait_b.err" &
wpid=$!
sleep 1
grep -qx "harectl: job $b is held by root: it does not end until released (harectl release $b)" \
	"$tmp/wait_b.err" && echo "ok: waiting on a held job says it does not end until released" ||
	fail "no held note: '$(cat "$tmp/wait_b.err")'"
kill -TERM "$hpid"
wait "$hpid" 2>/dev/null
sleep 1.5
start_hared
"$harectl" release "$b" >/dev/null || fail "release $b"
wait_for 20 "job $b to run again" state_is "$b" RUNNING
"$harectl" cancel "$b" >/dev/null || fail "cancel $b"
end=$(($(date +%s) + 15))
while kill -0 "$wpid" 2>/dev/null && [ "$(date +%s)" -lt "$end" ]; do sleep 0.1; done
wait "$wpid"; rc=$?
[ $rc -eq 1 ] && [ "$(cat "$tmp/wait_b")" = "job $b: CANCELLED: cancelled by $(id -un)" ] &&
	grep -q "following on once it is back" "$tmp/wait_b.err" &&
	echo "ok: the wait went on across a restart of hared" ||
	fail "wait $b across a restart: exit $rc, '$(cat "$tmp/wait_b")', '$(cat "$tmp/wait_b.err")'"

# 8. submit --array with --wait: three jobs, each told its index.
cmd='echo "index $HARE_ARRAY_INDEX of $HARE_ARRAY_COUNT"; printf "round 0 5 0.1 0.01 1\ndone 5\n" >&$HARE_REPORT_FD'
"$harectl" submit --model lm --gpus 1 --rounds 5 --array 0-4:2 --name "sw-%a" --command "$cmd" --wait \
	>"$tmp/out" 2>"$tmp/err"; rc=$?
mapfile -t arr <"$tmp/out"
ok=$([ $rc -eq 0 ] && [ ${#arr[@]} = 3 ] && echo yes)
for k in 0 1 2; do
	id=${arr[k]:-0} want=$((k * 2))
	[ "$(field "$id" name)" = "sw-$want" ] && grep -qx "job $id: DONE" "$tmp/err" &&
		grep -qx "index $want of 3" "$tmp/w1/logs/job-$id.rank-0.log" 2>/dev/null || ok=
done
[ -n "$ok" ] && echo "ok: submit --array 0-4:2 made jobs sw-0, sw-2, sw-4 (${arr[*]}), each told its index; --wait saw all DONE" ||
	fail "submit --array: exit $rc, ids '${arr[*]}', err '$(cat "$tmp/err")'"
out=$("$harectl" submit --model lm --gpus 1 --rounds 5 --array 1,1 2>&1); rc=$?
[ $rc -eq 2 ] && [ "$out" = "harectl submit: --array: index 1 given twice" ] ||
	fail "submit --array 1,1: exit $rc, '$out'"

# 9. hared stops while a wait runs: --max-wait still ends it, exit 3.
c=$(long --name c) || fail "submit c"
wait_for 20 "job $c to run" progressed "$c"
start=$(date +%s.%N)
"$harectl" wait "$c" --max-wait 4 >/dev/null 2>"$tmp/wait_c.err" &
wpid=$!
sleep 1.5
kill -TERM "$hpid"
wait "$hpid" 2>/dev/null
end=$(($(date +%s) + 15))
while kill -0 "$wpid" 2>/dev/null && [ "$(date +%s)" -lt "$end" ]; do sleep 0.1; done
wait "$wpid"; rc=$?
took=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
if [ $rc -eq 3 ] && awk -v t="$took" 'BEGIN { exit !(t >= 3.5 && t < 8) }' &&
	grep -qx "harectl: hared was not back when --max-wait ran out" "$tmp/wait_c.err" &&
	grep -q "^harectl: 1 job not ended after --max-wait 4: job $c (RUNNING" "$tmp/wait_c.err"; then
	echo "ok: with hared gone, --max-wait 4 still ended the wait after ${took}s, exit 3"
else
	fail "wait with hared gone: exit $rc after ${took}s, '$(cat "$tmp/wait_c.err")'"
fi

it_finish "wait"
