#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# harectl hold, release and update, end to end on one emulated V100 at
# time_scale 1000. A running job is held: its worker is stopped, it keeps
# its rounds, shows as HELD, and another job takes the GPU; the hold
# survives a restart of hared; release lets it run again. update changes
# a queued job's weight and so its place in Hare's order, and its GPU
# range and name. When setpriv can run harectl as another user, that
# user's own hold is released by that user, but root's hold only by root,
# and a job of root's cannot be touched. Along the way, metrics_file shows
# the held and running jobs and the busy GPU, and hare_up 0 once hared stops.
# Usage: job_hold.sh BUILD_DIR SOURCE_DIR (exit 77: a binary missing).
set -u

. "$(dirname "${BASH_SOURCE[0]}")/lib/cluster.bash"
it_setup "$@"

conf=(retry_backoff_s=0.1 reconnect_grace_s=5 metrics_file="$tmp/hare.prom" metrics_interval_s=1)
one_v100 "${conf[@]}"

submit() { "$harectl" submit --model resnet50 --gpus 2 --max-gpus 1 --rounds 5000000 "$@"; }

# 1. Hold a running job.
a=$(submit --name a) || fail "submit a"
wait_for 20 "job $a to run" progressed "$a"
out=$("$harectl" hold "$a"); rc=$?
[ $rc -eq 0 ] && [ "$out" = "job $a: held by root" ] || fail "hold $a: exit $rc, '$out'"
wait_for 10 "job $a to be queued" state_is "$a" QUEUED
no_workers() { [ "$(workers_of "$1")" = 0 ]; }
wait_for 10 "job $a's worker to stop" no_workers "$a"
[ "$(queue_state "$a")" = HELD ] && echo "ok: a held running job is stopped and shows as HELD" ||
	fail "queue shows job $a as '$(queue_state "$a")'"
done_a=$(field "$a" rounds_done)
[ "$done_a" -gt 0 ] && "$harectl" show "$a" | grep -qx "held:        yes, by root, who alone may release it (harectl release $a)" &&
	"$harectl" show "$a" | grep -q "^waiting:     held by root; harectl release $a lets it run$" &&
	echo "ok: show says who held it and how to release it; it kept $done_a rounds" ||
	fail "show of held job $a: $("$harectl" show "$a")"
b=$(submit --name b) || fail "submit b"
wait_for 20 "job $b to run on the GPU job $a left" progressed "$b"
metrics_now() { metric 'hare_jobs{state="held"} 1' && metric 'hare_jobs{state="running"} 1' &&
	metric 'hare_gpus{type="V100",state="busy"} 1' && metric 'hare_nodes{state="up"} 1'; }
wait_for 5 "the metrics file to show one job held and one running" metrics_now &&
	echo "ok: the metrics file shows the held job, the running one and the busy GPU"
sleep 0.5
[ "$(field "$a" rounds_done)" = "$done_a" ] && state_is "$a" QUEUED &&
	echo "ok: the held job stays out of the plans" || fail "job $a moved while held"

# 2. The hold survives a restart of hared.
kill -TERM "$hpid"
wait "$hpid" 2>/dev/null
metric 'hare_up 0' && [ ! -e "$tmp/hare.prom.tmp" ] && echo "ok: a stopped hared leaves hare_up 0 in its metrics file" ||
	fail "metrics file after stop: $(grep '^hare_up' "$tmp/hare.prom")"
start_hared
wait_for 15 "job $b to run again" progressed "$b" "$(field "$b" rounds_done)"
[ "$(field "$a" held)" = root ] && [ "$(queue_state "$a")" = HELD ] && [ "$(workers_of "$a")" = 0 ] &&
	echo "ok: still held after a restart of hared" || fail "job $a after restart: held '$(field "$a" held)'"

# 3. update: weight reorders the queue; GPU range and name; bad values.
c=$(submit --name c) || fail "submit c"
d=$(submit --name d) || fail "submit d"
order() { field "$1" order; }
before_c=$(order "$c") before_d=$(order "$d")
out=$("$harectl" update "$d" --weight 50 --name urgent-d)
[ "$out" = "job $d: name urgent-d, weight 1 -> 50" ] || fail "update $d printed '$out'"
d_first() { [ -n "$(order "$d")" ] && [ "$(order "$d")" -lt "$(order "$c")" ] 2>/dev/null; }
wait_for 10 "job $d to move ahead of $c" d_first &&
	echo "ok: weight 50 moved job $d ahead of $c (order $before_d -> $(order "$d"), $c: $before_c -> $(order "$c"))"
[ "$(field "$d" name)" = urgent-d ] && [ "$(field "$d" weight)" = 50 ] || fail "name/weight of $d not shown"
out=$("$harectl" update "$c" --min-gpus 2 --max-gpus 2); rc=$?
[ $rc -eq 0 ] && [ "$out" = "job $c: GPUs 1-1 -> 2-2" ] && [ "$(field "$c" min_gpus)" = 2 ] ||
	fail "update $c range: exit $rc, '$out'"
out=$("$harectl" update "$c" --max-gpus 3 2>&1); rc=$?
[ $rc -eq 1 ] && [ "$out" = "job $c: max_gpus must be between 1 and its gpus (2), got 3" ] ||
	fail "update $c --max-gpus 3: exit $rc, '$out'"
out=$("$harectl" update 9999 "$c" --weight 2 2>&1); rc=$?
[ $rc -eq 1 ] && [ "$out" = $'job 9999 does not exist\njob '"$c"': weight 1 -> 2' ] ||
	fail "update 9999 $c: exit $rc, '$out'"
[ $failures -eq 0 ] && echo "ok: update changes range and name, refuses bad ranges and unknown jobs"

# 4. Release: the job is planned again and resumes from its rounds.
out=$("$harectl" release "$a")
[ "$out" = "job $a: released" ] || fail "release $a printed '$out'"
out=$("$harectl" release "$a")
[ "$out" = "job $a: was not held" ] || fail "second release printed '$out'"
has_order() { [ -n "$(order "$1")" ]; }
wait_for 10 "job $a to get a place in the order" has_order "$a" &&
	[ "$(queue_state "$a")" = QUEUED ] && echo "ok: released, job $a is back in Hare's order (place $(order "$a"))"
"$harectl" cancel "$b" "$d" >/dev/null
wait_for 30 "job $a to run again" progressed "$a" "$done_a" &&
	echo "ok: job $a resumed past its $done_a rounds"

# 5. Another user (nobody, through setpriv): its own hold, root's hold, root's job.
if setpriv --reuid=65534 --regid=65534 --clear-groups true 2>/dev/null; then
	chmod o+x "$tmp"
	as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$harectl" "$@" 2>&1; }
	e=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$harectl" submit --model resnet50 \
		--gpus 1 --rounds 10 --name mine 2>/dev/null) || fail "submit as nobody: $e"
	out=$(as_nobody hold "$e")
	[ "$out" = "job $e: held" ] || fail "nobody holds $e: '$out'"
	"$harectl" hold "$e" >/dev/null
	out=$(as_nobody release "$e"); rc=$?
	[ $rc -eq 1 ] && [ "$out" = "job $e was held by root; only root may release it" ] ||
		fail "nobody releases root's hold: exit $rc, '$out'"
	out=$(as_nobody update "$a" --weight 9); rc=$?
	[ $rc -eq 1 ] && [ "$out" = "job $a belongs to root; only its owner or root may change it" ] ||
		fail "nobody updates root's job: exit $rc, '$out'"
	[ "$(field "$e" held)" = root ] && [ "$(field "$a" weight)" = 1 ] &&
		echo "ok: another user holds its own job, cannot release root's hold or change root's job" ||
		fail "held '$(field "$e" held)', weight of $a '$(field "$a" weight)'"
	"$harectl" cancel "$a" "$c" >/dev/null
	out=$("$harectl" release "$e")
	[ "$out" = "job $e: released" ] || fail "root releases $e: '$out'"
	wait_for 30 "job $e to finish" state_is "$e" DONE && echo "ok: released by root, job $e ran to the end"
else
	echo "skip: setpriv cannot run harectl as another user here; the users part is left out"
fi

"$harectl" cancel "$a" "$c" >/dev/null 2>&1
it_finish "job hold"
