// The graph rewrites, one per file: each quantizes one node. `out` receives the nodes that
// replace it (in order); on a skip nothing is appended and `r.reason` says why.
#pragma once

#include <optional>
#include <vector>

#include "passes/graph_context.h"
#include "passes/weight_plan.h"

namespace mq::passes {

/// The node being rewritten and the scopes it sees.
struct node_site {
  const std::vector<scope_level>& scopes;
  onnx::GraphProto& graph;  // the graph the node is in
  const onnx::NodeProto& node;
  std::int64_t opset = 0;   // default-domain opset of the model
};

/// How a weight-only quantized weight is turned back into float.
enum class weight_only_form {
  dequantize_linear,  ///< DequantizeLinear (QDQ): what QDQ-aware runtimes and tools expect
  cast_multiply,      ///< Cast(int8 -> float) * scale: ONNX Runtime constant-folds it at load, so
                      ///< the model runs at float speed (it keeps DequantizeLinear per run)
};

/// Weight-only: int8/uint8 initializer, dequantized in the graph, feeding the unchanged float op
/// (MatMul, Gemm, Conv, ConvTranspose). DequantizeLinear falls back to the Cast form below the
/// opset it needs. dequantize_weight.cpp
result<bool> rewrite_dequantize_weight(graph_context& ctx, const node_site& site, bool per_channel,
                                       weight_only_form form, std::vector<onnx::NodeProto>& out, node_report& r);

/// MatMul / Gemm with a constant weight -> DynamicQuantizeLinear + MatMulInteger + Cast + Mul
/// (+ Add for Gemm's bias). matmul_integer.cpp
result<bool> rewrite_matmul_integer(graph_context& ctx, const node_site& site, bool per_channel,
                                    std::vector<onnx::NodeProto>& out, node_report& r);

/// Gather of a constant table -> Gather of the 8-bit table + DequantizeLinear of the rows (ONNX
/// Runtime's quantize_dynamic form). gather.cpp
result<bool> rewrite_gather(graph_context& ctx, const node_site& site, std::vector<onnx::NodeProto>& out, node_report& r);

/// Conv -> DynamicQuantizeLinear + ConvInteger + Cast + Mul (+ Add bias). conv_integer.cpp
result<bool> rewrite_conv_integer(graph_context& ctx, const node_site& site, bool per_channel,
                                  std::vector<onnx::NodeProto>& out, node_report& r);

/// The node's constant weight (input 1), described in `r`; nullopt, with `r.reason` set, when the
/// node stays in float.
result<std::optional<weight_plan>> plan_node_weight(const graph_context& ctx, const node_site& site, node_report& r);

/// Why the dynamic integer form (DynamicQuantizeLinear + *Integer) cannot take this weight:
/// opset under 11, or an op that computes in float16/bfloat16/float64. Empty when it can.
std::string integer_form_blocker(const node_site& site, const weight_plan& plan);

/// DynamicQuantizeLinear of `activation`, emitted once per graph and shared by its consumers.
dynamic_names quantize_activation(graph_context& ctx, const node_site& site, const std::string& activation,
                                  std::vector<onnx::NodeProto>& out);

/// A float32 initializer holding `values` with `dims`, added to `graph`; returns its name.
std::string add_float_initializer(graph_context& ctx, onnx::GraphProto& graph, const std::string& base,
                                  const std::vector<float>& values, const std::vector<std::int64_t>& dims);

/// An int64 initializer (shapes for Reshape), added to `graph`; returns its name.
std::string add_int64_initializer(graph_context& ctx, onnx::GraphProto& graph, const std::string& base,
                                  const std::vector<std::int64_t>& values);

/// The default-domain opset the model imports (0 when none).
std::int64_t default_opset(const onnx::ModelProto& model);

/// Converts the model to `target` with ONNX's version converter (external and in-place weights
/// kept), noting it in the report.
result<void> upgrade_opset(graph_context& ctx, std::int64_t target);

/// Removes replaced weights (initializers, Constant nodes, bypassed Casts) that nothing reads.
void remove_dead_weights(graph_context& ctx);

/// True when --exclude names the node (exactly or by a glob).
bool excluded_node(const quantize_options& options, const std::string& name);

}  // namespace mq::passes

namespace mq::passes {

/// Sorts every graph's node list topologically, keeping the original order wherever it is valid
/// (a sorted list is left as it is); adds a note per graph that was reordered. Errors: a cycle
/// (`errc::invalid_model`, naming the graph and a node). sort_nodes.cpp
result<void> sort_nodes(onnx::ModelProto& model, std::vector<std::string>& notes);

}  // namespace mq::passes

namespace mq::passes {

/// What shows that `model` is already quantized, in every style (integer ops, QLinear ops,
/// com.microsoft quantized ops, QDQ, 8-bit weights behind Cast * scale), e.g. "64 ConvInteger,
/// 59 DynamicQuantizeLinear (integer ops, ...)"; empty when it is not. already_quantized.cpp
std::string already_quantized(const onnx::ModelProto& model);

}  // namespace mq::passes
