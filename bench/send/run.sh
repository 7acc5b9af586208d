#!/bin/sh
# bench/send/run.sh — how fast tern submits mail (a benchmark, not a test).
#
#   sh bench/send/run.sh                  # N=200 loopback, then 20 at 50 ms RTT
#   N=50 RUNS=1 RTT_N=10 RTT_RUNS=1 WRITE_RESULTS=0 sh bench/send/run.sh
#
# As root on Debian 12: starts private labs (tests/lab), one on loopback and
# one inside a delayed network namespace (bench/common/netns.py), installs
# msmtp if it is missing, builds tern in build-bench (release) unless
# TERN_BIN is set. What is measured: see bench/send/bench.py. Figures go to
# stdout and into the "Sending" section of bench/RESULTS.md.
set -eu
cd "$(dirname "$0")/../.."
if [ -z "${TERN_BIN:-}" ]; then
    [ -f build-bench/build.ninja ] || meson setup build-bench --buildtype=release >/dev/null
    meson compile -C build-bench tern >/dev/null
    TERN_BIN=$(pwd)/build-bench/tern
fi
export TERN_BIN
if ! command -v msmtp >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq msmtp >/dev/null
fi
exec python3 bench/send/bench.py
