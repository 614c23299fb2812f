// Property tests of the float kernels (kernels/gemm.h): every table this machine runs (reference,
// eigen, avx2, avx512) against an exact float64 oracle, within the bounds gemm.h states: products
// (dense, packed dense, packed im2col with every geometry), depthwise convolution, and the
// element-wise functions, on random and adversarial data (NaN, +-inf, +-0, subnormals, huge values,
// mixed magnitudes), sizes around every tile and block edge, sub-ranges of N and of channels,
// accumulation, with and without bias, every activation. The reference table goes through the same
// checks, which keeps the bounds honest. MQ_TEST_KERNELS=<name> restricts the run to one table.
//
// Seeds: each case derives its seed from Catch's --rng-seed (default: a fixed value) and prints it
// on failure, with the table, the case and the first mismatching elements; replay with
// `--rng-seed <n>`.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "kernels/gemm.h"

namespace {

using mq::kernels::a_dense;
using mq::kernels::activation;
using mq::kernels::activation_kind;
using mq::kernels::b_dense;
using mq::kernels::b_im2col;
using mq::kernels::float_kernel_table;
using mq::kernels::gemm_args;

constexpr double eps = 0x1p-24;
constexpr double flt_min = FLT_MIN;       // 2^-126
constexpr double denorm_min = 0x1p-149;   // smallest subnormal float
constexpr float inf = std::numeric_limits<float>::infinity();
constexpr float qnan = std::numeric_limits<float>::quiet_NaN();

std::uint32_t base_seed() {
  const auto s = Catch::rngSeed();
  return s == 0 ? 20240611u : static_cast<std::uint32_t>(s);
}

// Every table this machine runs, reference first; MQ_TEST_KERNELS=<name> keeps one.
const std::vector<const float_kernel_table*>& tables() {
  static const std::vector<const float_kernel_table*> all = [] {
    std::vector<const float_kernel_table*> t = {&mq::kernels::reference_float_kernels(),
                                                &mq::kernels::eigen_float_kernels()};
    if (const auto* avx2 = mq::kernels::avx2_float_kernels()) {
      t.push_back(avx2);
    } else {
      std::printf("note: this CPU has no AVX2+FMA: the avx2 float table is not tested\n");
    }
    if (const auto* avx512 = mq::kernels::avx512_float_kernels()) {
      t.push_back(avx512);
    } else {
      std::printf("note: this CPU has no AVX-512: the avx512 float table is not tested\n");
    }
    if (const char* want = std::getenv("MQ_TEST_KERNELS"); want != nullptr && *want != '\0') {
      std::vector<const float_kernel_table*> one;
      for (const auto* table : t) {
        if (std::string(table->name) == want) one.push_back(table);
      }
      if (one.empty()) std::printf("SKIPPED: float table '%s' is not available here\n", want);
      return one;
    }
    return t;
  }();
  return all;
}

// ---- data ----

enum class data {
  normal,       // gaussian
  mixed,        // magnitudes from 1e-6 to 1e6, zeros of both signs, subnormals
  special,      // gaussian plus a few NaN / +-inf
  huge,         // gaussian plus values up to FLT_MAX (products overflow)
  subnormal,    // mostly subnormals and zeros
};
const std::vector<data> all_data = {data::normal, data::mixed, data::special, data::huge, data::subnormal};

const char* to_string(data d) {
  switch (d) {
    case data::normal: return "normal";
    case data::mixed: return "mixed";
    case data::special: return "special";
    case data::huge: return "huge";
    case data::subnormal: return "subnormal";
  }
  return "?";
}

void fill(std::vector<float>& out, data d, std::mt19937& rng) {
  std::normal_distribution<float> gauss(0.0f, 1.0f);
  std::uniform_real_distribution<float> expo(-6.0f, 6.0f);
  std::uniform_int_distribution<int> pick(0, 99);
  for (float& v : out) {
    const int p = pick(rng);
    switch (d) {
      case data::normal: v = gauss(rng); break;
      case data::mixed:
        v = p < 5 ? 0.0f : p < 10 ? -0.0f : p < 15 ? gauss(rng) * 1e-40f : gauss(rng) * std::pow(10.0f, expo(rng));
        break;
      case data::special: v = gauss(rng); break;
      case data::huge: v = p < 5 ? (p % 2 == 0 ? 1.0f : -1.0f) * FLT_MAX / static_cast<float>(1 + p) : p < 10 ? gauss(rng) * 1e19f : gauss(rng); break;
      case data::subnormal: v = p < 20 ? 0.0f : gauss(rng) * 1e-39f; break;
    }
  }
  if (d == data::special && !out.empty()) {
    // A few specials, so that most outputs stay finite and the bound is still tested.
    std::uniform_int_distribution<std::size_t> at(0, out.size() - 1);
    const float specials[] = {qnan, inf, -inf};
    const std::size_t count = 1 + out.size() / 200;
    for (std::size_t i = 0; i < count; ++i) out[at(rng)] = specials[i % 3];
  }
}

// 64-byte aligned storage (pack_a's destination must be).
struct aligned_floats {
  std::vector<float> storage;
  float* data = nullptr;
  explicit aligned_floats(std::size_t count, float init = 0.0f) : storage(count + 16, init) {
    const auto address = reinterpret_cast<std::uintptr_t>(storage.data());
    data = storage.data() + ((64 - address % 64) % 64) / sizeof(float);
  }
};

// ---- the oracle ----

double ulp_of(double y) {
  const double a = std::fabs(y);
  if (a < flt_min) return denorm_min;
  int e = 0;
  std::frexp(static_cast<float>(std::min(a, static_cast<double>(FLT_MAX))), &e);
  return std::ldexp(1.0, e - 24);
}

// activate() of the reference in float64, with its comparisons in the same order (so NaN goes
// where the reference sends it: hard_sigmoid(NaN) = 1).
double activate_exact(activation act, double v) {
  switch (act.kind) {
    case activation_kind::none: return v;
    case activation_kind::relu: return v < 0 ? 0.0 : v;
    case activation_kind::clip: return std::min(std::max(v, static_cast<double>(act.alpha)), static_cast<double>(act.beta));
    case activation_kind::leaky_relu: return v < 0 ? static_cast<double>(act.alpha) * v : v;
    case activation_kind::sigmoid: return 1.0 / (1.0 + std::exp(-v));
    case activation_kind::silu: return v / (1.0 + std::exp(-v));
    case activation_kind::hard_sigmoid:
      return std::max(0.0, std::min(1.0, static_cast<double>(act.alpha) * v + static_cast<double>(act.beta)));
    case activation_kind::hard_swish: return v * std::max(0.0, std::min(1.0, v / 6.0 + 0.5));
    case activation_kind::tanh: return std::tanh(v);
  }
  return v;
}

// hard_sigmoid and hard_swish round their linear argument alpha x + beta (x / 6 + 0.5) in float
// before clamping it, as the reference does: near the lower clamp that costs up to 2^-23 of
// |alpha x| + |beta| absolute, which no ulp bound of the (tiny) result covers (gemm.h).
double argument_slack(activation act, double x) {
  if (act.kind == activation_kind::hard_sigmoid) {
    return 0x1p-23 * (std::fabs(static_cast<double>(act.alpha) * x) + std::fabs(static_cast<double>(act.beta)));
  }
  if (act.kind == activation_kind::hard_swish) return 0x1p-23 * std::fabs(x) * (std::fabs(x) / 6 + 0.5);
  return 0;
}

// How much an activation can stretch an error of its argument.
double lipschitz(activation act) {
  switch (act.kind) {
    case activation_kind::leaky_relu: return std::max(1.0, std::fabs(static_cast<double>(act.alpha)));
    case activation_kind::sigmoid: return 0.25;
    case activation_kind::silu: return 1.1;
    case activation_kind::hard_sigmoid: return std::fabs(static_cast<double>(act.alpha));
    case activation_kind::hard_swish: return 1.5;
    default: return 1.0;
  }
}

const char* to_string(activation_kind k) {
  switch (k) {
    case activation_kind::none: return "none";
    case activation_kind::relu: return "relu";
    case activation_kind::clip: return "clip";
    case activation_kind::leaky_relu: return "leaky_relu";
    case activation_kind::sigmoid: return "sigmoid";
    case activation_kind::silu: return "silu";
    case activation_kind::hard_sigmoid: return "hard_sigmoid";
    case activation_kind::hard_swish: return "hard_swish";
    case activation_kind::tanh: return "tanh";
  }
  return "?";
}

const std::vector<activation> all_activations = {
    {activation_kind::none, 0, 0},          {activation_kind::relu, 0, 0},
    {activation_kind::clip, -0.5f, 2.0f},   {activation_kind::leaky_relu, 0.1f, 0},
    {activation_kind::sigmoid, 0, 0},       {activation_kind::silu, 0, 0},
    {activation_kind::hard_sigmoid, 0.2f, 0.5f}, {activation_kind::hard_swish, 0, 0},
    {activation_kind::tanh, 0, 0},
};

// One output's exact value and error allowance: s = sum of the terms (+ c) (+ bias) in float64
// (products of floats are exact there; inf * 0 and inf - inf are NaN as in float), `bound` the
// gemm.h bound for s, `overflow` when the finite magnitudes may overflow float32 partial sums.
struct accumulator {
  double sum = 0;
  double abs_sum = 0;   // sum |a||b| over finite terms
  double extra = 0;     // |c| + |bias|
  std::int64_t terms = 0;
  void add(float a, float b) {
    const double p = static_cast<double>(a) * static_cast<double>(b);
    sum += p;
    if (std::isfinite(p)) abs_sum += std::fabs(p);
    ++terms;
  }
  void add_value(float v) {
    sum += v;
    if (std::isfinite(v)) extra += std::fabs(static_cast<double>(v));
  }
};

// Compares one output with the oracle; returns a description of the mismatch or "".
std::string check_value(float got, const accumulator& s, activation act) {
  const bool overflow = s.abs_sum + s.extra > static_cast<double>(FLT_MAX) / 4;
  const double y = activate_exact(act, s.sum);
  std::ostringstream why;
  if (std::isnan(y)) {
    if (!std::isnan(got)) why << "expected NaN";
  } else if (overflow) {
    // Partial sums may overflow in one order and not another: nothing to check.
  } else if (std::isinf(y)) {
    if (!(static_cast<double>(got) == y)) why << "expected " << y;
  } else {
    double tol = 4 * ulp_of(y) + flt_min * std::max(1.0, std::fabs(s.sum));
    if (std::isfinite(s.sum)) {
      tol += argument_slack(act, s.sum);
      const double bound = 2 * static_cast<double>(s.terms) * eps * s.abs_sum +
                           2 * eps * (s.extra + std::fabs(s.sum)) + static_cast<double>(s.terms + 2) * denorm_min;
      tol += lipschitz(act) * bound;
    }
    if (!(std::fabs(static_cast<double>(got) - y) <= tol)) why << "expected " << y << " within " << tol;
  }
  if (why.tellp() > 0) {
    std::ostringstream out;
    out.precision(9);
    out << "got " << got << ", " << why.str() << " (sum " << s.sum << ", |a||b| " << s.abs_sum << ")";
    return out.str();
  }
  return {};
}

// Collects mismatches, reports the first few.
struct mismatches {
  std::int64_t count = 0;
  std::string first;
  void add(const std::string& where, const std::string& what) {
    if (what.empty()) return;
    if (count < 5) first += "  " + where + ": " + what + "\n";
    ++count;
  }
};

// ---- products ----

// A problem: A (M x K, logical), B given by an accessor, C's initial contents, the call.
struct product_case {
  std::int64_t m = 0, n = 0, k = 0;
  std::vector<float> a;  // M x K row-major (logical values)
  std::vector<float> bias;
  std::vector<float> c0;  // initial C, M x ldc
  std::int64_t ldc = 0;
  std::int64_t n_begin = 0, n_end = 0;
  bool use_bias = false, accumulate = false;
  activation act;
};

template <class BAt>
void check_product(const product_case& p, BAt&& b_at, const std::vector<float>& c, const std::string& where,
                   mismatches& bad) {
  for (std::int64_t i = 0; i < p.m; ++i) {
    for (std::int64_t j = 0; j < p.ldc; ++j) {
      const std::size_t at = static_cast<std::size_t>(i * p.ldc + j);
      const float got = c[at];
      if (j < p.n_begin || j >= p.n_end) {
        if (std::memcmp(&got, &p.c0[at], sizeof got) != 0) {
          bad.add(where + " C[" + std::to_string(i) + "," + std::to_string(j) + "]", "outside [n_begin, n_end) changed");
        }
        continue;
      }
      accumulator s;
      for (std::int64_t kk = 0; kk < p.k; ++kk) s.add(p.a[static_cast<std::size_t>(i * p.k + kk)], b_at(kk, j));
      if (p.accumulate) s.add_value(p.c0[at]);
      if (p.use_bias) s.add_value(p.bias[static_cast<std::size_t>(i)]);
      bad.add(where + " C[" + std::to_string(i) + "," + std::to_string(j) + "]", check_value(got, s, p.act));
    }
  }
}

gemm_args args_of(const product_case& p, float* c) {
  gemm_args g;
  g.m = p.m;
  g.n = p.n;
  g.k = p.k;
  g.n_begin = p.n_begin;
  g.n_end = p.n_end;
  g.c = c;
  g.ldc = p.ldc;
  g.bias = p.use_bias ? p.bias.data() : nullptr;
  g.accumulate = p.accumulate;
  g.act = p.act;
  return g;
}

product_case make_case(std::int64_t m, std::int64_t n, std::int64_t k, data d, std::mt19937& rng) {
  product_case p;
  p.m = m;
  p.n = n;
  p.k = k;
  p.a.resize(static_cast<std::size_t>(m * k));
  fill(p.a, d, rng);
  p.bias.resize(static_cast<std::size_t>(m));
  fill(p.bias, d == data::special ? data::normal : d, rng);
  std::uniform_int_distribution<int> coin(0, 1);
  std::uniform_int_distribution<std::int64_t> pad(0, 5);
  p.ldc = n + (coin(rng) != 0 ? pad(rng) : 0);
  p.c0.resize(static_cast<std::size_t>(m * p.ldc));
  fill(p.c0, d == data::special ? data::normal : d, rng);
  p.use_bias = coin(rng) != 0;
  p.accumulate = coin(rng) != 0;
  std::uniform_int_distribution<std::size_t> which(0, all_activations.size() - 1);
  p.act = all_activations[which(rng)];
  // Half the time the whole of N, otherwise a sub-range (possibly empty).
  if (coin(rng) != 0 || n == 0) {
    p.n_begin = 0;
    p.n_end = n;
  } else {
    std::uniform_int_distribution<std::int64_t> at(0, n);
    std::int64_t x = at(rng), y = at(rng);
    if (x > y) std::swap(x, y);
    p.n_begin = x;
    p.n_end = y;
  }
  return p;
}

std::string describe(const float_kernel_table& t, const char* what, const product_case& p, data d, std::uint32_t seed) {
  std::ostringstream o;
  o << t.name << " " << what << " M=" << p.m << " N=" << p.n << " K=" << p.k << " n=[" << p.n_begin << "," << p.n_end
    << ") ldc=" << p.ldc << " bias=" << p.use_bias << " accumulate=" << p.accumulate << " act=" << to_string(p.act.kind)
    << " data=" << to_string(d) << " seed=" << seed;
  return o.str();
}

// gemm() and gemm_packed_dense() with B dense (trans or not, padded leading dimensions), and A
// given dense (trans or not) or packed by the table.
// b_trans: 0 or 1 to force B's layout, -1 for a random one.
void run_dense_case(const float_kernel_table& t, std::int64_t m, std::int64_t n, std::int64_t k, data d,
                    std::uint32_t seed, int force_b_trans = -1) {
  std::mt19937 rng(seed);
  product_case p = make_case(m, n, k, d, rng);
  std::uniform_int_distribution<int> coin(0, 1);
  std::uniform_int_distribution<std::int64_t> pad(0, 3);
  const bool a_trans = coin(rng) != 0;
  const bool b_trans = force_b_trans < 0 ? coin(rng) != 0 : force_b_trans != 0;
  // A stored with its own leading dimension.
  const std::int64_t lda = (a_trans ? m : k) + pad(rng);
  std::vector<float> a_store(static_cast<std::size_t>(std::max<std::int64_t>(1, (a_trans ? k : m) * lda)), qnan);
  for (std::int64_t i = 0; i < m; ++i) {
    for (std::int64_t kk = 0; kk < k; ++kk) {
      a_store[static_cast<std::size_t>(a_trans ? kk * lda + i : i * lda + kk)] = p.a[static_cast<std::size_t>(i * k + kk)];
    }
  }
  const std::int64_t ldb = (b_trans ? k : n) + pad(rng);
  std::vector<float> b_store(static_cast<std::size_t>(std::max<std::int64_t>(1, (b_trans ? n : k) * ldb)), qnan);
  std::vector<float> b_logical(static_cast<std::size_t>(k * n));
  fill(b_logical, d, rng);
  for (std::int64_t kk = 0; kk < k; ++kk) {
    for (std::int64_t j = 0; j < n; ++j) {
      b_store[static_cast<std::size_t>(b_trans ? j * ldb + kk : kk * ldb + j)] = b_logical[static_cast<std::size_t>(kk * n + j)];
    }
  }
  const auto b_at = [&](std::int64_t kk, std::int64_t j) { return b_logical[static_cast<std::size_t>(kk * n + j)]; };
  const a_dense a{a_store.data(), lda, a_trans};
  const b_dense b{b_store.data(), ldb, b_trans};

  mismatches bad;
  {
    std::vector<float> c = p.c0;
    t.gemm(a, b, args_of(p, c.data()));
    check_product(p, b_at, c, "gemm", bad);
  }
  {
    aligned_floats packed(t.packed_a_bytes(m, k) / sizeof(float) + 1, qnan);
    t.pack_a(m, k, a, packed.data);
    std::vector<float> c = p.c0;
    t.gemm_packed_dense(packed.data, b, args_of(p, c.data()));
    check_product(p, b_at, c, "gemm_packed_dense", bad);
  }
  INFO(describe(t, "dense", p, d, seed) << " a_trans=" << a_trans << " b_trans=" << b_trans << "\n" << bad.first);
  CHECK(bad.count == 0);
}

// The im2col B of a geometry, straight from its definition.
float im2col_value(const b_im2col& g, std::int64_t k, std::int64_t n) {
  const std::int64_t j = k % g.kw, i = (k / g.kw) % g.kh, c = k / (g.kw * g.kh);
  const std::int64_t oy = n / g.out_w, ox = n % g.out_w;
  const std::int64_t y = oy * g.stride_h - g.pad_top + i * g.dil_h;
  const std::int64_t x = ox * g.stride_w - g.pad_left + j * g.dil_w;
  if (y < 0 || y >= g.height || x < 0 || x >= g.width) return 0.0f;
  return g.x[(c * g.height + y) * g.width + x];
}

struct geometry {
  std::int64_t channels, height, width, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw;
};

// A b_im2col over `x` (filled here), or false when the geometry has no output.
bool make_im2col(const geometry& s, std::vector<float>& x, data d, std::mt19937& rng, b_im2col& g) {
  g.channels = s.channels;
  g.height = s.height;
  g.width = s.width;
  g.kh = s.kh;
  g.kw = s.kw;
  g.stride_h = s.sh;
  g.stride_w = s.sw;
  g.pad_top = s.pt;
  g.pad_left = s.pl;
  g.dil_h = s.dh;
  g.dil_w = s.dw;
  const std::int64_t eh = s.dh * (s.kh - 1) + 1, ew = s.dw * (s.kw - 1) + 1;
  if (s.height + s.pt + s.pb < eh || s.width + s.pl + s.pr < ew) return false;
  g.out_h = (s.height + s.pt + s.pb - eh) / s.sh + 1;
  g.out_w = (s.width + s.pl + s.pr - ew) / s.sw + 1;
  x.resize(static_cast<std::size_t>(s.channels * s.height * s.width));
  fill(x, d, rng);
  g.x = x.data();
  return true;
}

std::string describe(const geometry& s) {
  std::ostringstream o;
  o << "geometry C=" << s.channels << " H=" << s.height << " W=" << s.width << " k=" << s.kh << "x" << s.kw
    << " stride=" << s.sh << "," << s.sw << " pads=" << s.pt << "," << s.pl << "," << s.pb << "," << s.pr
    << " dil=" << s.dh << "," << s.dw;
  return o.str();
}

void run_im2col_case(const float_kernel_table& t, const geometry& s, std::int64_t m, data d, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<float> x;
  b_im2col g;
  if (!make_im2col(s, x, d, rng, g)) return;
  const std::int64_t k = s.channels * s.kh * s.kw, n = g.out_h * g.out_w;
  product_case p = make_case(m, n, k, d, rng);
  aligned_floats packed(t.packed_a_bytes(m, k) / sizeof(float) + 1, qnan);
  t.pack_a(m, k, a_dense{p.a.data(), k, false}, packed.data);
  std::vector<float> c = p.c0;
  t.gemm_packed_im2col(packed.data, g, args_of(p, c.data()));
  mismatches bad;
  check_product(p, [&](std::int64_t kk, std::int64_t j) { return im2col_value(g, kk, j); }, c, "im2col", bad);
  INFO(describe(t, "im2col", p, d, seed) << " " << describe(s) << "\n" << bad.first);
  CHECK(bad.count == 0);
}

// Random geometries: 1-D and 2-D, strides, pads (also wider than the kernel), dilations.
geometry random_geometry(std::mt19937& rng) {
  std::uniform_int_distribution<std::int64_t> chan(1, 9), side(1, 23), kern(1, 5), stride(1, 3), pad(0, 3), dil(1, 2);
  std::uniform_int_distribution<int> coin(0, 3);
  geometry s{};
  s.channels = chan(rng);
  const bool one_d = coin(rng) == 0;
  s.height = one_d ? 1 : side(rng);
  s.width = side(rng) + (coin(rng) == 0 ? 40 : 0);
  s.kh = one_d ? 1 : kern(rng);
  s.kw = kern(rng);
  s.sh = one_d ? 1 : stride(rng);
  s.sw = stride(rng);
  s.pt = one_d ? 0 : pad(rng);
  s.pb = one_d ? 0 : pad(rng);
  s.pl = pad(rng);
  s.pr = pad(rng);
  s.dh = one_d ? 1 : dil(rng);
  s.dw = dil(rng);
  return s;
}

// ---- depthwise ----

void run_depthwise_case(const float_kernel_table& t, const geometry& s, data d, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<float> x;
  b_im2col g;
  if (!make_im2col(s, x, d, rng, g)) return;
  const std::int64_t taps = s.kh * s.kw;
  std::vector<float> w(static_cast<std::size_t>(s.channels * taps)), bias(static_cast<std::size_t>(s.channels));
  fill(w, d, rng);
  fill(bias, d == data::special ? data::normal : d, rng);
  std::uniform_int_distribution<int> coin(0, 1);
  std::uniform_int_distribution<std::size_t> which(0, all_activations.size() - 1);
  const activation act = all_activations[which(rng)];
  const bool use_bias = coin(rng) != 0;
  std::uniform_int_distribution<std::int64_t> at(0, s.channels);
  std::int64_t c_begin = at(rng), c_end = at(rng);
  if (c_begin > c_end) std::swap(c_begin, c_end);
  if (coin(rng) != 0) {
    c_begin = 0;
    c_end = s.channels;
  }
  const float sentinel = 12345.0f;
  std::vector<float> y(static_cast<std::size_t>(s.channels * g.out_h * g.out_w), sentinel);
  t.depthwise_conv(g, w.data(), use_bias ? bias.data() : nullptr, act, y.data(), c_begin, c_end);

  mismatches bad;
  for (std::int64_t c = 0; c < s.channels; ++c) {
    for (std::int64_t oy = 0; oy < g.out_h; ++oy) {
      for (std::int64_t ox = 0; ox < g.out_w; ++ox) {
        const float got = y[static_cast<std::size_t>((c * g.out_h + oy) * g.out_w + ox)];
        const std::string where = "y[" + std::to_string(c) + "," + std::to_string(oy) + "," + std::to_string(ox) + "]";
        if (c < c_begin || c >= c_end) {
          if (got != sentinel) bad.add(where, "outside [c_begin, c_end) changed");
          continue;
        }
        accumulator sum;
        for (std::int64_t i = 0; i < s.kh; ++i) {
          const std::int64_t iy = oy * s.sh - s.pt + i * s.dh;
          if (iy < 0 || iy >= s.height) continue;
          for (std::int64_t j = 0; j < s.kw; ++j) {
            const std::int64_t ix = ox * s.sw - s.pl + j * s.dw;
            if (ix < 0 || ix >= s.width) continue;  // skipped, not multiplied by a zero
            sum.add(x[static_cast<std::size_t>((c * s.height + iy) * s.width + ix)], w[static_cast<std::size_t>(c * taps + i * s.kw + j)]);
          }
        }
        sum.terms = std::max<std::int64_t>(sum.terms, 1);
        if (use_bias) sum.add_value(bias[static_cast<std::size_t>(c)]);
        bad.add(where, check_value(got, sum, act));
      }
    }
  }
  INFO(t.name << " depthwise " << describe(s) << " channels=[" << c_begin << "," << c_end << ") bias=" << use_bias
              << " act=" << to_string(act.kind) << " data=" << to_string(d) << " seed=" << seed << "\n"
              << bad.first);
  CHECK(bad.count == 0);
}

// ---- element-wise functions ----

enum class function { exp, sigmoid, tanh, erf };

double function_exact(function f, double x) {
  switch (f) {
    case function::exp: return std::exp(x);
    case function::sigmoid: return 1.0 / (1.0 + std::exp(-x));
    case function::tanh: return std::tanh(x);
    case function::erf: return std::erf(x);
  }
  return x;
}

// The inputs every function sees: a fine sweep over the interesting range, every boundary, the
// specials, and random bit patterns (all magnitudes, subnormals, NaNs and infinities included).
std::vector<float> function_inputs(std::mt19937& rng) {
  std::vector<float> x;
  for (double v = -110.0; v <= 110.0; v += 0.00731) x.push_back(static_cast<float>(v));
  for (double v = -12.0; v <= 12.0; v += 0.000377) x.push_back(static_cast<float>(v));
  const float specials[] = {0.0f, -0.0f, inf, -inf, qnan, FLT_MAX, -FLT_MAX, FLT_MIN, -FLT_MIN,
                            1e-40f, -1e-40f, 1.4e-45f, -1.4e-45f, 88.7228394f, 88.7228470f, 88.8f, 89.0f,
                            -87.3365479f, -88.72f, -88.73f, -103.9f, -104.0f, -104.1f, -150.0f, 0.625f,
                            -0.625f, 0.62499994f, 1.0f, -1.0f, 0.99999994f, 2.0f, 1.9999999f, 3.92f, 4.0f,
                            -4.0f, 9.0f, 1e30f, -1e30f, 3.0f, -3.0f, 6.0f, -6.0f};
  x.insert(x.end(), std::begin(specials), std::end(specials));
  std::uniform_int_distribution<std::uint32_t> word;
  for (int i = 0; i < 100000; ++i) {
    const std::uint32_t w = word(rng);
    float v;
    std::memcpy(&v, &w, sizeof v);
    x.push_back(v);
  }
  return x;
}

// Checks y = f(x) (or act(x)) element by element: 4 ulp of the exact value plus 2^-126 max(1, |x|).
// Returns the worst error seen in ulp (over results in the normal range), for the log.
template <class Exact>
double check_function(const std::vector<float>& x, const std::vector<float>& y, Exact exact, const std::string& what,
                      mismatches& bad, activation act = {}) {
  double worst = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double want = exact(static_cast<double>(x[i]));
    const float got = y[i];
    std::string why;
    if (std::isnan(want)) {
      if (!std::isnan(got)) why = "expected NaN";
    } else {
      const double tol = 4 * ulp_of(want) + flt_min * std::max(1.0, std::fabs(static_cast<double>(x[i]))) +
                         (std::isfinite(x[i]) ? argument_slack(act, static_cast<double>(x[i])) : 0.0);
      const bool near_overflow = std::fabs(want) >= static_cast<double>(FLT_MAX) * (1 - 8 * eps);
      if (near_overflow) {
        // Rounds to +-inf or is within 4 ulp of FLT_MAX: either is fine.
        if (!(std::isinf(got) && (got > 0) == (want > 0)) && !(std::fabs(static_cast<double>(got) - want) <= tol)) {
          why = "expected about " + std::to_string(want);
        }
      } else if (std::isinf(want)) {
        if (!(static_cast<double>(got) == want)) why = "expected inf";
      } else if (!(std::fabs(static_cast<double>(got) - want) <= tol)) {
        std::ostringstream o;
        o.precision(9);
        o << "expected " << want << " within " << tol;
        why = o.str();
      } else if (std::fabs(want) >= 1e-30 && argument_slack(act, static_cast<double>(x[i])) == 0) {
        // The log shows the ulp error where the absolute slacks play no part.
        worst = std::max(worst, std::fabs(static_cast<double>(got) - want) / ulp_of(want));
      }
    }
    if (!why.empty()) {
      std::ostringstream o;
      o.precision(9);
      o << what << "(" << x[i] << ") = " << got << ": " << why;
      bad.add("x[" + std::to_string(i) + "]", o.str());
    }
  }
  return worst;
}

void (*entry(const float_kernel_table& t, function f))(const float*, float*, std::int64_t) {
  switch (f) {
    case function::exp: return t.exp;
    case function::sigmoid: return t.sigmoid;
    case function::tanh: return t.tanh;
    case function::erf: return t.erf;
  }
  return nullptr;
}

const char* to_string(function f) {
  switch (f) {
    case function::exp: return "exp";
    case function::sigmoid: return "sigmoid";
    case function::tanh: return "tanh";
    case function::erf: return "erf";
  }
  return "?";
}

}  // namespace

TEST_CASE("float kernels: the tables", "[float_kernels]") {
  REQUIRE(std::string(mq::kernels::reference_float_kernels().name) == "reference");
  REQUIRE(std::string(mq::kernels::eigen_float_kernels().name) == "eigen");
  if (const auto* t = mq::kernels::avx2_float_kernels()) CHECK(std::string(t->name) == "avx2");
  if (const auto* t = mq::kernels::avx512_float_kernels()) CHECK(std::string(t->name) == "avx512");
  for (const auto* t : tables()) std::printf("float table under test: %s\n", t->name);
}

TEST_CASE("float kernels: MQ_KERNELS selection", "[float_kernels]") {
  using mq::kernels::select_float_kernels;
  const auto* avx512 = mq::kernels::avx512_float_kernels();
  const auto* avx2 = mq::kernels::avx2_float_kernels();
  const auto& eigen = mq::kernels::eigen_float_kernels();
  const float_kernel_table* fastest = avx512 != nullptr ? avx512 : avx2 != nullptr ? avx2 : &eigen;
  CHECK(&mq::kernels::default_float_kernels() == fastest);
  CHECK(select_float_kernels(nullptr).table == fastest);
  CHECK(select_float_kernels("").table == fastest);
  CHECK(select_float_kernels("reference").table == &mq::kernels::reference_float_kernels());
  CHECK(select_float_kernels("eigen").table == &eigen);
  CHECK(select_float_kernels("eigen").warning.empty());
  const auto forced2 = select_float_kernels("avx2");
  CHECK(forced2.table == (avx2 != nullptr ? avx2 : &eigen));
  CHECK(forced2.warning.empty() == (avx2 != nullptr));
  const auto forced512 = select_float_kernels("avx512");
  CHECK(forced512.table == (avx512 != nullptr ? avx512 : avx2 != nullptr ? avx2 : &eigen));
  CHECK(forced512.warning.empty() == (avx512 != nullptr));
  const auto unknown = select_float_kernels("avx9000");
  CHECK(unknown.table == &mq::kernels::reference_float_kernels());
  CHECK(unknown.warning.find("MQ_KERNELS='avx9000'") != std::string::npos);
  // The process-wide choice is what MQ_KERNELS says.
  CHECK(&mq::kernels::active_float_kernels() == select_float_kernels(std::getenv("MQ_KERNELS")).table);
}

TEST_CASE("float kernels: dense products, every size", "[float_kernels]") {
  const std::vector<std::int64_t> sizes = {1, 7, 8, 9, 15, 16, 17, 33, 100, 257, 1023};
  const std::vector<std::int64_t> small = {1, 7, 8, 9, 15, 16, 17, 33};
  for (const auto* t : tables()) {
    std::mt19937 pick(base_seed());
    std::uniform_int_distribution<std::size_t> any(0, small.size() - 1);
    std::uint32_t seed = base_seed();
    for (const std::int64_t s : sizes) {
      // s as M, as N and as K, the other two small (the product stays small for the oracle).
      for (int axis = 0; axis < 3; ++axis) {
        for (const data d : all_data) {
          std::int64_t dims[3] = {small[any(pick)], small[any(pick)], small[any(pick)]};
          dims[axis] = s;
          run_dense_case(*t, dims[0], dims[1], dims[2], d, ++seed);
        }
      }
    }
    // Blocks: K over several k blocks, N over several column blocks, M over several row panels.
    run_dense_case(*t, 33, 1023, 257, data::normal, ++seed);
    run_dense_case(*t, 100, 257, 1023, data::normal, ++seed);
    run_dense_case(*t, 257, 100, 33, data::mixed, ++seed);
    // A of more than 2^18 elements: B packed even when dense (gemm_blocked.inc direct_fits).
    for (const int b_trans : {0, 1}) run_dense_case(*t, 300, 97, 1000, data::normal, ++seed, b_trans);
  }
}

TEST_CASE("float kernels: dense products, degenerate shapes", "[float_kernels]") {
  for (const auto* t : tables()) {
    std::uint32_t seed = base_seed() + 1000;
    for (const std::int64_t k : {0, 1}) {
      for (const std::int64_t m : {0, 1, 9}) {
        for (const std::int64_t n : {0, 1, 17}) {
          for (const data d : {data::normal, data::special}) run_dense_case(*t, m, n, k, d, ++seed);
        }
      }
    }
    // No input channel: K = 0, C = act(bias (+ C)).
    run_im2col_case(*t, {0, 5, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1}, 9, data::normal, ++seed);
    run_im2col_case(*t, {0, 5, 70, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1}, 1, data::normal, ++seed);
  }
}

TEST_CASE("float kernels: every activation and flag on the product", "[float_kernels]") {
  for (const auto* t : tables()) {
    std::uint32_t seed = base_seed() + 2000;
    for (const activation& act : all_activations) {
      for (const bool use_bias : {false, true}) {
        for (const bool accumulate : {false, true}) {
          for (const data d : all_data) {
            std::mt19937 rng(++seed);
            product_case p = make_case(17, 53, 37, d, rng);
            p.act = act;
            p.use_bias = use_bias;
            p.accumulate = accumulate;
            std::vector<float> b(static_cast<std::size_t>(p.k * p.n));
            fill(b, d, rng);
            std::vector<float> c = p.c0;
            t->gemm(a_dense{p.a.data(), p.k, false}, b_dense{b.data(), p.n, false}, args_of(p, c.data()));
            mismatches bad;
            check_product(p, [&](std::int64_t kk, std::int64_t j) { return b[static_cast<std::size_t>(kk * p.n + j)]; }, c,
                          "gemm", bad);
            INFO(describe(*t, "activation", p, d, seed) << "\n" << bad.first);
            CHECK(bad.count == 0);
          }
        }
      }
    }
  }
}

TEST_CASE("float kernels: im2col products, every geometry", "[float_kernels]") {
  // Geometries of real models first (3x3 and 1x1, stride 1 and 2, pad 0/1/2, 5x5), then random
  // ones (1-D, wide pads, dilations, strides up to 3).
  const std::vector<geometry> fixed = {
      {16, 20, 20, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1}, {16, 21, 19, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},
      {8, 17, 17, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1},  {8, 17, 17, 1, 1, 2, 2, 0, 0, 0, 0, 1, 1},
      {5, 23, 9, 5, 5, 1, 1, 2, 2, 2, 2, 1, 1},   {3, 33, 31, 3, 3, 2, 2, 1, 1, 0, 0, 1, 1},
      {4, 12, 12, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2},  {6, 1, 100, 1, 3, 1, 1, 0, 1, 0, 1, 1, 1},
      {6, 1, 257, 1, 5, 1, 2, 0, 2, 0, 2, 1, 1},  {2, 7, 7, 3, 3, 1, 1, 4, 4, 4, 4, 1, 1},
      {32, 10, 10, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
      // Rows of 32 and more with stride_w 1: B read in place from padded rows (stride_h 2 and a
      // dilation too), rows of 64 with 5x5.
      {8, 9, 70, 3, 3, 2, 1, 1, 1, 1, 1, 1, 2},   {3, 12, 64, 5, 5, 1, 1, 2, 2, 2, 2, 1, 1},
      {4, 6, 47, 3, 3, 1, 1, 0, 0, 0, 0, 1, 1},   {2, 5, 200, 3, 1, 1, 1, 1, 0, 1, 0, 1, 1},
      // Long rows with stride_w 2, 3 (and a dilation), 4 (patches): read in place from phase copies;
      // stride 5 is packed.
      {3, 9, 131, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},  {2, 5, 200, 3, 5, 1, 3, 1, 2, 1, 2, 1, 2},
      {2, 4, 300, 1, 4, 1, 4, 0, 0, 0, 0, 1, 1},  {2, 3, 330, 2, 5, 1, 5, 0, 1, 0, 0, 1, 1},
  };
  const std::vector<std::int64_t> ms = {1, 7, 8, 9, 15, 16, 17, 33};
  for (const auto* t : tables()) {
    std::uint32_t seed = base_seed() + 3000;
    std::mt19937 rng(base_seed());
    std::uniform_int_distribution<std::size_t> any_m(0, ms.size() - 1);
    for (const geometry& s : fixed) {
      for (const data d : all_data) run_im2col_case(*t, s, ms[any_m(rng)], d, ++seed);
    }
    for (int i = 0; i < 150; ++i) {
      const geometry s = random_geometry(rng);
      run_im2col_case(*t, s, ms[any_m(rng)], all_data[static_cast<std::size_t>(i) % all_data.size()], ++seed);
    }
    // Several k blocks and column blocks: K = 64 * 9 = 576, N = 1024.
    run_im2col_case(*t, {64, 32, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1}, 24, data::normal, ++seed);
    run_im2col_case(*t, {29, 40, 27, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1}, 17, data::mixed, ++seed);
    // A of more than 2^18 elements (M 260, K 1080): packed whatever the rows.
    run_im2col_case(*t, {120, 2, 70, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1}, 260, data::normal, ++seed);
  }
}

TEST_CASE("float kernels: a column's value does not depend on how N is split", "[float_kernels]") {
  // Threads split N; the executor's results must not depend on the thread count. The eigen table
  // picks its blocking from the sizes, so splits there are at multiples of 256 columns (gemm.h).
  for (const auto* t : tables()) {
    std::mt19937 rng(base_seed() + 4000);
    const std::int64_t m = 19, k = 300, n = 1100;
    std::vector<float> a(static_cast<std::size_t>(m * k)), b(static_cast<std::size_t>(k * n)), bias(static_cast<std::size_t>(m));
    fill(a, data::normal, rng);
    fill(b, data::normal, rng);
    fill(bias, data::normal, rng);
    aligned_floats packed(t->packed_a_bytes(m, k) / sizeof(float) + 1);
    t->pack_a(m, k, a_dense{a.data(), k, false}, packed.data);
    gemm_args g;
    g.m = m;
    g.n = n;
    g.k = k;
    g.ldc = n;
    g.bias = bias.data();
    g.act = {activation_kind::silu, 0, 0};
    std::vector<float> whole(static_cast<std::size_t>(m * n)), split(static_cast<std::size_t>(m * n));
    g.c = whole.data();
    g.n_begin = 0;
    g.n_end = n;
    t->gemm_packed_dense(packed.data, b_dense{b.data(), n, false}, g);
    const bool eigen = std::string(t->name) == "eigen";
    const std::vector<std::int64_t> cuts = eigen ? std::vector<std::int64_t>{0, 256, 768, 1024, n}
                                                 : std::vector<std::int64_t>{0, 1, 47, 48, 301, 777, 1099, n};
    g.c = split.data();
    for (std::size_t i = 0; i + 1 < cuts.size(); ++i) {
      g.n_begin = cuts[i];
      g.n_end = cuts[i + 1];
      t->gemm_packed_dense(packed.data, b_dense{b.data(), n, false}, g);
    }
    INFO(t->name);
    CHECK(std::memcmp(whole.data(), split.data(), whole.size() * sizeof(float)) == 0);
  }
}

TEST_CASE("float kernels: im2col read in place or packed, the same sums", "[float_kernels]") {
  // gemm_packed_im2col reads B in place (long rows); the same convolution as a dense product over
  // the im2col matrix stored transposed goes through packed panels. The intrinsics tables sum in
  // the same order either way (gemm_blocked.inc); the others make no such promise (Eigen's GEMM;
  // the reference's two loops, which the compiler may contract into FMAs differently).
  for (const auto* t : tables()) {
    const std::string name = t->name;
    if (name != "avx2" && name != "avx512") continue;
    std::mt19937 rng(base_seed() + 4500);
    const geometry s{24, 20, 70, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1};
    std::vector<float> x;
    b_im2col g;
    REQUIRE(make_im2col(s, x, data::normal, rng, g));
    const std::int64_t m = 33, k = s.channels * 9, n = g.out_h * g.out_w;
    std::vector<float> a(static_cast<std::size_t>(m * k)), bias(static_cast<std::size_t>(m));
    fill(a, data::normal, rng);
    fill(bias, data::normal, rng);
    std::vector<float> columns(static_cast<std::size_t>(n * k));  // B transposed: N x K
    for (std::int64_t j = 0; j < n; ++j) {
      for (std::int64_t kk = 0; kk < k; ++kk) columns[static_cast<std::size_t>(j * k + kk)] = im2col_value(g, kk, j);
    }
    aligned_floats packed(t->packed_a_bytes(m, k) / sizeof(float) + 1);
    t->pack_a(m, k, a_dense{a.data(), k, false}, packed.data);
    gemm_args args;
    args.m = m;
    args.n = n;
    args.k = k;
    args.n_begin = 5;
    args.n_end = n - 3;
    args.ldc = n;
    args.bias = bias.data();
    args.act = {activation_kind::silu, 0, 0};
    std::vector<float> in_place(static_cast<std::size_t>(m * n)), via_panels(in_place.size());
    args.c = in_place.data();
    t->gemm_packed_im2col(packed.data, g, args);
    args.c = via_panels.data();
    t->gemm_packed_dense(packed.data, b_dense{columns.data(), k, true}, args);
    INFO(t->name);
    CHECK(std::memcmp(in_place.data(), via_panels.data(), in_place.size() * sizeof(float)) == 0);
  }
}

TEST_CASE("float kernels: threads use their own buffers", "[float_kernels]") {
  for (const auto* t : tables()) {
    const std::int64_t m = 24, k = 200, n = 700;
    std::mt19937 rng(base_seed() + 5000);
    std::vector<float> a(static_cast<std::size_t>(m * k)), b(static_cast<std::size_t>(k * n));
    fill(a, data::normal, rng);
    fill(b, data::normal, rng);
    const auto run = [&](std::vector<float>& c) {
      gemm_args g;
      g.m = m;
      g.n = n;
      g.k = k;
      g.n_begin = 0;
      g.n_end = n;
      g.c = c.data();
      g.ldc = n;
      for (int r = 0; r < 20; ++r) t->gemm(a_dense{a.data(), k, false}, b_dense{b.data(), n, false}, g);
    };
    std::vector<float> alone(static_cast<std::size_t>(m * n)), c1(alone.size()), c2(alone.size());
    run(alone);
    std::thread t1([&] { run(c1); });
    std::thread t2([&] { run(c2); });
    t1.join();
    t2.join();
    INFO(t->name);
    CHECK(std::memcmp(alone.data(), c1.data(), alone.size() * sizeof(float)) == 0);
    CHECK(std::memcmp(alone.data(), c2.data(), alone.size() * sizeof(float)) == 0);
  }
}

TEST_CASE("float kernels: depthwise convolution, every geometry", "[float_kernels]") {
  const std::vector<geometry> fixed = {
      {5, 20, 20, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},  {5, 21, 37, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},
      {3, 19, 70, 5, 5, 1, 1, 2, 2, 2, 2, 1, 1},  {3, 19, 71, 5, 5, 2, 2, 2, 2, 2, 2, 1, 1},
      {2, 9, 100, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2},  {4, 1, 257, 1, 3, 1, 1, 0, 1, 0, 1, 1, 1},
      {2, 8, 8, 3, 3, 3, 3, 0, 0, 0, 0, 1, 1},    {2, 6, 6, 3, 3, 1, 1, 4, 4, 4, 4, 1, 1},
      {1, 33, 17, 7, 7, 1, 1, 3, 3, 3, 3, 1, 1},  {2, 40, 40, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1},
      {1, 5, 1023, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
  };
  for (const auto* t : tables()) {
    std::uint32_t seed = base_seed() + 6000;
    std::mt19937 rng(base_seed() + 1);
    for (const geometry& s : fixed) {
      for (const data d : all_data) run_depthwise_case(*t, s, d, ++seed);
    }
    for (int i = 0; i < 200; ++i) {
      run_depthwise_case(*t, random_geometry(rng), all_data[static_cast<std::size_t>(i) % all_data.size()], ++seed);
    }
  }
}

TEST_CASE("float kernels: exp, sigmoid, tanh, erf", "[float_kernels]") {
  std::mt19937 rng(base_seed() + 7000);
  const std::vector<float> x = function_inputs(rng);
  for (const auto* t : tables()) {
    for (const function f : {function::exp, function::sigmoid, function::tanh, function::erf}) {
      std::vector<float> y(x.size());
      entry(*t, f)(x.data(), y.data(), static_cast<std::int64_t>(x.size()));
      mismatches bad;
      const double worst = check_function(x, y, [f](double v) { return function_exact(f, v); }, to_string(f), bad);
      std::printf("%-9s %-8s worst %.2f ulp\n", t->name, to_string(f), worst);
      INFO(t->name << " " << to_string(f) << " seed=" << base_seed() + 7000 << "\n" << bad.first);
      CHECK(bad.count == 0);
    }
  }
}

TEST_CASE("float kernels: apply_activation, every activation", "[float_kernels]") {
  std::mt19937 rng(base_seed() + 8000);
  const std::vector<float> x = function_inputs(rng);
  for (const auto* t : tables()) {
    for (const activation& act : all_activations) {
      std::vector<float> y(x.size());
      t->apply_activation(act, x.data(), y.data(), static_cast<std::int64_t>(x.size()));
      mismatches bad;
      const double worst =
          check_function(x, y, [act](double v) { return activate_exact(act, v); }, to_string(act.kind), bad, act);
      std::printf("%-9s %-12s worst %.2f ulp\n", t->name, to_string(act.kind), worst);
      INFO(t->name << " " << to_string(act.kind) << " seed=" << base_seed() + 8000 << "\n" << bad.first);
      CHECK(bad.count == 0);
    }
  }
}

TEST_CASE("float kernels: element-wise sizes, offsets and in place", "[float_kernels]") {
  std::mt19937 rng(base_seed() + 9000);
  for (const auto* t : tables()) {
    for (const std::int64_t n : {1, 7, 8, 9, 15, 16, 17, 33, 100, 257, 1023}) {
      for (const std::int64_t offset : {0, 1, 3}) {
        std::vector<float> buffer(static_cast<std::size_t>(n + offset + 8), 777.0f);
        std::vector<float> x(static_cast<std::size_t>(n));
        fill(x, data::normal, rng);
        for (float& v : x) v *= 4;
        for (const function f : {function::exp, function::sigmoid, function::tanh, function::erf}) {
          std::vector<float> out = buffer;
          std::copy(x.begin(), x.end(), out.begin() + offset);
          float* p = out.data() + offset;
          entry(*t, f)(p, p, n);  // in place
          mismatches bad;
          std::vector<float> y(p, p + n);
          check_function(x, y, [f](double v) { return function_exact(f, v); }, to_string(f), bad);
          for (std::size_t i = static_cast<std::size_t>(n + offset); i < out.size(); ++i) {
            if (out[i] != 777.0f) bad.add("past the end", "written");
          }
          for (std::int64_t i = 0; i < offset; ++i) {
            if (out[static_cast<std::size_t>(i)] != 777.0f) bad.add("before the start", "written");
          }
          INFO(t->name << " " << to_string(f) << " n=" << n << " offset=" << offset << "\n" << bad.first);
          CHECK(bad.count == 0);
        }
        for (const activation& act : all_activations) {
          std::vector<float> out = buffer;
          std::copy(x.begin(), x.end(), out.begin() + offset);
          float* p = out.data() + offset;
          t->apply_activation(act, p, p, n);
          mismatches bad;
          std::vector<float> y(p, p + n);
          check_function(x, y, [act](double v) { return activate_exact(act, v); }, to_string(act.kind), bad, act);
          for (std::size_t i = static_cast<std::size_t>(n + offset); i < out.size(); ++i) {
            if (out[i] != 777.0f) bad.add("past the end", "written");
          }
          INFO(t->name << " " << to_string(act.kind) << " n=" << n << " offset=" << offset << "\n" << bad.first);
          CHECK(bad.count == 0);
        }
      }
    }
  }
}
