#!/bin/sh
# run-fuzz.sh TARGET SEED_DIR SECONDS — a bounded libFuzzer run that never
# writes into the committed seed corpus (new inputs go to a temp dir). A
# crashing input is kept in $FUZZ_ARTIFACTS (default /tmp/tern-fuzz-artifacts)
# so a failure can be reproduced: TARGET FILE.
set -eu
target=$1 seeds=$2 secs=$3
keep=${FUZZ_ARTIFACTS:-/tmp/tern-fuzz-artifacts}
mkdir -p "$keep"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$target" -max_total_time="$secs" -timeout=10 -rss_limit_mb=1024 \
    -max_len=65536 -print_final_stats=1 -artifact_prefix="$keep/$(basename "$target")-" \
    "$work" "$seeds"
