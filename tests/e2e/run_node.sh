#!/usr/bin/env bash
# Runs a Node.js script of the ONNX Runtime harness, or reports the test as skipped when Node.js
# or onnxruntime-node is not installed (a fresh clone before scripts/install-deps.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if ! command -v node >/dev/null || [ ! -d "$here/node_modules/onnxruntime-node" ]; then
  echo "SKIPPED: onnxruntime-node is not installed (run scripts/install-deps.sh)"; exit 0
fi
exec node "$@"
