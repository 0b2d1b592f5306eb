# SPDX-License-Identifier: MIT
# Long-format run rows "study cfg seed policy metric value" -> CSV with one row per run:
# study,cfg,seed,policy,<metric>... (metrics in first-seen order; "raw:" summary fields are
# left out, they stay in each run's summary.json). Missing values: n/a.

BEGIN { FS = "\t" }

$5 !~ /^raw:/ {
	r = $1 FS $2 FS $3 FS $4
	if (!(r in seenr)) {
		seenr[r] = 1
		run[++nr] = r
	}
	if (!($5 in seenm)) {
		seenm[$5] = 1
		met[++nm] = $5
	}
	v[r, $5] = $6
}

END {
	line = "study,cfg,seed,policy"
	for (j = 1; j <= nm; j++)
		line = line "," met[j]
	print line
	for (i = 1; i <= nr; i++) {
		line = run[i]
		gsub(FS, ",", line)
		for (j = 1; j <= nm; j++)
			line = line "," ((run[i], met[j]) in v ? v[run[i], met[j]] : "n/a")
		print line
	}
}
