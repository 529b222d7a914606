// littlebit/littlebit.hpp: the whole public library in one include.
//
// Layers (docs/design.md): core (packed format, BitMatrix, FP16, errors, the path and sign-gradient
// types) -> kernels (CPU SIMD products, the fused forward) -> linalg (SVD, GEMM) -> quant (rank
// solver, Dual-SVID, sign gradients) -> layer (training and packed forms) -> io (safetensors,
// GGUF, the packed and official layer layouts, the checkpoint); ref (the executable spec, for
// tests) uses only core. Every public header is included here (a test checks it); each also
// compiles on its own.
#pragma once

#include "littlebit/core/aligned_buffer.hpp"
#include "littlebit/core/bit_layout.hpp"
#include "littlebit/core/bit_matrix.hpp"
#include "littlebit/core/bit_transpose.hpp"
#include "littlebit/core/config.hpp"
#include "littlebit/core/error.hpp"
#include "littlebit/core/factorized_path.hpp"
#include "littlebit/core/float16.hpp"
#include "littlebit/core/matrix_view.hpp"
#include "littlebit/core/pack.hpp"
#include "littlebit/core/sign_gradient_rule.hpp"
#include "littlebit/kernels/arch.hpp"
#include "littlebit/kernels/factorized_forward.hpp"
#include "littlebit/kernels/lut_gemm.hpp"
#include "littlebit/kernels/lut_layout.hpp"
#include "littlebit/kernels/lut_tables.hpp"
#include "littlebit/kernels/pack.hpp"
#include "littlebit/kernels/popcount_gemm.hpp"
#include "littlebit/kernels/sign_gemm.hpp"
#include "littlebit/kernels/smoothsign.hpp"
#include "littlebit/linalg/gemm.hpp"
#include "littlebit/linalg/randomized_svd.hpp"
#include "littlebit/quant/dual_svid.hpp"
#include "littlebit/quant/rank_solver.hpp"
#include "littlebit/quant/sign_gradient.hpp"
#include "littlebit/layer/factorized_linear.hpp"
#include "littlebit/layer/packed_factorized_linear.hpp"
#include "littlebit/io/checkpoint.hpp"
#include "littlebit/io/gguf.hpp"
#include "littlebit/io/mapped_file.hpp"
#include "littlebit/io/official_linear.hpp"
#include "littlebit/io/packed_linear.hpp"
#include "littlebit/io/safetensors.hpp"
#include "littlebit/ref/dual_svid.hpp"
#include "littlebit/ref/factorized.hpp"
#include "littlebit/ref/pack.hpp"
#include "littlebit/ref/popcount_gemm.hpp"
#include "littlebit/ref/sign_gemm.hpp"
#include "littlebit/ref/sign_gradient.hpp"
