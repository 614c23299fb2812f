// The AVX2+FMA float table (gemm.h): 8-lane intrinsics, chosen at run time (dispatch.cpp) when
// the CPU has AVX2 and FMA but not AVX-512, whatever the build's own SIMD level.
//
// No Eigen here, and no function outside this file's anonymous namespace carries the target
// attribute (see avx2.cpp): the shared algorithms (float_math.inc, depthwise.inc,
// gemm_blocked.inc) are included inside that namespace, so they are this file's own copies,
// compiled for AVX2+FMA only.
//
// The micro-tile is 4 rows x 24 columns: 12 ymm accumulators, 3 loads of B and 4 broadcasts of A
// per k (7 loads per 12 FMAs; a 6 x 16 tile needs 8), the 16 registers exactly, and 4 divides the
// channel counts of real models.
#include "kernels/gemm.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define MQ_AVX2_FLOAT 1
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

#if defined(MQ_AVX2_FLOAT)
namespace {

#define MQ_TARGET __attribute__((target("avx2,fma")))
#define MQ_V MQ_TARGET __attribute__((always_inline)) inline
#define MQ_VFN MQ_TARGET

// Lane masks for the partial loads and stores: first_lanes(n) has n leading all-ones lanes.
alignas(32) constexpr std::int32_t lane_mask_table[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
MQ_V __m256i first_lanes(int n) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(lane_mask_table + 8 - n));
}

struct vmask {
  __m256 m;
};

struct vec {
  __m256 v;
  static constexpr int width = 8;
  MQ_V static vec zero() { return {_mm256_setzero_ps()}; }
  MQ_V static vec set1(float a) { return {_mm256_set1_ps(a)}; }
  MQ_V static vec load(const float* p) { return {_mm256_loadu_ps(p)}; }
  MQ_V static vec load_partial(const float* p, int n) { return {_mm256_maskload_ps(p, first_lanes(n))}; }
  MQ_V static vec broadcast(const float* p) { return {_mm256_broadcast_ss(p)}; }
  MQ_V static vec load_strided(const float* p, std::int64_t s) {
    if (s == 1) return load(p);
    if (s == 2) {
      // p[0..7] and p[7..14] (never p[15], which may lie past the data): [p0 p2 p8 p10 | p4 p6 p12
      // p14], then the 64-bit quarters reordered (0, 2, 1, 3).
      const __m256 even = _mm256_shuffle_ps(_mm256_loadu_ps(p), _mm256_loadu_ps(p + 7), _MM_SHUFFLE(3, 1, 2, 0));
      return {_mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(even), _MM_SHUFFLE(3, 1, 2, 0)))};
    }
    const __m256i index =
        _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(static_cast<int>(s)));
    return {_mm256_i32gather_ps(p, index, 4)};
  }
  MQ_V static vec load_strided_partial(const float* p, std::int64_t s, int n) {
    if (s == 1) return load_partial(p, n);
    const __m256i index =
        _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(static_cast<int>(s)));
    return {_mm256_mask_i32gather_ps(_mm256_setzero_ps(), p, index, _mm256_castsi256_ps(first_lanes(n)), 4)};
  }
  MQ_V void store(float* p) const { _mm256_storeu_ps(p, v); }
  MQ_V void store_partial(float* p, int n) const { _mm256_maskstore_ps(p, first_lanes(n), v); }
};

MQ_V vec operator+(vec a, vec b) { return {_mm256_add_ps(a.v, b.v)}; }
MQ_V vec operator-(vec a, vec b) { return {_mm256_sub_ps(a.v, b.v)}; }
MQ_V vec operator*(vec a, vec b) { return {_mm256_mul_ps(a.v, b.v)}; }
MQ_V vec operator/(vec a, vec b) { return {_mm256_div_ps(a.v, b.v)}; }
MQ_V vec fmadd(vec a, vec b, vec c) { return {_mm256_fmadd_ps(a.v, b.v, c.v)}; }
MQ_V vec fnmadd(vec a, vec b, vec c) { return {_mm256_fnmadd_ps(a.v, b.v, c.v)}; }
// vmaxps/vminps return their second operand when either is NaN.
MQ_V vec max_keep(vec x, vec c) { return {_mm256_max_ps(c.v, x.v)}; }
MQ_V vec min_keep(vec x, vec c) { return {_mm256_min_ps(c.v, x.v)}; }
MQ_V vec min_or(vec x, vec c) { return {_mm256_min_ps(x.v, c.v)}; }
MQ_V __m256 sign_bit() { return _mm256_set1_ps(-0.0f); }
MQ_V vec vabs(vec x) { return {_mm256_andnot_ps(sign_bit(), x.v)}; }
MQ_V vec with_sign_of(vec m, vec s) {
  return {_mm256_or_ps(_mm256_andnot_ps(sign_bit(), m.v), _mm256_and_ps(sign_bit(), s.v))};
}
MQ_V vmask lt(vec a, vec b) { return {_mm256_cmp_ps(a.v, b.v, _CMP_LT_OQ)}; }
MQ_V vmask ge(vec a, vec b) { return {_mm256_cmp_ps(a.v, b.v, _CMP_GE_OQ)}; }
MQ_V vec select(vmask m, vec a, vec b) { return {_mm256_blendv_ps(b.v, a.v, m.m)}; }
// y * 2^n as y * 2^(n/2) * 2^(n - n/2): both factors are normal floats for n in [-150, 130], and
// only the second product rounds, so results in the subnormal range are rounded once, correctly.
MQ_V vec scale2(vec y, vec n) {
  const __m256i ni = _mm256_cvtps_epi32(n.v);
  const __m256i n1 = _mm256_srai_epi32(ni, 1);
  const __m256i n2 = _mm256_sub_epi32(ni, n1);
  const __m256i bias = _mm256_set1_epi32(127);
  const __m256 p1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
  const __m256 p2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23));
  return {_mm256_mul_ps(_mm256_mul_ps(y.v, p1), p2)};
}
// A true division: rcpps has only 12 bits, and one Newton step leaves ~1 ulp more error.
MQ_V vec recip(vec d) { return {_mm256_div_ps(_mm256_set1_ps(1.0f), d.v)}; }

using V = vec;
template <bool NONPOSITIVE, class T>
MQ_V T exp_poly(T x);
MQ_V vec vexp(vec x) { return exp_poly<false>(x); }
MQ_V vec vexp_nonpositive(vec x) { return exp_poly<true>(x); }

#include "kernels/float_math.inc"
#include "kernels/im2col.inc"
#include "kernels/depthwise.inc"

constexpr int gemm_mr = 4;
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

constexpr float_kernel_table avx2_table = {
    "avx2",          1,              packed_a_size,  pack_a_panels, gemm_packed_dense_impl, gemm_packed_im2col_impl,
    gemm_dense_impl, depthwise_rows, exp_array,     sigmoid_array,          tanh_array,
    erf_array,       activation_array,
};

}  // namespace

const float_kernel_table* avx2_float_kernels() noexcept {
  static const bool supported = __builtin_cpu_supports("avx2") != 0 && __builtin_cpu_supports("fma") != 0;
  return supported ? &avx2_table : nullptr;
}

#else

const float_kernel_table* avx2_float_kernels() noexcept { return nullptr; }

#endif

}  // namespace mq::kernels
