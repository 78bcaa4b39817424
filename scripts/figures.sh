#!/bin/sh
# `make figures`: runs every experiments/plots/NAME.gp whose results folder exists: results/NAME/
# (NAME with '-' for '_'), or the folder its "# results: DIR" line names. On stderr it names each PNG
# that a script wrote, and for each script that wrote none, why: no results folder, or what the
# script or gnuplot said (a missing input file, most often). A PNG that gnuplot opened but never drew
# into (0 bytes) is removed. Exits 0 unless gnuplot itself is missing. RESULTS=DIR reads DIR/NAME/
# instead of results/NAME/ (the tests use it).
set -eu
cd "$(dirname "$0")/.."
results=${RESULTS:-results}
command -v gnuplot >/dev/null || { echo "figures: gnuplot is not installed (scripts/deps.sh installs it)" >&2; exit 1; }
stamp=$(mktemp) log=$(mktemp)
trap 'rm -f "$stamp" "$log"' EXIT
ndrawn=0 nskipped=0
for gp in experiments/plots/*.gp; do
    name=$(basename "$gp" .gp)
    dir=$(sed -n 's/^# results: results\///p' "$gp")
    [ -n "$dir" ] || dir=$(echo "$name" | tr _ -)   # three_moons.gp draws results/three-moons/
    dir="$results/$dir"
    if [ ! -d "$dir" ]; then
        echo "figures: skipped $name.gp: no $dir/ (run \`make demo\`, or the command with --out-dir $dir)" >&2
        nskipped=$((nskipped + 1))
        continue
    fi
    touch "$stamp"
    sleep 0.01   # so that a PNG written now is strictly newer than the stamp
    failed=0
    gnuplot -e "dir='$dir'" "$gp" 2>"$log" || failed=1
    find "$dir" -name '*.png' -newer "$stamp" -size 0 -exec rm -f {} +
    drawn=$(find "$dir" -name '*.png' -newer "$stamp" | sort)
    # what the script said: gnuplot's complaint about a missing file first, else its last line
    why=$(grep -m 1 'Cannot find or open file' "$log" || grep -v '^[[:space:]]*$' "$log" | tail -n 1 || true)
    why=$(echo "$why" | sed "s/^[[:space:]]*//; s/^$name.gp: //")
    for png in $drawn; do
        echo "figures: drew $png" >&2
        ndrawn=$((ndrawn + 1))
    done
    if [ -z "$drawn" ]; then
        echo "figures: skipped $name.gp: ${why:-it drew nothing}" >&2
        nskipped=$((nskipped + 1))
    elif [ "$failed" = 1 ]; then
        echo "figures: $name.gp stopped with an error: $why" >&2
    fi
done
echo "figures: $ndrawn drawn, $nskipped scripts skipped" >&2
