// Static INT8 (quantize_options::calibration): which nodes run in int8, the calibrated activation
// parameters, and the QDQ graph that ONNX Runtime's CPU provider fuses into its integer kernels.
//
// The rules follow what ONNX Runtime 1.30 fuses on x86 (measured; see docs/static-int8.md):
// - uint8 asymmetric activations, int8 symmetric per-channel weights (axis 0 for Conv, 1 for
//   MatMul, transB ? 0 : 1 for Gemm), opset >= 13, explicit zero points on every Q and DQ;
// - an int32 bias with scale exactly x_scale * w_scale[c] and zero point 0;
// - a fused node's output feeds only its Q: the producer's output is renamed and the DQ gives the
//   original name back, so every consumer (float or not) reads the dequantized value;
// - a Relu or Clip right after a quantized node (its only reader) is folded into the Q's range;
// - data-movement ops (Reshape, Transpose, Slice, MaxPool, nearest Resize, ...) keep int8 only
//   when their output Q has their input's scale and zero point, so their outputs share them;
// - Add, Mul, Concat, Sigmoid, LeakyRelu and the average pools have QLinear kernels; they are
//   quantized only between quantized nodes (an int8 island of one op only adds conversions);
// - depthwise convolutions and products with few multiply-adds per output stay float: int8 is
//   slower or no faster there (depthwise 3x3 64 ch: 2x slower; 1x1 16->16: the same).
// Accuracy: Softmax stays float (probabilities need more than 8 bits), a Concat whose inputs'
// ranges differ by more than max_concat_range_ratio stays float (YOLO's boxes in pixels next to
// 0..1 scores), graph outputs are float, and the accuracy guard (measured on held-out samples)
// puts back the most sensitive nodes until the worst output reaches the target SNR.
#include "passes/static_int8.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <queue>

#include "calib/calibrate.h"
#include "exec/plan.h"
#include "onnx_io/walk.h"
#include "passes/rewrites.h"
#include "quant/quant.h"
#include "util/try.h"

namespace mq::passes {
namespace {

// Convolutions and products with fewer multiply-adds per output than this stay float.
constexpr std::int64_t min_macs_per_output = 32;
// A Concat whose inputs' ranges differ by more than this stays float.
constexpr double max_concat_range_ratio = 16.0;
// The accuracy guard keeps a step only when it raises the worst output by this much.
constexpr double min_guard_gain_db = 0.1;

enum class role { none, heavy, capable, removable };

// Ops whose int8 form keeps the input's parameters (ONNX Runtime drops their Q/DQ).
bool moves_data(const std::string& op) {
  static const std::set<std::string> ops = {"Reshape", "Transpose", "Squeeze", "Unsqueeze", "Slice",
                                            "Gather",  "Flatten",   "MaxPool", "Resize",    "DepthToSpace",
                                            "SpaceToDepth", "Expand", "Tile",  "Split"};
  return ops.count(op) != 0;
}

// Ops with their own QLinear kernel (their output gets its own parameters).
bool requantizes(const std::string& op) {
  static const std::set<std::string> ops = {"Add", "Mul", "Concat", "Sigmoid", "LeakyRelu", "AveragePool",
                                            "GlobalAveragePool"};
  return ops.count(op) != 0;
}

// The main graph as a node list in topological order with its producers and readers.
struct graph_index {
  std::vector<onnx::NodeProto*> nodes;
  std::map<std::string, int> producer;
  std::map<std::string, std::vector<int>> readers;
  std::set<std::string> inputs;
  std::set<std::string> outputs;
  std::set<std::string> constants;  // initializers (not overridable inputs) and Constant outputs

  bool is_constant(const std::string& name) const { return constants.count(name) != 0; }
};

graph_index index_graph(onnx::GraphProto& g, bool initializers_are_constant) {
  graph_index ix;
  std::set<std::string> init;
  for (const auto& t : g.initializer()) init.insert(t.name());
  for (const auto& v : g.input()) {
    if (init.count(v.name()) == 0 || !initializers_are_constant) ix.inputs.insert(v.name());
  }
  for (const auto& t : g.initializer()) {
    if (ix.inputs.count(t.name()) == 0) ix.constants.insert(t.name());
  }
  for (const auto& o : g.output()) ix.outputs.insert(o.name());
  for (int i = 0; i < g.node_size(); ++i) ix.nodes.push_back(g.mutable_node(i));
  for (int i = 0; i < static_cast<int>(ix.nodes.size()); ++i) {
    const auto& n = *ix.nodes[static_cast<std::size_t>(i)];
    if (n.op_type() == "Constant" && n.domain().empty() && n.output_size() == 1) ix.constants.insert(n.output(0));
    for (const auto& o : n.output()) {
      if (!o.empty()) ix.producer[o] = i;
    }
  }
  for (int i = 0; i < static_cast<int>(ix.nodes.size()); ++i) {
    for (const auto& in : ix.nodes[static_cast<std::size_t>(i)]->input()) {
      if (!in.empty()) ix.readers[in].push_back(i);
    }
  }
  return ix;
}

// Stable topological sort of the main graph's node list (a sorted list stays as it is); subgraph
// reads of outer values count as dependencies.
void sort_main_graph(onnx::GraphProto& g) {
  const int n = g.node_size();
  std::map<std::string, int> producer;
  for (int i = 0; i < n; ++i) {
    for (const auto& o : g.node(i).output()) {
      if (!o.empty()) producer[o] = i;
    }
  }
  std::vector<std::vector<int>> next(static_cast<std::size_t>(n));
  std::vector<int> waiting(static_cast<std::size_t>(n), 0);
  for (int i = 0; i < n; ++i) {
    std::set<int> from;
    std::vector<std::string> deps(g.node(i).input().begin(), g.node(i).input().end());
    for (const auto& a : g.node(i).attribute()) {
      if (a.has_g()) {
        for (const auto& v : exec::free_variables(a.g())) deps.push_back(v);
      }
    }
    for (const auto& d : deps) {
      auto it = producer.find(d);
      if (it != producer.end() && it->second != i) from.insert(it->second);
    }
    for (int f : from) next[static_cast<std::size_t>(f)].push_back(i);
    waiting[static_cast<std::size_t>(i)] = static_cast<int>(from.size());
  }
  std::priority_queue<int, std::vector<int>, std::greater<>> ready;
  for (int i = 0; i < n; ++i) {
    if (waiting[static_cast<std::size_t>(i)] == 0) ready.push(i);
  }
  std::vector<int> order;
  while (!ready.empty()) {
    const int i = ready.top();
    ready.pop();
    order.push_back(i);
    for (int r : next[static_cast<std::size_t>(i)]) {
      if (--waiting[static_cast<std::size_t>(r)] == 0) ready.push(r);
    }
  }
  if (static_cast<int>(order.size()) != n) return;  // a cycle: the executor will name it
  bool sorted = true;
  for (int i = 0; i < n; ++i) sorted = sorted && order[static_cast<std::size_t>(i)] == i;
  if (sorted) return;
  google::protobuf::RepeatedPtrField<onnx::NodeProto> rebuilt;
  for (int i : order) rebuilt.Add()->Swap(g.mutable_node(i));
  g.mutable_node()->Swap(&rebuilt);
}

// ---- constants -------------------------------------------------------------------------------

struct constant {
  std::vector<float> values;
  std::vector<std::int64_t> dims;
};

std::optional<constant> read_constant(graph_context& ctx, const std::vector<scope_level>& scopes, const std::string& name) {
  auto w = ctx.find_weight(scopes, name);
  if (!w || w->tensor == nullptr || w->tensor->data_type() != onnx::TensorProto::FLOAT) return std::nullopt;
  auto view = ctx.weight_view(*w);
  if (!view) return std::nullopt;
  auto values = view->to_float();
  if (!values) return std::nullopt;
  constant c;
  c.values = std::move(*values);
  c.dims.assign(view->dims().begin(), view->dims().end());
  return c;
}

std::optional<float> scalar_constant(graph_context& ctx, const std::vector<scope_level>& scopes, const std::string& name) {
  auto c = read_constant(ctx, scopes, name);
  if (!c || c->values.size() != 1) return std::nullopt;
  return c->values[0];
}

// A name derived from `base`, the same in every round of the guard.
struct names {
  graph_context& ctx;
  std::map<std::string, std::string> cache;
  std::string operator()(const std::string& base) { return named(base, base); }
  // A name derived from an initializer that several nodes may share (a weight, a bias, a constant
  // operand): one per reading node `owner`, since each gets its own quantized copy.
  std::string operator()(const std::string& base, const std::string& owner) { return named(owner + "\n" + base, base); }

 private:
  std::string named(const std::string& key, const std::string& base) {
    auto it = cache.find(key);
    if (it != cache.end()) return it->second;
    return cache[key] = ctx.unique_name(base);
  }
};

void add_tensor(onnx::GraphProto& g, const std::string& name, int type, const std::vector<std::int64_t>& dims, std::string bytes) {
  auto* t = g.add_initializer();
  t->set_name(name);
  t->set_data_type(type);
  for (auto d : dims) t->add_dims(d);
  t->set_raw_data(std::move(bytes));
}

template <class T>
std::string bytes_of(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

onnx::NodeProto make_node(const std::string& op, const std::string& name, std::vector<std::string> inputs,
                          std::vector<std::string> outputs) {
  onnx::NodeProto n;
  n.set_op_type(op);
  n.set_name(name);
  for (auto& i : inputs) n.add_input(i);
  for (auto& o : outputs) n.add_output(o);
  return n;
}

void set_int_attribute(onnx::NodeProto& n, const std::string& name, std::int64_t v) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}

// A weight the rewrite no longer reads: removed once nothing reads it, with its graph-input entry
// (initializers listed as inputs, treated as constants).
void replace_weight(graph_context& ctx, const onnx::GraphProto& g, const std::string& name) {
  ctx.replaced_weights.insert(name);
  for (const auto& v : g.input()) {
    if (v.name() == name) ctx.dropped_inputs.insert(name);
  }
}

// ---- BatchNormalization folding ----------------------------------------------------------------

// Conv -> BatchNormalization (inference, constant parameters, the Conv's output read only by it):
// the BN goes into the Conv's weights and bias (exact up to rounding). ONNX Runtime folds it too,
// but only when the weights are initializers, which DequantizeLinear outputs are not.
std::size_t fold_batch_norms(graph_context& ctx, onnx::GraphProto& g, std::vector<std::string>& notes) {
  const std::vector<scope_level> scopes{{&g, "main"}};
  const bool constant_inits = ctx.options().graph_input_weights == initializer_inputs::treat_as_constant;
  std::size_t folded = 0;
  for (bool changed = true; changed;) {
    changed = false;
    graph_index ix = index_graph(g, constant_inits);
    for (std::size_t b = 0; b < ix.nodes.size() && !changed; ++b) {
      onnx::NodeProto& bn = *ix.nodes[b];
      if (bn.op_type() != "BatchNormalization" || !bn.domain().empty() || bn.input_size() != 5) continue;
      bool training = int_attribute(bn, "training_mode", 0) != 0;
      for (int k = 1; k < bn.output_size(); ++k) training = training || !bn.output(k).empty();
      if (training) continue;
      auto p = ix.producer.find(bn.input(0));
      if (p == ix.producer.end()) continue;
      onnx::NodeProto& conv = *ix.nodes[static_cast<std::size_t>(p->second)];
      if (conv.op_type() != "Conv" || !conv.domain().empty() || ix.readers[bn.input(0)].size() != 1 ||
          ix.outputs.count(bn.input(0)) != 0) {
        continue;
      }
      auto w = read_constant(ctx, scopes, conv.input(1));
      if (!w || w->dims.empty()) continue;
      std::optional<constant> bias;
      if (conv.input_size() > 2 && !conv.input(2).empty()) {
        bias = read_constant(ctx, scopes, conv.input(2));
        if (!bias) continue;
      }
      auto scale = read_constant(ctx, scopes, bn.input(1));
      auto shift = read_constant(ctx, scopes, bn.input(2));
      auto mean = read_constant(ctx, scopes, bn.input(3));
      auto var = read_constant(ctx, scopes, bn.input(4));
      const auto channels = static_cast<std::size_t>(w->dims[0]);
      if (!scale || !shift || !mean || !var || scale->values.size() != channels || shift->values.size() != channels ||
          mean->values.size() != channels || var->values.size() != channels ||
          (bias && bias->values.size() != channels)) {
        continue;
      }
      const float eps = float_attribute(bn, "epsilon", 1e-5f);
      const std::size_t per = w->values.size() / channels;
      std::vector<float> new_w = w->values;
      std::vector<float> new_b(channels);
      for (std::size_t c = 0; c < channels; ++c) {
        const double s = static_cast<double>(scale->values[c]) / std::sqrt(static_cast<double>(var->values[c]) + eps);
        for (std::size_t k = 0; k < per; ++k) new_w[c * per + k] = static_cast<float>(static_cast<double>(w->values[c * per + k]) * s);
        const double b0 = bias ? bias->values[c] : 0.0;
        new_b[c] = static_cast<float>((b0 - static_cast<double>(mean->values[c])) * s + static_cast<double>(shift->values[c]));
      }
      const std::string wname = add_float_initializer(ctx, g, conv.input(1) + "_bn", new_w, w->dims);
      const std::string bname = add_float_initializer(ctx, g, bn.name().empty() ? conv.output(0) + "_bias" : bn.name() + "_bias",
                                                      new_b, {static_cast<std::int64_t>(channels)});
      replace_weight(ctx, g, conv.input(1));
      if (bias) replace_weight(ctx, g, conv.input(2));
      for (int k = 1; k < 5; ++k) replace_weight(ctx, g, bn.input(k));
      conv.set_input(1, wname);
      if (conv.input_size() > 2) conv.set_input(2, bname);
      else conv.add_input(bname);
      conv.set_output(0, bn.output(0));
      // Remove the BatchNormalization node.
      for (int i = 0; i < g.node_size(); ++i) {
        if (&g.node(i) == &bn) {
          g.mutable_node()->DeleteSubrange(i, 1);
          break;
        }
      }
      ++folded;
      changed = true;
    }
  }
  if (folded > 0) {
    notes.push_back("folded " + std::to_string(folded) + " BatchNormalization node" + (folded == 1 ? "" : "s") +
                    " into the Conv before it (ONNX Runtime cannot fold them once the weights are quantized)");
  }
  return folded;
}

// ---- candidates ---------------------------------------------------------------------------------

struct candidate {
  role kind = role::none;
  std::string why_float;       // for heavy ops that stay float
  // A Conv/MatMul/Gemm for which int8 alone does not pay (depthwise, few multiply-adds): it is
  // quantized like a capable op, only where the int8 region already surrounds it. ONNX Runtime
  // quantizes such a Conv itself (per tensor, less accurately) when it sits between a DQ and a Q.
  std::string joins_only;
  std::vector<int> act_inputs;  // input positions that are activations to quantize
  std::vector<int> const_inputs;  // constant float inputs to quantize (Add/Mul/Concat operands)
  int weight_axis = -1;        // heavy: channel axis of the constant weight (input 1), -1: none
  bool has_bias = false;       // heavy: input 2 is a constant float bias
  // Conv/Gemm whose float32 constant weight (and bias, if any) int8 can hold. ONNX Runtime
  // quantizes such a node itself, per tensor, when it stays float but reads a DequantizeLinear
  // (its WeightBiasQuantization), so the plan quantizes its weight per channel instead.
  bool weight_ok = false;
  // Multiply-adds per output element (Conv, MatMul, Gemm with a constant weight), or per input
  // element (ConvTranspose): with the calibrated tensors' sizes, the work in products.
  std::int64_t macs_per_output = 0;
  std::int64_t macs_per_input = 0;
};

std::string conv_speed_blocker(const constant& w, std::int64_t group) {
  if (w.dims.size() < 3) return "not a 1-D or 2-D convolution";
  const std::int64_t out_channels = w.dims[0];
  const std::int64_t per_group_in = w.dims[1];
  std::int64_t taps = 1;
  for (std::size_t k = 2; k < w.dims.size(); ++k) taps *= w.dims[k];
  if (group > 1 && per_group_in == 1) return "depthwise: int8 is slower than float here in ONNX Runtime";
  if (per_group_in * taps < min_macs_per_output) {
    return std::to_string(per_group_in * taps) + " multiply-adds per output: too few for int8 to pay";
  }
  if (out_channels < 4) return std::to_string(out_channels) + " output channels: too small for int8 to pay";
  return {};
}

std::vector<candidate> classify(graph_context& ctx, onnx::GraphProto& g, const graph_index& ix) {
  const std::vector<scope_level> scopes{{&g, "main"}};
  std::vector<candidate> out(ix.nodes.size());
  for (std::size_t i = 0; i < ix.nodes.size(); ++i) {
    const onnx::NodeProto& n = *ix.nodes[i];
    candidate& c = out[i];
    if (!n.domain().empty() && n.domain() != "ai.onnx") continue;
    const std::string& op = n.op_type();
    auto is_const = [&](int k) { return k < n.input_size() && ix.is_constant(n.input(k)); };
    if (op == "Conv") {
      c.kind = role::heavy;
      auto w = is_const(1) ? read_constant(ctx, scopes, n.input(1)) : std::nullopt;
      if (!w) {
        c.why_float = "its weight is not a float32 constant";
      } else {
        c.joins_only = conv_speed_blocker(*w, int_attribute(n, "group", 1));
        c.macs_per_output = w->dims.size() >= 2 ? static_cast<std::int64_t>(w->values.size()) / std::max<std::int64_t>(w->dims[0], 1) : 0;
        if (w->dims.size() < 3) {
          c.why_float = c.joins_only;
          c.joins_only.clear();
        }
        if (n.input_size() > 2 && !n.input(2).empty()) {
          if (!is_const(2)) c.why_float = "its bias is not a constant";
          c.has_bias = true;
        }
      }
      c.act_inputs = {0};
      c.weight_axis = 0;
      c.weight_ok = w && w->dims.size() >= 3 && (!c.has_bias || is_const(2));
    } else if (op == "ConvTranspose") {
      // Never fused on ONNX Runtime's CPU provider: float, but weight-only when it reads a
      // quantized tensor (its weight per channel on axis 1, the output channels; the bias stays
      // float, which ONNX Runtime then leaves alone).
      auto w = is_const(1) ? read_constant(ctx, scopes, n.input(1)) : std::nullopt;
      const bool bias_ok = n.input_size() <= 2 || n.input(2).empty() || is_const(2);
      c.weight_ok = w && w->dims.size() >= 3 && bias_ok;
      c.weight_axis = 1;
      if (w && !w->dims.empty()) c.macs_per_input = static_cast<std::int64_t>(w->values.size()) / std::max<std::int64_t>(w->dims[0], 1);
    } else if (op == "MatMul") {
      c.kind = role::heavy;
      c.act_inputs = {0};
      if (is_const(1)) {
        auto w = read_constant(ctx, scopes, n.input(1));
        if (!w || w->dims.size() != 2) c.why_float = "its weight is not a 2-D float32 constant";
        else if (w->dims[0] < min_macs_per_output) c.joins_only = std::to_string(w->dims[0]) + " multiply-adds per output: too few for int8 to pay";
        if (w && w->dims.size() == 2) c.macs_per_output = w->dims[0];
        c.weight_axis = 1;
      } else {
        c.act_inputs.push_back(1);  // activation x activation (attention): both quantized
      }
    } else if (op == "Gemm") {
      c.kind = role::heavy;
      c.act_inputs = {0};
      if (int_attribute(n, "transA", 0) != 0) c.why_float = "transA is not supported in int8";
      auto w = is_const(1) ? read_constant(ctx, scopes, n.input(1)) : std::nullopt;
      if (!w || w->dims.size() != 2) c.why_float = "its weight is not a 2-D float32 constant";
      const bool trans_b = int_attribute(n, "transB", 0) != 0;
      c.weight_axis = trans_b ? 0 : 1;
      if (w && w->dims.size() == 2) c.macs_per_output = w->dims[trans_b ? 1 : 0];
      if (w && w->dims.size() == 2 && w->dims[trans_b ? 1 : 0] < min_macs_per_output) {
        c.joins_only = std::to_string(w->dims[trans_b ? 1 : 0]) + " multiply-adds per output: too few for int8 to pay";
      }
      if (n.input_size() > 2 && !n.input(2).empty()) {
        if (!is_const(2)) c.why_float = "its bias is not a constant";
        if (float_attribute(n, "beta", 1.0f) != 1.0f) c.why_float = "beta is not 1 (ONNX Runtime's QGemm needs it)";
        c.has_bias = true;
      }
      c.weight_ok = w && w->dims.size() == 2 && (!c.has_bias || is_const(2));
    } else if (op == "Relu" || op == "Clip") {
      bool ok = true;
      if (op == "Clip") {
        // After the opset-13 conversion, Clip's bounds are inputs; the lower one must let 0 through
        // (uint8's zero point 0 is the smallest value the Q can give).
        if (n.input_size() > 1 && !n.input(1).empty()) {
          auto lo = scalar_constant(ctx, scopes, n.input(1));
          ok = lo && *lo <= 0.0f;
        }
        if (n.input_size() > 2 && !n.input(2).empty()) ok = ok && scalar_constant(ctx, scopes, n.input(2)).has_value();
      }
      if (ok) {
        c.kind = role::removable;
        c.act_inputs = {0};
      }
    } else if (moves_data(op)) {
      if (op == "Resize" && int_attribute(n, "antialias", 0) == 0) {
        const onnx::AttributeProto* mode = nullptr;
        for (const auto& a : n.attribute()) {
          if (a.name() == "mode") mode = &a;
        }
        if (mode != nullptr && mode->s() != "nearest") continue;  // linear/cubic run in float
      }
      c.kind = role::capable;
      c.act_inputs = {0};
    } else if (requantizes(op)) {
      c.kind = role::capable;
      for (int k = 0; k < n.input_size(); ++k) {
        if (n.input(k).empty()) continue;
        if (is_const(k)) {
          if (op != "Add" && op != "Mul" && op != "Concat") continue;  // pool/activation params
          c.const_inputs.push_back(k);
        } else {
          c.act_inputs.push_back(k);
        }
      }
      if (c.act_inputs.empty()) c.kind = role::none;  // constant folding, not ours
    }
    if (c.kind == role::heavy && c.why_float.empty() && !c.joins_only.empty()) c.kind = role::capable;
  }
  return out;
}

// ---- plan -------------------------------------------------------------------------------------

struct plan {
  std::set<int> quantized;            // heavy and capable nodes in int8
  std::set<int> removable;            // Relu/Clip folded into their producer's Q
  std::set<std::string> tensors;      // activation tensors with a Q/DQ pair
  std::map<std::string, std::string> shares;  // tensor -> the tensor whose parameters it takes
  std::map<int, std::string> why_float;       // heavy nodes left in float, and why
  // Float Conv/Gemm nodes that read a quantized tensor: their weight (and bias) is quantized per
  // channel, as ONNX Runtime would otherwise do it per tensor (see candidate::weight_ok).
  std::set<int> weight_only;
};

struct plan_inputs {
  const graph_index& ix;
  const std::vector<candidate>& cands;
  const std::map<std::string, calib::range>* ranges = nullptr;  // after calibration
  std::set<int> excluded;
  std::map<int, std::string> exclusion_reasons;
  std::set<int> weight_failures;  // nodes whose weight or bias int8 cannot hold: never weight_only
};

plan make_plan(const plan_inputs& in) {
  const graph_index& ix = in.ix;
  plan p;
  const auto& nodes = ix.nodes;
  auto excluded = [&](int i) { return in.excluded.count(i) != 0; };
  // A tensor every reader of which is known, float32 when calibrated.
  auto calibrated = [&](const std::string& t) { return in.ranges == nullptr || in.ranges->count(t) != 0; };
  auto inputs_ok = [&](int i) {
    const candidate& c = in.cands[static_cast<std::size_t>(i)];
    for (int k : c.act_inputs) {
      if (!calibrated(nodes[static_cast<std::size_t>(i)]->input(k))) return false;
    }
    return true;
  };
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    const int id = static_cast<int>(i);
    const candidate& c = in.cands[i];
    if (c.kind != role::heavy) continue;
    if (excluded(id)) {
      p.why_float[id] = in.exclusion_reasons.count(id) ? in.exclusion_reasons.at(id) : "excluded";
    } else if (!c.why_float.empty()) {
      p.why_float[id] = c.why_float;
    } else if (!inputs_ok(id) || !calibrated(nodes[i]->output(0))) {
      p.why_float[id] = "an activation it reads or writes is not float32";
    } else {
      p.quantized.insert(id);
    }
  }
  // Capable nodes run in int8 when they lie between quantized nodes: reachable forward from a
  // quantized node's output and backward from a quantized node's input through capable nodes
  // only (Relu/Clip count as capable on these paths). An int8 island of capable nodes that
  // touches no quantized node on one side would only add conversions.
  auto usable = [&](int i) {
    const candidate& c = in.cands[static_cast<std::size_t>(i)];
    if (excluded(i) || !(c.kind == role::capable || c.kind == role::removable) || !inputs_ok(i)) return false;
    for (const auto& o : nodes[static_cast<std::size_t>(i)]->output()) {
      if (!o.empty() && !calibrated(o)) return false;
    }
    return true;
  };
  auto activation_inputs = [&](int i) {
    std::vector<std::string> v;
    for (int k : in.cands[static_cast<std::size_t>(i)].act_inputs) v.push_back(nodes[static_cast<std::size_t>(i)]->input(k));
    return v;
  };
  std::set<int> forward, backward;
  std::vector<int> work;
  for (int h : p.quantized) work.push_back(h);
  while (!work.empty()) {  // forward from quantized nodes' outputs
    const int i = work.back();
    work.pop_back();
    for (const auto& o : nodes[static_cast<std::size_t>(i)]->output()) {
      auto rd = ix.readers.find(o);
      if (rd == ix.readers.end()) continue;
      for (int r : rd->second) {
        if (p.quantized.count(r) || !usable(r) || forward.count(r)) continue;
        const auto acts = activation_inputs(r);
        if (std::find(acts.begin(), acts.end(), o) == acts.end()) continue;  // read as a parameter
        forward.insert(r);
        work.push_back(r);
      }
    }
  }
  for (int h : p.quantized) work.push_back(h);
  while (!work.empty()) {  // backward from quantized nodes' inputs
    const int i = work.back();
    work.pop_back();
    for (const auto& t : activation_inputs(i)) {
      auto pr = ix.producer.find(t);
      if (pr == ix.producer.end()) continue;
      const int q = pr->second;
      if (p.quantized.count(q) || !usable(q) || backward.count(q)) continue;
      backward.insert(q);
      work.push_back(q);
    }
  }
  for (int i : forward) {
    if (backward.count(i) == 0) continue;
    (in.cands[static_cast<std::size_t>(i)].kind == role::removable ? p.removable : p.quantized).insert(i);
  }
  // Relu/Clip right after a quantized node, read by nothing else, fold into its Q (wherever
  // their output goes): the quantized node's output must feed only a Q.
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    const int id = static_cast<int>(i);
    if (in.cands[i].kind != role::removable || excluded(id) || p.removable.count(id)) continue;
    const onnx::NodeProto& n = *nodes[i];
    auto pr = ix.producer.find(n.input(0));
    if (pr == ix.producer.end() || p.quantized.count(pr->second) == 0) continue;
    if (!calibrated(n.output(0))) continue;
    p.removable.insert(id);
  }
  // A Relu/Clip is folded only when its producer's output goes to it alone; otherwise it runs in
  // float between a DQ and a Q (still correct).
  for (auto it = p.removable.begin(); it != p.removable.end();) {
    const onnx::NodeProto& n = *nodes[static_cast<std::size_t>(*it)];
    auto pr = ix.producer.find(n.input(0));
    auto readers = ix.readers.find(n.input(0));
    const bool alone = pr != ix.producer.end() && p.quantized.count(pr->second) != 0 && readers != ix.readers.end() &&
                       readers->second.size() == 1 && ix.outputs.count(n.input(0)) == 0;
    if (alone) {
      ++it;
      continue;
    }
    // Not foldable: treated as a float node whose output is quantized when quantized nodes read it.
    it = p.removable.erase(it);
  }
  // The tensors: every activation input and output of a quantized node; a node followed by a
  // folded activation hands its output over to the activation's.
  for (int id : p.quantized) {
    const onnx::NodeProto& n = *nodes[static_cast<std::size_t>(id)];
    const candidate& c = in.cands[static_cast<std::size_t>(id)];
    for (int k : c.act_inputs) p.tensors.insert(n.input(k));
    for (const auto& o : n.output()) {
      if (o.empty()) continue;
      auto readers = ix.readers.find(o);
      const bool folded = readers != ix.readers.end() && readers->second.size() == 1 && p.removable.count(readers->second[0]) != 0;
      p.tensors.insert(folded ? nodes[static_cast<std::size_t>(readers->second[0])]->output(0) : o);
      if (moves_data(n.op_type()) && !folded) p.shares[o] = n.input(0);
    }
  }
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    const int id = static_cast<int>(i);
    const candidate& c = in.cands[i];
    if (!c.weight_ok || c.weight_axis < 0 || p.quantized.count(id) || in.weight_failures.count(id)) continue;
    if (p.tensors.count(nodes[i]->input(0))) p.weight_only.insert(id);
  }
  return p;
}

// The tensor whose parameters `t` uses (following data-movement chains).
std::string params_root(const plan& p, std::string t) {
  for (int guard = 0; guard < 10000; ++guard) {
    auto it = p.shares.find(t);
    if (it == p.shares.end() || p.tensors.count(it->second) == 0) return t;
    t = it->second;
  }
  return t;
}

// ---- emission ---------------------------------------------------------------------------------

struct activation_params {
  float scale = 1;
  std::int32_t zero_point = 0;
  calib::range r;
};

struct emit_state {
  graph_context& ctx;
  names& name;
  const graph_index& ix;  // of the base graph (indices are node positions)
  const std::vector<candidate>& cands;
  const std::map<std::string, activation_params>& params;  // by root tensor
  activation_type act_type;
};

// The scale and zero-point initializers of a root tensor (created once per graph copy).
std::pair<std::string, std::string> param_names(emit_state& s, onnx::GraphProto& g, std::map<std::string, std::pair<std::string, std::string>>& made,
                                                const std::string& root) {
  auto it = made.find(root);
  if (it != made.end()) return it->second;
  const activation_params& ap = s.params.at(root);
  const std::string sn = s.name(root + "_scale");
  const std::string zn = s.name(root + "_zero_point");
  add_tensor(g, sn, onnx::TensorProto::FLOAT, {}, bytes_of(std::vector<float>{ap.scale}));
  if (s.act_type == activation_type::uint8) {
    add_tensor(g, zn, onnx::TensorProto::UINT8, {}, bytes_of(std::vector<std::uint8_t>{static_cast<std::uint8_t>(ap.zero_point)}));
  } else {
    add_tensor(g, zn, onnx::TensorProto::INT8, {}, bytes_of(std::vector<std::int8_t>{static_cast<std::int8_t>(ap.zero_point)}));
  }
  return made[root] = {sn, zn};
}

struct quantized_weight_names {
  std::string dq_output;
  quant::quantized_weight q;
};

// Quantized weights and biases are the same in every round of the guard: computed once per node.
struct weight_cache {
  std::map<int, quant::quantized_weight> weights;
  std::map<int, std::vector<std::int32_t>> biases;
  std::map<int, std::vector<float>> bias_scales;
  // The input scale each bias was made for: a guard round that puts a neighbour back to float can
  // give the node's input other parameters (a data-movement chain shares them no more), and then
  // its bias is made again.
  std::map<int, float> bias_input_scales;
  std::map<std::pair<int, int>, quant::quantized_weight> operands;  // (node, input) -> uint8 constant
  std::map<int, std::string> failures;  // heavy nodes whose weight or bias cannot be quantized
  // Failures recorded, counting repeats: an emit that bails out leaves its graph unquantized, so
  // callers compare this count (not failures.size(), which a node failing again leaves alone).
  std::size_t failure_events = 0;
};

// Emits plan `p` into `g`, a copy of the base graph (same node order as s.ix). Nodes whose weight
// or bias cannot be quantized are reported in cache.failures; callers re-plan without them.
result<void> emit(emit_state& s, onnx::GraphProto& g, const plan& p, weight_cache& cache) {
  const std::vector<scope_level> scopes{{&g, "main"}};
  std::map<std::string, std::pair<std::string, std::string>> made;
  std::vector<onnx::NodeProto> out;
  out.reserve(static_cast<std::size_t>(g.node_size()) * 2);
  std::map<std::string, std::string> renamed_inputs;  // quantized graph inputs -> their DQ output
  const int qtype_onnx = s.act_type == activation_type::uint8 ? onnx::TensorProto::UINT8 : onnx::TensorProto::INT8;
  auto emit_pair = [&](const std::string& from, const std::string& to, const std::string& tensor) {
    const std::string root = params_root(p, tensor);
    const auto [sn, zn] = param_names(s, g, made, root);
    const std::string q = s.name(tensor + "_quantized");
    out.push_back(make_node("QuantizeLinear", s.name(tensor + "_QuantizeLinear"), {from, sn, zn}, {q}));
    out.push_back(make_node("DequantizeLinear", s.name(tensor + "_DequantizeLinear"), {q, sn, zn}, {to}));
  };
  for (const auto& v : g.input()) {
    if (p.tensors.count(v.name()) == 0) continue;
    const std::string dq = s.name(v.name() + "_dequantized");
    emit_pair(v.name(), dq, v.name());
    renamed_inputs[v.name()] = dq;
  }
  for (int i = 0; i < g.node_size(); ++i) {
    onnx::NodeProto node = g.node(i);
    for (int k = 0; k < node.input_size(); ++k) {
      auto it = renamed_inputs.find(node.input(k));
      if (it != renamed_inputs.end()) node.set_input(k, it->second);
    }
    const candidate& c = s.cands[static_cast<std::size_t>(i)];
    if ((p.quantized.count(i) != 0 || p.weight_only.count(i) != 0) && c.weight_axis >= 0) {
      // The weight: int8 symmetric per channel + DequantizeLinear(axis).
      if (cache.weights.count(i) == 0) {
        auto w = read_constant(s.ctx, scopes, node.input(1));
        if (!w) return fail(errc::internal, "node '" + node.name() + "': its weight vanished");
        quant::weight_options wo;
        wo.type = quant::qtype::int8;
        wo.sym = quant::symmetry::symmetric;
        wo.per_channel = true;
        wo.axis = c.weight_axis;
        auto q = quant::quantize_weight(w->values, w->dims, wo, node.input(1));
        if (!q) return unexpected_error{std::move(q).error()};
        cache.weights[i] = std::move(*q);
      }
      const quant::quantized_weight& q = cache.weights.at(i);
      auto w = s.ctx.find_weight(scopes, node.input(1));
      std::vector<std::int64_t> dims(w->tensor->dims().begin(), w->tensor->dims().end());
      const auto channels = static_cast<std::int64_t>(q.scales.size());
      const std::string base = node.input(1);
      const std::string owner = std::to_string(i);
      const std::string qn = s.name(base + "_quantized", owner);
      const std::string sn = s.name(base + "_scale", owner);
      const std::string zn = s.name(base + "_zero_point", owner);
      add_tensor(g, qn, onnx::TensorProto::INT8, dims, q.data);
      add_tensor(g, sn, onnx::TensorProto::FLOAT, {channels}, bytes_of(q.scales));
      add_tensor(g, zn, onnx::TensorProto::INT8, {channels}, std::string(static_cast<std::size_t>(channels), '\0'));
      const std::string dq = s.name(base + "_dequantized", owner);
      auto dqn = make_node("DequantizeLinear", s.name(base + "_DequantizeLinear", owner), {qn, sn, zn}, {dq});
      set_int_attribute(dqn, "axis", c.weight_axis);
      out.push_back(std::move(dqn));
      node.set_input(1, dq);
      if (c.has_bias && node.input_size() > 2 && !node.input(2).empty()) {
        // The bias: int32 with scale x_scale * w_scale[c], zero point 0 (what fusion requires).
        const activation_params& x = s.params.at(params_root(p, s.ix.nodes[static_cast<std::size_t>(i)]->input(0)));
        const auto made_for = cache.bias_input_scales.find(i);
        if (cache.biases.count(i) == 0 || made_for == cache.bias_input_scales.end() || made_for->second != x.scale) {
          auto b = read_constant(s.ctx, scopes, node.input(2));
          if (!b || static_cast<std::int64_t>(b->values.size()) != channels) {
            cache.failures[i] = "its bias does not have one value per output channel";
            ++cache.failure_events;
            return {};
          }
          std::vector<std::int32_t> bq(b->values.size());
          std::vector<float> bs(b->values.size());
          for (std::size_t k = 0; k < b->values.size(); ++k) {
            bs[k] = x.scale * q.scales[k];
            const double v = std::nearbyint(static_cast<double>(b->values[k]) / static_cast<double>(bs[k]));
            if (!(std::fabs(v) < 2147483647.0)) {
              cache.failures[i] = "its bias does not fit int32 at scale x_scale * w_scale";
              ++cache.failure_events;
              return {};
            }
            bq[k] = static_cast<std::int32_t>(v);
          }
          cache.biases[i] = std::move(bq);
          cache.bias_scales[i] = std::move(bs);
          cache.bias_input_scales[i] = x.scale;
        }
        const std::string bbase = node.input(2);
        const std::string bqn = s.name(bbase + "_quantized", owner);
        const std::string bsn = s.name(bbase + "_scale", owner);
        const std::string bzn = s.name(bbase + "_zero_point", owner);
        add_tensor(g, bqn, onnx::TensorProto::INT32, {channels}, bytes_of(cache.biases.at(i)));
        add_tensor(g, bsn, onnx::TensorProto::FLOAT, {channels}, bytes_of(cache.bias_scales.at(i)));
        add_tensor(g, bzn, onnx::TensorProto::INT32, {channels}, std::string(static_cast<std::size_t>(channels) * 4, '\0'));
        const std::string bdq = s.name(bbase + "_dequantized", owner);
        auto bdqn = make_node("DequantizeLinear", s.name(bbase + "_DequantizeLinear", owner), {bqn, bsn, bzn}, {bdq});
        set_int_attribute(bdqn, "axis", 0);
        out.push_back(std::move(bdqn));
        node.set_input(2, bdq);
      }
    }
    if (p.quantized.count(i) != 0 && c.kind == role::capable) {
      // Constant operands of Add/Mul/Concat: 8-bit per tensor, the activations' type.
      for (int k : c.const_inputs) {
        const auto key = std::make_pair(i, k);
        if (cache.operands.count(key) == 0) {
          auto v = read_constant(s.ctx, scopes, node.input(k));
          if (!v) return fail(errc::internal, "node '" + node.name() + "': a constant operand vanished");
          quant::weight_options wo;
          wo.type = s.act_type == activation_type::uint8 ? quant::qtype::uint8 : quant::qtype::int8;
          wo.sym = quant::symmetry::asymmetric;
          wo.measure_error = false;
          auto q = quant::quantize_weight(v->values, v->dims, wo, node.input(k));
          if (!q) return unexpected_error{std::move(q).error()};
          cache.operands[key] = std::move(*q);
        }
        const quant::quantized_weight& q = cache.operands.at(key);
        auto w = s.ctx.find_weight(scopes, node.input(k));
        std::vector<std::int64_t> dims(w->tensor->dims().begin(), w->tensor->dims().end());
        const std::string base = node.input(k);
        const std::string owner = std::to_string(i) + ":" + std::to_string(k);
        const std::string qn = s.name(base + "_quantized", owner);
        const std::string sn = s.name(base + "_scale", owner);
        const std::string zn = s.name(base + "_zero_point", owner);
        add_tensor(g, qn, qtype_onnx, dims, q.data);
        add_tensor(g, sn, onnx::TensorProto::FLOAT, {}, bytes_of(q.scales));
        const auto zp = static_cast<std::uint8_t>(q.zero_points[0] & 0xff);
        add_tensor(g, zn, qtype_onnx, {}, std::string(1, static_cast<char>(zp)));
        const std::string dq = s.name(base + "_dequantized", owner);
        out.push_back(make_node("DequantizeLinear", s.name(base + "_DequantizeLinear", owner), {qn, sn, zn}, {dq}));
        node.set_input(k, dq);
      }
    }
    // Outputs with a Q/DQ pair: the node writes a renamed float value, the DQ gives the name back.
    std::vector<std::pair<std::string, std::string>> pairs;
    for (int k = 0; k < node.output_size(); ++k) {
      const std::string o = node.output(k);
      if (o.empty() || p.tensors.count(o) == 0) continue;
      const std::string fp = s.name(o + "_float");
      node.set_output(k, fp);
      pairs.emplace_back(fp, o);
    }
    out.push_back(std::move(node));
    for (const auto& [fp, o] : pairs) emit_pair(fp, o, o);
  }
  google::protobuf::RepeatedPtrField<onnx::NodeProto> rebuilt;
  rebuilt.Reserve(static_cast<int>(out.size()));
  for (auto& n : out) rebuilt.Add()->Swap(&n);
  g.mutable_node()->Swap(&rebuilt);
  return {};
}

}  // namespace

// ---- models for the executor --------------------------------------------------------------------

mq::model model_around(const mq::model::impl& source, onnx::ModelProto proto) {
  auto state = std::make_unique<mq::model::impl>();
  state->proto = std::move(proto);
  state->label = source.label;
  state->input_name = source.input_name;
  state->source = source.source;
  state->base_dir = source.base_dir;
  state->self_location = source.self_location;
  return mq::model::from_internals(std::move(state));
}

std::vector<std::string> compared_values(const onnx::GraphProto& g) {
  // Outputs downstream of a TopK: its order depends on the data, so compare what it ranks.
  std::map<std::string, int> producer;
  for (int i = 0; i < g.node_size(); ++i) {
    for (const auto& o : g.node(i).output()) producer[o] = i;
  }
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (const auto& o : g.output()) {
    std::vector<std::string> topk_inputs;
    std::set<std::string> visited;
    std::vector<std::string> stack{o.name()};
    while (!stack.empty()) {
      const std::string t = stack.back();
      stack.pop_back();
      if (!visited.insert(t).second) continue;
      auto it = producer.find(t);
      if (it == producer.end()) continue;
      const auto& n = g.node(it->second);
      if (n.op_type() == "TopK") {
        // Its values output is sorted: comparable element by element whatever order ties take.
        topk_inputs.push_back(n.output(0));
        continue;
      }
      for (const auto& in : n.input()) {
        if (!in.empty()) stack.push_back(in);
      }
    }
    if (topk_inputs.empty()) {
      const bool is_float = !o.type().has_tensor_type() || o.type().tensor_type().elem_type() == onnx::TensorProto::FLOAT;
      if (is_float && seen.insert(o.name()).second) out.push_back(o.name());
    } else {
      for (const auto& t : topk_inputs) {
        if (seen.insert(t).second) out.push_back(t);
      }
    }
  }
  return out;
}

namespace {

// Float values of `names` from one run (fetched when they are not graph outputs).
result<std::vector<std::vector<float>>> values_of_run(session& s, const std::map<std::string, tensor>& feeds,
                                                      const std::vector<std::string>& names) {
  run_options ro;
  std::set<std::string> outputs;
  for (const auto& o : s.outputs()) outputs.insert(o.name);
  for (const auto& n : names) {
    if (outputs.count(n) == 0) ro.fetch.push_back(n);
  }
  auto out = MQ_TRY(s.run(feeds, ro));
  std::vector<std::vector<float>> values;
  for (const auto& n : names) {
    const tensor& t = out.at(n);
    const auto v = t.as<float>();
    values.emplace_back(v.begin(), v.end());
  }
  return values;
}

double snr_db(double signal, double noise) {
  if (noise == 0) return std::numeric_limits<double>::infinity();
  if (signal == 0) return -std::numeric_limits<double>::infinity();
  return 10 * std::log10(signal / noise);
}

// The reference's values on every input, computed once for all the guard's candidates.
struct reference_run {
  std::vector<std::string> names;
  std::vector<std::vector<std::vector<float>>> values;  // sample -> name -> values
};

result<reference_run> run_reference(const mq::model& m, const std::vector<std::map<std::string, tensor>>& inputs, unsigned threads) {
  session_options so;
  so.threads = threads;
  so.fuse = false;  // fetched values must stay visible
  auto s = MQ_TRY(session::create(m, so));
  reference_run r;
  r.names = compared_values(m.internals().proto.graph());
  for (const auto& feeds : inputs) r.values.push_back(MQ_TRY(values_of_run(s, feeds, r.names)));
  return r;
}

result<snr_result> snr_against(const reference_run& ref, const mq::model& candidate,
                               const std::vector<std::map<std::string, tensor>>& inputs, unsigned threads) {
  session_options so;
  so.threads = threads;
  so.fuse = false;
  auto s = MQ_TRY(session::create(candidate, so));
  std::vector<double> signal(ref.names.size(), 0), noise(ref.names.size(), 0);
  for (std::size_t k = 0; k < inputs.size(); ++k) {
    auto got = MQ_TRY(values_of_run(s, inputs[k], ref.names));
    for (std::size_t j = 0; j < ref.names.size(); ++j) {
      const auto& a = ref.values[k][j];
      const auto& b = got[j];
      if (a.size() != b.size()) {
        noise[j] = std::numeric_limits<double>::infinity();
        continue;
      }
      for (std::size_t e = 0; e < a.size(); ++e) {
        const double x = a[e], d = static_cast<double>(a[e]) - static_cast<double>(b[e]);
        signal[j] += x * x;
        noise[j] += d * d;
      }
    }
  }
  snr_result r;
  r.worst_db = std::numeric_limits<double>::infinity();
  for (std::size_t j = 0; j < ref.names.size(); ++j) {
    const double db = std::isfinite(noise[j]) ? snr_db(signal[j], noise[j]) : -std::numeric_limits<double>::infinity();
    r.per_value[ref.names[j]] = db;
    r.worst_db = std::min(r.worst_db, db);
  }
  return r;
}

}  // namespace

result<snr_result> measure_snr(const mq::model& reference, const mq::model& candidate,
                               const std::vector<std::map<std::string, tensor>>& inputs, unsigned threads) {
  auto ref = MQ_TRY(run_reference(reference, inputs, threads));
  return snr_against(ref, candidate, inputs, threads);
}

namespace {

// Per quantized tensor of a candidate run: the noise its Q/DQ adds (its float value against the
// dequantized one, in the same run), for ranking the guard's candidates.
result<std::map<std::string, double>> local_noise(const mq::model& candidate, const plan& p,
                                                  const std::map<std::string, std::string>& float_name,
                                                  const std::vector<std::map<std::string, tensor>>& inputs, unsigned threads) {
  session_options so;
  so.threads = threads;
  so.fuse = false;
  auto s = MQ_TRY(session::create(candidate, so));
  std::map<std::string, std::string> by_float;  // float value -> quantized tensor
  std::map<std::string, std::string> by_dq;     // dequantized value -> quantized tensor
  for (const auto& t : p.tensors) {
    auto it = float_name.find(t);
    if (it == float_name.end()) continue;
    by_float[it->second] = t;
    by_dq[t] = t;
  }
  std::map<std::string, std::vector<float>> pending;
  std::map<std::string, std::pair<double, double>> sums;  // tensor -> (signal, noise)
  run_options ro;
  ro.observer = [&](const tensor_ref& r) -> result<void> {
    if (r.type != dtype::float32) return {};
    if (auto f = by_float.find(r.name); f != by_float.end()) {
      const auto v = r.as<float>();
      pending[f->second].assign(v.begin(), v.end());
      return {};
    }
    if (auto d = by_dq.find(r.name); d != by_dq.end()) {
      auto pend = pending.find(d->second);
      if (pend == pending.end()) return {};
      const auto v = r.as<float>();
      auto& [sig, noise] = sums[d->second];
      for (std::size_t i = 0; i < v.size() && i < pend->second.size(); ++i) {
        const double x = pend->second[i];
        const double e = x - static_cast<double>(v[i]);
        sig += x * x;
        noise += e * e;
      }
      pending.erase(pend);
    }
    return {};
  };
  for (const auto& feeds : inputs) MQ_TRY(s.run(feeds, ro));
  std::map<std::string, double> out;
  for (const auto& [t, sn] : sums) out[t] = snr_db(sn.first, sn.second);
  return out;
}

// Adds the shape and type of every float/int value of the main graph, measured by running the
// model on one sample, as value_info (for ONNX's version converter). Returns the names added.
result<std::set<std::string>> record_shapes(const mq::model::impl& m, const calibration_data& data, std::size_t index,
                                            unsigned threads) {
  mq::model copy = model_around(m, m.proto);
  session_options so;
  so.threads = threads;
  so.fuse = false;
  auto s = MQ_TRY(session::create(copy, so));
  auto feeds = MQ_TRY(data.sample(index, s));
  std::map<std::string, std::pair<dtype, std::vector<std::int64_t>>> seen;
  run_options ro;
  ro.observer = [&](const tensor_ref& t) -> result<void> {
    seen[t.name] = {t.type, std::vector<std::int64_t>(t.shape.begin(), t.shape.end())};
    return {};
  };
  MQ_TRY(s.run(feeds, ro));
  auto& g = const_cast<mq::model::impl&>(m).proto;  // value_info only, removed again by the caller
  std::set<std::string> known;
  for (const auto& v : g.graph().value_info()) known.insert(v.name());
  for (const auto& v : g.graph().input()) known.insert(v.name());
  for (const auto& v : g.graph().output()) known.insert(v.name());
  std::set<std::string> added;
  for (const auto& [name, ts] : seen) {
    if (known.count(name) != 0) continue;
    auto* v = g.mutable_graph()->add_value_info();
    v->set_name(name);
    auto* tt = v->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(static_cast<int>(ts.first));
    for (auto d : ts.second) tt->mutable_shape()->add_dim()->set_dim_value(d);
    added.insert(name);
  }
  return added;
}

std::string percent(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

std::string db_text(double v) {
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return percent(v);
}

}  // namespace

result<void> quantize_static(graph_context& ctx) {
  const quantize_options& options = ctx.options();
  const calibration_options& cal = *options.calibration;
  quantize_report& report = ctx.report();
  auto& model = ctx.model();
  auto& proto = model.proto;
  const unsigned threads = options.threads;

  // 1. Samples: a quarter (1 to 8), evenly spread over the file order, checks accuracy; the others
  //    calibrate. (Spread, not the last ones: neighbouring files are often frames of one scene.)
  calibration_data data = cal.data;
  if (data.source_kind() == calibration_data::kind::images && !data.preprocess()) {
    std::string author;
    for (const auto& p : proto.metadata_props()) {
      if (p.key() == "author") author = p.value();
    }
    if (author != "Ultralytics") {
      return fail(errc::invalid_argument, "calibration images in '" + data.folder().string() +
                                              "' need a preprocessing (--preprocess yolo|imagenet|unit|FILE.toml): the "
                                              "model does not say how it wants its images");
    }
    auto yolo = MQ_TRY(preprocess_spec::preset("yolo"));
    data = MQ_TRY(calibration_data::from_folder(data.folder(), yolo));
    report.notes.push_back("images preprocessed with the 'yolo' preset (the model is an Ultralytics export)");
  }
  const std::size_t available = data.size();
  if (available == 0) return fail(errc::invalid_argument, "the calibration data holds no samples");
  const std::size_t count = cal.count == 0 ? available : std::min(cal.count, available);
  // Without the guard (target 0) nothing is held out: every sample calibrates.
  const std::size_t held = count < 2 || !(options.target_snr_db > 0) ? 0 : std::clamp<std::size_t>(count / 4, 1, 8);
  std::vector<std::size_t> calib_indices, guard_indices;
  std::set<std::size_t> held_set;
  for (std::size_t k = 0; k < held; ++k) held_set.insert((2 * k + 1) * count / (2 * held));
  for (std::size_t i = 0; i < count; ++i) (held_set.count(i) ? guard_indices : calib_indices).push_back(i);
  if (guard_indices.empty()) guard_indices = calib_indices;

  // 2. Opset 13 (per-axis DequantizeLinear), a sorted node list, BatchNormalization folded.
  if (default_opset(proto) < 13) {
    // ONNX's version converter needs tensor shapes for some adapters (Softmax 12 -> 13), which
    // its shape inference cannot always find (shapes computed by Shape/Gather chains): the
    // executor measures them on the first sample, for the conversion only.
    const auto added = MQ_TRY(record_shapes(model, data, calib_indices.front(), threads));
    auto up = upgrade_opset(ctx, 13);
    auto* vi = proto.mutable_graph()->mutable_value_info();
    for (int k = vi->size() - 1; k >= 0; --k) {
      if (added.count(vi->Get(k).name()) != 0) vi->DeleteSubrange(k, 1);
    }
    if (!up) return unexpected_error{std::move(up).error()};
  }
  onnx::GraphProto& g = *proto.mutable_graph();
  sort_main_graph(g);
  fold_batch_norms(ctx, g, report.notes);
  remove_dead_weights(ctx);

  // 3. Candidates, and the tensors calibration must see (the widest plan).
  const bool constant_inits = options.graph_input_weights == initializer_inputs::treat_as_constant;
  graph_index ix = index_graph(g, constant_inits);
  const std::vector<candidate> cands = classify(ctx, g, ix);
  plan_inputs pin{ix, cands, nullptr, {}, {}, {}};
  for (std::size_t i = 0; i < ix.nodes.size(); ++i) {
    const auto& n = *ix.nodes[i];
    if (excluded_node(options, n.name())) {
      pin.excluded.insert(static_cast<int>(i));
      pin.exclusion_reasons[static_cast<int>(i)] = "excluded by --exclude";
    }
    // --op-types limits the quantized op types here as everywhere (the ops in between only join
    // the int8 regions those make).
    const auto& all = quantizable_op_types();
    const auto& chosen = options.op_types;
    if (!chosen.empty() && std::find(all.begin(), all.end(), n.op_type()) != all.end() &&
        std::find(chosen.begin(), chosen.end(), n.op_type()) == chosen.end()) {
      pin.excluded.insert(static_cast<int>(i));
      pin.exclusion_reasons[static_cast<int>(i)] = n.op_type() + " is not in --op-types";
    }
  }
  const plan widest = make_plan(pin);
  if (widest.quantized.empty()) {
    report.notes.push_back("static INT8: no node can run in int8 (no Conv/MatMul/Gemm with a constant weight that pays)");
  }
  // Every activation of every candidate (plans differ in which they quantize).
  std::set<std::string> observe = widest.tensors;
  for (std::size_t i = 0; i < ix.nodes.size(); ++i) {
    if (cands[i].macs_per_input > 0) observe.insert(ix.nodes[i]->input(0));  // its size, for the work
    if (cands[i].kind == role::none) continue;
    for (int k : cands[i].act_inputs) observe.insert(ix.nodes[i]->input(k));
    for (const auto& o : ix.nodes[i]->output()) {
      if (!o.empty()) observe.insert(o);
    }
  }

  // 4. Calibration.
  mq::model fp32 = model_around(model, proto);
  calib::collect_options co;
  co.how = cal.method == calibration_method::minmax       ? calib::method::minmax
           : cal.method == calibration_method::percentile ? calib::method::percentile
           : cal.method == calibration_method::entropy    ? calib::method::entropy
                                                          : calib::method::mse;
  co.threads = threads;
  if (cal.on_progress) {
    co.on_progress = [&](const calib::progress& pr) {
      cal.on_progress(calibration_progress{pr.pass == 1 ? "calibrating" : "histograms", pr.done, pr.total, pr.seconds});
    };
  }
  auto stats = MQ_TRY(calib::collect(fp32, data, calib_indices, observe, co));
  std::map<std::string, calib::range> ranges;
  for (const auto& [t, st] : stats) {
    if (st.seen()) ranges[t] = st.pick(co.how, 99.999, 256);
  }
  report.calibration_method = calib::method_name(co.how);
  report.calibration_samples = calib_indices.size();

  // 5. Accuracy rules on the ranges: a Concat of mixed scales stays float.
  pin.ranges = &ranges;
  for (std::size_t i = 0; i < ix.nodes.size(); ++i) {
    const auto& n = *ix.nodes[i];
    if (n.op_type() != "Concat" || cands[i].kind != role::capable) continue;
    double widest_in = 0, narrowest_in = std::numeric_limits<double>::infinity();
    for (int k : cands[i].act_inputs) {
      auto r = ranges.find(n.input(k));
      if (r == ranges.end()) continue;
      const double w = static_cast<double>(r->second.hi) - static_cast<double>(r->second.lo);
      widest_in = std::max(widest_in, w);
      narrowest_in = std::min(narrowest_in, w);
    }
    if (narrowest_in > 0 && widest_in / narrowest_in > max_concat_range_ratio) {
      pin.excluded.insert(static_cast<int>(i));
      pin.exclusion_reasons[static_cast<int>(i)] = "its inputs' ranges differ " + percent(widest_in / narrowest_in) +
                                                   "x: one 8-bit scale would crush the narrowest";
      report.notes.push_back("Concat '" + n.name() + "' stays float: " + pin.exclusion_reasons[static_cast<int>(i)]);
    }
  }

  // 6. Parameters of every calibrated tensor that can be a root.
  std::map<std::string, activation_params> params;
  const quant::qrange qr = quant::range_for(cal.activations == activation_type::uint8 ? quant::qtype::uint8 : quant::qtype::int8,
                                           quant::symmetry::asymmetric, false);
  for (const auto& [t, r] : ranges) {
    const auto qp = quant::compute_params(r.lo, r.hi, qr, quant::symmetry::asymmetric);
    params[t] = activation_params{qp.scale, qp.zero_point, r};
  }

  names name{ctx, {}};
  emit_state es{ctx, name, ix, cands, params, cal.activations};
  weight_cache cache;
  // Only plans that settle() returned are built: their every weight and bias is known to fit.
  auto build = [&](const plan& p) -> result<onnx::ModelProto> {
    onnx::ModelProto m = proto;
    const std::size_t events = cache.failure_events;
    MQ_TRY_VOID(emit(es, *m.mutable_graph(), p, cache));
    if (cache.failure_events != events) return fail(errc::internal, "static INT8: a settled plan did not emit");
    return m;
  };
  // The plan of `in`, re-made without the nodes whose weight or bias int8 cannot hold (they go
  // float; as weight-only nodes they stay plain float) until it emits. Each round adds a node to
  // in.excluded or in.weight_failures, which make_plan then leaves alone, so it ends.
  auto settle = [&](plan_inputs& in) -> result<plan> {
    for (;;) {
      plan p = make_plan(in);
      onnx::ModelProto probe = proto;
      const std::size_t events = cache.failure_events;
      MQ_TRY_VOID(emit(es, *probe.mutable_graph(), p, cache));
      if (cache.failure_events == events) return p;
      for (const auto& [node, why] : cache.failures) {
        if (p.weight_only.count(node)) {
          in.weight_failures.insert(node);  // ONNX Runtime quantizes it per tensor, if it can
          continue;
        }
        in.excluded.insert(node);
        in.exclusion_reasons[node] = why;
      }
    }
  };
  plan current = MQ_TRY(settle(pin));

  // 7. The accuracy guard on the held-out samples.
  std::vector<std::map<std::string, tensor>> guard_inputs;
  if (options.target_snr_db > 0 && !current.quantized.empty()) {
    session_options so;
    so.threads = threads;
    so.fuse = false;
    auto probe = MQ_TRY(session::create(fp32, so));
    for (std::size_t index : guard_indices) guard_inputs.push_back(MQ_TRY(data.sample(index, probe)));
  }
  report.guard_samples = guard_inputs.size();
  report.output_snr_db = std::numeric_limits<double>::quiet_NaN();
  if (!guard_inputs.empty()) {
    const auto t0 = std::chrono::steady_clock::now();
    auto progress = [&](std::size_t step) {
      if (cal.on_progress) {
        cal.on_progress(calibration_progress{"checking accuracy", step, 0,
                                             std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()});
      }
    };
    auto ref = MQ_TRY(run_reference(fp32, guard_inputs, threads));
    auto evaluate = [&](const plan& p) -> result<double> {
      auto m = model_around(model, MQ_TRY(build(p)));
      auto r = MQ_TRY(snr_against(ref, m, guard_inputs, threads));
      return r.worst_db;
    };
    double worst = MQ_TRY(evaluate(current));
    constexpr int max_steps = 24;
    for (int step = 0; step < max_steps && worst < options.target_snr_db && !current.quantized.empty(); ++step) {
      progress(static_cast<std::size_t>(step) + 1);
      // Rank quantized tensors by the noise their Q/DQ adds; their owners are the candidates.
      std::map<std::string, std::string> float_name;
      for (const auto& t : current.tensors) float_name[t] = ix.inputs.count(t) ? t : name(t + "_float");
      auto cand_model = model_around(model, MQ_TRY(build(current)));
      auto noise = MQ_TRY(local_noise(cand_model, current, float_name, guard_inputs, threads));
      std::vector<std::pair<double, std::string>> ranked;
      for (const auto& [t, db] : noise) ranked.emplace_back(db, t);
      std::sort(ranked.begin(), ranked.end());
      // The candidate actions, noisiest tensor first: put back to float the quantized node that
      // owns it (its producer, or its readers when a graph input or a float node writes it), one
      // at a time; then cut the tensor out (its producer and every quantized reader at once), as
      // a tensor stays quantized while any quantized node reads it.
      std::vector<std::vector<int>> actions;
      auto known = [&](const std::vector<int>& a) { return std::find(actions.begin(), actions.end(), a) != actions.end(); };
      std::size_t singles = 0;
      for (const auto& [db, t] : ranked) {
        std::vector<int> mine, cut;
        if (auto pr = ix.producer.find(t); pr != ix.producer.end() && current.quantized.count(pr->second)) mine.push_back(pr->second);
        if (auto pr = ix.producer.find(t); pr != ix.producer.end() && current.removable.count(pr->second)) {
          auto up = ix.producer.find(ix.nodes[static_cast<std::size_t>(pr->second)]->input(0));
          if (up != ix.producer.end() && current.quantized.count(up->second)) mine.push_back(up->second);
        }
        cut = mine;
        const bool no_owner = mine.empty();
        if (auto rd = ix.readers.find(t); rd != ix.readers.end()) {
          for (int r : rd->second) {
            if (!current.quantized.count(r)) continue;
            if (no_owner) mine.push_back(r);
            if (std::find(cut.begin(), cut.end(), r) == cut.end()) cut.push_back(r);
          }
        }
        for (int o : mine) {
          if (!known({o})) {
            actions.push_back({o});
            ++singles;
          }
        }
        std::sort(cut.begin(), cut.end());
        if (cut.size() > 1 && !known(cut)) actions.push_back(cut);
        if (singles >= 6) break;
      }
      // Try each; keep the one that helps most (by at least min_guard_gain_db: smaller gains are
      // within what the held-out samples can tell apart).
      std::size_t best = actions.size();
      double best_worst = worst;
      for (std::size_t k = 0; k < actions.size(); ++k) {
        plan_inputs trial = pin;
        trial.excluded.insert(actions[k].begin(), actions[k].end());
        plan tp = MQ_TRY(settle(trial));
        const double w = MQ_TRY(evaluate(tp));
        if (w > best_worst + min_guard_gain_db) {
          best_worst = w;
          best = k;
        }
        if (k >= 3 && best < actions.size()) break;  // four tried and one helps: good enough
      }
      if (best == actions.size()) {
        report.notes.push_back("accuracy guard: nothing put back to float raises the worst output above " + db_text(worst) +
                               " dB by " + db_text(min_guard_gain_db) + " dB or more; stopped");
        break;
      }
      const std::string why = "the accuracy guard measured it as the most sensitive (worst output " + db_text(worst) + " -> " +
                              db_text(best_worst) + " dB" + (actions[best].size() > 1 ? ", with the other nodes around the same tensor)" : ")");
      for (int id : actions[best]) {
        pin.excluded.insert(id);
        pin.exclusion_reasons[id] = why;
        const auto& bn = *ix.nodes[static_cast<std::size_t>(id)];
        report.guard.push_back(guard_step{bn.name(), bn.op_type(), worst, best_worst});
      }
      current = MQ_TRY(settle(pin));
      worst = best_worst;
    }
    report.output_snr_db = worst;
    if (worst < options.target_snr_db) {
      report.notes.push_back("accuracy guard: the worst output is at " + db_text(worst) + " dB, under the target of " +
                             db_text(options.target_snr_db) + " dB");
    }
  }

  // 8. The share of the products' multiply-adds that run in int8 (sizes from the calibration).
  {
    double total = 0, in_int8 = 0;
    const auto per_sample = static_cast<double>(std::max<std::size_t>(calib_indices.size(), 1));
    auto elements = [&](const std::string& t) {
      auto it = stats.find(t);
      return it == stats.end() ? 0.0 : static_cast<double>(it->second.count()) / per_sample;
    };
    for (std::size_t i = 0; i < ix.nodes.size(); ++i) {
      const candidate& c = cands[i];
      const auto& n = *ix.nodes[i];
      double macs = 0;
      if (c.macs_per_output > 0 && n.output_size() > 0) macs = elements(n.output(0)) * static_cast<double>(c.macs_per_output);
      if (c.macs_per_input > 0 && n.input_size() > 0) macs = elements(n.input(0)) * static_cast<double>(c.macs_per_input);
      total += macs;
      if (current.quantized.count(static_cast<int>(i)) != 0) in_int8 += macs;
    }
    report.int8_mac_share = total > 0 ? in_int8 / total : std::numeric_limits<double>::quiet_NaN();
  }

  // 9. The report, then the final graph.
  onnx::ModelProto final_model = MQ_TRY(build(current));
  std::size_t capable = 0;
  for (std::size_t i = 0; i < ix.nodes.size(); ++i) {
    const auto& n = *ix.nodes[i];
    const candidate& c = cands[i];
    const int id = static_cast<int>(i);
    const bool weighted = c.weight_axis >= 0 || c.kind == role::heavy;
    if (c.kind == role::capable && !weighted && current.quantized.count(id)) ++capable;
    if (!weighted || c.kind == role::removable || (c.kind == role::none && current.weight_only.count(id) == 0)) continue;
    node_report r;
    r.graph = "main";
    r.node = n.name().empty() ? n.op_type() + "#" + std::to_string(i) : n.name();
    r.op_type = n.op_type();
    r.quantized = current.quantized.count(id) != 0;
    if (r.quantized) {
      r.format = "static";
      if (c.weight_axis >= 0 && cache.weights.count(id)) {
        const auto& q = cache.weights.at(id);
        r.weight = n.input(1);
        r.granularity = "per-channel(axis=" + std::to_string(c.weight_axis) + ")";
        auto w = ctx.find_weight({{&g, "main"}}, n.input(1));
        if (w && w->tensor) {
          r.weight_shape.assign(w->tensor->dims().begin(), w->tensor->dims().end());
          r.bytes_before = onnx_io::expected_bytes(*w->tensor);
        }
        r.bytes_after = q.data.size() + q.scales.size() * 5;
        r.sqnr_db = q.sqnr_db;
      } else {
        r.reason = "activations x activations";
      }
      if (!c.joins_only.empty()) r.reason = "in int8 because its neighbours are (alone: " + c.joins_only + ")";
    } else if (!c.joins_only.empty()) {
      r.reason = pin.excluded.count(id) && pin.exclusion_reasons.count(id) ? pin.exclusion_reasons.at(id) : c.joins_only;
    } else {
      r.reason = current.why_float.count(id) ? current.why_float.at(id)
                 : c.kind == role::none      ? "ONNX Runtime has no fused integer kernel for it"
                                             : "stays float";
    }
    if (current.weight_only.count(id)) {
      r.reason += "; its weight is int8 per channel all the same (it reads a quantized tensor: ONNX Runtime would "
                  "quantize the weight itself, per tensor)";
    }
    report.nodes.push_back(std::move(r));
  }
  if (capable > 0) {
    report.notes.push_back(std::to_string(capable) + " Add/Mul/Concat/Sigmoid/pooling/data-movement node" +
                           (capable == 1 ? "" : "s") + " run in int8 between the quantized ones");
  }
  for (const auto& t : current.tensors) {
    const std::string root = params_root(current, t);
    auto it = params.find(root);
    if (it == params.end()) continue;
    report.activations.push_back(activation_report{t, it->second.r.lo, it->second.r.hi, it->second.scale,
                                                   it->second.zero_point, root == t ? std::string() : root});
  }
  // The float weights, biases and operands the quantized nodes replaced go.
  std::set<int> replaced = current.quantized;
  replaced.insert(current.weight_only.begin(), current.weight_only.end());
  for (int id : replaced) {
    const auto& n = *ix.nodes[static_cast<std::size_t>(id)];
    const candidate& c = cands[static_cast<std::size_t>(id)];
    if (c.weight_axis >= 0) {
      replace_weight(ctx, g, n.input(1));
      if (c.has_bias && n.input_size() > 2) replace_weight(ctx, g, n.input(2));
    }
    for (int k : c.const_inputs) replace_weight(ctx, g, n.input(k));
  }
  proto.mutable_graph()->Swap(final_model.mutable_graph());
  remove_dead_weights(ctx);
  return {};
}

}  // namespace mq::passes

