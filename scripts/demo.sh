#!/usr/bin/env bash
# The main job on a built-in default, no network needed after setup: build, write a small
# sample FP32 model, quantize it with mq-quantize and print the per-node report.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --no-npm
cmake --preset release >/dev/null
cmake --build --preset release --target mq-quantize mq-make-sample
mkdir -p build/demo
build/release/tools/mq-make-sample build/demo/sample.onnx
build/release/tools/mq-quantize build/demo/sample.onnx build/demo/sample-int8.onnx --report build/demo/report.json
ls -l build/demo
