// The vectorized kernels, written with Eigen arrays so the same source uses SSE2, AVX2, AVX-512 or
// NEON, whichever the build's single SIMD setting (MQ_SIMD_FLAGS) enables. The only file that
// includes Eigen. Contract: bit-identical to reference.cpp (see kernels.h).
//
// Shape of every loop: fixed-size blocks of `block` floats (a few SIMD registers, loaded unaligned
// from wherever the caller's data starts), then a scalar tail that applies the same operations.
// Non-finite inputs are detected without a branch in the hot loop: `v - v` is 0 for a finite v and
// NaN for NaN or +-inf, and NaN sticks in the accumulator. Only when the accumulator ends up NaN
// does a scalar scan look for the first bad index, so the error path costs nothing on clean data.
#include <Eigen/Core>
#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>

#include "kernels/kernels.h"

namespace mq::kernels {
namespace {

constexpr Eigen::Index block = 16;
constexpr std::size_t block_size = static_cast<std::size_t>(block);
// Column tile of minmax_columns: three tile-wide accumulators (12 KiB) stay in L1 while rows stream.
constexpr std::size_t column_tile = 1024;
constexpr float infinity = std::numeric_limits<float>::infinity();

using block_f = Eigen::Array<float, block, 1>;
using block_i = Eigen::Array<std::int32_t, block, 1>;
using const_block_map = Eigen::Map<const block_f, Eigen::Unaligned>;
using block_map = Eigen::Map<block_f, Eigen::Unaligned>;

float positive_zero(float v) { return v == 0.0f ? 0.0f : v; }

bool poisoned(const block_f& poison) { return poison.isNaN().any(); }

// Scalar twin of the vector expression in quantize_block; used for tails. std::nearbyint rounds
// half to even in the default rounding mode, like the SIMD rounding Eigen emits.
std::uint8_t quantize_value(float x, float scale, float zero_point, float lo, float hi) {
  float q = std::nearbyint(x / scale) + zero_point;
  if (!(q >= lo)) q = lo;
  if (q > hi) q = hi;
  return static_cast<std::uint8_t>(static_cast<std::int32_t>(q));
}

// Writes the low byte of each (already clipped, integral) value.
EIGEN_STRONG_INLINE void store_bytes(const block_f& q, std::uint8_t* out) {
  const block_i qi = q.cast<std::int32_t>();
  for (Eigen::Index k = 0; k < block; ++k) out[k] = static_cast<std::uint8_t>(qi[k]);
}

// `lo.max(q)` (not `q.max(lo)`): Eigen's max returns its first operand when the other is NaN, in
// both the packet and the scalar code, so a NaN quotient becomes `lo` as in the reference.
template <class Scales, class ZeroPoints>
EIGEN_STRONG_INLINE void quantize_block(const const_block_map& v, const Scales& scale, const ZeroPoints& zero_point,
                    float lo, float hi, std::uint8_t* out) {
  const block_f q = block_f::Constant(lo).max((v / scale).rint() + zero_point).min(hi);
  store_bytes(q, out);
}

minmax_result minmax(std::span<const float> x) {
  const float* p = x.data();
  const std::size_t n = x.size();
  block_f lo = block_f::Constant(infinity);
  block_f hi = block_f::Constant(-infinity);
  block_f poison = block_f::Zero();
  std::size_t i = 0;
  for (; i + block_size <= n; i += block_size) {
    const const_block_map v(p + i);
    lo = lo.min(v);
    hi = hi.max(v);
    poison += v - v;
  }
  float mn = lo.minCoeff();
  float mx = hi.maxCoeff();
  bool bad = poisoned(poison);
  for (; i < n; ++i) {
    mn = std::min(mn, p[i]);
    mx = std::max(mx, p[i]);
    bad = bad || !is_finite(p[i]);
  }
  return {positive_zero(mn), positive_zero(mx), bad ? first_nonfinite(p, n) : no_index};
}

std::int64_t minmax_rows(const float* x, std::size_t rows, std::size_t cols, float* mins,
                         float* maxs) {
  bool bad = false;
  for (std::size_t r = 0; r < rows; ++r) {
    const minmax_result row = minmax(std::span<const float>(x + r * cols, cols));
    mins[r] = row.min;
    maxs[r] = row.max;
    bad = bad || row.first_nonfinite != no_index;
  }
  return bad ? first_nonfinite(x, rows * cols) : no_index;
}

// Running min/max of columns [c0, c0 + width) over all rows; accumulators live in L1.
bool minmax_column_tile(const float* x, std::size_t rows, std::size_t cols, std::size_t c0,
                        std::size_t width, float* mins, float* maxs) {
  std::array<float, column_tile> poison_store{};
  float* poison = poison_store.data();
  std::fill(mins, mins + width, infinity);
  std::fill(maxs, maxs + width, -infinity);
  for (std::size_t r = 0; r < rows; ++r) {
    const float* row = x + r * cols + c0;
    std::size_t c = 0;
    for (; c + block_size <= width; c += block_size) {
      const const_block_map v(row + c);
      block_map lo(mins + c);
      block_map hi(maxs + c);
      block_map z(poison + c);
      lo = lo.min(v);
      hi = hi.max(v);
      z += v - v;
    }
    for (; c < width; ++c) {
      mins[c] = std::min(mins[c], row[c]);
      maxs[c] = std::max(maxs[c], row[c]);
      poison[c] += row[c] - row[c];
    }
  }
  bool bad = false;
  for (std::size_t c = 0; c < width; ++c) {
    mins[c] = positive_zero(mins[c]);
    maxs[c] = positive_zero(maxs[c]);
    bad = bad || std::isnan(poison[c]);
  }
  return bad;
}

std::int64_t minmax_columns(const float* x, std::size_t rows, std::size_t cols, float* mins,
                            float* maxs) {
  bool bad = false;
  for (std::size_t c0 = 0; c0 < cols; c0 += column_tile) {
    const std::size_t width = std::min(column_tile, cols - c0);
    bad = minmax_column_tile(x, rows, cols, c0, width, mins + c0, maxs + c0) || bad;
  }
  return bad ? first_nonfinite(x, rows * cols) : no_index;
}

// Quantizes x[0 .. n) with one scale; returns true when a non-finite value was seen.
bool quantize_span(const float* p, std::size_t n, float scale, float zero_point, float lo,
                   float hi, std::uint8_t* out) {
  block_f poison = block_f::Zero();
  std::size_t i = 0;
  for (; i + block_size <= n; i += block_size) {
    const const_block_map v(p + i);
    poison += v - v;
    quantize_block(v, scale, zero_point, lo, hi, out + i);
  }
  bool bad = poisoned(poison);
  for (; i < n; ++i) {
    out[i] = quantize_value(p[i], scale, zero_point, lo, hi);
    bad = bad || !is_finite(p[i]);
  }
  return bad;
}

std::int64_t quantize(std::span<const float> x, float scale, std::int32_t zero_point,
                      clip_range clip, std::uint8_t* out) {
  const bool bad = quantize_span(x.data(), x.size(), scale, static_cast<float>(zero_point),
                                 static_cast<float>(clip.lo), static_cast<float>(clip.hi), out);
  return bad ? first_nonfinite(x.data(), x.size()) : no_index;
}

std::int64_t quantize_rows(const float* x, std::size_t rows, std::size_t cols,
                           const float* scales, const std::int32_t* zero_points, clip_range clip,
                           std::uint8_t* out) {
  const auto lo = static_cast<float>(clip.lo);
  const auto hi = static_cast<float>(clip.hi);
  bool bad = false;
  for (std::size_t r = 0; r < rows; ++r) {
    const auto zp = static_cast<float>(zero_points[r]);
    bad = quantize_span(x + r * cols, cols, scales[r], zp, lo, hi, out + r * cols) || bad;
  }
  return bad ? first_nonfinite(x, rows * cols) : no_index;
}

// Columns [c0, c0 + width) of every row, with per-column scales and float zero points.
bool quantize_column_tile(const float* x, std::size_t rows, std::size_t cols, std::size_t c0,
                          std::size_t width, const float* scales, const std::int32_t* zero_points,
                          float lo, float hi, std::uint8_t* out) {
  std::array<float, column_tile> zp_store{};
  float* zps = zp_store.data();
  for (std::size_t c = 0; c < width; ++c) zps[c] = static_cast<float>(zero_points[c]);
  block_f poison = block_f::Zero();
  bool bad = false;
  for (std::size_t r = 0; r < rows; ++r) {
    const float* row = x + r * cols + c0;
    std::uint8_t* dst = out + r * cols + c0;
    std::size_t c = 0;
    for (; c + block_size <= width; c += block_size) {
      const const_block_map v(row + c);
      poison += v - v;
      quantize_block(v, const_block_map(scales + c), const_block_map(zps + c), lo, hi, dst + c);
    }
    for (; c < width; ++c) {
      dst[c] = quantize_value(row[c], scales[c], zps[c], lo, hi);
      bad = bad || !is_finite(row[c]);
    }
  }
  return bad || poisoned(poison);
}

std::int64_t quantize_columns(const float* x, std::size_t rows, std::size_t cols,
                              const float* scales, const std::int32_t* zero_points,
                              clip_range clip, std::uint8_t* out) {
  const auto lo = static_cast<float>(clip.lo);
  const auto hi = static_cast<float>(clip.hi);
  bool bad = false;
  for (std::size_t c0 = 0; c0 < cols; c0 += column_tile) {
    const std::size_t width = std::min(column_tile, cols - c0);
    bad = quantize_column_tile(x, rows, cols, c0, width, scales + c0, zero_points + c0, lo, hi,
                               out) ||
          bad;
  }
  return bad ? first_nonfinite(x, rows * cols) : no_index;
}

constexpr kernel_table eigen_table{
    "eigen", minmax, minmax_rows, minmax_columns, quantize, quantize_rows, quantize_columns,
};

}  // namespace

const kernel_table& eigen_kernels() noexcept { return eigen_table; }

}  // namespace mq::kernels
