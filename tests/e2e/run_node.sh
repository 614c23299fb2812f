#!/usr/bin/env bash
# Runs a Node.js script of the ONNX Runtime harness, or reports the test as skipped when Node.js
# or onnxruntime-node is not installed (a fresh clone before scripts/install-deps.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/skip_checks.sh"
skip_without_ort
exec node "$@"
