#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Jobs that run after others (harectl submit --after, a job file's
# after = NAME), end to end on one emulated V100 at time_scale 1000. A
# pipeline of three jobs from one job file runs in order, each starting
# only once the one before is DONE, the later ones shown as WAITING
# meanwhile (and counted so in the metrics file). A job after a job that is
# cancelled is cancelled with it, saying why. hared refuses a job after an
# unknown or a cancelled job. A waiting job keeps waiting across a restart
# of hared and runs once the job it waits for is DONE. A job after any:X
# runs however X ends, one after notok:X only if X does not end DONE.
# Usage: job_after.sh BUILD_DIR SOURCE_DIR (exit 77: a binary missing).
set -u

. "$(dirname "${BASH_SOURCE[0]}")/lib/cluster.bash"
it_setup "$@"

conf=(reconnect_grace_s=3 metrics_file="$tmp/hare.prom" metrics_interval_s=1)
one_v100 "${conf[@]}"

# 1. A pipeline from one job file: prep, then train, then eval.
cat >"$tmp/pipeline.ini" <<EOF
[job]
name = prep
model = resnet50
gpus = 1
rounds = 3000

[job]
name = train
model = resnet50
gpus = 1
rounds = 3000
after = prep

[job]
name = eval
model = resnet18
gpus = 1
rounds = 3000
after = train
EOF
ids=$("$harectl" submit --file "$tmp/pipeline.ini") || fail "submit the pipeline"
prep=$(echo "$ids" | sed -n 1p) train=$(echo "$ids" | sed -n 2p) eval=$(echo "$ids" | sed -n 3p)
# first, while prep runs (a loaded machine's python is slow to start)
[ "$(queue_state "$eval")" = WAITING ] && echo "ok: queue shows the last step as WAITING" ||
	fail "queue shows job $eval as '$(queue_state "$eval")'"
[ "$(field "$train" after)" = "[$prep]" ] && [ "$(field "$eval" after)" = "[$train]" ] &&
	echo "ok: the job file's names became the ids hared gave ($prep <- $train <- $eval)" ||
	fail "after of $train: '$(field "$train" after)', of $eval: '$(field "$eval" after)'"
waiting_metric() { metric 'hare_jobs{state="waiting"} 2' || metric 'hare_jobs{state="waiting"} 1'; }
wait_for 5 "the metrics file to count waiting jobs" waiting_metric &&
	echo "ok: the metrics file counts the waiting jobs"
all_done() { state_is "$prep" DONE && state_is "$train" DONE && state_is "$eval" DONE; }
wait_for 60 "the pipeline to finish" all_done
times=$(queue_json | "$py" -c '
import json, sys
jobs = {j["job_id"]: j for j in json.load(sys.stdin)["jobs"]}
p, t, e = (jobs[int(i)] for i in sys.argv[1:])
ok = p["finish_time"] <= t["start_time"] and t["finish_time"] <= e["start_time"]
print("ok" if ok else "prep %.3f-%.3f train %.3f-%.3f eval %.3f" % (p["start_time"], p["finish_time"],
      t["start_time"], t["finish_time"], e["start_time"]))' "$prep" "$train" "$eval")
[ "$times" = ok ] && echo "ok: each step started after the one before was DONE" ||
	fail "pipeline out of order: $times"

# 2. A job after a cancelled job is cancelled with it; hared refuses jobs
# after unknown or cancelled ones.
long=$("$harectl" submit --model resnet50 --gpus 1 --rounds 50000000 --name long) || fail "submit long"
next=$("$harectl" submit --model resnet50 --gpus 1 --rounds 100 --after "$long" --name next) ||
	fail "submit next"
wait_for 20 "job $long to run" progressed "$long"
out=$("$harectl" cancel "$long") || fail "cancel $long"
[ "$out" = "cancelled $long, and 1 job after it" ] || fail "cancel $long printed '$out'"
state_is "$next" CANCELLED &&
	"$harectl" history "$next" | grep -q "job $long, which it runs after, ended CANCELLED" &&
	"$harectl" show "$next" | grep -qx "cancelled:   job $long, which it runs after, ended CANCELLED" &&
	[ "$(field "$next" end_reason)" = "job $long, which it runs after, ended CANCELLED" ] &&
	echo "ok: the job after a cancelled job is cancelled, and show and history say why" ||
	fail "job $next after the cancel: $(field "$next" state); $("$harectl" history "$next")"
out=$("$harectl" submit --model resnet50 --gpus 1 --rounds 100 --after 999999 2>&1); rc=$?
[ $rc -eq 1 ] && [ "$out" = "harectl: after: no job 999999" ] || fail "after an unknown job: exit $rc, '$out'"
out=$("$harectl" submit --model resnet50 --gpus 1 --rounds 100 --after "$long" 2>&1); rc=$?
[ $rc -eq 1 ] && [ "$out" = "harectl: after: job $long is CANCELLED, so this job would never run" ] &&
	echo "ok: hared refuses a job after an unknown or a cancelled job" ||
	fail "after a cancelled job: exit $rc, '$out'"

# 3. A job waiting for a running one keeps waiting across a restart of
# hared, and runs once that one is DONE.
run=$("$harectl" submit --model resnet50 --gpus 1 --rounds 40000 --name run) || fail "submit run"
wait_for 20 "job $run to run" progressed "$run"
wait=$("$harectl" submit --model resnet18 --gpus 1 --rounds 2000 --after "$run" --name wait) ||
	fail "submit wait"
kill -TERM "$hpid"
wait "$hpid" 2>/dev/null
start_hared
[ "$(field "$wait" after_pending)" = "[$run]" ] && [ "$(queue_state "$wait")" = WAITING ] &&
	echo "ok: still WAITING for job $run after a restart of hared" ||
	fail "job $wait after restart: after_pending '$(field "$wait" after_pending)', '$(queue_state "$wait")'"
wait_for 60 "job $wait to finish after job $run" state_is "$wait" DONE
bad=$(queue_json | "$py" -c '
import json, sys
jobs = {j["job_id"]: j for j in json.load(sys.stdin)["jobs"]}
r, w = (jobs[int(i)] for i in sys.argv[1:])
if r["state"] != "DONE" or w["start_time"] < r["finish_time"]:
    print(r["state"], r.get("finish_time"), w.get("start_time"))' "$run" "$wait")
[ -z "$bad" ] && echo "ok: job $wait ran once job $run was DONE" || fail "run/wait: $bad"

# 4. Kinds: a job after any:X runs however X ends, one after notok:X only
# if X is cancelled or fails; a plain one is cancelled with X.
x=$("$harectl" submit --model resnet50 --gpus 1 --rounds 50000000 --name x) || fail "submit x"
cleanup=$("$harectl" submit --model resnet18 --gpus 1 --rounds 100 --after "any:$x" --name cleanup) ||
	fail "submit cleanup"
alert=$("$harectl" submit --model resnet18 --gpus 1 --rounds 100 --after "notok:$x" --name alert) ||
	fail "submit alert"
plain=$("$harectl" submit --model resnet18 --gpus 1 --rounds 100 --after "$x" --name plain) ||
	fail "submit plain"
[ "$(field "$alert" waiting)" = "it waits for job $x to fail" ] &&
	"$harectl" show "$cleanup" | grep -q "^after: *any:$x (waiting)$" &&
	echo "ok: show says what each kind waits for" ||
	fail "waiting of $alert: $(field "$alert" waiting); show $cleanup: $("$harectl" show "$cleanup")"
wait_for 20 "job $x to run" progressed "$x"
out=$("$harectl" cancel "$x") || fail "cancel $x"
[ "$out" = "cancelled $x, and 1 job after it" ] || fail "cancel $x printed '$out'"
kinds_done() { state_is "$cleanup" DONE && state_is "$alert" DONE; }
wait_for 30 "the jobs after any:$x and notok:$x to finish" kinds_done
state_is "$plain" CANCELLED && echo "ok: after $x was cancelled, any: and notok: ran, the plain one went" ||
	fail "job $plain: $(field "$plain" state)"
out=$("$harectl" submit --model resnet18 --gpus 1 --rounds 100 --after "notok:$run" 2>&1); rc=$?
[ $rc -eq 1 ] && [ "$out" = "harectl: after: job $run is DONE and this job runs after it only if it fails, so this job would never run" ] &&
	echo "ok: hared refuses a job after notok: a DONE job" ||
	fail "after notok: a DONE job: exit $rc, '$out'"
any=$("$harectl" submit --model resnet18 --gpus 1 --rounds 100 --after "any:$run") || fail "submit after any:$run"
wait_for 30 "the job after any: a DONE job to finish" state_is "$any" DONE

it_finish "job after"
