// Gather of a constant table (embeddings) -> ONNX Runtime's quantize_dynamic form:
//   T_q, T_scale, T_zp = quantized table                  (once, at quantization time)
//   Y_q = Gather(T_q, indices)                            (8-bit rows, per run)
//   Y = DequantizeLinear(Y_q, T_scale, T_zp)              (only the rows gathered)
// ONNX Runtime quantizes the table as an activation (GatherQuant, quantize_activation): its
// activation type uint8, asymmetric, full range, per tensor; symmetric only when the weights are
// uint8 too and symmetric was asked for (then activation and weight types are the same and its
// WeightSymmetric applies). The model keeps a quarter of the table's bytes, and the rows it
// gathers are dequantized, not the whole table.
#include "passes/rewrites.h"
#include "passes/weight_plan.h"
#include "util/try.h"

namespace mq::passes {
namespace {

onnx::NodeProto& add_cast_to(std::vector<onnx::NodeProto>& out, graph_context& ctx, const std::string& input,
                             const std::string& output, int to_type) {
  auto& cast = add_node(out, "Cast", ctx.unique_name(output + "_Cast"), {input}, {output});
  auto* to = cast.add_attribute();
  to->set_name("to");
  to->set_type(onnx::AttributeProto::INT);
  to->set_i(to_type);
  return cast;
}

}  // namespace

result<bool> rewrite_gather(graph_context& ctx, const node_site& site, std::vector<onnx::NodeProto>& out, node_report& r) {
  const auto& node = site.node;
  if (site.opset < 7) {
    r.reason = "the dequantization needs opset 7 (broadcasting Mul), the model has " + std::to_string(site.opset);
    return false;
  }
  auto planned = MQ_TRY(plan_node_weight(ctx, site, r));
  if (!planned) return false;
  const weight_plan& plan = *planned;
  if (node.input_size() < 2 || ctx.find_weight(site.scopes, node.input(1))) {
    r.reason = "the indices are constant too: ONNX Runtime folds this Gather at load";
    return false;
  }
  weight_layout layout;
  quant::weight_options table = weight_options_for(ctx.options(), false, 0);
  const bool uint8_weights = ctx.options().weights == weight_type::uint8;
  table.type = quant::qtype::uint8;
  table.sym = uint8_weights ? table.sym : quant::symmetry::asymmetric;
  table.reduce_range = false;
  layout.override_options = table;
  auto names = MQ_TRY(store_weight(ctx, plan, layout, r));

  const std::string& output = node.output(0);
  const std::string gathered = ctx.unique_name(output + "_quantized");
  auto& gather = out.emplace_back(node);
  gather.set_input(0, names.data);
  gather.set_output(0, gathered);
  // The table's own type when the op computes in float16 (a float16 model): cast back.
  const int stored_type = plan.source.tensor->data_type();
  const bool cast_back = plan.source.through_cast.empty() && stored_type != onnx::TensorProto::FLOAT;
  const std::string value = cast_back ? ctx.unique_name(output + "_dequantized") : output;
  if (site.opset >= 10) {
    add_node(out, "DequantizeLinear", ctx.unique_name(output + "_DequantizeLinear"),
             {gathered, names.scale, names.zero_point}, {value});
  } else {
    // No DequantizeLinear before opset 10: (float(Y_q) - float(zp)) * scale, the same numbers.
    const std::string as_float = ctx.unique_name(gathered + "_float");
    add_cast_to(out, ctx, gathered, as_float, onnx::TensorProto::FLOAT);
    const std::string zp_float = ctx.unique_name(names.zero_point + "_float");
    add_cast_to(out, ctx, names.zero_point, zp_float, onnx::TensorProto::FLOAT);
    const std::string shifted = ctx.unique_name(gathered + "_shifted");
    add_node(out, "Sub", ctx.unique_name(shifted + "_Sub"), {as_float, zp_float}, {shifted});
    add_node(out, "Mul", ctx.unique_name(value + "_Mul"), {shifted, names.scale}, {value});
  }
  if (cast_back) add_cast_to(out, ctx, value, output, stored_type);
  r.format = "qoperator";
  return true;
}

}  // namespace mq::passes
