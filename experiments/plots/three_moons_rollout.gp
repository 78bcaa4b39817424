# results: results/three-moons
# memlab three-moons: how the error grows along the 25-step rollout, by band of context length
# (before max(p), between max(p) and lcm(p), after lcm(p)), on the validation triple, first seed.
# A pure memory's error stays flat along the rollout; a network that adds a turn to every predicted
# step (a phase on the diagonal of W_z W_psi, logged by memlab) drifts linearly.
# Usage: gnuplot -e "dir='results/three-moons'" experiments/plots/three_moons_rollout.gp
#        add -e "ref='DIR2'; reflabel='ideal'" to draw a second run (e.g. --ideal 4) dashed.
if (!exists("dir")) dir = 'results/three-moons'
if (!exists("out")) out = dir.'/three_moons_rollout.png'
set terminal pngcairo size 700,450 font ',10'
set output out
set datafile separator ','
set termoption noenhanced
steps = dir.'/rollout.csv'
stats steps using 2 nooutput
s0 = STATS_min
stats steps using 1 nooutput
heads = STATS_min
set title sprintf('%d head%s, validation triple: error of each rollout step', heads, heads > 1 ? 's' : '')
set xlabel 'rollout step'
set ylabel 'mean |prediction - truth|'
set yrange [0:*]
set key top left
bands = 'before_max between after_lcm'
label = exists("ref") ? 'trained: ' : ''
if (!exists("reflabel")) reflabel = 'reference'
if (!exists("ref")) {
    plot for [i=1:3] steps using 6:((strcol(3) eq 'validation' && strcol(5) eq word(bands, i) && $2 == s0) ? $7 : 1/0) \
         with linespoints pt 7 ps 0.6 lw 2 lc i title word(bands, i)
} else {
    refsteps = ref.'/rollout.csv'
    plot for [i=1:3] steps using 6:((strcol(3) eq 'validation' && strcol(5) eq word(bands, i) && $2 == s0) ? $7 : 1/0) \
         with linespoints pt 7 ps 0.6 lw 2 lc i title label.word(bands, i), \
         for [i=1:3] refsteps using 6:((strcol(3) eq 'validation' && strcol(5) eq word(bands, i)) ? $7 : 1/0) \
         with lines dt 2 lw 2 lc i title reflabel.': '.word(bands, i)
}
