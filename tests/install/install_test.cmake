# cmake -DBUILD_DIR=... -DWORK_DIR=... -DCONSUMER_DIR=... -DCXX=... [-DNVCC=...] -DMODE=package|read_only -P install_test.cmake
# package: installs the build into a temporary prefix, compiles every installed header
# as C++17 (g++ -Wpedantic, and nvcc when given), then builds and runs a small outside
# C++17 program against it twice (find_package, then pkg-config).
# read_only: installing into a prefix nobody may write fails with CMake's own message.
cmake_minimum_required(VERSION 3.25)

function(run)  # run(<what> COMMAND ... [ENV ...]): stop the test on failure, with the output
  cmake_parse_arguments(R "" "" "COMMAND;ENV" ${ARGN})
  execute_process(COMMAND ${CMAKE_COMMAND} -E env ${R_ENV} ${R_COMMAND}
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${ARGV0} failed (${rc}):\n${out}\n${err}")
  endif()
  message(STATUS "${ARGV0}: ${out}")
  set(run_out "${out}" PARENT_SCOPE)
endfunction()

# A packed build on a machine without the build tools (tools/gpu-pack) cannot build outside projects.
if(NOT EXISTS "${CXX}")
  message("SKIP: no C++ compiler at ${CXX} on this machine")
  return()
endif()

file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)

if(MODE STREQUAL "read_only")
  file(MAKE_DIRECTORY ${WORK_DIR}/ro)
  file(CHMOD ${WORK_DIR}/ro PERMISSIONS OWNER_READ OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
  set(as_user)
  execute_process(COMMAND id -u OUTPUT_VARIABLE uid OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(uid STREQUAL "0")  # root writes anywhere: install as nobody instead
    find_program(SETPRIV setpriv)
    if(NOT SETPRIV)
      message("SKIP: running as root without setpriv to drop privileges")
      return()
    endif()
    set(as_user ${SETPRIV} --reuid=65534 --regid=65534 --clear-groups)
  endif()
  execute_process(COMMAND ${as_user} ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${WORK_DIR}/ro/prefix
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  file(CHMOD ${WORK_DIR}/ro PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE)
  if(rc EQUAL 0 OR NOT err MATCHES "file cannot create directory|file INSTALL cannot")
    message(FATAL_ERROR "install into a read-only prefix: rc=${rc}, expected CMake's message:\n${out}\n${err}")
  endif()
  message(STATUS "read-only prefix refused as expected:\n${err}")
  return()
endif()

run("install" COMMAND ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix})
foreach(f include/umpager/umpager.h include/umpager/uvm.h include/umpager/allocator.hpp)
  if(NOT EXISTS ${prefix}/${f})
    message(FATAL_ERROR "not installed: ${f}")
  endif()
endforeach()
file(GLOB_RECURSE libs RELATIVE ${prefix} ${prefix}/*.a ${prefix}/*.so*)
file(GLOB_RECURSE pcs ${prefix}/*/umpager.pc)
file(GLOB_RECURSE configs ${prefix}/*/umpager-config-version.cmake)
if(NOT pcs OR NOT configs)
  message(FATAL_ERROR "umpager.pc or the CMake package (with its version file) is missing")
endif()
# The Python extension (docs/python.md) is the one other library a prefix may hold.
list(FILTER libs EXCLUDE REGEX "/(dist|site)-packages/umpager/_umpager[^/]*\\.so$")
if(PYTHON AND PYTHON_DIR)
  run("import the installed Python package" COMMAND ${CMAKE_COMMAND} -E env PYTHONPATH=${prefix}/${PYTHON_DIR}
    UMPAGER_DRIVER=sim UMPAGER_DEVICE_MEMORY=64M ${PYTHON} -c
    "import umpager, os; assert os.path.dirname(umpager.__file__).startswith(os.path.realpath('${prefix}')), umpager.__file__; rt = umpager.Runtime(); a = rt.zeros(1024, 'uint32'); rt.add(a, 2); assert int(a.sum()) == 2048")
endif()
foreach(l IN LISTS libs)
  if(NOT l MATCHES "libumpager\\.so")
    message(FATAL_ERROR "the prefix holds a library other than libumpager.so: ${l}")
  endif()
endforeach()
# The public headers are C++17 (nvcc's default and many CUDA code bases): each installed
# header alone, then all of them in one unit, with warnings as errors.
file(GLOB_RECURSE headers RELATIVE ${prefix}/include ${prefix}/include/umpager/*.hpp ${prefix}/include/umpager/*.h)
set(all "")
foreach(h IN LISTS headers)
  string(APPEND all "#include <${h}>\n")
endforeach()
file(WRITE ${WORK_DIR}/headers.cpp "${all}int main() { return 0; }\n")
list(LENGTH headers n_headers)
if(n_headers LESS 10)
  message(FATAL_ERROR "only ${n_headers} public headers installed: ${headers}")
endif()
set(cuda_include /usr/local/cuda/include)  # thrust's CUDA system headers, for kernels.hpp
if(NVCC)
  get_filename_component(cuda_include ${NVCC} DIRECTORY)
  set(cuda_include ${cuda_include}/../include)
endif()
run("the public headers as C++17" COMMAND ${CXX} -std=c++17 -Wall -Wextra -Wpedantic -Werror -fsyntax-only
  -I${prefix}/include -isystem ${cuda_include} ${WORK_DIR}/headers.cpp)
if(NVCC AND EXISTS "${NVCC}")
  configure_file(${WORK_DIR}/headers.cpp ${WORK_DIR}/headers.cu COPYONLY)
  run("the public headers under nvcc -std=c++17" COMMAND ${NVCC} -std=c++17 -I${prefix}/include
    -c ${WORK_DIR}/headers.cu -o ${WORK_DIR}/headers.o)
endif()

list(GET libs 0 lib)
find_program(READELF readelf)
if(READELF)
  run("readelf" COMMAND ${READELF} -d ${prefix}/${lib})
  if(run_out MATCHES "libcuda\\.so|libcudart\\.so|libumpager_")
    message(FATAL_ERROR "libumpager.so needs something a consumer should not:\n${run_out}")
  endif()
endif()
get_filename_component(libdir ${prefix}/${lib} DIRECTORY)
set(env UMPAGER_DRIVER=sim UMPAGER_DEVICE_MEMORY=64M LD_LIBRARY_PATH=${libdir})

# 1. CMake: find_package(umpager 0.1) -> umpager::umpager
run("configure (find_package)" COMMAND ${CMAKE_COMMAND} -S ${CONSUMER_DIR} -B ${WORK_DIR}/cmake
  -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_CXX_COMPILER=${CXX} -DCMAKE_BUILD_TYPE=Release)
run("build (find_package)" COMMAND ${CMAKE_COMMAND} --build ${WORK_DIR}/cmake)
run("run (find_package)" COMMAND ${WORK_DIR}/cmake/consumer ENV ${env})

# 2. pkg-config: one compiler line from `pkg-config --cflags --libs umpager`
get_filename_component(pcdir ${pcs} DIRECTORY)
find_program(PKG_CONFIG pkg-config)
execute_process(COMMAND ${PKG_CONFIG} --exists hwloc RESULT_VARIABLE no_hwloc)
if(NOT PKG_CONFIG OR NOT no_hwloc EQUAL 0)
  message("SKIP: the pkg-config half needs pkg-config and hwloc.pc (umpager.pc names hwloc as Requires.private)")
  return()
endif()
run("pkg-config" COMMAND ${PKG_CONFIG} --cflags --libs umpager ENV PKG_CONFIG_PATH=${pcdir})
separate_arguments(flags UNIX_COMMAND "${run_out}")
run("pkg-config requires" COMMAND ${PKG_CONFIG} --print-requires-private umpager ENV PKG_CONFIG_PATH=${pcdir})
if(NOT run_out MATCHES "hwloc")
  message(FATAL_ERROR "hwloc is not a private requirement in umpager.pc")
endif()
run("build (pkg-config)" COMMAND ${CXX} -std=c++17 ${CONSUMER_DIR}/main.cpp ${flags} -o ${WORK_DIR}/pc-consumer)
run("run (pkg-config)" COMMAND ${WORK_DIR}/pc-consumer ENV ${env})
