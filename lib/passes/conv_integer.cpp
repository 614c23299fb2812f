// Conv -> ONNX Runtime's dynamic integer form:
//   X_q, X_scale, X_zp = DynamicQuantizeLinear(X)
//   Y_int = ConvInteger(X_q, W_q, X_zp, W_zp)        (W_zp must be a scalar in ONNX Runtime)
//   Y = Cast(Y_int, float) * (X_scale * W_scale)     (W_scale per tensor or [M, 1, ...])
//   Y = Y + B reshaped to [M, 1, ...]
#include "passes/rewrites.h"
#include "passes/weight_plan.h"
#include "util/try.h"

namespace mq::passes {
namespace {

void copy_conv_attributes(const onnx::NodeProto& from, onnx::NodeProto& to) {
  for (const auto& a : from.attribute()) {
    if (a.name() == "auto_pad" || a.name() == "dilations" || a.name() == "group" || a.name() == "kernel_shape" ||
        a.name() == "pads" || a.name() == "strides") {
      *to.add_attribute() = a;
    }
  }
}

}  // namespace

result<bool> rewrite_conv_integer(graph_context& ctx, const node_site& site, bool per_channel,
                                  std::vector<onnx::NodeProto>& out, node_report& r) {
  const auto& node = site.node;
  auto planned = MQ_TRY(plan_node_weight(ctx, site, r));
  if (!planned) return false;
  const weight_plan& plan = *planned;
  if (auto why = integer_form_blocker(site, plan); !why.empty()) {
    r.reason = why;
    return false;
  }
  if (plan.dims.size() < 3) {
    r.reason = "Conv weight has rank " + std::to_string(plan.dims.size()) + ", expected 3 or more";
    return false;
  }
  // Scales broadcast against the [N, M, spatial...] output: shape [M, 1, ..., 1].
  std::vector<std::int64_t> channel_shape(plan.dims.size() - 1, 1);
  channel_shape[0] = plan.dims[0];
  weight_layout layout;
  const bool symmetric = weight_options_for(ctx.options(), false, 0).sym == quant::symmetry::symmetric;
  if (per_channel && !symmetric) {
    r.reason = "ConvInteger takes one weight zero point, so asymmetric weights are quantized per tensor";
  } else if (per_channel) {
    // Symmetric zero points are equal in every channel, so one scalar serves ConvInteger, and
    // the scales are stored as [M, 1, ...] to broadcast over the output.
    layout.per_channel = true;
    layout.axis = 0;
    layout.scale_shape = channel_shape;
    layout.single_zero_point = true;
  }
  auto w = MQ_TRY(store_weight(ctx, plan, layout, r));
  const std::string base = node.name().empty() ? node.output(0) : node.name();
  const auto act = quantize_activation(ctx, site, node.input(0), out);
  const std::string y_int = ctx.unique_name(base + "_output_quantized");
  auto& conv = add_node(out, "ConvInteger", ctx.unique_name(base + "_quant"),
                        {act.data, w.data, act.zero_point, w.zero_point}, {y_int});
  copy_conv_attributes(node, conv);
  const std::string y_float = ctx.unique_name(base + "_output_quantized_cast");
  auto& cast = add_node(out, "Cast", ctx.unique_name(base + "_output_quantized_Cast"), {y_int}, {y_float});
  auto* to = cast.add_attribute();
  to->set_name("to");
  to->set_type(onnx::AttributeProto::INT);
  to->set_i(onnx::TensorProto::FLOAT);
  const std::string scale = ctx.unique_name(base + "_scales_mul");
  add_node(out, "Mul", ctx.unique_name(base + "_scales_Mul"), {act.scale, w.scale}, {scale});
  const bool has_bias = node.input_size() > 2 && !node.input(2).empty();
  const std::string product = has_bias ? ctx.unique_name(base + "_conv_output") : node.output(0);
  add_node(out, "Mul", ctx.unique_name(base + "_output_Mul"), {y_float, scale}, {product});
  if (has_bias) {
    const std::string bias = ctx.unique_name(node.input(2) + "_reshaped");
    add_node(out, "Reshape", ctx.unique_name(base + "_bias_Reshape"),
             {node.input(2), add_int64_initializer(ctx, site.graph, base + "_bias_shape", channel_shape)}, {bias});
    add_node(out, "Add", ctx.unique_name(base + "_bias_Add"), {product, bias}, {node.output(0)});
  }
  r.format = "qoperator";
  return true;
}

}  // namespace mq::passes
