# SPDX-License-Identifier: MIT
# Bar chart of one metric per policy with error bars (mean +- standard deviation over seeds)
# and an optional dashed reference line. Variables (gnuplot -e): plotdir, data (lines
# "policy mean sd", hours), out (path without extension), ttl, ylab, policies (words, the
# data's order), ref (a value in hours, or 0 for none), reflabel.

load plotdir.'/common.gp'
n = words(policies)
set title ttl font ',16'
set ylabel ylab
set xlabel 'policy'
set bmargin 6
set style fill solid 0.85 border lc rgb '#333333'
set boxwidth 0.7
set xrange [-0.6:n - 0.4]
set yrange [0:*]
set offsets 0, 0, graph 0.08, 0
set key outside bottom center horizontal box opaque samplen 2 width 1
set xtics scale 0
unset grid
set grid ytics lc rgb '#d0d0d0'
refline(x) = ref > 0 ? ref : NaN
do for [term = 1:2] {
	if (term == 1) { eval png_term; set output out.'.png' } else { eval svg_term; set output out.'.svg' }
	plot for [i = 1:n] data every ::(i - 1)::(i - 1) using (i - 1):2:xtic(1) with boxes \
		lc rgb pcolor(word(policies, i)) notitle, \
	     data using 0:2:3 with yerrorbars lc rgb '#222222' lw 1.5 pt 7 ps 0.5 \
		title 'mean ± 1 std. dev. over seeds', \
	     data using 0:($2 + $3):(sprintf('%.1f', $2)) with labels offset char 0, 0.9 \
		font ',12' notitle, \
	     refline(x) with lines lc rgb '#000000' dt 2 lw 2 title reflabel
	unset output
}
