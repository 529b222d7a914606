// A checkpoint written by `quantize`, run by the model with packed layers (float, the fast
// kernels' exact precision), against the same model with every packed layer replaced by its
// dense reconstruction in double (ref::reconstruct on the stored signs and FP16 scales).
//   quantized_model CHECKPOINT.safetensors [OFFICIAL.safetensors]
// The packed float forward differs from the double one only by float rounding. The yardstick
// is measured in the same run: the dense-reconstruction model in float against the same in
// double (Eigen's float GEMMs instead of the LUT kernels, equal rounding budget). The packed
// model must come within 4x that (plus 1e-5 of the logits' scale): a wiring error (a transposed
// layer, a wrong path, misplaced rows) moves the logits by O(1).
// With OFFICIAL (quantize --official), every layer read back from the official layout under its
// Hugging Face name reconstructs to exactly the checkpoint's weight, rows of q/k in Hugging Face
// order (HF row h*hd + j*hd/2 + i = GGUF row h*hd + 2i + j), and the dense tensors are equal.
#include <cmath>
#include <cstdio>

#include "littlebit/io/checkpoint.hpp"
#include "littlebit/io/official_linear.hpp"
#include "llm/hf_names.hpp"
#include "llm/model.hpp"
#include "llm/tokenizer.hpp"

int main(int argc, char** argv) {
  if (argc != 2 && argc != 3) {
    std::fprintf(stderr, "usage: %s CHECKPOINT [OFFICIAL]\n", argv[0]);
    return 2;
  }
  try {
    const auto ck = littlebit::io::Checkpoint::open(argv[1]);
    const auto tok = llm::Tokenizer::from_json(*ck.metadata_value("llm.tokenizer"), argv[1]);
    const auto ids = tok.encode("The capital of France is Paris. It has 2,161,000 residents and");
    const auto packed = llm::LlamaModel<float>::from_checkpoint(ck);
    using MatD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    const MatD ref = packed.dequantized<double>().forward(ids);
    const MatD dense_f = packed.dequantized<float>().forward(ids).cast<double>();
    const MatD got = packed.forward(ids).cast<double>();
    const double scale = ref.cwiseAbs().maxCoeff();
    const double yard = (dense_f - ref).cwiseAbs().maxCoeff();
    const double diff = (got - ref).cwiseAbs().maxCoeff();
    const double bound = 4.0 * yard + 1e-5 * scale;
    std::printf("%zu tokens, %d packed layers of %d blocks: max |logit| %.3f; packed float vs double %.3g, "
                "dense float vs double %.3g, bound %.3g\n",
                ids.size(), static_cast<int>(ck.layer_names().size()), packed.layers(), scale, diff, yard, bound);
    if (!(diff <= bound)) {
      std::printf("FAIL: the packed model is off by %.3g (bound %.3g)\n", diff, bound);
      return 1;
    }
    // With a cache, token by token, the last logits are the same computation in another order.
    llm::LlamaModel<float>::KvCache cache;
    MatD last;
    for (int id : ids) last = packed.forward({id}, &cache).cast<double>();
    const double cdiff = (last.row(0) - got.row(got.rows() - 1)).cwiseAbs().maxCoeff();
    std::printf("KV cache, one token at a time: last logits differ by %.3g (bound %.3g)\n", cdiff, bound);
    if (!(cdiff <= bound)) return 1;
    if (argc == 3) {
      auto dense = [](const littlebit::PackedFactorizedLinear& l) {
        const auto paths = l.paths();
        std::vector<littlebit::ref::FactorizedPath<littlebit::Float16>> v;
        for (const auto& p : paths) v.push_back(p.view());
        MatD w(l.out_features(), l.in_features());
        littlebit::ref::reconstruct(std::span<const littlebit::ref::FactorizedPath<littlebit::Float16>>(v),
                                    littlebit::MatrixView<double>(w.data(), w.rows(), w.cols()));
        return w;
      };
      const auto off = littlebit::io::SafetensorsFile::open(argv[2]);
      const auto& c = packed.config();
      for (const auto& name : ck.layer_names()) {
        const MatD want = dense(ck.layer(name));
        const MatD got_hf = dense(littlebit::io::to_packed(littlebit::io::read_official_linear(off, llm::hf_name(name))));
        MatD back = got_hf;  // rows in GGUF order
        const bool q = name.ends_with(".attn_q"), k = name.ends_with(".attn_k");
        if ((q || k) && c.rope_adjacent)
          for (int h = 0; h < (q ? c.n_head : c.n_head_kv); ++h)
            for (int j = 0; j < 2; ++j)
              for (int i = 0; i < c.head_dim / 2; ++i)
                back.row(h * c.head_dim + 2 * i + j) = got_hf.row(h * c.head_dim + j * (c.head_dim / 2) + i);
        if (back != want) {
          std::printf("FAIL: official layer '%s' differs from the checkpoint's '%s' by %.3g\n", llm::hf_name(name).c_str(),
                      name.c_str(), (back - want).cwiseAbs().maxCoeff());
          return 1;
        }
      }
      for (const auto& name : ck.dense_names())
        if (off.tensor(llm::hf_name(name)).to_vector<float>() != ck.dense(name)) {
          std::printf("FAIL: official dense tensor '%s' differs from '%s'\n", llm::hf_name(name).c_str(), name.c_str());
          return 1;
        }
      std::printf("official layout: %zu layers and %zu dense tensors equal the checkpoint's\n", ck.layer_names().size(),
                  ck.dense_names().size());
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "quantized_model: %s\n", e.what());
    return 1;
  }
  return 0;
}
