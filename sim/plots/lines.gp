# SPDX-License-Identifier: MIT
# One metric against a swept parameter, one line per policy with error bars (standard
# deviation over seeds). Variables (gnuplot -e): plotdir, dir, prefix (files
# <prefix>_<policy>.dat: "x mean sd"), out, ttl, xlab, ylab, policies, xt (words: the x
# values, used as tics), logx, logy (0 or 1); with logy also ylo, yhi (the y range).

load plotdir.'/common.gp'
set title ttl font ',16'
set xlabel xlab
set ylabel ylab
if (logx) { set logscale x 2 }
if (logy) {
	set logscale y 10
	set yrange [ylo:yhi]
	# Tics at 1, 2, 3 and 5 times the powers of ten inside the range.
	set ytics ()
	do for [e = int(floor(log10(ylo))):int(ceil(log10(yhi)))] {
		do for [m in "1 2 3 5"] {
			v = real(m) * 10.0 ** e
			if (v >= ylo && v <= yhi) { eval sprintf('set ytics add ("%g" %g)', v, v) }
		}
	}
	n = strlen(ylab)
	set ylabel (ylab[n:n] eq ')' ? ylab[1:n - 1].', log scale)' : ylab.' (log scale)')
}
set xtics ()
do for [w in xt] { eval sprintf('set xtics add ("%s" %s)', w, w) }
if (logy) { set offsets graph 0.05, graph 0.05, 0, 0 } else { set offsets graph 0.05, graph 0.05, graph 0.05, graph 0.05 }
set key outside right top vertical box opaque title 'policy (±1 s.d.)'
do for [term = 1:2] {
	if (term == 1) { eval png_term; set output out.'.png' } else { eval svg_term; set output out.'.svg' }
	plot for [i = 1:words(policies)] dir.'/'.prefix.'_'.word(policies, i).'.dat' \
		using 1:2:3 with yerrorlines lc rgb pcolor(word(policies, i)) \
		lw pwidth(word(policies, i)) pt ppoint(i) ps 1.4 title word(policies, i)
	unset output
}
