#!/bin/sh
# Demo fragment: depth-1 language models on memlab's generated stories, GPT and memory mosaic of the
# same shape (d 128, 4 heads, context 256, a 2048-token BPE), trained side by side on the two cores
# (one thread each) on the same windows in the same order; then a sample from each. The runs follow
# the default preset's 3000-step schedule and stop at step 1600 (--stop-at), where the mosaic is
# already ahead on every seed measured; a schedule compressed into 1600 steps favours the GPT
# (docs/babistories.md). DEMO_SEED picks the seed.
set -eu
. "$(dirname "$0")/lib.sh"
out=$1
steps=${BABISTORIES_DEMO_STEPS:-1600}
seed=${DEMO_SEED:-1}
# Out-of-distribution text (the GPL, formal English): loss against position in the window; the log
# names the position from which each curve stays within 1% of its final value. Each model's curve
# is measured on its own core as soon as that model is trained (the same numbers as one ood run over
# both checkpoints, in about half the time).
chain() {
    $MEMLAB babistories --arch "$1" --steps 3000 --stop-at "$steps" --eval-every 400 --seed "$seed" --threads 1 --quiet \
        --force --out-dir "$out/$1" -o "$out/$1.csv"
    $MEMLAB babistories ood --ckpt "$out/$1/babistories_$1.safetensors" --threads 1 -o "$out/ood_$1.csv" 2> "$out/ood_$1.log"
}
both "chain gpt" "chain mosaic"
{ cat "$out/ood_gpt.csv"; tail -n +2 "$out/ood_mosaic.csv"; } > "$out/ood.csv"
cat "$out/ood_gpt.log" "$out/ood_mosaic.log" > "$out/ood.log"
rm -f "$out/ood_gpt.csv" "$out/ood_mosaic.csv" "$out/ood_gpt.log" "$out/ood_mosaic.log"
{ cat "$out/gpt.csv"; tail -n +2 "$out/mosaic.csv"; } > "$out/curves.csv"
for a in gpt mosaic; do
    $MEMLAB babistories generate --ckpt "$out/$a/babistories_$a.safetensors" --prompt "Once upon a time, there was a little girl named" \
        --max-tokens 80 --seed 1 > "$out/sample_$a.txt"
done
# Attention of the last position (Figs 12, 13, 15): both models at the training context, the mosaic
# also at 3x (the learned-position gpt cannot go there: memlab refuses, see docs/babistories.md).
$MEMLAB babistories attention --ckpt "$out/gpt/babistories_gpt.safetensors,$out/mosaic/babistories_mosaic.safetensors" \
    --threads 1 --quiet --force --out-dir "$out/attention_x1" -o "$out/attention.csv"
$MEMLAB babistories attention --ckpt "$out/mosaic/babistories_mosaic.safetensors" --ctx-mult 3 \
    --threads 1 --quiet --force --out-dir "$out/attention_x3" -o "$out/attention_x3.csv"
tail -n +2 "$out/attention_x3.csv" >> "$out/attention.csv"
settle() { sed -n "s/.*($1).*final \([0-9.e+-]*\); within 1% of it (smoothed) from position \([0-9]*\) on/\2 (final \1)/p" "$out/ood.log"; }
sg=$(settle gpt); sm=$(settle mosaic)
# ood.csv columns: 1 arch, 3 position, 4 mean_loss: the fall from the window's second eighth to its
# last eighth.
fall() { awk -F, -v a="$1" 'NR == FNR { if ($1 == a) T++; next }
         $1 == a && $3 >= T / 8 && $3 < T / 4 { s += $4; n++ } $1 == a && $3 >= T - T / 8 { e += $4; m++ }
         END { printf "%.3f", s / n - e / m }' "$out/ood.csv" "$out/ood.csv"; }
og=$(fall gpt); om=$(fall mosaic)
{ cat "$out/attention_x1/attention_heads.csv"; tail -n +2 "$out/attention_x3/attention_heads.csv"; } > "$out/attention_heads.csv"
# attention_heads.csv columns: 1 arch, 3 ctx, 7 leaky_rate, 8 leaky_coef, 9 peak_width, 10 share_pos0,
# 11 share_last8; means over heads of one (arch, ctx).
share() { awk -F, -v a="$1" -v t="$2" -v c="$3" '$1 == a && $3 == t { s += $c; n++ } END { printf "%.3f", s / n }' "$out/attention_heads.csv"; }
g0=$(share gpt 256 10); g8=$(share gpt 256 11); m0=$(share mosaic 256 10); m8=$(share mosaic 256 11)
x0=$(share mosaic 768 10); x8=$(share mosaic 768 11)
# Fig 15: the mosaic's heads as (leaky coefficient, peak width) pairs, by coefficient; holds when the
# width never shrinks as the coefficient grows and the widest peak is wider than the narrowest;
# "partly" when the largest coefficient has the widest peak, by at least 0.1 position, but the
# narrower peaks are out of order. At depth 1 those are one-position spikes whose half-height widths
# differ by a few hundredths of a position, an order no measure of width can read.
pairs=$(awk -F, '$1 == "mosaic" && $3 == 256 { printf "%.2f:%.2f\n", $8, $9 }' "$out/attention_heads.csv" | sort -n | tr '\n' ' ')
fig15=$(awk -F, '$1 == "mosaic" && $3 == 256 { print $8, $9 }' "$out/attention_heads.csv" | sort -n |
        awk 'NR > 1 && $2 < w { bad = 1 } NR == 1 || $2 < lo { lo = $2 } NR == 1 || $2 > hi { hi = $2 } { w = $2 }
             END { print ((!bad && w > lo) ? "yes" : (w == hi && hi - lo >= 0.1) ? "partly" : "no") }')
# Side by side stories from the 24 default prompts (Tables 1, 5).
$MEMLAB babistories compare --ckpt "$out/gpt/babistories_gpt.safetensors,$out/mosaic/babistories_mosaic.safetensors" \
    --max-tokens 40 --seed 1 --quiet > "$out/compare.md"
# curves.csv columns: 1 arch, 6 step, 9 train_loss, 10 val_loss; the last row of each architecture
last() { awk -F, -v a="$1" '$1 == a { v = $10 } END { printf "%.3f", v }' "$out/curves.csv"; }
g=$(last gpt); m=$(last mosaic)
echo "| Memory Mosaics Fig 9 | at depth 1 the memory mosaic's validation loss is at or below the GPT's (paper: 80k steps of 512 x 512 tokens, GPT-2 tokenizer) | at step $steps of the default preset's 3000-step schedule (16 x 256 tokens a step): mosaic $m, gpt $g (ahead there on seeds 1-3 by 0.027-0.064; the whole run ends 0.772 vs 0.843: docs/babistories.md) | $(yes_no "$m <= $g") |" > "$out/summary.rows"
# Fig 10 holds when the mosaic's loss falls more over the window than the gpt's and settles (within
# 1% of its final value) no earlier; "partly" when only one of the two says so.
pm=${sm%% *}; pg=${sg%% *}
fig10=$(awk -v om="$om" -v og="$og" -v pm="$pm" -v pg="$pg" 'BEGIN { a = om > og; b = pm >= pg; print a && b ? "yes" : a || b ? "partly" : "no" }')
echo "| Memory Mosaics Fig 10 | on out-of-distribution text the mosaic's per-position loss keeps falling after the GPT's has flattened | fall of the mean loss from the window's second eighth to its last on the GPL-3 text: mosaic $om, gpt $og nats; each curve within 1% of its final value from position: mosaic $sm, gpt $sg (this learned-position gpt drifts down over the second half, a drift of its position table that can make it settle late; RoPE and ALiBi gpts settle from positions 41 and 18: docs/babistories.md) | $fig10 |" >> "$out/summary.rows"
echo "| Memory Mosaics Fig 12 | the mosaic's last position attends flatly apart from the recent tokens (the GPT's, at depth 12, has a sink at position 0) | share of attention on position 0 / on the last 8 readable positions: mosaic $m0 / $m8, gpt $g0 / $g8 (uniform: 0.004 / 0.031; depth 1, no sink: docs/babistories.md) | $(yes_no "$m0 < 0.008 && $m8 > 0.1") |" >> "$out/summary.rows"
echo "| Memory Mosaics Fig 13 | at 3x the training context the mosaic's attention stays flat apart from recent tokens (a learned-position GPT cannot run there) | mosaic at 768 tokens: position 0 $x0, last 8 $x8 (uniform 0.0013 / 0.010) | $(yes_no "$x0 < 0.003 && $x8 > 0.1") |" >> "$out/summary.rows"
echo "| Memory Mosaics Fig 15 | a larger leaky-average coefficient widens the recent-token peak | mosaic heads, coefficient:peak width (positions) $pairs (at depth 1 only the longest-averaging head's peak is wider than one position; a depth-2 mosaic's 8 heads line up almost in order: docs/babistories.md) | $fig15 |" >> "$out/summary.rows"
