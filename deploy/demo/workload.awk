# SPDX-License-Identifier: MIT
# The demo's workload, in hare-sim's trace format (sim/README.md): the
# generator's distributions with shorter durations, drawn from a portable
# 32-bit LCG so every awk gives the same jobs for a seed.
# Usage: awk -v seed=S -v jobs=N -v load=L -v gpus=G -v lo=A -v mid=B -v hi=C \
#            -f workload.awk models.csv throughput.csv
# Durations on one V100 per task: 10^U(lo, mid) minutes for 80% of the jobs,
# 10^U(mid, hi) for 20%. Prints arrival_s,name,model,min_gpus,max_gpus,
# tasks,rounds,weight (arrival in profile seconds, first job at 0).

function rnd() {	# uniform in (0, 1)
	state = (1664525 * state + 1013904223) % 4294967296
	return (state + 0.5) / 4294967296
}

function trim(s) {
	gsub(/^[ \t\r]+|[ \t\r]+$/, "", s)
	return s
}

# Column indices of a header line, by lower-case name, into col[].
function header(line,    n, f, i) {
	n = split(line, f, ",")
	for (i = 1; i <= n; i++)
		col[FILENAME, tolower(trim(f[i]))] = i
}

function field(f, name) {
	return trim(f[col[FILENAME, name]])
}

BEGIN {
	FS = ","
	state = seed % 4294967296
	for (i = 0; i < 4; i++)	# let the seed spread
		rnd()
}

/^[ \t]*(#|$)/ { next }

!((FILENAME, "seen") in col) {
	col[FILENAME, "seen"] = 1
	header($0)
	next
}

FILENAME == ARGV[1] {
	split($0, f, ",")
	order[++nmodel_rows] = field(f, "model")
	next
}

{
	split($0, f, ",")
	if (field(f, "gpu_type") != "V100" || field(f, "placement") != "consolidated")
		next
	m = field(f, "model")
	compute[m] = field(f, "compute_s") + 0
	sync[m, field(f, "workers") + 0] = field(f, "sync_s") + 0
}

END {
	for (i = 1; i <= nmodel_rows; i++)
		if (order[i] in compute)
			model[nmodels++] = order[i]
	if (nmodels == 0 || jobs < 1) {
		print "workload.awk: no model with a V100 profile" > "/dev/stderr"
		exit 2
	}
	for (j = 0; j < jobs; j++) {
		u = rnd()
		k = u < 0.70 ? 1 : u < 0.80 ? 2 : u < 0.95 ? 4 : 8
		u = rnd()
		v = rnd()
		minutes = u < 0.8 ? 10 ^ (lo + (mid - lo) * v) : 10 ^ (mid + (hi - mid) * v)
		m = model[int(rnd() * nmodels)]
		w = 2 ^ int(rnd() * 4)
		round_s = compute[m] + (k > 1 ? sync[m, k] : 0)
		r = int(minutes * 60 / round_s + 0.5)
		if (r < 1)
			r = 1
		tasks[j] = k; rounds[j] = r; weight[j] = w; jmodel[j] = m
		demand += k * r * round_s
	}
	rate = load * gpus * jobs / demand
	print "arrival_s,name,model,min_gpus,max_gpus,tasks,rounds,weight"
	t = 0
	for (j = 0; j < jobs; j++) {
		if (j > 0)
			t += -log(rnd()) / rate
		printf "%.3f,job%02d,%s,1,%d,%d,%d,%d\n", t, j + 1, jmodel[j], tasks[j], tasks[j],
		       rounds[j], weight[j]
	}
}
