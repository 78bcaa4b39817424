# Training loss of `memlab xor` against step (log scale), from dir/xor.csv: the table that
# `memlab xor` writes to stdout (or -o) and also to its --out-dir.
# Usage: gnuplot -e "dir='results/xor'" experiments/plots/xor.gp
if (!exists("dir")) dir = 'results/xor'
data = dir.'/xor.csv'
if (system("[ -f '".data."' ] && echo yes || echo no") eq "no") {
    print "xor.gp: no ".data." (run memlab xor --out-dir ".dir."); nothing drawn"
    exit
}
set terminal pngcairo size 640,400
set output dir.'/xor.png'
set datafile separator ','
set key off
set logscale y
set xlabel 'step'
set ylabel 'mean squared error'
set title 'memlab xor: a 2-layer network trained through the tape'
plot data using 3:4 skip 1 with linespoints pt 7 ps 0.5
