#!/usr/bin/env bash
# Installs every build and test dependency from Debian 12 packages (idempotent).
# Also installs onnxruntime-node (tests only) into tests/e2e/node_modules.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev
  libonnx-dev libprotobuf-dev protobuf-compiler libeigen3-dev
  libcurl4-openssl-dev libtomlplusplus-dev libfmt-dev catch2
  libbenchmark-dev libcpp-httplib-dev libssl-dev
  nlohmann-json3-dev libcli11-dev libjpeg62-turbo-dev libpng-dev
  libonnx-testdata  # ONNX's node tests, the executor's conformance suite (tests only)
  opencv-doc        # held-out photos for the static INT8 tests (tests only)
)
# Node.js (tests only, for onnxruntime-node): some images ship their own node/npm,
# which conflicts with Debian's npm package, so only install it when absent.
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install-deps: all Debian packages present"
fi

# onnxruntime-node: the test oracle (tests only). Installed offline-capable: the CUDA download
# that a plain install attempts cannot be reached, so it is skipped.
if [ "${1:-}" != "--no-npm" ]; then
  here=$(cd "$(dirname "$0")/.." && pwd)
  if [ ! -d "$here/tests/e2e/node_modules/onnxruntime-node" ]; then
    echo "install-deps: installing onnxruntime-node into tests/e2e"
    (cd "$here/tests/e2e" && ONNXRUNTIME_NODE_INSTALL_CUDA=skip npm install --no-audit --no-fund --loglevel=error)
  else
    echo "install-deps: onnxruntime-node present"
  fi
fi
