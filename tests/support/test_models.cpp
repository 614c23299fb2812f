#include "support/test_models.h"

#include <catch2/catch.hpp>
#include <onnx/defs/parser.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace mq::test {

std::optional<std::filesystem::path> shared_models_dir() {
  const char* dir = std::getenv("MQ_SHARED_MODELS_DIR");
  std::filesystem::path p = dir != nullptr ? dir : "../shared/models";
  std::error_code ec;
  if (!std::filesystem::is_directory(p, ec)) return std::nullopt;
  return p;
}

std::vector<std::filesystem::path> shared_models() {
  std::vector<std::filesystem::path> out;
  auto dir = shared_models_dir();
  if (!dir) {
    const char* env = std::getenv("MQ_SHARED_MODELS_DIR");
    WARN("SKIPPED: shared models folder '" << (env ? env : "../shared/models")
                                           << "' not found, real-model cases skipped; configure with "
                                              "-DMQ_SHARED_MODELS_DIR=/path/to/shared/models to run them");
    return out;
  }
  for (const auto& e : std::filesystem::directory_iterator(*dir)) {
    if (e.path().extension() == ".onnx") out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

onnx::ModelProto parse_text_model(std::string_view text) {
  onnx::ModelProto proto;
  const std::string source(text);  // the parser keeps a pointer into it
  onnx::OnnxParser parser(source.c_str());
  auto status = parser.Parse(proto);
  if (!status.IsOK()) throw std::runtime_error("ONNX text parse error: " + status.ErrorMessage());
  return proto;
}

onnx::ModelProto matmul_chain(std::int64_t width, const std::vector<named_weight>& weights) {
  const std::string w = std::to_string(width);
  std::string text = "<ir_version: 8, opset_import: [\"\" : 13]>\ng (float[1, " + w + "] x) => (float[1, " + w + "] y) {\n";
  std::string input = "x";
  for (std::size_t k = 0; k < weights.size(); ++k) {
    const std::string output = k + 1 == weights.size() ? "y" : "h" + std::to_string(k);
    text += "  " + output + " = MatMul(" + input + ", " + weights[k].name + ")\n";
    input = output;
  }
  text += "}\n";
  auto proto = parse_text_model(text);
  for (const auto& weight : weights) {
    *proto.mutable_graph()->add_initializer() = float_tensor(weight.name, {width, width}, weight.values);
  }
  return proto;
}

mq::model to_model(const onnx::ModelProto& proto) {
  const std::string bytes = proto.SerializeAsString();
  auto m = mq::model::load_from_memory(std::as_bytes(std::span<const char>(bytes.data(), bytes.size())));
  if (!m) throw std::runtime_error("load_from_memory failed: " + m.error().message);
  return std::move(*m);
}

void write_proto(const onnx::ModelProto& proto, const std::filesystem::path& path) {
  write_bytes(path, proto.SerializeAsString());
}

onnx::ModelProto read_proto(const std::filesystem::path& path) {
  onnx::ModelProto proto;
  const std::string bytes = read_bytes(path);
  if (!proto.ParseFromString(bytes)) throw std::runtime_error("cannot parse " + path.string());
  return proto;
}

std::string read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_bytes(const std::filesystem::path& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

onnx::TensorProto float_tensor(const std::string& name, std::vector<std::int64_t> dims, const std::vector<float>& values) {
  onnx::TensorProto t;
  t.set_name(name);
  t.set_data_type(onnx::TensorProto::FLOAT);
  for (auto d : dims) t.add_dims(d);
  t.set_raw_data(std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float)));
  return t;
}

}  // namespace mq::test
