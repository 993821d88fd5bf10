# The contention regime (experiments/saturation.py): left, the maximum sustainable
# open-loop rate (the knee at the p99 SLO, solid) and the closed-loop saturation
# throughput (dashed) per pool type and worker count, mean with its 95% bootstrap CI
# over blocks; right, each type's rate as a ratio to lock's in the same block (paired),
# with its 95% bootstrap CI: a CI that includes 1 = no detectable effect of the type.
# The legend sits below the plots, never over the data; every line is in it.
load "experiments/plots/common.gp"
if (fmt eq "png") {
    set terminal pngcairo size 1280,640 enhanced font "DejaVu Sans,11"
} else {
    set terminal svg size 1280,640 enhanced font "DejaVu Sans,11" background "white"
}
set output out
set multiplot layout 1,2 title "Does the pool type change the maximum stream rate at saturation?\n{/*0.85 ".desc."}"
eval xt
set xrange [0.5:nx+0.5]
set key outside below horizontal maxrows 4 noopaque nobox
set xlabel "server workers"
set ylabel "streams/s"
set yrange [0:*]
set title "max sustainable rate (knee, solid) and closed-loop throughput (dashed)\n{/*0.85 mean, 95% bootstrap CI over blocks}"
plot for [i=1:N] dat index (i-1) using ($1+0.06*(i-(N+1)/2.0)):2:3:4 with yerrorlines lw 2 \
         pt ptype(word(names,i)) lc rgb colour(word(names,i)) title word(names,i)." knee", \
     for [i=1:N] dat index (i-1) using ($1+0.06*(i-(N+1)/2.0)):5:6:7 with yerrorlines lw 2 dt 2 \
         pt ptype(word(names,i))-1 lc rgb colour(word(names,i)) title word(names,i)." closed loop"
set title "ratio to lock in the same block (paired)\n{/*0.85 95% bootstrap CI; 1 = lock}"
set ylabel "rate / lock's rate"
set yrange [*:*]
set arrow 1 from graph 0, first 1 to graph 1, first 1 nohead dt 3 lc rgb "#555555"
plot for [i=1:N] dat index (i-1) using ($1+0.06*(i-(N+1)/2.0)):8:9:10 with yerrorlines lw 2 \
         pt ptype(word(names,i)) lc rgb colour(word(names,i)) title word(names,i)." knee / lock", \
     for [i=1:N] dat index (i-1) using ($1+0.06*(i-(N+1)/2.0)):11:12:13 with yerrorlines lw 2 dt 2 \
         pt ptype(word(names,i))-1 lc rgb colour(word(names,i)) title word(names,i)." closed / lock"
unset multiplot
