# Install the library, headers, tools, a CMake package (find_package(modelquant)) and a
# pkg-config file.
include(CMakePackageConfigHelpers)

install(TARGETS modelquant EXPORT modelquantTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/mq DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  FILES_MATCHING PATTERN "*.h")
install(FILES ${PROJECT_BINARY_DIR}/generated/mq/version.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/mq)

set(mq_cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/modelquant)
install(EXPORT modelquantTargets NAMESPACE mq:: DESTINATION ${mq_cmake_dir})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/modelquantConfig.cmake.in
  ${PROJECT_BINARY_DIR}/modelquantConfig.cmake INSTALL_DESTINATION ${mq_cmake_dir})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/modelquantConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/modelquantConfig.cmake ${PROJECT_BINARY_DIR}/modelquantConfigVersion.cmake
  DESTINATION ${mq_cmake_dir})

if(BUILD_SHARED_LIBS)
  # The shared library records its own dependencies; its public headers include none of them.
  set(mq_pc_private_libs "")
  set(mq_pc_requires_private "")
else()
  # What libmodelquant.a needs at link time for `pkg-config --static`: ONNX (which ships no .pc
  # file), and the C++ runtime so that C programs link too.
  set(mq_pc_private_libs "-lonnx -lonnx_proto -lstdc++ -lm -pthread")
  set(mq_pc_requires_private "protobuf fmt libjpeg libpng tomlplusplus")
endif()
# Relocatable: the prefix is found from the .pc file's own location.
file(RELATIVE_PATH mq_pc_prefix_from_pcfiledir "/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/")
string(REGEX REPLACE "/$" "" mq_pc_prefix_from_pcfiledir "${mq_pc_prefix_from_pcfiledir}")
configure_file(${PROJECT_SOURCE_DIR}/cmake/modelquant.pc.in ${PROJECT_BINARY_DIR}/modelquant.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/modelquant.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# mq::fetch (catalog + download + model store), exported next to mq::modelquant.
install(TARGETS modelquant_fetch EXPORT modelquantTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
# modelquant-fetch.pc (mq::fetch, mq/store.h and mq/modelquant_fetch.h); a static build also needs
# libcurl, libcrypto and toml++ at link time (as -l flags: `pkg-config --static libcurl` would ask for static
# builds of all of curl's own dependencies, which Debian does not ship).
if(BUILD_SHARED_LIBS)
  set(mq_fetch_pc_private_libs "")
else()
  set(mq_fetch_pc_private_libs "-lcurl -lcrypto -ltomlplusplus")
endif()
configure_file(${PROJECT_SOURCE_DIR}/cmake/modelquant-fetch.pc.in ${PROJECT_BINARY_DIR}/modelquant-fetch.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/modelquant-fetch.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
