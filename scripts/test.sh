#!/usr/bin/env bash
# Builds littlebit and runs every test twice: an optimized build with warnings as errors
# (unit tests, golden vectors, per-header compiles, the README snippet, the find_package
# consumer, CUDA compile + device tests where a GPU exists), then an AddressSanitizer +
# UndefinedBehaviorSanitizer build of the same tests.
#
#   scripts/test.sh            both passes
#   scripts/test.sh release    the optimized pass only
#   scripts/test.sh sanitize   the sanitizer pass only
#
# First fetches the real model and texts (scripts/fetch_data.sh; into $LITTLEBIT_DATA or data/), so
# the real-model tests (GGUF forward against NumPy, quantize, eval) run rather than skip.
# Build directories: build/release, build/sanitize. Expects scripts/setup.sh to have run.
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
jobs=$(nproc)
export CTEST_OUTPUT_ON_FAILURE=1

echo "=== data"
scripts/fetch_data.sh

summary=()
run_pass() {
  local name=$1; shift
  echo "=== $name: configure and build"
  cmake -S . -B "build/$name" -G Ninja -DLITTLEBIT_WERROR=ON "$@" >/dev/null
  cmake --build "build/$name" -j "$jobs"
  echo "=== $name: test"
  local log="build/$name/ctest.log"
  ctest --test-dir "build/$name" -j "$jobs" ${CTEST_EXCLUDE:+-LE "$CTEST_EXCLUDE"} | tee "$log"
  summary+=("$name: $(grep -E 'tests passed|tests failed' "$log" | tail -1)")
  if grep -q "Skipped" "$log"; then summary+=("$name: skipped: $(grep -E '\*\*\*Skipped' "$log" | awk '{print $4}' | tr '\n' ' ')"); fi
}

if [ "$what" = all ] || [ "$what" = release ]; then
  run_pass release -DCMAKE_BUILD_TYPE=Release -DLITTLEBIT_SANITIZE=OFF -DLITTLEBIT_BUILD_TESTS=ON \
    -DLITTLEBIT_BUILD_EXAMPLES=ON -DLITTLEBIT_BUILD_BENCHMARKS=ON -DLITTLEBIT_HEADER_CHECK=ON
  echo "=== golden vectors"
  build/release/tests/golden
fi
if [ "$what" = all ] || [ "$what" = sanitize ]; then
  # Sanitizers instrument our own targets; CUDA, the header compile check, the package
  # consumer and the benchmarks add nothing under them. -O1 -g1 (line tables)
  # keeps reports readable and the Eigen-heavy compiles short. The two whole-model numeric tests
  # (label realmodel) run in the release pass only; their readers and writers run under the
  # sanitizers in the unit and example tests.
  CTEST_EXCLUDE='package|realmodel' run_pass sanitize -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLITTLEBIT_SANITIZE=ON \
    "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1" -DLITTLEBIT_CUDA=OFF -DLITTLEBIT_HEADER_CHECK=OFF \
    -DLITTLEBIT_BUILD_TESTS=ON -DLITTLEBIT_BUILD_EXAMPLES=ON -DLITTLEBIT_BUILD_BENCHMARKS=OFF
fi

echo "=== summary"
printf '%s\n' "${summary[@]}"
