#include "passes/runtime_check.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <vector>
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

// ---- The fusion check of static INT8 ----

namespace mq::passes {
namespace {

const onnx::TensorProto* initializer(const onnx::GraphProto& g, const std::string& name) {
  for (const auto& t : g.initializer()) {
    if (t.name() == name) return &t;
  }
  return nullptr;
}

// The values of a float32, int8, uint8 or int32 initializer as doubles (empty for other types).
std::vector<double> values_of(const onnx::TensorProto& t) {
  std::vector<double> v;
  const std::string& raw = t.raw_data();
  auto from_raw = [&](auto zero) {
    using T = decltype(zero);
    const std::size_t n = raw.size() / sizeof(T);
    v.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
      T x;
      std::memcpy(&x, raw.data() + i * sizeof(T), sizeof(T));
      v[i] = static_cast<double>(x);
    }
  };
  switch (t.data_type()) {
    case onnx::TensorProto::FLOAT:
      if (!raw.empty()) from_raw(0.0f);
      else v.assign(t.float_data().begin(), t.float_data().end());
      break;
    case onnx::TensorProto::INT8:
      if (!raw.empty()) from_raw(std::int8_t{0});
      else v.assign(t.int32_data().begin(), t.int32_data().end());
      break;
    case onnx::TensorProto::UINT8:
      if (!raw.empty()) from_raw(std::uint8_t{0});
      else v.assign(t.int32_data().begin(), t.int32_data().end());
      break;
    case onnx::TensorProto::INT32:
      if (!raw.empty()) from_raw(std::int32_t{0});
      else v.assign(t.int32_data().begin(), t.int32_data().end());
      break;
    default:
      break;
  }
  return v;
}

std::int64_t int_attribute(const onnx::NodeProto& n, const std::string& name, std::int64_t fallback) {
  for (const auto& a : n.attribute()) {
    if (a.name() == name) return a.i();
  }
  return fallback;
}

const char* type_name(int t) {
  switch (t) {
    case onnx::TensorProto::UINT8: return "uint8";
    case onnx::TensorProto::INT8: return "int8";
    case onnx::TensorProto::INT32: return "int32";
    case onnx::TensorProto::FLOAT: return "float";
    default: return "another type";
  }
}

struct dq_view {
  const onnx::NodeProto* node = nullptr;
  const onnx::TensorProto* data = nullptr;  // the quantized constant, when it is one
  std::vector<double> scale, zero_point;
  int zero_point_type = 0;
};

class fusion_checker {
 public:
  fusion_checker(const onnx::GraphProto& g, int act_type) : g_(g), act_type_(act_type) {
    for (const auto& n : g.node()) {
      for (const auto& o : n.output()) producer_[o] = &n;
      for (const auto& i : n.input()) readers_[i].push_back(&n);
    }
    for (const auto& o : g.output()) graph_outputs_.insert(o.name());
  }

  // Why the node would not fuse, or empty.
  std::string why_not(const onnx::NodeProto& n) const {
    const std::string& op = n.op_type();
    // Weight axis for per-channel scales, and how many output channels.
    std::int64_t axis = 0;
    if (op == "MatMul") axis = 1;
    if (op == "Gemm") axis = int_attribute(n, "transB", 0) != 0 ? 0 : 1;
    std::vector<dq_view> in(static_cast<std::size_t>(n.input_size()));
    for (int i = 0; i < n.input_size(); ++i) {
      if (n.input(i).empty()) continue;
      auto v = dq_of(n.input(i));
      if (!v.node) return "input " + std::to_string(i) + " ('" + n.input(i) + "') is float, not behind a DequantizeLinear";
      if (v.node->input_size() < 3 || v.node->input(2).empty()) {
        return "the DequantizeLinear of input " + std::to_string(i) + " has no explicit zero point";
      }
      if (v.scale.empty() || v.zero_point.empty()) {
        return "the DequantizeLinear of input " + std::to_string(i) + " has a scale or zero point that is not a constant";
      }
      in[static_cast<std::size_t>(i)] = std::move(v);
    }
    const bool weight_is_constant = n.input_size() > 1 && in[1].data != nullptr;
    // Activations: input 0 (and MatMul's input 1 when it is not a constant).
    for (int i : {0, 1}) {
      if (i >= n.input_size() || (i == 1 && weight_is_constant)) continue;
      const auto& a = in[static_cast<std::size_t>(i)];
      if (a.zero_point_type != act_type_) {
        return std::string("input ") + std::to_string(i) + " is " + type_name(a.zero_point_type) + ", the target fuses " +
               type_name(act_type_) + " activations";
      }
      if (a.scale.size() != 1 || !(a.scale[0] > 0)) return "input " + std::to_string(i) + " needs one positive scale";
    }
    if (weight_is_constant) {
      const auto& w = in[1];
      if (w.data->data_type() != onnx::TensorProto::INT8) return std::string("the weight is ") + type_name(w.data->data_type()) + ", not int8";
      for (double z : w.zero_point) {
        if (z != 0) return "the weight's zero point is not 0 (symmetric int8 weights)";
      }
      if (w.scale.size() > 1) {
        const auto dims = w.data->dims();
        if (int_attribute(*w.node, "axis", 1) != axis || axis >= dims.size() ||
            static_cast<std::int64_t>(w.scale.size()) != dims[static_cast<int>(axis)]) {
          return "the weight's scales are not one per output channel on axis " + std::to_string(axis);
        }
      }
    }
    // Bias: int32, zero point 0, scale = input scale x weight scale (ONNX Runtime allows ~1%; we
    // write it exactly, so anything beyond rounding is a bug).
    if ((op == "Conv" || op == "Gemm") && n.input_size() > 2 && !n.input(2).empty()) {
      const auto& b = in[2];
      if (!b.data || b.data->data_type() != onnx::TensorProto::INT32) return "the bias is not an int32 constant";
      for (double z : b.zero_point) {
        if (z != 0) return "the bias zero point is not 0";
      }
      const auto& ws = in[1].scale;
      const double xs = in[0].scale.empty() ? 0 : in[0].scale[0];
      if (b.scale.size() != ws.size() && !(b.scale.size() == 1 && ws.size() == 1)) {
        return "the bias has " + std::to_string(b.scale.size()) + " scales, the weight " + std::to_string(ws.size());
      }
      for (std::size_t c = 0; c < b.scale.size(); ++c) {
        const double want = xs * ws[c];
        if (!(std::fabs(b.scale[c] - want) <= 1e-6 * std::fabs(want))) {
          return "bias scale " + std::to_string(c) + " is " + std::to_string(b.scale[c]) + ", not input scale x weight scale (" +
                 std::to_string(want) + ")";
        }
      }
    }
    // Output: read by QuantizeLinear only (of the activation type), and not a graph output. A
    // Relu or Clip as the only reader is removed by ONNX Runtime when the Q's range makes it
    // redundant (Relu: zero point at the type's minimum; Clip: its range covers the 256 levels).
    std::string y = n.output(0);
    const onnx::NodeProto* activation = nullptr;
    if (auto r = readers_.find(y); r != readers_.end() && r->second.size() == 1 && !graph_outputs_.count(y) &&
                                   (r->second[0]->op_type() == "Relu" || r->second[0]->op_type() == "Clip")) {
      activation = r->second[0];
      y = activation->output(0);
    }
    if (graph_outputs_.count(y)) return "its output is a graph output";
    auto r = readers_.find(y);
    if (r == readers_.end() || r->second.empty()) return "its output is not quantized";
    const double qmin = act_type_ == onnx::TensorProto::UINT8 ? 0 : -128, qmax = qmin + 255;
    for (const auto* q : r->second) {
      if (q->op_type() != "QuantizeLinear") return "its output is also read by " + q->op_type() + " '" + q->name() + "'";
      const onnx::TensorProto* zp = q->input_size() > 2 ? initializer(g_, q->input(2)) : nullptr;
      const onnx::TensorProto* sc = q->input_size() > 1 ? initializer(g_, q->input(1)) : nullptr;
      if (!zp || !sc) return "its QuantizeLinear '" + q->name() + "' has no constant scale and zero point";
      if (zp->data_type() != act_type_) return "its QuantizeLinear '" + q->name() + "' writes " + type_name(zp->data_type());
      if (!activation) continue;
      const auto z = values_of(*zp), s = values_of(*sc);
      if (z.size() != 1 || s.size() != 1) return "its QuantizeLinear '" + q->name() + "' is not per tensor";
      if (activation->op_type() == "Relu" && z[0] != qmin) {
        return "the Relu after it is not redundant: the zero point of '" + q->name() + "' is not the type's minimum";
      }
      if (activation->op_type() == "Clip") {
        auto bound = [&](int i, double none) {
          const onnx::TensorProto* t = activation->input_size() > i && !activation->input(i).empty()
                                           ? initializer(g_, activation->input(i))
                                           : nullptr;
          auto v = t ? values_of(*t) : std::vector<double>{};
          return v.size() == 1 ? v[0] : none;
        };
        const double lo = bound(1, -INFINITY), hi = bound(2, INFINITY);
        if (!(std::nearbyint(lo / s[0]) + z[0] <= qmin && std::nearbyint(hi / s[0]) + z[0] >= qmax)) {
          return "the Clip after it cuts the range of '" + q->name() + "', so it is not redundant";
        }
      }
    }
    return {};
  }

  // Whether static INT8 quantized the node: its input 1 (the weight, or MatMul's second operand)
  // is behind a DequantizeLinear. (Input 0 alone may be: a float node reading a tensor that a
  // quantized producer wrote reads it through the DequantizeLinear that gives it its name back.)
  bool quantized(const onnx::NodeProto& n) const { return n.input_size() > 1 && dq_of(n.input(1)).node != nullptr; }

  // Whether a QuantizeLinear reads the node's output (directly, or after a Relu/Clip). A quantized
  // node whose output no Q reads is weight-only: it runs in float on a dequantized weight, which
  // is what ONNX Runtime itself does to a float Conv or Gemm reading a DequantizeLinear (per
  // tensor; static INT8 does it per channel).
  bool output_quantized(const onnx::NodeProto& n) const {
    auto read_by_q = [&](const std::string& v, bool through_activation, auto& self) -> bool {
      auto r = readers_.find(v);
      if (r == readers_.end()) return false;
      for (const auto* q : r->second) {
        if (q->op_type() == "QuantizeLinear") return true;
        if (through_activation && (q->op_type() == "Relu" || q->op_type() == "Clip") && self(q->output(0), false, self)) return true;
      }
      return false;
    };
    return read_by_q(n.output(0), true, read_by_q);
  }

 private:
  dq_view dq_of(const std::string& value) const {
    dq_view v;
    auto p = producer_.find(value);
    if (p == producer_.end() || p->second->op_type() != "DequantizeLinear") return v;
    v.node = p->second;
    const auto& d = *v.node;
    v.data = initializer(g_, d.input(0));
    if (d.input_size() > 1) {
      if (const auto* s = initializer(g_, d.input(1))) v.scale = values_of(*s);
    }
    if (d.input_size() > 2 && !d.input(2).empty()) {
      if (const auto* z = initializer(g_, d.input(2))) {
        v.zero_point = values_of(*z);
        v.zero_point_type = z->data_type();
      }
    }
    return v;
  }

  const onnx::GraphProto& g_;
  int act_type_;
  std::map<std::string, const onnx::NodeProto*> producer_;
  std::map<std::string, std::vector<const onnx::NodeProto*>> readers_;
  std::set<std::string> graph_outputs_;
};

}  // namespace

result<void> check_qdq_fusion(const onnx::ModelProto& model, int activation_onnx_type) {
  const auto& g = model.graph();
  fusion_checker check(g, activation_onnx_type);
  for (const auto& n : g.node()) {
    if (!n.domain().empty() && n.domain() != "ai.onnx") continue;
    if (n.op_type() != "Conv" && n.op_type() != "MatMul" && n.op_type() != "Gemm") continue;
    if (!check.quantized(n)) continue;  // a float node
    if (!check.output_quantized(n) && n.op_type() != "MatMul") continue;  // weight-only: float on a dequantized weight
    if (auto why = check.why_not(n); !why.empty()) {
      return fail(errc::internal, "node '" + n.name() + "' (" + n.op_type() +
                                      ") would not fuse into ONNX Runtime's integer kernel: " + why +
                                      "; this is a libmodelquant bug, please report it");
    }
  }
  return {};
}

}  // namespace mq::passes
