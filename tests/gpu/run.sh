#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The GPU checks of the real worker, on a machine with an NVIDIA GPU:
#  (a) every layer and tiny whole models against the float64 CPU reference
#      (relative error <= 1e-3), (b) each proxy model's loss falls over 200
#      rounds, and a restored engine and a restored hare-worker repeat the loss
#      trajectory bit for bit, (c) NCCL all-reduce bus bandwidth over the GPUs
#      present (one GPU: world size 1, said so), (d) TFLOP/s of each model's
#      step next to cuBLAS running the same GEMMs (target >= 60%), (e) hared +
#      hare-agent + real workers run 3 jobs (and one of 2 ranks where the
#      node has 2 GPUs or more); each worker's reported (CUDA-event) round
#      times are within 2% of its host wall time, (f) --profile rows for the GPU present, (g) a
#      hared whose profile lacks the GPU's type has the agent measure it
#      (hare-worker --profile, lm) and then runs a job on it.
# Prints one table. Usage, from the source root: tests/gpu/run.sh BUILD_DIR
# HARE_GPU_TINY=1: small model sizes everywhere (gpu_check's "tiny" sizes,
# the same as --proxy / job proxy sizes) for a quick smoke run; the TFLOP/s
# and profile figures then mean nothing, and the stack's 2% timing rows say
# "tiny" instead of FAIL (rounds well under a millisecond are mostly the
# fixed cost around the events): run without it for the acceptance figures.
# HARE_GPU_SECTIONS: which of
# hare-gpu-check's sections run (default: grad train resume allreduce bench).
# Exit: 0 all passed, 1 a check failed, 77 no GPU (or the CUDA parts not built).
set -u

build=$(cd "${1:?usage: tests/gpu/run.sh BUILD_DIR}" && pwd)
src=$(pwd)
check="$build/tests/gpu/hare-gpu-check"
worker="$build/workloads/hare-worker"
hared="$build/daemon/hared"
agent="$build/agent/hare-agent"
harectl="$build/cli/harectl"
rounds=${HARE_GPU_ROUNDS:-200}
tiny=${HARE_GPU_TINY:-}

# --proxy flags for model $1 in tiny mode, nothing otherwise
proxy_args() { [ -n "$tiny" ] && echo "--proxy $(tiny_proxy "$1")"; }

[ -f "$src/workloads/profiles/models.csv" ] || { echo "run from the source root"; exit 2; }
. "$src/tests/gpu/env.bash"
gpu_env "$build"
[ -x "$check" ] || { echo "skip: $check not built (no nvcc when configured?)"; exit 77; }
[ -x "$worker" ] || { echo "skip: $worker not built"; exit 77; }
# cuBLAS and NCCL come from this machine (too large to carry): name what the
# loader cannot find, rather than a FAIL row per section
missing=$(ldd "$check" "$build/workloads/libhare_worker_cuda.so" 2>/dev/null | awk '/not found/ { print $1 }' | sort -u | tr '\n' ' ')
if [ -n "$missing" ]; then
	echo "cannot load the CUDA engine: ${missing}not found (cuBLAS 13 and NCCL must be on this machine: LD_LIBRARY_PATH, or a pip nvidia-cublas / nvidia-nccl-cu13 that tests/gpu/env.bash finds)"
	[ -e /dev/nvidia0 ] && exit 2
	exit 77
fi
"$check" none >/dev/null 2>&1
[ $? -eq 77 ] && { echo "skip: no CUDA driver or GPU"; "$check" none; exit 77; }

tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	if [ -n "${HARE_KEEP_TMP:-}" ]; then echo "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
table="$tmp/table"
: >"$table"
add() { printf 'TABLE\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$table"; }
py=$(command -v python3 || true)

# (a)-(d): the checks inside hare-gpu-check
for s in ${HARE_GPU_SECTIONS:-grad train resume allreduce bench}; do
	echo "== $s" >&2
	"$check" "$s" "$rounds" ${tiny:+tiny} | tee -a "$table" | cut -f2- >&2
	rc=${PIPESTATUS[0]}
	# 1: a FAIL row says which check; anything else is a crash or an abort
	[ "$rc" -le 1 ] || add "$s" "hare-gpu-check $s" "exited with status $rc (see above)" FAIL
done

# (b) the same through hare-worker: checkpoint files, a stop and a resume
wargs="--model lm $(proxy_args lm) --seed 3 --report-ms 0 --job 1 --lease 1 --rank 0 --world-size 1"
losses() { awk '$1 == "round" { print $2, $6 }'; }
"$worker" $wargs --round-count 30 2>>"$tmp/worker.log" | losses >"$tmp/full"
"$worker" $wargs --round-count 15 --checkpoint-dir "$tmp/ck" 2>>"$tmp/worker.log" | losses >"$tmp/part"
"$worker" $wargs --round-first 15 --round-count 15 --checkpoint-dir "$tmp/ck" 2>>"$tmp/worker.log" |
	losses >>"$tmp/part"
if [ -s "$tmp/full" ] && cmp -s "$tmp/full" "$tmp/part"; then
	add resume "hare-worker lm, checkpoint at 15" "30 rounds: identical losses" ok
else
	add resume "hare-worker lm, checkpoint at 15" "losses differ or missing (see $tmp/worker.log)" FAIL
fi

# (f) profile rows for the GPU present
type=""
iters=10
[ -n "$tiny" ] && iters=2
for m in lm recommendation resnet18; do
	# shellcheck disable=SC2046 # proxy_args is a flag and its value, or nothing
	if "$worker" --profile --model "$m" $(proxy_args "$m") --profile-iters "$iters" \
		>"$tmp/profile.$m" 2>>"$tmp/worker.log"; then
		n=$(grep -vc '^#' "$tmp/profile.$m")
		type=$(grep -v '^#' "$tmp/profile.$m" | head -1 | cut -d, -f2)
		c=$(grep -v '^#' "$tmp/profile.$m" | head -1 | cut -d, -f5)
		s8=$(grep -v '^#' "$tmp/profile.$m" | awk -F, '$3 == 8 && $4 == "consolidated" { print $6 }')
		[ "$n" -eq 16 ] || { [ -n "$tiny" ] && [ "$n" -ge 1 ]; } && st=ok || st=FAIL
		add profile "$m on $type" "$n rows; compute_s $c, sync_s at 8 GPUs $s8" "$st"
	else
		add profile "$m" "hare-worker --profile failed (see $tmp/worker.log)" FAIL
	fi
done

# (e) hared + agent + real workers: 3 jobs on the GPU(s) of this node
full_stack() {
	local port key="$tmp/key" ids=() id
	for b in "$hared" "$agent" "$harectl"; do
		[ -x "$b" ] || { add stack "hared + agent" "skipped: $b not built" skip; return; }
	done
	[ -n "$py" ] || { add stack "hared + agent" "no python3: the stack's checks need it" FAIL; return; }
	[ -n "$type" ] || { add stack "hared + agent" "skipped: no profile rows" FAIL; return; }
	mkdir -p "$tmp/profiles" "$tmp/work"
	cp "$src"/workloads/profiles/*.csv "$tmp/profiles/"
	for m in lm recommendation resnet18; do grep -v '^#' "$tmp/profile.$m" >>"$tmp/profiles/throughput.csv"; done
	head -c 48 /dev/urandom | base64 -w0 >"$key"
	cat >"$tmp/hared.conf" <<EOF
[daemon]
agent_listen = 127.0.0.1:0
client_socket = $tmp/hared.sock
state_dir = $tmp/state
cluster_key_file = $key
profiles = $tmp/profiles
replan_debounce_ms = 20
port_file = $tmp/ports
log_level = debug
EOF
	export HARE_SOCKET="$tmp/hared.sock"
	"$hared" --config "$tmp/hared.conf" >"$tmp/hared.log" 2>&1 &
	pids+=($!)
	for _ in $(seq 100); do [ -s "$tmp/ports" ] && break; sleep 0.05; done
	port=$(sed -n 's/^agent_port=//p' "$tmp/ports")
	[ -n "$port" ] || { add stack "hared" "did not start (see $tmp/hared.log)" FAIL; return; }
	# no --gpus: the agent finds the real GPUs with NVML and starts real workers
	"$agent" --daemon "127.0.0.1:$port" --node gpu0 --key-file "$key" --work-dir="$tmp/work" \
		--worker "$worker" --log-level info >"$tmp/agent.log" 2>&1 &
	pids+=($!)
	sleep 2
	# whether the workers run with GPU isolation (constrain_devices = auto:
	# as root with cgroup v2 and BPF; CUDA_VISIBLE_DEVICES is then the GPU's
	# UUID): the jobs below run under it
	local iso
	iso=$(grep -o "agent isolates GPUs\|agent does not isolate GPUs.*" "$tmp/agent.log" | head -1)
	add stack "GPU isolation" "${iso:-the agent log says nothing of it}" "$([ -n "$iso" ] && echo ok || echo FAIL)"
	# "MODEL ROUNDS GPUS": one GPU each; with two GPUs or more, also a job
	# of two ranks (NCCL across GPUs: rendezvous, broadcast, all-reduce)
	local ngpu id2=""
	ngpu=$("$harectl" nodes -o json 2>/dev/null | "$py" -c 'import json, sys
print(sum(len(n["gpus"]) for n in json.load(sys.stdin)["nodes"] if n["up"]))' 2>/dev/null)
	local specs=("lm 300 1" "recommendation 300 1" "resnet18 200 1")
	[ -n "$tiny" ] && specs=("lm 40 1" "recommendation 40 1" "resnet18 20 1")
	if [ "${ngpu:-0}" -ge 2 ]; then
		specs+=("lm $([ -n "$tiny" ] && echo 40 || echo 300) 2")
	else
		add stack "job of 2 ranks (NCCL)" "skipped: ${ngpu:-no} GPU(s) on this node; needs 2" skip
	fi
	for spec in "${specs[@]}"; do
		set -- $spec
		# shellcheck disable=SC2046
		id=$("$harectl" submit --model "$1" $(proxy_args "$1") --gpus "$3" --min-gpus "$3" \
			--rounds "$2") || { add stack "submit $1" "failed" FAIL; return; }
		ids+=("$id")
		[ "$3" -eq 2 ] && id2=$id
	done
	local end=$(($(date +%s) + ${HARE_GPU_STACK_S:-300}))
	while [ "$(date +%s)" -lt "$end" ]; do
		"$harectl" queue --all -o json >"$tmp/queue.json" 2>/dev/null
		"$py" - "$tmp/queue.json" <<'EOF' && break
import json, sys
jobs = json.load(open(sys.argv[1]))["jobs"]
sys.exit(0 if jobs and all(j["state"] in ("DONE", "FAILED", "CANCELLED") for j in jobs) else 1)
EOF
		sleep 2
	done
	# the workers' own lines are in their output files (task_logs)
	cat "$tmp"/work/logs/*.log >"$tmp/workers.log" 2>/dev/null
	"$py" - "$tmp/queue.json" "$tmp/workers.log" "$table" "$tiny" <<'EOF' ||
import json, re, sys
jobs = json.load(open(sys.argv[1]))["jobs"]
out = open(sys.argv[3], "a")
def add(item, value, status):
    out.write("TABLE\tstack\t%s\t%s\t%s\n" % (item, value, status))
for j in jobs:
    ok = j["state"] == "DONE" and j["rounds_done"] == j["rounds_total"] and "loss" in j
    add("job %d %s" % (j["job_id"], j["model"]),
        "%s, %d/%d rounds, loss %s, %d restarts" % (j["state"], j["rounds_done"], j["rounds_total"],
        "%.4f" % j["loss"] if "loss" in j else "-", j.get("restarts", 0)), "ok" if ok else "FAIL")
pat = re.compile(r"worker job=(\d+) lease=(\d+) rank=(\d+): (done|stopped) after (\d+) rounds; "
                 r"device-timed ([0-9.]+) s, host wall ([0-9.]+) s")
seen = 0
for line in open(sys.argv[2], errors="replace"):
    m = pat.search(line)
    if not m or int(m.group(5)) < 20:
        continue
    seen += 1
    ev, wall = float(m.group(6)), float(m.group(7))
    dev = abs(ev - wall) / wall if wall > 0 else 1
    add("job %s lease %s timing" % (m.group(1), m.group(2)),
        "%s rounds: reported (events) %.3f s, host wall %.3f s, %.2f%% apart" % (m.group(5), ev, wall, 100 * dev),
        # tiny rounds (well under a millisecond) are mostly the fixed cost
        # around the events: the 2% is judged at the real sizes only
        "ok" if dev <= 0.02 else "tiny" if sys.argv[4] else "FAIL")
if seen == 0:
    add("worker timing", "no worker summary line in the workers' output files", "FAIL")
EOF
		add stack "results" "cannot read the queue or the workers' output (see $tmp/hared.log)" FAIL
	if [ -n "$id2" ]; then
		# both ranks of one lease started (and the job row above says DONE)
		if grep -q "task start job=$id2 .* rank=1/2 " "$tmp/agent.log" &&
			grep -q "task start job=$id2 .* rank=0/2 " "$tmp/agent.log"; then
			add stack "job $id2 lm, 2 ranks" "both ranks of a lease ran (NCCL id relayed, all-reduce across 2 GPUs)" ok
		else
			add stack "job $id2 lm, 2 ranks" "no lease with ranks 0/2 and 1/2 in the agent log" FAIL
		fi
	fi
}
echo "== stack" >&2
full_stack

# (g) the cluster measures a type it lacks: hared with the shipped profile,
# the agent on the real GPUs; hared asks it to run --profile (lm), saves the
# rows and runs a job there
measure_stack() {
	local port key="$tmp/key" id t t0 rows st waited=0
	local limit=${HARE_GPU_MEASURE_S:-600}
	for b in "$hared" "$agent" "$harectl"; do
		[ -x "$b" ] || { add measure "hared + agent" "skipped: $b not built" skip; return; }
	done
	[ -n "$py" ] || { add measure "hared + agent" "no python3: the measurement's checks need it" FAIL; return; }
	[ -s "$key" ] || head -c 48 /dev/urandom | base64 -w0 >"$key"
	mkdir -p "$tmp/work-m"
	cat >"$tmp/hared-m.conf" <<EOF
[daemon]
agent_listen = 127.0.0.1:0
client_socket = $tmp/hared-m.sock
state_dir = $tmp/state-m
cluster_key_file = $key
profiles = $src/workloads/profiles
measure_models = lm
replan_debounce_ms = 20
port_file = $tmp/ports-m
log_level = debug
EOF
	{
		echo "[agent]"
		echo "profile_iters = $iters"
		[ -n "$tiny" ] && echo "profile_proxy = $(tiny_proxy lm)"
	} >"$tmp/agent-m.conf"
	"$hared" --config "$tmp/hared-m.conf" >"$tmp/hared-m.log" 2>&1 &
	pids+=($!)
	for _ in $(seq 100); do [ -s "$tmp/ports-m" ] && break; sleep 0.05; done
	port=$(sed -n 's/^agent_port=//p' "$tmp/ports-m")
	[ -n "$port" ] || { add measure "hared" "did not start (see $tmp/hared-m.log)" FAIL; return; }
	t0=$(date +%s)
	"$agent" --config "$tmp/agent-m.conf" --daemon "127.0.0.1:$port" --node gpu0 --key-file "$key" \
		--work-dir="$tmp/work-m" --worker "$worker" --log-level info >"$tmp/agent-m.log" 2>&1 &
	pids+=($!)
	while [ "$waited" -lt "$limit" ]; do
		grep -qE "measured GPU type|could not measure|refused" "$tmp/hared-m.log" && break
		if [ "$waited" -ge 10 ] && ! grep -q "measures GPU type" "$tmp/hared-m.log"; then
			add measure "agent measures its type" "skipped: hared asked nothing (the GPU type is in the shipped profile)" skip
			return
		fi
		sleep 1
		waited=$((waited + 1))
	done
	t=$(sed -n 's/.*node=gpu0 measures GPU type \([^ ]*\) .*/\1/p' "$tmp/hared-m.log" | head -1)
	rows=$(grep -c "^lm,$t," "$tmp/state-m/measured-throughput.csv" 2>/dev/null)
	grep -q "measured GPU type $t: 16 rows saved" "$tmp/hared-m.log" && [ "${rows:-0}" -eq 16 ] && st=ok || st=FAIL
	add measure "agent measures $t (lm)" "${rows:-0} rows saved after $(($(date +%s) - t0)) s$(grep -o 'could not measure.*\|refused: .*' "$tmp/hared-m.log" | head -1 | sed 's/^/; /')" "$st"
	[ "$st" = ok ] || return
	# shellcheck disable=SC2046
	id=$(HARE_SOCKET="$tmp/hared-m.sock" "$harectl" submit --model lm $(proxy_args lm) --gpus 1 \
		--rounds 40 --gpu-types "$t") || { add measure "job on $t" "submit refused" FAIL; return; }
	for _ in $(seq 120); do
		HARE_SOCKET="$tmp/hared-m.sock" "$harectl" show "$id" -o json >"$tmp/show-m.json" 2>/dev/null
		grep -qE '"state":"(DONE|FAILED|CANCELLED)"' "$tmp/show-m.json" && break
		sleep 1
	done
	"$py" - "$tmp/show-m.json" "$t" "$table" <<'EOF' || add measure "job on $t" "cannot read it (see $tmp/hared-m.log)" FAIL
import json, sys
j = json.load(open(sys.argv[1]))
ok = j["state"] == "DONE" and j["rounds_done"] == j["rounds_total"]
open(sys.argv[3], "a").write("TABLE\tmeasure\tjob %d lm on %s\t%s, %d/%d rounds, loss %s\t%s\n" % (
    j["job_id"], sys.argv[2], j["state"], j["rounds_done"], j["rounds_total"],
    "%.4f" % j["loss"] if "loss" in j else "-", "ok" if ok else "FAIL"))
EOF
}
echo "== measure" >&2
measure_stack

echo
printf '%-10s %-40s %-8s %s\n' SECTION ITEM STATUS VALUE
grep '^TABLE' "$table" | while IFS=$'\t' read -r _ section item value status; do
	printf '%-10s %-40s %-8s %s\n' "$section" "$item" "$status" "$value"
done
fails=$(grep -c $'\tFAIL$' "$table")
echo
echo "$fails failed"
[ "$fails" -eq 0 ]
