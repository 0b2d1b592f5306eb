#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# hare-sim on bad input: each case must exit 2 with exactly one line on stderr
# naming the file or field; a good run must exit 0 and be deterministic.
# Usage: sim_bad_input.sh BUILD_DIR SOURCE_DIR (exit 77: hare-sim not built).
set -u

build=${1:?build dir}
src=${2:?source dir}
sim="$build/sim/hare-sim"
fx="$src/tests/fixtures/sim"
tiny="$src/deploy/clusters/tiny-8.ini"
[ -x "$sim" ] || { echo "skip: $sim not built"; exit 77; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0

fail() {
	echo "FAIL: $*"
	failures=$((failures + 1))
}

# expect_error NAME PATTERN ARGS...: exit 2, stdout empty, one stderr line
# matching PATTERN (grep -E).
expect_error() {
	local name=$1 pattern=$2 rc lines
	shift 2
	"$sim" "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	lines=$(wc -l <"$tmp/err")
	if [ "$rc" -ne 2 ]; then
		fail "$name: exit $rc, want 2 ($(head -c 300 "$tmp/err"))"
	elif [ "$lines" -ne 1 ]; then
		fail "$name: $lines lines on stderr, want 1:"; cat "$tmp/err"
	elif ! grep -Eq -- "$pattern" "$tmp/err"; then
		fail "$name: stderr '$(cat "$tmp/err")' does not match '$pattern'"
	elif [ -s "$tmp/out" ]; then
		fail "$name: wrote to stdout"
	else
		echo "ok: $name: $(cat "$tmp/err")"
	fi
}

gen="jobs=20,seed=1"
expect_error "bad node out of range" 'bad-nodes: node 9, but the cluster has nodes 0\.\.[0-9]+' \
	--cluster "$tiny" --generate "$gen" --bad-nodes 0,9
expect_error "bad node list" 'bad-nodes wants up to 64 node indices like 0,3, got .0,x.' \
	--cluster "$tiny" --generate "$gen" --bad-nodes 0,x
expect_error "bad node list comma" 'bad-nodes ends with a comma' \
	--cluster "$tiny" --generate "$gen" --bad-nodes 0,
expect_error "failure option alone" '--no-avoid applies with --bad-nodes only' \
	--cluster "$tiny" --generate "$gen" --no-avoid
expect_error "max retries" 'max-retries wants a whole number' \
	--cluster "$tiny" --generate "$gen" --bad-nodes 0 --max-retries 1.5
expect_error "quarantine alone" '--quarantine applies with --bad-nodes only' \
	--cluster "$tiny" --generate "$gen" --quarantine 2
expect_error "quarantine range" "--quarantine: expected a number >= 0 and <= 64, got '65'" \
	--cluster "$tiny" --generate "$gen" --bad-nodes 0 --quarantine 65
expect_error "quarantine-max range" '--quarantine-max: expected a number >= 1' \
	--cluster "$tiny" --generate "$gen" --bad-nodes 0 --quarantine 2 --quarantine-max 0
expect_error "unknown GPU type" 'cluster_unknown_type\.ini:7: .*type: unknown GPU type .Z9000' \
	--cluster "$fx/cluster_unknown_type.ini" --generate "$gen"
expect_error "negative count" 'cluster_negative\.ini:3: .*nodes: .*-2' \
	--cluster "$fx/cluster_negative.ini" --generate "$gen"
expect_error "zero count" 'cluster_zero\.ini:4: .*gpus_per_node' \
	--cluster "$fx/cluster_zero.ini" --generate "$gen"
expect_error "missing key" 'cluster_missing_key\.ini:6: .*gpus_per_node: missing' \
	--cluster "$fx/cluster_missing_key.ini" --generate "$gen"
expect_error "unknown key" 'cluster_unknown_key\.ini:4: .*colour' \
	--cluster "$fx/cluster_unknown_key.ini" --generate "$gen"
expect_error "missing cluster file" 'no-such\.ini' \
	--cluster "$tmp/no-such.ini" --generate "$gen"
expect_error "profile with a hole" 'profile_hole/throughput\.csv:[0-9]+: .*resnet50.*T4' \
	--profiles "$fx/profile_hole" --cluster "$tiny" --generate "$gen"
expect_error "missing profile dir" 'no-profiles' \
	--profiles "$tmp/no-profiles" --cluster "$tiny" --generate "$gen"
expect_error "generate jobs=0" '^hare-sim: --generate: jobs: ' --cluster "$tiny" --generate "jobs=0,seed=1"
expect_error "generate no seed" '--generate: seed: missing' --cluster "$tiny" --generate "jobs=5"
expect_error "generate bad number" '--generate: jobs: .*5x' --cluster "$tiny" --generate "jobs=5x,seed=1"
expect_error "generate load<=0" '--generate: load: ' --cluster "$tiny" --generate "jobs=5,seed=1,load=0"
expect_error "generate load too small" \
	'^hare-sim: --generate: load: 1e-10 puts the last of 5 arrivals at .* past the limit of 1e\+11 s' \
	--cluster "$tiny" --generate "jobs=5,seed=1,load=1e-10"
expect_error "generate unknown key" '--generate: colour: unknown key' \
	--cluster "$tiny" --generate "jobs=5,seed=1,colour=red"
expect_error "generate empty" '--generate: empty item' --cluster "$tiny" --generate ""
expect_error "no arguments" '--cluster is required'
expect_error "unknown option" "unknown option '--bogus'" --bogus
expect_error "missing value" '--cluster needs a value' --generate "$gen" --cluster
expect_error "unknown policy" "--policies: unknown policy 'nope'" \
	--cluster "$tiny" --generate "$gen" --policies fifo,nope
expect_error "stray argument" "unexpected argument 'extra'" --cluster "$tiny" --generate "$gen" extra
: >"$tmp/empty.csv"
expect_error "empty trace" 'empty\.csv: empty trace \(no header: the file is empty\)$' \
	--cluster "$tiny" --trace "$tmp/empty.csv"
printf '# nothing\n\n' >"$tmp/blank.csv"
expect_error "blank trace" 'blank\.csv:2: empty trace \(no header, only blank or comment lines\)$' \
	--cluster "$tiny" --trace "$tmp/blank.csv"
# Inputs past the LP bound's limits (1e15) are errors naming the field, not
# the LP's internal check: arrivals rescaled past 1e11 s, a job's work past
# 1e15 GPU-seconds on its fastest type.
printf 'arrival_s,model,tasks,rounds\n0,resnet50,1,10\n100,resnet50,1,10\n' >"$tmp/two.csv"
expect_error "trace --load too small" \
	'two\.csv: --load: 1e-300 stretches the arrivals by .* past the limit of 1e\+11 s; use a larger --load$' \
	--cluster "$tiny" --trace "$tmp/two.csv" --load 1e-300
expect_error "trace --load too small, no bound" 'two\.csv: --load: 1e-300 ' \
	--cluster "$tiny" --trace "$tmp/two.csv" --load 1e-300 --no-bound
printf 'arrival_s,model,tasks,rounds\n0,resnet50,1,10\n1e6,resnet50,1,10\n' >"$tmp/late.csv"
expect_error "trace --arrival-scale too large" \
	'late\.csv: --arrival-scale: 1e\+06 puts the last arrival at 1e\+12 s, past the limit of 1e\+11 s' \
	--cluster "$tiny" --trace "$tmp/late.csv" --arrival-scale 1e6
printf 'arrival_s,model,tasks,rounds,gpu_types\n0,resnet50,4096,1000000000000,K80\n' >"$tmp/huge.csv"
expect_error "trace work too large" \
	'huge\.csv:2: rounds: 1e\+12 rounds of 4096 tasks are 5\.49e\+15 GPU-seconds on K80, its fastest GPU type here, more than 1e\+15$' \
	--cluster "$tiny" --trace "$tmp/huge.csv"
# A job no single GPU type can hold (5 GPUs of V100 or K80; 2 + 4 here): the
# policies that run a job on one type refuse it up front, naming the job and
# the policy; the others complete it (the type-blind ones pool its types).
printf '[v]\ntype = V100\nnodes = 1\ngpus_per_node = 2\n[p]\ntype = P100\nnodes = 2\ngpus_per_node = 1\n[k]\ntype = K80\nnodes = 1\ngpus_per_node = 4\n' >"$tmp/c3.ini"
printf 'arrival_s,model,min_gpus,max_gpus,tasks,rounds,gpu_types\n0,resnet50,5,5,5,100,V100;K80\n' >"$tmp/wide.csv"
for policy in gavel gavel-tput allox; do
	expect_error "no single type: $policy" \
		"^hare-sim: job 0 \\(job0\\) needs 5 GPUs at once and policy $policy runs a job on GPUs of one type only; the largest type it may use here, K80, has 4$" \
		--cluster "$tmp/c3.ini" --trace "$tmp/wide.csv" --policies "hare,$policy"
done
if "$sim" --cluster "$tmp/c3.ini" --trace "$tmp/wide.csv" --policies hare,optimus,fifo,srtf,tiresias,gandiva \
	--quiet --json >"$tmp/wide.json" 2>"$tmp/err" &&
	[ "$(grep -o '"jobs_completed":1,"jobs":1' "$tmp/wide.json" | wc -l)" -eq 6 ]; then
	echo "ok: no single type: the other policies complete it"
else
	fail "no single type: the other policies: $(cat "$tmp/err")"
fi
mkdir "$tmp/adir"
expect_error "trace is a folder" 'adir: Is a directory$' --cluster "$tiny" --trace "$tmp/adir"

# A trace with a UTF-8 byte order mark (a spreadsheet's CSV export) reads
# as one without.
printf '\xef\xbb\xbfarrival_s,model,tasks,rounds\n0,resnet50,1,10\n' >"$tmp/bom.csv"
if "$sim" --cluster "$tiny" --trace "$tmp/bom.csv" --policies fifo --json >"$tmp/bom.json" 2>"$tmp/err" &&
	grep -q '"jobs_completed":1,"jobs":1' "$tmp/bom.json"; then
	echo "ok: trace with a byte order mark"
else
	fail "trace with a byte order mark: $(cat "$tmp/err")"
fi

# Output that cannot be written (a full disk) is an error, not success.
if [ -w /dev/full ]; then
	"$sim" --cluster "$tiny" --generate "$gen" --policies fifo --json >/dev/full 2>"$tmp/err"
	rc=$?
	if [ "$rc" -eq 1 ] && grep -q 'standard output: No space left on device' "$tmp/err"; then
		echo "ok: full standard output"
	else
		fail "full standard output: exit $rc, $(cat "$tmp/err")"
	fi
fi

# A --util-step far too fine for the run is refused before writing a row.
"$sim" --cluster "$tiny" --generate "$gen" --policies fifo --util-step 0.001 --out "$tmp/fine" \
	>/dev/null 2>"$tmp/err"
rc=$?
if [ "$rc" -eq 1 ] && grep -q 'would write [0-9]* rows .*at most 1000000.*use --util-step' "$tmp/err" &&
	[ ! -e "$tmp/fine/fifo/utilisation.csv" ]; then
	echo "ok: util-step too fine"
else
	fail "util-step too fine: exit $rc, $(cat "$tmp/err")"
fi

# A good run: exit 0, summary and per-policy CSVs, same numbers twice.
strip_clock() {
	sed -E 's/"(decision_ms_p50|decision_ms_p99|decision_s_total|sim_wall_s|jobs_per_s|wall_s)":([0-9.]+|null)/"\1":X/g' "$1"
}
if ! "$sim" --cluster "$tiny" --generate "jobs=30,seed=5,load=0.7" --policies fifo,srtf \
	--out "$tmp/run1" --json >"$tmp/json1" 2>"$tmp/err"; then
	fail "good run: exit $? ($(cat "$tmp/err"))"
else
	grep -q '"jobs_completed":30,"jobs":30' "$tmp/json1" || fail "good run: not all jobs done"
	[ -s "$tmp/err" ] && fail "good run: wrote to stderr: $(cat "$tmp/err")"
	[ "$(wc -l <"$tmp/run1/fifo/jobs.csv")" -eq 31 ] || fail "good run: fifo/jobs.csv rows"
	head -1 "$tmp/run1/srtf/jobs.csv" | grep -q '^id,name,model,arrival_s,start_s,finish_s,jct_s,weight,tasks,gpu_s_V100,gpu_s_K80,restarts,queue_s,alone_s,rho,in_window$' ||
		fail "good run: jobs.csv header"
	cmp -s <(strip_clock "$tmp/json1") <(strip_clock "$tmp/run1/summary.json") ||
		fail "good run: summary.json differs from --json output"
	"$sim" --cluster "$tiny" --generate "jobs=30,seed=5,load=0.7" --policies fifo,srtf --json \
		>"$tmp/json2" 2>/dev/null
	cmp -s <(strip_clock "$tmp/json1") <(strip_clock "$tmp/json2") ||
		fail "good run: not deterministic"
	"$sim" --cluster "$tiny" --generate "jobs=30,seed=5" --policies fifo >"$tmp/table" 2>&1 &&
		grep -q '^fifo ' "$tmp/table" || fail "good run: no table row"
	"$sim" --help | grep -q -- '--generate' || fail "--help"
	[ "$failures" -eq 0 ] && echo "ok: good run"
fi

if [ "$failures" -ne 0 ]; then
	echo "$failures failure(s)"
	exit 1
fi
echo "all ok"
