# SPDX-License-Identifier: MIT
# Adds derived rows to long-format run rows "study cfg seed policy metric value": for each
# run group (study, cfg, seed) and each policy other than -v ref (default hare), the metric
# "hare_reduction" = (wJCT_policy - wJCT_ref) / wJCT_policy, and "wjct_vs_hare" =
# wJCT_policy / wJCT_ref, and for every policy with a ratio to the LP bound,
# "bound_headroom" = 1 - 1 / ratio: the largest reduction any schedule could achieve
# against that policy (none beats the bound). Prints only the new rows.

BEGIN {
	FS = OFS = "\t"
	if (ref == "")
		ref = "hare"
}

$5 == "ratio_to_bound" && $6 != "n/a" && $6 + 0 > 0 {
	print $1, $2, $3, $4, "bound_headroom", sprintf("%.6f", 1 - 1 / $6)
}

$5 == "wjct_s" && $6 != "n/a" {
	g = $1 FS $2 FS $3
	if (!(g in seen)) {
		seen[g] = 1
		groups[++ng] = g
	}
	if ($4 == ref)
		refv[g] = $6
	else {
		np[g]++
		pol[g, np[g]] = $4
		val[g, np[g]] = $6
	}
}

END {
	for (i = 1; i <= ng; i++) {
		g = groups[i]
		for (j = 1; j <= np[g]; j++) {
			b = val[g, j] + 0
			r = refv[g] + 0
			red = (g in refv) && b > 0 ? sprintf("%.6f", (b - r) / b) : "n/a"
			rat = (g in refv) && r > 0 ? sprintf("%.6f", b / r) : "n/a"
			print g, pol[g, j], "hare_reduction", red
			print g, pol[g, j], "wjct_vs_hare", rat
		}
	}
}
