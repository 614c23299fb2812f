#!/usr/bin/env bash
# One weight-parity case (issue #4): quantize MODEL with mq-quantize under the option set CASE,
# build the parity model (ONNX Runtime's QuantizeLinear of every original weight with our scale
# and zero point, next to our bytes) and compare them byte for byte in ONNX Runtime.
# usage: ort_parity_case.sh MQ_QUANTIZE MQ_MAKE_PARITY_MODEL MODEL.onnx|synthetic CASE OUT_DIR
#   MODEL "synthetic": the model of parity_synthetic_model.h, written by mq-make-parity-model.
#   CASE: ort_default           --format qoperator           (int8 symmetric per tensor: ORT's defaults)
#         qdq_per_channel       --format qdq --per-channel   (int8 symmetric per channel)
#         uint8_asymmetric      --format qoperator --weight-type uint8 --asymmetric
#         qoperator_per_channel --format qoperator --per-channel (MatMulInteger/ConvInteger per channel)
#         uint8_symmetric       --weight-type uint8 --symmetric (the default format, auto)
#         selfcheck             ort_default with bit 0 of byte 7 of the first weight flipped in the
#                               parity model: must be reported as exactly that one mismatch
set -euo pipefail
mq_quantize=$1 make_parity=$2 model=$3 case=$4 out_dir=$5
here=$(cd "$(dirname "$0")" && pwd)
. "$here/skip_checks.sh"
[ "$model" = synthetic ] || skip_without_model "$model"
skip_without_ort
flip=() expect=()
case "$case" in
  ort_default) opts=(--format qoperator) ;;
  qdq_per_channel) opts=(--format qdq --per-channel) ;;
  uint8_asymmetric) opts=(--format qoperator --weight-type uint8 --asymmetric) ;;
  qoperator_per_channel) opts=(--format qoperator --per-channel) ;;
  uint8_symmetric) opts=(--weight-type uint8 --symmetric --target-snr 0) ;;  # the bytes, not the guard's choice
  selfcheck) opts=(--format qoperator); flip=(--flip 0:7); expect=(--expect-mismatch 0:7) ;;
  *) echo "ort_parity_case.sh: unknown case '$case'" >&2; exit 2 ;;
esac
mkdir -p "$out_dir"
if [ "$model" = synthetic ]; then
  model="$out_dir/synthetic.onnx"
  "$make_parity" --synthetic "$model.tmp.$$" && mv "$model.tmp.$$" "$model"
fi
key=$(basename "$model" .onnx)
base="$out_dir/${key}_${case}"
rm -f "$base.onnx" "$base.json" "$base.parity.onnx" "$base.manifest.json"
"$mq_quantize" "$model" "$base.onnx" "${opts[@]}" --report "$base.json" -q
"$make_parity" "$model" "$base.onnx" "$base.parity.onnx" "$base.manifest.json" "${flip[@]}"
node "$here/ort_weight_parity.mjs" --model "$base.parity.onnx" --manifest "$base.manifest.json" \
  --report "$base.json" --label "$key $case" "${expect[@]}"
