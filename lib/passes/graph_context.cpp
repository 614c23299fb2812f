#include "passes/graph_context.h"

#include <cstring>

#include "onnx_io/walk.h"
#include "util/try.h"

namespace mq::passes {

graph_context::graph_context(model::impl& m, const quantize_options& options)
    : jobs(options.threads), model_(m), options_(options) {
  onnx_io::for_each_graph(*m.proto.mutable_graph(), [&](onnx::GraphProto& g, int) {
    for (const auto& v : g.input()) names_.insert(v.name());
    for (const auto& v : g.output()) names_.insert(v.name());
    for (const auto& t : g.initializer()) names_.insert(t.name());
    for (const auto& n : g.node()) {
      names_.insert(n.name());
      for (const auto& o : n.output()) names_.insert(o);
    }
  });
}

std::string graph_context::unique_name(const std::string& base) {
  std::string name = base;
  for (int i = 1; names_.count(name) != 0; ++i) name = base + "_" + std::to_string(i);
  names_.insert(name);
  return name;
}

namespace {

const onnx::TensorProto* constant_value(const onnx::NodeProto& node) {
  if (node.op_type() != "Constant" || !node.domain().empty()) return nullptr;
  for (const auto& a : node.attribute()) {
    if (a.name() == "value" && a.has_t()) return &a.t();
  }
  return nullptr;
}

bool is_float_like(const onnx::TensorProto& t) {
  using tp = onnx::TensorProto;
  return t.data_type() == tp::FLOAT || t.data_type() == tp::FLOAT16 || t.data_type() == tp::BFLOAT16 ||
         t.data_type() == tp::DOUBLE;
}

}  // namespace

std::optional<weight_source> graph_context::find_weight(const std::vector<scope_level>& scopes,
                                                        const std::string& value) const {
  for (auto level = scopes.rbegin(); level != scopes.rend(); ++level) {
    onnx::GraphProto& g = *level->graph;
    for (const auto& node : g.node()) {
      for (const auto& out : node.output()) {
        if (out != value) continue;
        if (const auto* t = constant_value(node)) return weight_source{value, t, &g, true, false, {}};
        // Cast(to=float) of a float16/bfloat16/double constant: quantize the constant itself.
        if (node.op_type() == "Cast" && node.input_size() == 1 &&
            int_attribute(node, "to", 0) == onnx::TensorProto::FLOAT) {
          auto inner = find_weight(std::vector<scope_level>(scopes.begin(), level.base()), node.input(0));
          if (inner && is_float_like(*inner->tensor)) {
            inner->through_cast = value;
            return inner;
          }
        }
        return std::nullopt;  // computed at run time
      }
    }
    for (const auto& t : g.initializer()) {
      if (t.name() != value) continue;
      bool listed = false;
      for (const auto& in : g.input()) listed = listed || in.name() == value;
      return weight_source{value, &t, &g, false, listed, {}};
    }
    for (const auto& in : g.input()) {
      if (in.name() == value) return std::nullopt;  // a real graph input shadows outer names
    }
  }
  return std::nullopt;
}

result<tensor_view> graph_context::weight_view(const weight_source& w) const {
  return onnx_io::view_of(*w.tensor, model_);
}

onnx::NodeProto& add_node(std::vector<onnx::NodeProto>& nodes, const std::string& op, const std::string& name,
                          std::vector<std::string> inputs, std::vector<std::string> outputs) {
  auto& n = nodes.emplace_back();
  n.set_op_type(op);
  n.set_name(name);
  for (auto& i : inputs) n.add_input(std::move(i));
  for (auto& o : outputs) n.add_output(std::move(o));
  return n;
}

std::int64_t int_attribute(const onnx::NodeProto& node, const std::string& name, std::int64_t fallback) {
  for (const auto& a : node.attribute()) {
    if (a.name() == name) return a.i();
  }
  return fallback;
}

float float_attribute(const onnx::NodeProto& node, const std::string& name, float fallback) {
  for (const auto& a : node.attribute()) {
    if (a.name() == name) return a.f();
  }
  return fallback;
}

std::string display_name(const onnx::NodeProto& node, int index) {
  return node.name().empty() ? node.op_type() + "#" + std::to_string(index) : node.name();
}

quant::weight_options weight_options_for(const quantize_options& options, bool per_channel, int axis) {
  quant::weight_options w;
  w.type = options.weights == weight_type::int8 ? quant::qtype::int8 : quant::qtype::uint8;
  const bool symmetric = options.symmetry == weight_symmetry::type_default ? options.weights == weight_type::int8
                                                                            : options.symmetry == weight_symmetry::symmetric;
  w.sym = symmetric ? quant::symmetry::symmetric : quant::symmetry::asymmetric;
  w.reduce_range = options.reduce_range;
  w.measure_error = options.measure_error;
  w.per_channel = per_channel;
  w.axis = axis;
  return w;
}

namespace {

std::size_t element_count(const std::vector<std::int64_t>& dims) {
  std::size_t n = 1;
  for (auto d : dims) n *= static_cast<std::size_t>(d);
  return n;
}

std::size_t element_count(const onnx::TensorProto& t) {
  return element_count(std::vector<std::int64_t>(t.dims().begin(), t.dims().end()));
}

onnx::TensorProto* add_declared(onnx::GraphProto& owner, const std::string& name, int type,
                                const std::vector<std::int64_t>& dims) {
  auto* t = owner.add_initializer();
  t->set_name(name);
  t->set_data_type(type);
  for (auto d : dims) t->add_dims(d);
  return t;
}

// Moves a job's result into its initializers, after checking it has the declared sizes.
result<void> fill_quantized(const pending_weight& p, quant::quantized_weight& q) {
  if (q.data.size() != element_count(*p.data) || q.scales.size() != element_count(*p.scale) ||
      q.zero_points.size() != element_count(*p.zero_point)) {
    return fail(errc::internal, "weight '" + p.data->name() + "': quantized " + std::to_string(q.data.size()) +
                                    " values with " + std::to_string(q.scales.size()) +
                                    " scales, which does not match its declared shape");
  }
  p.data->set_raw_data(std::move(q.data));
  p.scale->set_raw_data(std::string(reinterpret_cast<const char*>(q.scales.data()), q.scales.size() * sizeof(float)));
  std::string zp_bytes;
  for (auto z : q.zero_points) zp_bytes.push_back(static_cast<char>(static_cast<std::uint8_t>(z)));
  p.zero_point->set_raw_data(std::move(zp_bytes));
  return {};
}

}  // namespace

quantized_names declare_quantized(graph_context& ctx, onnx::GraphProto& owner, const std::string& base,
                                  std::vector<std::int64_t> dims, const std::vector<std::int64_t>& scale_shape,
                                  bool scalar_zero_point, std::size_t job, const node_report& r, quant::qtype type) {
  const auto qtype = type == quant::qtype::int8 ? onnx::TensorProto::INT8 : onnx::TensorProto::UINT8;
  quantized_names names;
  names.data = ctx.unique_name(base + "_quantized");
  names.scale = ctx.unique_name(base + "_scale");
  names.zero_point = ctx.unique_name(base + "_zero_point");
  names.scale_dims = scale_shape;
  names.job = job;
  pending_weight p;
  p.job = job;
  p.data = add_declared(owner, names.data, qtype, dims);
  p.scale = add_declared(owner, names.scale, onnx::TensorProto::FLOAT, scale_shape);
  p.zero_point = add_declared(owner, names.zero_point, qtype, scalar_zero_point ? std::vector<std::int64_t>{} : scale_shape);
  p.node = r.node;
  p.op_type = r.op_type;
  // One byte per value, a float per scale, a byte per zero point.
  names.bytes = element_count(dims) + element_count(scale_shape) * sizeof(float) + element_count(*p.zero_point);
  ctx.pending_weights.push_back(std::move(p));
  return names;
}

result<void> finish_weights(graph_context& ctx) {
  ctx.jobs.wait_all();
  for (const auto& p : ctx.pending_weights) {
    auto& q = ctx.jobs.result_of(p.job);
    if (!q) return fail(q.error().code, "node '" + p.node + "' (" + p.op_type + "): " + q.error().message);
    MQ_TRY_VOID(fill_quantized(p, *q));
  }
  ctx.pending_weights.clear();
  for (const auto& [node, job] : ctx.node_jobs) ctx.report().nodes[node].sqnr_db = ctx.jobs.result_of(job)->sqnr_db;
  ctx.node_jobs.clear();
  return {};
}

}  // namespace mq::passes
