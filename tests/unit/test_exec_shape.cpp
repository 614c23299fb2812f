// The executor's shape, indexing and resampling operators (lib/exec/ops/shape.cpp, gather.cpp,
// resize.cpp) on small models written as ONNX text. Expected values are worked out by hand from
// the ONNX operator spec; the larger cases compare against plain loops written here from the
// operator's definition (each output index mapped to its input index), on 1 and 2 threads.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <numeric>
#include <string>

#include "mq/session.h"
#include "support/exec_helpers.h"

using Catch::Contains;
using mq::test::floats;
using mq::test::int64s;
using mq::test::run_text;
using mq::test::values_of;

namespace {

using i64 = std::int64_t;
using shape = std::vector<i64>;

template <class T>
mq::tensor typed(mq::dtype type, shape dims, const std::vector<T>& values) {
  mq::tensor t;
  t.type = type;
  t.shape = std::move(dims);
  t.data.resize(values.size() * sizeof(T));
  if (!values.empty()) std::memcpy(t.data.data(), values.data(), t.data.size());
  return t;
}

template <class T>
std::vector<T> elements(const mq::tensor& t) {
  std::vector<T> v(t.data.size() / sizeof(T));
  if (!v.empty()) std::memcpy(v.data(), t.data.data(), t.data.size());
  return v;
}

std::vector<i64> ints(const mq::tensor& t) {
  REQUIRE(t.type == mq::dtype::int64);
  return elements<i64>(t);
}

std::vector<float> iota_floats(i64 n) {
  std::vector<float> v(static_cast<std::size_t>(n));
  std::iota(v.begin(), v.end(), 0.0f);
  return v;
}

// Runs and requires success; returns output `name`.
mq::tensor run_ok(std::string_view text, const std::map<std::string, mq::tensor>& inputs, const std::string& name = "y",
                  unsigned threads = 1) {
  mq::session_options options;
  options.threads = threads;
  auto out = run_text(text, inputs, options);
  if (!out) FAIL(out.error().message);
  REQUIRE(out->count(name) == 1);
  return out->at(name);
}

// Runs and requires failure; returns the message.
std::string run_error(std::string_view text, const std::map<std::string, mq::tensor>& inputs, mq::errc code) {
  auto out = run_text(text, inputs);
  REQUIRE(!out);
  CHECK(out.error().code == code);
  return out.error().message;
}

std::string model(int opset, const std::string& signature, const std::string& body) {
  return "<ir_version: 8, opset_import: [\"\" : " + std::to_string(opset) + "]>\ng " + signature + " {\n" + body + "\n}\n";
}

}  // namespace

// ---- views --------------------------------------------------------------------------------------

TEST_CASE("exec shape: Reshape with 0 and -1, allowzero, and its errors", "[exec][shape]") {
  const auto x = floats({2, 3}, {1, 2, 3, 4, 5, 6});
  const std::string sig = "(float[2, 3] x, int64[2] s) => (float[3, 2] y)";
  auto y = run_ok(model(14, "(float[2, 3] x, int64[2] s) => (float[3, 2] y)", "y = Reshape(x, s)"), {{"x", x}, {"s", int64s({2}, {3, -1})}});
  CHECK(y.shape == shape{3, 2});
  CHECK(values_of(y) == std::vector<float>{1, 2, 3, 4, 5, 6});
  // 0 copies the input's dimension.
  auto z = run_ok(model(14, "(float[2, 3] x, int64[2] s) => (float[2, 3] y)", "y = Reshape(x, s)"), {{"x", x}, {"s", int64s({2}, {0, -1})}});
  CHECK(z.shape == shape{2, 3});
  // allowzero = 1: a 0 is a real zero-size dimension.
  auto e = run_ok(model(14, "(float[0, 3] x, int64[2] s) => (float[3, 0] y)", "y = Reshape <allowzero = 1> (x, s)"),
                  {{"x", floats({0, 3}, {})}, {"s", int64s({2}, {3, 0})}});
  CHECK(e.shape == shape{3, 0});
  const std::string m = model(14, "(float[2, 3] x, int64[2] s) => (float[4, 2] y)", "y = Reshape(x, s)");
  CHECK_THAT(run_error(m, {{"x", x}, {"s", int64s({2}, {4, -1})}}, mq::errc::invalid_argument),
             Contains("node 'Reshape#0' (Reshape)") && Contains("cannot reshape [2,3] to [4,-1]"));
  CHECK_THAT(run_error(m, {{"x", x}, {"s", int64s({2}, {-1, -1})}}, mq::errc::invalid_argument), Contains("more than one -1"));
}

TEST_CASE("exec shape: Flatten, Squeeze, Unsqueeze (attributes before 13, inputs from 13)", "[exec][shape]") {
  const auto x = floats({2, 1, 3}, {1, 2, 3, 4, 5, 6});
  CHECK(run_ok(model(13, "(float[2, 1, 3] x) => (float[2, 3] y)", "y = Flatten <axis = -1> (x)"), {{"x", x}}).shape == shape{2, 3});
  CHECK(run_ok(model(13, "(float[2, 1, 3] x) => (float[1, 6] y)", "y = Flatten <axis = 0> (x)"), {{"x", x}}).shape == shape{1, 6});
  CHECK(run_ok(model(11, "(float[2, 1, 3] x) => (float[2, 3] y)", "y = Squeeze <axes = [-2]> (x)"), {{"x", x}}).shape == shape{2, 3});
  CHECK(run_ok(model(13, "(float[2, 1, 3] x) => (float[2, 3] y)", "y = Squeeze(x)"), {{"x", x}}).shape == shape{2, 3});
  CHECK(run_ok(model(13, "(float[2, 1, 3] x, int64[1] a) => (float[2, 3] y)", "y = Squeeze(x, a)"), {{"x", x}, {"a", int64s({1}, {1})}}).shape ==
        shape{2, 3});
  CHECK(run_ok(model(13, "(float[2, 1, 3] x, int64[0] a) => (float[2, 3] y)", "y = Squeeze(x, a)"), {{"x", x}, {"a", int64s({0}, {})}}).shape == shape{2, 3});
  CHECK_THAT(run_error(model(13, "(float[2, 1, 3] x, int64[1] a) => (float[2, 3] y)", "y = Squeeze(x, a)"), {{"x", x}, {"a", int64s({1}, {0})}},
                       mq::errc::invalid_argument),
             Contains("node 'Squeeze#0' (Squeeze): cannot squeeze axis 0"));
  // Unsqueeze axes index the output: [-1, 0] on [2,1,3] gives [1,2,1,3,1].
  auto u = run_ok(model(13, "(float[2, 1, 3] x, int64[2] a) => (float[1, 2, 1, 3, 1] y)", "y = Unsqueeze(x, a)"),
                  {{"x", x}, {"a", int64s({2}, {-1, 0})}});
  CHECK(u.shape == shape{1, 2, 1, 3, 1});
  CHECK(values_of(u) == std::vector<float>{1, 2, 3, 4, 5, 6});
  CHECK(run_ok(model(11, "(float[2, 1, 3] x) => (float[2, 1, 1, 3] y)", "y = Unsqueeze <axes = [2]> (x)"), {{"x", x}}).shape == shape{2, 1, 1, 3});
  CHECK_THAT(run_error(model(13, "(float[2, 1, 3] x, int64[2] a) => (float[2, 1, 3, 1, 1] y)", "y = Unsqueeze(x, a)"),
                       {{"x", x}, {"a", int64s({2}, {3, 3})}}, mq::errc::invalid_argument),
             Contains("repeated"));
  auto id = run_ok(model(16, "(float[2, 1, 3] x) => (float[2, 1, 3] y)", "y = Identity(x)"), {{"x", x}});
  CHECK(values_of(id) == std::vector<float>{1, 2, 3, 4, 5, 6});
}

// ---- Transpose ----------------------------------------------------------------------------------

TEST_CASE("exec shape: Transpose by hand and against the definition", "[exec][shape]") {
  SECTION("2-D and the default (reversed) permutation") {
    auto y = run_ok(model(13, "(float[2, 3] x) => (float[3, 2] y)", "y = Transpose(x)"), {{"x", floats({2, 3}, {1, 2, 3, 4, 5, 6})}});
    CHECK(values_of(y) == std::vector<float>{1, 4, 2, 5, 3, 6});
  }
  SECTION("3-D perm [1, 2, 0]") {
    // y[j][k][i] = x[i][j][k], x = [2,2,2] holding 0..7.
    auto y = run_ok(model(13, "(float[2, 2, 2] x) => (float[2, 2, 2] y)", "y = Transpose <perm = [1, 2, 0]> (x)"), {{"x", floats({2, 2, 2}, iota_floats(8))}});
    CHECK(values_of(y) == std::vector<float>{0, 4, 1, 5, 2, 6, 3, 7});
  }
  SECTION("moving size-1 dims only is a view with the same values") {
    auto y = run_ok(model(13, "(float[1, 3, 1] x) => (float[3, 1, 1] y)", "y = Transpose <perm = [1, 0, 2]> (x)"), {{"x", floats({1, 3, 1}, {7, 8, 9})}});
    CHECK(y.shape == shape{3, 1, 1});
    CHECK(values_of(y) == std::vector<float>{7, 8, 9});
  }
  SECTION("NCHW to NHWC, NHWC to NCHW and a 4-D mix, big enough for tiles and threads") {
    const i64 n = 2, c = 19, h = 17, w = 23;
    const auto x = floats({n, c, h, w}, iota_floats(n * c * h * w));
    for (unsigned threads : {1u, 2u}) {
      auto nhwc = run_ok(model(13, "(float[2, 19, 17, 23] x) => (float[2, 17, 23, 19] y)", "y = Transpose <perm = [0, 2, 3, 1]> (x)"), {{"x", x}}, "y", threads);
      auto v = values_of(nhwc);
      bool same = true;
      for (i64 a = 0; a < n; ++a)
        for (i64 i = 0; i < h; ++i)
          for (i64 j = 0; j < w; ++j)
            for (i64 k = 0; k < c; ++k) same = same && v[static_cast<std::size_t>(((a * h + i) * w + j) * c + k)] == static_cast<float>(((a * c + k) * h + i) * w + j);
      CHECK(same);
      auto back = run_ok(model(13, "(float[2, 17, 23, 19] x) => (float[2, 19, 17, 23] y)", "y = Transpose <perm = [0, 3, 1, 2]> (x)"), {{"x", nhwc}}, "y", threads);
      CHECK(values_of(back) == values_of(x));
      auto mix = run_ok(model(13, "(float[2, 19, 17, 23] x) => (float[23, 2, 17, 19] y)", "y = Transpose <perm = [3, 0, 2, 1]> (x)"), {{"x", x}}, "y", threads);
      auto m = values_of(mix);
      same = true;
      for (i64 j = 0; j < w; ++j)
        for (i64 a = 0; a < n; ++a)
          for (i64 i = 0; i < h; ++i)
            for (i64 k = 0; k < c; ++k) same = same && m[static_cast<std::size_t>(((j * n + a) * h + i) * c + k)] == static_cast<float>(((a * c + k) * h + i) * w + j);
      CHECK(same);
    }
  }
  SECTION("int64 elements and a bad perm") {
    auto y = run_ok(model(13, "(int64[2, 2] x) => (int64[2, 2] y)", "y = Transpose <perm = [1, 0]> (x)"), {{"x", int64s({2, 2}, {1, 2, 3, 4})}});
    CHECK(ints(y) == std::vector<i64>{1, 3, 2, 4});
    CHECK_THAT(run_error(model(13, "(float[2, 2] x) => (float[2, 2] y)", "y = Transpose <perm = [1, 1]> (x)"), {{"x", floats({2, 2}, {1, 2, 3, 4})}},
                         mq::errc::invalid_argument),
               Contains("node 'Transpose#0' (Transpose): perm [1,1] is not a permutation"));
  }
}

// ---- Concat, Split ------------------------------------------------------------------------------

TEST_CASE("exec shape: Concat along any axis, with an empty input, and its shape errors", "[exec][shape]") {
  const std::string m = model(13, "(float[2, 1] a, float[2, 0] b, float[2, 2] c) => (float[2, 3] y)", "y = Concat <axis = -1> (a, b, c)");
  auto y = run_ok(m, {{"a", floats({2, 1}, {1, 2})}, {"b", floats({2, 0}, {})}, {"c", floats({2, 2}, {3, 4, 5, 6})}});
  CHECK(values_of(y) == std::vector<float>{1, 3, 4, 2, 5, 6});
  auto z = run_ok(model(13, "(float[1, 2] a, float[2, 2] b) => (float[3, 2] y)", "y = Concat <axis = 0> (a, b)"),
                  {{"a", floats({1, 2}, {1, 2})}, {"b", floats({2, 2}, {3, 4, 5, 6})}});
  CHECK(values_of(z) == std::vector<float>{1, 2, 3, 4, 5, 6});
  auto one = run_ok(model(13, "(float[1, 2] a) => (float[1, 2] y)", "y = Concat <axis = 0> (a)"), {{"a", floats({1, 2}, {1, 2})}});
  CHECK(values_of(one) == std::vector<float>{1, 2});
  const std::string bad = model(13, "(float[2, 1] a, float[3, 1] b) => (float[5, 1] y)", "y = Concat <axis = 1> (a, b)");
  CHECK_THAT(run_error(bad, {{"a", floats({2, 1}, {1, 2})}, {"b", floats({3, 1}, {3, 4, 5})}}, mq::errc::invalid_argument),
             Contains("node 'Concat#0' (Concat): input 1 has shape [3,1], which does not fit [2,1] along axis 1"));
  SECTION("big inputs on two threads") {
    const auto a = floats({3, 100, 50}, iota_floats(15000));
    const auto b = floats({3, 60, 50}, iota_floats(9000));
    auto big = run_ok(model(13, "(float[3, 100, 50] a, float[3, 60, 50] b) => (float[3, 160, 50] y)", "y = Concat <axis = 1> (a, b)"),
                      {{"a", a}, {"b", b}}, "y", 2);
    auto v = values_of(big);
    bool same = true;
    for (i64 o = 0; o < 3; ++o)
      for (i64 j = 0; j < 160; ++j)
        for (i64 k = 0; k < 50; ++k) {
          const float want = j < 100 ? static_cast<float>((o * 100 + j) * 50 + k) : static_cast<float>((o * 60 + j - 100) * 50 + k);
          same = same && v[static_cast<std::size_t>((o * 160 + j) * 50 + k)] == want;
        }
    CHECK(same);
  }
}

TEST_CASE("exec shape: Split by attribute, by input, by num_outputs with an uneven last part", "[exec][shape]") {
  const auto x = floats({2, 3}, {1, 2, 3, 4, 5, 6});
  auto out = run_text(model(11, "(float[2, 3] x) => (float[2, 1] a, float[2, 2] b)", "a, b = Split <axis = 1, split = [1, 2]> (x)"), {{"x", x}});
  REQUIRE(out);
  CHECK(values_of(out->at("a")) == std::vector<float>{1, 4});
  CHECK(values_of(out->at("b")) == std::vector<float>{2, 3, 5, 6});
  out = run_text(model(13, "(float[2, 3] x, int64[2] s) => (float[2, 2] a, float[2, 1] b)", "a, b = Split <axis = -1> (x, s)"),
                 {{"x", x}, {"s", int64s({2}, {2, 1})}});
  REQUIRE(out);
  CHECK(values_of(out->at("a")) == std::vector<float>{1, 2, 4, 5});
  CHECK(values_of(out->at("b")) == std::vector<float>{3, 6});
  out = run_text(model(13, "(float[2, 3] x) => (float[1, 3] a, float[1, 3] b)", "a, b = Split(x)"), {{"x", x}});
  REQUIRE(out);
  CHECK(values_of(out->at("b")) == std::vector<float>{4, 5, 6});
  // 7 in 3 parts: ceil(7/3) = 3, 3, then the remaining 1.
  out = run_text(model(18, "(float[7] x) => (float[3] a, float[3] b, float[1] c)", "a, b, c = Split <num_outputs = 3> (x)"), {{"x", floats({7}, iota_floats(7))}});
  REQUIRE(out);
  CHECK(values_of(out->at("a")) == std::vector<float>{0, 1, 2});
  CHECK(values_of(out->at("b")) == std::vector<float>{3, 4, 5});
  CHECK(values_of(out->at("c")) == std::vector<float>{6});
  CHECK_THAT(run_error(model(13, "(float[2, 3] x) => (float[2, 1] a, float[2, 1] b)", "a, b = Split <axis = 1> (x)"), {{"x", x}}, mq::errc::invalid_argument),
             Contains("node 'Split#0' (Split): dimension 3 of axis 1 does not split into 2 equal parts"));
  CHECK_THAT(run_error(model(13, "(float[2, 3] x, int64[2] s) => (float[2, 2] a, float[2, 2] b)", "a, b = Split <axis = 1> (x, s)"),
                       {{"x", x}, {"s", int64s({2}, {2, 2})}}, mq::errc::invalid_argument),
             Contains("sums to 4"));
}

// ---- Slice --------------------------------------------------------------------------------------

TEST_CASE("exec shape: Slice clamps and steps as the spec says", "[exec][shape]") {
  const auto x = floats({10}, iota_floats(10));
  const std::string m1 = model(13, "(float[10] x, int64[1] s, int64[1] e, int64[1] a, int64[1] t) => (float[N] y)", "y = Slice(x, s, e, a, t)");
  auto slice = [&](i64 s, i64 e, i64 t) {
    return values_of(run_ok(m1, {{"x", x}, {"s", int64s({1}, {s})}, {"e", int64s({1}, {e})}, {"a", int64s({1}, {0})}, {"t", int64s({1}, {t})}}));
  };
  CHECK(slice(8, 1, -3) == std::vector<float>{8, 5, 2});
  // Negative step: start clamps to dim-1, end to -1 (so the whole axis reversed).
  CHECK(slice(-1, -1000, -1) == std::vector<float>{9, 8, 7, 6, 5, 4, 3, 2, 1, 0});
  CHECK(slice(100, -1000, -4) == std::vector<float>{9, 5, 1});
  CHECK(slice(-3, 1000, 1) == std::vector<float>{7, 8, 9});
  CHECK(slice(1, 9, 3) == std::vector<float>{1, 4, 7});
  CHECK(slice(5, 2, 1).empty());
  CHECK(slice(0, INT64_MAX, INT64_MAX) == std::vector<float>{0});
  CHECK(slice(INT64_MAX, INT64_MIN, INT64_MIN) == std::vector<float>{9});
  CHECK_THAT(run_error(m1, {{"x", x}, {"s", int64s({1}, {0})}, {"e", int64s({1}, {5})}, {"a", int64s({1}, {0})}, {"t", int64s({1}, {0})}},
                       mq::errc::invalid_argument),
             Contains("node 'Slice#0' (Slice): step 0"));
  SECTION("2-D with negative axes, default axes and steps, opset 1 attributes") {
    const auto m = floats({2, 4}, {1, 2, 3, 4, 5, 6, 7, 8});
    auto y = run_ok(model(13, "(float[2, 4] x, int64[1] s, int64[1] e, int64[1] a) => (float[2, 3] y)", "y = Slice(x, s, e, a)"),
                    {{"x", m}, {"s", int64s({1}, {1})}, {"e", int64s({1}, {1000})}, {"a", int64s({1}, {-1})}});
    CHECK(values_of(y) == std::vector<float>{2, 3, 4, 6, 7, 8});
    auto z = run_ok(model(13, "(float[2, 4] x, int64[2] s, int64[2] e) => (float[1, 2] y)", "y = Slice(x, s, e)"),
                    {{"x", m}, {"s", int64s({2}, {1, 0})}, {"e", int64s({2}, {2, -2})}});
    CHECK(values_of(z) == std::vector<float>{5, 6});
    auto w = run_ok(model(9, "(float[2, 4] x) => (float[2, 2] y)", "y = Slice <starts = [-2], ends = [10], axes = [1]> (x)"), {{"x", m}});
    CHECK(values_of(w) == std::vector<float>{3, 4, 7, 8});
  }
  SECTION("a strided 3-D slice on two threads against the definition") {
    const auto big = floats({6, 40, 300}, iota_floats(6 * 40 * 300));
    auto y = run_ok(model(13, "(float[6, 40, 300] x, int64[3] s, int64[3] e, int64[3] a, int64[3] t) => (float[A, B, C] y)", "y = Slice(x, s, e, a, t)"),
                    {{"x", big}, {"s", int64s({3}, {5, 3, 1})}, {"e", int64s({3}, {-100, 39, 299})}, {"a", int64s({3}, {0, 1, 2})}, {"t", int64s({3}, {-2, 4, 1})}},
                    "y", 2);
    // axis 0: 5, 3, 1; axis 1: 3, 7, ..., 35 (9 values); axis 2: 1..298.
    REQUIRE(y.shape == shape{3, 9, 298});
    auto v = values_of(y);
    bool same = true;
    for (i64 i = 0; i < 3; ++i)
      for (i64 j = 0; j < 9; ++j)
        for (i64 k = 0; k < 298; ++k) same = same && v[static_cast<std::size_t>((i * 9 + j) * 298 + k)] == static_cast<float>(((5 - 2 * i) * 40 + 3 + 4 * j) * 300 + 1 + k);
    CHECK(same);
  }
}

// ---- Expand, Tile, Pad ---------------------------------------------------------------------------

TEST_CASE("exec shape: Expand broadcasts both ways; Tile repeats", "[exec][shape]") {
  auto y = run_ok(model(13, "(float[3, 1] x, int64[3] s) => (float[2, 3, 4] y)", "y = Expand(x, s)"), {{"x", floats({3, 1}, {1, 2, 3})}, {"s", int64s({3}, {2, 1, 4})}});
  CHECK(y.shape == shape{2, 3, 4});
  CHECK(values_of(y) == std::vector<float>{1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3});
  auto z = run_ok(model(13, "(float[1, 3] x, int64[2] s) => (float[2, 3] y)", "y = Expand(x, s)"), {{"x", floats({1, 3}, {1, 2, 3})}, {"s", int64s({2}, {2, 1})}});
  CHECK(values_of(z) == std::vector<float>{1, 2, 3, 1, 2, 3});
  CHECK_THAT(run_error(model(13, "(float[3] x, int64[1] s) => (float[2] y)", "y = Expand(x, s)"), {{"x", floats({3}, {1, 2, 3})}, {"s", int64s({1}, {2})}},
                       mq::errc::invalid_argument),
             Contains("node 'Expand#0' (Expand): input shape [3] does not broadcast to [2]"));
  auto t = run_ok(model(13, "(float[2, 2] x, int64[2] r) => (float[4, 6] y)", "y = Tile(x, r)"), {{"x", floats({2, 2}, {1, 2, 3, 4})}, {"r", int64s({2}, {2, 3})}});
  CHECK(values_of(t) == std::vector<float>{1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4, 1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4});
  CHECK_THAT(run_error(model(13, "(float[2, 2] x, int64[1] r) => (float[4, 2] y)", "y = Tile(x, r)"), {{"x", floats({2, 2}, {1, 2, 3, 4})}, {"r", int64s({1}, {2})}},
                       mq::errc::invalid_argument),
             Contains("repeats [2] has 1 values for an input of rank 2"));
}

TEST_CASE("exec shape: Pad constant, reflect, edge, negative pads, attributes before 11, axes at 18", "[exec][shape]") {
  const auto x = floats({2, 3}, {1, 2, 3, 4, 5, 6});
  const std::string m = model(13, "(float[2, 3] x, int64[4] p, float c) => (float[A, B] y)", "y = Pad <mode = \"constant\"> (x, p, c)");
  auto c = run_ok(m, {{"x", x}, {"p", int64s({4}, {0, 1, 1, 0})}, {"c", floats({}, {9})}});
  CHECK(c.shape == shape{3, 4});
  CHECK(values_of(c) == std::vector<float>{9, 1, 2, 3, 9, 4, 5, 6, 9, 9, 9, 9});
  // A negative pad crops.
  auto crop = run_ok(m, {{"x", x}, {"p", int64s({4}, {0, -1, 0, 1})}, {"c", floats({}, {0})}});
  CHECK(values_of(crop) == std::vector<float>{2, 3, 0, 5, 6, 0});
  // reflect on [1,2,3] with 2 before and 2 after: 3 2 | 1 2 3 | 2 1.
  auto r = run_ok(model(13, "(float[2, 3] x, int64[4] p) => (float[2, 7] y)", "y = Pad <mode = \"reflect\"> (x, p)"), {{"x", x}, {"p", int64s({4}, {0, 2, 0, 2})}});
  CHECK(values_of(r) == std::vector<float>{3, 2, 1, 2, 3, 2, 1, 6, 5, 4, 5, 6, 5, 4});
  auto e = run_ok(model(13, "(float[2, 3] x, int64[4] p) => (float[4, 4] y)", "y = Pad <mode = \"edge\"> (x, p)"), {{"x", x}, {"p", int64s({4}, {1, 0, 1, 1})}});
  CHECK(values_of(e) == std::vector<float>{1, 2, 3, 3, 1, 2, 3, 3, 4, 5, 6, 6, 4, 5, 6, 6});
  auto a = run_ok(model(2, "(float[2, 3] x) => (float[2, 5] y)", "y = Pad <pads = [0, 1, 0, 1], value = 7.5> (x)"), {{"x", x}});
  CHECK(values_of(a) == std::vector<float>{7.5f, 1, 2, 3, 7.5f, 7.5f, 4, 5, 6, 7.5f});
  auto ax = run_ok(model(18, "(float[2, 3] x, int64[2] p, int64[1] a) => (float[2, 4] y)", "y = Pad(x, p, , a)"),
                   {{"x", x}, {"p", int64s({2}, {1, 0})}, {"a", int64s({1}, {-1})}});
  CHECK(values_of(ax) == std::vector<float>{0, 1, 2, 3, 0, 4, 5, 6});
  auto ints_pad = run_ok(model(13, "(int64[3] x, int64[2] p, int64 c) => (int64[5] y)", "y = Pad(x, p, c)"),
                         {{"x", int64s({3}, {1, 2, 3})}, {"p", int64s({2}, {1, 1})}, {"c", int64s({}, {-5})}});
  CHECK(ints(ints_pad) == std::vector<i64>{-5, 1, 2, 3, -5});
  CHECK_THAT(run_error(model(13, "(float[2, 3] x, int64[2] p) => (float[2, 3] y)", "y = Pad(x, p)"), {{"x", x}, {"p", int64s({2}, {1, 1})}}, mq::errc::invalid_argument),
             Contains("node 'Pad#0' (Pad): pads [1,1] needs 4 values"));
  CHECK(run_error(model(13, "(float[2, 3] x, int64[4] p) => (float[2, 3] y)", "y = Pad <mode = \"wrap\"> (x, p)"), {{"x", x}, {"p", int64s({4}, {0, 0, 0, 0})}},
                  mq::errc::unsupported)
            .find("mode 'wrap'") != std::string::npos);
}

// ---- Shape, Size, Cast ---------------------------------------------------------------------------

TEST_CASE("exec shape: Shape with start and end, Size", "[exec][shape]") {
  const auto x = floats({2, 3, 4}, iota_floats(24));
  CHECK(ints(run_ok(model(13, "(float[2, 3, 4] x) => (int64[3] y)", "y = Shape(x)"), {{"x", x}})) == std::vector<i64>{2, 3, 4});
  CHECK(ints(run_ok(model(15, "(float[2, 3, 4] x) => (int64[2] y)", "y = Shape <start = -2> (x)"), {{"x", x}})) == std::vector<i64>{3, 4});
  CHECK(ints(run_ok(model(15, "(float[2, 3, 4] x) => (int64[1] y)", "y = Shape <start = 1, end = -1> (x)"), {{"x", x}})) == std::vector<i64>{3});
  CHECK(ints(run_ok(model(15, "(float[2, 3, 4] x) => (int64[0] y)", "y = Shape <start = 10> (x)"), {{"x", x}})).empty());
  CHECK(ints(run_ok(model(13, "(float[2, 3, 4] x) => (int64 y)", "y = Size(x)"), {{"x", x}})) == std::vector<i64>{24});
}

TEST_CASE("exec shape: Cast between numeric types, float16, bfloat16 and bool", "[exec][shape]") {
  auto cast = [](const std::string& to_type, int to, const mq::tensor& x, const std::string& from_type) {
    return run_ok(model(13, "(" + from_type + "[4] x) => (" + to_type + "[4] y)", "y = Cast <to = " + std::to_string(to) + "> (x)"), {{"x", x}});
  };
  const auto f = floats({4}, {-1.7f, 2.9f, 0.0f, 100.5f});
  CHECK(elements<std::int32_t>(cast("int32", 6, f, "float")) == std::vector<std::int32_t>{-1, 2, 0, 100});  // truncation
  CHECK(elements<std::uint8_t>(cast("bool", 9, f, "float")) == std::vector<std::uint8_t>{1, 1, 0, 1});
  CHECK(elements<double>(cast("double", 11, f, "float")) == std::vector<double>{-1.7f, 2.9f, 0.0f, 100.5f});
  // float16 bits: 1 = 0x3c00, -2 = 0xc000, 65504 = 0x7bff, 0.5 = 0x3800.
  const auto i = int64s({4}, {1, -2, 65504, 0});
  CHECK(elements<std::uint16_t>(cast("float16", 10, i, "int64")) == std::vector<std::uint16_t>{0x3c00, 0xc000, 0x7bff, 0});
  const auto h = typed<std::uint16_t>(mq::dtype::float16, {4}, {0x3c00, 0xc000, 0x3800, 0x7c00});
  CHECK(values_of(cast("float", 1, h, "float16")) == std::vector<float>{1, -2, 0.5f, INFINITY});
  CHECK(elements<i64>(cast("int64", 7, h, "float16"))[2] == 0);
  // double -> float16 is rounded once: 1 + 2^-11 + 2^-40 is just above the midpoint between 1
  // and 1 + 2^-10 (so 0x3c01), though the nearest float, 1 + 2^-11, is the midpoint itself.
  const double above = 1.0 + std::ldexp(1.0, -11) + std::ldexp(1.0, -40);
  const auto d = typed<double>(mq::dtype::float64, {4}, {above, 1.0 + std::ldexp(1.0, -11), -0.0, 1e10});
  CHECK(elements<std::uint16_t>(cast("float16", 10, d, "double")) == std::vector<std::uint16_t>{0x3c01, 0x3c00, 0x8000, 0x7c00});
  // bfloat16 keeps the upper 16 bits (as ONNX's reference Cast of opset 13 does).
  const auto fb = floats({4}, {1.0f, 1.00390625f, -2.5f, 3.0f});
  CHECK(elements<std::uint16_t>(cast("bfloat16", 16, fb, "float")) == std::vector<std::uint16_t>{0x3f80, 0x3f80, 0xc020, 0x4040});
  const auto b = typed<std::uint8_t>(mq::dtype::boolean, {4}, {1, 0, 1, 1});
  CHECK(values_of(cast("float", 1, b, "bool")) == std::vector<float>{1, 0, 1, 1});
  // Integer narrowing wraps (two's complement).
  CHECK(elements<std::int8_t>(cast("int8", 3, int64s({4}, {127, 128, -129, 256}), "int64")) == std::vector<std::int8_t>{127, -128, 127, 0});
  auto like = run_ok(model(15, "(float[4] x, int32[1] l) => (int32[4] y)", "y = CastLike(x, l)"), {{"x", f}, {"l", typed<std::int32_t>(mq::dtype::int32, {1}, {0})}});
  CHECK(elements<std::int32_t>(like) == std::vector<std::int32_t>{-1, 2, 0, 100});
  CHECK(run_error(model(13, "(float[4] x) => (string[4] y)", "y = Cast <to = 8> (x)"), {{"x", f}}, mq::errc::unsupported).find("cast to string") != std::string::npos);
}

// ---- generators ----------------------------------------------------------------------------------

TEST_CASE("exec shape: ConstantOfShape, Range, EyeLike", "[exec][shape]") {
  auto c = run_ok(model(13, "(int64[2] s) => (int64[2, 3] y)", "y = ConstantOfShape <value = int64[1] {7}> (s)"), {{"s", int64s({2}, {2, 3})}});
  CHECK(ints(c) == std::vector<i64>(6, 7));
  auto z = run_ok(model(13, "(int64[1] s) => (float[3] y)", "y = ConstantOfShape(s)"), {{"s", int64s({1}, {3})}});
  CHECK(values_of(z) == std::vector<float>{0, 0, 0});
  auto r = run_ok(model(13, "(int64 a, int64 b, int64 d) => (int64[2] y)", "y = Range(a, b, d)"), {{"a", int64s({}, {10})}, {"b", int64s({}, {4})}, {"d", int64s({}, {-3})}});
  CHECK(ints(r) == std::vector<i64>{10, 7});
  auto rf = run_ok(model(13, "(float a, float b, float d) => (float[3] y)", "y = Range(a, b, d)"), {{"a", floats({}, {1})}, {"b", floats({}, {5.5f})}, {"d", floats({}, {2})}});
  CHECK(values_of(rf) == std::vector<float>{1, 3, 5});
  auto empty = run_ok(model(13, "(int64 a, int64 b, int64 d) => (int64[0] y)", "y = Range(a, b, d)"), {{"a", int64s({}, {4})}, {"b", int64s({}, {4})}, {"d", int64s({}, {1})}});
  CHECK(ints(empty).empty());
  CHECK_THAT(run_error(model(13, "(int64 a, int64 b, int64 d) => (int64[0] y)", "y = Range(a, b, d)"), {{"a", int64s({}, {0})}, {"b", int64s({}, {4})}, {"d", int64s({}, {0})}},
                       mq::errc::invalid_argument),
             Contains("node 'Range#0' (Range): delta is 0"));
  auto eye = run_ok(model(13, "(float[3, 4] x) => (int32[3, 4] y)", "y = EyeLike <dtype = 6, k = 1> (x)"), {{"x", floats({3, 4}, iota_floats(12))}});
  CHECK(elements<std::int32_t>(eye) == std::vector<std::int32_t>{0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1});
  auto eye_neg = run_ok(model(13, "(float[3, 2] x) => (float[3, 2] y)", "y = EyeLike <k = -1> (x)"), {{"x", floats({3, 2}, iota_floats(6))}});
  CHECK(values_of(eye_neg) == std::vector<float>{0, 0, 1, 0, 0, 1});
}

TEST_CASE("exec shape: DepthToSpace (DCR, CRD), SpaceToDepth, Trilu", "[exec][shape]") {
  const auto x = floats({1, 8, 1, 1}, iota_floats(8));
  // DCR: y[c][i][j] = x[(i*2 + j)*2 + c]; CRD: y[c][i][j] = x[c*4 + i*2 + j].
  auto dcr = run_ok(model(13, "(float[1, 8, 1, 1] x) => (float[1, 2, 2, 2] y)", "y = DepthToSpace <blocksize = 2> (x)"), {{"x", x}});
  CHECK(values_of(dcr) == std::vector<float>{0, 2, 4, 6, 1, 3, 5, 7});
  auto crd = run_ok(model(13, "(float[1, 8, 1, 1] x) => (float[1, 2, 2, 2] y)", "y = DepthToSpace <blocksize = 2, mode = \"CRD\"> (x)"), {{"x", x}});
  CHECK(values_of(crd) == std::vector<float>{0, 1, 2, 3, 4, 5, 6, 7});
  auto s2d = run_ok(model(13, "(float[1, 1, 2, 4] x) => (float[1, 4, 1, 2] y)", "y = SpaceToDepth <blocksize = 2> (x)"), {{"x", floats({1, 1, 2, 4}, iota_floats(8))}});
  // y[(i*2 + j)][0][w] = x[0][i][w*2 + j].
  CHECK(values_of(s2d) == std::vector<float>{0, 2, 1, 3, 4, 6, 5, 7});
  CHECK(run_error(model(13, "(float[1, 8, 1, 1] x) => (float[1, 2, 2, 2] y)", "y = DepthToSpace <blocksize = 2, mode = \"XYZ\"> (x)"), {{"x", x}},
                  mq::errc::unsupported)
            .find("mode 'XYZ'") != std::string::npos);
  const auto m = floats({3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  auto up = run_ok(model(14, "(float[3, 3] x, int64 k) => (float[3, 3] y)", "y = Trilu(x, k)"), {{"x", m}, {"k", int64s({}, {1})}});
  CHECK(values_of(up) == std::vector<float>{0, 2, 3, 0, 0, 6, 0, 0, 0});
  auto low = run_ok(model(14, "(float[3, 3] x, int64 k) => (float[3, 3] y)", "y = Trilu <upper = 0> (x, k)"), {{"x", m}, {"k", int64s({}, {-1})}});
  CHECK(values_of(low) == std::vector<float>{0, 0, 0, 4, 0, 0, 7, 8, 0});
  auto plain = run_ok(model(14, "(float[3, 3] x) => (float[3, 3] y)", "y = Trilu(x)"), {{"x", m}});
  CHECK(values_of(plain) == std::vector<float>{1, 2, 3, 0, 5, 6, 0, 0, 9});
}

// ---- Gather & co ---------------------------------------------------------------------------------

TEST_CASE("exec gather: Gather on any axis with negative indices; out-of-range indices fail", "[exec][gather]") {
  const auto x = floats({2, 3}, {1, 2, 3, 4, 5, 6});
  auto y = run_ok(model(13, "(float[2, 3] x, int64[2] i) => (float[2, 2] y)", "y = Gather <axis = 1> (x, i)"), {{"x", x}, {"i", int64s({2}, {-1, 0})}});
  CHECK(values_of(y) == std::vector<float>{3, 1, 6, 4});
  auto z = run_ok(model(13, "(float[2, 3] x, int64[2, 2] i) => (float[2, 2, 3] y)", "y = Gather(x, i)"), {{"x", x}, {"i", int64s({2, 2}, {1, 0, 1, 1})}});
  CHECK(values_of(z) == std::vector<float>{4, 5, 6, 1, 2, 3, 4, 5, 6, 4, 5, 6});
  auto s = run_ok(model(13, "(float[2, 3] x, int32 i) => (float[3] y)", "y = Gather(x, i)"), {{"x", x}, {"i", typed<std::int32_t>(mq::dtype::int32, {}, {-2})}});
  CHECK(values_of(s) == std::vector<float>{1, 2, 3});
  CHECK_THAT(run_error(model(13, "(float[2, 3] x, int64[1] i) => (float[2, 1] y)", "y = Gather <axis = 1> (x, i)"), {{"x", x}, {"i", int64s({1}, {3})}},
                       mq::errc::invalid_argument),
             Contains("node 'Gather#0' (Gather): index value 3 (element 0) is out of range for a dimension of 3"));
  CHECK_THAT(run_error(model(13, "(float[2, 3] x, int64[1] i) => (float[2, 1] y)", "y = Gather <axis = 1> (x, i)"), {{"x", x}, {"i", int64s({1}, {-4})}},
                       mq::errc::invalid_argument),
             Contains("index value -4"));
}

TEST_CASE("exec gather: GatherElements, GatherND with batch_dims", "[exec][gather]") {
  auto y = run_ok(model(13, "(float[2, 2] x, int64[2, 2] i) => (float[2, 2] y)", "y = GatherElements <axis = 1> (x, i)"),
                  {{"x", floats({2, 2}, {1, 2, 3, 4})}, {"i", int64s({2, 2}, {0, 0, 1, -2})}});
  CHECK(values_of(y) == std::vector<float>{1, 1, 4, 3});
  // axis 0, indices smaller than the data: y[i][j] = x[idx[i][j]][j].
  auto z = run_ok(model(13, "(float[3, 3] x, int64[1, 2] i) => (float[1, 2] y)", "y = GatherElements <axis = 0> (x, i)"),
                  {{"x", floats({3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9})}, {"i", int64s({1, 2}, {2, 1})}});
  CHECK(values_of(z) == std::vector<float>{7, 5});
  CHECK_THAT(run_error(model(13, "(float[2, 2] x, int64[2, 2] i) => (float[2, 2] y)", "y = GatherElements <axis = 1> (x, i)"),
                       {{"x", floats({2, 2}, {1, 2, 3, 4})}, {"i", int64s({2, 2}, {0, 2, 0, 0})}}, mq::errc::invalid_argument),
             Contains("node 'GatherElements#0' (GatherElements): index value 2"));
  const auto d = floats({2, 2, 2}, iota_floats(8));
  auto nd = run_ok(model(13, "(float[2, 2, 2] x, int64[2, 1] i) => (float[2, 2] y)", "y = GatherND <batch_dims = 1> (x, i)"), {{"x", d}, {"i", int64s({2, 1}, {1, 0})}});
  CHECK(values_of(nd) == std::vector<float>{2, 3, 4, 5});
  auto nd0 = run_ok(model(13, "(float[2, 2, 2] x, int64[2, 3] i) => (float[2] y)", "y = GatherND(x, i)"), {{"x", d}, {"i", int64s({2, 3}, {1, 1, 0, 0, -1, 1})}});
  CHECK(values_of(nd0) == std::vector<float>{6, 3});
  CHECK_THAT(run_error(model(13, "(float[2, 2, 2] x, int64[1, 2] i) => (float[1, 2] y)", "y = GatherND(x, i)"), {{"x", d}, {"i", int64s({1, 2}, {0, 2})}},
                       mq::errc::invalid_argument),
             Contains("node 'GatherND#0' (GatherND): index 2 is out of range for dimension 1"));
}

TEST_CASE("exec gather: ScatterElements, Scatter and ScatterND with reductions", "[exec][gather]") {
  const auto x = floats({2, 3}, {1, 2, 3, 4, 5, 6});
  auto y = run_ok(model(13, "(float[2, 3] x, int64[1, 2] i, float[1, 2] u) => (float[2, 3] y)", "y = ScatterElements <axis = 1> (x, i, u)"),
                  {{"x", x}, {"i", int64s({1, 2}, {2, -3})}, {"u", floats({1, 2}, {10, 20})}});
  CHECK(values_of(y) == std::vector<float>{20, 2, 10, 4, 5, 6});
  // Repeated indices add up with reduction = add (opset 16).
  auto add = run_ok(model(16, "(float[2, 3] x, int64[1, 2] i, float[1, 2] u) => (float[2, 3] y)", "y = ScatterElements <axis = 1, reduction = \"add\"> (x, i, u)"),
                    {{"x", x}, {"i", int64s({1, 2}, {1, 1})}, {"u", floats({1, 2}, {10, 20})}});
  CHECK(values_of(add) == std::vector<float>{1, 32, 3, 4, 5, 6});
  auto mx = run_ok(model(18, "(float[2, 3] x, int64[2, 1] i, float[2, 1] u) => (float[2, 3] y)", "y = ScatterElements <axis = 0, reduction = \"max\"> (x, i, u)"),
                   {{"x", x}, {"i", int64s({2, 1}, {1, 0})}, {"u", floats({2, 1}, {3, 0})}});
  CHECK(values_of(mx) == std::vector<float>{1, 2, 3, 4, 5, 6});
  CHECK(run_error(model(16, "(float[2, 3] x, int64[1, 2] i, float[1, 2] u) => (float[2, 3] y)", "y = ScatterElements <reduction = \"max\"> (x, i, u)"),
                  {{"x", x}, {"i", int64s({1, 2}, {0, 0})}, {"u", floats({1, 2}, {1, 1})}}, mq::errc::unsupported)
            .find("reduction 'max'") != std::string::npos);
  auto old = run_ok(model(9, "(float[2, 3] x, int64[1, 1] i, float[1, 1] u) => (float[2, 3] y)", "y = Scatter <axis = 0> (x, i, u)"),
                    {{"x", x}, {"i", int64s({1, 1}, {1})}, {"u", floats({1, 1}, {-1})}});
  CHECK(values_of(old) == std::vector<float>{1, 2, 3, -1, 5, 6});
  CHECK_THAT(run_error(model(13, "(float[2, 3] x, int64[1, 1] i, float[1, 1] u) => (float[2, 3] y)", "y = ScatterElements(x, i, u)"),
                       {{"x", x}, {"i", int64s({1, 1}, {2})}, {"u", floats({1, 1}, {-1})}}, mq::errc::invalid_argument),
             Contains("node 'ScatterElements#0' (ScatterElements): index value 2"));
  const auto v = floats({8}, {1, 2, 3, 4, 5, 6, 7, 8});
  auto nd = run_ok(model(13, "(float[8] x, int64[4, 1] i, float[4] u) => (float[8] y)", "y = ScatterND(x, i, u)"),
                   {{"x", v}, {"i", int64s({4, 1}, {4, 3, 1, 7})}, {"u", floats({4}, {9, 10, 11, 12})}});
  CHECK(values_of(nd) == std::vector<float>{1, 11, 3, 10, 9, 6, 7, 12});
  auto mul = run_ok(model(16, "(float[2, 2] x, int64[2, 1] i, float[2, 2] u) => (float[2, 2] y)", "y = ScatterND <reduction = \"mul\"> (x, i, u)"),
                    {{"x", floats({2, 2}, {1, 2, 3, 4})}, {"i", int64s({2, 1}, {1, 1})}, {"u", floats({2, 2}, {2, 3, 4, 5})}});
  CHECK(values_of(mul) == std::vector<float>{1, 2, 24, 60});
  CHECK_THAT(run_error(model(13, "(float[8] x, int64[1, 1] i, float[1] u) => (float[8] y)", "y = ScatterND(x, i, u)"),
                       {{"x", v}, {"i", int64s({1, 1}, {8})}, {"u", floats({1}, {1})}}, mq::errc::invalid_argument),
             Contains("node 'ScatterND#0' (ScatterND): index 8 is out of range"));
}

TEST_CASE("exec gather: TopK breaks ties by the smaller index; K from an input or the attribute", "[exec][gather]") {
  const std::string m = model(11, "(float[2, 4] x, int64[1] k) => (float[2, 2] v, int64[2, 2] i)", "v, i = TopK(x, k)");
  const auto x = floats({2, 4}, {3, 1, 3, 2, 0, -1, 5, 5});
  auto out = run_text(m, {{"x", x}, {"k", int64s({1}, {2})}});
  REQUIRE(out);
  CHECK(values_of(out->at("v")) == std::vector<float>{3, 3, 5, 5});
  CHECK(ints(out->at("i")) == std::vector<i64>{0, 2, 2, 3});
  out = run_text(model(11, "(float[2, 4] x, int64[1] k) => (float[2, 3] v, int64[2, 3] i)", "v, i = TopK <largest = 0> (x, k)"), {{"x", x}, {"k", int64s({1}, {3})}});
  REQUIRE(out);
  CHECK(values_of(out->at("v")) == std::vector<float>{1, 2, 3, -1, 0, 5});
  CHECK(ints(out->at("i")) == std::vector<i64>{1, 3, 0, 1, 0, 2});
  out = run_text(model(1, "(float[2, 4] x) => (float[1, 4] v, int64[1, 4] i)", "v, i = TopK <k = 1, axis = 0> (x)"), {{"x", x}});
  REQUIRE(out);
  CHECK(values_of(out->at("v")) == std::vector<float>{3, 1, 5, 5});
  CHECK(ints(out->at("i")) == std::vector<i64>{0, 0, 1, 1});
  // NaN ranks above every number.
  out = run_text(m, {{"x", floats({2, 4}, {1, NAN, 2, 0, 1, 1, 1, 1})}, {"k", int64s({1}, {2})}});
  REQUIRE(out);
  CHECK(ints(out->at("i")) == std::vector<i64>{1, 2, 0, 1});
  CHECK_THAT(run_error(m, {{"x", x}, {"k", int64s({1}, {5})}}, mq::errc::invalid_argument), Contains("node 'TopK#0' (TopK): k = 5 is out of range"));
}

TEST_CASE("exec gather: OneHot, NonZero, Compress", "[exec][gather]") {
  auto oh = run_ok(model(11, "(int64[3] i, int64 d, float[2] v) => (float[3, 3] y)", "y = OneHot(i, d, v)"),
                   {{"i", int64s({3}, {0, -1, 5})}, {"d", int64s({}, {3})}, {"v", floats({2}, {0, 1})}});
  CHECK(values_of(oh) == std::vector<float>{1, 0, 0, 0, 0, 1, 0, 0, 0});
  auto oh0 = run_ok(model(11, "(float[2] i, float d, int64[2] v) => (int64[3, 2] y)", "y = OneHot <axis = 0> (i, d, v)"),
                    {{"i", floats({2}, {1.7f, 2})}, {"d", floats({}, {3})}, {"v", int64s({2}, {5, 9})}});
  CHECK(ints(oh0) == std::vector<i64>{5, 5, 9, 5, 5, 9});
  auto nz = run_ok(model(13, "(float[2, 2] x) => (int64[2, 2] y)", "y = NonZero(x)"), {{"x", floats({2, 2}, {1, 0, 0, 2})}});
  CHECK(ints(nz) == std::vector<i64>{0, 1, 0, 1});
  const auto x = floats({3, 2}, {1, 2, 3, 4, 5, 6});
  const auto cond = typed<std::uint8_t>(mq::dtype::boolean, {3}, {0, 1, 1});
  auto c = run_ok(model(11, "(float[3, 2] x, bool[3] c) => (float[2, 2] y)", "y = Compress <axis = 0> (x, c)"), {{"x", x}, {"c", cond}});
  CHECK(values_of(c) == std::vector<float>{3, 4, 5, 6});
  auto flat = run_ok(model(11, "(float[3, 2] x, bool[5] c) => (float[2] y)", "y = Compress(x, c)"),
                     {{"x", x}, {"c", typed<std::uint8_t>(mq::dtype::boolean, {5}, {1, 0, 0, 0, 1})}});
  CHECK(values_of(flat) == std::vector<float>{1, 5});
  CHECK_THAT(run_error(model(11, "(float[3, 2] x, bool[4] c) => (float[2] y)", "y = Compress <axis = 0> (x, c)"),
                       {{"x", x}, {"c", typed<std::uint8_t>(mq::dtype::boolean, {4}, {0, 0, 0, 1})}}, mq::errc::invalid_argument),
             Contains("node 'Compress#0' (Compress): condition selects index 3"));
}

// ---- Resize, Upsample, GridSample ----------------------------------------------------------------

TEST_CASE("exec resize: nearest 2x (asymmetric, floor) and the nearest modes on ties", "[exec][resize]") {
  const std::string m = model(13, "(float[1, 1, 2, 2] x, float[4] s) => (float[1, 1, 4, 4] y)",
                              "y = Resize <mode = \"nearest\", coordinate_transformation_mode = \"asymmetric\", nearest_mode = \"floor\"> (x, , s)");
  auto y = run_ok(m, {{"x", floats({1, 1, 2, 2}, {1, 2, 3, 4})}, {"s", floats({4}, {1, 1, 2, 2})}});
  CHECK(values_of(y) == std::vector<float>{1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4});
  // x_original = x / 4 over 8 outputs: 0, .25, .5, .75, 1, 1.25, 1.5, 1.75 (ties at .5 and 1.5).
  auto nearest = [](const std::string& mode) {
    return values_of(run_ok(model(13, "(float[2] x, float[1] s) => (float[8] y)",
                                  "y = Resize <mode = \"nearest\", coordinate_transformation_mode = \"asymmetric\", nearest_mode = \"" + mode + "\"> (x, , s)"),
                            {{"x", floats({2}, {10, 20})}, {"s", floats({1}, {4})}}));
  };
  CHECK(nearest("round_prefer_floor") == std::vector<float>{10, 10, 10, 20, 20, 20, 20, 20});
  CHECK(nearest("round_prefer_ceil") == std::vector<float>{10, 10, 20, 20, 20, 20, 20, 20});
  CHECK(nearest("floor") == std::vector<float>{10, 10, 10, 10, 20, 20, 20, 20});
  CHECK(nearest("ceil") == std::vector<float>{10, 20, 20, 20, 20, 20, 20, 20});
  SECTION("a big NCHW 2x upsample on two threads matches the definition") {
    const auto big = floats({1, 8, 40, 30}, iota_floats(8 * 40 * 30));
    auto up = run_ok(model(13, "(float[1, 8, 40, 30] x, float[4] s) => (float[1, 8, 80, 60] y)",
                           "y = Resize <mode = \"nearest\", coordinate_transformation_mode = \"asymmetric\", nearest_mode = \"floor\"> (x, , s)"),
                     {{"x", big}, {"s", floats({4}, {1, 1, 2, 2})}}, "y", 2);
    auto v = values_of(up);
    bool same = true;
    for (i64 c = 0; c < 8; ++c)
      for (i64 i = 0; i < 80; ++i)
        for (i64 j = 0; j < 60; ++j) same = same && v[static_cast<std::size_t>((c * 80 + i) * 60 + j)] == static_cast<float>((c * 40 + i / 2) * 30 + j / 2);
    CHECK(same);
  }
}

TEST_CASE("exec resize: linear, cubic, align_corners, tf_crop_and_resize", "[exec][resize]") {
  // half_pixel, scale 2 on [1, 3]: x_original = -0.25, 0.25, 0.75, 1.25, clamped to [0, 1].
  auto lin = run_ok(model(13, "(float[1, 2] x, float[2] s) => (float[1, 4] y)", "y = Resize <mode = \"linear\"> (x, , s)"),
                    {{"x", floats({1, 2}, {1, 3})}, {"s", floats({2}, {1, 2})}});
  CHECK(values_of(lin) == std::vector<float>{1, 1.5f, 2.5f, 3});
  // align_corners with sizes 5 on [0, 2, 4]: x_original = x * 2 / 4.
  auto ac = run_ok(model(13, "(float[1, 3] x, int64[2] z) => (float[1, 5] y)", "y = Resize <mode = \"linear\", coordinate_transformation_mode = \"align_corners\"> (x, , , z)"),
                   {{"x", floats({1, 3}, {0, 2, 4})}, {"z", int64s({2}, {1, 5})}});
  CHECK(values_of(ac) == std::vector<float>{0, 1, 2, 3, 4});
  // Bilinear on both axes: 2x2 -> 3x3 with align_corners gives the centre as the mean.
  auto bi = run_ok(model(13, "(float[1, 1, 2, 2] x, int64[4] z) => (float[1, 1, 3, 3] y)",
                         "y = Resize <mode = \"linear\", coordinate_transformation_mode = \"align_corners\"> (x, , , z)"),
                   {{"x", floats({1, 1, 2, 2}, {0, 2, 4, 6})}, {"z", int64s({4}, {1, 1, 3, 3})}});
  CHECK(values_of(bi) == std::vector<float>{0, 1, 2, 2, 3, 4, 4, 5, 6});
  // Cubic (A = -0.75), asymmetric, scale 2 on the impulse [0, 1, 0, 0]: at t = 0.5 the weights are
  // -0.09375, 0.59375, 0.59375, -0.09375; at whole positions 0, 1, 0, 0.
  const std::string cubic = model(13, "(float[4] x, float[1] s) => (float[8] y)",
                                  "y = Resize <mode = \"cubic\", coordinate_transformation_mode = \"asymmetric\"> (x, , s)");
  auto cu = values_of(run_ok(cubic, {{"x", floats({4}, {0, 1, 0, 0})}, {"s", floats({1}, {2})}}));
  const std::vector<float> want = {0, 0.59375f, 1, 0.59375f, 0, -0.09375f, 0, 0};
  REQUIRE(cu.size() == want.size());
  for (std::size_t k = 0; k < want.size(); ++k) CHECK(cu[k] == Approx(want[k]).margin(1e-6));
  // exclude_outside drops the tap at -1 for output 1 and renormalizes: 0.59375 / 1.09375.
  auto ex = values_of(run_ok(model(13, "(float[4] x, float[1] s) => (float[8] y)",
                                   "y = Resize <mode = \"cubic\", coordinate_transformation_mode = \"asymmetric\", exclude_outside = 1> (x, , s)"),
                             {{"x", floats({4}, {0, 1, 0, 0})}, {"s", floats({1}, {2})}}));
  CHECK(ex[1] == Approx(0.59375 / 1.09375).margin(1e-6));
  // tf_crop_and_resize on [0, 1, 2, 3], roi [0.5, 1.5], 3 outputs: x_original = 1.5, 3, 4.5 (outside).
  auto crop = run_ok(model(13, "(float[4] x, float[2] r, int64[1] z) => (float[3] y)",
                           "y = Resize <mode = \"linear\", coordinate_transformation_mode = \"tf_crop_and_resize\", extrapolation_value = 10.0> (x, r, , z)"),
                     {{"x", floats({4}, {0, 1, 2, 3})}, {"r", floats({2}, {0.5f, 1.5f})}, {"z", int64s({1}, {3})}});
  CHECK(values_of(crop) == std::vector<float>{1.5f, 3, 10});
  SECTION("opset 18: axes, antialias refused") {
    auto ax = run_ok(model(18, "(float[1, 2] x, float[1] s) => (float[1, 4] y)", "y = Resize <mode = \"linear\", axes = [-1]> (x, , s)"),
                     {{"x", floats({1, 2}, {1, 3})}, {"s", floats({1}, {2})}});
    CHECK(values_of(ax) == std::vector<float>{1, 1.5f, 2.5f, 3});
    CHECK(run_error(model(18, "(float[1, 2] x, float[2] s) => (float[1, 4] y)", "y = Resize <mode = \"linear\", antialias = 1> (x, , s)"),
                    {{"x", floats({1, 2}, {1, 3})}, {"s", floats({2}, {1, 2})}}, mq::errc::unsupported)
              .find("antialias") != std::string::npos);
  }
  CHECK_THAT(run_error(model(13, "(float[1, 2] x, float[2] s, int64[2] z) => (float[1, 4] y)", "y = Resize(x, , s, z)"),
                       {{"x", floats({1, 2}, {1, 3})}, {"s", floats({2}, {1, 2})}, {"z", int64s({2}, {1, 4})}}, mq::errc::invalid_argument),
             Contains("node 'Resize#0' (Resize): exactly one of scales and sizes"));
}

namespace {

// The spec's interpolation on one axis (half_pixel): the source taps and weights of output x.
struct taps_1d {
  std::vector<i64> index;
  std::vector<double> weight;
};
taps_1d spec_taps(i64 x, i64 len_in, double scale, bool cubic) {
  const double orig = (static_cast<double>(x) + 0.5) / scale - 0.5;
  taps_1d t;
  if (!cubic) {
    const double c = std::clamp(orig, 0.0, static_cast<double>(len_in - 1));
    const i64 i0 = static_cast<i64>(std::floor(c));
    t.index = {i0, std::min(i0 + 1, len_in - 1)};
    t.weight = {1 - (c - static_cast<double>(i0)), c - static_cast<double>(i0)};
    return t;
  }
  const double a = -0.75;
  const double f = std::floor(orig);
  const double r = orig - f;
  // Keys' kernel at distances 1+r, r, 1-r, 2-r.
  auto kernel = [a](double d) {
    d = std::fabs(d);
    if (d <= 1) return (a + 2) * d * d * d - (a + 3) * d * d + 1;
    if (d < 2) return a * d * d * d - 5 * a * d * d + 8 * a * d - 4 * a;
    return 0.0;
  };
  for (int k = -1; k <= 2; ++k) {
    t.index.push_back(std::clamp<i64>(static_cast<i64>(f) + k, 0, len_in - 1));
    t.weight.push_back(kernel(static_cast<double>(k) - r));
  }
  return t;
}

}  // namespace

TEST_CASE("exec resize: 2-D linear and cubic against the definition, up and down, on two threads", "[exec][resize]") {
  const i64 c = 3, h = 13, w = 11;
  std::vector<float> data(static_cast<std::size_t>(c * h * w));
  for (std::size_t k = 0; k < data.size(); ++k) data[k] = static_cast<float>((k * 7919) % 101) / 10.0f;
  const auto x = floats({1, c, h, w}, data);
  for (const char* mode : {"linear", "cubic"}) {
    for (const auto& [sh, sw] : std::vector<std::pair<float, float>>{{2.0f, 2.0f}, {0.5f, 1.5f}, {1.7f, 1.0f}, {1.0f, 0.6f}}) {
      INFO(mode << " scales " << sh << " x " << sw);
      const i64 ho = static_cast<i64>(sh * static_cast<float>(h));
      const i64 wo = static_cast<i64>(sw * static_cast<float>(w));
      const std::string m = model(13, "(float[1, 3, 13, 11] x, float[4] s) => (float[1, 3, " + std::to_string(ho) + ", " + std::to_string(wo) + "] y)",
                                  std::string("y = Resize <mode = \"") + mode + "\"> (x, , s)");
      auto y = values_of(run_ok(m, {{"x", x}, {"s", floats({4}, {1, 1, sh, sw})}}, "y", 2));
      REQUIRE(y.size() == static_cast<std::size_t>(c * ho * wo));
      const bool cubic = std::string(mode) == "cubic";
      double worst = 0;
      for (i64 p = 0; p < c; ++p) {
        for (i64 i = 0; i < ho; ++i) {
          const taps_1d ty = spec_taps(i, h, sh, cubic);
          for (i64 j = 0; j < wo; ++j) {
            const taps_1d tx = spec_taps(j, w, sw, cubic);
            double want = 0;
            for (std::size_t a = 0; a < ty.index.size(); ++a)
              for (std::size_t b = 0; b < tx.index.size(); ++b)
                want += ty.weight[a] * tx.weight[b] * data[static_cast<std::size_t>((p * h + ty.index[a]) * w + tx.index[b])];
            worst = std::max(worst, std::fabs(want - y[static_cast<std::size_t>((p * ho + i) * wo + j)]));
          }
        }
      }
      CHECK(worst < 1e-4);
    }
  }
}

TEST_CASE("exec resize: Upsample (opset 7 and 9)", "[exec][resize]") {
  auto u9 = run_ok(model(9, "(float[1, 1, 1, 2] x, float[4] s) => (float[1, 1, 2, 6] y)", "y = Upsample(x, s)"),
                   {{"x", floats({1, 1, 1, 2}, {1, 2})}, {"s", floats({4}, {1, 1, 2, 3})}});
  CHECK(values_of(u9) == std::vector<float>{1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2});
  auto u7 = run_ok(model(7, "(float[2] x) => (float[4] y)", "y = Upsample <mode = \"linear\", scales = [2.0]> (x)"), {{"x", floats({2}, {1, 3})}});
  CHECK(values_of(u7) == std::vector<float>{1, 2, 3, 3});
  CHECK_THAT(run_error(model(9, "(float[2] x, float[1] s) => (float[1] y)", "y = Upsample(x, s)"), {{"x", floats({2}, {1, 3})}, {"s", floats({1}, {0.5f})}},
                       mq::errc::invalid_argument),
             Contains("must be >= 1"));
}

TEST_CASE("exec resize: GridSample modes and padding", "[exec][resize]") {
  const auto x = floats({1, 1, 2, 2}, {1, 2, 3, 4});
  auto grid_sample = [&](const std::string& attrs, const std::vector<float>& grid) {
    const auto points = static_cast<i64>(grid.size() / 2);
    return values_of(run_ok(model(16, "(float[1, 1, 2, 2] x, float[1, 1, " + std::to_string(points) + ", 2] g) => (float[1, 1, 1, " + std::to_string(points) + "] y)",
                                  "y = GridSample " + attrs + " (x, g)"),
                            {{"x", x}, {"g", floats({1, 1, points, 2}, grid)}}));
  };
  // align_corners: (-1,-1) and (1,1) are the corner pixels, (0,0) the mean of all four.
  CHECK(grid_sample("<align_corners = 1>", {-1, -1, 1, 1, 0, 0}) == std::vector<float>{1, 4, 2.5f});
  // Without: (-1,-1) is pixel (-0.5,-0.5): a quarter of pixel (0,0) with zero padding ...
  CHECK(grid_sample("", {-1, -1, 0, 0}) == std::vector<float>{0.25f, 2.5f});
  // ... pixel (0,0) itself with border or reflection padding.
  CHECK(grid_sample("<padding_mode = \"border\">", {-1, -1, 3, 0}) == std::vector<float>{1, 3});
  CHECK(grid_sample("<padding_mode = \"reflection\">", {-1, -1}) == std::vector<float>{1});
  // nearest: (0.1, -0.9) is pixel (0.6, -0.4), rounded to column 1, row 0.
  CHECK(grid_sample("<mode = \"nearest\">", {0.1f, -0.9f, 5, 5}) == std::vector<float>{2, 0});
  CHECK(grid_sample("<mode = \"bicubic\", align_corners = 1>", {-1, -1, 1, -1}) == std::vector<float>{1, 2});
  CHECK(run_error(model(16, "(float[1, 1, 2, 2] x, float[1, 1, 1, 2] g) => (float[1, 1, 1, 1] y)", "y = GridSample <mode = \"cubic\"> (x, g)"),
                  {{"x", x}, {"g", floats({1, 1, 1, 2}, {0, 0})}}, mq::errc::unsupported)
            .find("mode 'cubic'") != std::string::npos);
  CHECK_THAT(run_error(model(16, "(float[1, 1, 2, 2] x, float[1, 1, 1, 3] g) => (float[1, 1, 1, 1] y)", "y = GridSample(x, g)"),
                       {{"x", x}, {"g", floats({1, 1, 1, 3}, {0, 0, 0})}}, mq::errc::invalid_argument),
             Contains("node 'GridSample#0' (GridSample): grid has shape [1,1,1,3]"));
}
