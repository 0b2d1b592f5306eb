# SPDX-License-Identifier: MIT
# Prints a markdown table from "ROW<TAB>COL<TAB>VALUE" lines: -v rows="..." and
# -v cols="..." (space-separated keys, in order), -v colnames="..." (headers, '|'-separated;
# default the keys), -v corner= (first header), -v scale=h|pct|1, -v dec= decimals,
# -v mean=1 adds a mean column over the numeric cells of each row. Missing cells: n/a.
# -v spaces=1: underscores in row keys print as spaces.

BEGIN {
	FS = "\t"
	nr = split(rows, R, " ")
	nc = split(cols, C, " ")
	if (colnames != "")
		split(colnames, CN, "|")
	if (dec == "")
		dec = 2
}

{ v[$1, $2] = $3 }

function fmt(x) {
	if (scale == "h")
		x /= 3600
	else if (scale == "pct")
		x *= 100
	return sprintf("%." dec "f", x) (scale == "pct" ? " %" : "")
}

END {
	line = "| " corner " |"
	rule = "|---|"
	for (j = 1; j <= nc; j++) {
		line = line " " (colnames != "" ? CN[j] : C[j]) " |"
		rule = rule "---:|"
	}
	if (mean) {
		line = line " mean |"
		rule = rule "---:|"
	}
	print line
	print rule
	for (i = 1; i <= nr; i++) {
		label = R[i]
		if (spaces)
			gsub(/_/, " ", label)
		line = "| " label " |"
		s = 0
		k = 0
		for (j = 1; j <= nc; j++) {
			x = (R[i] SUBSEP C[j]) in v ? v[R[i], C[j]] : "n/a"
			if (x == "n/a" || x == "")
				line = line " n/a |"
			else {
				line = line " " fmt(x) " |"
				s += x
				k++
			}
		}
		if (mean)
			line = line " " (k ? fmt(s / k) : "n/a") " |"
		print line
	}
}
