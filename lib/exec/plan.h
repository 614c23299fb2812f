// A graph planned for execution: values numbered into slots, nodes in a topological order (the
// file's order wherever it is valid), constants converted once, a kernel per node, and for every
// value the node after which nothing reads it (its buffer is released there).
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "exec/kernel.h"
#include "mq/model.h"
#include "mq/session.h"

namespace mq::exec {

struct planned_node {
  const onnx::NodeProto* proto = nullptr;
  std::string name;  // display name
  std::string op_type;
  std::vector<int> inputs;   // slot per input (explicit, then implicit); -1 = absent
  std::vector<int> outputs;  // slot per output; -1 = unnamed
  std::vector<int> release;  // slots nothing reads after this node
  std::vector<bool> last_read;  // per input: this node is the slot's last reader (and reads it once)
  std::unique_ptr<kernel> impl;
  bool removed = false;  // fused into another node
};

class graph_plan {
 public:
  std::string label;                      // "main", "main/If_0:then_branch"
  std::vector<std::string> slot_names;    // slot -> value name
  std::vector<tensor> constants;          // slot -> value when constant (else undefined)
  std::vector<int> inputs;                // formal inputs, in order
  std::vector<int> initializer_inputs;    // inputs that have an initializer (may be overridden)
  std::vector<int> outputs;               // graph outputs, in order
  std::vector<std::string> captured;      // values read from enclosing graphs, in slot order ...
  std::vector<int> capture_slots;         // ... and their slots here
  std::vector<planned_node> nodes;        // in execution order
  std::unordered_map<std::string, int> slot_of;

  int slot(const std::string& name) const {
    auto it = slot_of.find(name);
    return it == slot_of.end() ? -1 : it->second;
  }
};

/// A graph attribute planned for its node: the plan and, for each value it captures, the index of
/// the node's input (explicit inputs first, then implicit ones) that carries it.
struct subgraph {
  std::shared_ptr<graph_plan> plan;
  std::vector<std::size_t> capture_inputs;
};

/// Plans a graph. `outer` resolves names of enclosing graphs (null for the main graph).
class planner {
 public:
  struct options {
    bool fuse = true;
    std::set<std::string> keep;  // values that must stay observable (fetch)
  };

  planner(const mq::model::impl& model, options opts, const planner* outer, std::string label);

  /// The main graph of the model.
  static result<std::shared_ptr<graph_plan>> plan_model(const mq::model::impl& model, const options& opts);

  /// Plans `graph` (its formal inputs are the subgraph's parameters).
  result<std::shared_ptr<graph_plan>> plan(const onnx::GraphProto& graph);

  /// Called by node_info::plan_subgraph for the node being planned.
  result<std::shared_ptr<subgraph>> plan_attribute(const onnx::NodeProto& node, const std::string& node_name,
                                                   const onnx::GraphProto& graph, const std::string& attribute);

  /// The operator-set version this model imports for `domain`, or -1.
  std::int64_t opset(const std::string& domain) const;

  const mq::model::impl& model() const noexcept { return model_; }

 private:
  bool visible_outside(const std::string& name) const;

  const mq::model::impl& model_;
  options opts_;
  const planner* outer_;
  std::string label_;
  // While a graph is being planned: its names and the implicit inputs of the current node.
  const std::set<std::string>* defined_ = nullptr;
  std::vector<std::string>* implicit_ = nullptr;
};

/// Names a graph reads that it does not define (its free variables), subgraphs included.
std::set<std::string> free_variables(const onnx::GraphProto& graph);

/// Converts an ONNX tensor (inline, typed fields, external data) to an executor tensor: a view
/// of the model's bytes when they are laid out as the executor needs (aligned, contiguous), a
/// converted copy otherwise.
result<tensor> from_proto(const onnx::TensorProto& t, const mq::model::impl* model);

/// The output of a Constant node (any of its value attributes).
result<tensor> constant_value(const onnx::NodeProto& node, const std::string& display_name,
                              const mq::model::impl* model);

/// Runs a plan: `inputs` for its formal inputs (an undefined tensor keeps an initializer's value),
/// `captures` for its captured values. Observes main-graph values when `observer` is set.
result<std::vector<tensor>> execute(const graph_plan& plan, std::span<const tensor> inputs,
                                    std::span<const tensor* const> captures, const run_env& env,
                                    const mq::tensor_observer* observer = nullptr,
                                    std::map<std::string, tensor>* fetched = nullptr,
                                    const std::set<std::string>* fetch = nullptr);

/// Applies fusions to a planned graph (plan.cpp calls it when options.fuse is set).
void fuse_nodes(graph_plan& plan, const std::set<std::string>& keep);

}  // namespace mq::exec
