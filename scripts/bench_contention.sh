#!/bin/sh
# Training tokens/s with 2 threads on two CPUs, idle and while another process keeps one of them
# busy (issue 18's robustness target; benchmarks/NOTES.md §2, docs/threads.md). Every memlab binary
# given, then the PyTorch peer, interleaved, REPEATS rounds; CSV on stdout:
#   round,arch,condition,who,tokens_per_s
#
#   scripts/bench_contention.sh [-p PYTHON] [-P PEER] [-c CPUS] [-r REPEATS] MEMLAB [MEMLAB ...]
#
# CPUS (default 0,1) are the two CPUs the runs are pinned to (taskset); the busy loop is pinned to
# the second. Everything runs at nice -15 when allowed, so that other work on the machine weighs
# little. PYTHON (default /usr/bin/python3) runs the PyTorch peer; -p none skips it. PEER: twin
# (benchmarks/peers/lm_peer.py, default, for PyTorch 1.13) or torch2 (lm_peer_torch2.py: nanoGPT
# with SDPA and nanoMosaics' mosaic, for PyTorch 2, e.g. -p /opt/torch/.venv/bin/python3).
set -eu
python=/usr/bin/python3 cpus=0,1 repeats=2 peer=twin
while getopts p:P:c:r: opt; do
    case $opt in
    p) python=$OPTARG ;;
    P) peer=$OPTARG ;;
    c) cpus=$OPTARG ;;
    r) repeats=$OPTARG ;;
    *) echo "usage: $0 [-p PYTHON] [-P twin|torch2] [-c CPUS] [-r REPEATS] MEMLAB [MEMLAB ...]" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || { echo "usage: $0 [-p PYTHON] [-P twin|torch2] [-c CPUS] [-r REPEATS] MEMLAB [MEMLAB ...]" >&2; exit 2; }
case $peer in
twin) script=benchmarks/peers/lm_peer.py ;;
torch2) script=benchmarks/peers/lm_peer_torch2.py ;;
*) echo "bench_contention: -P $peer: the peer is twin or torch2" >&2; exit 2 ;;
esac
for m in "$@"; do
    [ -x "$m" ] || { echo "bench_contention: $m is not an executable" >&2; exit 2; }
done
command -v taskset >/dev/null || { echo "bench_contention: taskset not found (util-linux)" >&2; exit 2; }
root=$(cd "$(dirname "$0")/.." && pwd)
busy_cpu=${cpus#*,}
nice=""
nice -n -15 true 2>/dev/null && nice="nice -n -15"
shape="--d 128 --layers 2 --heads 4 --ctx 256 --batch 32 --vocab 2048 --threads 2 --warmup 1 --min-steps 2 --min-time 4"

memlab_rate() { $nice taskset -c "$cpus" "$1" bench run --kind train --arch "$2" $shape 2>/dev/null | tail -n 1 | cut -d, -f2; }
torch_rate() { (cd "$root" && $nice taskset -c "$cpus" "$python" "$script" --kind train --arch "$1" $shape 2>/dev/null | tail -n 1 | cut -d, -f2); }

busy=""
stop_busy() {
    if [ -n "$busy" ]; then
        kill "$busy" 2>/dev/null || true
        wait "$busy" 2>/dev/null || true   # the loop's status is the signal's
    fi
    busy=""
}
trap stop_busy EXIT INT TERM
echo "round,arch,condition,who,tokens_per_s"
for round in $(seq "$repeats"); do
    for arch in gpt mosaic; do
        for cond in idle busy; do
            if [ $cond = busy ]; then
                $nice taskset -c "$busy_cpu" sh -c 'while :; do :; done' &
                busy=$!
                sleep 0.3
            fi
            for m in "$@"; do
                echo "$round,$arch,$cond,$m,$(memlab_rate "$m" $arch)"
            done
            [ "$python" = none ] || echo "$round,$arch,$cond,torch-$peer,$(torch_rate $arch)"
            stop_busy
        done
    done
done
