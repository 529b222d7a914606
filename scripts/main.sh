#!/usr/bin/env bash
# The main job: builds the examples and quantizes a layer at a bits-per-weight target.
# Until the real-model examples land this is pack_layer on a synthetic 256 x 512 layer at
# 0.55 and 1.0 bits per weight (see examples/pack_layer). Extra arguments go to pack_layer.
# Expects scripts/setup.sh to have run.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release -j "$(nproc)" --target pack_layer
if [ $# -gt 0 ]; then
  build/release/examples/pack_layer "$@"
else
  build/release/examples/pack_layer --bpw 0.55
  echo
  build/release/examples/pack_layer --bpw 1.0
fi
