// Writes a random packed layer in the official layout (DIR/layer.safetensors) and its input and
// littlebit's forward (DIR/io.safetensors), for tests/tools/official_layer.py to check with
// PyTorch alone.
#include <cstdio>
#include <filesystem>

#include "littlebit/io/official_linear.hpp"
#include "support/test_util.hpp"

int main(int argc, char** argv) {
  using namespace littlebit;
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 2;
  }
  const std::filesystem::path dir = argv[1];
  std::filesystem::create_directories(dir);
  const Index m = 57, r = 40, n = 100, batch = 4;
  std::vector<FactorizedPathParams<float>> ps;
  for (std::uint64_t p = 0; p < 2; ++p)
    ps.push_back({test::random_matrix(m, r, 10 * p).cast<float>(), test::random_matrix(r, n, 10 * p + 1).cast<float>(),
                  test::random_matrix(m, 1, 10 * p + 2).cast<float>(), test::random_matrix(r, 1, 10 * p + 3).cast<float>(),
                  test::random_matrix(r, 1, 10 * p + 4).cast<float>(), test::random_matrix(n, 1, 10 * p + 5).cast<float>()});
  const FactorizedLinear<float> train(ps, test::random_matrix(m, 1, 99).cast<float>());
  PackedFactorizedLinear packed = train.pack();
  io::save_official_linear(dir / "layer.safetensors", io::to_official(packed));
  const test::RowMatrixXf x = test::random_matrix(batch, n, 7).cast<float>();
  test::RowMatrixXf y(batch, m);
  packed.forward(view(x), view(y));
  const std::vector<float> xv(x.data(), x.data() + x.size()), yv(y.data(), y.data() + y.size());
  io::SafetensorsBuilder b;
  b.add("x", xv, {batch, n});
  b.add("y", yv, {batch, m});
  b.write(dir / "io.safetensors");
  std::printf("wrote %s\n", (dir / "layer.safetensors").c_str());
  return 0;
}
