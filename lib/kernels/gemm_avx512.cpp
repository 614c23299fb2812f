// The AVX-512 float table (gemm.h): 16-lane intrinsics, chosen at run time (dispatch.cpp)
// when the CPU has AVX-512 F/DQ/BW/VL, whatever the build's own SIMD level.
//
// No Eigen here, and no function outside this file's anonymous namespace carries the target
// attribute (see avx2.cpp): the shared algorithms (float_math.inc, depthwise.inc,
// gemm_blocked.inc) are included inside that namespace, so they are this file's own copies,
// compiled for AVX-512 only.
//
// The micro-tile is 8 rows x 48 columns (24 zmm accumulators, 3 loads of B and 8 broadcasts of A
// per k, the broadcasts folded into the FMAs): 8 divides the channel counts of real models (16,
// 32, 64, 80, 128, 256), where 14 or 12 rows would leave short row panels; 48 columns keep 24
// independent FMA chains in flight (twice the FMA latency times the two FMA ports) with one spare
// register set for B.
#include "kernels/gemm.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define MQ_AVX512_FLOAT 1
#if defined(__GNUC__) && !defined(__clang__)
// GCC 12's AVX-512 intrinsics start from _mm512_undefined_ps() (`__m512 __Y = __Y;`), which
// -Wmaybe-uninitialized reports once they are inlined (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <utility>
#endif

namespace mq::kernels {

#if defined(MQ_AVX512_FLOAT)
namespace {

#define MQ_TARGET __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,avx2,fma")))
#define MQ_V MQ_TARGET __attribute__((always_inline)) inline
#define MQ_VFN MQ_TARGET

struct vmask {
  __mmask16 m;
};

MQ_V __mmask16 first_lanes(int n) { return static_cast<__mmask16>((1u << n) - 1u); }

struct vec {
  __m512 v;
  static constexpr int width = 16;
  MQ_V static vec zero() { return {_mm512_setzero_ps()}; }
  MQ_V static vec set1(float a) { return {_mm512_set1_ps(a)}; }
  MQ_V static vec load(const float* p) { return {_mm512_loadu_ps(p)}; }
  MQ_V static vec load_partial(const float* p, int n) { return {_mm512_maskz_loadu_ps(first_lanes(n), p)}; }
  MQ_V static vec broadcast(const float* p) { return {_mm512_set1_ps(*p)}; }
  MQ_V static vec load_strided(const float* p, std::int64_t s) {
    if (s == 1) return load(p);
    if (s == 2) {
      // p[0..15] and p[15..30] (never p[31], which may lie past the data).
      const __m512i even = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 14, 12, 10, 8, 6, 4, 2, 0);
      return {_mm512_permutex2var_ps(_mm512_loadu_ps(p), even, _mm512_loadu_ps(p + 15))};
    }
    const __m512i index = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                             _mm512_set1_epi32(static_cast<int>(s)));
    return {_mm512_i32gather_ps(index, p, 4)};
  }
  MQ_V static vec load_strided_partial(const float* p, std::int64_t s, int n) {
    if (s == 1) return load_partial(p, n);
    const __m512i index = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                             _mm512_set1_epi32(static_cast<int>(s)));
    return {_mm512_mask_i32gather_ps(_mm512_setzero_ps(), first_lanes(n), index, p, 4)};
  }
  MQ_V void store(float* p) const { _mm512_storeu_ps(p, v); }
  MQ_V void store_partial(float* p, int n) const { _mm512_mask_storeu_ps(p, first_lanes(n), v); }
};

MQ_V vec operator+(vec a, vec b) { return {_mm512_add_ps(a.v, b.v)}; }
MQ_V vec operator-(vec a, vec b) { return {_mm512_sub_ps(a.v, b.v)}; }
MQ_V vec operator*(vec a, vec b) { return {_mm512_mul_ps(a.v, b.v)}; }
MQ_V vec operator/(vec a, vec b) { return {_mm512_div_ps(a.v, b.v)}; }
MQ_V vec fmadd(vec a, vec b, vec c) { return {_mm512_fmadd_ps(a.v, b.v, c.v)}; }
MQ_V vec fnmadd(vec a, vec b, vec c) { return {_mm512_fnmadd_ps(a.v, b.v, c.v)}; }
// (v)maxps/minps return their second operand when either is NaN.
MQ_V vec max_keep(vec x, vec c) { return {_mm512_max_ps(c.v, x.v)}; }
MQ_V vec min_keep(vec x, vec c) { return {_mm512_min_ps(c.v, x.v)}; }
MQ_V vec min_or(vec x, vec c) { return {_mm512_min_ps(x.v, c.v)}; }
MQ_V vec vabs(vec x) { return {_mm512_abs_ps(x.v)}; }
MQ_V vec with_sign_of(vec m, vec s) {
  const __m512i sign = _mm512_set1_epi32(static_cast<int>(0x80000000u));
  // (m & ~sign) | (s & sign), bit by bit: ternary logic 0xCA is "sign ? s : m".
  return {_mm512_castsi512_ps(
      _mm512_ternarylogic_epi32(sign, _mm512_castps_si512(s.v), _mm512_castps_si512(m.v), 0xCA))};
}
MQ_V vmask lt(vec a, vec b) { return {_mm512_cmp_ps_mask(a.v, b.v, _CMP_LT_OQ)}; }
MQ_V vmask ge(vec a, vec b) { return {_mm512_cmp_ps_mask(a.v, b.v, _CMP_GE_OQ)}; }
MQ_V vec select(vmask m, vec a, vec b) { return {_mm512_mask_blend_ps(m.m, b.v, a.v)}; }
MQ_V vec scale2(vec y, vec n) { return {_mm512_scalef_ps(y.v, n.v)}; }
// rcp14 (relative error < 2^-14) and one Newton step: error ~2^-28 before the final rounding.
MQ_V vec recip(vec d) {
  const __m512 r = _mm512_rcp14_ps(d.v);
  return {_mm512_fmadd_ps(r, _mm512_fnmadd_ps(d.v, r, _mm512_set1_ps(1.0f)), r)};
}

using V = vec;
template <bool NONPOSITIVE, class T>
MQ_V T exp_poly(T x);
MQ_V vec vexp(vec x) { return exp_poly<false>(x); }
MQ_V vec vexp_nonpositive(vec x) { return exp_poly<true>(x); }

#include "kernels/float_math.inc"
#include "kernels/im2col.inc"
#include "kernels/depthwise.inc"

constexpr int gemm_mr = 8;
constexpr int gemm_nv = 3;
constexpr std::int64_t gemm_kc = 256;
constexpr std::int64_t gemm_nc = 480;

// Per-thread buffers, grown as needed, freed at thread exit.
struct scratch_buffer {
  float* data = nullptr;
  std::size_t capacity = 0;
  scratch_buffer() = default;
  scratch_buffer(const scratch_buffer&) = delete;
  scratch_buffer& operator=(const scratch_buffer&) = delete;
  ~scratch_buffer() { std::free(data); }
};

float* scratch_floats(int which, std::size_t count) {
  thread_local std::array<scratch_buffer, 5> buffers;
  scratch_buffer& s = buffers[static_cast<std::size_t>(which)];
  if (count > s.capacity) {
    std::free(s.data);
    const std::size_t bytes = (count * sizeof(float) + 63) / 64 * 64;
    s.data = static_cast<float*>(std::aligned_alloc(64, bytes));
    if (s.data == nullptr) std::abort();
    s.capacity = bytes / sizeof(float);
  }
  return s.data;
}

#include "kernels/gemm_blocked.inc"

void depthwise_entry(const b_im2col& g, const float* w, const float* bias, activation act, float* y,
                     std::int64_t c_begin, std::int64_t c_end) {
  depthwise_rows(g, w, bias, act, y, c_begin, c_end);
}

constexpr float_kernel_table avx512_table = {
    "avx512",   1,              packed_a_size,  pack_a_panels,   gemm_packed_dense_impl, gemm_packed_im2col_impl,
    gemm_dense_impl, depthwise_entry, exp_array, sigmoid_array,          tanh_array,
    erf_array,  activation_array,
};

}  // namespace

const float_kernel_table* avx512_float_kernels() noexcept {
  static const bool supported = __builtin_cpu_supports("avx512f") != 0 && __builtin_cpu_supports("avx512dq") != 0 &&
                                __builtin_cpu_supports("avx512bw") != 0 && __builtin_cpu_supports("avx512vl") != 0 &&
                                __builtin_cpu_supports("fma") != 0;
  return supported ? &avx512_table : nullptr;
}

#else

const float_kernel_table* avx512_float_kernels() noexcept { return nullptr; }

#endif

}  // namespace mq::kernels
