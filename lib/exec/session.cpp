// mq::session: the public face of the executor.
#include <algorithm>
#include <cstring>
#include <new>
#include <optional>

#include "exec/plan.h"
#include "mq/session.h"
#include "onnx_io/model_impl.h"
#include "util/try.h"

namespace mq {

std::int64_t tensor::element_count() const noexcept {
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

template <class T>
tensor tensor::from(std::vector<std::int64_t> shape, std::span<const T> values) {
  tensor t;
  if constexpr (std::is_same_v<T, bool>) {
    t.type = dtype::boolean;
  } else {
    t.type = dtype_of<T>();
  }
  t.shape = std::move(shape);
  if (t.element_count() != static_cast<std::int64_t>(values.size())) std::abort();
  t.data.resize(values.size() * sizeof(T));
  if (!values.empty()) std::memcpy(t.data.data(), values.data(), t.data.size());
  return t;
}

template tensor tensor::from<float>(std::vector<std::int64_t>, std::span<const float>);
template tensor tensor::from<double>(std::vector<std::int64_t>, std::span<const double>);
template tensor tensor::from<std::int8_t>(std::vector<std::int64_t>, std::span<const std::int8_t>);
template tensor tensor::from<std::uint8_t>(std::vector<std::int64_t>, std::span<const std::uint8_t>);
template tensor tensor::from<std::int16_t>(std::vector<std::int64_t>, std::span<const std::int16_t>);
template tensor tensor::from<std::uint16_t>(std::vector<std::int64_t>, std::span<const std::uint16_t>);
template tensor tensor::from<std::int32_t>(std::vector<std::int64_t>, std::span<const std::int32_t>);
template tensor tensor::from<std::uint32_t>(std::vector<std::int64_t>, std::span<const std::uint32_t>);
template tensor tensor::from<std::int64_t>(std::vector<std::int64_t>, std::span<const std::int64_t>);
template tensor tensor::from<std::uint64_t>(std::vector<std::int64_t>, std::span<const std::uint64_t>);
template tensor tensor::from<bool>(std::vector<std::int64_t>, std::span<const bool>);

namespace {

std::string declared_shape(const value_info& v) {
  std::string s = "[";
  for (std::size_t i = 0; i < v.shape.size(); ++i) {
    if (i) s += ",";
    s += v.shape[i] >= 0 ? std::to_string(v.shape[i]) : (v.dim_names[i].empty() ? "?" : v.dim_names[i]);
  }
  return s + "]";
}

}  // namespace

struct session::impl {
  std::optional<mq::model> owned;  // set by session::load
  const mq::model::impl* model = nullptr;
  std::shared_ptr<exec::graph_plan> plan;
  std::unique_ptr<exec::thread_pool> pool;
  std::shared_ptr<exec::buffer_pool> buffers = std::make_shared<exec::buffer_pool>();
  std::vector<value_info> inputs;     // runtime inputs (no initializer behind them)
  std::vector<value_info> outputs;
  std::vector<value_info> formal;     // every formal input of the main graph, in order
  std::vector<bool> has_initializer;  // per formal input
  std::string label;
};

session::session(std::unique_ptr<impl> state) : impl_(std::move(state)) {}
session::session(session&&) noexcept = default;
session& session::operator=(session&&) noexcept = default;
session::~session() = default;

const std::vector<value_info>& session::inputs() const noexcept { return impl_->inputs; }
const std::vector<value_info>& session::outputs() const noexcept { return impl_->outputs; }

result<session> session::create(const model& m, const session_options& options) {
  try {
    auto state = std::make_unique<impl>();
    state->model = &m.internals();
    state->label = m.internals().label;
    exec::planner::options opts;
    opts.fuse = options.fuse;
    auto plan = exec::planner::plan_model(m.internals(), opts);
    if (!plan) return fail(plan.error().code, state->label + ": " + plan.error().message);
    state->plan = std::move(*plan);
    const auto& g = m.internals().proto.graph();
    std::set<std::string> initializers;
    for (const auto& t : g.initializer()) initializers.insert(t.name());
    for (const auto& v : g.input()) {
      state->formal.push_back(onnx_io::describe_value(v));
      const bool init = initializers.count(v.name()) != 0;
      state->has_initializer.push_back(init);
      if (!init) state->inputs.push_back(state->formal.back());
    }
    for (const auto& v : g.output()) state->outputs.push_back(onnx_io::describe_value(v));
    state->pool = std::make_unique<exec::thread_pool>(exec::resolve_threads(options.threads));
    return session(std::move(state));
  } catch (const std::bad_alloc&) {
    return fail(errc::internal, m.internals().label + ": out of memory while planning the model");
  }
}

result<session> session::load(const std::filesystem::path& path, const session_options& options) {
  auto m = MQ_TRY(model::load(path));
  auto owned = std::make_unique<model>(std::move(m));
  auto s = MQ_TRY(create(*owned, options));
  // The model moves into the session; its impl (which the plan points into) does not move.
  s.impl_->owned.emplace(std::move(*owned));
  return s;
}

result<std::map<std::string, tensor>> session::run(const std::map<std::string, tensor>& inputs,
                                                   const run_options& options) {
  impl& s = *impl_;
  for (const auto& entry : inputs) {
    const std::string& name = entry.first;  // a plain reference: clang 14 cannot capture a structured binding
    auto it = std::find_if(s.formal.begin(), s.formal.end(), [&](const value_info& v) { return v.name == name; });
    if (it == s.formal.end()) {
      std::string names;
      for (const auto& v : s.inputs) names += (names.empty() ? "'" : ", '") + v.name + "'";
      return fail(errc::invalid_argument, s.label + ": the model has no input '" + name + "' (its inputs: " + names + ")");
    }
  }
  std::vector<exec::tensor> feeds(s.formal.size());
  for (std::size_t i = 0; i < s.formal.size(); ++i) {
    const value_info& v = s.formal[i];
    auto it = inputs.find(v.name);
    if (it == inputs.end()) {
      if (s.has_initializer[i]) continue;  // keeps the initializer's value
      return fail(errc::invalid_argument, s.label + ": input '" + v.name + "' is missing (" + to_string(v.element_type) +
                                              " " + declared_shape(v) + ")");
    }
    const tensor& t = it->second;
    if (v.element_type != dtype::undefined && t.type != v.element_type) {
      return fail(errc::invalid_argument, s.label + ": input '" + v.name + "' has type " + to_string(t.type) +
                                              ", the model declares " + to_string(v.element_type));
    }
    if (exec::exec_element_size(t.type) == 0) {
      return fail(errc::unsupported, s.label + ": input '" + v.name + "' has type " + to_string(t.type) +
                                         ", which the executor does not support");
    }
    for (auto d : t.shape) {
      if (d < 0) return fail(errc::invalid_argument, s.label + ": input '" + v.name + "' has a negative dimension");
    }
    if (v.has_shape) {
      bool fits = v.shape.size() == t.shape.size();
      for (std::size_t k = 0; fits && k < v.shape.size(); ++k) fits = v.shape[k] < 0 || v.shape[k] == t.shape[k];
      if (!fits) {
        return fail(errc::invalid_argument, s.label + ": input '" + v.name + "' has shape " +
                                                exec::shape_string(t.shape) + ", the model declares " + declared_shape(v));
      }
    }
    const auto expected = static_cast<std::size_t>(t.element_count()) * exec::exec_element_size(t.type);
    if (t.data.size() != expected) {
      return fail(errc::invalid_argument, s.label + ": input '" + v.name + "' holds " + std::to_string(t.data.size()) +
                                              " bytes, its shape " + exec::shape_string(t.shape) + " needs " +
                                              std::to_string(expected));
    }
    feeds[i] = exec::tensor::view(t.type, t.shape, t.data.data());
  }

  std::set<std::string> fetch(options.fetch.begin(), options.fetch.end());
  std::map<std::string, exec::tensor> fetched;
  exec::run_env env{*s.pool, s.buffers, options.check_finite, 0, options.profile, options.peak_live_bytes};
  std::vector<exec::tensor> results;
  try {
    auto r = exec::execute(*s.plan, feeds, {}, env, options.observer ? &options.observer : nullptr, &fetched, &fetch);
    if (!r) return fail(r.error().code, s.label + ": " + r.error().message);
    results = std::move(*r);
  } catch (const std::bad_alloc&) {
    return fail(errc::internal, s.label + ": out of memory while running the model");
  }
  auto to_public = [](const exec::tensor& t) {
    tensor out;
    out.type = t.type();
    out.shape = t.shape();
    const auto bytes = t.bytes();
    out.data.assign(bytes.begin(), bytes.end());
    return out;
  };
  std::map<std::string, tensor> out;
  for (std::size_t i = 0; i < results.size(); ++i) out[s.outputs[i].name] = to_public(results[i]);
  for (const auto& name : fetch) {
    auto it = fetched.find(name);
    if (it == fetched.end()) {
      if (s.plan->slot(name) < 0) {
        return fail(errc::not_found, s.label + ": cannot fetch '" + name + "': the main graph has no such value");
      }
      return fail(errc::not_found, s.label + ": cannot fetch '" + name +
                                       "': it was fused into the node that reads it (create the session with fuse off)");
    }
    out[name] = to_public(it->second);
  }
  return out;
}

}  // namespace mq
