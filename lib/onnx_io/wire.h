// Reading a model file without copying its large tensors: a pass over the protobuf wire format
// that cuts the raw_data of large main-graph initializers out of the bytes to parse, and points
// those tensors (as ONNX external data) at the place their bytes already have in the file. The
// file is mapped, so the weights are read in place instead of being copied into fresh memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace mq::onnx_io {

/// The bytes to parse, and how many tensors now refer to the model file itself.
struct stripped_model {
  std::string bytes;
  std::size_t stripped_tensors = 0;
};

/// Rewrites `file` (a serialized ModelProto) so that every main-graph initializer whose raw_data
/// holds at least `threshold` bytes becomes EXTERNAL data with location `location` (the model
/// file's own name) at that payload's offset. nullopt when nothing qualifies or the bytes are not
/// well-formed protobuf (the regular parser then reports the problem).
std::optional<stripped_model> strip_large_tensors(std::span<const std::byte> file, const std::string& location,
                                                  std::size_t threshold);

/// Appends a protobuf varint.
void append_varint(std::string& out, std::uint64_t value);

/// Bytes append_varint writes for `value`.
std::size_t varint_size(std::uint64_t value) noexcept;

}  // namespace mq::onnx_io
