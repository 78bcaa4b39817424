# results: results/babistories
# memlab babistories ood figure (like Memory Mosaics Fig 10): mean loss against the position in the
# window on text from another distribution (default the GPL-3), one line per checkpoint.
# Reads dir/ood.csv (arch,checkpoint,position,mean_loss,n).
# Usage: gnuplot -e "dir='results/babistories'" experiments/plots/babistories_ood.gp
if (!exists("dir")) dir = 'results/babistories'
data = dir.'/ood.csv'
if (system("[ -f '".data."' ] && echo yes || echo no") eq "no") {
    print "babistories_ood.gp: no ".data."; nothing drawn"
    exit
}
set terminal pngcairo size 800,500 font ',10'
set output dir.'/babistories_ood.png'
set datafile separator ','
set grid
set key top right noenhanced
set xlabel 'position in the window'
set ylabel 'mean loss (nats per token)'
set title 'out-of-distribution text: loss against position (Fig 10)'
ckpts = system("awk -F, 'NR > 1 && !seen[$2]++ { printf \"%s \", $2 }' '".data."'")
arch_of(c) = system("awk -F, -v c='".c."' '$2 == c { print $1; exit }' '".data."'")
plot for [i=1:words(ckpts)] data using 3:(strcol(2) eq word(ckpts, i) ? $4 : NaN) with lines lw 2 lc i \
     title arch_of(word(ckpts, i))
