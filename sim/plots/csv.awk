# SPDX-License-Identifier: MIT
# csv_split(line, a): splits one CSV line into a[1..n] (RFC 4180 quoting: "a,b" and ""
# inside quotes), returns n. Loaded with -f before the scripts that read jobs.csv.

function csv_split(line, a,    n, i, c, field, inq, len) {
	n = 0
	field = ""
	inq = 0
	len = length(line)
	if (index(line, "\"") == 0)
		return split(line, a, ",")
	for (i = 1; i <= len; i++) {
		c = substr(line, i, 1)
		if (inq) {
			if (c == "\"" && substr(line, i + 1, 1) == "\"") {
				field = field c
				i++
			} else if (c == "\"")
				inq = 0
			else
				field = field c
		} else if (c == "\"")
			inq = 1
		else if (c == ",") {
			a[++n] = field
			field = ""
		} else
			field = field c
	}
	a[++n] = field
	return n
}
