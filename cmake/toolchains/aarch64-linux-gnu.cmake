# Cross-compiling for 64-bit ARM Linux (Raspberry Pi 5, Jetson, RK3588) on a Debian 12 x86-64
# machine, with Debian's cross compiler (crossbuild-essential-arm64) and the :arm64 multiarch
# development packages; `scripts/install-deps.sh --arm64` installs both. Used by the `arm64` preset.
#
# ONNX is the exception: libonnxifi:arm64 installs /usr/lib/libonnxifi.so outside the multiarch
# folder, so it cannot sit beside the x86-64 package. install-deps.sh unpacks the arm64 ONNX
# packages into <source>/.deps/arm64 instead, and this file adds that folder to the search roots.
#
# Tests run under qemu-user (CMAKE_CROSSCOMPILING_EMULATOR): ctest starts every test program
# through it, and the test scripts read MQ_EMULATOR for the programs they start themselves.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)

set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)

get_filename_component(mq_arm64_deps "${CMAKE_CURRENT_LIST_DIR}/../../.deps/arm64" ABSOLUTE)
set(MQ_ARM64_DEPS "${mq_arm64_deps}" CACHE PATH "The arm64 packages unpacked by scripts/install-deps.sh --arm64")
if(NOT IS_DIRECTORY "${MQ_ARM64_DEPS}/usr/lib/aarch64-linux-gnu/cmake/ONNX")
  message(FATAL_ERROR "The arm64 ONNX packages are not in '${MQ_ARM64_DEPS}': run 'scripts/install-deps.sh --arm64' first")
endif()

# Libraries and headers: the arm64 multiarch folders of the machine itself, then the unpacked ONNX.
# Programs (protoc) come from the build machine.
set(CMAKE_FIND_ROOT_PATH "/" "${MQ_ARM64_DEPS}")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
# The root "/" also holds the x86-64 libraries: never take those. pkg-config (which FindCURL and
# FindOpenSSL ask first) reads the arm64 .pc files only.
set(CMAKE_IGNORE_PATH /usr/lib/x86_64-linux-gnu /lib/x86_64-linux-gnu)
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_SYSROOT_DIR} "")

find_program(MQ_QEMU_AARCH64 qemu-aarch64 qemu-aarch64-static)
if(MQ_QEMU_AARCH64)
  # The arm64 dynamic loader and libraries are the multiarch packages (libc6:arm64 and the rest),
  # at the paths an arm64 machine has them, so qemu needs no -L prefix.
  set(CMAKE_CROSSCOMPILING_EMULATOR "${MQ_QEMU_AARCH64}")
endif()
