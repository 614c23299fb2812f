// The report as JSON (programs) and as a text table (people): whatever the names in a model
// hold, the JSON is valid UTF-8 JSON and every table row is one line.
#include <catch2/catch.hpp>

#include <string>

#include "mq/quantize.h"
#include "support/temp_dir.h"
#include "support/test_models.h"
#include "util/json.h"

namespace {

// y = MatMul(x, w) with a 64 x 64 weight (over auto's 4096-element floor) in a node named `name`.
onnx::ModelProto named_matmul(const std::string& name) {
  std::vector<float> values(64 * 64);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i % 17) * 0.125f - 1.0f;
  auto proto = mq::test::matmul_chain(64, {{"w", values}});
  proto.mutable_graph()->mutable_node(0)->set_name(name);
  return proto;
}

// Parses strictly: nlohmann's parser rejects text that is not valid UTF-8 JSON.
mq::util::json parse(const std::string& text) {
  INFO("json: " << text);
  REQUIRE(mq::util::json::accept(text));
  return mq::util::json::parse(text);
}

}  // namespace

TEST_CASE("report JSON: input is the plain path of the model", "[golden][report]") {
  mq::test::temp_dir dir;
  const auto path = dir / "good.onnx";
  mq::test::write_proto(named_matmul("mm"), path);
  auto m = mq::model::load(path);
  REQUIRE(m);
  auto report = mq::quantize(*m, mq::quantize_options{});
  REQUIRE(report);
  CHECK(report->input_label == path.string());
  CHECK(parse(mq::to_json(*report))["input"] == path.string());
}

TEST_CASE("report JSON: any node name gives valid UTF-8 JSON and a one-line table row", "[golden][report]") {
  const std::string name = GENERATE(std::string("two\nlines"), std::string("say \"hi\"\\"), std::string("tab\there\r"),
                                    std::string("bad \xff\xfe utf-8 \xc3"), std::string("esc \x1b[2J"),
                                    std::string("ok \xc3\xa9t\xc3\xa9"));
  auto m = mq::test::to_model(named_matmul(name));
  auto report = mq::quantize(m, mq::quantize_options{});
  REQUIRE(report);
  REQUIRE(report->nodes.size() == 1);
  const auto doc = parse(mq::to_json(*report));
  const std::string written = doc["nodes"][0]["node"];
  if (name.find('\xff') == std::string::npos) {
    CHECK(written == name);  // valid UTF-8 comes back as it was
  } else {
    CHECK_THAT(written, Catch::Contains("\xef\xbf\xbd"));  // U+FFFD for each bad byte
  }
}
