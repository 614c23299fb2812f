// Detection of models that are already quantized, in every style a quantizer writes. Such a
// model is never quantized again: its float weights are the ones a first quantization chose to
// leave in float (or the remains of a QDQ graph), and quantizing them on top of the integer ops
// would stack a second, unplanned rounding on the first.
#include <algorithm>
#include <map>
#include <set>
#include <string>

#include "onnx_io/walk.h"
#include "passes/rewrites.h"

namespace mq::passes {
namespace {

bool default_domain(const onnx::NodeProto& n) { return n.domain().empty() || n.domain() == "ai.onnx"; }

bool is_eight_bit(int type) {
  return type == onnx::TensorProto::INT8 || type == onnx::TensorProto::UINT8;  // int4 (ONNX 1.16) is newer than Debian's ONNX
}

// Which style a node belongs to, or nullptr when it is not a quantization node.
const char* style_of(const onnx::NodeProto& n) {
  static const std::set<std::string> integer_ops = {"ConvInteger", "MatMulInteger", "DynamicQuantizeLinear"};
  static const std::set<std::string> qlinear_ops = {"QLinearConv", "QLinearMatMul"};
  static const std::set<std::string> qdq_ops = {"QuantizeLinear", "DequantizeLinear"};
  static const std::set<std::string> contrib_ops = {
      "QGemm", "QAttention", "DynamicQuantizeMatMul", "MatMulIntegerToFloat", "DynamicQuantizeLSTM",
      "QEmbedLayerNormalization", "MatMulNBits", "MatMulBnb4", "GatherBlockQuantized", "QOrderedMatMul",
      "QOrderedLayerNormalization", "QOrderedAttention", "QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear",
      "QuantizeBFP", "DequantizeBFP"};
  if (default_domain(n)) {
    if (integer_ops.count(n.op_type()) != 0) return "integer ops, ONNX Runtime's quantize_dynamic form";
    if (qlinear_ops.count(n.op_type()) != 0) return "QLinear ops, the QOperator form";
    if (qdq_ops.count(n.op_type()) != 0) return "QuantizeLinear/DequantizeLinear, the QDQ form";
    return nullptr;
  }
  if (n.domain() == "com.microsoft" && (n.op_type().rfind("QLinear", 0) == 0 || contrib_ops.count(n.op_type()) != 0)) {
    return "com.microsoft quantized ops, ONNX Runtime's contrib ops (as in the ONNX model zoo's INT8 models)";
  }
  return nullptr;
}

// An 8-bit constant (initializer or Constant node) of graph `g` or an enclosing one.
bool eight_bit_constant(const std::vector<const onnx::GraphProto*>& scopes, const std::string& name) {
  for (auto g = scopes.rbegin(); g != scopes.rend(); ++g) {
    for (const auto& t : (*g)->initializer()) {
      if (t.name() == name) return is_eight_bit(t.data_type());
    }
    for (const auto& n : (*g)->node()) {
      if (n.op_type() != "Constant" || n.output_size() != 1 || n.output(0) != name) continue;
      for (const auto& a : n.attribute()) {
        if (a.name() == "value" && a.has_t()) return is_eight_bit(a.t().data_type());
      }
      return false;
    }
  }
  return false;
}

void scan(const onnx::GraphProto& g, std::vector<const onnx::GraphProto*>& scopes,
          std::map<std::string, std::map<std::string, std::size_t>>& found) {
  scopes.push_back(&g);
  std::map<std::string, std::vector<const onnx::NodeProto*>> readers;
  for (const auto& n : g.node()) {
    for (const auto& in : n.input()) readers[in].push_back(&n);
  }
  for (const auto& n : g.node()) {
    if (const char* style = style_of(n)) ++found[style][n.op_type()];
    // The weight-only Cast form (mq-quantize's auto): Cast(8-bit constant -> float) [- zp] * scale.
    if (default_domain(n) && n.op_type() == "Cast" && n.input_size() == 1 && n.output_size() == 1 &&
        eight_bit_constant(scopes, n.input(0))) {
      for (const auto* r : readers[n.output(0)]) {
        if (r->op_type() == "Mul" || r->op_type() == "Sub") {
          ++found["8-bit weights restored to float by Cast * scale, mq-quantize's weight-only form"]["Cast of an 8-bit weight"];
          break;
        }
      }
    }
    for (const auto& a : n.attribute()) {
      if (a.has_g()) scan(a.g(), scopes, found);
      for (const auto& sub : a.graphs()) scan(sub, scopes, found);
    }
  }
  scopes.pop_back();
}

}  // namespace

std::string already_quantized(const onnx::ModelProto& model) {
  std::map<std::string, std::map<std::string, std::size_t>> found;
  std::vector<const onnx::GraphProto*> scopes;
  scan(model.graph(), scopes, found);
  std::string text;
  for (const auto& [style, ops] : found) {
    std::vector<std::pair<std::size_t, std::string>> counts;
    for (const auto& [op, count] : ops) counts.emplace_back(count, op);
    std::sort(counts.rbegin(), counts.rend());
    std::string list;
    for (const auto& [count, op] : counts) list += (list.empty() ? "" : ", ") + std::to_string(count) + " " + op;
    text += (text.empty() ? "" : "; ") + list + " (" + style + ")";
  }
  return text;
}

}  // namespace mq::passes
