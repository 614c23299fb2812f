#!/usr/bin/env bash
# The executor against ONNX Runtime on what mq-quantize writes (the models the executor must check):
#   exec_quantized_case.sh MQ_RUN MQ_QUANTIZE MODEL.onnx FORMAT WORKDIR
# quantizes MODEL.onnx with --format FORMAT, then compares mq-run with ONNX Runtime on the result
# (exec_vs_ort.mjs: the same limits as for the FP32 models, widened only to the quantized model's
# own noise floor).
#   exec_quantized_case.sh MQ_RUN MQ_QUANTIZE --generate KIND FORMAT WORKDIR [GEN_ARGS...]
# does the same on a model written by mq-gen-model (MQ_GEN_MODEL in the environment), and also
# compares the FP32 model itself.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/skip_checks.sh"
skip_without_ort
mq_run=$1 mq_quantize=$2
if [ "$3" = "--generate" ]; then
  kind=$4 format=$5 work=$6
  shift 6
  rm -rf "$work" && mkdir -p "$work"
  model="$work/${kind}_generated.onnx"
  "$MQ_GEN_MODEL" "$kind" "$model" "$@" >/dev/null
  node "$here/exec_vs_ort.mjs" --mq-run "$mq_run" --model "$model" --work "$work/fp32"
else
  model=$3 format=$4 work=$5
  skip_without_model "$model"
  rm -rf "$work" && mkdir -p "$work"
fi
quantized="$work/$(basename "${model%.onnx}")_${format}.onnx"
"$mq_quantize" "$model" "$quantized" --format "$format" -q
key=$(basename "${model%.onnx}")  # the inputs (model_inputs.json) are those of the source model
exec node "$here/exec_vs_ort.mjs" --mq-run "$mq_run" --model "$quantized" --key "$key" --work "$work/int8"
