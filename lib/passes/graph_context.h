// Shared state of one quantization run: scopes for constant lookup, unique names, caches of
// quantized weights and activations, and the report being built. Passes read it in match() and
// change the model only in apply().
#pragma once

#include <onnx/onnx_pb.h>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_set>
#include <vector>

#include "mq/quantize.h"
#include "onnx_io/model_impl.h"
#include "passes/weight_jobs.h"
#include "quant/quant.h"

namespace mq::passes {

/// One graph on the path from the main graph to the graph being rewritten.
struct scope_level {
  onnx::GraphProto* graph = nullptr;
  std::string label;  // "main", "main/If_3:then_branch"
};

/// A constant weight found for a node input.
struct weight_source {
  std::string name;                  // tensor name (initializer or Constant output)
  const onnx::TensorProto* tensor = nullptr;
  onnx::GraphProto* owner = nullptr; // graph that holds the initializer / Constant node
  bool from_constant_node = false;
  bool is_graph_input = false;       // initializer also listed in owner's inputs
  std::string through_cast;          // output of a Cast(to=float) between weight and node
};

/// Names of a quantized weight's tensors.
struct quantized_names {
  std::string data, scale, zero_point;
  std::vector<std::int64_t> scale_dims;
  std::uint64_t bytes = 0;         // data + scales + zero points
  std::size_t job = 0;             // the weight_jobs job that computes them (and the SQNR)
};

/// A quantized weight's three initializers, added to their graph during the walk and filled in
/// by finish_weights once its job is done.
struct pending_weight {
  std::size_t job = 0;
  onnx::TensorProto* data = nullptr;  // elements of a RepeatedPtrField: their addresses are stable
  onnx::TensorProto* scale = nullptr;
  onnx::TensorProto* zero_point = nullptr;
  std::string node, op_type;          // the first node that uses the weight, for error messages
};

/// Names produced by DynamicQuantizeLinear for one activation.
struct dynamic_names {
  std::string data, scale, zero_point;
};

class graph_context {
 public:
  graph_context(mq::model::impl& m, const quantize_options& options);

  mq::model::impl& model() noexcept { return model_; }
  const quantize_options& options() const noexcept { return options_; }
  quantize_report& report() noexcept { return report_; }

  /// A name not used anywhere in the model (nor handed out before), starting from `base`.
  std::string unique_name(const std::string& base);

  /// Finds the constant behind `value` as seen from the innermost scope; nullopt when the value
  /// is computed at run time (or shadowed by a graph input / node output).
  std::optional<weight_source> find_weight(const std::vector<scope_level>& scopes, const std::string& value) const;

  /// A zero-copy view of a weight's stored values.
  result<tensor_view> weight_view(const weight_source& w) const;

  /// Caches: a weight quantized with a given layout key is stored once and shared.
  std::map<std::string, quantized_names> quantized_weights;
  /// (graph, activation) -> DynamicQuantizeLinear outputs already emitted in that graph.
  std::map<std::pair<const onnx::GraphProto*, std::string>, dynamic_names> dynamic_inputs;
  /// (graph, weight key) -> DequantizeLinear output already emitted in that graph.
  std::map<std::pair<const onnx::GraphProto*, std::string>, std::string> dequantized;
  /// Weights that were replaced (candidates for removal once nothing reads them any more).
  std::set<std::string> replaced_weights;
  /// Graph-input names dropped because their initializer was quantized.
  std::set<std::string> dropped_inputs;
  /// Quantized weights whose values are still being computed, in submission order.
  std::vector<pending_weight> pending_weights;
  /// The job behind the weight of the node being rewritten (set by store_weight), and for each
  /// quantized node (index in report().nodes) that job: its SQNR goes into the report at the end.
  std::optional<std::size_t> node_weight_job;
  std::vector<std::pair<std::size_t, std::size_t>> node_jobs;
  /// Set when the model is already quantized (what was found): every candidate is skipped.
  std::string already_quantized;
  /// Quantizes weights on quantize_options::threads threads. A job reads the model (which
  /// outlives this context) and buffers it owns.
  weight_jobs jobs;

 private:
  mq::model::impl& model_;
  const quantize_options& options_;
  quantize_report report_;
  std::unordered_set<std::string> names_;
};

/// Adds a node to `nodes`.
onnx::NodeProto& add_node(std::vector<onnx::NodeProto>& nodes, const std::string& op, const std::string& name,
                          std::vector<std::string> inputs, std::vector<std::string> outputs);

/// Integer attribute value, or `fallback`.
std::int64_t int_attribute(const onnx::NodeProto& node, const std::string& name, std::int64_t fallback);
/// Float attribute value, or `fallback`.
float float_attribute(const onnx::NodeProto& node, const std::string& name, float fallback);

/// The weight-size floor in effect: the option, or the format's default (4096 for automatic).
std::int64_t min_elements(const quantize_options& options);

/// Display name of a node: its name, or "<op>#<index>" for unnamed nodes.
std::string display_name(const onnx::NodeProto& node, int index);

/// Quantization parameters for weights under `options`, per tensor or along `axis`.
quant::weight_options weight_options_for(const quantize_options& options, bool per_channel, int axis);

/// Adds a quantized weight's three initializers (data `dims`, scale and zero point
/// `scale_shape`, or a scalar zero point) to `owner`, named after `base`, and records them as
/// pending on `job`; `r` is the node that asked, named if the job fails. Returns their names.
quantized_names declare_quantized(graph_context& ctx, onnx::GraphProto& owner, const std::string& base,
                                  std::vector<std::int64_t> dims, const std::vector<std::int64_t>& scale_shape,
                                  bool scalar_zero_point, std::size_t job, const node_report& r, quant::qtype type);

/// Waits for every quantization job and writes the results into their initializers (the
/// quantized bytes move, they are not copied) and the SQNR into the report. The first failed job
/// in walk order is the error, as if the weights had been quantized one after the other.
result<void> finish_weights(graph_context& ctx);

}  // namespace mq::passes
