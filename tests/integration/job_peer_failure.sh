#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A job of two ranks on two nodes whose rank on node1 crashes: the rank on
# node2 loses its peer and exits 75, and reports first (the crashed
# program's child holds its report pipe a while, as a data loader would).
# hared re-queues the job without charging node2; node1's late failure
# charges node1 (a "blame" event), which the job then avoids: it finishes
# on node2 and node3. A restarted hared still counts node1's failure, and
# not node2's.
# Usage: job_peer_failure.sh BUILD_DIR SOURCE_DIR (exit 77: a binary missing).
set -u

. "$(dirname "${BASH_SOURCE[0]}")/lib/cluster.bash"
it_setup "$@"

write_conf 0 time_scale=1 max_retries=2 retry_backoff_s=5
start_hared
start_agent 1 V100:1
start_agent 2 V100:1
up() { [ "$(node_gpus "$1")" = "$2" ]; }
wait_for 10 "node1 to register" up node1 "V100:0:0"
wait_for 10 "node2 to register" up node2 "V100:0:0"

# node1's rank crashes once (leaving a child that holds the pipe); the rank
# that sees the crash exits 75; any other rank trains 5 rounds
mark="$tmp/crashed" once="$tmp/crashed-once"
cmd='case "$PWD" in */w1|*/w1/*) if [ ! -e '"$once"' ]; then touch '"$once"' '"$mark"'; '
cmd+='sleep 30 & echo "CUDA error: an illegal memory access was encountered" >&2; exit 3; fi;; esac; '
cmd+='for i in $(seq 20); do if [ -e '"$mark"' ]; then rm -f '"$mark"'; '
cmd+='echo "NCCL WARN remote process exited" >&2; exit 75; fi; sleep 0.1; done; '
cmd+='printf "round 0 5 0.1 0.01 1\n" >&$HARE_REPORT_FD; printf "done 5\n" >&$HARE_REPORT_FD'
id=$("$harectl" submit --model lm --gpus 2 --min-gpus 2 --rounds 5 --gpu-types V100 --command "$cmd") ||
	fail "submit"
blamed() { "$harectl" history "$id" | grep -q " blame "; }
wait_for 20 "job $id's lease to fail and node1 to be blamed" blamed
start_agent 3 V100:1	# room for the retry off node1 (it waits 5 s first)

# DETAIL of the job's events of a kind (whole: the table cuts long ones)
detail_of() {
	"$harectl" history "$id" -o json | "$py" -c '
import json, sys
print("\n".join(e["detail"] for e in json.load(sys.stdin)["events"] if e["kind"] == sys.argv[1]))' "$1"
}
hist=$("$harectl" history "$id")
fail_line=$(detail_of fail)
blame_line=$(detail_of blame)
case "$fail_line" in
"peer failure: rank "[01]" on node node2 GPU 0 lost a peer (exit code 75: a peer rank or the network failed"*"; its node is not charged (lease "*" on nodes node"[12]", node"[12]")")
	echo "ok: node2's rank lost its peer: the lease failed, node2 not charged" ;;
*) fail "fail event: $hist" ;;
esac
case "$blame_line" in
"rank "[01]" on node node1 failed (exit code 3; last output: CUDA error: an illegal memory access was encountered) after a peer's failure had ended the lease")
	echo "ok: node1's rank, which failed by itself, reported later and node1 was charged" ;;
*) fail "blame event: $hist" ;;
esac
case "$(field "$id" last_error)" in
*"on node node1 failed (exit code 3; last output: CUDA error: an illegal memory access was encountered) after a peer's failure had ended the lease")
	echo "ok: show's last_error names node1's own failure" ;;
*) fail "last_error: $(field "$id" last_error)" ;;
esac
fails() { "$harectl" nodes | awk '$1 ~ /^node[123]$/ { print $1 "=" $6 }' | sort | tr '\n' ' '; }
want_fails="node1=1 node2=- node3=- "
wait_for 10 "node3 to register" up node3 "V100:0:0"
[ "$(fails)" = "$want_fails" ] && echo "ok: harectl nodes: $(fails)" || fail "FAILS: $(fails)"
avoiding=$("$harectl" show "$id" | sed -n 's/^avoiding: *//p')
[ "$avoiding" = "node1 (its workers failed there)" ] && echo "ok: the job avoids node1" ||
	fail "show's avoiding line is '$avoiding'"
wait_for 40 "job $id to finish" state_is "$id" DONE
events=$("$harectl" history "$id" | awk 'NR > 1 { print $2 }' | tr '\n' ' ')
ran_on() { grep -c "^hare-agent .*: job $id lease [0-9]* rank [01]/2 on node $1" "$tmp/w${1#node}/logs/job-$id.rank-"[01].log 2>/dev/null | awk -F: '{ s += $NF } END { print s + 0 }'; }
[ "$events" = "submit start fail blame restart done " ] && [ "$(ran_on node1)" = 1 ] &&
	[ "$(ran_on node3)" = 1 ] && echo "ok: retried on node2 and node3, DONE; history: $events" ||
	fail "history: $events; leases on node1 $(ran_on node1), node3 $(ran_on node3)"
logged "after a peer.s failure had ended the lease; node node1 charged" || fail "hared did not log the charge"

# a restarted hared reads node1's failure back from the blame event, and
# none of node2's from the peer failure (the agents, still calling the old
# port, stay away: hared lists the nodes its store knows, down)
kill -TERM "$hpid"
wait "$hpid"
start_hared
counts_back() { [ "$(fails)" = "node1=1 node2=- node3=- " ]; }
wait_for 10 "FAILS after a restart" counts_back && echo "ok: after a restart: $(fails)"

it_finish "peer failure"
