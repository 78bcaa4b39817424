#!/bin/sh
# Proves that a refactor changes no output: builds BASE_REF (default main) in a temporary git
# worktree and the current tree, runs every command's smoke preset with both binaries (same seed,
# one thread), and compares the sha256 of every file they write and of their stdout.
#
#   scripts/same_outputs.sh [BASE_REF]       exit 0: identical; 1: some file differs (listed)
#
# Both binaries are built with one commit string (GIT_COMMIT=same-outputs), so that what records
# it (config.yaml, the checkpoints that carry the configuration) compares byte for byte. Only what
# measures time is left out of the comparison: CSV columns named *tokens_per_s, *seconds, gflops,
# mfu, ratio, peak_rss_mb (dropped before hashing, and their values in run.log's last line),
# run.log's "after S s", bench's Markdown table,
# and the figures (gnuplot's PNGs). stderr (progress, timings) is not compared. The base binary is
# cached by commit in $SAME_OUTPUTS_CACHE (default ~/.cache/memlab-same-outputs), so a second run
# against the same base only builds this tree.
# A developer tool: make check does not run it.
set -eu
base_ref=${1:-main}
root=$(git rev-parse --show-toplevel)
base_sha=$(git -C "$root" rev-parse --verify "$base_ref^{commit}")
cache=${SAME_OUTPUTS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/memlab-same-outputs}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/same_outputs.XXXXXX")
cleanup() {
    git -C "$root" worktree remove --force "$tmp/base-src" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

# ---- the two binaries ---------------------------------------------------------------------------
base_bin=$cache/$base_sha/memlab.same-commit
if [ ! -x "$base_bin" ]; then
    echo "same_outputs: building $base_ref ($base_sha)" >&2
    git -C "$root" worktree add --quiet --detach "$tmp/base-src" "$base_sha"
    make -C "$tmp/base-src" -j2 GIT_COMMIT=same-outputs memlab >"$tmp/base-build.log" 2>&1 ||
        { tail -20 "$tmp/base-build.log" >&2; echo "same_outputs: $base_ref does not build" >&2; exit 2; }
    mkdir -p "$cache/$base_sha"
    cp "$tmp/base-src/memlab" "$base_bin.tmp" && mv "$base_bin.tmp" "$base_bin"
fi
echo "same_outputs: building the current tree" >&2
make -C "$root" -j2 GIT_COMMIT=same-outputs memlab >"$tmp/cur-build.log" 2>&1 ||
    { tail -20 "$tmp/cur-build.log" >&2; echo "same_outputs: the current tree does not build" >&2; exit 2; }
cp "$root/memlab" "$tmp/cur-memlab"

# ---- the runs: every path relative, so both runs write the same names ---------------------------
# run NAME ARGS...: memlab ARGS with stdout kept in NAME.stdout; a failing command is an output too.
run() {
    name=$1
    shift
    rc=0
    "$M" "$@" >"$name.stdout" 2>"$name.stderr" || rc=$?
    [ $rc -eq 0 ] || echo "exit status $rc" >"$name.failed"
}
run_all() {
    M=$1
    mkdir -p "$2" && cd "$2"
    common="--seed 1 --threads 1 --quiet"
    # three-moons
    run tm three-moons --preset smoke $common --out-dir tm -o tm.csv
    run tm_ideal three-moons --preset smoke $common --ideal 5 --out-dir tm_ideal -o tm_ideal.csv
    # regbench: the trained models, the references, and a 2-point sweep (child processes)
    for m in mosaic gpt lstm ngram; do
        run "rb_$m" regbench --preset smoke $common --model $m --out-dir "rb_$m" -o "rb_$m.csv"
    done
    printf 'layers: [1]\nd: [16]\nheads: [2]\nwd: [0.01, 0.1]\n' >grid.yaml
    run rb_sweep regbench --preset smoke --seed 1 --threads 2 --quiet --sweep --model gpt --grid grid.yaml \
        --jobs 2 --out-dir rb_sweep -o rb_sweep.csv
    # babistories: train both, stop and resume, then every subcommand on the checkpoints
    run bs babistories --preset smoke $common --out-dir bs -o bs.csv
    run bs_stop babistories --preset smoke $common --arch mosaic --out-dir bs_resume --stop-at 7 -o bs_stop.csv
    run bs_resume babistories --preset smoke $common --arch mosaic --out-dir bs_resume \
        --resume bs_resume/babistories_mosaic.safetensors -o bs_resume.csv
    g=bs/babistories_gpt.safetensors
    mo=bs/babistories_mosaic.safetensors
    head -c 3000 /usr/share/common-licenses/GPL-3 >text.txt
    run gen_gpt babistories generate --ckpt $g --prompt "Once upon a time" --max-tokens 30 $common
    run gen_mosaic babistories generate --ckpt $mo --prompt "Once upon a time" --max-tokens 30 $common
    run gen_greedy babistories generate --ckpt $g --temperature 0 --max-tokens 20 $common
    run gen_topk babistories generate --ckpt $mo --temperature 1.5 --top-k 3 --max-tokens 20 $common
    run gen_slide babistories generate --ckpt $g --max-tokens 90 $common
    run gen_slide_m babistories generate --ckpt $mo --max-tokens 90 $common
    run score babistories score --ckpt $g --text text.txt $common
    run ood babistories ood --ckpt $g,$mo --text text.txt --stride 16 $common
    run att babistories attention --preset smoke --ckpt $g,$mo --windows 2 $common --out-dir att -o att.csv
    run cmp babistories compare --ckpt $g,$mo --max-tokens 12 $common
    run cmp_csv babistories compare --ckpt $g,$mo --max-tokens 12 --format csv $common
    # memory-inversion, copy (trainable, frozen with its autoencoder, curriculum, baseline, cost), blank-copy
    run inv memory-inversion --preset smoke $common --out-dir inv -o inv.csv
    run copy copy --preset smoke $common --out-dir copy -o copy.csv
    run copy_frozen copy --preset smoke $common --encoder frozen --out-dir copy_frozen -o copy_frozen.csv
    run copy_cur blank-copy --preset smoke $common --curriculum blank-copy:3,combined:3 --out-dir copy_cur -o copy_cur.csv
    run copy_full copy --preset smoke $common --baseline full --out-dir copy_full -o copy_full.csv
    run copy_nomem blank-copy --preset smoke $common --no-memory --out-dir copy_nomem -o copy_nomem.csv
    run copy_cost copy --preset smoke $common --cost --out-dir copy_cost -o copy_cost.csv
    run blank blank-copy --preset smoke $common --out-dir blank -o blank.csv
    # utilities
    run xor xor --preset smoke $common --out-dir xor -o xor.csv
    # info and tokenize take neither a seed nor threads (they refuse them)
    run info info --quiet
    run info_m info --arch mosaic --layers 2 --d 64 --heads 4 --vocab 300 --ctx 64 --quiet
    "$M" babistories --preset smoke --dump-corpus 40 >corpus.txt 2>/dev/null || echo failed >corpus.failed
    run tok_train tokenize --train --vocab-size 300 corpus.txt -o tok.json --quiet
    run tok_enc tokenize --tokenizer tok.json corpus.txt --quiet
    "$M" tokenize --tokenizer tok.json corpus.txt >ids.txt 2>/dev/null || true
    run tok_dec tokenize --tokenizer tok.json --decode ids.txt --quiet
    run bench bench --preset smoke --torch off $common --out-dir bench -o bench.csv
    rm -f bench/results.md
    for k in train generate generate_uncached; do
        for a in gpt mosaic; do
            run "bench_${k}_$a" bench run --kind $k --arch $a --d 32 --layers 1 --heads 2 --ctx 32 --batch 2 \
                --vocab 64 --min-time 0 --min-steps 3 --warmup 1 --gen-tokens 8 $common
        done
    done
    rm -f ./*.stderr
    find . -name '*.png' -delete
}

# ---- normalising and hashing --------------------------------------------------------------------
# A CSV whose header names a time column loses that column; run.log its time and the values of
# those columns in its last line.
normalise() {
    find "$1" -type f | sort | while read -r f; do
        case $f in
        *.csv | *.stdout)
            awk -F, -v OFS=, '
                NR == 1 { for (i = 1; i <= NF; i++) if ($i ~ /tokens_per_s$|seconds$|^gflops$|^mfu$|^ratio$|peak_rss/) drop[i] = 1 }
                { s = ""; n = 0; for (i = 1; i <= NF; i++) if (!(i in drop)) s = (n++ ? s OFS : "") $i; print s }' "$f" >"$f.n"
            mv "$f.n" "$f" ;;
        */run.log | */run-*.log)
            sed -E 's/ after [0-9.]+ s/ after S s/; s/([a-z_]*(tokens_per_s|seconds)|gflops|mfu|ratio|peak_rss_mb)=[^ ]*/\1=T/g' \
                "$f" >"$f.n"
            mv "$f.n" "$f" ;;
        esac
    done
    (cd "$1" && find . -type f | xargs sha256sum | LC_ALL=C sort -k2,2)
}

echo "same_outputs: running the smoke presets (base and current side by side)" >&2
(run_all "$base_bin" "$tmp/out-base") &
pid=$!
(run_all "$tmp/cur-memlab" "$tmp/out-cur")
wait $pid
failed=$(cd "$tmp/out-cur" && ls ./*.failed 2>/dev/null | sed 's/^\.\/\(.*\)\.failed$/\1/' | tr '\n' ' ')
[ -z "$failed" ] || echo "same_outputs: note: these runs exit non-zero in the current tree: $failed" >&2
normalise "$tmp/out-base" >"$tmp/base.sha"
normalise "$tmp/out-cur" >"$tmp/cur.sha"

# ---- the verdict --------------------------------------------------------------------------------
differ=$(LC_ALL=C join -j 2 -a 1 -a 2 -e missing -o 0,1.1,2.1 "$tmp/base.sha" "$tmp/cur.sha" |
         awk '$2 != $3 { print $1 (($2 == "missing") ? " (only in the current tree)" : ($3 == "missing") ? " (only in the base)" : "") }')
nfiles=$(wc -l <"$tmp/cur.sha")
if [ -n "$differ" ]; then
    echo "same_outputs: these outputs differ from $base_ref:"
    echo "$differ" | sed 's/^\.\//  /'
    if [ -n "${SAME_OUTPUTS_KEEP:-}" ]; then
        mkdir -p "$SAME_OUTPUTS_KEEP" && cp -r "$tmp/out-base" "$tmp/out-cur" "$SAME_OUTPUTS_KEEP"/
        echo "same_outputs: both output trees copied to $SAME_OUTPUTS_KEEP"
    else
        echo "same_outputs: SAME_OUTPUTS_KEEP=DIR keeps both output trees for a diff"
    fi
    exit 1
fi
echo "same_outputs: all $nfiles outputs identical to $base_ref ($base_sha)"
