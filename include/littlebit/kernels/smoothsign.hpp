// littlebit/kernels/smoothsign.hpp: the SmoothSign surrogate gradient, float, vectorized.
//
//   out[i] (+)= grad[i] * d(z[i]),   d(z) = 4 alpha e / (1 + e)^2,  e = exp(-2 alpha |z|)
//   (= alpha (1 - tanh(alpha z)^2)),  d = 0 where 2 alpha |z| >= cutoff
//
// (reference: ref::smoothsign_derivative; portable twin: quant/sign_gradient.hpp through Eigen).
// The AVX-512 path computes exp by Cody-Waite reduction (x = n ln2 + r, |r| <= ln2 / 2, ln2 split
// in a high part exact in float and a low part) and Cephes' degree-7 polynomial for e^r (relative
// error below 2^-23 on the interval), scaled by 2^n with vscalefps: e within 3 ulps, d within
// (2 alpha |z| + 10) ulps including the rounding of 2 alpha |z| (see quant/sign_gradient.hpp).
// Without -march flags Eigen's portable exp runs on SSE2 and is ~7x slower than this.
#pragma once

#include "littlebit/core/config.hpp"
#include "littlebit/kernels/arch.hpp"

LITTLEBIT_KERNELS_BEGIN_IGNORE_PR105593
namespace littlebit::kernels {

#if LITTLEBIT_KERNELS_HAS_AVX512
/// See the file comment; count may be any length (the tail is masked).
LITTLEBIT_TARGET_AVX512 inline void smoothsign_gradient_avx512(float alpha, float cutoff, const float* z,
                                                               const float* grad, float* out, Index count,
                                                               bool accumulate) {
  const __m512 two_alpha = _mm512_set1_ps(2.0f * alpha), four_alpha = _mm512_set1_ps(4.0f * alpha);
  const __m512 vcut = _mm512_set1_ps(cutoff), one = _mm512_set1_ps(1.0f);
  const __m512 log2e = _mm512_set1_ps(1.44269504088896341f);
  const __m512 ln2_hi = _mm512_set1_ps(0.693359375f), ln2_lo = _mm512_set1_ps(-2.12194440e-4f);
  const __m512 c0 = _mm512_set1_ps(1.9875691500e-4f), c1 = _mm512_set1_ps(1.3981999507e-3f),
               c2 = _mm512_set1_ps(8.3334519073e-3f), c3 = _mm512_set1_ps(4.1665795894e-2f),
               c4 = _mm512_set1_ps(1.6666665459e-1f), c5 = _mm512_set1_ps(5.0000001201e-1f);
  for (Index i = 0; i < count; i += 16) {
    const __mmask16 m = count - i >= 16 ? __mmask16(0xffff) : __mmask16((1u << (count - i)) - 1);
    const __m512 zv = _mm512_maskz_loadu_ps(m, z + i);
    const __m512 y = _mm512_mul_ps(two_alpha, _mm512_abs_ps(zv));
    const __mmask16 live = _mm512_cmp_ps_mask(y, vcut, _CMP_LT_OQ);
    const __m512 x = _mm512_sub_ps(_mm512_setzero_ps(), _mm512_min_ps(y, vcut));  // -y in [-cutoff, 0]
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, log2e), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, ln2_hi, x);
    r = _mm512_fnmadd_ps(n, ln2_lo, r);
    __m512 p = _mm512_fmadd_ps(c0, r, c1);
    p = _mm512_fmadd_ps(p, r, c2);
    p = _mm512_fmadd_ps(p, r, c3);
    p = _mm512_fmadd_ps(p, r, c4);
    p = _mm512_fmadd_ps(p, r, c5);
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, one));
    const __m512 e = _mm512_scalef_ps(p, n);
    const __m512 s = _mm512_add_ps(one, e);
    const __m512 d = _mm512_maskz_div_ps(live, _mm512_mul_ps(four_alpha, e), _mm512_mul_ps(s, s));
    __m512 res = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, grad + i), d);
    if (accumulate) res = _mm512_add_ps(_mm512_maskz_loadu_ps(m, out + i), res);
    _mm512_mask_storeu_ps(out + i, m, res);
  }
}
#endif

}  // namespace littlebit::kernels
LITTLEBIT_KERNELS_END_IGNORE_PR105593
