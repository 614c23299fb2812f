// Float32 kernels behind the executor: matrix products (MatMul, Gemm, Conv as an implicit im2col
// product), depthwise convolution, and the transcendental element-wise functions.
//
// As for the quantize kernels (kernels.h), every table implements one contract and
// `reference_float_kernels()` (gemm_reference.cpp: plain loops, float accumulation in k order) is
// the executable spec and the test oracle. Four tables: reference; eigen (gemm_eigen.cpp: Eigen's
// GEMM and packets at the build's SIMD level, the portable one: SSE2, NEON...); avx2
// (gemm_avx2.cpp, AVX2+FMA intrinsics) and avx512 (gemm_avx512.cpp, AVX-512 F/DQ/BW/VL), both
// chosen at run time from the CPU whatever the build's level.
//
// Vector tables sum in another order and use fused multiply-add, so they agree with the reference
// within a rounding bound, not bit for bit. For a product element with s = sum_k a b (+ C) (+ bias):
//   |s_table - s_exact| <= 2 k eps sum_k |a||b| + 2 eps (|C| + |bias| + |s_exact|) + (k + 2) 2^-149,
// eps = 2^-24 (the last term: roundings in the subnormal range are absolute, not relative),
// as long as nothing overflows: when sum_k |a||b| + |C| + |bias| exceeds FLT_MAX / 4 the partial
// sums may overflow in one order and not another (inf, -inf, NaN or a finite value). An element is
// NaN wherever the exact (infinitely precise, inf-aware) value is NaN (0 * inf, inf - inf; the
// im2col padding zeros multiply A too), and +-inf exactly where it is. The activation then adds its
// own error (below). The property tests (tests/unit/test_float_kernels.cpp) check every table,
// reference included, against an exact float64 oracle with these bounds on random and adversarial
// data. `active_float_kernels()` picks the table once per process, from MQ_KERNELS (dispatch.cpp).
//
// Private header: library code and tests only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace mq::kernels {

/// Applied to each element of a product as it is stored (the fused Conv/Gemm epilogue), after the
/// per-row bias. sigmoid(x) = 1 / (1 + exp(-x)); silu(x) = x * sigmoid(x); hard_sigmoid(x) =
/// max(0, min(1, alpha * x + beta)); hard_swish(x) = x * hard_sigmoid(x) with alpha 1/6, beta 0.5;
/// clip: min(max(x, alpha), beta); leaky_relu: x < 0 ? alpha * x : x. Vector tables compute every
/// function within 4 ulp of the exact value of its formula at the (float) argument, plus an absolute
/// 2^-126 * max(1, |x|): results below the normal range need not be exact (exp may flush them to
/// 0, silu = x * sigmoid then carries that). hard_sigmoid and hard_swish round their linear
/// argument t = alpha x + beta (x / 6 + 0.5) in float before clamping, as the reference does, which
/// adds up to 2^-23 (|alpha x| + |beta|) (times |x| for hard_swish) near the lower clamp. NaN in, NaN out, except hard_sigmoid(NaN) = 1 (the
/// reference's std::min(1, NaN)); limits: exp(-inf) = 0, exp(+inf) and exp overflow = +inf,
/// sigmoid(-inf) = 0, sigmoid(+inf) = 1, tanh(+-inf) = +-1, erf(+-inf) = +-1, silu(-inf) = NaN
/// (the formula's -inf / inf), silu(+inf) = +inf. The reference's float formulas lose tiny results
/// (1 / (1 + exp(-x)) is 0 once exp(-x) overflows), within the same absolute slack.
enum class activation_kind : std::uint8_t { none, relu, clip, leaky_relu, sigmoid, silu, hard_sigmoid, hard_swish, tanh };

struct activation {
  activation_kind kind = activation_kind::none;
  float alpha = 0;
  float beta = 0;
};

/// The B operand (K x N) of a product as a dense row-major matrix: B[k, n] = data[k * ld + n], or
/// with `trans` B[k, n] = data[n * ld + k].
struct b_dense {
  const float* data = nullptr;
  std::int64_t ld = 0;
  bool trans = false;
};

/// The B operand as the im2col matrix of one CHW image, never built in memory: K = channels * kh *
/// kw rows, N = out_h * out_w columns, B[(c * kh + i) * kw + j, oy * out_w + ox] =
/// x[c, oy * stride_h - pad_top + i * dil_h, ox * stride_w - pad_left + j * dil_w], 0 outside the
/// image. A 1-D convolution is the case height = kh = out_h = 1.
struct b_im2col {
  const float* x = nullptr;
  std::int64_t channels = 0, height = 0, width = 0;
  std::int64_t kh = 1, kw = 1;
  std::int64_t stride_h = 1, stride_w = 1;
  std::int64_t pad_top = 0, pad_left = 0;
  std::int64_t dil_h = 1, dil_w = 1;
  std::int64_t out_h = 0, out_w = 0;
};

/// One product: C[m, n] = act(bias[m] + sum_k A[m, k] * B[k, n] (+ C[m, n] when accumulate)) for
/// m in [0, M), n in [n_begin, n_end); C is row-major with leading dimension ldc and c points at
/// C[0, 0] (columns outside the range are not touched). Threads split N by giving each a range.
struct gemm_args {
  std::int64_t m = 0, n = 0, k = 0;
  std::int64_t n_begin = 0, n_end = 0;
  float* c = nullptr;
  std::int64_t ldc = 0;
  const float* bias = nullptr;  ///< M values, or null
  bool accumulate = false;
  activation act;
};

/// A's layout (M x K): row-major a[m * lda + k], or with trans a[k * lda + m].
struct a_dense {
  const float* data = nullptr;
  std::int64_t lda = 0;
  bool trans = false;
};

/// One implementation of every float kernel. Pointers need no alignment beyond a float's unless
/// said. A product's column never depends on how N is split among calls (threads): every column
/// is summed in the same order whatever [n_begin, n_end) holds it, as long as the split points
/// are multiples of split_columns (callers that split N round to it).
struct float_kernel_table {
  const char* name;  ///< "reference", "eigen", "avx2" or "avx512"
  /// Split points of N that keep every column's bits: 1 for the reference and intrinsics tables;
  /// 256 for eigen, whose blocking follows the sizes it is given (on ARM64 its remainder rows sum
  /// in another order than its full blocks, so a column's bits depend on where a block starts).
  std::int64_t split_columns;

  /// Bytes of the packed form of an M x K A operand (a table's own layout).
  std::size_t (*packed_a_bytes)(std::int64_t m, std::int64_t k);
  /// Packs A once (weights): `dst` has packed_a_bytes(m, k) bytes, 64-byte aligned. The layout
  /// belongs to the table: a packed A feeds only the same table's gemm_packed_* (the intrinsics
  /// tables use panels of their micro-tile's rows, the others row-major), so code that packs
  /// weights keeps the table it packed them with (active_float_kernels() never changes within a
  /// process).
  void (*pack_a)(std::int64_t m, std::int64_t k, a_dense a, float* dst);

  /// C = act(bias + A * B) with A packed by this table's pack_a and B dense.
  void (*gemm_packed_dense)(const float* packed_a, b_dense b, const gemm_args& args);
  /// The same with B the implicit im2col matrix of an image (Conv).
  void (*gemm_packed_im2col)(const float* packed_a, const b_im2col& b, const gemm_args& args);
  /// C = act(bias + A * B) with both dense (MatMul of two activations: nothing to pack ahead).
  void (*gemm)(a_dense a, b_dense b, const gemm_args& args);

  /// Depthwise 2-D convolution of `channels` planes (one kh x kw filter each, weights
  /// w[c * kh * kw + i * kw + j]), y[c, oy, ox] = act(bias[c] + sum x[c, ...] * w[c, i, j]) with the
  /// geometry of b_im2col (its `channels` field counts the planes), for the channels in
  /// [c_begin, c_end) (threads split the channels). y is channels x out_h x out_w. Taps outside the
  /// image are skipped (not multiplied by a zero, unlike im2col's padding), in (i, j) order.
  void (*depthwise_conv)(const b_im2col& geometry, const float* w, const float* bias, activation act, float* y,
                         std::int64_t c_begin, std::int64_t c_end);

  /// y[i] = f(x[i]) for i < n (in place allowed: y == x).
  void (*exp)(const float* x, float* y, std::int64_t n);
  void (*sigmoid)(const float* x, float* y, std::int64_t n);
  void (*tanh)(const float* x, float* y, std::int64_t n);
  void (*erf)(const float* x, float* y, std::int64_t n);
  /// The epilogue alone: y[i] = act(x[i]).
  void (*apply_activation)(activation act, const float* x, float* y, std::int64_t n);
};

/// Plain loops (the spec).
const float_kernel_table& reference_float_kernels() noexcept;

/// Eigen at the build's SIMD level (always available).
const float_kernel_table& eigen_float_kernels() noexcept;

/// AVX2+FMA intrinsics, or null when the CPU (or the compiler) has no AVX2 or FMA.
const float_kernel_table* avx2_float_kernels() noexcept;

/// AVX-512 intrinsics, or null when the CPU (or the compiler) lacks AVX-512 F, DQ, BW or VL.
const float_kernel_table* avx512_float_kernels() noexcept;

/// The fastest table this CPU runs: avx512, else avx2, else eigen.
const float_kernel_table& default_float_kernels() noexcept;

/// The outcome of reading MQ_KERNELS for the float kernels (see kernel_selection).
struct float_kernel_selection {
  const float_kernel_table* table;
  std::string warning;  ///< for the user, empty if none
};

/// Maps a value of MQ_KERNELS to a float table: null or "" -> default_float_kernels(), "reference",
/// "eigen", "avx2", "avx512" -> that table (a faster one the CPU lacks falls back to the next
/// slower, avx512 -> avx2 -> eigen, with a warning), anything else -> reference plus a warning.
float_kernel_selection select_float_kernels(const char* env_value);

/// The table chosen from MQ_KERNELS at first use (thread-safe); a warning, if any, is printed to
/// stderr once.
const float_kernel_table& active_float_kernels();

/// The scalar epilogue, shared by the tables' tails: act(v).
float activate(activation act, float v) noexcept;

}  // namespace mq::kernels
