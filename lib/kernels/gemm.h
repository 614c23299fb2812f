// Float32 kernels behind the executor: matrix products (MatMul, Gemm, Conv as an implicit im2col
// product), depthwise convolution, and the transcendental element-wise functions.
//
// As for the quantize kernels (kernels.h), every table implements one contract and
// `reference_float_kernels()` (gemm_reference.cpp: plain loops, float accumulation in k order) is
// the executable spec and the test oracle. Vector tables may sum in another order and use fused
// multiply-add, so products agree with the reference within a rounding bound, not bit for bit:
// |c - ref| <= 2 * k * eps * sum_k |a||b| (+ the same for the epilogue functions, below). The
// property tests (tests/unit/test_float_kernels.cpp) check every table against that bound on random
// and adversarial data. `active_float_kernels()` picks the table once per process, from
// MQ_KERNELS like the quantize kernels.
//
// Private header: library code and tests only.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mq::kernels {

/// Applied to each element of a product as it is stored (the fused Conv/Gemm epilogue), after the
/// per-row bias. sigmoid(x) = 1 / (1 + exp(-x)); silu(x) = x * sigmoid(x); hard_sigmoid(x) =
/// max(0, min(1, alpha * x + beta)); hard_swish(x) = x * hard_sigmoid(x) with alpha 1/6, beta 0.5;
/// clip: min(max(x, alpha), beta); leaky_relu: x < 0 ? alpha * x : x. Vector tables compute the
/// transcendental ones within 4 ulp of the float32 result of the formula (see property tests).
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

struct float_kernel_table {
  const char* name;

  /// Bytes of the packed form of an M x K A operand (a table's own layout).
  std::size_t (*packed_a_bytes)(std::int64_t m, std::int64_t k);
  /// Packs A once (weights): `dst` has packed_a_bytes(m, k) bytes, 64-byte aligned.
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
  /// [c_begin, c_end) (threads split the channels). y is channels x out_h x out_w.
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

/// The table MQ_KERNELS selects (thread-safe, chosen once): "reference" gives the reference table;
/// otherwise the fastest this CPU runs.
const float_kernel_table& active_float_kernels();

/// The scalar epilogue, shared by the tables' tails: act(v).
float activate(activation act, float v) noexcept;

}  // namespace mq::kernels
