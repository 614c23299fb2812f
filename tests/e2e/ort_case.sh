#!/usr/bin/env bash
# One end-to-end case: quantize MODEL with mq-quantize --format FORMAT, check the output with
# ONNX Runtime (onnxruntime-node) against the FP32 model and the reviewed thresholds.
# usage: ort_case.sh MQ_QUANTIZE MODEL.onnx FORMAT OUT_DIR [--reverse MQ_REVERSE_NODES] [--fp32 FP32.onnx]
#   --reverse: quantize a copy of MODEL whose node lists are reversed (not topologically sorted,
#     which ONNX Runtime accepts); the report must say it sorted them, and the output must meet
#     MODEL's thresholds against the original FP32 model.
#   --fp32: MODEL is already quantized: mq-quantize must say so, quantize nothing and write it as
#     it was; the output is checked against FP32.onnx under MODEL's thresholds.
set -euo pipefail
mq_quantize=$1 model=$2 format=$3 out_dir=$4
shift 4
reverse="" fp32=""
while (($#)); do
  case "$1" in
    --reverse) reverse=$2; shift 2 ;;
    --fp32) fp32=$2; shift 2 ;;
    *) echo "ort_case.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
done
here=$(cd "$(dirname "$0")" && pwd)
. "$here/skip_checks.sh"
skip_without_model "$model"
skip_without_ort
# The harness finds the calibration photos beside the models folder (../calibration/images).
export MQ_SHARED_MODELS_DIR=${MQ_SHARED_MODELS_DIR:-$(cd "$(dirname "$model")" && pwd)}
key=$(basename "$model" .onnx)
mkdir -p "$out_dir"
input="$model" name="${key}_${format}" reference="$model"
if [ -n "$reverse" ]; then
  name="${key}_reversed_${format}"
  input="$out_dir/${key}_reversed.onnx"
  "$reverse" "$model" "$input"
fi
out="$out_dir/$name.onnx" report="$out_dir/$name.json"
rm -f "$out" "$report"
"$mq_quantize" "$input" "$out" --format "$format" --report "$report" -q
quantized=$(grep -o '"quantized":[0-9]*' "$report" | head -n 1 | cut -d: -f2)
if [ -n "$fp32" ]; then
  if ! grep -q '"the model is already quantized (found ' "$report" || [ "$quantized" != 0 ] || ! cmp -s "$model" "$out"; then
    echo "FAIL: $key is already quantized: mq-quantize must say so and write it unchanged; see $report" >&2
    exit 1
  fi
  reference="$fp32"
# A run that quantized nothing would compare the FP32 model with itself and always pass; auto's
# accuracy guard may keep every node in float on purpose (the report says so, and which nodes):
# then the raw auto model is what the thresholds were measured on, and is checked instead.
elif [[ -z "$quantized" || "$quantized" -eq 0 ]]; then
  if [ "$format" = auto ] && grep -q '"kept_float":\["' "$report"; then
    echo "note: the accuracy guard kept every node of $key in float; checking auto without it (--target-snr 0)"
    "$mq_quantize" "$input" "$out" --format "$format" --target-snr 0 --report "$report" -q
  else
    echo "FAIL: mq-quantize --format $format quantized no node of $key; see $report" >&2
    exit 1
  fi
fi
if [ -n "$reverse" ] && ! grep -q "sorted it topologically" "$report"; then
  echo "FAIL: the report of the reversed $key does not say it sorted the nodes; see $report" >&2
  exit 1
fi
node "$here/ort_compare.mjs" --reference "$reference" --candidate "$out" --model-key "$key" \
  --thresholds "$here/thresholds.json" --variant "$format" --runs 8
