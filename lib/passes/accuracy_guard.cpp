// The accuracy guard of dynamic `auto` (no calibration): the quantized model is run by the
// executor next to the FP32 one on seeded inputs; while the worst output is under the target,
// the quantized node that helps most when left in float (measured among the weakest weights) is
// excluded and the model quantized again from the FP32 original.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include "mq/quantize.h"
#include "onnx_io/model_impl.h"
#include "passes/static_int8.h"
#include "util/try.h"

namespace mq::passes {

result<quantize_report> run(model::impl& impl, const quantize_options& options);

namespace {

constexpr std::size_t guard_inputs = 4;   // seeded input sets
constexpr int max_steps = 8;              // binary-search steps (up to 256 nodes to the exact count)

std::string db(double v) {
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

}  // namespace

bool ranks_outputs(const onnx::GraphProto& g) {
  std::map<std::string, const onnx::NodeProto*> producer;
  for (const auto& n : g.node()) {
    for (const auto& o : n.output()) producer[o] = &n;
  }
  std::set<std::string> visited;
  std::vector<std::string> stack;
  for (const auto& o : g.output()) stack.push_back(o.name());
  while (!stack.empty()) {
    const std::string t = stack.back();
    stack.pop_back();
    if (!visited.insert(t).second) continue;
    const auto it = producer.find(t);
    if (it == producer.end()) continue;
    if (it->second->op_type() == "TopK") return true;
    for (const auto& in : it->second->input()) {
      if (!in.empty()) stack.push_back(in);
    }
  }
  return false;
}

std::string static_fallback_reason(const quantize_report& report, const quantize_options& options,
                                   const onnx::GraphProto& original) {
  if (!options.calibration) return {};
  if (report.int8_mac_share < options.calibration->min_int8_mac_share) {
    char share[64];
    std::snprintf(share, sizeof share, "%.0f%%", 100 * report.int8_mac_share);
    return std::string("static INT8 would run only ") + share +
           " of the multiply-adds in int8 (the rest stays float for speed or accuracy), so its conversions would cost "
           "what the int8 products save: quantized as auto without calibration instead";
  }
  if (options.target_snr_db > 0 && report.output_snr_db < options.target_snr_db && ranks_outputs(original)) {
    // Measured on deimv2 (TopK-ranked detections): at 11 dB on held-out photos its detections no
    // longer match FP32's (mAP50 0.22), while raw detector heads at that level still do (yolox).
    return "static INT8 reaches only " + db(report.output_snr_db) + " dB on the held-out samples (target " +
           db(options.target_snr_db) + " dB) and this model ranks its outputs itself (TopK), where such errors select "
           "other results: quantized as auto without calibration instead";
  }
  return {};
}

namespace {

// `auto` (no calibration) on impl, which holds `original` (the FP32 model), with its accuracy
// guard when a target is set.
result<quantize_report> run_auto(model::impl& impl, const quantize_options& given, const onnx::ModelProto& original) {
  if (!(given.target_snr_db > 0)) return run(impl, given);
  // The guard ranks the nodes by their weights' measured error: without it the order would be
  // the file's, and a caller that only saves the report's cost (mq-pull) would get other nodes
  // kept in float than mq-quantize does.
  quantize_options options = given;
  options.measure_error = true;
  quantize_report report = MQ_TRY(run(impl, options));
  const bool already = std::any_of(report.warnings.begin(), report.warnings.end(), [](const std::string& w) {
    return w.rfind("the model is already quantized", 0) == 0;
  });
  if (report.quantized_count == 0 || already) return report;

  // Random inputs pick arbitrary branches of input-dependent control flow (silero's sample-rate
  // If): what the guard would measure is not what the model runs. Real samples (--calibration)
  // are needed there.
  for (const auto& n : original.graph().node()) {
    if (n.op_type() == "If" || n.op_type() == "Loop" || n.op_type() == "Scan") {
      report.notes.push_back("accuracy guard skipped: the model branches on its inputs (" + n.op_type() +
                             "), which seeded random inputs do not represent; check it on real samples (mq-run --compare)");
      report.output_snr_db = std::numeric_limits<double>::quiet_NaN();
      return report;
    }
  }
  mq::model reference = model_around(impl, original);
  session_options so;
  so.threads = options.threads;
  so.fuse = false;
  auto probe = session::create(reference, so);
  if (!probe) {
    report.notes.push_back("accuracy guard skipped: the executor cannot run the model (" + probe.error().message + ")");
    report.output_snr_db = std::numeric_limits<double>::quiet_NaN();
    return report;
  }
  std::vector<std::map<std::string, tensor>> inputs;
  for (std::uint32_t seed = 0; seed < guard_inputs; ++seed) {
    input_options io;
    io.seed = seed;
    auto feeds = generate_inputs(*probe, io);
    if (!feeds) {
      report.notes.push_back("accuracy guard skipped: " + feeds.error().message);
      return report;
    }
    inputs.push_back(std::move(*feeds));
  }
  auto measure = [&](const onnx::ModelProto& candidate) -> result<double> {
    auto m = model_around(impl, candidate);
    auto r = MQ_TRY(measure_snr(reference, m, inputs, options.threads));
    return r.worst_db;
  };
  auto first = measure(impl.proto);
  if (!first) {
    report.notes.push_back("accuracy guard skipped: the executor cannot run the quantized model (" + first.error().message + ")");
    return report;
  }
  double worst = *first;
  report.guard_samples = inputs.size();
  std::vector<guard_step> steps;
  onnx::ModelProto best_proto = impl.proto;
  quantize_report best_report = report;
  if (worst < options.target_snr_db) {
    // The quantized nodes, weakest weight first (the SQNR each weight measured). The guard keeps
    // the k weakest in float, with the smallest k (binary search) whose worst output reaches the
    // target: errors of weight-only layers add up over many layers, so one node at a time would
    // take as many runs as there are layers.
    std::vector<const node_report*> order;
    for (const auto& n : report.nodes) {
      if (n.quantized) order.push_back(&n);
    }
    std::stable_sort(order.begin(), order.end(), [](const node_report* a, const node_report* b) {
      const double x = std::isnan(a->sqnr_db) ? 1e9 : a->sqnr_db, y = std::isnan(b->sqnr_db) ? 1e9 : b->sqnr_db;
      return x < y;
    });
    struct trial {
      double worst = 0;
      onnx::ModelProto proto;
      quantize_report report;
    };
    auto keep_float = [&](std::size_t k) -> result<trial> {
      quantize_options o = options;
      for (std::size_t i = 0; i < k; ++i) o.exclude.push_back(order[i]->node);
      model::impl fresh;
      fresh.proto = original;
      fresh.label = impl.label;
      fresh.input_name = impl.input_name;
      fresh.source = impl.source;
      fresh.base_dir = impl.base_dir;
      fresh.self_location = impl.self_location;
      auto r = MQ_TRY(run(fresh, o));
      const double w = MQ_TRY(measure(fresh.proto));
      return trial{w, std::move(fresh.proto), std::move(r)};
    };
    std::size_t lo = 0, hi = order.size();  // lo fails the target; hi (all float) is the fallback
    std::optional<trial> found;
    for (int step = 0; step < max_steps && hi - lo > 1; ++step) {
      const std::size_t mid = lo + (hi - lo) / 2;
      auto t = keep_float(mid);
      if (!t) break;
      if (t->worst >= options.target_snr_db) {
        hi = mid;
        found = std::move(*t);
      } else {
        lo = mid;
      }
    }
    if (!found && hi == order.size() && !order.empty()) {
      auto t = keep_float(hi);
      if (t) found = std::move(*t);
    }
    if (found) {
      for (std::size_t i = 0; i < hi; ++i) steps.push_back(guard_step{order[i]->node, order[i]->op_type, worst, found->worst});
      worst = found->worst;
      best_proto = std::move(found->proto);
      best_report = std::move(found->report);
    }
  }
  if (!steps.empty()) {
    impl.proto.Swap(&best_proto);
    for (auto& n : best_report.nodes) {
      for (const auto& st : steps) {
        if (n.node == st.node) {
          n.reason = "kept in float by the accuracy guard: its weight is among the " + std::to_string(steps.size()) +
                     " weakest, which together took the worst output from " + db(st.snr_before_db) + " to " +
                     db(st.snr_after_db) + " dB on seeded inputs";
        }
      }
    }
  }
  best_report.guard = std::move(steps);
  best_report.guard_samples = inputs.size();
  best_report.output_snr_db = worst;
  best_report.options = report.options;  // the user's options (the guard's exclusions are in the report)
  if (worst < options.target_snr_db) {
    best_report.notes.push_back("accuracy guard: the worst output is at " + db(worst) + " dB on seeded inputs, under the target of " +
                                db(options.target_snr_db) + " dB");
  }
  return best_report;
}

}  // namespace

result<quantize_report> run_guarded(model::impl& impl, const quantize_options& options) {
  const bool automatic = options.format == quant_format::automatic;
  if (!automatic || (!options.calibration && !(options.target_snr_db > 0))) return run(impl, options);
  // The FP32 original, the one copy the guard and the fallback re-quantize from.
  const onnx::ModelProto original = impl.proto;
  if (!options.calibration) return run_auto(impl, options, original);
  // Static INT8, unless too little of the work ends up in int8, or its guard cannot hold a model
  // that ranks its outputs: then `auto` without calibration (weights only for CNNs) from the FP32
  // original, with its own guard.
  quantize_report report = MQ_TRY(run(impl, options));
  const std::string why = static_fallback_reason(report, options, original.graph());
  if (why.empty()) return report;
  impl.proto = original;
  quantize_options dynamic = options;
  dynamic.calibration.reset();
  quantize_report fallback = MQ_TRY(run_auto(impl, dynamic, original));
  fallback.int8_mac_share = report.int8_mac_share;
  fallback.static_fallback = why;
  fallback.notes.insert(fallback.notes.begin(), fallback.static_fallback);
  return fallback;
}

}  // namespace mq::passes
