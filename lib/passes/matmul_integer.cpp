// MatMul / Gemm with a constant weight -> ONNX Runtime's dynamic integer form:
//   A_q, A_scale, A_zp = DynamicQuantizeLinear(A)            (uint8, computed per run)
//   Y_int = MatMulInteger(A_q, W_q, A_zp, W_zp)               (W_zp scalar, or per column)
//   Y = Cast(Y_int, float) * (A_scale * W_scale [* alpha])   (+ beta * C for Gemm)
#include "passes/rewrites.h"
#include "passes/weight_plan.h"
#include "util/try.h"

namespace mq::passes {
namespace {

// Why the weight cannot take this form, or empty when it can.
std::string unsupported_reason(const weight_plan& plan) {
  if (plan.dims.size() != 2) {
    return "MatMulInteger form needs a 2-D weight, this one has rank " + std::to_string(plan.dims.size());
  }
  return {};
}

}  // namespace

result<bool> rewrite_matmul_integer(graph_context& ctx, const node_site& site, bool per_channel,
                                    std::vector<onnx::NodeProto>& out, node_report& r) {
  const auto& node = site.node;
  const bool gemm = node.op_type() == "Gemm";
  auto planned = MQ_TRY(plan_node_weight(ctx, site, r));
  if (!planned) return false;
  const weight_plan& plan = *planned;
  if (auto why = integer_form_blocker(site, plan); !why.empty()) {
    r.reason = why;
    return false;
  }
  if (auto why = unsupported_reason(plan); !why.empty()) {
    r.reason = why;
    return false;
  }
  const bool trans_b = gemm && int_attribute(node, "transB", 0) != 0;
  weight_layout layout;
  layout.transpose = trans_b;  // MatMulInteger wants [K, N]
  const std::int64_t columns = trans_b ? plan.dims[0] : plan.dims[1];
  if (per_channel) {
    layout.per_channel = true;
    layout.axis = 1;
    layout.scale_shape = {columns};
    // Symmetric int8 has every zero point 0: one scalar zero point keeps ONNX Runtime on its
    // per-tensor-zero-point GEMM, and the scales stay per column (they only scale the output).
    const auto w = weight_options_for(ctx.options(), true, 1);
    layout.single_zero_point = w.type == quant::qtype::int8 && w.sym == quant::symmetry::symmetric;
  }
  auto w = MQ_TRY(store_weight(ctx, plan, layout, r));

  const std::string base = node.name().empty() ? node.output(0) : node.name();
  std::string a = node.input(0);
  if (gemm && int_attribute(node, "transA", 0) != 0) {
    const std::string transposed = ctx.unique_name(a + "_transposed");
    add_node(out, "Transpose", ctx.unique_name(base + "_transA"), {a}, {transposed});
    a = transposed;
  }
  const auto act = quantize_activation(ctx, site, a, out);
  const std::string y_int = ctx.unique_name(base + "_output_quantized");
  add_node(out, "MatMulInteger", ctx.unique_name(base + "_quant"), {act.data, w.data, act.zero_point, w.zero_point},
           {y_int});
  const std::string y_float = ctx.unique_name(base + "_output_quantized_cast");
  auto& cast = add_node(out, "Cast", ctx.unique_name(base + "_output_quantized_Cast"), {y_int}, {y_float});
  auto* to = cast.add_attribute();
  to->set_name("to");
  to->set_type(onnx::AttributeProto::INT);
  to->set_i(onnx::TensorProto::FLOAT);

  std::string scale = ctx.unique_name(base + "_scales_mul");
  add_node(out, "Mul", ctx.unique_name(base + "_scales_Mul"), {act.scale, w.scale}, {scale});
  const float alpha = gemm ? float_attribute(node, "alpha", 1.0f) : 1.0f;
  if (alpha != 1.0f) {
    const std::string scaled = ctx.unique_name(base + "_scales_alpha");
    add_node(out, "Mul", ctx.unique_name(base + "_alpha_Mul"),
             {scale, add_float_initializer(ctx, site.graph, base + "_alpha", {alpha}, {})}, {scaled});
    scale = scaled;
  }
  const bool has_bias = gemm && node.input_size() > 2 && !node.input(2).empty();
  const std::string product = has_bias ? ctx.unique_name(base + "_matmul_output") : node.output(0);
  add_node(out, "Mul", ctx.unique_name(base + "_output_Mul"), {y_float, scale}, {product});
  if (has_bias) {
    std::string bias = node.input(2);
    const float beta = float_attribute(node, "beta", 1.0f);
    if (beta != 1.0f) {
      const std::string scaled = ctx.unique_name(bias + "_beta");
      add_node(out, "Mul", ctx.unique_name(base + "_beta_Mul"),
               {bias, add_float_initializer(ctx, site.graph, base + "_beta", {beta}, {})}, {scaled});
      bias = scaled;
    }
    add_node(out, "Add", ctx.unique_name(base + "_bias_Add"), {product, bias}, {node.output(0)});
  }
  r.format = "qoperator";
  return true;
}

}  // namespace mq::passes
