# CPack: `cpack -G DEB` in a build folder makes a Debian package of what `cmake --install` puts in
# a prefix (tools, library, headers, CMake package, pkg-config files), installed under /usr.
set(CPACK_PACKAGE_NAME modelquant)
set(CPACK_PACKAGE_VENDOR "libmodelquant")
set(CPACK_PACKAGE_CONTACT "libmodelquant developers <modelquant@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_GENERATOR DEB)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # modelquant_0.2.0_amd64.deb
# CPack asks dpkg for the architecture, which is the build machine's: a cross build names its target.
if(CMAKE_CROSSCOMPILING AND CMAKE_SYSTEM_PROCESSOR STREQUAL "aarch64")
  set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE arm64)
endif()
set(CPACK_DEBIAN_PACKAGE_SECTION devel)
# The run-time libraries (protobuf, ONNX, fmt, curl, ...) become Depends. Static build: from the
# tools themselves (dpkg-shlibdeps, in dpkg-dev). Shared build: the tools also link the package's
# own libmodelquant, which dpkg-shlibdeps cannot resolve outside a Debian source package; a cross
# build links arm64 libraries that are not all installed packages (ONNX is unpacked, see
# cmake/toolchains). Both list the libraries libmodelquant links (Debian 12's package names).
if(BUILD_SHARED_LIBS OR CMAKE_CROSSCOMPILING)
  set(CPACK_DEBIAN_PACKAGE_DEPENDS
    "libc6, libstdc++6, libgcc-s1, libprotobuf32, libonnx1, libfmt9, libcurl4, libtomlplusplus3, libjpeg62-turbo, libpng16-16, libssl3")
else()
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
endif()
# Building against the library needs the headers of what it links (a static build links them).
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS
  "libonnx-dev, libprotobuf-dev, libfmt-dev, libcurl4-openssl-dev, libtomlplusplus-dev, pkg-config")
set(CPACK_SOURCE_GENERATOR "")
include(CPack)
