#!/bin/sh
# Runs the libFuzzer harnesses that `make fuzz` built (docs/fuzzing.md).
#   scripts/fuzz.sh --available        exit 0 when clang can build libFuzzer targets here
#   scripts/fuzz.sh BINDIR SECONDS NAME...
# Each harness runs SECONDS seconds on its seeds (tests/fuzz/corpus/NAME, read only) and on the
# inputs it found before (build/fuzz/corpus/NAME); a crash is saved as build/fuzz/crashes/NAME-*
# and its report shown. FUZZ_JOBS harnesses run at a time (default 1); FUZZ_ARGS adds libFuzzer
# options. One line per harness: its executions and its finding. Exit 1 if any harness failed.
set -u
CC_FUZZ=${FUZZ_CC:-clang}

if [ "${1:-}" = "--available" ]; then
    dir=$(mktemp -d) || exit 1
    printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return d && n > 1 && d[0] == 1; }\n' > "$dir/t.c"
    $CC_FUZZ -fsanitize=fuzzer,address,undefined "$dir/t.c" -o "$dir/t" >/dev/null 2>&1
    rc=$?
    rm -rf "$dir"
    exit $rc
fi

bindir=$1 seconds=$2
shift 2
build=$(dirname "$bindir")
mkdir -p "$build/crashes"

# One harness; prints its summary line, returns libFuzzer's status.
run_one() {
    name=$1
    log="$build/$name.log"
    mkdir -p "$build/corpus/$name"
    # -rss_limit_mb: the readers' own limits (lib/io/limits.h) keep a fuzz input far below it
    "$bindir/fuzz_$name" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$build/crashes/$name-" ${FUZZ_ARGS:-} \
        "$build/corpus/$name" "tests/fuzz/corpus/$name" >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    if [ $rc -eq 0 ]; then
        echo "fuzz: $name: ${execs:-0} executions in ${seconds} s, no finding"
    else
        echo "fuzz: $name: FAILED after ${execs:-?} executions (log: $log)"
        grep -E 'ERROR|SUMMARY|fuzz: |runtime error|Test unit written' "$log" | head -8 | sed 's/^/    /'
    fi
    return $rc
}

status=0
if [ "${FUZZ_JOBS:-1}" -gt 1 ]; then
    tmp=$(mktemp -d) || exit 1
    running=0
    for name in "$@"; do
        (run_one "$name" >"$tmp/$name.out"; echo $? >"$tmp/$name.rc") &
        running=$((running + 1))
        if [ $running -ge "$FUZZ_JOBS" ]; then
            wait
            running=0
        fi
    done
    wait
    for name in "$@"; do
        cat "$tmp/$name.out"
        [ "$(cat "$tmp/$name.rc")" = 0 ] || status=1
    done
    rm -rf "$tmp"
else
    for name in "$@"; do
        run_one "$name" || status=1
    done
fi
exit $status
