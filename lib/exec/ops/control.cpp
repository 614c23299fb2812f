// Control flow: If, Loop and Scan run planned subgraphs; values the bodies read from enclosing
// graphs arrive as the node's implicit inputs (see planner::plan_attribute).
#include <algorithm>
#include <cstring>

#include "exec/ops/common.h"
#include "exec/ops/ops.h"
#include "exec/plan.h"

namespace mq::exec::ops {
namespace {

result<bool> scalar_bool(const run_context& ctx, const tensor& t, const char* what) {
  if (t.size() != 1) return ctx.fail(std::string(what) + " must hold one element, has shape " + shape_string(t.shape()));
  if (t.type() != mq::dtype::boolean) return ctx.fail(std::string(what) + " must be bool, is " + type_name(t.type()));
  return t.data<std::uint8_t>()[0] != 0;
}

// Stacks per-iteration tensors along a new axis `axis` (Loop: 0; Scan: any), in order.
result<tensor> stack(run_context& ctx, const std::vector<tensor>& parts, std::size_t axis, bool reverse,
                     const char* what) {
  const tensor& first = parts.front();
  for (const auto& p : parts) {
    if (p.shape() != first.shape() || p.type() != first.type()) {
      return ctx.fail(std::string(what) + " changes shape or type between iterations (" + shape_string(first.shape()) +
                      " then " + shape_string(p.shape()) + ")");
    }
  }
  shape_t shape = first.shape();
  if (axis > shape.size()) return ctx.fail(std::string(what) + ": axis out of range");
  shape.insert(shape.begin() + static_cast<std::ptrdiff_t>(axis), static_cast<std::int64_t>(parts.size()));
  tensor out = MQ_TRY(ctx.allocate(first.type(), shape));
  const std::size_t elem = exec_element_size(first.type());
  std::int64_t outer = 1;
  for (std::size_t k = 0; k < axis; ++k) outer *= first.shape()[k];
  const std::size_t inner_bytes = static_cast<std::size_t>(first.size() / std::max<std::int64_t>(outer, 1)) * elem;
  auto* dst = static_cast<std::byte*>(out.mutable_raw());
  const std::size_t n = parts.size();
  for (std::int64_t o = 0; o < outer; ++o) {
    for (std::size_t i = 0; i < n; ++i) {
      const tensor& p = parts[reverse ? n - 1 - i : i];
      std::memcpy(dst + (static_cast<std::size_t>(o) * n + i) * inner_bytes,
                  static_cast<const std::byte*>(p.raw()) + static_cast<std::size_t>(o) * inner_bytes, inner_bytes);
    }
  }
  return out;
}

// Slice `index` of `t` along `axis` (the axis removed).
result<tensor> slice_of(run_context& ctx, const tensor& t, std::size_t axis, std::int64_t index) {
  shape_t shape = t.shape();
  shape.erase(shape.begin() + static_cast<std::ptrdiff_t>(axis));
  tensor out = MQ_TRY(ctx.allocate(t.type(), shape));
  const std::size_t elem = exec_element_size(t.type());
  std::int64_t outer = 1;
  for (std::size_t k = 0; k < axis; ++k) outer *= t.shape()[k];
  std::int64_t inner = 1;
  for (std::size_t k = axis + 1; k < t.rank(); ++k) inner *= t.shape()[k];
  const std::int64_t len = t.shape()[axis];
  const auto inner_bytes = static_cast<std::size_t>(inner) * elem;
  const auto* src = static_cast<const std::byte*>(t.raw());
  auto* dst = static_cast<std::byte*>(out.mutable_raw());
  for (std::int64_t o = 0; o < outer; ++o) {
    std::memcpy(dst + static_cast<std::size_t>(o) * inner_bytes,
                src + static_cast<std::size_t>(o * len + index) * inner_bytes, inner_bytes);
  }
  return out;
}

// An empty stack (a Loop that ran no iteration): [0] followed by the body output's declared
// shape where every dimension is known, else [0].
result<tensor> empty_stack(run_context& ctx, const onnx::ValueInfoProto& declared) {
  shape_t shape = {0};
  mq::dtype type = mq::dtype::float32;
  if (declared.type().has_tensor_type()) {
    const auto& tt = declared.type().tensor_type();
    type = static_cast<mq::dtype>(tt.elem_type());
    if (tt.has_shape()) {
      bool known = true;
      for (const auto& d : tt.shape().dim()) known = known && d.has_dim_value();
      if (known) {
        for (const auto& d : tt.shape().dim()) shape.push_back(d.dim_value());
      }
    }
  }
  return ctx.allocate(type, shape);
}

result<std::unique_ptr<kernel>> make_if(node_info& node) {
  MQ_TRY_VOID(node.only_attributes({"then_branch", "else_branch"}));
  auto then_graph = MQ_TRY(node.plan_subgraph("then_branch"));
  auto else_graph = MQ_TRY(node.plan_subgraph("else_branch"));
  const std::size_t outputs = node.output_count();
  if (then_graph->plan->outputs.size() != outputs || else_graph->plan->outputs.size() != outputs) {
    return node.invalid("each branch must have " + std::to_string(outputs) + " outputs, like the node");
  }
  return make_kernel([then_graph, else_graph](run_context& ctx) -> result<void> {
    const bool cond = MQ_TRY(scalar_bool(ctx, ctx.in(0), "the condition"));
    auto results = MQ_TRY(ctx.run_subgraph(cond ? *then_graph : *else_graph, {}));
    for (std::size_t i = 0; i < results.size(); ++i) ctx.set_output(i, std::move(results[i]));
    return {};
  });
}

result<std::unique_ptr<kernel>> make_loop(node_info& node) {
  MQ_TRY_VOID(node.only_attributes({"body"}));
  const onnx::GraphProto& body_proto = node.attribute("body")->g();
  auto body = MQ_TRY(node.plan_subgraph("body"));
  const std::size_t explicit_inputs = node.input_count();
  if (explicit_inputs < 2) return node.invalid("needs inputs M and cond (either may be empty)");
  const std::size_t carried = explicit_inputs - 2;
  if (body->plan->inputs.size() != carried + 2) {
    return node.invalid("the body takes " + std::to_string(body->plan->inputs.size()) + " inputs, expected " +
                        std::to_string(carried + 2) + " (iteration, condition, " + std::to_string(carried) +
                        " loop-carried values)");
  }
  const std::size_t body_outputs = body->plan->outputs.size();
  if (body_outputs < carried + 1) return node.invalid("the body must return the condition and the loop-carried values");
  const std::size_t scans = body_outputs - 1 - carried;
  if (node.output_count() > carried + scans) return node.invalid("has more outputs than its body makes");
  std::vector<onnx::ValueInfoProto> scan_declared(body_proto.output().begin() + static_cast<int>(1 + carried),
                                                  body_proto.output().end());
  const bool has_m = node.has_input(0);
  const bool has_cond = node.has_input(1);
  return make_kernel([=](run_context& ctx) -> result<void> {
    std::int64_t trip = INT64_MAX;
    if (has_m) {
      const tensor& m = ctx.in(0);
      if (m.size() != 1 || m.type() != mq::dtype::int64) return ctx.fail("M must be one int64");
      trip = m.data<std::int64_t>()[0];
    }
    bool cond = true;
    if (has_cond) cond = MQ_TRY(scalar_bool(ctx, ctx.in(1), "cond"));
    if (!has_m && !has_cond) return ctx.unsupported("Loop with neither M nor cond (it would never end)");
    std::vector<tensor> state;
    for (std::size_t i = 0; i < carried; ++i) state.push_back(ctx.in(2 + i));
    std::vector<std::vector<tensor>> scanned(scans);
    for (std::int64_t it = 0; it < trip && cond; ++it) {
      std::vector<tensor> args;
      tensor iteration = MQ_TRY(ctx.allocate(mq::dtype::int64, {}));
      *iteration.mutable_data<std::int64_t>() = it;
      tensor cond_in = MQ_TRY(ctx.allocate(mq::dtype::boolean, {}));
      *cond_in.mutable_data<std::uint8_t>() = 1;
      args.push_back(std::move(iteration));
      args.push_back(std::move(cond_in));
      for (auto& s : state) args.push_back(std::move(s));
      auto results = MQ_TRY(ctx.run_subgraph(*body, std::move(args)));
      cond = MQ_TRY(scalar_bool(ctx, results[0], "the body's condition output"));
      for (std::size_t i = 0; i < carried; ++i) state[i] = std::move(results[1 + i]);
      for (std::size_t i = 0; i < scans; ++i) scanned[i].push_back(std::move(results[1 + carried + i]));
    }
    for (std::size_t i = 0; i < carried; ++i) ctx.set_output(i, std::move(state[i]));
    for (std::size_t i = 0; i < scans; ++i) {
      if (carried + i >= ctx.output_count()) break;
      tensor stacked = scanned[i].empty() ? MQ_TRY(empty_stack(ctx, scan_declared[i]))
                                          : MQ_TRY(stack(ctx, scanned[i], 0, false, "a scan output"));
      ctx.set_output(carried + i, std::move(stacked));
    }
    return {};
  });
}

// Scan 8: the batched form. Inputs (sequence_lens, states..., scan inputs...): every state and scan
// input has the batch on axis 0, scan inputs the sequence on axis 1; each batch entry runs its own
// loop over its first sequence_lens[b] steps (all of them when absent), from its own slice of the
// initial states. Scan outputs are [batch, max_steps, ...], zero past a shorter sequence's end (the
// spec leaves those values undefined).
result<std::unique_ptr<kernel>> make_scan8(node_info& node) {
  MQ_TRY_VOID(node.only_attributes({"body", "num_scan_inputs", "directions"}));
  auto body = MQ_TRY(node.plan_subgraph("body"));
  const std::int64_t scan_inputs = node.attr_int("num_scan_inputs", -1);
  if (node.input_count() < 2) return node.invalid("needs sequence_lens (may be empty) and at least one scan input");
  const std::size_t inputs = node.input_count() - 1;
  if (scan_inputs < 1 || static_cast<std::size_t>(scan_inputs) > inputs) {
    return node.invalid("num_scan_inputs must be between 1 and the number of states and scan inputs");
  }
  const std::size_t n_scan = static_cast<std::size_t>(scan_inputs);
  const std::size_t n_state = inputs - n_scan;
  const std::size_t body_outputs = body->plan->outputs.size();
  if (body->plan->inputs.size() != inputs || body_outputs < n_state) {
    return node.invalid("the body's inputs and outputs do not match the node's states and scan inputs");
  }
  const std::size_t n_scan_out = body_outputs - n_state;
  std::vector<std::int64_t> dirs = node.attr_ints("directions");
  if (dirs.empty()) dirs.assign(n_scan, 0);
  if (dirs.size() != n_scan) return node.invalid("directions must have one entry per scan input");
  const bool has_lens = node.has_input(0);
  return make_kernel([=](run_context& ctx) -> result<void> {
    const tensor& first = ctx.in(1 + n_state);
    if (first.rank() < 2) return ctx.fail("scan inputs must be [batch, sequence, ...], the first has shape " + shape_string(first.shape()));
    const std::int64_t batch = first.dim(0);
    const std::int64_t steps = first.dim(1);
    for (std::size_t j = 0; j < n_scan; ++j) {
      const tensor& x = ctx.in(1 + n_state + j);
      if (x.rank() < 2 || x.dim(0) != batch || x.dim(1) != steps) {
        return ctx.fail("scan input " + std::to_string(j) + " has shape " + shape_string(x.shape()) + ", expected [" +
                        std::to_string(batch) + ", " + std::to_string(steps) + ", ...] like the first");
      }
    }
    for (std::size_t i = 0; i < n_state; ++i) {
      const tensor& s = ctx.in(1 + i);
      if (s.rank() < 1 || s.dim(0) != batch) {
        return ctx.fail("state " + std::to_string(i) + " has shape " + shape_string(s.shape()) + ", expected the batch (" +
                        std::to_string(batch) + ") on axis 0");
      }
    }
    std::vector<std::int64_t> lens(static_cast<std::size_t>(batch), steps);
    if (has_lens) {
      lens = MQ_TRY(read_ints(ctx, 0, "sequence_lens"));
      if (static_cast<std::int64_t>(lens.size()) != batch) {
        return ctx.fail("sequence_lens has " + std::to_string(lens.size()) + " values for a batch of " + std::to_string(batch));
      }
      for (const std::int64_t l : lens) {
        if (l < 0 || l > steps) return ctx.fail("sequence length " + std::to_string(l) + " is out of range [0, " + std::to_string(steps) + "]");
      }
    }
    std::vector<std::vector<tensor>> finals(n_state);                  // per state, per batch entry
    std::vector<std::vector<std::vector<tensor>>> scanned(n_scan_out);  // per output, per batch entry, per step
    for (std::int64_t b = 0; b < batch; ++b) {
      std::vector<tensor> state;
      for (std::size_t i = 0; i < n_state; ++i) state.push_back(MQ_TRY(slice_of(ctx, ctx.in(1 + i), 0, b)));
      std::vector<tensor> rows;
      for (std::size_t j = 0; j < n_scan; ++j) rows.push_back(MQ_TRY(slice_of(ctx, ctx.in(1 + n_state + j), 0, b)));
      for (auto& s : scanned) s.emplace_back();
      const std::int64_t len = lens[static_cast<std::size_t>(b)];
      for (std::int64_t t = 0; t < len; ++t) {
        std::vector<tensor> args;
        for (auto& s : state) args.push_back(std::move(s));
        for (std::size_t j = 0; j < n_scan; ++j) {
          args.push_back(MQ_TRY(slice_of(ctx, rows[j], 0, dirs[j] != 0 ? len - 1 - t : t)));
        }
        auto results = MQ_TRY(ctx.run_subgraph(*body, std::move(args)));
        for (std::size_t i = 0; i < n_state; ++i) state[i] = std::move(results[i]);
        for (std::size_t i = 0; i < n_scan_out; ++i) scanned[i].back().push_back(std::move(results[n_state + i]));
      }
      for (std::size_t i = 0; i < n_state; ++i) finals[i].push_back(std::move(state[i]));
    }
    for (std::size_t i = 0; i < n_state; ++i) {
      if (batch == 0) return ctx.unsupported("Scan over an empty batch");
      ctx.set_output(i, MQ_TRY(stack(ctx, finals[i], 0, false, "a final state")));
    }
    for (std::size_t i = 0; i < n_scan_out; ++i) {
      const tensor* proto = nullptr;
      for (const auto& per_batch : scanned[i]) {
        if (!per_batch.empty()) {
          proto = &per_batch.front();
          break;
        }
      }
      if (proto == nullptr) return ctx.unsupported("Scan with no step at all (the scan outputs' shapes are unknown)");
      shape_t shape = {batch, steps};
      shape.insert(shape.end(), proto->shape().begin(), proto->shape().end());
      tensor out = MQ_TRY(ctx.allocate_zeros(proto->type(), shape));
      const std::size_t bytes = proto->byte_size();
      auto* dst = static_cast<std::byte*>(out.mutable_raw());
      for (std::int64_t b = 0; b < batch; ++b) {
        const auto& per_batch = scanned[i][static_cast<std::size_t>(b)];
        for (std::size_t t = 0; t < per_batch.size(); ++t) {
          const tensor& p = per_batch[t];
          if (p.shape() != proto->shape() || p.type() != proto->type()) {
            return ctx.fail("a scan output changes shape or type between iterations (" + shape_string(proto->shape()) + " then " +
                            shape_string(p.shape()) + ")");
          }
          std::memcpy(dst + (static_cast<std::size_t>(b * steps) + t) * bytes, p.raw(), bytes);
        }
      }
      ctx.set_output(n_state + i, std::move(out));
    }
    return {};
  });
}

result<std::unique_ptr<kernel>> make_scan(node_info& node) {
  if (node.since_version() < 9) return make_scan8(node);
  MQ_TRY_VOID(node.only_attributes({"body", "num_scan_inputs", "scan_input_axes", "scan_input_directions",
                                    "scan_output_axes", "scan_output_directions"}));
  auto body = MQ_TRY(node.plan_subgraph("body"));
  const std::int64_t scan_inputs = node.attr_int("num_scan_inputs", -1);
  const std::size_t inputs = node.input_count();
  if (scan_inputs < 1 || static_cast<std::size_t>(scan_inputs) > inputs) {
    return node.invalid("num_scan_inputs must be between 1 and the number of inputs");
  }
  const std::size_t n_scan = static_cast<std::size_t>(scan_inputs);
  const std::size_t n_state = inputs - n_scan;
  const std::size_t body_outputs = body->plan->outputs.size();
  if (body->plan->inputs.size() != inputs || body_outputs < n_state) {
    return node.invalid("the body's inputs and outputs do not match the node's states and scan inputs");
  }
  const std::size_t n_scan_out = body_outputs - n_state;
  auto per = [&](const char* name, std::size_t count) {
    std::vector<std::int64_t> v = node.attr_ints(name);
    if (v.empty()) v.assign(count, 0);
    return v;
  };
  const auto in_axes = per("scan_input_axes", n_scan);
  const auto in_dirs = per("scan_input_directions", n_scan);
  const auto out_axes = per("scan_output_axes", n_scan_out);
  const auto out_dirs = per("scan_output_directions", n_scan_out);
  if (in_axes.size() != n_scan || in_dirs.size() != n_scan || out_axes.size() != n_scan_out || out_dirs.size() != n_scan_out) {
    return node.invalid("scan axes/directions must have one entry per scan input/output");
  }
  return make_kernel([=](run_context& ctx) -> result<void> {
    std::vector<tensor> state;
    for (std::size_t i = 0; i < n_state; ++i) state.push_back(ctx.in(i));
    std::int64_t length = -1;
    std::vector<std::size_t> axes(n_scan);
    for (std::size_t j = 0; j < n_scan; ++j) {
      const tensor& x = ctx.in(n_state + j);
      axes[j] = MQ_TRY(axis_for(ctx, in_axes[j], x.rank()));
      const std::int64_t len = x.shape()[axes[j]];
      if (length >= 0 && len != length) return ctx.fail("scan inputs have different lengths");
      length = len;
    }
    std::vector<std::vector<tensor>> scanned(n_scan_out);
    for (std::int64_t t = 0; t < length; ++t) {
      std::vector<tensor> args;
      for (auto& s : state) args.push_back(std::move(s));
      for (std::size_t j = 0; j < n_scan; ++j) {
        const std::int64_t index = in_dirs[j] != 0 ? length - 1 - t : t;
        args.push_back(MQ_TRY(slice_of(ctx, ctx.in(n_state + j), axes[j], index)));
      }
      auto results = MQ_TRY(ctx.run_subgraph(*body, std::move(args)));
      for (std::size_t i = 0; i < n_state; ++i) state[i] = std::move(results[i]);
      for (std::size_t i = 0; i < n_scan_out; ++i) scanned[i].push_back(std::move(results[n_state + i]));
    }
    for (std::size_t i = 0; i < n_state; ++i) ctx.set_output(i, std::move(state[i]));
    for (std::size_t i = 0; i < n_scan_out; ++i) {
      if (scanned[i].empty()) return ctx.unsupported("Scan over empty inputs");
      const std::size_t rank = scanned[i].front().rank() + 1;
      const std::size_t axis = MQ_TRY(axis_for(ctx, out_axes[i], rank));
      ctx.set_output(n_state + i, MQ_TRY(stack(ctx, scanned[i], axis, out_dirs[i] != 0, "a scan output")));
    }
    return {};
  });
}

}  // namespace

void register_control(op_registry& r) {
  r.add("If", make_if, 1);
  r.add("Loop", make_loop, 1);
  r.add("Scan", make_scan, 8);
}

}  // namespace mq::exec::ops
