// The recurrent and quantized operators of the executor (lib/exec/ops/rnn.cpp, quantized.cpp) on
// small models written as ONNX text. Every expected value is worked out by hand from the ONNX
// spec (or ONNX Runtime's documented formula for the com.microsoft operators) in the comments;
// the recurrent cases use activations with exact binary results (HardSigmoid, Affine, Relu) so
// that two time steps can be followed by hand without rounding.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <string>

#include "mq/session.h"
#include "support/exec_helpers.h"

using mq::test::floats;
using mq::test::run_text;
using mq::test::values_of;

namespace {

template <class T>
mq::tensor make(std::vector<std::int64_t> shape, const std::vector<T>& values) {
  return mq::tensor::from<T>(std::move(shape), std::span<const T>(values));
}

template <class T>
std::vector<T> vals(const mq::tensor& t) {
  REQUIRE(t.type == mq::dtype_of<T>());
  const auto s = t.as<T>();
  return {s.begin(), s.end()};
}

std::string run_error(std::string_view text, const std::map<std::string, mq::tensor>& inputs) {
  auto out = run_text(text, inputs);
  REQUIRE(!out);
  return out.error().message;
}

mq::errc run_code(std::string_view text, const std::map<std::string, mq::tensor>& inputs) {
  auto out = run_text(text, inputs);
  REQUIRE(!out);
  return out.error().code;
}

}  // namespace

// ---- QuantizeLinear / DequantizeLinear / DynamicQuantizeLinear ---------------------------------

TEST_CASE("exec rnnq: QuantizeLinear rounds half to even and saturates", "[exec][quantized]") {
  // x / 2 = 0.5 1.5 2.5 -0.5 -1.5 500 -500 1.45 -> round half even 0 2 2 -0 -2 500 -500 1.
  const std::vector<float> x = {1, 3, 5, -1, -3, 1000, -1000, 2.9f};
  SECTION("uint8, zero point 128") {
    auto out = run_text(R"(
<ir_version: 8, opset_import: ["" : 13]>
g (float[8] x, float s, uint8 z) => (uint8[8] y) {
  y = QuantizeLinear(x, s, z)
}
)",
                        {{"x", floats({8}, x)}, {"s", floats({}, {2})}, {"z", make<std::uint8_t>({}, {128})}});
    REQUIRE(out);
    CHECK(vals<std::uint8_t>(out->at("y")) == std::vector<std::uint8_t>{128, 130, 130, 128, 126, 255, 0, 129});
  }
  SECTION("int8, zero point -1") {
    auto out = run_text(R"(
<ir_version: 8, opset_import: ["" : 13]>
g (float[8] x, float s, int8 z) => (int8[8] y) {
  y = QuantizeLinear(x, s, z)
}
)",
                        {{"x", floats({8}, x)}, {"s", floats({}, {2})}, {"z", make<std::int8_t>({}, {-1})}});
    REQUIRE(out);
    CHECK(vals<std::int8_t>(out->at("y")) == std::vector<std::int8_t>{-1, 1, 1, -1, -3, 127, -128, 0});
  }
  SECTION("no zero point: uint8 with zero point 0") {
    auto out = run_text(R"(
<ir_version: 8, opset_import: ["" : 10]>
g (float[4] x, float s) => (uint8[4] y) {
  y = QuantizeLinear(x, s)
}
)",
                        {{"x", floats({4}, {-3, 0.5f, 1.5f, 600})}, {"s", floats({}, {1})}});
    REQUIRE(out);
    CHECK(vals<std::uint8_t>(out->at("y")) == std::vector<std::uint8_t>{0, 0, 2, 255});
  }
  SECTION("a zero scale saturates instead of dividing in the kernel") {
    // x / 0 = +inf, -inf, NaN (0/0): saturate high, low, and NaN to the lower bound.
    auto out = run_text(R"(
<ir_version: 8, opset_import: ["" : 13]>
g (float[3] x, float s, uint8 z) => (uint8[3] y) {
  y = QuantizeLinear(x, s, z)
}
)",
                        {{"x", floats({3}, {1, -1, 0})}, {"s", floats({}, {0})}, {"z", make<std::uint8_t>({}, {7})}});
    REQUIRE(out);
    CHECK(vals<std::uint8_t>(out->at("y")) == std::vector<std::uint8_t>{255, 0, 0});
  }
}

TEST_CASE("exec rnnq: QuantizeLinear and DequantizeLinear per axis", "[exec][quantized]") {
  // x [2, 3, 2], axis 1: channel c uses scale {1, 2, 4}[c] and zero point {0, 10, 20}[c].
  // outer 0: c0 1 2 -> 1 2; c1 2 4 -> 1+10 2+10; c2 4 8 -> 1+20 2+20.
  // outer 1: c0 -1 0.5 -> 0 (saturated) 0 (0.5 to even); c1 3 5 -> 1.5->2, 2.5->2 (+10);
  //          c2 6 10 -> 1.5->2, 2.5->2 (+20).
  const std::vector<float> x = {1, 2, 2, 4, 4, 8, -1, 0.5f, 3, 5, 6, 10};
  const std::vector<std::uint8_t> expected = {1, 2, 11, 12, 21, 22, 0, 0, 12, 12, 22, 22};
  for (const char* axis : {"1", "-2"}) {
    const std::string text = std::string(R"(
<ir_version: 8, opset_import: ["" : 13]>
g (float[2, 3, 2] x) => (uint8[2, 3, 2] y) <float[3] s = {1.0, 2.0, 4.0}, uint8[3] z = {0, 10, 20}> {
  y = QuantizeLinear <axis = )") + axis + R"(> (x, s, z)
}
)";
    auto out = run_text(text, {{"x", floats({2, 3, 2}, x)}});
    REQUIRE(out);
    CHECK(vals<std::uint8_t>(out->at("y")) == expected);
  }
  SECTION("the last axis (per column)") {
    // x [2, 2], axis 1: column scales {0.5, 4}: 1/0.5 = 2, 10/4 = 2.5 -> 2; 3/0.5 = 6, -2/4 = -0.5 -> 0.
    auto out = run_text(R"(
<ir_version: 8, opset_import: ["" : 13]>
g (float[2, 2] x) => (int8[2, 2] y) <float[2] s = {0.5, 4.0}, int8[2] z = {0, -3}> {
  y = QuantizeLinear <axis = 1> (x, s, z)
}
)",
                        {{"x", floats({2, 2}, {1, 10, 3, -2})}});
    REQUIRE(out);
    CHECK(vals<std::int8_t>(out->at("y")) == std::vector<std::int8_t>{2, -1, 6, -3});
  }
  SECTION("DequantizeLinear int8 along axis 0") {
    // row 0: (x - 1) * 2: -128 -> -258, 127 -> 252; row 1: (x + 2) * 0.25: 0 -> 0.5, 10 -> 3.
    auto out = run_text(R"(
<ir_version: 8, opset_import: ["" : 13]>
g (int8[2, 2] x) => (float[2, 2] y) <float[2] s = {2.0, 0.25}, int8[2] z = {1, -2}> {
  y = DequantizeLinear <axis = 0> (x, s, z)
}
)",
                        {{"x", make<std::int8_t>({2, 2}, {-128, 127, 0, 10})}});
    REQUIRE(out);
    CHECK(values_of(out->at("y")) == std::vector<float>{-258, 252, 0.5f, 3});
  }
  SECTION("a scale that does not fit the axis names the node") {
    const std::string msg = run_error(R"(
<ir_version: 8, opset_import: ["" : 13]>
g (float[2, 3] x) => (uint8[2, 3] y) <float[2] s = {1.0, 2.0}, uint8[2] z = {0, 0}> {
  y = QuantizeLinear <axis = 1> (x, s, z)
}
)",
                                      {{"x", floats({2, 3}, {1, 2, 3, 4, 5, 6})}});
    CHECK_THAT(msg, Catch::Contains("QuantizeLinear") && Catch::Contains("per-axis scale has 2 values"));
  }
  SECTION("opset 10 has no per-axis form") {
    const std::string msg = run_error(R"(
<ir_version: 8, opset_import: ["" : 10]>
g (float[2, 2] x) => (uint8[2, 2] y) <float[2] s = {1.0, 2.0}, uint8[2] z = {0, 0}> {
  y = QuantizeLinear (x, s, z)
}
)",
                                      {{"x", floats({2, 2}, {1, 2, 3, 4})}});
    CHECK_THAT(msg, Catch::Contains("scale must be a scalar"));
  }
}

TEST_CASE("exec rnnq: DequantizeLinear per tensor", "[exec][quantized]") {
  SECTION("uint8") {
    // (x - 128) * 0.5
    auto out = run_text(R"(
<ir_version: 8, opset_import: ["" : 10]>
g (uint8[3] x, float s, uint8 z) => (float[3] y) {
  y = DequantizeLinear(x, s, z)
}
)",
                        {{"x", make<std::uint8_t>({3}, {0, 128, 255})}, {"s", floats({}, {0.5f})}, {"z", make<std::uint8_t>({}, {128})}});
    REQUIRE(out);
    CHECK(values_of(out->at("y")) == std::vector<float>{-64, 0, 63.5f});
  }
  SECTION("int32 without zero point") {
    auto out = run_text(R"(
<ir_version: 8, opset_import: ["" : 13]>
g (int32[2] x, float s) => (float[2] y) {
  y = DequantizeLinear(x, s)
}
)",
                        {{"x", make<std::int32_t>({2}, {-5, 100})}, {"s", floats({}, {0.5f})}});
    REQUIRE(out);
    CHECK(values_of(out->at("y")) == std::vector<float>{-2.5f, 50});
  }
  SECTION("a zero point of another type than x names the node") {
    const std::string msg = run_error(R"(
<ir_version: 8, opset_import: ["" : 13]>
g (uint8[2] x, float s, int8 z) => (float[2] y) {
  y = DequantizeLinear(x, s, z)
}
)",
                                      {{"x", make<std::uint8_t>({2}, {1, 2})}, {"s", floats({}, {1})}, {"z", make<std::int8_t>({}, {0})}});
    CHECK_THAT(msg, Catch::Contains("DequantizeLinear") && Catch::Contains("x_zero_point has type int8"));
  }
}

TEST_CASE("exec rnnq: DynamicQuantizeLinear", "[exec][quantized]") {
  constexpr const char* model = R"(
<ir_version: 8, opset_import: ["" : 11]>
g (float[N] x) => (uint8[N] y, float s, uint8 z) {
  y, s, z = DynamicQuantizeLinear(x)
}
)";
  SECTION("range [-51, 204]: scale 1, zero point 51, ties to even") {
    // scale = (204 - -51) / 255 = 1; zero point = 0 - (-51) / 1 = 51.
    // y = round(x) + 51: -51 -> 0, 0.5 -> 0 + 51, 1.5 -> 2 + 51, 2.5 -> 2 + 51, 204 -> 255.
    auto out = run_text(model, {{"x", floats({5}, {-51, 0.5f, 1.5f, 2.5f, 204})}});
    REQUIRE(out);
    CHECK(vals<std::uint8_t>(out->at("y")) == std::vector<std::uint8_t>{0, 51, 53, 53, 255});
    CHECK(values_of(out->at("s")) == std::vector<float>{1});
    CHECK(vals<std::uint8_t>(out->at("z")) == std::vector<std::uint8_t>{51});
  }
  SECTION("positive values: the range is extended to include 0") {
    // [0, 255]: scale 1, zero point 0.
    auto out = run_text(model, {{"x", floats({3}, {1, 2, 255})}});
    REQUIRE(out);
    CHECK(vals<std::uint8_t>(out->at("y")) == std::vector<std::uint8_t>{1, 2, 255});
    CHECK(vals<std::uint8_t>(out->at("z")) == std::vector<std::uint8_t>{0});
  }
  SECTION("negative values: zero point 255") {
    // [-255, 0]: scale 1, zero point 255; y = x + 255.
    auto out = run_text(model, {{"x", floats({2}, {-255, -1})}});
    REQUIRE(out);
    CHECK(vals<std::uint8_t>(out->at("y")) == std::vector<std::uint8_t>{0, 254});
    CHECK(vals<std::uint8_t>(out->at("z")) == std::vector<std::uint8_t>{255});
  }
  SECTION("all zeros: scale 1 (as ONNX Runtime), not a division by zero") {
    auto out = run_text(model, {{"x", floats({2}, {0, 0})}});
    REQUIRE(out);
    CHECK(vals<std::uint8_t>(out->at("y")) == std::vector<std::uint8_t>{0, 0});
    CHECK(values_of(out->at("s")) == std::vector<float>{1});
  }
  SECTION("NaN is an error naming the node") {
    const std::string msg = run_error(model, {{"x", floats({2}, {1, std::numeric_limits<float>::quiet_NaN()})}});
    CHECK_THAT(msg, Catch::Contains("DynamicQuantizeLinear") && Catch::Contains("element 1"));
  }
}

// ---- integer products ---------------------------------------------------------------------------

TEST_CASE("exec rnnq: MatMulInteger", "[exec][quantized]") {
  SECTION("per-tensor A zero point, per-column B zero points") {
    // A - 1 = [[0, 1, 2], [3, 4, 5]]; B - [1, 0] = [[0, 2], [2, 4], [4, 6]].
    // row 0: [0 + 2 + 8, 0 + 4 + 12] = [10, 16]; row 1: [0 + 8 + 20, 6 + 16 + 30] = [28, 52].
    auto out = run_text(R"(
<ir_version: 8, opset_import: ["" : 10]>
g (uint8[2, 3] a, uint8[3, 2] b) => (int32[2, 2] y) <uint8 za = {1}, uint8[2] zb = {1, 0}> {
  y = MatMulInteger(a, b, za, zb)
}
)",
                        {{"a", make<std::uint8_t>({2, 3}, {1, 2, 3, 4, 5, 6})}, {"b", make<std::uint8_t>({3, 2}, {1, 2, 3, 4, 5, 6})}});
    REQUIRE(out);
    CHECK(vals<std::int32_t>(out->at("y")) == std::vector<std::int32_t>{10, 16, 28, 52});
  }
  SECTION("per-row A zero points, int8 A times uint8 B, no B zero point") {
    // A - [[1], [-1]] = [[-2, 1], [128, -127]] (int8 extremes); B = [[255], [2]].
    // row 0: -510 + 2 = -508; row 1: 32640 - 254 = 32386.
    auto out = run_text(R"(
<ir_version: 8, opset_import: ["" : 10]>
g (int8[2, 2] a, uint8[2, 1] b, int8[2] za) => (int32[2, 1] y) {
  y = MatMulInteger(a, b, za)
}
)",
                        {{"a", make<std::int8_t>({2, 2}, {-1, 2, 127, -128})},
                         {"b", make<std::uint8_t>({2, 1}, {255, 2})},
                         {"za", make<std::int8_t>({2}, {1, -1})}});
    REQUIRE(out);
    CHECK(vals<std::int32_t>(out->at("y")) == std::vector<std::int32_t>{-508, 32386});
  }
  SECTION("batched broadcasting and a 1-D A") {
    // A [2, 1, 2] x B [2, 1]: [1, 2] . [3, 4] = 11, [5, 6] . [3, 4] = 39 -> [2, 1, 1].
    auto out = run_text(R"(
<ir_version: 8, opset_import: ["" : 10]>
g (uint8[2, 1, 2] a, uint8[2, 1] b) => (int32[2, 1, 1] y) {
  y = MatMulInteger(a, b)
}
)",
                        {{"a", make<std::uint8_t>({2, 1, 2}, {1, 2, 5, 6})}, {"b", make<std::uint8_t>({2, 1}, {3, 4})}});
    REQUIRE(out);
    CHECK(out->at("y").shape == std::vector<std::int64_t>{2, 1, 1});
    CHECK(vals<std::int32_t>(out->at("y")) == std::vector<std::int32_t>{11, 39});
    // 1-D A [2] x B [2, 3]: [1, 2] . columns -> [1*1 + 2*4, 1*2 + 2*5, 1*3 + 2*6] = [9, 12, 15].
    auto vec = run_text(R"(
<ir_version: 8, opset_import: ["" : 10]>
g (uint8[2] a, uint8[2, 3] b) => (int32[3] y) {
  y = MatMulInteger(a, b)
}
)",
                        {{"a", make<std::uint8_t>({2}, {1, 2})}, {"b", make<std::uint8_t>({2, 3}, {1, 2, 3, 4, 5, 6})}});
    REQUIRE(vec);
    CHECK(vec->at("y").shape == std::vector<std::int64_t>{3});
    CHECK(vals<std::int32_t>(vec->at("y")) == std::vector<std::int32_t>{9, 12, 15});
  }
  SECTION("a long K crosses the 16-value blocks of the engine") {
    // K = 37: A = 1..37 (zero point 0), B = 2 everywhere with zero point 1 -> sum 1..37 = 703.
    std::vector<std::uint8_t> a(37);
    for (std::size_t i = 0; i < a.size(); ++i) a[i] = static_cast<std::uint8_t>(i + 1);
    auto out = run_text(R"(
<ir_version: 8, opset_import: ["" : 10]>
g (uint8[1, 37] a, uint8[37, 3] b, uint8 zb) => (int32[1, 3] y) {
  y = MatMulInteger(a, b, , zb)
}
)",
                        {{"a", make<std::uint8_t>({1, 37}, a)},
                         {"b", make<std::uint8_t>({37, 3}, std::vector<std::uint8_t>(111, 2))},
                         {"zb", make<std::uint8_t>({}, {1})}});
    REQUIRE(out);
    CHECK(vals<std::int32_t>(out->at("y")) == std::vector<std::int32_t>{703, 703, 703});
  }
  SECTION("shapes that do not multiply name the node") {
    const std::string msg = run_error(R"(
<ir_version: 8, opset_import: ["" : 10]>
g (uint8[2, 3] a, uint8[2, 2] b) => (int32[2, 2] y) {
  y = MatMulInteger(a, b)
}
)",
                                      {{"a", make<std::uint8_t>({2, 3}, {1, 2, 3, 4, 5, 6})}, {"b", make<std::uint8_t>({2, 2}, {1, 2, 3, 4})}});
    CHECK_THAT(msg, Catch::Contains("MatMulInteger") && Catch::Contains("do not multiply"));
  }
}

TEST_CASE("exec rnnq: QLinearMatMul requantizes with ties to even and saturation", "[exec][quantized]") {
  // a - 1 = [1, 4]; b - 1 = [[1, 8], [2, 1]]; acc = [1 + 8, 8 + 4] = [9, 12].
  // scale = 0.5 * 0.25 / 0.25 = 0.5: [4.5 -> 4, 6]; + 250 = [254, 256 -> 255].
  auto out = run_text(R"(
<ir_version: 8, opset_import: ["" : 10]>
g (uint8[1, 2] a, uint8[2, 2] b) => (uint8[1, 2] y)
  <float sa = {0.5}, uint8 za = {1}, float sb = {0.25}, uint8 zb = {1}, float sy = {0.25}, uint8 zy = {250}> {
  y = QLinearMatMul(a, sa, za, b, sb, zb, sy, zy)
}
)",
                      {{"a", make<std::uint8_t>({1, 2}, {2, 5})}, {"b", make<std::uint8_t>({2, 2}, {2, 9, 3, 2})}});
  REQUIRE(out);
  CHECK(vals<std::uint8_t>(out->at("y")) == std::vector<std::uint8_t>{254, 255});
  SECTION("per-column b scales and an int8 output") {
    // b scales [0.25, 0.5]: column scales 0.5 and 1: [4.5 -> 4, 12]; + (-126) = [-122, -114].
    auto col = run_text(R"(
<ir_version: 8, opset_import: ["" : 10]>
g (uint8[1, 2] a, uint8[2, 2] b) => (int8[1, 2] y)
  <float sa = {0.5}, uint8 za = {1}, float[2] sb = {0.25, 0.5}, uint8[2] zb = {1, 1}, float sy = {0.25}, int8 zy = {-126}> {
  y = QLinearMatMul(a, sa, za, b, sb, zb, sy, zy)
}
)",
                        {{"a", make<std::uint8_t>({1, 2}, {2, 5})}, {"b", make<std::uint8_t>({2, 2}, {2, 9, 3, 2})}});
    REQUIRE(col);
    CHECK(vals<std::int8_t>(col->at("y")) == std::vector<std::int8_t>{-122, -114});
  }
}

TEST_CASE("exec rnnq: ConvInteger", "[exec][quantized]") {
  // x - 1 = [[0, 1, 2], [3, 4, 5], [6, 7, 8]]; w - 1 = [[0, 1], [2, 3]].
  const auto x = make<std::uint8_t>({1, 1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  SECTION("no padding, constant weights") {
    // (0,0): 0*0 + 1*1 + 3*2 + 4*3 = 19; (0,1): 1*0 + 2*1 + 4*2 + 5*3 = 25;
    // (1,0): 3*0 + 4*1 + 6*2 + 7*3 = 37; (1,1): 4*0 + 5*1 + 7*2 + 8*3 = 43.
    auto out = run_text(R"(
<ir_version: 8, opset_import: ["" : 10]>
g (uint8[1, 1, 3, 3] x) => (int32[1, 1, 2, 2] y) <uint8[1, 1, 2, 2] w = {1, 2, 3, 4}, uint8 zx = {1}, uint8 zw = {1}> {
  y = ConvInteger(x, w, zx, zw)
}
)",
                        {{"x", x}});
    REQUIRE(out);
    CHECK(vals<std::int32_t>(out->at("y")) == std::vector<std::int32_t>{19, 25, 37, 43});
  }
  SECTION("padding contributes zero after the zero points (weights as an input)") {
    // pads 1: a 4 x 4 output; outside the image the shifted x is 0, not 0 - zero point.
    // (0,0): only w'(1,1) * x'(0,0) = 3 * 0 = 0; (0,1): w'(1,0) x'(0,0) + w'(1,1) x'(0,1) = 0 + 3 = 3;
    // (3,2): w'(0,0) x'(2,1) + w'(0,1) x'(2,2) = 0 + 8 = 8; (1,1): the (0,0) window above = 19.
    auto out = run_text(R"(
<ir_version: 8, opset_import: ["" : 10]>
g (uint8[1, 1, 3, 3] x, uint8[1, 1, 2, 2] w, uint8 zx, uint8 zw) => (int32[1, 1, 4, 4] y) {
  y = ConvInteger <pads = [1, 1, 1, 1]> (x, w, zx, zw)
}
)",
                        {{"x", x},
                         {"w", make<std::uint8_t>({1, 1, 2, 2}, {1, 2, 3, 4})},
                         {"zx", make<std::uint8_t>({}, {1})},
                         {"zw", make<std::uint8_t>({}, {1})}});
    REQUIRE(out);
    const auto y = vals<std::int32_t>(out->at("y"));
    REQUIRE(y.size() == 16);
    CHECK(y[0] == 0);
    CHECK(y[1] == 3);
    CHECK(y[5] == 19);
    CHECK(y[14] == 8);
  }
  SECTION("several input channels and taps: each weight meets its own value") {
    // x channels [1, 2] and [3, 4]; output 0 has filters [1, 10] (channel 0) and [100, 0]
    // (channel 1): 1 + 20 + 300 + 0 = 321; output 1 only [0, 1] on channel 1: 4.
    auto out = run_text(R"(
<ir_version: 8, opset_import: ["" : 10]>
g (uint8[1, 2, 1, 2] x) => (int32[1, 2, 1, 1] y) <uint8[2, 2, 1, 2] w = {1, 10, 100, 0, 0, 0, 0, 1}> {
  y = ConvInteger(x, w)
}
)",
                        {{"x", make<std::uint8_t>({1, 2, 1, 2}, {1, 2, 3, 4})}});
    REQUIRE(out);
    CHECK(vals<std::int32_t>(out->at("y")) == std::vector<std::int32_t>{321, 4});
  }
  SECTION("groups and per-output-channel int8 weight zero points") {
    // group 2, 1x1 kernels: w - zw = [3 - 1, 2 - (-1)] = [2, 3]; channel 0 doubles, channel 1 triples.
    auto out = run_text(R"(
<ir_version: 8, opset_import: ["" : 10]>
g (int8[1, 2, 2, 2] x) => (int32[1, 2, 2, 2] y) <int8[2, 1, 1, 1] w = {3, 2}, int8[2] zw = {1, -1}> {
  y = ConvInteger <group = 2> (x, w, , zw)
}
)",
                        {{"x", make<std::int8_t>({1, 2, 2, 2}, {1, 2, 3, 4, -1, 0, 1, 2})}});
    REQUIRE(out);
    CHECK(vals<std::int32_t>(out->at("y")) == std::vector<std::int32_t>{2, 4, 6, 8, -3, 0, 3, 6});
  }
  SECTION("1-D with strides and dilations") {
    // span 3, out = (5 - 3) / 2 + 1 = 2: y0 = x0 + x2 = 4, y1 = x2 + x4 = 8.
    auto out = run_text(R"(
<ir_version: 8, opset_import: ["" : 10]>
g (uint8[1, 1, 5] x) => (int32[1, 1, 2] y) <uint8[1, 1, 2] w = {1, 1}> {
  y = ConvInteger <strides = [2], dilations = [2]> (x, w)
}
)",
                        {{"x", make<std::uint8_t>({1, 1, 5}, {1, 2, 3, 4, 5})}});
    REQUIRE(out);
    CHECK(vals<std::int32_t>(out->at("y")) == std::vector<std::int32_t>{4, 8});
  }
  SECTION("auto_pad SAME_UPPER and SAME_LOWER") {
    // W 4, k 3, stride 2: out 2, total pad (2 - 1) * 2 + 3 - 4 = 1.
    // SAME_UPPER pads the end: [1 + 2 + 3, 3 + 4 + 0] = [6, 7]; SAME_LOWER the start: [0 + 1 + 2, 2 + 3 + 4].
    const auto row = make<std::uint8_t>({1, 1, 1, 4}, {1, 2, 3, 4});
    for (const auto& [mode, want] : {std::pair<std::string, std::vector<std::int32_t>>{"SAME_UPPER", {6, 7}},
                                     std::pair<std::string, std::vector<std::int32_t>>{"SAME_LOWER", {3, 9}}}) {
      auto out = run_text(R"(
<ir_version: 8, opset_import: ["" : 10]>
g (uint8[1, 1, 1, 4] x) => (int32[1, 1, 1, 2] y) <uint8[1, 1, 1, 3] w = {1, 1, 1}> {
  y = ConvInteger <auto_pad = ")" + mode + R"(", strides = [1, 2]> (x, w)
}
)",
                          {{"x", row}});
      REQUIRE(out);
      CHECK(vals<std::int32_t>(out->at("y")) == want);
    }
  }
  SECTION("a 3-D convolution is unsupported, a channel mismatch an error") {
    CHECK(run_code(R"(
<ir_version: 8, opset_import: ["" : 10]>
g (uint8[1, 1, 2, 2, 2] x) => (int32[1, 1, 1, 1, 1] y) <uint8[1, 1, 2, 2, 2] w = {1, 1, 1, 1, 1, 1, 1, 1}> {
  y = ConvInteger(x, w)
}
)",
                   {{"x", make<std::uint8_t>({1, 1, 2, 2, 2}, std::vector<std::uint8_t>(8, 1))}}) == mq::errc::unsupported);
    const std::string msg = run_error(R"(
<ir_version: 8, opset_import: ["" : 10]>
g (uint8[1, 2, 2, 2] x) => (int32[1, 1, 1, 1] y) <uint8[1, 1, 2, 2] w = {1, 1, 1, 1}> {
  y = ConvInteger(x, w)
}
)",
                                      {{"x", make<std::uint8_t>({1, 2, 2, 2}, std::vector<std::uint8_t>(8, 1))}});
    CHECK_THAT(msg, Catch::Contains("ConvInteger") && Catch::Contains("group 1"));
  }
}

TEST_CASE("exec rnnq: QLinearConv with per-channel weight scales and an int32 bias", "[exec][quantized]") {
  // x - 10 = [0, 10, 20, 30] (x_scale 0.5); w = [2, -1] (int8, zero point 0), w_scale [1, 0.25];
  // y_scale 2, y_zero_point 100, bias [10, -3].
  // channel 0: acc = 2 x' + 10 = [10, 30, 50, 70], times 0.5 * 1 / 2 = 0.25: [2.5, 7.5, 12.5, 17.5]
  //            -> to even [2, 8, 12, 18] + 100.
  // channel 1: acc = -x' - 3 = [-3, -13, -23, -33], times 0.5 * 0.25 / 2 = 0.0625:
  //            [-0.1875, -0.8125, -1.4375, -2.0625] -> [0, -1, -1, -2] + 100.
  auto out = run_text(R"(
<ir_version: 8, opset_import: ["" : 10]>
g (uint8[1, 1, 2, 2] x) => (uint8[1, 2, 2, 2] y)
  <float sx = {0.5}, uint8 zx = {10}, int8[2, 1, 1, 1] w = {2, -1}, float[2] sw = {1.0, 0.25}, int8 zw = {0},
   float sy = {2.0}, uint8 zy = {100}, int32[2] b = {10, -3}> {
  y = QLinearConv(x, sx, zx, w, sw, zw, sy, zy, b)
}
)",
                      {{"x", make<std::uint8_t>({1, 1, 2, 2}, {10, 20, 30, 40})}});
  REQUIRE(out);
  CHECK(vals<std::uint8_t>(out->at("y")) == std::vector<std::uint8_t>{102, 108, 112, 118, 100, 99, 99, 98});
}

// ---- com.microsoft ----------------------------------------------------------------------------------

TEST_CASE("exec rnnq: com.microsoft QLinearAdd and QLinearMul", "[exec][quantized]") {
  SECTION("QLinearAdd broadcasts B, rounds (v + zC) half to even") {
    // A: 0.5 (a - 10) = [0, 0.5, 5]; B: 0.25 (14 - 2) = 3; C = (A + B) / 1 = [3, 3.5, 8] + 100 -> [103, 104, 108].
    auto out = run_text(R"(
<ir_version: 8, opset_import: ["" : 13, "com.microsoft" : 1]>
g (uint8[3] a, uint8[1] b) => (uint8[3] c) <float sa = {0.5}, uint8 za = {10}, float sb = {0.25}, uint8 zb = {2}, float sc = {1.0}, uint8 zc = {100}> {
  c = com.microsoft.QLinearAdd(a, sa, za, b, sb, zb, sc, zc)
}
)",
                        {{"a", make<std::uint8_t>({3}, {10, 11, 20})}, {"b", make<std::uint8_t>({1}, {14})}});
    REQUIRE(out);
    CHECK(vals<std::uint8_t>(out->at("c")) == std::vector<std::uint8_t>{103, 104, 108});
  }
  SECTION("QLinearAdd without broadcasting, int8, saturating") {
    // sA / sC = 1, sB / sC = 0.25: c = 3 + (a - 1) + 0.25 (b + 2):
    // [3 + 4 + 0.5 = 7.5 -> 8 (even), 3 - 129 + 0.5 = -125.5 -> -126 (even),
    //  3 + 126 + 32.25 -> 127 (saturated), 3 - 129 - 31.5 -> -128 (saturated)].
    auto out = run_text(R"(
<ir_version: 8, opset_import: ["" : 13, "com.microsoft" : 1]>
g (int8[4] a, int8[4] b) => (int8[4] c) <float sa = {1.0}, int8 za = {1}, float sb = {0.25}, int8 zb = {-2}, float sc = {1.0}, int8 zc = {3}> {
  c = com.microsoft.QLinearAdd(a, sa, za, b, sb, zb, sc, zc)
}
)",
                        {{"a", make<std::int8_t>({4}, {5, -128, 127, -128})}, {"b", make<std::int8_t>({4}, {0, 0, 127, -128})}});
    REQUIRE(out);
    CHECK(vals<std::int8_t>(out->at("c")) == std::vector<std::int8_t>{8, -126, 127, -128});
  }
  SECTION("QLinearMul") {
    // (a - 10) = [2, 3, 4]; (b - 1) = 2; products [4, 6, 8] * (0.5 * 0.25 / 0.5) = [1, 1.5 -> 2, 2]; int8 zC -2.
    auto out = run_text(R"(
<ir_version: 8, opset_import: ["" : 13, "com.microsoft" : 1]>
g (int8[3] a, int8[1] b) => (int8[3] c) <float sa = {0.5}, int8 za = {10}, float sb = {0.25}, int8 zb = {1}, float sc = {0.5}, int8 zc = {-2}> {
  c = com.microsoft.QLinearMul(a, sa, za, b, sb, zb, sc, zc)
}
)",
                        {{"a", make<std::int8_t>({3}, {12, 13, 14})}, {"b", make<std::int8_t>({1}, {3})}});
    REQUIRE(out);
    CHECK(vals<std::int8_t>(out->at("c")) == std::vector<std::int8_t>{-1, 0, 0});
  }
}

TEST_CASE("exec rnnq: com.microsoft lookup-table operators", "[exec][quantized]") {
  SECTION("QLinearSigmoid") {
    // x = 0.0625 (q - 128): -8, 0, 7.9375; sigmoid * 256: 0.0859 -> 0, 128, 255.9 -> 256 -> 255.
    auto out = run_text(R"(
<ir_version: 8, opset_import: ["" : 13, "com.microsoft" : 1]>
g (uint8[3] x) => (uint8[3] y) <float sx = {0.0625}, uint8 zx = {128}, float sy = {0.00390625}, uint8 zy = {0}> {
  y = com.microsoft.QLinearSigmoid(x, sx, zx, sy, zy)
}
)",
                        {{"x", make<std::uint8_t>({3}, {0, 128, 255})}});
    REQUIRE(out);
    CHECK(vals<std::uint8_t>(out->at("y")) == std::vector<std::uint8_t>{0, 128, 255});
  }
  SECTION("QLinearLeakyRelu") {
    // alpha 0.5: -4 -> -2, -3 -> -1.5 -> -2 (even), -1 -> -0.5 -> 0, 2, 5.
    auto out = run_text(R"(
<ir_version: 8, opset_import: ["" : 13, "com.microsoft" : 1]>
g (int8[5] x) => (int8[5] y) <float s = {1.0}, int8 z = {0}> {
  y = com.microsoft.QLinearLeakyRelu <alpha = 0.5> (x, s, z, s, z)
}
)",
                        {{"x", make<std::int8_t>({5}, {-4, -3, -1, 2, 5})}});
    REQUIRE(out);
    CHECK(vals<std::int8_t>(out->at("y")) == std::vector<std::int8_t>{-2, -2, 0, 2, 5});
  }
  SECTION("QLinearConcat requantizes the inputs whose parameters differ") {
    // input 1 (scale 0.5): [3, 4] -> 1.5 -> 2, 2; input 2 (the output's parameters): copied.
    auto out = run_text(R"(
<ir_version: 8, opset_import: ["" : 13, "com.microsoft" : 1]>
g (uint8[1, 2] a, uint8[1, 1] b) => (uint8[1, 3] y) <float sy = {1.0}, uint8 zy = {0}, float sa = {0.5}, uint8 za = {0}> {
  y = com.microsoft.QLinearConcat <axis = 1> (sy, zy, a, sa, za, b, sy, zy)
}
)",
                        {{"a", make<std::uint8_t>({1, 2}, {3, 4})}, {"b", make<std::uint8_t>({1, 1}, {7})}});
    REQUIRE(out);
    CHECK(out->at("y").shape == std::vector<std::int64_t>{1, 3});
    CHECK(vals<std::uint8_t>(out->at("y")) == std::vector<std::uint8_t>{2, 2, 7});
  }
  SECTION("QLinearGlobalAveragePool, channels first and last") {
    // channel means 2.5 -> 2 and 10.5 -> 10 (ties to even).
    auto first = run_text(R"(
<ir_version: 8, opset_import: ["" : 13, "com.microsoft" : 1]>
g (uint8[1, 2, 2, 2] x) => (uint8[1, 2, 1, 1] y) <float s = {1.0}, uint8 z = {0}> {
  y = com.microsoft.QLinearGlobalAveragePool(x, s, z, s, z)
}
)",
                          {{"x", make<std::uint8_t>({1, 2, 2, 2}, {1, 2, 3, 4, 10, 10, 10, 12})}});
    REQUIRE(first);
    CHECK(first->at("y").shape == std::vector<std::int64_t>{1, 2, 1, 1});
    CHECK(vals<std::uint8_t>(first->at("y")) == std::vector<std::uint8_t>{2, 10});
    auto last = run_text(R"(
<ir_version: 8, opset_import: ["" : 13, "com.microsoft" : 1]>
g (uint8[1, 2, 2, 2] x) => (uint8[1, 1, 1, 2] y) <float s = {1.0}, uint8 z = {0}> {
  y = com.microsoft.QLinearGlobalAveragePool <channels_last = 1> (x, s, z, s, z)
}
)",
                         {{"x", make<std::uint8_t>({1, 2, 2, 2}, {1, 10, 2, 10, 3, 10, 4, 12})}});
    REQUIRE(last);
    CHECK(last->at("y").shape == std::vector<std::int64_t>{1, 1, 1, 2});
    CHECK(vals<std::uint8_t>(last->at("y")) == std::vector<std::uint8_t>{2, 10});
  }
}

TEST_CASE("exec rnnq: com.microsoft products into float", "[exec][quantized]") {
  SECTION("MatMulIntegerToFloat with per-column B parameters and a bias") {
    // a - 1 = [2, 4]; b - [1, 2] = [[0, 7], [2, 0]]; acc = [8, 14];
    // times 0.5 * [0.25, 1] = [1, 7], plus bias [0.5, -1] = [1.5, 6].
    auto out = run_text(R"(
<ir_version: 8, opset_import: ["" : 13, "com.microsoft" : 1]>
g (uint8[1, 2] a, uint8[2, 2] b) => (float[1, 2] y)
  <float sa = {0.5}, float[2] sb = {0.25, 1.0}, uint8 za = {1}, uint8[2] zb = {1, 2}, float[2] bias = {0.5, -1.0}> {
  y = com.microsoft.MatMulIntegerToFloat(a, b, sa, sb, za, zb, bias)
}
)",
                        {{"a", make<std::uint8_t>({1, 2}, {3, 5})}, {"b", make<std::uint8_t>({2, 2}, {1, 9, 3, 2})}});
    REQUIRE(out);
    CHECK(values_of(out->at("y")) == std::vector<float>{1.5f, 6});
  }
  SECTION("DynamicQuantizeMatMul quantizes A like DynamicQuantizeLinear") {
    // A [-51, 204]: scale 1, zero point 51, A_q = [0, 255]; B int8 [[1], [2]] (scale 0.5):
    // acc = (0 - 51) * 1 + (255 - 51) * 2 = 357; * (1 * 0.5) = 178.5; + bias 1.5 = 180.
    auto out = run_text(R"(
<ir_version: 8, opset_import: ["" : 13, "com.microsoft" : 1]>
g (float[1, 2] a) => (float[1, 1] y) <int8[2, 1] b = {1, 2}, float sb = {0.5}, int8 zb = {0}, float[1] bias = {1.5}> {
  y = com.microsoft.DynamicQuantizeMatMul(a, b, sb, zb, bias)
}
)",
                        {{"a", floats({1, 2}, {-51, 204})}});
    REQUIRE(out);
    CHECK(values_of(out->at("y")) == std::vector<float>{180});
  }
  SECTION("com.microsoft QuantizeLinear and DequantizeLinear") {
    // 3 / 2 = 1.5 -> 2 + 5 = 7; back: (7 - 5) * 2 = 4.
    auto out = run_text(R"(
<ir_version: 8, opset_import: ["" : 13, "com.microsoft" : 1]>
g (float[1] x) => (float[1] y) <float s = {2.0}, uint8 z = {5}> {
  q = com.microsoft.QuantizeLinear(x, s, z)
  y = com.microsoft.DequantizeLinear(q, s, z)
}
)",
                        {{"x", floats({1}, {3})}});
    REQUIRE(out);
    CHECK(values_of(out->at("y")) == std::vector<float>{4});
  }
}

// ---- recurrent layers ---------------------------------------------------------------------------

namespace {

// RNN, hidden 1, input 1: W = 2, R = 0.5, Wb + Rb = 0.5 + 0.25, f = Relu; X = [1, -0.25].
// forward: h1 = relu(2 + 0 + 0.75) = 2.75; h2 = relu(-0.5 + 1.375 + 0.75) = 1.625.
// reverse: h(t=1) = relu(-0.5 + 0 + 0.75) = 0.25; h(t=0) = relu(2 + 0.125 + 0.75) = 2.875.
std::string rnn_model(const std::string& attrs, const std::string& shapes, const std::string& inputs, int directions = 1) {
  const std::string w = directions == 2 ? "float[2, 1, 1] w = {2.0, 2.0}, float[2, 1, 1] r = {0.5, 0.5}, float[2, 2] b = {0.5, 0.25, 0.5, 0.25}"
                                        : "float[1, 1, 1] w = {2.0}, float[1, 1, 1] r = {0.5}, float[1, 2] b = {0.5, 0.25}";
  return R"(
<ir_version: 8, opset_import: ["" : 14]>
g )" + shapes + " <" + w + R"(> {
  y, yh = RNN <hidden_size = 1, activations = ["Relu"], )" + attrs + "> (" + inputs + R"()
}
)";
}

}  // namespace

TEST_CASE("exec rnnq: RNN two steps by hand in every direction", "[exec][rnn]") {
  const auto x = floats({2, 1, 1}, {1, -0.25f});
  SECTION("forward") {
    auto out = run_text(rnn_model(R"(direction = "forward")", "(float[2, 1, 1] x) => (float[2, 1, 1, 1] y, float[1, 1, 1] yh)", "x, w, r, b"),
                        {{"x", x}});
    REQUIRE(out);
    CHECK(values_of(out->at("y")) == std::vector<float>{2.75f, 1.625f});
    CHECK(values_of(out->at("yh")) == std::vector<float>{1.625f});
  }
  SECTION("reverse") {
    auto out = run_text(rnn_model(R"(direction = "reverse")", "(float[2, 1, 1] x) => (float[2, 1, 1, 1] y, float[1, 1, 1] yh)", "x, w, r, b"),
                        {{"x", x}});
    REQUIRE(out);
    CHECK(values_of(out->at("y")) == std::vector<float>{2.875f, 0.25f});
    CHECK(values_of(out->at("yh")) == std::vector<float>{2.875f});
  }
  SECTION("bidirectional: Y is [seq, directions, batch, hidden]") {
    auto out = run_text(rnn_model(R"(direction = "bidirectional")", "(float[2, 1, 1] x) => (float[2, 2, 1, 1] y, float[2, 1, 1] yh)",
                                  "x, w, r, b", 2),
                        {{"x", x}});
    REQUIRE(out);
    CHECK(values_of(out->at("y")) == std::vector<float>{2.75f, 2.875f, 1.625f, 0.25f});
    CHECK(values_of(out->at("yh")) == std::vector<float>{1.625f, 2.875f});
  }
  SECTION("sequence lengths: a batch entry of length 1 stops after one step") {
    // entry 1: X = [3, (100, ignored)]: forward h1 = relu(6 + 0.75) = 6.75, Y at t=1 is 0.
    auto out = run_text(rnn_model(R"(direction = "bidirectional")",
                                  "(float[2, 2, 1] x, int32[2] lens) => (float[2, 2, 2, 1] y, float[2, 2, 1] yh)",
                                  "x, w, r, b, lens", 2),
                        {{"x", floats({2, 2, 1}, {1, 3, -0.25f, 100})}, {"lens", make<std::int32_t>({2}, {2, 1})}});
    REQUIRE(out);
    // Y[t][d][b]: t0: fwd [2.75, 6.75], rev [2.875, 6.75]; t1: fwd [1.625, 0], rev [0.25, 0].
    CHECK(values_of(out->at("y")) == std::vector<float>{2.75f, 6.75f, 2.875f, 6.75f, 1.625f, 0, 0.25f, 0});
    CHECK(values_of(out->at("yh")) == std::vector<float>{1.625f, 6.75f, 2.875f, 6.75f});
  }
  SECTION("layout 1 (batch first), initial_h and clip") {
    // h0 = 1: h1 = relu(2 + 0.5 + 0.75) = 3.25, clipped input: min(3.25, 3) = 3;
    // h2 = relu(-0.5 + 1.5 + 0.75) = 1.75.
    auto out = run_text(rnn_model(R"(layout = 1, clip = 3.0)", "(float[1, 2, 1] x, float[1, 1, 1] h0) => (float[1, 2, 1, 1] y, float[1, 1, 1] yh)",
                                  "x, w, r, b, , h0"),
                        {{"x", floats({1, 2, 1}, {1, -0.25f})}, {"h0", floats({1, 1, 1}, {1})}});
    REQUIRE(out);
    CHECK(values_of(out->at("y")) == std::vector<float>{3, 1.75f});
    CHECK(values_of(out->at("yh")) == std::vector<float>{1.75f});
  }
  SECTION("the default Tanh") {
    auto out = run_text(R"(
<ir_version: 8, opset_import: ["" : 14]>
g (float[1, 1, 1] x) => (float[1, 1, 1, 1] y) <float[1, 1, 1] w = {2.0}, float[1, 1, 1] r = {0.5}> {
  y = RNN <hidden_size = 1> (x, w, r)
}
)",
                        {{"x", floats({1, 1, 1}, {0.25f})}});
    REQUIRE(out);
    CHECK(values_of(out->at("y"))[0] == Approx(std::tanh(0.5)).epsilon(1e-6));
  }
}

TEST_CASE("exec rnnq: every activation function with its alpha and beta", "[exec][rnn]") {
  // RNN with W = 1, R = 0 and no bias: Y at step t is f(x_t), for x = [-2, 0.5, 3].
  struct act_case {
    std::string attrs;
    std::vector<double> want;
  };
  const double e2 = std::exp(-2.0);
  const std::vector<act_case> cases = {
      {R"(activations = ["Relu"])", {0, 0.5, 3}},
      {R"(activations = ["Sigmoid"])", {1 / (1 + std::exp(2.0)), 1 / (1 + std::exp(-0.5)), 1 / (1 + std::exp(-3.0))}},
      {R"(activations = ["Tanh"])", {std::tanh(-2.0), std::tanh(0.5), std::tanh(3.0)}},
      {R"(activations = ["Affine"], activation_alpha = [2.0], activation_beta = [-1.0])", {-5, 0, 5}},
      {R"(activations = ["Affine"])", {-2, 0.5, 3}},  // defaults alpha 1, beta 0
      {R"(activations = ["LeakyRelu"])", {-0.02, 0.5, 3}},  // default alpha 0.01
      {R"(activations = ["LeakyRelu"], activation_alpha = [0.25])", {-0.5, 0.5, 3}},
      // x > alpha: 0.5 at alpha 0.5 is dropped.
      {R"(activations = ["ThresholdedRelu"], activation_alpha = [0.5])", {0, 0, 3}},
      {R"(activations = ["ThresholdedRelu"])", {0, 0, 3}},  // default alpha 1
      {R"(activations = ["ScaledTanh"], activation_alpha = [2.0], activation_beta = [0.5])",
       {2 * std::tanh(-1.0), 2 * std::tanh(0.25), 2 * std::tanh(1.5)}},
      {R"(activations = ["HardSigmoid"])", {0.1, 0.6, 1}},  // defaults 0.2, 0.5; 1.1 clipped to 1
      {R"(activations = ["HardSigmoid"], activation_alpha = [0.5], activation_beta = [0.25])", {0, 0.5, 1}},
      {R"(activations = ["Elu"])", {e2 - 1, 0.5, 3}},  // default alpha 1
      {R"(activations = ["Elu"], activation_alpha = [0.5])", {0.5 * (e2 - 1), 0.5, 3}},
      {R"(activations = ["Softsign"])", {-2.0 / 3, 0.5 / 1.5, 0.75}},
      {R"(activations = ["Softplus"])", {std::log(1 + e2), std::log(1 + std::exp(0.5)), std::log(1 + std::exp(3.0))}},
  };
  for (const auto& c : cases) {
    INFO(c.attrs);
    auto out = run_text(R"(
<ir_version: 8, opset_import: ["" : 14]>
g (float[3, 1, 1] x) => (float[3, 1, 1, 1] y) <float[1, 1, 1] w = {1.0}, float[1, 1, 1] r = {0.0}> {
  y = RNN <hidden_size = 1, )" + c.attrs + R"(> (x, w, r)
}
)",
                        {{"x", floats({3, 1, 1}, {-2, 0.5f, 3})}});
    REQUIRE(out);
    const auto y = values_of(out->at("y"));
    REQUIRE(y.size() == 3);
    for (std::size_t i = 0; i < 3; ++i) CHECK(y[i] == Approx(c.want[i]).epsilon(1e-6).margin(1e-7));
  }
  SECTION("ScaledTanh without its values is an error") {
    const std::string msg = run_error(R"(
<ir_version: 8, opset_import: ["" : 14]>
g (float[1, 1, 1] x) => (float[1, 1, 1, 1] y) <float[1, 1, 1] w = {1.0}, float[1, 1, 1] r = {0.0}> {
  y = RNN <hidden_size = 1, activations = ["ScaledTanh"], activation_alpha = [1.0]> (x, w, r)
}
)",
                                      {{"x", floats({1, 1, 1}, {1})}});
    CHECK_THAT(msg, Catch::Contains("RNN") && Catch::Contains("activation_beta"));
  }
}

TEST_CASE("exec rnnq: LSTM two steps by hand", "[exec][rnn]") {
  // hidden 1, input 1; gates i, o, f, c: W = [1, 2, -2, 1], R = [0.5, 0, 1, 2], no bias.
  // f = HardSigmoid(0.125, 0.5), g = Affine(2, 0), h = Relu. X = [1, 2].
  // step 1 (h0 = c0 = 0): i = hs(1) = 0.625, o = hs(2) = 0.75, f = hs(-2) = 0.25, g = 2;
  //   c1 = 0.25 * 0 + 0.625 * 2 = 1.25, h1 = 0.75 * 1.25 = 0.9375.
  // step 2: i = hs(2 + 0.46875) = 0.80859375, o = hs(4) = 1, f = hs(-4 + 0.9375) = 0.1171875,
  //   g = 2 * (2 + 1.875) = 7.75; c2 = 0.1171875 * 1.25 + 0.80859375 * 7.75 = 6.4130859375 = h2.
  constexpr const char* model = R"(
<ir_version: 8, opset_import: ["" : 14]>
g (float[2, 1, 1] x) => (float[2, 1, 1, 1] y, float[1, 1, 1] yh, float[1, 1, 1] yc)
  <float[1, 4, 1] w = {1.0, 2.0, -2.0, 1.0}, float[1, 4, 1] r = {0.5, 0.0, 1.0, 2.0}> {
  y, yh, yc = LSTM <hidden_size = 1, activations = ["HardSigmoid", "Affine", "Relu"],
                    activation_alpha = [0.125, 2.0], activation_beta = [0.5, 0.0]> (x, w, r)
}
)";
  auto out = run_text(model, {{"x", floats({2, 1, 1}, {1, 2})}});
  REQUIRE(out);
  CHECK(values_of(out->at("y")) == std::vector<float>{0.9375f, 6.4130859375f});
  CHECK(values_of(out->at("yh")) == std::vector<float>{6.4130859375f});
  CHECK(values_of(out->at("yc")) == std::vector<float>{6.4130859375f});
  SECTION("peepholes and an initial cell") {
    // c0 = 2, P = [pi 0.5, po 0.25, pf -0.5]: i = hs(1 + 1) = 0.75, f = hs(-2 - 1) = 0.125, g = 2;
    // c1 = 0.125 * 2 + 0.75 * 2 = 1.75; o = hs(2 + 0.25 * 1.75) = 0.8046875; h1 = 0.8046875 * 1.75.
    auto peep = run_text(R"(
<ir_version: 8, opset_import: ["" : 14]>
g (float[1, 1, 1] x, float[1, 1, 1] c0) => (float[1, 1, 1, 1] y, float[1, 1, 1] yh, float[1, 1, 1] yc)
  <float[1, 4, 1] w = {1.0, 2.0, -2.0, 1.0}, float[1, 4, 1] r = {0.5, 0.0, 1.0, 2.0}, float[1, 3] p = {0.5, 0.25, -0.5}> {
  y, yh, yc = LSTM <hidden_size = 1, activations = ["HardSigmoid", "Affine", "Relu"],
                    activation_alpha = [0.125, 2.0], activation_beta = [0.5, 0.0]> (x, w, r, , , , c0, p)
}
)",
                         {{"x", floats({1, 1, 1}, {1})}, {"c0", floats({1, 1, 1}, {2})}});
    REQUIRE(peep);
    CHECK(values_of(peep->at("yc")) == std::vector<float>{1.75f});
    CHECK(values_of(peep->at("yh")) == std::vector<float>{1.408203125f});
  }
  SECTION("input_forget couples f = 1 - i") {
    // step 1 only: i = 0.625, f = 0.375, c0 = 2 -> c1 = 0.375 * 2 + 0.625 * 2 = 2, h1 = 0.75 * 2.
    auto coupled = run_text(R"(
<ir_version: 8, opset_import: ["" : 14]>
g (float[1, 1, 1] x, float[1, 1, 1] c0) => (float[1, 1, 1, 1] y, float[1, 1, 1] yc)
  <float[1, 4, 1] w = {1.0, 2.0, -2.0, 1.0}, float[1, 4, 1] r = {0.5, 0.0, 1.0, 2.0}> {
  y, , yc = LSTM <hidden_size = 1, input_forget = 1, activations = ["HardSigmoid", "Affine", "Relu"],
                  activation_alpha = [0.125, 2.0], activation_beta = [0.5, 0.0]> (x, w, r, , , , c0)
}
)",
                            {{"x", floats({1, 1, 1}, {1})}, {"c0", floats({1, 1, 1}, {2})}});
    REQUIRE(coupled);
    CHECK(values_of(coupled->at("yc")) == std::vector<float>{2});
    CHECK(values_of(coupled->at("y")) == std::vector<float>{1.5f});
  }
  SECTION("layout 1 holds the same values batch first") {
    // Two batch entries: entry 0 is the sequence above, entry 1 is [2, 1]. Both layouts read
    // X = {1, 2, 2, 1} that way ([seq, batch] and [batch, seq] of a symmetric matrix); Y is
    // [seq, directions, batch, hidden] for layout 0 and [batch, seq, directions, hidden] for layout 1.
    // Entry 1 by hand: step 1 (x = 2): i = hs(2) = 0.75, o = hs(4) = 1, f = hs(-4) = 0, g = 4;
    //   c1 = 3, h1 = 3. Step 2 (x = 1): i = hs(1 + 1.5) = 0.8125, o = hs(2) = 0.75,
    //   f = hs(-2 + 3) = 0.625, g = 2 (1 + 6) = 14; c2 = 1.875 + 11.375 = 13.25, h2 = 9.9375.
    const std::string lstm_text = R"(
<ir_version: 8, opset_import: ["" : 14]>
g (float[2, 2, 1] x) => (float[2, 2, 1, 1] y, float[2, 1, 1] yh, float[2, 1, 1] yc)
  <float[1, 4, 1] w = {1.0, 2.0, -2.0, 1.0}, float[1, 4, 1] r = {0.5, 0.0, 1.0, 2.0}> {
  y, yh, yc = LSTM <hidden_size = 1, activations = ["HardSigmoid", "Affine", "Relu"],
                    activation_alpha = [0.125, 2.0], activation_beta = [0.5, 0.0], layout = LAYOUT> (x, w, r)
}
)";
    auto with_layout = [&](const char* layout) {
      std::string t = lstm_text;
      t.replace(t.find("LAYOUT"), 6, layout);
      return run_text(t, {{"x", floats({2, 2, 1}, {1, 2, 2, 1})}});
    };
    auto seq_first = with_layout("0");
    auto batch_first = with_layout("1");
    REQUIRE(seq_first);
    REQUIRE(batch_first);
    // layout 0: Y[t][d][b]; layout 1: Y[b][t][d].
    CHECK(values_of(seq_first->at("y")) == std::vector<float>{0.9375f, 3, 6.4130859375f, 9.9375f});
    CHECK(values_of(batch_first->at("y")) == std::vector<float>{0.9375f, 6.4130859375f, 3, 9.9375f});
    CHECK(values_of(seq_first->at("yh")) == std::vector<float>{6.4130859375f, 9.9375f});
    CHECK(values_of(batch_first->at("yh")) == std::vector<float>{6.4130859375f, 9.9375f});
    CHECK(values_of(batch_first->at("yc")) == std::vector<float>{6.4130859375f, 13.25f});
  }
  SECTION("weights computed at run time (not constants) give the same values") {
    auto dynamic = run_text(R"(
<ir_version: 8, opset_import: ["" : 14]>
g (float[2, 1, 1] x, float[1, 4, 1] w, float[1, 4, 1] r) => (float[2, 1, 1, 1] y) {
  y = LSTM <hidden_size = 1, activations = ["HardSigmoid", "Affine", "Relu"],
            activation_alpha = [0.125, 2.0], activation_beta = [0.5, 0.0]> (x, w, r)
}
)",
                            {{"x", floats({2, 1, 1}, {1, 2})},
                             {"w", floats({1, 4, 1}, {1, 2, -2, 1})},
                             {"r", floats({1, 4, 1}, {0.5f, 0, 1, 2})}});
    REQUIRE(dynamic);
    CHECK(values_of(dynamic->at("y")) == std::vector<float>{0.9375f, 6.4130859375f});
  }
}

TEST_CASE("exec rnnq: GRU two steps by hand, both linear_before_reset forms", "[exec][rnn]") {
  // hidden 1, input 1; gates z, r, h: W = [1, 2, 1], R = [0.5, 1, 2]; f = HardSigmoid(0.125, 0.5),
  // g = Affine(1, 0) (the identity). X = [1, 2].
  SECTION("linear_before_reset = 0") {
    // step 1: z = hs(1) = 0.625, r = hs(2) = 0.75, h~ = 1 + 2 (0.75 * 0) = 1; h1 = 0.375 * 1 = 0.375.
    // step 2: z = hs(2 + 0.1875) = 0.7734375, r = hs(4 + 0.375) = 1 (saturated),
    //   h~ = 2 + 2 (1 * 0.375) = 2.75; h2 = 0.2265625 * 2.75 + 0.7734375 * 0.375 = 0.9130859375.
    auto out = run_text(R"(
<ir_version: 8, opset_import: ["" : 14]>
g (float[2, 1, 1] x) => (float[2, 1, 1, 1] y, float[1, 1, 1] yh) <float[1, 3, 1] w = {1.0, 2.0, 1.0}, float[1, 3, 1] r = {0.5, 1.0, 2.0}> {
  y, yh = GRU <hidden_size = 1, activations = ["HardSigmoid", "Affine"], activation_alpha = [0.125, 1.0],
               activation_beta = [0.5, 0.0]> (x, w, r)
}
)",
                        {{"x", floats({2, 1, 1}, {1, 2})}});
    REQUIRE(out);
    CHECK(values_of(out->at("y")) == std::vector<float>{0.375f, 0.9130859375f});
    CHECK(values_of(out->at("yh")) == std::vector<float>{0.9130859375f});
  }
  SECTION("linear_before_reset = 1 keeps Rbh inside the reset product") {
    // Rbh = 0.5 (every other bias 0).
    // step 1: z = 0.625, r = 0.75, h~ = 1 + 0.75 (2 * 0 + 0.5) = 1.375; h1 = 0.375 * 1.375 = 0.515625.
    // step 2: z = hs(2 + 0.2578125) = 0.7822265625, r = 1, h~ = 2 + 1 * (2 * 0.515625 + 0.5) = 3.53125;
    //   h2 = 0.2177734375 * 3.53125 + 0.7822265625 * 0.515625 = 1.1723480224609375.
    auto out = run_text(R"(
<ir_version: 8, opset_import: ["" : 14]>
g (float[2, 1, 1] x) => (float[2, 1, 1, 1] y) <float[1, 3, 1] w = {1.0, 2.0, 1.0}, float[1, 3, 1] r = {0.5, 1.0, 2.0},
                                               float[1, 6] b = {0.0, 0.0, 0.0, 0.0, 0.0, 0.5}> {
  y = GRU <hidden_size = 1, linear_before_reset = 1, activations = ["HardSigmoid", "Affine"],
           activation_alpha = [0.125, 1.0], activation_beta = [0.5, 0.0]> (x, w, r, b)
}
)",
                        {{"x", floats({2, 1, 1}, {1, 2})}});
    REQUIRE(out);
    CHECK(values_of(out->at("y")) == std::vector<float>{0.515625f, 1.1723480224609375f});
  }
}

TEST_CASE("exec rnnq: recurrent layers refuse what they cannot run", "[exec][rnn]") {
  SECTION("a W of the wrong shape names the node") {
    const std::string msg = run_error(R"(
<ir_version: 8, opset_import: ["" : 14]>
g (float[1, 1, 2] x) => (float[1, 1, 1, 1] y) <float[1, 4, 1] w = {1.0, 2.0, -2.0, 1.0}, float[1, 4, 1] r = {0.5, 0.0, 1.0, 2.0}> {
  y = LSTM <hidden_size = 1> (x, w, r)
}
)",
                                      {{"x", floats({1, 1, 2}, {1, 2})}});
    CHECK_THAT(msg, Catch::Contains("LSTM") && Catch::Contains("W has shape [1,4,1], expected [1,4,2]"));
  }
  SECTION("an unknown activation is unsupported") {
    CHECK(run_code(R"(
<ir_version: 8, opset_import: ["" : 14]>
g (float[1, 1, 1] x) => (float[1, 1, 1, 1] y) <float[1, 1, 1] w = {2.0}, float[1, 1, 1] r = {0.5}> {
  y = RNN <hidden_size = 1, activations = ["Gelu"]> (x, w, r)
}
)",
                   {{"x", floats({1, 1, 1}, {1})}}) == mq::errc::unsupported);
  }
  SECTION("sequence lengths beyond the sequence are an error") {
    const std::string msg = run_error(R"(
<ir_version: 8, opset_import: ["" : 14]>
g (float[1, 1, 1] x, int32[1] lens) => (float[1, 1, 1, 1] y) <float[1, 1, 1] w = {2.0}, float[1, 1, 1] r = {0.5}> {
  y = RNN <hidden_size = 1> (x, w, r, , lens)
}
)",
                                      {{"x", floats({1, 1, 1}, {1})}, {"lens", make<std::int32_t>({1}, {2})}});
    CHECK_THAT(msg, Catch::Contains("sequence_lens holds 2"));
  }
}
