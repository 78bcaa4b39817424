#!/bin/sh
# Long fuzzing runs on a many-core machine that has neither clang nor memlab's libraries (the GPU
# machine's 16-core host): build the harnesses here, carry them with the libraries they need, run
# each there on every core through libFuzzer's fork mode (docs/fuzzing.md).
#
#   here:   scripts/device_fuzz.sh pack DIR            # make fuzz-build, then fills DIR
#   there:  DIR/device_fuzz.sh run DIR SECONDS [JOBS]  # each harness SECONDS seconds on JOBS
#                                                      # processes (default: every CPU);
#                                                      # FUZZ_SECONDS_<name>=S gives one harness
#                                                      # its own time (the slow parsers need more
#                                                      # for the same executions)
#
# `run` is started from the repository root (the seeds are tests/fuzz/corpus/NAME) and prints one
# line per harness: its executions (summed over the processes), and its finding. Inputs that
# crash are kept in DIR/crashes with their reports in DIR/NAME.log; every one becomes a
# regression test. Exit 1 if any harness failed.
set -eu
mode=${1:?usage: device_fuzz.sh pack DIR | run DIR SECONDS [JOBS]}
dir=${2:?usage: device_fuzz.sh pack DIR | run DIR SECONDS [JOBS]}
case $mode in
pack)
    cd "$(dirname "$0")/.."
    make --no-print-directory fuzz-build
    mkdir -p "$dir/bin" "$dir/lib"
    cp build/fuzz/bin/fuzz_* "$dir/bin/"
    cp scripts/device_fuzz.sh "$dir/"
    for b in "$dir"/bin/*; do ldd "$b"; done | awk '/=> \// {print $3}' | sort -u |
        grep -v -E '/(libc|libm|libdl|librt|libpthread|libstdc\+\+|libgcc_s)[.-]' |
        while read -r lib; do cp -L "$lib" "$dir/lib/"; done
    du -sh "$dir"
    ;;
run)
    seconds=${3:?usage: device_fuzz.sh run DIR SECONDS [JOBS]}
    jobs=${4:-$(nproc)}
    export LD_LIBRARY_PATH="$dir/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    mkdir -p "$dir/crashes" "$dir/corpus"
    status=0
    for bin in "$dir"/bin/fuzz_*; do
        name=${bin##*/fuzz_}
        mkdir -p "$dir/corpus/$name"
        log="$dir/$name.log"
        # fork mode: JOBS child processes share one corpus; each line "#N: cov: ..." counts the
        # executions of all of them so far
        rc=0
        secs=$(eval "echo \${FUZZ_SECONDS_$name:-$seconds}")
        "$bin" -fork="$jobs" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
            -artifact_prefix="$dir/crashes/$name-" "$dir/corpus/$name" "tests/fuzz/corpus/$name" >"$log" 2>&1 || rc=$?
        execs=$(sed -n 's/^#\([0-9][0-9]*\):.*/\1/p' "$log" | tail -n 1)
        crashes=$(ls "$dir/crashes" | grep -c "^$name-" || true)
        if [ $rc -eq 0 ] && [ "$crashes" -eq 0 ]; then
            echo "fuzz: $name: ${execs:-0} executions in $secs s on $jobs processes, no finding"
        else
            echo "fuzz: $name: FAILED (exit $rc, $crashes crash inputs) after ${execs:-?} executions (log: $log)"
            grep -E 'ERROR|SUMMARY|runtime error|Test unit written' "$log" | head -8 | sed 's/^/    /'
            status=1
        fi
    done
    exit $status
    ;;
*) echo "device_fuzz.sh: unknown mode '$mode' (pack or run)" >&2; exit 2 ;;
esac
