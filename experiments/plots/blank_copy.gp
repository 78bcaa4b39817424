# memlab blank-copy figures: the same as copy.gp, for results/blank-copy/.
# Usage: gnuplot -e "dir='results/blank-copy'" experiments/plots/blank_copy.gp
if (!exists("dir")) dir = 'results/blank-copy'
load 'experiments/plots/copy.gp'
