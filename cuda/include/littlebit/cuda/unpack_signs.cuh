// littlebit/cuda/unpack_signs.cuh: packed sign matrix -> dense +1/-1 matrix on the device.
//
// Reference semantics: out(i, j) = sign_of_bit(bit(i, j)) (ref: core/pack.hpp unpack_signs),
// for a rows x cols matrix in the layout of core/bit_layout.hpp. Used where a dense GEMM
// (cuBLAS) consumes the signs, e.g. in training. Includes core/bit_layout.hpp and nothing else
// of the host side.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "littlebit/core/bit_layout.hpp"

namespace littlebit::cuda {

/// T is float or __half.
template <class T>
struct UnpackSignsArguments {
  const layout::Word* bits = nullptr;  // device pointer, rows x stride_words words
  Index rows = 0;
  Index cols = 0;
  Index stride_words = 0;  // >= layout::words_for(cols)
  T* out = nullptr;        // device pointer, rows x ld, row-major
  Index ld = 0;            // >= cols
};

template <class T>
bool can_implement(const UnpackSignsArguments<T>& a) {
  return a.rows >= 0 && a.cols >= 0 && a.stride_words >= layout::words_for(a.cols) && a.ld >= a.cols &&
         (a.rows == 0 || a.cols == 0 || (a.bits != nullptr && a.out != nullptr));
}

namespace detail {

// One thread per output element, consecutive threads along a row (coalesced stores; the 32
// threads of a warp read the same one or two words).
template <class T>
__global__ void unpack_signs_kernel(UnpackSignsArguments<T> a) {
  const Index total = a.rows * a.cols;
  for (Index e = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x; e < total;
       e += static_cast<Index>(gridDim.x) * blockDim.x) {
    const Index i = e / a.cols, j = e % a.cols;
    const int s = layout::sign_of_bit(layout::get_bit(a.bits + i * a.stride_words, j));
    a.out[i * a.ld + j] = static_cast<T>(static_cast<float>(s));
  }
}

}  // namespace detail

/// Launches the unpack on `stream`. Returns cudaErrorInvalidValue when !can_implement(a).
template <class T>
cudaError_t unpack_signs(const UnpackSignsArguments<T>& a, cudaStream_t stream = nullptr) {
  if (!can_implement(a)) return cudaErrorInvalidValue;
  const Index total = a.rows * a.cols;
  if (total == 0) return cudaSuccess;
  constexpr int kThreads = 256;
  const Index blocks = (total + kThreads - 1) / kThreads;
  const unsigned grid = static_cast<unsigned>(blocks < 65535 * 8 ? blocks : 65535 * 8);
  detail::unpack_signs_kernel<T><<<grid, kThreads, 0, stream>>>(a);
  return cudaGetLastError();
}

}  // namespace littlebit::cuda
