# common.gp -- loaded first by every figure script. Expects (gnuplot -e):
#   datadir  directory with NAME.dat / NAME.inc (experiments/plotdata.py)
#   name     figure name (data file base)
#   fmt      png | svg
#   out      output file
if (fmt eq "png") {
    set terminal pngcairo size 960,600 enhanced font "DejaVu Sans,11"
} else {
    set terminal svg size 960,600 enhanced font "DejaVu Sans,11" background "white"
}
set output out
dat = datadir."/".name.".dat"
load datadir."/".name.".inc"
set grid lc rgb "#dddddd"
# Keys always outside the plot area (right margin): a legend never covers data.
# Figure scripts must not move the key back inside.
set key outside right top vertical Left reverse noopaque box samplen 2 spacing 1.1
set border lw 1
# one colour / point type per pool type, whatever the series order
colour(s) = (s eq "none") ? "#777777" : (s eq "lock") ? "#1f77b4" : (s eq "lockfree") ? "#2ca02c" : (s eq "highperf") ? "#d62728" : "#9467bd"
ptype(s) = (s eq "none") ? 4 : (s eq "lock") ? 5 : (s eq "lockfree") ? 7 : (s eq "highperf") ? 9 : 11
