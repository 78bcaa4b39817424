# memlab memory-inversion figure: probe token accuracy against the input length, one colour per
# encoder (untrained, causal, autoencoder), solid for gpt encoders and dashed for mosaic ones, with
# the zero-embedding baseline in grey. Reads dir/inversion.csv (encoder,arch,d,layers,ctx,feed,
# probe_steps,token_acc,...,baseline_token_acc) and writes dir/inversion.png. Named for the command,
# so that `make figures` finds results/memory-inversion/.
# Usage: gnuplot -e "dir='results/memory-inversion'" experiments/plots/memory_inversion.gp
if (!exists("dir")) dir = 'results/memory-inversion'
data = dir.'/inversion.csv'
if (system("[ -f '".data."' ] && echo yes || echo no") eq "no") {
    print "memory_inversion.gp: no ".data."; nothing drawn"
    exit
}
set terminal pngcairo size 800,500 font ',10'
set output dir.'/inversion.png'
set datafile separator ','
set logscale x 2
set xlabel 'input length (tokens)'
set ylabel 'probe token accuracy (held-out)'
set yrange [0:*]
set grid
set key outside right top
set title 'How much of its input an embedding keeps: probe accuracy by encoder'
encs = 'untrained causal autoencoder'
# The architectures present, in order of appearance.
archs = system("awk -F, 'NR > 1 && !seen[$2]++ { printf \"%s \", $2 }' '".data."'")
# ctx and one column of the rows of (arch, encoder), in file order; encoder '' takes the first row
# of each length (the baseline is the same in every row of a length).
sel(a, e, col) = sprintf("< awk -F, 'NR > 1 && $2 == \"%s\" && (\"%s\" == \"\" ? !seen[$5]++ : $1 == \"%s\") { print $5 \",\" $%d }' '%s'", a, e, e, col, data)
plot for [a=1:words(archs)] for [i=1:words(encs)] sel(word(archs, a), word(encs, i), 8) using 1:2 \
         with linespoints lw 2 pt 7 ps 0.8 lc i dt a title word(archs, a).' '.word(encs, i), \
     for [a=1:words(archs)] sel(word(archs, a), '', 13) using 1:2 \
         with linespoints lw 1.5 pt 6 ps 0.6 lc rgb 'gray50' dt a title word(archs, a).' zero embedding'
