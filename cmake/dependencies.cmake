# Every dependency comes from a Debian 12 package through find_package (nothing vendored,
# nothing downloaded). scripts/install-deps.sh installs them.
find_package(Threads REQUIRED)
find_package(Protobuf REQUIRED)           # before ONNX: ONNX's config does not look it up itself
find_package(ONNX REQUIRED CONFIG)        # targets: onnx (checker, shape inference, parser), onnx_proto
find_package(Eigen3 3.4 REQUIRED CONFIG)  # header-only; only lib/kernels/eigen.cpp includes it
find_package(fmt REQUIRED CONFIG)
find_package(nlohmann_json 3 REQUIRED CONFIG)  # header-only; enters through lib/util/json.h only
find_package(CLI11 2 REQUIRED CONFIG)          # header-only; the tools' command lines
find_package(tomlplusplus REQUIRED CONFIG)
find_package(nlohmann_json 3 REQUIRED CONFIG)  # header-only; mq::fetch reads and writes config.json with it
find_package(CURL REQUIRED)
find_package(JPEG REQUIRED)                # libjpeg62-turbo-dev: calibration photos (lib/image)
find_package(PNG REQUIRED)                 # libpng-dev
find_package(OpenSSL REQUIRED COMPONENTS Crypto)  # SHA-256 (EVP) in mq::fetch; libcurl links it anyway

if(MQ_BUILD_TESTS)
  find_package(Catch2 2 REQUIRED CONFIG)
  find_path(HTTPLIB_INCLUDE_DIR httplib.h REQUIRED)  # libcpp-httplib-dev ships no CMake config
  find_package(OpenSSL REQUIRED)
  find_program(NODE_EXECUTABLE node)
endif()
if(MQ_BUILD_BENCH)
  find_package(benchmark REQUIRED CONFIG)
endif()
if(MQ_BUILD_TESTS)
  # Debian's cpp-httplib is split: declarations in httplib.h, code in libcpp-httplib.so, built
  # with these features (the class layouts depend on them, so the tests must define them too).
  find_library(HTTPLIB_LIBRARY cpp-httplib REQUIRED)
  set(HTTPLIB_DEFINITIONS CPPHTTPLIB_OPENSSL_SUPPORT CPPHTTPLIB_ZLIB_SUPPORT CPPHTTPLIB_BROTLI_SUPPORT)
endif()
