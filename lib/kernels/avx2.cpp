// AVX2 versions of the hot kernels, chosen at run time (dispatch.cpp) when the CPU has AVX2 and
// the build's own SIMD level (MQ_SIMD_FLAGS) is lower. The default build targets SSE2, where
// quantizing is bound by 4-lane float32 division; AVX2 divides 8 lanes at a time.
//
// Written with intrinsics, not Eigen: Eigen picks its packet type from the build's flags, and one
// library cannot hold Eigen code compiled for two SIMD levels without breaking the one-definition
// rule (the linker would keep one copy of each inline function, maybe the AVX2 one). So this file
// is compiled with the build's flags like any other, and only the functions below, all internal
// to it, carry `target("avx2")`; no inline function shared with other files is compiled for AVX2.
//
// Contract: the same as eigen.cpp (kernels.h): bytes, min/max and indices bit-identical to the
// reference. The same formula as eigen.cpp's quantize_block, lane for lane. Per-tensor quantize
// measures the error itself, in eigen.cpp's 16 float64 lanes; the per-row and per-column kernels
// hand calls that measure (err != null) to the Eigen kernels.
#include "kernels/kernels.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define MQ_AVX2_KERNELS 1
#include <immintrin.h>

#include "kernels/vector_common.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>
#endif

namespace mq::kernels {

#if defined(MQ_AVX2_KERNELS)
namespace {

#define MQ_AVX2 __attribute__((target("avx2"), always_inline)) inline
#define MQ_AVX2_FN __attribute__((target("avx2")))

constexpr float infinity = std::numeric_limits<float>::infinity();
using common::first_nonfinite_in;
using common::low_byte;
using common::magic;
using common::positive_zero;
using common::quantize_value;
using common::shift_for;
// Widest column range a column kernel works on at once (its per-column arrays stay in L2 while
// the rows stream through; narrower tiles were measured slower: shorter runs per row).
constexpr std::size_t column_tile = 8192;
// Rows a column kernel reads per sweep: the per-column minima/maxima, scales and shifts are then
// loaded once per 8 rows. 8 rows measured 25 % (min/max) and 9 % (quantize) faster than 4.
constexpr std::size_t sweep = 8;

// ---- where the values come from (see eigen.cpp) ----

struct floats_at {
  const float* p;
  MQ_AVX2 __m256 load8(std::size_t i) const { return _mm256_loadu_ps(p + i); }
  float at(std::size_t i) const { return p[i]; }
  floats_at plus(std::size_t i) const { return {p + i}; }
};

// Float32 values at any address. The pointer handed to the unaligned load only carries the
// address (the intrinsic takes any address); scalars are read with memcpy.
struct bytes_at {
  const std::byte* p;
  MQ_AVX2 __m256 load8(std::size_t i) const {
    return _mm256_loadu_ps(reinterpret_cast<const float*>(p + i * sizeof(float)));
  }
  float at(std::size_t i) const { return load_float(p, i); }
  bytes_at plus(std::size_t i) const { return {p + i * sizeof(float)}; }
};

// `v - v` is 0 for a finite v and NaN otherwise; NaN sticks in the sum (see eigen.cpp).
MQ_AVX2 __m256 poison_of(__m256 v) { return _mm256_sub_ps(v, v); }
MQ_AVX2 bool poisoned(__m256 sum) { return _mm256_movemask_ps(_mm256_cmp_ps(sum, sum, _CMP_UNORD_Q)) != 0; }

MQ_AVX2 float lowest(__m256 v) {
  __m128 m = _mm_min_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_min_ps(m, _mm_movehl_ps(m, m));
  return _mm_cvtss_f32(_mm_min_ss(m, _mm_shuffle_ps(m, m, 1)));
}

MQ_AVX2 float highest(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  return _mm_cvtss_f32(_mm_max_ss(m, _mm_shuffle_ps(m, m, 1)));
}

// ---- min/max ----

template <class Src>
MQ_AVX2_FN minmax_result minmax_in(Src x, std::size_t n) {
  __m256 lo0 = _mm256_set1_ps(infinity), lo1 = lo0;
  __m256 hi0 = _mm256_set1_ps(-infinity), hi1 = hi0;
  __m256 poison = _mm256_setzero_ps();
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256 a = x.load8(i);
    const __m256 b = x.load8(i + 8);
    lo0 = _mm256_min_ps(lo0, a);
    lo1 = _mm256_min_ps(lo1, b);
    hi0 = _mm256_max_ps(hi0, a);
    hi1 = _mm256_max_ps(hi1, b);
    poison = _mm256_add_ps(poison, _mm256_add_ps(poison_of(a), poison_of(b)));
  }
  float mn = lowest(_mm256_min_ps(lo0, lo1));
  float mx = highest(_mm256_max_ps(hi0, hi1));
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

std::int64_t minmax_rows(const float* x, std::size_t rows, std::size_t cols, float* mins, float* maxs) {
  bool bad = false;
  for (std::size_t r = 0; r < rows; ++r) {
    const minmax_result row = minmax(std::span<const float>(x + r * cols, cols));
    mins[r] = row.min;
    maxs[r] = row.max;
    bad = bad || row.first_nonfinite != no_index;
  }
  return bad ? first_nonfinite(x, rows * cols) : no_index;
}

// Folds `count` (1 to Rows) rows of columns [0, width) into the running mins/maxs, 8 columns at
// a time (the rows beyond `count` repeat the first: min/max do not mind). Eight rows per sweep
// halve the accumulator traffic of four. Returns true when a non-finite value was seen.
template <std::size_t Rows, class Src>
MQ_AVX2_FN bool fold_rows(Src row0, std::size_t stride, std::size_t count, std::size_t width, float* mins,
                          float* maxs) {
  Src row[Rows];
  for (std::size_t k = 0; k < Rows; ++k) row[k] = k < count ? row0.plus(k * stride) : row0;
  __m256 poison = _mm256_setzero_ps();
  std::size_t c = 0;
  for (; c + 8 <= width; c += 8) {
    __m256 v[Rows];
    for (std::size_t k = 0; k < Rows; ++k) v[k] = row[k].load8(c);
    __m256 lo = v[0], hi = v[0], sum = v[0];
    for (std::size_t k = 1; k < Rows; ++k) {
      lo = _mm256_min_ps(lo, v[k]);
      hi = _mm256_max_ps(hi, v[k]);
      sum = _mm256_add_ps(sum, v[k]);  // a finite sum that overflows only causes a needless rescan
    }
    _mm256_storeu_ps(mins + c, _mm256_min_ps(_mm256_loadu_ps(mins + c), lo));
    _mm256_storeu_ps(maxs + c, _mm256_max_ps(_mm256_loadu_ps(maxs + c), hi));
    poison = _mm256_add_ps(poison, poison_of(sum));
  }
  bool bad = poisoned(poison);
  for (; c < width; ++c) {
    for (std::size_t k = 0; k < count; ++k) {
      const float v = row[k].at(c);
      mins[c] = std::min(mins[c], v);
      maxs[c] = std::max(maxs[c], v);
      bad = bad || !is_finite(v);
    }
  }
  return bad;
}

template <class Src>
std::int64_t minmax_columns_in(Src x, std::size_t rows, std::size_t cols, float* mins, float* maxs) {
  std::fill(mins, mins + cols, infinity);
  std::fill(maxs, maxs + cols, -infinity);
  bool bad = false;
  for (std::size_t c0 = 0; c0 < cols; c0 += column_tile) {
    const std::size_t width = std::min(column_tile, cols - c0);
    for (std::size_t r = 0; r < rows; r += sweep) {
      bad = fold_rows<sweep>(x.plus(r * cols + c0), cols, std::min(sweep, rows - r), width, mins + c0,
                      maxs + c0) ||
            bad;
    }
  }
  // Zero results are +0 (kernels.h): which zero survives depends on the visiting order.
  for (std::size_t c = 0; c < cols; ++c) {
    mins[c] = positive_zero(mins[c]);
    maxs[c] = positive_zero(maxs[c]);
  }
  return bad ? first_nonfinite_in(x, rows * cols) : no_index;
}

std::int64_t minmax_columns(const float* x, std::size_t rows, std::size_t cols, float* mins, float* maxs) {
  return minmax_columns_in(floats_at{x}, rows, cols, mins, maxs);
}

std::int64_t minmax_columns_bytes(const std::byte* x, std::size_t rows, std::size_t cols, float* mins,
                                  float* maxs) {
  return minmax_columns_in(bytes_at{x}, rows, cols, mins, maxs);
}

// ---- quantize ----

// clip((x / s + magic) - shift, lo, hi) for 8 lanes: eigen.cpp's quantize_block. max(q, lo)
// returns lo when q is NaN (the second operand), as the reference does.
MQ_AVX2 __m256 quantize8(__m256 x, __m256 scale, __m256 shift, __m256 lo, __m256 hi) {
  const __m256 q = _mm256_sub_ps(_mm256_add_ps(_mm256_div_ps(x, scale), _mm256_set1_ps(magic)), shift);
  return _mm256_min_ps(_mm256_max_ps(q, lo), hi);
}

// The low bytes of 16 integral values in [-128, 255]: pack to int16 (exact), keep the low byte,
// restore the order the in-lane packs interleaved, pack to bytes.
MQ_AVX2 __m128i low_bytes16(__m256 a, __m256 b) {
  __m256i words = _mm256_packs_epi32(_mm256_cvtps_epi32(a), _mm256_cvtps_epi32(b));  // a0-3 b0-3 | a4-7 b4-7
  words = _mm256_and_si256(words, _mm256_set1_epi16(0xFF));
  words = _mm256_permute4x64_epi64(words, 0xD8);  // a0-3 a4-7 | b0-3 b4-7
  return _mm_packus_epi16(_mm256_castsi256_si128(words), _mm256_extracti128_si256(words, 1));
}

// Stores 16 bytes. Streaming (non-temporal) stores skip reading the destination's cache lines
// before overwriting them, a sixth of the memory traffic of quantizing (per-tensor quantize:
// 3.9 -> 3.2-3.5 ms per 64 MiB); they need 16-byte aligned addresses and whole lines written in
// order, which the per-tensor kernel does. The kernel that streams ends with an sfence, so the
// bytes are visible to any thread that synchronizes with it afterwards.
template <bool Stream>
MQ_AVX2 void store16(__m128i bytes, std::uint8_t* out) {
  if constexpr (Stream) {
    _mm_stream_si128(reinterpret_cast<__m128i*>(out), bytes);
  } else {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out), bytes);
  }
}

bool aligned16(const void* p) { return (reinterpret_cast<std::uintptr_t>(p) & 15) == 0; }

// The error sums (kernels.h) in the 16 float64 lanes of eigen.cpp's lane_sums, element i of a
// block of 16 in lane i, added in the same order (no FMA: the target is plain AVX2), so per-tensor
// sums equal the Eigen kernels' bit for bit.
struct lane_sums {
  __m256d signal[4];
  __m256d noise[4];
  __m256d worst[4];
};

MQ_AVX2 lane_sums zero_sums() {
  lane_sums s;
  for (int k = 0; k < 4; ++k) s.signal[k] = s.noise[k] = s.worst[k] = _mm256_setzero_pd();
  return s;
}

// One block: inputs x (lanes 0-7 in x0, 8-15 in x1) and their dequantized values.
MQ_AVX2 void add_block(lane_sums& s, __m256 x0, __m256 x1, __m256 dq0, __m256 dq1) {
  const __m256d xd[4] = {_mm256_cvtps_pd(_mm256_castps256_ps128(x0)), _mm256_cvtps_pd(_mm256_extractf128_ps(x0, 1)),
                         _mm256_cvtps_pd(_mm256_castps256_ps128(x1)), _mm256_cvtps_pd(_mm256_extractf128_ps(x1, 1))};
  const __m256d dd[4] = {_mm256_cvtps_pd(_mm256_castps256_ps128(dq0)), _mm256_cvtps_pd(_mm256_extractf128_ps(dq0, 1)),
                         _mm256_cvtps_pd(_mm256_castps256_ps128(dq1)), _mm256_cvtps_pd(_mm256_extractf128_ps(dq1, 1))};
  const __m256d sign = _mm256_set1_pd(-0.0);
  for (int k = 0; k < 4; ++k) {
    const __m256d e = _mm256_sub_pd(xd[k], dd[k]);
    s.signal[k] = _mm256_add_pd(s.signal[k], _mm256_mul_pd(xd[k], xd[k]));
    s.noise[k] = _mm256_add_pd(s.noise[k], _mm256_mul_pd(e, e));
    s.worst[k] = _mm256_max_pd(s.worst[k], _mm256_andnot_pd(sign, e));
  }
}

// Lanes in a fixed order, as eigen.cpp's lane_sums::add_to.
MQ_AVX2_FN void add_to(const lane_sums& s, error_sums& err) {
  alignas(32) double signal[16], noise[16], worst[16];
  for (int k = 0; k < 4; ++k) {
    _mm256_store_pd(signal + 4 * k, s.signal[k]);
    _mm256_store_pd(noise + 4 * k, s.noise[k]);
    _mm256_store_pd(worst + 4 * k, s.worst[k]);
  }
  common::add_lanes(signal, noise, worst, 16, err);
}

// Quantizes x[0 .. n) with one scale; true when a non-finite value was seen. With Stream, `out`
// is 16-byte aligned. With Measure, adds the error sums to *err (tail element k in lane k of a
// zero-padded block, as in eigen.cpp).
template <bool Measure, bool Stream, class Src>
MQ_AVX2_FN bool quantize_span(Src x, std::size_t n, float scale, std::int32_t zero_point, clip_range clip,
                              std::uint8_t* out, error_sums* err) {
  const __m256 s = _mm256_set1_ps(scale);
  const __m256 shift = _mm256_set1_ps(shift_for(zero_point));
  const __m256 zp = _mm256_set1_ps(static_cast<float>(zero_point));
  const __m256 lo = _mm256_set1_ps(static_cast<float>(clip.lo));
  const __m256 hi = _mm256_set1_ps(static_cast<float>(clip.hi));
  __m256 poison = _mm256_setzero_ps();
  lane_sums sums = zero_sums();
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256 a = x.load8(i);
    const __m256 b = x.load8(i + 8);
    poison = _mm256_add_ps(poison, _mm256_add_ps(poison_of(a), poison_of(b)));
    const __m256 qa = quantize8(a, s, shift, lo, hi);
    const __m256 qb = quantize8(b, s, shift, lo, hi);
    store16<Stream>(low_bytes16(qa, qb), out + i);
    if constexpr (Measure) {
      // DequantizeLinear: (q - zero_point) * scale in float32; q - zp is exact (small integers).
      add_block(sums, a, b, _mm256_mul_ps(_mm256_sub_ps(qa, zp), s), _mm256_mul_ps(_mm256_sub_ps(qb, zp), s));
    }
  }
  bool bad = poisoned(poison);
  if (i < n) {
    alignas(32) float tail_x[16] = {};
    alignas(32) float tail_dq[16] = {};
    for (std::size_t k = 0; i < n; ++i, ++k) {
      const float v = x.at(i);
      const float q = quantize_value(v, scale, zero_point, clip);
      out[i] = low_byte(q);
      tail_x[k] = v;
      tail_dq[k] = (q - static_cast<float>(zero_point)) * scale;
      bad = bad || !is_finite(v);
    }
    if constexpr (Measure) {
      add_block(sums, _mm256_load_ps(tail_x), _mm256_load_ps(tail_x + 8), _mm256_load_ps(tail_dq),
                _mm256_load_ps(tail_dq + 8));
    }
  }
  if constexpr (Measure) add_to(sums, *err);
  return bad;
}

// Spans of at least this many bytes are written with streaming stores (see store16): smaller
// outputs are likely read again soon, from the cache.
constexpr std::size_t stream_bytes = 256 * 1024;

template <bool Measure, class Src>
bool quantize_any(Src x, std::size_t n, float scale, std::int32_t zero_point, clip_range clip, std::uint8_t* out,
                  error_sums* err) {
  if (n < stream_bytes || !aligned16(out)) {
    return quantize_span<Measure, false>(x, n, scale, zero_point, clip, out, err);
  }
  const bool bad = quantize_span<Measure, true>(x, n, scale, zero_point, clip, out, err);
  _mm_sfence();
  return bad;
}

template <class Src>
std::int64_t quantize_in(Src x, std::size_t n, float scale, std::int32_t zero_point, clip_range clip,
                         std::uint8_t* out, error_sums* err) {
  const bool bad = err != nullptr ? quantize_any<true>(x, n, scale, zero_point, clip, out, err)
                                  : quantize_any<false>(x, n, scale, zero_point, clip, out, err);
  return bad ? first_nonfinite_in(x, n) : no_index;
}

std::int64_t quantize(std::span<const float> x, float scale, std::int32_t zero_point, clip_range clip,
                      std::uint8_t* out, error_sums* err) {
  return quantize_in(floats_at{x.data()}, x.size(), scale, zero_point, clip, out, err);
}

std::int64_t quantize_bytes(const std::byte* x, std::size_t count, float scale, std::int32_t zero_point,
                            clip_range clip, std::uint8_t* out, error_sums* err) {
  return quantize_in(bytes_at{x}, count, scale, zero_point, clip, out, err);
}

std::int64_t quantize_rows(const float* x, std::size_t rows, std::size_t cols, const float* scales,
                           const std::int32_t* zero_points, clip_range clip, std::uint8_t* out, error_sums* err) {
  if (err != nullptr) return eigen_kernels().quantize_rows(x, rows, cols, scales, zero_points, clip, out, err);
  bool bad = false;
  for (std::size_t r = 0; r < rows; ++r) {
    bad = quantize_span<false, false>(floats_at{x + r * cols}, cols, scales[r], zero_points[r], clip, out + r * cols,
                                      nullptr) ||
          bad;
  }
  return bad ? first_nonfinite(x, rows * cols) : no_index;
}

// Columns [0, width) of `count` (1 to sweep) consecutive rows starting at row0 / dst0: each block
// of 16 columns loads its scales and shifts once for the rows. (Streaming stores, which help the
// per-tensor kernel, made this one slower: 5.0 instead of 4.4 ms per 64 MiB.)
template <class Src>
MQ_AVX2_FN bool quantize_column_rows(Src row0, std::size_t stride, std::size_t count, std::size_t width,
                                     const float* scales, const float* shifts, const std::int32_t* zero_points,
                                     clip_range clip, std::uint8_t* dst0) {
  const __m256 lo = _mm256_set1_ps(static_cast<float>(clip.lo));
  const __m256 hi = _mm256_set1_ps(static_cast<float>(clip.hi));
  __m256 poison = _mm256_setzero_ps();
  std::size_t c = 0;
  for (; c + 16 <= width; c += 16) {
    const __m256 s0 = _mm256_loadu_ps(scales + c);
    const __m256 s1 = _mm256_loadu_ps(scales + c + 8);
    const __m256 h0 = _mm256_loadu_ps(shifts + c);
    const __m256 h1 = _mm256_loadu_ps(shifts + c + 8);
    for (std::size_t k = 0; k < count; ++k) {
      const Src row = row0.plus(k * stride);
      const __m256 a = row.load8(c);
      const __m256 b = row.load8(c + 8);
      poison = _mm256_add_ps(poison, _mm256_add_ps(poison_of(a), poison_of(b)));
      store16<false>(low_bytes16(quantize8(a, s0, h0, lo, hi), quantize8(b, s1, h1, lo, hi)), dst0 + k * stride + c);
    }
  }
  bool bad = poisoned(poison);
  for (std::size_t k = 0; k < count && c < width; ++k) {
    const Src row = row0.plus(k * stride);
    for (std::size_t t = c; t < width; ++t) {
      const float v = row.at(t);
      dst0[k * stride + t] = low_byte(quantize_value(v, scales[t], zero_points[t], clip));
      bad = bad || !is_finite(v);
    }
  }
  return bad;
}

template <class Src>
std::int64_t quantize_columns_in(Src x, std::size_t rows, std::size_t cols, const float* scales,
                                 const std::int32_t* zero_points, clip_range clip, std::uint8_t* out) {
  std::vector<float> shifts(cols);
  for (std::size_t c = 0; c < cols; ++c) shifts[c] = shift_for(zero_points[c]);
  bool bad = false;
  for (std::size_t c0 = 0; c0 < cols; c0 += column_tile) {
    const std::size_t width = std::min(column_tile, cols - c0);
    for (std::size_t r = 0; r < rows; r += sweep) {
      bad = quantize_column_rows(x.plus(r * cols + c0), cols, std::min(sweep, rows - r), width,
                                 scales + c0, shifts.data() + c0, zero_points + c0, clip, out + r * cols + c0) ||
            bad;
    }
  }
  return bad ? first_nonfinite_in(x, rows * cols) : no_index;
}

std::int64_t quantize_columns(const float* x, std::size_t rows, std::size_t cols, const float* scales,
                              const std::int32_t* zero_points, clip_range clip, std::uint8_t* out, error_sums* err) {
  if (err != nullptr) return eigen_kernels().quantize_columns(x, rows, cols, scales, zero_points, clip, out, err);
  return quantize_columns_in(floats_at{x}, rows, cols, scales, zero_points, clip, out);
}

std::int64_t quantize_columns_bytes(const std::byte* x, std::size_t rows, std::size_t cols, const float* scales,
                                    const std::int32_t* zero_points, clip_range clip, std::uint8_t* out,
                                    error_sums* err) {
  if (err != nullptr) {
    return eigen_kernels().quantize_columns_bytes(x, rows, cols, scales, zero_points, clip, out, err);
  }
  return quantize_columns_in(bytes_at{x}, rows, cols, scales, zero_points, clip, out);
}

constexpr kernel_table avx2_table{
    "avx2",         minmax,        minmax_rows,          minmax_columns,
    quantize,       quantize_rows, quantize_columns,     minmax_bytes,
    minmax_columns_bytes, quantize_bytes, quantize_columns_bytes,
};

}  // namespace

const kernel_table* avx2_kernels() noexcept {
  static const bool supported = __builtin_cpu_supports("avx2") != 0;
  return supported ? &avx2_table : nullptr;
}

#else

const kernel_table* avx2_kernels() noexcept { return nullptr; }

#endif

}  // namespace mq::kernels
