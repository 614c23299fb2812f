// Golden tests of the graph rewrites on small ONNX-text models: the exact nodes, quantized
// bytes, scales and zero points. Expected numbers are computed by hand from ONNX Runtime's
// formulas (symmetric int8: scale = 2*max|w| / 254 in double, stored as float; q = round(w/scale)).
#include <catch2/catch.hpp>
#include <onnx/checker.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "mq/quantize.h"
#include "mq/version.h"
#include "onnx_io/model_impl.h"
#include "passes/runtime_check.h"
#include "support/temp_dir.h"
#include "support/test_models.h"

using mq::test::parse_text_model;

namespace {

const onnx::TensorProto* find_initializer(const onnx::GraphProto& g, const std::string& name) {
  for (const auto& t : g.initializer()) {
    if (t.name() == name) return &t;
  }
  return nullptr;
}

std::vector<std::string> op_types(const onnx::GraphProto& g) {
  std::vector<std::string> ops;
  for (const auto& n : g.node()) ops.push_back(n.op_type());
  return ops;
}

std::vector<std::int8_t> int8_values(const onnx::TensorProto& t) {
  std::vector<std::int8_t> v(t.raw_data().size());
  std::memcpy(v.data(), t.raw_data().data(), v.size());
  return v;
}

std::vector<float> float_values(const onnx::TensorProto& t) {
  std::vector<float> v(t.raw_data().size() / 4);
  std::memcpy(v.data(), t.raw_data().data(), v.size() * 4);
  return v;
}

float symmetric_scale(double absmax) { return static_cast<float>(2.0 * absmax / 254.0); }

// The auto format with every weight quantized (its default leaves weights under 4096 elements
// in float, and the weights in these tests are tiny).
// A per-channel Conv weight at opset 11, below per-axis DequantizeLinear (13): the Cast * scale form.
constexpr const char* conv_opset11_text = R"ONNX(
<ir_version: 6, opset_import: ["" : 11]>
g (float[1, 1, 3, 3] x) => (float[1, 2, 3, 2] y) <float[2, 1, 1, 2] w = {0.25, -1.0, 2.0, 0.5}> {
  y = Conv(x, w)
}
)ONNX";

mq::quantize_options auto_all() {
  mq::quantize_options o;
  o.min_elements = 0;
  return o;
}

mq::quantize_report quantize_ok(mq::model& m, const mq::quantize_options& o) {
  auto r = mq::quantize(m, o);
  if (!r) FAIL(r.error().message);
  return *r;
}

}  // namespace

TEST_CASE("MatMul qoperator per tensor: ONNX Runtime's dynamic form and numbers", "[golden]") {
  auto proto = parse_text_model(R"ONNX(
<ir_version: 8, opset_import: ["" : 13]>
g (float[1, 2] x) => (float[1, 2] y) <float[2, 2] w = {1.0, -3.0, 0.5, 4.0}> {
  y = MatMul(x, w)
}
)ONNX");
  auto m = mq::test::to_model(proto);
  mq::quantize_options o;
  o.format = mq::quant_format::qoperator;
  auto report = quantize_ok(m, o);
  const auto& g = m.internals().proto.graph();
  CHECK(op_types(g) == std::vector<std::string>{"DynamicQuantizeLinear", "MatMulInteger", "Cast", "Mul", "Mul"});
  CHECK(g.node(4).output(0) == "y");  // the graph output keeps its producer's name
  const auto* q = find_initializer(g, "w_quantized");
  REQUIRE(q != nullptr);
  CHECK(q->data_type() == onnx::TensorProto::INT8);
  // max|w| = 4: scale = 8/254; 1/scale = 31.75 -> 32, -3 -> -95.25 -> -95, 0.5 -> 15.875 -> 16, 4 -> 127
  CHECK(int8_values(*q) == std::vector<std::int8_t>{32, -95, 16, 127});
  CHECK(float_values(*find_initializer(g, "w_scale")) == std::vector<float>{symmetric_scale(4.0)});
  CHECK(int8_values(*find_initializer(g, "w_zero_point")) == std::vector<std::int8_t>{0});
  CHECK(find_initializer(g, "w") == nullptr);  // the float weight is gone
  CHECK(report.quantized_count == 1);
  CHECK(m.metadata("mq.version") == mq::version());
  CHECK(m.check());
}

TEST_CASE("Conv with --format qdq --per-channel: int8 weights + DequantizeLinear(axis 0)", "[golden]") {
  auto proto = parse_text_model(R"ONNX(
<ir_version: 8, opset_import: ["" : 13]>
g (float[1, 1, 3, 3] x) => (float[1, 2, 3, 2] y) <float[2, 1, 1, 2] w = {0.25, -1.0, 2.0, 0.5}, float[2] b = {0.1, 0.2}> {
  y = Conv(x, w, b)
}
)ONNX");
  auto m = mq::test::to_model(proto);
  mq::quantize_options o;
  o.format = mq::quant_format::qdq;
  o.per_channel = true;
  auto report = quantize_ok(m, o);
  const auto& g = m.internals().proto.graph();
  CHECK(op_types(g) == std::vector<std::string>{"DequantizeLinear", "Conv"});
  const auto& dq = g.node(0);
  REQUIRE(dq.attribute_size() == 1);
  CHECK(dq.attribute(0).name() == "axis");
  CHECK(dq.attribute(0).i() == 0);
  CHECK(g.node(1).input(1) == dq.output(0));
  CHECK(g.node(1).input(2) == "b");  // bias stays float
  // channel 0: max 1 -> 0.25*127 = 31.75 -> 32, -1 -> -127; channel 1: max 2 -> 127, 0.5 -> 31.75 -> 32
  CHECK(int8_values(*find_initializer(g, "w_quantized")) == std::vector<std::int8_t>{32, -127, 127, 32});
  CHECK(float_values(*find_initializer(g, "w_scale")) ==
        std::vector<float>{symmetric_scale(1.0), symmetric_scale(2.0)});
  CHECK(report.nodes.at(0).granularity == "per-channel(axis=0)");
  CHECK(report.nodes.at(0).format == "qdq");
  CHECK(m.check());
}

TEST_CASE("Conv in auto format: per-channel int8 weights as Cast * scale (folded by ONNX Runtime)", "[golden]") {
  auto proto = parse_text_model(R"ONNX(
<ir_version: 8, opset_import: ["" : 13]>
g (float[1, 1, 3, 3] x) => (float[1, 2, 3, 2] y) <float[2, 1, 1, 2] w = {0.25, -1.0, 2.0, 0.5}, float[2] b = {0.1, 0.2}> {
  y = Conv(x, w, b)
}
)ONNX");
  auto m = mq::test::to_model(proto);
  auto report = quantize_ok(m, auto_all());
  const auto& g = m.internals().proto.graph();
  CHECK(op_types(g) == std::vector<std::string>{"Cast", "Mul", "Conv"});
  CHECK(g.node(2).input(1) == g.node(1).output(0));
  CHECK(int8_values(*find_initializer(g, "w_quantized")) == std::vector<std::int8_t>{32, -127, 127, 32});
  const auto* scale = find_initializer(g, "w_scale");
  REQUIRE(scale != nullptr);
  CHECK(std::vector<std::int64_t>(scale->dims().begin(), scale->dims().end()) == std::vector<std::int64_t>{2, 1, 1, 1});
  CHECK(report.nodes.at(0).format == "weight-only");
  CHECK(m.check());
}

TEST_CASE("weights in Constant nodes inside If branches are quantized in place", "[golden]") {
  auto proto = parse_text_model(R"ONNX(
<ir_version: 8, opset_import: ["" : 13]>
g (float[1, 2] x, bool c) => (float[1, 2] y) {
  y = If (c) <
    then_branch = t () => (float[1, 2] ty) {
      k = Constant <value = float[2, 2] {1.0, 2.0, 3.0, 4.0}> ()
      ty = MatMul(x, k)
    },
    else_branch = e () => (float[1, 2] ey) {
      ey = Identity(x)
    }
  >
}
)ONNX");
  auto m = mq::test::to_model(proto);
  auto report = quantize_ok(m, auto_all());
  const auto& then_graph = m.internals().proto.graph().node(0).attribute(0).g();
  CHECK(op_types(then_graph) == std::vector<std::string>{"DynamicQuantizeLinear", "MatMulInteger", "Cast", "Mul", "Mul"});
  CHECK(find_initializer(then_graph, "k_quantized") != nullptr);
  REQUIRE(report.nodes.size() == 1);
  CHECK(report.nodes[0].graph == "main/If#0:then_branch");
  CHECK(m.check());
}

TEST_CASE("a weight shared by two nodes is quantized once", "[golden]") {
  auto proto = parse_text_model(R"ONNX(
<ir_version: 8, opset_import: ["" : 13]>
g (float[1, 2] x) => (float[1, 2] y) <float[2, 2] w = {1.0, 2.0, 3.0, 4.0}> {
  a = MatMul(x, w)
  y = MatMul(a, w)
}
)ONNX");
  auto m = mq::test::to_model(proto);
  auto report = quantize_ok(m, auto_all());
  CHECK(report.quantized_count == 2);
  int quantized_inits = 0;
  for (const auto& t : m.internals().proto.graph().initializer()) quantized_inits += t.data_type() == onnx::TensorProto::INT8;
  CHECK(quantized_inits == 2);  // one data tensor + one zero point, shared by both MatMulInteger
  CHECK(m.check());
}

TEST_CASE("what stays in float says why", "[golden]") {
  auto proto = parse_text_model(R"ONNX(
<ir_version: 8, opset_import: ["" : 13]>
g (float[2, 2] x, float[2, 2] z) => (float[2, 2] y) <float[2, 2] w = {1.0, 2.0, 3.0, 4.0}> {
  a = MatMul(x, z)
  y = MatMul(a, w)
}
)ONNX");
  proto.mutable_graph()->mutable_node(1)->set_name("head/fc");
  auto m = mq::test::to_model(proto);
  SECTION("activation x activation") {
    auto report = quantize_ok(m, auto_all());
    REQUIRE(report.nodes.size() == 2);
    CHECK_FALSE(report.nodes[0].quantized);
    CHECK_THAT(report.nodes[0].reason, Catch::Contains("computed at run time"));
    CHECK(report.nodes[1].quantized);
  }
  SECTION("--exclude with a glob") {
    mq::quantize_options o = auto_all();
    o.exclude = {"head/*"};
    auto report = quantize_ok(m, o);
    CHECK_FALSE(report.nodes[1].quantized);
    CHECK(report.nodes[1].reason == "excluded by --exclude");
  }
  SECTION("--min-elements") {
    mq::quantize_options o;
    o.min_elements = 5;
    auto report = quantize_ok(m, o);
    CHECK_FALSE(report.nodes[1].quantized);
    CHECK_THAT(report.nodes[1].reason, Catch::Contains("4 elements"));
  }
}

TEST_CASE("initializers listed as graph inputs: dropped like ONNX Runtime does, or kept", "[golden]") {
  auto proto = parse_text_model(R"ONNX(
<ir_version: 4, opset_import: ["" : 13]>
g (float[1, 2] x, float[2, 2] w) => (float[1, 2] y) <float[2, 2] w = {1.0, 2.0, 3.0, 4.0}> {
  y = MatMul(x, w)
}
)ONNX");
  SECTION("default: treated as a constant") {
    auto m = mq::test::to_model(proto);
    auto report = quantize_ok(m, auto_all());
    CHECK(report.quantized_count == 1);
    CHECK(m.internals().proto.graph().input_size() == 1);
  }
  SECTION("--keep-initializer-inputs") {
    auto m = mq::test::to_model(proto);
    mq::quantize_options o = auto_all();
    o.graph_input_weights = mq::initializer_inputs::keep;
    auto report = quantize_ok(m, o);
    CHECK(report.quantized_count == 0);
    CHECK_THAT(report.nodes[0].reason, Catch::Contains("also a graph input"));
    CHECK(m.internals().proto.graph().input_size() == 2);
  }
}

TEST_CASE("a NaN weight is an error naming the tensor and node", "[golden]") {
  auto proto = parse_text_model(R"ONNX(
<ir_version: 8, opset_import: ["" : 13]>
g (float[1, 2] x) => (float[1, 2] y) <float[2, 2] w = {1.0, 2.0, 3.0, 4.0}> {
  y = MatMul(x, w)
}
)ONNX");
  proto.mutable_graph()->mutable_initializer(0)->set_float_data(2, std::nanf(""));
  auto m = mq::test::to_model(proto);
  auto r = mq::quantize(m, auto_all());
  REQUIRE_FALSE(r);
  CHECK(r.error().code == mq::errc::numeric);
  CHECK_THAT(r.error().message, Catch::Contains("'w'") && Catch::Contains("MatMul"));
}

TEST_CASE("qdq below opset 13: per-channel weights are written as Cast * scale, opset unchanged", "[golden]") {
  auto m = mq::test::to_model(parse_text_model(conv_opset11_text));
  mq::quantize_options o;
  o.format = mq::quant_format::qdq;
  o.per_channel = true;
  auto report = quantize_ok(m, o);
  const auto& g = m.internals().proto.graph();
  CHECK(op_types(g) == std::vector<std::string>{"Cast", "Mul", "Conv"});
  CHECK(m.internals().proto.opset_import(0).version() == 11);
  const auto* scale = find_initializer(g, "w_scale");
  REQUIRE(scale != nullptr);
  // [M, 1, 1, 1] broadcasts along the output channels of the [M, C, kH, kW] weight.
  CHECK(std::vector<std::int64_t>(scale->dims().begin(), scale->dims().end()) == std::vector<std::int64_t>{2, 1, 1, 1});
  CHECK(float_values(*scale) == std::vector<float>{symmetric_scale(1.0), symmetric_scale(2.0)});
  CHECK(int8_values(*find_initializer(g, "w_quantized")) == std::vector<std::int8_t>{32, -127, 127, 32});
  CHECK(find_initializer(g, "w_zero_point") == nullptr);  // symmetric: zero points are not needed
  CHECK_THAT(report.nodes.at(0).reason, Catch::Contains("Cast * scale"));
  CHECK(m.check());
}

TEST_CASE("Cast * scale with uint8 symmetric weights subtracts the zero point 127", "[golden]") {
  // Found by the ONNX Runtime parity test: the Sub was dropped for every symmetric type, but only
  // int8 symmetric has zero points of 0.
  auto m = mq::test::to_model(parse_text_model(conv_opset11_text));
  mq::quantize_options o;
  o.format = mq::quant_format::qdq;
  o.per_channel = true;
  o.weights = mq::weight_type::uint8;
  o.symmetry = mq::weight_symmetry::symmetric;
  quantize_ok(m, o);
  const auto& g = m.internals().proto.graph();
  CHECK(op_types(g) == std::vector<std::string>{"Cast", "Cast", "Sub", "Mul", "Conv"});
  // uint8 symmetric: [0, 254], zero point 127, scale 2 * max|w| / 254 (as int8 symmetric).
  const auto* zp = find_initializer(g, "w_zero_point");
  REQUIRE(zp != nullptr);
  CHECK(zp->raw_data() == std::string("\x7f\x7f"));
  CHECK(float_values(*find_initializer(g, "w_scale")) == std::vector<float>{symmetric_scale(1.0), symmetric_scale(2.0)});
  // round(w / scale) + 127: 0.25 / (1/127) = 31.75 -> 32 + 127, -1 -> -127 + 127, ...
  CHECK(find_initializer(g, "w_quantized")->raw_data() == std::string("\x9f\x00\xfe\x9f", 4));
  CHECK(m.check());
}

TEST_CASE("float16 weights: through a Cast, and in a float16 graph", "[golden]") {
  // 0x3C00 = 1.0, 0xC200 = -3.0, 0x3800 = 0.5, 0x4400 = 4.0 (binary16)
  SECTION("Cast(float16 -> float) feeding MatMul: the float16 constant is quantized, the Cast goes") {
    auto proto = parse_text_model(R"ONNX(
<ir_version: 8, opset_import: ["" : 13]>
g (float[1, 2] x) => (float[1, 2] y) {
  wf = Cast <to = 1> (wh)
  y = MatMul(x, wf)
}
)ONNX");
    auto* wh = proto.mutable_graph()->add_initializer();
    wh->set_name("wh");
    wh->set_data_type(onnx::TensorProto::FLOAT16);
    wh->add_dims(2);
    wh->add_dims(2);
    for (int bits : {0x3C00, 0xC200, 0x3800, 0x4400}) wh->add_int32_data(bits);
    auto m = mq::test::to_model(proto);
    auto report = quantize_ok(m, auto_all());
    const auto& g = m.internals().proto.graph();
    CHECK(op_types(g) == std::vector<std::string>{"DynamicQuantizeLinear", "MatMulInteger", "Cast", "Mul", "Mul"});
    // per column (auto): {1.0, 0.5} with scale 1/127, {-3.0, 4.0} with scale 4/127
    CHECK(int8_values(*find_initializer(g, "wh_quantized")) == std::vector<std::int8_t>{127, -95, 64, 127});
    CHECK(find_initializer(g, "wh") == nullptr);
    CHECK(report.nodes.at(0).bytes_before == 8);  // 4 float16 values
    CHECK(m.check());
  }
  SECTION("a float16 graph: weight-only, cast back to float16 for the op") {
    auto proto = parse_text_model(R"ONNX(
<ir_version: 8, opset_import: ["" : 13]>
g (float16[1, 2] x) => (float16[1, 2] y) {
  y = MatMul(x, wh)
}
)ONNX");
    auto* wh = proto.mutable_graph()->add_initializer();
    wh->set_name("wh");
    wh->set_data_type(onnx::TensorProto::FLOAT16);
    wh->add_dims(2);
    wh->add_dims(2);
    for (int bits : {0x3C00, 0xC200, 0x3800, 0x4400}) wh->add_int32_data(bits);
    auto m = mq::test::to_model(proto);
    auto report = quantize_ok(m, auto_all());
    const auto& g = m.internals().proto.graph();
    // int8 -> float32 (Cast), * scale (Mul), back to float16 (Cast) for the float16 MatMul
    CHECK(op_types(g) == std::vector<std::string>{"Cast", "Mul", "Cast", "MatMul"});
    CHECK(g.node(2).attribute(0).i() == onnx::TensorProto::FLOAT16);
    CHECK(report.nodes.at(0).format == "weight-only");
    CHECK(m.check());
  }
}

TEST_CASE("an already quantized model is reported and nothing is quantized twice", "[golden]") {
  auto proto = parse_text_model(R"ONNX(
<ir_version: 8, opset_import: ["" : 13]>
g (float[1, 2] x) => (float[1, 2] y) <float[2, 2] w = {1.0, -3.0, 0.5, 4.0}> {
  y = MatMul(x, w)
}
)ONNX");
  auto m = mq::test::to_model(proto);
  (void)quantize_ok(m, auto_all());
  const std::string once = m.internals().proto.graph().SerializeAsString();
  auto again = quantize_ok(m, auto_all());
  CHECK(again.quantized_count == 0);
  CHECK(m.internals().proto.graph().SerializeAsString() == once);
  bool noted = false;
  for (const auto& n : again.notes) noted = noted || n.find("already") != std::string::npos;
  CHECK(noted);
}

TEST_CASE("the target check rejects what ONNX Runtime's CPU kernels cannot run", "[golden][target]") {
  auto proto = parse_text_model(R"ONNX(
<ir_version: 8, opset_import: ["" : 13]>
g (uint8[1, 1, 3, 3] x) => (int32[1, 2, 3, 3] y) <int8[2, 1, 1, 1] w = {1, 2}, uint8 xz = {0}, int8[2] wz = {0, 1}> {
  y = ConvInteger(x, w, xz, wz)
}
)ONNX");
  auto bad = mq::passes::check_runtime_support(proto);
  REQUIRE_FALSE(bad);
  CHECK_THAT(bad.error().message, Catch::Contains("ConvInteger") && Catch::Contains("W zero point must be a scalar"));

  auto per_axis = parse_text_model(R"ONNX(
<ir_version: 6, opset_import: ["" : 11]>
g () => (float[2] y) <int8[2] q = {1, 2}, float[2] s = {0.5, 0.25}, int8[2] z = {0, 0}> {
  y = DequantizeLinear(q, s, z)
}
)ONNX");
  auto old = mq::passes::check_runtime_support(per_axis);
  REQUIRE_FALSE(old);
  CHECK_THAT(old.error().message, Catch::Contains("per-axis scales need opset 13"));

  auto fine = parse_text_model(R"ONNX(
<ir_version: 8, opset_import: ["" : 13]>
g (uint8[1, 2] a) => (int32[1, 2] y) <int8[2, 2] b = {1, 2, 3, 4}, uint8 az = {0}, int8[2] bz = {0, 1}> {
  y = MatMulInteger(a, b, az, bz)
}
)ONNX");
  CHECK(mq::passes::check_runtime_support(fine));
}

TEST_CASE("report: table and JSON for a lossless and a lossy weight", "[golden][report]") {
  auto proto = parse_text_model(R"ONNX(
<ir_version: 8, opset_import: ["" : 13]>
g (float[1, 2] x) => (float[1, 2] y) <float[2, 2] exact = {1.0, -1.0, 0.0, 1.0}, float[2, 2] w = {1.0, -3.0, 0.5, 4.0}> {
  a = MatMul(x, exact)
  y = MatMul(a, w)
}
)ONNX");
  auto m = mq::test::to_model(proto);
  auto report = quantize_ok(m, auto_all());
  // +-1 with scale 2/254 quantize to +-127 exactly: no error, infinite SQNR.
  CHECK(std::isinf(report.nodes.at(0).sqnr_db));
  CHECK(std::isfinite(report.nodes.at(1).sqnr_db));
  const std::string json = mq::to_json(report);
  CHECK_THAT(json, Catch::Contains(R"("sqnr_db":null,"lossless":true)"));
  CHECK_THAT(json, Catch::Contains(R"("lossless":false)"));
  CHECK_THAT(json, !Catch::Contains("inf") && !Catch::Contains("nan"));
  const std::string table = mq::to_table(report);
  CHECK_THAT(table, Catch::Contains("total: 2 nodes quantized, 0 skipped"));
}

TEST_CASE("auto leaves weights under 4096 elements in float by default; explicit formats do not", "[golden]") {
  auto proto = parse_text_model(R"ONNX(
<ir_version: 8, opset_import: ["" : 13]>
g (float[1, 64] x) => (float[1, 64] y) {
  a = MatMul(x, small)
  y = MatMul(a, big)
}
)ONNX");
  *proto.mutable_graph()->add_initializer() = mq::test::float_tensor("small", {64, 63}, std::vector<float>(64 * 63, 0.5f));
  *proto.mutable_graph()->add_initializer() = mq::test::float_tensor("big", {63, 64}, std::vector<float>(63 * 64, 0.25f));
  proto.mutable_graph()->mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(1)->set_dim_value(64);
  proto.mutable_graph()->mutable_output(0)->mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(1)->set_dim_value(64);
  SECTION("auto") {
    auto m = mq::test::to_model(proto);
    auto report = quantize_ok(m, {});
    // 64x63 = 4032 < 4096 stays float; 63x64 is also 4032: both stay
    CHECK(report.quantized_count == 0);
    CHECK_THAT(report.nodes.at(0).reason, Catch::Contains("4032 elements") && Catch::Contains("4096"));
    CHECK_THAT(report.options, Catch::Contains("min_elements=4096"));
  }
  SECTION("qoperator quantizes everything, like ONNX Runtime") {
    auto m = mq::test::to_model(proto);
    mq::quantize_options o;
    o.format = mq::quant_format::qoperator;
    auto report = quantize_ok(m, o);
    CHECK(report.quantized_count == 2);
    CHECK_THAT(report.options, Catch::Contains("min_elements=0"));
  }
}

TEST_CASE("opset 9 -> 11 for DynamicQuantizeLinear keeps weights read in place from the file", "[golden]") {
  // Found by the ONNX Runtime parity test: weights of 64 KiB or more are read in place (external
  // data pointing at the model file), and the opset conversion refused every such model.
  auto proto = parse_text_model(R"ONNX(
<ir_version: 4, opset_import: ["" : 9]>
g (float[1, 128] x) => (float[1, 128] y) {
  y = MatMul(x, w)
}
)ONNX");
  std::vector<float> w(128 * 128);  // 64 KiB: read in place
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(static_cast<int>(i % 9) - 4) * 0.5f;
  *proto.mutable_graph()->add_initializer() = mq::test::float_tensor("w", {128, 128}, w);
  mq::test::temp_dir dir;
  mq::test::write_proto(proto, dir / "m.onnx");
  auto m = mq::model::load(dir / "m.onnx");
  REQUIRE(m);
  REQUIRE(m->internals().proto.graph().initializer(0).data_location() == onnx::TensorProto::EXTERNAL);
  mq::quantize_options o;
  o.format = mq::quant_format::qoperator;
  auto report = quantize_ok(*m, o);
  CHECK(report.quantized_count == 1);
  CHECK(m->internals().proto.opset_import(0).version() == 11);
  const auto& g = m->internals().proto.graph();
  CHECK(op_types(g) == std::vector<std::string>{"DynamicQuantizeLinear", "MatMulInteger", "Cast", "Mul", "Mul"});
  // max|w| = 2: scale = 4/254; w / scale = k * 31.75 for w = k * 0.5 -> round half even.
  const auto* q = find_initializer(g, "w_quantized");
  REQUIRE(q != nullptr);
  const std::vector<std::int8_t> expected_row = {-127, -95, -64, -32, 0, 32, 64, 95, 127};
  const auto values = int8_values(*q);
  REQUIRE(values.size() == w.size());
  for (std::size_t i = 0; i < values.size(); ++i) REQUIRE(values[i] == expected_row[i % 9]);
  REQUIRE(m->save(dir / "q.onnx"));
  CHECK(mq::model::load(dir / "q.onnx")->check());
}

TEST_CASE("measure_error off: the same model, and the report says the error was not measured", "[golden][report]") {
  const auto proto = parse_text_model(R"ONNX(
<ir_version: 8, opset_import: ["" : 13]>
g (float[1, 2] x) => (float[1, 2] y) <float[2, 2] w = {1.0, -3.0, 0.5, 4.0}> {
  y = MatMul(x, w)
}
)ONNX");
  mq::quantize_options o;
  o.format = mq::quant_format::qoperator;
  auto measured = mq::test::to_model(proto);
  const auto with = quantize_ok(measured, o);
  o.measure_error = false;
  auto unmeasured = mq::test::to_model(proto);
  const auto without = quantize_ok(unmeasured, o);
  CHECK(measured.serialize().value() == unmeasured.serialize().value());
  REQUIRE(with.nodes.size() == 1);
  REQUIRE(without.nodes.size() == 1);
  CHECK(std::isfinite(with.nodes[0].sqnr_db));
  CHECK(std::isnan(without.nodes[0].sqnr_db));
  CHECK_THAT(mq::to_table(without), Catch::Contains("n/a"));
  CHECK_THAT(mq::to_json(without), Catch::Contains("\"sqnr_db\":null"));
}

// Issue #13 item 2: ONNX Runtime runs models whose node list is not in topological order.
TEST_CASE("an unsorted node list is sorted, keeping the original order where it is valid", "[golden][sort]") {
  auto proto = parse_text_model(R"ONNX(
<ir_version: 8, opset_import: ["" : 13]>
g (float[1, 2] x) => (float[1, 2] y, float[1, 2] z) <float[2, 2] w = {1.0, -3.0, 0.5, 4.0}> {
  a = Relu(x)
  b = MatMul(a, w)
  z = Neg(x)
  y = Sigmoid(b)
}
)ONNX");
  auto& g = *proto.mutable_graph();
  SECTION("already sorted: nothing moves") {
    auto m = mq::test::to_model(proto);
    auto report = quantize_ok(m, auto_all());
    for (const auto& note : report.notes) CHECK_THAT(note, !Catch::Contains("sorted"));
    CHECK(op_types(m.internals().proto.graph()).front() == "Relu");
  }
  SECTION("reversed") {
    std::reverse(g.mutable_node()->begin(), g.mutable_node()->end());  // Sigmoid, Neg, MatMul, Relu
    auto m = mq::test::to_model(proto);
    REQUIRE_FALSE(m.check());  // as written, our verification rejects it
    auto report = quantize_ok(m, auto_all());
    const auto ops = op_types(m.internals().proto.graph());
    // Neg was listed before Relu and needs nothing: it stays first; then the chain in order.
    CHECK(ops.front() == "Neg");
    CHECK(ops.back() == "Sigmoid");
    CHECK(report.quantized_count == 1);
    bool noted = false;
    for (const auto& note : report.notes) noted = noted || note.find("sorted it topologically (3 of 4 nodes moved)") != std::string::npos;
    CHECK(noted);
    CHECK(m.check());
  }
  SECTION("a node inside a subgraph reads a value produced later in the outer list") {
    auto nested = parse_text_model(R"ONNX(
<ir_version: 8, opset_import: ["" : 13]>
g (bool c, float[1, 2] x) => (float[1, 2] y) {
  y = If(c) <then_branch = t () => (float[1, 2] o) { o = Identity(a) },
              else_branch = e () => (float[1, 2] o) { o = Neg(a) }>
  a = Relu(x)
}
)ONNX");
    auto m = mq::test::to_model(nested);
    auto report = quantize_ok(m, auto_all());
    CHECK(op_types(m.internals().proto.graph()) == std::vector<std::string>{"Relu", "If"});
    CHECK(m.check());
  }
  SECTION("a cycle is an error naming the graph and a node") {
    auto cyclic = parse_text_model(R"ONNX(
<ir_version: 8, opset_import: ["" : 13]>
g (float[1, 2] x) => (float[1, 2] y) {
  a = Add(x, b)
  b = Relu(a)
  y = Neg(b)
}
)ONNX");
    auto m = mq::test::to_model(cyclic);
    auto r = mq::quantize(m, auto_all());
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("graph 'main'") && Catch::Contains("cycle"));
  }
}

// Issue #13 item 5: every style of quantized model is recognised, said, and left as it is.
TEST_CASE("already quantized models, in every style, are said so and never quantized twice", "[golden][already]") {
  struct style_case {
    const char* style;
    const char* text;
    const char* found;
  };
  const style_case cases[] = {
      {"integer ops", R"ONNX(
<ir_version: 8, opset_import: ["" : 13]>
g (float[1, 64] x) => (float[1, 64] y) <int8[64, 64] wq = {1}, float ws = {0.5}, int8 wz = {0}, float[64, 64] w2 = {1.0}> {
  xq, xs, xz = DynamicQuantizeLinear(x)
  yi = MatMulInteger(xq, wq, xz, wz)
  yf = Cast <to = 1> (yi)
  s = Mul(xs, ws)
  h = Mul(yf, s)
  y = MatMul(h, w2)
}
)ONNX", "1 MatMulInteger, 1 DynamicQuantizeLinear"},
      {"QLinear ops", R"ONNX(
<ir_version: 8, opset_import: ["" : 13]>
g (uint8[1, 1, 3, 3] x) => (float[1, 2, 3, 3] y) <int8[2, 1, 1, 1] w = {1, 2}, float s = {0.5}, uint8 z = {0}, int8 wz = {0}, float[2, 2, 1, 1] w2 = {1.0, 2.0, 3.0, 4.0}> {
  q = QLinearConv(x, s, z, w, s, wz, s, z)
  f = DequantizeLinear(q, s, z)
  y = Conv(f, w2)
}
)ONNX", "1 QLinearConv"},
      {"com.microsoft", R"ONNX(
<ir_version: 8, opset_import: ["" : 13, "com.microsoft" : 1]>
g (uint8[1, 2] a, uint8[1, 2] b) => (float[1, 2] y) <float s = {0.5}, uint8 z = {0}, float[2, 2] w = {1.0, -3.0, 0.5, 4.0}> {
  c = com.microsoft.QLinearAdd(a, s, z, b, s, z, s, z)
  f = Cast <to = 1> (c)
  y = MatMul(f, w)
}
)ONNX", "1 QLinearAdd (com.microsoft"},
      {"QDQ", R"ONNX(
<ir_version: 8, opset_import: ["" : 13]>
g (float[1, 2] x) => (float[1, 2] y) <int8[2, 2] wq = {1, -3, 2, 4}, float s = {0.5}, int8 z = {0}, float[2, 2] w2 = {1.0, -3.0, 0.5, 4.0}> {
  w = DequantizeLinear(wq, s, z)
  h = MatMul(x, w)
  y = MatMul(h, w2)
}
)ONNX", "1 DequantizeLinear (QuantizeLinear/DequantizeLinear, the QDQ form)"},
      {"Cast * scale", R"ONNX(
<ir_version: 8, opset_import: ["" : 13]>
g (float[1, 1, 3, 3] x) => (float[1, 2, 3, 3] y) <int8[2, 1, 1, 1] wq = {1, 2}, float[2, 1, 1, 1] s = {0.5, 0.25}, float[2, 2, 1, 1] w2 = {1.0, 2.0, 3.0, 4.0}> {
  wf = Cast <to = 1> (wq)
  w = Mul(wf, s)
  h = Conv(x, w)
  y = Conv(h, w2)
}
)ONNX", "1 Cast of an 8-bit weight"},
  };
  for (const auto& c : cases) {
    INFO(c.style);
    auto m = mq::test::to_model(parse_text_model(c.text));
    const std::string before = m.internals().proto.SerializeAsString();
    auto report = quantize_ok(m, auto_all());
    CHECK(report.quantized_count == 0);
    CHECK(report.skipped_count >= 1);  // the float MatMul/Conv after the quantized part is left alone
    for (const auto& n : report.nodes) CHECK(n.reason == "the model is already quantized: never quantized twice");
    REQUIRE(report.warnings.size() == 1);
    CHECK_THAT(report.warnings[0], Catch::StartsWith("the model is already quantized (found ") && Catch::Contains(c.found));
    CHECK(m.internals().proto.SerializeAsString() == before);  // not even metadata
  }
}

TEST_CASE("a float model with 8-bit tensors that are not weights is not taken as quantized", "[golden][already]") {
  auto m = mq::test::to_model(parse_text_model(R"ONNX(
<ir_version: 8, opset_import: ["" : 13]>
g (float[1, 2] x) => (float[1, 2] y) <uint8[2] mask = {1, 0}, float[2, 2] w = {1.0, -3.0, 0.5, 4.0}> {
  mf = Cast <to = 1> (mask)
  h = MatMul(x, w)
  y = Add(h, mf)
}
)ONNX"));
  auto report = quantize_ok(m, auto_all());
  CHECK(report.quantized_count == 1);
  CHECK(report.warnings.empty());
}

// Issue #13 item 3: auto is the best form, so MatMul weights are per column (MatMulInteger takes
// a zero point per column; ONNX Runtime runs it as fast as per tensor).
TEST_CASE("auto quantizes MatMul weights per column", "[golden][auto]") {
  auto proto = parse_text_model(R"ONNX(
<ir_version: 8, opset_import: ["" : 13]>
g (float[1, 2] x) => (float[1, 2] y) <float[2, 2] w = {1.0, -0.01, 0.5, 0.02}> {
  y = MatMul(x, w)
}
)ONNX");
  auto m = mq::test::to_model(proto);
  auto report = quantize_ok(m, auto_all());
  REQUIRE(report.nodes.size() == 1);
  CHECK(report.nodes[0].format == "qoperator");
  CHECK(report.nodes[0].granularity == "per-channel(axis=1)");
  const auto& g = m.internals().proto.graph();
  const auto* scale = find_initializer(g, "w_scale");
  REQUIRE(scale != nullptr);
  // Column 0 holds {1.0, 0.5}, column 1 {-0.01, 0.02}: one scale each.
  CHECK(float_values(*scale) == std::vector<float>{symmetric_scale(1.0), symmetric_scale(0.02)});
  // int8 symmetric: every zero point is 0, written once (ONNX Runtime's scalar-zero-point GEMM).
  const auto* zero_point = find_initializer(g, "w_zero_point");
  REQUIRE(zero_point != nullptr);
  CHECK(zero_point->dims_size() == 0);
  CHECK(m.check());
}

// Issue #13 item 4: Gather tables (embeddings) are quantized as ONNX Runtime's quantize_dynamic
// does: uint8 asymmetric per tensor, Gather of the 8-bit table, DequantizeLinear of the rows.
TEST_CASE("Gather of a constant table: ONNX Runtime's form in qoperator and auto, weight-only in qdq", "[golden][gather]") {
  const char* text = R"ONNX(
<ir_version: 8, opset_import: ["" : 13]>
g (int64[1, 2] ids) => (float[1, 2, 3] y) <float[2, 3] table = {0.0, 1.0, 2.0, -1.0, 0.5, 1.5}> {
  y = Gather <axis = 0> (table, ids)
}
)ONNX";
  // rmin -1, rmax 2: scale 3/255, zero point round(1 / scale) = 85; q = round(v / scale) + 85
  // (0.5 / scale = 42.5 and 1.5 / scale = 127.5: ties to even).
  const std::vector<std::uint8_t> expected = {85, 170, 255, 0, 127, 213};
  const auto uint8_values = [](const onnx::TensorProto& t) {
    return std::vector<std::uint8_t>(t.raw_data().begin(), t.raw_data().end());
  };
  for (const auto format : {mq::quant_format::qoperator, mq::quant_format::automatic}) {
    auto m = mq::test::to_model(parse_text_model(text));
    auto options = auto_all();
    options.format = format;
    auto report = quantize_ok(m, options);
    const auto& g = m.internals().proto.graph();
    CHECK(op_types(g) == std::vector<std::string>{"Gather", "DequantizeLinear"});
    REQUIRE(report.nodes.size() == 1);
    CHECK(report.nodes[0].quantized);
    CHECK(report.nodes[0].granularity == "per-tensor");
    const auto* q = find_initializer(g, "table_quantized");
    REQUIRE(q != nullptr);
    CHECK(q->data_type() == onnx::TensorProto::UINT8);
    CHECK(uint8_values(*q) == expected);
    CHECK(float_values(*find_initializer(g, "table_scale")) == std::vector<float>{static_cast<float>(3.0 / 255.0)});
    CHECK(uint8_values(*find_initializer(g, "table_zero_point")) == std::vector<std::uint8_t>{85});
    CHECK(find_initializer(g, "table") == nullptr);
    CHECK(g.node(0).input(0) == "table_quantized");
    CHECK(g.node(1).output(0) == "y");
    CHECK(m.check());
  }
  SECTION("qdq: DequantizeLinear of the table feeds the Gather") {
    auto m = mq::test::to_model(parse_text_model(text));
    auto options = auto_all();
    options.format = mq::quant_format::qdq;
    (void)quantize_ok(m, options);
    CHECK(op_types(m.internals().proto.graph()) == std::vector<std::string>{"DequantizeLinear", "Gather"});
    CHECK(m.check());
  }
  SECTION("constant indices: left for ONNX Runtime to fold") {
    auto proto = parse_text_model(text);
    *proto.mutable_graph()->add_initializer() = [] {
      onnx::TensorProto t;
      t.set_name("ids");
      t.set_data_type(onnx::TensorProto::INT64);
      t.add_dims(1);
      t.add_dims(2);
      t.add_int64_data(0);
      t.add_int64_data(1);
      return t;
    }();
    proto.mutable_graph()->clear_input();
    auto m = mq::test::to_model(proto);
    auto report = quantize_ok(m, auto_all());
    CHECK(report.quantized_count == 0);
  }
}
