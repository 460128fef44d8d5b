# tests/bench/results.gnuplot — the plot of `make bench`: each scenario's
# requests per second relative to nginx's (nginx = 1), for xps and h2o.
#   gnuplot -e "data='plot.dat'; output='results.svg'; workers='1'" results.gnuplot
# plot.dat: one line per scenario: "label" xps/nginx 1 h2o/nginx
set terminal svg size 900,460 dynamic font "sans,11" background "white"
set output output
set title sprintf("Requests per second relative to nginx (%s worker%s each; higher is better)", workers, workers eq "1" ? "" : "s")
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set yrange [0:*]
set grid ytics
set ylabel "× nginx"
set xtics rotate by -25 scale 0 font ",10"
set key top right
plot data using 2:xtic(1) title "xps" lc rgb "#2b6cb0", \
     ''   using 3 title "nginx" lc rgb "#718096", \
     ''   using 4 title "h2o" lc rgb "#c05621"
