# Every dependency comes from a Debian 12 package through find_package (nothing vendored,
# nothing downloaded). scripts/install-deps.sh installs them.
find_package(Threads REQUIRED)
find_package(Protobuf REQUIRED)           # before ONNX: ONNX's config does not look it up itself
find_package(ONNX REQUIRED CONFIG)        # targets: onnx (checker, shape inference, parser), onnx_proto
find_package(Eigen3 3.4 REQUIRED CONFIG)  # header-only; only lib/kernels/eigen.cpp includes it
find_package(fmt REQUIRED CONFIG)
find_package(tomlplusplus REQUIRED CONFIG)
find_package(CURL REQUIRED)

if(MQ_BUILD_TESTS)
  find_package(Catch2 2 REQUIRED CONFIG)
  find_path(HTTPLIB_INCLUDE_DIR httplib.h REQUIRED)  # libcpp-httplib-dev ships no CMake config
  find_package(OpenSSL REQUIRED)
  find_program(NODE_EXECUTABLE node)
endif()
if(MQ_BUILD_BENCH)
  find_package(benchmark REQUIRED CONFIG)
endif()
