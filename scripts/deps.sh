#!/bin/sh
# Installs the Debian packages memlab builds and tests against. `make` calls this when a
# dependency is missing; run it by hand with `--torch` to also get the PyTorch used to
# regenerate test fixtures and run the benchmark peers (never needed by `make check`).
set -eu

# libopenblas0-openmp: the OpenMP build of OpenBLAS, which shares one thread pool with the core's
# own OpenMP loops (the default pthread build spins its own threads against them; see Makefile).
PKGS="libopenblas-dev libopenblas0-openmp libyaml-dev zlib1g-dev check pkg-config gnuplot-nox python3-numpy"
if [ "${1:-}" = "--torch" ]; then
    PKGS="$PKGS python3-torch"
fi

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
    echo "deps.sh: apt-get not found; install these packages by hand:$missing" >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        echo "deps.sh: not root and no password-less sudo; run as root: apt-get install$missing" >&2
        exit 1
    fi
fi
echo "deps.sh: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get install -y --no-install-recommends $missing >&2; then
    $SUDO apt-get update >&2 || true
    if ! $SUDO apt-get install -y --no-install-recommends $missing >&2; then
        echo "deps.sh: apt-get could not install:$missing" >&2
        exit 1
    fi
fi
