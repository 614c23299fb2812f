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

// DequantizeLinear needs opset 10, and 13 for per-axis scales. Below that the same weight-only
// form is written with ops every opset >= 7 has: Cast(int8 -> float) [- zero point] * scale, with
// the scale shaped [C, 1, ...] to broadcast along the channel axis. The model's opset stays as it is.
bool needs_cast_form(const node_site& site, const weight_layout& layout) {
  return site.opset < 10 || (layout.per_channel && site.opset < 13);
}

std::vector<std::int64_t> broadcast_shape(const std::vector<std::int64_t>& dims, int axis) {
  std::vector<std::int64_t> shape(dims.size() - static_cast<std::size_t>(axis), 1);
  shape[0] = dims[static_cast<std::size_t>(axis)];
  return shape;
}

onnx::NodeProto& add_cast(std::vector<onnx::NodeProto>& out, graph_context& ctx, const std::string& input,
                          const std::string& base, int to_type, std::string& output) {
  output = ctx.unique_name(base);
  auto& cast = add_node(out, "Cast", ctx.unique_name(base + "_Cast"), {input}, {output});
  auto* to = cast.add_attribute();
  to->set_name("to");
  to->set_type(onnx::AttributeProto::INT);
  to->set_i(to_type);
  return cast;
}

// Emits the dequantization of `names` and returns the float32 value's name.
std::string emit_dequantize(graph_context& ctx, const node_site& site, const weight_plan& plan,
                            const weight_layout& layout, const quantized_names& names, bool cast_form,
                            std::vector<onnx::NodeProto>& out) {
  const std::string& base = plan.source.name;
  if (!cast_form) {
    const std::string output = ctx.unique_name(base + "_dequantized");
    auto& dq = add_node(out, "DequantizeLinear", ctx.unique_name(base + "_DequantizeLinear"),
                        {names.data, names.scale, names.zero_point}, {output});
    if (layout.per_channel) {
      auto* a = dq.add_attribute();
      a->set_name("axis");
      a->set_type(onnx::AttributeProto::INT);
      a->set_i(layout.axis);
    }
    return output;
  }
  std::string value;
  add_cast(out, ctx, names.data, base + "_as_float", onnx::TensorProto::FLOAT, value);
  // Only int8 symmetric has every zero point 0 (uint8 symmetric uses 127, and 0 for an all-zero
  // channel), so only there can the Sub go.
  const auto w = weight_options_for(ctx.options(), false, 0);
  if (w.sym == quant::symmetry::symmetric && w.type == quant::qtype::int8) {
    ctx.replaced_weights.insert(names.zero_point);  // all zero: not needed in this form
  } else {
    std::string zero_point;
    add_cast(out, ctx, names.zero_point, base + "_zero_point_float", onnx::TensorProto::FLOAT, zero_point);
    const std::string shifted = ctx.unique_name(base + "_shifted");
    add_node(out, "Sub", ctx.unique_name(base + "_zero_point_Sub"), {value, zero_point}, {shifted});
    value = shifted;
  }
  const std::string output = ctx.unique_name(base + "_dequantized");
  add_node(out, "Mul", ctx.unique_name(base + "_scale_Mul"), {value, names.scale}, {output});
  (void)site;
  return output;
}

}  // namespace

result<bool> rewrite_dequantize_weight(graph_context& ctx, const node_site& site, bool per_channel,
                                       weight_only_form form, std::vector<onnx::NodeProto>& out, node_report& r) {
  if (site.opset < 7) {
    r.reason = "weight-only quantization needs opset 7 (broadcasting Mul), the model has " + std::to_string(site.opset);
    return false;
  }
  auto planned = MQ_TRY(plan_node_weight(ctx, site, r));
  if (!planned) return false;
  const weight_plan& plan = *planned;
  weight_layout layout;
  const int axis = channel_axis(site.node, plan.dims);
  if (per_channel && axis < 0) r.reason = "per-channel does not apply to this weight; quantized per tensor";
  if (per_channel && axis >= 0) {
    layout.per_channel = true;
    layout.axis = axis;
    layout.scale_shape = {plan.dims[static_cast<std::size_t>(axis)]};
  }
  const bool cast_form = form == weight_only_form::cast_multiply || needs_cast_form(site, layout);
  if (cast_form && layout.per_channel) layout.scale_shape = broadcast_shape(plan.dims, axis);
  auto names = MQ_TRY(store_weight(ctx, plan, layout, r));
  if (cast_form && form == weight_only_form::dequantize_linear) {
    r.reason = "opset " + std::to_string(site.opset) + " has no " + (layout.per_channel ? "per-axis " : "") +
               "DequantizeLinear; written as Cast * scale";
  }

  // One dequantization per graph and weight layout, shared by every consumer in that graph.
  auto& dq_output = ctx.dequantized[{&site.graph, names.data}];
  if (dq_output.empty()) {
    dq_output = emit_dequantize(ctx, site, plan, layout, names, cast_form, out);
    const int stored_type = plan.source.tensor->data_type();
    if (plan.source.through_cast.empty() && stored_type != onnx::TensorProto::FLOAT) {
      // The op computes in the weight's own type (float16 model): cast the float32 result back.
      std::string cast_back;
      add_cast(out, ctx, dq_output, plan.source.name + "_dequantized_cast", stored_type, cast_back);
      dq_output = cast_back;
    }
  }
  auto& rewritten = out.emplace_back(site.node);
  rewritten.set_input(plan.input_index, dq_output);
  r.format = form == weight_only_form::cast_multiply ? "weight-only" : "qdq";
  return true;
}

}  // namespace mq::passes
