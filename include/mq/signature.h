// libmodelquant: the inputs and outputs a model declares (what an application must feed it).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mq/export.h"
#include "mq/model.h"
#include "mq/tensor.h"

namespace mq {

/// One graph input or output: its name, element type and shape.
struct value_info {
  std::string name;
  /// Element type in ONNX's spelling, lowercase: "float", "int64", "uint8", ... ("" when the
  /// value is not a tensor, e.g. a sequence).
  std::string type;
  /// Dimensions; -1 where the size is not fixed (symbolic or unknown). Empty for a scalar or
  /// when the model declares no shape (`has_shape` tells them apart).
  std::vector<std::int64_t> shape;
  /// Per dimension, the symbolic name ("batch", "N") or "" when the dimension is fixed/unknown.
  std::vector<std::string> dim_names;
  bool has_shape = false;
  /// `type` as a dtype (undefined when the value is not a tensor).
  mq::dtype element_type = mq::dtype::undefined;
};

/// The main graph's inputs that callers must feed (initializers listed as inputs excluded),
/// in declaration order.
MQ_API std::vector<value_info> graph_inputs(const model& m);

/// The main graph's outputs, in declaration order.
MQ_API std::vector<value_info> graph_outputs(const model& m);

}  // namespace mq
