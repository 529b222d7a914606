#!/usr/bin/env bash
# The main job: builds the examples and quantizes a layer at a bits-per-weight target.
# Until the real-model examples land this is pack_layer on a synthetic 256 x 512 layer at
# 0.55 and 1.0 bits per weight (see examples/pack_layer), then factorize_layer on a generated
# 2048 x 2048 layer (examples/factorize_layer). Extra arguments go to pack_layer alone.
# Expects scripts/setup.sh to have run.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release -j "$(nproc)" --target pack_layer factorize_layer
if [ $# -gt 0 ]; then
  build/release/examples/pack_layer "$@"
else
  build/release/examples/pack_layer --bpw 0.55
  echo
  build/release/examples/pack_layer --bpw 1.0
  # Dual-SVID at a larger size: the official init, then with the refinements.
  mkdir -p build/main
  export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-SkylakeX}  # Debian's OpenBLAS misdetects recent CPUs
  echo
  build/release/examples/factorize_layer --generate 2048x2048 --bpw 0.55 --output build/main/layer.safetensors
  echo
  build/release/examples/factorize_layer --generate 2048x2048 --bpw 0.55 --refine \
    --output build/main/layer_refined.safetensors --image build/main/layer_refined.png
fi
