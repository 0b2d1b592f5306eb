#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Copies the shared libraries that hared, hare-agent, harectl, hare-worker and
# hare-gpu-check need beyond the C runtime and CUDA (libuv, GLPK, protobuf-c,
# inih, SQLite, OpenSSL, libsystemd and what they pull in) into BUILD/gpu-libs,
# so the GPU checks can run on a GPU machine where those Debian packages are
# not installed: tests/gpu/run.sh puts BUILD/gpu-libs on LD_LIBRARY_PATH when it
# exists. CUDA's own libraries (cuBLAS, NCCL, the driver) are left out: the GPU
# machine must provide them (they are large and must match its driver).
# Usage, from the source root: tests/gpu/bundle.sh BUILD_DIR
set -eu

build=$(cd "${1:?usage: tests/gpu/bundle.sh BUILD_DIR}" && pwd)
out="$build/gpu-libs"
bins=(daemon/hared agent/hare-agent cli/harectl workloads/hare-worker
	tests/gpu/hare-gpu-check workloads/libhare_worker_cuda.so)
skip='^(linux-vdso|ld-linux|libc\.so|libm\.so|libpthread|libdl\.so|librt\.so|libgcc_s|libstdc\+\+|libcuda\.so|libcublas|libcublasLt|libnccl|libcudart|libnvidia-ml|libhare_)'

mkdir -p "$out"
n=0
for b in "${bins[@]}"; do
	[ -e "$build/$b" ] || { echo "bundle: $build/$b not built, skipped" >&2; continue; }
	while read -r name path; do
		[[ $name =~ $skip ]] && continue
		[ -f "$path" ] || { echo "bundle: $name not found for $b" >&2; exit 1; }
		if [ ! -e "$out/$name" ]; then
			cp -L "$path" "$out/$name"
			n=$((n + 1))
		fi
	done < <(ldd "$build/$b" | awk '$2 == "=>" && $3 ~ /^\// { print $1, $3 }')
done
echo "bundle: $n libraries in $out ($(du -sh "$out" | cut -f1))"
