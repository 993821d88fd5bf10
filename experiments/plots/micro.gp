# Pool micro-benchmark: wall time per get+put cycle (acquire -> stream_done ->
# spare_ready), aggregate over all threads (ns per cycle = 1e9 / total cycles per s),
# vs threads, per implementation; error bars: 95% CI over benchmark repetitions.
load "experiments/plots/common.gp"
set title sprintf("Pool operation cost vs threads (%s; recv liveness check interposed)\n{/*0.85 lower is better; threads up to the cores unless marked OVERSUBSCRIBED}", keys)
set xlabel "threads"
set ylabel "ns per stream's pool work (aggregate)"
set logscale x 2
set logscale y
set autoscale x
set offsets graph 0.05, graph 0.05, 0, 0
plot for [i=1:N] dat index (i-1) using 1:2:3 with yerrorlines lw 2 pt ptype(word(names,i)) \
     lc rgb colour(word(names,i)) title word(names,i)
