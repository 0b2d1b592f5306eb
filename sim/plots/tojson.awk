# SPDX-License-Identifier: MIT
# Writes results.json: {"info":{key:value...},"runs":[{"study","cfg","seed","policy",
# "metrics":{...}}],"means":[{"study","cfg","policy","metric","n","mean","sd","min","max"}]}.
# Inputs in order: run-info.txt (key=value), runs rows (long format), aggregated rows (agg.awk).
# n/a becomes null.

function q(s) {
	gsub(/\\/, "\\\\", s)
	gsub(/"/, "\\\"", s)
	gsub(/\t/, " ", s)
	return "\"" s "\""
}

function jnum(x) {
	return x ~ /^-?[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?$/ ? x + 0 : "null"
}

FILENAME == ARGV[1] {
	i = index($0, "=")
	if (i > 1)
		info = info (info == "" ? "" : ",\n  ") q(substr($0, 1, i - 1)) ":" q(substr($0, i + 1))
	next
}

FILENAME == ARGV[2] {
	split($0, f, "\t")
	r = f[1] "\t" f[2] "\t" f[3] "\t" f[4]
	if (!(r in seen)) {
		seen[r] = 1
		run[++nr] = r
	}
	m[r] = m[r] (m[r] == "" ? "" : ",") q(f[5]) ":" jnum(f[6])
	next
}

{
	split($0, f, "\t")
	means = means (means == "" ? "" : ",\n  ") sprintf("{\"study\":%s,\"cfg\":%s,\"policy\":%s,\"metric\":%s,\"n\":%s,\"mean\":%s,\"sd\":%s,\"min\":%s,\"max\":%s}", \
		q(f[1]), q(f[2]), q(f[3]), q(f[4]), jnum(f[5]), jnum(f[6]), jnum(f[7]), jnum(f[8]), jnum(f[9]))
}

END {
	printf "{\"info\":{\n  %s},\n\"runs\":[\n", info
	for (i = 1; i <= nr; i++) {
		split(run[i], f, "\t")
		printf "  {\"study\":%s,\"cfg\":%s,\"seed\":%s,\"policy\":%s,\"metrics\":{%s}}%s\n", \
			q(f[1]), q(f[2]), jnum(f[3]), q(f[4]), m[run[i]], i < nr ? "," : ""
	}
	printf "],\n\"means\":[\n  %s]}\n", means
}
