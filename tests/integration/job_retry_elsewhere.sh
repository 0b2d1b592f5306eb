#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A job whose worker fails on a broken node is retried on another one.
# node1 has one V100, node2 two: a 1-GPU job best fits node1, where its
# program fails (as on a node with a bad GPU). The retry avoids node1, where
# the plan would put it again and max_retries = 1 would fail it, and the job
# finishes on node2. harectl show names the node it avoids meanwhile, and
# harectl nodes counts the failure on node1; harectl history tells it all.
# With quarantine_jobs = 2 (and quarantine_users = 1), a second job failing
# on node1 gets node1 drained, and finishes on node2 too; a restarted hared
# remembers both failures.
# Usage: job_retry_elsewhere.sh BUILD_DIR SOURCE_DIR (exit 77: a binary missing).
set -u

. "$(dirname "${BASH_SOURCE[0]}")/lib/cluster.bash"
it_setup "$@"

write_conf 0 time_scale=1 max_retries=1 retry_backoff_s=2 quarantine_jobs=2 quarantine_users=1
start_hared
start_agent 1 V100:1
start_agent 2 V100:2
up() { [ "$(node_gpus "$1")" = "$2" ]; }
wait_for 10 "node1 to register" up node1 "V100:0:0"
wait_for 10 "node2 to register" up node2 "V100:0:0 V100:0:0"

# fails in node1's work dir, trains 5 rounds anywhere else
cmd='case "$PWD" in */w1|*/w1/*) echo "CUDA error: uncorrectable ECC error" >&2; exit 3;; esac; '
cmd+='printf "round 0 5 0.1 0.01 1\n" >&$HARE_REPORT_FD; printf "done 5\n" >&$HARE_REPORT_FD'
id=$("$harectl" submit --model lm --gpus 1 --rounds 5 --gpu-types V100 --command "$cmd") ||
	fail "submit"
failed_once() { [ -n "$(field "$id" last_error)" ]; }
wait_for 20 "job $id to fail on node1" failed_once
case "$(field "$id" last_error)" in
*"on node node1 GPU 0 failed (exit code 3; last output: CUDA error: uncorrectable ECC error)"*)
	echo "ok: the first lease failed on node1" ;;
*) fail "last_error: $(field "$id" last_error)" ;;
esac
avoiding=$("$harectl" show "$id" | sed -n 's/^avoiding: *//p')
[ "$avoiding" = "node1 (its workers failed there)" ] && echo "ok: show says it avoids node1" ||
	fail "show's avoiding line is '$avoiding'"
nodes=$("$harectl" nodes)
fails="$(echo "$nodes" | awk '$1 == "node1" { print $6 }') $(echo "$nodes" | awk '$1 == "node2" { print $6 }')"
[ "$fails" = "1 -" ] && echo "ok: harectl nodes counts the failure on node1 (FAILS 1, node2 -)" ||
	fail "FAILS column: '$fails'; $nodes"
wait_for 30 "job $id to finish" state_is "$id" DONE
[ "$(field "$id" rounds_done)" = 5 ] && grep -q "^hare-agent .*: job $id lease [0-9]* rank 0/1 on node node2" \
	"$tmp/w2/logs/job-$id.rank-0.log" 2>/dev/null &&
	echo "ok: retried on node2, where it finished (max_retries = 1)" ||
	fail "job $id: $(field "$id" state), node2's output file: $(cat "$tmp/w2/logs/job-$id.rank-0.log" 2>&1)"
[ "$(grep -c "lease [0-9]* rank 0/1 on node node1" "$tmp/w1/logs/job-$id.rank-0.log")" = 1 ] ||
	fail "node1 ran job $id more than once: $(cat "$tmp/w1/logs/job-$id.rank-0.log")"

# harectl history tells the story: submitted, started on node1, failed
# there, started again on node2, done
events=$("$harectl" history "$id" | awk 'NR > 1 { print $2 }' | tr '\n' ' ')
[ "$events" = "submit start fail restart done " ] && "$harectl" history "$id" | grep -q " fail .*node node1 GPU 0" &&
	echo "ok: harectl history: $events" || fail "history: $("$harectl" history "$id")"
last=$("$harectl" history "$id" -n 1 -o json 2>"$tmp/hist.err")
case "$last" in
'{"job_id":'"$id"',"events":[{"time":'*',"kind":"done","detail":'*'}],"cut":true}')
	echo "ok: history -n 1 -o json gives the last event, cut" ;;
*) fail "history -n 1 -o json: $last" ;;
esac

# A second job fails on node1 too: node1 is quarantined (drained, with a
# reason), and the job finishes on node2.
node1_state() {
	"$harectl" nodes -o json | "$py" -c '
import json, sys
n = [n for n in json.load(sys.stdin)["nodes"] if n["name"] == "node1"][0]
print("%s|%s" % (n["drained"], n.get("drain_reason", "")))'
}
[ "$(node1_state)" = "False|" ] || fail "node1 before the second job: $(node1_state)"
id2=$("$harectl" submit --model lm --gpus 1 --rounds 5 --gpu-types V100 --command "$cmd") ||
	fail "submit the second job"
wait_for 30 "job $id2 to finish" state_is "$id2" DONE
want="True|quarantined by hared: workers of 2 jobs of 1 user failed here within the hour"
[ "$(node1_state)" = "$want" ] && logged "node=node1 quarantined by hared: .*harectl undrain node1 gives it back" &&
	echo "ok: the second failure on node1 quarantined it; job $id2 finished on node2" ||
	fail "node1 after job $id2 ($(field "$id2" state)): $(node1_state)"

# A restarted hared still counts node1's two failures (from its database)
# and keeps it quarantined.
kill -TERM "$hpid"
wait "$hpid"
start_hared
node1_fails() { [ "$("$harectl" nodes | awk '$1 == "node1" { print $6 }')" = 2 ]; }
wait_for 10 "node1's FAILS to read 2 after a restart" node1_fails &&
	[ "$(node1_state)" = "$want" ] && echo "ok: after a restart node1 is still quarantined, FAILS 2" ||
	fail "node1 after restart: $(node1_state); $("$harectl" nodes)"

it_finish "retry elsewhere"
