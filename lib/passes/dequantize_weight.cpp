// Weight-only QDQ rewrite: W -> DequantizeLinear(W_quantized, scale, zero_point[, axis]) -> op.
#include "passes/rewrites.h"
#include "passes/weight_plan.h"
#include "util/try.h"

namespace mq::passes {
namespace {

// The output-channel axis of the op's weight, or -1 when per-channel does not apply.
int channel_axis(const onnx::NodeProto& node, const std::vector<std::int64_t>& dims) {
  const auto rank = static_cast<int>(dims.size());
  if (node.op_type() == "Conv") return rank >= 3 ? 0 : -1;
  if (node.op_type() == "ConvTranspose") {
    // Weight [C_in, C_out/group, k...]: output channels are on axis 1 only without groups.
    return rank >= 3 && int_attribute(node, "group", 1) == 1 ? 1 : -1;
  }
  if (node.op_type() == "Gemm") return int_attribute(node, "transB", 0) != 0 ? 0 : 1;
  if (node.op_type() == "MatMul") return rank >= 2 ? rank - 1 : -1;
  return -1;
}

}  // namespace

result<bool> rewrite_dequantize_weight(graph_context& ctx, const node_site& site, bool per_channel,
                                       std::vector<onnx::NodeProto>& out, node_report& r) {
  if (site.opset < 10) {
    r.reason = "DequantizeLinear needs opset 10, the model has " + std::to_string(site.opset);
    return false;
  }
  auto planned = MQ_TRY(plan_weight(ctx, site.scopes, site.node, 1));
  if (auto* reason = std::get_if<std::string>(&planned)) {
    r.reason = *reason;
    return false;
  }
  auto& plan = std::get<weight_plan>(planned);
  describe_weight(r, plan);
  weight_layout layout;
  const int axis = channel_axis(site.node, plan.dims);
  if (per_channel && axis < 0) r.reason = "per-channel does not apply to this weight; quantized per tensor";
  if (per_channel && axis >= 0 && site.opset < 13) {
    r.reason = "per-channel DequantizeLinear needs opset 13; quantized per tensor";
  } else if (per_channel && axis >= 0) {
    layout.per_channel = true;
    layout.axis = axis;
    layout.scale_shape = {plan.dims[static_cast<std::size_t>(axis)]};
  }
  auto names = MQ_TRY(store_weight(ctx, plan, layout, r));

  // One DequantizeLinear per graph and weight layout, shared by every consumer in that graph.
  const std::string key = names.data;
  auto& dq_output = ctx.dequantized[{&site.graph, key}];
  if (dq_output.empty()) {
    dq_output = ctx.unique_name(plan.source.name + "_dequantized");
    auto& dq = add_node(out, "DequantizeLinear", ctx.unique_name(plan.source.name + "_DequantizeLinear"),
                        {names.data, names.scale, names.zero_point}, {dq_output});
    if (layout.per_channel) {
      auto* a = dq.add_attribute();
      a->set_name("axis");
      a->set_type(onnx::AttributeProto::INT);
      a->set_i(layout.axis);
    }
    const int stored_type = plan.source.tensor->data_type();
    if (plan.source.through_cast.empty() && stored_type != onnx::TensorProto::FLOAT) {
      // The op computes in the weight's own type (float16 model): cast the float32 result back.
      const std::string cast_output = ctx.unique_name(plan.source.name + "_dequantized_cast");
      auto& cast = add_node(out, "Cast", ctx.unique_name(plan.source.name + "_dequantized_Cast"), {dq_output},
                            {cast_output});
      auto* to = cast.add_attribute();
      to->set_name("to");
      to->set_type(onnx::AttributeProto::INT);
      to->set_i(stored_type);
      dq_output = cast_output;
    }
  }
  auto& rewritten = out.emplace_back(site.node);
  rewritten.set_input(plan.input_index, dq_output);
  r.format = "qdq";
  return true;
}

}  // namespace mq::passes
