#!/usr/bin/env bash
# Runs the kernel benchmarks and writes the tables and plot of docs/benchmarks.md:
#   bench/results/forward.json   Google Benchmark JSON (medians of 3 repetitions)
#   bench/results/forward.md     the tables (bench/report.py)
#   docs/speedup.png             speedup over dense FP32 versus bits per weight
# About 20 minutes on the 2-core machine. Never run two benchmarks at once.
#
#   scripts/bench.sh                 the full forward suite
#   scripts/bench.sh 'REGEX'         only the cases whose names match (Google Benchmark filter)
#
# The dense baseline runs in its fastest correct configuration: Debian's OpenBLAS misdetects
# this CPU unless OPENBLAS_CORETYPE names it (Cooperlake: AVX-512 with BF16).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh bench
filter=${1:-'^(forward|forward_fast|dense_openblas|dense_eigen|limits|fixed_cost)/'}
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release -j "$(nproc)" --target littlebit_bench
mkdir -p bench/results
. scripts/env.sh
littlebit_openblas_env
build/release/bench/littlebit_bench --benchmark_filter="$filter" --benchmark_repetitions=3 \
  --benchmark_report_aggregates_only=true --benchmark_min_time=0.1 \
  --benchmark_out=bench/results/forward.json --benchmark_out_format=json
"$PYTHON" bench/report.py bench/results/forward.json --plot docs/speedup.png > bench/results/forward.md
echo "wrote bench/results/forward.json, bench/results/forward.md, docs/speedup.png"
