#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The CUDA engine's multi-rank path on the CPU: hare-worker processes load
# the emulated engine (tests/gpu/emulate.sh lib), whose NCCL stand-in joins
# ranks that are processes through shared memory. For each tiny proxy model:
# (1) two ranks of one task each report the same losses as each other, and
# the same as one rank running both tasks (data-parallel training is the
# same training: task offsets from the all-gather, gradients summed by the
# all-reduce); (2) the two ranks stopped at a checkpoint and resumed (rank
# 0 reads it and broadcasts parameters, momentum and round) repeat the
# uninterrupted losses exactly; (3) a rank whose peer is killed exits 75;
# (4) so does one whose peer never joins the communicator.
# It checks the engine's rank logic, not NCCL or a GPU.
# Usage, from the source root: tests/gpu/emulate_ranks.sh BUILD_DIR [ROUNDS]
# Exit: 0 passed, 1 a check failed, 77 without g++ or hare-worker.
set -u

build=$(cd "${1:?usage: tests/gpu/emulate_ranks.sh BUILD_DIR [ROUNDS]}" && pwd)
rounds=${2:-20}
half=$((rounds / 2))
src=$(pwd)
worker="$build/workloads/hare-worker"
[ -f "$src/tests/gpu/emulate.sh" ] || { echo "run from the source root"; exit 2; }
command -v g++ >/dev/null || { echo "skip: no g++"; exit 77; }
[ -x "$worker" ] || { echo "skip: $worker not built"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bash "$src/tests/gpu/emulate.sh" lib "$tmp" || exit 1
lib="$tmp/libhare_worker_cuda.so"
# a peer that never comes fails in seconds, not minutes
export HARE_EMU_NCCL_TIMEOUT_S=30
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

. "$src/tests/gpu/env.bash"	# tiny_proxy
# "ROUND LOSS" of each round line
losses() { awk '$1 == "round" { print $2, $6 }' "$@"; }

# ranks OUT WORLD [FLAGS...]: ranks 0..WORLD-1 of one lease (one task each),
# rank r's report lines in OUT.r; fails when a rank fails
ranks() {
	local out=$1 world=$2 r pids=() rc=0
	shift 2
	rm -f "$out.id"
	for ((r = 0; r < world; r++)); do
		"$worker" "$@" --world-size "$world" --rank "$r" --tasks 1 --job-tasks "$world" \
			--nccl-id-file "$out.id" >"$out.$r" 2>>"$tmp/worker.log" &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p" || rc=1; done
	return $rc
}

for m in lm recommendation resnet18; do
	common=(--lib "$lib" --model "$m" --proxy "$(tiny_proxy "$m")" --seed 5 --report-ms 0
		--job 1 --lease 1)
	# one rank, both tasks
	"$worker" "${common[@]}" --world-size 1 --rank 0 --tasks 2 --job-tasks 2 \
		--round-count "$rounds" >"$tmp/$m.one" 2>>"$tmp/worker.log" || fail "$m: one rank failed"
	# two ranks, a task each
	ranks "$tmp/$m.two" 2 "${common[@]}" --round-count "$rounds" || fail "$m: a rank of two failed"
	n=$(losses "$tmp/$m.two.0" | wc -l)
	if [ "$n" -ne "$rounds" ]; then
		fail "$m: rank 0 reported $n of $rounds rounds"
	elif ! cmp -s <(losses "$tmp/$m.two.0") <(losses "$tmp/$m.two.1"); then
		fail "$m: the two ranks report different losses"
	else
		# data parallelism sums the same float gradients in another order
		# at most: equal to float rounding
		if diff=$(paste <(losses "$tmp/$m.one") <(losses "$tmp/$m.two.0") | awk '
			$1 != $3 { bad = 1 }
			{ d = $2 - $4; d = d < 0 ? -d : d; r = d / ($2 < 0 ? -$2 : $2); if (r > max) max = r }
			END { printf "%.2g", max; exit bad || max > 1e-5 }'); then
			echo "ok: $m: 2 ranks x 1 task = 1 rank x 2 tasks over $rounds rounds (largest relative loss difference $diff), first loss $(losses "$tmp/$m.two.0" | head -1 | cut -d' ' -f2), last $(losses "$tmp/$m.two.0" | tail -1 | cut -d' ' -f2)"
		else
			fail "$m: 2 ranks and 1 rank with 2 tasks differ (relative $diff)"
		fi
	fi
	# two ranks stopped at a checkpoint and resumed
	ck="$tmp/$m.ck"
	ranks "$tmp/$m.a" 2 "${common[@]}" --round-count "$half" --checkpoint-dir "$ck" ||
		fail "$m: first half failed"
	ranks "$tmp/$m.b" 2 "${common[@]}" --round-first "$half" --round-count $((rounds - half)) \
		--checkpoint-dir "$ck" || fail "$m: second half failed"
	if cmp -s <(losses "$tmp/$m.two.0") <(losses "$tmp/$m.a.0" "$tmp/$m.b.0") &&
		cmp -s <(losses "$tmp/$m.two.1") <(losses "$tmp/$m.a.1" "$tmp/$m.b.1"); then
		echo "ok: $m: 2 ranks resumed at round $half from rank 0's checkpoint repeat the losses exactly"
	else
		fail "$m: the resumed ranks' losses differ from the uninterrupted run"
	fi
done

# (3) a rank whose peer dies mid-training gets NCCL's remote error and exits
# 75, a peer's failure (hared then charges the dead rank's node, not its own)
common=(--lib "$lib" --model lm --proxy "$(tiny_proxy lm)" --seed 5 --report-ms 0 --job 2 --lease 1
	--world-size 2 --tasks 1 --job-tasks 2 --round-count 1000000 --nccl-id-file "$tmp/dead.id")
"$worker" "${common[@]}" --rank 0 >"$tmp/dead.0" 2>>"$tmp/worker.log" &
p0=$!
HARE_EMU_NCCL_TIMEOUT_S=2 "$worker" "${common[@]}" --rank 1 >"$tmp/dead.1" 2>"$tmp/dead.err" &
p1=$!
for ((i = 0; i < 300; i++)); do
	grep -q '^round' "$tmp/dead.1" 2>/dev/null && break
	sleep 0.1
done
kill -KILL "$p0"
wait "$p0" 2>/dev/null
wait "$p1"
rc=$?
if [ $rc -eq 75 ] && grep -q "(a peer rank or the network failed)" "$tmp/dead.err"; then
	echo "ok: rank 1 exits 75 when rank 0 is killed after round $(grep -c "^round" "$tmp/dead.1")"
else
	fail "rank 1 of a dead rank 0 exited $rc: $(tail -2 "$tmp/dead.err")"
fi

# (4) a rank that cannot join the communicator because its peer never does
# (NCCL's bootstrap fails: ncclSystemError) exits 75 too. Rank 0 writes the
# id and is killed; its emulated communicator (a shared-memory segment named
# by the id's first 16 bytes) is removed, so rank 1 waits in
# ncclCommInitRank for a rank 0 that never comes.
common=(--lib "$lib" --model lm --proxy "$(tiny_proxy lm)" --seed 5 --report-ms 0 --job 3 --lease 1
	--world-size 2 --tasks 1 --job-tasks 2 --round-count 100 --nccl-id-file "$tmp/join.id")
"$worker" "${common[@]}" --rank 0 >"$tmp/join.0" 2>>"$tmp/worker.log" &
p0=$!
for ((i = 0; i < 300; i++)); do
	[ -s "$tmp/join.id" ] && break
	sleep 0.05
done
kill -KILL "$p0"
wait "$p0" 2>/dev/null
seg=/dev/shm/hare-emu-nccl-$(awk '{ print $2 }' "$tmp/join.id" | base64 -d | od -An -tx1 -j16 -N16 | tr -d ' \n')
rm -f "$seg"
HARE_EMU_NCCL_TIMEOUT_S=2 "$worker" "${common[@]}" --rank 1 >"$tmp/join.1" 2>"$tmp/join.err"
rc=$?
rm -f "$seg"
if [ $rc -eq 75 ] && grep -q "ncclCommInitRank: .*(a peer rank or the network failed)" "$tmp/join.err"; then
	echo "ok: rank 1 exits 75 when its peer never joins the communicator"
else
	fail "rank 1 of a communicator rank 0 never joined exited $rc: $(tail -2 "$tmp/join.err")"
fi

if [ $failures -ne 0 ]; then
	echo "--- worker log (tail)"
	tail -20 "$tmp/worker.log"
	exit 1
fi
echo "all multi-rank emulation checks passed"
