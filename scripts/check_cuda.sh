#!/bin/sh
# Runs every GPU test program in DIR (built by `make cuda-tests`), each prefixed by $CUDA_RUNNER
# when set (e.g. CUDA_RUNNER="compute-sanitizer --error-exitcode=1 --tool memcheck"), and ends with
# one summary line; exit status 1 when any program failed. Used by `make check-cuda` and, on the
# device machine, by scripts/device_check_cuda.sh.
dir=${1:?usage: scripts/check_cuda.sh DIR}
total=0; failed=0; names=""
for t in "$dir"/*; do
    [ -f "$t" ] && [ -x "$t" ] || continue
    total=$((total + 1))
    echo "## $(basename "$t")${CUDA_RUNNER:+ under $CUDA_RUNNER}"
    if ! $CUDA_RUNNER "$t"; then
        failed=$((failed + 1)); names="$names $(basename "$t")"
    fi
done
echo "check-cuda: $total programs, $failed failed${names:+:$names}"
[ "$total" -gt 0 ] && [ "$failed" -eq 0 ]
