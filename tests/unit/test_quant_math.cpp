// Golden tests of the quantization math against ONNX Runtime's Python quantizer
// (quant_utils.py, ORT >= 1.20: get_qmin_qmax_for_qType, compute_scale_zp, quantize_nparray).
// Every expected number is worked out by hand in the comment next to it; none comes from the
// code under test. Float32 quotients quoted as "x / s = y" were checked to round to y in float32
// (they are clear of rounding ties unless the test is about ties).
#include <catch2/catch.hpp>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "kernels/kernels.h"
#include "quant/layout.h"
#include "quant/quant.h"

namespace {

using mq::quant::compute_params;
using mq::quant::dequantize;
using mq::quant::qrange;
using mq::quant::qtype;
using mq::quant::quantize_weight;
using mq::quant::range_for;
using mq::quant::symmetry;
using mq::quant::weight_options;

constexpr auto sym = symmetry::symmetric;
constexpr auto asym = symmetry::asymmetric;

bool same_range(qrange a, qrange b) { return a.qmin == b.qmin && a.qmax == b.qmax; }

template <class T>
std::vector<T> repeat(const std::vector<T>& v, std::size_t times) {
  std::vector<T> out;
  for (std::size_t i = 0; i < times; ++i) out.insert(out.end(), v.begin(), v.end());
  return out;
}

std::vector<std::int8_t> as_int8(const std::string& bytes) { return {bytes.begin(), bytes.end()}; }

std::vector<std::uint8_t> as_uint8(const std::string& bytes) { return {bytes.begin(), bytes.end()}; }

// Quantizes through the public entry point and fails the test on an error.
mq::quant::quantized_weight must_quantize(const std::vector<float>& w,
                                          const std::vector<std::int64_t>& dims,
                                          const weight_options& o) {
  auto q = quantize_weight(w, dims, o, "w");
  INFO((q ? std::string() : q.error().message));
  REQUIRE(q.has_value());
  return *q;
}

}  // namespace

TEST_CASE("range_for follows get_qmin_qmax_for_qType", "[quant][golden]") {
  // ORT's ONNX_INT_TYPE_RANGE / _SYMMETRIC_RANGE / _REDUCED_RANGE tables; reduce_range is checked
  // before symmetric, and 4-bit types have no symmetric entry (full range).
  CHECK(same_range(range_for(qtype::int8, asym, false), {-128, 127}));
  CHECK(same_range(range_for(qtype::int8, sym, false), {-127, 127}));
  CHECK(same_range(range_for(qtype::int8, sym, true), {-64, 64}));
  CHECK(same_range(range_for(qtype::int8, asym, true), {-64, 64}));
  CHECK(same_range(range_for(qtype::uint8, asym, false), {0, 255}));
  CHECK(same_range(range_for(qtype::uint8, sym, false), {0, 254}));  // ORT >= 1.20 (PR #22020)
  CHECK(same_range(range_for(qtype::uint8, asym, true), {0, 127}));
  CHECK(same_range(range_for(qtype::uint8, sym, true), {0, 127}));
  CHECK(same_range(range_for(qtype::int4, asym, false), {-8, 7}));
  CHECK(same_range(range_for(qtype::int4, sym, false), {-8, 7}));
  CHECK(same_range(range_for(qtype::int4, sym, true), {-4, 3}));
  CHECK(same_range(range_for(qtype::uint4, sym, false), {0, 15}));
  CHECK(same_range(range_for(qtype::uint4, asym, true), {0, 7}));
}

TEST_CASE("compute_params: all-zero and tiny ranges give scale 1, zero point 0",
          "[quant][golden]") {
  // dr = 0 -> scale 0 < FLT_MIN -> ORT returns scale 1.0 and zero point 0 for every type,
  // including uint8 symmetric (not 127) and uint8 asymmetric.
  for (const auto range : {qrange{-127, 127}, qrange{0, 255}, qrange{0, 254}, qrange{-8, 7}}) {
    for (const auto s : {sym, asym}) {
      const auto p = compute_params(0.0f, 0.0f, range, s);
      CHECK(p.scale == 1.0f);
      CHECK(p.zero_point == 0);
    }
  }
  // rmax = 1e-36: scale = 2e-36 / 254 = 7.87e-39 < FLT_MIN (1.18e-38) -> 1, 0.
  auto p = compute_params(0.0f, 1e-36f, {-127, 127}, sym);
  CHECK(p.scale == 1.0f);
  CHECK(p.zero_point == 0);
  // rmax = 1e-35: scale = 7.87e-38 >= FLT_MIN -> kept (float32 of 2e-35 / 254).
  p = compute_params(0.0f, 1e-35f, {-127, 127}, sym);
  CHECK(p.scale == Approx(7.874015748e-38).epsilon(1e-6));
  CHECK(p.scale != 1.0f);
}

TEST_CASE("compute_params: symmetric", "[quant][golden]") {
  // int8: absmax = 127 -> scale = 254 / 254 = 1, zero point 0.
  auto p = compute_params(-3.0f, 127.0f, {-127, 127}, sym);
  CHECK(p.scale == 1.0f);
  CHECK(p.zero_point == 0);
  // int8: rmin -1, rmax 2 -> absmax 2 -> scale = 4 / 254 = 0.015748031496... -> float32
  // 0.015748031f.
  p = compute_params(-1.0f, 2.0f, {-127, 127}, sym);
  CHECK(p.scale == 0.015748031f);
  CHECK(p.zero_point == 0);
  // uint8 symmetric (ORT >= 1.20 range [0, 254]): zero point round((0 + 254) / 2) = 127.
  p = compute_params(-1.0f, 2.0f, {0, 254}, sym);
  CHECK(p.scale == 0.015748031f);
  CHECK(p.zero_point == 127);
  // The same with the pre-1.20 range [0, 255]: round(127.5) = 128 (half to even).
  CHECK(compute_params(-1.0f, 2.0f, {0, 255}, sym).zero_point == 128);
  // uint8 reduce_range [0, 127]: round(63.5) = 64 (half to even).
  CHECK(compute_params(-1.0f, 2.0f, {0, 127}, sym).zero_point == 64);
  // int4 symmetric uses the full [-8, 7]: absmax 7.5 -> scale 15 / 15 = 1, zp round(-0.5) = 0.
  p = compute_params(-7.5f, 1.0f, {-8, 7}, sym);
  CHECK(p.scale == 1.0f);
  CHECK(p.zero_point == 0);
  // uint4 symmetric [0, 15]: zero point round(7.5) = 8.
  CHECK(compute_params(-7.5f, 1.0f, {0, 15}, sym).zero_point == 8);
  // int8 reduce_range [-64, 64]: absmax 64 -> scale 128 / 128 = 1.
  CHECK(compute_params(-64.0f, 10.0f, {-64, 64}, sym).scale == 1.0f);
}

TEST_CASE("compute_params: asymmetric", "[quant][golden]") {
  // uint8: rmin -1, rmax 3 -> scale = 4 / 255 = 0.0156862745... (float32 0.015686275f),
  // zero point = round(0 - (-1) / (4 / 255)) = round(63.75) = 64.
  auto p = compute_params(-1.0f, 3.0f, {0, 255}, asym);
  CHECK(p.scale == 0.015686275f);
  CHECK(p.zero_point == 64);
  // int8 full range: rmin -1, rmax 1.5 -> scale = 2.5 / 255 = 1 / 102,
  // zero point = round(-128 + 1 * 102) = -26.
  p = compute_params(-1.0f, 1.5f, {-128, 127}, asym);
  CHECK(p.scale == 0.009803922f);
  CHECK(p.zero_point == -26);
  // uint8 reduce_range [0, 127]: rmin -1, rmax 126 -> scale 127 / 127 = 1, zp round(1) = 1.
  p = compute_params(-1.0f, 126.0f, {0, 127}, asym);
  CHECK(p.scale == 1.0f);
  CHECK(p.zero_point == 1);
}

TEST_CASE("compute_params: ranges that do not contain 0 are widened to it", "[quant][golden]") {
  // [2, 4] -> [0, 4]: scale 4 / 255, zero point round(0 - 0 / s) = 0.
  auto p = compute_params(2.0f, 4.0f, {0, 255}, asym);
  CHECK(p.scale == 0.015686275f);
  CHECK(p.zero_point == 0);
  // [-4, -2] -> [-4, 0]: scale 4 / 255, zero point round(0 + 4 * 255 / 4) = 255.
  p = compute_params(-4.0f, -2.0f, {0, 255}, asym);
  CHECK(p.scale == 0.015686275f);
  CHECK(p.zero_point == 255);
  // int8 asymmetric [-4, -2] -> [-4, 0]: zero point round(-128 + 255) = 127.
  CHECK(compute_params(-4.0f, -2.0f, {-128, 127}, asym).zero_point == 127);
}

TEST_CASE("quantize_weight: per-tensor int8 symmetric with rounding ties", "[quant][golden]") {
  // absmax 127 -> scale 1, zp 0, so q = clip(round_half_even(x), -128, 127):
  // 0.5 -> 0, 1.5 -> 2, 2.5 -> 2, -0.5 -> -0 -> 0, -1.5 -> -2, -2.5 -> -2, 3.49 -> 3.
  // Repeated 4 times (36 values) so both the vector body and the scalar tail of the kernels see it.
  const auto w = repeat<float>({0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 127.0f, -127.0f, 3.49f}, 4);
  const auto q = must_quantize(w, {36}, {});
  CHECK(q.scales == std::vector<float>{1.0f});
  CHECK(q.zero_points == std::vector<std::int32_t>{0});
  CHECK(q.scale_dims.empty());
  CHECK(as_int8(q.data) == repeat<std::int8_t>({0, 2, 2, 0, -2, -2, 127, -127, 3}, 4));
}

TEST_CASE("quantize_weight: ties with a non-unit scale", "[quant][golden]") {
  // absmax 63.5 -> scale 127 / 254 = 0.5; x / 0.5: 0.25 -> 0.5 -> 0, 0.75 -> 1.5 -> 2,
  // 1.25 -> 2.5 -> 2, -1.75 -> -3.5 -> -4, 63.5 -> 127.
  const auto q = must_quantize({0.25f, 0.75f, 1.25f, -1.75f, 63.5f}, {5}, {});
  CHECK(q.scales == std::vector<float>{0.5f});
  CHECK(as_int8(q.data) == std::vector<std::int8_t>{0, 2, 2, -4, 127});
}

TEST_CASE("quantize_weight: all-zero tensor", "[quant][golden]") {
  // ORT: scale 1, zero point 0 (tiny-scale rule); every value quantizes to 0; no error at all.
  for (const auto type : {qtype::int8, qtype::uint8}) {
    for (const auto s : {sym, asym}) {
      weight_options o;
      o.type = type;
      o.sym = s;
      const auto q = must_quantize(std::vector<float>(10, 0.0f), {2, 5}, o);
      CHECK(q.scales == std::vector<float>{1.0f});
      CHECK(q.zero_points == std::vector<std::int32_t>{0});
      CHECK(as_uint8(q.data) == std::vector<std::uint8_t>(10, 0));
      CHECK(q.sqnr_db == std::numeric_limits<double>::infinity());
      CHECK(q.max_abs_error == 0.0f);
    }
  }
}

TEST_CASE("quantize_weight: empty tensor", "[quant][golden]") {
  // ORT's compute_data_quant_params: len(data) == 0 -> scale 1.0, zero point 0.
  const auto q = must_quantize({}, {0, 3}, {});
  CHECK(q.scales == std::vector<float>{1.0f});
  CHECK(q.zero_points == std::vector<std::int32_t>{0});
  CHECK(q.data.empty());
}

TEST_CASE("quantize_weight: uint8 asymmetric", "[quant][golden]") {
  // rmin -1, rmax 3 -> s = 4 / 255 (0.015686275f), zp 64 (see compute_params test).
  // -1 / s = -63.75 -> -64 + 64 = 0; 0 -> 64; 1.5 / s = 95.62 -> 96 + 64 = 160;
  // 3 / s = 191.25 -> 191 + 64 = 255.
  weight_options o;
  o.type = qtype::uint8;
  o.sym = asym;
  const auto q = must_quantize({-1.0f, 0.0f, 1.5f, 3.0f}, {4}, o);
  CHECK(q.scales == std::vector<float>{0.015686275f});
  CHECK(q.zero_points == std::vector<std::int32_t>{64});
  CHECK(as_uint8(q.data) == std::vector<std::uint8_t>{0, 64, 160, 255});
}

TEST_CASE("quantize_weight: positive-only data", "[quant][golden]") {
  // uint8 asymmetric [1, 4] -> [0, 4]: s = 4 / 255, zp 0: 1 / s = 63.75 -> 64,
  // 3 / s = 191.25 -> 191, 4 / s = 255 (254.99998 in float32) -> 255.
  weight_options o;
  o.type = qtype::uint8;
  o.sym = asym;
  auto q = must_quantize({1.0f, 3.0f, 4.0f}, {3}, o);
  CHECK(q.zero_points == std::vector<std::int32_t>{0});
  CHECK(as_uint8(q.data) == std::vector<std::uint8_t>{64, 191, 255});
  // int8 symmetric: absmax 4 -> s = 8 / 254 = 0.031496063f; 1 / s = 31.75 -> 32,
  // 3 / s = 95.25 -> 95, 4 / s = 127.
  q = must_quantize({1.0f, 3.0f, 4.0f}, {3}, {});
  CHECK(q.scales == std::vector<float>{0.031496063f});
  CHECK(as_int8(q.data) == std::vector<std::int8_t>{32, 95, 127});
}

TEST_CASE("quantize_weight: reduce_range", "[quant][golden]") {
  // int8 symmetric reduce_range [-64, 64]: absmax 2 -> s = 4 / 128 = 0.03125 (exact);
  // -1 / s = -32, 0.5 / s = 16, 2 / s = 64.
  weight_options o;
  o.reduce_range = true;
  const auto q = must_quantize({-1.0f, 0.5f, 2.0f}, {3}, o);
  CHECK(q.scales == std::vector<float>{0.03125f});
  CHECK(as_int8(q.data) == std::vector<std::int8_t>{-32, 16, 64});
}

TEST_CASE("quantize_weight: per-channel on axis 0", "[quant][golden]") {
  // dims [2, 3]; channel 0 = {-1, 0, 0.25}: absmax 1 -> s = 2 / 254 = 0.007874016f,
  // -1 / s = -127, 0.25 / s = 31.75 -> 32. Channel 1 all zero -> s 1, zp 0 (ORT rule).
  weight_options o;
  o.per_channel = true;
  o.axis = 0;
  const auto q = must_quantize({-1.0f, 0.0f, 0.25f, 0.0f, 0.0f, 0.0f}, {2, 3}, o);
  CHECK(q.scale_dims == std::vector<std::int64_t>{2});
  CHECK(q.scales == std::vector<float>{0.007874016f, 1.0f});
  CHECK(q.zero_points == std::vector<std::int32_t>{0, 0});
  CHECK(as_int8(q.data) == std::vector<std::int8_t>{-127, 0, 32, 0, 0, 0});
}

TEST_CASE("quantize_weight: per-channel on axis 1 (and -1)", "[quant][golden]") {
  // dims [2, 3], columns are channels: c0 = {-0.5, 2}, c1 = {0, 0.5}, c2 = {2, -8}.
  // c0: absmax 2 -> s = 4 / 254 = 0.015748031f: -0.5 / s = -31.75 -> -32, 2 / s = 127.
  // c1: absmax 0.5 -> s = 1 / 254 = 0.003937008f: 0 -> 0, 0.5 / s = 127.
  // c2: absmax 8 -> s = 16 / 254 = 0.062992126f: 2 / s = 31.75 -> 32, -8 / s = -127.
  const std::vector<float> w = {-0.5f, 0.0f, 2.0f, 2.0f, 0.5f, -8.0f};
  for (const int axis : {1, -1}) {
    weight_options o;
    o.per_channel = true;
    o.axis = axis;
    const auto q = must_quantize(w, {2, 3}, o);
    CHECK(q.scale_dims == std::vector<std::int64_t>{3});
    CHECK(q.scales == std::vector<float>{0.015748031f, 0.003937008f, 0.062992126f});
    CHECK(as_int8(q.data) == std::vector<std::int8_t>{-32, 0, 32, 127, 127, -127});
  }
}

TEST_CASE("quantize_weight: int4 blocked, packing order", "[quant][golden]") {
  // int4 symmetric (range [-8, 7], scale = 2 * absmax / 15), dims [6], blocks of 4 on axis 0.
  // Block 0 = {1, -2, 7.5, -7.5}: absmax 7.5 -> s = 1; q = {1, -2, round(7.5) = 8 -> clip 7, -8}.
  // Block 1 = {0.75, -0.75}: absmax 0.75 -> s = 1.5 / 15 = 0.1f (0.100000001...);
  //   0.75f / 0.1f rounds to exactly 7.5 in float32 (in float64 it would be 7.4999999) ->
  //   round half to even 8 -> clip 7; -0.75 -> -7.5 -> -8.
  // Nibbles {1, E, 7, 8, 7, 8}; element 2k in the low nibble of byte k: E1 87 87.
  weight_options o;
  o.type = qtype::int4;
  o.block_size = 4;
  const auto q = must_quantize({1.0f, -2.0f, 7.5f, -7.5f, 0.75f, -0.75f}, {6}, o);
  CHECK(q.scale_dims == std::vector<std::int64_t>{2});
  CHECK(q.scales == std::vector<float>{1.0f, 0.1f});
  CHECK(q.zero_points == std::vector<std::int32_t>{0, 0});
  CHECK(as_uint8(q.data) == std::vector<std::uint8_t>{0xE1, 0x87, 0x87});
  // DequantizeLinear: (q - 0) * s.
  CHECK(dequantize(q, std::vector<std::int64_t>{6}, o) ==
        std::vector<float>{1.0f, -2.0f, 7.0f, -8.0f, 0.7f, -0.8f});
}

TEST_CASE("quantize_weight: uint4 blocked along the last axis, odd count", "[quant][golden]") {
  // uint4 symmetric [0, 15]: zp round(7.5) = 8. dims [1, 5], blocks of 2 along axis 1: {0, 1},
  // {2, 3}, {4} -> scale_dims [1, 3].
  // Block {7.5, -7.5}: s = 1, q = round(7.5) + 8 = 16 -> clip 15, -8 + 8 = 0.
  // Block {0, 0}: all zero -> s 1, zp 0 (ORT: zp 0, not 8), q = {0, 0}.
  // Block {3.75}: s = 7.5 / 15 = 0.5, q = 7.5 -> 8 + 8 = 16 -> clip 15.
  // Bytes: (0 << 4) | 15 = 0x0F, (0 << 4) | 0 = 0x00, last element alone in the low nibble: 0x0F.
  weight_options o;
  o.type = qtype::uint4;
  o.block_size = 2;
  o.axis = 1;
  const auto q = must_quantize({7.5f, -7.5f, 0.0f, 0.0f, 3.75f}, {1, 5}, o);
  CHECK(q.scale_dims == std::vector<std::int64_t>{1, 3});
  CHECK(q.scales == std::vector<float>{1.0f, 1.0f, 0.5f});
  CHECK(q.zero_points == std::vector<std::int32_t>{8, 0, 8});
  CHECK(as_uint8(q.data) == std::vector<std::uint8_t>{0x0F, 0x00, 0x0F});
}

TEST_CASE("quantize_weight: blocked with inner dims", "[quant][golden]") {
  // dims [3, 2], blocks of 2 along axis 0 -> scale_dims [2, 2]; block (b, column j) covers
  // rows 2b..2b+1 of column j. int8 symmetric, s = absmax / 127:
  //   (0, 0) = {127, -63.5}: s 1 -> {127, round(-63.5) = -64}
  //   (0, 1) = {1, 2}:       s = 4 / 254 = 0.015748031f -> {1 / s, which is 63.4999996 in real
  //                          numbers but rounds to exactly 63.5 in float32 -> 64 (even), 127}
  //   (1, 0) = {0.5}:        s = 1 / 254 -> {127}
  //   (1, 1) = {-254}:       s = 2 -> {-127}
  weight_options o;
  o.block_size = 2;
  const auto q = must_quantize({127.0f, 1.0f, -63.5f, 2.0f, 0.5f, -254.0f}, {3, 2}, o);
  CHECK(q.scale_dims == std::vector<std::int64_t>{2, 2});
  CHECK(q.scales == std::vector<float>{1.0f, 0.015748031f, 0.003937008f, 2.0f});
  CHECK(as_int8(q.data) == std::vector<std::int8_t>{127, 64, -64, 127, 127, -127});
}

TEST_CASE("quantize_weight: SQNR and max error", "[quant][golden]") {
  // absmax 127 -> s 1: {127, 0.25, -1.5} -> q {127, 0, -2} -> dq {127, 0, -2};
  // errors {0, 0.25, 0.5}; signal 127^2 + 0.0625 + 2.25 = 16131.3125; noise 0.0625 + 0.25 = 0.3125.
  const auto q = must_quantize({127.0f, 0.25f, -1.5f}, {3}, {});
  CHECK(q.max_abs_error == 0.5f);
  CHECK(q.sqnr_db == Approx(10.0 * std::log10(16131.3125 / 0.3125)));
  CHECK(q.sqnr_db == Approx(47.1282).epsilon(1e-5));
}

TEST_CASE("quantize_weight: errors name the tensor", "[quant][errors]") {
  std::vector<float> w(20, 1.0f);
  w[17] = std::numeric_limits<float>::quiet_NaN();
  auto q = quantize_weight(w, std::vector<std::int64_t>{4, 5}, {}, "w3");
  REQUIRE_FALSE(q.has_value());
  CHECK(q.error().code == mq::errc::numeric);
  CHECK(q.error().message == "tensor 'w3': value nan at index 17; weights must be finite");

  w[17] = 1.0f;
  w[3] = -std::numeric_limits<float>::infinity();
  weight_options per_channel;
  per_channel.per_channel = true;
  q = quantize_weight(w, std::vector<std::int64_t>{4, 5}, per_channel, "w3");
  REQUIRE_FALSE(q.has_value());
  CHECK(q.error().message == "tensor 'w3': value -inf at index 3; weights must be finite");

  w[3] = 1.0f;
  per_channel.axis = 2;
  q = quantize_weight(w, std::vector<std::int64_t>{4, 5}, per_channel, "w3");
  REQUIRE_FALSE(q.has_value());
  CHECK(q.error().code == mq::errc::invalid_argument);
  CHECK(q.error().message == "tensor 'w3': axis 2 is out of range for rank 2");
  per_channel.axis = -3;
  CHECK_FALSE(quantize_weight(w, std::vector<std::int64_t>{4, 5}, per_channel, "w3").has_value());

  weight_options blocked;
  blocked.block_size = -2;
  q = quantize_weight(w, std::vector<std::int64_t>{4, 5}, blocked, "w3");
  REQUIRE_FALSE(q.has_value());
  CHECK(q.error().code == mq::errc::invalid_argument);
  CHECK(q.error().message.find("block_size -2") != std::string::npos);

  q = quantize_weight(w, std::vector<std::int64_t>{4, 4}, {}, "w3");
  REQUIRE_FALSE(q.has_value());
  CHECK(q.error().code == mq::errc::invalid_argument);
  CHECK(q.error().message == "tensor 'w3': dims [4, 4] do not describe the 20 values given");
}

TEST_CASE("quantize_weight: a range too wide for float32 is an error", "[quant][errors]") {
  // Symmetric: rmax - rmin = 2 * 3e38 overflows float32 (as in numpy) -> infinite scale.
  auto q =
      quantize_weight(std::vector<float>{3e38f, -1.0f}, std::vector<std::int64_t>{2}, {}, "big");
  REQUIRE_FALSE(q.has_value());
  CHECK(q.error().code == mq::errc::numeric);
  CHECK(q.error().message.find("tensor 'big': ") == 0);
  // Asymmetric [0, 3e38]: 3e38 - 0 fits; scale = 3e38 / 255.
  weight_options o;
  o.type = qtype::uint8;
  o.sym = asym;
  q = quantize_weight(std::vector<float>{3e38f, 0.0f}, std::vector<std::int64_t>{2}, o, "big");
  REQUIRE(q.has_value());
  CHECK(as_uint8(q->data) == std::vector<std::uint8_t>{255, 0});
}

// ---- per-channel and blocked layouts against a naive oracle ----

namespace {

// Row-major multi-index of flat index i.
std::vector<std::size_t> unravel(std::size_t i, const std::vector<std::int64_t>& dims) {
  std::vector<std::size_t> idx(dims.size());
  for (std::size_t d = dims.size(); d-- > 0;) {
    idx[d] = i % static_cast<std::size_t>(dims[d]);
    i /= static_cast<std::size_t>(dims[d]);
  }
  return idx;
}

// Group key the straightforward way: per channel = index along the axis; blocked = the full
// multi-index with the axis coordinate divided by the block size, raveled in the scale shape.
std::size_t naive_group(std::size_t i, const std::vector<std::int64_t>& dims, std::size_t axis,
                        std::int64_t block) {
  const auto idx = unravel(i, dims);
  if (block == 0) return idx[axis];
  std::size_t g = 0;
  for (std::size_t d = 0; d < dims.size(); ++d) {
    const auto extent =
        static_cast<std::size_t>(d == axis ? (dims[d] + block - 1) / block : dims[d]);
    g = g * extent + (d == axis ? idx[d] / static_cast<std::size_t>(block) : idx[d]);
  }
  return g;
}

}  // namespace

TEST_CASE("quantize_weight: per-channel and blocked match a naive per-group oracle",
          "[quant][property]") {
  const std::vector<std::vector<std::int64_t>> shapes = {
      {5, 4}, {3, 40}, {40, 3}, {2, 3, 4}, {3, 2, 35}, {4, 3, 3, 3}, {2, 33, 1, 3}};
  std::mt19937 rng(1234);
  std::normal_distribution<float> gauss(0.0f, 1.0f);
  for (const auto& dims : shapes) {
    std::size_t n = 1;
    for (const auto d : dims) n *= static_cast<std::size_t>(d);
    std::vector<float> w(n);
    for (float& v : w) v = gauss(rng);
    for (std::size_t axis = 0; axis < dims.size(); ++axis) {
      for (const std::int64_t block : {std::int64_t{0}, std::int64_t{2}, std::int64_t{3}}) {
        INFO("rank " << dims.size() << ", axis " << axis << ", block " << block);
        weight_options o;
        o.type = qtype::uint8;
        o.sym = asym;
        o.per_channel = true;
        o.axis = static_cast<int>(axis);
        o.block_size = block;
        const auto q = must_quantize(w, dims, o);
        // Oracle: gather each group's values, min/max them, compute_params, then quantize with
        // the QuantizeLinear formula written out here.
        const std::size_t groups = q.scales.size();
        std::vector<float> lo(groups, INFINITY), hi(groups, -INFINITY);
        for (std::size_t i = 0; i < n; ++i) {
          const std::size_t g = naive_group(i, dims, axis, block);
          REQUIRE(g < groups);
          lo[g] = std::min(lo[g], w[i]);
          hi[g] = std::max(hi[g], w[i]);
        }
        for (std::size_t g = 0; g < groups; ++g) {
          const auto p = compute_params(lo[g], hi[g], range_for(o.type, o.sym, false), o.sym);
          REQUIRE(q.scales[g] == p.scale);
          REQUIRE(q.zero_points[g] == p.zero_point);
        }
        for (std::size_t i = 0; i < n; ++i) {
          const std::size_t g = naive_group(i, dims, axis, block);
          const float v = std::nearbyint(w[i] / q.scales[g]) + static_cast<float>(q.zero_points[g]);
          const auto want = static_cast<std::uint8_t>(std::min(255.0f, std::max(0.0f, v)));
          INFO("element " << i);
          REQUIRE(static_cast<std::uint8_t>(q.data[i]) == want);
        }
        // dequantize is the inverse layout: (q - zp) * s per element.
        const auto dq = dequantize(q, dims, o);
        REQUIRE(dq.size() == n);
        for (std::size_t i = 0; i < n; i += 7) {
          const std::size_t g = naive_group(i, dims, axis, block);
          CHECK(dq[i] == static_cast<float>(static_cast<std::uint8_t>(q.data[i]) - q.zero_points[g]) * q.scales[g]);
        }
      }
    }
  }
}
