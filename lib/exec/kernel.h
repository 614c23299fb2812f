// What an operator implementation sees: at plan time a `node_info` (attributes, constant inputs,
// the operator version in effect), from which its factory makes a `kernel`; at run time a
// `run_context` (the input tensors, outputs to set, the session's threads and buffers).
//
// Every kernel follows the ONNX operator spec for the versions it accepts and refuses the rest:
// an attribute it does not know, an attribute value it does not implement, an input type it
// does not handle are `errc::unsupported` errors at plan time (or at run time when only the
// shapes or types tell), never a silently wrong answer.
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "exec/tensor.h"
#include "exec/thread_pool.h"
#include "mq/session.h"
#include "mq/result.h"

namespace mq::exec {

class graph_plan;
struct subgraph;
class planner;
class run_context;

/// The element-type name ONNX uses in messages ("float", "int64", ...).
std::string type_name(mq::dtype type);

/// A kernel: one node's computation, prepared once and run any number of times. `run` may be
/// called again before an earlier call's outputs are released, and never concurrently.
class kernel {
 public:
  virtual ~kernel() = default;
  virtual result<void> run(run_context& ctx) = 0;
  /// True when the kernel took what it needs of constant input `i` at plan time (packed weights)
  /// and never reads it when it runs: a constant only such kernels read is dropped from the plan.
  virtual bool consumes_constant(std::size_t i) const noexcept {
    (void)i;
    return false;
  }
  /// Called once planning (fusion included) is over: a kernel may drop what only planning needed.
  virtual void finish_planning() noexcept {}
};

/// A kernel made from a lambda (or any callable taking run_context&).
template <class F>
class lambda_kernel final : public kernel {
 public:
  explicit lambda_kernel(F f) : f_(std::move(f)) {}
  result<void> run(run_context& ctx) override { return f_(ctx); }

 private:
  F f_;
};

template <class F>
std::unique_ptr<kernel> make_kernel(F f) {
  return std::make_unique<lambda_kernel<F>>(std::move(f));
}

/// A node as its kernel factory sees it at plan time.
class node_info {
 public:
  node_info(const onnx::NodeProto& proto, std::string display_name, std::int64_t opset, std::int64_t since_version,
            std::vector<const tensor*> constant_inputs, planner* owner);

  const onnx::NodeProto& proto() const noexcept { return proto_; }
  const std::string& op_type() const noexcept { return proto_.op_type(); }
  const std::string& domain() const noexcept { return proto_.domain(); }
  /// The node's name, or "<op>#<index>" when it has none.
  const std::string& name() const noexcept { return name_; }
  /// The version of the node's operator set that the model imports.
  std::int64_t opset() const noexcept { return opset_; }
  /// The operator's version in effect at that opset (the spec's `since_version`, e.g. 13 for
  /// Softmax in a model of opset 16). Kernels branch on this for semantics that changed.
  std::int64_t since_version() const noexcept { return since_version_; }

  /// Inputs as written (trailing absent ones dropped); `has_input` is false for an empty name.
  std::size_t input_count() const noexcept { return static_cast<std::size_t>(proto_.input_size()); }
  bool has_input(std::size_t i) const noexcept;
  std::size_t output_count() const noexcept { return static_cast<std::size_t>(proto_.output_size()); }
  bool has_output(std::size_t i) const noexcept;
  /// The input's value when it is a constant known at plan time (an initializer or the output of
  /// a Constant node), else null.
  const tensor* constant_input(std::size_t i) const noexcept;

  bool has_attribute(std::string_view name) const noexcept;
  const onnx::AttributeProto* attribute(std::string_view name) const noexcept;
  std::int64_t attr_int(std::string_view name, std::int64_t fallback) const noexcept;
  float attr_float(std::string_view name, float fallback) const noexcept;
  std::string attr_string(std::string_view name, std::string fallback = {}) const;
  std::vector<std::int64_t> attr_ints(std::string_view name) const;
  std::vector<float> attr_floats(std::string_view name) const;
  std::vector<std::string> attr_strings(std::string_view name) const;
  /// A tensor attribute converted to an executor tensor (owning its copy).
  result<tensor> attr_tensor(std::string_view name) const;

  /// Fails with `errc::unsupported` when the node has an attribute not in `known` (the kernel
  /// would otherwise ignore something that changes the result).
  result<void> only_attributes(std::initializer_list<std::string_view> known) const;

  /// Plans a graph attribute (If branches, Loop and Scan bodies) as a subgraph of this node.
  /// Values it reads from enclosing graphs become implicit inputs of this node.
  result<std::shared_ptr<subgraph>> plan_subgraph(std::string_view attribute_name);

  /// "node 'conv_1' (Conv)": how errors name this node.
  std::string label() const;
  /// An `errc::unsupported` error: "unsupported <what> (node 'n', Op, opset N)".
  unexpected_error unsupported(const std::string& what) const;
  /// An `errc::invalid_model` error: "node 'n' (Op): <what>".
  unexpected_error invalid(const std::string& what) const;

 private:
  const onnx::NodeProto& proto_;
  std::string name_;
  std::int64_t opset_;
  std::int64_t since_version_;
  std::vector<const tensor*> constant_inputs_;
  planner* owner_;
};

/// Makes a node's kernel. Errors: `node.unsupported(...)` / `node.invalid(...)`.
using kernel_factory = std::function<result<std::unique_ptr<kernel>>(node_info& node)>;

/// The operator table. Each family of operators registers itself (ops/*.cpp).
class op_registry {
 public:
  /// Registers `op` of `domain` ("" for ONNX). `first_version` is the earliest version of the
  /// operator's spec (its since_version) the factory implements; for opsets whose version in
  /// effect is older, the node is unsupported.
  void add(std::string_view op, kernel_factory factory, std::int64_t first_version = 1, std::string_view domain = "");

  struct entry {
    std::string domain;
    std::string op;
    std::int64_t first_version;
    kernel_factory factory;
  };
  const entry* find(std::string_view domain, std::string_view op) const noexcept;
  /// Every registered operator, sorted (for listings and tests).
  std::vector<const entry*> all() const;

 private:
  std::vector<entry> entries_;
};

/// The registry with every operator the executor implements (built once, thread-safe).
const op_registry& operators();

/// What every node of one run shares.
struct run_env {
  thread_pool& pool;
  std::shared_ptr<buffer_pool> buffers;
  bool check_finite = false;  // fail when a node makes NaN/inf out of finite inputs
  int depth = 0;              // subgraph nesting, bounded against runaway recursion
  std::vector<mq::node_time>* profile = nullptr;  // main graph only
  std::size_t* peak_live_bytes = nullptr;         // main graph only
};

/// One node's inputs and outputs while it runs.
class run_context {
 public:
  run_context(const std::string& node_name, const std::string& op_type, std::span<const tensor* const> inputs,
              std::span<tensor* const> takeable, std::span<tensor> outputs, const run_env& env);

  /// Inputs as the node lists them, then its implicit inputs (values its subgraphs read from
  /// enclosing graphs). Null for an absent optional input.
  std::size_t input_count() const noexcept { return inputs_.size(); }
  const tensor* input(std::size_t i) const noexcept { return i < inputs_.size() ? inputs_[i] : nullptr; }
  bool has_input(std::size_t i) const noexcept { return input(i) != nullptr; }
  /// A present input (callers check has_input for optional ones).
  const tensor& in(std::size_t i) const noexcept { return *inputs_[i]; }

  std::size_t output_count() const noexcept { return outputs_.size(); }
  /// Sets output i (ignored when the node leaves that output unnamed).
  void set_output(std::size_t i, tensor t) noexcept {
    if (i < outputs_.size()) outputs_[i] = std::move(t);
  }

  /// A new tensor from the session's buffers; fails (naming the node) when out of memory.
  result<tensor> allocate(mq::dtype type, shape_t shape) const;
  result<tensor> allocate_zeros(mq::dtype type, shape_t shape) const;
  /// Input i's storage for a result of the same byte size when this node is its last reader and
  /// nothing else holds it (the input tensor then becomes empty); otherwise a new tensor.
  result<tensor> reuse_or_allocate(std::size_t i, mq::dtype type, shape_t shape);

  thread_pool& pool() const noexcept { return env_.pool; }
  const std::shared_ptr<buffer_pool>& buffers() const noexcept { return env_.buffers; }

  /// "node 'n' (Op)".
  std::string label() const;
  /// `errc::invalid_argument` naming the node: shapes that do not fit, indices out of range.
  unexpected_error fail(const std::string& what) const;
  /// `errc::unsupported` naming the node (a type or value only known at run time).
  unexpected_error unsupported(const std::string& what) const;

  /// Runs a planned subgraph (If/Loop/Scan) with `inputs` (its formal inputs, in order) and this
  /// node's implicit inputs; returns its outputs in order.
  result<std::vector<tensor>> run_subgraph(const subgraph& graph, std::vector<tensor> inputs) const;

 private:
  const std::string& node_name_;
  const std::string& op_type_;
  std::vector<const tensor*> inputs_;
  std::vector<std::unique_ptr<tensor>> ghosts_;  // inputs whose storage a result took over
  std::span<tensor* const> takeable_;  // per input: the slot that may be taken over, or null
  std::span<tensor> outputs_;
  const run_env& env_;
};

}  // namespace mq::exec
