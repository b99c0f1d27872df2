#!/usr/bin/env bash
# The sanitizer job: builds the library and the kernels' and solvers' tests in
# Debug (asserts on) at -O1 with ASan + UBSan into build-sanitize/
# (CMakePresets.json, preset "sanitize") and runs the tests labelled kernels or
# solvers; a sanitizer report fails its test. Three accuracy/statistics tests
# of the likelihood (rtol 1e-10, step counts, Hutchinson's mean: over half of
# the tests' time under the sanitizers) are left out; shorter tests run the
# same code (relu kinks, Hutchinson probes, threads). Further arguments go to
# ctest (e.g. -R Integrate).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/bootstrap.sh"
cd "$root"
start=$(date +%s)
cmake --preset sanitize >/dev/null
cmake --build --preset sanitize -j "$(nproc)"
built=$(date +%s)
# The preset sets OPENBLAS_CORETYPE, ASAN_OPTIONS (leak checks on) and UBSAN_OPTIONS.
ctest --preset sanitize -j "$(nproc)" "$@"
echo "test_sanitize: build $((built - start)) s, tests $(($(date +%s) - built)) s"
