#include "exec/kernel.h"

#include <algorithm>
#include <cstring>
#include <tuple>
#include <mutex>

#include "exec/ops/ops.h"
#include "exec/plan.h"
#include "util/try.h"

namespace mq::exec {

std::string type_name(mq::dtype type) {
  switch (type) {
    case mq::dtype::float32: return "float";
    case mq::dtype::float64: return "double";
    case mq::dtype::float16: return "float16";
    case mq::dtype::boolean: return "bool";
    default: return to_string(type);
  }
}

// ---- node_info --------------------------------------------------------------------------------

node_info::node_info(const onnx::NodeProto& proto, std::string display_name, std::int64_t opset,
                     std::int64_t since_version, std::vector<const tensor*> constant_inputs, planner* owner)
    : proto_(proto),
      name_(std::move(display_name)),
      opset_(opset),
      since_version_(since_version),
      constant_inputs_(std::move(constant_inputs)),
      owner_(owner) {}

bool node_info::has_input(std::size_t i) const noexcept {
  return i < input_count() && !proto_.input(static_cast<int>(i)).empty();
}

bool node_info::has_output(std::size_t i) const noexcept {
  return i < output_count() && !proto_.output(static_cast<int>(i)).empty();
}

const tensor* node_info::constant_input(std::size_t i) const noexcept {
  return i < constant_inputs_.size() ? constant_inputs_[i] : nullptr;
}

const onnx::AttributeProto* node_info::attribute(std::string_view name) const noexcept {
  for (const auto& a : proto_.attribute()) {
    if (a.name() == name) return &a;
  }
  return nullptr;
}

bool node_info::has_attribute(std::string_view name) const noexcept { return attribute(name) != nullptr; }

std::int64_t node_info::attr_int(std::string_view name, std::int64_t fallback) const noexcept {
  const auto* a = attribute(name);
  return a != nullptr ? a->i() : fallback;
}

float node_info::attr_float(std::string_view name, float fallback) const noexcept {
  const auto* a = attribute(name);
  return a != nullptr ? a->f() : fallback;
}

std::string node_info::attr_string(std::string_view name, std::string fallback) const {
  const auto* a = attribute(name);
  return a != nullptr ? a->s() : fallback;
}

std::vector<std::int64_t> node_info::attr_ints(std::string_view name) const {
  const auto* a = attribute(name);
  if (a == nullptr) return {};
  return {a->ints().begin(), a->ints().end()};
}

std::vector<float> node_info::attr_floats(std::string_view name) const {
  const auto* a = attribute(name);
  if (a == nullptr) return {};
  return {a->floats().begin(), a->floats().end()};
}

std::vector<std::string> node_info::attr_strings(std::string_view name) const {
  const auto* a = attribute(name);
  if (a == nullptr) return {};
  return {a->strings().begin(), a->strings().end()};
}

result<tensor> node_info::attr_tensor(std::string_view name) const {
  const auto* a = attribute(name);
  if (a == nullptr || !a->has_t()) return invalid("attribute '" + std::string(name) + "' holds no tensor");
  auto t = from_proto(a->t(), owner_ != nullptr ? &owner_->model() : nullptr);
  if (!t) return fail(t.error().code, label() + ": " + t.error().message);
  return t;
}

result<void> node_info::only_attributes(std::initializer_list<std::string_view> known) const {
  for (const auto& a : proto_.attribute()) {
    if (std::find(known.begin(), known.end(), a.name()) == known.end()) {
      return unsupported("attribute '" + a.name() + "' of " + op_type());
    }
  }
  return {};
}

result<std::shared_ptr<subgraph>> node_info::plan_subgraph(std::string_view attribute_name) {
  const auto* a = attribute(attribute_name);
  if (a == nullptr || !a->has_g()) return invalid("attribute '" + std::string(attribute_name) + "' holds no graph");
  return owner_->plan_attribute(proto_, name_, a->g(), std::string(attribute_name));
}

std::string node_info::label() const { return "node '" + name_ + "' (" + op_type() + ")"; }

unexpected_error node_info::unsupported(const std::string& what) const {
  return mq::fail(errc::unsupported, "unsupported " + what + " (node '" + name_ + "', " + op_type() + ", opset " +
                                         std::to_string(opset_) + ")");
}

unexpected_error node_info::invalid(const std::string& what) const {
  return mq::fail(errc::invalid_model, label() + ": " + what);
}

// ---- registry ---------------------------------------------------------------------------------

void op_registry::add(std::string_view op, kernel_factory factory, std::int64_t first_version, std::string_view domain) {
  entries_.push_back({std::string(domain), std::string(op), first_version, std::move(factory)});
}

const op_registry::entry* op_registry::find(std::string_view domain, std::string_view op) const noexcept {
  for (const auto& e : entries_) {
    if (e.op == op && e.domain == domain) return &e;
  }
  return nullptr;
}

std::vector<const op_registry::entry*> op_registry::all() const {
  std::vector<const entry*> out;
  for (const auto& e : entries_) out.push_back(&e);
  std::sort(out.begin(), out.end(), [](const entry* a, const entry* b) {
    return std::tie(a->domain, a->op) < std::tie(b->domain, b->op);
  });
  return out;
}

const op_registry& operators() {
  static const op_registry registry = [] {
    op_registry r;
    ops::register_all(r);
    return r;
  }();
  return registry;
}

// ---- run_context ------------------------------------------------------------------------------

run_context::run_context(const std::string& node_name, const std::string& op_type,
                         std::span<const tensor* const> inputs, std::span<tensor* const> takeable,
                         std::span<tensor> outputs, const run_env& env)
    : node_name_(node_name),
      op_type_(op_type),
      inputs_(inputs.begin(), inputs.end()),
      takeable_(takeable),
      outputs_(outputs),
      env_(env) {}

std::string run_context::label() const { return "node '" + node_name_ + "' (" + op_type_ + ")"; }

unexpected_error run_context::fail(const std::string& what) const {
  return mq::fail(errc::invalid_argument, label() + ": " + what);
}

unexpected_error run_context::unsupported(const std::string& what) const {
  return mq::fail(errc::unsupported, label() + ": unsupported " + what);
}

result<tensor> run_context::allocate(mq::dtype type, shape_t shape) const {
  for (auto d : shape) {
    if (d < 0) return fail("negative dimension in output shape " + shape_string(shape));
  }
  std::int64_t n = 1;
  for (auto d : shape) {
    if (__builtin_mul_overflow(n, d, &n) || n > (std::int64_t{1} << 40)) {
      return fail("output shape " + shape_string(shape) + " is too large");
    }
  }
  tensor t = tensor::empty(type, std::move(shape), env_.buffers);
  if (!t.valid()) return mq::fail(errc::internal, label() + ": out of memory for an output of " + std::to_string(n) + " elements");
  return t;
}

result<tensor> run_context::allocate_zeros(mq::dtype type, shape_t shape) const {
  tensor t = MQ_TRY(allocate(type, std::move(shape)));
  if (t.byte_size() != 0) std::memset(t.mutable_raw(), 0, t.byte_size());
  return t;
}

result<tensor> run_context::reuse_or_allocate(std::size_t i, mq::dtype type, shape_t shape) {
  if (i < takeable_.size() && takeable_[i] != nullptr && takeable_[i]->exclusively_owned() &&
      takeable_[i]->byte_size() == static_cast<std::size_t>(element_count(shape)) * exec_element_size(type)) {
    tensor& from = *takeable_[i];
    // The input stays readable through a view of the same bytes, now owned by the result.
    ghosts_.push_back(std::make_unique<tensor>(tensor::view(from.type(), from.shape(), from.raw())));
    inputs_[i] = ghosts_.back().get();
    return tensor::reuse(std::move(from), type, std::move(shape));
  }
  return allocate(type, std::move(shape));
}

result<std::vector<tensor>> run_context::run_subgraph(const subgraph& graph, std::vector<tensor> inputs) const {
  if (env_.depth >= 64) return fail("subgraphs nested more than 64 deep (recursion?)");
  std::vector<const tensor*> captures;
  captures.reserve(graph.capture_inputs.size());
  for (std::size_t index : graph.capture_inputs) {
    const tensor* t = input(index);
    if (t == nullptr) return mq::fail(errc::internal, label() + ": a value its subgraph reads is missing");
    captures.push_back(t);
  }
  run_env inner{env_.pool, env_.buffers, env_.check_finite, env_.depth + 1, nullptr, nullptr};
  return execute(*graph.plan, inputs, captures, inner);
}

}  // namespace mq::exec
