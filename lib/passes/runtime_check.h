// The target check: every quantization op in the model must have a kernel in ONNX Runtime's CPU
// provider (1.30) with the types and zero-point shapes used. Run before a model is handed back,
// so mq-quantize never writes a model the runtime would reject at load.
#pragma once

#include <onnx/onnx_pb.h>

#include "mq/result.h"

namespace mq::passes {

/// Checks DynamicQuantizeLinear, MatMulInteger, ConvInteger and DequantizeLinear nodes (at any
/// depth) against ONNX Runtime's CPU kernels: opset, element types of constant inputs, and
/// scalar/per-axis zero points. The error names the node and the rule it breaks.
[[nodiscard]] result<void> check_runtime_support(onnx::ModelProto& model);

}  // namespace mq::passes
