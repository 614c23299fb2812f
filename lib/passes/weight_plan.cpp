#include "passes/weight_plan.h"

#include <span>

#include "kernels/kernels.h"
#include "onnx_io/model_impl.h"
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
    auto converted = std::make_shared<std::vector<float>>();
    util::reserve_large(*converted, static_cast<std::size_t>(count));
    MQ_TRY_VOID(view.to_float(*converted));
    plan.values = *converted;
    plan.converted = std::move(converted);
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

namespace {

// Everything a quantization job reads. The bytes it points at are not changed until the walk is
// over (graph_context::finish_weights), and `converted` is its own.
struct weight_job_input {
  std::span<const float> values;             // aligned float32 in the stored layout
  std::span<const std::byte> unaligned;      // or float32 at any address (values is then empty)
  std::shared_ptr<const std::vector<float>> converted;  // what `values` views, when converted
  const util::mapped_file* file = nullptr;   // the mapping `mapped` is in, when read in place
  std::span<const std::byte> mapped;
  std::vector<std::int64_t> dims;            // stored dims
  bool transpose = false;
  bool single_zero_point = false;
  quant::weight_options options;
  std::string name;
};

// [rows, cols] row-major -> [cols, rows], reading unaligned float32 where it is.
std::vector<float> transposed(const weight_job_input& in) {
  const auto rows = static_cast<std::size_t>(in.dims[0]);
  const auto cols = static_cast<std::size_t>(in.dims[1]);
  std::vector<float> out(rows * cols);
  const bool unaligned = in.values.empty() && !in.unaligned.empty();
  for (std::size_t i = 0; i < rows; ++i) {
    for (std::size_t j = 0; j < cols; ++j) {
      const std::size_t at = i * cols + j;
      out[j * rows + i] = unaligned ? kernels::load_float(in.unaligned.data(), at) : in.values[at];
    }
  }
  return out;
}

// The job itself: runs on any thread, touches no protobuf object. Out of line so that
// bench/profile_quantize.sh can time it.
[[gnu::noinline]] result<quant::quantized_weight> quantize_job(const weight_job_input& in) {
  if (in.file != nullptr) (void)in.file->prefetch(in.mapped);  // one call instead of a fault per few pages
  auto q = [&] {
    if (in.transpose) {
      const std::vector<float> values = transposed(in);
      const std::vector<std::int64_t> dims{in.dims[1], in.dims[0]};
      return quant::quantize_weight(values, dims, in.options, in.name);
    }
    if (in.values.empty() && !in.unaligned.empty()) {
      return quant::quantize_weight_bytes(in.unaligned, in.dims, in.options, in.name);
    }
    return quant::quantize_weight(in.values, in.dims, in.options, in.name);
  }();
  if (q && in.single_zero_point) q->zero_points.resize(1);  // symmetric: all equal
  // Done with the float bytes: a model bigger than memory is read one weight at a time.
  if (in.file != nullptr) (void)in.file->release(in.mapped);
  return q;
}

std::size_t submit_quantization(graph_context& ctx, const weight_plan& plan, const weight_layout& layout) {
  weight_job_input in;
  in.values = plan.values;
  in.unaligned = plan.unaligned_float32;
  in.converted = plan.converted;
  in.file = onnx_io::mapping_of(ctx.model(), plan.mapped_bytes);
  in.mapped = plan.mapped_bytes;
  in.dims = plan.dims;
  in.transpose = layout.transpose;
  in.single_zero_point = layout.single_zero_point;
  in.options = weight_options_for(ctx.options(), layout.per_channel, layout.axis);
  if (layout.override_options) {
    in.options.type = layout.override_options->type;
    in.options.sym = layout.override_options->sym;
    in.options.reduce_range = layout.override_options->reduce_range;
  }
  in.name = plan.source.name;
  // What the job holds until it is done: its output, the converted input, a transposed copy.
  const std::size_t count = plan.values.empty() ? plan.unaligned_float32.size() / sizeof(float) : plan.values.size();
  std::size_t bytes = count + (plan.converted ? count * sizeof(float) : 0);
  if (layout.transpose) bytes += count * sizeof(float);
  return ctx.jobs.submit([in = std::move(in)] { return quantize_job(in); }, bytes);
}

}  // namespace

result<quantized_names> store_weight(graph_context& ctx, const weight_plan& plan, const weight_layout& layout,
                                     node_report& r) {
  std::string key = plan.source.name + "|" + std::to_string(reinterpret_cast<std::uintptr_t>(plan.source.owner)) +
                    "|t" + std::to_string(layout.transpose) + "|c" + std::to_string(layout.per_channel) + "|a" +
                    std::to_string(layout.axis) + "|s";
  for (auto d : layout.scale_shape) key += std::to_string(d) + ",";
  key += layout.single_zero_point ? "|z1" : "|zn";
  const auto used = layout.override_options ? *layout.override_options : weight_options_for(ctx.options(), false, 0);
  key += "|q" + std::to_string(static_cast<int>(used.type)) + std::to_string(static_cast<int>(used.sym)) +
         std::to_string(used.reduce_range);
  r.granularity = layout.per_channel ? "per-channel(axis=" + std::to_string(layout.axis) + ")" : "per-tensor";
  auto cached = ctx.quantized_weights.find(key);
  if (cached == ctx.quantized_weights.end()) {
    std::vector<std::int64_t> dims = plan.dims;
    if (layout.transpose) std::swap(dims[0], dims[1]);
    const std::size_t job = submit_quantization(ctx, plan, layout);
    auto names = declare_quantized(ctx, *plan.source.owner, plan.source.name, std::move(dims), layout.scale_shape,
                                   layout.single_zero_point, job, r, used.type);
    cached = ctx.quantized_weights.emplace(key, std::move(names)).first;
  }
  ctx.node_weight_job = cached->second.job;  // the node's SQNR, once the job is done
  r.bytes_after = cached->second.bytes;
  ctx.replaced_weights.insert(plan.source.name);
  if (!plan.source.through_cast.empty()) ctx.replaced_weights.insert(plan.source.through_cast);
  if (plan.source.is_graph_input) ctx.dropped_inputs.insert(plan.source.name);
  return cached->second;
}

}  // namespace mq::passes
