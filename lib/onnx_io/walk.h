// Visitors over every graph and tensor of a model, including subgraphs at any depth.
#pragma once

#include <onnx/onnx_pb.h>

namespace mq::onnx_io {

/// Calls fn(graph, depth) for `graph` and every subgraph (If/Loop/Scan bodies ...), parents first.
template <class Fn>
void for_each_graph(onnx::GraphProto& graph, Fn&& fn, int depth = 0) {
  fn(graph, depth);
  for (auto& node : *graph.mutable_node()) {
    for (auto& attr : *node.mutable_attribute()) {
      if (attr.has_g()) for_each_graph(*attr.mutable_g(), fn, depth + 1);
      for (auto& sub : *attr.mutable_graphs()) for_each_graph(sub, fn, depth + 1);
    }
  }
}

/// Where a tensor sits.
enum class tensor_site { initializer, attribute, sparse };

/// Calls fn(tensor, site) for every TensorProto in the model: initializers, node attributes
/// (Constant values and any tensor attribute), sparse tensors, in every graph.
template <class Fn>
void for_each_tensor(onnx::GraphProto& root, Fn&& fn) {
  for_each_graph(root, [&](onnx::GraphProto& g, int) {
    for (auto& t : *g.mutable_initializer()) fn(t, tensor_site::initializer);
    for (auto& s : *g.mutable_sparse_initializer()) {
      fn(*s.mutable_values(), tensor_site::sparse);
      fn(*s.mutable_indices(), tensor_site::sparse);
    }
    for (auto& node : *g.mutable_node()) {
      for (auto& attr : *node.mutable_attribute()) {
        if (attr.has_t()) fn(*attr.mutable_t(), tensor_site::attribute);
        for (auto& t : *attr.mutable_tensors()) fn(t, tensor_site::attribute);
        if (attr.has_sparse_tensor()) {
          fn(*attr.mutable_sparse_tensor()->mutable_values(), tensor_site::sparse);
          fn(*attr.mutable_sparse_tensor()->mutable_indices(), tensor_site::sparse);
        }
      }
    }
  });
}

}  // namespace mq::onnx_io
