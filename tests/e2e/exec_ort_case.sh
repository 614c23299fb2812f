#!/usr/bin/env bash
# One executor-vs-ONNX Runtime case: exec_ort_case.sh MQ_RUN MODEL.onnx WORKDIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/skip_checks.sh"
skip_without_ort
skip_without_model "$2"
exec node "$here/exec_vs_ort.mjs" --mq-run "$1" --model "$2" --work "$3"
