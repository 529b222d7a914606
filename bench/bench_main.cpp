// littlebit_bench: micro-benchmarks of every kernel. See docs/benchmarks.md for the command,
// the machine and the results. Each benchmark validates its kernel once against the reference
// before timing and reports bytes/s and, where one exists, the ratio to a baseline of the same run.
#include <benchmark/benchmark.h>

BENCHMARK_MAIN();
