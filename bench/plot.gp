# Quantize time and peak RSS vs model size, against cp (issue 6).
#   gnuplot -e "in='bench/results/e2e_quantize.tsv'; out='bench/quantize_vs_cp.png'" bench/plot.gp
# Reads the summary TSV of e2e_quantize.sh; plots the MLP size sweep (models named mlp<N>,
# not the external-data one). Columns: 1 model, 2 file_bytes, 4 cp_s, 5 quantize_s, 6 ratio,
# 7 peak RSS KiB, 8 RSS / file, 12 peak RssAnon KiB.
if (!exists("in")) in = 'bench/results/e2e_quantize.tsv'
if (!exists("out")) out = 'bench/quantize_vs_cp.png'
if (!exists("subtitle")) subtitle = ''

sweep(c) = (strstrt(strcol(1), "mlp") == 1 && strstrt(strcol(1), "ext") == 0) ? c : NaN
mb(c) = column(c) / 1e6

set terminal pngcairo size 1200,520 font "DejaVu Sans,11"
set output out
set datafile separator "\t"
set key top left box opaque
set grid lc rgb "#dddddd"
set xlabel "model file size (MB)"
set xrange [0:*]
set yrange [0:*]
set multiplot layout 1,2 title "mq-quantize on generated MLPs (warm cache, whole process, median of runs)".subtitle

set title "wall time"
set ylabel "seconds"
plot in skip 1 using (sweep(mb(2))):5 with linespoints lw 2 pt 7 lc rgb "#c0392b" title "mq-quantize", \
     in skip 1 using (sweep(mb(2))):4 with linespoints lw 2 pt 5 lc rgb "#2c3e50" title "cp (same file)", \
     in skip 1 using (sweep(mb(2))):($4 * 1.5) with lines dt 2 lw 2 lc rgb "#7f8c8d" title "goal: 1.5 x cp", \
     in skip 1 using (sweep(mb(2))):5:(sprintf("%.1fx", $6)) with labels offset 0,1 tc rgb "#c0392b" notitle

set title "peak RSS"
set ylabel "MB"
plot in skip 1 using (sweep(mb(2))):($7 * 1024 / 1e6) with linespoints lw 2 pt 7 lc rgb "#c0392b" title "mq-quantize peak RSS", \
     in skip 1 using (sweep(mb(2))):($12 * 1024 / 1e6) with linespoints lw 2 pt 6 dt 3 lc rgb "#e67e22" title "of which heap (peak RssAnon)", \
     in skip 1 using (sweep(mb(2))):(mb(2)) with lines lw 2 lc rgb "#2c3e50" title "file size", \
     in skip 1 using (sweep(mb(2))):(2 * mb(2)) with lines dt 2 lw 2 lc rgb "#7f8c8d" title "goal: 2 x file size", \
     in skip 1 using (sweep(mb(2))):($7 * 1024 / 1e6):(sprintf("%.2fx", $8)) with labels offset -2.5,0.8 tc rgb "#c0392b" notitle
unset multiplot
