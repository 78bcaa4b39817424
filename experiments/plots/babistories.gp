# memlab babistories figure (like Memory Mosaics Fig 9): training and validation loss against the
# training step, one colour per architecture (solid: validation, dashed: training).
# Reads dir/curves.csv (arch,layers,d,heads,params,step,tokens,lr,train_loss,val_loss).
# Usage: gnuplot -e "dir='results/babistories'" experiments/plots/babistories.gp
if (!exists("dir")) dir = 'results/babistories'
data = dir.'/curves.csv'
if (system("[ -f '".data."' ] && echo yes || echo no") eq "no") {
    print "babistories.gp: no ".data."; nothing drawn"
    exit
}
set terminal pngcairo size 800,500 font ',10'
set output dir.'/babistories.png'
set datafile separator ','
set key autotitle columnhead
set xlabel 'training step'
set ylabel 'loss (nats per token)'
set grid
set key top right
set title 'GPT vs memory mosaic on stories: training (dashed) and validation (solid) loss'
archs = 'gpt mosaic'
plot for [i=1:words(archs)] data using 6:(strcol(1) eq word(archs, i) ? $10 : NaN) with linespoints lw 2 pt 7 ps 0.6 lc i title word(archs, i).' validation', \
     for [i=1:words(archs)] data using 6:(strcol(1) eq word(archs, i) ? $9 : NaN) with lines dt 2 lw 1.5 lc i title word(archs, i).' training'
