// Property tests: every Eigen kernel is bit-identical to its reference twin (kernels.h contract),
// on random and adversarial data, aligned and misaligned, and quantize_weight gives identical
// results through either table for per-tensor, per-channel (every axis of 2-D, 3-D, 4-D tensors)
// and blocked quantization. The one exception is the float64 error sums of the quantize kernels
// (and the SQNR made from them): summed in different orders, they are checked against each other
// and against a long double recomputation within the rounding bound of float64 summation. Both
// tables are called directly, so this runs both paths in one process whatever MQ_KERNELS says.
//
// Seeds: each case derives its seed from Catch's --rng-seed (default: a fixed value) and prints
// it with INFO, so a failure can be replayed with `--rng-seed <n>`.
#include <algorithm>
#include <bit>
#include <catch2/catch.hpp>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iomanip>
#include <limits>
#include <memory>
#include <random>
#include <span>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "kernels/kernels.h"
#include "quant/layout.h"
#include "quant/quant.h"

namespace {

using mq::kernels::clip_range;
using mq::kernels::eigen_kernels;
using mq::kernels::error_sums;
using mq::kernels::kernel_table;
using mq::kernels::no_index;
using mq::kernels::reference_kernels;

// The vectorized table under test: the Eigen one, or with MQ_TEST_KERNELS=avx2 the AVX2 one. CTest
// runs this binary once for each; on a CPU without AVX2 the second run prints SKIPPED and tests
// the Eigen kernels again.
const kernel_table& tested_kernels() {
  static const kernel_table* const table = [] {
    const char* want = std::getenv("MQ_TEST_KERNELS");
    if (want != nullptr && std::string(want) == "avx2") {
      if (const kernel_table* avx2 = mq::kernels::avx2_kernels()) return avx2;
      std::printf("SKIPPED: this CPU has no AVX2; the Eigen kernels are tested instead\n");
    }
    return &eigen_kernels();
  }();
  return *table;
}

constexpr float inf = std::numeric_limits<float>::infinity();
constexpr float qnan = std::numeric_limits<float>::quiet_NaN();

const std::vector<std::size_t> sizes = {1, 7, 8, 9, 15, 16, 17, 1023, 4097};

std::uint32_t base_seed() {
  const auto s = Catch::rngSeed();
  return s == 0 ? 20240611u : static_cast<std::uint32_t>(s);
}

std::uint32_t bits(float v) { return std::bit_cast<std::uint32_t>(v); }

// The kinds of data every kernel is fed.
enum class pattern {
  normal,        // gaussian, mixed signs
  signed_zeros,  // +0, -0 and a few tiny values
  ties,          // x / scale exactly k + 0.5 (scale is a power of two in the quantize tests)
  saturating,    // far outside the integer range, up to +-FLT_MAX
  denormals,     // subnormal floats
  all_equal,     // one repeated value
  outlier,       // small values and one huge one
};

const std::vector<pattern> patterns = {
    pattern::normal,    pattern::signed_zeros, pattern::ties,   pattern::saturating,
    pattern::denormals, pattern::all_equal,    pattern::outlier};

const char* to_string(pattern p) {
  switch (p) {
    case pattern::normal: return "normal";
    case pattern::signed_zeros: return "signed_zeros";
    case pattern::ties: return "ties";
    case pattern::saturating: return "saturating";
    case pattern::denormals: return "denormals";
    case pattern::all_equal: return "all_equal";
    case pattern::outlier: return "outlier";
  }
  return "?";
}

// Fills `out` with data of the given pattern. `tie_scale` is the scale the quantize tests use, so
// `ties` values are exactly (k + 0.5) * tie_scale.
void fill(std::span<float> out, pattern p, std::mt19937& rng, float tie_scale = 0.25f) {
  std::normal_distribution<float> gauss(0.0f, 1.0f);
  std::uniform_int_distribution<int> small_int(-300, 300);
  std::uniform_int_distribution<int> coin(0, 3);
  for (float& v : out) {
    switch (p) {
      case pattern::normal: v = gauss(rng) * 3.0f; break;
      case pattern::signed_zeros: {
        const int c = coin(rng);
        v = c == 0 ? 0.0f : c == 1 ? -0.0f : c == 2 ? -1e-30f : 1e-30f;
        break;
      }
      case pattern::ties: v = (static_cast<float>(small_int(rng)) + 0.5f) * tie_scale; break;
      case pattern::saturating: {
        const int c = coin(rng);
        v = c == 0 ? FLT_MAX : c == 1 ? -FLT_MAX : gauss(rng) * 1e6f;
        break;
      }
      case pattern::denormals:
        v = static_cast<float>(small_int(rng)) * std::numeric_limits<float>::denorm_min() * 7.0f;
        break;
      case pattern::all_equal: v = -2.75f; break;
      case pattern::outlier: v = gauss(rng) * 0.01f; break;
    }
  }
  if (p == pattern::outlier && !out.empty()) {
    out[std::uniform_int_distribution<std::size_t>(0, out.size() - 1)(rng)] = 3.0e6f;
  }
}

// A buffer whose data() may be shifted by one float, so kernels see unaligned pointers.
struct shifted_buffer {
  std::vector<float> storage;
  std::size_t offset;
  shifted_buffer(std::size_t n, std::size_t shift) : storage(n + 1, 0.0f), offset(shift) {}
  std::span<float> span() { return {storage.data() + offset, storage.size() - 1}; }
};

void require_same_minmax(const mq::kernels::minmax_result& ref,
                         const mq::kernels::minmax_result& vec) {
  REQUIRE(ref.first_nonfinite == vec.first_nonfinite);
  if (ref.first_nonfinite != no_index) return;  // min/max unspecified with non-finite input
  REQUIRE(bits(ref.min) == bits(vec.min));
  REQUIRE(bits(ref.max) == bits(vec.max));
}

void require_same_floats(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    INFO("index " << i << ": " << a[i] << " vs " << b[i]);
    REQUIRE(bits(a[i]) == bits(b[i]));
  }
}

void require_same_bytes(const std::vector<std::uint8_t>& a, const std::vector<std::uint8_t>& b) {
  REQUIRE(a.size() == b.size());
  const auto diff = std::mismatch(a.begin(), a.end(), b.begin());
  INFO("first difference at byte " << (diff.first - a.begin()));
  REQUIRE(diff.first == a.end());
}

void require_same_bytes(const std::string& a, const std::string& b) {
  require_same_bytes(std::vector<std::uint8_t>(a.begin(), a.end()), std::vector<std::uint8_t>(b.begin(), b.end()));
}

// Puts NaN, +inf or -inf at a random position (and sometimes a second one later).
std::size_t poison(std::span<float> x, std::mt19937& rng, int kind) {
  const float bad = kind == 0 ? qnan : kind == 1 ? inf : -inf;
  const std::size_t at = std::uniform_int_distribution<std::size_t>(0, x.size() - 1)(rng);
  x[at] = bad;
  if (at + 1 < x.size()) x[x.size() - 1] = qnan;
  return at;
}

const std::vector<clip_range> clips = {{-128, 127}, {0, 255}, {-8, 7}, {0, 15}};

// ---- error sums ----

std::string exact(long double v) {
  std::ostringstream s;
  s << std::setprecision(21) << v;
  return s.str();
}

// Two sums of the same n nonnegative float64 terms (each term itself rounded once) added in any
// order are each within about n 2^-53 of the exact sum, hence within 2 n 2^-53 max(a, b) of each
// other; the absolute term only matters when both are zero.
void require_sums_agree(long double a, long double b, std::size_t n, const char* what) {
  const long double bound = 2.0L * static_cast<long double>(n) * 0x1p-53L * std::max(a, b) +
                            std::numeric_limits<double>::denorm_min();
  INFO(what << ": " << exact(a) << " vs " << exact(b) << ", n " << n << ", bound " << exact(bound));
  REQUIRE(std::fabs(a - b) <= bound);
}

// The sums recomputed from the quantized bytes: q from the byte (two's complement when the clip
// range is signed), dq = float(q - zero_point) * scale, e = double(x) - double(dq), summed in
// long double. group(i) is the scale/zero-point index of element i.
struct long_sums {
  long double signal = 0;
  long double noise = 0;
  double worst = 0;
};

template <class Group>
long_sums recompute(const float* x, const std::vector<std::uint8_t>& bytes, clip_range clip,
                    const float* scales, const std::int32_t* zero_points, Group group) {
  long_sums s;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    const std::int32_t q = clip.lo < 0 ? static_cast<std::int8_t>(bytes[i]) : bytes[i];
    const std::size_t g = group(i);
    const float dq = static_cast<float>(q - zero_points[g]) * scales[g];
    const double e = static_cast<double>(x[i]) - static_cast<double>(dq);
    s.signal += static_cast<long double>(x[i]) * static_cast<long double>(x[i]);
    s.noise += static_cast<long double>(e) * static_cast<long double>(e);
    s.worst = std::max(s.worst, std::fabs(e));
  }
  return s;
}

// Both tables' sums of one call (starting from zero): worst exact, signal/noise within the bound,
// of each other and of the recomputation.
void require_error_sums(const error_sums& ref, const error_sums& vec, const long_sums& want,
                        std::size_t n) {
  INFO("worst " << exact(ref.worst) << " / " << exact(vec.worst) << " / " << exact(want.worst));
  REQUIRE(std::bit_cast<std::uint64_t>(ref.worst) == std::bit_cast<std::uint64_t>(vec.worst));
  REQUIRE(ref.worst == want.worst);
  require_sums_agree(ref.signal, vec.signal, n, "signal ref/eigen");
  require_sums_agree(ref.noise, vec.noise, n, "noise ref/eigen");
  for (const error_sums* e : {&ref, &vec}) {
    require_sums_agree(e->signal, want.signal, n, e == &ref ? "signal ref" : "signal eigen");
    require_sums_agree(e->noise, want.noise, n, e == &ref ? "noise ref" : "noise eigen");
  }
}

}  // namespace

TEST_CASE("the kernel tables are distinct and named", "[kernels]") {
  REQUIRE(std::string(reference_kernels().name) == "reference");
  REQUIRE(std::string(eigen_kernels().name) == "eigen");
  if (const kernel_table* avx2 = mq::kernels::avx2_kernels()) REQUIRE(std::string(avx2->name) == "avx2");
}

TEST_CASE("MQ_KERNELS selection", "[kernels]") {
  const kernel_table* avx2 = mq::kernels::avx2_kernels();
#if defined(__AVX2__)
  CHECK(&mq::kernels::default_kernels() == &eigen_kernels());  // the build already uses AVX2
#else
  CHECK(&mq::kernels::default_kernels() == (avx2 != nullptr ? avx2 : &eigen_kernels()));
#endif
  CHECK(mq::kernels::select_kernels(nullptr).table == &mq::kernels::default_kernels());
  CHECK(mq::kernels::select_kernels("").table == &mq::kernels::default_kernels());
  CHECK(mq::kernels::select_kernels("eigen").table == &eigen_kernels());
  CHECK(mq::kernels::select_kernels("eigen").warning.empty());
  CHECK(mq::kernels::select_kernels("reference").table == &reference_kernels());
  const auto forced = mq::kernels::select_kernels("avx2");
  CHECK(forced.table == (avx2 != nullptr ? avx2 : &eigen_kernels()));
  CHECK(forced.warning.empty() == (avx2 != nullptr));
  const auto unknown = mq::kernels::select_kernels("avx9000");
  CHECK(unknown.table == &reference_kernels());
  CHECK(unknown.warning.find("MQ_KERNELS='avx9000'") != std::string::npos);
  // The process-wide choice follows this process's environment (CI runs the suite both ways).
  const auto expected = mq::kernels::select_kernels(std::getenv("MQ_KERNELS"));
  CHECK(&mq::kernels::active_kernels() == expected.table);
}

TEST_CASE("minmax: vector kernels == reference", "[kernels][property]") {
  for (const std::size_t n : sizes) {
    for (const std::size_t shift : {0u, 1u}) {
      for (const pattern p : patterns) {
        const std::uint32_t seed = base_seed() + static_cast<std::uint32_t>(n * 31 + shift);
        INFO("seed " << seed << ", n " << n << ", shift " << shift << ", " << to_string(p));
        std::mt19937 rng(seed);
        shifted_buffer buf(n, shift);
        fill(buf.span(), p, rng);
        require_same_minmax(reference_kernels().minmax(buf.span()),
                            tested_kernels().minmax(buf.span()));
      }
    }
  }
}

TEST_CASE("minmax: exact values, signed zeros and empty input", "[kernels]") {
  for (const kernel_table* k : {&reference_kernels(), &tested_kernels()}) {
    INFO(k->name);
    std::vector<float> x(37, -0.0f);
    auto r = k->minmax(x);
    CHECK(bits(r.min) == bits(0.0f));  // zero results are +0 whatever the input's sign
    CHECK(bits(r.max) == bits(0.0f));
    x[20] = -5.5f;
    x[36] = 1e-45f;
    r = k->minmax(x);
    CHECK(r.min == -5.5f);
    CHECK(r.max == 1e-45f);
    CHECK(r.first_nonfinite == no_index);
    r = k->minmax(std::span<const float>());
    CHECK(r.min == inf);
    CHECK(r.max == -inf);
  }
}

TEST_CASE("minmax: NaN and inf give the same first index", "[kernels][property]") {
  for (const std::size_t n : sizes) {
    for (int kind = 0; kind < 3; ++kind) {
      const std::uint32_t seed =
          base_seed() + static_cast<std::uint32_t>(n * 7) + static_cast<std::uint32_t>(kind);
      INFO("seed " << seed << ", n " << n << ", kind " << kind);
      std::mt19937 rng(seed);
      shifted_buffer buf(n, 1);
      fill(buf.span(), pattern::normal, rng);
      const std::size_t at = poison(buf.span(), rng, kind);
      const auto ref = reference_kernels().minmax(buf.span());
      const auto vec = tested_kernels().minmax(buf.span());
      REQUIRE(ref.first_nonfinite == static_cast<std::int64_t>(at));
      REQUIRE(vec.first_nonfinite == ref.first_nonfinite);
    }
  }
}

TEST_CASE("minmax_rows and minmax_columns: vector kernels == reference", "[kernels][property]") {
  const std::vector<std::size_t> rows_list = {1, 3, 8, 17};
  std::vector<std::size_t> cols_list = sizes;
  cols_list.push_back(1025);
  cols_list.push_back(16400);  // crosses the 8192-column tiles of the column kernels twice
  for (const std::size_t rows : rows_list) {
    for (const std::size_t cols : cols_list) {
      for (const pattern p : patterns) {
        const std::uint32_t seed = base_seed() + static_cast<std::uint32_t>(rows * 10007 + cols);
        INFO("seed " << seed << ", " << rows << "x" << cols << ", " << to_string(p));
        std::mt19937 rng(seed);
        shifted_buffer buf(rows * cols, (rows + cols) % 2);
        fill(buf.span(), p, rng);
        const float* x = buf.span().data();
        std::vector<float> rmin(rows), rmax(rows), vmin(rows), vmax(rows);
        REQUIRE(reference_kernels().minmax_rows(x, rows, cols, rmin.data(), rmax.data()) ==
                no_index);
        REQUIRE(tested_kernels().minmax_rows(x, rows, cols, vmin.data(), vmax.data()) == no_index);
        require_same_floats(rmin, vmin);
        require_same_floats(rmax, vmax);
        std::vector<float> cmin(cols), cmax(cols), wmin(cols), wmax(cols);
        REQUIRE(reference_kernels().minmax_columns(x, rows, cols, cmin.data(), cmax.data()) ==
                no_index);
        REQUIRE(tested_kernels().minmax_columns(x, rows, cols, wmin.data(), wmax.data()) ==
                no_index);
        require_same_floats(cmin, wmin);
        require_same_floats(cmax, wmax);
      }
    }
  }
}

TEST_CASE("minmax_rows and minmax_columns: non-finite index", "[kernels][property]") {
  for (const std::size_t cols : {1u, 9u, 17u, 1030u}) {
    for (int kind = 0; kind < 3; ++kind) {
      const std::size_t rows = 5;
      const std::uint32_t seed =
          base_seed() + static_cast<std::uint32_t>(cols * 3) + static_cast<std::uint32_t>(kind);
      INFO("seed " << seed << ", cols " << cols << ", kind " << kind);
      std::mt19937 rng(seed);
      shifted_buffer buf(rows * cols, 1);
      fill(buf.span(), pattern::normal, rng);
      const auto at = static_cast<std::int64_t>(poison(buf.span(), rng, kind));
      const float* x = buf.span().data();
      std::vector<float> a(std::max(rows, cols)), b(std::max(rows, cols));
      CHECK(reference_kernels().minmax_rows(x, rows, cols, a.data(), b.data()) == at);
      CHECK(tested_kernels().minmax_rows(x, rows, cols, a.data(), b.data()) == at);
      CHECK(reference_kernels().minmax_columns(x, rows, cols, a.data(), b.data()) == at);
      CHECK(tested_kernels().minmax_columns(x, rows, cols, a.data(), b.data()) == at);
    }
  }
}

TEST_CASE("quantize: vector kernels == reference", "[kernels][property]") {
  // Power-of-two scales make the `ties` pattern land exactly on k + 0.5; the others do not.
  const std::vector<float> scales = {0.25f, 1.0f, 0.0123f, 3.7f, FLT_MIN, 1e-39f /* subnormal */};
  for (const std::size_t n : sizes) {
    for (const std::size_t shift : {0u, 1u}) {
      for (const pattern p : patterns) {
        for (const float scale : scales) {
          for (const clip_range clip : clips) {
            const std::uint32_t seed = base_seed() + static_cast<std::uint32_t>(n * 131 + shift);
            std::mt19937 rng(seed);
            const std::int32_t zp =
                std::uniform_int_distribution<std::int32_t>(clip.lo, clip.hi)(rng);
            INFO("seed " << seed << ", n " << n << ", shift " << shift << ", " << to_string(p)
                         << ", scale " << scale << ", zp " << zp << ", clip [" << clip.lo << ", "
                         << clip.hi << "]");
            shifted_buffer buf(n, shift);
            fill(buf.span(), p, rng, scale);
            std::vector<std::uint8_t> ref(n), vec(n), ref_m(n), vec_m(n);
            error_sums ref_err, vec_err;
            REQUIRE(reference_kernels().quantize(buf.span(), scale, zp, clip, ref.data(),
                                                 nullptr) == no_index);
            REQUIRE(tested_kernels().quantize(buf.span(), scale, zp, clip, vec.data(), nullptr) ==
                    no_index);
            REQUIRE(reference_kernels().quantize(buf.span(), scale, zp, clip, ref_m.data(),
                                                 &ref_err) == no_index);
            REQUIRE(tested_kernels().quantize(buf.span(), scale, zp, clip, vec_m.data(), &vec_err) ==
                    no_index);
            require_same_bytes(ref, vec);
            require_same_bytes(ref, ref_m);  // measuring does not change the bytes
            require_same_bytes(ref, vec_m);
            const long_sums want = recompute(buf.span().data(), ref, clip, &scale, &zp,
                                             [](std::size_t) { return std::size_t{0}; });
            require_error_sums(ref_err, vec_err, want, n);
          }
        }
      }
    }
  }
}

TEST_CASE("quantize: spans long enough for streaming stores == reference", "[kernels][property]") {
  // The AVX2 kernel writes outputs of 256 KiB or more with streaming stores when they are 16-byte
  // aligned; the sizes above are all shorter. Aligned and unaligned outputs, float and byte input.
  const std::size_t n = 300000 + 37;
  for (const pattern p : {pattern::normal, pattern::ties, pattern::saturating}) {
    for (int bad = -1; bad < 1; ++bad) {
      const std::uint32_t seed = base_seed() + static_cast<std::uint32_t>(bad + 2) * 97u;
      INFO("seed " << seed << ", " << to_string(p) << ", bad " << bad);
      std::mt19937 rng(seed);
      std::vector<float> x(n);
      fill(x, p, rng, 0.25f);
      if (bad >= 0) (void)poison(x, rng, bad);
      std::vector<std::uint8_t> ref(n);
      const std::int64_t ref_index = reference_kernels().quantize(x, 0.25f, 3, {-128, 127}, ref.data(), nullptr);
      std::vector<std::uint8_t> storage(n + 32);
      auto* aligned = reinterpret_cast<std::uint8_t*>((reinterpret_cast<std::uintptr_t>(storage.data()) + 15) & ~std::uintptr_t{15});
      for (std::uint8_t* out : {aligned, aligned + 1}) {
        std::fill(storage.begin(), storage.end(), std::uint8_t{0xAA});
        REQUIRE(tested_kernels().quantize(x, 0.25f, 3, {-128, 127}, out, nullptr) == ref_index);
        REQUIRE(std::memcmp(out, ref.data(), n) == 0);
        std::fill(storage.begin(), storage.end(), std::uint8_t{0xAA});
        REQUIRE(tested_kernels().quantize_bytes(reinterpret_cast<const std::byte*>(x.data()), n, 0.25f, 3,
                                                {-128, 127}, out, nullptr) == ref_index);
        REQUIRE(std::memcmp(out, ref.data(), n) == 0);
      }
    }
  }
}

TEST_CASE("quantize, measured: the AVX2 and Eigen error sums agree bit for bit", "[kernels]") {
  // Same 16 float64 lanes, same order of additions (kernels.h). Only without FMA in the build:
  // with it, the compiler may contract the Eigen kernels' `s + e * e`.
  const kernel_table* avx2 = mq::kernels::avx2_kernels();
#if defined(__FMA__)
  avx2 = nullptr;
#endif
  if (avx2 == nullptr) {
    std::printf("SKIPPED: no AVX2, or the build uses FMA\n");
    return;
  }
  for (const std::size_t n : {std::size_t{1}, std::size_t{17}, std::size_t{4097}, std::size_t{300001}}) {
    std::mt19937 rng(base_seed() + static_cast<std::uint32_t>(n));
    std::vector<float> x(n);
    fill(x, pattern::normal, rng);
    std::vector<std::uint8_t> a(n), b(n);
    error_sums ea, eb;
    REQUIRE(avx2->quantize(x, 0.021f, -3, {-128, 127}, a.data(), &ea) == no_index);
    REQUIRE(eigen_kernels().quantize(x, 0.021f, -3, {-128, 127}, b.data(), &eb) == no_index);
    require_same_bytes(a, b);
    CHECK(std::bit_cast<std::uint64_t>(ea.signal) == std::bit_cast<std::uint64_t>(eb.signal));
    CHECK(std::bit_cast<std::uint64_t>(ea.noise) == std::bit_cast<std::uint64_t>(eb.noise));
    CHECK(std::bit_cast<std::uint64_t>(ea.worst) == std::bit_cast<std::uint64_t>(eb.worst));
  }
}

TEST_CASE("quantize: exact ties round half to even in both tables", "[kernels]") {
  // x / 0.5 = k + 0.5 exactly; round half to even gives these (numpy.round / QuantizeLinear).
  const std::vector<float> x = {0.25f, 0.75f, 1.25f, 1.75f,  -0.25f, -0.75f, -1.25f, -1.75f, 0.25f,
                                0.75f, 1.25f, 1.75f, -0.25f, -0.75f, -1.25f, -1.75f, 2.25f};
  const std::vector<std::int8_t> want = {0, 2, 2, 4, 0, -2, -2, -4, 0, 2, 2, 4, 0, -2, -2, -4, 4};
  for (const kernel_table* k : {&reference_kernels(), &tested_kernels()}) {
    INFO(k->name);
    std::vector<std::uint8_t> out(x.size());
    REQUIRE(k->quantize(x, 0.5f, 0, {-128, 127}, out.data(), nullptr) == no_index);
    for (std::size_t i = 0; i < x.size(); ++i) {
      INFO("x = " << x[i]);
      CHECK(static_cast<std::int8_t>(out[i]) == want[i]);
    }
  }
}

TEST_CASE("quantize: NaN and inf give the same index and bytes", "[kernels][property]") {
  for (const std::size_t n : sizes) {
    for (int kind = 0; kind < 3; ++kind) {
      const std::uint32_t seed =
          base_seed() + static_cast<std::uint32_t>(n * 11) + static_cast<std::uint32_t>(kind);
      INFO("seed " << seed << ", n " << n << ", kind " << kind);
      std::mt19937 rng(seed);
      shifted_buffer buf(n, 1);
      fill(buf.span(), pattern::normal, rng);
      const auto at = static_cast<std::int64_t>(poison(buf.span(), rng, kind));
      std::vector<std::uint8_t> ref(n), vec(n), vec_m(n);
      REQUIRE(reference_kernels().quantize(buf.span(), 0.05f, 3, {-128, 127}, ref.data(),
                                           nullptr) == at);
      REQUIRE(tested_kernels().quantize(buf.span(), 0.05f, 3, {-128, 127}, vec.data(), nullptr) ==
              at);
      require_same_bytes(ref, vec);  // NaN -> lo, +-inf saturate (kernels.h)
      error_sums ignored;  // meaningless with non-finite input, but bytes and index are not
      REQUIRE(tested_kernels().quantize(buf.span(), 0.05f, 3, {-128, 127}, vec_m.data(), &ignored) ==
              at);
      require_same_bytes(ref, vec_m);
      const auto v = buf.span()[static_cast<std::size_t>(at)];
      const std::int8_t expected = std::isnan(v) ? -128 : v > 0 ? 127 : -128;
      CHECK(static_cast<std::int8_t>(ref[static_cast<std::size_t>(at)]) == expected);
    }
  }
}

TEST_CASE("quantize_rows and quantize_columns: vector kernels == reference", "[kernels][property]") {
  const std::vector<std::size_t> rows_list = {1, 3, 17};
  std::vector<std::size_t> cols_list = sizes;
  cols_list.push_back(1025);
  cols_list.push_back(16400);  // crosses the 8192-column tiles of the column kernels twice
  for (const std::size_t rows : rows_list) {
    for (const std::size_t cols : cols_list) {
      for (const pattern p : patterns) {
        for (const clip_range clip : clips) {
          const std::uint32_t seed = base_seed() + static_cast<std::uint32_t>(rows * 7919 + cols);
          INFO("seed " << seed << ", " << rows << "x" << cols << ", " << to_string(p) << ", clip ["
                       << clip.lo << ", " << clip.hi << "]");
          std::mt19937 rng(seed);
          shifted_buffer buf(rows * cols, cols % 2);
          fill(buf.span(), p, rng);
          const float* x = buf.span().data();
          const std::size_t groups = std::max(rows, cols);
          std::vector<float> scales(groups);
          std::vector<std::int32_t> zps(groups);
          std::uniform_real_distribution<float> log_scale(-12.0f, 4.0f);
          std::uniform_int_distribution<std::int32_t> zp(clip.lo, clip.hi);
          for (std::size_t g = 0; g < groups; ++g) {
            // Some power-of-two scales (ties hit exactly), some arbitrary.
            scales[g] = g % 3 == 0 ? std::ldexp(1.0f, static_cast<int>(log_scale(rng)))
                                   : std::exp2(log_scale(rng));
            zps[g] = zp(rng);
          }
          const auto by_row = [cols](std::size_t i) { return i / cols; };
          const auto by_column = [cols](std::size_t i) { return i % cols; };
          for (const bool rowwise : {true, false}) {
            INFO((rowwise ? "quantize_rows" : "quantize_columns"));
            const auto fn =
                rowwise ? &kernel_table::quantize_rows : &kernel_table::quantize_columns;
            const std::size_t n = rows * cols;
            std::vector<std::uint8_t> ref(n), vec(n), ref_m(n), vec_m(n);
            error_sums ref_err, vec_err;
            REQUIRE((reference_kernels().*fn)(x, rows, cols, scales.data(), zps.data(), clip,
                                              ref.data(), nullptr) == no_index);
            REQUIRE((tested_kernels().*fn)(x, rows, cols, scales.data(), zps.data(), clip,
                                          vec.data(), nullptr) == no_index);
            REQUIRE((reference_kernels().*fn)(x, rows, cols, scales.data(), zps.data(), clip,
                                              ref_m.data(), &ref_err) == no_index);
            REQUIRE((tested_kernels().*fn)(x, rows, cols, scales.data(), zps.data(), clip,
                                          vec_m.data(), &vec_err) == no_index);
            require_same_bytes(ref, vec);
            require_same_bytes(ref, ref_m);
            require_same_bytes(ref, vec_m);
            const long_sums want =
                rowwise ? recompute(x, ref, clip, scales.data(), zps.data(), by_row)
                        : recompute(x, ref, clip, scales.data(), zps.data(), by_column);
            require_error_sums(ref_err, vec_err, want, n);
          }
        }
      }
    }
  }
}

TEST_CASE("quantize kernels: error sums of known values", "[kernels]") {
  // scale 1, zp 0: {127, 0.25, -1.5} -> q {127, 0, -2}; errors {0, 0.25, 0.5}; every term and
  // partial sum is exact, so both tables give exactly signal 16131.3125, noise 0.3125, worst 0.5.
  // Repeated 7 times (21 values) so the Eigen kernel uses a full block and a tail.
  std::vector<float> x;
  for (int i = 0; i < 7; ++i) x.insert(x.end(), {127.0f, 0.25f, -1.5f});
  for (const kernel_table* k : {&reference_kernels(), &tested_kernels()}) {
    INFO(k->name);
    std::vector<std::uint8_t> out(x.size());
    error_sums err;
    REQUIRE(k->quantize(x, 1.0f, 0, {-128, 127}, out.data(), &err) == no_index);
    CHECK(err.signal == 7 * 16131.3125);
    CHECK(err.noise == 7 * 0.3125);
    CHECK(err.worst == 0.5);
    // uint8 with zero point 128: q - zp is what is dequantized, not the stored byte.
    err = {};
    REQUIRE(k->quantize(x, 1.0f, 128, {0, 255}, out.data(), &err) == no_index);
    CHECK(out[0] == 255);
    CHECK(err.noise == 7 * 0.3125);
    CHECK(err.worst == 0.5);
    // All zeros: no error at all.
    err = {};
    const std::vector<float> zeros(37, 0.0f);
    std::vector<std::uint8_t> zout(zeros.size());
    REQUIRE(k->quantize(zeros, 1.0f, 0, {-128, 127}, zout.data(), &err) == no_index);
    CHECK(err.signal == 0);
    CHECK(err.noise == 0);
    CHECK(err.worst == 0);
  }
}

TEST_CASE("quantize kernels: a null accumulator gives the same bytes; sums accumulate",
          "[kernels][property]") {
  const std::size_t rows = 13;
  const std::size_t cols = 37;  // two blocks and a tail per row
  const std::size_t n = rows * cols;
  const std::uint32_t seed = base_seed() + 77u;
  INFO("seed " << seed);
  std::mt19937 rng(seed);
  std::vector<float> x(n);
  fill(x, pattern::normal, rng);
  std::vector<float> scales(cols);
  std::vector<std::int32_t> zps(cols);
  for (std::size_t g = 0; g < cols; ++g) {
    scales[g] = 0.01f + 0.002f * static_cast<float>(g);
    zps[g] = static_cast<std::int32_t>(g % 9) - 4;
  }
  const clip_range clip{-128, 127};
  using quantize_fn = std::function<std::int64_t(const kernel_table&, std::size_t, std::size_t,
                                                 std::uint8_t*, error_sums*)>;
  // Each kernel applied to rows [r0, r0 + count).
  const std::vector<std::pair<const char*, quantize_fn>> kernels = {
      {"quantize",
       [&](const kernel_table& k, std::size_t r0, std::size_t count, std::uint8_t* out,
           error_sums* err) {
         return k.quantize(std::span<const float>(x).subspan(r0 * cols, count * cols), scales[0],
                           zps[0], clip, out + r0 * cols, err);
       }},
      {"quantize_rows",
       [&](const kernel_table& k, std::size_t r0, std::size_t count, std::uint8_t* out,
           error_sums* err) {
         return k.quantize_rows(x.data() + r0 * cols, count, cols, scales.data() + r0,
                                zps.data() + r0, clip, out + r0 * cols, err);
       }},
      {"quantize_columns",
       [&](const kernel_table& k, std::size_t r0, std::size_t count, std::uint8_t* out,
           error_sums* err) {
         return k.quantize_columns(x.data() + r0 * cols, count, cols, scales.data(), zps.data(),
                                   clip, out + r0 * cols, err);
       }},
  };
  for (const kernel_table* k : {&reference_kernels(), &tested_kernels()}) {
    for (const auto& [name, fn] : kernels) {
      INFO(k->name << " " << name);
      std::vector<std::uint8_t> plain(n), measured(n), split(n);
      REQUIRE(fn(*k, 0, rows, plain.data(), nullptr) == no_index);
      error_sums whole;
      REQUIRE(fn(*k, 0, rows, measured.data(), &whole) == no_index);
      require_same_bytes(plain, measured);
      REQUIRE(whole.noise > 0);
      REQUIRE(whole.worst > 0);

      // Two calls into one accumulator add up to one call over everything.
      error_sums parts;
      REQUIRE(fn(*k, 0, 5, split.data(), &parts) == no_index);
      REQUIRE(fn(*k, 5, rows - 5, split.data(), &parts) == no_index);
      require_same_bytes(plain, split);
      CHECK(parts.worst == whole.worst);
      require_sums_agree(parts.signal, whole.signal, n, "signal");
      require_sums_agree(parts.noise, whole.noise, n, "noise");

      // A non-zero starting accumulator is added to, not reset; worst is a running max.
      for (const double start_worst : {0.0, 1e30}) {
        error_sums acc{1000.0, 7.0, start_worst};
        REQUIRE(fn(*k, 0, rows, split.data(), &acc) == no_index);
        CHECK(acc.worst == std::max(start_worst, whole.worst));
        require_sums_agree(acc.signal, 1000.0L + whole.signal, n + 1, "signal");
        require_sums_agree(acc.noise, 7.0L + whole.noise, n + 1, "noise");
      }
    }
  }
}

TEST_CASE("quantize_rows and quantize_columns: non-finite index", "[kernels][property]") {
  for (const std::size_t cols : {1u, 9u, 17u, 1030u}) {
    for (int kind = 0; kind < 3; ++kind) {
      const std::size_t rows = 4;
      const std::uint32_t seed =
          base_seed() + static_cast<std::uint32_t>(cols * 5) + static_cast<std::uint32_t>(kind);
      INFO("seed " << seed << ", cols " << cols << ", kind " << kind);
      std::mt19937 rng(seed);
      shifted_buffer buf(rows * cols, 0);
      fill(buf.span(), pattern::normal, rng);
      const auto at = static_cast<std::int64_t>(poison(buf.span(), rng, kind));
      const float* x = buf.span().data();
      const std::vector<float> scales(std::max(rows, cols), 0.02f);
      const std::vector<std::int32_t> zps(std::max(rows, cols), 0);
      std::vector<std::uint8_t> ref(rows * cols), vec(rows * cols);
      for (const auto fn : {&kernel_table::quantize_rows, &kernel_table::quantize_columns}) {
        CHECK((reference_kernels().*fn)(x, rows, cols, scales.data(), zps.data(), {0, 255},
                                        ref.data(), nullptr) == at);
        CHECK((tested_kernels().*fn)(x, rows, cols, scales.data(), zps.data(), {0, 255}, vec.data(),
                                    nullptr) == at);
        require_same_bytes(ref, vec);
        error_sums ignored;
        CHECK((tested_kernels().*fn)(x, rows, cols, scales.data(), zps.data(), {0, 255}, vec.data(),
                                    &ignored) == at);
        require_same_bytes(ref, vec);
      }
    }
  }
}

// ---- quantize_weight through both tables ----

// ---- the byte kernels: float32 values at any address ----

namespace {

// The floats of `values` copied to a buffer at byte offset `shift` (0-3) from an aligned start.
struct byte_copy {
  std::vector<std::byte> storage;
  std::size_t shift;
  byte_copy(const std::vector<float>& values, std::size_t offset)
      : storage(values.size() * sizeof(float) + sizeof(float)), shift(offset) {
    if (!values.empty()) std::memcpy(storage.data() + shift, values.data(), values.size() * sizeof(float));
  }
  const std::byte* data() const { return storage.data() + shift; }
};

bool same_sums(const error_sums& a, const error_sums& b) {
  return std::bit_cast<std::uint64_t>(a.signal) == std::bit_cast<std::uint64_t>(b.signal) &&
         std::bit_cast<std::uint64_t>(a.noise) == std::bit_cast<std::uint64_t>(b.noise) &&
         std::bit_cast<std::uint64_t>(a.worst) == std::bit_cast<std::uint64_t>(b.worst);
}

}  // namespace

TEST_CASE("byte kernels: the float kernels' results at every byte offset", "[kernels][property]") {
  const std::vector<std::pair<std::size_t, std::size_t>> shapes = {
      {1, 1}, {1, 7}, {3, 16}, {5, 17}, {4, 33}, {17, 9}, {2, 1025}, {64, 64}, {9, 4097}, {3, 16400}};
  for (const kernel_table* k : {&reference_kernels(), &tested_kernels()}) {
    for (const auto& [rows, cols] : shapes) {
      for (const pattern p : patterns) {
        for (int bad = -1; bad < 3; ++bad) {  // -1: all finite; else NaN, inf, -inf somewhere
          const std::uint32_t seed = base_seed() + static_cast<std::uint32_t>(rows * 4099 + cols) + static_cast<std::uint32_t>(7 * (bad + 1));
          std::mt19937 rng(seed);
          const std::size_t n = rows * cols;
          std::vector<float> values(n);
          fill(values, p, rng, 0.25f);
          if (bad >= 0) (void)poison(values, rng, bad);
          std::vector<float> scales(cols);
          std::vector<std::int32_t> zps(cols);
          for (std::size_t c = 0; c < cols; ++c) {
            scales[c] = std::exp2(std::uniform_real_distribution<float>(-10.0f, 3.0f)(rng));
            zps[c] = std::uniform_int_distribution<std::int32_t>(-128, 127)(rng);
          }
          const clip_range clip{-128, 127};
          for (std::size_t shift = 0; shift < 4; ++shift) {
            INFO(k->name << ", seed " << seed << ", " << rows << "x" << cols << ", " << to_string(p)
                         << ", bad " << bad << ", byte offset " << shift);
            const byte_copy bytes(values, shift);

            require_same_minmax(k->minmax(values), k->minmax_bytes(bytes.data(), n));

            std::vector<float> mins(cols), maxs(cols), bmins(cols), bmaxs(cols);
            REQUIRE(k->minmax_columns(values.data(), rows, cols, mins.data(), maxs.data()) ==
                    k->minmax_columns_bytes(bytes.data(), rows, cols, bmins.data(), bmaxs.data()));
            if (bad < 0) {
              require_same_floats(mins, bmins);
              require_same_floats(maxs, bmaxs);
            }

            for (const bool measure : {false, true}) {
              std::vector<std::uint8_t> q(n), bq(n), qc(n), bqc(n);
              error_sums e, be, ec, bec;
              REQUIRE(k->quantize(values, scales[0], zps[0], clip, q.data(), measure ? &e : nullptr) ==
                      k->quantize_bytes(bytes.data(), n, scales[0], zps[0], clip, bq.data(), measure ? &be : nullptr));
              require_same_bytes(q, bq);
              REQUIRE(k->quantize_columns(values.data(), rows, cols, scales.data(), zps.data(), clip, qc.data(),
                                          measure ? &ec : nullptr) ==
                      k->quantize_columns_bytes(bytes.data(), rows, cols, scales.data(), zps.data(), clip, bqc.data(),
                                                measure ? &bec : nullptr));
              require_same_bytes(qc, bqc);
              if (measure && bad < 0) {  // same values in the same order: the same sums, bit for bit
                CHECK(same_sums(e, be));
                CHECK(same_sums(ec, bec));
              }
            }
          }
        }
      }
    }
  }
}

TEST_CASE("byte kernels: nothing is read outside the given bytes", "[kernels]") {
  // Exactly n * 4 bytes in their own allocation, at an odd address: ASan (the asan preset)
  // reports any read past either end.
  for (const kernel_table* k : {&reference_kernels(), &tested_kernels()}) {
    for (const std::size_t n : {1u, 15u, 16u, 17u, 33u}) {
      INFO(k->name << ", n " << n);
      auto storage = std::make_unique<std::byte[]>(n * sizeof(float) + 1);
      std::byte* x = storage.get() + 1;
      for (std::size_t i = 0; i < n; ++i) {
        const float v = static_cast<float>(i) - 3.5f;
        std::memcpy(x + i * sizeof(float), &v, sizeof v);
      }
      const auto mm = k->minmax_bytes(x, n);
      CHECK(mm.min == -3.5f);
      CHECK(mm.max == static_cast<float>(n) - 4.5f);
      std::vector<std::uint8_t> q(n);
      error_sums err;
      CHECK(k->quantize_bytes(x, n, 0.5f, 0, {-128, 127}, q.data(), &err) == no_index);
      CHECK(static_cast<std::int8_t>(q[0]) == -7);
      float mins[1], maxs[1];
      CHECK(k->minmax_columns_bytes(x, n, 1, mins, maxs) == no_index);
      CHECK(mins[0] == -3.5f);
      const float scale = 1.0f;
      const std::int32_t zp = 0;
      CHECK(k->quantize_columns_bytes(x, n, 1, &scale, &zp, {-128, 127}, q.data(), nullptr) == no_index);
      CHECK(static_cast<std::int8_t>(q[n - 1]) == static_cast<std::int8_t>(std::nearbyint(static_cast<float>(n) - 4.5f)));
    }
  }
}

namespace {

std::vector<std::vector<std::int64_t>> shapes_for_rank(std::size_t rank) {
  switch (rank) {
    case 2: return {{7, 9}, {33, 17}, {1, 40}, {64, 3}};
    case 3: return {{3, 5, 7}, {2, 40, 3}, {4, 3, 33}};
    default: return {{4, 3, 3, 3}, {2, 5, 1, 33}, {6, 2, 4, 5}};
  }
}

std::size_t element_count(const std::vector<std::int64_t>& dims) {
  std::size_t n = 1;
  for (const auto d : dims) n *= static_cast<std::size_t>(d);
  return n;
}

// Everything identical except the SQNR, made of float64 sums added in different orders: signal
// and noise each differ by at most 2 n 2^-53 relative (see require_sums_agree), so
// 10 log10(signal / noise) differs by at most 10 / ln 10 * 4 n 2^-53 dB, plus the rounding of the
// division and the logarithm. +inf (no error at all) is exact: a sum of squares is zero only when
// every term is.
void require_same_weight(const mq::quant::quantized_weight& a, const mq::quant::quantized_weight& b,
                         std::size_t n) {
  require_same_floats(a.scales, b.scales);
  REQUIRE(a.zero_points == b.zero_points);
  REQUIRE(a.scale_dims == b.scale_dims);
  require_same_bytes(a.data, b.data);
  REQUIRE(bits(a.max_abs_error) == bits(b.max_abs_error));
  if (std::isinf(a.sqnr_db) || std::isinf(b.sqnr_db)) {
    REQUIRE(a.sqnr_db == b.sqnr_db);
    return;
  }
  const double tol = 10.0 / std::log(10.0) * 4.0 * static_cast<double>(n) * 0x1p-53 * 1.01 +
                     16 * DBL_EPSILON * std::max(1.0, std::fabs(a.sqnr_db));
  INFO("sqnr " << exact(a.sqnr_db) << " vs " << exact(b.sqnr_db) << ", tolerance " << tol);
  REQUIRE(std::fabs(a.sqnr_db - b.sqnr_db) <= tol);
}

std::string describe(const std::vector<std::int64_t>& dims) {
  std::string s;
  for (const auto d : dims) s += (s.empty() ? "" : "x") + std::to_string(d);
  return s;
}

}  // namespace

TEST_CASE("quantize_weight: vector kernels == reference on every axis, every mode", "[kernels][property]") {
  using mq::quant::qtype;
  using mq::quant::symmetry;
  for (std::size_t rank = 2; rank <= 4; ++rank) {
    for (const auto& dims : shapes_for_rank(rank)) {
      for (int axis = -static_cast<int>(rank); axis < static_cast<int>(rank); ++axis) {
        for (const pattern p : patterns) {
          const std::uint32_t seed = base_seed() + static_cast<std::uint32_t>(element_count(dims));
          std::mt19937 rng(seed);
          std::vector<float> w(element_count(dims));
          fill(w, p, rng);
          for (int mode = 0; mode < 5; ++mode) {
            mq::quant::weight_options o;
            o.axis = axis;
            o.per_channel = mode >= 1;
            o.type = mode == 2 ? qtype::uint8 : mode >= 3 ? qtype::int4 : qtype::int8;
            o.sym = mode == 2 ? symmetry::asymmetric : symmetry::symmetric;
            o.block_size = mode == 3 ? 2 : mode == 4 ? 16 : 0;
            INFO("seed " << seed << ", dims " << describe(dims) << ", axis " << axis << ", "
                         << to_string(p) << ", mode " << mode);
            const auto ref =
                mq::quant::detail::quantize_weight_with(reference_kernels(), w, dims, o, "w");
            const auto vec =
                mq::quant::detail::quantize_weight_with(tested_kernels(), w, dims, o, "w");
            REQUIRE(ref.has_value() == vec.has_value());
            if (!ref) {
              REQUIRE(ref.error().message == vec.error().message);
              continue;
            }
            require_same_weight(*ref, *vec, w.size());
          }
        }
      }
    }
  }
}

TEST_CASE("quantize_weight: NaN/inf errors are identical through both tables", "[kernels]") {
  const std::vector<std::int64_t> dims = {6, 5, 7};
  for (int mode = 0; mode < 3; ++mode) {
    for (int axis = 0; axis < 3; ++axis) {
      for (int kind = 0; kind < 3; ++kind) {
        const std::uint32_t seed =
            base_seed() + static_cast<std::uint32_t>(mode * 9 + axis * 3 + kind);
        INFO("seed " << seed << ", mode " << mode << ", axis " << axis << ", kind " << kind);
        std::mt19937 rng(seed);
        std::vector<float> w(element_count(dims));
        fill(w, pattern::normal, rng);
        const std::size_t at = poison(w, rng, kind);
        mq::quant::weight_options o;
        o.axis = axis;
        o.per_channel = mode == 1;
        o.block_size = mode == 2 ? 4 : 0;
        const auto ref =
            mq::quant::detail::quantize_weight_with(reference_kernels(), w, dims, o, "w7");
        const auto vec = mq::quant::detail::quantize_weight_with(tested_kernels(), w, dims, o, "w7");
        REQUIRE_FALSE(ref.has_value());
        REQUIRE_FALSE(vec.has_value());
        CHECK(ref.error().code == mq::errc::numeric);
        CHECK(ref.error().message == vec.error().message);
        CHECK(ref.error().message.find("at index " + std::to_string(at) + ";") !=
              std::string::npos);
      }
    }
  }
}

// Weights read in place from a model file are often not 4-byte aligned: quantize_weight_bytes
// streams them through a small buffer (per tensor, per channel on the last axis) or copies them
// (other layouts). Either way the result must be quantize_weight's on the same values.
TEST_CASE("quantize_weight_bytes: unaligned storage gives quantize_weight's result", "[kernels][property]") {
  using mq::quant::qtype;
  using mq::quant::symmetry;
  // Sizes around the 16 Ki-float bounce buffer: several chunks, rows wider than a chunk, tails.
  const std::vector<std::vector<std::int64_t>> shapes = {{50001}, {700, 100}, {3, 20000}, {33, 17}, {5, 4, 9}};
  for (const auto& dims : shapes) {
    for (const std::size_t shift : {std::size_t{1}, std::size_t{2}, std::size_t{3}, std::size_t{4}}) {
      for (int mode = 0; mode < 4; ++mode) {
        const std::uint32_t seed = base_seed() + static_cast<std::uint32_t>(element_count(dims) + shift);
        std::mt19937 rng(seed);
        std::vector<float> w(element_count(dims));
        fill(w, mode == 3 ? pattern::ties : pattern::normal, rng);
        std::vector<std::byte> storage(w.size() * sizeof(float) + 8);
        std::memcpy(storage.data() + shift, w.data(), w.size() * sizeof(float));
        const std::span<const std::byte> bytes(storage.data() + shift, w.size() * sizeof(float));
        mq::quant::weight_options o;
        o.per_channel = mode >= 1;
        o.axis = mode == 2 ? 0 : -1;  // mode 2 is not streamable: copied
        o.type = mode == 1 ? qtype::uint8 : qtype::int8;
        o.sym = mode == 1 ? symmetry::asymmetric : symmetry::symmetric;
        INFO("seed " << seed << ", dims " << describe(dims) << ", shift " << shift << ", mode " << mode);
        for (const auto* k : {&reference_kernels(), &tested_kernels()}) {
          const auto want = mq::quant::detail::quantize_weight_with(*k, w, dims, o, "w");
          const auto got = mq::quant::detail::quantize_weight_bytes_with(*k, bytes, dims, o, "w");
          REQUIRE(want.has_value());
          REQUIRE(got.has_value());
          require_same_weight(*want, *got, w.size());
        }
      }
    }
  }
}

TEST_CASE("quantize_weight_bytes: the first NaN/inf is reported at its index", "[kernels]") {
  const std::vector<std::int64_t> dims = {40, 1000};  // 2.4 bounce chunks
  for (int kind = 0; kind < 3; ++kind) {
    for (const bool per_channel : {false, true}) {
      const std::uint32_t seed = base_seed() + static_cast<std::uint32_t>(kind * 2 + per_channel);
      INFO("seed " << seed << ", kind " << kind << ", per channel " << per_channel);
      std::mt19937 rng(seed);
      std::vector<float> w(element_count(dims));
      fill(w, pattern::normal, rng);
      const std::size_t at = poison(w, rng, kind);
      std::vector<std::byte> storage(w.size() * sizeof(float) + 1);
      std::memcpy(storage.data() + 1, w.data(), w.size() * sizeof(float));
      mq::quant::weight_options o;
      o.per_channel = per_channel;
      o.axis = 1;
      const auto want = mq::quant::quantize_weight(w, dims, o, "w9");
      const auto got = mq::quant::quantize_weight_bytes({storage.data() + 1, w.size() * sizeof(float)}, dims, o, "w9");
      REQUIRE_FALSE(got.has_value());
      REQUIRE_FALSE(want.has_value());
      CHECK(got.error().code == mq::errc::numeric);
      CHECK(got.error().message == want.error().message);
      CHECK(got.error().message.find("at index " + std::to_string(at) + ";") != std::string::npos);
    }
  }
  std::vector<std::byte> odd(9);
  const auto bad = mq::quant::quantize_weight_bytes({odd.data() + 1, 7}, std::vector<std::int64_t>{2}, {}, "w");
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().code == mq::errc::invalid_argument);
}
