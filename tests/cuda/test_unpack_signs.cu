// cuda::unpack_signs against its host twin (layout::get_bit, the same header) over tail shapes.
// Exit code 77 = skipped (no CUDA device).
#include <cstdio>
#include <cstdint>
#include <random>
#include <vector>

#include "littlebit/cuda/unpack_signs.cuh"

using littlebit::Index;
namespace layout = littlebit::layout;

#define CHECK_CUDA(call)                                                                    \
  do {                                                                                      \
    const cudaError_t e_ = (call);                                                          \
    if (e_ != cudaSuccess) {                                                                \
      std::printf("%s:%d: %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(e_));    \
      return 1;                                                                             \
    }                                                                                       \
  } while (0)

template <class T>
int check(Index rows, Index cols, std::mt19937_64& rng) {
  const Index stride = layout::row_stride_words(cols);
  std::vector<layout::Word> bits(static_cast<std::size_t>(rows * stride));
  for (auto& w : bits) w = rng();  // garbage in the padding too: the kernel must ignore it
  const Index ld = cols + 3;
  layout::Word* d_bits = nullptr;
  T* d_out = nullptr;
  CHECK_CUDA(cudaMalloc(&d_bits, bits.size() * sizeof(layout::Word) + 1));
  CHECK_CUDA(cudaMalloc(&d_out, static_cast<std::size_t>(rows * ld) * sizeof(T) + 1));
  CHECK_CUDA(cudaMemcpy(d_bits, bits.data(), bits.size() * sizeof(layout::Word), cudaMemcpyHostToDevice));
  littlebit::cuda::UnpackSignsArguments<T> a{d_bits, rows, cols, stride, d_out, ld};
  CHECK_CUDA(littlebit::cuda::unpack_signs(a));
  std::vector<T> out(static_cast<std::size_t>(rows * ld));
  CHECK_CUDA(cudaMemcpy(out.data(), d_out, out.size() * sizeof(T), cudaMemcpyDeviceToHost));
  CHECK_CUDA(cudaFree(d_bits));
  CHECK_CUDA(cudaFree(d_out));
  for (Index i = 0; i < rows; ++i)
    for (Index j = 0; j < cols; ++j) {
      const float want = static_cast<float>(layout::sign_of_bit(layout::get_bit(bits.data() + i * stride, j)));
      const float got = static_cast<float>(out[static_cast<std::size_t>(i * ld + j)]);
      if (got != want) {
        std::printf("FAIL %ld x %ld: (%ld, %ld) = %g, want %g\n", static_cast<long>(rows), static_cast<long>(cols),
                    static_cast<long>(i), static_cast<long>(j), got, want);
        return 1;
      }
    }
  return 0;
}

int main() {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("no CUDA device: skipped\n");
    return 77;
  }
  littlebit::cuda::UnpackSignsArguments<float> bad{nullptr, 2, 70, 1, nullptr, 70};
  if (littlebit::cuda::can_implement(bad) || littlebit::cuda::unpack_signs(bad) != cudaErrorInvalidValue) {
    std::printf("FAIL: a stride shorter than a row was accepted\n");
    return 1;
  }
  std::mt19937_64 rng(42);
  int failures = 0, cases = 0;
  for (Index rows : {1, 3, 65})
    for (Index cols : {1, 31, 32, 33, 63, 64, 65, 127, 128, 129, 511, 512, 513, 4097}) {
      failures += check<float>(rows, cols, rng);
      failures += check<__half>(rows, cols, rng);
      cases += 2;
    }
  failures += check<float>(4096, 11008, rng);  // a real layer shape
  ++cases;
  std::printf("cuda unpack_signs: %d cases, %d failed\n", cases, failures);
  return failures == 0 ? 0 : 1;
}
