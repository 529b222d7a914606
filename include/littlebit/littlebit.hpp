// littlebit/littlebit.hpp: the whole public library in one include.
//
// Layers (docs/design.md): core (packed format, BitMatrix, FP16, errors) -> ref (the executable
// spec) -> quant (rank solver) -> io (safetensors). Each header also compiles on its own.
#pragma once

#include "littlebit/core/bit_layout.hpp"
#include "littlebit/core/bit_matrix.hpp"
#include "littlebit/core/config.hpp"
#include "littlebit/core/error.hpp"
#include "littlebit/core/float16.hpp"
#include "littlebit/core/matrix_view.hpp"
#include "littlebit/core/pack.hpp"
#include "littlebit/io/mapped_file.hpp"
#include "littlebit/io/safetensors.hpp"
#include "littlebit/quant/rank_solver.hpp"
#include "littlebit/ref/dual_svid.hpp"
#include "littlebit/ref/factorized.hpp"
#include "littlebit/ref/pack.hpp"
#include "littlebit/ref/popcount_gemm.hpp"
#include "littlebit/ref/sign_gemm.hpp"
#include "littlebit/ref/sign_gradient.hpp"
