# results: results/three-moons
# memlab three-moons: how the error grows along the 25-step rollout, by band of context length
# (before max(p), between max(p) and lcm(p), after lcm(p)), on the validation triple, first seed.
# A pure memory's error stays flat along the rollout; a network that adds a turn to every predicted
# step (a phase on the diagonal of W_z W_psi, logged by memlab) drifts linearly.
# Usage: gnuplot -e "dir='results/three-moons'" experiments/plots/three_moons_rollout.gp
if (!exists("dir")) dir = 'results/three-moons'
set terminal pngcairo size 700,450 font ',10'
set output dir.'/three_moons_rollout.png'
set datafile separator ','
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
plot for [b in 'before_max between after_lcm'] steps \
     using 6:((strcol(3) eq 'validation' && strcol(5) eq b && $2 == s0) ? $7 : 1/0) with linespoints pt 7 ps 0.6 lw 2 title b
