// The executor's element-wise, activation and reduction kernels (lib/exec/ops/elementwise.cpp,
// activation.cpp, reduce.cpp) on small models written as ONNX text. Every expected value is worked
// out by hand from the ONNX operator spec (comments show the arithmetic), never from the code
// under test; values that are not exact in float are compared with a tolerance.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "mq/session.h"
#include "support/exec_helpers.h"
#include "tensor/half.h"

using mq::test::floats;
using mq::test::int64s;
using mq::test::run_text;
using mq::test::values_of;

namespace {

constexpr float inf = std::numeric_limits<float>::infinity();
const float qnan = std::numeric_limits<float>::quiet_NaN();

template <class T>
mq::tensor typed(std::vector<std::int64_t> shape, const std::vector<T>& values) {
  return mq::tensor::from<T>(std::move(shape), values);
}

mq::tensor bools(std::vector<std::int64_t> shape, const std::vector<int>& values) {
  mq::tensor t;
  t.type = mq::dtype::boolean;
  t.shape = std::move(shape);
  for (int v : values) t.data.push_back(static_cast<std::byte>(v != 0 ? 1 : 0));
  return t;
}

mq::tensor halves(std::vector<std::int64_t> shape, const std::vector<float>& values) {
  mq::tensor t;
  t.type = mq::dtype::float16;
  t.shape = std::move(shape);
  t.data.resize(values.size() * 2);
  for (std::size_t i = 0; i < values.size(); ++i) {
    const std::uint16_t h = mq::half::float_to_half(values[i]);
    std::memcpy(t.data.data() + 2 * i, &h, 2);
  }
  return t;
}

template <class T>
std::vector<T> as_vector(const mq::tensor& t) {
  auto s = t.as<T>();
  REQUIRE(s.size() * sizeof(T) == t.data.size());
  return {s.begin(), s.end()};
}

std::vector<int> bool_values(const mq::tensor& t) {
  REQUIRE(t.type == mq::dtype::boolean);
  std::vector<int> v;
  for (std::byte b : t.data) v.push_back(static_cast<int>(b));
  return v;
}

std::vector<float> half_values(const mq::tensor& t) {
  REQUIRE(t.type == mq::dtype::float16);
  std::vector<float> v(t.data.size() / 2);
  for (std::size_t i = 0; i < v.size(); ++i) {
    std::uint16_t h = 0;
    std::memcpy(&h, t.data.data() + 2 * i, 2);
    v[i] = mq::half::half_to_float(h);
  }
  return v;
}

// Equal within 1e-6 relative (for values that are not exact in float), NaN equal to NaN.
void check_close(const std::vector<float>& got, const std::vector<float>& want) {
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    INFO("element " << i << ": " << got[i] << " vs " << want[i]);
    if (std::isnan(want[i])) {
      CHECK(std::isnan(got[i]));
    } else if (std::isinf(want[i])) {
      CHECK(got[i] == want[i]);
    } else {
      CHECK(got[i] == Approx(want[i]).epsilon(1e-6).margin(1e-7));
    }
  }
}

// One node y = Op(...) with the given signature and node text, run on `inputs`.
mq::result<std::map<std::string, mq::tensor>> run_node(int opset, const std::string& signature, const std::string& node,
                                                       const std::map<std::string, mq::tensor>& inputs,
                                                       unsigned threads = 1) {
  const std::string text = "<ir_version: 8, opset_import: [\"\" : " + std::to_string(opset) + "]>\ng " + signature +
                           " {\n  " + node + "\n}\n";
  mq::session_options options;
  options.threads = threads;
  return run_text(text, inputs, options);
}

std::vector<float> run_float(int opset, const std::string& signature, const std::string& node,
                             const std::map<std::string, mq::tensor>& inputs) {
  auto out = run_node(opset, signature, node, inputs);
  if (!out) FAIL(out.error().message);
  return values_of(out->at("y"));
}

}  // namespace

// ---- unary -------------------------------------------------------------------------------------

TEST_CASE("ew: unary math on exact values", "[exec][ew]") {
  const auto x = floats({6}, {-2.5f, -1.5f, -0.5f, 0.5f, 1.5f, 2.5f});
  const std::string sig = "(float[6] x) => (float[6] y)";
  CHECK(run_float(13, sig, "y = Abs(x)", {{"x", x}}) == std::vector<float>{2.5f, 1.5f, 0.5f, 0.5f, 1.5f, 2.5f});
  CHECK(run_float(13, sig, "y = Neg(x)", {{"x", x}}) == std::vector<float>{2.5f, 1.5f, 0.5f, -0.5f, -1.5f, -2.5f});
  CHECK(run_float(13, sig, "y = Floor(x)", {{"x", x}}) == std::vector<float>{-3, -2, -1, 0, 1, 2});
  CHECK(run_float(13, sig, "y = Ceil(x)", {{"x", x}}) == std::vector<float>{-2, -1, -0.f, 1, 2, 3});
  // Round: ties go to the even neighbour.
  CHECK(run_float(13, sig, "y = Round(x)", {{"x", x}}) == std::vector<float>{-2, -2, -0.f, 0, 2, 2});
  CHECK(run_float(13, sig, "y = Sign(x)", {{"x", x}}) == std::vector<float>{-1, -1, -1, 1, 1, 1});
  CHECK(run_float(13, sig, "y = Reciprocal(x)", {{"x", x}}) == std::vector<float>{-0.4f, -1 / 1.5f, -2, 2, 1 / 1.5f, 0.4f});
  const auto sq = floats({4}, {0, 1, 6.25f, -1});
  const std::string sig4 = "(float[4] x) => (float[4] y)";
  check_close(run_float(13, sig4, "y = Sqrt(x)", {{"x", sq}}), {0, 1, 2.5f, qnan});
  check_close(run_float(13, sig4, "y = Exp(x)", {{"x", floats({4}, {0, 1, -inf, inf})}}), {1, 2.7182818f, 0, inf});
  check_close(run_float(13, sig4, "y = Log(x)", {{"x", floats({4}, {1, 2.7182818f, 0, -1})}}), {0, 1, -inf, qnan});
  check_close(run_float(13, sig4, "y = Erf(x)", {{"x", floats({4}, {0, 1, -1, inf})}}), {0, 0.84270079f, -0.84270079f, 1});
  check_close(run_float(13, sig4, "y = Sin(x)", {{"x", floats({4}, {0, 1.5707963f, -1.5707963f, 0.5235988f})}}), {0, 1, -1, 0.5f});
  check_close(run_float(13, sig4, "y = Cos(x)", {{"x", floats({4}, {0, 3.1415927f, 1.0471976f, 0})}}), {1, -1, 0.5f, 1});
  check_close(run_float(13, sig4, "y = Tan(x)", {{"x", floats({4}, {0, 0.7853982f, -0.7853982f, 0})}}), {0, 1, -1, 0});
  check_close(run_float(13, sig4, "y = Asin(x)", {{"x", floats({4}, {0, 1, -1, 0.5f})}}), {0, 1.5707963f, -1.5707963f, 0.5235988f});
  check_close(run_float(13, sig4, "y = Acos(x)", {{"x", floats({4}, {1, -1, 0.5f, 2})}}), {0, 3.1415927f, 1.0471976f, qnan});
  check_close(run_float(13, sig4, "y = Atan(x)", {{"x", floats({4}, {0, 1, -1, inf})}}), {0, 0.7853982f, -0.7853982f, 1.5707963f});
  // sinh(ln 2) = (2 - 1/2) / 2 = 0.75, cosh(ln 2) = (2 + 1/2) / 2 = 1.25.
  check_close(run_float(13, sig4, "y = Sinh(x)", {{"x", floats({4}, {0, 0.6931472f, -0.6931472f, 0})}}), {0, 0.75f, -0.75f, 0});
  check_close(run_float(13, sig4, "y = Cosh(x)", {{"x", floats({4}, {0, 0.6931472f, -0.6931472f, 0})}}), {1, 1.25f, 1.25f, 1});
  check_close(run_float(13, sig4, "y = Asinh(x)", {{"x", floats({4}, {0, 0.75f, -0.75f, 0})}}), {0, 0.6931472f, -0.6931472f, 0});
  check_close(run_float(13, sig4, "y = Acosh(x)", {{"x", floats({4}, {1, 1.25f, 0.5f, 1})}}), {0, 0.6931472f, qnan, 0});
  // atanh(0.6) = ln((1 + 0.6) / (1 - 0.6)) / 2 = ln(4) / 2 = ln 2.
  check_close(run_float(13, sig4, "y = Atanh(x)", {{"x", floats({4}, {0, 0.6f, -0.6f, 1})}}), {0, 0.6931472f, -0.6931472f, inf});
}

TEST_CASE("ew: unary integer kernels and the types they refuse", "[exec][ew]") {
  const std::string sig = "(int32[4] x) => (int32[4] y)";
  const auto x = typed<std::int32_t>({4}, {-7, 0, 5, std::numeric_limits<std::int32_t>::min()});
  auto abs = run_node(13, sig, "y = Abs(x)", {{"x", x}});
  REQUIRE(abs);
  // |INT_MIN| wraps to INT_MIN (two's complement, as numpy).
  CHECK(as_vector<std::int32_t>(abs->at("y")) == std::vector<std::int32_t>{7, 0, 5, std::numeric_limits<std::int32_t>::min()});
  auto sign = run_node(13, sig, "y = Sign(x)", {{"x", x}});
  REQUIRE(sign);
  CHECK(as_vector<std::int32_t>(sign->at("y")) == std::vector<std::int32_t>{-1, 0, 1, -1});
  auto neg = run_node(13, sig, "y = Neg(x)", {{"x", x}});
  REQUIRE(neg);
  CHECK(as_vector<std::int32_t>(neg->at("y")) == std::vector<std::int32_t>{7, 0, -5, std::numeric_limits<std::int32_t>::min()});
  SECTION("Sqrt of an integer tensor is unsupported, naming the node and the type") {
    auto bad = run_node(13, sig, "y = Sqrt(x)", {{"x", x}});
    REQUIRE(!bad);
    CHECK(bad.error().code == mq::errc::unsupported);
    CHECK_THAT(bad.error().message, Catch::Contains("Sqrt") && Catch::Contains("element type int32"));
  }
  SECTION("an attribute a unary operator does not have is unsupported") {
    auto bad = run_node(13, "(float[1] x) => (float[1] y)", "y = Exp <foo = 1> (x)", {{"x", floats({1}, {0})}});
    REQUIRE(!bad);
    CHECK(bad.error().code == mq::errc::unsupported);
    CHECK_THAT(bad.error().message, Catch::Contains("foo"));
  }
}

TEST_CASE("ew: Not, IsNaN, IsInf give bools", "[exec][ew]") {
  auto n = run_node(13, "(bool[3] x) => (bool[3] y)", "y = Not(x)", {{"x", bools({3}, {1, 0, 1})}});
  REQUIRE(n);
  CHECK(bool_values(n->at("y")) == std::vector<int>{0, 1, 0});
  const auto x = floats({4}, {1, qnan, inf, -inf});
  auto isnan = run_node(13, "(float[4] x) => (bool[4] y)", "y = IsNaN(x)", {{"x", x}});
  REQUIRE(isnan);
  CHECK(bool_values(isnan->at("y")) == std::vector<int>{0, 1, 0, 0});
  auto isinf = run_node(13, "(float[4] x) => (bool[4] y)", "y = IsInf(x)", {{"x", x}});
  REQUIRE(isinf);
  CHECK(bool_values(isinf->at("y")) == std::vector<int>{0, 0, 1, 1});
  auto positive = run_node(13, "(float[4] x) => (bool[4] y)", "y = IsInf <detect_negative = 0> (x)", {{"x", x}});
  REQUIRE(positive);
  CHECK(bool_values(positive->at("y")) == std::vector<int>{0, 0, 1, 0});
  auto negative = run_node(13, "(float[4] x) => (bool[4] y)", "y = IsInf <detect_positive = 0> (x)", {{"x", x}});
  REQUIRE(negative);
  CHECK(bool_values(negative->at("y")) == std::vector<int>{0, 0, 0, 1});
}

// ---- binary ------------------------------------------------------------------------------------

TEST_CASE("ew: arithmetic broadcasts both ways and wraps integers", "[exec][ew]") {
  // a [2,1,3] + b [4,1] -> [2,4,3]: y[i][j][k] = a[i][0][k] + b[j][0].
  std::vector<float> av = {0, 1, 2, 10, 20, 30};
  std::vector<float> bv = {100, 200, 300, 400};
  std::vector<float> expected;
  for (int i = 0; i < 2; ++i) {
    for (int j = 0; j < 4; ++j) {
      for (int k = 0; k < 3; ++k) expected.push_back(av[static_cast<std::size_t>(i * 3 + k)] + bv[static_cast<std::size_t>(j)]);
    }
  }
  const std::string sig = "(float[2,1,3] a, float[4,1] b) => (float[2,4,3] y)";
  const std::map<std::string, mq::tensor> in = {{"a", floats({2, 1, 3}, av)}, {"b", floats({4, 1}, bv)}};
  CHECK(run_float(14, sig, "y = Add(a, b)", in) == expected);
  // Sub and Div with b on the left: b - a, b / a with a scalar.
  CHECK(run_float(14, "(float[] a, float[3] b) => (float[3] y)", "y = Sub(b, a)",
                  {{"a", floats({}, {1})}, {"b", floats({3}, {1, 2, 3})}}) == std::vector<float>{0, 1, 2});
  CHECK(run_float(14, "(float[] a, float[3] b) => (float[3] y)", "y = Div(a, b)",
                  {{"a", floats({}, {1})}, {"b", floats({3}, {1, 2, 4})}}) == std::vector<float>{1, 0.5f, 0.25f});
  SECTION("int32 overflow wraps; integer division truncates toward zero") {
    const std::string isig = "(int32[3] a, int32[3] b) => (int32[3] y)";
    const auto a = typed<std::int32_t>({3}, {std::numeric_limits<std::int32_t>::max(), -7, 7});
    const auto b = typed<std::int32_t>({3}, {1, 2, -2});
    auto add = run_node(14, isig, "y = Add(a, b)", {{"a", a}, {"b", b}});
    REQUIRE(add);
    CHECK(as_vector<std::int32_t>(add->at("y")) == std::vector<std::int32_t>{std::numeric_limits<std::int32_t>::min(), -5, 5});
    auto mul = run_node(14, isig, "y = Mul(a, b)", {{"a", a}, {"b", b}});
    REQUIRE(mul);
    CHECK(as_vector<std::int32_t>(mul->at("y")) == std::vector<std::int32_t>{std::numeric_limits<std::int32_t>::max(), -14, -14});
    auto div = run_node(14, isig, "y = Div(a, b)", {{"a", a}, {"b", b}});
    REQUIRE(div);
    CHECK(as_vector<std::int32_t>(div->at("y")) == std::vector<std::int32_t>{std::numeric_limits<std::int32_t>::max(), -3, -3});
    auto zero = run_node(14, isig, "y = Div(a, b)", {{"a", a}, {"b", typed<std::int32_t>({3}, {1, 0, 1})}});
    REQUIRE(!zero);
    CHECK(zero.error().code == mq::errc::invalid_argument);
    CHECK_THAT(zero.error().message, Catch::Contains("Div") && Catch::Contains("division by zero"));
  }
  SECTION("float16 computes in float and rounds back") {
    auto h = run_node(14, "(float16[3] a, float16[3] b) => (float16[3] y)", "y = Add(a, b)",
                      {{"a", halves({3}, {1.5f, 2048, -1})}, {"b", halves({3}, {2.25f, 1, 0.5f})}});
    REQUIRE(h);
    // 2048 + 1 = 2049 is a tie between the float16 neighbours 2048 and 2050: even mantissa, 2048.
    CHECK(half_values(h->at("y")) == std::vector<float>{3.75f, 2048, -0.5f});
  }
  SECTION("inputs of two types are an error naming the node") {
    auto bad = run_node(14, "(float[1] a, int64[1] b) => (float[1] y)", "y = Mul(a, b)",
                        {{"a", floats({1}, {1})}, {"b", int64s({1}, {1})}});
    REQUIRE(!bad);
    CHECK_THAT(bad.error().message, Catch::Contains("Mul") && Catch::Contains("float and int64"));
  }
}

TEST_CASE("ew: broadcasting results do not depend on the thread count", "[exec][ew]") {
  // [64, 1, 300] * [1, 128, 1] is 2.4M products: every thread count gives the same bytes.
  std::vector<float> av(64 * 300);
  std::vector<float> bv(128);
  for (std::size_t i = 0; i < av.size(); ++i) av[i] = static_cast<float>(i % 97) * 0.25f;
  for (std::size_t i = 0; i < bv.size(); ++i) bv[i] = static_cast<float>(i) - 60.0f;
  const std::string sig = "(float[64,1,300] a, float[1,128,1] b) => (float[64,128,300] y)";
  const std::map<std::string, mq::tensor> in = {{"a", floats({64, 1, 300}, av)}, {"b", floats({1, 128, 1}, bv)}};
  auto one = run_node(14, sig, "y = Mul(a, b)", in, 1);
  auto three = run_node(14, sig, "y = Mul(a, b)", in, 3);
  REQUIRE(one);
  REQUIRE(three);
  const auto y = values_of(one->at("y"));
  CHECK(y == values_of(three->at("y")));
  // Spot checks: y[i][j][k] = a[i][k] * b[j].
  CHECK(y[0] == 0);
  CHECK(y[(5 * 128 + 7) * 300 + 11] == av[5 * 300 + 11] * bv[7]);
  CHECK(y[(63 * 128 + 127) * 300 + 299] == av[63 * 300 + 299] * bv[127]);
}

TEST_CASE("ew: results written in place never clobber a value still to be read", "[exec][ew]") {
  // e = Exp(x) is read twice by one Add (its storage may become the sum); s = Sigmoid(x) and
  // Mul(x, s) (SiLU) read x after Sigmoid; n = Neg(e2) is the last reader of e2.
  constexpr const char* text = R"(
<ir_version: 8, opset_import: ["" : 13]>
g (float[3] x) => (float[3] twice, float[3] silu, float[3] back) {
  e = Exp(x)
  twice = Add(e, e)
  s = Sigmoid(x)
  silu = Mul(x, s)
  e2 = Abs(x)
  n = Neg(e2)
  back = Sub(x, n)
}
)";
  const auto x = floats({3}, {0, 1.0986123f, -1.0986123f});
  for (unsigned threads : {1u, 3u}) {
    mq::session_options options;
    options.threads = threads;
    auto out = run_text(text, {{"x", x}}, options);
    REQUIRE(out);
    // 2 e^x: 2, 2 * 3, 2 / 3.
    check_close(values_of(out->at("twice")), {2, 6, 2.0f / 3});
    // x sigmoid(x): 0, ln 3 * 3/4, -ln 3 * 1/4.
    check_close(values_of(out->at("silu")), {0, 1.0986123f * 0.75f, -1.0986123f * 0.25f});
    // x - (-|x|) = x + |x|.
    check_close(values_of(out->at("back")), {0, 2 * 1.0986123f, 0});
  }
}

TEST_CASE("ew: Pow with mixed base and exponent types", "[exec][ew]") {
  CHECK(run_float(15, "(float[3] a, int64[3] b) => (float[3] y)", "y = Pow(a, b)",
                  {{"a", floats({3}, {2, 3, -2})}, {"b", int64s({3}, {3, 2, 3})}}) == std::vector<float>{8, 9, -8});
  // Exponents 2, 1 and 0.5: x*x, x, sqrt(x).
  CHECK(run_float(15, "(float[3] a, float[] b) => (float[3] y)", "y = Pow(a, b)",
                  {{"a", floats({3}, {1.5f, -3, 0})}, {"b", floats({}, {2})}}) == std::vector<float>{2.25f, 9, 0});
  CHECK(run_float(15, "(float[3] a, float[] b) => (float[3] y)", "y = Pow(a, b)",
                  {{"a", floats({3}, {2.25f, 9, 0})}, {"b", floats({}, {0.5f})}}) == std::vector<float>{1.5f, 3, 0});
  check_close(run_float(15, "(float[3] a, float[3] b) => (float[3] y)", "y = Pow(a, b)",
                        {{"a", floats({3}, {4, 27, 2})}, {"b", floats({3}, {-0.5f, 1.0f / 3, 10})}}),
              {0.5f, 3, 1024});
  auto ints = run_node(15, "(int32[5] a, int32[5] b) => (int32[5] y)", "y = Pow(a, b)",
                       {{"a", typed<std::int32_t>({5}, {2, -3, 2, 1, -1})}, {"b", typed<std::int32_t>({5}, {10, 3, -1, -2, -3})}});
  REQUIRE(ints);
  // 2^-1 = 0.5 truncates to 0; 1^-2 = 1; (-1)^-3 = -1.
  CHECK(as_vector<std::int32_t>(ints->at("y")) == std::vector<std::int32_t>{1024, -27, 0, 1, -1});
  auto int_float = run_node(15, "(int64[2] a, float[2] b) => (int64[2] y)", "y = Pow(a, b)",
                            {{"a", int64s({2}, {9, 2})}, {"b", floats({2}, {0.5f, 3})}});
  REQUIRE(int_float);
  CHECK(as_vector<std::int64_t>(int_float->at("y")) == std::vector<std::int64_t>{3, 8});
}

TEST_CASE("ew: Mod follows Python (fmod 0) or C (fmod 1)", "[exec][ew]") {
  const std::string sig = "(int32[4] a, int32[4] b) => (int32[4] y)";
  const auto a = typed<std::int32_t>({4}, {-7, 7, -7, 7});
  const auto b = typed<std::int32_t>({4}, {3, -3, -3, 3});
  auto py = run_node(13, sig, "y = Mod(a, b)", {{"a", a}, {"b", b}});
  REQUIRE(py);
  // Python: -7 % 3 = 2, 7 % -3 = -2, -7 % -3 = -1, 7 % 3 = 1 (the sign of the divisor).
  CHECK(as_vector<std::int32_t>(py->at("y")) == std::vector<std::int32_t>{2, -2, -1, 1});
  auto c = run_node(13, sig, "y = Mod <fmod = 1> (a, b)", {{"a", a}, {"b", b}});
  REQUIRE(c);
  // C: the sign of the dividend.
  CHECK(as_vector<std::int32_t>(c->at("y")) == std::vector<std::int32_t>{-1, 1, -1, 1});
  CHECK(run_float(13, "(float[2] a, float[2] b) => (float[2] y)", "y = Mod <fmod = 1> (a, b)",
                  {{"a", floats({2}, {-4.5f, 5.5f})}, {"b", floats({2}, {2, -2})}}) == std::vector<float>{-0.5f, 1.5f});
  SECTION("floats with fmod 0 and a zero divisor are errors") {
    auto f = run_node(13, "(float[1] a, float[1] b) => (float[1] y)", "y = Mod(a, b)",
                      {{"a", floats({1}, {1})}, {"b", floats({1}, {2})}});
    REQUIRE(!f);
    CHECK_THAT(f.error().message, Catch::Contains("Mod") && Catch::Contains("fmod must be 1"));
    auto z = run_node(13, sig, "y = Mod(a, b)", {{"a", a}, {"b", typed<std::int32_t>({4}, {1, 1, 0, 1})}});
    REQUIRE(!z);
    CHECK_THAT(z.error().message, Catch::Contains("Mod by zero"));
  }
}

TEST_CASE("ew: BitShift on unsigned integers", "[exec][ew]") {
  const std::string sig = "(uint8[3] a, uint8[3] b) => (uint8[3] y)";
  auto left = run_node(11, sig, "y = BitShift <direction = \"LEFT\"> (a, b)",
                       {{"a", typed<std::uint8_t>({3}, {1, 255, 16})}, {"b", typed<std::uint8_t>({3}, {1, 1, 4})}});
  REQUIRE(left);
  // 255 << 1 = 510 keeps its low 8 bits: 254; 16 << 4 = 256 -> 0.
  CHECK(as_vector<std::uint8_t>(left->at("y")) == std::vector<std::uint8_t>{2, 254, 0});
  auto right = run_node(11, sig, "y = BitShift <direction = \"RIGHT\"> (a, b)",
                        {{"a", typed<std::uint8_t>({3}, {16, 255, 255})}, {"b", typed<std::uint8_t>({3}, {2, 7, 8})}});
  REQUIRE(right);
  CHECK(as_vector<std::uint8_t>(right->at("y")) == std::vector<std::uint8_t>{4, 1, 0});
  auto bad = run_node(11, sig, "y = BitShift <direction = \"UP\"> (a, b)",
                      {{"a", typed<std::uint8_t>({3}, {1, 1, 1})}, {"b", typed<std::uint8_t>({3}, {1, 1, 1})}});
  REQUIRE(!bad);
  CHECK_THAT(bad.error().message, Catch::Contains("BitShift") && Catch::Contains("UP"));
}

TEST_CASE("ew: logic and comparisons give bools, with broadcasting", "[exec][ew]") {
  const auto a = bools({2, 2}, {1, 1, 0, 0});
  const auto b = bools({2}, {1, 0});
  const std::string sig = "(bool[2,2] a, bool[2] b) => (bool[2,2] y)";
  auto both = run_node(7, sig, "y = And(a, b)", {{"a", a}, {"b", b}});
  auto either = run_node(7, sig, "y = Or(a, b)", {{"a", a}, {"b", b}});
  auto one = run_node(7, sig, "y = Xor(a, b)", {{"a", a}, {"b", b}});
  REQUIRE(both);
  REQUIRE(either);
  REQUIRE(one);
  CHECK(bool_values(both->at("y")) == std::vector<int>{1, 0, 0, 0});
  CHECK(bool_values(either->at("y")) == std::vector<int>{1, 1, 1, 0});
  CHECK(bool_values(one->at("y")) == std::vector<int>{0, 1, 1, 0});

  const auto x = floats({2, 3}, {1, 2, qnan, 4, 2, 0});
  const auto t = floats({3}, {2, 2, 2});
  const std::string fsig = "(float[2,3] x, float[3] t) => (bool[2,3] y)";
  auto cmp = [&](const char* op) {
    auto out = run_node(16, fsig, std::string("y = ") + op + "(x, t)", {{"x", x}, {"t", t}});
    REQUIRE(out);
    return bool_values(out->at("y"));
  };
  // NaN compares false with everything.
  CHECK(cmp("Equal") == std::vector<int>{0, 1, 0, 0, 1, 0});
  CHECK(cmp("Less") == std::vector<int>{1, 0, 0, 0, 0, 1});
  CHECK(cmp("Greater") == std::vector<int>{0, 0, 0, 1, 0, 0});
  CHECK(cmp("LessOrEqual") == std::vector<int>{1, 1, 0, 0, 1, 1});
  CHECK(cmp("GreaterOrEqual") == std::vector<int>{0, 1, 0, 1, 1, 0});
  auto ints = run_node(13, "(int64[3] a, int64[] b) => (bool[3] y)", "y = Equal(a, b)",
                       {{"a", int64s({3}, {5, -5, 5})}, {"b", int64s({}, {5})}});
  REQUIRE(ints);
  CHECK(bool_values(ints->at("y")) == std::vector<int>{1, 0, 1});
  auto mixed = run_node(7, "(float[2] a, bool[2] b) => (bool[2] y)", "y = And(a, b)",
                        {{"a", floats({2}, {1, 0})}, {"b", bools({2}, {1, 0})}});
  REQUIRE(!mixed);
  CHECK_THAT(mixed.error().message, Catch::Contains("And"));
}

TEST_CASE("ew: variadic Max Min Sum Mean broadcast over every input", "[exec][ew]") {
  // a [2], b [2,1], c []: y[i][j] = op(a[j], b[i], c).
  const std::map<std::string, mq::tensor> in = {
      {"a", floats({2}, {1, 5})}, {"b", floats({2, 1}, {3, 0})}, {"c", floats({}, {2})}};
  const std::string sig = "(float[2] a, float[2,1] b, float[] c) => (float[2,2] y)";
  CHECK(run_float(13, sig, "y = Max(a, b, c)", in) == std::vector<float>{3, 5, 2, 5});
  CHECK(run_float(13, sig, "y = Min(a, b, c)", in) == std::vector<float>{1, 2, 0, 0});
  CHECK(run_float(13, sig, "y = Sum(a, b, c)", in) == std::vector<float>{6, 10, 3, 7});
  // (1+3+2)/3 = 2, (5+3+2)/3, (1+0+2)/3 = 1, (5+0+2)/3.
  check_close(run_float(13, sig, "y = Mean(a, b, c)", in), {2, 10.0f / 3, 1, 7.0f / 3});
  CHECK(run_float(13, "(float[2] a) => (float[2] y)", "y = Max(a)", {{"a", floats({2}, {1, -1})}}) == std::vector<float>{1, -1});
  // NaN in any input gives NaN (numpy's maximum).
  check_close(run_float(13, "(float[2] a, float[2] b) => (float[2] y)", "y = Max(a, b)",
                        {{"a", floats({2}, {qnan, 1})}, {"b", floats({2}, {1, qnan})}}),
              {qnan, qnan});
  auto ints = run_node(13, "(uint8[3] a, uint8[3] b) => (uint8[3] y)", "y = Min(a, b)",
                       {{"a", typed<std::uint8_t>({3}, {1, 200, 7})}, {"b", typed<std::uint8_t>({3}, {2, 100, 7})}});
  REQUIRE(ints);
  CHECK(as_vector<std::uint8_t>(ints->at("y")) == std::vector<std::uint8_t>{1, 100, 7});
  auto h = run_node(13, "(float16[2] a, float16[2] b) => (float16[2] y)", "y = Max(a, b)",
                    {{"a", halves({2}, {0.5f, -3})}, {"b", halves({2}, {0.25f, -2})}});
  REQUIRE(h);
  CHECK(half_values(h->at("y")) == std::vector<float>{0.5f, -2});
  auto bad = run_node(13, "(float[2] a, float[3] b) => (float[3] y)", "y = Sum(a, b)",
                      {{"a", floats({2}, {1, 2})}, {"b", floats({3}, {1, 2, 3})}});
  REQUIRE(!bad);
  CHECK_THAT(bad.error().message, Catch::Contains("Sum") && Catch::Contains("[2], [3] do not broadcast"));
}

TEST_CASE("ew: Where broadcasts condition, X and Y", "[exec][ew]") {
  // c [2,1], x [3], y [] -> [2,3]: row 0 takes x, row 1 takes y.
  CHECK(run_float(16, "(bool[2,1] c, float[3] x, float[] v) => (float[2,3] y)", "y = Where(c, x, v)",
                  {{"c", bools({2, 1}, {1, 0})}, {"x", floats({3}, {1, 2, 3})}, {"v", floats({}, {-1})}}) ==
        std::vector<float>{1, 2, 3, -1, -1, -1});
  auto ints = run_node(16, "(bool[3] c, int64[3] x, int64[3] v) => (int64[3] y)", "y = Where(c, x, v)",
                       {{"c", bools({3}, {0, 1, 0})}, {"x", int64s({3}, {1, 2, 3})}, {"v", int64s({3}, {7, 8, 9})}});
  REQUIRE(ints);
  CHECK(as_vector<std::int64_t>(ints->at("y")) == std::vector<std::int64_t>{7, 2, 9});
  auto bad = run_node(16, "(float[3] c, float[3] x, float[3] v) => (float[3] y)", "y = Where(c, x, v)",
                      {{"c", floats({3}, {1, 0, 1})}, {"x", floats({3}, {1, 2, 3})}, {"v", floats({3}, {1, 2, 3})}});
  REQUIRE(!bad);
  CHECK_THAT(bad.error().message, Catch::Contains("Where") && Catch::Contains("expected bool"));
}

TEST_CASE("ew: Clip from attributes (version 6) and from inputs (11+)", "[exec][ew]") {
  const auto x = floats({5}, {-inf, -2, 0.5f, 3, inf});
  CHECK(run_float(6, "(float[5] x) => (float[5] y)", "y = Clip <min = -1.0, max = 1.0> (x)", {{"x", x}}) ==
        std::vector<float>{-1, -1, 0.5f, 1, 1});
  // Version 6 defaults are the float range: infinities become the largest floats.
  CHECK(run_float(6, "(float[5] x) => (float[5] y)", "y = Clip(x)", {{"x", x}}) ==
        std::vector<float>{std::numeric_limits<float>::lowest(), -2, 0.5f, 3, std::numeric_limits<float>::max()});
  CHECK(run_float(13, "(float[5] x, float[] lo, float[] hi) => (float[5] y)", "y = Clip(x, lo, hi)",
                  {{"x", x}, {"lo", floats({}, {0})}, {"hi", floats({}, {2})}}) == std::vector<float>{0, 0, 0.5f, 2, 2});
  // Only a max: the infinities below stay.
  CHECK(run_float(13, "(float[5] x, float[] hi) => (float[5] y)", "y = Clip(x, , hi)", {{"x", x}, {"hi", floats({}, {1})}}) ==
        std::vector<float>{-inf, -2, 0.5f, 1, 1});
  // min > max: everything becomes max.
  CHECK(run_float(13, "(float[5] x, float[] lo, float[] hi) => (float[5] y)", "y = Clip(x, lo, hi)",
                  {{"x", x}, {"lo", floats({}, {2})}, {"hi", floats({}, {1})}}) == std::vector<float>{1, 1, 1, 1, 1});
  auto i8 = run_node(13, "(int8[4] x, int8[] lo) => (int8[4] y)", "y = Clip(x, lo)",
                     {{"x", typed<std::int8_t>({4}, {-128, -5, 0, 127})}, {"lo", typed<std::int8_t>({}, {-4})}});
  REQUIRE(i8);
  CHECK(as_vector<std::int8_t>(i8->at("y")) == std::vector<std::int8_t>{-4, -4, 0, 127});
  auto bad = run_node(13, "(float[2] x, float[2] lo) => (float[2] y)", "y = Clip(x, lo)",
                      {{"x", floats({2}, {1, 2})}, {"lo", floats({2}, {0, 0})}});
  REQUIRE(!bad);
  CHECK_THAT(bad.error().message, Catch::Contains("Clip") && Catch::Contains("min must be a scalar"));
}

// ---- activations -------------------------------------------------------------------------------

TEST_CASE("ew: pointwise activations", "[exec][ew]") {
  const std::string sig = "(float[5] x) => (float[5] y)";
  const auto x = floats({5}, {-2, -0.5f, 0, 1.5f, 3});
  CHECK(run_float(14, sig, "y = Relu(x)", {{"x", x}}) == std::vector<float>{0, 0, 0, 1.5f, 3});
  CHECK(run_float(16, sig, "y = LeakyRelu <alpha = 0.5> (x)", {{"x", x}}) == std::vector<float>{-1, -0.25f, 0, 1.5f, 3});
  // sigmoid(0) = 1/2; sigmoid(+-ln 3) = 1 / (1 + 1/3) = 3/4 and 1/4.
  check_close(run_float(13, "(float[3] x) => (float[3] y)", "y = Sigmoid(x)", {{"x", floats({3}, {0, 1.0986123f, -1.0986123f})}}),
              {0.5f, 0.75f, 0.25f});
  // tanh(ln 2) = (2 - 1/2) / (2 + 1/2) = 0.6.
  check_close(run_float(13, "(float[3] x) => (float[3] y)", "y = Tanh(x)", {{"x", floats({3}, {0, 0.6931472f, -0.6931472f})}}),
              {0, 0.6f, -0.6f});
  // max(0, min(1, 0.5 x + 0.5)).
  CHECK(run_float(6, sig, "y = HardSigmoid <alpha = 0.5, beta = 0.5> (x)", {{"x", x}}) ==
        std::vector<float>{0, 0.25f, 0.5f, 1, 1});
  // x * max(0, min(1, x/6 + 1/2)): -2 * (1/6) = -1/3, -0.5 * (5/12), 0, 1.5 * 0.75, 3 * 1.
  check_close(run_float(14, sig, "y = HardSwish(x)", {{"x", x}}), {-1.0f / 3, -0.5f * 5 / 12, 0, 1.125f, 3});
  // log(1 + e^x): log 2 at 0; log(1 + 3) at ln 3; large x gives x.
  check_close(run_float(13, "(float[3] x) => (float[3] y)", "y = Softplus(x)", {{"x", floats({3}, {0, 1.0986123f, 100})}}),
              {0.6931472f, 1.3862944f, 100});
  CHECK(run_float(13, "(float[3] x) => (float[3] y)", "y = Softsign(x)", {{"x", floats({3}, {1, -3, 0})}}) ==
        std::vector<float>{0.5f, -0.75f, 0});
  // alpha (e^x - 1) below 0: 2 (e^-ln2 - 1) = 2 (1/2 - 1) = -1.
  check_close(run_float(6, "(float[3] x) => (float[3] y)", "y = Elu <alpha = 2.0> (x)", {{"x", floats({3}, {-0.6931472f, 0, 4})}}),
              {-1, 0, 4});
  // gamma x above 0, gamma alpha (e^x - 1) below: with gamma 2, alpha 3 at -ln 2: 2 * 3 * (-1/2) = -3.
  check_close(run_float(6, "(float[3] x) => (float[3] y)", "y = Selu <alpha = 3.0, gamma = 2.0> (x)",
                        {{"x", floats({3}, {-0.6931472f, 0, 1.5f})}}),
              {-3, 0, 3});
  // max(0, x) + min(0, alpha (e^(x/alpha) - 1)): alpha 2 at -2 ln 2: 2 (1/2 - 1) = -1.
  check_close(run_float(12, "(float[3] x) => (float[3] y)", "y = Celu <alpha = 2.0> (x)", {{"x", floats({3}, {-1.3862944f, 0, 5})}}),
              {-1, 0, 5});
  CHECK(run_float(10, "(float[4] x) => (float[4] y)", "y = ThresholdedRelu <alpha = 1.0> (x)",
                  {{"x", floats({4}, {0.5f, 1, 2, -3})}}) == std::vector<float>{0, 0, 2, 0});
  CHECK(run_float(9, sig, "y = Shrink <lambd = 1.0, bias = 0.5> (x)", {{"x", floats({5}, {-2, -1, 0, 1, 2})}}) ==
        std::vector<float>{-1.5f, 0, 0, 0, 1.5f});
  auto ishrink = run_node(9, "(int32[3] x) => (int32[3] y)", "y = Shrink <lambd = 1.5, bias = 1.0> (x)",
                          {{"x", typed<std::int32_t>({3}, {-3, -1, 2})}});
  REQUIRE(ishrink);
  CHECK(as_vector<std::int32_t>(ishrink->at("y")) == std::vector<std::int32_t>{-2, 0, 1});
  auto bad = run_node(16, sig, "y = LeakyRelu <beta = 0.5> (x)", {{"x", x}});
  REQUIRE(!bad);
  CHECK(bad.error().code == mq::errc::unsupported);
  CHECK_THAT(bad.error().message, Catch::Contains("beta") && Catch::Contains("LeakyRelu"));
}

TEST_CASE("ew: PRelu broadcasts its slope to X only", "[exec][ew]") {
  // slope [3] over x [2,3]: y = x < 0 ? slope * x : x.
  CHECK(run_float(16, "(float[2,3] x, float[3] s) => (float[2,3] y)", "y = PRelu(x, s)",
                  {{"x", floats({2, 3}, {-1, -1, -1, 2, -4, 0})}, {"s", floats({3}, {0.5f, 2, 0})}}) ==
        std::vector<float>{-0.5f, -2, 0, 2, -8, 0});
  auto bad = run_node(16, "(float[3] x, float[2,3] s) => (float[3] y)", "y = PRelu(x, s)",
                      {{"x", floats({3}, {1, 2, 3})}, {"s", floats({2, 3}, {1, 1, 1, 1, 1, 1})}});
  REQUIRE(!bad);
  CHECK_THAT(bad.error().message, Catch::Contains("PRelu") && Catch::Contains("does not broadcast to X of shape [3]"));
}

TEST_CASE("ew: Softmax, LogSoftmax and Hardmax along an axis or on the 2-D coercion", "[exec][ew]") {
  // x [2,2,2] with every element of x[i] equal to i.
  const auto x = floats({2, 2, 2}, {0, 0, 0, 0, 1, 1, 1, 1});
  const std::string sig = "(float[2,2,2] x) => (float[2,2,2] y)";
  // Version 13, axis 1: two equal elements each: 1/2 everywhere.
  check_close(run_float(13, sig, "y = Softmax <axis = 1> (x)", {{"x", x}}), std::vector<float>(8, 0.5f));
  // Version 11 coerces to [2, 4] at axis 1: four equal elements per row: 1/4.
  check_close(run_float(11, sig, "y = Softmax <axis = 1> (x)", {{"x", x}}), std::vector<float>(8, 0.25f));
  // Axis 0 (and -3): x[0] = 0 and x[1] = 1 against each other: e^0 / (e^0 + e^1) = 1 / (1 + e).
  const float lo = 1.0f / (1.0f + 2.7182818f);
  check_close(run_float(13, sig, "y = Softmax <axis = -3> (x)", {{"x", x}}), {lo, lo, lo, lo, 1 - lo, 1 - lo, 1 - lo, 1 - lo});
  // The default axis is -1 from version 13; large values do not overflow (max subtracted first).
  check_close(run_float(13, "(float[2,3] x) => (float[2,3] y)", "y = Softmax(x)",
                        {{"x", floats({2, 3}, {1000, 1000, 1000, -5, -5, -5})}}),
              std::vector<float>(6, 1.0f / 3));
  // LogSoftmax: x - max - log(sum e^(x - max)) = -log 2 for two equal elements, -log 4 coerced.
  check_close(run_float(13, sig, "y = LogSoftmax <axis = 2> (x)", {{"x", x}}), std::vector<float>(8, -0.6931472f));
  check_close(run_float(11, sig, "y = LogSoftmax <axis = 1> (x)", {{"x", x}}), std::vector<float>(8, -1.3862944f));
  check_close(run_float(13, "(float[1,3] x) => (float[1,3] y)", "y = LogSoftmax(x)", {{"x", floats({1, 3}, {2000, 1000, 2000})}}),
              {-0.6931472f, -1000.6931472f, -0.6931472f});
  // Hardmax: 1 at the first maximum.
  CHECK(run_float(13, "(float[2,3] x) => (float[2,3] y)", "y = Hardmax(x)", {{"x", floats({2, 3}, {1, 3, 3, 2, 1, 0})}}) ==
        std::vector<float>{0, 1, 0, 1, 0, 0});
  CHECK(run_float(13, "(float[2,3] x) => (float[2,3] y)", "y = Hardmax <axis = 0> (x)", {{"x", floats({2, 3}, {1, 3, 3, 2, 1, 3})}}) ==
        std::vector<float>{0, 1, 1, 1, 0, 0});
  // Coerced (version 11, axis 0): one row of all six elements.
  CHECK(run_float(11, "(float[2,3] x) => (float[2,3] y)", "y = Hardmax <axis = 0> (x)", {{"x", floats({2, 3}, {1, 3, 3, 2, 4, 0})}}) ==
        std::vector<float>{0, 0, 0, 0, 1, 0});
  auto bad = run_node(13, sig, "y = Softmax <axis = 3> (x)", {{"x", x}});
  REQUIRE(!bad);
  CHECK_THAT(bad.error().message, Catch::Contains("Softmax") && Catch::Contains("axis 3 is out of range for rank 3"));
}

TEST_CASE("ew: Softmax over many rows matches for any thread count", "[exec][ew]") {
  std::vector<float> v(4096 * 33);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>((i * 7919) % 101) * 0.1f - 5;
  const std::string sig = "(float[4096,33] x) => (float[4096,33] y)";
  auto one = run_node(13, sig, "y = Softmax(x)", {{"x", floats({4096, 33}, v)}}, 1);
  auto three = run_node(13, sig, "y = Softmax(x)", {{"x", floats({4096, 33}, v)}}, 3);
  REQUIRE(one);
  REQUIRE(three);
  const auto y = values_of(one->at("y"));
  CHECK(y == values_of(three->at("y")));
  // Each row sums to 1.
  for (std::size_t r = 0; r < 4096; r += 511) {
    double s = 0;
    for (std::size_t k = 0; k < 33; ++k) s += y[r * 33 + k];
    CHECK(s == Approx(1).epsilon(1e-5));
  }
}

TEST_CASE("ew: Dropout in inference is the identity with an all-true mask", "[exec][ew]") {
  const auto x = floats({3}, {1, -2, 3});
  auto out = run_node(13, "(float[3] x) => (float[3] y, bool[3] m)", "y, m = Dropout(x)", {{"x", x}});
  REQUIRE(out);
  CHECK(values_of(out->at("y")) == std::vector<float>{1, -2, 3});
  CHECK(bool_values(out->at("m")) == std::vector<int>{1, 1, 1});
  const std::string sig = "(float[3] x, float[] r, bool[] t) => (float[3] y, bool[3] m)";
  auto off = run_node(13, sig, "y, m = Dropout(x, r, t)", {{"x", x}, {"r", floats({}, {0.5f})}, {"t", bools({}, {0})}});
  REQUIRE(off);
  CHECK(values_of(off->at("y")) == std::vector<float>{1, -2, 3});
  // Training with ratio 0 keeps everything (scale 1 / (1 - 0) = 1).
  auto zero = run_node(13, sig, "y, m = Dropout(x, r, t)", {{"x", x}, {"r", floats({}, {0})}, {"t", bools({}, {1})}});
  REQUIRE(zero);
  CHECK(values_of(zero->at("y")) == std::vector<float>{1, -2, 3});
  CHECK(bool_values(zero->at("m")) == std::vector<int>{1, 1, 1});
  auto training = run_node(13, sig, "y, m = Dropout(x, r, t)", {{"x", x}, {"r", floats({}, {0.5f})}, {"t", bools({}, {1})}});
  REQUIRE(!training);
  CHECK(training.error().code == mq::errc::unsupported);
  CHECK_THAT(training.error().message, Catch::Contains("Dropout") && Catch::Contains("training mode"));
  // Before version 10 the mask had the input's type with unspecified values: refused.
  auto old = run_node(7, "(float[3] x) => (float[3] y, float[3] m)", "y, m = Dropout(x)", {{"x", x}});
  REQUIRE(!old);
  CHECK(old.error().code == mq::errc::unsupported);
}

// ---- reductions --------------------------------------------------------------------------------

TEST_CASE("ew: Reduce* over axes from the attribute (before 18)", "[exec][ew]") {
  // x [2,3,2] = 1..12: x[i][j][k] = 6 i + 2 j + k + 1.
  std::vector<float> v(12);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i + 1);
  const auto x = floats({2, 3, 2}, v);
  // Axes 0 and 2 (kept middle axis, "columns" after merging): sum over i, k of x[i][j][k]:
  // j = 0: 1 + 2 + 7 + 8 = 18, j = 1: 3 + 4 + 9 + 10 = 26, j = 2: 5 + 6 + 11 + 12 = 34.
  CHECK(run_float(13, "(float[2,3,2] x) => (float[1,3,1] y)", "y = ReduceMean <axes = [0, 2]> (x)", {{"x", x}}) ==
        std::vector<float>{4.5f, 6.5f, 8.5f});
  CHECK(run_float(13, "(float[2,3,2] x) => (float[3] y)", "y = ReduceMax <axes = [0, -1], keepdims = 0> (x)", {{"x", x}}) ==
        std::vector<float>{8, 10, 12});
  // Axis 1 only (a reduced middle axis): min over j of x[i][j][k].
  CHECK(run_float(13, "(float[2,3,2] x) => (float[2,2] y)", "y = ReduceMin <axes = [1], keepdims = 0> (x)", {{"x", x}}) ==
        std::vector<float>{1, 2, 7, 8});
  // The last axis ("rows"): products of pairs.
  CHECK(run_float(13, "(float[2,3,2] x) => (float[2,3,1] y)", "y = ReduceProd <axes = [2]> (x)", {{"x", x}}) ==
        std::vector<float>{2, 12, 30, 56, 90, 132});
  // No axes: everything. 1 + ... + 12 = 78.
  CHECK(run_float(13, "(float[2,3,2] x) => (float[1,1,1] y)", "y = ReduceL1(x)", {{"x", x}}) == std::vector<float>{78});
  const auto s = floats({2, 2}, {3, -4, 0, -1});
  CHECK(run_float(13, "(float[2,2] x) => (float[2] y)", "y = ReduceL2 <axes = [1], keepdims = 0> (x)", {{"x", s}}) ==
        std::vector<float>{5, 1});
  CHECK(run_float(13, "(float[2,2] x) => (float[2] y)", "y = ReduceSumSquare <axes = [0], keepdims = 0> (x)", {{"x", s}}) ==
        std::vector<float>{9, 17});
  // log(sum): log(e^2) = 2 from [e^2 - 1, 1].
  check_close(run_float(13, "(float[2] x) => (float[1] y)", "y = ReduceLogSum(x)", {{"x", floats({2}, {6.3890561f, 1})}}), {2});
  // log(sum(exp)): log(2 e^1000) = 1000 + log 2 without overflow; -inf only gives -inf.
  check_close(run_float(13, "(float[2,2] x) => (float[2] y)", "y = ReduceLogSumExp <axes = [1], keepdims = 0> (x)",
                        {{"x", floats({2, 2}, {1000, 1000, -inf, -inf})}}),
              {1000.6931472f, -inf});
}

TEST_CASE("ew: Reduce* with axes as an input (ReduceSum 13, the others 18)", "[exec][ew]") {
  const auto x = floats({2, 3}, {1, 2, 3, 4, 5, 6});
  const std::string sig = "(float[2,3] x, int64[1] a) => (float[2] y)";
  CHECK(run_float(13, sig, "y = ReduceSum <keepdims = 0> (x, a)", {{"x", x}, {"a", int64s({1}, {-1})}}) ==
        std::vector<float>{6, 15});
  CHECK(run_float(18, sig, "y = ReduceMean <keepdims = 0> (x, a)", {{"x", x}, {"a", int64s({1}, {1})}}) ==
        std::vector<float>{2, 5});
  // No axes: everything, or nothing with noop_with_empty_axes.
  CHECK(run_float(13, "(float[2,3] x) => (float[1,1] y)", "y = ReduceSum(x)", {{"x", x}}) == std::vector<float>{21});
  CHECK(run_float(18, "(float[2,3] x, int64[0] a) => (float[1,1] y)", "y = ReduceMax(x, a)",
                  {{"x", x}, {"a", int64s({0}, {})}}) == std::vector<float>{6});
  CHECK(run_float(13, "(float[2,3] x) => (float[2,3] y)", "y = ReduceSum <noop_with_empty_axes = 1> (x)", {{"x", x}}) ==
        std::vector<float>{1, 2, 3, 4, 5, 6});
  SECTION("the axes attribute is not accepted once axes are an input") {
    auto bad = run_node(18, "(float[2,3] x) => (float[2] y)", "y = ReduceMean <axes = [1]> (x)", {{"x", x}});
    REQUIRE(!bad);
    CHECK(bad.error().code == mq::errc::unsupported);
    CHECK_THAT(bad.error().message, Catch::Contains("axes"));
  }
  SECTION("repeated or out-of-range axes are errors naming the node") {
    auto twice = run_node(13, "(float[2,3] x, int64[2] a) => (float[2] y)", "y = ReduceSum(x, a)",
                          {{"x", x}, {"a", int64s({2}, {1, -1})}});
    REQUIRE(!twice);
    CHECK_THAT(twice.error().message, Catch::Contains("ReduceSum") && Catch::Contains("repeated"));
    auto range = run_node(13, "(float[2,3] x) => (float[2] y)", "y = ReduceMean <axes = [2]> (x)", {{"x", x}});
    REQUIRE(!range);
    CHECK_THAT(range.error().message, Catch::Contains("ReduceMean") && Catch::Contains("axis 2 is out of range for rank 2"));
  }
}

TEST_CASE("ew: reductions of empty sets, of integers, of float16", "[exec][ew]") {
  const auto e = floats({2, 0}, {});
  const std::string sig = "(float[2,0] x) => (float[2,1] y)";
  CHECK(run_float(13, sig, "y = ReduceMax <axes = [1]> (x)", {{"x", e}}) ==
        std::vector<float>{-inf, -inf});
  CHECK(run_float(13, sig, "y = ReduceMin <axes = [1]> (x)", {{"x", e}}) == std::vector<float>{inf, inf});
  CHECK(run_float(13, sig, "y = ReduceProd <axes = [1]> (x)", {{"x", e}}) == std::vector<float>{1, 1});
  CHECK(run_float(13, sig, "y = ReduceL2 <axes = [1]> (x)", {{"x", e}}) == std::vector<float>{0, 0});
  auto i32 = run_node(13, "(int32[2,2] x) => (int32[2] y)", "y = ReduceMean <axes = [1], keepdims = 0> (x)",
                      {{"x", typed<std::int32_t>({2, 2}, {3, 4, -3, -4})}});
  REQUIRE(i32);
  // Integer means truncate: 7 / 2 = 3, -7 / 2 = -3.
  CHECK(as_vector<std::int32_t>(i32->at("y")) == std::vector<std::int32_t>{3, -3});
  auto i64 = run_node(13, "(int64[3] x, int64[1] a) => (int64[1] y)", "y = ReduceSum(x, a)",
                      {{"x", int64s({3}, {1, -5, 10})}, {"a", int64s({1}, {0})}});
  REQUIRE(i64);
  CHECK(as_vector<std::int64_t>(i64->at("y")) == std::vector<std::int64_t>{6});
  auto h = run_node(13, "(float16[4] x) => (float16[1] y)", "y = ReduceMean(x)", {{"x", halves({4}, {1, 2, 3, 4.5f})}});
  REQUIRE(h);
  CHECK(half_values(h->at("y")) == std::vector<float>{2.625f});
}

TEST_CASE("ew: ReduceMean over the last axis matches for any thread count", "[exec][ew]") {
  std::vector<float> v(8400 * 64);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i % 64);  // each row: 0..63
  const std::string sig = "(float[8400,64] x, int64[1] a) => (float[8400,1] y)";
  const std::map<std::string, mq::tensor> in = {{"x", floats({8400, 64}, v)}, {"a", int64s({1}, {-1})}};
  auto one = run_node(18, sig, "y = ReduceMean(x, a)", in, 1);
  auto three = run_node(18, sig, "y = ReduceMean(x, a)", in, 3);
  REQUIRE(one);
  REQUIRE(three);
  const auto y = values_of(one->at("y"));
  CHECK(y == values_of(three->at("y")));
  // (0 + ... + 63) / 64 = 2016 / 64 = 31.5, exact.
  CHECK(y == std::vector<float>(8400, 31.5f));
}

TEST_CASE("ew: ArgMax and ArgMin", "[exec][ew]") {
  const auto x = floats({2, 3}, {1, 5, 5, 7, 0, 7});
  auto run = [&](const std::string& node, const std::string& out_shape) {
    auto out = run_node(13, "(float[2,3] x) => (int64" + out_shape + " y)", node, {{"x", x}});
    REQUIRE(out);
    return as_vector<std::int64_t>(out->at("y"));
  };
  CHECK(run("y = ArgMax <axis = 1> (x)", "[2,1]") == std::vector<std::int64_t>{1, 0});
  CHECK(run("y = ArgMax <axis = -1, select_last_index = 1> (x)", "[2,1]") == std::vector<std::int64_t>{2, 2});
  CHECK(run("y = ArgMax <axis = 0, keepdims = 0> (x)", "[3]") == std::vector<std::int64_t>{1, 0, 1});
  CHECK(run("y = ArgMin <axis = 0, keepdims = 0> (x)", "[3]") == std::vector<std::int64_t>{0, 1, 0});
  CHECK(run("y = ArgMin <axis = 1, keepdims = 0> (x)", "[2]") == std::vector<std::int64_t>{0, 1});
  auto ints = run_node(13, "(int32[4] x) => (int64[1] y)", "y = ArgMin <select_last_index = 1> (x)",
                       {{"x", typed<std::int32_t>({4}, {2, -1, 3, -1})}});
  REQUIRE(ints);
  CHECK(as_vector<std::int64_t>(ints->at("y")) == std::vector<std::int64_t>{3});
  auto bad = run_node(13, "(float[2,3] x) => (int64[2] y)", "y = ArgMax <axis = 2> (x)", {{"x", x}});
  REQUIRE(!bad);
  CHECK_THAT(bad.error().message, Catch::Contains("ArgMax") && Catch::Contains("out of range"));
}

TEST_CASE("ew: CumSum: exclusive, reverse, along any axis", "[exec][ew]") {
  const auto x = floats({2, 3}, {1, 2, 3, 4, 5, 6});
  const std::string sig = "(float[2,3] x, int64[] a) => (float[2,3] y)";
  const auto axis1 = int64s({}, {1});
  const auto axis0 = int64s({}, {-2});
  CHECK(run_float(14, sig, "y = CumSum(x, a)", {{"x", x}, {"a", axis1}}) == std::vector<float>{1, 3, 6, 4, 9, 15});
  CHECK(run_float(14, sig, "y = CumSum <exclusive = 1> (x, a)", {{"x", x}, {"a", axis1}}) ==
        std::vector<float>{0, 1, 3, 0, 4, 9});
  CHECK(run_float(14, sig, "y = CumSum <reverse = 1> (x, a)", {{"x", x}, {"a", axis1}}) ==
        std::vector<float>{6, 5, 3, 15, 11, 6});
  CHECK(run_float(14, sig, "y = CumSum <exclusive = 1, reverse = 1> (x, a)", {{"x", x}, {"a", axis1}}) ==
        std::vector<float>{5, 3, 0, 11, 6, 0});
  CHECK(run_float(14, sig, "y = CumSum(x, a)", {{"x", x}, {"a", axis0}}) == std::vector<float>{1, 2, 3, 5, 7, 9});
  CHECK(run_float(14, sig, "y = CumSum <reverse = 1> (x, a)", {{"x", x}, {"a", axis0}}) ==
        std::vector<float>{5, 7, 9, 4, 5, 6});
  auto ints = run_node(14, "(int32[4] x, int32[1] a) => (int32[4] y)", "y = CumSum(x, a)",
                       {{"x", typed<std::int32_t>({4}, {1, -2, 3, -4})}, {"a", typed<std::int32_t>({1}, {0})}});
  REQUIRE(ints);
  CHECK(as_vector<std::int32_t>(ints->at("y")) == std::vector<std::int32_t>{1, -1, 2, -2});
  auto bad = run_node(14, "(float[2,3] x, int64[2] a) => (float[2,3] y)", "y = CumSum(x, a)",
                      {{"x", x}, {"a", int64s({2}, {0, 1})}});
  REQUIRE(!bad);
  CHECK_THAT(bad.error().message, Catch::Contains("CumSum") && Catch::Contains("axis must be a scalar"));
}
