// Static INT8 (quantize_options::calibration) on small synthetic models: which nodes are
// quantized and why, the QDQ structure ONNX Runtime needs to fuse (explicit zero points, per-channel
// weights, int32 bias at x_scale * w_scale, Relu folded into the Q), calibrated parameters computed
// by hand, the accuracy rules and the guard; the result runs on the executor close to FP32.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <map>
#include <random>

#include "mq/calibration.h"
#include "mq/quantize.h"
#include "mq/session.h"
#include "onnx_io/model_impl.h"
#include "passes/runtime_check.h"
#include "passes/static_int8.h"
#include "support/exec_helpers.h"
#include "support/test_models.h"

namespace {

std::vector<float> pattern(std::size_t n, float scale, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = u(rng) * scale;
  return v;
}

// x[1,4,8,8] -> Conv(w1 [8,4,3,3], b1) -> Relu -> Conv(w2 [8,8,3,3], b2) -> Add(., r1) -> y.
onnx::ModelProto two_convs() {
  auto m = mq::test::parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
g (float[1, 4, 8, 8] x) => (float[1, 8, 8, 8] y) {
  c1 = Conv <pads = [1, 1, 1, 1]> (x, w1, b1)
  r1 = Relu(c1)
  c2 = Conv <pads = [1, 1, 1, 1]> (r1, w2, b2)
  y = Add(c2, r1)
}
)");
  auto* g = m.mutable_graph();
  *g->add_initializer() = mq::test::float_tensor("w1", {8, 4, 3, 3}, pattern(288, 0.5f, 1));
  *g->add_initializer() = mq::test::float_tensor("b1", {8}, pattern(8, 0.1f, 2));
  *g->add_initializer() = mq::test::float_tensor("w2", {8, 8, 3, 3}, pattern(576, 0.3f, 3));
  *g->add_initializer() = mq::test::float_tensor("b2", {8}, pattern(8, 0.1f, 4));
  return m;
}

// x[1,4,8,8] -> c1 = Conv(x, w1 [8,4,3,3], b1) -> r1 = Relu(c1), then `rest` (ONNX text reading r1
// and writing y, of type `y_type`); w1 and b1 are added, the caller adds the rest's initializers.
onnx::ModelProto conv_relu_then(const std::string& y_type, const std::string& rest) {
  auto m = mq::test::parse_text_model("<ir_version: 8, opset_import: [\"\" : 13]>\ng (float[1, 4, 8, 8] x) => (" + y_type +
                                      " y) {\n  c1 = Conv <pads = [1, 1, 1, 1]> (x, w1, b1)\n  r1 = Relu(c1)\n" + rest + "}\n");
  auto* g = m.mutable_graph();
  *g->add_initializer() = mq::test::float_tensor("w1", {8, 4, 3, 3}, pattern(288, 0.5f, 1));
  *g->add_initializer() = mq::test::float_tensor("b1", {8}, pattern(8, 0.1f, 2));
  return m;
}

// Samples of x uniform in [-1, 3], each holding both ends exactly (so minmax sees [-1, 3]).
std::vector<std::map<std::string, mq::tensor>> samples(std::size_t n) {
  std::vector<std::map<std::string, mq::tensor>> out;
  for (std::size_t k = 0; k < n; ++k) {
    auto v = pattern(256, 1.0f, static_cast<unsigned>(10 + k));
    for (auto& x : v) x = 1 + 2 * x;  // [-1, 3)
    v[0] = -1;
    v[1] = 3;
    out.push_back({{"x", mq::tensor::from<float>({1, 4, 8, 8}, v)}});
  }
  return out;
}

const onnx::NodeProto* producing(const onnx::GraphProto& g, const std::string& name) {
  for (const auto& n : g.node()) {
    for (const auto& o : n.output()) {
      if (o == name) return &n;
    }
  }
  return nullptr;
}

const onnx::NodeProto* named_op(const onnx::GraphProto& g, const std::string& op, const std::string& input0) {
  for (const auto& n : g.node()) {
    if (n.op_type() == op && n.input_size() > 0 && n.input(0) == input0) return &n;
  }
  return nullptr;
}

const onnx::TensorProto* init(const onnx::GraphProto& g, const std::string& name) {
  for (const auto& t : g.initializer()) {
    if (t.name() == name) return &t;
  }
  return nullptr;
}

template <class T>
std::vector<T> raw(const onnx::TensorProto& t) {
  std::vector<T> v(t.raw_data().size() / sizeof(T));
  std::memcpy(v.data(), t.raw_data().data(), t.raw_data().size());
  return v;
}

mq::quantize_options static_options(std::size_t n_samples, double target = 0) {
  mq::quantize_options o;
  mq::calibration_options c;
  c.data = mq::calibration_data::from_samples(samples(n_samples));
  o.calibration = c;
  o.target_snr_db = target;
  return o;
}

double snr_db(const std::vector<float>& ref, const std::vector<float>& got) {
  double s = 0, n = 0;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    s += static_cast<double>(ref[i]) * ref[i];
    n += (static_cast<double>(ref[i]) - got[i]) * (static_cast<double>(ref[i]) - got[i]);
  }
  return 10 * std::log10(s / n);
}

// SNR of output y of the simulated INT8 model `m` against `fp32`, both on the executor, on a
// sample that calibration did not see (samples(5).back()).
double executor_snr_db(const mq::model& fp32, const mq::model& m) {
  auto sq = mq::session::create(m);
  auto sf = mq::session::create(fp32);
  REQUIRE(sq);
  REQUIRE(sf);
  const auto in = samples(5).back();
  auto yq = sq->run(in);
  auto yf = sf->run(in);
  REQUIRE(yq);
  REQUIRE(yf);
  return snr_db(mq::test::values_of(yf->at("y")), mq::test::values_of(yq->at("y")));
}

// The scales of the DequantizeLinear that feeds `node`'s weight (input 1): a 1-D float initializer.
std::vector<float> weight_scales(const onnx::GraphProto& g, const onnx::NodeProto& node) {
  const onnx::NodeProto* wdq = producing(g, node.input(1));
  REQUIRE(wdq);
  REQUIRE(wdq->op_type() == "DequantizeLinear");
  const onnx::TensorProto* scales = init(g, wdq->input(1));
  REQUIRE(scales);
  REQUIRE(scales->dims_size() == 1);
  std::vector<float> s(static_cast<std::size_t>(scales->dims(0)));
  REQUIRE(scales->raw_data().size() == s.size() * sizeof(float));
  std::memcpy(s.data(), scales->raw_data().data(), s.size() * sizeof(float));
  return s;
}

}  // namespace

TEST_CASE("static int8: QDQ placement, parameters and the runtime's fusion rules", "[static]") {
  mq::model m = mq::test::to_model(two_convs());
  mq::model fp32 = mq::test::to_model(two_convs());
  auto report = mq::quantize(m, static_options(4));
  INFO((report ? std::string() : report.error().message));
  REQUIRE(report);
  CHECK(report->calibration_method == "minmax");
  CHECK(report->calibration_samples == 4);  // the guard is off (target 0): nothing held out
  CHECK(report->guard_samples == 0);
  REQUIRE(report->nodes.size() == 2);
  for (const auto& n : report->nodes) {
    INFO(n.node << ": " << n.reason);
    CHECK(n.quantized);
    CHECK(n.format == "static");
    CHECK(n.granularity == "per-channel(axis=0)");
  }
  const auto& g = m.internals().proto.graph();
  REQUIRE(m.check());

  // The graph input is quantized with minmax's [-1, 3]: scale 4/255, zero point round(1 / (4/255)) = 64.
  const auto* qx = named_op(g, "QuantizeLinear", "x");
  REQUIRE(qx != nullptr);
  REQUIRE(qx->input_size() == 3);  // explicit zero point
  const auto* sx = init(g, qx->input(1));
  const auto* zx = init(g, qx->input(2));
  REQUIRE(sx);
  REQUIRE(zx);
  CHECK(zx->data_type() == onnx::TensorProto::UINT8);
  CHECK(raw<float>(*sx)[0] == 4.0f / 255.0f);
  CHECK(raw<std::uint8_t>(*zx)[0] == 64);

  // Conv 1's weight: int8 per output channel; its bias int32 at x_scale * w_scale, zero point 0.
  const onnx::NodeProto* conv1 = nullptr;
  for (const auto& n : g.node()) {
    if (n.op_type() == "Conv" && conv1 == nullptr) conv1 = &n;
  }
  REQUIRE(conv1 != nullptr);
  const auto* wdq = producing(g, conv1->input(1));
  REQUIRE(wdq);
  CHECK(wdq->op_type() == "DequantizeLinear");
  CHECK(init(g, wdq->input(0))->data_type() == onnx::TensorProto::INT8);
  const auto wscale = raw<float>(*init(g, wdq->input(1)));
  REQUIRE(wscale.size() == 8);
  const auto* bdq = producing(g, conv1->input(2));
  REQUIRE(bdq);
  CHECK(init(g, bdq->input(0))->data_type() == onnx::TensorProto::INT32);
  const auto bscale = raw<float>(*init(g, bdq->input(1)));
  const auto bzero = raw<std::int32_t>(*init(g, bdq->input(2)));
  for (std::size_t c = 0; c < 8; ++c) {
    CHECK(bscale[c] == raw<float>(*sx)[0] * wscale[c]);
    CHECK(bzero[c] == 0);
  }

  // The Relu after Conv 1 is folded: Conv 1 writes straight into the Relu, whose output has the Q
  // (zero point 0, so ONNX Runtime drops the Relu); Conv 1's own output has none.
  CHECK(named_op(g, "QuantizeLinear", "c1") == nullptr);
  const auto* qr = named_op(g, "QuantizeLinear", "r1_float");
  REQUIRE(qr != nullptr);
  CHECK(raw<std::uint8_t>(*init(g, qr->input(2)))[0] == 0);
  // The graph output stays float.
  const auto* y = producing(g, "y");
  REQUIRE(y);
  CHECK(y->op_type() == "Add");

  // The simulated INT8 model runs on the executor close to FP32.
  CHECK(executor_snr_db(fp32, m) > 25);
}

TEST_CASE("static int8: a depthwise Conv alone stays float, inside an int8 region it joins", "[static]") {
  const char* text = R"(
<ir_version: 8, opset_import: ["" : 13]>
g (float[1, 4, 8, 8] x) => (float[1, 4, 8, 8] y) {
  y = Conv <group = 4, pads = [1, 1, 1, 1]> (x, w)
}
)";
  auto proto = mq::test::parse_text_model(text);
  *proto.mutable_graph()->add_initializer() = mq::test::float_tensor("w", {4, 1, 3, 3}, pattern(36, 0.5f, 7));
  mq::model m = mq::test::to_model(proto);
  auto report = mq::quantize(m, static_options(3));
  REQUIRE(report);
  REQUIRE(report->nodes.size() == 1);
  CHECK_FALSE(report->nodes[0].quantized);
  // Nothing left in int8: the model goes back to auto (min_int8_mac_share) ...
  CHECK_THAT(report->static_fallback, Catch::Contains("only 0% of the multiply-adds"));
  // ... and with the fallback off, static INT8 says why the Conv stays float.
  mq::model again = mq::test::to_model(proto);
  auto options = static_options(3);
  options.calibration->min_int8_mac_share = 0;
  auto kept = mq::quantize(again, options);
  REQUIRE(kept);
  REQUIRE(kept->nodes.size() == 1);
  CHECK(kept->static_fallback.empty());
  CHECK_THAT(kept->nodes[0].reason, Catch::Contains("depthwise"));
}

TEST_CASE("static int8: a float Conv reading an int8 tensor gets per-channel weights (ONNX Runtime would quantize it per tensor)", "[static]") {
  // c1 is quantized; the depthwise Conv after it stays float (nothing quantized follows it), but
  // it reads r1 through a DequantizeLinear, so ONNX Runtime's WeightBiasQuantization would give
  // it per-tensor int8 weights: static INT8 gives it per-channel ones, which the guard measures.
  auto proto = conv_relu_then("float[1, 8, 8, 8]", "  y = Conv <group = 8, pads = [1, 1, 1, 1]> (r1, wd, bd)\n");
  auto* g = proto.mutable_graph();
  std::vector<float> wd = pattern(72, 0.5f, 5);
  for (std::size_t k = 0; k < 9; ++k) wd[9 + k] *= 20;  // channel 1 twenty times wider: per tensor would crush the others
  *g->add_initializer() = mq::test::float_tensor("wd", {8, 1, 3, 3}, wd);
  *g->add_initializer() = mq::test::float_tensor("bd", {8}, pattern(8, 0.1f, 6));
  const mq::model fp32 = mq::test::to_model(proto);
  mq::model m = mq::test::to_model(proto);
  auto report = mq::quantize(m, static_options(4));
  REQUIRE(report);
  const auto& q = m.internals().proto.graph();
  const onnx::NodeProto* dw = nullptr;
  for (const auto& n : q.node()) {
    if (n.op_type() == "Conv" && n.output(0) == "y") dw = &n;
  }
  REQUIRE(dw);
  const std::vector<float> s = weight_scales(q, *dw);
  REQUIRE(s.size() == 8);
  for (std::size_t c = 0; c < 8; ++c) {
    float peak = 0;
    for (std::size_t k = 0; k < 9; ++k) peak = std::max(peak, std::fabs(wd[c * 9 + k]));
    CHECK(s[c] == Approx(peak / 127.0f).epsilon(1e-6));  // symmetric int8, one scale per channel
  }
  const onnx::NodeProto* bdq = producing(q, dw->input(2));
  REQUIRE(bdq);
  CHECK(bdq->op_type() == "DequantizeLinear");
  for (const auto& n : q.node()) CHECK(!(n.op_type() == "QuantizeLinear" && n.input(0) == "y"));  // its output stays float
  CHECK(mq::passes::check_qdq_fusion(m.internals().proto, onnx::TensorProto::UINT8));
  bool explained = false;
  for (const auto& n : report->nodes) {
    if (n.op_type == "Conv" && !n.quantized) explained = n.reason.find("int8 per channel all the same") != std::string::npos;
  }
  CHECK(explained);
  // And it still computes what the float model does (on a sample it was not calibrated on).
  CHECK(executor_snr_db(fp32, m) > 25);
}

TEST_CASE("static int8: a ConvTranspose reading an int8 tensor gets weights per output channel (axis 1)", "[static]") {
  auto proto = conv_relu_then("float[1, 4, 16, 16]", "  y = ConvTranspose <strides = [2, 2]> (r1, wt, bt)\n");
  auto* g = proto.mutable_graph();
  std::vector<float> wt = pattern(128, 0.4f, 8);  // [8 in, 4 out, 2, 2]
  for (std::size_t i = 0; i < 8; ++i) {
    for (std::size_t k = 0; k < 4; ++k) wt[i * 16 + 2 * 4 + k] *= 10;  // output channel 2 ten times wider
  }
  *g->add_initializer() = mq::test::float_tensor("wt", {8, 4, 2, 2}, wt);
  *g->add_initializer() = mq::test::float_tensor("bt", {4}, pattern(4, 0.1f, 9));
  const mq::model fp32 = mq::test::to_model(proto);
  mq::model m = mq::test::to_model(proto);
  auto report = mq::quantize(m, static_options(4));
  REQUIRE(report);
  const auto& q = m.internals().proto.graph();
  const onnx::NodeProto* ct = nullptr;
  for (const auto& n : q.node()) {
    if (n.op_type() == "ConvTranspose") ct = &n;
  }
  REQUIRE(ct);
  const std::vector<float> s = weight_scales(q, *ct);
  REQUIRE(s.size() == 4);
  std::int64_t axis = -1;
  for (const auto& a : producing(q, ct->input(1))->attribute()) {
    if (a.name() == "axis") axis = a.i();
  }
  CHECK(axis == 1);
  for (std::size_t o = 0; o < 4; ++o) {
    float peak = 0;
    for (std::size_t i = 0; i < 8; ++i) {
      for (std::size_t k = 0; k < 4; ++k) peak = std::max(peak, std::fabs(wt[i * 16 + o * 4 + k]));
    }
    CHECK(s[o] == Approx(peak / 127.0f).epsilon(1e-6));
  }
  CHECK(ct->input(2) == "bt");  // the bias stays float (ONNX Runtime leaves it so)
  bool listed = false;
  for (const auto& n : report->nodes) {
    if (n.op_type == "ConvTranspose") listed = !n.quantized && n.reason.find("int8 per channel all the same") != std::string::npos;
  }
  CHECK(listed);
  CHECK(executor_snr_db(fp32, m) > 25);
}

TEST_CASE("static int8: a node whose bias int8 cannot hold stays float, and the rest is still quantized", "[static]") {
  // The depthwise Conv reads the quantized r1 (so it would be weight-only), but its bias does not
  // fit int32 at x_scale * w_scale. Before the fix the plan kept it, emit gave up on the whole
  // graph, and the model was written with no quantized node at all while the report said 1.
  auto proto = conv_relu_then("float[1, 8, 8, 8]", "  y = Conv <group = 8, pads = [1, 1, 1, 1]> (r1, wd, bd)\n");
  auto* g = proto.mutable_graph();
  *g->add_initializer() = mq::test::float_tensor("wd", {8, 1, 3, 3}, pattern(72, 0.5f, 5));
  // |bias| / (x_scale * w_scale) is far beyond 2^31 for scales of about 1e-2 each.
  *g->add_initializer() = mq::test::float_tensor("bd", {8}, std::vector<float>(8, 1e8f));
  mq::model m = mq::test::to_model(proto);
  auto report = mq::quantize(m, static_options(4, 0));
  REQUIRE(report);
  const auto& q = m.internals().proto.graph();
  std::size_t quantize_nodes = 0;
  const onnx::NodeProto* c1 = nullptr;
  const onnx::NodeProto* dw = nullptr;
  for (const auto& n : q.node()) {
    if (n.op_type() == "QuantizeLinear") ++quantize_nodes;
    if (n.op_type() == "Conv" && n.output(0) == "c1") c1 = &n;
    if (n.op_type() == "Conv" && n.output(0) == "y") dw = &n;
  }
  CHECK(quantize_nodes >= 2);  // x and r1
  REQUIRE(c1);
  REQUIRE(dw);
  CHECK(weight_scales(q, *c1).size() == 8);  // c1 int8 per channel behind its DequantizeLinear
  CHECK(dw->input(1) == "wd");               // the depthwise Conv plain float: weight and bias
  CHECK(dw->input(2) == "bd");
  CHECK(mq::passes::check_qdq_fusion(m.internals().proto, onnx::TensorProto::UINT8));
  CHECK(report->quantized_count == 1);
}

TEST_CASE("static int8: nodes that share a weight and a bias each get their own quantized copies", "[static]") {
  // c2 and c3 read the same w2 and b2 (exports reuse initializers: deimv2's decoder heads do). Each
  // bias is int32 at its own input's scale x w_scale, so the two cannot share one tensor; before
  // the fix the second DequantizeLinear redefined the first's output and the model was invalid.
  auto proto = conv_relu_then("float[1, 8, 8, 8]", "  c2 = Conv <pads = [1, 1, 1, 1]> (r1, w2, b2)\n"
                                                   "  r2 = Relu(c2)\n"
                                                   "  c3 = Conv <pads = [1, 1, 1, 1]> (r2, w2, b2)\n"
                                                   "  y = Add(c3, r1)\n");
  auto* g = proto.mutable_graph();
  *g->add_initializer() = mq::test::float_tensor("w2", {8, 8, 3, 3}, pattern(576, 0.3f, 3));
  *g->add_initializer() = mq::test::float_tensor("b2", {8}, pattern(8, 0.1f, 4));
  const mq::model fp32 = mq::test::to_model(proto);
  mq::model m = mq::test::to_model(proto);
  auto report = mq::quantize(m, static_options(4));
  INFO((report ? std::string() : report.error().message));
  REQUIRE(report);
  CHECK(report->quantized_count == 3);
  REQUIRE(m.check());
  const auto& q = m.internals().proto.graph();
  std::vector<const onnx::NodeProto*> shared;
  for (const auto& n : q.node()) {
    if (n.op_type() == "Conv" && n.output(0) != "c1_float" && n.output(0) != "c1") shared.push_back(&n);
  }
  REQUIRE(shared.size() == 2);
  CHECK(shared[0]->input(2) != shared[1]->input(2));
  for (const auto* conv : shared) {
    const auto* xdq = producing(q, conv->input(0));
    REQUIRE(xdq);
    REQUIRE(xdq->op_type() == "DequantizeLinear");
    const float x_scale = raw<float>(*init(q, xdq->input(1)))[0];
    const std::vector<float> w_scale = weight_scales(q, *conv);
    const auto* bdq = producing(q, conv->input(2));
    REQUIRE(bdq);
    const auto b_scale = raw<float>(*init(q, bdq->input(1)));
    REQUIRE(b_scale.size() == 8);
    for (std::size_t c = 0; c < 8; ++c) CHECK(b_scale[c] == x_scale * w_scale[c]);
  }
  CHECK(mq::passes::check_qdq_fusion(m.internals().proto, onnx::TensorProto::UINT8));
  CHECK(executor_snr_db(fp32, m) > 25);
}

TEST_CASE("static int8: too little work in int8 gives the model back to auto", "[static]") {
  // c1 (36 multiply-adds per output, quantized) feeds two 7x7 depthwise Convs (49 each, float for
  // speed): int8 would run 36 / (36 + 49 + 49) of the work, under min_int8_mac_share.
  auto proto = conv_relu_then("float[1, 8, 8, 8]", "  d1 = Conv <group = 8, pads = [3, 3, 3, 3]> (r1, wd1, bd1)\n"
                                                  "  y = Conv <group = 8, pads = [3, 3, 3, 3]> (d1, wd2, bd2)\n");
  auto* g = proto.mutable_graph();
  *g->add_initializer() = mq::test::float_tensor("wd1", {8, 1, 7, 7}, pattern(392, 0.2f, 3));
  *g->add_initializer() = mq::test::float_tensor("bd1", {8}, pattern(8, 0.1f, 4));
  *g->add_initializer() = mq::test::float_tensor("wd2", {8, 1, 7, 7}, pattern(392, 0.2f, 5));
  *g->add_initializer() = mq::test::float_tensor("bd2", {8}, pattern(8, 0.1f, 6));
  mq::model m = mq::test::to_model(proto);
  auto report = mq::quantize(m, static_options(4, 0));
  REQUIRE(report);
  const double share = 36.0 / (36.0 + 49.0 + 49.0);  // every Conv has 8 x 8 x 8 outputs
  CHECK(report->int8_mac_share == Approx(share).epsilon(1e-9));
  REQUIRE(share < mq::calibration_options{}.min_int8_mac_share);
  CHECK_THAT(report->static_fallback, Catch::Contains("only 27% of the multiply-adds in int8"));
  CHECK(report->calibration_method.empty());  // what was written is auto without calibration
  bool noted = false;
  for (const auto& n : report->notes) noted = noted || n == report->static_fallback;
  CHECK(noted);
  for (const auto& n : m.internals().proto.graph().node()) CHECK(n.op_type() != "QuantizeLinear");
  CHECK_THAT(mq::to_json(*report), Catch::Contains("\"static_fallback\""));

  // --dry-run reports what a real run writes, fallback included, and leaves the model alone.
  mq::model dry = mq::test::to_model(proto);
  auto options = static_options(4, 0);
  options.dry_run = true;
  auto dry_report = mq::quantize(dry, options);
  REQUIRE(dry_report);
  CHECK(dry_report->static_fallback == report->static_fallback);
  CHECK(dry_report->quantized_count == report->quantized_count);
  CHECK(dry.internals().proto.SerializeAsString() == proto.SerializeAsString());
}

TEST_CASE("static int8: --op-types limits the quantized op types", "[static]") {
  auto options = static_options(4);
  options.calibration->min_int8_mac_share = 0;  // see the plan itself, however little it quantizes
  SECTION("Conv listed: both Convs") {
    options.op_types = {"Conv"};
    mq::model m = mq::test::to_model(two_convs());
    auto report = mq::quantize(m, options);
    REQUIRE(report);
    CHECK(report->quantized_count == 2);
  }
  SECTION("Conv not listed: no Conv, and each says why") {
    options.op_types = {"MatMul"};
    mq::model m = mq::test::to_model(two_convs());
    auto report = mq::quantize(m, options);
    REQUIRE(report);
    CHECK(report->quantized_count == 0);
    for (const auto& n : m.internals().proto.graph().node()) CHECK(n.op_type() != "QuantizeLinear");
    std::size_t explained = 0;
    for (const auto& n : report->nodes) explained += n.reason.find("Conv is not in --op-types") != std::string::npos ? 1 : 0;
    CHECK(explained == 2);
  }
}

TEST_CASE("static int8: a guard under the target gives a model that ranks its outputs to auto", "[static]") {
  // y = Conv(...) -> TopK: the graph's outputs are a data-dependent selection.
  auto ranked = mq::test::parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
g (float[1, 4, 8, 8] x) => (float[1, 5] values, int64[1, 5] indices) {
  c1 = Conv <pads = [1, 1, 1, 1]> (x, w1, b1)
  flat = Flatten(c1)
  k = Constant <value = int64[1] {5}> ()
  values, indices = TopK(flat, k)
}
)");
  const auto plain = two_convs();
  CHECK(mq::passes::ranks_outputs(ranked.graph()));
  CHECK_FALSE(mq::passes::ranks_outputs(plain.graph()));
  mq::quantize_report report;
  report.int8_mac_share = 0.9;
  report.output_snr_db = 11.2;
  const auto options = static_options(4, 25);
  CHECK_THAT(mq::passes::static_fallback_reason(report, options, ranked.graph()),
             Catch::StartsWith("static INT8 reaches only 11.2 dB on the held-out samples (target 25.0 dB) and this "
                               "model ranks its outputs itself (TopK)"));
  // A raw output at that level stays static (yolox's head: its detections hold); so does a
  // ranked model that reaches the target, or one checked with the guard off.
  CHECK(mq::passes::static_fallback_reason(report, options, plain.graph()).empty());
  report.output_snr_db = 26;
  CHECK(mq::passes::static_fallback_reason(report, options, ranked.graph()).empty());
  report.output_snr_db = 11.2;
  CHECK(mq::passes::static_fallback_reason(report, static_options(4, 0), ranked.graph()).empty());
  // Too little in int8 comes first, whatever the outputs.
  report.int8_mac_share = 0.27;
  CHECK_THAT(mq::passes::static_fallback_reason(report, options, plain.graph()),
             Catch::StartsWith("static INT8 would run only 27% of the multiply-adds in int8"));
}

TEST_CASE("static int8: the held-out samples are spread over the set, never calibrated on", "[static]") {
  // 8 samples: a quarter (2) is held out, evenly spread: samples 2 and 6 (not the last two, which
  // are often frames of the scene before them). Those two hold x = +-10; the others +-1 .. +-3.
  std::vector<std::map<std::string, mq::tensor>> data;
  for (int k = 0; k < 8; ++k) {
    const bool held = k == 2 || k == 6;
    auto v = pattern(256, 0.5f, static_cast<unsigned>(40 + k));
    v[0] = held ? -10.0f : -1.0f - static_cast<float>(k % 3);
    v[1] = held ? 10.0f : 1.0f + static_cast<float>(k % 3);
    data.push_back({{"x", mq::tensor::from<float>({1, 4, 8, 8}, v)}});
  }
  mq::model m = mq::test::to_model(two_convs());
  mq::quantize_options o;
  mq::calibration_options c;
  c.data = mq::calibration_data::from_samples(data);
  o.calibration = c;
  o.target_snr_db = 1;  // reached at once: the guard only measures
  auto report = mq::quantize(m, o);
  REQUIRE(report);
  CHECK(report->guard_samples == 2);
  bool seen = false;
  for (const auto& a : report->activations) {
    if (a.tensor != "x") continue;
    seen = true;
    CHECK(a.min == -3.0f);  // samples 0, 1, 3, 4, 5, 7: k % 3 reaches 2
    CHECK(a.max == 3.0f);
  }
  CHECK(seen);
}

TEST_CASE("static int8: the accuracy guard puts nodes back to float until the target", "[static]") {
  mq::model m = mq::test::to_model(two_convs());
  // No model reaches 200 dB: the guard keeps putting nodes back, each step measured (and the
  // fallback to auto is off: what is left in int8 is small by then).
  auto options = static_options(4, 200);
  options.calibration->min_int8_mac_share = 0;
  auto report = mq::quantize(m, options);
  REQUIRE(report);
  CHECK(report->guard_samples == 1);
  REQUIRE(!report->guard.empty());
  for (const auto& step : report->guard) {
    INFO(step.node);
    CHECK(step.snr_after_db > step.snr_before_db);
  }
  std::size_t quantized = 0;
  for (const auto& n : report->nodes) quantized += n.quantized ? 1 : 0;
  CHECK(quantized < 2);
  bool reason = false;
  for (const auto& n : report->nodes) reason = reason || n.reason.find("accuracy guard") != std::string::npos;
  CHECK(reason);
  SECTION("a reachable target stops the guard at once") {
    mq::model again = mq::test::to_model(two_convs());
    auto easy = mq::quantize(again, static_options(4, 10));
    REQUIRE(easy);
    CHECK(easy->guard.empty());
    CHECK(easy->output_snr_db >= 10);
  }
}

TEST_CASE("static int8: the fusion check refuses groups ONNX Runtime would not fuse", "[static]") {
  mq::model m = mq::test::to_model(two_convs());
  auto report = mq::quantize(m, static_options(4));
  REQUIRE(report);
  const onnx::ModelProto good = m.internals().proto;
  CHECK(mq::passes::check_qdq_fusion(good, onnx::TensorProto::UINT8));

  // The first quantized Conv and the DequantizeLinear nodes feeding it, in a copy.
  auto first_conv = [](onnx::ModelProto& p) -> onnx::NodeProto* {
    for (auto& n : *p.mutable_graph()->mutable_node()) {
      if (n.op_type() == "Conv") return &n;
    }
    return nullptr;
  };
  auto producer_of = [](onnx::ModelProto& p, const std::string& value) -> onnx::NodeProto* {
    for (auto& n : *p.mutable_graph()->mutable_node()) {
      for (const auto& o : n.output()) {
        if (o == value) return &n;
      }
    }
    return nullptr;
  };
  auto initializer_of = [](onnx::ModelProto& p, const std::string& name) -> onnx::TensorProto* {
    for (auto& t : *p.mutable_graph()->mutable_initializer()) {
      if (t.name() == name) return &t;
    }
    return nullptr;
  };
  auto message = [](const onnx::ModelProto& p, int type) {
    auto r = mq::passes::check_qdq_fusion(p, type);
    return r ? std::string("(accepted)") : r.error().message;
  };

  SECTION("int8 activations where the target fuses uint8") {
    CHECK_THAT(message(good, onnx::TensorProto::INT8), Catch::Contains("input 0 is uint8, the target fuses int8 activations"));
  }
  SECTION("a bias scale 1% off input scale x weight scale") {
    onnx::ModelProto p = good;
    auto* conv = first_conv(p);
    REQUIRE(conv);
    auto* bdq = producer_of(p, conv->input(2));
    REQUIRE(bdq);
    auto* scale = initializer_of(p, bdq->input(1));
    REQUIRE(scale);
    std::string& raw_scale = *scale->mutable_raw_data();
    float s0;
    std::memcpy(&s0, raw_scale.data(), sizeof s0);
    s0 *= 1.01f;
    std::memcpy(raw_scale.data(), &s0, sizeof s0);
    CHECK_THAT(message(p, onnx::TensorProto::UINT8), Catch::Contains("bias scale 0 is") &&
                                                         Catch::Contains("not input scale x weight scale"));
  }
  SECTION("a weight DequantizeLinear without its zero point") {
    onnx::ModelProto p = good;
    auto* conv = first_conv(p);
    REQUIRE(conv);
    auto* wdq = producer_of(p, conv->input(1));
    REQUIRE(wdq);
    wdq->mutable_input()->RemoveLast();
    CHECK_THAT(message(p, onnx::TensorProto::UINT8),
               Catch::Contains("the DequantizeLinear of input 1 has no explicit zero point"));
  }
  SECTION("the quantized Conv's output also read by a float node") {
    onnx::ModelProto p = good;
    auto* conv = first_conv(p);
    REQUIRE(conv);
    auto* extra = p.mutable_graph()->add_node();
    extra->set_op_type("Sigmoid");
    extra->set_name("side_reader");
    extra->add_input(conv->output(0));
    extra->add_output("side");
    CHECK_THAT(message(p, onnx::TensorProto::UINT8), Catch::Contains("its output is also read by"));
  }
  SECTION("a float input next to a quantized weight") {
    onnx::ModelProto p = good;
    auto* conv = first_conv(p);
    REQUIRE(conv);
    conv->set_input(0, "x");
    CHECK_THAT(message(p, onnx::TensorProto::UINT8), Catch::Contains("input 0 ('x') is float"));
  }
}
