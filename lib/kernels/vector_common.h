// Scalar pieces both vector tables need (eigen.cpp, avx2.cpp): the tail formula and the helpers
// around it, and the fixed order in which the 16 float64 lanes of the error sums are added up.
// One copy, so the two tables cannot drift apart. Plain scalar code, compiled with the build's
// flags wherever it is included (nothing here may carry a target attribute).
//
// Private header: lib/kernels only.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "kernels/kernels.h"

namespace mq::kernels::common {

// 1.5 * 2^23: adding it to |y| <= 2^22 leaves no fraction bits, so the FPU rounds y to an integer
// (to nearest, ties to even: the default mode); the parity of the sum is the parity of the result.
inline constexpr float magic = 12582912.0f;

/// Min/max report zero as +0 (kernels.h).
inline float positive_zero(float v) { return v == 0.0f ? 0.0f : v; }

/// The vector formula adds the zero point through `magic - zero_point` (eigen.cpp quantize_block).
inline float shift_for(std::int32_t zero_point) { return magic - static_cast<float>(zero_point); }

/// Scalar twin of the vector quantize formula, for tails: the reference formula (std::nearbyint
/// rounds half to even in the default mode). Returns the clipped integer q as a float.
inline float quantize_value(float x, float scale, std::int32_t zero_point, clip_range clip) {
  float q = std::nearbyint(x / scale) + static_cast<float>(zero_point);
  if (!(q >= static_cast<float>(clip.lo))) q = static_cast<float>(clip.lo);
  if (q > static_cast<float>(clip.hi)) q = static_cast<float>(clip.hi);
  return q;
}

/// The byte stored for a clipped integer q in [-128, 255] (two's complement when negative).
inline std::uint8_t low_byte(float q) { return static_cast<std::uint8_t>(static_cast<std::int32_t>(q)); }

/// First non-finite index of n values read through a kernel's source (`x.at(i)`), or no_index.
template <class Src>
std::int64_t first_nonfinite_in(Src x, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    if (!is_finite(x.at(i))) return static_cast<std::int64_t>(i);
  }
  return no_index;
}

/// Lanes of error sums in a fixed order (kernels.h error_sums), not a reduction tree that would
/// follow the vector width.
inline void add_lanes(const double* signal, const double* noise, const double* worst, std::size_t lanes,
                      error_sums& err) {
  double s = 0;
  double n = 0;
  for (std::size_t k = 0; k < lanes; ++k) {
    s += signal[k];
    n += noise[k];
    err.worst = std::max(err.worst, worst[k]);
  }
  err.signal += s;
  err.noise += n;
}

}  // namespace mq::kernels::common
