#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The demo: hared and 25 emulated 8-GPU agents on loopback run 60 generated
# jobs in about a minute; the measured job completion times are compared
# with hare-sim's prediction for the same workload on the same cluster.
# Usage: demo.sh [BUILD_DIR]. Environment: HARE_KEEP_TMP=1 keeps the
# temporary folder (logs, trace, results); HARE_DEMO_JOBS=1 prints the
# per-job comparison even when the error is small; HARE_DEMO_LOG_LEVEL sets
# hared's log level (default info).
set -euo pipefail

build=$(cd "${1:-build}" && pwd)
src=$(cd "$(dirname "$0")/.." && pwd)
here="$src/deploy/demo"
hared="$build/daemon/hared"
agent="$build/agent/hare-agent"
worker="$build/workloads/hare-worker"
harectl="$build/cli/harectl"
sim="$build/sim/hare-sim"
for b in "$hared" "$agent" "$worker" "$harectl" "$sim"; do
	[ -x "$b" ] || { echo "demo: $b not built (run make build)" >&2; exit 1; }
done

# The cluster: 25 nodes of 8 GPUs of the four types of paper-200.ini.
NODES="K80:7 P100:6 T4:6 V100:6"	# 56 + 48 + 48 + 48 = 200 GPUs
# The workload (deploy/demo/workload.awk): the generator's sizes, models,
# weights and Poisson arrivals; durations on one V100 per task of
# 10^U(DUR_LO, DUR_MID) minutes for 80% of the jobs and 10^U(DUR_MID,
# DUR_HI) for 20% (30 to 80 minutes), arrivals at LOAD times the V100
# capacity of the cluster.
JOBS=60 SEED=7 LOAD=0.3
DUR_LO=1.5 DUR_MID=1.8 DUR_HI=1.9
# The time scale is chosen so the simulated makespan takes this long.
WALL_TARGET_S=70
# Events within this window share one re-plan: short, since each one delays
# every start; the simulator re-plans at the event itself.
DEBOUNCE_MS=10
# Workers report every REPORT_MS; a stopped lease loses the rounds since its
# last report (the simulator loses only the round in progress).
REPORT_MS=20

tmp=$(mktemp -d "${TMPDIR:-/tmp}/hare-demo.XXXXXX")
agent_pids=()
hared_pid=""
submit_pid=""
cleanup() {
	local rc=$? p f workers=()
	set +e
	trap - EXIT HUP INT TERM
	trap '' PIPE
	[ -n "$submit_pid" ] && kill -TERM "$submit_pid" 2>/dev/null
	# Workers outlive their agent by design: stop the agents, then the
	# workers by the pids the agents recorded, then the daemon.
	for p in "${agent_pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for f in "$tmp"/agents/*/tasks/*.task; do
		p=$(sed -n 's/^pid=//p' "$f" 2>/dev/null)
		[ -n "$p" ] && kill -TERM -- "-$p" 2>/dev/null && workers+=("$p")
	done
	[ -n "$hared_pid" ] && kill -TERM "$hared_pid" 2>/dev/null
	wait 2>/dev/null
	for _ in $(seq 50); do
		f=0
		for p in "${workers[@]}"; do kill -0 "$p" 2>/dev/null && f=1; done
		[ $f -eq 0 ] && break
		sleep 0.02
	done
	if [ -n "${HARE_KEEP_TMP:-}" ] && [ "${HARE_KEEP_TMP}" != 0 ]; then
		echo "kept $tmp"
	else
		rm -rf "$tmp"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 141' PIPE
trap 'exit 143' TERM

now_us() { echo "${EPOCHREALTIME//[!0-9]/}"; }
since() { awk -v a="$1" -v b="$(now_us)" 'BEGIN { printf "%.1f", (b - a) / 1e6 }'; }
start_us=$(now_us)
export HARE_SOCKET="$tmp/hared.sock"

# 1. The workload (trace.csv), the cluster file, and the prediction.
awk -v seed=$SEED -v jobs=$JOBS -v load=$LOAD -v gpus=200 \
	-v lo=$DUR_LO -v mid=$DUR_MID -v hi=$DUR_HI -f "$here/workload.awk" \
	"$src/workloads/profiles/models.csv" "$src/workloads/profiles/throughput.csv" \
	>"$tmp/trace.csv"
for n in $NODES; do
	t=${n%%:*}
	printf '[%s]\ntype = %s\nnodes = %s\ngpus_per_node = 8\nname_prefix = %s-\n\n' \
		"${t,,}" "$t" "${n##*:}" "${t,,}"
done >"$tmp/cluster.ini"
"$sim" --cluster "$tmp/cluster.ini" --trace "$tmp/trace.csv" --profiles "$src/workloads/profiles" \
	--policies hare --out "$tmp/sim" --no-bound --quiet >/dev/null
scale=$(awk -F, -v t=$WALL_TARGET_S 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
	$c["finish_s"] > m { m = $c["finish_s"] } END { printf "%.0f", m / t }' "$tmp/sim/hare/jobs.csv")

echo "Hare demo: hared and 25 agents with 8 emulated GPUs each, on loopback"
nodes=$(echo "$NODES" | sed 's/\([A-Z0-9]*\):\([0-9]*\)/\2x8 \1/g; s/ \([0-9]\)/, \1/g')
echo "  cluster:  $nodes (200 GPUs)"
awk -F, -v lo=$DUR_LO -v hi=$DUR_HI 'NR > 1 { n[$6]++; last = $1 }
	END { printf "  workload: %d jobs (1/2/4/8 GPUs: %d/%d/%d/%d), %.0f-%.0f min on a V100, " \
		"arriving over %.0f s\n", NR - 1, n[1], n[2], n[4], n[8], 10 ^ lo, 10 ^ hi, last }' \
	"$tmp/trace.csv"
echo "  policy hare, time scale $scale: 1 s of wall time is $scale s of profile time"
echo

# 2. The daemon and the agents.
head -c 48 /dev/urandom | base64 -w0 >"$tmp/key"
chmod 600 "$tmp/key"
cat >"$tmp/hared.conf" <<EOF
[daemon]
agent_listen = 127.0.0.1:0
client_socket = $tmp/hared.sock
state_dir = $tmp/state
cluster_key_file = $tmp/key
profiles = $src/workloads/profiles
policy = hare
time_scale = $scale
replan_debounce_ms = $DEBOUNCE_MS
port_file = $tmp/ports
log_level = ${HARE_DEMO_LOG_LEVEL:-info}
EOF
"$hared" --config "$tmp/hared.conf" >"$tmp/hared.log" 2>&1 &
hared_pid=$!
for _ in $(seq 250); do [ -s "$tmp/ports" ] && break; sleep 0.02; done
port=$(sed -n 's/^agent_port=//p' "$tmp/ports" 2>/dev/null)
[ -n "$port" ] || { tail -5 "$tmp/hared.log" >&2; echo "demo: hared did not start" >&2; exit 1; }
cat >"$tmp/agent.conf" <<EOF
[agent]
daemon = 127.0.0.1:$port
cluster_key_file = $tmp/key
worker = $worker
report_interval_ms = $REPORT_MS
log_level = warn
EOF

mkdir "$tmp/agents"
for n in $NODES; do
	t=${n%%:*}
	for ((k = 1; k <= ${n##*:}; k++)); do
		name=${t,,}-$k
		# Emulated workers sleep each round against absolute deadlines; a
		# 10 ms timer slack (inherited by the agent's workers) lets them
		# wake less often, and delays a lease's end by at most 10 ms.
		(
			mkdir -p "$tmp/agents/$name"
			echo 10000000 >"/proc/$BASHPID/timerslack_ns" 2>/dev/null || true
			exec "$agent" --config "$tmp/agent.conf" --node "$name" --gpus "$t:8" \
				--work-dir "$tmp/agents/$name"
		) >"$tmp/agents/$name.log" 2>&1 &
		agent_pids+=($!)
	done
done
# The agents register in any order: hare's placement depends on the types
# and free GPUs of the nodes, not on their order (hare-sim gives the same
# schedule for any order of these nodes).
node_count() { "$harectl" nodes -o json 2>/dev/null | grep -c '"up":true' || true; }
# hared exits on SIGINT too: a Ctrl-C that reached only a child harectl (bash
# then skips its own INT trap) still ends the demo here.
alive() {
	local rc
	kill -0 "$hared_pid" 2>/dev/null && return 0
	wait "$hared_pid" 2>/dev/null
	rc=$?
	if [ "$rc" -eq 0 ]; then
		# it stopped cleanly: a Ctrl-C (SIGINT) reached it
		echo "demo: interrupted; stopping" >&2
		exit 130
	fi
	echo "demo: hared stopped with status $rc (HARE_KEEP_TMP=1 keeps its log)" >&2
	tail -5 "$tmp/hared.log" >&2 2>/dev/null
	exit 1
}
for _ in $(seq 300); do
	alive
	[ "$(node_count)" -ge 25 ] && break
	sleep 0.05
done
n=$(node_count)
[ "$n" -eq 25 ] || { echo "demo: only $n of 25 agents registered" >&2; exit 1; }

# 3. Submit each job at its arrival time / scale, in the background; each
# submission runs on its own, so a slow one does not delay the next.
awk -F, -v s="$scale" 'NR > 1 { printf "%.0f,%s\n", $1 / s * 1e6, $0 }' "$tmp/trace.csv" \
	>"$tmp/due.csv"
mkdir -p "$tmp/submit"
submit_jobs() {
	local t0 due arrival name model lo hi tasks rounds weight delay s
	t0=${EPOCHREALTIME//[!0-9]/}
	while IFS=, read -r due arrival name model lo hi tasks rounds weight; do
		delay=$((t0 + due - ${EPOCHREALTIME//[!0-9]/}))
		if [ $delay -gt 0 ]; then
			printf -v s '%d.%06d' $((delay / 1000000)) $((delay % 1000000))
			sleep "$s"
		fi
		"$harectl" submit --name "$name" --model "$model" --gpus "$tasks" --min-gpus "$lo" \
			--max-gpus "$hi" --rounds "$rounds" --weight "$weight" \
			>"$tmp/submit/$name" 2>&1 &
	done <"$tmp/due.csv"
	wait
}
submit_jobs &
submit_pid=$!
run_us=$(now_us)

# 4. Wait for every job, with a few snapshots of the queue.
done_count() { "$harectl" queue --all -o json 2>/dev/null | grep -c '"state":"DONE"' || true; }
snap_at=($((WALL_TARGET_S / 5)) $((WALL_TARGET_S * 2 / 5)) $((WALL_TARGET_S * 3 / 5)))
snap=0
limit_s=$((WALL_TARGET_S * 4 / 3))
while :; do
	alive
	el=$((($(now_us) - run_us) / 1000000))
	d=$(done_count)
	[ "$d" -ge $JOBS ] && break
	if [ $el -ge $limit_s ]; then
		echo "demo: only $d of $JOBS jobs done after ${limit_s}s" >&2
		exit 1
	fi
	if [ $snap -lt ${#snap_at[@]} ] && [ $el -ge "${snap_at[$snap]}" ]; then
		snap=$((snap + 1))
		q=$("$harectl" queue 2>/dev/null || true)
		echo "--- harectl queue at ${el}s ($d of $JOBS jobs done)"
		printf '%s\n' "$q" | sed -n 1,13p
		more=$(($(printf '%s\n' "$q" | wc -l) - 13))
		[ $more -le 0 ] || echo "... and $more more"
		echo
	fi
	sleep 0.5
done
run_s=$(since "$run_us")
wait "$submit_pid"
submit_pid=""
for f in "$tmp"/submit/*; do
	grep -qx '[0-9][0-9]*' "$f" || { echo "demo: submit ${f##*/}: $(cat "$f")" >&2; exit 1; }
done
"$harectl" queue --all -o json >"$tmp/queue.json"

# 5. Measured against simulated, per job and in total.
awk -v scale="$scale" -f "$here/compare.awk" "$tmp/sim/hare/jobs.csv" "$tmp/queue.json" \
	>"$tmp/compare.txt"
echo "All $JOBS jobs done after ${run_s}s (demo wall time $(since "$start_us")s). Times in" \
	"profile seconds (wall x $scale):"
echo
sed -n '/^SUMMARY/,/^END/p' "$tmp/compare.txt" | sed '1d;$d'
err=$(sed -n 's/^ERROR //p' "$tmp/compare.txt")
if [ -n "${HARE_DEMO_JOBS:-}" ] || awk -v e="$err" 'BEGIN { exit !(e > 5) }'; then
	echo
	echo "Per job (start relative to the first arrival; rst: lease restarts):"
	sed -n '/^JOBS/,/^END/p' "$tmp/compare.txt" | sed '1d;$d'
fi
echo
sed -n 's/^LINE //p' "$tmp/compare.txt"
