// littlebit/core/config.hpp: version, index type and the host/device qualifier.
// Plain C++ (no Eigen, no xsimd): included by core/bit_layout.hpp, which nvcc compiles too.
#pragma once

#include <cstddef>

#define LITTLEBIT_VERSION_MAJOR 0
#define LITTLEBIT_VERSION_MINOR 1
#define LITTLEBIT_VERSION_PATCH 0

// Functions usable from CUDA device code as well as from the host.
#if defined(__CUDACC__)
#define LITTLEBIT_HOST_DEVICE __host__ __device__
#else
#define LITTLEBIT_HOST_DEVICE
#endif

namespace littlebit {

/// Signed index type for rows, columns and counts (the same choice as Eigen::Index), so that
/// differences of indices never wrap.
using Index = std::ptrdiff_t;

}  // namespace littlebit
