# memlab copy / blank-copy figures. From dir/cost.csv (command,model,chunks,chunk_len,params,
# tokens_per_s,flops_per_token): cost.png, forward FLOPs per token and measured training tokens/s
# against the number of chunks, memory model against the full-context decoder. From dir/copy.csv
# (command,encoder,objective,curriculum,...,step,copy_acc,blank_copy_acc,causal_ce,tokens_per_s; the
# rows of several runs under one header): copy.png, held-out blank-copy accuracy and causal
# cross-entropy against the training step, one line per run (encoder and objective or curriculum).
# Usage: gnuplot -e "dir='results/copy'" experiments/plots/copy.gp   (blank_copy.gp: results/blank-copy)
if (!exists("dir")) dir = 'results/copy'
have(f) = system("[ -f '".f."' ] && echo 1 || echo 0") eq "1"
cost = dir.'/cost.csv'
curves = dir.'/copy.csv'
if (!have(cost) && !have(curves)) {
    print "copy.gp: neither ".cost." nor ".curves."; nothing drawn"
    exit
}
set terminal pngcairo size 1100,450 font ',10'
set datafile separator ','
set grid
set key top left
if (have(cost)) {
    set output dir.'/cost.png'
    model(m, col) = sprintf("< awk -F, 'NR > 1 && $2 == \"%s\" { print $3 \",\" $%d }' '%s'", m, col, cost)
    set multiplot layout 1, 2 title 'Memory model against the full-context decoder of the same shape'
    set logscale x 2
    set xlabel 'chunks (of the same length)'
    set ylabel 'forward FLOPs per token'
    plot model('memory', 7) using 1:2 with linespoints lw 2 pt 7 title 'memory model', \
         model('full', 7) using 1:2 with linespoints lw 2 pt 5 title 'full context'
    set ylabel 'measured training tokens/s'
    plot model('memory', 6) using 1:2 with linespoints lw 2 pt 7 title 'memory model', \
         model('full', 6) using 1:2 with linespoints lw 2 pt 5 title 'full context'
    unset multiplot
    unset logscale x
}
if (have(curves)) {
    set output dir.'/copy.png'
    # one run: encoder / (curriculum, or the objective without one)
    key = "$2 \"/\" ($4 == \"none\" ? $3 : $4)"
    runs = system("awk -F, 'NR > 1 && $1 != \"command\" { k = ".key."; if (!seen[k]++) printf \"%s \", k }' '".curves."'")
    run(r, col) = sprintf("< awk -F, 'NR > 1 && $1 != \"command\" && %s == \"%s\" { print $9 \",\" $%d }' '%s'", key, r, col, curves)
    set multiplot layout 1, 2 title 'Memory models: held-out blank-copy accuracy and causal cross-entropy'
    set xlabel 'training step (decoder)'
    set ylabel 'blank-copy token accuracy'
    set yrange [0:*]
    plot for [i=1:words(runs)] run(word(runs, i), 11) using 1:2 with linespoints lw 2 pt 7 ps 0.6 title word(runs, i)
    set ylabel 'causal cross-entropy (nats)'
    set yrange [*:*]
    set key top right
    plot for [i=1:words(runs)] run(word(runs, i), 12) using 1:2 with linespoints lw 2 pt 7 ps 0.6 title word(runs, i)
    unset multiplot
}
