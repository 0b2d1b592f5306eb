# SPDX-License-Identifier: MIT
# Prints each job's JCT in seconds from a jobs.csv (column found by its header, jct_s;
# else finish_s - arrival_s), one per line; "inf" for a job that did not finish. With an
# in_window column, only the jobs in the measured window (in_window 1 or true) count.
# Needs csv.awk. Sort the output with sort -g for quantiles and CDFs.

function isnum(v) {
	return v ~ /^-?[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?$/
}

NR == 1 {
	n = csv_split($0, h)
	for (i = 1; i <= n; i++)
		col[h[i]] = i
	if (!("jct_s" in col) && !("finish_s" in col && "arrival_s" in col)) {
		print FILENAME ": no jct_s column" > "/dev/stderr"
		exit 1
	}
	next
}

{
	sub(/\r$/, "")
	csv_split($0, a)
	if ("in_window" in col && a[col["in_window"]] !~ /^(1|true|yes)$/)
		next
	if ("jct_s" in col)
		v = a[col["jct_s"]]
	else if (isnum(a[col["finish_s"]]) && isnum(a[col["arrival_s"]]))
		v = a[col["finish_s"]] - a[col["arrival_s"]]
	else
		v = ""
	print isnum(v) ? v : "inf"
}
