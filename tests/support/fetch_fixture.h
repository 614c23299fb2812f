// Shared pieces of the fetch tests: a small quantizable model and catalog text for it.
#pragma once

#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "fetch/config.h"
#include "support/test_models.h"

namespace mq::test {

/// The config.json in `dir`, parsed (a discarded value when it is not JSON; the test fails).
inline fetch::json config_of(const std::filesystem::path& dir) {
  auto doc = fetch::parse(read_bytes(dir / "config.json"));
  REQUIRE_FALSE(doc.is_discarded());
  return doc;
}

/// y = MatMul(x, w), w [rows, cols] of smooth values (NaN everywhere with `poison`), serialized.
inline std::string matmul_model_bytes(std::int64_t rows = 64, std::int64_t cols = 64, bool poison = false,
                                      float scale = 1.0f) {
  auto proto = parse_text_model(R"ONNX(
<ir_version: 8, opset_import: ["" : 13]>
g (float[batch, k] x) => (float[batch, n] y) {
  y = MatMul(x, w)
}
)ONNX");
  std::vector<float> values(static_cast<std::size_t>(rows * cols));
  for (std::size_t i = 0; i < values.size(); ++i) {
    values[i] = poison ? std::nanf("") : scale * (static_cast<float>(i % 97) * 0.02f - 0.9f);
  }
  *proto.mutable_graph()->add_initializer() = float_tensor("w", {rows, cols}, values);
  return proto.SerializeAsString();
}

/// The same MatMul model with its weight in a separate file (ONNX external data at `location`,
/// beside the model): the model's bytes and the data file's bytes.
inline std::pair<std::string, std::string> matmul_model_external(const std::string& location, float scale = 1.0f) {
  auto proto = parse_text_model(R"ONNX(
<ir_version: 8, opset_import: ["" : 13]>
g (float[batch, k] x) => (float[batch, n] y) {
  y = MatMul(x, w)
}
)ONNX");
  std::vector<float> values(64 * 64);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = scale * (static_cast<float>(i % 89) * 0.02f - 0.8f);
  auto* w = proto.mutable_graph()->add_initializer();
  *w = float_tensor("w", {64, 64}, values);
  std::string data = w->raw_data();
  w->clear_raw_data();
  w->set_data_location(onnx::TensorProto::EXTERNAL);
  for (const auto& [key, value] : std::vector<std::pair<std::string, std::string>>{
           {"location", location}, {"offset", "0"}, {"length", std::to_string(data.size())}}) {
    auto* entry = w->add_external_data();
    entry->set_key(key);
    entry->set_value(value);
  }
  return {proto.SerializeAsString(), std::move(data)};
}

/// One [[models]] entry for repo "test/<name>", file "model.onnx".
inline std::string catalog_entry(const std::string& name, const std::string& extra = {},
                                 const std::string& quantize = "enabled = true\nmethod = \"dynamic_int8\"\n") {
  return "[[models]]\nname = \"" + name + "\"\ntask = \"test\"\nrepo = \"test/" + name +
         "\"\nfilename = \"model.onnx\"\npreprocessing_preset = \"none\"\n" + extra + "[models.quantize]\n" + quantize +
         "\n";
}

}  // namespace mq::test
