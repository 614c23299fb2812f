# Sourced by the e2e scripts: reports the test as skipped (exit 0 with "SKIPPED:", which CTest
# maps to a skip) when something it needs is absent in this checkout.

# skip_without_ort: Node.js or onnxruntime-node is not installed (before scripts/install-deps.sh).
skip_without_ort() {
  local here
  here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  if ! command -v node >/dev/null || [ ! -d "$here/node_modules/onnxruntime-node" ]; then
    echo "SKIPPED: onnxruntime-node is not installed (run scripts/install-deps.sh)"; exit 0
  fi
}

# The hint every real-model skip gives.
shared_models_hint="the shared models folder is absent; configure with -DMQ_SHARED_MODELS_DIR=/path/to/shared/models to run this test"

# skip_without_model FILE: the shared models folder is absent (a user's fresh clone).
skip_without_model() {
  if [ ! -f "$1" ]; then
    echo "SKIPPED: $1 not found ($shared_models_hint)"; exit 0
  fi
}

# skip_without_models_dir DIR
skip_without_models_dir() {
  if [ ! -d "$1" ]; then
    echo "SKIPPED: $1 not found ($shared_models_hint)"; exit 0
  fi
}
