#!/usr/bin/env bash
# One end-to-end case: quantize MODEL with mq-quantize --format FORMAT, check the output with
# ONNX Runtime (onnxruntime-node) against the FP32 model and the reviewed thresholds.
# usage: ort_case.sh MQ_QUANTIZE MODEL.onnx FORMAT OUT_DIR [MQ_REVERSE_NODES]
#   MQ_REVERSE_NODES: quantize a copy of MODEL whose node lists are reversed (not topologically
#   sorted, which ONNX Runtime accepts); the report must say it sorted them, and the output must
#   meet MODEL's thresholds against the original FP32 model.
set -euo pipefail
mq_quantize=$1 model=$2 format=$3 out_dir=$4 reverse=${5:-}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/skip_checks.sh"
skip_without_model "$model"
skip_without_ort
key=$(basename "$model" .onnx)
mkdir -p "$out_dir"
input="$model" name="${key}_${format}"
if [ -n "$reverse" ]; then
  name="${key}_reversed_${format}"
  input="$out_dir/${key}_reversed.onnx"
  "$reverse" "$model" "$input"
fi
out="$out_dir/$name.onnx" report="$out_dir/$name.json"
rm -f "$out" "$report"
"$mq_quantize" "$input" "$out" --format "$format" --report "$report" -q
# A run that quantized nothing would compare the FP32 model with itself and always pass.
quantized=$(grep -o '"quantized":[0-9]*' "$report" | head -n 1 | cut -d: -f2)
if [[ -z "$quantized" || "$quantized" -eq 0 ]]; then
  echo "FAIL: mq-quantize --format $format quantized no node of $key; see $report" >&2
  exit 1
fi
if [ -n "$reverse" ] && ! grep -q "sorted it topologically" "$report"; then
  echo "FAIL: the report of the reversed $key does not say it sorted the nodes; see $report" >&2
  exit 1
fi
node "$here/ort_compare.mjs" --reference "$model" --candidate "$out" --model-key "$key" \
  --thresholds "$here/thresholds.json" --variant "$format" --runs 8
