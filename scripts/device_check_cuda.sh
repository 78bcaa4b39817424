#!/bin/sh
# `make check-cuda` for a GPU machine that has the CUDA toolkit but not memlab's build dependencies
# (libyaml, libcheck, OpenBLAS headers) nor a network: build the GPU test programs here, carry them
# with the few shared libraries the other machine lacks, and run them there.
#
#   here:   scripts/device_check_cuda.sh pack DIR     # builds into build/device, fills DIR
#   there:  DIR/scripts/device_check_cuda.sh run DIR  # every test, then every test under
#                                                     # compute-sanitizer when it is found
#   there:  DIR/scripts/device_check_cuda.sh time DIR [BASE]
#           # the GPT-2-small training step of gpt and mosaic in bf16 (issue 19's shape), DIR's
#           # memlab and BASE's (an earlier pack) alternating in the same call, ROUNDS rounds
#           # (default 1): CSV lines pack,arch,kind,tokens_per_s,steps,seconds,loss on stdout
#
# The pack builds for x86-64-v3 (not -march=native: the other host's CPU may differ; PACK_MARCH
# overrides, e.g. x86-64-v4 for a host with AVX-512, as the H100 machine's Xeon has), for sm_90
# only (CUDA_ARCH overrides) and without MPI (one process per GPU is all the tests need), and leaves
# out the libraries every CUDA machine has (glibc, libstdc++, the CUDA runtime and cuBLAS, found
# through the binaries' rpath or LD_LIBRARY_PATH). OpenBLAS is carried (the device host has none):
# the folder is then about 90 MB, so carry it as `tar cJf DIR.tar.xz DIR` (about 19 MB). docs/gpu.md
# describes the recipe.
set -e
mode=${1:?usage: device_check_cuda.sh pack|run|time DIR}
dir=${2:?usage: device_check_cuda.sh pack|run|time DIR}
case $mode in
pack)
    here=$(cd "$(dirname "$0")/.." && pwd)
    cd "$here"
    make -j2 BUILD=build/device OPT="-O2 -march=${PACK_MARCH:-x86-64-v3}" CUDA_ARCH="${CUDA_ARCH:--arch=sm_90}" MPI=off \
        build/device/memlab cuda-tests build/device/bench/attention build/device/bench/sgemm
    mkdir -p "$dir/cuda-tests" "$dir/lib" "$dir/scripts"
    cp build/device/cuda-tests/* "$dir/cuda-tests/"
    cp build/device/memlab "$dir/"
    mkdir -p "$dir/bench" && cp build/device/bench/*_cuda "$dir/bench/" 2>/dev/null || true
    cp build/device/bench/attention build/device/bench/sgemm "$dir/bench/"   # the host CPU's kernels
    cp scripts/check_cuda.sh scripts/device_check_cuda.sh "$dir/scripts/"
    for b in "$dir"/cuda-tests/* "$dir"/bench/* "$dir/memlab"; do [ -f "$b" ] && ldd "$b" || true; done | awk '/=> \// {print $3}' | sort -u |
        grep -v -E '/(libc|libm|libdl|librt|libpthread|libstdc\+\+|libgcc_s|libcuda|libcudart|libcublas|libcublasLt)[.-]' |
        while read -r lib; do cp -L "$lib" "$dir/lib/"; done
    du -sh "$dir"
    ;;
run)
    cd "$dir"
    export LD_LIBRARY_PATH="$PWD/lib:/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    export OMP_NUM_THREADS=${OMP_NUM_THREADS:-8} OPENBLAS_NUM_THREADS=1
    status=0
    scripts/check_cuda.sh cuda-tests || status=1
    san=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null || true)
    if [ -n "$san" ] && [ "${SANITIZE:-1}" = 1 ]; then
        CUDA_RUNNER="$san --error-exitcode=1 --tool memcheck" scripts/check_cuda.sh cuda-tests || status=1
    fi
    exit $status
    ;;
time)
    base=${3:-}
    export LD_LIBRARY_PATH="$dir/lib:/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    step="bench run --kind train --device cuda --dtype bf16 --d 768 --layers 12 --heads 12 --ctx 512
          --batch 32 --vocab 50304 --warmup 3 --min-steps 4 --min-time 1"
    for round in $(seq "${ROUNDS:-1}"); do
        for arch in gpt mosaic; do
            for pack in "$dir" $base; do
                line=$("$pack/memlab" $step --arch "$arch" 2>/dev/null | tail -1)
                echo "$(basename "$pack"),$arch,${line:-failed}"
            done
        done
    done
    ;;
*) echo "device_check_cuda.sh: unknown mode '$mode' (pack, run or time)" >&2; exit 2 ;;
esac
