#include "exec/plan.h"

#include <onnx/defs/schema.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <queue>
#include <unordered_set>

#include "onnx_io/model_impl.h"
#include "tensor/half.h"
#include "util/try.h"

namespace mq::exec {
namespace {

std::string display_name(const onnx::NodeProto& node, int index) {
  return node.name().empty() ? node.op_type() + "#" + std::to_string(index) : node.name();
}

template <class Fn>
void for_each_subgraph(const onnx::NodeProto& node, Fn&& fn) {
  for (const auto& a : node.attribute()) {
    if (a.has_g()) fn(a.g());
    for (const auto& g : a.graphs()) fn(g);
  }
}

// Every name a node needs before it can run: its inputs and what its subgraphs read from outside.
std::vector<std::string> dependencies(const onnx::NodeProto& node) {
  std::vector<std::string> deps;
  for (const auto& i : node.input()) {
    if (!i.empty()) deps.push_back(i);
  }
  for_each_subgraph(node, [&](const onnx::GraphProto& g) {
    for (const auto& v : free_variables(g)) deps.push_back(v);
  });
  return deps;
}

// ONNX operators whose spec changed in opset 18 (ONNX 1.13), which the installed ONNX (1.12)
// does not know yet: for these, a model of opset 18 gets version 18.
bool changed_in_opset_18(const std::string& op) {
  static const std::unordered_set<std::string> ops = {
      "BitwiseAnd", "BitwiseNot", "BitwiseOr", "BitwiseXor", "CenterCropPad", "Col2Im", "GroupNormalization",
      "LpPool", "Mish", "OptionalGetElement", "OptionalHasElement", "Pad", "ReduceL1", "ReduceL2", "ReduceLogSum",
      "ReduceLogSumExp", "ReduceMax", "ReduceMean", "ReduceMin", "ReduceProd", "ReduceSumSquare", "Resize",
      "ScatterElements", "ScatterND", "Split"};
  return ops.count(op) != 0;
}

constexpr std::int64_t newest_onnx_opset = 18;

template <class From, class To>
void widen_copy(const From* from, To* to, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) to[i] = static_cast<To>(from[i]);
}

// A node's inputs and outputs against its schema: counts within [min, max] (only the minimum with
// `newer`: the schema is an older version's, whose required inputs the newer one keeps), and no
// required (non-optional, non-variadic) input given as the empty name.
result<void> check_arity(const onnx::NodeProto& n, const std::string& name, const onnx::OpSchema& schema, bool newer) {
  const int max_in = newer ? std::numeric_limits<int>::max() : schema.max_input();
  const int max_out = newer ? std::numeric_limits<int>::max() : schema.max_output();
  const auto count_error = [&](const char* what, int got, int lo, int hi) {
    const std::string range = hi == std::numeric_limits<int>::max() ? "at least " + std::to_string(lo)
                              : lo == hi                            ? std::to_string(lo)
                                                                    : std::to_string(lo) + " to " + std::to_string(hi);
    return fail(errc::invalid_model, "node '" + name + "' (" + n.op_type() + ") has " + std::to_string(got) + " " + what +
                                         ", its operator takes " + range);
  };
  if (n.input_size() < schema.min_input() || n.input_size() > max_in) {
    return count_error("inputs", n.input_size(), schema.min_input(), max_in);
  }
  if (n.output_size() < schema.min_output() || n.output_size() > max_out) {
    return count_error("outputs", n.output_size(), schema.min_output(), max_out);
  }
  const auto& formal = schema.inputs();
  for (int i = 0; i < n.input_size() && i < static_cast<int>(formal.size()); ++i) {
    if (n.input(i).empty() && formal[static_cast<std::size_t>(i)].GetOption() == onnx::OpSchema::Single) {
      return fail(errc::invalid_model, "node '" + name + "' (" + n.op_type() + "): its required input " + std::to_string(i) +
                                           " ('" + formal[static_cast<std::size_t>(i)].GetName() + "') is empty");
    }
  }
  return {};
}

}  // namespace

std::set<std::string> free_variables(const onnx::GraphProto& graph) {
  std::set<std::string> defined;
  std::set<std::string> used;
  for (const auto& i : graph.input()) defined.insert(i.name());
  for (const auto& t : graph.initializer()) defined.insert(t.name());
  for (const auto& s : graph.sparse_initializer()) defined.insert(s.values().name());
  for (const auto& n : graph.node()) {
    for (const auto& o : n.output()) {
      if (!o.empty()) defined.insert(o);
    }
  }
  for (const auto& n : graph.node()) {
    for (const auto& d : dependencies(n)) used.insert(d);
  }
  for (const auto& o : graph.output()) used.insert(o.name());
  std::set<std::string> free;
  std::set_difference(used.begin(), used.end(), defined.begin(), defined.end(), std::inserter(free, free.end()));
  return free;
}

// ---- constants --------------------------------------------------------------------------------

result<tensor> from_proto(const onnx::TensorProto& t, const mq::model::impl* model) {
  const auto type = static_cast<mq::dtype>(t.data_type());
  const std::string what = "tensor '" + t.name() + "'";
  if (type == mq::dtype::string) return fail(errc::unsupported, what + ": string tensors are not supported by the executor");
  const std::size_t size = exec_element_size(type);
  if (size == 0 || type == mq::dtype::complex64 || type == mq::dtype::complex128) {
    return fail(errc::unsupported, what + ": element type " + to_string(type) + " is not supported by the executor");
  }
  const auto count = onnx_io::checked_element_count(t);
  if (!count) return fail(errc::invalid_model, onnx_io::impossible_shape(t));
  shape_t shape(t.dims().begin(), t.dims().end());
  const auto n = static_cast<std::size_t>(*count);

  tensor_view v;
  if (model != nullptr) {
    v = MQ_TRY(onnx_io::view_of(t, *model));
  } else {
    if (t.data_location() == onnx::TensorProto::EXTERNAL) {
      return fail(errc::invalid_model, what + ": external data outside a model");
    }
    mq::model::impl none;
    v = MQ_TRY(onnx_io::view_of(t, none));
  }
  using kind = tensor_view::storage;
  if (v.kind() == kind::bytes || v.kind() == kind::typed) {
    const auto bytes = v.bytes();
    // uint32 is stored widened in uint64_data: that typed field is not the element layout.
    const bool widened_u32 = v.kind() == kind::typed && type == mq::dtype::uint32;
    if (!widened_u32) {
      if (bytes.size() != n * size) {
        return fail(errc::invalid_model, what + " holds " + std::to_string(bytes.size()) + " bytes, its shape " +
                                             shape_string(shape) + " needs " + std::to_string(n * size));
      }
      if (reinterpret_cast<std::uintptr_t>(bytes.data()) % size == 0) return tensor::view(type, std::move(shape), bytes.data());
      tensor copy = tensor::empty(type, std::move(shape));
      if (!copy.valid()) return fail(errc::internal, what + ": out of memory");
      if (n != 0) std::memcpy(copy.mutable_raw(), bytes.data(), n * size);
      // The copy is what the plan reads: the mapped pages of the model file (weights read in
      // place) can go, or the process would hold the weight twice.
      if (model != nullptr) {
        if (const auto* mapping = onnx_io::mapping_of(*model, bytes)) mapping->release(bytes);
      }
      return copy;
    }
    if (static_cast<std::size_t>(t.uint64_data_size()) != n) {
      return fail(errc::invalid_model, what + " holds " + std::to_string(t.uint64_data_size()) +
                                           " values, its shape " + shape_string(shape) + " needs " + std::to_string(n));
    }
    tensor out = tensor::empty(type, std::move(shape));
    if (!out.valid()) return fail(errc::internal, what + ": out of memory");
    widen_copy(t.uint64_data().data(), out.mutable_data<std::uint32_t>(), n);
    return out;
  }
  // Narrow types widened to one int32 each.
  if (static_cast<std::size_t>(t.int32_data_size()) != n) {
    return fail(errc::invalid_model, what + " holds " + std::to_string(t.int32_data_size()) + " values, its shape " +
                                         shape_string(shape) + " needs " + std::to_string(n));
  }
  tensor out = tensor::empty(type, std::move(shape));
  if (!out.valid()) return fail(errc::internal, what + ": out of memory");
  const std::int32_t* src = t.int32_data().data();
  switch (type) {
    case mq::dtype::int8: widen_copy(src, out.mutable_data<std::int8_t>(), n); break;
    case mq::dtype::uint8:
    case mq::dtype::boolean: widen_copy(src, out.mutable_data<std::uint8_t>(), n); break;
    case mq::dtype::int16: widen_copy(src, out.mutable_data<std::int16_t>(), n); break;
    case mq::dtype::uint16:
    case mq::dtype::float16:
    case mq::dtype::bfloat16: widen_copy(src, out.mutable_data<std::uint16_t>(), n); break;
    default: return fail(errc::unsupported, what + ": element type " + to_string(type) + " is not supported");
  }
  return out;
}

result<tensor> constant_value(const onnx::NodeProto& node, const std::string& name, const mq::model::impl* model) {
  const std::string label = "node '" + name + "' (Constant)";
  if (node.attribute_size() != 1) {
    return fail(errc::invalid_model, label + ": needs exactly one value attribute, has " +
                                         std::to_string(node.attribute_size()));
  }
  const auto& a = node.attribute(0);
  auto small = [](mq::dtype type, shape_t shape, auto values) -> result<tensor> {
    tensor t = tensor::empty(type, std::move(shape));
    using T = typename decltype(values)::value_type;
    std::copy(values.begin(), values.end(), t.mutable_data<T>());
    return t;
  };
  if (a.name() == "value") {
    if (!a.has_t()) return fail(errc::invalid_model, label + ": attribute 'value' holds no tensor");
    auto t = from_proto(a.t(), model);
    if (!t) return fail(t.error().code, label + ": " + t.error().message);
    return t;
  }
  if (a.name() == "value_float") return small(mq::dtype::float32, {}, std::vector<float>{a.f()});
  if (a.name() == "value_floats") {
    return small(mq::dtype::float32, {a.floats_size()}, std::vector<float>(a.floats().begin(), a.floats().end()));
  }
  if (a.name() == "value_int") return small(mq::dtype::int64, {}, std::vector<std::int64_t>{a.i()});
  if (a.name() == "value_ints") {
    return small(mq::dtype::int64, {a.ints_size()}, std::vector<std::int64_t>(a.ints().begin(), a.ints().end()));
  }
  return fail(errc::unsupported, "unsupported attribute '" + a.name() + "' of Constant (node '" + name +
                                     "'): string and sparse constants are not supported by the executor");
}

// ---- planner ----------------------------------------------------------------------------------

planner::planner(const mq::model::impl& model, options opts, const planner* outer, std::string label)
    : model_(model), opts_(std::move(opts)), outer_(outer), label_(std::move(label)) {}

std::int64_t planner::opset(const std::string& domain) const {
  for (const auto& o : model_.proto.opset_import()) {
    const std::string& d = o.domain();
    if (d == domain || ((d.empty() || d == "ai.onnx") && (domain.empty() || domain == "ai.onnx"))) return o.version();
  }
  return -1;
}

bool planner::visible_outside(const std::string& name) const {
  for (const planner* p = outer_; p != nullptr; p = p->outer_) {
    if (p->defined_ != nullptr && p->defined_->count(name) != 0) return true;
  }
  return false;
}

result<std::shared_ptr<graph_plan>> planner::plan_model(const mq::model::impl& model, const options& opts) {
  planner p(model, opts, nullptr, "main");
  return p.plan(model.proto.graph());
}

result<std::shared_ptr<subgraph>> planner::plan_attribute(const onnx::NodeProto& node, const std::string& node_name,
                                                          const onnx::GraphProto& graph, const std::string& attribute) {
  options sub_opts = opts_;
  sub_opts.keep.clear();
  planner inner(model_, sub_opts, this, label_ + "/" + node_name + ":" + attribute);
  auto plan = MQ_TRY(inner.plan(graph));
  auto sg = std::make_shared<subgraph>();
  // Captured values become implicit inputs of the node (after its explicit inputs).
  for (const auto& name : plan->captured) {
    std::size_t index = 0;
    auto it = std::find(implicit_->begin(), implicit_->end(), name);
    if (it == implicit_->end()) {
      implicit_->push_back(name);
      index = implicit_->size() - 1;
    } else {
      index = static_cast<std::size_t>(it - implicit_->begin());
    }
    sg->capture_inputs.push_back(static_cast<std::size_t>(node.input_size()) + index);
  }
  sg->plan = std::move(plan);
  return sg;
}

result<std::shared_ptr<graph_plan>> planner::plan(const onnx::GraphProto& graph) {
  auto out = std::make_shared<graph_plan>();
  graph_plan& p = *out;
  p.label = label_;
  auto add_slot = [&](const std::string& name) {
    auto [it, inserted] = p.slot_of.emplace(name, static_cast<int>(p.slot_names.size()));
    if (inserted) p.slot_names.push_back(name);
    return it->second;
  };

  // What this graph defines; a node output defined twice is an invalid model.
  std::set<std::string> defined;
  std::set<std::string> initializer_names;
  for (const auto& t : graph.initializer()) initializer_names.insert(t.name());
  for (const auto& i : graph.input()) defined.insert(i.name());
  for (const auto& t : graph.initializer()) defined.insert(t.name());
  if (graph.sparse_initializer_size() != 0) {
    return fail(errc::unsupported, "graph '" + label_ + "': sparse initializers are not supported by the executor");
  }
  std::unordered_map<std::string, int> producer;
  const int node_count = graph.node_size();
  for (int i = 0; i < node_count; ++i) {
    const auto& n = graph.node(i);
    for (const auto& o : n.output()) {
      if (o.empty()) continue;
      if (defined.count(o) != 0) {
        return fail(errc::invalid_model, "node '" + display_name(n, i) + "' (" + n.op_type() + ") in graph '" + label_ +
                                             "' defines '" + o + "', which is already defined before it");
      }
      defined.insert(o);
      producer[o] = i;
    }
  }
  defined_ = &defined;

  // Topological order: Kahn's algorithm taking the earliest ready node in file order, so a valid
  // file order is kept as it is.
  std::vector<std::vector<int>> readers(static_cast<std::size_t>(node_count));
  std::vector<int> waiting(static_cast<std::size_t>(node_count), 0);
  for (int i = 0; i < node_count; ++i) {
    const auto& n = graph.node(i);
    std::set<int> from;
    for (const auto& d : dependencies(n)) {
      auto it = producer.find(d);
      if (it != producer.end()) {
        if (it->second == i) {
          return fail(errc::invalid_model, "node '" + display_name(n, i) + "' (" + n.op_type() + ") reads '" + d +
                                               "', which it defines itself");
        }
        from.insert(it->second);
      } else if (defined.count(d) == 0 && !visible_outside(d)) {
        return fail(errc::invalid_model, "node '" + display_name(n, i) + "' (" + n.op_type() + ") in graph '" +
                                             label_ + "' reads '" + d +
                                             "', which no node, graph input or initializer defines");
      } else if (defined.count(d) == 0) {
        if (std::find(p.captured.begin(), p.captured.end(), d) == p.captured.end()) p.captured.push_back(d);
      }
    }
    for (int f : from) readers[static_cast<std::size_t>(f)].push_back(i);
    waiting[static_cast<std::size_t>(i)] = static_cast<int>(from.size());
  }
  for (const auto& o : graph.output()) {
    if (defined.count(o.name()) == 0) {
      if (!visible_outside(o.name())) {
        return fail(errc::invalid_model, "graph '" + label_ + "' output '" + o.name() + "' is never defined");
      }
      if (std::find(p.captured.begin(), p.captured.end(), o.name()) == p.captured.end()) p.captured.push_back(o.name());
    }
  }
  std::priority_queue<int, std::vector<int>, std::greater<>> ready;
  for (int i = 0; i < node_count; ++i) {
    if (waiting[static_cast<std::size_t>(i)] == 0) ready.push(i);
  }
  std::vector<int> order;
  order.reserve(static_cast<std::size_t>(node_count));
  while (!ready.empty()) {
    const int i = ready.top();
    ready.pop();
    order.push_back(i);
    for (int r : readers[static_cast<std::size_t>(i)]) {
      if (--waiting[static_cast<std::size_t>(r)] == 0) ready.push(r);
    }
  }
  if (static_cast<int>(order.size()) != node_count) {
    for (int i = 0; i < node_count; ++i) {
      if (waiting[static_cast<std::size_t>(i)] != 0) {
        return fail(errc::invalid_model, "graph '" + label_ + "' has a cycle: node '" + display_name(graph.node(i), i) +
                                             "' (" + graph.node(i).op_type() + ") depends on its own output");
      }
    }
  }

  // Slots: formal inputs, initializers, captured values, then node outputs in execution order.
  for (const auto& i : graph.input()) {
    const int s = add_slot(i.name());
    p.inputs.push_back(s);
    if (initializer_names.count(i.name()) != 0) p.initializer_inputs.push_back(s);
  }
  for (const auto& t : graph.initializer()) add_slot(t.name());
  for (const auto& c : p.captured) p.capture_slots.push_back(add_slot(c));
  for (int i : order) {
    for (const auto& o : graph.node(i).output()) {
      if (!o.empty()) add_slot(o);
    }
  }
  p.constants.resize(p.slot_names.size());
  for (const auto& t : graph.initializer()) {
    auto value = from_proto(t, &model_);
    if (!value) return fail(value.error().code, "graph '" + label_ + "': " + value.error().message);
    p.constants[static_cast<std::size_t>(p.slot(t.name()))] = std::move(*value);
  }

  // Kernels, in execution order. Constant nodes are evaluated here, once.
  const std::int64_t default_opset = opset("");
  if (default_opset > newest_onnx_opset) {
    return fail(errc::unsupported, "unsupported opset " + std::to_string(default_opset) +
                                       ": the executor implements ONNX opsets up to " + std::to_string(newest_onnx_opset));
  }
  for (int i : order) {
    const auto& n = graph.node(i);
    const std::string name = display_name(n, i);
    planned_node pn;
    pn.proto = &n;
    pn.name = name;
    pn.op_type = n.op_type();
    const bool onnx_domain = n.domain().empty() || n.domain() == "ai.onnx";
    const std::int64_t version = opset(onnx_domain ? "" : n.domain());
    if (version < 0) {
      return fail(errc::invalid_model, "node '" + name + "' (" + n.op_type() + ") is in domain '" + n.domain() +
                                           "', which the model does not import");
    }
    if (onnx_domain && n.op_type() == "Constant") {
      auto value = constant_value(n, name, &model_);
      if (!value) return unexpected_error{std::move(value).error()};
      if (n.output_size() != 1) return fail(errc::invalid_model, "node '" + name + "' (Constant) needs one output");
      p.constants[static_cast<std::size_t>(p.slot(n.output(0)))] = std::move(*value);
      continue;
    }
    std::int64_t since = version;
    if (onnx_domain) {
      const onnx::OpSchema* schema = onnx::OpSchemaRegistry::Schema(n.op_type(), static_cast<int>(version), "");
      if (schema == nullptr) {
        return fail(errc::unsupported, "unsupported operator " + n.op_type() + " (node '" + name + "', opset " +
                                           std::to_string(version) + "): not an ONNX operator at this opset");
      }
      since = schema->SinceVersion();
      // The operator's arity, as its schema gives it: a kernel may then read every required input
      // and write every required output (a fuzzed Identity with no input read past its inputs).
      // ONNX 1.12 has no opset-18 schemas: the operators that changed there (Pad's axes, the
      // reductions' axes input) are checked against their older schema's minimum only.
      const bool newer = version >= 18 && changed_in_opset_18(n.op_type());
      if (newer) since = 18;
      MQ_TRY_VOID(check_arity(n, name, *schema, newer));
    }
    const op_registry::entry* entry = operators().find(onnx_domain ? "" : n.domain(), n.op_type());
    if (entry == nullptr) {
      return fail(errc::unsupported, "unsupported operator " + (onnx_domain ? "" : n.domain() + ".") + n.op_type() +
                                         " (node '" + name + "', opset " + std::to_string(version) + ")");
    }
    if (since < entry->first_version) {
      return fail(errc::unsupported, "unsupported operator " + n.op_type() + " version " + std::to_string(since) +
                                         " (node '" + name + "', opset " + std::to_string(version) +
                                         "): the executor implements it from version " +
                                         std::to_string(entry->first_version));
    }
    std::vector<const tensor*> constant_inputs;
    for (const auto& in : n.input()) {
      const int s = in.empty() ? -1 : p.slot(in);
      const tensor* c = s >= 0 && p.constants[static_cast<std::size_t>(s)].defined() ? &p.constants[static_cast<std::size_t>(s)] : nullptr;
      // An initializer that is also a graph input may be overridden at run time: not constant.
      if (c != nullptr && std::find(p.initializer_inputs.begin(), p.initializer_inputs.end(), s) != p.initializer_inputs.end()) c = nullptr;
      constant_inputs.push_back(c);
    }
    std::vector<std::string> implicit;
    implicit_ = &implicit;
    node_info info(n, name, version, since, std::move(constant_inputs), this);
    auto k = entry->factory(info);
    implicit_ = nullptr;
    if (!k) return unexpected_error{std::move(k).error()};
    pn.impl = std::move(*k);
    for (const auto& in : n.input()) pn.inputs.push_back(in.empty() ? -1 : p.slot(in));
    for (const auto& c : implicit) pn.inputs.push_back(p.slot(c));
    for (const auto& o : n.output()) pn.outputs.push_back(o.empty() ? -1 : p.slot(o));
    p.nodes.push_back(std::move(pn));
  }
  for (const auto& o : graph.output()) p.outputs.push_back(p.slot(o.name()));
  defined_ = nullptr;

  if (opts_.fuse) fuse_nodes(p, opts_.keep);

  // Constants that only kernels which packed them read (Conv weights) are not kept twice: their
  // values go, their type and shape stay.
  {
    std::vector<int> reads(p.slot_names.size(), 0), consumed(p.slot_names.size(), 0);
    for (const auto& n : p.nodes) {
      if (n.removed) continue;
      for (std::size_t k = 0; k < n.inputs.size(); ++k) {
        const int s = n.inputs[k];
        if (s < 0) continue;
        ++reads[static_cast<std::size_t>(s)];
        if (n.impl->consumes_constant(k)) ++consumed[static_cast<std::size_t>(s)];
      }
    }
    std::set<int> outputs(p.outputs.begin(), p.outputs.end());
    for (std::size_t s = 0; s < p.constants.size(); ++s) {
      tensor& c = p.constants[s];
      if (!c.defined() || reads[s] == 0 || reads[s] != consumed[s] || outputs.count(static_cast<int>(s)) != 0 ||
          opts_.keep.count(p.slot_names[s]) != 0) {
        continue;
      }
      if (c.read_only() && c.raw() != nullptr) {
        // A view of the mapped model file: its pages can go too.
        if (const auto* mapping = onnx_io::mapping_of(model_, c.bytes())) mapping->release(c.bytes());
      }
      c = tensor::view(c.type(), c.shape(), nullptr);
    }
    for (auto& n : p.nodes) {
      if (!n.removed) n.impl->finish_planning();
    }
  }

  // Liveness: the last node reading each slot releases it. Constants, captured values and graph
  // outputs are never released; a value nobody reads is released by the node that makes it.
  std::vector<int> last(p.slot_names.size(), -1);
  std::vector<bool> pinned(p.slot_names.size(), false);
  for (int s : p.outputs) pinned[static_cast<std::size_t>(s)] = true;
  for (int s : p.capture_slots) pinned[static_cast<std::size_t>(s)] = true;
  for (const auto& k : opts_.keep) {
    if (int s = p.slot(k); s >= 0) pinned[static_cast<std::size_t>(s)] = true;
  }
  for (std::size_t s = 0; s < p.constants.size(); ++s) {
    if (p.constants[s].defined()) pinned[s] = true;
  }
  for (std::size_t i = 0; i < p.nodes.size(); ++i) {
    if (p.nodes[i].removed) continue;
    for (int s : p.nodes[i].inputs) {
      if (s >= 0) last[static_cast<std::size_t>(s)] = static_cast<int>(i);
    }
    for (int s : p.nodes[i].outputs) {
      if (s >= 0 && last[static_cast<std::size_t>(s)] < static_cast<int>(i)) last[static_cast<std::size_t>(s)] = static_cast<int>(i);
    }
  }
  for (std::size_t s = 0; s < last.size(); ++s) {
    if (last[s] >= 0 && !pinned[s]) p.nodes[static_cast<std::size_t>(last[s])].release.push_back(static_cast<int>(s));
  }
  for (std::size_t i = 0; i < p.nodes.size(); ++i) {
    auto& pn = p.nodes[i];
    pn.last_read.assign(pn.inputs.size(), false);
    for (std::size_t k = 0; k < pn.inputs.size(); ++k) {
      const int s = pn.inputs[k];
      if (s < 0 || pinned[static_cast<std::size_t>(s)] || last[static_cast<std::size_t>(s)] != static_cast<int>(i)) continue;
      if (std::count(pn.inputs.begin(), pn.inputs.end(), s) == 1) pn.last_read[k] = true;
    }
  }
  // Removed (fused) nodes go: the executor walks only live ones.
  p.nodes.erase(std::remove_if(p.nodes.begin(), p.nodes.end(), [](const planned_node& n) { return n.removed; }), p.nodes.end());
  return out;
}

}  // namespace mq::exec
