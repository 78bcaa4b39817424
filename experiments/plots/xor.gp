# Training loss of `memlab xor` against step (log scale). Usage: gnuplot -e "dir='results/xor'" xor.gp
if (!exists("dir")) dir = 'results/xor'
set terminal pngcairo size 640,400
set output dir.'/xor.png'
set datafile separator ','
set key off
set logscale y
set xlabel 'step'
set ylabel 'mean squared error'
set title 'memlab xor: a 2-layer network trained through the tape'
plot dir.'/xor.csv' using 3:4 skip 1 with linespoints pt 7 ps 0.5
