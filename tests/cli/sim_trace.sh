#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# hare-sim --trace: every bad trace or trace option must exit 2 with exactly
# one line on stderr naming file:line or the option; --skip-bad counts on
# stderr; good imports write every output, deterministically.
# Usage: sim_trace.sh BUILD_DIR SOURCE_DIR (exit 77: hare-sim not built).
set -u

build=${1:?build dir}
src=${2:?source dir}
sim="$build/sim/hare-sim"
fx="$src/tests/fixtures/traces"
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

t() { echo --cluster "$tiny" --policies fifo --trace "$fx/$1"; }

# shellcheck disable=SC2046
{
expect_error "missing column" '^hare-sim: .*hare_missing_column\.csv:1: missing column .tasks.$' $(t hare_missing_column.csv)
expect_error "negative duration" 'hare_negative_duration\.csv:3: duration_s: must be > 0' $(t hare_negative_duration.csv)
expect_error "unknown model" "hare_unknown_model\.csv:2: unknown model 'resnet9000'" $(t hare_unknown_model.csv)
expect_error "unsorted arrivals" 'hare_unsorted\.csv:3: arrival 5 is before the previous row.s 10' $(t hare_unsorted.csv)
expect_error "malformed number" "hare_bad_number\.csv:2: tasks: expected a whole number, got '4x'" $(t hare_bad_number.csv)
expect_error "philly malformed number" "philly_bad_number\.csv:2: num_gpus: .*'two'" $(t philly_bad_number.csv)
expect_error "philly negative duration" 'philly_negative_duration\.csv:2: duration: must be > 0' $(t philly_negative_duration.csv)
expect_error "gavel unknown model" "gavel_unknown_model\.trace:2: unknown model 'A3C'" $(t gavel_unknown_model.trace)
expect_error "unknown format" 'unknown_format\.csv:1: cannot tell the trace format.*--format' $(t unknown_format.csv)
expect_error "forced format" 'philly_small\.csv:1: expected 7 tab-separated fields' $(t philly_small.csv) --format gavel
expect_error "first of several bad rows" 'hare_some_bad\.csv:3: tasks' $(t hare_some_bad.csv)
expect_error "missing trace file" 'no-such\.csv: No such file' --cluster "$tiny" --trace "$tmp/no-such.csv"
expect_error "header error with --skip-bad" 'hare_missing_column\.csv:1: missing column' $(t hare_missing_column.csv) --skip-bad
expect_error "bad format name" "--format: expected philly, gavel, hare or auto, got 'csv'" $(t philly_small.csv) --format csv
expect_error "thin out of range" '--thin: expected a number > 0 and <= 1' $(t philly_small.csv) --thin 1.5
expect_error "load not a number" "--load: expected a number .*'x'" $(t philly_small.csv) --load x
expect_error "load and arrival-scale" '--load and --arrival-scale: give one of them' $(t philly_small.csv) --load 1 --arrival-scale 2
expect_error "max-jobs zero" '--max-jobs: expected a whole number between 1 and' $(t philly_small.csv) --max-jobs 0
expect_error "trace option with --generate" '--seed applies to --trace only' --cluster "$tiny" --generate jobs=5,seed=1 --seed 3
expect_error "generate and trace" '--generate and --trace: give one of them' $(t philly_small.csv) --generate jobs=5,seed=1
expect_error "bad window" "--window: expected FIRST:LAST .*'5:2'" $(t philly_small.csv) --window 5:2
expect_error "window past the end" '--window: first job 9, but the workload has 5 jobs' $(t philly_small.csv) --window 9:
}

# --skip-bad: one count line on stderr (even with --quiet), the good rows run.
if "$sim" $(t hare_some_bad.csv) --skip-bad --quiet --json >"$tmp/json" 2>"$tmp/err"; then
	[ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q 'skipped 3 malformed rows of 6 (first: .*hare_some_bad\.csv:3: tasks' "$tmp/err" ||
		fail "skip-bad: stderr '$(cat "$tmp/err")'"
	grep -q '"jobs_completed":3,"jobs":3' "$tmp/json" || fail "skip-bad: not 3 jobs"
	grep -q '"skipped":3' "$tmp/json" || fail "skip-bad: no skipped count in the JSON"
	[ "$failures" -eq 0 ] && echo "ok: skip-bad"
else
	fail "skip-bad: exit $? ($(cat "$tmp/err"))"
fi

# A good philly import: the note on stderr, every output, deterministic.
strip_clock() {
	sed -E 's/"(decision_ms_p50|decision_ms_p99|decision_s_total|sim_wall_s|jobs_per_s|wall_s)":([0-9.]+|null)/"\1":X/g' "$1"
}
if "$sim" --cluster "$tiny" --trace "$fx/philly_small.csv" --policies fifo,srtf --out "$tmp/run1" \
	--json >"$tmp/json1" 2>"$tmp/err"; then
	grep -q 'philly_small\.csv: 5 jobs of 5 rows (philly); 1 capped at 8 tasks' "$tmp/err" ||
		fail "philly: import note '$(cat "$tmp/err")'"
	grep -q '"workload":{"source":"trace","format":"philly","jobs":5,"rows":5,"skipped":0,"capped":1,"max_tasks":8,' "$tmp/json1" ||
		fail "philly: workload object"
	grep -q '"offered_load":0.500000' "$tmp/json1" || fail "philly: default load"
	for p in fifo srtf; do
		[ "$(wc -l <"$tmp/run1/$p/jobs.csv")" -eq 6 ] || fail "philly: $p/jobs.csv rows"
		head -1 "$tmp/run1/$p/utilisation.csv" | grep -q '^time_s,busy_V100,busy_K80,busy,util,running_jobs,queued_jobs$' ||
			fail "philly: $p/utilisation.csv header"
	done
	cmp -s <(strip_clock "$tmp/json1") <(strip_clock "$tmp/run1/summary.json") ||
		fail "philly: summary.json differs from --json output"
	"$sim" --cluster "$tiny" --trace "$fx/philly_small.csv" --policies fifo,srtf --json --quiet \
		>"$tmp/json2" 2>"$tmp/err2"
	[ -s "$tmp/err2" ] && fail "philly: --quiet wrote to stderr: $(cat "$tmp/err2")"
	cmp -s <(strip_clock "$tmp/json1") <(strip_clock "$tmp/json2") || fail "philly: not deterministic"
	"$sim" --cluster "$tiny" --trace "$fx/philly_small.csv" --policies fifo,srtf --json --quiet \
		--seed 2 >"$tmp/json3" 2>/dev/null
	cmp -s <(strip_clock "$tmp/json1") <(strip_clock "$tmp/json3") && fail "philly: --seed changes nothing"
	[ "$failures" -eq 0 ] && echo "ok: philly import"
else
	fail "philly: exit $? ($(cat "$tmp/err"))"
fi

# --window: counted jobs, bound over them, in_window flags, the table note.
if "$sim" --cluster "$tiny" --trace "$fx/gavel_small.trace" --policies fifo --window 1:3 \
	--arrival-scale 1 --out "$tmp/run2" --quiet >"$tmp/table" 2>"$tmp/err"; then
	grep -q '^fifo .* 2/2 *$' "$tmp/table" || fail "window: table row '$(grep '^fifo' "$tmp/table" | head -1)'"
	grep -q '(window: jobs 1 to 3 of 3, by arrival)' "$tmp/table" || fail "window: table note"
	grep -q '"window":\[1,3\]' "$tmp/run2/summary.json" || fail "window: JSON"
	[ "$(cut -d, -f 16 "$tmp/run2/fifo/jobs.csv" | tr '\n' ' ')" = "in_window 0 1 1 " ] ||
		fail "window: in_window column '$(cut -d, -f 16 "$tmp/run2/fifo/jobs.csv" | tr '\n' ' ')'"
	[ "$failures" -eq 0 ] && echo "ok: window"
else
	fail "window: exit $? ($(cat "$tmp/err"))"
fi

# A hare trace's after column: each job starts once the ones it names have
# finished, under every policy; --max-jobs keeps the rows it depends on.
cat >"$tmp/after.csv" <<EOF
arrival_s,name,model,tasks,rounds,weight,after
0,prep,resnet50,1,2000,1,
0,train,resnet50,2,4000,2,prep
10,other,resnet50,1,3000,4,
20,report,resnet18,1,100,1,train;other
EOF
if "$sim" --cluster "$tiny" --trace "$tmp/after.csv" --policies hare,fifo,gavel --out "$tmp/run3" \
	--quiet >/dev/null 2>"$tmp/err"; then
	for pol in hare fifo gavel; do
		bad=$(awk -F, 'NR > 1 { start[$2] = $5; fin[$2] = $6 }
			END { if (start["train"] < fin["prep"] || start["report"] < fin["train"] ||
				  start["report"] < fin["other"]) print "out of order" }' "$tmp/run3/$pol/jobs.csv")
		[ -z "$bad" ] || fail "after: $pol ran a job before the one it runs after"
	done
	"$sim" --cluster "$tiny" --trace "$tmp/after.csv" --policies fifo --max-jobs 3 --json \
		>"$tmp/json4" 2>"$tmp/err4" || fail "after: --max-jobs 3: exit $?"
	grep -q '"after_dropped":0' "$tmp/json4" || fail "after: --max-jobs 3 dropped a dependency"
	printf 'arrival_s,name,model,tasks,rounds,after\n0,a,lm,1,10,b\n' >"$tmp/after_bad.csv"
	out=$("$sim" --cluster "$tiny" --trace "$tmp/after_bad.csv" --policies fifo 2>&1); rc=$?
	[ $rc -eq 2 ] && [ "$out" = "hare-sim: $tmp/after_bad.csv:2: after: no earlier row is named 'b'" ] ||
		fail "after: unknown name: exit $rc, '$out'"
	[ "$failures" -eq 0 ] && echo "ok: after column"
else
	fail "after: exit $? ($(cat "$tmp/err"))"
fi

if [ "$failures" -ne 0 ]; then
	echo "$failures failure(s)"
	exit 1
fi
echo "all ok"
