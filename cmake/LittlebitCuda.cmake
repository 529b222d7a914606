# The optional CUDA layer. LITTLEBIT_CUDA=AUTO enables it when a CUDA compiler is found;
# ON makes a missing compiler an error; OFF skips it. Sets LITTLEBIT_HAS_CUDA.

set(LITTLEBIT_HAS_CUDA OFF)
if(NOT LITTLEBIT_CUDA STREQUAL "OFF")
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      # Turing (T4), Ampere (A100), Hopper (H100/H200).
      set(CMAKE_CUDA_ARCHITECTURES 75 80 90)
    endif()
    enable_language(CUDA)
    set(LITTLEBIT_HAS_CUDA ON)
    # CMake < 3.26 has no C++20 table for nvcc 12+ (which supports it): teach it the flag, so
    # that the cuda_std_20 compile feature and CUDA_STANDARD 20 work.
    if(CMAKE_CUDA_COMPILER_ID STREQUAL "NVIDIA" AND CMAKE_CUDA_COMPILER_VERSION VERSION_GREATER_EQUAL 12.0
       AND NOT "cuda_std_20" IN_LIST CMAKE_CUDA_COMPILE_FEATURES)
      set(CMAKE_CUDA20_STANDARD_COMPILE_OPTION "-std=c++20")
      set(CMAKE_CUDA20_EXTENSION_COMPILE_OPTION "-std=c++20")
      list(APPEND CMAKE_CUDA_COMPILE_FEATURES cuda_std_20)
      set(CMAKE_CUDA20_COMPILE_FEATURES cuda_std_20)
    endif()
  elseif(LITTLEBIT_CUDA STREQUAL "ON")
    message(FATAL_ERROR "LITTLEBIT_CUDA=ON but no CUDA compiler was found")
  endif()
endif()
message(STATUS "littlebit: CUDA layer ${LITTLEBIT_HAS_CUDA}")

if(LITTLEBIT_HAS_CUDA)
  add_subdirectory(${PROJECT_SOURCE_DIR}/cuda ${PROJECT_BINARY_DIR}/cuda)
endif()
