// Thread safety as the headers state it: distinct models can be quantized on different threads
// at once, and const members of one model can be called from several threads at once. The
// results must be byte-identical to the same work done on one thread. Run under the asan preset
// this also catches data races that corrupt memory.
#include <catch2/catch.hpp>

#include <cmath>
#include <latch>
#include <string>
#include <thread>
#include <vector>

#include "mq/model.h"
#include "mq/quantize.h"
#include "support/test_models.h"

namespace {

std::vector<float> wave(std::size_t n, float phase) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = std::sin(static_cast<float>(i) * 0.37f + phase) * 0.5f;
  return v;
}

onnx::ModelProto matmul_model() {
  auto proto = mq::test::parse_text_model(R"ONNX(
<ir_version: 8, opset_import: ["" : 13]>
g (float[1, 96] x) => (float[1, 64] y) {
  h = MatMul(x, w1)
  r = Relu(h)
  y = MatMul(r, w2)
}
)ONNX");
  *proto.mutable_graph()->add_initializer() = mq::test::float_tensor("w1", {96, 128}, wave(96 * 128, 0.1f));
  *proto.mutable_graph()->add_initializer() = mq::test::float_tensor("w2", {128, 64}, wave(128 * 64, 0.7f));
  return proto;
}

onnx::ModelProto conv_model() {
  auto proto = mq::test::parse_text_model(R"ONNX(
<ir_version: 8, opset_import: ["" : 13]>
g (float[1, 3, 16, 16] x) => (float[1, 10] y) {
  c = Conv <kernel_shape = [3, 3], pads = [1, 1, 1, 1]> (x, cw)
  p = GlobalAveragePool(c)
  f = Flatten(p)
  y = Gemm <transB = 1> (f, gw)
}
)ONNX");
  *proto.mutable_graph()->add_initializer() = mq::test::float_tensor("cw", {48, 3, 3, 3}, wave(48 * 27, 1.3f));
  *proto.mutable_graph()->add_initializer() = mq::test::float_tensor("gw", {10, 48}, wave(480, 2.1f));
  return proto;
}

struct outcome {
  bool ok = false;
  std::string error;
  std::size_t quantized = 0;
  std::string bytes;
};

outcome quantize_once(const onnx::ModelProto& proto, const mq::quantize_options& options) {
  outcome out;
  auto m = mq::test::to_model(proto);
  auto r = mq::quantize(m, options);
  if (!r) {
    out.error = r.error().message;
    return out;
  }
  auto bytes = m.serialize();
  if (!bytes) {
    out.error = bytes.error().message;
    return out;
  }
  out.ok = true;
  out.quantized = r->quantized_count;
  out.bytes = std::move(*bytes);
  return out;
}

}  // namespace

TEST_CASE("two models quantized on two threads at once match the single-thread results", "[threads]") {
  const auto a = matmul_model();
  const auto b = conv_model();
  mq::quantize_options per_channel;
  per_channel.per_channel = true;
  per_channel.min_elements = 0;  // the test models' weights are small
  mq::quantize_options all;
  all.min_elements = 0;

  // Reference: one thread, one after the other.
  const auto expected_a = quantize_once(a, all);
  const auto expected_b = quantize_once(b, per_channel);
  REQUIRE(expected_a.ok);
  REQUIRE(expected_b.ok);
  REQUIRE(expected_a.quantized == 2);
  REQUIRE(expected_b.quantized == 2);
  REQUIRE(expected_a.bytes != expected_b.bytes);

  constexpr int rounds = 20;
  std::vector<outcome> got_a(rounds), got_b(rounds);
  std::latch start(2);
  std::thread ta([&] {
    start.arrive_and_wait();
    for (auto& o : got_a) o = quantize_once(a, all);
  });
  std::thread tb([&] {
    start.arrive_and_wait();
    for (auto& o : got_b) o = quantize_once(b, per_channel);
  });
  ta.join();
  tb.join();

  for (int i = 0; i < rounds; ++i) {
    INFO("round " << i);
    CHECK(got_a[static_cast<std::size_t>(i)].error == "");
    CHECK(got_b[static_cast<std::size_t>(i)].error == "");
    CHECK(got_a[static_cast<std::size_t>(i)].bytes == expected_a.bytes);
    CHECK(got_b[static_cast<std::size_t>(i)].bytes == expected_b.bytes);
  }
}

TEST_CASE("const members of one model may be called from several threads at once", "[threads]") {
  auto m = mq::test::to_model(matmul_model());
  REQUIRE(mq::quantize(m, {}).has_value());
  const mq::model& shared = m;
  const auto expected = shared.serialize();
  REQUIRE(expected.has_value());

  std::vector<std::string> got(2);
  std::vector<std::size_t> names(2);
  std::latch start(2);
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      for (int i = 0; i < 3; ++i) {
        auto bytes = shared.serialize();
        got[t] = bytes ? *bytes : std::string("error: ") + bytes.error().message;
        names[t] = shared.initializer_names().size();
        (void)shared.metadata("mq.options");
      }
    });
  }
  for (auto& th : threads) th.join();
  for (std::size_t t = 0; t < 2; ++t) {
    CHECK(got[t] == *expected);
    CHECK(names[t] == shared.initializer_names().size());
  }
}
