#!/usr/bin/env bash
# One static INT8 case (static_case.mjs): static_case.sh MQ_QUANTIZE MQ_RUN MODEL.onnx WORKDIR [OPTION...]
# (the options go to static_case.mjs, e.g. --activation-type int8)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/skip_checks.sh"
skip_without_ort
skip_without_model "$3"
calibration="$(cd "$(dirname "$3")" && pwd)/../calibration/images"
if [ ! -d "$calibration" ]; then
  echo "SKIPPED: $calibration not found (the shared calibration photos beside the models)"; exit 0
fi
if [ ! -f /usr/share/doc/opencv-doc/examples/data/messi5.jpg ]; then
  echo "SKIPPED: the held-out photos are missing: install Debian's opencv-doc (scripts/install-deps.sh)"; exit 0
fi
exec node "$here/static_case.mjs" --mq-quantize "$1" --mq-run "$2" --model "$3" --work "$4" --calibration "$calibration" "${@:5}"
