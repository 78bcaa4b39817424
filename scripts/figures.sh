#!/bin/sh
# `make figures`: draws every figure whose data exists, with experiments/plots/NAME.gp reading
# results/NAME/ (or the folder its "# results: DIR" line names) and writing NAME.png there.
set -eu
cd "$(dirname "$0")/.."
for gp in experiments/plots/*.gp; do
    name=$(basename "$gp" .gp)
    dir=$(sed -n 's/^# results: //p' "$gp")
    [ -n "$dir" ] || dir="results/$(echo "$name" | tr _ -)"   # three_moons.gp draws results/three-moons/
    if [ -d "$dir" ]; then
        gnuplot -e "dir='$dir'" "$gp" && echo "figures: $dir/$name.png" >&2
    else
        echo "figures: no results for $name (run \`make demo\` or \`memlab $(echo "$name" | tr _ -) --out-dir $dir\`)" >&2
    fi
done
