// libmodelquant: tensors in files: NumPy .npy and ONNX TensorProto .pb (ONNX's test-data format).
#pragma once

#include <filesystem>

#include "mq/export.h"
#include "mq/result.h"
#include "mq/session.h"

namespace mq {

/// Reads a tensor from a `.npy` file (format versions 1-3, little-endian, C order; bool, float16/32/64
/// and the integer types) or a `.pb` file (a serialized onnx.TensorProto), chosen by the extension.
/// Errors (`errc::io`, `errc::not_found`, `errc::invalid_argument`, `errc::unsupported`) name the file
/// and the problem (truncated, big-endian, Fortran order, unknown type, ...).
[[nodiscard]] MQ_API result<mq::tensor> read_tensor_file(const std::filesystem::path& path);

/// Parses a `.npy` image held in memory; `label` names it in errors.
[[nodiscard]] MQ_API result<mq::tensor> parse_npy(std::span<const std::byte> bytes, const std::string& label);
/// Parses a serialized onnx.TensorProto held in memory.
[[nodiscard]] MQ_API result<mq::tensor> parse_tensor_proto(std::span<const std::byte> bytes, const std::string& label);

/// The tensor as a `.npy` file image (format 1.0).
[[nodiscard]] MQ_API result<std::string> to_npy(const mq::tensor& t);

/// Writes the tensor as a `.npy` file, atomically (temporary file, then rename).
[[nodiscard]] MQ_API result<void> write_npy(const std::filesystem::path& path, const mq::tensor& t);

}  // namespace mq
