#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The demo: the same scheduling core the daemon runs, on the paper's
# 200-GPU cluster (50 each of V100, P100, T4, K80) with 300 generated jobs,
# comparing Hare with the baselines. Usage: demo.sh BUILD_DIR
set -euo pipefail
build=${1:-build}
src=$(cd "$(dirname "$0")/.." && pwd)
sim="$build/sim/hare-sim"
if [ ! -x "$sim" ]; then
	echo "demo: $sim not built (run make build)" >&2
	exit 1
fi
echo "Hare demo: 300 generated jobs (seed 1) on deploy/clusters/paper-200.ini"
echo "(50 V100 + 50 P100 + 50 T4 + 50 K80 GPUs), policies hare, optimus, srtf, fifo."
echo
"$sim" --cluster "$src/deploy/clusters/paper-200.ini" --generate jobs=300,seed=1 \
	--policies hare,optimus,srtf,fifo
