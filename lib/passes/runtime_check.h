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

namespace mq::passes {

/// The fusion check of static INT8: every Conv, MatMul and Gemm that reads a DequantizeLinear on
/// its input 1 (the weight: a node static INT8 quantized) must be a group ONNX Runtime's CPU provider fuses
/// into its integer kernel (QLinearConv, QLinearMatMul, QGemm), by the rules measured on ONNX
/// Runtime 1.30 (docs/static-int8.md): every input behind a DequantizeLinear with an explicit
/// constant zero point; activations of `activation_onnx_type` (TensorProto uint8 or int8) with one
/// scale; int8 symmetric weights, per tensor or per output channel on the op's axis; an int32 bias
/// with zero point 0 and scale input scale x weight scale; the output read only by
/// QuantizeLinear nodes of the activation type, and not a graph output. The error names the node
/// and the rule: a group that breaks one would run in float between conversions, slower than the
/// float model. A node whose output no QuantizeLinear reads is weight-only (float on dequantized
/// weights, what ONNX Runtime makes itself of a float Conv reading a DequantizeLinear): accepted.
[[nodiscard]] result<void> check_qdq_fusion(const onnx::ModelProto& model, int activation_onnx_type);

}  // namespace mq::passes
