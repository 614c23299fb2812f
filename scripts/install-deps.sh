#!/usr/bin/env bash
# Installs every build and test dependency from Debian 12 packages (idempotent).
# Also installs onnxruntime-node (tests only) into tests/e2e/node_modules.
#
# usage: install-deps.sh [--no-npm] [--arm64]
#   --no-npm  skip onnxruntime-node (the build and the README's main job do not need it)
#   --arm64   also what the `arm64` preset needs: Debian's cross compiler, qemu-user, and the
#             :arm64 multiarch development packages of the libraries; the arm64 ONNX packages are
#             unpacked into .deps/arm64 (libonnxifi:arm64 cannot be installed beside the x86-64 one)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)

npm=1 arm64=0
for arg in "$@"; do
  case "$arg" in
    --no-npm) npm=0 ;;
    --arm64) arm64=1 ;;
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install-deps: unknown option '$arg' (--no-npm, --arm64)" >&2; exit 2 ;;
  esac
done

sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)

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

# The libraries the arm64 build links, as :arm64 multiarch packages (the header-only ones, Eigen,
# nlohmann-json, CLI11 and Catch2, serve both architectures from the list above).
arm64_libraries=(libprotobuf-dev libcurl4-openssl-dev libtomlplusplus-dev libfmt-dev libssl-dev
  libjpeg62-turbo-dev libpng-dev libcpp-httplib-dev)
if ((arm64)); then
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    echo "install-deps: adding the arm64 architecture to dpkg"
    "${sudo_cmd[@]}" dpkg --add-architecture arm64
    "${sudo_cmd[@]}" apt-get update -qq
  fi
  packages+=(crossbuild-essential-arm64 qemu-user)
  for p in "${arm64_libraries[@]}"; do packages+=("$p:arm64"); done
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install-deps: all Debian packages present"
fi

# The arm64 ONNX packages, unpacked (not installed) into .deps/arm64, where the toolchain file
# (cmake/toolchains/aarch64-linux-gnu.cmake) finds them. Re-unpacked when the version changes.
if ((arm64)); then
  deps="$here/.deps/arm64"
  onnx_packages=(libonnx1 libonnx-dev libonnxifi)
  version=$(apt-cache policy libonnx-dev:arm64 | awk '/Candidate:/ {print $2}')
  if [ -z "$version" ] || [ "$version" = "(none)" ]; then
    echo "install-deps: no libonnx-dev:arm64 in the package lists" >&2; exit 1
  fi
  if [ "$(cat "$deps/onnx.version" 2>/dev/null)" != "$version" ]; then
    echo "install-deps: unpacking the arm64 ONNX $version packages into $deps"
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    (cd "$work" && for p in "${onnx_packages[@]}"; do apt-get download -q "$p:arm64=$version" >/dev/null 2>&1 ||
      { echo "install-deps: could not download $p:arm64 $version" >&2; exit 1; }; done)
    rm -rf "$deps.tmp" && mkdir -p "$deps.tmp"
    for f in "$work"/*.deb; do dpkg-deb -x "$f" "$deps.tmp"; done
    echo "$version" > "$deps.tmp/onnx.version"
    rm -rf "$deps" && mv "$deps.tmp" "$deps"
  else
    echo "install-deps: arm64 ONNX $version present in $deps"
  fi
fi

# onnxruntime-node: the test oracle (tests only). Installed offline-capable: the CUDA download
# that a plain install attempts cannot be reached, so it is skipped.
if ((npm)); then
  if [ ! -d "$here/tests/e2e/node_modules/onnxruntime-node" ]; then
    echo "install-deps: installing onnxruntime-node into tests/e2e"
    (cd "$here/tests/e2e" && ONNXRUNTIME_NODE_INSTALL_CUDA=skip npm install --no-audit --no-fund --loglevel=error)
  else
    echo "install-deps: onnxruntime-node present"
  fi
fi
