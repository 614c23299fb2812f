// mq-make-parity-model (test-only): builds an ONNX model that lets ONNX Runtime check, byte for
// byte, every weight mq-quantize wrote.
//
//   mq-make-parity-model ORIGINAL.onnx QUANTIZED.onnx OUT.onnx MANIFEST.json [--flip K:I]
//
// For every quantized weight k of QUANTIZED (an INT8/UINT8 initializer `<weight>_quantized[_N]`
// written by store_quantized, followed in its graph by `<weight>_scale[_N]` and, unless the
// rewrite dropped it, `<weight>_zero_point[_N]`), OUT has no inputs and the outputs
//
//   ort_k   = QuantizeLinear(W_k, scale_k, zero_point_k[, axis])   computed by ONNX Runtime
//   mq_k    = Identity(our quantized tensor)
//   float_k, scale_k, zp_k = Identity(...)  (the exact operands, fetched only to explain a mismatch)
//
// where W_k is the ORIGINAL weight, copied with its own dtype from ORIGINAL (initializer or
// Constant node, main graph or subgraph), then
//  - Cast to float32 by ONNX Runtime when it is float16/bfloat16/float64 (the library converts
//    exactly the same way: float16/bfloat16 exactly, float64 rounded to nearest);
//  - Transposed by ONNX Runtime when the stored layout is the transpose (Gemm transB=1 written
//    as MatMulInteger [K, N]), so the comparison is in the stored layout.
// scale_k and zero_point_k are OUR bytes, reshaped to what QuantizeLinear takes: scalars per
// tensor, 1-D [C] per axis (a scalar zero point shared by all channels is repeated; a zero point
// the rewrite dropped, the Cast * scale form, is 0 because that is what the model computes with).
// The axis is what the quantized model's consumer means: DequantizeLinear's axis attribute, or
// for MatMulInteger/ConvInteger/Cast * scale the broadcast axis of the scale's shape.
//
// MANIFEST.json lists the weights (k, names, graph, dtypes, dims, axis, transposed). When QUANTIZED
// has no quantized weight, MANIFEST.json lists none and OUT is not written (the Node script then
// fails, quoting the report).
// --flip K:I XORs bit 0 of byte I of weight K's copy of OUR tensor: a negative control that the
// Node script must report as exactly one mismatch.
//
//   mq-make-parity-model --synthetic OUT.onnx
// writes the synthetic model of parity_synthetic_model.h (weight kinds the shared models lack).
// Exit: 0 written, 1 a quantized weight could not be matched with its original (never skipped
// silently), 2 usage.
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "e2e/parity_synthetic_model.h"
#include "mq/model.h"
#include "onnx_io/model_impl.h"
#include "util/json.h"

namespace {

using onnx::GraphProto;
using onnx::NodeProto;
using onnx::TensorProto;

struct failure {
  std::string message;
};

[[noreturn]] void fail(const std::string& message) { throw failure{message}; }

// Graphs by path: "main", "main/<first output of the node>:<attribute>[<i>]".
using graph_map = std::map<std::string, const GraphProto*>;

void collect_graphs(const GraphProto& g, const std::string& path, graph_map& out) {
  out[path] = &g;
  for (const auto& n : g.node()) {
    const std::string id = n.output_size() > 0 ? n.output(0) : n.name();
    for (const auto& a : n.attribute()) {
      if (a.has_g()) collect_graphs(a.g(), path + "/" + id + ":" + a.name(), out);
      for (int i = 0; i < a.graphs_size(); ++i) {
        collect_graphs(a.graphs(i), path + "/" + id + ":" + a.name() + "[" + std::to_string(i) + "]", out);
      }
    }
  }
}

const TensorProto* constant_value(const NodeProto& n) {
  if (n.op_type() != "Constant" || !n.domain().empty()) return nullptr;
  for (const auto& a : n.attribute()) {
    if (a.name() == "value" && a.has_t()) return &a.t();
  }
  return nullptr;
}

// An initializer or Constant output of `g` (this graph only: store_quantized writes the quantized
// tensors into the graph that owns the weight).
const TensorProto* find_tensor(const GraphProto& g, const std::string& name) {
  for (const auto& t : g.initializer()) {
    if (t.name() == name) return &t;
  }
  for (const auto& n : g.node()) {
    if (const auto* t = constant_value(n); t != nullptr && n.output_size() == 1 && n.output(0) == name) return t;
  }
  return nullptr;
}

bool is_float_type(int t) {
  return t == TensorProto::FLOAT || t == TensorProto::FLOAT16 || t == TensorProto::BFLOAT16 || t == TensorProto::DOUBLE;
}

std::int64_t count_of(const std::vector<std::int64_t>& dims) {
  std::int64_t n = 1;
  for (auto d : dims) n *= d;
  return n;
}

std::vector<std::int64_t> dims_of(const TensorProto& t) { return {t.dims().begin(), t.dims().end()}; }

std::string dims_text(const std::vector<std::int64_t>& dims) {
  std::string s = "[";
  for (std::size_t i = 0; i < dims.size(); ++i) s += (i ? "," : "") + std::to_string(dims[i]);
  return s + "]";
}

std::string type_name(int t) { return mq::to_string(static_cast<mq::dtype>(t)); }

// The tensor's elements as little-endian bytes of its own dtype (inline, typed or external data).
std::string tensor_bytes(const TensorProto& t, const mq::model::impl& m) {
  auto view = mq::onnx_io::view_of(t, m);
  if (!view) fail(view.error().message);
  const std::size_t size = mq::element_size(view->type());
  const auto count = static_cast<std::size_t>(view->element_count());
  if (size == 0) fail("tensor '" + t.name() + "' has dtype " + type_name(t.data_type()) + ", not fixed-size");
  std::string out;
  if (view->kind() == mq::tensor_view::storage::widened_int32) {
    // int32_data holds one narrow element per int32 (float16/bfloat16 bits, int8, uint8).
    if (static_cast<std::size_t>(t.int32_data_size()) != count) fail("tensor '" + t.name() + "': int32_data size mismatch");
    for (auto v : t.int32_data()) {
      const auto u = static_cast<std::uint32_t>(v);
      for (std::size_t b = 0; b < size; ++b) out.push_back(static_cast<char>((u >> (8 * b)) & 0xffu));
    }
  } else {
    const auto bytes = view->bytes();
    out.assign(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  }
  if (out.size() != count * size) {
    fail("tensor '" + t.name() + "' has " + std::to_string(out.size()) + " bytes, expected " + std::to_string(count * size));
  }
  return out;
}

// Every node of every graph of a model, with the graph path it sits in.
struct node_ref {
  const NodeProto* node;
  std::string graph;
};

std::vector<node_ref> all_nodes(const graph_map& graphs) {
  std::vector<node_ref> out;
  for (const auto& [path, g] : graphs) {
    for (const auto& n : g->node()) out.push_back({&n, path});
  }
  return out;
}

std::int64_t int_attr(const NodeProto& n, const std::string& name, std::int64_t fallback) {
  for (const auto& a : n.attribute()) {
    if (a.name() == name) return a.i();
  }
  return fallback;
}

std::string json_dims(const std::vector<std::int64_t>& dims) {
  std::string s = "[";
  for (std::size_t i = 0; i < dims.size(); ++i) s += (i ? "," : "") + std::to_string(dims[i]);
  return s + "]";
}

// One quantized weight found in the quantized model.
struct entry {
  std::string weight;     // original tensor name
  std::string graph;      // graph path (owner of both the original and the quantized tensors)
  std::string data, scale, zero_point;  // names in the quantized model (zero_point empty: dropped)
  int qtype = 0;
  int original_type = 0;
  std::vector<std::int64_t> original_dims, stored_dims, scale_dims;
  bool transposed = false;
  int axis = -1;          // -1: per tensor
  std::int64_t channels = 1;
  std::string zero_point_kind;  // "per-channel", "scalar", "dropped"
  std::set<std::string> consumers;
  std::string original_bytes, data_bytes, scale_bytes, zp_bytes;  // zp_bytes: one per channel
};

struct options {
  std::string original, quantized, out, manifest;
  std::optional<std::pair<std::size_t, std::size_t>> flip;
};

bool parse_size(const std::string& s, std::size_t& v) {
  const auto* end = s.data() + s.size();
  auto [p, ec] = std::from_chars(s.data(), end, v);
  return ec == std::errc{} && p == end && !s.empty();
}

class parity_builder {
 public:
  parity_builder(const mq::model::impl& original, const mq::model::impl& quantized)
      : original_(original), quantized_(quantized) {
    collect_graphs(original.proto.graph(), "main", original_graphs_);
    collect_graphs(quantized.proto.graph(), "main", quantized_graphs_);
    quantized_nodes_ = all_nodes(quantized_graphs_);
    for (const auto& r : all_nodes(original_graphs_)) {
      for (const auto& o : r.node->output()) original_producers_[o] = r.node;
    }
    for (const auto& r : quantized_nodes_) {
      for (const auto& i : r.node->input()) quantized_consumers_[i].push_back(r.node);
    }
  }

  std::vector<entry> find_entries() const {
    static const std::regex quantized_name("^(.*)_quantized(_[0-9]+)?$");
    std::vector<entry> out;
    for (const auto& [path, g] : quantized_graphs_) {
      const auto original_graph = original_graphs_.find(path);
      for (int i = 0; i < g->initializer_size(); ++i) {
        const TensorProto& t = g->initializer(i);
        if (t.data_type() != TensorProto::INT8 && t.data_type() != TensorProto::UINT8) continue;
        std::smatch m;
        if (!std::regex_match(t.name(), m, quantized_name)) continue;
        // Integer tensors the original model already had are not ours.
        if (original_graph != original_graphs_.end() && find_tensor(*original_graph->second, t.name()) != nullptr) continue;
        if (original_graph == original_graphs_.end()) {
          fail("quantized tensor '" + t.name() + "' is in graph '" + path + "', which the original model does not have");
        }
        out.push_back(make_entry(*original_graph->second, *g, i, m[1].str(), m[2].str(), path));
      }
    }
    return out;
  }

 private:
  entry make_entry(const GraphProto& og, const GraphProto& qg, int index, const std::string& base,
                   const std::string& suffix, const std::string& path) const {
    const TensorProto& data = qg.initializer(index);
    entry e;
    e.weight = base;
    e.graph = path;
    e.data = data.name();
    e.qtype = data.data_type();
    e.stored_dims = dims_of(data);
    const std::string what = "quantized tensor '" + data.name() + "' (graph " + path + ")";

    const TensorProto* original = find_tensor(og, base);
    if (original == nullptr) fail(what + ": the original model has no weight '" + base + "' in that graph");
    if (!is_float_type(original->data_type())) {
      fail(what + ": original '" + base + "' has dtype " + type_name(original->data_type()) + ", not a float type");
    }
    e.original_type = original->data_type();
    e.original_dims = dims_of(*original);

    // store_quantized adds data, scale and zero point one after another; unique_name may append
    // "_N" to each independently, so only the prefix is checked.
    if (index + 1 >= qg.initializer_size()) fail(what + ": no scale initializer after it");
    const TensorProto& scale = qg.initializer(index + 1);
    if (scale.data_type() != TensorProto::FLOAT || scale.name().rfind(base + "_scale", 0) != 0) {
      fail(what + ": the next initializer '" + scale.name() + "' is not its float scale '" + base + "_scale" + suffix + "'");
    }
    e.scale = scale.name();
    e.scale_dims = dims_of(scale);
    const TensorProto* zp = nullptr;
    if (index + 2 < qg.initializer_size()) {
      const TensorProto& next = qg.initializer(index + 2);
      if (next.data_type() == data.data_type() && next.name().rfind(base + "_zero_point", 0) == 0) zp = &next;
    }
    if (zp != nullptr) e.zero_point = zp->name();

    // Consumers, in any graph (a subgraph may read an outer weight).
    const auto found = quantized_consumers_.find(data.name());
    if (found == quantized_consumers_.end()) fail(what + ": nothing in the quantized model reads it");
    const NodeProto* dequantize = nullptr;
    bool integer_op = false, cast_form = false, gather_form = false;
    for (const NodeProto* n : found->second) {
      e.consumers.insert(n->op_type());
      const bool reads_as_data = n->input_size() > 0 && n->input(0) == data.name();
      if (n->op_type() == "DequantizeLinear" && reads_as_data) {
        dequantize = n;
        const std::string used = n->input_size() > 2 ? n->input(2) : "";
        if (used != e.zero_point) fail(what + ": DequantizeLinear uses zero point '" + used + "', expected '" + e.zero_point + "'");
        if (n->input(1) != e.scale) fail(what + ": DequantizeLinear uses scale '" + n->input(1) + "', expected '" + e.scale + "'");
      } else if ((n->op_type() == "MatMulInteger" || n->op_type() == "ConvInteger") && n->input_size() > 1 &&
                 n->input(1) == data.name()) {
        integer_op = true;
        const std::string used = n->input_size() > 3 ? n->input(3) : "";
        if (used != e.zero_point) fail(what + ": " + n->op_type() + " uses zero point '" + used + "', expected '" + e.zero_point + "'");
      } else if (n->op_type() == "Cast" && reads_as_data) {
        cast_form = true;
      } else if (n->op_type() == "Gather" && reads_as_data) {
        gather_form = true;
        check_gather_form(*n, e.scale, e.zero_point, what);
      } else {
        fail(what + ": read by an unexpected " + n->op_type() + " node '" + n->name() + "'");
      }
    }
    if (gather_form && (dequantize != nullptr || integer_op || cast_form)) {
      fail(what + ": read by a Gather and by another form");
    }
    if (zp == nullptr && !(cast_form && dequantize == nullptr && !integer_op)) {
      fail(what + ": has no zero point initializer, but is not only read by the Cast * scale form");
    }
    if (cast_form) check_cast_form(data.name(), e.scale, e.zero_point, what);

    // Layout: stored transposed only for Gemm transB=1 in the MatMulInteger form.
    if (found->second.size() > 0 && integer_op && e.consumers.count("MatMulInteger") != 0) {
      const NodeProto* gemm = original_node_of(data.name());
      if (gemm == nullptr) fail(what + ": could not trace its MatMulInteger back to an original node");
      e.transposed = gemm->op_type() == "Gemm" && int_attr(*gemm, "transB", 0) != 0;
    }
    const std::vector<std::int64_t> expected =
        e.transposed ? std::vector<std::int64_t>{e.original_dims.at(1), e.original_dims.at(0)} : e.original_dims;
    if (e.stored_dims != expected) {
      fail(what + ": stored dims " + dims_text(e.stored_dims) + " do not match the original " + dims_text(e.original_dims) +
           (e.transposed ? " transposed" : ""));
    }

    // Axis: what each consumer means by the scale's shape (they must agree).
    const std::int64_t scale_count = count_of(e.scale_dims);
    const auto rank = static_cast<int>(e.stored_dims.size());
    if (scale_count != 1) {
      const auto unit_tail = [&](std::size_t from) {
        for (std::size_t d = from; d < e.scale_dims.size(); ++d) {
          if (e.scale_dims[d] != 1) return false;
        }
        return true;
      };
      std::set<int> axes;
      for (const NodeProto* n : found->second) {
        int axis = -1;
        if (n->op_type() == "DequantizeLinear") {
          // A per-axis DequantizeLinear takes a 1-D scale along its axis attribute (default 1).
          auto a = int_attr(*n, "axis", 1);
          axis = static_cast<int>(a < 0 ? a + rank : a);
          if (e.scale_dims.size() != 1) fail(what + ": DequantizeLinear per axis with a scale of shape " + dims_text(e.scale_dims));
        } else if (n->op_type() == "MatMulInteger") {
          // The scale multiplies the [..., N] output: a 1-D [N] scale is per column of the [K, N] weight.
          axis = rank - 1;
          if (e.scale_dims.size() != 1) fail(what + ": MatMulInteger weight with a scale of shape " + dims_text(e.scale_dims));
        } else if (n->op_type() == "ConvInteger") {
          // The scale multiplies the [N, M, spatial...] output: [M, 1, ...] (rank - 1 dims) is per
          // output channel, axis 0 of the [M, C/group, k...] weight.
          axis = 0;
          if (static_cast<int>(e.scale_dims.size()) != rank - 1 || !unit_tail(1)) {
            fail(what + ": ConvInteger weight with a scale of shape " + dims_text(e.scale_dims));
          }
        } else {
          // Cast(q) [- zp] * scale: numpy broadcasting of a [C, 1, ..., 1] scale against the weight.
          axis = rank - static_cast<int>(e.scale_dims.size());
          if (!unit_tail(1)) fail(what + ": scale shape " + dims_text(e.scale_dims) + " is not [C, 1, ...]");
        }
        axes.insert(axis);
      }
      if (axes.size() != 1) fail(what + ": its readers disagree on the channel axis");
      e.axis = *axes.begin();
      if (e.axis < 0 || e.axis >= rank || e.stored_dims[static_cast<std::size_t>(e.axis)] != scale_count) {
        fail(what + ": scale shape " + dims_text(e.scale_dims) + " does not fit axis " + std::to_string(e.axis) +
             " of " + dims_text(e.stored_dims));
      }
      e.channels = scale_count;
    }

    e.original_bytes = tensor_bytes(*original, original_);
    e.data_bytes = tensor_bytes(data, quantized_);
    e.scale_bytes = tensor_bytes(scale, quantized_);
    if (zp == nullptr) {
      e.zero_point_kind = "dropped";
      e.zp_bytes.assign(static_cast<std::size_t>(e.channels), '\0');
    } else {
      const std::string z = tensor_bytes(*zp, quantized_);
      if (z.size() == static_cast<std::size_t>(e.channels)) {
        e.zero_point_kind = e.channels == 1 ? "scalar" : "per-channel";
        e.zp_bytes = z;
      } else if (z.size() == 1) {
        e.zero_point_kind = "scalar";
        e.zp_bytes.assign(static_cast<std::size_t>(e.channels), z[0]);
      } else {
        fail(what + ": zero point has " + std::to_string(z.size()) + " elements for " + std::to_string(e.channels) + " scales");
      }
    }
    return e;
  }

  // The Gather form (ONNX Runtime's quantize_dynamic for a Gather's table): Gather(q, indices)
  // -> DequantizeLinear(rows, scale, zero point) per tensor, or below opset 10 Cast(rows) -
  // Cast(zero point), * scale. Either way the rows are the stored bytes, per tensor.
  void check_gather_form(const NodeProto& gather, const std::string& scale, const std::string& zero_point,
                         const std::string& what) const {
    auto it = quantized_consumers_.find(gather.output(0));
    if (it == quantized_consumers_.end()) fail(what + ": the Gather of it is read by nothing");
    for (const NodeProto* n : it->second) {
      if (n->op_type() == "DequantizeLinear") {
        if (n->input_size() < 3 || n->input(1) != scale || n->input(2) != zero_point) {
          fail(what + ": the Gather's DequantizeLinear does not use scale '" + scale + "' and zero point '" + zero_point + "'");
        }
      } else if (n->op_type() != "Cast") {
        fail(what + ": the Gather of it is read by an unexpected " + n->op_type() + " node '" + n->name() + "'");
      }
    }
  }

  // The Cast * scale form reads the zero point we think it reads: Cast(q) -> Sub(., Cast(zp)) ->
  // Mul(., scale), or Cast(q) -> Mul(., scale) when the zero point was dropped (then the model
  // computes with 0, which is what the parity model uses).
  void check_cast_form(const std::string& data, const std::string& scale, const std::string& zero_point,
                       const std::string& what) const {
    const auto consumers_of = [&](const std::string& v) {
      auto it = quantized_consumers_.find(v);
      return it == quantized_consumers_.end() ? std::vector<const NodeProto*>{} : it->second;
    };
    std::string zp_float;
    if (!zero_point.empty()) {
      for (const NodeProto* n : consumers_of(zero_point)) {
        if (n->op_type() == "Cast") zp_float = n->output(0);
      }
      if (zp_float.empty()) fail(what + ": zero point '" + zero_point + "' is not cast to float by the Cast * scale form");
    }
    for (const NodeProto* cast : consumers_of(data)) {
      if (cast->op_type() != "Cast") continue;
      for (const NodeProto* n : consumers_of(cast->output(0))) {
        std::string value = cast->output(0);
        const NodeProto* mul = n;
        if (!zp_float.empty()) {
          if (n->op_type() != "Sub" || n->input_size() != 2 || n->input(1) != zp_float) {
            fail(what + ": Cast * scale form without Sub of its zero point '" + zero_point + "'");
          }
          value = n->output(0);
          const auto next = consumers_of(value);
          if (next.size() != 1) fail(what + ": Cast * scale form: the Sub output has " + std::to_string(next.size()) + " readers");
          mul = next[0];
        }
        if (mul->op_type() != "Mul" || mul->input_size() != 2 || mul->input(0) != value || mul->input(1) != scale) {
          fail(what + ": Cast * scale form: expected Mul(" + value + ", " + scale + "), found " + mul->op_type() + " '" +
               mul->name() + "'");
        }
      }
    }
  }

  // The original node whose output the quantized chain starting at `value` ends in
  // (MatMulInteger -> Cast -> Mul [-> Add] keeps the original node's output name).
  const NodeProto* original_node_of(const std::string& value) const {
    std::vector<std::string> frontier{value};
    for (int depth = 0; depth < 6 && !frontier.empty(); ++depth) {
      std::vector<std::string> next;
      for (const auto& v : frontier) {
        if (depth > 0) {
          if (auto p = original_producers_.find(v); p != original_producers_.end()) return p->second;
        }
        if (auto c = quantized_consumers_.find(v); c != quantized_consumers_.end()) {
          for (const NodeProto* n : c->second) next.insert(next.end(), n->output().begin(), n->output().end());
        }
      }
      frontier = std::move(next);
    }
    return nullptr;
  }

  const mq::model::impl& original_;
  const mq::model::impl& quantized_;
  graph_map original_graphs_, quantized_graphs_;
  std::vector<node_ref> quantized_nodes_;
  std::map<std::string, const NodeProto*> original_producers_;
  std::map<std::string, std::vector<const NodeProto*>> quantized_consumers_;
};

TensorProto* add_tensor(GraphProto& g, const std::string& name, int type, const std::vector<std::int64_t>& dims,
                        const std::string& bytes) {
  auto* t = g.add_initializer();
  t->set_name(name);
  t->set_data_type(type);
  for (auto d : dims) t->add_dims(d);
  t->set_raw_data(bytes);
  return t;
}

NodeProto& add_node(GraphProto& g, const std::string& op, std::vector<std::string> inputs, const std::string& output) {
  auto* n = g.add_node();
  n->set_op_type(op);
  n->set_name(op + "_" + output);
  for (auto& i : inputs) n->add_input(i);
  n->add_output(output);
  return *n;
}

void add_int_attr(NodeProto& n, const std::string& name, std::int64_t v) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}

void add_output(GraphProto& g, const std::string& name, int type, const std::vector<std::int64_t>& dims) {
  auto* o = g.add_output();
  o->set_name(name);
  auto* tt = o->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(type);
  auto* shape = tt->mutable_shape();
  for (auto d : dims) shape->add_dim()->set_dim_value(d);
}

onnx::ModelProto build_model(std::vector<entry>& entries, const options& opt) {
  onnx::ModelProto model;
  model.set_ir_version(8);
  model.set_producer_name("mq-make-parity-model");
  auto* imp = model.add_opset_import();
  imp->set_domain("");
  imp->set_version(13);  // per-axis QuantizeLinear, Cast from bfloat16
  GraphProto& g = *model.mutable_graph();
  g.set_name("weight_parity");
  for (std::size_t k = 0; k < entries.size(); ++k) {
    entry& e = entries[k];
    const std::string id = std::to_string(k);
    add_tensor(g, "w" + id, e.original_type, e.original_dims, e.original_bytes);
    std::string x = "w" + id;
    if (e.original_type != TensorProto::FLOAT) {
      add_int_attr(add_node(g, "Cast", {x}, "wf" + id), "to", TensorProto::FLOAT);
      x = "wf" + id;
    }
    if (e.transposed) {
      auto& tr = add_node(g, "Transpose", {x}, "wt" + id);
      auto* perm = tr.add_attribute();
      perm->set_name("perm");
      perm->set_type(onnx::AttributeProto::INTS);
      perm->add_ints(1);
      perm->add_ints(0);
      x = "wt" + id;
    }
    const std::vector<std::int64_t> param_dims = e.axis < 0 ? std::vector<std::int64_t>{} : std::vector<std::int64_t>{e.channels};
    add_tensor(g, "s" + id, TensorProto::FLOAT, param_dims, e.scale_bytes);
    add_tensor(g, "z" + id, e.qtype, param_dims, e.zp_bytes);
    std::string ours = e.data_bytes;
    if (opt.flip && opt.flip->first == k) {
      if (opt.flip->second >= ours.size()) fail("--flip: weight " + id + " has only " + std::to_string(ours.size()) + " bytes");
      ours[opt.flip->second] = static_cast<char>(ours[opt.flip->second] ^ 0x01);
    }
    add_tensor(g, "q" + id, e.qtype, e.stored_dims, ours);
    auto& ql = add_node(g, "QuantizeLinear", {x, "s" + id, "z" + id}, "ort_" + id);
    if (e.axis >= 0) add_int_attr(ql, "axis", e.axis);
    add_node(g, "Identity", {"q" + id}, "mq_" + id);
    add_node(g, "Identity", {x}, "float_" + id);
    add_node(g, "Identity", {"s" + id}, "scale_" + id);
    add_node(g, "Identity", {"z" + id}, "zp_" + id);
    add_output(g, "ort_" + id, e.qtype, e.stored_dims);
    add_output(g, "mq_" + id, e.qtype, e.stored_dims);
    add_output(g, "float_" + id, TensorProto::FLOAT, e.stored_dims);
    add_output(g, "scale_" + id, TensorProto::FLOAT, param_dims);
    add_output(g, "zp_" + id, e.qtype, param_dims);
  }
  if (opt.flip && opt.flip->first >= entries.size()) fail("--flip: there are only " + std::to_string(entries.size()) + " weights");
  return model;
}

std::string manifest_json(const std::vector<entry>& entries, const options& opt) {
  std::string s = "{\"original\":" + mq::util::json_quote(opt.original) + ",\"quantized\":" + mq::util::json_quote(opt.quantized) +
                  ",\"flip\":" + (opt.flip ? "[" + std::to_string(opt.flip->first) + "," + std::to_string(opt.flip->second) + "]" : "null") +
                  ",\"weights\":[";
  for (std::size_t k = 0; k < entries.size(); ++k) {
    const entry& e = entries[k];
    std::string consumers;
    for (const auto& c : e.consumers) consumers += (consumers.empty() ? "" : ",") + mq::util::json_quote(c);
    s += (k ? ",\n" : "\n") + std::string("{\"k\":") + std::to_string(k) + ",\"weight\":" + mq::util::json_quote(e.weight) +
         ",\"graph\":" + mq::util::json_quote(e.graph) + ",\"data\":" + mq::util::json_quote(e.data) + ",\"scale\":" + mq::util::json_quote(e.scale) +
         ",\"zero_point\":" + mq::util::json_quote(e.zero_point) + ",\"zero_point_kind\":" + mq::util::json_quote(e.zero_point_kind) +
         ",\"qtype\":" + mq::util::json_quote(type_name(e.qtype)) + ",\"original_type\":" + mq::util::json_quote(type_name(e.original_type)) +
         ",\"original_dims\":" + json_dims(e.original_dims) + ",\"stored_dims\":" + json_dims(e.stored_dims) +
         ",\"scale_dims\":" + json_dims(e.scale_dims) + ",\"transposed\":" + (e.transposed ? "true" : "false") +
         ",\"axis\":" + std::to_string(e.axis) + ",\"channels\":" + std::to_string(e.channels) +
         ",\"consumers\":[" + consumers + "]}";
  }
  return s + "\n]}\n";
}

mq::model load(const std::string& path) {
  auto m = mq::model::load(path);
  if (!m) fail(m.error().message);
  return std::move(*m);
}

int usage(const std::string& why) {
  std::cerr << "mq-make-parity-model: " << why
            << "\nusage: mq-make-parity-model ORIGINAL.onnx QUANTIZED.onnx OUT.onnx MANIFEST.json [--flip K:I]\n"
               "       mq-make-parity-model --synthetic OUT.onnx\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "--synthetic") {
    std::ofstream out(argv[2], std::ios::binary | std::ios::trunc);
    if (!out || !mq::test::synthetic_parity_model().SerializeToOstream(&out)) {
      std::cerr << "mq-make-parity-model: cannot write '" << argv[2] << "'\n";
      return 1;
    }
    return 0;
  }
  options opt;
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--flip") {
      if (i + 1 >= argc) return usage("--flip needs K:I");
      const std::string v = argv[++i];
      const auto colon = v.find(':');
      std::size_t k = 0, b = 0;
      if (colon == std::string::npos || !parse_size(v.substr(0, colon), k) || !parse_size(v.substr(colon + 1), b)) {
        return usage("--flip needs K:I (weight index, byte index), got '" + v + "'");
      }
      opt.flip = std::make_pair(k, b);
    } else if (arg.rfind("--", 0) == 0) {
      return usage("unknown option '" + arg + "'");
    } else {
      positional.push_back(arg);
    }
  }
  if (positional.size() != 4) return usage("expected 4 paths");
  opt.original = positional[0];
  opt.quantized = positional[1];
  opt.out = positional[2];
  opt.manifest = positional[3];
  try {
    const mq::model original = load(opt.original);
    const mq::model quantized = load(opt.quantized);
    parity_builder builder(original.internals(), quantized.internals());
    auto entries = builder.find_entries();
    if (!entries.empty()) {
      const onnx::ModelProto model = build_model(entries, opt);
      std::ofstream out(opt.out, std::ios::binary | std::ios::trunc);
      if (!out || !model.SerializeToOstream(&out)) fail("cannot write '" + opt.out + "'");
    } else {
      std::cerr << "mq-make-parity-model: '" << opt.quantized << "' has no quantized weights\n";
    }
    std::ofstream manifest(opt.manifest, std::ios::trunc);
    manifest << manifest_json(entries, opt);
    if (!manifest) fail("cannot write '" + opt.manifest + "'");
    std::size_t bytes = 0;
    for (const auto& e : entries) bytes += e.data_bytes.size();
    if (!entries.empty()) std::cout << "parity model: " << entries.size() << " quantized weights, " << bytes << " bytes -> " << opt.out << "\n";
  } catch (const failure& f) {
    std::cerr << "mq-make-parity-model: " << f.message << "\n";
    return 1;
  }
  return 0;
}
