# results: results/babistories
# memlab babistories ood figure (like Memory Mosaics Fig 10): mean loss against the position in the
# window on text from another distribution (default the GPL-3), one line per checkpoint. Drawn as
# the mean over 4 consecutive positions: with windows every 4 tokens (ood's default --stride),
# position p averages the text's tokens p mod 4, and 4 consecutive positions cover every token once,
# which removes a +-0.1 nat zig-zag of period 4 that is the text's, not the model's.
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
set title 'out-of-distribution text: loss against position (Fig 10; mean over 4 positions)'
ckpts = system("awk -F, 'NR > 1 && !seen[$2]++ { printf \"%s \", $2 }' '".data."'")
arch_of(c) = system("awk -F, -v c='".c."' '$2 == c { print $1; exit }' '".data."'")
# checkpoint i's rows as "position,mean of positions p-3..p" (from position 3 on)
smooth(c) = '< awk -F, -v c="'.c.'" '."'".'$2 == c { w[$3 % 4] = $4; if ($3 >= 3) print $3 "," (w[0] + w[1] + w[2] + w[3]) / 4 }'."' '".data."'"
plot for [i=1:words(ckpts)] smooth(word(ckpts, i)) using 1:2 with lines lw 2 lc i \
     title arch_of(word(ckpts, i)).': '.word(ckpts, i)
