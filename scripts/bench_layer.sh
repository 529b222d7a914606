#!/usr/bin/env bash
# Runs the factorized-layer benchmarks of docs/benchmarks.md#the-factorized-layer and writes
#   bench/results/layer_train_tuned.json    training step, OMP_WAIT_POLICY=passive OPENBLAS_THREAD_TIMEOUT=4
#   bench/results/layer_train_default.json  training step, default environment
#   bench/results/layer_forward.json        packed forward (layer API vs. kernel), default environment
#   bench/results/layer.md                  the tables (bench/layer/report.py)
# About 15 minutes on the 2-core machine. Never run two benchmarks at once.
#
# Why two environments for the training step: it alternates OpenMP regions (our kernels) with
# OpenBLAS calls (its own pthreads pool). By default both pools spin-wait after their work
# (libgomp for a while, OpenBLAS for 2^28 cycles with sched_yield), so on 2 cores each steals time
# from the other. Letting idle threads sleep at once removes that; the dense baseline, all
# OpenBLAS, is the same in both.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh bench
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release -j "$(nproc)" --target littlebit_bench
mkdir -p bench/results
export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-Cooperlake}
run() {
  local out=$1 filter=$2; shift 2
  env "$@" build/release/bench/littlebit_bench --benchmark_filter="$filter" --benchmark_repetitions=5 \
    --benchmark_report_aggregates_only=true --benchmark_min_time=0.5 \
    --benchmark_out="bench/results/$out" --benchmark_out_format=json
}
train='^(train_step|train_step_fast|dense_train_step)/'
run layer_train_tuned.json "$train" OMP_WAIT_POLICY=passive OPENBLAS_THREAD_TIMEOUT=4
run layer_train_default.json "$train"
run layer_forward.json '^(packed_forward|kernel_forward)/'
python3=/usr/bin/python3; [ -x "$python3" ] || python3=python3
"$python3" bench/layer/report.py bench/results/layer_train_tuned.json bench/results/layer_train_default.json \
  bench/results/layer_forward.json > bench/results/layer.md
echo "wrote bench/results/layer_*.json and bench/results/layer.md"
