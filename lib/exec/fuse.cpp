// Node fusions applied at plan time (session_options::fuse): what follows a Conv goes into the
// Conv's kernel when nothing else reads the Conv's output (and that output is neither a graph
// output nor a value to keep):
//   Conv -> BatchNormalization (constant inputs, inference form): folded into weights and bias;
//   Conv -> Relu / LeakyRelu / Clip (constant bounds) / Sigmoid / Tanh / HardSigmoid / HardSwish;
//   Conv -> Mul(y, Sigmoid(y)) (SiLU, when y has exactly those two readers).
// The fused node takes over the output of the last node it absorbed; absorbed nodes are removed.
#include <cmath>
#include <limits>
#include <optional>

#include "exec/ops/conv.h"
#include "exec/plan.h"

namespace mq::exec {
namespace {

using mq::kernels::activation;
using mq::kernels::activation_kind;

bool onnx_op(const planned_node& n, const char* op) {
  const std::string& d = n.proto->domain();
  return (d.empty() || d == "ai.onnx") && n.op_type == op;
}

const onnx::AttributeProto* find_attribute(const planned_node& n, const char* name) {
  for (const auto& a : n.proto->attribute()) {
    if (a.name() == name) return &a;
  }
  return nullptr;
}

float attribute_float(const planned_node& n, const char* name, float fallback) {
  const auto* a = find_attribute(n, name);
  return a != nullptr ? a->f() : fallback;
}

// The value of a constant float32 scalar (or one-element tensor) in `slot`.
std::optional<float> constant_scalar(const graph_plan& p, int slot) {
  if (slot < 0) return std::nullopt;
  const tensor& t = p.constants[static_cast<std::size_t>(slot)];
  if (!t.defined() || t.type() != mq::dtype::float32 || t.size() != 1) return std::nullopt;
  return t.data<float>()[0];
}

// The activation node `n` computes as an epilogue, when it is one (reading its input 0 only).
std::optional<activation> activation_of(const graph_plan& p, const planned_node& n) {
  if (n.proto->input_size() < 1) return std::nullopt;
  if (onnx_op(n, "Relu")) return activation{activation_kind::relu, 0, 0};
  if (onnx_op(n, "Sigmoid")) return activation{activation_kind::sigmoid, 0, 0};
  if (onnx_op(n, "Tanh")) return activation{activation_kind::tanh, 0, 0};
  if (onnx_op(n, "HardSwish")) return activation{activation_kind::hard_swish, 0, 0};
  if (onnx_op(n, "LeakyRelu")) return activation{activation_kind::leaky_relu, attribute_float(n, "alpha", 0.01f), 0};
  if (onnx_op(n, "HardSigmoid")) {
    return activation{activation_kind::hard_sigmoid, attribute_float(n, "alpha", 0.2f), attribute_float(n, "beta", 0.5f)};
  }
  if (onnx_op(n, "Clip")) {
    // Opset 6: attributes; opset 11 on: optional inputs, fused only when constant.
    float lo = attribute_float(n, "min", std::numeric_limits<float>::lowest());
    float hi = attribute_float(n, "max", std::numeric_limits<float>::max());
    for (std::size_t k = 1; k < n.inputs.size() && k < 3; ++k) {
      if (k >= static_cast<std::size_t>(n.proto->input_size()) || n.inputs[k] < 0) continue;
      auto v = constant_scalar(p, n.inputs[k]);
      if (!v) return std::nullopt;
      (k == 1 ? lo : hi) = *v;
    }
    if (std::isnan(lo) || std::isnan(hi)) return std::nullopt;
    return activation{activation_kind::clip, lo, hi};
  }
  return std::nullopt;
}

// Folds a BatchNormalization with constant inputs into the conv kernel.
bool fold_batch_norm(const graph_plan& p, const planned_node& bn, ops::conv_kernel& conv) {
  if (bn.proto->input_size() != 5) return false;
  for (std::size_t k = 1; k < bn.outputs.size(); ++k) {
    if (bn.outputs[k] >= 0) return false;  // training outputs
  }
  if (const auto* a = find_attribute(bn, "training_mode"); a != nullptr && a->i() != 0) return false;
  if (const auto* a = find_attribute(bn, "spatial"); a != nullptr && a->i() != 1) return false;
  const tensor* in[4] = {};
  for (std::size_t k = 0; k < 4; ++k) {
    const int s = bn.inputs[k + 1];
    if (s < 0) return false;
    const tensor& t = p.constants[static_cast<std::size_t>(s)];
    if (!t.defined() || t.type() != mq::dtype::float32) return false;
    in[k] = &t;
  }
  const std::int64_t c = in[0]->size();
  for (const tensor* t : in) {
    if (t->size() != c || t->rank() != 1) return false;
  }
  const double eps = attribute_float(bn, "epsilon", 1e-5f);
  std::vector<float> scale(static_cast<std::size_t>(c));
  std::vector<float> shift(static_cast<std::size_t>(c));
  for (std::int64_t i = 0; i < c; ++i) {
    const double g = in[0]->data<float>()[i];
    const double b = in[1]->data<float>()[i];
    const double mean = in[2]->data<float>()[i];
    const double var = in[3]->data<float>()[i];
    const double a = g / std::sqrt(var + eps);
    scale[static_cast<std::size_t>(i)] = static_cast<float>(a);
    shift[static_cast<std::size_t>(i)] = static_cast<float>(b - mean * a);
  }
  return conv.fold_batch_norm(scale, shift);
}

}  // namespace

void fuse_nodes(graph_plan& plan, const std::set<std::string>& keep) {
  graph_plan& p = plan;
  const std::size_t slots = p.slot_names.size();
  std::vector<bool> pinned(slots, false);
  for (int s : p.outputs) {
    if (s >= 0) pinned[static_cast<std::size_t>(s)] = true;
  }
  for (const auto& k : keep) {
    if (int s = p.slot(k); s >= 0) pinned[static_cast<std::size_t>(s)] = true;
  }
  // Readers of every slot (a node reading a value twice is listed twice). Fusing keeps this
  // valid: the absorbed nodes' outputs keep their readers, only the absorbed values disappear.
  std::vector<std::vector<std::size_t>> readers(slots);
  for (std::size_t i = 0; i < p.nodes.size(); ++i) {
    for (int s : p.nodes[i].inputs) {
      if (s >= 0) readers[static_cast<std::size_t>(s)].push_back(i);
    }
  }
  auto live_readers = [&](int s) {
    std::vector<std::size_t> out;
    for (std::size_t r : readers[static_cast<std::size_t>(s)]) {
      if (!p.nodes[r].removed) out.push_back(r);
    }
    return out;
  };
  for (auto& node : p.nodes) {
    if (node.removed || !onnx_op(node, "Conv") || node.outputs.size() != 1) continue;
    auto* conv = dynamic_cast<ops::conv_kernel*>(node.impl.get());
    if (conv == nullptr) continue;
    for (;;) {
      const int s = node.outputs[0];
      if (s < 0 || pinned[static_cast<std::size_t>(s)]) break;
      const std::vector<std::size_t> rs = live_readers(s);
      bool fused = false;
      if (rs.size() == 1) {
        planned_node& r = p.nodes[rs[0]];
        if (r.inputs.empty() || r.inputs[0] != s || r.outputs.empty() || r.outputs[0] < 0) break;
        if (onnx_op(r, "BatchNormalization")) {
          fused = fold_batch_norm(p, r, *conv);
        } else if (r.outputs.size() == 1) {
          if (auto act = activation_of(p, r)) fused = conv->fuse_activation(*act);
        }
        if (fused) {
          node.outputs[0] = r.outputs[0];
          r.removed = true;
        }
      } else if (rs.size() == 2) {
        // SiLU: Mul(y, Sigmoid(y)) in either operand order.
        planned_node* sig = nullptr;
        planned_node* mul = nullptr;
        for (std::size_t k : rs) {
          planned_node& r = p.nodes[k];
          if (onnx_op(r, "Sigmoid") && r.inputs.size() == 1 && r.outputs.size() == 1) sig = &r;
          if (onnx_op(r, "Mul") && r.inputs.size() == 2 && r.outputs.size() == 1) mul = &r;
        }
        if (sig == nullptr || mul == nullptr) break;
        const int t = sig->outputs[0];
        if (t < 0 || pinned[static_cast<std::size_t>(t)] || mul->outputs[0] < 0) break;
        const bool operands = (mul->inputs[0] == s && mul->inputs[1] == t) || (mul->inputs[0] == t && mul->inputs[1] == s);
        if (!operands || live_readers(t).size() != 1) break;
        if (conv->fuse_activation(activation{activation_kind::silu, 0, 0})) {
          node.outputs[0] = mul->outputs[0];
          sig->removed = true;
          mul->removed = true;
          fused = true;
        }
      }
      if (!fused) break;
    }
  }
}

}  // namespace mq::exec
