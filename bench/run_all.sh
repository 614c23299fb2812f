#!/usr/bin/env bash
# All benchmarks of issue 6 in one command:
#
#   bench/run_all.sh [BUILD_DIR] [--large] [--quick]
#
# BUILD_DIR (default: build-bench next to the sources) must be a Release build; it is
# (re)built here for the targets mq-quantize, mq-gen-model and bench_kernels. Then:
#   1. bench_kernels (Google Benchmark) -> results/bench_kernels.{txt,json}
#   2. e2e_quantize.sh: mq-quantize vs cp, peak RSS (--large adds the ~2.1 GB external-data MLP)
#   3. profile_quantize.sh: perf / strace breakdown of mq-quantize on the 100 MB MLP (and with
#      --large on the external-data MLP: results/large/)
#   4. inference.mjs: ONNX Runtime latency FP32 vs auto / qoperator / qdq (needs node and
#      tests/e2e/node_modules: cd tests/e2e && ONNXRUNTIME_NODE_INSTALL_CUDA=skip npm install)
#   5. plot.gp: bench/quantize_vs_cp.png (gnuplot-nox is installed with apt-get when missing)
# --quick: fewer repetitions (3 instead of 5 quantize runs, 10 instead of 30 inference runs).
# Results land in bench/results/ (not committed; the README quotes them). Nothing here runs in CI.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
src="$(cd "${here}/.." && pwd)"
build="${src}/build-bench"
large=()
runs=5
inf_runs=30
while [[ $# -gt 0 ]]; do
  case "$1" in
    --large) large=(--large) ;;
    --quick) runs=3; inf_runs=10 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    -*) echo "run_all.sh: unknown option $1" >&2; exit 2 ;;
    *) build="$1" ;;
  esac
  shift
done
results="${here}/results"
mkdir -p "$results" "$build"
build="$(cd "$build" && pwd)"
step() { echo; echo "#### $* (load average $(cut -d' ' -f1-3 /proc/loadavg))" >&2; }

step "build (Release) in $build"
if [[ ! -f "$build/CMakeCache.txt" ]]; then
  cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release
fi
grep -q '^CMAKE_BUILD_TYPE:STRING=Release$' "$build/CMakeCache.txt" || {
  echo "run_all.sh: $build is not a Release build; benchmark numbers would mean nothing" >&2; exit 1; }
cmake --build "$build" -j2 --target mq-quantize mq-gen-model bench_kernels

if ! command -v gnuplot > /dev/null; then
  step "installing gnuplot-nox"
  apt-get install -y gnuplot-nox || { apt-get update && apt-get install -y gnuplot-nox; }
fi

step "1/5 kernels (bench_kernels)"
"$build/bench/bench_kernels" --benchmark_min_time=0.2 --benchmark_out="$results/bench_kernels.json" \
  --benchmark_out_format=json | tee "$results/bench_kernels.txt"

step "2/5 mq-quantize vs cp"
"$here/e2e_quantize.sh" "$build" --runs "$runs" --out "$results" "${large[@]}"

step "3/5 profile of mq-quantize on the 100 MB MLP"
"$here/profile_quantize.sh" "$build" --runs "$runs" --out "$results" > /dev/null
if [[ ${#large[@]} -gt 0 ]]; then
  "$here/profile_quantize.sh" "$build" --runs 3 --model "${TMPDIR:-/tmp}/mq-bench/mlp2138ext.onnx" --out "$results/large" > /dev/null
fi

step "4/5 inference latency (onnxruntime-node)"
models="${TMPDIR:-/tmp}/mq-bench"
node "$here/inference.mjs" --mq "$build/tools/mq-quantize" --extra "$models/mlp100.onnx,$models/bert4.onnx" \
  --runs "$inf_runs" --warmup 5 --profile mlp100,bert4,magika_standard_v3_3 --out "$results"

step "5/5 plot"
gnuplot -e "in='$results/e2e_quantize.tsv'; out='$here/quantize_vs_cp.png'" "$here/plot.gp"

step "done: $results/{e2e_quantize.md,inference.md,profile_quantize.txt,bench_kernels.txt}, $here/quantize_vs_cp.png"
