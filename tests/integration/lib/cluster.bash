# SPDX-License-Identifier: MIT
# Shared setup of the integration tests (sourced; not a test itself).
# it_setup BUILD_DIR SOURCE_DIR [daemon-only]: sets build, src, hared,
# harectl, agent, worker, py (the python3 interpreter itself: a version
# manager's shim can take a second per start), tmp (a new folder, removed at
# exit unless HARE_KEEP_TMP is set), pids (killed at exit), failures, t0,
# HARE_SOCKET, and writes a random cluster key to $tmp/key. Exits 77 (skip)
# when a binary or python3 is missing. Workers run in their agent's work
# dir ($tmp/wN), in sessions of their own: they are found by that folder, so
# other clusters on the machine are left alone. A test may define
# it_extra_kill, called at exit before the folder goes.

it_setup() {
	local b need
	build=$(cd "${1:?build dir}" && pwd)
	src=$(cd "${2:?source dir}" && pwd)
	hared="$build/daemon/hared"
	harectl="$build/cli/harectl"
	agent="$build/agent/hare-agent"
	worker="$build/workloads/hare-worker"
	need=("$hared" "$harectl")
	[ "${3:-}" = daemon-only ] || need+=("$agent" "$worker")
	for b in "${need[@]}"; do
		[ -x "$b" ] || { echo "skip: $b not built"; exit 77; }
	done
	command -v python3 >/dev/null || { echo "skip: python3 not found"; exit 77; }
	py=$(python3 -c 'import sys; print(sys.executable)')
	tmp=$(mktemp -d)
	pids=()
	failures=0
	t0=$(date +%s)
	export HARE_SOCKET="$tmp/hared.sock"
	head -c 48 /dev/urandom | base64 -w0 >"$tmp/key"
	chmod 600 "$tmp/key"
	trap it_cleanup EXIT
}

fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# wait_for SECONDS DESCRIPTION COMMAND...: poll until COMMAND succeeds
# (every $wait_poll_s seconds, default 0.2); SECONDS is multiplied by
# $HARE_TEST_SLOW (a sanitized build's tests set 3), which only lengthens
# a wait that would fail.
wait_for() {
	local secs=$(($1 * ${HARE_TEST_SLOW:-1})) what=$2 end
	shift 2
	end=$(($(date +%s) + secs))
	while [ "$(date +%s)" -lt "$end" ]; do
		"$@" && return 0
		sleep "${wait_poll_s:-0.2}"
	done
	fail "timed out after ${secs}s waiting for $what"
	return 1
}

# Shell builtins only: this runs while waiting.
in_work_dir() {
	local w
	for w in "$tmp"/w*; do [ "$1/cwd" -ef "$w" ] && return 0; done
	return 1
}

# workers_of JOB: how many of this test's workers of JOB run.
workers_of() {
	local n=0 p args
	for p in /proc/[0-9]*; do
		in_work_dir "$p" || continue
		mapfile -d '' args <"$p/cmdline" 2>/dev/null || continue
		case " ${args[*]} " in *" --job=$1 --lease="*) n=$((n + 1)) ;; esac
	done
	echo "$n"
}

kill_workers() {
	local p
	for p in /proc/[0-9]*; do
		in_work_dir "$p" && kill -9 "${p#/proc/}" 2>/dev/null
	done
}

# The cgroup folders this test's agents made (their logs name them): what
# is left in them is killed (a worker's escapee too, which the cwd scan of
# kill_workers may miss) and they go, so that runs of the tests do not pile
# up folders of work dirs that are gone.
kill_cgroups() {
	local base d
	for base in $(sed -n "s/.*in a cgroup of its own under //p" "$tmp"/agent*.log 2>/dev/null |
		sort -u); do
		[ -d "$base" ] || continue
		for d in "$base"/*/; do
			[ -f "$d/cgroup.kill" ] || continue
			echo 1 >"$d/cgroup.kill" 2>/dev/null
			for _ in $(seq 100); do
				grep -q '^populated 0' "$d/cgroup.events" 2>/dev/null && break
				sleep 0.02
			done
			rmdir "$d" 2>/dev/null
		done
		rmdir "$base" 2>/dev/null
	done
	return 0
}

it_cleanup() {
	local p
	for p in "${pids[@]}" "${apid[@]}"; do kill "$p" 2>/dev/null; done
	if declare -F it_extra_kill >/dev/null; then it_extra_kill; fi
	wait 2>/dev/null
	kill_workers
	kill_cgroups
	if [ -n "${HARE_KEEP_TMP:-}" ]; then echo "kept $tmp"; else rm -rf "$tmp"; fi
}

# start_hared: hared on $tmp/hared.conf (the test writes it), appending to
# $tmp/hared.log; sets hpid, and port (its agent port). Exits 1 when it does
# not listen within 10 s (it writes its ports to the port_file the config
# names: $tmp/ports).
start_hared() {
	rm -f "$tmp/ports"
	"$hared" --config "$tmp/hared.conf" >>"$tmp/hared.log" 2>&1 &
	hpid=$!
	pids+=("$hpid")
	for _ in $(seq 200); do
		if [ -s "$tmp/ports" ]; then
			port=$(sed -n 's/^agent_port=//p' "$tmp/ports")
			return 0
		fi
		sleep 0.05
	done
	tail -20 "$tmp/hared.log"
	echo "FAIL: hared did not start"
	exit 1
}

# start_agent N GPUS [ARGS...]: agent nodeN (emulated GPUS) on hared's
# $port, with its own work dir $tmp/wN (kept across restarts), appending to
# $tmp/agentN.log; apid[N] is its pid (killed at exit).
declare -A apid
start_agent() {
	mkdir -p "$tmp/w$1"
	"$agent" --daemon "127.0.0.1:$port" --node "node$1" --gpus "$2" --key-file "$tmp/key" \
		--work-dir="$tmp/w$1" --worker "$worker" "${@:3}" >>"$tmp/agent$1.log" 2>&1 &
	apid[$1]=$!
}

# write_conf PORT [KEY=VALUE...]: $tmp/hared.conf for an emulated cluster at
# time_scale 1000, agents on 127.0.0.1:PORT (0: any; the bound port goes
# to $tmp/ports), then each KEY = VALUE given (a key given later replaces
# the one before: the file has each once).
write_conf() {
	local kv
	{
		cat <<EOF
[daemon]
agent_listen = 127.0.0.1:$1
client_socket = $tmp/hared.sock
state_dir = $tmp/state
cluster_key_file = $tmp/key
profiles = $src/workloads/profiles
time_scale = 1000
replan_debounce_ms = 20
port_file = $tmp/ports
EOF
		shift
		for kv in "$@"; do echo "${kv%%=*} = ${kv#*=}"; done
	} | tac | awk -F' = ' '!seen[$1]++' | tac >"$tmp/hared.conf"	# hared refuses a key twice
}

# it_finish WHAT: the agents and hared are stopped (SIGTERM) and waited
# for; a sanitizer report in a log fails; with failures, the tails of
# hared's and the agents' logs, and exit 1; else "all WHAT checks passed".
it_finish() {
	local f p
	# the agents and hared end first (SIGTERM, as systemd stops them), so
	# that a sanitizer's report at exit (a leak) is in their logs too
	for p in "${apid[@]}" "${hpid:-}"; do
		[ -n "$p" ] && kill "$p" 2>/dev/null
	done
	for p in "${apid[@]}" "${hpid:-}"; do
		[ -n "$p" ] && timeout 10 tail --pid="$p" -f /dev/null 2>/dev/null
	done
	grep -qE "Sanitizer|runtime error" "$tmp/hared.log" "$tmp"/agent*.log && fail "sanitizer report in a log"
	if [ $failures -ne 0 ]; then
		for f in "$tmp/hared.log" "$tmp"/agent*.log; do
			echo "--- $(basename "$f" .log) log (tail)"; grep -v "conn=" "$f" | tail -25
		done
		exit 1
	fi
	echo "all $1 checks passed in $(($(date +%s) - t0))s"
}

# queue_json: every job, as JSON.
queue_json() { "$harectl" queue --all -o json 2>/dev/null; }

# field JOB KEY: a field of harectl show -o json (empty if missing).
field() {
	"$harectl" show "$1" -o json 2>/dev/null | "$py" -c '
import json, sys
try:
    j = json.load(sys.stdin)
except ValueError:
    j = {}
print(j.get(sys.argv[1], ""))' "$2"
}

# one_v100 [KEY=VALUE...]: hared with this configuration (a restart of it
# comes back on the same port) and node1's agent with one emulated V100,
# registered.
one_v100() {
	write_conf 0 "$@"
	start_hared
	write_conf "$port" "$@"
	start_agent 1 V100:1
	one_v100_up() { [ "$(node_gpus node1)" = "V100:0:0" ]; }
	wait_for 10 "node1 to register" one_v100_up
}

# nodes_json: harectl nodes as JSON; drain_reason NODE: why NODE is
# drained ("" when it is not).
nodes_json() { "$harectl" nodes -o json 2>/dev/null; }
drain_reason() {
	nodes_json | "$py" -c '
import json, sys
n = [n for n in json.load(sys.stdin)["nodes"] if n["name"] == sys.argv[1]]
print(n[0].get("drain_reason", "") if n and n[0].get("drained") else "")' "$1"
}

# state_is JOB STATE: harectl show says the job is in STATE.
state_is() { [ "$(field "$1" state)" = "$2" ]; }

# progressed JOB [N]: the job has done more than N rounds (default 0).
progressed() { [ "$(field "$1" rounds_done)" -gt "${2:-0}" ] 2>/dev/null; }

# queue_state JOB: its STATE cell in harectl queue's table (HELD, WAITING).
queue_state() { "$harectl" queue --all | awk -v id="$1" '$1 == id { print $4 }'; }

# metric LINE: the metrics file ($tmp/hare.prom) has this line.
metric() { grep -qx "$1" "$tmp/hare.prom" 2>/dev/null; }

# logged PATTERN: hared's log has a line matching it.
logged() { grep -q "$1" "$tmp/hared.log"; }

# node_gpus NODE: "TYPE:unprofiled:measuring ..." of its GPUs, from harectl.
node_gpus() {
	"$harectl" nodes -o json 2>/dev/null | "$py" -c '
import json, sys
for n in json.load(sys.stdin)["nodes"]:
    if n["name"] == sys.argv[1] and n["up"]:
        print(" ".join("%s:%d:%d" % (g["type"], g["unprofiled"], g["measuring"]) for g in n["gpus"]))' "$1"
}
