# SPDX-License-Identifier: MIT
# Writes a cluster INI file (format: sim/README.md) of -v gpus=N GPUs with the paper's mix:
# a quarter each of V100, P100, T4 and K80 (when N is not a multiple of 4, the first types
# get one more), each type in 8-GPU nodes plus one smaller node for the rest.
# Run as: awk -v gpus=N -f cluster_ini.awk </dev/null > FILE

BEGIN {
	if (gpus !~ /^[0-9]+$/ || gpus < 4) {
		print "cluster_ini.awk: gpus must be a whole number >= 4, got '" gpus "'" > "/dev/stderr"
		exit 2
	}
	split("V100 P100 T4 K80", type, " ")
	base = int(gpus / 4)
	extra = gpus - 4 * base
	printf "# SPDX-License-Identifier: MIT\n"
	printf "# Generated for the evaluation: %d GPUs, a quarter each of V100, P100, T4 and K80\n", gpus
	printf "# in 8-GPU nodes plus one smaller node per type where needed.\n"
	for (i = 1; i <= 4; i++) {
		count = base + (i <= extra ? 1 : 0)
		full = int(count / 8)
		rest = count - 8 * full
		lc = tolower(type[i])
		if (full > 0)
			group(lc "-x8", type[i], full, 8, lc "x8-")
		if (rest > 0)
			group(lc "-x" rest, type[i], 1, rest, lc "x" rest "-")
	}
}

function group(name, t, nodes, per, prefix) {
	printf "\n[%s]\ntype = %s\nnodes = %d\ngpus_per_node = %d\nname_prefix = %s\n", \
		name, t, nodes, per, prefix
}
