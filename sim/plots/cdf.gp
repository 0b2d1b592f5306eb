# SPDX-License-Identifier: MIT
# Empirical CDF of job completion time, one step line per policy, log x axis in hours.
# Variables (gnuplot -e): plotdir, dir (holds cdf_<policy>.dat: "jct_h fraction"), out
# (path without extension), ttl, policies (words).

load plotdir.'/common.gp'
set title ttl font ',16'
set xlabel 'job completion time (hours, log scale)'
set ylabel 'fraction of jobs'
set logscale x 10
set format x '10^{%T}'
set yrange [0:1.02]
set ytics 0.2
set mxtics 10
set key inside bottom right vertical box opaque
do for [term = 1:2] {
	if (term == 1) { eval png_term; set output out.'.png' } else { eval svg_term; set output out.'.svg' }
	plot for [p in policies] dir.'/cdf_'.p.'.dat' using 1:2 with steps \
		lc rgb pcolor(p) lw pwidth(p) title p
	unset output
}
