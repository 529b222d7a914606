#!/usr/bin/env bash
# Runs the factorized-layer benchmarks of docs/benchmarks.md#the-factorized-layer and writes
#   bench/results/layer_train.json          training step, OpenBLAS's OpenMP build (one thread pool)
#   bench/results/layer_train_pthread.json  the same with Debian's default pthread build
#   bench/results/layer_train_tuned.json    pthread build, OMP_WAIT_POLICY=passive OPENBLAS_THREAD_TIMEOUT=4
#   bench/results/layer_forward.json        packed forward (layer API vs. kernel), default build
#   bench/results/layer.md                  the tables (bench/layer/report.py)
# About 20 minutes on the 2-core machine. Never run two benchmarks at once.
#
# Why three configurations for the training step: it alternates OpenMP regions (littlebit's
# kernels) with OpenBLAS calls. Debian's default OpenBLAS runs its own pthreads pool, and both
# pools keep idle threads spinning (libgomp for a while, OpenBLAS yielding for 2^28 cycles), so on
# 2 cores each steals time from the other. OpenBLAS's OpenMP build (libopenblas0-openmp, selected
# here by LD_LIBRARY_PATH, the system default untouched) shares libgomp's pool with the kernels;
# or idle threads can be told to sleep at once. The dense baseline is all OpenBLAS and runs the
# same in every configuration.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh bench
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release -j "$(nproc)" --target littlebit_bench
mkdir -p bench/results
. scripts/env.sh
littlebit_openblas_env
run() {
  local out=$1 filter=$2; shift 2
  env "$@" build/release/bench/littlebit_bench --benchmark_filter="$filter" --benchmark_repetitions=5 \
    --benchmark_report_aggregates_only=true --benchmark_min_time=0.5 \
    --benchmark_out="bench/results/$out" --benchmark_out_format=json
}
train='^(train_step|train_step_fast|dense_train_step)/'
openmp=/usr/lib/x86_64-linux-gnu/openblas-openmp
pthread=/usr/lib/x86_64-linux-gnu/openblas-pthread
for d in "$openmp" "$pthread"; do
  [ -e "$d/libopenblas.so.0" ] || { echo "bench_layer.sh: $d/libopenblas.so.0 missing (scripts/setup.sh bench installs it)" >&2; exit 1; }
done
run layer_train.json "$train" LD_LIBRARY_PATH="$openmp"
run layer_train_pthread.json "$train" LD_LIBRARY_PATH="$pthread"
run layer_train_tuned.json "$train" LD_LIBRARY_PATH="$pthread" OMP_WAIT_POLICY=passive OPENBLAS_THREAD_TIMEOUT=4
run layer_forward.json '^(packed_forward|kernel_forward)/'
"$PYTHON" bench/layer/report.py bench/results/layer_train.json bench/results/layer_train_pthread.json \
  bench/results/layer_train_tuned.json bench/results/layer_forward.json > bench/results/layer.md
echo "wrote bench/results/layer_*.json and bench/results/layer.md"
