#!/usr/bin/env bash
# Installs a libmodelquant build into a temporary prefix, moves the prefix elsewhere (the package
# must be relocatable), then builds every program in examples/ out of tree against it, twice:
# with CMake (find_package(modelquant CONFIG) + mq::modelquant) and with pkg-config (--static
# for a static library), and runs each build on a sample model; programs that pull (mq::fetch,
# modelquant-fetch.pc) pull it from a local file:// mirror made here.
#
# usage: consume.sh BUILD_DIR SOURCE_DIR WORK_DIR SAMPLE_TOOL
# environment: CC, CXX (the compilers of the build), MQ_SANITIZE=1 when the library is built
# with ASan/UBSan (consumers must link the sanitizer runtimes), CMAKE_GENERATOR (optional).
set -euo pipefail

if [ $# -ne 4 ]; then
  echo "usage: consume.sh BUILD_DIR SOURCE_DIR WORK_DIR SAMPLE_TOOL" >&2
  exit 2
fi
build=$(cd "$1" && pwd)
source_dir=$(cd "$2" && pwd)
work=$3
sample_tool=$4
cc=${CC:-cc}
cxx=${CXX:-c++}
san_flags=()
if [ "${MQ_SANITIZE:-0}" = 1 ]; then san_flags=(-fsanitize=address,undefined); fi

fail() { echo "consume.sh: FAILED: $*" >&2; exit 1; }
step() { echo "--- $*"; }

rm -rf "$work"
mkdir -p "$work"
work=$(cd "$work" && pwd)

step "install into a staging prefix, then move it (relocatable package)"
cmake --install "$build" --prefix "$work/stage" >"$work/install.log" || { cat "$work/install.log"; fail "cmake --install"; }
mv "$work/stage" "$work/prefix"
prefix=$work/prefix
if hits=$(grep -rIl -e "$build" -e "$work/stage" -e "$source_dir" "$prefix"); then
  fail "installed text files name the build, source or staging folder: $hits"
fi

pc_file=$(find "$prefix" -name modelquant.pc -path '*/pkgconfig/*' | head -n 1)
[ -n "$pc_file" ] || fail "no modelquant.pc installed"
libdir=$(dirname "$(dirname "$pc_file")")
export PKG_CONFIG_PATH=$(dirname "$pc_file")
[ "$(pkg-config --variable=libdir modelquant)" -ef "$libdir" ] || fail "pkg-config libdir is not $libdir"

if [ -e "$libdir/libmodelquant.so" ]; then
  kind=shared
  pc_libs=(pkg-config --libs)
  step "shared library: SONAME and exported symbols"
  soname=$(readelf -d "$libdir/libmodelquant.so" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
  # libmodelquant.so.<major>, or .so.0.<minor> before 1.0 (every 0.x minor may change the C++ ABI)
  [[ "$soname" =~ ^libmodelquant\.so\.([1-9][0-9]*|0\.[0-9]+)$ ]] ||
    fail "SONAME '$soname' is not libmodelquant.so.<major> (or .so.0.<minor>)"
  nm -D --defined-only --demangle "$libdir/libmodelquant.so" | sed -E 's/^[0-9a-f]+ [A-Za-z] //' >"$work/exports.txt"
  if stray=$(grep -vE '^(mq::|mq_|typeinfo for mq::|typeinfo name for mq::|vtable for mq::)' "$work/exports.txt"); then
    fail "symbols outside the public API are exported:"$'\n'"$stray"
  fi
  grep -qx 'mq_quantize_file' "$work/exports.txt" || fail "mq_quantize_file is not exported"
  grep -q '^mq::quantize(' "$work/exports.txt" || fail "mq::quantize is not exported"
  echo "$(wc -l <"$work/exports.txt") exported symbols, all mq:: or mq_"
  nm -D --defined-only "$libdir/libmodelquant-fetch.so" >"$work/fetch-exports.txt"
  grep -q " mq_pull$" "$work/fetch-exports.txt" || fail "mq_pull is not exported by libmodelquant-fetch.so"
else
  [ -e "$libdir/libmodelquant.a" ] || fail "neither libmodelquant.so nor libmodelquant.a in $libdir"
  kind=static
  pc_libs=(pkg-config --static --libs)
fi
export LD_LIBRARY_PATH=$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}

step "sample model"
"$sample_tool" "$work/sample.onnx" >/dev/null

# A local mirror (endpoint file://$work/mirror, laid out as {repo}/resolve/{revision}/{filename})
# and a catalog for the examples that pull: "sample" is quantized after the pull, "sample-fp32"
# (the same file) is not, so the examples must pick INT8 for one and FP32 for the other.
step "local mirror and catalog"
mkdir -p "$work/mirror/test/sample/resolve/v1"
cp "$work/sample.onnx" "$work/mirror/test/sample/resolve/v1/model.onnx"
mirror_url=file://$work/mirror
cat >"$work/catalog.toml" <<'TOML'
[[models]]
name = "sample"
task = "test"
repo = "test/sample"
filename = "model.onnx"
revision = "v1"
[models.quantize]
enabled = true
method = "dynamic_int8"

[[models]]
name = "sample-fp32"
task = "test"
repo = "test/sample"
filename = "model.onnx"
revision = "v1"
[models.quantize]
enabled = false
TOML

warn=(-Wall -Wextra -Werror)
examples=()
for dir in "$source_dir"/examples/*/; do
  [ -f "$dir/CMakeLists.txt" ] && examples+=("$(basename "$dir")")
done
[ ${#examples[@]} -gt 0 ] || fail "no examples found"

# run_example NAME BINARY TAG: runs the program on the sample model and checks what it did.
run_example() {
  local name=$1 bin=$2 tag=$3 out="$work/$1-$3.onnx"
  "$bin" "$work/sample.onnx" "$out" >"$work/$name-$tag.stdout" 2>"$work/$name-$tag.stderr" ||
    { cat "$work/$name-$tag.stdout" "$work/$name-$tag.stderr"; fail "$name ($tag) exited with $?"; }
  [ -s "$out" ] || fail "$name ($tag) wrote no model"
  grep -q 'MatMul' "$work/$name-$tag.stdout" || { cat "$work/$name-$tag.stdout"; fail "$name ($tag) printed no report"; }
  [ "$(stat -c %s "$out")" -lt "$(stat -c %s "$work/sample.onnx")" ] || fail "$name ($tag): output is not smaller"
  echo "$name ($tag): ok"
}

# run_pull_example NAME BINARY TAG: a program that pulls (it includes mq/store.h or
# mq/modelquant_fetch.h), run as a robot app starts: "sample" with the endpoint on the command
# line must choose the INT8 model, "sample-fp32" with the endpoint from MQ_ENDPOINT the FP32 one.
run_pull_example() {
  local name=$1 bin=$2 tag=$3 models="$work/models-$1-$3" log="$work/$1-$3"
  MQ_CATALOG=$work/catalog.toml MQ_MODELS_DIR=$models "$bin" sample "$mirror_url" >"$log.int8.stdout" 2>"$log.int8.stderr" ||
    { cat "$log.int8.stdout" "$log.int8.stderr"; fail "$name ($tag) exited with $? on 'sample'"; }
  grep -qx "chose: INT8 $models/sample/model-int8.onnx" "$log.int8.stdout" ||
    { cat "$log.int8.stdout" "$log.int8.stderr"; fail "$name ($tag) did not choose the INT8 model of 'sample'"; }
  grep -q '"use_int8": true' "$models/sample/config.json" || fail "$name ($tag): config.json of 'sample' says no INT8"
  MQ_CATALOG=$work/catalog.toml MQ_MODELS_DIR=$models MQ_ENDPOINT=$mirror_url "$bin" sample-fp32 \
    >"$log.fp32.stdout" 2>"$log.fp32.stderr" ||
    { cat "$log.fp32.stdout" "$log.fp32.stderr"; fail "$name ($tag) exited with $? on 'sample-fp32'"; }
  grep -qx "chose: FP32 $models/sample-fp32/model.onnx" "$log.fp32.stdout" ||
    { cat "$log.fp32.stdout" "$log.fp32.stderr"; fail "$name ($tag) did not choose the FP32 model of 'sample-fp32'"; }
  echo "$name ($tag): ok (pulled from $mirror_url, INT8 and FP32 chosen as config.json says)"
}

for name in "${examples[@]}"; do
  src=$source_dir/examples/$name
  # Programs that pull link libmodelquant-fetch (mq::fetch, modelquant-fetch.pc) and run differently.
  module=modelquant run=run_example
  if grep -q -e "mq/store.h" -e "mq/modelquant_fetch.h" "$src"/main.c*; then module=modelquant-fetch run=run_pull_example; fi

  step "$name: CMake find_package against the $kind package"
  cmake -S "$src" -B "$work/$name-cmake" -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=Release \
    "-DCMAKE_C_FLAGS=${warn[*]} ${san_flags[*]}" "-DCMAKE_CXX_FLAGS=${warn[*]} ${san_flags[*]}" \
    "-DCMAKE_EXE_LINKER_FLAGS=${san_flags[*]}" >"$work/$name-cmake.log" 2>&1 ||
    { cat "$work/$name-cmake.log"; fail "$name: cmake configure"; }
  cmake --build "$work/$name-cmake" >>"$work/$name-cmake.log" 2>&1 ||
    { cat "$work/$name-cmake.log"; fail "$name: cmake build"; }
  "$run" "$name" "$work/$name-cmake/$name" cmake

  step "$name: pkg-config against the $kind package"
  read -r -a cflags <<<"$(pkg-config --cflags "$module")"
  read -r -a libs <<<"$("${pc_libs[@]}" "$module")"
  bin=$work/$name-pkgconfig
  if [ -f "$src/main.cpp" ]; then
    "$cxx" -std=c++20 "${warn[@]}" "${san_flags[@]}" "${cflags[@]}" "$src/main.cpp" -o "$bin" "${libs[@]}"
  else
    "$cc" -std=c99 "${warn[@]}" "${san_flags[@]}" "${cflags[@]}" -c "$src/main.c" -o "$bin.o"
    # A sanitized C++ library needs the C++ parts of the sanitizer runtimes: link with the C++
    # driver then. Otherwise a C program links with the C driver (Libs.private brings libstdc++).
    linker=$cc
    if [ "${MQ_SANITIZE:-0}" = 1 ]; then linker=$cxx; fi
    "$linker" "${san_flags[@]}" "$bin.o" -o "$bin" "${libs[@]}"
  fi
  "$run" "$name" "$bin" pkgconfig
done

echo "consume.sh: ${#examples[@]} example(s) built with CMake and pkg-config against the $kind package, all ran"
