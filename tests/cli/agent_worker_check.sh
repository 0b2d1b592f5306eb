#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# hare-agent refuses to start (exit 2) when its worker could not be started
# as tasks start it: a missing file, a directory; a name without '/' is
# looked up in PATH, as the spawn does. An emulated GPU type nobody knows
# (a typo) is warned about.
# Usage: agent_worker_check.sh BUILD_DIR SOURCE_DIR
set -u
build=$(cd "${1:?build dir}" && pwd)
agent="$build/agent/hare-agent"
[ -x "$agent" ] || { echo "skip: $agent not built"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
args=(--daemon 127.0.0.1:1 --node n1 --gpus V100:1 --key-file "$tmp/no-such-key" --work-dir "$tmp")

for w in /nonexistent/hare-worker "$tmp"; do
	out=$("$agent" "${args[@]}" --worker "$w" 2>&1)
	rc=$?
	case "$rc:$out" in
	2:*"worker $w is not an executable file"*) echo "ok: worker $w refused: ${out##*hare-agent: }" ;;
	*) fail "worker $w: rc=$rc '$out'" ;;
	esac
done
# found in PATH: past the worker check, it stops at the (missing) key file
out=$(PATH="$build/workloads:$PATH" "$agent" "${args[@]}" --worker hare-worker 2>&1)
rc=$?
case "$rc:$out" in
2:*"no-such-key"*) echo "ok: a worker named without '/' is found in PATH" ;;
*) fail "worker from PATH: rc=$rc '$out'" ;;
esac
# an emulated type no profile knows (a typo) is warned about
out=$(PATH="$build/workloads:$PATH" "$agent" "${args[@]}" --gpus V10O:1 --worker hare-worker 2>&1)
case "$out" in
*"emulated GPU type 'V10O' is none of K80 "*) echo "ok: an unknown emulated GPU type is warned about" ;;
*) fail "no warning for V10O: '$out'" ;;
esac
[ $failures -eq 0 ] || exit 1
echo "all agent worker checks passed"
