// The portable vector float table (gemm.h), at the build's SIMD level: SSE2 by default on x86-64,
// whatever MQ_SIMD_FLAGS sets, NEON on ARM64. The table for CPUs without AVX2 and for other
// architectures; the intrinsics tables (gemm_avx2.cpp, gemm_avx512.cpp) win where they run.
//
// Products: Eigen's own blocked GEMM on matrices mapped over the caller's memory (pack_a keeps A
// row-major; the im2col matrix is built a block of columns at a time in a per-thread buffer,
// never whole). The bias and the activation then run over each row of C.
// Element-wise functions: the algorithms of float_math.inc on Eigen's packets (the same source as
// the intrinsics tables; Eigen provides the vector type, pldexp, the comparisons and selects).
// Eigen's own exp, logistic, tanh and erf are not used, being outside gemm.h's 4-ulp bound: its
// logistic is accurate in absolute terms only (thousands of ulp below x = -9), its tanh and erf
// 5-6 ulp off, and its AVX-512 exp clamps at +-88.38 (see vexp).
//
// Like eigen.cpp, compiled with the build's flags only (no target attributes): Eigen may be
// included here because every file including it sees the same SIMD level.
#include <Eigen/Core>
#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "kernels/gemm.h"

namespace mq::kernels {
namespace {

#define MQ_V inline
#define MQ_VFN

namespace ei = Eigen::internal;
using packet = ei::packet_traits<float>::type;
constexpr int lanes = ei::packet_traits<float>::size;

struct vmask {
  packet m;
};

struct vec {
  packet v;
  static constexpr int width = lanes;
  static vec zero() { return {ei::pset1<packet>(0.0f)}; }
  static vec set1(float a) { return {ei::pset1<packet>(a)}; }
  static vec load(const float* p) { return {ei::ploadu<packet>(p)}; }
  static vec load_partial(const float* p, int n) {
    float buffer[lanes] = {};
    std::memcpy(buffer, p, static_cast<std::size_t>(n) * sizeof(float));
    return load(buffer);
  }
  static vec broadcast(const float* p) { return {ei::pset1<packet>(*p)}; }
  static vec load_strided(const float* p, std::int64_t s) {
    if (s == 1) return load(p);
    return {ei::pgather<float, packet>(p, static_cast<Eigen::Index>(s))};
  }
  static vec load_strided_partial(const float* p, std::int64_t s, int n) {
    float buffer[lanes] = {};
    for (int i = 0; i < n; ++i) buffer[i] = p[i * s];
    return load(buffer);
  }
  void store(float* p) const { ei::pstoreu(p, v); }
  void store_partial(float* p, int n) const {
    float buffer[lanes];
    ei::pstoreu(buffer, v);
    std::memcpy(p, buffer, static_cast<std::size_t>(n) * sizeof(float));
  }
};

inline vec operator+(vec a, vec b) { return {ei::padd(a.v, b.v)}; }
inline vec operator-(vec a, vec b) { return {ei::psub(a.v, b.v)}; }
inline vec operator*(vec a, vec b) { return {ei::pmul(a.v, b.v)}; }
inline vec operator/(vec a, vec b) { return {ei::pdiv(a.v, b.v)}; }
inline vec fmadd(vec a, vec b, vec c) { return {ei::pmadd(a.v, b.v, c.v)}; }
inline vec max_keep(vec x, vec c) { return {ei::pmax<Eigen::PropagateNaN>(x.v, c.v)}; }
inline vec min_keep(vec x, vec c) { return {ei::pmin<Eigen::PropagateNaN>(x.v, c.v)}; }
inline vec min_or(vec x, vec c) { return {ei::pmin<Eigen::PropagateNumbers>(x.v, c.v)}; }
inline vec vabs(vec x) { return {ei::pabs(x.v)}; }
inline vec with_sign_of(vec m, vec s) {
  const packet sign = ei::pset1<packet>(-0.0f);
  return {ei::por(ei::pandnot(m.v, sign), ei::pand(s.v, sign))};
}
inline vmask lt(vec a, vec b) { return {ei::pcmp_lt(a.v, b.v)}; }
inline vmask ge(vec a, vec b) { return {ei::pcmp_le(b.v, a.v)}; }
inline vec select(vmask m, vec a, vec b) { return {ei::pselect(m.m, a.v, b.v)}; }
inline vec recip(vec d) { return {ei::pdiv(ei::pset1<packet>(1.0f), d.v)}; }
inline vec fnmadd(vec a, vec b, vec c) { return {ei::psub(c.v, ei::pmul(a.v, b.v))}; }
inline vec scale2(vec y, vec n) { return {ei::pldexp(y.v, n.v)}; }
// exp is float_math.inc's (Cephes' polynomial), not Eigen's pexp: Eigen's AVX-512 pexp clamps at
// +-88.38 (exp(88.5), finite, comes out 20 % low) and reduces by a single-float ln 2 (4+ ulp near
// the top of the range); its SSE one returns ~2.9e-39 below -88.72 instead of ~0.
template <bool NONPOSITIVE, class T>
T exp_poly(T x);
inline vec vexp(vec x) { return exp_poly<false>(x); }
inline vec vexp_nonpositive(vec x) { return exp_poly<true>(x); }

using V = vec;

#include "kernels/float_math.inc"
#include "kernels/im2col.inc"
#include "kernels/depthwise.inc"

// Per-thread buffer for the im2col blocks, grown as needed.
float* scratch_floats(std::size_t count) {
  struct buffer {
    float* data = nullptr;
    std::size_t capacity = 0;
    buffer() = default;
    buffer(const buffer&) = delete;
    buffer& operator=(const buffer&) = delete;
    ~buffer() { std::free(data); }
  };
  thread_local buffer b;
  if (count > b.capacity) {
    std::free(b.data);
    const std::size_t bytes = (count * sizeof(float) + 63) / 64 * 64;
    b.data = static_cast<float*>(std::aligned_alloc(64, bytes));
    if (b.data == nullptr) std::abort();
    b.capacity = bytes / sizeof(float);
  }
  return b.data;
}

using row_major = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using col_major = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>;
using stride = Eigen::OuterStride<>;
template <class M>
using const_map = Eigen::Map<const M, Eigen::Unaligned, stride>;
using c_map = Eigen::Map<row_major, Eigen::Unaligned, stride>;

// x + b, for the bias pass.
struct plus_f {
  V b;
  MQ_V V operator()(V x) const { return x + b; }
};

// The epilogue over columns [n0, n0 + count) of C's rows: + bias[m], then the activation.
void finish_rows(const gemm_args& g, std::int64_t n0, std::int64_t count) {
  if (g.bias == nullptr && g.act.kind == activation_kind::none) return;
  for (std::int64_t m = 0; m < g.m; ++m) {
    float* row = g.c + m * g.ldc + n0;
    if (g.bias != nullptr) map_array<V>(row, row, count, plus_f{V::set1(g.bias[m])});
    activation_array(g.act, row, row, count);
  }
}

// C[:, n0 .. n0 + count) (+)= A * B for A M x K and B K x count, given as Eigen expressions.
template <class A, class B>
void product(const A& a, const B& b, const gemm_args& g, std::int64_t n0, std::int64_t count) {
  c_map c(g.c + n0, g.m, count, stride(g.ldc));
  if (g.k == 0) {
    if (!g.accumulate) c.setZero();
  } else if (g.accumulate) {
    c.noalias() += a * b;
  } else {
    c.noalias() = a * b;
  }
  finish_rows(g, n0, count);
}

// Columns go to Eigen in chunks that start at multiples of `chunk` (absolute column indices):
// Eigen chooses its blocking (hence its summation order) from the sizes it is given, so a column
// gets the same last bits however the caller splits N, as long as the split points are multiples
// of `chunk` (gemm.h).
constexpr std::int64_t chunk = 256;

template <class F>
void for_each_chunk(const gemm_args& g, F f) {
  for (std::int64_t n0 = g.n_begin; n0 < g.n_end;) {
    const std::int64_t end = std::min(g.n_end, (n0 / chunk + 1) * chunk);
    f(n0, end - n0);
    n0 = end;
  }
}

template <class A>
void product_dense_b(const A& a, b_dense b, const gemm_args& g) {
  for_each_chunk(g, [&](std::int64_t n0, std::int64_t count) {
    if (b.trans) {
      product(a, const_map<col_major>(b.data + n0 * b.ld, g.k, count, stride(std::max<std::int64_t>(b.ld, 1))), g, n0, count);
    } else {
      product(a, const_map<row_major>(b.data + n0, g.k, count, stride(std::max<std::int64_t>(b.ld, 1))), g, n0, count);
    }
  });
}

std::size_t packed_a_bytes(std::int64_t m, std::int64_t k) {
  return static_cast<std::size_t>(std::max<std::int64_t>(m * k, 1)) * sizeof(float);
}

// The packed form is A row-major (Eigen packs its own blocks inside the product).
void pack_a(std::int64_t m, std::int64_t k, a_dense a, float* dst) {
  for (std::int64_t i = 0; i < m; ++i) {
    for (std::int64_t j = 0; j < k; ++j) dst[i * k + j] = a.trans ? a.data[j * a.lda + i] : a.data[i * a.lda + j];
  }
}

void gemm_packed_dense(const float* packed, b_dense b, const gemm_args& g) {
  if (g.m <= 0 || g.n_end <= g.n_begin) return;
  product_dense_b(const_map<row_major>(packed, g.m, g.k, stride(std::max<std::int64_t>(g.k, 1))), b, g);
}

void gemm_packed_im2col(const float* packed, const b_im2col& b, const gemm_args& g) {
  if (g.m <= 0 || g.n_end <= g.n_begin) return;
  const const_map<row_major> a(packed, g.m, g.k, stride(std::max<std::int64_t>(g.k, 1)));
  // The im2col matrix a chunk of columns at a time (K x chunk floats), never whole.
  float* buffer = scratch_floats(static_cast<std::size_t>(std::max<std::int64_t>(g.k, 1) * chunk));
  for_each_chunk(g, [&](std::int64_t n0, std::int64_t count) {
    im2col_rows rows(b, 0);
    for (std::int64_t k = 0; k < g.k; ++k) rows.next(n0, count, buffer + k * count);
    product(a, const_map<row_major>(buffer, g.k, count, stride(count)), g, n0, count);
  });
}

void gemm(a_dense a, b_dense b, const gemm_args& g) {
  if (g.m <= 0 || g.n_end <= g.n_begin) return;
  if (a.trans) {
    product_dense_b(const_map<col_major>(a.data, g.m, g.k, stride(std::max<std::int64_t>(a.lda, 1))), b, g);
  } else {
    product_dense_b(const_map<row_major>(a.data, g.m, g.k, stride(std::max<std::int64_t>(a.lda, 1))), b, g);
  }
}

constexpr float_kernel_table eigen_table = {
    "eigen",        chunk,          packed_a_bytes, pack_a,           gemm_packed_dense, gemm_packed_im2col, gemm,
    depthwise_rows, exp_array,      sigmoid_array,    tanh_array,        erf_array,          activation_array,
};

}  // namespace

const float_kernel_table& eigen_float_kernels() noexcept { return eigen_table; }

}  // namespace mq::kernels
