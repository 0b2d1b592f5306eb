#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A dry run of tests/gpu/run.sh on a machine without a GPU: the build's
# programs are copied into a temporary folder with the emulated CUDA engine
# (tests/gpu/emulate.sh lib) beside hare-worker and hare-gpu-check, and a
# stand-in NVML (tests/gpu/emu/nvml.c) for hare-agent, then run.sh runs there
# at small sizes (HARE_GPU_TINY=1). It checks the script and the whole
# real-worker path through hared, the agent's GPU discovery and the engine
# library, not the GPU: its TFLOP/s and profile figures mean nothing.
# hare-gpu-check runs only its grad and allreduce sections (the others are
# emulate.sh's; HARE_GPU_SECTIONS overrides).
# Usage, from the source root: tests/gpu/dryrun.sh BUILD_DIR [ROUNDS]
# Exit: run.sh's (0 passed, 1 a check failed), 77 without g++/gcc or a
# program not built.
set -u

build=$(cd "${1:?usage: tests/gpu/dryrun.sh BUILD_DIR [ROUNDS]}" && pwd)
rounds=${2:-20}
src=$(pwd)
[ -f "$src/tests/gpu/run.sh" ] || { echo "run from the source root"; exit 2; }
command -v g++ >/dev/null && command -v gcc >/dev/null || { echo "skip: no g++/gcc"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for b in tests/gpu/hare-gpu-check workloads/hare-worker daemon/hared agent/hare-agent cli/harectl; do
	[ -x "$build/$b" ] || { echo "skip: $build/$b not built"; exit 77; }
	mkdir -p "$tmp/build/$(dirname "$b")"
	cp "$build/$b" "$tmp/build/$b"
done
bash "$src/tests/gpu/emulate.sh" lib "$tmp/build/workloads" || exit 1
mkdir -p "$tmp/nvml"
gcc -std=gnu11 -O1 -Wall -shared -fPIC "$src/tests/gpu/emu/nvml.c" -o "$tmp/nvml/libnvidia-ml.so.1" || exit 1
# two stand-in GPUs: the full stack also runs a job of two ranks, through
# the emulated NCCL (ranks are processes)
LD_LIBRARY_PATH="$tmp/nvml${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" HARE_GPU_TINY=1 \
	HARE_EMU_GPUS=${HARE_EMU_GPUS:-2} \
	HARE_GPU_ROUNDS="$rounds" HARE_GPU_STACK_S=${HARE_GPU_STACK_S:-120} \
	HARE_GPU_SECTIONS=${HARE_GPU_SECTIONS:-grad allreduce} \
	bash "$src/tests/gpu/run.sh" "$tmp/build"
