// The vectorized kernels, written with Eigen arrays so the same source uses SSE2, AVX2, AVX-512 or
// NEON, whichever the build's single SIMD setting (MQ_SIMD_FLAGS) enables. The only file that
// includes Eigen. Contract: bit-identical to reference.cpp (see kernels.h), except the last bits
// of the float64 error sums, which are summed per lane; the property tests check both.
//
// Shape of every loop: fixed-size blocks of `block` floats (a few SIMD registers, loaded unaligned
// from wherever the caller's data starts), then a scalar tail doing what the reference does.
// Non-finite inputs are detected without a branch in the hot loop: `v - v` is 0 for a finite v and
// NaN for NaN or +-inf, and NaN sticks in an accumulator. Only when the accumulator ends up NaN
// does a scalar scan look for the first bad index, so clean data never pays for the error path.
#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <span>
#include <vector>

#if defined(__SSE2__)
#include <immintrin.h>  // store_bytes: the narrowing int32 -> byte store Eigen 3.4 lacks
#endif

#include "kernels/kernels.h"
#include "kernels/vector_common.h"

namespace mq::kernels {
namespace {

constexpr Eigen::Index block = 16;
constexpr std::size_t block_size = static_cast<std::size_t>(block);
// Widest column range a column kernel works on at once: its per-column arrays (64 KiB) stay in
// L2 while rows stream through. Matrices of up to 8192 columns are done in one sweep.
constexpr std::size_t column_tile = 8192;
constexpr float infinity = std::numeric_limits<float>::infinity();
using common::first_nonfinite_in;
using common::low_byte;
using common::magic;
using common::positive_zero;
using common::quantize_value;
using common::shift_for;

using block_f = Eigen::Array<float, block, 1>;
using block_i = Eigen::Array<std::int32_t, block, 1>;
using const_block_map = Eigen::Map<const block_f, Eigen::Unaligned>;
using block_map = Eigen::Map<block_f, Eigen::Unaligned>;

bool poisoned(const block_f& poison) { return poison.isNaN().any(); }

// ---- where the values come from ----

// Every kernel reads its float32 values through one of these two. `floats_at` is a float array.
// `bytes_at` is float32 values at any address: a model's raw_data is often not 4-byte aligned,
// and copying it to aligned memory first cost about as much as quantizing it. A scalar float is
// never read through a misaligned pointer (memcpy). Blocks are read with Eigen's unaligned packet
// loads (_mm_loadu_ps, vld1q_f32), which take any address: the pointer only carries the address
// there (converting it is not undefined, its value is merely unspecified by the standard, and
// GCC and Clang keep the address). Copying each block with memcpy instead made the byte kernels
// 5-25 % slower than their float twins; this way they run at the same speed. Without SIMD (a build
// with no packet type) Eigen would load scalars through the map, so blocks are copied there.
struct floats_at {
  const float* p;
  EIGEN_ALWAYS_INLINE const_block_map block_at(std::size_t i) const { return const_block_map(p + i); }
  EIGEN_ALWAYS_INLINE float at(std::size_t i) const { return p[i]; }
  EIGEN_ALWAYS_INLINE floats_at plus(std::size_t i) const { return {p + i}; }
};

struct bytes_at {
  const std::byte* p;
#if defined(EIGEN_VECTORIZE)
  EIGEN_ALWAYS_INLINE const_block_map block_at(std::size_t i) const {
    return const_block_map(reinterpret_cast<const float*>(p + i * sizeof(float)));
  }
#else
  EIGEN_ALWAYS_INLINE block_f block_at(std::size_t i) const {
    block_f v;
    std::memcpy(v.data(), p + i * sizeof(float), block_size * sizeof(float));
    return v;
  }
#endif
  EIGEN_ALWAYS_INLINE float at(std::size_t i) const { return load_float(p, i); }
  EIGEN_ALWAYS_INLINE bytes_at plus(std::size_t i) const { return {p + i * sizeof(float)}; }
};

// ---- min/max ----

template <class Src>
minmax_result minmax_in(Src x, std::size_t n) {
  block_f lo = block_f::Constant(infinity);
  block_f hi = block_f::Constant(-infinity);
  block_f poison = block_f::Zero();
  std::size_t i = 0;
  for (; i + block_size <= n; i += block_size) {
    const auto v = x.block_at(i);
    lo = lo.min(v);
    hi = hi.max(v);
    poison += v - v;
  }
  float mn = lo.minCoeff();
  float mx = hi.maxCoeff();
  bool bad = poisoned(poison);
  for (; i < n; ++i) {
    const float v = x.at(i);
    mn = std::min(mn, v);
    mx = std::max(mx, v);
    bad = bad || !is_finite(v);
  }
  return {positive_zero(mn), positive_zero(mx), bad ? first_nonfinite_in(x, n) : no_index};
}

minmax_result minmax(std::span<const float> x) { return minmax_in(floats_at{x.data()}, x.size()); }

minmax_result minmax_bytes(const std::byte* x, std::size_t count) { return minmax_in(bytes_at{x}, count); }

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

// Folds rows [r, r + 4) of columns [0, width) into the running mins/maxs. Four rows per sweep cut
// the accumulator traffic by four. The poison check sums the four rows first: a finite sum that
// overflows only causes a needless (but correct) rescan.
template <class Src>
bool minmax_four_rows(Src row0, std::size_t stride, std::size_t width, float* mins, float* maxs) {
  const Src row1 = row0.plus(stride);
  const Src row2 = row1.plus(stride);
  const Src row3 = row2.plus(stride);
  block_f poison = block_f::Zero();
  std::size_t c = 0;
  for (; c + block_size <= width; c += block_size) {
    const auto a = row0.block_at(c);
    const auto b = row1.block_at(c);
    const auto d = row2.block_at(c);
    const auto e = row3.block_at(c);
    block_map lo(mins + c), hi(maxs + c);
    lo = lo.min(a.min(b).min(d.min(e)));
    hi = hi.max(a.max(b).max(d.max(e)));
    const block_f sum = (a + b) + (d + e);
    poison += sum - sum;
  }
  bool bad = poisoned(poison);
  for (; c < width; ++c) {
    for (const Src& row : {row0, row1, row2, row3}) {
      const float v = row.at(c);
      mins[c] = std::min(mins[c], v);
      maxs[c] = std::max(maxs[c], v);
      bad = bad || !is_finite(v);
    }
  }
  return bad;
}

template <class Src>
bool minmax_one_row(Src row, std::size_t width, float* mins, float* maxs) {
  block_f poison = block_f::Zero();
  std::size_t c = 0;
  for (; c + block_size <= width; c += block_size) {
    const auto v = row.block_at(c);
    block_map lo(mins + c), hi(maxs + c);
    lo = lo.min(v);
    hi = hi.max(v);
    poison += v - v;
  }
  bool bad = poisoned(poison);
  for (; c < width; ++c) {
    const float v = row.at(c);
    mins[c] = std::min(mins[c], v);
    maxs[c] = std::max(maxs[c], v);
    bad = bad || !is_finite(v);
  }
  return bad;
}

// Column min/max of columns [c0, c0 + width), sweeping rows (never striding down a column).
template <class Src>
bool minmax_column_tile(Src x, std::size_t rows, std::size_t cols, std::size_t c0,
                        std::size_t width, float* mins, float* maxs) {
  std::fill(mins, mins + width, infinity);
  std::fill(maxs, maxs + width, -infinity);
  bool bad = false;
  std::size_t r = 0;
  for (; r + 4 <= rows; r += 4)
    bad = minmax_four_rows(x.plus(r * cols + c0), cols, width, mins, maxs) || bad;
  for (; r < rows; ++r) bad = minmax_one_row(x.plus(r * cols + c0), width, mins, maxs) || bad;
  // Zero results are +0 (kernels.h): which zero survives depends on the visiting order.
  for (std::size_t c = 0; c < width; ++c) {
    mins[c] = positive_zero(mins[c]);
    maxs[c] = positive_zero(maxs[c]);
  }
  return bad;
}

template <class Src>
std::int64_t minmax_columns_in(Src x, std::size_t rows, std::size_t cols, float* mins, float* maxs) {
  bool bad = false;
  for (std::size_t c0 = 0; c0 < cols; c0 += column_tile) {
    const std::size_t width = std::min(column_tile, cols - c0);
    bad = minmax_column_tile(x, rows, cols, c0, width, mins + c0, maxs + c0) || bad;
  }
  return bad ? first_nonfinite_in(x, rows * cols) : no_index;
}

std::int64_t minmax_columns(const float* x, std::size_t rows, std::size_t cols, float* mins,
                            float* maxs) {
  return minmax_columns_in(floats_at{x}, rows, cols, mins, maxs);
}

std::int64_t minmax_columns_bytes(const std::byte* x, std::size_t rows, std::size_t cols,
                                  float* mins, float* maxs) {
  return minmax_columns_in(bytes_at{x}, rows, cols, mins, maxs);
}

// ---- quantize ----

using lanes_d = Eigen::Array<double, block, 1>;

// float32 -> float64, 16 lanes. Eigen 3.4 widens by loading a float packet at every other offset
// of the source, which on SSE2 spills a register block to the stack for each half; converting the
// high halves in registers made the SSE2 measured kernels about 10% faster.
EIGEN_ALWAYS_INLINE lanes_d widen(const block_f& v) {
#if defined(EIGEN_VECTORIZE_SSE2) && !defined(EIGEN_VECTORIZE_AVX)
  lanes_d out;
  for (int k = 0; k < block; k += 4) {
    const __m128 f = _mm_loadu_ps(v.data() + k);
    _mm_storeu_pd(out.data() + k, _mm_cvtps_pd(f));
    _mm_storeu_pd(out.data() + k + 2, _mm_cvtps_pd(_mm_movehl_ps(f, f)));
  }
  return out;
#else
  return v.cast<double>();
#endif
}

// The error sums of one kernel call (kernels.h), one float64 partial sum per lane of a block:
// always 16 lanes whatever the vector width, so the summation order depends only on the data, and
// independent lanes keep the float64 additions off one serial dependency chain. The loops work on
// a local copy (`acc`) that is only ever touched whole-block, inside force-inlined code: a
// lane_sums reached through a reference or indexed by lane stays in memory, and GCC then stored
// the accumulators on every block, which made the measured kernels about 1.5x slower.
struct lane_sums {
  lanes_d signal = lanes_d::Zero();
  lanes_d noise = lanes_d::Zero();
  lanes_d worst = lanes_d::Zero();

  // One block: inputs x and their dequantized values dq (float32, as DequantizeLinear computes).
  EIGEN_ALWAYS_INLINE void add(const block_f& x, const block_f& dq) {
    const lanes_d xd = widen(x);
    const lanes_d e = xd - widen(dq);
    signal += xd.square();
    noise += e.square();
    worst = worst.max(e.abs());
  }

  // Lanes in a fixed order (not Eigen's sum(), whose reduction tree follows the packet size).
  void add_to(error_sums& err) const {
    common::add_lanes(signal.data(), noise.data(), worst.data(), block_size, err);
  }
};

// A partial block of tail elements, zero elsewhere: zero lanes add nothing to any sum, so a tail
// goes through lane_sums::add like a full block (tail element k in lane k) and the accumulators
// are only ever touched whole-block (see lane_sums).
struct tail_block {
  block_f x = block_f::Zero();
  block_f dq = block_f::Zero();

  void set(std::size_t lane, float value, float dequantized) {
    x[static_cast<Eigen::Index>(lane)] = value;
    dq[static_cast<Eigen::Index>(lane)] = dequantized;
  }
};

// Dequantized values of a block of clipped integers q: (q - zp) * scale in float32; q - zp is
// exact (small integers), so this is float(q - zero_point) * scale as in DequantizeLinear.
template <class ZeroPoint, class Scale>
EIGEN_ALWAYS_INLINE block_f dequantize_block(const block_f& q, const ZeroPoint& zp,
                                             const Scale& scale) {
  return (q - zp) * scale;
}

// Writes the low byte of each (integral, in [-128, 255]) value. Eigen 3.4 has no narrowing
// int32 -> int8 packet operation and compilers narrow a plain loop poorly on SSE2 (a long shuffle
// chain per 16 bytes, which made the whole kernel shuffle-bound), so x86 gets one targeted
// sequence here: AVX-512 truncates in one instruction; SSE2 packs with signed saturation (exact:
// every value fits int16) and masks to the low byte before the unsigned pack. Other targets use
// the plain loop. The property tests cover whichever path the build compiles.
EIGEN_STRONG_INLINE void store_bytes(const block_f& q, std::uint8_t* out) {
  const block_i qi = q.cast<std::int32_t>();
#if defined(__AVX512F__)
  static_assert(block == 16, "one zmm register of int32");
  const __m512i v = _mm512_loadu_si512(qi.data());
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out), _mm512_cvtepi32_epi8(v));
#elif defined(EIGEN_VECTORIZE_SSE2)
  static_assert(block == 16, "four xmm registers of int32");
  const auto* in = reinterpret_cast<const __m128i*>(qi.data());
  const __m128i low_byte = _mm_set1_epi16(0xFF);
  const __m128i a =
      _mm_and_si128(_mm_packs_epi32(_mm_loadu_si128(in), _mm_loadu_si128(in + 1)), low_byte);
  const __m128i b =
      _mm_and_si128(_mm_packs_epi32(_mm_loadu_si128(in + 2), _mm_loadu_si128(in + 3)), low_byte);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out), _mm_packus_epi16(a, b));
#else
  for (Eigen::Index k = 0; k < block; ++k) out[k] = static_cast<std::uint8_t>(qi[k]);
#endif
}

// clip(rint(x / s) + zp, lo, hi) as clip((x / s + magic) - (magic - zp), lo, hi), all float32:
//  - |x / s| <= 2^22: the sum lies in [2^23, 2^24], where floats are exactly the integers, so the
//    addition rounds x / s to an integer (nearest, ties to even: the sum has the parity of the
//    rounded quotient), and subtracting magic - zp is exact: the result is rint(x / s) + zp;
//  - x / s > 2^22 (or +inf): the result is >= 2^24 - (magic + 128) > 255 and saturates to hi, as
//    rint(x / s) + zp does; < -2^22 (or -inf) likewise saturates to lo;
//  - NaN stays NaN, and the max with lo is lo: said explicitly (PropagateNumbers), as the plain max
//    returns its first operand for a NaN on x86 (maxps) but NaN on ARM64 (fmax), where NaN would then
//    reach the integer conversion. The reference also maps NaN to lo.
// Stores the bytes and returns the clipped integers (as floats) for the error measurement.
template <class Values, class Scale, class Shift>
EIGEN_ALWAYS_INLINE block_f quantize_block(const Values& v, const Scale& scale,
                                           const Shift& shift, const block_f& lo, float hi,
                                           std::uint8_t* out) {
  using max_numbers = Eigen::internal::scalar_max_op<float, float, Eigen::PropagateNumbers>;
  const block_f q = lo.binaryExpr((v / scale + magic) - shift, max_numbers()).min(hi);
  store_bytes(q, out);
  return q;
}

// Quantizes x[0 .. n) with one scale, adding the error to `sums` when Measure; returns true when
// a non-finite value was seen. Tail element i goes to lane i % block, like a block element.
template <bool Measure, class Src>
EIGEN_ALWAYS_INLINE bool quantize_span(Src x, std::size_t n, float scale, std::int32_t zero_point,
                                       clip_range clip, std::uint8_t* out, lane_sums& sums) {
  const float shift = shift_for(zero_point);
  const auto zp = static_cast<float>(zero_point);
  const block_f lo = block_f::Constant(static_cast<float>(clip.lo));
  const auto hi = static_cast<float>(clip.hi);
  block_f poison = block_f::Zero();
  lane_sums acc = sums;  // a copy only ever used whole-block stays in registers
  std::size_t i = 0;
  for (; i + block_size <= n; i += block_size) {
    const auto v = x.block_at(i);
    poison += v - v;
    const block_f q = quantize_block(v, scale, shift, lo, hi, out + i);
    if constexpr (Measure) acc.add(v, dequantize_block(q, zp, scale));
  }
  bool bad = poisoned(poison);
  if (i < n) {
    tail_block tail;
    for (std::size_t k = 0; i < n; ++i, ++k) {
      const float v = x.at(i);
      const float q = quantize_value(v, scale, zero_point, clip);
      out[i] = low_byte(q);
      if constexpr (Measure) tail.set(k, v, (q - zp) * scale);
      bad = bad || !is_finite(v);
    }
    if constexpr (Measure) acc.add(tail.x, tail.dq);
  }
  if constexpr (Measure) sums = acc;
  return bad;
}

template <bool Measure, class Src>
std::int64_t quantize_in(Src x, std::size_t n, float scale, std::int32_t zero_point,
                         clip_range clip, std::uint8_t* out, error_sums* err) {
  lane_sums sums;
  const bool bad = quantize_span<Measure>(x, n, scale, zero_point, clip, out, sums);
  if constexpr (Measure) sums.add_to(*err);
  return bad ? first_nonfinite_in(x, n) : no_index;
}

std::int64_t quantize(std::span<const float> x, float scale, std::int32_t zero_point,
                      clip_range clip, std::uint8_t* out, error_sums* err) {
  const floats_at src{x.data()};
  return err != nullptr ? quantize_in<true>(src, x.size(), scale, zero_point, clip, out, err)
                        : quantize_in<false>(src, x.size(), scale, zero_point, clip, out, err);
}

std::int64_t quantize_bytes(const std::byte* x, std::size_t count, float scale,
                            std::int32_t zero_point, clip_range clip, std::uint8_t* out,
                            error_sums* err) {
  const bytes_at src{x};
  return err != nullptr ? quantize_in<true>(src, count, scale, zero_point, clip, out, err)
                        : quantize_in<false>(src, count, scale, zero_point, clip, out, err);
}

template <bool Measure>
std::int64_t quantize_rows_with(const float* x, std::size_t rows, std::size_t cols,
                                const float* scales, const std::int32_t* zero_points,
                                clip_range clip, std::uint8_t* out, error_sums* err) {
  lane_sums sums;  // one set for all rows: short rows would otherwise pay a reduction each
  bool bad = false;
  for (std::size_t r = 0; r < rows; ++r) {
    const float* row = x + r * cols;
    bad = quantize_span<Measure>(floats_at{row}, cols, scales[r], zero_points[r], clip,
                                 out + r * cols, sums) ||
          bad;
  }
  if constexpr (Measure) sums.add_to(*err);
  return bad ? first_nonfinite(x, rows * cols) : no_index;
}

std::int64_t quantize_rows(const float* x, std::size_t rows, std::size_t cols, const float* scales,
                           const std::int32_t* zero_points, clip_range clip, std::uint8_t* out,
                           error_sums* err) {
  return err != nullptr
             ? quantize_rows_with<true>(x, rows, cols, scales, zero_points, clip, out, err)
             : quantize_rows_with<false>(x, rows, cols, scales, zero_points, clip, out, err);
}

// Columns [c0, c0 + width) of every row; scales, zero_points and shifts start at column c0.
// Column c of the tile accumulates into lane c % block.
template <bool Measure, class Src>
EIGEN_ALWAYS_INLINE bool quantize_column_tile(Src x, std::size_t rows, std::size_t cols,
                                              std::size_t c0, std::size_t width,
                                              const float* scales, const std::int32_t* zero_points,
                                              const float* shifts, clip_range clip,
                                              std::uint8_t* out, lane_sums& sums) {
  const block_f lo = block_f::Constant(static_cast<float>(clip.lo));
  const auto hi = static_cast<float>(clip.hi);
  constexpr std::size_t sweep = 4;
  block_f poison = block_f::Zero();
  lane_sums acc = sums;  // see quantize_span
  bool bad = false;
  for (std::size_t r = 0; r < rows; r += sweep) {
    const std::size_t n = std::min(sweep, rows - r);
    const Src row0 = x.plus(r * cols + c0);
    std::uint8_t* dst0 = out + r * cols + c0;
    std::size_t c = 0;
    for (; c + block_size <= width; c += block_size) {
      const block_f scale = const_block_map(scales + c);
      const block_f shift = const_block_map(shifts + c);
      const block_f zp = magic - shift;  // exact: both are integers in [2^23, 2^24]
      for (std::size_t k = 0; k < n; ++k) {
        const auto v = row0.block_at(k * cols + c);
        poison += v - v;
        const block_f q = quantize_block(v, scale, shift, lo, hi, dst0 + k * cols + c);
        if constexpr (Measure) acc.add(v, dequantize_block(q, zp, scale));
      }
    }
    if (c == width) continue;
    for (std::size_t k = 0; k < n; ++k) {
      tail_block tail;
      for (std::size_t t = c; t < width; ++t) {
        const float v = row0.at(k * cols + t);
        const float q = quantize_value(v, scales[t], zero_points[t], clip);
        dst0[k * cols + t] = low_byte(q);
        if constexpr (Measure) {
          tail.set(t - c, v, (q - static_cast<float>(zero_points[t])) * scales[t]);
        }
        bad = bad || !is_finite(v);
      }
      if constexpr (Measure) acc.add(tail.x, tail.dq);
    }
  }
  if constexpr (Measure) sums = acc;
  return bad || poisoned(poison);
}

template <bool Measure, class Src>
std::int64_t quantize_columns_in(Src x, std::size_t rows, std::size_t cols, const float* scales,
                                 const std::int32_t* zero_points, clip_range clip,
                                 std::uint8_t* out, error_sums* err) {
  std::vector<float> shifts(cols);
  for (std::size_t c = 0; c < cols; ++c) shifts[c] = shift_for(zero_points[c]);
  lane_sums sums;
  bool bad = false;
  for (std::size_t c0 = 0; c0 < cols; c0 += column_tile) {
    const std::size_t width = std::min(column_tile, cols - c0);
    bad = quantize_column_tile<Measure>(x, rows, cols, c0, width, scales + c0, zero_points + c0,
                                        shifts.data() + c0, clip, out, sums) ||
          bad;
  }
  if constexpr (Measure) sums.add_to(*err);
  return bad ? first_nonfinite_in(x, rows * cols) : no_index;
}

std::int64_t quantize_columns(const float* x, std::size_t rows, std::size_t cols,
                              const float* scales, const std::int32_t* zero_points, clip_range clip,
                              std::uint8_t* out, error_sums* err) {
  const floats_at src{x};
  return err != nullptr
             ? quantize_columns_in<true>(src, rows, cols, scales, zero_points, clip, out, err)
             : quantize_columns_in<false>(src, rows, cols, scales, zero_points, clip, out, err);
}

std::int64_t quantize_columns_bytes(const std::byte* x, std::size_t rows, std::size_t cols,
                                    const float* scales, const std::int32_t* zero_points,
                                    clip_range clip, std::uint8_t* out, error_sums* err) {
  const bytes_at src{x};
  return err != nullptr
             ? quantize_columns_in<true>(src, rows, cols, scales, zero_points, clip, out, err)
             : quantize_columns_in<false>(src, rows, cols, scales, zero_points, clip, out, err);
}

constexpr kernel_table eigen_table{
    "eigen",       minmax,        minmax_rows,          minmax_columns,
    quantize,      quantize_rows, quantize_columns,     minmax_bytes,
    minmax_columns_bytes, quantize_bytes, quantize_columns_bytes,
};

}  // namespace

const kernel_table& eigen_kernels() noexcept { return eigen_table; }

}  // namespace mq::kernels
