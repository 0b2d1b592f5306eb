#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Faults at random under load, on three emulated agents (V100:2, V100:2,
# T4:2) at time_scale 1000. A seeded sequence of steps submits jobs (some
# bogus), cancels some, kills hared (SIGKILL, also racing a submission, or
# SIGTERM) and restarts it, kills agents (SIGKILL) and restarts them, and
# kills workers. Then, with everything back, every job must end, and:
#  - every job whose id a submission printed is in the queue (none lost),
#    and the queue holds no other job except those of submissions cut off
#    by a SIGKILL (committed, reply lost);
#  - every job reported cancelled is CANCELLED, and every other one is DONE
#    with all its rounds;
#  - no worker is left running, and hared answered throughout.
# HARE_CHAOS_SEED picks the sequence (default 1), HARE_CHAOS_STEPS its
# length (default 60); the seed is printed so a failure can be replayed.
# Usage: daemon_chaos.sh BUILD_DIR SOURCE_DIR (exit 77: a binary missing).
set -u

. "$(dirname "${BASH_SOURCE[0]}")/lib/cluster.bash"
it_setup "$@"
seed=${HARE_CHAOS_SEED:-1}
steps=${HARE_CHAOS_STEPS:-60}
RANDOM=$seed
echo "chaos: seed $seed, $steps steps (HARE_CHAOS_SEED, HARE_CHAOS_STEPS)"

nodes_up() {
	[ "$("$harectl" nodes -o json 2>/dev/null | "$py" -c '
import json, sys
print(sum(n["up"] for n in json.load(sys.stdin)["nodes"]))')" = 3 ]
}

conf=(reconnect_grace_s=3 heartbeat_timeout_s=5 max_retries=1000 retry_backoff_s=0.1 log_level=info)
write_conf 0 "${conf[@]}"
start_hared
write_conf "$port" "${conf[@]}"	# restarts come back on the same port
gpus_of=([1]=V100:2 [2]=V100:2 [3]=T4:2)
for k in 1 2 3; do start_agent "$k" "${gpus_of[$k]}" --log-level info; done
wait_for 10 "3 agents" nodes_up || exit 1

accepted=()		# ids printed by submit
declare -A cancelled	# ids reported cancelled
cut_off=0		# submissions killed before their reply
models=(resnet18 lm recommendation resnet50)
base_rounds=(8000 20000 40000 2000)
log_step() { echo "step $1: $2"; }

pick() { echo $((RANDOM % $1)); }

# is_worker /proc/PID: a worker of this test's agents.
is_worker() {
	local args
	in_work_dir "$1" || return 1
	mapfile -d '' args <"$1/cmdline" 2>/dev/null || return 1
	case " ${args[*]} " in *" --job="*) return 0 ;; esac
	return 1
}

# submit_random [race]: a valid job; with race, hared is SIGKILLed while the
# submission is in flight.
submit_random() {
	local m id rc out
	m=$(pick ${#models[@]})
	local args=(--model "${models[$m]}" --gpus $((1 + $(pick 4))) --rounds $((base_rounds[m] * (1 + $(pick 3)))))
	[ "$(pick 3)" = 0 ] && args+=(--weight 3)
	if [ "${1:-}" = race ]; then
		"$harectl" submit "${args[@]}" >"$tmp/race.out" 2>&1 &
		local sp=$!
		sleep "0.00$(pick 10)"
		kill -9 "$hpid" 2>/dev/null
		wait "$sp"
		rc=$?
		out=$(cat "$tmp/race.out")
		wait "$hpid" 2>/dev/null
		if [ $rc = 0 ]; then
			accepted+=("$out")
			log_step "$2" "submit ${args[*]} raced a SIGKILL: accepted as $out"
		else
			cut_off=$((cut_off + 1))
			log_step "$2" "submit ${args[*]} raced a SIGKILL: cut off ($out)"
		fi
		start_hared
		return
	fi
	if id=$("$harectl" submit "${args[@]}" 2>"$tmp/submit.err"); then
		accepted+=("$id")
		log_step "$2" "submit ${args[*]}: $id"
	else
		fail "step $2: submit ${args[*]} refused: $(cat "$tmp/submit.err")"
	fi
}

for step in $(seq "$steps"); do
	r=$(pick 100)
	if [ "$r" -lt 36 ]; then
		submit_random "" "$step"
	elif [ "$r" -lt 44 ]; then
		case $(pick 3) in
		0) bad=(--model no-such-model --gpus 2 --rounds 10) ;;
		1) bad=(--model resnet18 --gpus 2 --rounds 10 --gpu-types H900) ;;
		*) bad=(--model lm --gpus 2 --min-gpus 3 --rounds 10) ;;
		esac
		if "$harectl" submit "${bad[@]}" >/dev/null 2>"$tmp/bad.err"; then
			fail "step $step: bogus submit ${bad[*]} was accepted"
		elif ! grep -q . "$tmp/bad.err"; then
			fail "step $step: bogus submit ${bad[*]} refused without a message"
		fi
		log_step "$step" "bogus submit ${bad[*]}: $(head -1 "$tmp/bad.err")"
	elif [ "$r" -lt 54 ]; then
		[ ${#accepted[@]} -gt 0 ] || continue
		id=${accepted[$(pick ${#accepted[@]})]}
		out=$("$harectl" cancel "$id" 2>&1)
		[ "$out" = "cancelled $id" ] && cancelled[$id]=1
		log_step "$step" "cancel $id: $out"
	elif [ "$r" -lt 62 ]; then
		submit_random race "$step"
	elif [ "$r" -lt 72 ]; then
		kill -9 "$hpid"
		wait "$hpid" 2>/dev/null
		start_hared
		log_step "$step" "hared SIGKILL and restart"
	elif [ "$r" -lt 78 ]; then
		kill -TERM "$hpid"
		wait "$hpid" || fail "step $step: hared exited with $? on SIGTERM"
		start_hared
		log_step "$step" "hared SIGTERM and restart"
	elif [ "$r" -lt 90 ]; then
		k=$((1 + $(pick 3)))
		kill -9 "${apid[$k]}"
		wait "${apid[$k]}" 2>/dev/null
		sleep "0.$(pick 10)"
		start_agent "$k" "${gpus_of[$k]}" --log-level info
		log_step "$step" "agent node$k SIGKILL and restart"
	else
		victims=()
		for p in /proc/[0-9]*; do is_worker "$p" && victims+=("${p#/proc/}"); done
		if [ ${#victims[@]} -gt 0 ]; then
			v=${victims[$(pick ${#victims[@]})]}
			kill -9 "$v" 2>/dev/null
			log_step "$step" "worker $v SIGKILL"
		fi
	fi
	sleep "0.$(pick 8)"
	"$harectl" queue >/dev/null 2>&1 || {
		sleep 1
		"$harectl" queue >/dev/null 2>&1 || fail "step $step: hared does not answer"
	}
done
echo "ok: $steps steps (seed $seed), ${#accepted[@]} jobs accepted, ${#cancelled[@]} cancelled, $cut_off submissions cut off ($(($(date +%s) - t0))s)"

terminal() {
	queue_json | "$py" -c '
import json, sys
jobs = json.load(sys.stdin)["jobs"]
sys.exit(0 if all(j["state"] in ("DONE", "CANCELLED", "FAILED") for j in jobs) else 1)'
}
wait_for 120 "every job to end (seed $seed)" terminal

queue_json >"$tmp/final.json" || fail "no final queue"
bad=$("$py" - "$tmp/final.json" "$cut_off" "${accepted[*]}" "${!cancelled[*]}" <<'EOF'
import json, sys
jobs = {j["job_id"]: j for j in json.load(open(sys.argv[1]))["jobs"]}
cut_off = int(sys.argv[2])
accepted = [int(x) for x in sys.argv[3].split()]
cancelled = {int(x) for x in sys.argv[4].split()}
out = []
if len(set(accepted)) != len(accepted):
    out.append("an id was printed twice: %s" % accepted)
for i in accepted:
    j = jobs.get(i)
    if j is None:
        out.append("job %d was accepted but is gone" % i)
    elif i in cancelled:
        if j["state"] != "CANCELLED":
            out.append("job %d was reported cancelled but is %s" % (i, j["state"]))
    elif j["state"] != "DONE" or j["rounds_done"] != j["rounds_total"]:
        out.append("job %d is %s with %s/%s rounds" % (i, j["state"], j["rounds_done"], j["rounds_total"]))
extra = sorted(set(jobs) - set(accepted))
if len(extra) > cut_off:
    out.append("jobs nobody was told of: %s (only %d submissions were cut off)" % (extra, cut_off))
for i in extra:
    if jobs[i]["state"] != "DONE":
        out.append("job %d (reply cut off) is %s" % (i, jobs[i]["state"]))
print("\n".join(out))
EOF
)
[ -z "$bad" ] && echo "ok: every accepted job is there, cancelled or DONE with all its rounds" ||
	fail "after the faults (seed $seed): $bad"

no_workers() {
	local p
	for p in /proc/[0-9]*; do is_worker "$p" && return 1; done
	return 0
}
wait_for 15 "every worker to exit" no_workers
grep -qE "Sanitizer|runtime error" "$tmp"/*.log && fail "sanitizer report in a log"
if [ $failures -ne 0 ]; then
	echo "--- hared log (tail)"; grep -v "conn=" "$tmp/hared.log" | tail -40
	exit 1
fi
echo "all chaos checks passed in $(($(date +%s) - t0))s (seed $seed)"
