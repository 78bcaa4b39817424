#!/bin/sh
# Demo fragment: three moons with 3 heads and with 1 head (paper settings for training; evaluation
# thinned to every 4th context length and 256 sequences to fit the demo's time, an eighth of the
# paper's 774 lengths x 512 sequences), and the paper's findings checked against memlab's summary
# tables. (Every 2nd length, the demo until 2026-12-07, took about 25 s more; every 8th moves the
# 1-head error between max(p) and lcm(p) by 0.02 on seed 1, too coarse.)
set -eu
. "$(dirname "$0")/lib.sh"
out=$1
seed=${DEMO_SEED:-1}
ctx_step=${THREE_MOONS_DEMO_CTX_STEP:-4}
# Training 3 heads can fail (the paper says so; so does seed 3 here): train 3 seeds, count how many
# disentangle, and read the errors off the seed with the most diagonal weights.
$MEMLAB three-moons --heads 3 --seeds 3 --seed "$seed" --eval-seqs 256 --ctx-step "$ctx_step" --quiet --force --out-dir "$out" -o "$out/three_moons.csv"
$MEMLAB three-moons --heads 1 --seed "$seed" --eval-seqs 256 --ctx-step "$ctx_step" --quiet --force --out-dir "$out/heads1" -o "$out/heads1/three_moons.csv"
# The hand-built ideal 1-head memory (W_phi = 4 I, W_psi = W_z = I; no training) under the same
# evaluation: what the paper's 1-head finding looks like when the network is a pure memory.
$MEMLAB three-moons --heads 1 --ideal 4 --seed "$seed" --eval-seqs 256 --ctx-step "$ctx_step" --quiet --force --out-dir "$out/ideal1" -o "$out/ideal1/three_moons.csv"
# ... and the paper's training started from that ideal memory: does it keep it?
$MEMLAB three-moons --heads 1 --start-ideal 4 --seed "$seed" --eval-seqs 256 --ctx-step "$ctx_step" --quiet --force --out-dir "$out/start1" -o "$out/start1/three_moons.csv"
# summary.csv columns: heads,seed,param,clip,split,periods,max_period_steps,lcm_steps,
#   mad_before_max,mad_between,mad_after_lcm (9-11: the 25-step rollout),
#   step1_before_max,step1_between,step1_after_lcm (12-14: its first step),
#   diag_phi,diag_psi,diag_z,diag,converged (15-19), train_objective (20)
# the validation row of the seed with the largest diagonal mass (column 18)
val() { awk -F, -v col="$2" '$5 == "validation" && (best == "" || $18 > best) { best = $18; v = $col } END { print v }' "$1/summary.csv"; }
h3_disentangled=$(awk -F, '$5 == "validation" && $18 > 0.9 { n++ } END { print n + 0 }' "$out/summary.csv")
# the same error for every seed that disentangles, so that the pick of one seed hides nothing
h3_each=$(awk -F, '$5 == "validation" && $18 > 0.9 { printf "%s%s", sep, $10; sep = ", " }' "$out/summary.csv")
h3_before=$(val "$out" 9); h3_between=$(val "$out" 10); h3_diag=$(val "$out" 18); h3_step1=$(val "$out" 13)
h1_between=$(val "$out/heads1" 10); h1_after=$(val "$out/heads1" 11)
h1_step1=$(val "$out/heads1" 13); h1_step1_after=$(val "$out/heads1" 14)
i1_before=$(val "$out/ideal1" 9); i1_between=$(val "$out/ideal1" 10); i1_after=$(val "$out/ideal1" 11)
h1_objective=$(val "$out/heads1" 20); i1_objective=$(val "$out/ideal1" 20)
s1_after=$(val "$out/start1" 11); s1_objective=$(val "$out/start1" 20)
{
# The 3-head row compares bands, as the 1-head one does: at the paper's settings the trained 3-head
# error between max(p) and lcm(p) spreads over 0.087-0.111 across seeds (docs/three-moons.md), so an
# absolute 0.1 line (memlab's reading of the figure; the paper gives no number) flips with the seed.
echo "| Memory Mosaics §3 | 3 heads predict the validation triple once the context exceeds max(p), where 1 head must wait for lcm(p): between max(p) and lcm(p) the 3-head error is at most a third of its own before max(p) and at most half the 1-head network's | 3 heads $h3_before before max(p), $h3_between between (the most diagonal seed; each seed that disentangles: $h3_each); 1 head $h1_between between. Against an absolute 0.1: at the line (0.087-0.111 over 8 seeds at the paper's settings, docs/three-moons.md) | $(yes_no "3 * $h3_between <= $h3_before && 2 * $h3_between <= $h1_between") |"
echo "| Memory Mosaics §3 | 1 head must wait for lcm(p): the trained network's error stays above 0.2 between max(p) and lcm(p) and falls at least two-fold after (the pure memory's below 0.1: next row) | $h1_between before lcm, $h1_after after | $(yes_no "$h1_between > 0.2 && 2 * $h1_after <= $h1_between") |"
echo "| Memory Mosaics §3 | (ideal memory) the same finding for the hand-built 1-head memory (\`--ideal 4\`, no training): above 0.2 before lcm(p), below 0.1 after | $i1_before before max(p), $i1_between up to lcm(p), $i1_after after | $(yes_no "$i1_between > 0.2 && $i1_after < 0.1") |"
echo "| Memory Mosaics §3 | (why the trained 1 head misses) its training objective is lower than the ideal memory's: the paper's one-step loss prefers a network that extrapolates from recent steps before lcm(p), and that drifts in rollouts after (docs/three-moons.md) | trained $h1_objective, ideal $i1_objective | $(yes_no "$h1_objective < $i1_objective") |"
echo "| Memory Mosaics §3 | (why, second check) the paper's training started at the ideal 1-head memory (\`--start-ideal 4\`) leaves it: lower objective, error after lcm(p) above 0.1 | objective $i1_objective -> $s1_objective; after lcm(p) $i1_after -> $s1_after | $(yes_no "$s1_objective < $i1_objective && $s1_after > 0.1") |"
echo "| Memory Mosaics §3 | (retrieval) the 3-head network's memory read is accurate between max(p) and lcm(p): first-step error below 0.1 (1 head, which can extrapolate one step from its recent past, for reference) | 3 heads $h3_step1; 1 head $h1_step1 before lcm, $h1_step1_after after | $(yes_no "$h3_step1 < 0.1") |"
echo "| Memory Mosaics Fig 6 | the 3-head network disentangles the moons: diagonal share of \|W\| mass above 0.9 | best seed $h3_diag; $h3_disentangled of 3 seeds above 0.9 | $(yes_no "$h3_diag > 0.9") |"
} > "$out/summary.rows"
