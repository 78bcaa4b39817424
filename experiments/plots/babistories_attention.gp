# results: results/babistories
# memlab babistories attention figure (like Memory Mosaics Figs 12, 13): the attention of a
# window's last position on every earlier position, one heat map per checkpoint and window length
# (rows: layer.head; colour: mean attention weight, log scale). A GPT puts its mass on position 0
# (a sink) and scatters the rest; the mosaic is flat except for the most recent tokens, also at 3x
# the training context.
# Reads dir/attention.csv (arch,pos,layer,head,offset,weight,ctx,positions,checkpoint).
# Usage: gnuplot -e "dir='results/babistories'" experiments/plots/babistories_attention.gp
if (!exists("dir")) dir = 'results/babistories'
data = dir.'/attention.csv'
if (system("[ -f '".data."' ] && echo yes || echo no") eq "no") {
    print "babistories_attention.gp: no ".data."; nothing drawn"
    exit
}
# one panel per (checkpoint, ctx): keys "checkpoint|ctx"
panels = system("awk -F, 'NR > 1 && !seen[$9 \"|\" $7]++ { printf \"%s|%s \", $9, $7 }' '".data."'")
n = words(panels)
set terminal pngcairo size 1200,(220 * n + 60) font ',10'
set output dir.'/babistories_attention.png'
set datafile separator ','
set multiplot layout n,1 title 'attention of the last position on earlier positions (Figs 12, 13)'
set logscale cb
set cbrange [1e-4:1]
set format cb '10^{%L}'
set palette defined (0 'white', 1 'yellow', 2 'orange', 3 'red', 4 'dark-red')
set ylabel 'layer x heads + head'
set ytics 1
set xlabel 'key position'
set lmargin 10
do for [i=1:n] {
    p = word(panels, i)
    ck = p[1:strstrt(p, '|') - 1]
    ctx = p[strstrt(p, '|') + 1:]
    desc = system("awk -F, -v c='".ck."' -v t='".ctx."' '$9 == c && $7 == t { printf \"%s, positions %s, window %s\", $1, $8, $7; exit }' '".data."'")
    heads = system("awk -F, -v c='".ck."' -v t='".ctx."' '$9 == c && $7 == t && $4 + 1 > h { h = $4 + 1 } END { print h }' '".data."'") + 0
    set title desc noenhanced
    set xrange [-0.5:ctx - 0.5]
    set yrange [-0.5:heads * (1 + system("awk -F, -v c='".ck."' -v t='".ctx."' '$9 == c && $7 == t && $3 > l { l = $3 } END { print l + 0 }' '".data."'")) - 0.5]
    plot '< awk -F, -v c="'.ck.'" -v t="'.ctx.'" '."'".'$9 == c && $7 == t { print $2 "," $3 * '.heads.' + $4 "," ($6 > 1e-6 ? $6 : 1e-6) }'."' '".data."'" \
         using 1:2:3 with image notitle
}
unset multiplot
