#!/usr/bin/env bash
# Runs the decomposition benchmarks of docs/benchmarks.md and the official init's math in the same
# run, and writes
#   bench/data/{decay,gauss}_{4096x4096,11008x4096}.safetensors   the matrices (made once, ~4 min)
#   bench/results/decomposition_official.jsonl   official_dual_svid.py, medians of 3 runs
#   bench/results/decomposition.json             littlebit_bench_decomposition, medians of 3
#   bench/results/decomposition.md               the tables (bench/decomposition/report.py)
# About 35 minutes on the 2-core machine. Never run two benchmarks at once.
#
#   scripts/bench_decomposition.sh            everything
#   scripts/bench_decomposition.sh 'REGEX'    only the littlebit cases matching REGEX (no official run)
#
# Both sides use Debian's OpenBLAS with the core type named (it misdetects this CPU otherwise and
# runs up to 3x slower): PyTorch's float32 math and Eigen's products (EIGEN_USE_BLAS).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh bench
. scripts/env.sh
littlebit_openblas_env
"$PYTHON" bench/decomposition/make_matrices.py bench/data
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release -j "$(nproc)" --target littlebit_bench_decomposition
mkdir -p bench/results
if [ $# -eq 0 ]; then
  : > bench/results/decomposition_official.jsonl
  for matrix in decay gauss; do
    "$PYTHON" bench/decomposition/official_dual_svid.py bench/data --matrix "$matrix" --threads 2 --repeat 3 \
      | tee -a bench/results/decomposition_official.jsonl
  done
fi
build/release/bench/littlebit_bench_decomposition --benchmark_filter="${1:-.}" --benchmark_repetitions=3 \
  --benchmark_report_aggregates_only=true \
  --benchmark_out=bench/results/decomposition.json --benchmark_out_format=json
"$PYTHON" bench/decomposition/report.py bench/results/decomposition.json bench/results/decomposition_official.jsonl \
  > bench/results/decomposition.md
echo "wrote bench/results/decomposition{.json,_official.jsonl,.md}"
