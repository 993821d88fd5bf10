# Reuse rate (Reused / (Reused + New), measured window) vs min idle connections per
# target, one line per pool type; error bars: 95% CI over repetitions.
load "experiments/plots/common.gp"
set title "Spare reuse rate vs warm spares per target\n{/*0.85 ".desc."; mean ± 95% CI over reps}"
set xlabel "--min-idle-connections (spares kept per target)"
set ylabel "reuse rate (%)"
set yrange [0:105]
set xrange [-1:*]
set arrow from graph 0, first 50 to graph 1, first 50 nohead dt 2 lc rgb "#888888"
set label "seed target: > 50%" at graph 0.02, first 53 tc rgb "#666666"
plot for [i=1:N] dat index (i-1) using ($1+(i-2)*0.25):2:3 with yerrorlines lw 2 pt ptype(word(names,i)) \
     lc rgb colour(word(names,i)) title word(names,i)
