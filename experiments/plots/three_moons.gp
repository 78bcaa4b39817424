# memlab three-moons figure (like Memory Mosaics Figs 4-6): prediction error against context length
# on the training and validation triples, with each moon's period (grey) and the system period
# lcm(p) (red); below, |W_phi|, |W_psi| and |W_z| as 3x3 complex magnitudes (the first seed).
# Usage: gnuplot -e "dir='results/three-moons'" experiments/plots/three_moons.gp
if (!exists("dir")) dir = 'results/three-moons'
set terminal pngcairo size 1200,800 font ',10'
set output dir.'/three_moons.png'
set datafile separator ','
curves = dir.'/curves.csv'
marks = dir.'/landmarks.csv'
weights = dir.'/weights.csv'
stats curves using 2 nooutput
s0 = STATS_min
stats curves using 1 nooutput
heads = STATS_min

set multiplot
# top: two error curves
set size 0.5,0.55
set key top right
set xlabel 'context length (steps)'
set ylabel 'mean |prediction - truth|'
set yrange [0:*]
do for [i=1:2] {
    split = i == 1 ? 'train' : 'validation'
    set origin (i-1)*0.5, 0.45
    set title sprintf('%d head%s, %s triple', heads, heads > 1 ? 's' : '', split)
    plot marks using ((strcol(1) eq split && strcol(3) ne 'lcm') ? $4 : 1/0):(0):(0):(1) with vectors nohead lc rgb 'grey60' dt 2 title 'moon periods', \
         marks using ((strcol(1) eq split && strcol(3) eq 'lcm') ? $4 : 1/0):(0):(0):(1) with vectors nohead lc rgb 'red' lw 2 title 'lcm(p)', \
         curves using 5:((strcol(3) eq split && $2 == s0) ? $6 : 1/0) with lines lw 2 lc rgb 'blue' title 'rollout error', \
         curves using 5:((strcol(3) eq split && $2 == s0) ? $11 : 1/0) with lines lw 1 lc rgb 'dark-green' title 'first-step error'
}
# bottom: weight magnitudes
unset key
set size 0.333,0.43
set xrange [-0.5:2.5]
set yrange [2.5:-0.5]
set xtics 0,1,2
set ytics 0,1,2
set xlabel 'input'
set ylabel 'output'
set cbrange [0:*]
set palette defined (0 'white', 1 'dark-blue')
# one panel per matrix; rows of other matrices get an undefined x (an undefined colour alone
# would still draw them, over the selected ones)
set origin 0.0, 0.0
set title '|W_phi|' noenhanced
plot weights using (((strcol(2) eq 'w_phi') && ($1 == s0)) ? $4 : 1/0):3:7 with points pt 5 ps 9 palette
set origin 0.333, 0.0
set title '|W_psi|' noenhanced
plot weights using (((strcol(2) eq 'w_psi') && ($1 == s0)) ? $4 : 1/0):3:7 with points pt 5 ps 9 palette
set origin 0.666, 0.0
set title '|W_z|' noenhanced
plot weights using (((strcol(2) eq 'w_z') && ($1 == s0)) ? $4 : 1/0):3:7 with points pt 5 ps 9 palette
unset multiplot
