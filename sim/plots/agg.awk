# SPDX-License-Identifier: MIT
# Aggregates long-format run rows "study cfg seed policy metric value" over seeds into
# "study cfg policy metric n mean sd min max" (sample standard deviation; "n/a" values are
# not counted; a metric with no number at all gets n=0 and n/a). Keeps first-seen order.

BEGIN { FS = OFS = "\t" }

{
	k = $1 FS $2 FS $4 FS $5
	if (!(k in n)) {
		keys[++nk] = k
		n[k] = 0
	}
	if ($6 == "n/a")
		next
	v = $6 + 0
	n[k]++
	s[k] += v
	ss[k] += v * v
	if (n[k] == 1 || v < lo[k])
		lo[k] = v
	if (n[k] == 1 || v > hi[k])
		hi[k] = v
}

END {
	for (i = 1; i <= nk; i++) {
		k = keys[i]
		if (n[k] == 0) {
			print k, 0, "n/a", "n/a", "n/a", "n/a"
			continue
		}
		m = s[k] / n[k]
		var = n[k] > 1 ? (ss[k] - n[k] * m * m) / (n[k] - 1) : 0
		if (var < 0)
			var = 0
		print k, n[k], sprintf("%.10g", m), sprintf("%.10g", sqrt(var)), lo[k], hi[k]
	}
}
