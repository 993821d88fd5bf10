# Stream-open latency (SOCKS request sent -> first response byte, from the intended
# start time of an open-loop Poisson arrival) p50 (solid) and p99 (dashed) vs offered
# rate, per pool type, at one emulated RTT; error bars: 95% CI over repetitions.
load "experiments/plots/common.gp"
set title sprintf("Stream-open latency vs offered rate, %g ms RTT to the targets\n{/*0.85 p50 solid, p99 dashed; mean ± 95%% CI over reps}", rtt)
set xlabel "offered rate (streams/s, Poisson)"
set ylabel "stream-open latency (ms)"
set logscale y
set logscale x
set key top left
set format y "%g"
plot for [i=1:N] dat index (i-1) using ($1*(1+0.015*(i-2.5))):2:3 with yerrorlines lw 2 pt ptype(word(names,i)) \
         lc rgb colour(word(names,i)) title word(names,i)." p50", \
     for [i=1:N] dat index (i-1) using ($1*(1+0.015*(i-2.5))):4:5 with yerrorlines lw 2 dt 2 pt ptype(word(names,i)) \
         lc rgb colour(word(names,i)) title word(names,i)." p99"
