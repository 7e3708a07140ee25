#!/usr/bin/env bash
# Build nadefast with AddressSanitizer + UndefinedBehaviorSanitizer and Cython
# bounds checks (NADEFAST_SANITIZE=1) into a scratch folder, then run the test
# suite against that build, once per instruction set this CPU supports.
#
#   bash tools/run_sanitized_tests.sh [extra pytest arguments]
#
# Needs gcc (libasan, libubsan).  ASan must be loaded before Python itself,
# hence LD_PRELOAD; leak checking is off because CPython keeps memory on purpose.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

NADEFAST_SANITIZE=1 python -m pip install --quiet --no-build-isolation --no-deps \
    --target "$work/site" "$repo"
asan="$(gcc -print-file-name=libasan.so)"
cd "$work"  # away from the source tree, so the sanitized build is what gets imported
for isa in baseline avx2 avx512; do
    if ! ASAN_OPTIONS=detect_leaks=0 LD_PRELOAD="$asan" PYTHONPATH="$work/site" \
            python -c "import sys, nadefast._core as c; sys.exit(not c.isa_supported('$isa'))"; then
        echo "== $isa: not supported on this CPU, skipped"
        continue
    fi
    echo "== $isa"
    NADEFAST_ISA="$isa" ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 LD_PRELOAD="$asan" \
        PYTHONPATH="$work/site" python -m pytest "$repo/tests" -q -p no:cacheprovider "$@"
done
