// The executor's detection, Einsum, loss, signal and remaining operators (lib/exec/ops/misc.cpp,
// signal.cpp, Scan 8 in control.cpp) on small models written as ONNX text. Expected values are
// worked out by hand from the ONNX operator spec (comments show the arithmetic); where the spec
// leaves a choice open (NonMaxSuppression's ties, RoiAlign's max mode, TfIdfVectorizer's counting)
// the expectation is ONNX Runtime's documented behaviour. Larger Einsum cases compare against
// plain loops written here from the definition (sum over the labels not in the output).
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <limits>
#include <numbers>
#include <string>
#include <vector>

#include "mq/session.h"
#include "support/exec_helpers.h"
#include "support/test_models.h"

using Catch::Contains;
using mq::test::floats;
using mq::test::int64s;
using mq::test::values_of;

namespace {

using i64 = std::int64_t;
using shape = std::vector<i64>;
using fvec = std::vector<float>;
using ivec = std::vector<i64>;

template <class T>
std::vector<T> elements(const mq::tensor& t) {
  std::vector<T> v(t.data.size() / sizeof(T));
  if (!v.empty()) std::memcpy(v.data(), t.data.data(), t.data.size());
  return v;
}

ivec ints(const mq::tensor& t) {
  REQUIRE(t.type == mq::dtype::int64);
  return elements<i64>(t);
}

mq::tensor scalar_f(float v) { return floats({}, {v}); }
mq::tensor scalar_i(i64 v) { return int64s({}, {v}); }

std::string model(int opset, const std::string& signature, const std::string& body, const std::string& extra_opsets = "") {
  return "<ir_version: 8, opset_import: [\"\" : " + std::to_string(opset) + extra_opsets + "]>\ng " + signature + " {\n" + body + "\n}\n";
}

// Parses the ONNX text and runs it. The graph's inputs and outputs are declared without shapes
// (written "float x", read as any rank: these tests feed several ranks to one signature), and a node
// input named "__absent__" becomes an absent optional input (the text format cannot start a list
// with one).
mq::result<std::map<std::string, mq::tensor>> run_model(std::string_view text, const std::map<std::string, mq::tensor>& inputs,
                                                        unsigned threads = 1) {
  onnx::ModelProto proto = mq::test::parse_text_model(text);
  auto* g = proto.mutable_graph();
  for (auto& v : *g->mutable_input()) v.mutable_type()->mutable_tensor_type()->clear_shape();
  for (auto& v : *g->mutable_output()) v.mutable_type()->mutable_tensor_type()->clear_shape();
  for (auto& n : *g->mutable_node()) {
    for (auto& in : *n.mutable_input()) {
      if (in == "__absent__") in.clear();
    }
  }
  mq::session_options options;
  options.threads = threads;
  auto s = mq::session::create(mq::test::to_model(proto), options);
  if (!s) return mq::unexpected_error{std::move(s).error()};
  return s->run(inputs);
}

std::map<std::string, mq::tensor> run_all(std::string_view text, const std::map<std::string, mq::tensor>& inputs, unsigned threads = 1) {
  auto out = run_model(text, inputs, threads);
  if (!out) FAIL(out.error().message);
  return *out;
}

mq::tensor run_ok(std::string_view text, const std::map<std::string, mq::tensor>& inputs, const std::string& name = "y",
                  unsigned threads = 1) {
  auto out = run_all(text, inputs, threads);
  REQUIRE(out.count(name) == 1);
  return out.at(name);
}

std::string run_error(std::string_view text, const std::map<std::string, mq::tensor>& inputs, mq::errc code) {
  auto out = run_model(text, inputs);
  REQUIRE(!out);
  CHECK(out.error().code == code);
  return out.error().message;
}

void check_close(const fvec& got, const fvec& want, double tol = 1e-5) {
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    INFO("element " << i);
    CHECK(got[i] == Approx(want[i]).margin(tol).epsilon(tol));
  }
}

// ---- NonMaxSuppression ----------------------------------------------------------------------------

const std::string nms_sig = "(float boxes, float scores, int64 m, float iou, float st) => (int64 y)";

mq::tensor nms(const mq::tensor& boxes, const mq::tensor& scores, i64 max_out, float iou, float score_threshold,
               const std::string& attrs = "") {
  return run_ok(model(11, nms_sig, "y = NonMaxSuppression" + attrs + "(boxes, scores, m, iou, st)"),
                {{"boxes", boxes}, {"scores", scores}, {"m", scalar_i(max_out)}, {"iou", scalar_f(iou)}, {"st", scalar_f(score_threshold)}});
}

}  // namespace

TEST_CASE("exec misc: NonMaxSuppression suppression by IoU, strict thresholds, ties by index", "[exec][misc]") {
  // Boxes as [y1, x1, y2, x2], all 1 x 1: b1 is b0 moved by 0.5 in x (IoU = 0.5 / 1.5 = 1/3), b2
  // moved by 0.1 (IoU with b0 = 0.9 / 1.1 = 0.818).
  const auto boxes = floats({1, 3, 4}, {0, 0, 1, 1, 0, 0.5f, 1, 1.5f, 0, 0.1f, 1, 1.1f});
  const auto scores = floats({1, 1, 3}, {0.9f, 0.8f, 0.85f});
  SECTION("by score: b0 kept, b2 suppressed by b0, b1 kept") {
    auto y = nms(boxes, scores, 10, 0.5f, 0.0f);
    CHECK(y.shape == shape{2, 3});
    CHECK(ints(y) == ivec{0, 0, 0, 0, 0, 1});
  }
  SECTION("an IoU equal to the threshold does not suppress (strictly greater does)") {
    CHECK(ints(nms(boxes, scores, 10, 1.0f / 3.0f, 0.0f)) == ivec{0, 0, 0, 0, 0, 1});
    CHECK(ints(nms(boxes, scores, 10, 0.3f, 0.0f)) == ivec{0, 0, 0});
  }
  SECTION("a score equal to score_threshold is dropped; max_output_boxes_per_class limits each class") {
    CHECK(ints(nms(boxes, scores, 10, 0.5f, 0.8f)) == ivec{0, 0, 0});
    CHECK(ints(nms(boxes, scores, 1, 0.5f, 0.0f)) == ivec{0, 0, 0});
    CHECK(nms(boxes, scores, 0, 0.5f, 0.0f).shape == shape{0, 3});
    // iou_threshold 1 suppresses nothing: all three by score.
    CHECK(ints(nms(boxes, scores, 10, 1.0f, 0.0f)) == ivec{0, 0, 0, 0, 0, 2, 0, 0, 1});
  }
  SECTION("equal scores go by the lower box index") {
    // Three disjoint boxes, scores 0.5, 0.7, 0.5: order 1, 0, 2.
    const auto disjoint = floats({1, 3, 4}, {0, 0, 1, 1, 0, 2, 1, 3, 0, 4, 1, 5});
    CHECK(ints(nms(disjoint, floats({1, 1, 3}, {0.5f, 0.7f, 0.5f}), 10, 0.5f, 0.0f)) == ivec{0, 0, 1, 0, 0, 0, 0, 0, 2});
    // Identical boxes with equal scores: the first is kept, the others suppressed (IoU 1).
    const auto same = floats({1, 3, 4}, {0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1});
    CHECK(ints(nms(same, floats({1, 1, 3}, {0.5f, 0.5f, 0.5f}), 10, 0.5f, 0.0f)) == ivec{0, 0, 0});
  }
  SECTION("corners in any order; a zero-area box neither suppresses nor is suppressed") {
    // b1 = b0 with its corners swapped (IoU 1): suppressed. b2 is a line inside b0 (area 0): kept.
    const auto b = floats({1, 3, 4}, {0, 0, 1, 1, 1, 1, 0, 0, 0.5f, 0, 0.5f, 1});
    CHECK(ints(nms(b, floats({1, 1, 3}, {0.9f, 0.8f, 0.7f}), 10, 0.1f, 0.0f)) == ivec{0, 0, 0, 0, 0, 2});
  }
  SECTION("center_point_box = 1: [x_center, y_center, width, height]") {
    // b0 centered at (0.5, 0.5), b1 at (0.6, 0.5): IoU 0.9/1.1 > 0.5; b2 far away.
    const auto c = floats({1, 3, 4}, {0.5f, 0.5f, 1, 1, 0.6f, 0.5f, 1, 1, 5, 5, 1, 1});
    CHECK(ints(nms(c, floats({1, 1, 3}, {0.9f, 0.95f, 0.1f}), 10, 0.5f, 0.0f, "<center_point_box = 1>")) == ivec{0, 0, 1, 0, 0, 2});
  }
  SECTION("batches and classes: ordered by batch, then class, then score") {
    const auto b = floats({2, 2, 4}, {0, 0, 1, 1, 0, 0.1f, 1, 1.1f, 0, 0, 1, 1, 0, 5, 1, 6});
    const auto s = floats({2, 2, 2}, {0.1f, 0.2f, 0.6f, 0.5f, 0.3f, 0.4f, 0.9f, 0.8f});
    // batch 0 (overlapping boxes): class 0 keeps box 1 (0.2), class 1 keeps box 0 (0.6).
    // batch 1 (disjoint boxes): class 0 keeps 1 then 0, class 1 keeps 0 then 1.
    CHECK(ints(nms(b, s, 5, 0.5f, 0.0f)) == ivec{0, 0, 1, 0, 1, 0, 1, 0, 1, 1, 0, 0, 1, 1, 0, 1, 1, 1});
  }
  SECTION("optional inputs absent: no box selected (max_output_boxes_per_class defaults to 0)") {
    auto y = run_ok(model(11, "(float boxes, float scores) => (int64 y)", "y = NonMaxSuppression(boxes, scores)"),
                    {{"boxes", boxes}, {"scores", scores}});
    CHECK(y.shape == shape{0, 3});
  }
  SECTION("errors") {
    const std::map<std::string, mq::tensor> bad_iou = {
        {"boxes", boxes}, {"scores", scores}, {"m", scalar_i(3)}, {"iou", scalar_f(1.5f)}, {"st", scalar_f(0)}};
    CHECK_THAT(run_error(model(11, nms_sig, "y = NonMaxSuppression(boxes, scores, m, iou, st)"), bad_iou, mq::errc::invalid_argument),
               Contains("node 'NonMaxSuppression#0' (NonMaxSuppression)") && Contains("iou_threshold must be in [0, 1]"));
    const std::map<std::string, mq::tensor> bad_scores = {
        {"boxes", boxes}, {"scores", floats({1, 1, 2}, {0, 0})}, {"m", scalar_i(3)}, {"iou", scalar_f(0.5f)}, {"st", scalar_f(0)}};
    CHECK_THAT(run_error(model(11, nms_sig, "y = NonMaxSuppression(boxes, scores, m, iou, st)"), bad_scores, mq::errc::invalid_argument),
               Contains("scores have shape [1,1,2]"));
    CHECK_THAT(run_error(model(11, nms_sig, "y = NonMaxSuppression <center_point_box = 2> (boxes, scores, m, iou, st)"), bad_iou,
                         mq::errc::invalid_model),
               Contains("center_point_box must be 0 or 1"));
  }
}

// ---- RoiAlign --------------------------------------------------------------------------------------

namespace {

// X[0, 0, y, x] = 4y + x on a 4 x 4 image: bilinear interpolation of a linear function is exact,
// so every sample inside the image is worth 4y + x at its coordinates.
mq::tensor ramp_image() {
  fvec v(16);
  for (int i = 0; i < 16; ++i) v[static_cast<std::size_t>(i)] = static_cast<float>(i);
  return floats({1, 1, 4, 4}, v);
}

mq::tensor roi_align(int opset, const std::string& attrs, const mq::tensor& rois, const mq::tensor& batch = int64s({1}, {0})) {
  return run_ok(model(opset, "(float x, float rois, int64 b) => (float y)", "y = RoiAlign <" + attrs + "> (x, rois, b)"),
                {{"x", ramp_image()}, {"rois", rois}, {"b", batch}});
}

}  // namespace

TEST_CASE("exec misc: RoiAlign coordinate modes, sampling, max mode, opset 10", "[exec][misc]") {
  const auto roi = floats({1, 4}, {0, 0, 2, 2});  // x1, y1, x2, y2
  SECTION("half_pixel: the ROI starts at -0.5; one sample per bin at the bin centres y, x in {0, 1}") {
    auto y = roi_align(16, "output_height = 2, output_width = 2, sampling_ratio = 1", roi);
    CHECK(y.shape == shape{1, 1, 2, 2});
    check_close(values_of(y), {0, 1, 4, 5});
  }
  SECTION("output_half_pixel: samples at 0.5 and 1.5; 2 x 2 samples per bin average to the centre") {
    const fvec want = {2.5f, 3.5f, 6.5f, 7.5f};  // 4 * 0.5 + 0.5, ...
    check_close(values_of(roi_align(16, "coordinate_transformation_mode = \"output_half_pixel\", output_height = 2, output_width = 2, sampling_ratio = 1", roi)), want);
    check_close(values_of(roi_align(16, "coordinate_transformation_mode = \"output_half_pixel\", output_height = 2, output_width = 2, sampling_ratio = 2", roi)), want);
    // sampling_ratio 0: ceil(roi / output) = 1 sample per bin here.
    check_close(values_of(roi_align(16, "coordinate_transformation_mode = \"output_half_pixel\", output_height = 2, output_width = 2", roi)), want);
    // Opset 10 has no coordinate_transformation_mode: it behaves as output_half_pixel.
    check_close(values_of(roi_align(10, "output_height = 2, output_width = 2, sampling_ratio = 1", roi)), want);
  }
  SECTION("spatial_scale maps ROI coordinates onto the feature map") {
    // [0, 0, 4, 4] * 0.5 = [0, 0, 2, 2].
    check_close(values_of(roi_align(16, "coordinate_transformation_mode = \"output_half_pixel\", output_height = 2, output_width = 2, sampling_ratio = 1, spatial_scale = 0.5",
                                    floats({1, 4}, {0, 0, 4, 4}))),
                {2.5f, 3.5f, 6.5f, 7.5f});
  }
  SECTION("samples past the last row/column are clamped, samples beyond -1 count as 0") {
    // ROI [3, 3, 4, 4], output_half_pixel, 1 x 1 bin, 2 x 2 samples at 3.25 and 3.75: each clamps
    // to the last pixel (3, 3) = 15.
    check_close(values_of(roi_align(16, "coordinate_transformation_mode = \"output_half_pixel\", sampling_ratio = 2",
                                    floats({1, 4}, {3, 3, 4, 4}))),
                {15});
    // ROI [3, 3, 5, 5]: samples at 3.5 and 4.5; a coordinate past the size (4.5 > 4) counts as 0,
    // so only (3.5, 3.5) -> 15 remains of the four: 15 / 4.
    check_close(values_of(roi_align(16, "coordinate_transformation_mode = \"output_half_pixel\", sampling_ratio = 2",
                                    floats({1, 4}, {3, 3, 5, 5}))),
                {3.75f});
    // ROI [-4, 0, -2, 1]: samples at x = -3.5, -2.5 lie beyond -1: worth 0.
    check_close(values_of(roi_align(16, "coordinate_transformation_mode = \"output_half_pixel\", sampling_ratio = 2",
                                    floats({1, 4}, {-4, 0, -2, 1}))),
                {0});
  }
  SECTION("max mode: the largest weighted corner w_i * x_i of each sample, as ONNX Runtime") {
    // ROI [0, 0, 1, 1], one sample at (0.5, 0.5): corners 0, 1, 4, 5 each weighted 0.25 ->
    // max(0, 0.25, 1, 1.25) = 1.25 (avg mode gives their sum, 2.5).
    check_close(values_of(roi_align(16, "coordinate_transformation_mode = \"output_half_pixel\", mode = \"max\", sampling_ratio = 1",
                                    floats({1, 4}, {0, 0, 1, 1}))),
                {1.25f});
    check_close(values_of(roi_align(16, "coordinate_transformation_mode = \"output_half_pixel\", sampling_ratio = 1",
                                    floats({1, 4}, {0, 0, 1, 1}))),
                {2.5f});
  }
  SECTION("errors and refusals") {
    const std::string m = model(16, "(float x, float rois, int64 b) => (float y)", "y = RoiAlign(x, rois, b)");
    CHECK_THAT(run_error(m, {{"x", ramp_image()}, {"rois", roi}, {"b", int64s({1}, {1})}}, mq::errc::invalid_argument),
               Contains("node 'RoiAlign#0' (RoiAlign)") && Contains("batch index 1 of roi 0 is out of range"));
    CHECK_THAT(run_error(m, {{"x", ramp_image()}, {"rois", floats({1, 3}, {0, 0, 1})}, {"b", int64s({1}, {0})}}, mq::errc::invalid_argument),
               Contains("rois must have shape [num_rois, 4]"));
    const std::map<std::string, mq::tensor> ok = {{"x", ramp_image()}, {"rois", roi}, {"b", int64s({1}, {0})}};
    CHECK_THAT(run_error(model(16, "(float x, float rois, int64 b) => (float y)", "y = RoiAlign <mode = \"median\"> (x, rois, b)"), ok,
                         mq::errc::unsupported),
               Contains("mode 'median'"));
    CHECK_THAT(run_error(model(10, "(float x, float rois, int64 b) => (float y)",
                               "y = RoiAlign <coordinate_transformation_mode = \"half_pixel\"> (x, rois, b)"),
                         ok, mq::errc::unsupported),
               Contains("coordinate_transformation_mode"));
  }
}

// ---- Einsum ------------------------------------------------------------------------------------------

namespace {

mq::tensor einsum1(const std::string& eq, const mq::tensor& a) {
  return run_ok(model(12, "(float a) => (float y)", "y = Einsum <equation = \"" + eq + "\"> (a)"), {{"a", a}});
}

mq::tensor einsum2(const std::string& eq, const mq::tensor& a, const mq::tensor& b, unsigned threads = 1) {
  return run_ok(model(12, "(float a, float b) => (float y)", "y = Einsum <equation = \"" + eq + "\"> (a, b)"), {{"a", a}, {"b", b}}, "y",
                threads);
}

fvec seq_values(std::size_t n, float scale) {
  fvec v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<float>(static_cast<int>(i % 7) - 3) * scale + static_cast<float>(i % 3) * 0.25f;
  return v;
}

}  // namespace

TEST_CASE("exec misc: Einsum equations (implicit and explicit outputs, diagonals, ellipsis)", "[exec][misc]") {
  const auto m23 = floats({2, 3}, {1, 2, 3, 4, 5, 6});
  SECTION("one operand: transpose, sums, diagonal, trace") {
    auto t = einsum1("ij->ji", m23);
    CHECK(t.shape == shape{3, 2});
    CHECK(values_of(t) == fvec{1, 4, 2, 5, 3, 6});
    CHECK(values_of(einsum1("ij->i", m23)) == fvec{6, 15});
    CHECK(values_of(einsum1("ij->j", m23)) == fvec{5, 7, 9});
    auto all = einsum1("ij->", m23);
    CHECK(all.shape == shape{});
    CHECK(values_of(all) == fvec{21});
    const auto sq = floats({3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
    CHECK(values_of(einsum1("ii->i", sq)) == fvec{1, 5, 9});
    CHECK(values_of(einsum1("ii", sq)) == fvec{15});  // implicit: i appears twice, so it is summed
    // Implicit output lists the labels in alphabetical order: "ba" means the output "ab", a
    // transpose; upper case sorts before lower case ("bA" -> "Ab").
    CHECK(values_of(einsum1("ba", m23)) == fvec{1, 4, 2, 5, 3, 6});
    CHECK(values_of(einsum1("bA", m23)) == fvec{1, 4, 2, 5, 3, 6});
    CHECK(values_of(einsum1("ab", m23)) == fvec{1, 2, 3, 4, 5, 6});
    // Spaces are allowed; the ellipsis carries the batch: diagonals of two 2 x 2 matrices.
    const auto batch = floats({2, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8});
    auto d = einsum1("...ii -> ...i", batch);
    CHECK(d.shape == shape{2, 2});
    CHECK(values_of(d) == fvec{1, 4, 5, 8});
  }
  SECTION("two operands: products, inner and outer") {
    const auto b32 = floats({3, 2}, {1, 0, 0, 1, 1, 1});
    // [[1,2,3],[4,5,6]] x [[1,0],[0,1],[1,1]] = [[4,5],[10,11]]
    CHECK(values_of(einsum2("ij,jk->ik", m23, b32)) == fvec{4, 5, 10, 11});
    CHECK(values_of(einsum2("ij,jk", m23, b32)) == fvec{4, 5, 10, 11});
    CHECK(values_of(einsum2("ij,jk->ki", m23, b32)) == fvec{4, 10, 5, 11});
    const auto v = floats({3}, {1, 2, 3});
    const auto w = floats({3}, {4, 5, 6});
    CHECK(values_of(einsum2("i,i", v, w)) == fvec{32});
    auto outer = einsum2("i,j", v, floats({2}, {1, 10}));
    CHECK(outer.shape == shape{3, 2});
    CHECK(values_of(outer) == fvec{1, 10, 2, 20, 3, 30});
    // Elementwise product kept ("i,i->i") and a label summed in one operand only ("ij,j->j").
    CHECK(values_of(einsum2("i,i->i", v, w)) == fvec{4, 10, 18});
    CHECK(values_of(einsum2("ij,j->j", m23, v)) == fvec{5, 14, 27});
    // Ellipsis dims broadcast: [2,1,2] batch with [1,2,2] -> [2, 2]... here [2] with [1].
    const auto a = floats({2, 1, 2}, {1, 2, 3, 4});
    const auto b = floats({1, 2, 1}, {1, 10});
    auto r = einsum2("...ij,...jk->...ik", a, b);
    CHECK(r.shape == shape{2, 1, 1});
    CHECK(values_of(r) == fvec{21, 43});
  }
  SECTION("integers") {
    auto y = run_ok(model(12, "(int64 a, int64 b) => (int64 y)", "y = Einsum <equation = \"ij,jk->ik\"> (a, b)"),
                    {{"a", int64s({2, 2}, {1, 2, 3, 4})}, {"b", int64s({2, 2}, {5, 6, 7, 8})}});
    CHECK(ints(y) == ivec{19, 22, 43, 50});
    // int32: the running sum passes INT32_MAX (2147483647 + 1) before the -1 brings it back; the
    // result is exact (the sum is carried wider, never as an overflowing int32).
    auto w = run_ok(model(12, "(int32 a, int32 b) => (int32 y)", "y = Einsum <equation = \"i,i\"> (a, b)"),
                    {{"a", mq::tensor::from<std::int32_t>({3}, std::vector<std::int32_t>{2147483647, 1, -1})},
                     {"b", mq::tensor::from<std::int32_t>({3}, std::vector<std::int32_t>{1, 1, 1})}});
    CHECK(w.shape == shape{});
    CHECK(w.data.size() == 4);
    std::int32_t wv = 0;
    std::memcpy(&wv, w.data.data(), 4);
    CHECK(wv == 2147483647);
  }
  SECTION("matrix-product equations on the kernel table agree with the definition") {
    // (equation, A shape, B shape, output labels' sizes computed by loops below)
    struct bcase {
      const char* eq;
      shape a, b;
    };
    const bcase cases[] = {
        {"bij,bjk->bik", {3, 5, 7}, {3, 7, 6}}, {"bij,bkj->bik", {2, 9, 8}, {2, 10, 8}}, {"bij,bjk->kbi", {2, 6, 5}, {2, 5, 4}},
        {"ik,kj->ij", {17, 9}, {9, 33}},      {"ji,kj->ik", {9, 17}, {33, 9}},         {"bhid,bhjd->bhij", {1, 2, 8, 4}, {1, 2, 8, 4}},
    };
    for (const auto& c : cases) {
      INFO(c.eq);
      const std::string eq = c.eq;
      const auto arrow = eq.find("->");
      const std::string ta = eq.substr(0, eq.find(','));
      const std::string tb = eq.substr(eq.find(',') + 1, arrow - eq.find(',') - 1);
      const std::string to = eq.substr(arrow + 2);
      std::map<char, i64> size;
      for (std::size_t k = 0; k < ta.size(); ++k) size[ta[k]] = c.a[k];
      for (std::size_t k = 0; k < tb.size(); ++k) size[tb[k]] = c.b[k];
      std::size_t na = 1, nb = 1;
      for (i64 d : c.a) na *= static_cast<std::size_t>(d);
      for (i64 d : c.b) nb *= static_cast<std::size_t>(d);
      const fvec av = seq_values(na, 0.5f);
      const fvec bv = seq_values(nb, 0.25f);
      // The definition: out[o] = sum over every assignment of all labels matching o of a * b.
      std::string labels;
      for (const auto& [ch, s] : size) labels += ch;
      shape out_shape;
      for (char ch : to) out_shape.push_back(size[ch]);
      i64 out_n = 1;
      for (i64 d : out_shape) out_n *= d;
      fvec want(static_cast<std::size_t>(out_n), 0.0f);
      i64 assignments = 1;
      for (const auto& [ch, s] : size) assignments *= s;
      for (i64 flat = 0; flat < assignments; ++flat) {
        std::map<char, i64> idx;
        i64 rem = flat;
        for (auto it = labels.rbegin(); it != labels.rend(); ++it) {
          idx[*it] = rem % size[*it];
          rem /= size[*it];
        }
        auto offset = [&](const std::string& t, const shape& s) {
          i64 o = 0;
          for (std::size_t k = 0; k < t.size(); ++k) o = o * s[k] + idx[t[k]];
          return static_cast<std::size_t>(o);
        };
        want[offset(to, out_shape)] += av[offset(ta, c.a)] * bv[offset(tb, c.b)];
      }
      for (unsigned threads : {1u, 2u}) {
        auto y = einsum2(eq, floats(c.a, av), floats(c.b, bv), threads);
        CHECK(y.shape == out_shape);
        check_close(values_of(y), want, 1e-4);
      }
    }
  }
  SECTION("errors") {
    CHECK_THAT(run_error(model(12, "(float a) => (float y)", "y = Einsum <equation = \"i+j\"> (a)"), {{"a", m23}}, mq::errc::invalid_model),
               Contains("node 'Einsum#0' (Einsum)") && Contains("unexpected character '+'"));
    CHECK_THAT(run_error(model(12, "(float a) => (float y)", "y = Einsum <equation = \"ij,jk->ik\"> (a)"), {{"a", m23}}, mq::errc::invalid_model),
               Contains("2 operands"));
    CHECK_THAT(run_error(model(12, "(float a, float b) => (float y)", "y = Einsum <equation = \"ij,jk->ik\"> (a, b)"),
                         {{"a", m23}, {"b", floats({2, 2}, {1, 2, 3, 4})}}, mq::errc::invalid_argument),
               Contains("dimension 0 of operand 1 has size 2"));
    CHECK_THAT(run_error(model(12, "(float a) => (float y)", "y = Einsum <equation = \"ijk->i\"> (a)"), {{"a", m23}}, mq::errc::invalid_argument),
               Contains("its term names 3 dimensions"));
    CHECK_THAT(run_error(model(12, "(float a) => (float y)", "y = Einsum <equation = \"ij->k\"> (a)"), {{"a", m23}}, mq::errc::invalid_argument),
               Contains("a label no operand has"));
  }
}

// ---- ReverseSequence, Unique, Det ---------------------------------------------------------------------

TEST_CASE("exec misc: ReverseSequence along time axis 0 and 1", "[exec][misc]") {
  // x[t, b] for 4 steps and 2 batch entries: column b holds 10 b + t.
  const auto x = floats({4, 2}, {0, 10, 1, 11, 2, 12, 3, 13});
  auto y = run_ok(model(10, "(float x, int64 l) => (float y)", "y = ReverseSequence <batch_axis = 1, time_axis = 0> (x, l)"),
                  {{"x", x}, {"l", int64s({2}, {4, 2})}});
  // Batch 0 reversed over 4 steps (3 2 1 0), batch 1 over its first 2 (11 10 12 13).
  CHECK(values_of(y) == fvec{3, 11, 2, 10, 1, 12, 0, 13});
  // Batch on axis 0, trailing dims moved as blocks: x[b, t, 2].
  const auto xb = floats({2, 3, 2}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
  auto yb = run_ok(model(10, "(float x, int64 l) => (float y)", "y = ReverseSequence <batch_axis = 0, time_axis = 1> (x, l)"),
                   {{"x", xb}, {"l", int64s({2}, {1, 3})}});
  CHECK(values_of(yb) == fvec{0, 1, 2, 3, 4, 5, 10, 11, 8, 9, 6, 7});
  const std::string m = model(10, "(float x, int64 l) => (float y)", "y = ReverseSequence(x, l)");
  CHECK_THAT(run_error(m, {{"x", x}, {"l", int64s({2}, {5, 1})}}, mq::errc::invalid_argument),
             Contains("node 'ReverseSequence#0' (ReverseSequence)") && Contains("sequence_lens[0] = 5 is out of range [0, 4]"));
  CHECK_THAT(run_error(m, {{"x", x}, {"l", int64s({3}, {1, 1, 1})}}, mq::errc::invalid_argument), Contains("expected [2]"));
  CHECK_THAT(run_error(model(10, "(float x, int64 l) => (float y)", "y = ReverseSequence <batch_axis = 1, time_axis = 1> (x, l)"),
                       {{"x", x}, {"l", int64s({2}, {1, 1})}}, mq::errc::invalid_model),
             Contains("batch_axis and time_axis"));
}

namespace {

const std::string unique_sig = "(float x) => (float y, int64 i, int64 v, int64 c)";

std::map<std::string, mq::tensor> unique_of(const mq::tensor& x, const std::string& attrs) {
  return run_all(model(11, unique_sig, "y, i, v, c = Unique" + attrs + "(x)"), {{"x", x}});
}

}  // namespace

TEST_CASE("exec misc: Unique sorted and unsorted, flattened and along an axis", "[exec][misc]") {
  const auto x = floats({6}, {2, 1, 1, 3, 4, 3});
  SECTION("sorted (the default)") {
    auto out = unique_of(x, "");
    CHECK(values_of(out.at("y")) == fvec{1, 2, 3, 4});
    CHECK(ints(out.at("i")) == ivec{1, 0, 3, 4});        // first occurrences
    CHECK(ints(out.at("v")) == ivec{1, 0, 0, 2, 3, 2});  // each input's place in y
    CHECK(ints(out.at("c")) == ivec{2, 1, 2, 1});
  }
  SECTION("unsorted: in order of first occurrence") {
    auto out = unique_of(x, "<sorted = 0>");
    CHECK(values_of(out.at("y")) == fvec{2, 1, 3, 4});
    CHECK(ints(out.at("i")) == ivec{0, 1, 3, 4});
    CHECK(ints(out.at("v")) == ivec{0, 1, 1, 2, 3, 2});
    CHECK(ints(out.at("c")) == ivec{1, 2, 2, 1});
  }
  SECTION("without axis a 2-D input is flattened") {
    auto out = unique_of(floats({2, 2}, {5, 5, 4, 5}), "");
    CHECK(out.at("y").shape == shape{2});
    CHECK(values_of(out.at("y")) == fvec{4, 5});
    CHECK(ints(out.at("c")) == ivec{1, 3});
  }
  SECTION("axis 0: unique rows, ordered lexicographically") {
    auto out = unique_of(floats({3, 2}, {1, 0, 0, 1, 1, 0}), "<axis = 0>");
    CHECK(out.at("y").shape == shape{2, 2});
    CHECK(values_of(out.at("y")) == fvec{0, 1, 1, 0});
    CHECK(ints(out.at("i")) == ivec{1, 0});
    CHECK(ints(out.at("v")) == ivec{1, 0, 1});
    CHECK(ints(out.at("c")) == ivec{1, 2});
  }
  SECTION("axis 1 and -1: unique columns") {
    // Columns of [[1, 0, 1], [2, 3, 2]]: (1,2), (0,3), (1,2) -> sorted (0,3), (1,2).
    const auto m = floats({2, 3}, {1, 0, 1, 2, 3, 2});
    for (const char* a : {"<axis = 1>", "<axis = -1>"}) {
      auto out = unique_of(m, a);
      CHECK(out.at("y").shape == shape{2, 2});
      CHECK(values_of(out.at("y")) == fvec{0, 1, 3, 2});
      CHECK(ints(out.at("i")) == ivec{1, 0});
      CHECK(ints(out.at("v")) == ivec{1, 0, 1});
      CHECK(ints(out.at("c")) == ivec{1, 2});
    }
  }
  SECTION("NaNs group together after every number; integers") {
    const float nan = std::numeric_limits<float>::quiet_NaN();
    auto out = unique_of(floats({3}, {nan, 1, nan}), "");
    const fvec y = values_of(out.at("y"));
    REQUIRE(y.size() == 2);
    CHECK(y[0] == 1);
    CHECK(std::isnan(y[1]));
    CHECK(ints(out.at("c")) == ivec{1, 2});
    auto yi = run_ok(model(11, "(int64 x) => (int64 y)", "y = Unique <sorted = 0> (x)"), {{"x", int64s({4}, {7, -1, 7, 0})}});
    CHECK(ints(yi) == ivec{7, -1, 0});
  }
  SECTION("errors") {
    CHECK_THAT(run_error(model(11, unique_sig, "y, i, v, c = Unique <axis = 2> (x)"), {{"x", x}}, mq::errc::invalid_argument),
               Contains("node 'Unique#0' (Unique)") && Contains("axis 2 is out of range for rank 1"));
  }
}

TEST_CASE("exec misc: Det of single and batched matrices", "[exec][misc]") {
  const std::string m = model(11, "(float x) => (float y)", "y = Det(x)");
  auto d2 = run_ok(m, {{"x", floats({2, 2}, {1, 2, 3, 4})}});
  CHECK(d2.shape == shape{});
  check_close(values_of(d2), {-2});  // 1 * 4 - 2 * 3
  // 2 (3*2 - 2*1) - 0 + 1 (1*1 - 3*1) = 8 - 2 = 6.
  check_close(values_of(run_ok(m, {{"x", floats({3, 3}, {2, 0, 1, 1, 3, 2, 1, 1, 2})}})), {6});
  // A batch: [[0,1],[1,0]] needs a row exchange (-1); a singular matrix gives 0.
  auto b = run_ok(m, {{"x", floats({2, 2, 2}, {0, 1, 1, 0, 1, 2, 2, 4})}});
  CHECK(b.shape == shape{2});
  check_close(values_of(b), {-1, 0});
  auto dd = run_ok(model(11, "(double x) => (double y)", "y = Det(x)"), {{"x", mq::tensor::from<double>({1, 1}, std::vector<double>{2.5})}});
  CHECK(elements<double>(dd) == std::vector<double>{2.5});
  CHECK_THAT(run_error(m, {{"x", floats({2, 3}, {1, 2, 3, 4, 5, 6})}}, mq::errc::invalid_argument),
             Contains("node 'Det#0' (Det)") && Contains("input must be [..., M, M], has shape [2,3]"));
}

// ---- losses ------------------------------------------------------------------------------------------

TEST_CASE("exec misc: NegativeLogLikelihoodLoss reductions, weights, ignore_index", "[exec][misc]") {
  // log-probabilities for N = 2 samples of C = 3 classes, targets 2 and 0.
  const auto x = floats({2, 3}, {-1, -2, -3, -4, -5, -6});
  const auto t = int64s({2}, {2, 0});
  const auto w = floats({3}, {1, 2, 3});
  auto nll = [&](const std::string& attrs, bool weighted) {
    const std::string sig = weighted ? "(float x, int64 t, float w) => (float y)" : "(float x, int64 t) => (float y)";
    std::map<std::string, mq::tensor> in = {{"x", x}, {"t", t}};
    if (weighted) in["w"] = w;
    return run_ok(model(13, sig, "y = NegativeLogLikelihoodLoss <" + attrs + "> (x, t" + (weighted ? ", w" : "") + ")"), in);
  };
  // Unweighted losses: -x[0, 2] = 3, -x[1, 0] = 4.
  auto none = nll("reduction = \"none\"", false);
  CHECK(none.shape == shape{2});
  CHECK(values_of(none) == fvec{3, 4});
  CHECK(values_of(nll("reduction = \"sum\"", false)) == fvec{7});
  CHECK(values_of(nll("reduction = \"mean\"", false)) == fvec{3.5f});
  // Weighted: 3 * w[2] = 9, 4 * w[0] = 4; mean divides by the weights used, 3 + 1.
  CHECK(values_of(nll("reduction = \"none\"", true)) == fvec{9, 4});
  CHECK(values_of(nll("reduction = \"sum\"", true)) == fvec{13});
  CHECK(values_of(nll("reduction = \"mean\"", true)) == fvec{3.25f});
  // ignore_index 0: the second sample counts 0 and leaves the mean's denominator.
  CHECK(values_of(nll("reduction = \"none\", ignore_index = 0", true)) == fvec{9, 0});
  CHECK(values_of(nll("reduction = \"mean\", ignore_index = 0", true)) == fvec{3});
  CHECK(values_of(nll("reduction = \"mean\", ignore_index = 0", false)) == fvec{3});
  // An ignore_index outside [0, C) marks targets that would otherwise be out of range.
  auto ii = run_ok(model(13, "(float x, int64 t) => (float y)", "y = NegativeLogLikelihoodLoss <reduction = \"sum\", ignore_index = -1> (x, t)"),
                   {{"x", x}, {"t", int64s({2}, {-1, 1})}});
  CHECK(values_of(ii) == fvec{5});
  SECTION("trailing dimensions: input [N, C, d], target [N, d]") {
    // x[0, c, d]: class 0 row {-1, -2}, class 1 row {-3, -4}; targets {1, 0}: losses 3, 2.
    auto y = run_ok(model(13, "(float x, int64 t) => (float y)", "y = NegativeLogLikelihoodLoss <reduction = \"none\"> (x, t)"),
                    {{"x", floats({1, 2, 2}, {-1, -2, -3, -4})}, {"t", int64s({1, 2}, {1, 0})}});
    CHECK(y.shape == shape{1, 2});
    CHECK(values_of(y) == fvec{3, 2});
  }
  SECTION("errors") {
    const std::string m = model(13, "(float x, int64 t) => (float y)", "y = NegativeLogLikelihoodLoss(x, t)");
    CHECK_THAT(run_error(m, {{"x", x}, {"t", int64s({2}, {3, 0})}}, mq::errc::invalid_argument),
               Contains("node 'NegativeLogLikelihoodLoss#0' (NegativeLogLikelihoodLoss)") && Contains("target 3 (element 0) is out of range for 3 classes"));
    CHECK_THAT(run_error(m, {{"x", x}, {"t", int64s({3}, {0, 0, 0})}}, mq::errc::invalid_argument), Contains("expected [2]"));
    CHECK_THAT(run_error(model(13, "(float x, int64 t) => (float y)", "y = NegativeLogLikelihoodLoss <reduction = \"max\"> (x, t)"),
                         {{"x", x}, {"t", t}}, mq::errc::invalid_model),
               Contains("reduction must be none, sum or mean"));
  }
}

TEST_CASE("exec misc: SoftmaxCrossEntropyLoss and its log_prob output", "[exec][misc]") {
  // Scores [0, ln 3]: softmax [1/4, 3/4], log_prob [ln 1/4, ln 3/4]; [0, 0]: log_prob -ln 2 each.
  const float ln3 = static_cast<float>(std::log(3.0));
  const auto x = floats({2, 2}, {0, ln3, 0, 0});
  const auto t = int64s({2}, {1, 0});
  auto out = run_all(model(13, "(float x, int64 t) => (float y, float lp)", "y, lp = SoftmaxCrossEntropyLoss <reduction = \"none\"> (x, t)"),
                     {{"x", x}, {"t", t}});
  check_close(values_of(out.at("y")), {static_cast<float>(std::log(4.0 / 3.0)), static_cast<float>(std::log(2.0))});
  check_close(values_of(out.at("lp")), {static_cast<float>(std::log(0.25)), static_cast<float>(std::log(0.75)),
                                         static_cast<float>(-std::log(2.0)), static_cast<float>(-std::log(2.0))});
  // Mean with weights [1, 3]: (3 ln(4/3) + 1 ln 2) / (3 + 1).
  auto mean = run_ok(model(13, "(float x, int64 t, float w) => (float y)", "y = SoftmaxCrossEntropyLoss(x, t, w)"),
                     {{"x", x}, {"t", t}, {"w", floats({2}, {1, 3})}});
  check_close(values_of(mean), {static_cast<float>((3 * std::log(4.0 / 3.0) + std::log(2.0)) / 4)});
  // ignore_index 1 drops the first sample: the sum is ln 2.
  auto sum = run_ok(model(13, "(float x, int64 t) => (float y)", "y = SoftmaxCrossEntropyLoss <reduction = \"sum\", ignore_index = 1> (x, t)"),
                    {{"x", x}, {"t", t}});
  check_close(values_of(sum), {static_cast<float>(std::log(2.0))});
  CHECK_THAT(run_error(model(13, "(float x, int64 t, float w) => (float y)", "y = SoftmaxCrossEntropyLoss(x, t, w)"),
                       {{"x", x}, {"t", t}, {"w", floats({3}, {1, 1, 1})}}, mq::errc::invalid_argument),
             Contains("weight has shape [3], expected [2]"));
}

// ---- Scan 8 ------------------------------------------------------------------------------------------

namespace {

std::string scan8(const std::string& attrs, bool with_lens) {
  return "<ir_version: 8, opset_import: [\"\" : 8]>\n"
         "g (" + std::string(with_lens ? "int64 lens, " : "") + "float init, float x) => (float total, float partial) {\n"
         "  total, partial = Scan <" + attrs + (attrs.empty() ? "" : ", ") +
         "num_scan_inputs = 1, body = b (float[1] s_in, float[1] next) => (float[1] s_out, float[1] out) {\n"
         "    s_out = Add(s_in, next)\n"
         "    out = Identity(s_out)\n"
         "  }> (" + (with_lens ? "lens" : "__absent__") + ", init, x)\n"
         "}\n";
}

}  // namespace

TEST_CASE("exec misc: Scan 8 batches, sequence_lens and directions", "[exec][misc]") {
  // Two batch entries, 3 steps of one value each: running sums from init 0 and 10.
  const auto init = floats({2, 1}, {0, 10});
  const auto x = floats({2, 3, 1}, {1, 2, 3, 4, 5, 6});
  SECTION("all steps") {
    auto out = run_all(scan8("", false), {{"init", init}, {"x", x}});
    CHECK(out.at("total").shape == shape{2, 1});
    CHECK(values_of(out.at("total")) == fvec{6, 25});
    CHECK(out.at("partial").shape == shape{2, 3, 1});
    CHECK(values_of(out.at("partial")) == fvec{1, 3, 6, 14, 19, 25});
  }
  SECTION("sequence_lens: batch 1 runs 2 steps; its scan output is zero past them") {
    auto out = run_all(scan8("", true), {{"lens", int64s({2}, {3, 2})}, {"init", init}, {"x", x}});
    CHECK(values_of(out.at("total")) == fvec{6, 19});
    CHECK(values_of(out.at("partial")) == fvec{1, 3, 6, 14, 19, 0});
  }
  SECTION("reverse direction runs each sequence from its own last step") {
    // Batch 0: 3, 3+2, 3+2+1; batch 1 (2 steps): 10+5, 15+4.
    auto out = run_all(scan8("directions = [1]", true), {{"lens", int64s({2}, {3, 2})}, {"init", init}, {"x", x}});
    CHECK(values_of(out.at("total")) == fvec{6, 19});
    CHECK(values_of(out.at("partial")) == fvec{3, 5, 6, 15, 19, 0});
  }
  SECTION("errors") {
    CHECK_THAT(run_error(scan8("", true), {{"lens", int64s({2}, {4, 1})}, {"init", init}, {"x", x}}, mq::errc::invalid_argument),
               Contains("node 'Scan#0' (Scan)") && Contains("sequence length 4 is out of range [0, 3]"));
    CHECK_THAT(run_error(scan8("", false), {{"init", floats({3, 1}, {0, 0, 0})}, {"x", x}}, mq::errc::invalid_argument),
               Contains("state 0 has shape [3,1]"));
  }
}

// ---- signal ------------------------------------------------------------------------------------------

namespace {

const std::string dft_sig = "(float x) => (float y)";

mq::tensor dft(const mq::tensor& x, const std::string& attrs) {
  return run_ok(model(17, dft_sig, "y = DFT <" + attrs + "> (x)"), {{"x", x}});
}

}  // namespace

TEST_CASE("exec misc: DFT forward, inverse, one-sided, lengths and axes", "[exec][misc]") {
  // DFT of [1, 2, 3, 4]: X0 = 10, X1 = 1 - 2i - 3 + 4i = -2 + 2i, X2 = 1 - 2 + 3 - 4 = -2,
  // X3 = -2 - 2i.
  const auto x = floats({1, 4, 1}, {1, 2, 3, 4});
  auto y = dft(x, "axis = 1");
  CHECK(y.shape == shape{1, 4, 2});
  check_close(values_of(y), {10, 0, -2, 2, -2, 0, -2, -2});
  // One-sided: floor(4 / 2) + 1 = 3 bins.
  auto half = dft(x, "onesided = 1");
  CHECK(half.shape == shape{1, 3, 2});
  check_close(values_of(half), {10, 0, -2, 2, -2, 0});
  // Inverse of the full spectrum (complex input) gives the signal back, with zero imaginary parts.
  const auto spectrum = floats({1, 4, 2}, {10, 0, -2, 2, -2, 0, -2, -2});
  check_close(values_of(dft(spectrum, "inverse = 1")), {1, 0, 2, 0, 3, 0, 4, 0});
  // One-sided inverse (IRFFT): 3 bins give a real signal of 2 * (3 - 1) = 4 samples.
  auto real = dft(floats({1, 3, 2}, {10, 0, -2, 2, -2, 0}), "inverse = 1, onesided = 1");
  CHECK(real.shape == shape{1, 4, 1});
  check_close(values_of(real), {1, 2, 3, 4});
  // A length that is not a power of two: [1, 2, 3] with w = e^(-2 pi i / 3): X0 = 6,
  // X1 = 1 + 2w + 3w^2 = -1.5 + i sqrt(3) / 2, X2 its conjugate.
  const float h = static_cast<float>(std::sqrt(3.0) / 2);
  check_close(values_of(dft(floats({1, 3, 1}, {1, 2, 3}), "axis = 1")), {6, 0, -1.5f, h, -1.5f, -h});
  // dft_length cuts (2: [1, 2] -> [3, -1]) or pads with zeros (8: X0 = 10, X4 = 1 - 2 + 3 - 4 = -2).
  const std::string with_len = model(17, "(float x, int64 n) => (float y)", "y = DFT(x, n)");
  check_close(values_of(run_ok(with_len, {{"x", x}, {"n", scalar_i(2)}})), {3, 0, -1, 0});
  auto padded = values_of(run_ok(with_len, {{"x", x}, {"n", scalar_i(8)}}));
  REQUIRE(padded.size() == 16);
  CHECK(padded[0] == Approx(10));
  CHECK(padded[8] == Approx(-2));
  CHECK(padded[9] == Approx(0).margin(1e-5));
  // Along axis 2 of [1, 2, 2, 1]: each row [1, 2] -> [3, -1], [3, 4] -> [7, -1].
  check_close(values_of(dft(floats({1, 2, 2, 1}, {1, 2, 3, 4}), "axis = 2")), {3, 0, -1, 0, 7, 0, -1, 0});
  check_close(values_of(dft(floats({1, 2, 2, 1}, {1, 2, 3, 4}), "axis = -2")), {3, 0, -1, 0, 7, 0, -1, 0});
  CHECK_THAT(run_error(model(17, dft_sig, "y = DFT <axis = 2> (x)"), {{"x", x}}, mq::errc::invalid_argument),
             Contains("node 'DFT#0' (DFT)") && Contains("axis 2 is out of range for rank 3"));
  CHECK_THAT(run_error(model(17, dft_sig, "y = DFT(x)"), {{"x", floats({1, 4, 3}, fvec(12, 0))}}, mq::errc::invalid_argument),
             Contains("1 or 2"));
}

TEST_CASE("exec misc: STFT frames, windows and one-sided output", "[exec][misc]") {
  const auto x = floats({1, 4, 1}, {1, 2, 3, 4});
  // frame_length 2, step 2: frames [1, 2] and [3, 4] -> DFTs [3, -1] and [7, -1]; 2 / 2 + 1 = 2 bins.
  auto y = run_ok(model(17, "(float x, int64 s, int64 n) => (float y)", "y = STFT(x, s, , n)"),
                  {{"x", x}, {"s", scalar_i(2)}, {"n", scalar_i(2)}});
  CHECK(y.shape == shape{1, 2, 2, 2});
  check_close(values_of(y), {3, 0, -1, 0, 7, 0, -1, 0});
  // Window [0.5, 1]: frames [0.5, 2] -> [2.5, -1.5] and [1.5, 4] -> [5.5, -2.5]; step 1 gives 3 frames.
  auto w = run_ok(model(17, "(float x, int64 s, float w) => (float y)", "y = STFT(x, s, w)"),
                  {{"x", x}, {"s", scalar_i(2)}, {"w", floats({2}, {0.5f, 1})}});
  check_close(values_of(w), {2.5f, 0, -1.5f, 0, 5.5f, 0, -2.5f, 0});
  auto three = run_ok(model(17, "(float x, int64 s, float w) => (float y)", "y = STFT(x, s, w)"),
                      {{"x", x}, {"s", scalar_i(1)}, {"w", floats({2}, {1, 1})}});
  CHECK(three.shape == shape{1, 3, 2, 2});
  check_close(values_of(three), {3, 0, -1, 0, 5, 0, -1, 0, 7, 0, -1, 0});
  // Two-sided: frame_length 4, one frame, the full DFT of [1, 2, 3, 4].
  auto full = run_ok(model(17, "(float x, int64 s, int64 n) => (float y)", "y = STFT <onesided = 0> (x, s, , n)"),
                     {{"x", x}, {"s", scalar_i(1)}, {"n", scalar_i(4)}});
  CHECK(full.shape == shape{1, 1, 4, 2});
  check_close(values_of(full), {10, 0, -2, 2, -2, 0, -2, -2});
  CHECK_THAT(run_error(model(17, "(float x, int64 s, int64 n) => (float y)", "y = STFT(x, s, , n)"),
                       {{"x", x}, {"s", scalar_i(0)}, {"n", scalar_i(2)}}, mq::errc::invalid_argument),
             Contains("node 'STFT#0' (STFT)") && Contains("frame_step must be >= 1"));
  CHECK_THAT(run_error(model(17, "(float x, int64 s, int64 n) => (float y)", "y = STFT(x, s, , n)"),
                       {{"x", x}, {"s", scalar_i(1)}, {"n", scalar_i(5)}}, mq::errc::invalid_argument),
             Contains("frame_length 5 is out of range [1, 4]"));
}

TEST_CASE("exec misc: Hann, Hamming, Blackman windows and MelWeightMatrix", "[exec][misc]") {
  auto window = [](const std::string& op, const std::string& attrs, i64 size) {
    return run_ok(model(17, "(int64 n) => (float y)", "y = " + op + attrs + "(n)"), {{"n", scalar_i(size)}});
  };
  // Periodic (N = size = 4): angles 0, pi/2, pi, 3pi/2.
  check_close(values_of(window("HannWindow", "", 4)), {0, 0.5f, 1, 0.5f});         // 0.5 - 0.5 cos
  check_close(values_of(window("HammingWindow", "", 4)), {4.0f / 46, 25.0f / 46, 1, 25.0f / 46});  // 25/46 - 21/46 cos
  check_close(values_of(window("BlackmanWindow", "", 4)), {0, 0.34f, 1, 0.34f});   // 0.42 - 0.5 cos + 0.08 cos 2a
  // Symmetric (N = size - 1 = 2): angles 0, pi, 2pi.
  check_close(values_of(window("HannWindow", "<periodic = 0>", 3)), {0, 1, 0});
  check_close(values_of(window("BlackmanWindow", "<periodic = 0>", 3)), {0, 1, 0});
  CHECK(window("HannWindow", "", 0).shape == shape{0});
  auto d = run_ok(model(17, "(int64 n) => (double y)", "y = HannWindow <output_datatype = 11> (n)"), {{"n", scalar_i(2)}});
  CHECK(d.type == mq::dtype::float64);
  CHECK(elements<double>(d)[1] == Approx(1.0));
  CHECK_THAT(run_error(model(17, "(int64 n) => (float y)", "y = HannWindow <periodic = 0> (n)"), {{"n", scalar_i(1)}}, mq::errc::invalid_argument),
             Contains("node 'HannWindow#0' (HannWindow)") && Contains("symmetric window of size 1"));

  // MelWeightMatrix: the edges are chosen so that the mel points fall on round frequencies. With
  // upper = 700 (2^(B+2) - 1) Hz for B bands, point i is at 700 (2^i - 1) Hz: 0, 700, 2100, 4900,
  // and maps to bin floor((dft_length + 1) f / sample_rate).
  const std::string mel = model(17, "(int64 m, int64 n, int64 r, float lo, float hi) => (float y)", "y = MelWeightMatrix(m, n, r, lo, hi)");
  SECTION("one band: points at bins 0, 1, 3 (16 f / 10000: 0, 1.12, 3.36)") {
    auto y = run_ok(mel, {{"m", scalar_i(1)}, {"n", scalar_i(15)}, {"r", scalar_i(10000)}, {"lo", scalar_f(0)}, {"hi", scalar_f(4900)}});
    CHECK(y.shape == shape{8, 1});
    // Rises 0 -> 1 over bins 0..1, falls (3 - j) / 2 over bins 1..2.
    check_close(values_of(y), {0, 1, 0.5f, 0, 0, 0, 0, 0});
  }
  SECTION("two bands: points at bins 0, 0, 1, 3 (16 f / 24000: 0, 0.47, 1.4, 3.27); a zero-width rise is a 1") {
    auto y = run_ok(mel, {{"m", scalar_i(2)}, {"n", scalar_i(15)}, {"r", scalar_i(24000)}, {"lo", scalar_f(0)}, {"hi", scalar_f(10500)}});
    CHECK(y.shape == shape{8, 2});
    check_close(values_of(y), {1, 0, 0, 1, 0, 0.5f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
  }
}

// ---- TfIdfVectorizer ---------------------------------------------------------------------------------

namespace {

// Pool: 1-grams 2 and 3, the 2-gram (2, 3); outputs 0, 1, 2 in that order.
std::string tfidf(const std::string& attrs, const std::string& in_type = "int64") {
  return model(9, "(" + in_type + " x) => (float y)",
               "y = TfIdfVectorizer <max_gram_length = 2, min_gram_length = 1, ngram_counts = [0, 2], ngram_indexes = [0, 1, 2], "
               "pool_int64s = [2, 3, 2, 3], " + attrs + "> (x)");
}

}  // namespace

TEST_CASE("exec misc: TfIdfVectorizer n-gram counts, skips, IDF and TFIDF weights", "[exec][misc]") {
  const auto x = int64s({5}, {2, 3, 2, 3, 5});
  // Unigrams 2 and 3 twice each; bigram (2, 3) at positions (0, 1) and (2, 3).
  auto tf = run_ok(tfidf("mode = \"TF\", max_skip_count = 0"), {{"x", x}});
  CHECK(tf.shape == shape{3});
  CHECK(values_of(tf) == fvec{2, 2, 2});
  // [2, 5, 3]: no adjacent (2, 3); with one skip allowed, (x0, x2) = (2, 3) counts; unigrams only once.
  const auto gap = int64s({3}, {2, 5, 3});
  CHECK(values_of(run_ok(tfidf("mode = \"TF\", max_skip_count = 0"), {{"x", gap}})) == fvec{1, 1, 0});
  CHECK(values_of(run_ok(tfidf("mode = \"TF\", max_skip_count = 1"), {{"x", gap}})) == fvec{1, 1, 1});
  // A huge skip count means any distance: the same counts, and it returns (distances past the row
  // length hold no n-gram).
  CHECK(values_of(run_ok(tfidf("mode = \"TF\", max_skip_count = 1000000000000"), {{"x", gap}})) == fvec{1, 1, 1});
  // IDF: weight where the count is positive; TFIDF: weight times count.
  CHECK(values_of(run_ok(tfidf("mode = \"IDF\", max_skip_count = 0, weights = [0.5, 2.0, 4.0]"), {{"x", gap}})) == fvec{0.5f, 2, 0});
  CHECK(values_of(run_ok(tfidf("mode = \"TFIDF\", max_skip_count = 0, weights = [0.5, 2.0, 4.0]"), {{"x", x}})) == fvec{1, 4, 8});
  // Rows of a 2-D input are counted separately; int32 input.
  mq::tensor rows = mq::tensor::from<std::int32_t>({2, 2}, std::vector<std::int32_t>{2, 3, 3, 3});
  auto r = run_ok(tfidf("mode = \"TF\", max_skip_count = 0", "int32"), {{"x", rows}});
  CHECK(r.shape == shape{2, 3});
  CHECK(values_of(r) == fvec{1, 1, 1, 0, 2, 0});
  // min_gram_length 2: unigrams are not counted.
  auto bi = run_ok(model(9, "(int64 x) => (float y)",
                         "y = TfIdfVectorizer <max_gram_length = 2, min_gram_length = 2, max_skip_count = 0, mode = \"TF\", "
                         "ngram_counts = [0, 2], ngram_indexes = [0, 1, 2], pool_int64s = [2, 3, 2, 3]> (x)"),
                   {{"x", x}});
  CHECK(values_of(bi) == fvec{0, 0, 2});
  CHECK_THAT(run_error(model(9, "(int64 x) => (float y)",
                             "y = TfIdfVectorizer <max_gram_length = 1, min_gram_length = 1, max_skip_count = 0, mode = \"TF\", "
                             "ngram_counts = [0], ngram_indexes = [0], pool_strings = [\"a\"]> (x)"),
                       {{"x", x}}, mq::errc::unsupported),
             Contains("pool_strings"));
}
