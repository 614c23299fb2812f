// The float kernels as plain loops: the executable spec of gemm.h and the oracle of its tests.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "kernels/gemm.h"

namespace mq::kernels {

float activate(activation act, float v) noexcept {
  switch (act.kind) {
    case activation_kind::none: return v;
    case activation_kind::relu: return v < 0 ? 0.0f : v;
    case activation_kind::clip: return std::min(std::max(v, act.alpha), act.beta);
    case activation_kind::leaky_relu: return v < 0 ? act.alpha * v : v;
    case activation_kind::sigmoid: return 1.0f / (1.0f + std::exp(-v));
    case activation_kind::silu: return v / (1.0f + std::exp(-v));
    case activation_kind::hard_sigmoid: return std::max(0.0f, std::min(1.0f, act.alpha * v + act.beta));
    case activation_kind::hard_swish: return v * std::max(0.0f, std::min(1.0f, v / 6.0f + 0.5f));
    case activation_kind::tanh: return std::tanh(v);
  }
  return v;
}

namespace {

float a_at(const a_dense& a, std::int64_t m, std::int64_t k) {
  return a.trans ? a.data[k * a.lda + m] : a.data[m * a.lda + k];
}

float b_at(const b_dense& b, std::int64_t k, std::int64_t n) {
  return b.trans ? b.data[n * b.ld + k] : b.data[k * b.ld + n];
}

float im2col_at(const b_im2col& b, std::int64_t k, std::int64_t n) {
  const std::int64_t j = k % b.kw;
  const std::int64_t i = (k / b.kw) % b.kh;
  const std::int64_t c = k / (b.kw * b.kh);
  const std::int64_t ox = n % b.out_w;
  const std::int64_t oy = n / b.out_w;
  const std::int64_t y = oy * b.stride_h - b.pad_top + i * b.dil_h;
  const std::int64_t x = ox * b.stride_w - b.pad_left + j * b.dil_w;
  if (y < 0 || y >= b.height || x < 0 || x >= b.width) return 0.0f;
  return b.x[(c * b.height + y) * b.width + x];
}

template <class A, class B>
void product(A&& a, B&& b, const gemm_args& g) {
  for (std::int64_t m = 0; m < g.m; ++m) {
    for (std::int64_t n = g.n_begin; n < g.n_end; ++n) {
      float sum = 0;
      for (std::int64_t k = 0; k < g.k; ++k) sum += a(m, k) * b(k, n);
      float& out = g.c[m * g.ldc + n];
      if (g.accumulate) sum += out;
      if (g.bias != nullptr) sum += g.bias[m];
      out = activate(g.act, sum);
    }
  }
}

std::size_t packed_a_bytes(std::int64_t m, std::int64_t k) { return static_cast<std::size_t>(m * k) * sizeof(float); }

// The reference "packed" form is A row-major.
void pack_a(std::int64_t m, std::int64_t k, a_dense a, float* dst) {
  for (std::int64_t i = 0; i < m; ++i) {
    for (std::int64_t j = 0; j < k; ++j) dst[i * k + j] = a_at(a, i, j);
  }
}

void gemm_packed_dense(const float* packed, b_dense b, const gemm_args& g) {
  product([&](std::int64_t m, std::int64_t k) { return packed[m * g.k + k]; },
          [&](std::int64_t k, std::int64_t n) { return b_at(b, k, n); }, g);
}

void gemm_packed_im2col(const float* packed, const b_im2col& b, const gemm_args& g) {
  product([&](std::int64_t m, std::int64_t k) { return packed[m * g.k + k]; },
          [&](std::int64_t k, std::int64_t n) { return im2col_at(b, k, n); }, g);
}

void gemm(a_dense a, b_dense b, const gemm_args& g) {
  product([&](std::int64_t m, std::int64_t k) { return a_at(a, m, k); },
          [&](std::int64_t k, std::int64_t n) { return b_at(b, k, n); }, g);
}

void depthwise_conv(const b_im2col& geo, const float* w, const float* bias, activation act, float* y,
                    std::int64_t c_begin, std::int64_t c_end) {
  const std::int64_t taps = geo.kh * geo.kw;
  for (std::int64_t c = c_begin; c < c_end; ++c) {
    const float* x = geo.x + c * geo.height * geo.width;
    for (std::int64_t oy = 0; oy < geo.out_h; ++oy) {
      for (std::int64_t ox = 0; ox < geo.out_w; ++ox) {
        float sum = 0;
        for (std::int64_t i = 0; i < geo.kh; ++i) {
          const std::int64_t iy = oy * geo.stride_h - geo.pad_top + i * geo.dil_h;
          if (iy < 0 || iy >= geo.height) continue;
          for (std::int64_t j = 0; j < geo.kw; ++j) {
            const std::int64_t ix = ox * geo.stride_w - geo.pad_left + j * geo.dil_w;
            if (ix < 0 || ix >= geo.width) continue;
            sum += x[iy * geo.width + ix] * w[c * taps + i * geo.kw + j];
          }
        }
        if (bias != nullptr) sum += bias[c];
        y[(c * geo.out_h + oy) * geo.out_w + ox] = activate(act, sum);
      }
    }
  }
}

void exp_f(const float* x, float* y, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) y[i] = std::exp(x[i]);
}
void sigmoid_f(const float* x, float* y, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) y[i] = 1.0f / (1.0f + std::exp(-x[i]));
}
void tanh_f(const float* x, float* y, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) y[i] = std::tanh(x[i]);
}
void erf_f(const float* x, float* y, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) y[i] = std::erf(x[i]);
}
void apply_activation(activation act, const float* x, float* y, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) y[i] = activate(act, x[i]);
}

constexpr float_kernel_table reference_table = {
    "reference", 1,              packed_a_bytes, pack_a, gemm_packed_dense, gemm_packed_im2col, gemm, depthwise_conv,
    exp_f,       sigmoid_f,      tanh_f, erf_f,             apply_activation,
};

}  // namespace

const float_kernel_table& reference_float_kernels() noexcept { return reference_table; }

}  // namespace mq::kernels
