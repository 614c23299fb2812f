#!/usr/bin/env bash
# One end-to-end case: quantize MODEL with mq-quantize --format FORMAT, check the output with
# ONNX Runtime (onnxruntime-node) against the FP32 model and the reviewed thresholds.
# usage: ort_case.sh MQ_QUANTIZE MODEL.onnx FORMAT OUT_DIR
set -euo pipefail
mq_quantize=$1 model=$2 format=$3 out_dir=$4
here=$(cd "$(dirname "$0")" && pwd)
. "$here/skip_checks.sh"
skip_without_model "$model"
skip_without_ort
key=$(basename "$model" .onnx)
mkdir -p "$out_dir"
out="$out_dir/${key}_${format}.onnx"
rm -f "$out"
"$mq_quantize" "$model" "$out" --format "$format" --report "$out_dir/${key}_${format}.json" -q
# A run that quantized nothing would compare the FP32 model with itself and always pass.
quantized=$(grep -o '"quantized":[0-9]*' "$out_dir/${key}_${format}.json" | head -n 1 | cut -d: -f2)
if [[ -z "$quantized" || "$quantized" -eq 0 ]]; then
  echo "FAIL: mq-quantize --format $format quantized no node of $key; see $out_dir/${key}_${format}.json" >&2
  exit 1
fi
node "$here/ort_compare.mjs" --reference "$model" --candidate "$out" --model-key "$key" \
  --thresholds "$here/thresholds.json" --variant "$format" --runs 8
