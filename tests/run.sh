#!/bin/sh
# The whole test suite, from a clean clone, as root on Debian 12:
#   install packages, build (gcc with -Werror, and clang with ASan+UBSan and
#   the fuzz targets), run unit tests in both builds, fuzzers for a bounded
#   time, and the integration tests against the real lab servers; then print
#   `N passed, N failed` over everything that ran.
set -u
cd "$(dirname "$0")/.."
top=$(pwd)

sh tests/deps.sh || { echo "0 passed, 1 failed"; exit 1; }

results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT
status=0
step() { echo "== $*"; }

build() { # dir, then meson options
    dir=$1; shift
    if [ ! -f "$dir/build.ninja" ]; then
        meson setup "$dir" "$@" >"$results/setup-$(basename "$dir").log" 2>&1 ||
            { cat "$results/setup-$(basename "$dir").log"; return 1; }
    fi
    meson compile -C "$dir" >"$results/compile-$(basename "$dir").log" 2>&1 ||
        { tail -50 "$results/compile-$(basename "$dir").log"; return 1; }
}

step "build (gcc, -Werror)"
build build --buildtype=debugoptimized || { echo "0 passed, 1 failed"; exit 1; }
step "build (clang, ASan+UBSan, fuzz targets)"
CC=clang build build-asan --buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false \
    -Dfuzz=true || { echo "0 passed, 1 failed"; exit 1; }

# ASan reports leaks as failures; UBSan findings abort the test.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

step "unit tests (gcc build)"
meson test -C build --no-rebuild --print-errorlogs --suite unit || status=1
cp build/meson-logs/testlog.json "$results/meson-gcc.json" 2>/dev/null
step "unit tests and fuzzers (ASan build)"
meson test -C build-asan --no-rebuild --print-errorlogs --num-processes 2 || status=1
cp build-asan/meson-logs/testlog.json "$results/meson-asan.json" 2>/dev/null

# Integration tests: one lab (Dovecot + Postfix) for the whole run, a fresh
# user per test. The gcc build runs them all (test_valgrind.py puts the main
# paths under memcheck); the ASan build runs them too so memory errors on
# real protocol paths fail the suite.
if ls tests/integration/test_*.py >/dev/null 2>&1; then
    step "integration tests (gcc build)"
    TERN_BIN=$top/build/tern /usr/bin/python3 -m pytest -q -p no:cacheprovider \
        --junitxml="$results/pytest-gcc.xml" tests/integration || status=1
    step "integration tests (ASan build)"
    # (valgrind cannot run an ASan binary: test_valgrind.py is the gcc run's)
    TERN_BIN=$top/build-asan/tern /usr/bin/python3 -m pytest -q -p no:cacheprovider \
        --ignore=tests/integration/test_valgrind.py \
        --junitxml="$results/pytest-asan.xml" tests/integration || status=1
fi

/usr/bin/python3 tests/summarize.py "$results" || status=1
exit $status
