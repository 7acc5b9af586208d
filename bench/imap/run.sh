#!/bin/sh
# IMAP benchmark (not a test): tern vs a minimal client (the floor), neomutt
# and mbsync against the lab's Dovecot over IMAPS, on loopback and across a
# simulated round trip. Writes the "## IMAP" section of bench/RESULTS.md
# (replacing an earlier one; other sections stay).
#
#   sh bench/imap/run.sh [BUILD_DIR]        default: build-bench (needs BUILD_DIR/tern)
#   RUNS=5 SIZES=10000,50000 RTT_MS=50 RTT_SIZE=5000 LAB_DIR=... sh bench/imap/run.sh
#
# RTT_MS (default 50; 0 skips) adds a run at RTT_SIZE messages with a lab
# and all clients inside a network namespace whose 127.0.0.1 is RTT_MS away
# (bench/common/netns.py). WRITE_RESULTS=0 only prints. Needs root (the lab,
# network namespaces, apt-get).
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$top/build-bench}
[ -x "$build/tern" ] || { echo "no $build/tern: build first" >&2; exit 1; }
need=""
command -v neomutt >/dev/null 2>&1 || need="$need neomutt"
command -v mbsync >/dev/null 2>&1 || need="$need isync"
command -v strace >/dev/null 2>&1 || need="$need strace"
if [ -n "$need" ]; then
    apt-get update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
python3 "$top/bench/imap/bench.py" --tern "$build/tern" --runs "${RUNS:-5}" \
    --sizes "${SIZES:-10000,50000}" --rtt-ms "${RTT_MS:-50}" --rtt-size "${RTT_SIZE:-5000}" \
    ${LAB_DIR:+--lab "$LAB_DIR"} --out "$out"
[ "${WRITE_RESULTS:-1}" = 1 ] || exit 0
python3 -c 'import sys; sys.path.insert(0, sys.argv[1]); from results import write_section; write_section("IMAP", open(sys.argv[2]).read())' \
    "$top/bench/common" "$out"
echo "wrote the IMAP section of $top/bench/RESULTS.md"
