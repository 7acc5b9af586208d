#!/bin/sh
# Message engine benchmark (not a test): MB/s of header-only parsing and of
# full decoding over a generated 50,000-message mailbox, next to the raw
# disk-read speed. Writes the "## Message engine" section of
# bench/RESULTS.md.
#
#   sh bench/mime/run.sh                  # N=50000 messages (~500 MB), RUNS=3
#   N=5000 RUNS=1 WRITE_RESULTS=0 sh bench/mime/run.sh
#
# Builds bench-mime (bench/mime_bench.c, declared in core/mime/meson.build)
# in build-bench (release) unless BENCH_MIME is set; the mailbox is kept in
# MAILBOX_DIR (default /var/tmp/tern-bench-mime-N) for later runs.
set -eu
cd "$(dirname "$0")/../.."
if [ -z "${BENCH_MIME:-}" ]; then
    [ -f build-bench/build.ninja ] || meson setup build-bench --buildtype=release >/dev/null
    meson compile -C build-bench bench-mime >/dev/null
    BENCH_MIME=$(pwd)/build-bench/core/mime/bench-mime
fi
export BENCH_MIME
exec python3 bench/mime/bench.py
