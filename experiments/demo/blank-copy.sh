#!/bin/sh
# Demo fragment: encoder-decoder memory models on blank copy (Badger 2026), at demo size: the default
# preset's models (gpt encoder and decoder of 2 layers, d 64, a 512-token BPE on the generated
# stories) on the preset's 4 chunks of 8 tokens. Causal-only and the frozen autoencoder encoder with
# the blank-copy -> combined curriculum for 2000 steps instead of 4000; combined (causal + blank copy)
# and its no-memory control for the preset's 4000, because the combined model learns to read its
# memories late (at 2000 steps 3.0x, 1.3x, 1.5x the control on seeds 1-3, and 1.2x on seed 1 on
# another CPU; at 4000, 4.7x, 1.95x, 5.1x). Two runs at a time with one thread each. Then memory-inversion
# probes the frozen encoder and the causal model's jointly trained one. (With 2 chunks the first
# half's last token predicts the copy's first token from its own chunk, so 1/8 of the labels need no
# memory: a no-memory floor of 0.115 that the combined model barely passed in 1000 steps.)
set -eu
. "$(dirname "$0")/lib.sh"
out=$1
seed=${DEMO_SEED:-1}
steps=${BLANK_COPY_DEMO_STEPS:-2000}
half=$((steps / 2))
long=${BLANK_COPY_DEMO_COMBINED_STEPS:-$((2 * steps))}
run() {
    name=$1
    n=$2
    shift 2
    $MEMLAB blank-copy --chunks 4 --steps "$n" --ae-steps "$steps" --eval-every 250 --seed "$seed" --threads 1 --quiet \
        --force --out-dir "$out/$name" -o "$out/$name.csv" "$@"
}
# Two chains of two runs, one a core, each starting with one of the two 4000-step runs (the combined
# one is the slowest; the frozen one pays for its autoencoder): 146 s in all in the last full demo.
with_memory() { run combined "$long" --objective combined && run causal "$steps" --objective causal; }
control_and_frozen() {
    run nomem "$long" --no-memory --objective combined &&
        run frozen "$steps" --encoder frozen --curriculum "blank-copy:$half,combined:$half"
}
both with_memory control_and_frozen
{ head -n 1 "$out/causal.csv"; for r in causal nomem combined frozen; do tail -n +2 "$out/$r.csv"; done; } > "$out/copy.csv"
$MEMLAB memory-inversion --encoder frozen,joint --frozen-ckpt "$out/frozen/encoder.safetensors" \
    --joint-ckpt "$out/causal/encoder.safetensors" --arch gpt --d 64 --layers 2 --heads 4 --ctx 8 \
    --probe-d 64 --probe-heads 4 --probe-steps 800 --seed "$seed" --threads 1 --quiet --force --out-dir "$out/inversion" \
    -o "$out/inversion.csv"
# copy.csv columns: 9 step, 11 blank_copy_acc, 12 causal_ce; the last row of a run is its end
last() { tail -n 1 "$out/$1.csv" | cut -d, -f"$2"; }
# a run's blank-copy accuracy at its last evaluation up to step $2
at() { awk -F, -v s="$2" 'NR > 1 && $9 <= s { v = $11 } END { print v }' "$out/$1.csv"; }
# the first step at which a run's blank-copy accuracy reaches $2
reach() { awk -F, -v t="$2" 'NR > 1 && $11 >= t { print $9; found = 1; exit } END { if (!found) print "never" }' "$out/$1.csv"; }
inv() { awk -F, -v e="$1" '$1 == e { printf "%.3f\n", $8; exit }' "$out/inversion.csv"; }
r3() { awk -v x="$1" 'BEGIN { printf "%.3f\n", x }'; }
bc=$(r3 "$(last causal 11)"); bn=$(r3 "$(last nomem 11)"); bm=$(r3 "$(last combined 11)"); bf=$(r3 "$(last frozen 11)")
cc=$(r3 "$(last causal 12)"); cm=$(r3 "$(last combined 12)"); cn=$(r3 "$(last nomem 12)")
# the frozen run's steps against the combined model's at the same budget: its accuracy at step
# $steps, compared unrounded (the rounded one can lie above every row of the run)
bs=$(at combined "$steps"); bsr=$(r3 "$bs")
sc=$(reach combined "$bs"); sf=$(reach frozen "$bs")
jf=$(inv frozen); jj=$(inv joint)
{
echo "| Memory models (Badger 2026) | causal training alone gives memories that cannot support arbitrary access: blank copy fails | demo (4 chunks x 8 tokens; causal-only $steps steps, the others $long): causal-only blank-copy accuracy $bc vs no memory $bn (combined $bm); causal CE $cc | $(yes_no "$bc - $bn < 0.25 * ($bm - $bn)") |"
# The combined objective gives half of each step's gradient to the copy task, so its causal CE is
# compared with the no-memory control trained on the same objective: what the memory costs, not
# what the objective costs (against causal-only training it is 15% higher at the default preset).
# "partly": above the control by a fifth or more but short of twice it.
combined=$(awk -v m="$bm" -v n="$bn" -v c="$cm" -v d="$cn" 'BEGIN { ce = c <= 1.1 * d; print (m >= 2 * n && ce) ? "yes" : (m >= 1.2 * n && ce) ? "partly" : "no" }')
echo "| Memory models (Badger 2026) | combined (causal + copy) objectives give information-rich memories | combined blank-copy accuracy $bm vs no memory $bn; causal CE $cm vs $cn for the no-memory control on the same objective (causal-only $cc; $long steps each: seeds 1-3 4.7x, 1.95x, 5.1x the control; at 2000 steps 1.2x-3.0x: the combined model learns to read its memories at a seed-dependent step; docs/copy.md) | $combined |"
echo "| Memory models (Badger 2026) | a frozen autoencoder encoder with a blank-copy -> combined curriculum trains faster | decoder steps to the combined model's blank-copy accuracy at step $steps, $bsr: frozen + curriculum $sf, combined $sc (frozen ends at $bf after $steps steps) | $(yes_no "\"$sf\" != \"never\" && $sf < $sc") |"
echo "| Memory models (Badger 2026) | a causally trained (joint) encoder's memories keep less than a frozen autoencoder's | memory-inversion probe token accuracy at 8 tokens: joint (causal) $jj vs frozen $jf | $(yes_no "$jj < $jf") |"
echo "| Memory models (Badger 2026) | the same at the default preset (4 chunks x 8 tokens, 4000 steps; docs/copy.md) | blank-copy accuracy: causal-only 0.002, no memory 0.038, combined 0.174 (causal CE 1.78 vs causal-only 1.55), frozen + curriculum 0.809; steps to 0.174: frozen 1000, combined 4000; memory-inversion token accuracy: joint (causal) 0.103 vs frozen 0.910 | yes (combined's causal CE 4% above the no-memory control's on the same objective, 1.71; 15% above causal-only's) |"
} > "$out/summary.rows"
