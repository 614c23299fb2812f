// libmodelquant: quantizing a model's weights, and the per-node report.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mq/calibration.h"
#include "mq/export.h"
#include "mq/model.h"
#include "mq/result.h"

namespace mq {

/// Which graph form the quantized nodes take.
enum class quant_format {
  /// Per op, the form that runs best in ONNX Runtime's CPU provider: MatMul as dynamic integer ops
  /// per column (qoperator), Gather of a constant table in ONNX Runtime's form (8-bit table,
  /// DequantizeLinear of the gathered rows), Conv, ConvTranspose and Gemm weight-only per channel
  /// written as Cast(int8) * scale, which ONNX Runtime folds at load (report format "weight-only").
  automatic,
  /// ONNX Runtime's dynamic form: DynamicQuantizeLinear + MatMulInteger/ConvInteger + Cast + Mul
  /// (ConvTranspose, which has no integer op, weight-only), Gather as in `automatic`.
  qoperator,
  /// Weight-only: int8/uint8 initializer + DequantizeLinear feeding the original float op.
  qdq,
};

/// Integer type of quantized weights.
enum class weight_type { int8, uint8 };

/// Whether weight ranges are symmetric around zero.
enum class weight_symmetry {
  type_default,  ///< like ONNX Runtime: symmetric for int8, asymmetric for uint8
  symmetric,
  asymmetric,
};

/// What to do with initializers that are also listed as graph inputs (exporters before IR 4).
enum class initializer_inputs {
  treat_as_constant,  ///< quantize them and drop them from the inputs, as ONNX Runtime's quantizer does
  keep,               ///< leave them alone: callers may override them at run time
};

/// How calibration turns the activations seen into a range (names as ONNX Runtime's
/// CalibrationMethod; default MinMax as in its quantize_static).
enum class calibration_method {
  minmax,      ///< the smallest and largest value seen
  percentile,  ///< the range keeping 99.999% of the values (two-sided), from a histogram
  entropy,     ///< the range minimizing the KL divergence of the 8-bit histogram (TensorRT's)
  mse,         ///< the clip range minimizing the expected squared quantization error
};

/// Integer type of static activations: uint8 asymmetric is what ONNX Runtime fuses on x86;
/// int8 is for ARM targets (where ONNX Runtime runs S8S8 kernels).
enum class activation_type { uint8, int8 };

/// Progress of a static quantization: calibration passes, then the accuracy guard.
struct calibration_progress {
  std::string stage;        ///< "calibrating", "histograms", "checking accuracy"
  std::size_t done = 0;
  std::size_t total = 0;
  double seconds = 0;       ///< since the stage started
};

/// Static INT8: activations calibrated on real samples, written as QDQ that ONNX Runtime fuses
/// into QLinearConv / QLinearMatMul / QLinearAdd / ... (names and defaults follow ONNX Runtime's
/// quantize_static).
struct calibration_options {
  calibration_data data;
  calibration_method method = calibration_method::minmax;
  /// Samples used (in file order), 0 = all, at most max_count. With the accuracy guard on, a quarter
  /// of them (1 to 8), spread evenly over that order, is held out from the statistics and used by
  /// the guard.
  std::size_t count = 0;
  static constexpr std::size_t max_count = 1000000;
  /// Static INT8 pays only when int8 runs most of the work: below this share of the products'
  /// multiply-adds (quantize_report::int8_mac_share, after the accuracy guard), the Q/DQ
  /// conversions around the few int8 nodes cost what they save (blazeface: 13% in int8, 1.10x
  /// FP32 latency), and the model is quantized as `auto` without calibration instead
  /// (quantize_report::static_fallback says so). Measured on the shared CNNs: 13% and 32% (the
  /// slower or broken ones) against 78% to 99% (0.34x to 0.85x FP32). 0 keeps static INT8 always.
  double min_int8_mac_share = 0.5;
  activation_type activations = activation_type::uint8;
  /// Called as calibration advances (may be empty).
  std::function<void(const calibration_progress&)> on_progress;
};

/// Options of `mq::quantize`; names follow ONNX Runtime's quantize_dynamic.
/// Plain values (like every struct here): safe to share between threads while none modifies it.
struct quantize_options {
  quant_format format = quant_format::automatic;
  weight_type weights = weight_type::int8;
  weight_symmetry symmetry = weight_symmetry::type_default;
  bool per_channel = false;   ///< one scale per output channel (always, for every op, in `automatic`)
  bool reduce_range = false;  ///< 7-bit weights, for CPUs without VNNI that can overflow int16 sums
  /// Operator types to quantize, from quantizable_op_types(); empty means all of them.
  std::vector<std::string> op_types;
  /// Node names (or globs with * and ?) to leave in float.
  std::vector<std::string> exclude;
  /// Weights with fewer elements stay in float. Unset: 4096 for `automatic` (small weights, such
  /// as depthwise, first and last layers, save little and are the most sensitive to int8 error:
  /// mlsd's line scores keep output cosine 0.91 instead of 0.19 on the test harness's line
  /// drawings, tests/e2e/model_inputs.json, seeds 1234-1241), 0 for the explicit formats, as in
  /// ONNX Runtime's quantizer.
  std::optional<std::int64_t> min_elements;
  initializer_inputs graph_input_weights = initializer_inputs::treat_as_constant;
  /// Only build the report; the model is not changed.
  bool dry_run = false;
  /// Measure every quantized weight's error (node_report::sqnr_db). It is summed in float64 inside
  /// the quantize pass, about a tenth of a run on a large model with the default (SSE2) build. Off:
  /// sqnr_db is NaN, except where the accuracy guard of `auto` runs: it ranks nodes by that error,
  /// so it measures it anyway. The model written is the same either way (and so is describe()).
  bool measure_error = true;
  /// Threads that quantize weights, the calling thread included, at most `max_threads`: 1 (the
  /// default) quantizes on the calling thread only; 0 uses one per core the process may run on.
  /// Weights are independent, so the model and the report are the same whatever the count; only
  /// the time changes. The weights in flight hold at most about 1 GiB besides the model (one
  /// weight may exceed it alone).
  unsigned threads = 1;
  /// Static INT8 (calibrated activations) with format `automatic` wherever ONNX Runtime fuses it;
  /// unset: weights only / dynamic, as above.
  std::optional<calibration_options> calibration;
  /// The accuracy guard of `automatic`: the model is run (by libmodelquant's executor) in float and
  /// quantized on held-out samples (static) or seeded inputs (dynamic), and while the worst
  /// output's SNR is under this many dB, the most sensitive remaining quantized node (measured)
  /// goes back to float. 0 turns the guard off; at most max_target_snr_db.
  double target_snr_db = 25;
  static constexpr double max_target_snr_db = 200;
};

/// The operator types quantize_options::op_types may name (case-sensitive, as in ONNX). The
/// default (an empty op_types) is all of them.
MQ_API const std::vector<std::string>& quantizable_op_types();

/// Checks one entry of quantize_options::op_types: `errc::invalid_argument` for a name that is
/// not in quantizable_op_types(), saying whether it is an ONNX operator without a quantized form
/// here (LSTM) and suggesting the nearest supported name ("matmul": did you mean 'MatMul'?).
/// mq::quantize, mq-quantize and the C API all check op types with it.
[[nodiscard]] MQ_API result<void> check_op_type(std::string_view op_type);

/// The largest quantize_options::threads accepted.
inline constexpr unsigned max_threads = 1024;

/// What happened to one candidate node.
struct node_report {
  std::string graph;     ///< "main", or the subgraph path ("main/If_0:then_branch")
  std::string node;      ///< node name (or "<op>#<index>" when the node has none)
  std::string op_type;
  bool quantized = false;
  std::string format;    ///< when quantized: "qoperator" (integer ops, or a Gather's 8-bit table),
                         ///< "qdq" (DequantizeLinear) or "weight-only" (Cast * scale, auto)
  std::string reason;    ///< why it was skipped, or a note on what was done
  std::string weight;    ///< the weight tensor's name
  std::vector<std::int64_t> weight_shape;
  std::string granularity;  ///< "per-tensor" or "per-channel(axis=N)"
  std::uint64_t bytes_before = 0;  ///< weight bytes in the input model
  std::uint64_t bytes_after = 0;   ///< quantized weight + scales + zero points
  double sqnr_db = 0;              ///< weight signal-to-quantization-noise ratio (dB); +inf when
                                   ///< lossless, NaN when not measured (measure_error off)
};

/// One calibrated activation of a static INT8 model.
struct activation_report {
  std::string tensor;
  float min = 0;   ///< the range calibration picked (the method's, not always the extremes)
  float max = 0;
  float scale = 0;
  std::int32_t zero_point = 0;
  std::string shares;  ///< the tensor whose parameters it reuses (data-movement ops), or ""
};

/// One decision of the accuracy guard: a node put back to float, with the worst output SNR
/// (dB, on the held-out samples) before and after.
struct guard_step {
  std::string node;
  std::string op_type;
  double snr_before_db = 0;
  double snr_after_db = 0;
};

/// The result of one `mq::quantize` call.
struct quantize_report {
  std::string input_label;
  std::vector<node_report> nodes;
  std::size_t quantized_count = 0;
  std::size_t skipped_count = 0;
  std::uint64_t model_bytes_before = 0;  ///< serialized size before (inline data)
  std::uint64_t model_bytes_after = 0;
  double seconds = 0;
  std::int64_t opset_before = 0;
  std::int64_t opset_after = 0;
  std::vector<std::string> notes;  ///< model-level remarks (opset converted, already quantized, ...)
  /// What the user should act on, one line each: weights quantized so coarsely that the model's
  /// output may be far from FP32 (naming the node and what to try), an already quantized model.
  std::vector<std::string> warnings;
  std::string options;             ///< the options, as written into the model's metadata
  // Static INT8 (options.calibration) and the accuracy guard:
  std::string calibration_method;  ///< "minmax", ... ("" without calibration)
  std::size_t calibration_samples = 0;  ///< samples the statistics come from
  std::size_t guard_samples = 0;        ///< held-out samples (or seeded inputs) the guard ran on
  std::vector<activation_report> activations;
  std::vector<guard_step> guard;
  /// The worst output SNR of the final model against FP32 on the guard's samples (NaN when the
  /// guard did not run).
  double output_snr_db = 0;
  /// Static INT8: the share of the multiply-adds of the products with a constant weight (Conv,
  /// ConvTranspose, MatMul, Gemm; sizes from the calibration samples) that run in int8, 0..1
  /// (NaN without static INT8 or without such products).
  double int8_mac_share = std::numeric_limits<double>::quiet_NaN();
  /// Why static INT8 was given up and the model quantized as `auto` without calibration (its
  /// int8 share under calibration_options::min_int8_mac_share); empty when it was not.
  std::string static_fallback;
};

/// Quantizes the model's weights in place. Nodes that cannot be quantized are left in float
/// with the reason in the report. Errors: invalid options (`errc::invalid_argument`), weights
/// with NaN/Inf (`errc::numeric`, naming the tensor), a result ONNX Runtime could not run
/// (`errc::internal`). On error the model may be partly rewritten: do not save it.
///
/// Thread safety: distinct models may be quantized on different threads at the same time (the
/// library has no shared mutable state); one model must not be used by another thread while it
/// is being quantized. `options` is only read. `to_table`, `to_json` and `describe` only read
/// their argument and may run concurrently.
[[nodiscard]] MQ_API result<quantize_report> quantize(model& m, const quantize_options& options);

/// The report as a text table with totals, for people.
MQ_API std::string to_table(const quantize_report& report);

/// A byte count as the report and the tools print it: "950 B", "12.3 kB", "25.2 MB", "2.1 GB"
/// (kB, MB, GB are powers of 1000).
MQ_API std::string format_bytes(std::uint64_t bytes);

/// The report as one JSON object, for programs.
MQ_API std::string to_json(const quantize_report& report);

/// The options in the canonical text form written into `metadata_props` ("mq.options").
MQ_API std::string describe(const quantize_options& options);

}  // namespace mq
