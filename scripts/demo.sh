#!/usr/bin/env bash
# The main job on a built-in default, no network needed after setup: build, write a small
# sample FP32 model, quantize it with mq-quantize and print the per-node report. It builds
# everything the README's install line installs, and proves that line works by installing into
# a scratch prefix and running the installed mq-quantize.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --no-npm
cmake --preset release >/dev/null
# What `cmake --install build/release` installs (both libraries, both tools), and the sample writer.
cmake --build --preset release --target modelquant modelquant_fetch mq-quantize mq-pull mq-run mq-make-sample
mkdir -p build/demo
build/release/tools/mq-make-sample build/demo/sample.onnx
build/release/tools/mq-quantize build/demo/sample.onnx build/demo/sample-int8.onnx --report build/demo/report.json
rm -rf build/demo/prefix
cmake --install build/release --prefix build/demo/prefix >/dev/null
build/demo/prefix/bin/mq-quantize --version
ls -l build/demo
