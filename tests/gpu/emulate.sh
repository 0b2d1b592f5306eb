#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Run the CUDA engine's own code on the CPU: the .cu files are compiled with
# g++ against tests/gpu/emu (a small stand-in for the CUDA runtime, cuBLAS
# and NCCL, whose ranks are processes; CUDA threads are fibers), linked with hare-gpu-check's
# source, and the gradient, training and resume sections run at tiny sizes.
# It checks the kernels' indexing, the row-major GEMM mapping onto
# column-major cuBLAS, the executor and the engine's round logic; it cannot
# check anything about real GPUs (timing, concurrency, memory, NCCL).
# Usage (from the source root): tests/gpu/emulate.sh [SECTION [ROUNDS]]
#        tests/gpu/emulate.sh lib DIR   (DIR/libhare_worker_cuda.so, emulated,
#        for hare-worker --lib: the real mode's loop on the CPU)
set -eu
src=$(pwd)
[ -f "$src/workloads/cuda/cuda_net.cu" ] || { echo "run from the source root"; exit 2; }
command -v g++ >/dev/null || { echo "skip: no g++"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for f in cuda_kernels cuda_net cuda_engine; do
	# k<<<grid, block, shm, stream>>>(args)  ->  emu_launch(grid, block, shm, stream, k)(args)
	perl -pe 's/(\w+)<<<(.+?)>>>\(/emu_launch($2, $1)(/g' \
		"$src/workloads/cuda/$f.cu" >"$tmp/$f.cpp"
done
if [ "${1:-}" = lib ]; then
	out=$(cd "${2:?usage: emulate.sh lib DIR}" && pwd)
	flags=(-O1 -g -U_FORTIFY_SOURCE -fPIC -fvisibility=hidden -D_GNU_SOURCE -D__CUDACC__ -Wall -Wno-unused-function -Wno-unused-parameter)
	g++ -std=c++17 -shared "${flags[@]}" -I"$src/tests/gpu/emu" -I"$src/workloads/cuda" -I"$src/workloads" \
		-I"$src/common" "$tmp"/*.cpp "$src/tests/gpu/emu/emu.cpp" -o "$out/libhare_worker_cuda.so"
	exit 0
fi
inc=(-I"$src/tests/gpu/emu" -I"$src/workloads/cuda" -I"$src/workloads" -I"$src/common" -I"$src")
flags=(-O1 -g -U_FORTIFY_SOURCE -D_GNU_SOURCE -D__CUDACC__ -Wall -Wno-unused-function -Wno-unused-parameter)
objs=()
for f in "$tmp"/*.cpp "$src/tests/gpu/emu/emu.cpp"; do
	o="$tmp/$(basename "$f" .cpp).o"
	g++ -std=c++17 "${flags[@]}" "${inc[@]}" -c "$f" -o "$o"
	objs+=("$o")
done
for f in tests/gpu/gpu_check.c workloads/proxy_spec.c workloads/proxy_net.c workloads/proxy_ref.c \
	workloads/proxy_ref_net.c common/err.c; do
	o="$tmp/$(basename "$f" .c).c.o"
	gcc -std=gnu11 -O1 -g -D_GNU_SOURCE -Wall "${inc[@]}" -c "$src/$f" -o "$o"
	objs+=("$o")
done
g++ "${objs[@]}" -lm -o "$tmp/hare-gpu-check-emu"
section=${1:-all}
rounds=${2:-60}
if [ "$section" = all ]; then
	for s in grad train resume bench; do "$tmp/hare-gpu-check-emu" "$s" "$rounds" tiny || rc=$?; done
	exit "${rc:-0}"
fi
rc=0
"$tmp/hare-gpu-check-emu" "$section" "$rounds" tiny || rc=$?
exit "$rc"
