#!/usr/bin/env bash
# The slow tests: builds the libFuzzer targets with clang (ASan + UBSan) in build/fuzz and runs each
# for LITTLEBIT_FUZZ_SECONDS (default 60) on the GGUF, safetensors and checkpoint readers and the
# tokenizer. A crash leaves its input in build/fuzz/tests/fuzz/crashes/<target>/: fix the bug,
# then commit the input to tests/data/fuzz/<target>/ (replayed by every ordinary build).
#
#   scripts/setup.sh fuzz && scripts/fuzz.sh
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${LITTLEBIT_FUZZ_SECONDS:-60}
cmake -S . -B build/fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
  -DLITTLEBIT_FUZZ=ON -DLITTLEBIT_BUILD_TESTS=OFF -DLITTLEBIT_BUILD_EXAMPLES=OFF -DLITTLEBIT_BUILD_BENCHMARKS=OFF \
  -DLITTLEBIT_CUDA=OFF -DLITTLEBIT_INSTALL=OFF -DLITTLEBIT_FUZZ_SECONDS="$seconds" >/dev/null
cmake --build build/fuzz -j "$(nproc)"
# One at a time: each fuzzer is single-threaded, and the report of one should not wait on another.
ctest --test-dir build/fuzz -L slow --output-on-failure
