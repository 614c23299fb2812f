// Small building blocks shared by the rewrites.
#include "passes/rewrites.h"
#include "util/try.h"

namespace mq::passes {

result<std::optional<weight_plan>> plan_node_weight(const graph_context& ctx, const node_site& site, node_report& r) {
  // The constant operand: a Gather's table (input 0), every other op's weight (input 1).
  const int input = site.node.op_type() == "Gather" ? 0 : 1;
  auto planned = MQ_TRY(plan_weight(ctx, site.scopes, site.node, input));
  if (auto* reason = std::get_if<std::string>(&planned)) {
    r.reason = *reason;
    return std::optional<weight_plan>{};
  }
  auto& plan = std::get<weight_plan>(planned);
  describe_weight(r, plan);
  return std::optional<weight_plan>{std::move(plan)};
}

std::string integer_form_blocker(const node_site& site, const weight_plan& plan) {
  if (site.opset < 11) return "DynamicQuantizeLinear needs opset 11, the model has " + std::to_string(site.opset);
  const int type = plan.source.tensor->data_type();
  if (plan.source.through_cast.empty() && type != onnx::TensorProto::FLOAT) {
    return "the op computes in " + to_string(static_cast<dtype>(type)) + "; DynamicQuantizeLinear needs float32 activations";
  }
  return {};
}

dynamic_names quantize_activation(graph_context& ctx, const node_site& site, const std::string& activation,
                                  std::vector<onnx::NodeProto>& out) {
  auto& names = ctx.dynamic_inputs[{&site.graph, activation}];
  if (names.data.empty()) {
    names.data = ctx.unique_name(activation + "_quantized");
    names.scale = ctx.unique_name(activation + "_scale");
    names.zero_point = ctx.unique_name(activation + "_zero_point");
    add_node(out, "DynamicQuantizeLinear", ctx.unique_name(activation + "_DynamicQuantizeLinear"), {activation},
             {names.data, names.scale, names.zero_point});
  }
  return names;
}

std::string add_float_initializer(graph_context& ctx, onnx::GraphProto& graph, const std::string& base,
                                  const std::vector<float>& values, const std::vector<std::int64_t>& dims) {
  auto* t = graph.add_initializer();
  t->set_name(ctx.unique_name(base));
  t->set_data_type(onnx::TensorProto::FLOAT);
  for (auto d : dims) t->add_dims(d);
  t->set_raw_data(std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float)));
  return t->name();
}

std::string add_int64_initializer(graph_context& ctx, onnx::GraphProto& graph, const std::string& base,
                                  const std::vector<std::int64_t>& values) {
  auto* t = graph.add_initializer();
  t->set_name(ctx.unique_name(base));
  t->set_data_type(onnx::TensorProto::INT64);
  t->add_dims(static_cast<std::int64_t>(values.size()));
  t->set_raw_data(std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(std::int64_t)));
  return t->name();
}

}  // namespace mq::passes
