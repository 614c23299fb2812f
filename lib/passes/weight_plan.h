// Finding and checking the constant weight of a node before any rewrite (read-only).
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "passes/graph_context.h"

namespace mq::passes {

/// A node's weight, ready to quantize.
struct weight_plan {
  int input_index = 1;
  weight_source source;
  // float32 values in the stored layout: a zero-copy view of an aligned float32 weight, or of
  // `converted`.
  std::span<const float> values;
  // The values converted to float32 (float16, bfloat16, float64 weights), else null. Shared: the
  // job that quantizes them keeps them alive after the plan is gone.
  std::shared_ptr<const std::vector<float>> converted;
  // float32 values that are not 4-byte aligned in the model (values is then empty): quantized in
  // place through quant::quantize_weight_bytes.
  std::span<const std::byte> unaligned_float32;
  // The weight's bytes in a mapped file when they are read in place (released once quantized).
  std::span<const std::byte> mapped_bytes;
  std::vector<std::int64_t> dims;  // stored dims
};

/// Either a plan or the reason the node stays in float.
using plan_or_reason = std::variant<weight_plan, std::string>;

/// Looks up input `input_index` of `node` as a float constant and applies the options' limits
/// (min elements, initializers listed as graph inputs). Errors only for broken tensors.
result<plan_or_reason> plan_weight(const graph_context& ctx, const std::vector<scope_level>& scopes,
                                   const onnx::NodeProto& node, int input_index);

/// Fills the report fields that describe the weight.
void describe_weight(node_report& r, const weight_plan& plan);

/// How a weight is laid out when stored quantized.
struct weight_layout {
  bool transpose = false;    // store a 2-D weight transposed (Gemm transB for MatMulInteger)
  bool per_channel = false;
  int axis = 0;              // channel axis in the stored (possibly transposed) layout
  std::vector<std::int64_t> scale_shape;  // shape of the scale/zero-point tensors ({} scalar)
  bool single_zero_point = false;         // store one scalar zero point (all channels share it)
  // Quantization type and symmetry other than the options' (Gather tables: ONNX Runtime quantizes
  // them as activations, uint8 asymmetric by default); per_channel and axis still come from here.
  std::optional<quant::weight_options> override_options;
};

/// Stores the plan's weight in its owner graph once per layout (shared weights are quantized
/// once) and fills the report's granularity and size. The bytes, scales and zero points are
/// computed by a job of ctx.jobs and written in by graph_context::finish_weights; so is the SQNR.
result<quantized_names> store_weight(graph_context& ctx, const weight_plan& plan, const weight_layout& layout,
                                     node_report& r);

}  // namespace mq::passes
