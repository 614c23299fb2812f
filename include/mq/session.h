// libmodelquant: running a model on the CPU (the native executor), for calibration and checks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "mq/export.h"
#include "mq/model.h"
#include "mq/result.h"
#include "mq/signature.h"
#include "mq/tensor.h"

namespace mq {

/// A tensor that owns its elements: type, shape and little-endian row-major bytes. A plain value
/// (copyable, movable); used for the inputs and outputs of `session::run`.
struct MQ_API tensor {
  mq::dtype type = mq::dtype::undefined;
  std::vector<std::int64_t> shape;  ///< empty for a scalar
  std::vector<std::byte> data;      ///< element_count() * element_size(type) bytes

  /// Product of the shape (1 for a scalar).
  std::int64_t element_count() const noexcept;

  /// A tensor of `shape` holding a copy of `values`; T is float, double, int8/16/32/64, uint8/16/32/64
  /// or bool. Aborts when the count does not match the shape (a programming error).
  template <class T>
  static tensor from(std::vector<std::int64_t> shape, std::span<const T> values);

  /// The elements as T (no conversion: T must be the tensor's own type, else an empty span).
  template <class T>
  std::span<const T> as() const noexcept;
};

/// A tensor as it is produced inside a run, shown to a `tensor_observer`. Valid only during the
/// call: copy what you need.
struct tensor_ref {
  const std::string& name;
  mq::dtype type;
  std::span<const std::int64_t> shape;
  std::span<const std::byte> data;

  template <class T>
  std::span<const T> as() const noexcept {
    if (type != dtype_of<T>()) return {};
    return {reinterpret_cast<const T*>(data.data()), data.size() / sizeof(T)};
  }
};

/// Called with every graph input and every node output of the main graph, in execution order, as
/// soon as it is computed (values inside If/Loop/Scan bodies are not shown). Returning an error
/// stops the run with it.
using tensor_observer = std::function<result<void>(const tensor_ref&)>;

/// Options of `session::create`.
struct session_options {
  /// Threads one run uses, the calling thread included: 0 = one per core the process may run on.
  unsigned threads = 1;
  /// Fuse nodes where that is exact up to rounding (a Conv and the activation after it, a
  /// BatchNormalization folded into the Conv before it). A fused-away intermediate value is not
  /// shown to observers and cannot be fetched; set false when every value must be seen.
  bool fuse = true;
};

/// One node's run time (run_options::profile).
struct node_time {
  std::string node;
  std::string op_type;
  double seconds = 0;
};

/// Options of one `session::run`.
struct run_options {
  /// Intermediate values (by name) to return besides the graph outputs.
  std::vector<std::string> fetch;
  /// Sees every value as it is produced (see `tensor_observer`).
  tensor_observer observer;
  /// Fail when a float output of any node holds NaN or +-inf, naming the node (default: allowed,
  /// as ONNX Runtime does).
  bool check_finite = false;
  /// When set, receives the time each main-graph node took (node name, op type, seconds), in
  /// execution order (subgraphs count in their node).
  std::vector<node_time>* profile = nullptr;
  /// When set, receives the largest total size of the main graph's intermediate values alive at
  /// once during the run (bytes; inputs and constants not counted).
  std::size_t* peak_live_bytes = nullptr;
};

/// A planned model, ready to run. Created once (topological order, constants, kernels, packed
/// weights), then run any number of times.
///
/// Thread safety: one run at a time per session (a session reuses its buffers between runs);
/// distinct sessions may run concurrently, also over the same model.
class MQ_API session {
 public:
  /// Plans `m` for execution. `m` must outlive the session and stay unchanged while it exists
  /// (constants are read in place). Errors name the node: an operator, version or attribute the
  /// executor does not implement (`errc::unsupported`, "unsupported operator GridSample (node
  /// '/dec/GridSample_3', opset 16)"), a node list with a cycle or a value read but never
  /// defined (`errc::invalid_model`).
  [[nodiscard]] static result<session> create(const model& m, const session_options& options = {});

  /// Loads the model file and plans it; the session keeps the model alive.
  [[nodiscard]] static result<session> load(const std::filesystem::path& path, const session_options& options = {});

  /// The graph's inputs (initializers listed as inputs excluded) and outputs, as declared
  /// (mq/signature.h; `element_type` is set for tensors).
  const std::vector<value_info>& inputs() const noexcept;
  const std::vector<value_info>& outputs() const noexcept;

  /// Runs the model on `inputs` (by name; every graph input must be given, with its declared type
  /// and a shape that fits the declared one). Returns every graph output by name, plus the values
  /// named in `options.fetch`. Errors name the input or node: a missing or unknown input, a type or
  /// shape that does not fit (`errc::invalid_argument`), a kernel that cannot run on the shapes it
  /// gets (`errc::invalid_argument`, e.g. "node 'add_3' (Add): shapes [2,3] and [4] do not
  /// broadcast").
  [[nodiscard]] result<std::map<std::string, tensor>> run(const std::map<std::string, tensor>& inputs,
                                                         const run_options& options = {});

  session(session&&) noexcept;
  session& operator=(session&&) noexcept;
  ~session();

  struct impl;

 private:
  explicit session(std::unique_ptr<impl> state);
  std::unique_ptr<impl> impl_;
};

/// Options of `generate_inputs`.
struct input_options {
  std::uint32_t seed = 0;
  /// Values for open dimensions, by their symbolic name ("batch" = 1). Open dimensions not named
  /// here: 1 for the first dimension, 320 in a 4-D input (an image side), 512 elsewhere.
  std::map<std::string, std::int64_t> dims;
};

/// Deterministic inputs for every graph input of `s`: floats uniform in [-1, 1), except inputs whose
/// name contains "state" (recurrent states), which are zeros; bools uniform in {0, 1}; integers
/// uniform in [0, 256) (or the type's range when narrower). Each input has its own stream
/// (mulberry32 seeded with fnv1a32(name) ^ seed * 0x9E3779B9; a float is low + (u32 / 2^32) *
/// (high - low) in float32), the rule tests/e2e's harness uses, so the same seed gives the same
/// values there. Errors: an input of a type it cannot make (`errc::unsupported`).
[[nodiscard]] MQ_API result<std::map<std::string, tensor>> generate_inputs(const session& s, const input_options& options = {});

extern template MQ_API tensor tensor::from<float>(std::vector<std::int64_t>, std::span<const float>);
extern template MQ_API tensor tensor::from<double>(std::vector<std::int64_t>, std::span<const double>);
extern template MQ_API tensor tensor::from<std::int8_t>(std::vector<std::int64_t>, std::span<const std::int8_t>);
extern template MQ_API tensor tensor::from<std::uint8_t>(std::vector<std::int64_t>, std::span<const std::uint8_t>);
extern template MQ_API tensor tensor::from<std::int16_t>(std::vector<std::int64_t>, std::span<const std::int16_t>);
extern template MQ_API tensor tensor::from<std::uint16_t>(std::vector<std::int64_t>, std::span<const std::uint16_t>);
extern template MQ_API tensor tensor::from<std::int32_t>(std::vector<std::int64_t>, std::span<const std::int32_t>);
extern template MQ_API tensor tensor::from<std::uint32_t>(std::vector<std::int64_t>, std::span<const std::uint32_t>);
extern template MQ_API tensor tensor::from<std::int64_t>(std::vector<std::int64_t>, std::span<const std::int64_t>);
extern template MQ_API tensor tensor::from<std::uint64_t>(std::vector<std::int64_t>, std::span<const std::uint64_t>);
extern template MQ_API tensor tensor::from<bool>(std::vector<std::int64_t>, std::span<const bool>);

template <class T>
std::span<const T> tensor::as() const noexcept {
  if constexpr (std::is_same_v<T, bool>) {
    if (type != mq::dtype::boolean) return {};
  } else {
    if (type != dtype_of<T>()) return {};
  }
  return {reinterpret_cast<const T*>(data.data()), data.size() / sizeof(T)};
}

}  // namespace mq
