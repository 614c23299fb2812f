// graph_inputs / graph_outputs: the model's declared interface, read from the protobuf.
#include "mq/signature.h"

#include <onnx/onnx_pb.h>

#include <cctype>
#include <set>

#include "onnx_io/model_impl.h"

namespace mq {
namespace onnx_io {

value_info describe_value(const onnx::ValueInfoProto& v) {
  value_info out;
  out.name = v.name();
  if (!v.has_type() || !v.type().has_tensor_type()) return out;
  const auto& tensor = v.type().tensor_type();
  std::string type = onnx::TensorProto_DataType_Name(tensor.elem_type());
  for (char& c : type) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  out.type = type;
  out.element_type = static_cast<dtype>(tensor.elem_type());
  if (!tensor.has_shape()) return out;
  out.has_shape = true;
  for (const auto& dim : tensor.shape().dim()) {
    out.shape.push_back(dim.has_dim_value() ? dim.dim_value() : -1);
    out.dim_names.push_back(dim.has_dim_param() ? dim.dim_param() : std::string());
  }
  return out;
}

}  // namespace onnx_io

using onnx_io::describe_value;

std::vector<value_info> graph_inputs(const model& m) {
  std::lock_guard lock(m.internals().const_access);  // a const use of the model (see model.h)
  const auto& graph = m.internals().proto.graph();
  std::set<std::string> initializers;
  for (const auto& init : graph.initializer()) initializers.insert(init.name());
  std::vector<value_info> out;
  for (const auto& input : graph.input()) {
    if (initializers.count(input.name()) == 0) out.push_back(describe_value(input));
  }
  return out;
}

std::vector<value_info> graph_outputs(const model& m) {
  std::lock_guard lock(m.internals().const_access);
  std::vector<value_info> out;
  for (const auto& output : m.internals().proto.graph().output()) out.push_back(describe_value(output));
  return out;
}

}  // namespace mq
