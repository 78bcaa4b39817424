# results: results/babistories
# memlab babistories leaky figure (like Memory Mosaics Fig 15): for every contextual-memory head of
# a mosaic, the leaky-average coefficient a = exp(-lambda) of its keys against the width of its
# recent-token attention peak: a larger coefficient averages keys over more steps and widens the peak.
# Reads dir/attention_heads.csv (arch,positions,ctx,checkpoint,layer,head,leaky_rate,leaky_coef,
# peak_width,share_pos0,share_last8).
# Usage: gnuplot -e "dir='results/babistories'" experiments/plots/babistories_leaky.gp
if (!exists("dir")) dir = 'results/babistories'
data = dir.'/attention_heads.csv'
if (system("[ -f '".data."' ] && echo yes || echo no") eq "no") {
    print "babistories_leaky.gp: no ".data."; nothing drawn"
    exit
}
set terminal pngcairo size 700,500 font ',10'
set output dir.'/babistories_leaky.png'
set datafile separator ','
set grid
set key top left noenhanced
set xlabel 'leaky-average coefficient a = exp(-lambda)'
set ylabel 'width of the recent-token peak (positions)'
set title 'mosaic heads: key averaging against attention peak width (Fig 15)'
# one point series per (checkpoint, window): keys "checkpoint|ctx"
sets = system("awk -F, 'NR > 1 && $1 == \"mosaic\" && !seen[$4 \"|\" $3]++ { printf \"%s|%s \", $4, $3 }' '".data."'")
ck(k) = k[1:strstrt(k, '|') - 1]
ctx(k) = k[strstrt(k, '|') + 1:] + 0
plot for [i=1:words(sets)] data using ((strcol(1) eq 'mosaic' && strcol(4) eq ck(word(sets, i)) && $3 == ctx(word(sets, i))) ? $8 : NaN):9 \
     with points pt 7 ps 1.5 lc i title ck(word(sets, i)).', window '.ctx(word(sets, i))
