// The reference kernels: plain scalar code, one element at a time. This file is the executable
// spec of kernels.h; the vectorized kernels are tested bit-for-bit against it, so clarity wins
// over speed here.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

#include "kernels/kernels.h"

namespace mq::kernels {
namespace {

constexpr float infinity = std::numeric_limits<float>::infinity();

// Min/max report zero as +0 (see kernels.h).
float positive_zero(float v) { return v == 0.0f ? 0.0f : v; }

// numpy.round / ONNX QuantizeLinear rounding: to nearest, ties to even. Spelled out instead of
// std::nearbyint so the spec does not depend on the floating-point environment. In double every
// step is exact for a float input: floor() is exact and `y - floor(y)` fits 53 bits.
float round_half_even(float value) {
  if (!(std::fabs(value) < 0x1p23f)) return value;  // already integral (or inf/nan)
  const double y = value;
  const double down = std::floor(y);
  const double fraction = y - down;
  const bool odd = down != 2.0 * std::floor(down / 2.0);
  const bool up = fraction > 0.5 || (fraction == 0.5 && odd);
  return static_cast<float>(up ? down + 1.0 : down);
}

// One element of QuantizeLinear: the clipped integer q, as a float. Division, rounding and the
// zero-point addition are float32 operations, as in numpy's
// `(x.astype(float32) / scale).round() + zero_point`.
float quantize_value(float x, float scale, float zero_point, float lo, float hi) {
  float q = round_half_even(x / scale) + zero_point;
  if (!(q >= lo)) q = lo;  // also catches NaN, which must not reach the integer conversion
  if (q > hi) q = hi;
  return q;
}

// q is an integer in [-128, 255]; the byte is its low 8 bits (two's complement when negative).
std::uint8_t low_byte(float q) { return static_cast<std::uint8_t>(static_cast<std::int32_t>(q)); }

// Adds one element's round trip to the error sums (kernels.h), in element order.
void add_error(error_sums& err, float x, float q, float scale, std::int32_t zero_point) {
  const float dq = static_cast<float>(static_cast<std::int32_t>(q) - zero_point) * scale;
  const double e = static_cast<double>(x) - static_cast<double>(dq);
  err.signal += static_cast<double>(x) * static_cast<double>(x);
  err.noise += e * e;
  err.worst = std::max(err.worst, std::fabs(e));
}

// One element: stores the byte and measures the error when asked.
void quantize_one(float x, float scale, std::int32_t zero_point, clip_range clip, std::uint8_t* out,
                  error_sums* err) {
  const float q = quantize_value(x, scale, static_cast<float>(zero_point),
                                 static_cast<float>(clip.lo), static_cast<float>(clip.hi));
  *out = low_byte(q);
  if (err != nullptr) add_error(*err, x, q, scale, zero_point);
}

minmax_result minmax(std::span<const float> x) {
  float lo = infinity;
  float hi = -infinity;
  std::int64_t bad = no_index;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const float v = x[i];
    if (bad == no_index && !is_finite(v)) bad = static_cast<std::int64_t>(i);
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return {positive_zero(lo), positive_zero(hi), bad};
}

std::int64_t minmax_rows(const float* x, std::size_t rows, std::size_t cols, float* mins,
                         float* maxs) {
  std::int64_t bad = no_index;
  for (std::size_t r = 0; r < rows; ++r) {
    const minmax_result row = minmax(std::span<const float>(x + r * cols, cols));
    mins[r] = row.min;
    maxs[r] = row.max;
    if (bad == no_index && row.first_nonfinite != no_index) {
      bad = static_cast<std::int64_t>(r * cols) + row.first_nonfinite;
    }
  }
  return bad;
}

std::int64_t minmax_columns(const float* x, std::size_t rows, std::size_t cols, float* mins,
                            float* maxs) {
  for (std::size_t c = 0; c < cols; ++c) {
    mins[c] = infinity;
    maxs[c] = -infinity;
  }
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t c = 0; c < cols; ++c) {
      const float v = x[r * cols + c];
      if (v < mins[c]) mins[c] = v;
      if (v > maxs[c]) maxs[c] = v;
    }
  }
  for (std::size_t c = 0; c < cols; ++c) {
    mins[c] = positive_zero(mins[c]);
    maxs[c] = positive_zero(maxs[c]);
  }
  return first_nonfinite(x, rows * cols);
}

std::int64_t quantize(std::span<const float> x, float scale, std::int32_t zero_point,
                      clip_range clip, std::uint8_t* out, error_sums* err) {
  for (std::size_t i = 0; i < x.size(); ++i)
    quantize_one(x[i], scale, zero_point, clip, out + i, err);
  return first_nonfinite(x.data(), x.size());
}

std::int64_t quantize_rows(const float* x, std::size_t rows, std::size_t cols, const float* scales,
                           const std::int32_t* zero_points, clip_range clip, std::uint8_t* out,
                           error_sums* err) {
  for (std::size_t r = 0; r < rows; ++r) {
    const std::span<const float> row(x + r * cols, cols);
    (void)quantize(row, scales[r], zero_points[r], clip, out + r * cols, err);
  }
  return first_nonfinite(x, rows * cols);
}

std::int64_t quantize_columns(const float* x, std::size_t rows, std::size_t cols,
                              const float* scales, const std::int32_t* zero_points, clip_range clip,
                              std::uint8_t* out, error_sums* err) {
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t c = 0; c < cols; ++c) {
      const std::size_t i = r * cols + c;
      quantize_one(x[i], scales[c], zero_points[c], clip, out + i, err);
    }
  }
  return first_nonfinite(x, rows * cols);
}

// The byte kernels of the reference: copy the values to aligned floats, then the float kernel.
minmax_result minmax_bytes(const std::byte* x, std::size_t count) {
  return minmax(load_floats(x, count));
}

std::int64_t minmax_columns_bytes(const std::byte* x, std::size_t rows, std::size_t cols,
                                  float* mins, float* maxs) {
  return minmax_columns(load_floats(x, rows * cols).data(), rows, cols, mins, maxs);
}

std::int64_t quantize_bytes(const std::byte* x, std::size_t count, float scale,
                            std::int32_t zero_point, clip_range clip, std::uint8_t* out,
                            error_sums* err) {
  return quantize(load_floats(x, count), scale, zero_point, clip, out, err);
}

std::int64_t quantize_columns_bytes(const std::byte* x, std::size_t rows, std::size_t cols,
                                    const float* scales, const std::int32_t* zero_points,
                                    clip_range clip, std::uint8_t* out, error_sums* err) {
  return quantize_columns(load_floats(x, rows * cols).data(), rows, cols, scales, zero_points,
                          clip, out, err);
}

constexpr kernel_table reference_table{
    "reference",    minmax,        minmax_rows,          minmax_columns,
    quantize,       quantize_rows, quantize_columns,     minmax_bytes,
    minmax_columns_bytes, quantize_bytes, quantize_columns_bytes,
};

}  // namespace

const kernel_table& reference_kernels() noexcept { return reference_table; }

}  // namespace mq::kernels
