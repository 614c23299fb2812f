// Runs a planned graph: nodes in plan order, each value released after its last reader.
#include <chrono>
#include <algorithm>
#include <cmath>
#include <new>

#include "exec/plan.h"
#include "tensor/half.h"
#include "util/try.h"

namespace mq::exec {
namespace {

// Index of the first NaN or infinity of a float tensor, or -1.
std::int64_t first_nonfinite(const tensor& t) {
  const std::int64_t n = t.size();
  switch (t.type()) {
    case mq::dtype::float32: {
      const float* p = t.data<float>();
      for (std::int64_t i = 0; i < n; ++i) {
        if (!std::isfinite(p[i])) return i;
      }
      return -1;
    }
    case mq::dtype::float64: {
      const double* p = t.data<double>();
      for (std::int64_t i = 0; i < n; ++i) {
        if (!std::isfinite(p[i])) return i;
      }
      return -1;
    }
    case mq::dtype::float16: {
      const auto* p = t.data<std::uint16_t>();
      for (std::int64_t i = 0; i < n; ++i) {
        if ((p[i] & 0x7c00u) == 0x7c00u) return i;
      }
      return -1;
    }
    default: return -1;
  }
}

mq::tensor_ref ref_of(const std::string& name, const tensor& t) {
  return mq::tensor_ref{name, t.type(), t.shape(), t.bytes()};
}

}  // namespace

result<std::vector<tensor>> execute(const graph_plan& plan, std::span<const tensor> inputs,
                                    std::span<const tensor* const> captures, const run_env& env,
                                    const mq::tensor_observer* observer, std::map<std::string, tensor>* fetched,
                                    const std::set<std::string>* fetch) {
  std::vector<tensor> values(plan.slot_names.size());
  auto value = [&](int s) -> const tensor* {
    const auto k = static_cast<std::size_t>(s);
    if (values[k].defined()) return &values[k];
    if (plan.constants[k].defined()) return &plan.constants[k];
    return nullptr;
  };
  if (inputs.size() > plan.inputs.size()) {
    return fail(errc::internal, "graph '" + plan.label + "' got " + std::to_string(inputs.size()) + " inputs, takes " +
                                    std::to_string(plan.inputs.size()));
  }
  for (std::size_t i = 0; i < plan.inputs.size(); ++i) {
    const int s = plan.inputs[i];
    if (i < inputs.size() && inputs[i].defined()) {
      values[static_cast<std::size_t>(s)] = inputs[i];
    } else if (!plan.constants[static_cast<std::size_t>(s)].defined()) {
      // A subgraph input left out (Loop's optional condition/count) simply has no value.
      continue;
    }
    if (observer != nullptr && *observer) MQ_TRY_VOID((*observer)(ref_of(plan.slot_names[static_cast<std::size_t>(s)], *value(s))));
  }
  for (std::size_t c = 0; c < plan.capture_slots.size(); ++c) {
    if (c >= captures.size() || captures[c] == nullptr) {
      return fail(errc::internal, "graph '" + plan.label + "': value '" + plan.captured[c] + "' from outside is missing");
    }
    values[static_cast<std::size_t>(plan.capture_slots[c])] = *captures[c];
  }

  std::vector<const tensor*> in;
  std::vector<tensor*> takeable;
  std::vector<tensor> out;
  for (const planned_node& n : plan.nodes) {
    in.assign(n.inputs.size(), nullptr);
    takeable.assign(n.inputs.size(), nullptr);
    for (std::size_t k = 0; k < n.inputs.size(); ++k) {
      const int s = n.inputs[k];
      if (s < 0) continue;
      in[k] = value(s);
      if (in[k] == nullptr) {
        // Only optional outputs that a node did not produce, or subgraph inputs left out, get here.
        if (k < static_cast<std::size_t>(n.proto->input_size())) {
          return fail(errc::invalid_argument, "node '" + n.name + "' (" + n.op_type + ") reads '" +
                                                  plan.slot_names[static_cast<std::size_t>(s)] + "', which has no value");
        }
        return fail(errc::internal, "node '" + n.name + "' (" + n.op_type + "): outer value '" +
                                        plan.slot_names[static_cast<std::size_t>(s)] + "' has no value");
      }
      if (n.last_read[k] && values[static_cast<std::size_t>(s)].defined()) takeable[k] = &values[static_cast<std::size_t>(s)];
    }
    out.assign(n.outputs.size(), tensor{});
    const auto started = env.profile != nullptr ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
    {
      run_context ctx(n.name, n.op_type, in, takeable, out, env);
      result<void> ran;
      try {
        ran = n.impl->run(ctx);
      } catch (const std::bad_alloc&) {
        return fail(errc::internal, "node '" + n.name + "' (" + n.op_type + "): out of memory");
      }
      if (!ran) return unexpected_error{std::move(ran).error()};
    }
    if (env.profile != nullptr) {
      env.profile->push_back({n.name, n.op_type, std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count()});
    }
    if (env.check_finite) {
      bool inputs_finite = true;
      for (const tensor* t : in) {
        // (A constant whose values a packing kernel took has no data left: nothing to check.)
        if (t != nullptr && t->defined() && t->raw() != nullptr && is_float_type(t->type()) && first_nonfinite(*t) >= 0) {
          inputs_finite = false;
        }
      }
      for (std::size_t k = 0; k < out.size() && inputs_finite; ++k) {
        if (n.outputs[k] < 0 || !out[k].defined()) continue;
        const std::int64_t bad = first_nonfinite(out[k]);
        if (bad >= 0) {
          return fail(errc::numeric, "node '" + n.name + "' (" + n.op_type + ") made a NaN or infinity in output '" +
                                         plan.slot_names[static_cast<std::size_t>(n.outputs[k])] + "' (element " +
                                         std::to_string(bad) + ") from finite inputs");
        }
      }
    }
    for (std::size_t k = 0; k < out.size(); ++k) {
      const int s = n.outputs[k];
      if (s < 0) continue;
      if (!out[k].defined()) continue;  // an optional output the kernel did not produce
      const std::string& name = plan.slot_names[static_cast<std::size_t>(s)];
      if (observer != nullptr && *observer) MQ_TRY_VOID((*observer)(ref_of(name, out[k])));
      if (fetch != nullptr && fetch->count(name) != 0) (*fetched)[name] = out[k];
      values[static_cast<std::size_t>(s)] = std::move(out[k]);
    }
    if (env.peak_live_bytes != nullptr) {
      // Before the releases: the node's inputs and outputs are alive together.
      std::size_t live = 0;
      for (std::size_t k = 0; k < values.size(); ++k) {
        if (values[k].defined() && !values[k].read_only()) live += values[k].byte_size();
      }
      *env.peak_live_bytes = std::max(*env.peak_live_bytes, live);
    }
    for (int s : n.release) values[static_cast<std::size_t>(s)] = tensor{};
  }

  std::vector<tensor> results;
  results.reserve(plan.outputs.size());
  for (int s : plan.outputs) {
    const tensor* t = value(s);
    if (t == nullptr) {
      return fail(errc::invalid_model, "graph '" + plan.label + "' output '" + plan.slot_names[static_cast<std::size_t>(s)] +
                                           "' was not computed (an optional output no node produced)");
    }
    results.push_back(*t);
  }
  if (fetch != nullptr) {
    for (const auto& name : *fetch) {
      if (fetched->count(name) != 0) continue;
      const int s = plan.slot(name);
      if (s >= 0) {
        if (const tensor* t = value(s)) (*fetched)[name] = *t;
      }
    }
  }
  return results;
}

}  // namespace mq::exec
