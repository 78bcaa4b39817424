#!/bin/sh
# Demo fragment: the core end to end (no paper finding; a check that training works here).
set -eu
out=$1
$MEMLAB xor --seed "${DEMO_SEED:-1}" --quiet --force --out-dir "$out" -o "$out/xor.csv"
loss=$(tail -n 1 "$out/xor.csv" | cut -d, -f4)
holds=$(awk -v l="$loss" 'BEGIN { print (l < 1e-3) ? "yes" : "no" }')
echo "| (core) | a 2-layer network learns XOR through the tape: loss < 1e-3 | final loss $loss | $holds |" > "$out/summary.rows"
