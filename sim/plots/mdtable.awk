# SPDX-License-Identifier: MIT
# Prints a markdown table, one row per policy, from aggregated rows
# "study cfg policy metric n mean sd min max" (agg.awk; pre-filtered to one group).
# -v policies="hare fifo ..." row order; -v spec="metric|Header|scale|decimals|sd;..."
# with scale h (seconds -> hours), pct (fraction -> percent) or 1, and sd=1 to print
# "mean ± sd" when there is more than one seed. Missing values print "n/a"; metrics that
# compare a policy with -v self= (hare_*, *_vs_hare) print "—" in self's own row.

BEGIN {
	FS = "\t"
	nc = split(spec, cols, ";")
	np = split(policies, pol, " ")
}

{
	n[$3, $4] = $5
	mean[$3, $4] = $6
	sd[$3, $4] = $7
}

function fmt(v, scale, dec) {
	if (v == "n/a" || v == "")
		return "n/a"
	if (scale == "h")
		v /= 3600
	else if (scale == "pct")
		v *= 100
	return sprintf("%." dec "f", v) (scale == "pct" ? " %" : "")
}

function cell(p, c,    f, k, s) {
	split(cols[c], f, "|")
	k = p SUBSEP f[1]
	if (p == self && f[1] ~ /^hare_|_vs_hare$/)
		return "—"
	if (!(k in n) || n[k] == 0)
		return "n/a"
	s = fmt(mean[k], f[3], f[4])
	if (f[5] == 1 && n[k] > 1)
		s = s " ± " fmt(sd[k], f[3], f[4])
	return s
}

END {
	line = "| policy |"
	rule = "|---|"
	for (c = 1; c <= nc; c++) {
		split(cols[c], f, "|")
		line = line " " f[2] " |"
		rule = rule "---:|"
	}
	print line
	print rule
	for (i = 1; i <= np; i++) {
		line = "| " pol[i] " |"
		for (c = 1; c <= nc; c++)
			line = line " " cell(pol[i], c) " |"
		print line
	}
}
