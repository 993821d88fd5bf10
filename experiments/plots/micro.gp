# Pool micro-benchmark: wall time per get+put cycle (acquire -> stream_done ->
# spare_ready), aggregate over all threads (ns per cycle = 1e9 / total cycles per s),
# vs threads, per implementation; error bars: 95% CI over benchmark repetitions.
load "experiments/plots/common.gp"
set title sprintf("Pool operation cost vs threads (%s; recv liveness check interposed)\n{/*0.85 lower is better; machine has %s cores: more threads = oversubscription}", keys, system("nproc"))
set xlabel "threads"
set ylabel "ns per get+put cycle (aggregate)"
set logscale x 2
set logscale y
set xrange [0.8:20]
set key top right
plot for [i=1:N] dat index (i-1) using 1:2:3 with yerrorlines lw 2 pt ptype(word(names,i)) \
     lc rgb colour(word(names,i)) title word(names,i)
