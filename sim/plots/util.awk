# SPDX-License-Identifier: MIT
# Converts a DIR/<policy>/utilisation.csv of hare-sim into "TIME_HOURS UTIL_PERCENT" lines.
# Columns are found by header: time = the first of t, time, time_s, t_s, start_s, t_h, time_h
# (else the first column; seconds unless the name ends in _h); utilisation = the first column
# named util* (a fraction when every value is <= 1.5, else percent), else busy*/gpus*
# (total), else the sum of busy* columns over -v gpus=. Exit 2 when no column fits.
# The series is read as a step function and averaged over -v bins= equal time bins (default
# 300) so that a row per event still plots readably; fewer rows than bins are kept as they are.

function isnum(x) {
	return x ~ /^-?[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?$/ || x ~ /^-?\.[0-9]+$/
}

NR == 1 {
	sub(/\r$/, "")
	n = csv_split($0, h)
	tc = 1
	for (i = n; i >= 1; i--) {
		if (h[i] ~ /^(t|time|time_s|t_s|start_s|t_h|time_h)$/)
			tc = i
		if (h[i] ~ /^util/)
			uc = i
		if (h[i] ~ /^busy/ && h[i] !~ /_(v100|p100|t4|k80|[A-Z0-9]+)$/)
			bc = i
		if (h[i] ~ /^(gpus|total_gpus|capacity|gpus_total|up_gpus)$/)
			gc = i
	}
	for (i = 1; i <= n; i++)
		if (h[i] ~ /^busy/)
			busy[++nb] = i
	if (!uc && !(bc && gc) && !(nb && gpus > 0)) {
		print FILENAME ": no utilisation column (header: " $0 ")" > "/dev/stderr"
		bad = 1
		exit 2
	}
	tscale = h[tc] ~ /_h$/ ? 1 : 1 / 3600
	next
}

{
	sub(/\r$/, "")
	csv_split($0, a)
	if (!isnum(a[tc]))
		next
	t[++m] = a[tc] * tscale
	if (uc)
		u[m] = a[uc] + 0
	else if (bc && gc)
		u[m] = a[gc] > 0 ? 100 * a[bc] / a[gc] : 0
	else {
		s = 0
		for (i = 1; i <= nb; i++)
			s += a[busy[i]]
		u[m] = 100 * s / gpus
	}
	if (uc && u[m] > 1.5)
		percent = 1
}

END {
	if (bad)
		exit 2
	print "# time_h utilisation_percent"
	scale = (uc && !percent) ? 100 : 1
	if (bins == "")
		bins = 300
	if (m <= bins || t[m] <= t[1]) {
		for (i = 1; i <= m; i++)
			printf "%.6g %.4g\n", t[i], scale * u[i]
		exit
	}
	w = (t[m] - t[1]) / bins
	for (i = 1; i < m; i++) {
		from = t[i]
		while (from < t[i + 1]) {
			k = int((from - t[1]) / w)
			if (k >= bins)
				k = bins - 1
			to = t[1] + (k + 1) * w
			if (to > t[i + 1])
				to = t[i + 1]
			if (to <= from)
				break
			acc[k] += (to - from) * u[i]
			from = to
		}
	}
	for (k = 0; k < bins; k++)
		printf "%.6g %.4g\n", t[1] + k * w, scale * acc[k] / w
	printf "%.6g %.4g\n", t[m], scale * u[m]
}
