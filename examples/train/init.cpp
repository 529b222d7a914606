// examples/train/init.cpp: see init.hpp.
#include "train/init.hpp"

#include "littlebit/quant/dual_svid.hpp"

namespace train {

std::vector<littlebit::FactorizedPathParams<float>> dual_svid_init(const float* w, Eigen::Index out, Eigen::Index in,
                                                                   Eigen::Index rank, const InitOptions& o) {
  const Eigen::MatrixXf wc = Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(w, out, in);
  littlebit::DualSvidOptions opt;
  opt.residual = o.residual;
  opt.svd = o.exact_svd ? littlebit::SvdMethod::kExact : littlebit::SvdMethod::kRandomized;
  opt.seed = o.seed;
  if (o.refine) opt.refine = littlebit::DualSvidRefine::recommended();
  const auto d = littlebit::dual_svid(wc, rank, opt);
  std::vector<littlebit::FactorizedPathParams<float>> paths;
  auto add = [&](const littlebit::DualSvidPath<float>& p) {
    paths.push_back({p.u_latent, p.v_latent, p.h, p.ell_u, p.ell_v, p.g});
  };
  add(d.primary);
  if (d.residual) add(*d.residual);
  return paths;
}

}  // namespace train
