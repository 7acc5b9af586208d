#!/bin/sh
# POP3 download-and-delete benchmark (not a test): tern fetch against
# fetchmail (+ safecat as the Maildir MDA), getmail6 and a minimal
# pipelined python client (the floor), all over POP3S from the lab's
# Dovecot. Writes the "POP3" section of bench/RESULTS.md.
#
#   sh bench/pop3/run.sh                 # N=10000 messages, RUNS=3, then
#                                        # RTT_N=500 at RTT_MS=50 (0 skips)
#   N=2000 RUNS=1 RTT_MS=0 sh bench/pop3/run.sh
#
# Environment: TERN_BIN (default build/tern), TERN_LAB_DIR (a running lab;
# default: start one), CLIENTS (comma list), SETTLE_S (idle seconds after
# each run, 15), WRITE_RESULTS=0 to only print.
# Needs root (apt-get, the lab).
set -eu
cd "$(dirname "$0")/../.."
need=""
for p in fetchmail getmail6 safecat time; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need="$need $p"
done
if [ -n "$need" ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $need
fi
TERN_BIN=${TERN_BIN:-$(pwd)/build/tern}
export TERN_BIN
[ -x "$TERN_BIN" ] || { echo "bench: build tern first ($TERN_BIN)" >&2; exit 1; }
exec /usr/bin/python3 bench/pop3/bench.py
