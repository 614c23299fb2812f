// A small model for the weight-parity test with the weight kinds the shared models lack.
#pragma once

#include <onnx/onnx_pb.h>

namespace mq::test {

/// An opset-13 model (inputs x: float[1, 16], c: bool) whose weights cover what the parity test
/// must handle: float16 (widened int32_data), bfloat16 and float64 (Constant, double_data) weights
/// behind Cast(to=float); float32 in float_data; a square Gemm transB=1 weight that a MatMul also
/// reads (stored in two layouts under qoperator); a Conv 3x3 weight; an outer weight read inside an
/// If branch and a Constant weight inside the other branch; ±0, a subnormal, and many values
/// whose quotient by the scale is an exact .5 tie (scale 1 per tensor).
onnx::ModelProto synthetic_parity_model();

}  // namespace mq::test
