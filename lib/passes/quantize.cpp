// The quantization driver: converts old opsets, walks every graph (subgraphs first, so a node
// sees its scopes), hands each candidate node to one rewrite, then removes what became dead.
#include <onnx/shape_inference/implementation.h>
#include <onnx/defs/schema.h>
#include <onnx/version_converter/convert.h>

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <fnmatch.h>
#include <map>

#include "mq/quantize.h"
#include "mq/version.h"
#include "onnx_io/walk.h"
#include "passes/graph_context.h"
#include "passes/rewrites.h"
#include "passes/runtime_check.h"
#include "passes/static_int8.h"
#include "util/suggest.h"
#include "util/try.h"

namespace mq {
namespace passes {
namespace {

const std::vector<std::string>& default_op_types() { return quantizable_op_types(); }

}  // namespace

bool excluded_node(const quantize_options& options, const std::string& name) {
  for (const auto& pattern : options.exclude) {
    if (pattern == name || fnmatch(pattern.c_str(), name.c_str(), 0) == 0) return true;
  }
  return false;
}

namespace {

bool wanted(const quantize_options& options, const onnx::NodeProto& node) {
  if (!node.domain().empty() && node.domain() != "ai.onnx") return false;
  const auto& types = options.op_types.empty() ? default_op_types() : options.op_types;
  return std::find(types.begin(), types.end(), node.op_type()) != types.end();
}

}  // namespace

std::int64_t default_opset(const onnx::ModelProto& model) {
  for (const auto& imp : model.opset_import()) {
    if (imp.domain().empty() || imp.domain() == "ai.onnx") return imp.version();
  }
  return 0;
}

namespace {

// Picks the rewrite for one node under the options.
result<bool> rewrite_node(graph_context& ctx, const node_site& site, std::vector<onnx::NodeProto>& out, node_report& r) {
  const auto& options = ctx.options();
  const std::string& op = site.node.op_type();
  if (op == "Gather") {
    // Embedding tables, as ONNX Runtime's quantize_dynamic does (and auto, where ONNX Runtime gathers
    // 8-bit rows and dequantizes only those); qdq: the weight-only form of every other op.
    if (options.format == quant_format::qdq) {
      return rewrite_dequantize_weight(ctx, site, options.per_channel, weight_only_form::dequantize_linear, out, r);
    }
    return rewrite_gather(ctx, site, out, r);
  }
  const bool integer_op = op == "MatMul" || op == "Gemm" || op == "Conv";
  quant_format format = options.format;
  if (format == quant_format::automatic) {
    // MatMul runs 2-3x faster as MatMulInteger (ONNX Runtime's quantize_dynamic form). Gemm is
    // not in ONNX Runtime's dynamic set and often computes recurrent gates (unrolled LSTM cells),
    // where quantizing the activations per run costs accuracy (silero op18: cosine 0.84 vs 0.9994
    // weight-only). ConvInteger is slower than float Conv. So everything but MatMul keeps float
    // compute with per-channel int8 weights. MatMul is per channel too: MatMulInteger takes a
    // zero point per column, and ONNX Runtime runs it at the same speed as per tensor (mlp100 and
    // bert4 in bench/README.md) with a better weight SQNR (mlp100: 28.4 dB instead of 24.5).
    format = op == "MatMul" ? quant_format::qoperator : quant_format::qdq;
  }
  const bool per_channel = options.per_channel || options.format == quant_format::automatic;
  if (format == quant_format::qoperator && !integer_op) {
    r.reason = op + " has no integer form in ONNX; quantized weight-only (qdq)";
    format = quant_format::qdq;
  }
  // In auto, weight-only weights use the Cast form: ONNX Runtime folds it at load, while it runs
  // DequantizeLinear on every inference (magika's 2.6 MB Conv: +36% latency with it).
  const auto form = options.format == quant_format::automatic ? weight_only_form::cast_multiply
                                                              : weight_only_form::dequantize_linear;
  if (format == quant_format::qdq) {
    return rewrite_dequantize_weight(ctx, site, per_channel, form, out, r);
  }
  if (op == "Conv") return rewrite_conv_integer(ctx, site, per_channel, out, r);
  auto done = MQ_TRY(rewrite_matmul_integer(ctx, site, per_channel, out, r));
  if (!done && options.format == quant_format::automatic && !r.weight.empty()) {
    // A constant weight without a MatMulInteger form here (batched, 1-D, float16 compute):
    // weight-only still shrinks it.
    node_report fresh;
    fresh.graph = r.graph;
    fresh.node = r.node;
    fresh.op_type = r.op_type;
    r = std::move(fresh);
    return rewrite_dequantize_weight(ctx, site, per_channel, form, out, r);
  }
  return done;
}

// One entry of a graph's new node list: an original node (by index) or a new one.
struct slot {
  int original = -1;
  onnx::NodeProto fresh;
};

result<void> process_graph(graph_context& ctx, std::vector<scope_level>& scopes, std::int64_t opset) {
  onnx::GraphProto& graph = *scopes.back().graph;
  std::vector<slot> slots;
  slots.reserve(static_cast<std::size_t>(graph.node_size()));
  for (int i = 0; i < graph.node_size(); ++i) {
    onnx::NodeProto& node = *graph.mutable_node(i);
    const std::string name = display_name(node, i);
    for (auto& attr : *node.mutable_attribute()) {
      std::vector<onnx::GraphProto*> subs;
      if (attr.has_g()) subs.push_back(attr.mutable_g());
      for (auto& g : *attr.mutable_graphs()) subs.push_back(&g);
      for (auto* sub : subs) {
        scopes.push_back({sub, scopes.back().label + "/" + name + ":" + attr.name()});
        auto ok = process_graph(ctx, scopes, opset);
        scopes.pop_back();
        if (!ok) return ok;
      }
    }
    bool candidate = wanted(ctx.options(), node);
    if (candidate && node.op_type() == "Gather") {
      // Only Gathers of a float table (embeddings) are candidates, not the many of shapes and indices.
      const auto table = node.input_size() > 0 ? ctx.find_weight(scopes, node.input(0)) : std::nullopt;
      const int type = table ? table->tensor->data_type() : 0;
      candidate = type == onnx::TensorProto::FLOAT || type == onnx::TensorProto::FLOAT16 ||
                  type == onnx::TensorProto::BFLOAT16 || type == onnx::TensorProto::DOUBLE;
    }
    if (!candidate) {
      slots.push_back({i, {}});
      continue;
    }
    node_report r;
    r.graph = scopes.back().label;
    r.node = name;
    r.op_type = node.op_type();
    std::vector<onnx::NodeProto> fresh;
    bool done = false;
    if (!ctx.already_quantized.empty()) {
      r.reason = "the model is already quantized: never quantized twice";
    } else if (excluded_node(ctx.options(), name)) {
      r.reason = "excluded by --exclude";
    } else {
      const node_site site{scopes, graph, node, opset};
      ctx.node_weight_job.reset();
      auto rewritten = rewrite_node(ctx, site, fresh, r);
      if (!rewritten) {
        return fail(rewritten.error().code, "node '" + name + "' (" + node.op_type() + "): " + rewritten.error().message);
      }
      done = *rewritten;
      if (done && ctx.node_weight_job) ctx.node_jobs.emplace_back(ctx.report().nodes.size(), *ctx.node_weight_job);
    }
    r.quantized = done;
    ctx.report().nodes.push_back(std::move(r));
    if (!done) {
      slots.push_back({i, {}});
      continue;
    }
    for (auto& n : fresh) slots.push_back({-1, std::move(n)});
  }
  // Rebuild the node list only now: lookups above read the original list. Swap, not copy: a
  // quantization job may still be reading a Constant node's tensor, which must stay where it is.
  google::protobuf::RepeatedPtrField<onnx::NodeProto> rebuilt;
  rebuilt.Reserve(static_cast<int>(slots.size()));
  for (auto& s : slots) {
    rebuilt.Add()->Swap(s.original >= 0 ? graph.mutable_node(s.original) : &s.fresh);
  }
  graph.mutable_node()->Swap(&rebuilt);
  return {};
}

// Names read anywhere: node inputs and graph outputs, in every graph.
std::map<std::string, int> count_uses(onnx::GraphProto& root) {
  std::map<std::string, int> uses;
  onnx_io::for_each_graph(root, [&](onnx::GraphProto& g, int) {
    for (const auto& n : g.node()) {
      for (const auto& in : n.input()) ++uses[in];
    }
    for (const auto& o : g.output()) ++uses[o.name()];
  });
  return uses;
}

}  // namespace

// Removes replaced weights (initializers, Constant nodes, bypassed Casts) that nothing reads,
// and the graph inputs that listed removed initializers.
void remove_dead_weights(graph_context& ctx) {
  auto& root = *ctx.model().proto.mutable_graph();
  for (bool changed = true; changed;) {
    changed = false;
    const auto uses = count_uses(root);
    auto dead = [&](const std::string& name) { return ctx.replaced_weights.count(name) != 0 && uses.count(name) == 0; };
    onnx_io::for_each_graph(root, [&](onnx::GraphProto& g, int) {
      auto* inits = g.mutable_initializer();
      for (int i = inits->size() - 1; i >= 0; --i) {
        if (!dead(inits->Get(i).name())) continue;
        const std::string name = inits->Get(i).name();
        inits->DeleteSubrange(i, 1);
        changed = true;
        auto* inputs = g.mutable_input();
        for (int k = inputs->size() - 1; k >= 0; --k) {
          if (inputs->Get(k).name() == name && ctx.dropped_inputs.count(name) != 0) inputs->DeleteSubrange(k, 1);
        }
      }
      auto* nodes = g.mutable_node();
      for (int i = nodes->size() - 1; i >= 0; --i) {
        const auto& n = nodes->Get(i);
        if ((n.op_type() == "Constant" || n.op_type() == "Cast") && n.output_size() == 1 && dead(n.output(0))) {
          if (n.op_type() == "Cast") ctx.replaced_weights.insert(n.input(0));
          nodes->DeleteSubrange(i, 1);
          changed = true;
        }
      }
    });
  }
}

// ONNX's version converter goes through its IR, which keeps no external data. So it converts a
// copy in which external tensors are inline (small ones, which adapters may read: shapes,
// scales) or empty stand-ins (large main-graph initializers: weights, which no adapter reads),
// and the original large tensors are put back by name afterwards. Weights read in place from
// the model file are external too, so this is the common case, not only big models.
namespace {

constexpr std::uint64_t stand_in_bytes = 64 * 1024;

result<onnx::ModelProto> convertible_copy(model::impl& m, std::map<std::string, onnx::TensorProto>& stand_ins) {
  onnx::ModelProto copy = m.proto;
  for (auto& t : *copy.mutable_graph()->mutable_initializer()) {
    if (t.data_location() == onnx::TensorProto::EXTERNAL && onnx_io::expected_bytes(t) >= stand_in_bytes) {
      stand_ins.emplace(t.name(), t);
      t.clear_external_data();
      t.clear_data_location();
    }
  }
  result<void> status;
  onnx_io::for_each_tensor(*copy.mutable_graph(), [&](onnx::TensorProto& t, onnx_io::tensor_site) {
    if (!status || t.data_location() != onnx::TensorProto::EXTERNAL) return;
    auto view = onnx_io::view_of(t, m);
    if (!view) {
      status = unexpected_error{std::move(view).error()};
      return;
    }
    const auto bytes = view->bytes();
    t.clear_external_data();
    t.clear_data_location();
    t.set_raw_data(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  });
  if (!status) return unexpected_error{status.error()};
  return copy;
}

}  // namespace

result<void> upgrade_opset(graph_context& ctx, std::int64_t target) {
  auto& proto = ctx.model().proto;
  const std::int64_t from = default_opset(proto);
  std::map<std::string, onnx::TensorProto> stand_ins;
  auto copy = MQ_TRY(convertible_copy(ctx.model(), stand_ins));
  try {
    // Some adapters (Softmax 12->13) need tensor shapes: infer them on the copy first.
    onnx::ModelProto shaped = copy;
    try {
      onnx::shape_inference::InferShapes(shaped);
    } catch (const std::exception&) {
      shaped = copy;  // conversion may still work without shapes
    }
    onnx::ModelProto converted = onnx::version_conversion::ConvertVersion(shaped, static_cast<int>(target));
    for (auto& t : *converted.mutable_graph()->mutable_initializer()) {
      if (auto it = stand_ins.find(t.name()); it != stand_ins.end()) t = it->second;
    }
    proto.mutable_graph()->Swap(converted.mutable_graph());
    for (auto& imp : *proto.mutable_opset_import()) {
      if (imp.domain().empty() || imp.domain() == "ai.onnx") imp.set_version(target);
    }
  } catch (const std::exception& e) {
    std::string msg = e.what();
    if (auto nl = msg.find('\n'); nl != std::string::npos) msg.resize(nl);
    return fail(errc::unsupported, "ONNX's version converter could not take opset " + std::to_string(from) + " to " +
                                       std::to_string(target) + ": " + msg);
  }
  ctx.report().notes.push_back("converted the model from opset " + std::to_string(from) + " to " +
                               std::to_string(target) + " with ONNX's version converter (needed by the quantized ops)");
  return {};
}

namespace {

// The opset the integer ops need (DynamicQuantizeLinear: 11). Weight-only quantization needs no
// conversion: below 13 it is written with Cast and Mul.
std::int64_t needed_opset(const quantize_options& options, onnx::GraphProto& root) {
  if (options.format == quant_format::qdq) return 0;
  bool integer = false;
  onnx_io::for_each_graph(root, [&](onnx::GraphProto& g, int) {
    for (const auto& n : g.node()) {
      const bool matmul = n.op_type() == "MatMul";
      const bool integer_op = matmul || n.op_type() == "Gemm" || n.op_type() == "Conv";
      const bool uses_integer = options.format == quant_format::qoperator ? integer_op : matmul;
      integer = integer || (uses_integer && wanted(options, n));
    }
  });
  return integer ? 11 : 0;
}

result<void> validate(const quantize_options& options) {
  for (const auto& op : options.op_types) MQ_TRY_VOID(check_op_type(op));
  if (options.min_elements && *options.min_elements < 0) {
    return fail(errc::invalid_argument, "--min-elements must not be negative");
  }
  if (options.threads > max_threads) {
    return fail(errc::invalid_argument, "threads: " + std::to_string(options.threads) + " is over the limit of " +
                                            std::to_string(max_threads) + " (0 means one per core)");
  }
  return {};
}

// Weight SQNR under which a model's output is likely to be far from FP32. Measured on the shared
// models: every output that collapsed (mlsd, ppocr_v4_det, both silero models with --format qdq
// or qoperator: output cosine 0.00-0.68) had a weight under 22 dB; the auto format keeps every
// weight of them over 27 dB.
constexpr double coarse_sqnr_db = 25.0;

void warn_on_coarse_weights(quantize_report& report, const quantize_options& options) {
  const node_report* worst = nullptr;
  std::size_t count = 0;
  for (const auto& n : report.nodes) {
    if (!n.quantized || !std::isfinite(n.sqnr_db) || n.sqnr_db >= coarse_sqnr_db) continue;
    ++count;
    if (worst == nullptr || n.sqnr_db < worst->sqnr_db) worst = &n;
  }
  if (worst == nullptr) return;
  std::vector<std::string> tries;
  if (worst->granularity == "per-tensor") tries.push_back("--per-channel");
  if (min_elements(options) < 4096) tries.push_back("--min-elements 4096");
  if (options.format != quant_format::automatic) tries.push_back("--format auto (both)");
  tries.push_back("--exclude '" + worst->node + "'");
  std::string list;
  for (std::size_t i = 0; i < tries.size(); ++i) list += (i == 0 ? "" : i + 1 == tries.size() ? " or " : ", ") + tries[i];
  report.warnings.push_back(fmt::format(
      "the output may be far from FP32: {} under {:.0f} dB SQNR, worst node '{}' ({}) with weight '{}' at {:.1f} dB "
      "{}; try {}",
      count == 1 ? std::string("1 weight is") : std::to_string(count) + " weights are", coarse_sqnr_db, worst->node,
      worst->op_type, worst->weight, worst->sqnr_db, worst->granularity, list));
}

}  // namespace

std::int64_t min_elements(const quantize_options& options) {
  if (options.min_elements) return *options.min_elements;
  return options.format == quant_format::automatic ? 4096 : 0;
}

result<quantize_report> run(model::impl& impl, const quantize_options& options) {
  const auto start = std::chrono::steady_clock::now();
  MQ_TRY_VOID(validate(options));
  graph_context ctx(impl, options);
  auto& report = ctx.report();
  report.input_label = impl.input_name;
  report.options = describe(options);
  report.model_bytes_before = onnx_io::inline_size(impl);
  report.opset_before = default_opset(impl.proto);
  if (!impl.proto.metadata_props().empty()) {
    for (const auto& p : impl.proto.metadata_props()) {
      if (p.key() == "mq.version") report.notes.push_back("the model was already written by libmodelquant " + p.value());
    }
  }
  MQ_TRY_VOID(sort_nodes(impl.proto, report.notes));
  ctx.already_quantized = already_quantized(impl.proto);
  if (!ctx.already_quantized.empty()) {
    report.warnings.push_back("the model is already quantized (found " + ctx.already_quantized +
                              "); nothing was quantized again: quantize the FP32 model instead");
  }
  if (options.calibration && ctx.already_quantized.empty()) {
    // Static INT8: its own pipeline (calibration, placement, the accuracy guard, QDQ).
    MQ_TRY_VOID(quantize_static(ctx));
    MQ_TRY_VOID(check_runtime_support(impl.proto));
    MQ_TRY_VOID(check_qdq_fusion(impl.proto, options.calibration->activations == activation_type::uint8
                                                 ? onnx::TensorProto::UINT8
                                                 : onnx::TensorProto::INT8));
    for (const auto& n : report.nodes) (n.quantized ? report.quantized_count : report.skipped_count)++;
    report.opset_after = default_opset(impl.proto);
    report.model_bytes_after = onnx_io::inline_size(impl);
    report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return std::move(report);
  }
  const std::int64_t target = ctx.already_quantized.empty() ? needed_opset(options, *impl.proto.mutable_graph()) : 0;
  if (report.opset_before < target) {
    if (auto up = upgrade_opset(ctx, target); !up) {
      report.notes.push_back(up.error().message + "; nodes that need it stay in float");
    }
  }
  std::vector<scope_level> scopes{{impl.proto.mutable_graph(), "main"}};
  auto walked = process_graph(ctx, scopes, default_opset(impl.proto));
  // A failed quantization job belongs to a node the walk passed before it stopped, so its error
  // comes first, as when weights were quantized one after the other.
  MQ_TRY_VOID(finish_weights(ctx));
  if (!walked) return unexpected_error{walked.error()};
  remove_dead_weights(ctx);
  if (ctx.already_quantized.empty()) MQ_TRY_VOID(check_runtime_support(impl.proto));  // else unchanged
  for (const auto& n : report.nodes) (n.quantized ? report.quantized_count : report.skipped_count)++;
  warn_on_coarse_weights(report, options);
  report.opset_after = default_opset(impl.proto);
  report.model_bytes_after = onnx_io::inline_size(impl);
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return std::move(report);
}

result<quantize_report> run_guarded(model::impl& impl, const quantize_options& options);

}  // namespace passes

const std::vector<std::string>& quantizable_op_types() {
  static const std::vector<std::string> types = {"MatMul", "Gemm", "Conv", "ConvTranspose", "Gather"};
  return types;
}

result<void> check_op_type(std::string_view op_type) {
  const auto& supported = quantizable_op_types();
  if (std::find(supported.begin(), supported.end(), op_type) != supported.end()) return {};
  std::string list;
  for (const auto& s : supported) list += (list.empty() ? "" : ", ") + s;
  const std::string name(op_type);
  if (name.empty()) return fail(errc::invalid_argument, "empty op type (supported: " + list + ")");
  const std::string hint = util::did_you_mean(name, supported);
  if (hint.empty() && onnx::OpSchemaRegistry::Schema(name, "") != nullptr) {
    return fail(errc::invalid_argument, "op type '" + name + "' is an ONNX operator that libmodelquant does not quantize "
                                        "(supported: " + list + ")");
  }
  return fail(errc::invalid_argument, "unknown op type '" + name + "'" + hint + " (supported, case-sensitive: " + list + ")");
}

std::string describe(const quantize_options& o) {
  std::string s = "format=";
  s += o.format == quant_format::automatic ? "auto" : o.format == quant_format::qdq ? "qdq" : "qoperator";
  s += ";weight_type=";
  s += o.weights == weight_type::int8 ? "int8" : "uint8";
  s += ";symmetric=";
  const bool sym = o.symmetry == weight_symmetry::type_default ? o.weights == weight_type::int8
                                                               : o.symmetry == weight_symmetry::symmetric;
  s += sym ? "true" : "false";
  s += ";per_channel=" + std::string(o.per_channel ? "true" : "false");
  s += ";reduce_range=" + std::string(o.reduce_range ? "true" : "false");
  s += ";op_types=";
  for (std::size_t i = 0; i < o.op_types.size(); ++i) s += (i ? "," : "") + o.op_types[i];
  s += ";exclude=";
  for (std::size_t i = 0; i < o.exclude.size(); ++i) s += (i ? "," : "") + o.exclude[i];
  s += ";min_elements=" + std::to_string(passes::min_elements(o));
  s += ";graph_input_weights=" + std::string(o.graph_input_weights == initializer_inputs::keep ? "keep" : "constant");
  if (o.calibration) {
    const auto& c = *o.calibration;
    static const char* methods[] = {"minmax", "percentile", "entropy", "mse"};
    s += ";calibration=" + std::string(methods[static_cast<int>(c.method)]);
    s += ";calibration_count=" + std::to_string(c.count);
    s += ";activation_type=" + std::string(c.activations == activation_type::uint8 ? "uint8" : "int8");
  }
  if (o.target_snr_db != 25) s += ";target_snr_db=" + std::to_string(o.target_snr_db);
  return s;
}

result<quantize_report> quantize(model& m, const quantize_options& options) {
  auto& impl = m.internals();
  if (options.dry_run) {
    // The same work on a copy (the accuracy guard and the fallbacks too, so the report says what
    // a real run would write), leaving the caller's model untouched; the report is the product.
    model::impl copy;
    copy.proto = impl.proto;
    copy.label = impl.label;
    copy.input_name = impl.input_name;
    copy.source = impl.source;
    copy.base_dir = impl.base_dir;
    copy.self_location = impl.self_location;
    return passes::run_guarded(copy, options);
  }
  auto report = MQ_TRY(passes::run_guarded(impl, options));
  const bool untouched = std::any_of(report.warnings.begin(), report.warnings.end(),
                                     [](const std::string& n) { return n.rfind("the model is already quantized", 0) == 0; });
  if (untouched) return report;  // an already quantized model stays exactly as it was
  m.set_metadata("mq.version", version());
  m.set_metadata("mq.options", report.options);
  return report;
}

}  // namespace mq
