#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The CUDA engine under compute-sanitizer, on a machine with an NVIDIA GPU:
# memcheck (out-of-bounds and misaligned device accesses, leaks), racecheck
# (shared-memory races), synccheck (barrier misuse) and initcheck (reads of
# device memory nothing wrote), each over the gradient check and a few
# rounds of every model at small sizes, with a resume. A tool's report fails
# its row (so does a check of hare-gpu-check that fails under the tool).
# Kept apart from run.sh: the tools slow kernels 10-100x.
# Usage, from the source root: tests/gpu/sanitize.sh BUILD_DIR [TOOL...]
# Exit: 0 clean, 1 a report, 77 no GPU, no compute-sanitizer or not built.
set -u

build=$(cd "${1:?usage: tests/gpu/sanitize.sh BUILD_DIR [TOOL...]}" && pwd)
shift
src=$(pwd)
check="$build/tests/gpu/hare-gpu-check"
tools=("$@")
[ ${#tools[@]} -eq 0 ] && tools=(memcheck racecheck synccheck initcheck)

[ -f "$src/workloads/profiles/models.csv" ] || { echo "run from the source root"; exit 2; }
. "$src/tests/gpu/env.bash"
gpu_env "$build"
[ -x "$check" ] || { echo "skip: $check not built (no nvcc when configured?)"; exit 77; }
"$check" none >/dev/null 2>&1
[ $? -eq 77 ] && { echo "skip: no CUDA driver or GPU"; exit 77; }
cs=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null)
[ -n "$cs" ] || { echo "skip: no compute-sanitizer"; exit 77; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
printf '%-10s %-22s %-6s %s\n' TOOL RUN STATUS DETAIL
for tool in "${tools[@]}"; do
	for run in "grad" "train 40 tiny" "resume 40 tiny"; do
		extra=()
		[ "$tool" = memcheck ] && extra=(--leak-check full)
		log="$tmp/$tool.log"
		# shellcheck disable=SC2086 # run holds the section and its arguments
		timeout "${HARE_SANITIZE_S:-300}" "$cs" --tool "$tool" "${extra[@]}" --error-exitcode 99 \
			"$check" $run >"$log" 2>&1
		rc=$?
		errors=$(sed -n 's/^========= ERROR SUMMARY: \([0-9]*\) error.*/\1/p' "$log" | tail -1)
		if [ "$rc" -eq 0 ] && [ "${errors:-0}" -eq 0 ]; then
			st=ok detail="no reports"
		elif [ "$rc" -eq 1 ] && [ "${errors:-0}" -eq 0 ]; then
			st=FAIL fails=$((fails + 1))
			detail="no sanitizer report, but a check failed: $(grep -m1 $'\tFAIL$' "$log" | cut -f2-4)"
		else
			st=FAIL fails=$((fails + 1))
			detail="exit $rc, ${errors:-?} errors: $(grep -m1 -E '^========= [A-Z]' "$log" | cut -c1-120)"
			grep -E '^=========' "$log" | head -40 >&2
		fi
		printf '%-10s %-22s %-6s %s\n' "$tool" "$run" "$st" "$detail"
	done
done
echo
echo "$fails failed"
[ "$fails" -eq 0 ]
