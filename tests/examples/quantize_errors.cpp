// The errors `quantize` reported, recomputed from the littlebit checkpoint alone and the source
// model's tensors looked up by name: for every packed layer NAME, ||W - W_hat|| / ||W|| with W the
// source tensor NAME.weight and W_hat the layer as stored (reconstruction_error), against the
// quantize.summary entry of that layer (primary and total). A layer written under another name,
// transposed, from another tensor or with its paths mixed up gives an error unrelated to the one
// reported, and the check fails naming it.
//   quantize_errors CHECKPOINT MODEL.gguf [--expect-layers N] [--swap A B] [--transpose A]
// --swap and --transpose apply that wiring error to the layers read from the checkpoint first (to
// show that the check catches it: the run must then fail).
// Tolerance: both sides sum in double the same FP16 scales, signs and source floats in different
// orders, so each entry of W - W_hat differs by at most gamma_{2r+4} (|w| + sum_p |h_i| |ell|_1 |g_j|);
// the errors then differ by at most 2 gamma_{2r+4} (||W|| + sum_p ||h|| ||ell||_1 ||g||) / ||W||
// (Frobenius norms; the factor 2: both computations), and the reported value is a JSON double
// (printed to round trip). A wiring error moves them by O(0.1) and more.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "littlebit/core/bit_transpose.hpp"
#include "littlebit/io/checkpoint.hpp"
#include "littlebit/io/gguf.hpp"
#include "littlebit/layer/packed_factorized_linear.hpp"

namespace {

using littlebit::Index;

double scale_bound(const littlebit::PackedFactorizedLinear& layer) {
  double sum = 0;
  for (const auto& p : layer.paths()) {
    double h2 = 0, ell1 = 0, g2 = 0;
    for (auto v : p.h) h2 += littlebit::to_double(v) * littlebit::to_double(v);
    for (auto v : p.ell) ell1 += std::abs(littlebit::to_double(v));
    for (auto v : p.g) g2 += littlebit::to_double(v) * littlebit::to_double(v);
    sum += std::sqrt(h2) * ell1 * std::sqrt(g2);
  }
  return sum;
}

/// W^T as a packed layer: diag(g) V_sign diag(ell) U_sign^T diag(h) per path.
littlebit::PackedFactorizedLinear transposed(const littlebit::PackedFactorizedLinear& layer) {
  std::vector<littlebit::PackedPath> paths;
  for (const auto& p : layer.paths())
    paths.push_back({littlebit::transpose(p.v_sign.view()), littlebit::transpose(p.u_sign.view()), p.g, p.ell, p.h});
  return littlebit::PackedFactorizedLinear(paths);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s CHECKPOINT MODEL.gguf [--expect-layers N] [--swap A B] [--transpose A]\n", argv[0]);
    return 2;
  }
  try {
    const auto ck = littlebit::io::Checkpoint::open(argv[1]);
    const auto model = littlebit::io::GgufFile::open(argv[2]);
    long expect = -1;
    std::string swap_a, swap_b, transpose_name;
    for (int i = 3; i < argc; ++i) {
      if (!std::strcmp(argv[i], "--expect-layers") && i + 1 < argc) expect = std::stol(argv[++i]);
      else if (!std::strcmp(argv[i], "--swap") && i + 2 < argc) swap_a = argv[++i], swap_b = argv[++i];
      else if (!std::strcmp(argv[i], "--transpose") && i + 1 < argc) transpose_name = argv[++i];
      else throw littlebit::Error(std::string("unknown argument '") + argv[i] + "'");
    }
    const auto summary_text = ck.metadata_value("quantize.summary");
    if (!summary_text) throw littlebit::Error(std::string(argv[1]) + ": no quantize.summary metadata");
    const auto summary = nlohmann::json::parse(*summary_text);
    std::map<std::string, nlohmann::json> reported;
    for (const auto& l : summary.at("layers")) reported[l.at("name").get<std::string>()] = l;

    std::map<std::string, littlebit::PackedFactorizedLinear> layers;
    for (const auto& name : ck.layer_names()) layers.emplace(name, ck.layer(name));
    if (!swap_a.empty()) {
      if (!layers.count(swap_a) || !layers.count(swap_b)) throw littlebit::Error("--swap: no such layers");
      std::swap(layers.at(swap_a), layers.at(swap_b));
      std::printf("wiring error applied: layers %s and %s swapped\n", swap_a.c_str(), swap_b.c_str());
    }
    if (!transpose_name.empty()) {
      auto& l = layers.at(transpose_name);
      if (l.out_features() != l.in_features()) throw littlebit::Error("--transpose: " + transpose_name + " is not square");
      l = transposed(l);
      std::printf("wiring error applied: layer %s transposed\n", transpose_name.c_str());
    }

    int failures = 0;
    double worst = 0;
    for (const auto& name : ck.layer_names()) {
      const auto& layer = layers.at(name);
      const auto it = reported.find(name);
      if (it == reported.end()) {
        std::printf("FAIL %s: in the checkpoint but not in quantize.summary\n", name.c_str());
        ++failures;
        continue;
      }
      const auto& t = model.tensor(name + ".weight");
      const std::vector<float> w = littlebit::io::dequantize(t);
      const std::vector<Index> shape = t.shape();
      if (shape != std::vector<Index>{layer.out_features(), layer.in_features()}) {
        std::printf("FAIL %s: the layer is %ld x %ld, its source tensor %ld x %ld\n", name.c_str(),
                    static_cast<long>(layer.out_features()), static_cast<long>(layer.in_features()),
                    static_cast<long>(shape[0]), static_cast<long>(shape[1]));
        ++failures;
        continue;
      }
      const auto e = littlebit::reconstruction_error(
          layer, littlebit::MatrixView<const float>(w.data(), layer.out_features(), layer.in_features()));
      double wnorm2 = 0;
      for (float v : w) wnorm2 += static_cast<double>(v) * static_cast<double>(v);
      const double wnorm = std::sqrt(wnorm2);
      const double k = 2.0 * static_cast<double>(layer.rank()) + 4.0, u = 0x1p-53;
      const double tol = 2.0 * (k * u / (1.0 - k * u)) * (wnorm + scale_bound(layer)) / wnorm + 1e-15;
      const double want_pri = it->second.at("err_primary").get<double>(), want_tot = it->second.at("err_total").get<double>();
      const double diff = std::max(std::abs(e.primary - want_pri), std::abs(e.total - want_tot));
      worst = std::max(worst, diff / tol);
      if (!(diff <= tol)) {
        std::printf("FAIL %s: recomputed errors %.6f / %.6f, quantize reported %.6f / %.6f (tolerance %.2g)\n", name.c_str(),
                    e.primary, e.total, want_pri, want_tot, tol);
        ++failures;
      }
    }
    const long count = static_cast<long>(ck.layer_names().size());
    if (expect >= 0 && count != expect) {
      std::printf("FAIL: %ld packed layers, expected %ld\n", count, expect);
      ++failures;
    }
    if (reported.size() != ck.layer_names().size()) {
      std::printf("FAIL: quantize.summary lists %zu layers, the checkpoint holds %ld\n", reported.size(), count);
      ++failures;
    }
    std::printf("%ld layers: reported errors %s (largest difference %.3g of its tolerance)\n", count,
                failures ? "DIFFER" : "recomputed within tolerance", worst);
    return failures ? 1 : 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "quantize_errors: %s\n", e.what());
    return 1;
  }
}
