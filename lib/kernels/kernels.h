// Numeric kernels behind the quantizer: min/max reductions and float32 -> 8-bit quantization.
//
// Three implementations share one contract: `reference_kernels()` (reference.cpp, plain scalar
// code, the executable spec), `eigen_kernels()` (eigen.cpp, vectorized with Eigen at the build's
// SIMD level) and `avx2_kernels()` (avx2.cpp, AVX2 intrinsics, when the CPU has AVX2). Every kernel
// of the vector tables returns bit-identical results to its reference twin on every input,
// including the non-finite ones (the one exception: the last bits of the float64 error sums, see
// error_sums); tests/unit/test_kernels_property.cpp checks that, once per vector table.
// `active_kernels()` picks one table once per process (environment variable MQ_KERNELS).
//
// Private header: library code and tests only.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

namespace mq::kernels {

/// Returned in place of an element index when every input value is finite.
inline constexpr std::int64_t no_index = -1;

/// Saturation bounds of a quantize kernel, inclusive; within [-128, 255] so results fit a byte.
struct clip_range {
  std::int32_t lo;
  std::int32_t hi;
};

/// Minimum and maximum of a span of floats, and where its first non-finite value is.
struct minmax_result {
  float min;                     ///< +inf for an empty span
  float max;                     ///< -inf for an empty span
  std::int64_t first_nonfinite;  ///< index of the first NaN or +-inf, or `no_index`
};

/// Round-trip error of quantization, accumulated by the quantize kernels in the same pass over the
/// data (a second pass would cost as much as the quantization). For each element x with stored
/// integer q (clipped, before taking its low byte) and dq = float32(float(q - zero_point) * scale)
/// (ONNX DequantizeLinear), e = double(x) - double(dq): signal += x^2, noise += e^2,
/// worst = max(worst, |e|). Kernels add to the sums, never reset them.
///
/// Only meaningful when every input is finite. `worst` is exact and identical in both tables.
/// `signal` and `noise` are float64 sums whose last bits depend on the summation order: the
/// reference adds sequentially in row-major order; the Eigen kernels keep per-lane partial sums in
/// a fixed 16-lane array (16 whatever the vector width, so the order depends on the data and the
/// call sequence only) and add the lanes to *err at the end of each call. So the tables agree
/// within the rounding bound of a float64 sum of n nonnegative terms (|a - b| <= 2 n 2^-53
/// max(a, b)), not bit for bit. Whether the compiler contracts `s + e * e` into an FMA (GCC does
/// for C++ when the target has FMA, e.g. -march=native) also moves the last bits of `noise`
/// between builds; `signal` is immune (a float squared is exact in double).
struct error_sums {
  double signal = 0;  ///< sum of x^2
  double noise = 0;   ///< sum of e^2
  double worst = 0;   ///< max |e|
};

// Contract shared by every kernel below.
// - Matrices are row-major, `rows` x `cols`, densely packed (row r starts at x + r * cols).
// - Pointers need no particular alignment.
// - Min/max: a zero result is always +0 (which zero survives depends on the visiting order, which
//   vector code changes; +0 and -0 give the same scale and zero point anyway). When the input
//   holds a non-finite value the min/max outputs are unspecified; the returned index is exact.
// - Quantize: q = clip(round_half_even(x / scale) + zero_point, lo, hi), with the division, the
//   rounding and the addition done in float32, exactly like ONNX QuantizeLinear and numpy's
//   `(x.astype(float32) / scale).round() + zp` in ONNX Runtime's quantizer. The byte written is the
//   low 8 bits of q (two's complement for negative q). A NaN quotient is written as `lo`; +-inf
//   saturates. `scale` must be positive and `zero_point` within [clip.lo, clip.hi]. Nothing else is
//   assumed about the floating-point environment than the default round-to-nearest-even mode, which
//   the library never changes. `err` may be null (nothing is measured, at no cost); otherwise the
//   kernel adds every element's error to *err (see error_sums).
// - Every kernel returns the index of the first non-finite input value in row-major order
//   (`no_index` when all are finite) and still processes every element.

/// One implementation of every kernel; the two instances are selected once per process.
struct kernel_table {
  const char* name;  ///< "reference" or "eigen"

  /// Min and max of `x` plus the first non-finite index.
  minmax_result (*minmax)(std::span<const float> x);

  /// Per-row min/max: mins[r], maxs[r] over row r (`cols` values each); +inf/-inf when cols == 0.
  std::int64_t (*minmax_rows)(const float* x, std::size_t rows, std::size_t cols, float* mins,
                              float* maxs);

  /// Per-column min/max: mins[c], maxs[c] over column c; +inf/-inf when rows == 0. Sweeps rows
  /// keeping `cols` running minima and maxima (never strides down a column).
  std::int64_t (*minmax_columns)(const float* x, std::size_t rows, std::size_t cols, float* mins,
                                 float* maxs);

  /// Quantizes `x` with one scale and zero point into out[0 .. x.size()).
  std::int64_t (*quantize)(std::span<const float> x, float scale, std::int32_t zero_point,
                           clip_range clip, std::uint8_t* out, error_sums* err);

  /// Quantizes row r of the matrix with scales[r] and zero_points[r].
  std::int64_t (*quantize_rows)(const float* x, std::size_t rows, std::size_t cols,
                                const float* scales, const std::int32_t* zero_points,
                                clip_range clip, std::uint8_t* out, error_sums* err);

  /// Quantizes column c of the matrix with scales[c] and zero_points[c].
  std::int64_t (*quantize_columns)(const float* x, std::size_t rows, std::size_t cols,
                                   const float* scales, const std::int32_t* zero_points,
                                   clip_range clip, std::uint8_t* out, error_sums* err);

  // The per-tensor and per-column kernels again, for float32 values stored at any address: `x`
  // holds sizeof(float) bytes per value, in the host's byte order (ONNX raw_data on a
  // little-endian host). A model's raw_data is often not 4-byte aligned, and copying it to
  // aligned memory first costs about as much as quantizing it. Each returns exactly what its
  // float twin returns for the same values (bytes, min/max, index, error sums).

  /// minmax of `count` values.
  minmax_result (*minmax_bytes)(const std::byte* x, std::size_t count);

  /// minmax_columns of a rows x cols matrix.
  std::int64_t (*minmax_columns_bytes)(const std::byte* x, std::size_t rows, std::size_t cols,
                                       float* mins, float* maxs);

  /// quantize of `count` values.
  std::int64_t (*quantize_bytes)(const std::byte* x, std::size_t count, float scale,
                                 std::int32_t zero_point, clip_range clip, std::uint8_t* out,
                                 error_sums* err);

  /// quantize_columns of a rows x cols matrix.
  std::int64_t (*quantize_columns_bytes)(const std::byte* x, std::size_t rows, std::size_t cols,
                                         const float* scales, const std::int32_t* zero_points,
                                         clip_range clip, std::uint8_t* out, error_sums* err);
};

/// The scalar reference implementation (the spec).
const kernel_table& reference_kernels() noexcept;

/// The vectorized implementation (Eigen; SIMD level set by the build, SSE2 by default on x86-64).
const kernel_table& eigen_kernels() noexcept;

/// AVX2 kernels (avx2.cpp, intrinsics), or null when the CPU or the compiler has no AVX2. Calls
/// that measure the error go to the Eigen kernels.
const kernel_table* avx2_kernels() noexcept;

/// The table used when MQ_KERNELS is unset: the AVX2 one when the CPU has AVX2 and the build's own
/// SIMD level is lower (the default SSE2 build), else the Eigen one.
const kernel_table& default_kernels() noexcept;

/// The outcome of reading MQ_KERNELS: the table to use and a warning for the user (empty if none).
struct kernel_selection {
  const kernel_table* table;
  std::string warning;
};

/// Maps a value of MQ_KERNELS to a table: null or "" -> default_kernels(), "eigen" -> Eigen,
/// "avx2" -> AVX2 (Eigen plus a warning when the CPU has no AVX2), "avx512" -> default_kernels()
/// (no AVX-512 quantize table; the value selects the float kernels, gemm.h), "reference" -> reference,
/// anything else -> reference plus a warning naming the value (the slow, simple path is the safe
/// choice when the user clearly wanted something other than the default).
kernel_selection select_kernels(const char* env_value);

/// The table chosen from MQ_KERNELS at first use (thread-safe); a warning, if any, is printed to
/// stderr once.
const kernel_table& active_kernels();

/// True for every value other than NaN and +-inf.
inline bool is_finite(float v) noexcept { return std::isfinite(v); }

/// Float32 value `index` of `bytes` (any address; the byte kernels' storage, see kernel_table).
inline float load_float(const std::byte* bytes, std::size_t index) noexcept {
  float v;
  std::memcpy(&v, bytes + index * sizeof(float), sizeof v);
  return v;
}

/// The `count` float32 values at `bytes` (any address), copied to aligned floats.
inline std::vector<float> load_floats(const std::byte* bytes, std::size_t count) {
  std::vector<float> values(count);
  if (count != 0) std::memcpy(values.data(), bytes, count * sizeof(float));
  return values;
}

/// Index of the first non-finite value of x[0 .. n), or `no_index`.
inline std::int64_t first_nonfinite(const float* x, std::size_t n) noexcept {
  for (std::size_t i = 0; i < n; ++i) {
    if (!is_finite(x[i])) return static_cast<std::int64_t>(i);
  }
  return no_index;
}

}  // namespace mq::kernels
