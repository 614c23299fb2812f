// The executor's Conv family (lib/exec/ops/conv.cpp, matmul.cpp, pool.cpp, norm.cpp, and the Conv
// fusions of fuse.cpp) on small synthetic models: exact values worked out by hand from the ONNX spec
// for each geometry feature, randomized checks against naive loops written here (direct
// convolution, scatter ConvTranspose, triple-loop products), fused against unfused runs, and the
// errors bad shapes and unsupported attributes must give.
#include <catch2/catch.hpp>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "exec/ops/conv.h"
#include "exec/thread_pool.h"
#include "mq/session.h"
#include "support/exec_helpers.h"
#include "support/test_models.h"

using mq::test::floats;
using mq::test::int64s;
using mq::test::run_text;
using mq::test::values_of;

namespace {

using shape = std::vector<std::int64_t>;

std::string list_text(const std::vector<float>& v) {
  std::string s = "{";
  char buf[32];
  for (std::size_t i = 0; i < v.size(); ++i) {
    std::snprintf(buf, sizeof buf, "%.9g", static_cast<double>(v[i]));
    s += (i ? ", " : "") + std::string(buf);
  }
  return s + "}";
}

std::string dims_text(const shape& s) {
  std::string out = "[";
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

std::string ints_text(const shape& s) { return dims_text(s); }

std::vector<float> iota(std::int64_t n, float start = 0) {
  std::vector<float> v(static_cast<std::size_t>(n));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = start + static_cast<float>(i);
  return v;
}

std::vector<float> random_values(std::mt19937& rng, std::int64_t n) {
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> v(static_cast<std::size_t>(n));
  for (auto& x : v) x = d(rng);
  return v;
}

std::int64_t count_of(const shape& s) {
  std::int64_t n = 1;
  for (auto d : s) n *= d;
  return n;
}

// Runs a one-output model and returns output `name` (failing the test on an error).
std::vector<float> run_values(const std::string& text, const std::map<std::string, mq::tensor>& inputs,
                              const std::string& name = "y", unsigned threads = 1, bool fuse = true) {
  mq::session_options o;
  o.threads = threads;
  o.fuse = fuse;
  auto out = run_text(text, inputs, o);
  INFO(text);
  if (!out) FAIL(out.error().message);
  return values_of(out->at(name));
}

std::vector<std::int64_t> int_values(const mq::tensor& t) {
  REQUIRE(t.type == mq::dtype::int64);
  std::vector<std::int64_t> v(t.data.size() / sizeof(std::int64_t));
  std::memcpy(v.data(), t.data.data(), t.data.size());
  return v;
}

// got ~ want within a relative bound on each element's magnitude (`scale[i]`: sum of |terms|).
void check_close(const std::vector<float>& got, const std::vector<double>& want, const std::vector<double>& scale) {
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    INFO("element " << i);
    CHECK(std::fabs(static_cast<double>(got[i]) - want[i]) <= 1e-5 * scale[i] + 1e-6);
  }
}

// An error result of running `text` (fails the test when it succeeds).
mq::error run_error(const std::string& text, const std::map<std::string, mq::tensor>& inputs) {
  auto out = run_text(text, inputs);
  INFO(text);
  REQUIRE(!out);
  return out.error();
}

}  // namespace

TEST_CASE("for_column_blocks computes every column of every product exactly once on any thread count", "[exec][conv]") {
  struct split {
    std::int64_t items, columns, work;
  };
  for (unsigned threads : {1u, 2u, 3u, 7u}) {
    mq::exec::thread_pool pool(threads);
    // split: the kernel table's split_columns (1, or the eigen table's 256): every block starts at
    // a multiple of 16 and of it (48 = 16 x 3 checks the least common multiple).
    for (const std::int64_t multiple : {std::int64_t{1}, std::int64_t{48}, std::int64_t{256}}) {
      for (const split s : {split{1, 1000, 1000}, split{3, 50, 10000}, split{40, 17, 100000}, split{2, 5, 1}, split{1, 1, 1 << 20},
                            split{1, 400, 100000}}) {
        std::vector<std::atomic<int>> seen(static_cast<std::size_t>(s.items * s.columns));
        std::atomic<bool> bad_range{false};
        std::atomic<bool> unaligned{false};
        const std::int64_t unit = multiple == 48 ? 48 : std::max<std::int64_t>(multiple, 16);
        mq::exec::ops::for_column_blocks(pool, s.items, s.columns, s.work, multiple, [&](std::int64_t item, std::int64_t b, std::int64_t e) {
          if (item < 0 || item >= s.items || b < 0 || e > s.columns || b >= e) bad_range = true;
          if (b % unit != 0) unaligned = true;
          for (std::int64_t c = b; c < e; ++c) ++seen[static_cast<std::size_t>(item * s.columns + c)];
        });
        INFO(threads << " threads, " << s.items << " x " << s.columns << ", split " << multiple);
        CHECK(!bad_range);
        CHECK(!unaligned);
        bool once = true;
        for (const auto& n : seen) once = once && n == 1;
        CHECK(once);
      }
    }
  }
}

// ---- Conv: exact cases ----------------------------------------------------------------------------

namespace {

// y = Conv(x, w[, b]) with w (and b) constants, opset 13.
std::string conv_text(const shape& xs, const shape& ws, const std::vector<float>& w, const std::string& attrs,
                      const std::vector<float>& b = {}) {
  std::string init = "float" + dims_text(ws) + " w = " + list_text(w);
  if (!b.empty()) init += ", float[" + std::to_string(b.size()) + "] b = " + list_text(b);
  return "<ir_version: 8, opset_import: [\"\" : 13]>\ng (float" + dims_text(xs) + " x) => (float y) <" + init + "> {\n  y = Conv" +
         (attrs.empty() ? "" : "<" + attrs + ">") + "(x, w" + (b.empty() ? "" : ", b") + ")\n}\n";
}

}  // namespace

TEST_CASE("Conv: exact values for each geometry feature", "[exec][conv]") {
  const std::vector<float> x9 = iota(9);  // 3x3: 0..8
  SECTION("no padding, with and without bias") {
    // 2x2 windows of ones over 0..8: 0+1+3+4, 1+2+4+5, 3+4+6+7, 4+5+7+8.
    CHECK(run_values(conv_text({1, 1, 3, 3}, {1, 1, 2, 2}, {1, 1, 1, 1}, ""), {{"x", floats({1, 1, 3, 3}, x9)}}) ==
          std::vector<float>{8, 12, 20, 24});
    CHECK(run_values(conv_text({1, 1, 3, 3}, {1, 1, 2, 2}, {1, 1, 1, 1}, "", {0.5f}), {{"x", floats({1, 1, 3, 3}, x9)}}) ==
          std::vector<float>{8.5f, 12.5f, 20.5f, 24.5f});
  }
  SECTION("pads: 3x3 ones over a zero-padded 3x3 sums each neighbourhood") {
    CHECK(run_values(conv_text({1, 1, 3, 3}, {1, 1, 3, 3}, std::vector<float>(9, 1), "pads = [1, 1, 1, 1]"),
                     {{"x", floats({1, 1, 3, 3}, x9)}}) == std::vector<float>{8, 15, 12, 21, 36, 27, 20, 33, 24});
  }
  SECTION("asymmetric pads: only the bottom and the right") {
    // Windows at (0,0), (0,1)... over 0..8 padded with a zero row and column at the end.
    CHECK(run_values(conv_text({1, 1, 3, 3}, {1, 1, 2, 2}, {1, 1, 1, 1}, "pads = [0, 0, 1, 1]"),
                     {{"x", floats({1, 1, 3, 3}, x9)}}) == std::vector<float>{8, 12, 7, 20, 24, 13, 13, 15, 8});
  }
  SECTION("strides 2") {
    CHECK(run_values(conv_text({1, 1, 4, 4}, {1, 1, 2, 2}, {1, 1, 1, 1}, "strides = [2, 2]"),
                     {{"x", floats({1, 1, 4, 4}, iota(16))}}) == std::vector<float>{10, 18, 42, 50});
  }
  SECTION("dilations 2: the taps are the corners") {
    // x[0,0]*1 + x[0,2]*2 + x[2,0]*3 + x[2,2]*4 = 0 + 4 + 18 + 32.
    CHECK(run_values(conv_text({1, 1, 3, 3}, {1, 1, 2, 2}, {1, 2, 3, 4}, "dilations = [2, 2]"),
                     {{"x", floats({1, 1, 3, 3}, x9)}}) == std::vector<float>{54});
  }
  SECTION("1-D with auto_pad: SAME_UPPER pads the end, SAME_LOWER the beginning, VALID nothing") {
    const auto x = floats({1, 1, 4}, {1, 2, 3, 4});
    // y[i] = x[i] + 10 x[i+1] (upper), x[i-1] + 10 x[i] (lower).
    CHECK(run_values(conv_text({1, 1, 4}, {1, 1, 2}, {1, 10}, "auto_pad = \"SAME_UPPER\""), {{"x", x}}) ==
          std::vector<float>{21, 32, 43, 4});
    CHECK(run_values(conv_text({1, 1, 4}, {1, 1, 2}, {1, 10}, "auto_pad = \"SAME_LOWER\""), {{"x", x}}) ==
          std::vector<float>{10, 21, 32, 43});
    CHECK(run_values(conv_text({1, 1, 4}, {1, 1, 2}, {1, 10}, "auto_pad = \"VALID\", pads = [5, 5]"), {{"x", x}}) ==
          std::vector<float>{21, 32, 43});
    // SAME with stride 2: out = ceil(4 / 2) = 2, total pad (2-1)*2 + 2 - 4 = 0.
    CHECK(run_values(conv_text({1, 1, 4}, {1, 1, 2}, {1, 10}, "auto_pad = \"SAME_UPPER\", strides = [2]"), {{"x", x}}) ==
          std::vector<float>{21, 43});
  }
  SECTION("depthwise (group = channels) with padding and bias") {
    // Channel 0 [1 2; 3 4] with 2x2 [1 0; 0 1] and pads at the beginning: y = x[i-1,j-1] + x[i,j].
    // Channel 1 [5 6; 7 8] with all 2: 2 * (sum of the window).
    const std::string text = conv_text({1, 2, 2, 2}, {2, 1, 2, 2}, {1, 0, 0, 1, 2, 2, 2, 2}, "group = 2, pads = [1, 1, 0, 0]",
                                       {0, 100});
    CHECK(run_values(text, {{"x", floats({1, 2, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8})}}) ==
          std::vector<float>{1, 2, 3, 5, 110, 122, 124, 152});
  }
  SECTION("groups with two input channels each (not depthwise)") {
    // y0 = 1*c0 + 2*c1, y1 = 3*c2 + 4*c3 (1x1 kernels, group 2).
    const std::string text = conv_text({1, 4, 1, 2}, {2, 2, 1, 1}, {1, 2, 3, 4}, "group = 2");
    CHECK(run_values(text, {{"x", floats({1, 4, 1, 2}, {1, 2, 10, 20, 100, 200, 1000, 2000})}}) ==
          std::vector<float>{21, 42, 4300, 8600});
  }
  SECTION("1x1 convolution on a batch of two: a product on the NCHW planes") {
    // y0 = x0 + 2 x1, y1 = 3 x0 + 4 x1 per pixel.
    const std::string text = conv_text({2, 2, 1, 3}, {2, 2, 1, 1}, {1, 2, 3, 4}, "", {0, 1});
    CHECK(run_values(text, {{"x", floats({2, 2, 1, 3}, {1, 2, 3, 0, 1, 0, 0, 0, 0, 1, 1, 1})}}) ==
          std::vector<float>{1, 4, 3, 4, 11, 10, 2, 2, 2, 5, 5, 5});
  }
  SECTION("3-D: a 2x2x2 kernel of ones over 0..7 sums them") {
    CHECK(run_values(conv_text({1, 1, 2, 2, 2}, {1, 1, 2, 2, 2}, std::vector<float>(8, 1), ""),
                     {{"x", floats({1, 1, 2, 2, 2}, iota(8))}}) == std::vector<float>{28});
  }
  SECTION("weights and bias given at run time") {
    const char* text = R"(
<ir_version: 8, opset_import: ["" : 11]>
g (float[1, 1, 3, 3] x, float[1, 1, 2, 2] w, float[1] b) => (float y) {
  y = Conv<kernel_shape = [2, 2]>(x, w, b)
}
)";
    CHECK(run_values(text, {{"x", floats({1, 1, 3, 3}, x9)}, {"w", floats({1, 1, 2, 2}, {1, 1, 1, 1})}, {"b", floats({1}, {-8})}}) ==
          std::vector<float>{0, 4, 12, 16});
  }
}

TEST_CASE("Conv: errors name the node; attributes it does not implement are unsupported", "[exec][conv]") {
  SECTION("channels that do not match the weight") {
    const auto e = run_error(conv_text({1, 3, 3, 3}, {1, 2, 1, 1}, {1, 1}, ""), {{"x", floats({1, 3, 3, 3}, iota(27))}});
    CHECK(e.code == mq::errc::invalid_argument);
    CHECK_THAT(e.message, Catch::Contains("node 'Conv#0' (Conv)") && Catch::Contains("3 channels"));
  }
  SECTION("kernel_shape that contradicts the weight") {
    const auto e = run_error(conv_text({1, 1, 3, 3}, {1, 1, 2, 2}, {1, 1, 1, 1}, "kernel_shape = [3, 3]"),
                             {{"x", floats({1, 1, 3, 3}, iota(9))}});
    CHECK_THAT(e.message, Catch::Contains("kernel_shape [3,3] does not match weight W [1,1,2,2]"));
  }
  SECTION("a window larger than the padded input") {
    const auto e = run_error(conv_text({1, 1, 2, 2}, {1, 1, 3, 3}, std::vector<float>(9, 1), ""), {{"x", floats({1, 1, 2, 2}, iota(4))}});
    CHECK_THAT(e.message, Catch::Contains("Conv") && Catch::Contains("smaller"));
  }
  SECTION("pads of the wrong length") {
    const auto e = run_error(conv_text({1, 1, 3, 3}, {1, 1, 2, 2}, {1, 1, 1, 1}, "pads = [1, 1]"), {{"x", floats({1, 1, 3, 3}, iota(9))}});
    CHECK_THAT(e.message, Catch::Contains("pads has 2 values"));
  }
  SECTION("an unknown attribute") {
    const auto e = run_error(conv_text({1, 1, 3, 3}, {1, 1, 2, 2}, {1, 1, 1, 1}, "padding = 1"), {{"x", floats({1, 1, 3, 3}, iota(9))}});
    CHECK(e.code == mq::errc::unsupported);
    CHECK_THAT(e.message, Catch::Contains("attribute 'padding' of Conv") && Catch::Contains("Conv#0"));
  }
  SECTION("an auto_pad value that does not exist") {
    const auto e = run_error(conv_text({1, 1, 3, 3}, {1, 1, 2, 2}, {1, 1, 1, 1}, "auto_pad = \"SAME\""), {{"x", floats({1, 1, 3, 3}, iota(9))}});
    CHECK(e.code == mq::errc::invalid_model);
    CHECK_THAT(e.message, Catch::Contains("auto_pad 'SAME'"));
  }
  SECTION("an element type it does not compute") {
    const auto e = run_error(R"(
<ir_version: 8, opset_import: ["" : 13]>
g (double[1, 1, 2, 2] x, double[1, 1, 1, 1] w) => (double y) {
  y = Conv(x, w)
}
)",
                             {{"x", mq::tensor::from<double>({1, 1, 2, 2}, std::vector<double>{1, 2, 3, 4})}, {"w", mq::tensor::from<double>({1, 1, 1, 1}, std::vector<double>{1})}});
    CHECK(e.code == mq::errc::unsupported);
    CHECK_THAT(e.message, Catch::Contains("element type double"));
  }
}

// ---- Conv: randomized against a direct convolution ----------------------------------------------

namespace {

struct conv_geometry {
  shape x;  // N, C, spatial (1 or 2 axes)
  std::int64_t m;
  shape kernel;
  shape strides, dilations, pads;  // pads: begin values then end values
  std::int64_t group;
  std::string auto_pad;  // "" = NOTSET
};

// Output sizes and the begin pads of `g` per the spec (computed independently of the executor).
void spec_windows(const conv_geometry& g, shape& out, shape& pad_begin) {
  const std::size_t r = g.kernel.size();
  out.clear();
  pad_begin.clear();
  for (std::size_t i = 0; i < r; ++i) {
    const std::int64_t in = g.x[i + 2];
    const std::int64_t span = (g.kernel[i] - 1) * g.dilations[i] + 1;
    if (g.auto_pad == "SAME_UPPER" || g.auto_pad == "SAME_LOWER") {
      const std::int64_t o = (in + g.strides[i] - 1) / g.strides[i];
      const std::int64_t total = std::max<std::int64_t>(0, (o - 1) * g.strides[i] + span - in);
      out.push_back(o);
      pad_begin.push_back(g.auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2);
    } else {
      const std::int64_t pb = g.pads[i];
      const std::int64_t pe = g.pads[i + r];
      out.push_back((in + pb + pe - span) / g.strides[i] + 1);
      pad_begin.push_back(pb);
    }
  }
}

// y[n, m, o...] = b[m] + sum over the group's channels and taps, in double; `scale` gets the sum of
// the magnitudes of the terms (the rounding bound of a float computation).
void direct_conv(const conv_geometry& g, const std::vector<float>& x, const std::vector<float>& w, const std::vector<float>& b,
                 std::vector<double>& y, std::vector<double>& scale) {
  shape out, pb;
  spec_windows(g, out, pb);
  // 1-D as 2-D with a height of one.
  const bool one = g.kernel.size() == 1;
  const std::int64_t n = g.x[0], c = g.x[1];
  const std::int64_t h = one ? 1 : g.x[2], wd = g.x.back();
  const std::int64_t kh = one ? 1 : g.kernel[0], kw = g.kernel.back();
  const std::int64_t sh = one ? 1 : g.strides[0], sw = g.strides.back();
  const std::int64_t dh = one ? 1 : g.dilations[0], dw = g.dilations.back();
  const std::int64_t ph = one ? 0 : pb[0], pw = pb.back();
  const std::int64_t oh = one ? 1 : out[0], ow = out.back();
  const std::int64_t cg = c / g.group, mg = g.m / g.group;
  y.assign(static_cast<std::size_t>(n * g.m * oh * ow), 0.0);
  scale.assign(y.size(), 0.0);
  for (std::int64_t img = 0; img < n; ++img) {
    for (std::int64_t oc = 0; oc < g.m; ++oc) {
      const std::int64_t grp = oc / mg;
      for (std::int64_t oy = 0; oy < oh; ++oy) {
        for (std::int64_t ox = 0; ox < ow; ++ox) {
          double sum = b.empty() ? 0.0 : b[static_cast<std::size_t>(oc)];
          double mag = std::fabs(sum);
          for (std::int64_t ic = 0; ic < cg; ++ic) {
            for (std::int64_t i = 0; i < kh; ++i) {
              for (std::int64_t j = 0; j < kw; ++j) {
                const std::int64_t iy = oy * sh - ph + i * dh;
                const std::int64_t ix = ox * sw - pw + j * dw;
                if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
                const double xv = x[static_cast<std::size_t>(((img * c + grp * cg + ic) * h + iy) * wd + ix)];
                const double wv = w[static_cast<std::size_t>(((oc * cg + ic) * kh + i) * kw + j)];
                sum += xv * wv;
                mag += std::fabs(xv * wv);
              }
            }
          }
          const auto at = static_cast<std::size_t>(((img * g.m + oc) * oh + oy) * ow + ox);
          y[at] = sum;
          scale[at] = mag;
        }
      }
    }
  }
}

std::string geometry_attrs(const conv_geometry& g) {
  std::string a = "strides = " + ints_text(g.strides) + ", dilations = " + ints_text(g.dilations) + ", group = " + std::to_string(g.group);
  if (g.auto_pad.empty()) a += ", pads = " + ints_text(g.pads);
  else a += ", auto_pad = \"" + g.auto_pad + "\"";
  return a;
}

}  // namespace

TEST_CASE("Conv: random geometries match a direct convolution", "[exec][conv]") {
  const std::vector<conv_geometry> cases = {
      {{1, 3, 7, 6}, 4, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}, 1, ""},
      {{2, 4, 9, 8}, 6, {3, 2}, {2, 3}, {1, 1}, {0, 1, 2, 0}, 2, ""},          // strides, asymmetric pads, groups
      {{1, 2, 10, 9}, 3, {3, 3}, {1, 2}, {2, 3}, {2, 0, 1, 3}, 1, ""},         // dilations
      {{1, 5, 8, 8}, 5, {3, 3}, {2, 2}, {1, 1}, {1, 1, 1, 1}, 5, ""},          // depthwise, stride 2
      {{2, 4, 6, 7}, 4, {5, 3}, {1, 1}, {1, 2}, {0, 0, 0, 0}, 4, "SAME_UPPER"},  // depthwise, SAME
      {{1, 6, 5, 5}, 12, {3, 3}, {1, 1}, {1, 1}, {0, 0, 0, 0}, 3, "SAME_LOWER"},  // 4 outputs per group
      {{1, 8, 4, 5}, 16, {1, 1}, {1, 1}, {1, 1}, {0, 0, 0, 0}, 1, ""},         // pointwise
      {{3, 6, 4, 4}, 4, {1, 1}, {1, 1}, {1, 1}, {0, 0, 0, 0}, 2, ""},          // pointwise, groups
      {{1, 3, 5, 6}, 2, {1, 1}, {2, 2}, {1, 1}, {0, 0, 1, 1}, 1, ""},          // 1x1, strided, padded
      {{2, 3, 17}, 4, {5}, {2}, {1}, {2, 1}, 1, ""},                           // 1-D
      {{1, 4, 12}, 4, {3}, {1}, {3}, {0, 0}, 4, "SAME_UPPER"},                 // 1-D depthwise, dilated
      {{1, 2, 9}, 6, {4}, {3}, {1}, {0, 0}, 2, "VALID"},                       // 1-D grouped, VALID
      {{1, 16, 20, 20}, 24, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}, 1, ""},      // big enough for threads
  };
  std::mt19937 rng(20240611);
  for (std::size_t t = 0; t < cases.size(); ++t) {
    const conv_geometry& g = cases[t];
    shape ws = {g.m, g.x[1] / g.group};
    for (auto k : g.kernel) ws.push_back(k);
    const auto x = random_values(rng, count_of(g.x));
    const auto w = random_values(rng, count_of(ws));
    const auto b = random_values(rng, g.m);
    std::vector<double> want, scale;
    direct_conv(g, x, w, b, want, scale);
    INFO("case " << t << ": " << geometry_attrs(g));
    const std::string constant = conv_text(g.x, ws, w, geometry_attrs(g), b);
    const auto got = run_values(constant, {{"x", floats(g.x, x)}});
    check_close(got, want, scale);
    // The same with the weights as inputs (packed at run time), and on three threads.
    const std::string runtime = "<ir_version: 8, opset_import: [\"\" : 13]>\ng (float" + dims_text(g.x) + " x, float" + dims_text(ws) +
                                " w, float[" + std::to_string(g.m) + "] b) => (float y) {\n  y = Conv<" + geometry_attrs(g) +
                                ">(x, w, b)\n}\n";
    const auto got_runtime = run_values(runtime, {{"x", floats(g.x, x)}, {"w", floats(ws, w)}, {"b", floats({g.m}, b)}});
    check_close(got_runtime, want, scale);
    CHECK(run_values(constant, {{"x", floats(g.x, x)}}, "y", 3) == got);
  }
}

// ---- ConvTranspose ------------------------------------------------------------------------------

namespace {

std::string conv_transpose_text(const shape& xs, const shape& ws, const std::vector<float>& w, const std::string& attrs,
                                const std::vector<float>& b = {}) {
  std::string init = "float" + dims_text(ws) + " w = " + list_text(w);
  if (!b.empty()) init += ", float[" + std::to_string(b.size()) + "] b = " + list_text(b);
  return "<ir_version: 8, opset_import: [\"\" : 13]>\ng (float" + dims_text(xs) + " x) => (float y) <" + init +
         "> {\n  y = ConvTranspose" + (attrs.empty() ? "" : "<" + attrs + ">") + "(x, w" + (b.empty() ? "" : ", b") + ")\n}\n";
}

}  // namespace

TEST_CASE("ConvTranspose: exact values", "[exec][conv]") {
  const auto x4 = floats({1, 1, 2, 2}, {1, 2, 3, 4});
  const std::vector<float> ones4(4, 1);
  SECTION("stride 1: every input spreads over a 2x2 block") {
    CHECK(run_values(conv_transpose_text({1, 1, 2, 2}, {1, 1, 2, 2}, ones4, ""), {{"x", x4}}) ==
          std::vector<float>{1, 3, 2, 4, 10, 6, 3, 7, 4});
  }
  SECTION("stride 2: the blocks do not overlap; bias everywhere") {
    CHECK(run_values(conv_transpose_text({1, 1, 2, 2}, {1, 1, 2, 2}, ones4, "strides = [2, 2]", {0.5f}), {{"x", x4}}) ==
          std::vector<float>{1.5f, 1.5f, 2.5f, 2.5f, 1.5f, 1.5f, 2.5f, 2.5f, 3.5f, 3.5f, 4.5f, 4.5f, 3.5f, 3.5f, 4.5f, 4.5f});
  }
  SECTION("pads crop the full output") {
    CHECK(run_values(conv_transpose_text({1, 1, 2, 2}, {1, 1, 2, 2}, ones4, "pads = [1, 1, 1, 1]"), {{"x", x4}}) ==
          std::vector<float>{10});
    CHECK(run_values(conv_transpose_text({1, 1, 2, 2}, {1, 1, 2, 2}, ones4, "pads = [1, 0, 0, 1]"), {{"x", x4}}) ==
          std::vector<float>{4, 10, 3, 7});
  }
  SECTION("output_padding adds rows and columns that only the bias reaches") {
    CHECK(run_values(conv_transpose_text({1, 1, 1, 2}, {1, 1, 1, 1}, {2}, "strides = [2, 2], output_padding = [1, 1]", {1}),
                     {{"x", floats({1, 1, 1, 2}, {1, 2})}}) == std::vector<float>{3, 1, 5, 1, 1, 1, 1, 1});
  }
  SECTION("dilations spread the taps") {
    // 1-D: x [1, 2], w [1, 10] dilated 2: y = [1, 2, 10, 20].
    CHECK(run_values(conv_transpose_text({1, 1, 2}, {1, 1, 2}, {1, 10}, "dilations = [2]"), {{"x", floats({1, 1, 2}, {1, 2})}}) ==
          std::vector<float>{1, 2, 10, 20});
  }
  SECTION("1-D with output_shape and SAME_UPPER: the odd pad goes to the end") {
    // Full output of x [1, 2, 3] with w [1, 1, 1], stride 2: [1, 1, 3, 2, 5, 3, 3]; output 6 crops 1.
    const auto x = floats({1, 1, 3}, {1, 2, 3});
    CHECK(run_values(conv_transpose_text({1, 1, 3}, {1, 1, 3}, {1, 1, 1}, "strides = [2], auto_pad = \"SAME_UPPER\""), {{"x", x}}) ==
          std::vector<float>{1, 1, 3, 2, 5, 3});
    CHECK(run_values(conv_transpose_text({1, 1, 3}, {1, 1, 3}, {1, 1, 1}, "strides = [2], auto_pad = \"SAME_LOWER\""), {{"x", x}}) ==
          std::vector<float>{1, 3, 2, 5, 3, 3});
    // output_shape (NOTSET): the odd pad at the beginning.
    CHECK(run_values(conv_transpose_text({1, 1, 3}, {1, 1, 3}, {1, 1, 1}, "strides = [2], output_shape = [6]"), {{"x", x}}) ==
          std::vector<float>{1, 3, 2, 5, 3, 3});
    CHECK(run_values(conv_transpose_text({1, 1, 3}, {1, 1, 3}, {1, 1, 1}, "strides = [2], output_shape = [5]"), {{"x", x}}) ==
          std::vector<float>{1, 3, 2, 5, 3});
  }
  SECTION("groups: each group's outputs come from its own inputs") {
    // Two groups of one input channel, two output channels each: w[c, m] scalars.
    CHECK(run_values(conv_transpose_text({1, 2, 1, 1}, {2, 2, 1, 1}, {1, 2, 3, 4}, "group = 2"), {{"x", floats({1, 2, 1, 1}, {10, 100})}}) ==
          std::vector<float>{10, 20, 300, 400});
  }
  SECTION("errors name the node") {
    const auto e = run_error(conv_transpose_text({1, 2, 2, 2}, {1, 1, 2, 2}, ones4, ""), {{"x", floats({1, 2, 2, 2}, iota(8))}});
    CHECK_THAT(e.message, Catch::Contains("ConvTranspose") && Catch::Contains("2 channels"));
  }
}

TEST_CASE("ConvTranspose: random geometries match a scatter of every input", "[exec][conv]") {
  struct geometry {
    shape x;
    std::int64_t mg;
    shape kernel, strides, dilations, pads, output_padding;
    std::int64_t group;
  };
  const std::vector<geometry> cases = {
      {{1, 3, 4, 5}, 2, {3, 3}, {2, 2}, {1, 1}, {1, 0, 1, 1}, {1, 0}, 1},
      {{2, 4, 3, 3}, 3, {2, 3}, {1, 2}, {2, 1}, {0, 0, 0, 0}, {0, 1}, 2},
      {{1, 2, 6}, 2, {4}, {3}, {1}, {1, 2}, {2}, 1},
      {{1, 2, 2, 3, 2}, 1, {2, 2, 2}, {2, 1, 2}, {1, 1, 1}, {0, 1, 0, 0, 0, 1}, {1, 0, 0}, 1},
  };
  std::mt19937 rng(7);
  for (std::size_t t = 0; t < cases.size(); ++t) {
    const geometry& g = cases[t];
    const std::size_t r = g.kernel.size();
    shape ws = {g.x[1], g.mg};
    for (auto k : g.kernel) ws.push_back(k);
    const std::int64_t m = g.mg * g.group;
    const auto x = random_values(rng, count_of(g.x));
    const auto w = random_values(rng, count_of(ws));
    const auto b = random_values(rng, m);
    // Output: (in - 1) * s + op + (k - 1) * d + 1 - pads, padded to three axes for the loops.
    shape out(3, 1), in(3, 1), k(3, 1), s(3, 1), d(3, 1), p(3, 0);
    for (std::size_t i = 0; i < r; ++i) {
      const std::size_t j = 3 - r + i;
      in[j] = g.x[i + 2];
      k[j] = g.kernel[i];
      s[j] = g.strides[i];
      d[j] = g.dilations[i];
      p[j] = g.pads[i];
      out[j] = (in[j] - 1) * s[j] + g.output_padding[i] + (k[j] - 1) * d[j] + 1 - g.pads[i] - g.pads[i + r];
    }
    const std::int64_t n = g.x[0], c = g.x[1], cg = c / g.group;
    const std::int64_t osz = out[0] * out[1] * out[2], isz = in[0] * in[1] * in[2], ksz = k[0] * k[1] * k[2];
    std::vector<double> want(static_cast<std::size_t>(n * m * osz)), scale(want.size());
    for (std::int64_t img = 0; img < n; ++img) {
      for (std::int64_t oc = 0; oc < m; ++oc) {
        for (std::int64_t i = 0; i < osz; ++i) {
          want[static_cast<std::size_t>((img * m + oc) * osz + i)] = b[static_cast<std::size_t>(oc)];
          scale[static_cast<std::size_t>((img * m + oc) * osz + i)] = std::fabs(b[static_cast<std::size_t>(oc)]);
        }
      }
      for (std::int64_t ic = 0; ic < c; ++ic) {
        const std::int64_t grp = ic / cg;
        for (std::int64_t ip = 0; ip < isz; ++ip) {
          const std::int64_t i0 = ip / (in[1] * in[2]), i1 = (ip / in[2]) % in[1], i2 = ip % in[2];
          for (std::int64_t om = 0; om < g.mg; ++om) {
            for (std::int64_t kp = 0; kp < ksz; ++kp) {
              const std::int64_t k0 = kp / (k[1] * k[2]), k1 = (kp / k[2]) % k[1], k2 = kp % k[2];
              const std::int64_t o0 = i0 * s[0] - p[0] + k0 * d[0], o1 = i1 * s[1] - p[1] + k1 * d[1], o2 = i2 * s[2] - p[2] + k2 * d[2];
              if (o0 < 0 || o0 >= out[0] || o1 < 0 || o1 >= out[1] || o2 < 0 || o2 >= out[2]) continue;
              const double term = static_cast<double>(x[static_cast<std::size_t>((img * c + ic) * isz + ip)]) *
                                  w[static_cast<std::size_t>((ic * g.mg + om) * ksz + kp)];
              const auto at = static_cast<std::size_t>((img * m + grp * g.mg + om) * osz + (o0 * out[1] + o1) * out[2] + o2);
              want[at] += term;
              scale[at] += std::fabs(term);
            }
          }
        }
      }
    }
    const std::string attrs = "strides = " + ints_text(g.strides) + ", dilations = " + ints_text(g.dilations) +
                              ", pads = " + ints_text(g.pads) + ", output_padding = " + ints_text(g.output_padding) +
                              ", group = " + std::to_string(g.group);
    INFO("case " << t << ": " << attrs);
    const std::string text = conv_transpose_text(g.x, ws, w, attrs, b);
    const auto got = run_values(text, {{"x", floats(g.x, x)}});
    check_close(got, want, scale);
    CHECK(run_values(text, {{"x", floats(g.x, x)}}, "y", 3) == got);
  }
}

// ---- MatMul and Gemm ----------------------------------------------------------------------------

TEST_CASE("MatMul: exact values, 1-D operands and batch broadcasting", "[exec][matmul]") {
  const char* text = R"(
<ir_version: 8, opset_import: ["" : 13]>
g (float%s a, float%s b) => (float y) {
  y = MatMul(a, b)
}
)";
  auto model = [&](const shape& sa, const shape& sb) {
    char buf[512];
    std::snprintf(buf, sizeof buf, text, dims_text(sa).c_str(), dims_text(sb).c_str());
    return std::string(buf);
  };
  auto run = [&](const shape& sa, const std::vector<float>& a, const shape& sb, const std::vector<float>& b) {
    mq::session_options o;
    auto out = run_text(model(sa, sb), {{"a", floats(sa, a)}, {"b", floats(sb, b)}}, o);
    if (!out) FAIL(out.error().message);
    return out->at("y");
  };
  SECTION("2-D") {
    // [1 2; 3 4] [5 6; 7 8] = [19 22; 43 50].
    const auto y = run({2, 2}, {1, 2, 3, 4}, {2, 2}, {5, 6, 7, 8});
    CHECK(y.shape == shape{2, 2});
    CHECK(values_of(y) == std::vector<float>{19, 22, 43, 50});
  }
  SECTION("1-D operands lose their dimension") {
    const auto vm = run({2}, {1, 2}, {2, 3}, {1, 2, 3, 4, 5, 6});
    CHECK(vm.shape == shape{3});
    CHECK(values_of(vm) == std::vector<float>{9, 12, 15});
    const auto mv = run({2, 3}, {1, 2, 3, 4, 5, 6}, {3}, {1, 0, -1});
    CHECK(mv.shape == shape{2});
    CHECK(values_of(mv) == std::vector<float>{-2, -2});
    const auto vv = run({3}, {1, 2, 3}, {3}, {4, 5, 6});
    CHECK(vv.shape == shape{});
    CHECK(values_of(vv) == std::vector<float>{32});
    // A 1-D left operand against a batched right one: [2] x [2, 2, 1] -> [2, 1].
    const auto vb = run({2}, {1, 2}, {2, 2, 1}, {1, 2, 3, 4});
    CHECK(vb.shape == shape{2, 1});
    CHECK(values_of(vb) == std::vector<float>{5, 11});
  }
  SECTION("batch dimensions broadcast") {
    // a [2, 1, 1, 2] (two batches), b [3, 2, 1] (three batches): y [2, 3, 1, 1], y[i, j] = a_i . b_j.
    const auto y = run({2, 1, 1, 2}, {1, 0, 0, 1}, {3, 2, 1}, {1, 2, 3, 4, 5, 6});
    CHECK(y.shape == shape{2, 3, 1, 1});
    CHECK(values_of(y) == std::vector<float>{1, 3, 5, 2, 4, 6});
  }
  SECTION("integers") {
    auto out = run_text(R"(
<ir_version: 8, opset_import: ["" : 13]>
g (int64[2, 2] a, int64[2, 1] b) => (int64 y) {
  y = MatMul(a, b)
}
)",
                        {{"a", int64s({2, 2}, {1, -2, 3, 4})}, {"b", int64s({2, 1}, {5, 6})}});
    REQUIRE(out);
    CHECK(int_values(out->at("y")) == std::vector<std::int64_t>{-7, 39});
  }
  SECTION("shapes that do not multiply") {
    auto out = run_text(model({2, 3}, {2, 3}), {{"a", floats({2, 3}, iota(6))}, {"b", floats({2, 3}, iota(6))}});
    REQUIRE(!out);
    CHECK_THAT(out.error().message, Catch::Contains("node 'MatMul#0' (MatMul)") && Catch::Contains("inner dimensions 3 and 2"));
    auto batch = run_text(model({2, 1, 2}, {3, 2, 1}), {{"a", floats({2, 1, 2}, iota(4))}, {"b", floats({3, 2, 1}, iota(6))}});
    REQUIRE(!batch);
    CHECK_THAT(batch.error().message, Catch::Contains("do not broadcast"));
  }
}

TEST_CASE("MatMul: random shapes, constant and run-time weights, match a triple loop", "[exec][matmul]") {
  struct mm_case {
    shape a, b;
    bool constant_b;
  };
  const std::vector<mm_case> cases = {
      {{20, 7}, {7, 5}, true},        // packed (transposed product)
      {{3, 7}, {7, 5}, true},         // few rows: dense product over the columns
      {{2, 10, 7}, {7, 9}, true},     // batch rows flattened into the packed product
      {{1, 33}, {33, 40}, true},      // one row
      {{17, 6}, {6}, true},           // 1-D constant: one column
      {{2, 3, 4, 5}, {5, 6}, false},
      {{2, 1, 3, 4}, {3, 4, 2}, false},  // broadcast batch
      {{5, 8}, {2, 8, 3}, false},
  };
  std::mt19937 rng(99);
  for (std::size_t t = 0; t < cases.size(); ++t) {
    const mm_case& c = cases[t];
    const auto a = random_values(rng, count_of(c.a));
    const auto b = random_values(rng, count_of(c.b));
    // Oracle: numpy's rules, written out.
    shape sa = c.a, sb = c.b;
    if (sa.size() == 1) sa.insert(sa.begin(), 1);
    if (sb.size() == 1) sb.push_back(1);
    const std::int64_t m = sa[sa.size() - 2], k = sa.back(), n = sb.back();
    shape ba(sa.begin(), sa.end() - 2), bb(sb.begin(), sb.end() - 2);
    const std::size_t br = std::max(ba.size(), bb.size());
    ba.insert(ba.begin(), br - ba.size(), 1);
    bb.insert(bb.begin(), br - bb.size(), 1);
    shape batch(br);
    for (std::size_t i = 0; i < br; ++i) batch[i] = std::max(ba[i], bb[i]);
    const std::int64_t items = count_of(batch);
    std::vector<double> want, scale;
    for (std::int64_t it = 0; it < items; ++it) {
      std::int64_t rest = it, ia = 0, ib = 0, mula = 1, mulb = 1;
      for (std::size_t i = br; i-- > 0;) {
        const std::int64_t coord = rest % batch[i];
        rest /= batch[i];
        ia += (ba[i] == 1 ? 0 : coord) * mula;
        ib += (bb[i] == 1 ? 0 : coord) * mulb;
        mula *= ba[i];
        mulb *= bb[i];
      }
      for (std::int64_t i = 0; i < m; ++i) {
        for (std::int64_t j = 0; j < n; ++j) {
          double s = 0, mag = 0;
          for (std::int64_t kk = 0; kk < k; ++kk) {
            const double term = static_cast<double>(a[static_cast<std::size_t>((ia * m + i) * k + kk)]) * b[static_cast<std::size_t>((ib * k + kk) * n + j)];
            s += term;
            mag += std::fabs(term);
          }
          want.push_back(s);
          scale.push_back(mag);
        }
      }
    }
    INFO("case " << t << ": " << dims_text(c.a) << " x " << dims_text(c.b));
    std::string text;
    std::map<std::string, mq::tensor> feeds = {{"a", floats(c.a, a)}};
    if (c.constant_b) {
      text = "<ir_version: 8, opset_import: [\"\" : 13]>\ng (float" + dims_text(c.a) + " a) => (float y) <float" + dims_text(c.b) +
             " b = " + list_text(b) + "> {\n  y = MatMul(a, b)\n}\n";
    } else {
      text = "<ir_version: 8, opset_import: [\"\" : 13]>\ng (float" + dims_text(c.a) + " a, float" + dims_text(c.b) +
             " b) => (float y) {\n  y = MatMul(a, b)\n}\n";
      feeds["b"] = floats(c.b, b);
    }
    const auto got = run_values(text, feeds);
    check_close(got, want, scale);
    CHECK(run_values(text, feeds, "y", 3) == got);
  }
}

TEST_CASE("Gemm: transA, transB, alpha, beta and every broadcast of C", "[exec][matmul]") {
  SECTION("exact: the default, transposes, alpha and beta") {
    // A [1 2; 3 4], B [1 0; 1 1]: AB = [3 2; 7 4].
    auto gemm = [](const std::string& attrs, const shape& sa, const std::vector<float>& a, const shape& sb,
                   const std::vector<float>& b, const shape& sc, const std::vector<float>& c) {
      const std::string text = "<ir_version: 8, opset_import: [\"\" : 13]>\ng (float" + dims_text(sa) + " a, float" + dims_text(sb) +
                               " b" + (sc.empty() && c.empty() ? "" : ", float" + dims_text(sc) + " c") + ") => (float y) {\n  y = Gemm" +
                               (attrs.empty() ? "" : "<" + attrs + ">") + "(a, b" + (sc.empty() && c.empty() ? "" : ", c") + ")\n}\n";
      std::map<std::string, mq::tensor> feeds = {{"a", floats(sa, a)}, {"b", floats(sb, b)}};
      if (!c.empty()) feeds["c"] = floats(sc, c);
      return run_values(text, feeds);
    };
    CHECK(gemm("", {2, 2}, {1, 2, 3, 4}, {2, 2}, {1, 0, 1, 1}, {}, {}) == std::vector<float>{3, 2, 7, 4});
    // transA: A^T = [1 3; 2 4] -> A^T B = [4 3; 6 4].
    CHECK(gemm("transA = 1", {2, 2}, {1, 2, 3, 4}, {2, 2}, {1, 0, 1, 1}, {}, {}) == std::vector<float>{4, 3, 6, 4});
    // transB: B^T = [1 1; 0 1] -> A B^T = [1 3; 3 7].
    CHECK(gemm("transB = 1", {2, 2}, {1, 2, 3, 4}, {2, 2}, {1, 0, 1, 1}, {}, {}) == std::vector<float>{1, 3, 3, 7});
    // alpha 2, beta 0.5 with C per column [2, 4]: 2 AB + [1, 2].
    CHECK(gemm("alpha = 2.0, beta = 0.5", {2, 2}, {1, 2, 3, 4}, {2, 2}, {1, 0, 1, 1}, {2}, {2, 4}) == std::vector<float>{7, 6, 15, 10});
    // C scalar, [M, 1] and [M, N].
    CHECK(gemm("", {2, 2}, {1, 2, 3, 4}, {2, 2}, {1, 0, 1, 1}, {}, {10}) == std::vector<float>{13, 12, 17, 14});
    CHECK(gemm("", {2, 2}, {1, 2, 3, 4}, {2, 2}, {1, 0, 1, 1}, {2, 1}, {10, 20}) == std::vector<float>{13, 12, 27, 24});
    CHECK(gemm("", {2, 2}, {1, 2, 3, 4}, {2, 2}, {1, 0, 1, 1}, {2, 2}, {1, 2, 3, 4}) == std::vector<float>{4, 4, 10, 8});
    // A non-square case: [1, 3] x [3, 2] with transA on a [3, 1] A.
    CHECK(gemm("transA = 1", {3, 1}, {1, 2, 3}, {3, 2}, {1, 0, 0, 1, 1, 1}, {}, {}) == std::vector<float>{4, 5});
  }
  SECTION("C that does not broadcast") {
    const auto e = run_error(R"(
<ir_version: 8, opset_import: ["" : 13]>
g (float[2, 2] a, float[2, 2] b, float[3] c) => (float y) {
  y = Gemm(a, b, c)
}
)",
                             {{"a", floats({2, 2}, iota(4))}, {"b", floats({2, 2}, iota(4))}, {"c", floats({3}, iota(3))}});
    CHECK_THAT(e.message, Catch::Contains("Gemm") && Catch::Contains("C [3] does not broadcast to the output [2,2]"));
  }
  SECTION("random, constant B (packed) and run-time B, against a triple loop") {
    struct gemm_case {
      std::int64_t m, k, n;
      bool ta, tb;
      float alpha, beta;
      shape c;
      bool constant;
    };
    const std::vector<gemm_case> cases = {
        {20, 7, 5, false, true, 1.0f, 1.0f, {5}, true},      // Linear layer: bias as the epilogue
        {20, 7, 5, true, false, 0.5f, 2.0f, {1, 5}, true},
        {18, 9, 4, false, false, 1.5f, -1.0f, {18, 1}, true},  // general C after the product
        {16, 3, 6, true, true, 1.0f, 0.25f, {16, 6}, true},
        {3, 8, 7, false, true, 2.0f, 1.0f, {7}, true},       // few rows: dense product
        {19, 5, 3, false, false, 1.0f, 1.0f, {}, true},
        {12, 6, 10, true, true, 0.75f, 1.0f, {10}, false},
        {1, 40, 33, false, false, 1.0f, 1.0f, {1}, true},
    };
    std::mt19937 rng(5);
    for (std::size_t t = 0; t < cases.size(); ++t) {
      const gemm_case& g = cases[t];
      const shape sa = g.ta ? shape{g.k, g.m} : shape{g.m, g.k};
      const shape sb = g.tb ? shape{g.n, g.k} : shape{g.k, g.n};
      const auto a = random_values(rng, count_of(sa));
      const auto b = random_values(rng, count_of(sb));
      const auto c = random_values(rng, g.c.empty() ? 0 : count_of(g.c));
      std::vector<double> want, scale;
      for (std::int64_t i = 0; i < g.m; ++i) {
        for (std::int64_t j = 0; j < g.n; ++j) {
          double s = 0, mag = 0;
          for (std::int64_t kk = 0; kk < g.k; ++kk) {
            const double av = a[static_cast<std::size_t>(g.ta ? kk * g.m + i : i * g.k + kk)];
            const double bv = b[static_cast<std::size_t>(g.tb ? j * g.k + kk : kk * g.n + j)];
            s += av * bv;
            mag += std::fabs(av * bv);
          }
          s *= g.alpha;
          mag *= std::fabs(g.alpha);
          if (!g.c.empty()) {
            const std::int64_t ci = g.c.size() == 1 ? (g.c[0] == 1 ? 0 : j) : (g.c[0] == 1 ? 0 : i) * g.c[1] + (g.c[1] == 1 ? 0 : j);
            s += g.beta * c[static_cast<std::size_t>(ci)];
            mag += std::fabs(g.beta * c[static_cast<std::size_t>(ci)]);
          }
          want.push_back(s);
          scale.push_back(mag);
        }
      }
      // %.9f keeps a decimal point: "alpha = 1" would be an int attribute.
      char attrs[128];
      std::snprintf(attrs, sizeof attrs, "transA = %d, transB = %d, alpha = %.9f, beta = %.9f", g.ta ? 1 : 0, g.tb ? 1 : 0,
                    static_cast<double>(g.alpha), static_cast<double>(g.beta));
      const std::string c_arg = g.c.empty() ? "" : ", c";
      std::string text;
      std::map<std::string, mq::tensor> feeds = {{"a", floats(sa, a)}};
      if (g.constant) {
        std::string init = "float" + dims_text(sb) + " b = " + list_text(b);
        if (!g.c.empty()) init += ", float" + dims_text(g.c) + " c = " + list_text(c);
        text = "<ir_version: 8, opset_import: [\"\" : 13]>\ng (float" + dims_text(sa) + " a) => (float y) <" + init + "> {\n  y = Gemm<" +
               attrs + ">(a, b" + c_arg + ")\n}\n";
      } else {
        text = "<ir_version: 8, opset_import: [\"\" : 13]>\ng (float" + dims_text(sa) + " a, float" + dims_text(sb) + " b" +
               (g.c.empty() ? "" : ", float" + dims_text(g.c) + " c") + ") => (float y) {\n  y = Gemm<" + attrs + ">(a, b" + c_arg + ")\n}\n";
        feeds["b"] = floats(sb, b);
        if (!g.c.empty()) feeds["c"] = floats(g.c, c);
      }
      INFO("case " << t);
      const auto got = run_values(text, feeds);
      check_close(got, want, scale);
      CHECK(run_values(text, feeds, "y", 3) == got);
    }
  }
}

// ---- Pooling ------------------------------------------------------------------------------------

namespace {

std::string pool_text(const std::string& op, const shape& xs, const std::string& attrs, bool indices = false,
                      const char* type = "float") {
  return "<ir_version: 8, opset_import: [\"\" : 13]>\ng (" + std::string(type) + dims_text(xs) + " x) => (" + type + " y" +
         (indices ? ", int64 i" : "") + ") {\n  " + (indices ? "y, i" : "y") + " = " + op + (attrs.empty() ? "" : "<" + attrs + ">") +
         "(x)\n}\n";
}

}  // namespace

TEST_CASE("MaxPool: windows, Indices in both storage orders, dilations, ceil_mode, auto_pad", "[exec][pool]") {
  const auto x16 = floats({1, 1, 4, 4}, {1, 5, 2, 0, 3, 4, 8, 7, 9, 1, 0, 6, 2, 2, 3, 11});
  SECTION("2x2 stride 2 with Indices") {
    auto out = run_text(pool_text("MaxPool", {1, 1, 4, 4}, "kernel_shape = [2, 2], strides = [2, 2]", true), {{"x", x16}});
    REQUIRE(out);
    CHECK(values_of(out->at("y")) == std::vector<float>{5, 8, 9, 11});
    CHECK(int_values(out->at("i")) == std::vector<std::int64_t>{1, 6, 8, 15});
    // Column-major indices: row + col * height.
    auto cm = run_text(pool_text("MaxPool", {1, 1, 4, 4}, "kernel_shape = [2, 2], strides = [2, 2], storage_order = 1", true), {{"x", x16}});
    REQUIRE(cm);
    CHECK(int_values(cm->at("i")) == std::vector<std::int64_t>{4, 9, 2, 15});
  }
  SECTION("indices count the planes before (batch and channel)") {
    auto out = run_text(pool_text("MaxPool", {2, 1, 1, 2}, "kernel_shape = [1, 2]", true), {{"x", floats({2, 1, 1, 2}, {3, 1, 2, 4})}});
    REQUIRE(out);
    CHECK(values_of(out->at("y")) == std::vector<float>{3, 4});
    CHECK(int_values(out->at("i")) == std::vector<std::int64_t>{0, 3});
  }
  SECTION("pads are never the maximum, even over negative values") {
    CHECK(run_values(pool_text("MaxPool", {1, 1, 2, 2}, "kernel_shape = [2, 2], pads = [1, 1, 1, 1]"),
                     {{"x", floats({1, 1, 2, 2}, {-1, -2, -3, -4})}}) == std::vector<float>{-1, -1, -2, -1, -1, -2, -3, -3, -4});
  }
  SECTION("dilations 2 on a 4x4 take every other element") {
    // (0,0): 1 2 9 0; (0,1): 5 0 1 6; (1,0): 3 8 2 3; (1,1): 4 7 2 11.
    CHECK(run_values(pool_text("MaxPool", {1, 1, 4, 4}, "kernel_shape = [2, 2], dilations = [2, 2]"), {{"x", x16}}) ==
          std::vector<float>{9, 6, 8, 11});
  }
  SECTION("ceil_mode keeps the partial last window") {
    // 1-D over [1 2 3 4 5], kernel 2 stride 2: floor gives 2 windows, ceil 3 (the last is [5]).
    const auto x = floats({1, 1, 5}, {1, 2, 3, 4, 5});
    CHECK(run_values(pool_text("MaxPool", {1, 1, 5}, "kernel_shape = [2], strides = [2]"), {{"x", x}}) == std::vector<float>{2, 4});
    CHECK(run_values(pool_text("MaxPool", {1, 1, 5}, "kernel_shape = [2], strides = [2], ceil_mode = 1"), {{"x", x}}) ==
          std::vector<float>{2, 4, 5});
  }
  SECTION("SAME_UPPER and SAME_LOWER") {
    const auto x = floats({1, 1, 4}, {1, 4, 2, 3});
    // kernel 2, stride 1, pad 1: at the end (upper) or the beginning (lower).
    CHECK(run_values(pool_text("MaxPool", {1, 1, 4}, "kernel_shape = [2], auto_pad = \"SAME_UPPER\""), {{"x", x}}) ==
          std::vector<float>{4, 4, 3, 3});
    CHECK(run_values(pool_text("MaxPool", {1, 1, 4}, "kernel_shape = [2], auto_pad = \"SAME_LOWER\""), {{"x", x}}) ==
          std::vector<float>{1, 4, 4, 3});
  }
  SECTION("uint8") {
    auto out = run_text(pool_text("MaxPool", {1, 1, 1, 3}, "kernel_shape = [1, 2]", false, "uint8"),
                        {{"x", mq::tensor::from<std::uint8_t>({1, 1, 1, 3}, std::vector<std::uint8_t>{200, 7, 255})}});
    REQUIRE(out);
    const auto& y = out->at("y");
    REQUIRE(y.type == mq::dtype::uint8);
    CHECK(std::vector<std::uint8_t>(reinterpret_cast<const std::uint8_t*>(y.data.data()), reinterpret_cast<const std::uint8_t*>(y.data.data()) + 2) ==
          std::vector<std::uint8_t>{200, 255});
  }
  SECTION("errors") {
    const auto e = run_error(pool_text("MaxPool", {1, 1, 4, 4}, "kernel_shape = [2]"), {{"x", x16}});
    CHECK_THAT(e.message, Catch::Contains("MaxPool") && Catch::Contains("kernel_shape has 1 values"));
    const auto u = run_error(pool_text("MaxPool", {1, 1, 4, 4}, "kernel_shape = [2, 2], foo = 1"), {{"x", x16}});
    CHECK(u.code == mq::errc::unsupported);
    const auto k = run_error(pool_text("MaxPool", {1, 1, 4, 4}, ""), {{"x", x16}});
    CHECK_THAT(k.message, Catch::Contains("kernel_shape") && Catch::Contains("required"));
  }
}

TEST_CASE("MaxPool: the separable float path equals the window walk, NaN and -inf included", "[exec][pool]") {
  // Without the Indices output float 2-D MaxPool runs separably (rows, then columns); asking for
  // Indices takes the per-window walk. Both must give the same values on every geometry.
  std::mt19937 rng(20261203);
  std::uniform_real_distribution<float> u(-5.0f, 5.0f);
  const char* geometries[] = {"kernel_shape = [5, 5], pads = [2, 2, 2, 2]",
                              "kernel_shape = [3, 3], strides = [2, 2], pads = [1, 1, 1, 1]",
                              "kernel_shape = [2, 3], strides = [1, 2]",
                              "kernel_shape = [3, 3], strides = [2, 2], ceil_mode = 1",
                              "kernel_shape = [4, 1], pads = [0, 0, 3, 0]"};
  for (const char* g : geometries) {
    INFO(g);
    std::vector<float> v(2 * 3 * 9 * 11);
    for (auto& x : v) x = u(rng);
    v[0] = std::numeric_limits<float>::quiet_NaN();
    v[17] = std::numeric_limits<float>::quiet_NaN();
    v[40] = -std::numeric_limits<float>::infinity();
    v[41] = std::numeric_limits<float>::infinity();
    const auto x = floats({2, 3, 9, 11}, v);
    auto fast = run_text(pool_text("MaxPool", {2, 3, 9, 11}, g), {{"x", x}});
    auto walk = run_text(pool_text("MaxPool", {2, 3, 9, 11}, g, true), {{"x", x}});
    REQUIRE(fast);
    REQUIRE(walk);
    const auto a = values_of(fast->at("y"));
    const auto b = values_of(walk->at("y"));
    REQUIRE(a.size() == b.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
      INFO(i << ": separable " << a[i] << ", window walk " << b[i]);
      CHECK(((std::isnan(a[i]) && std::isnan(b[i])) || a[i] == b[i]));
    }
  }
}

TEST_CASE("AveragePool, LpPool, the global pools and MaxUnpool", "[exec][pool]") {
  const auto x9 = floats({1, 1, 3, 3}, iota(9, 1));  // 1..9
  SECTION("count_include_pad decides what the padded corners divide by") {
    // 2x2 windows over 1..9 padded by one at the beginning: the corner window holds only 1.
    CHECK(run_values(pool_text("AveragePool", {1, 1, 3, 3}, "kernel_shape = [2, 2], pads = [1, 1, 0, 0]"), {{"x", x9}}) ==
          std::vector<float>{1, 1.5f, 2.5f, 2.5f, 3, 4, 5.5f, 6, 7});
    CHECK(run_values(pool_text("AveragePool", {1, 1, 3, 3}, "kernel_shape = [2, 2], pads = [1, 1, 0, 0], count_include_pad = 1"),
                     {{"x", x9}}) == std::vector<float>{0.25f, 0.75f, 1.25f, 1.25f, 3, 4, 2.75f, 6, 7});
  }
  SECTION("strides and ceil_mode") {
    // 1-D [1..5], kernel 2, stride 2, ceil: [1.5, 3.5, 5].
    CHECK(run_values(pool_text("AveragePool", {1, 1, 5}, "kernel_shape = [2], strides = [2], ceil_mode = 1"),
                     {{"x", floats({1, 1, 5}, iota(5, 1))}}) == std::vector<float>{1.5f, 3.5f, 5});
  }
  SECTION("LpPool p = 2 and p = 1") {
    CHECK(run_values(pool_text("LpPool", {1, 1, 4}, "kernel_shape = [2], strides = [2]"), {{"x", floats({1, 1, 4}, {3, -4, 0, 5})}}) ==
          std::vector<float>{5, 5});
    CHECK(run_values(pool_text("LpPool", {1, 1, 4}, "kernel_shape = [2], p = 1"), {{"x", floats({1, 1, 4}, {3, -4, 0, 5})}}) ==
          std::vector<float>{7, 4, 5});
  }
  SECTION("global pools keep the rank with ones") {
    auto avg = run_text(pool_text("GlobalAveragePool", {1, 2, 2, 2}, ""), {{"x", floats({1, 2, 2, 2}, {1, 2, 3, 6, -1, -2, -3, -6})}});
    REQUIRE(avg);
    CHECK(avg->at("y").shape == shape{1, 2, 1, 1});
    CHECK(values_of(avg->at("y")) == std::vector<float>{3, -3});
    CHECK(run_values(pool_text("GlobalMaxPool", {1, 2, 2, 2}, ""), {{"x", floats({1, 2, 2, 2}, {1, 2, 3, 6, -1, -2, -3, -6})}}) ==
          std::vector<float>{6, -1});
    CHECK(run_values(pool_text("GlobalLpPool", {1, 1, 2}, ""), {{"x", floats({1, 1, 2}, {3, 4})}}) == std::vector<float>{5});
  }
  SECTION("MaxUnpool puts each value back at its index") {
    const char* text = R"(
<ir_version: 8, opset_import: ["" : 11]>
g (float[1, 1, 1, 2] x, int64[1, 1, 1, 2] i) => (float y) {
  y = MaxUnpool<kernel_shape = [2, 2], strides = [2, 2]>(x, i)
}
)";
    CHECK(run_values(text, {{"x", floats({1, 1, 1, 2}, {7, 9})}, {"i", int64s({1, 1, 1, 2}, {4, 3})}}) ==
          std::vector<float>{0, 0, 0, 9, 7, 0, 0, 0});
    const auto e = run_error(text, {{"x", floats({1, 1, 1, 2}, {7, 9})}, {"i", int64s({1, 1, 1, 2}, {4, 8})}});
    CHECK_THAT(e.message, Catch::Contains("MaxUnpool") && Catch::Contains("index 8 is out of range"));
  }
}

// ---- Normalizations -----------------------------------------------------------------------------

TEST_CASE("BatchNormalization and InstanceNormalization", "[exec][norm]") {
  SECTION("inference form per channel") {
    // Channel 0: scale 2, var 3, eps 1 -> a = 1; mean 1, B 0.5: y = x - 0.5.
    // Channel 1: scale 3, var 0 -> a = 3; mean 2, B -1: y = 3 (x - 2) - 1.
    const char* text = R"(
<ir_version: 8, opset_import: ["" : 15]>
g (float[1, 2, 2] x) => (float y) <float[2] s = {2, 3}, float[2] b = {0.5, -1}, float[2] m = {1, 2}, float[2] v = {3, 0}> {
  y = BatchNormalization<epsilon = 1.0>(x, s, b, m, v)
}
)";
    CHECK(run_values(text, {{"x", floats({1, 2, 2}, {1, 2, 3, 4})}}) == std::vector<float>{0.5f, 1.5f, 2, 5});
  }
  SECTION("training mode and training outputs are unsupported") {
    const auto e = run_error(R"(
<ir_version: 8, opset_import: ["" : 15]>
g (float[1, 1, 2] x) => (float y) <float[1] s = {1}, float[1] b = {0}, float[1] m = {0}, float[1] v = {1}> {
  y = BatchNormalization<training_mode = 1>(x, s, b, m, v)
}
)",
                             {{"x", floats({1, 1, 2}, {1, 2})}});
    CHECK(e.code == mq::errc::unsupported);
    CHECK_THAT(e.message, Catch::Contains("training_mode 1") && Catch::Contains("BatchNormalization#0"));
    const auto o = run_error(R"(
<ir_version: 8, opset_import: ["" : 9]>
g (float[1, 1, 2] x) => (float y, float rm) <float[1] s = {1}, float[1] b = {0}, float[1] m = {0}, float[1] v = {1}> {
  y, rm = BatchNormalization(x, s, b, m, v)
}
)",
                             {{"x", floats({1, 1, 2}, {1, 2})}});
    CHECK(o.code == mq::errc::unsupported);
  }
  SECTION("a scale of the wrong size names the node") {
    const auto e = run_error(R"(
<ir_version: 8, opset_import: ["" : 15]>
g (float[1, 2, 1] x) => (float y) <float[3] s = {1, 1, 1}, float[3] b = {0, 0, 0}, float[3] m = {0, 0, 0}, float[3] v = {1, 1, 1}> {
  y = BatchNormalization(x, s, b, m, v)
}
)",
                             {{"x", floats({1, 2, 1}, {1, 2})}});
    CHECK_THAT(e.message, Catch::Contains("BatchNormalization") && Catch::Contains("2 channels"));
  }
  SECTION("InstanceNormalization normalizes each plane") {
    // Plane [1 3]: mean 2, variance 1, eps 0 -> [-1 1] * 2 + 1; plane [10 14]: mean 12, variance 4
    // -> [-1 1] * 1 + 5.
    const char* text = R"(
<ir_version: 8, opset_import: ["" : 13]>
g (float[1, 2, 2] x) => (float y) <float[2] s = {2, 1}, float[2] b = {1, 5}> {
  y = InstanceNormalization<epsilon = 0.0>(x, s, b)
}
)";
    CHECK(run_values(text, {{"x", floats({1, 2, 2}, {1, 3, 10, 14})}}) == std::vector<float>{-1, 3, 4, 6});
  }
}

TEST_CASE("LayerNormalization: axes, Mean and InvStdDev, broadcast scale", "[exec][norm]") {
  const char* text = R"(
<ir_version: 8, opset_import: ["" : 17]>
g (float[2, 2] x) => (float y, float mean, float inv) <float[2] s = {1, 2}, float[2] b = {0, 10}> {
  y, mean, inv = LayerNormalization<axis = -1, epsilon = 0.0>(x, s, b)
}
)";
  // Rows [1 3] and [5 9]: means 2 and 7, standard deviations 1 and 2; both normalize to [-1 1].
  auto out = run_text(text, {{"x", floats({2, 2}, {1, 3, 5, 9})}});
  REQUIRE(out);
  CHECK(values_of(out->at("y")) == std::vector<float>{-1, 12, -1, 12});
  CHECK(out->at("mean").shape == shape{2, 1});
  CHECK(values_of(out->at("mean")) == std::vector<float>{2, 7});
  CHECK(values_of(out->at("inv")) == std::vector<float>{1, 0.5f});
  SECTION("axis 0 normalizes everything; a scalar scale broadcasts") {
    const char* all = R"(
<ir_version: 8, opset_import: ["" : 17]>
g (float[2, 2] x) => (float y) <float[1] s = {2}> {
  y = LayerNormalization<axis = 0, epsilon = 0.0>(x, s)
}
)";
    // 0, 2, 4, 6: mean 3, variance 5 -> (x - 3) / sqrt(5) * 2.
    const auto y = run_values(all, {{"x", floats({2, 2}, {0, 2, 4, 6})}});
    const float r = 2.0f / std::sqrt(5.0f);
    CHECK(y[0] == Approx(-3 * r));
    CHECK(y[3] == Approx(3 * r));
  }
  SECTION("an axis out of range") {
    const auto e = run_error(R"(
<ir_version: 8, opset_import: ["" : 17]>
g (float[2, 2] x) => (float y) <float[2] s = {1, 1}> {
  y = LayerNormalization<axis = 2>(x, s)
}
)",
                             {{"x", floats({2, 2}, iota(4))}});
    CHECK_THAT(e.message, Catch::Contains("LayerNormalization") && Catch::Contains("axis 2 is out of range for rank 2"));
  }
}

TEST_CASE("LRN and MeanVarianceNormalization", "[exec][norm]") {
  SECTION("LRN over a window of channels") {
    // size 3, alpha 3 (alpha / size = 1), beta 0.5, bias 1: y = x / sqrt(1 + sum of squares).
    // Channels [1], [2], [2]: sums 1+4, 1+4+4, 4+4.
    const auto y = run_values(R"(
<ir_version: 8, opset_import: ["" : 13]>
g (float[1, 3, 1, 1] x) => (float y) {
  y = LRN<size = 3, alpha = 3.0, beta = 0.5, bias = 1.0>(x)
}
)",
                              {{"x", floats({1, 3, 1, 1}, {1, 2, 2})}});
    CHECK(y[0] == Approx(1 / std::sqrt(6.0)));
    CHECK(y[1] == Approx(2 / std::sqrt(10.0)));
    CHECK(y[2] == Approx(2 / std::sqrt(9.0)));
  }
  SECTION("MVN over the given axes") {
    // axes [1]: each column of channels [1 3] and [2 6] normalizes to [-1 1].
    const auto y = run_values(R"(
<ir_version: 8, opset_import: ["" : 13]>
g (float[1, 2, 2] x) => (float y) {
  y = MeanVarianceNormalization<axes = [1]>(x)
}
)",
                              {{"x", floats({1, 2, 2}, {1, 2, 3, 6})}});
    REQUIRE(y.size() == 4);
    CHECK(y[0] == Approx(-1));
    CHECK(y[1] == Approx(-1));
    CHECK(y[2] == Approx(1));
    CHECK(y[3] == Approx(1));
  }
}

// ---- Fusions ------------------------------------------------------------------------------------

namespace {

// Runs `text` fused and unfused; both must succeed and agree within 1e-5 relative, and the Conv's
// output `c` must be fused away (fetching it fails) exactly when `fused` is set. Returns the fused
// values. When the unfused plan needs an operator not implemented yet, the check is skipped with a
// warning (it then runs once that operator lands).
std::vector<float> fused_matches_unfused(const std::string& text, const std::map<std::string, mq::tensor>& inputs,
                                         bool fused = true) {
  mq::session_options plain;
  plain.fuse = false;
  auto reference = run_text(text, inputs, plain);
  if (!reference && reference.error().code == mq::errc::unsupported &&
      reference.error().message.find("unsupported operator") != std::string::npos) {
    WARN("SKIPPED: " << reference.error().message);
    return {};
  }
  INFO(text);
  if (!reference) FAIL(reference.error().message);
  mq::model m = mq::test::to_model(mq::test::parse_text_model(text));
  auto session = mq::session::create(m);
  if (!session) FAIL(session.error().message);
  mq::run_options fetch;
  fetch.fetch = {"c"};
  auto fetched = session->run(inputs, fetch);
  CHECK(fetched.has_value() == !fused);
  if (!fetched) CHECK_THAT(fetched.error().message, Catch::Contains("fused into the node that reads it"));
  auto out = session->run(inputs);
  if (!out) FAIL(out.error().message);
  const auto want = values_of(reference->at("y"));
  const auto got = values_of(out->at("y"));
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    INFO("element " << i);
    CHECK(std::fabs(got[i] - want[i]) <= 1e-5f * std::max(1.0f, std::fabs(want[i])));
  }
  return got;
}

std::string conv_then(const std::string& tail, const std::string& extra_init = "", const std::string& outputs = "float y",
                      int opset = 13) {
  // 2 -> 3 channels, 3x3 kernel with pads, constant weights.
  std::vector<float> w(3 * 2 * 3 * 3);
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>((static_cast<int>(i) * 7) % 11 - 5) / 8.0f;
  std::string init = "float[3, 2, 3, 3] w = " + list_text(w) + ", float[3] cb = {0.25, -0.5, 1}";
  if (!extra_init.empty()) init += ", " + extra_init;
  return "<ir_version: 8, opset_import: [\"\" : " + std::to_string(opset) + "]>\ng (float[1, 2, 4, 5] x) => (" + outputs + ") <" + init +
         "> {\n  c = Conv<pads = [1, 1, 1, 1]>(x, w, cb)\n" + tail + "}\n";
}

std::map<std::string, mq::tensor> fusion_input() {
  std::mt19937 rng(3);
  return {{"x", floats({1, 2, 4, 5}, random_values(rng, 40))}};
}

}  // namespace

TEST_CASE("Fusions: Conv with the activation or BatchNormalization after it equals the unfused graph", "[exec][fuse]") {
  const auto x = fusion_input();
  SECTION("Relu") {
    const auto y = fused_matches_unfused(conv_then("  y = Relu(c)\n"), x);
    REQUIRE(!y.empty());
    bool any_zero = false;
    for (float v : y) {
      CHECK(v >= 0);
      any_zero = any_zero || v == 0;
    }
    CHECK(any_zero);  // the activation really ran
  }
  SECTION("BatchNormalization, and BatchNormalization then Relu") {
    const std::string bn =
        "float[3] s = {1.5, -0.5, 2}, float[3] bb = {0.1, 0.2, -0.3}, float[3] m = {0.5, -1, 0}, float[3] v = {0.25, 1, 4}";
    fused_matches_unfused(conv_then("  y = BatchNormalization<epsilon = 0.001>(c, s, bb, m, v)\n", bn), x);
    fused_matches_unfused(conv_then("  n = BatchNormalization(c, s, bb, m, v)\n  y = Relu(n)\n", bn), x);
  }
  SECTION("Clip (constant bounds), LeakyRelu, Sigmoid, HardSigmoid, HardSwish, Tanh") {
    fused_matches_unfused(conv_then("  y = Clip(c, lo, hi)\n", "float lo = {-0.5}, float hi = {0.75}"), x);
    fused_matches_unfused(conv_then("  y = Clip<min = -0.5, max = 0.75>(c)\n", "", "float y", 6), x);
    fused_matches_unfused(conv_then("  y = LeakyRelu<alpha = 0.2>(c)\n"), x);
    fused_matches_unfused(conv_then("  y = Sigmoid(c)\n"), x);
    fused_matches_unfused(conv_then("  y = HardSigmoid<alpha = 0.3, beta = 0.4>(c)\n"), x);
    fused_matches_unfused(conv_then("  y = HardSwish(c)\n", "", "float y", 14), x);
    fused_matches_unfused(conv_then("  y = Tanh(c)\n"), x);
  }
  SECTION("SiLU in both operand orders") {
    fused_matches_unfused(conv_then("  s = Sigmoid(c)\n  y = Mul(c, s)\n"), x);
    fused_matches_unfused(conv_then("  s = Sigmoid(c)\n  y = Mul(s, c)\n"), x);
  }
}

TEST_CASE("Fusions stay away from values others read", "[exec][fuse]") {
  const auto x = fusion_input();
  SECTION("a Conv output that is also a graph output keeps both values") {
    const std::string text = conv_then("  y = Relu(c)\n", "", "float y, float c");
    auto fused = run_text(text, x);
    REQUIRE(fused);
    mq::session_options plain;
    plain.fuse = false;
    auto reference = run_text(text, x, plain);
    REQUIRE(reference);
    CHECK(values_of(fused->at("c")) == values_of(reference->at("c")));
    CHECK(values_of(fused->at("y")) == values_of(reference->at("y")));
    bool negative = false;
    for (float v : values_of(fused->at("c"))) negative = negative || v < 0;
    CHECK(negative);  // c is the Conv's output, not the Relu's
  }
  SECTION("a Conv output with two readers is not fused") {
    fused_matches_unfused(conv_then("  r = Relu(c)\n  y = Add(r, c)\n"), x, false);
    // SiLU's Sigmoid output read by another node as well.
    fused_matches_unfused(conv_then("  s = Sigmoid(c)\n  p = Mul(c, s)\n  y = Add(p, s)\n"), x, false);
    // Clip with a bound computed at run time.
    fused_matches_unfused(conv_then("  h = Relu(hi)\n  y = Clip(c, lo, h)\n", "float lo = {-0.5}, float hi = {0.75}"), x, false);
  }
  SECTION("a fused-away intermediate cannot be fetched; without fusion it can") {
    const std::string text = conv_then("  y = Relu(c)\n");
    mq::model m = mq::test::to_model(mq::test::parse_text_model(text));
    mq::run_options fetch;
    fetch.fetch = {"c"};
    auto fused = mq::session::create(m);
    REQUIRE(fused);
    auto out = fused->run(x, fetch);
    REQUIRE(!out);
    CHECK_THAT(out.error().message, Catch::Contains("'c'") && Catch::Contains("fused"));
    mq::session_options plain;
    plain.fuse = false;
    auto unfused = mq::session::create(m, plain);
    REQUIRE(unfused);
    auto fetched = unfused->run(x, fetch);
    REQUIRE(fetched);
    CHECK(fetched->count("c") == 1);
  }
  SECTION("BatchNormalization with run-time statistics is not folded") {
    const std::string text =
        "<ir_version: 8, opset_import: [\"\" : 15]>\ng (float[1, 1, 1, 2] x, float[1] v) => (float y) <float[1, 1, 1, 1] w = {2}, "
        "float[1] s = {1}, float[1] b = {0}, float[1] m = {1}> {\n  c = Conv(x, w)\n  y = BatchNormalization<epsilon = 0.0>(c, s, b, m, v)\n}\n";
    // c = [2, 6]; (c - 1) / sqrt(4) = [0.5, 2.5].
    CHECK(run_values(text, {{"x", floats({1, 1, 1, 2}, {1, 3})}, {"v", floats({1}, {4})}}) == std::vector<float>{0.5f, 2.5f});
  }
}
