#include "passes/runtime_check.h"

#include <optional>
#include <string>

#include "onnx_io/walk.h"
#include "passes/graph_context.h"

namespace mq::passes {
namespace {

struct constant_info {
  int type = 0;
  std::vector<std::int64_t> dims;
};

// Initializers visible in a graph and its parents (by name; inner shadows outer).
using constant_scope = std::vector<const onnx::GraphProto*>;

std::optional<constant_info> find_constant(const constant_scope& scopes, const std::string& name) {
  for (auto it = scopes.rbegin(); it != scopes.rend(); ++it) {
    for (const auto& t : (*it)->initializer()) {
      if (t.name() == name) return constant_info{t.data_type(), {t.dims().begin(), t.dims().end()}};
    }
  }
  return std::nullopt;
}

bool is_8bit(int type) { return type == onnx::TensorProto::INT8 || type == onnx::TensorProto::UINT8; }

std::int64_t elements(const std::vector<std::int64_t>& dims) {
  std::int64_t n = 1;
  for (auto d : dims) n *= d;
  return n;
}

// Why ONNX Runtime's CPU provider cannot run this node, or empty when it can.
std::string unsupported(const onnx::NodeProto& n, const constant_scope& scopes, std::int64_t opset) {
  const std::string& op = n.op_type();
  auto input = [&](int i) { return i < n.input_size() ? find_constant(scopes, n.input(i)) : std::nullopt; };
  auto scalar_zero_point = [&](int i, const char* what) -> std::string {
    auto c = input(i);
    if (c && elements(c->dims) != 1) return std::string(what) + " zero point must be a scalar";
    if (c && !is_8bit(c->type)) return std::string(what) + " zero point must be int8 or uint8";
    return {};
  };
  if (op == "DynamicQuantizeLinear") return opset < 11 ? "needs opset 11" : "";
  if (op == "MatMulInteger") {
    if (opset < 10) return "needs opset 10";
    if (auto w = input(1); w && !is_8bit(w->type)) return "B must be int8 or uint8";
    if (auto why = scalar_zero_point(2, "A"); !why.empty()) return why;
    if (auto zp = input(3); zp && elements(zp->dims) != 1) {
      auto w = input(1);
      if (zp->dims.size() != 1 || !w || w->dims.size() != 2 || zp->dims[0] != w->dims[1]) {
        return "B zero point must be a scalar or one per column of a 2-D B";
      }
    }
    return {};
  }
  if (op == "ConvInteger") {
    if (opset < 10) return "needs opset 10";
    if (auto w = input(1); w && !is_8bit(w->type)) return "W must be int8 or uint8";
    if (auto why = scalar_zero_point(2, "X"); !why.empty()) return why;
    return scalar_zero_point(3, "W");  // ONNX Runtime's CPU kernel takes one weight zero point
  }
  if (op == "DequantizeLinear") {
    if (opset < 10) return "needs opset 10";
    bool has_axis = false;
    for (const auto& a : n.attribute()) has_axis = has_axis || a.name() == "axis";
    auto x = input(0);
    auto scale = input(1);
    if (x && !is_8bit(x->type) && x->type != onnx::TensorProto::INT32) return "input must be int8, uint8 or int32";
    if (scale && elements(scale->dims) != 1) {
      if (opset < 13) return "per-axis scales need opset 13";
      if (!has_axis && !x) return "per-axis scales need an axis";
    }
    if (auto zp = input(2); zp && scale && zp->dims != scale->dims) return "zero point and scale shapes differ";
    return {};
  }
  return {};
}

std::int64_t default_opset(const onnx::ModelProto& model) {
  for (const auto& imp : model.opset_import()) {
    if (imp.domain().empty() || imp.domain() == "ai.onnx") return imp.version();
  }
  return 0;
}

result<void> check_graph(const onnx::GraphProto& g, constant_scope& scopes, std::int64_t opset) {
  scopes.push_back(&g);
  for (const auto& n : g.node()) {
    if (n.domain().empty() || n.domain() == "ai.onnx") {
      if (auto why = unsupported(n, scopes, opset); !why.empty()) {
        scopes.pop_back();
        return fail(errc::internal, "node '" + n.name() + "' (" + n.op_type() + ") has no ONNX Runtime CPU kernel: " +
                                        why + "; this is a libmodelquant bug, please report it");
      }
    }
    for (const auto& a : n.attribute()) {
      std::vector<const onnx::GraphProto*> subs;
      if (a.has_g()) subs.push_back(&a.g());
      for (const auto& sg : a.graphs()) subs.push_back(&sg);
      for (const auto* sg : subs) {
        if (auto ok = check_graph(*sg, scopes, opset); !ok) {
          scopes.pop_back();
          return ok;
        }
      }
    }
  }
  scopes.pop_back();
  return {};
}

}  // namespace

result<void> check_runtime_support(onnx::ModelProto& model) {
  constant_scope scopes;
  return check_graph(model.graph(), scopes, default_opset(model));
}

}  // namespace mq::passes
