# Server peak RSS (VmHWM) vs --max-outbound-connections, with the stream error rate
# (streams refused because the target was at its cap) on the right axis.
load "experiments/plots/common.gp"
set key outside top center horizontal  # outside, above the plot: long labels, two y axes
set title "Server memory and errors vs the per-target connection cap\n{/*0.85 ".desc."; mean ± 95% CI}"
set xlabel "--max-outbound-connections (per target)"
set ylabel "server peak RSS (MB)"
set y2label "streams failed (%)"
set logscale x
set yrange [0:*]
set y2range [0:*]
set ytics nomirror
set y2tics
plot dat using 1:2:3 with yerrorlines lw 2 pt 7 lc rgb "#1f77b4" title "peak RSS (MB)", \
     dat using 1:4:5 axes x1y2 with yerrorlines lw 2 dt 2 pt 5 lc rgb "#d62728" title "errors (%)"
