#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# harectl submit --file with long lines, end to end: a command of 511
# characters (the most a job may have) on a line of 1024 bytes reaches hared
# whole, as harectl show prints it; one of 512 is refused with its reason,
# and a line of 1025 bytes with the line limit; nothing is sent then. A
# file whose third job names an unknown model submits none of its jobs.
# Usage: job_file_long.sh BUILD_DIR SOURCE_DIR (exit 77: hared or python3
# missing).
set -u

. "$(dirname "${BASH_SOURCE[0]}")/lib/cluster.bash"
it_setup "$@" daemon-only

write_conf 0
start_hared

# A command of n bytes: "echo" and words, "x" at its end.
long_command() { "$py" -c 'import sys; n = int(sys.argv[1]); s = ("echo " + "word " * n)[:n - 1] + "x"; print(s)' "$1"; }

cmd=$(long_command 511)
[ ${#cmd} -eq 511 ] || fail "the test's command is ${#cmd} bytes"
pad=$(printf '%*s' $((1024 - 10 - 511)) '')
printf '[job]\nname = long\nmodel = resnet50\ngpus = 1\nrounds = 10\ncommand = %s%s\n' "$cmd" "$pad" \
	>"$tmp/long.ini"
[ "$(sed -n 6p "$tmp/long.ini" | wc -c)" -eq 1025 ] || fail "line 6 is not 1024 bytes and its newline"
id=$("$harectl" submit --file "$tmp/long.ini" 2>"$tmp/err") || fail "submit: $(cat "$tmp/err")"
[ "$(field "$id" command)" = "$cmd" ] && echo "ok: a command of 511 bytes in a job file reaches hared whole" ||
	fail "job $id's command is '$(field "$id" command)'"

cmd=$(long_command 512)
printf '[job]\nmodel = resnet50\ngpus = 1\nrounds = 10\ncommand = %s\n' "$cmd" >"$tmp/longer.ini"
out=$("$harectl" submit --file "$tmp/longer.ini" 2>&1); rc=$?
[ $rc -eq 2 ] && [ "$out" = "harectl: $tmp/longer.ini:5: command is longer than 511 bytes" ] ||
	fail "a command of 512 bytes: exit $rc, '$out'"
printf '[job]\nmodel = resnet50\ngpus = 1\nrounds = 10\ncommand = %s%s \n' "$(long_command 511)" "$pad" \
	>"$tmp/longer.ini"
out=$("$harectl" submit --file "$tmp/longer.ini" 2>&1); rc=$?
[ $rc -eq 2 ] && [ "$out" = "harectl: $tmp/longer.ini:5: line too long (at most 1024 bytes)" ] ||
	fail "a line of 1025 bytes: exit $rc, '$out'"
[ "$(queue_json | "$py" -c 'import json, sys; print(len(json.load(sys.stdin)["jobs"]))')" = 1 ] ||
	fail "a refused job file sent a job"

# A mistake only hared sees (an unknown model) in the third job: hared
# checks every job first, and none is submitted.
printf '[job]\nname = a\nmodel = resnet50\ngpus = 1\nrounds = 10\n\n[job]\nname = b\nmodel = bert\ngpus = 1\nrounds = 10\nafter = a\n\n[job]\nname = c\nmodel = resnt50\ngpus = 1\nrounds = 10\n' >"$tmp/typo.ini"
out=$("$harectl" submit --file "$tmp/typo.ini" 2>&1); rc=$?
[ $rc -eq 1 ] && [[ $out == "harectl: $tmp/typo.ini:14: unknown model 'resnt50' (did you mean resnet50? known: "*$'\n'"harectl: nothing was submitted" ]] &&
	[ "$(queue_json | "$py" -c 'import json, sys; print(len(json.load(sys.stdin)["jobs"]))')" = 1 ] &&
	echo "ok: a job file with an unknown model on its third job submits none of its jobs" ||
	fail "job file with a typo: exit $rc, '$out'"

grep -qE "Sanitizer|runtime error" "$tmp/hared.log" && fail "sanitizer report in the hared log"
if [ $failures -ne 0 ]; then
	echo "--- hared log (tail)"; tail -30 "$tmp/hared.log"
	exit 1
fi
echo "all long job-file line checks passed in $(($(date +%s) - t0))s"
