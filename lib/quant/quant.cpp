// Ranges -> scale and zero point: ONNX Runtime's get_qmin_qmax_for_qType and compute_scale_zp.
#include "quant/quant.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>

namespace mq::quant {
namespace {

// numpy.round on a float64: to nearest, ties to even. Spelled out so the result does not depend
// on the floating-point environment; every step is exact for |y| < 2^52.
double round_half_even(double y) {
  if (!(std::fabs(y) < 0x1p52)) return y;  // already integral (or inf/nan)
  const double down = std::floor(y);
  const double fraction = y - down;
  const bool odd = down != 2.0 * std::floor(down / 2.0);
  return fraction > 0.5 || (fraction == 0.5 && odd) ? down + 1.0 : down;
}

// Clamps a rounded zero point into [qmin, qmax] before the integer conversion; NaN -> qmin.
std::int32_t to_zero_point(double z, qrange range) {
  if (!(z >= range.qmin)) return range.qmin;
  if (z > range.qmax) return range.qmax;
  return static_cast<std::int32_t>(z);
}

}  // namespace

qrange type_range(qtype type) {
  switch (type) {
    case qtype::int8: return {-128, 127};
    case qtype::uint8: return {0, 255};
    case qtype::int4: return {-8, 7};
    case qtype::uint4: return {0, 15};
  }
  return {0, 0};
}

qrange range_for(qtype type, symmetry sym, bool reduce_range) {
  // ORT checks reduce_range first: it wins over symmetric.
  if (reduce_range) {
    switch (type) {
      case qtype::int8: return {-64, 64};
      case qtype::uint8: return {0, 127};
      case qtype::int4: return {-4, 3};
      case qtype::uint4: return {0, 7};
    }
  }
  // ORT's symmetric table has entries for the 8-bit (and 16-bit) types only; 4-bit types keep
  // their full range, so symmetric int4 uses [-8, 7] with zero point round(-0.5) = 0.
  if (sym == symmetry::symmetric) {
    if (type == qtype::int8) return {-127, 127};
    if (type == qtype::uint8) return {0, 254};
  }
  return type_range(type);
}

params compute_params(float rmin, float rmax, qrange range, symmetry sym) {
  rmin = std::min(rmin, 0.0f);
  rmax = std::max(rmax, 0.0f);
  if (sym == symmetry::symmetric) {
    const float absmax = std::max(std::fabs(rmin), std::fabs(rmax));
    rmin = -absmax;
    rmax = absmax;
  }
  // numpy evaluates rmax - rmin on float32 scalars, then widens the difference to float64.
  const float span = rmax - rmin;
  const double scale = static_cast<double>(span) /
                       (static_cast<double>(range.qmax) - static_cast<double>(range.qmin));
  if (scale < static_cast<double>(FLT_MIN)) return {1.0f, 0};
  const double zero_point =
      sym == symmetry::symmetric
          ? round_half_even((static_cast<double>(range.qmin) + range.qmax) / 2.0)
          : round_half_even(range.qmin - static_cast<double>(rmin) / scale);
  return {static_cast<float>(scale), to_zero_point(zero_point, range)};
}

}  // namespace mq::quant
