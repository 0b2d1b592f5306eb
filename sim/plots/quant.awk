# SPDX-License-Identifier: MIT
# Reads JCTs in seconds sorted ascending (jct.awk | sort -g) and prints "MEDIAN P99",
# nearest-rank percentiles over all jobs (unfinished ones are "inf" and sort last).

{ v[NR] = $1 }

END {
	if (NR == 0) {
		print "n/a n/a"
		exit
	}
	m = int(NR * 0.50)
	if (m < NR * 0.50)
		m++
	p = int(NR * 0.99)
	if (p < NR * 0.99)
		p++
	if (m < 1)
		m = 1
	if (p < 1)
		p = 1
	print (v[m] == "inf" ? "n/a" : v[m]), (v[p] == "inf" ? "n/a" : v[p])
}
