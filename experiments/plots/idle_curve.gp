# Idle time against a target's idle timeout T: top, reuse rate measured (95% CI) and
# predicted (dashed); bottom, per 1000 streams: spares the target closed (stale), refill
# dials that served no stream (wasted), failed streams; measured and predicted. Lines are
# labelled at their right end (no legend over the data).
load "experiments/plots/common.gp"
set key off
set lmargin 10
set rmargin 4
set logscale x
set xrange [0.7:4000]
set xtics ("1" 1, "2" 2, "3" 3, "4" 4, "6" 6, "10" 10, "30" 30, "100" 100, "300" 300)
last(c) = ($0 == nrows - 1 ? column(c) : NaN)
set multiplot layout 2,1 title "Pool idle time vs a target that closes idle connections after ".tidle." s\n{/*0.85 ".desc."}"
set arrow 1 from tidle, graph 0 to tidle, graph 1 nohead dt 3 lc rgb "#888888"
set label 1 "target idle timeout T" at tidle, graph 0.08 offset 0.5,0 tc rgb "#666666"
set ylabel "reuse rate (%)"
set yrange [0:105]
set format x ""
set xlabel ""
plot dat using 1:2:3 with yerrorlines lw 2 pt 7 lc rgb "#2ca02c", \
     dat using 1:4 with lines lw 2 dt 2 lc rgb "#2ca02c", \
     dat using 1:(last(2)):("measured") with labels left offset 1,0.6 tc rgb "#2ca02c", \
     dat using 1:(last(4)):("model") with labels left offset 1,-0.6 tc rgb "#2ca02c"
unset label 1
set format x "%g"
set xlabel "--max-idle-time-secs (log scale)"
set ylabel "per 1000 streams"
set yrange [0:*]
plot dat using 1:5:6 with yerrorlines lw 2 pt 5 lc rgb "#d62728", \
     dat using 1:7 with lines lw 2 dt 2 lc rgb "#d62728", \
     dat using 1:8:9 with yerrorlines lw 2 pt 9 lc rgb "#777777", \
     dat using 1:10 with lines lw 2 dt 2 lc rgb "#777777", \
     dat using 1:11:12 with yerrorlines lw 2 pt 13 lc rgb "#1f77b4", \
     dat using 1:13 with lines lw 2 dt 2 lc rgb "#1f77b4", \
     dat using 1:(last(5)):("stale (closed by target)") with labels left offset 1,1.2 tc rgb "#d62728", \
     dat using 1:(last(8)):("wasted dials") with labels left offset 1,0.3 tc rgb "#777777", \
     dat using 1:(last(11)):("failed streams") with labels left offset 1,-0.6 tc rgb "#1f77b4"
unset multiplot
