// Private state of mq::model: the protobuf and the external data it maps. Only lib/ code
// includes this header.
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "mq/model.h"
#include "mq/signature.h"
#include "util/file.h"

namespace mq {

struct model::impl {
  onnx::ModelProto proto;
  std::string label;                  // how errors name the model: its path quoted, or "<memory>"
  std::string input_name;             // the path as given (unquoted), or the memory label: the report's input
  std::filesystem::path source;       // canonical path of the loaded file; empty from memory
  std::filesystem::path base_dir;     // folder external data locations are relative to
  // The model file's own name when large tensors are read in place from it (their external
  // data "location"); saving writes them inline again. Empty otherwise.
  std::string self_location;
  // External data files by canonical path, mapped once and kept for the model's lifetime.
  std::map<std::filesystem::path, util::mapped_file> external_files;
  // Held by every const member of mq::model, which may be called from several threads at once:
  // save and serialize take tensors out of the proto for a moment, and reading a tensor may map
  // its external file into `external_files`.
  mutable std::mutex const_access;
};

namespace onnx_io {

/// Where an external tensor's bytes are.
struct external_ref {
  const util::mapped_file* file = nullptr;
  std::filesystem::path path;
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
};

/// Validates an EXTERNAL tensor's location (inside the model's folder, no `..`, no absolute path,
/// no symlink out), maps its file (cached in `m`) and checks offset and length against the file.
[[nodiscard]] result<external_ref> resolve_external(const onnx::TensorProto& tensor, model::impl& m);

/// Elements of a tensor with these dims, or nullopt when a dim is negative or the count (or its
/// size in bytes at 16 bytes per element, the widest type) does not fit in int64. The loader
/// rejects such tensors, so code that runs on a loaded model can multiply dims freely.
std::optional<std::int64_t> checked_element_count(const onnx::TensorProto& tensor) noexcept;

/// "tensor 'name' has an impossible shape [d0, d1, ...]: ...", for tensors failing the check above.
std::string impossible_shape(const onnx::TensorProto& tensor);

/// Bytes expected for a tensor of this type and shape (0 when not fixed-size).
std::uint64_t expected_bytes(const onnx::TensorProto& tensor) noexcept;

/// The mapped file holding `bytes` (one of the files `m` maps: the model read in place, external
/// data), or null for bytes held anywhere else. Its prefetch/release work on the weight's pages.
const util::mapped_file* mapping_of(const model::impl& m, std::span<const std::byte> bytes) noexcept;

/// A zero-copy view of a tensor held in `m` (inline or external).
[[nodiscard]] result<tensor_view> view_of(const onnx::TensorProto& tensor, const model::impl& m);

/// A graph input or output as mq::value_info (mq/signature.h).
value_info describe_value(const onnx::ValueInfoProto& v);

/// Verifies the model before it is saved: every value defined once and before use (at any
/// depth), initializer sizes consistent with their shapes; then ONNX's checker (external data
/// looked up in `m.base_dir`) when it knows the model's operator sets.
[[nodiscard]] result<void> check_proto(const model::impl& m);

/// Size of the model serialized with every tensor inline (external data counted by its length):
/// what a report calls the model's size, however its tensors are held in memory.
std::uint64_t inline_size(model::impl& m);

/// False when the model imports an operator set newer than the installed ONNX checker knows.
bool onnx_checker_applies(const onnx::ModelProto& model);

}  // namespace onnx_io
}  // namespace mq
