# Install and package (cmake --install; find_package(umpager); pkg-config umpager).
#
# Decision: the installed library is one shared libumpager.so. In the build tree
# `umpager` is a static library that links private static helpers (umpager_os,
# umpager_sim, umpager_cuda, umpager_kernels); installing those archives would leak
# them into every consumer's link line. The shared library is made of the helpers'
# object files, links hwloc, OpenMP and the static CUDA runtime privately, and exports
# only umpager's own symbols (cmake/umpager.map), so a consumer links -lumpager and
# nothing else: never libcuda, never cudart, never the helpers. Tests, benches and
# samples keep linking the static targets in the build tree.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(_umpager_helpers umpager umpager_os umpager_driver_factory umpager_sim umpager_kernels umpager_kernels_omp)
if(UMPAGER_HAVE_CUDA)
  list(APPEND _umpager_helpers umpager_cuda umpager_kernels_cuda)
endif()
# Helpers other branches add (the storage tier's io_uring code, ...) join here.
foreach(_h IN ITEMS umpager_storage)
  if(TARGET ${_h})
    list(APPEND _umpager_helpers ${_h})
  endif()
endforeach()
set(_umpager_objects)
foreach(_h IN LISTS _umpager_helpers)
  list(APPEND _umpager_objects $<TARGET_OBJECTS:${_h}>)
endforeach()

add_library(umpager_shared SHARED ${_umpager_objects})
set_target_properties(umpager_shared PROPERTIES
  OUTPUT_NAME umpager
  EXPORT_NAME umpager
  LINKER_LANGUAGE CXX
  VERSION ${PROJECT_VERSION}
  SOVERSION ${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR}
  LINK_DEPENDS ${PROJECT_SOURCE_DIR}/cmake/umpager.map)
# What the helpers link, privately: nothing of it reaches a consumer's link line.
target_link_libraries(umpager_shared
  PUBLIC Threads::Threads
  PRIVATE PkgConfig::HWLOC OpenMP::OpenMP_CXX umpager_warnings)
if(UMPAGER_HAVE_CUDA)
  target_link_libraries(umpager_shared PRIVATE CUDA::cudart_static)
  # The CUDA kernels' objects make this a CUDA target too; CMake 3.25 knows no C++20 flag for nvcc.
  set_target_properties(umpager_shared PROPERTIES CUDA_STANDARD 17 CUDA_STANDARD_REQUIRED ON)
endif()
foreach(_uring IN ITEMS URING LIBURING)
  if(TARGET PkgConfig::${_uring})
    target_link_libraries(umpager_shared PRIVATE PkgConfig::${_uring})
  endif()
endforeach()
target_link_options(umpager_shared PRIVATE
  -Wl,--version-script=${PROJECT_SOURCE_DIR}/cmake/umpager.map -Wl,--no-undefined)
target_include_directories(umpager_shared INTERFACE $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
target_compile_features(umpager_shared INTERFACE cxx_std_17)  # the public headers are C++17

install(TARGETS umpager_shared EXPORT umpager-targets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/runtime/include/umpager ${PROJECT_SOURCE_DIR}/kernels/include/umpager
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

set(_umpager_cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/umpager)
install(EXPORT umpager-targets NAMESPACE umpager:: DESTINATION ${_umpager_cmake_dir})

# Private requirements: what libumpager.so itself links (not needed to link against
# it, but named so that static consumers and packagers see them, as hwloc's own .pc does).
set(UMPAGER_PC_REQUIRES_PRIVATE "hwloc")
set(UMPAGER_CMAKE_PRIVATE_DEPS "hwloc")
foreach(_uring IN ITEMS URING LIBURING)
  if(TARGET PkgConfig::${_uring})
    string(APPEND UMPAGER_PC_REQUIRES_PRIVATE " liburing")
    list(APPEND UMPAGER_CMAKE_PRIVATE_DEPS liburing)
    break()
  endif()
endforeach()

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/umpager-config.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/umpager-config.cmake INSTALL_DESTINATION ${_umpager_cmake_dir})
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/umpager-config-version.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/umpager-config.cmake
  ${CMAKE_CURRENT_BINARY_DIR}/umpager-config-version.cmake DESTINATION ${_umpager_cmake_dir})

file(RELATIVE_PATH UMPAGER_PC_TO_PREFIX /prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig /prefix)
configure_file(${PROJECT_SOURCE_DIR}/cmake/umpager.pc.in ${CMAKE_CURRENT_BINARY_DIR}/umpager.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/umpager.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
