# SPDX-License-Identifier: MIT
# Shared gnuplot settings for the evaluation plots: terminals (pngcairo when built in, else
# png; svg), fonts, grid, and one fixed colour per policy so every plot agrees.
# Each script loads this and, per terminal, runs "eval png_term" (or svg_term) and plots.

# png_at("W,H") and svg_at("W,H") give the terminal commands for another canvas size.
has_cairo = strstrt(GPVAL_TERMINALS, "pngcairo") > 0
png_at(sz) = has_cairo ? \
	"set terminal pngcairo size ".sz." enhanced font 'Sans,14' linewidth 1.5" : \
	"set terminal png size ".sz." enhanced font 'Sans,14'"
svg_at(sz) = "set terminal svg size ".sz." enhanced font 'Sans,14' linewidth 1.5 background '#ffffff'"
png_term = png_at("1100,680")
svg_term = svg_at("1100,680")

set encoding utf8
set grid lc rgb "#d0d0d0" lw 1
set border lw 1.2
set key outside right top vertical box opaque samplen 2.5 spacing 1.2
set tics nomirror
set border 3

# Fixed colours (Okabe-Ito-like, colour-blind safe); hare is always vermilion.
pcolor(p) = p eq "hare" ? "#d55e00" : \
	p eq "optimus" ? "#0072b2" : \
	p eq "fifo" ? "#7f7f7f" : \
	p eq "srtf" ? "#009e73" : \
	p eq "tiresias" ? "#cc79a7" : \
	p eq "gavel" ? "#56b4e9" : \
	p eq "gavel-tput" ? "#a8a800" : \
	p eq "allox" ? "#6a3d9a" : \
	p eq "gandiva" ? "#8c564b" : "#17becf"
pwidth(p) = p eq "hare" ? 3.0 : 1.8
ppoint(i) = (i % 7) + 4
