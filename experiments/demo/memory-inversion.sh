#!/bin/sh
# Demo fragment: how much of a window of text an embedding keeps (Badger 2026). GPT and memory-mosaic
# encoders (1 layer, d 128, 16-token windows, a 1024-token BPE on the generated stories), each
# untrained, causally trained and trained as an autoencoder, probed by the same fresh decoder;
# gpt and mosaic side by side on the two cores (one thread each), at about half the default steps.
# The gpt's encoders train at --lr 1e-3: at the default 2e-3 its autoencoder stays near the
# zero-embedding plateau for most of 1500 steps (probe accuracy 0.07-0.19 on seeds 1-3, below the
# causal encoder's 2x); at 1e-3 it reads 0.62-0.77. The mosaic's holds at 2e-3 and is worse at 1e-3
# (seed 1: 0.280 against 0.225). Measured in docs/memory-inversion.md.
set -eu
. "$(dirname "$0")/lib.sh"
out=$1
enc_steps=${INVERSION_DEMO_ENCODER_STEPS:-1500}
probe_steps=${INVERSION_DEMO_PROBE_STEPS:-800}
seed=${DEMO_SEED:-1}
lr_gpt=${INVERSION_DEMO_GPT_LR:-1e-3}
lr_mosaic=${INVERSION_DEMO_MOSAIC_LR:-2e-3}
run_arch() {
    case $1 in gpt) lr=$lr_gpt ;; mosaic) lr=$lr_mosaic ;; esac
    $MEMLAB memory-inversion --arch "$1" --lr "$lr" --encoder-steps "$enc_steps" --probe-steps "$probe_steps" --seed "$seed" \
        --threads 1 --quiet --force --out-dir "$out/$1" -o "$out/$1.csv"
}
both 'run_arch gpt' 'run_arch mosaic'
{ cat "$out/gpt.csv"; tail -n +2 "$out/mosaic.csv"; } > "$out/inversion.csv"
# inversion.csv columns: 1 encoder, 2 arch, 8 token_acc, 11 retained, 13 baseline_token_acc
get() { awk -F, -v e="$1" -v a="$2" -v c="$3" '$1 == e && $2 == a { printf "%.3f\n", $c; exit }' "$out/inversion.csv"; }
{
for a in gpt mosaic; do
    case $a in gpt) lr=$lr_gpt ;; mosaic) lr=$lr_mosaic ;; esac
    ae=$(get autoencoder $a 8); ca=$(get causal $a 8); un=$(get untrained $a 8); base=$(get untrained $a 13)
    echo "| LM memory (Badger 2026) | an autoencoder's embedding keeps far more of its input than a causal LM's: probe token accuracy 0.39-0.77 vs 0.046 (paper: 512 tokens, 8k vocabulary) | $a encoders (--lr $lr), 16 tokens: autoencoder $ae, causal $ca, untrained $un (zero embedding $base) | $(yes_no "$ae >= 2 * $ca && $ae >= 2 * $un") |"
    echo "| LM memory (Badger 2026) | causal training adds little over a random encoder: 0.046 vs 0.041 (paper) | $a: causal $ca vs untrained $un | $(yes_no "$ca - $un < 0.25 * ($ae - $un)") |"
done
ga=$(get autoencoder gpt 8); ma=$(get autoencoder mosaic 8); gr=$(get autoencoder gpt 11); mr=$(get autoencoder mosaic 11)
echo "| LM memory (new measurement) | does a memory-mosaic autoencoder keep more than a GPT one? (not measured in the paper) | token accuracy mosaic $ma vs gpt $ga; retained fraction $mr vs $gr (each at its --lr: mosaic $lr_mosaic, gpt $lr_gpt) | (measurement) |"
} > "$out/summary.rows"
