#include "passes/weight_plan.h"

#include <cstring>
#include <span>

#include "util/memory.h"
#include "util/try.h"

namespace mq::passes {

result<plan_or_reason> plan_weight(const graph_context& ctx, const std::vector<scope_level>& scopes,
                                   const onnx::NodeProto& node, int input_index) {
  if (node.input_size() <= input_index || node.input(input_index).empty()) {
    return plan_or_reason{std::string("has no weight input")};
  }
  const std::string& value = node.input(input_index);
  auto source = ctx.find_weight(scopes, value);
  if (!source) {
    return plan_or_reason{"input '" + value + "' is computed at run time, not a constant weight"};
  }
  using tp = onnx::TensorProto;
  const int type = source->tensor->data_type();
  if (type != tp::FLOAT && type != tp::FLOAT16 && type != tp::BFLOAT16 && type != tp::DOUBLE) {
    return plan_or_reason{"weight '" + source->name + "' has dtype " + to_string(static_cast<dtype>(type)) +
                          " (already quantized or not a float weight)"};
  }
  if (source->is_graph_input && ctx.options().graph_input_weights == initializer_inputs::keep) {
    return plan_or_reason{"weight '" + source->name +
                          "' is also a graph input and may be overridden at run time (kept as asked)"};
  }
  weight_plan plan;
  plan.input_index = input_index;
  plan.dims.assign(source->tensor->dims().begin(), source->tensor->dims().end());
  std::int64_t count = 1;
  for (auto d : plan.dims) count *= d;
  const std::int64_t min_count = min_elements(ctx.options());
  if (count < min_count || count == 0) {
    return plan_or_reason{"weight '" + source->name + "' has " + std::to_string(count) + " elements, under --min-elements " +
                          std::to_string(min_count) +
                          (ctx.options().min_elements ? "" : " (auto's default: small weights save little and are the most sensitive)")};
  }
  auto view = MQ_TRY(ctx.weight_view(*source));
  if (auto direct = view.as_span<float>()) {
    plan.values = *direct;  // no copy: quantization reads the model's bytes in place
  } else if (view.type() == dtype::float32 && view.kind() == tensor_view::storage::bytes) {
    plan.unaligned_float32 = view.bytes();  // in place too, through quantize_weight_bytes
  } else {
    util::reserve_large(ctx.float_scratch, static_cast<std::size_t>(count));
    MQ_TRY_VOID(view.to_float(ctx.float_scratch));
    plan.values = ctx.float_scratch;
  }
  if (view.kind() == tensor_view::storage::bytes) plan.mapped_bytes = view.bytes();
  plan.source = std::move(*source);
  return plan_or_reason{std::move(plan)};
}

void describe_weight(node_report& r, const weight_plan& plan) {
  r.weight = plan.source.name;
  r.weight_shape = plan.dims;
  std::uint64_t count = 1;
  for (auto d : plan.dims) count *= static_cast<std::uint64_t>(d);
  r.bytes_before = count * element_size(static_cast<dtype>(plan.source.tensor->data_type()));
}

result<quant::quantized_weight> quantize_values(const graph_context& ctx, const weight_plan& plan,
                                                std::span<const float> values,
                                                const std::vector<std::int64_t>& dims, bool per_channel, int axis) {
  const auto options = weight_options_for(ctx.options(), per_channel, axis);
  if (values.empty() && !plan.unaligned_float32.empty()) {
    return quant::quantize_weight_bytes(plan.unaligned_float32, std::span<const std::int64_t>(dims), options,
                                        plan.source.name);
  }
  return quant::quantize_weight(values, std::span<const std::int64_t>(dims), options, plan.source.name);
}

result<quantized_names> store_weight(graph_context& ctx, const weight_plan& plan, const weight_layout& layout,
                                     node_report& r) {
  std::string key = plan.source.name + "|" + std::to_string(reinterpret_cast<std::uintptr_t>(plan.source.owner)) +
                    "|t" + std::to_string(layout.transpose) + "|c" + std::to_string(layout.per_channel) + "|a" +
                    std::to_string(layout.axis) + "|s";
  for (auto d : layout.scale_shape) key += std::to_string(d) + ",";
  key += layout.single_zero_point ? "|z1" : "|zn";
  r.granularity = layout.per_channel ? "per-channel(axis=" + std::to_string(layout.axis) + ")" : "per-tensor";
  auto cached = ctx.quantized_weights.find(key);
  if (cached == ctx.quantized_weights.end()) {
    onnx_io::prefetch_pages(ctx.model(), plan.mapped_bytes);  // one call instead of a fault per few pages
    std::span<const float> values = plan.values;
    std::vector<std::int64_t> dims = plan.dims;
    std::vector<float> transposed;
    if (layout.transpose) {
      if (values.empty() && !plan.unaligned_float32.empty()) {  // transposing needs aligned floats
        ctx.float_scratch.resize(plan.unaligned_float32.size() / sizeof(float));
        std::memcpy(ctx.float_scratch.data(), plan.unaligned_float32.data(), plan.unaligned_float32.size());
        values = ctx.float_scratch;
      }
      const auto rows = static_cast<std::size_t>(dims[0]);
      const auto cols = static_cast<std::size_t>(dims[1]);
      transposed.resize(values.size());
      for (std::size_t i = 0; i < rows; ++i) {
        for (std::size_t j = 0; j < cols; ++j) transposed[j * rows + i] = values[i * cols + j];
      }
      values = transposed;
      std::swap(dims[0], dims[1]);
    }
    auto q = MQ_TRY(quantize_values(ctx, plan, values, dims, layout.per_channel, layout.axis));
    if (layout.single_zero_point) q.zero_points.resize(1);  // symmetric: all equal
    auto names = store_quantized(ctx, *plan.source.owner, plan.source.name, std::move(q), dims, ctx.options(), layout.scale_shape,
                                 layout.single_zero_point);
    cached = ctx.quantized_weights.emplace(key, std::move(names)).first;
    // Done with the float bytes: a model bigger than memory is read one weight at a time.
    onnx_io::release_pages(ctx.model(), plan.mapped_bytes);
  }
  r.sqnr_db = cached->second.sqnr_db;
  r.bytes_after = cached->second.bytes;
  ctx.replaced_weights.insert(plan.source.name);
  if (!plan.source.through_cast.empty()) ctx.replaced_weights.insert(plan.source.through_cast);
  if (plan.source.is_graph_input) ctx.dropped_inputs.insert(plan.source.name);
  return cached->second;
}

}  // namespace mq::passes
