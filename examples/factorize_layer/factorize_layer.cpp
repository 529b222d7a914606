// factorize_layer: Dual-SVID initialization of one weight matrix at a bits-per-weight target.
//
//   factorize_layer --input FILE --tensor NAME --bpw B [options]     a tensor of a safetensors file
//   factorize_layer --generate 4096x4096 --bpw B [options]             a synthetic layer
//
// Loads W (F32, F64, F16 or BF16, rank 2, row-major as safetensors stores it), picks the official
// rank for the target (quant/rank_solver.hpp), runs quant::dual_svid (randomized SVD unless
// --exact; primary + residual path unless --no-residual; --refine adds the refinements of
// DualSvidRefine::recommended()), and prints the rank, the achieved bits per weight, both relative
// errors and the time; the last line is one JSON object. --output writes the packed layer as
// safetensors in the official LittleBit state-dict layout (io/official_linear.hpp: U_packed,
// U_shape, V_packed, V_shape, u1, u2, v1, v2 shaped [1, k], U_R_packed ... for the residual path,
// the module's buffers; int32 sign words LSB first, FP16 scales), with the errors in the metadata. --image writes a PNG of W, W_pri, W_res and
// W_pri + W_res side by side (the top-left crop of at most --image-size pixels, one diverging
// colour scale for all four, like Figure 3 of the LittleBit paper).
#include <CLI/CLI.hpp>
#include <Eigen/Dense>
#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "littlebit/core/float16.hpp"
#include "littlebit/core/pack.hpp"
#include "littlebit/io/official_linear.hpp"
#include "littlebit/io/safetensors.hpp"
#include "littlebit/layer/factorized_linear.hpp"
#include "littlebit/quant/dual_svid.hpp"

#include <stb_image_write.h>

#if defined(LITTLEBIT_HAVE_OPENBLAS)
extern "C" void openblas_set_num_threads(int);
#endif

namespace {

using littlebit::Index;
using RowMatrixXf = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// W = G1 diag(s) G2^T / sqrt(m n) with Gaussian G1 (m x p), G2 (n x p), s_k = (1 + k)^-0.5, and
/// every 512th input column scaled by 8 (outlier features): a layer-like decaying spectrum.
Eigen::MatrixXf generate(Index m, Index n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal;
  const Index p = std::min(m, n);
  Eigen::MatrixXf g1(m, p), g2(n, p);
  for (auto* g : {&g1, &g2})
    for (Index k = 0; k < g->size(); ++k) g->data()[k] = normal(rng);
  for (Index k = 0; k < p; ++k) g1.col(k) *= std::pow(1.0f + static_cast<float>(k), -0.5f);
  Eigen::MatrixXf w = g1 * g2.transpose() / std::sqrt(static_cast<float>(m) * static_cast<float>(n));
  for (Index j = 0; j < n; j += 512) w.col(j) *= 8.0f;
  return w;
}

Eigen::MatrixXf load(const std::string& path, const std::string& name) {
  const auto file = littlebit::io::SafetensorsFile::open(path);
  if (!file.contains(name)) {
    std::string names;
    for (const auto& t : file.tensors()) names += (names.empty() ? "" : ", ") + t.name;
    littlebit::detail::fail(path, ": no tensor '", name, "' (the file has: ", names, ")");
  }
  const auto& t = file.tensor(name);
  if (t.shape.size() != 2)
    littlebit::detail::fail(path, ": tensor '", name, "' has shape ", littlebit::io::TensorView::shape_string(t.shape),
                            ", expected a matrix (out_features x in_features)");
  if (!littlebit::io::is_floating(t.dtype))
    littlebit::detail::fail(path, ": tensor '", name, "' is ", littlebit::io::dtype_name(t.dtype),
                            ", expected F32, F64, F16 or BF16");
  RowMatrixXf w(t.shape[0], t.shape[1]);
  t.copy_to(std::span<float>(w.data(), static_cast<std::size_t>(w.size())));
  return w;
}

/// The official state-dict layout of one layer (io/official_linear.hpp): the Dual-SVID latents'
/// signs and its u1, u2, v1, v2 rounded to FP16.
void write_packed(const std::string& path, const littlebit::DualSvidResult<float>& d,
                  const std::map<std::string, std::string>& metadata) {
  const auto layer = littlebit::FactorizedLinear<float>::from_dual_svid(d);
  littlebit::io::save_official_linear(path, littlebit::io::to_official(layer, littlebit::io::DType::kF16), metadata);
}

/// Blue (negative) - white (0) - red (positive), saturating at |v| = scale.
std::array<unsigned char, 3> diverging(float v, float scale) {
  const float t = std::clamp(v / scale, -1.0f, 1.0f);
  const auto fade = [](float a) { return static_cast<unsigned char>(std::lround(255.0f * (1.0f - a))); };
  if (t >= 0) return {255, fade(t), fade(t)};
  return {fade(-t), fade(-t), 255};
}

/// W, W_pri, W_res and W_pri + W_res side by side (the top-left crop), 8 white pixels between.
void write_image(const std::string& path, const std::array<const Eigen::MatrixXf*, 4>& panels, Index size) {
  const Index rows = std::min<Index>(size, panels[0]->rows()), cols = std::min<Index>(size, panels[0]->cols());
  const Index gap = 8, width = 4 * cols + 3 * gap;
  // One scale for all panels: the 99th percentile of |W| in the crop (outliers saturate).
  std::vector<float> mags;
  for (Index i = 0; i < rows; ++i)
    for (Index j = 0; j < cols; ++j) mags.push_back(std::abs((*panels[0])(i, j)));
  std::nth_element(mags.begin(), mags.begin() + static_cast<std::ptrdiff_t>(mags.size() * 99 / 100), mags.end());
  const float scale = std::max(mags[mags.size() * 99 / 100], 1e-30f);
  std::vector<unsigned char> rgb(static_cast<std::size_t>(rows * width * 3), 255);
  for (std::size_t p = 0; p < panels.size(); ++p)
    for (Index i = 0; i < rows; ++i)
      for (Index j = 0; j < cols; ++j) {
        const auto c = diverging((*panels[p])(i, j), scale);
        const auto at = static_cast<std::size_t>((i * width + static_cast<Index>(p) * (cols + gap) + j) * 3);
        std::copy(c.begin(), c.end(), rgb.begin() + static_cast<std::ptrdiff_t>(at));
      }
  // Written next to the target and renamed: never a half-written picture under the final name.
  const std::string tmp = path + ".tmp";
  if (stbi_write_png(tmp.c_str(), static_cast<int>(width), static_cast<int>(rows), 3, rgb.data(),
                     static_cast<int>(width * 3)) == 0) {
    std::filesystem::remove(tmp);
    littlebit::detail::fail(path, ": could not write the PNG");
  }
  std::filesystem::rename(tmp, path);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Dual-SVID initialization of one weight matrix at a bits-per-weight target"};
  std::string input, tensor = "weight", shape, output, image;
  double bpw = 1.0;
  bool no_residual = false, exact = false, refine = false;
  int threads = 0;
  std::uint64_t seed = 0;
  Index image_size = 256;
  auto* in = app.add_option("--input", input, "safetensors file holding the matrix")->check(CLI::ExistingFile);
  app.add_option("--tensor", tensor, "name of the matrix in --input")->capture_default_str();
  app.add_option("--generate", shape, "a synthetic M x N layer instead of --input (e.g. 4096x11008)")->excludes(in);
  app.add_option("--bpw", bpw, "bits-per-weight target")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_flag("--no-residual", no_residual, "one path instead of primary + residual");
  app.add_flag("--exact", exact, "exact truncated SVD (Eigen BDCSVD) instead of the randomized one");
  app.add_flag("--refine", refine, "least-squares scales, sign steps and Joint-ITQ (DualSvidRefine::recommended)");
  app.add_option("--threads", threads, "threads for the products (0: the libraries' default)")->check(CLI::NonNegativeNumber);
  app.add_option("--seed", seed, "seed of the randomized SVD (and of --generate)");
  app.add_option("--output", output, "write the packed layer (safetensors, official LittleBit layout)");
  app.add_option("--image", image, "write a PNG of W, W_pri, W_res and their sum");
  app.add_option("--image-size", image_size, "largest crop shown per panel, in pixels")->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);

  try {
    if (input.empty() && shape.empty()) littlebit::detail::fail("give --input FILE (with --tensor NAME) or --generate MxN");
    if (threads > 0) {
      Eigen::setNbThreads(threads);
#if defined(LITTLEBIT_HAVE_OPENBLAS)
      openblas_set_num_threads(threads);
#endif
    }
    Eigen::MatrixXf w;
    std::string source;
    if (!input.empty()) {
      w = load(input, tensor);
      source = input + ":" + tensor;
    } else {
      long long m = 0, n = 0;
      char extra = 0;
      if (std::sscanf(shape.c_str(), "%lldx%lld%c", &m, &n, &extra) != 2 || m <= 0 || n <= 0)
        littlebit::detail::fail("--generate '", shape, "': expected MxN with positive M and N, e.g. 4096x11008");
      w = generate(m, n, seed);
      source = "generated " + shape;
    }
    const Index m = w.rows(), n = w.cols();

    littlebit::DualSvidOptions o;
    o.residual = !no_residual;
    o.svd = exact ? littlebit::SvdMethod::kExact : littlebit::SvdMethod::kRandomized;
    o.seed = seed;
    if (refine) o.refine = littlebit::DualSvidRefine::recommended();
    const auto d = littlebit::dual_svid_for_bpw(w, bpw, o);

    std::printf("%s: %ld x %ld, %s SVD%s%s\n", source.c_str(), static_cast<long>(m), static_cast<long>(n),
                exact ? "exact" : "randomized", o.residual ? ", primary + residual" : ", primary only",
                refine ? ", refined" : "");
    std::printf("rank %ld, %.4f bits per weight (target %.4f)\n", static_cast<long>(d.rank), d.bits_per_weight, bpw);
    std::printf("relative error: primary %.6f, total %.6f\n", d.rel_err_primary, d.rel_err_total);
    std::printf("time %.3f s\n", d.seconds);

    if (!output.empty()) {
      char buf[64];
      std::map<std::string, std::string> meta{{"format", "littlebit-official-linear"},
                                              {"out_features", std::to_string(m)},
                                              {"in_features", std::to_string(n)},
                                              {"rank", std::to_string(d.rank)},
                                              {"residual", o.residual ? "1" : "0"}};
      std::snprintf(buf, sizeof buf, "%.17g", d.bits_per_weight);
      meta["bits_per_weight"] = buf;
      std::snprintf(buf, sizeof buf, "%.17g", d.rel_err_primary);
      meta["rel_err_primary"] = buf;
      std::snprintf(buf, sizeof buf, "%.17g", d.rel_err_total);
      meta["rel_err_total"] = buf;
      write_packed(output, d, meta);
      std::printf("wrote %s\n", output.c_str());
    }
    if (!image.empty()) {
      const Eigen::MatrixXf pri = d.primary.reconstruct();
      const Eigen::MatrixXf res = d.residual ? Eigen::MatrixXf(d.residual->reconstruct()) : Eigen::MatrixXf::Zero(m, n);
      const Eigen::MatrixXf sum = pri + res;
      write_image(image, {&w, &pri, &res, &sum}, image_size);
      std::printf("wrote %s\n", image.c_str());
    }
    std::printf(
        "{\"rank\": %ld, \"bpw\": %.6f, \"target_bpw\": %.6f, \"rel_err_primary\": %.6f, \"rel_err_total\": %.6f, "
        "\"seconds\": %.3f, \"m\": %ld, \"n\": %ld, \"residual\": %s, \"exact\": %s, \"refine\": %s}\n",
        static_cast<long>(d.rank), d.bits_per_weight, bpw, d.rel_err_primary, d.rel_err_total, d.seconds,
        static_cast<long>(m), static_cast<long>(n), o.residual ? "true" : "false", exact ? "true" : "false",
        refine ? "true" : "false");
  } catch (const littlebit::Error& e) {
    std::fprintf(stderr, "factorize_layer: %s\n", e.what());
    return 1;
  }
  return 0;
}
