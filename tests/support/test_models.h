// Test models: the real ones in ../shared/models and small synthetic ones written as ONNX text.
#pragma once

#include <onnx/onnx_pb.h>

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mq/model.h"

namespace mq::test {

/// The shared real-model folder (MQ_SHARED_MODELS_DIR), or nullopt when it is absent; callers
/// then skip with the message printed by `skip_without_shared_models`.
std::optional<std::filesystem::path> shared_models_dir();

/// Every *.onnx in the shared folder, sorted; empty (and a "SKIPPED:" warning printed, which
/// CTest turns into a skip) when the folder is absent.
std::vector<std::filesystem::path> shared_models();

/// Parses ONNX text (onnx::OnnxParser syntax) into a ModelProto; throws on syntax errors.
onnx::ModelProto parse_text_model(std::string_view text);

/// A weight of a test model: its name and its values.
struct named_weight {
  std::string name;
  std::vector<float> values;
};

/// y = MatMul(...(MatMul(x, w[0]))..., w[n-1]), opset 13, x and y float[1, width], each weight
/// [width, width] (width * width values) as an initializer in this order.
onnx::ModelProto matmul_chain(std::int64_t width, const std::vector<named_weight>& weights);

/// Serializes `proto` and loads it through the public API.
mq::model to_model(const onnx::ModelProto& proto);

/// Writes `proto` to `path` as a binary ONNX file.
void write_proto(const onnx::ModelProto& proto, const std::filesystem::path& path);

/// Reads a binary ONNX file straight with protobuf (independent of mq's loader).
onnx::ModelProto read_proto(const std::filesystem::path& path);

/// Reads a whole file as bytes.
std::string read_bytes(const std::filesystem::path& path);

/// Writes bytes to a file.
void write_bytes(const std::filesystem::path& path, std::string_view bytes);

/// A float32 initializer with the given dims and values in raw_data.
onnx::TensorProto float_tensor(const std::string& name, std::vector<std::int64_t> dims, const std::vector<float>& values);

}  // namespace mq::test
