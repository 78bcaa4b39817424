#!/bin/sh
# Builds the GPU sequence-kernel tests and benchmarks (tests/cuda/test_{seq,attention}.cu,
# benchmarks/{attention,seq}_cuda.cu) with nvcc into DIR, with the shared libraries they need and a
# run script, so that DIR can travel to a GPU machine without OpenBLAS headers or libcheck:
#     scripts/cuda_seq_bundle.sh DIR        (here)
#     bash DIR/run_seq_cuda.sh              (there; results under $OUT, or DIR/out)
# The CPU reference kernels are compiled for a generic x86-64 (-march=x86-64-v2), not -march=native:
# the GPU machine's processor may lack this one's instructions. Until `make check-cuda` builds these
# tests, this is how benchmarks/NOTES.md ("GPU sequence kernels") was measured.
set -e
dir=${1:?usage: scripts/cuda_seq_bundle.sh DIR}
NVCC=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
ARCH=${ARCH:--arch=sm_90}
F="$ARCH -O3 -std=c++17 -Ilib -Itests/cuda"
BLAS=/usr/lib/$(gcc -print-multiarch)/openblas-openmp
obj=$dir/obj
mkdir -p "$obj"
for f in kernels_attention blas error rng kernels_time kernels_rope kernels_norm; do
    gcc -O2 -march=x86-64-v2 -std=c11 -D_GNU_SOURCE -Ilib -fopenmp $(pkg-config --cflags openblas) \
        -c lib/core/$f.c -o "$obj/$f.o"
done
for f in attention attention_bf16 seq; do
    "$NVCC" $F -c lib/cuda/$f.cu -o "$obj/$f.o"
done
att="$obj/attention.o $obj/attention_bf16.o"
"$NVCC" $F tests/cuda/test_attention.cu $att "$obj/kernels_attention.o" "$obj/blas.o" "$obj/error.o" \
    "$obj/rng.o" -L"$BLAS" -l:libopenblas.so.0 -Xcompiler -fopenmp -lm -o "$dir/test_attention"
"$NVCC" $F tests/cuda/test_seq.cu "$obj/seq.o" "$obj/kernels_time.o" "$obj/kernels_rope.o" \
    "$obj/kernels_norm.o" "$obj/error.o" -Xcompiler -fopenmp -lm -o "$dir/test_seq"
"$NVCC" $F benchmarks/attention_cuda.cu $att "$obj/error.o" -o "$dir/bench_attention_cuda"
"$NVCC" $F benchmarks/seq_cuda.cu "$obj/seq.o" "$obj/error.o" -o "$dir/bench_seq_cuda"
rm -rf "$obj"
mkdir -p "$dir/libs"
for l in "$BLAS/libopenblas.so.0" $(ldd "$dir/test_attention" | awk '/gfortran|quadmath|gomp/ {print $3}'); do
    cp -L "$l" "$dir/libs/"
done
cp benchmarks/peers/sdpa_attention.py "$dir/"
cat > "$dir/run_seq_cuda.sh" <<'EOF'
#!/bin/bash
# Correctness, compute-sanitizer (memcheck; racecheck on attention with RACE=1), timing and the
# PyTorch peer, one file per step under $OUT (default: out/ here).
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
export LD_LIBRARY_PATH=$PWD/libs:$LD_LIBRARY_PATH
nvidia-smi --query-gpu=name,clocks.max.sm --format=csv,noheader
SAN=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
PY=${PY:-/opt/torch/.venv/bin/python3}
step() { local f=$1; shift; echo "== $f: $*"; timeout ${TMO:-120} "$@" > "$OUT/$f" 2>&1; echo "rc=$?";
         grep -E "FAIL|ERROR SUMMARY|RACECHECK SUMMARY|OK:|FAILED:" "$OUT/$f" | head -15; }
step seq.txt ./test_seq
step att.txt ./test_attention
step san_seq.txt "$SAN" --tool memcheck ./test_seq
step san_att.txt "$SAN" --tool memcheck ./test_attention --quick
[ -n "$RACE" ] && TMO=240 step race_att.txt "$SAN" --tool racecheck ./test_attention --quick
step bench.txt ./bench_attention_cuda ${BENCH_B:-32}; cat "$OUT/bench.txt"
step bench_seq.txt ./bench_seq_cuda ${BENCH_B:-32}; cat "$OUT/bench_seq.txt"
step sdpa.txt "$PY" sdpa_attention.py ${BENCH_B:-32}; cat "$OUT/sdpa.txt"
EOF
chmod +x "$dir/run_seq_cuda.sh"
echo "bundle in $dir ($(du -sh "$dir" | cut -f1))"
