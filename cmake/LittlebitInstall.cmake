# install + export: find_package(littlebit) gives littlebit::littlebit (and littlebit::cuda
# when the CUDA layer was built).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(LITTLEBIT_CMAKE_DIR "${CMAKE_INSTALL_LIBDIR}/cmake/littlebit")

install(TARGETS littlebit EXPORT littlebitTargets)
install(DIRECTORY include/littlebit DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT littlebitTargets NAMESPACE littlebit:: DESTINATION ${LITTLEBIT_CMAKE_DIR})

configure_package_config_file(cmake/littlebitConfig.cmake.in
  "${PROJECT_BINARY_DIR}/littlebitConfig.cmake"
  INSTALL_DESTINATION ${LITTLEBIT_CMAKE_DIR})
# Header-only and architecture independent: any 0.1.x is compatible with 0.1.y >= x.
write_basic_package_version_file("${PROJECT_BINARY_DIR}/littlebitConfigVersion.cmake"
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion ARCH_INDEPENDENT)
install(FILES
  "${PROJECT_BINARY_DIR}/littlebitConfig.cmake"
  "${PROJECT_BINARY_DIR}/littlebitConfigVersion.cmake"
  "${PROJECT_SOURCE_DIR}/cmake/littlebitDependencies.cmake"
  DESTINATION ${LITTLEBIT_CMAKE_DIR})
