# memlab regbench figure (like Memory Mosaics Fig 11): test accuracy and test TVD against the number of
# training automata, one curve per model. Reads dir/regbench.csv: the primary tables of several runs
# appended (repeated header rows are skipped), e.g.
#   for n in 100 500 1000 2500; do memlab regbench --model ngram --train-size $n; done > results/regbench/regbench.csv
# Models fitted in context (ngram1..4, uniform) do not depend on the training size: flat lines.
# Usage: gnuplot -e "dir='results/regbench'" experiments/plots/regbench.gp
if (!exists("dir")) dir = 'results/regbench'
data = dir.'/regbench.csv'
if (system("[ -f '".data."' ] && echo yes || echo no") eq "no") {
    print "regbench.gp: no ".data." (append the runs' tables there); nothing drawn"
    exit
}
set terminal pngcairo size 1100,420 font ',10'
set output dir.'/regbench.png'
set datafile separator ','
set datafile missing NaN
models = 'mosaic gpt lstm ngram1 ngram2 ngram3 ngram4 uniform'
set logscale x
set xlabel 'training automata'
set key outside right
set grid
set multiplot layout 1,2
set title 'accuracy (argmax is a valid next letter)'
set ylabel 'test accuracy'
set yrange [0:1]
plot for [m in models] data using 2:(strcol(1) eq m ? $14 : NaN) smooth unique with linespoints pt 7 title m
set title 'total variation distance to the true next-token distribution'
set ylabel 'test TVD'
plot for [m in models] data using 2:(strcol(1) eq m ? $15 : NaN) smooth unique with linespoints pt 7 title m
unset multiplot
