#!/bin/sh
# IMAP benchmark (not a test): tern vs a minimal client (the floor), neomutt
# and mbsync against the lab's Dovecot over IMAPS. Writes the "## IMAP"
# section of bench/RESULTS.md (replacing an earlier one; other sections
# stay).
#
#   bench/imap/run.sh [BUILD_DIR]        default: build (needs BUILD_DIR/tern)
#   RUNS=5 SIZES=10000,50000 RTT_MS=50 LAB_DIR=... bench/imap/run.sh
#
# RTT_MS adds a run of the 10,000-message case through a delaying proxy
# (RTT_MS round trip); 0 skips it. Needs root (the lab, apt-get).
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$top/build}
[ -x "$build/tern" ] || { echo "no $build/tern: build first" >&2; exit 1; }
need=""
command -v neomutt >/dev/null 2>&1 || need="$need neomutt"
command -v mbsync >/dev/null 2>&1 || need="$need isync"
if [ -n "$need" ]; then
    apt-get update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
python3 "$top/bench/imap/bench.py" --tern "$build/tern" --runs "${RUNS:-5}" \
    --sizes "${SIZES:-10000,50000}" --rtt-ms "${RTT_MS:-50}" \
    ${LAB_DIR:+--lab "$LAB_DIR"} --out "$out"
res="$top/bench/RESULTS.md"
[ -f "$res" ] || printf '# tern benchmarks\n\n' >"$res"
python3 - "$res" "$out" <<'PY'
import re, sys
res, new = sys.argv[1], open(sys.argv[2]).read()
text = open(res).read()
m = re.search(r"^## IMAP\n.*?(?=^## |\Z)", text, flags=re.S | re.M)
text = text[:m.start()] + new + "\n" + text[m.end():] if m else text.rstrip("\n") + "\n\n" + new
open(res, "w").write(text)
PY
echo "wrote the IMAP section of $res"
