# Stream-open latency (SOCKS request sent -> first response byte, from the intended
# start time of an open-loop Poisson arrival) p50 (solid) and p99 (dashed) vs offered
# rate, per pool type, at one emulated RTT; geometric mean over repetitions with
# its 95% CI on the log scale (the axis is logarithmic).
load "experiments/plots/common.gp"
set title sprintf("Stream-open latency vs offered rate, %g ms RTT to the targets\n{/*0.85 p50 solid, p99 dashed; geometric mean over reps, 95%% CI on the log scale}", rtt)
set xlabel "offered rate (streams/s, Poisson)"
set ylabel "stream-open latency (ms)"
set logscale y
set logscale x
set xrange [xmin:xmax]
set xtics (20, 50, 100, 150, 200, 300, 500, 600, 1000, 1500, 2000, 3000)
set format y "%g"
plot for [i=1:N] dat index (i-1) using ($1*(1+0.015*(i-2.5))):2:3:4 with yerrorlines lw 2 pt ptype(word(names,i)) \
         lc rgb colour(word(names,i)) title word(names,i)." p50", \
     for [i=1:N] dat index (i-1) using ($1*(1+0.015*(i-2.5))):5:6:7 with yerrorlines lw 2 dt 2 pt ptype(word(names,i)) \
         lc rgb colour(word(names,i)) title word(names,i)." p99"
