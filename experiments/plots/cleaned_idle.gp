# Spares cleaned by the pool, spares the target closed (stale), and connections
# opened that never carried a stream (wasted), per 1000 streams, vs --max-idle-time-secs,
# against a target that closes idle connections after tidle seconds.
load "experiments/plots/common.gp"
set key outside top center horizontal  # outside, above the plot: long labels, two y axes
set title "Spare churn vs pool idle time (target idle timeout ".tidle." s)\n{/*0.85 ".desc."}"
set xlabel "--max-idle-time-secs"
set ylabel "connections per 1000 streams"
set y2label "reuse rate (%)"
set logscale x
set xrange [0.7:600]
set yrange [0:*]
set y2range [0:105]
set ytics nomirror
set y2tics
set arrow from tidle, graph 0 to tidle, graph 1 nohead dt 3 lc rgb "#888888"
set label "target idle timeout" at tidle, graph 0.6 offset 0.5,0 tc rgb "#666666"
plot dat using 1:2:3 with yerrorlines lw 2 pt 7 lc rgb "#1f77b4" title "cleaned by pool", \
     dat using 1:4:5 with yerrorlines lw 2 pt 5 lc rgb "#d62728" title "closed by target (stale)", \
     dat using 1:6:7 with yerrorlines lw 2 pt 9 lc rgb "#777777" title "opened, never used (excl. spares left at exit)", \
     dat using 1:8:9 axes x1y2 with yerrorlines lw 2 dt 2 pt 4 lc rgb "#2ca02c" title "reuse rate (%)"
