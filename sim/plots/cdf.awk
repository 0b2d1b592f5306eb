# SPDX-License-Identifier: MIT
# Reads JCTs in seconds sorted ascending (jct.awk | sort -g) and prints the empirical CDF
# as "JCT_HOURS FRACTION" lines over all jobs (unfinished jobs never reach the curve),
# thinned to about 2,000 points so plots stay small.

{ v[NR] = $1 }

END {
	print "# jct_h fraction_of_jobs"
	last = -1
	for (i = 1; i <= NR; i++) {
		if (v[i] == "inf")
			break
		frac = i / NR
		if (i < NR && v[i + 1] == v[i])
			continue
		if (frac - last < 0.0005 && i < NR && v[i + 1] != "inf")
			continue
		printf "%.6g %.6f\n", v[i] / 3600, frac
		last = frac
	}
}
