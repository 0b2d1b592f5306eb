# SPDX-License-Identifier: MIT
# Sourced by the GPU scripts: gpu_env BUILD_DIR puts on LD_LIBRARY_PATH what
# a carried build needs on a GPU machine.
#  - BUILD/workloads: the engine next to hare-worker (a build moved to
#    another folder no longer matches hare-gpu-check's run path);
#  - BUILD/gpu-libs: libraries copied by tests/gpu/bundle.sh for machines
#    without the Debian packages (libuv, GLPK, protobuf-c, ...);
#  - CUDA's libraries where the loader does not already know them: a toolkit
#    outside the loader's path, or Python wheels (nvidia-cublas, nvidia-nccl).
# It also lists the GPUs (nvidia-smi -L) on stderr. tiny_proxy MODEL: the
# --proxy sizes of hare-gpu-check's "tiny" mode.

# The CUDA libraries the build's engine and check program need, by the
# names they were linked with (readelf), so a build made with another CUDA
# major version finds its own; the names of a CUDA 13 build otherwise.
gpu_env_needed() {
	local build=$1 f names=""

	command -v readelf >/dev/null || { echo "libcublas.so.13 libcublasLt.so.13 libnccl.so.2"; return; }
	for f in "$build/workloads/libhare_worker_cuda.so" "$build/tests/gpu/hare-gpu-check"; do
		[ -f "$f" ] || continue
		names="$names $(readelf -d "$f" 2>/dev/null |
			sed -n 's/.*(NEEDED).*\[\(lib\(cublas\|cublasLt\|cudart\|nccl\)\.so[.0-9]*\)\]/\1/p')"
	done
	[ -n "${names// /}" ] || names="libcublas.so.13 libnccl.so.2"
	# cuBLAS loads its Lt library of the same version
	names="$names $(echo "$names" | tr ' ' '\n' | sed -n 's/^libcublas\.so/libcublasLt.so/p')"
	echo "$names" | tr ' ' '\n' | sed '/^$/d' | sort -u | tr '\n' ' '
}

gpu_env() {
	local build=$1 libpath lib dir

	libpath="$build/workloads"
	[ -d "$build/gpu-libs" ] && libpath="$libpath:$build/gpu-libs"
	# shellcheck disable=SC2046
	for lib in libcuda.so.1 libnvidia-ml.so.1 $(gpu_env_needed "$build"); do
		ldconfig -p 2>/dev/null | grep -q "^[[:space:]]*$lib " && continue
		dir=$(find /usr/local /opt /usr/lib /usr/lib64 -name "$lib" -not -path "*/stubs/*" \
			-print -quit 2>/dev/null)
		if [ -n "$dir" ]; then
			dir=$(dirname "$dir")
			case ":$libpath:" in *":$dir:"*) ;; *) libpath="$libpath:$dir" ;; esac
			echo "found $lib in $dir" >&2
		else
			echo "warning: $lib not found; the loader may still find it" >&2
		fi
	done
	export LD_LIBRARY_PATH="$libpath${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
	if command -v nvidia-smi >/dev/null; then nvidia-smi -L >&2; fi
	return 0
}

# The small sizes of hare-gpu-check's "tiny" mode (tests/gpu/gpu_check.c).
tiny_proxy() {
	case $1 in
	lm) echo "batch=4,vocab=60,seq=7,hidden=24,layers=2,classes=60" ;;
	recommendation) echo "batch=16,rows=40,fields=6,dim=16,mlp=32-16,classes=40" ;;
	resnet18) echo "batch=4,image=16,width=8,blocks=1-1,classes=5" ;;
	esac
}
