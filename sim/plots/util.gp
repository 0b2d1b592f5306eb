# SPDX-License-Identifier: MIT
# Cluster utilisation over time per policy: one panel with a line per policy for up to four
# policies, else one small panel per policy on shared axes. Variables (gnuplot -e): plotdir,
# dir (holds util_<policy>.dat: "time_h percent"), out, ttl, policies (words).

load plotdir.'/common.gp'
n = words(policies)
tmax = 0
do for [p in policies] {
	stats dir.'/util_'.p.'.dat' using 1 nooutput
	if (STATS_max > tmax) { tmax = STATS_max }
}
set yrange [0:105]
set xrange [0:tmax]
# About four x tics: a step of 1, 2 or 5 times a power of ten.
raw = tmax > 0 ? tmax / 4.0 : 1
mag = 10 ** floor(log10(raw))
xstep = raw / mag < 2 ? 2 * mag : (raw / mag < 5 ? 5 * mag : 10 * mag)
set xtics 0, xstep
set ytics 25
ncol = 3
nrow = int((n + ncol - 1) / ncol)
do for [term = 1:2] {
	if (n <= 4) {
		if (term == 1) { eval png_term; set output out.'.png' } else { eval svg_term; set output out.'.svg' }
		set title ttl font ',16'
		set xlabel 'simulated time (hours)'
		set ylabel 'GPUs held by jobs (% of the cluster)'
		set key outside right top vertical box opaque
		plot for [p in policies] dir.'/util_'.p.'.dat' using 1:2 with steps \
			lc rgb pcolor(p) lw (pwidth(p) * 0.6) title p
	} else {
		h = 120 + 260 * nrow
		if (term == 1) {
			eval png_at(sprintf('1200,%d', h)); set output out.'.png'
		} else {
			eval svg_at(sprintf('1200,%d', h)); set output out.'.svg'
		}
		set multiplot layout nrow, ncol title ttl font ',16' \
			margins 0.09, 0.98, 80.0 / h, 1 - 95.0 / h spacing 0.07, 0.1
		unset key
		do for [i = 1:n] {
			p = word(policies, i)
			set title p font ',14'
			set xlabel (i > n - ncol) ? 'simulated time (hours)' : ''
			set ylabel (i % ncol == 1) ? 'GPUs held (%)' : ''
			plot dir.'/util_'.p.'.dat' using 1:2 with steps lc rgb pcolor(p) lw 1.5
		}
		unset multiplot
	}
	unset output
}
