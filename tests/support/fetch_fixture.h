// Shared pieces of the fetch tests: a small quantizable model and catalog text for it.
#pragma once

#include <catch2/catch.hpp>

#include <png.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
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

/// `n` deterministic weights in [-scale, scale) that depend on `seed`, for the models below.
inline std::vector<float> fixture_values(std::size_t n, float scale, unsigned seed) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = scale * (static_cast<float>((i * 37 + seed * 11) % 101) / 50.0f - 1.0f);
  return v;
}

/// x[1,3,8,8] -> Conv(3->8, 3x3) -> Relu -> Conv(8->8, 3x3) -> Add(., relu) -> y: an image model
/// static INT8 quantizes (its input is an image: photos are preprocessed to 8x8 RGB), serialized.
inline std::string conv_model_bytes() {
  auto proto = parse_text_model(R"ONNX(
<ir_version: 8, opset_import: ["" : 13]>
g (float[1, 3, 8, 8] x) => (float[1, 8, 8, 8] y) {
  c1 = Conv <pads = [1, 1, 1, 1]> (x, w1, b1)
  r1 = Relu(c1)
  c2 = Conv <pads = [1, 1, 1, 1]> (r1, w2, b2)
  y = Add(c2, r1)
}
)ONNX");
  auto* g = proto.mutable_graph();
  *g->add_initializer() = float_tensor("w1", {8, 3, 3, 3}, fixture_values(216, 0.5f, 1));
  *g->add_initializer() = float_tensor("b1", {8}, fixture_values(8, 0.1f, 2));
  *g->add_initializer() = float_tensor("w2", {8, 8, 3, 3}, fixture_values(576, 0.3f, 3));
  *g->add_initializer() = float_tensor("b2", {8}, fixture_values(8, 0.1f, 4));
  return proto.SerializeAsString();
}

/// x[1,3,8,8] -> Conv(3->8, 3x3) -> Relu -> two 7x7 depthwise Convs -> y: the depthwise Convs stay
/// float for speed (and the small Conv with them), so static INT8 would run far less than
/// calibration_options::min_int8_mac_share of the work in int8 and the library writes auto instead.
inline std::string mostly_depthwise_model_bytes() {
  auto proto = parse_text_model(R"ONNX(
<ir_version: 8, opset_import: ["" : 13]>
g (float[1, 3, 8, 8] x) => (float[1, 8, 8, 8] y) {
  c1 = Conv <pads = [1, 1, 1, 1]> (x, w1, b1)
  r1 = Relu(c1)
  d1 = Conv <group = 8, pads = [3, 3, 3, 3]> (r1, wd1, bd1)
  y = Conv <group = 8, pads = [3, 3, 3, 3]> (d1, wd2, bd2)
}
)ONNX");
  auto* g = proto.mutable_graph();
  *g->add_initializer() = float_tensor("w1", {8, 3, 3, 3}, fixture_values(216, 0.5f, 1));
  *g->add_initializer() = float_tensor("b1", {8}, fixture_values(8, 0.1f, 2));
  *g->add_initializer() = float_tensor("wd1", {8, 1, 7, 7}, fixture_values(392, 0.2f, 3));
  *g->add_initializer() = float_tensor("bd1", {8}, fixture_values(8, 0.1f, 4));
  *g->add_initializer() = float_tensor("wd2", {8, 1, 7, 7}, fixture_values(392, 0.2f, 5));
  *g->add_initializer() = float_tensor("bd2", {8}, fixture_values(8, 0.1f, 6));
  return proto.SerializeAsString();
}

/// A `w` x `h` 8-bit RGB PNG of a gradient that depends on `seed` (libpng: the test's own encoder).
inline void write_png(const std::filesystem::path& path, unsigned seed, int w = 12, int h = 10) {
  std::vector<png_byte> rgb(static_cast<std::size_t>(w * h * 3));
  for (std::size_t i = 0; i < rgb.size(); ++i) rgb[i] = static_cast<png_byte>((i * (seed + 3) + seed * 41) % 256);
  std::FILE* f = std::fopen(path.c_str(), "wb");
  REQUIRE(f != nullptr);
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  png_init_io(png, f);
  png_set_IHDR(png, info, static_cast<png_uint_32>(w), static_cast<png_uint_32>(h), 8, PNG_COLOR_TYPE_RGB,
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (int y = 0; y < h; ++y) png_write_row(png, rgb.data() + y * w * 3);
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  std::fclose(f);
}

/// A folder of `n` photos (seeds `first`..), created if needed.
inline std::filesystem::path write_photos(const std::filesystem::path& folder, unsigned n, unsigned first = 1) {
  std::filesystem::create_directories(folder);
  for (unsigned i = 0; i < n; ++i) write_png(folder / ("frame" + std::to_string(first + i) + ".png"), first + i);
  return folder;
}

/// The quantize table of a static_int8 entry calibrated on `folder` (preprocess unit, no guard,
/// so that the graph is the same whatever the photos).
inline std::string static_quantize(const std::filesystem::path& folder, const std::string& extra = {}) {
  std::string q = "enabled = true\nmethod = \"static_int8\"\npreprocess = \"unit\"\ntarget_snr_db = 0\n";
  if (!folder.empty()) q += "calibration = \"" + folder.generic_string() + "\"\n";
  return q + extra;
}

/// Whether the INT8 model at `path` quantizes activations: a QuantizeLinear of a graph tensor
/// (not an initializer) feeding, through its DequantizeLinear, a Conv (QDQ that ONNX Runtime
/// fuses into QLinearConv), or a QLinearConv node.
inline bool has_quantized_activations(const std::filesystem::path& path) {
  const onnx::ModelProto m = read_proto(path);
  const auto& g = m.graph();
  std::vector<std::string> inits;
  for (const auto& t : g.initializer()) inits.push_back(t.name());
  const auto is_init = [&](const std::string& n) { return std::find(inits.begin(), inits.end(), n) != inits.end(); };
  std::vector<std::string> quantized;  // DequantizeLinear outputs of quantized activations
  for (const auto& q : g.node()) {
    if (q.op_type() == "QLinearConv") return true;
    if (q.op_type() != "QuantizeLinear" || is_init(q.input(0))) continue;
    for (const auto& dq : g.node()) {
      if (dq.op_type() == "DequantizeLinear" && dq.input(0) == q.output(0)) quantized.push_back(dq.output(0));
    }
  }
  for (const auto& n : g.node()) {
    if (n.op_type() == "Conv" && std::find(quantized.begin(), quantized.end(), n.input(0)) != quantized.end()) {
      return true;
    }
  }
  return false;
}

/// One [[models]] entry for repo "test/<name>", file "model.onnx".
inline std::string catalog_entry(const std::string& name, const std::string& extra = {},
                                 const std::string& quantize = "enabled = true\nmethod = \"dynamic_int8\"\n") {
  return "[[models]]\nname = \"" + name + "\"\ntask = \"test\"\nrepo = \"test/" + name +
         "\"\nfilename = \"model.onnx\"\npreprocessing_preset = \"none\"\n" + extra + "[models.quantize]\n" + quantize +
         "\n";
}

}  // namespace mq::test
