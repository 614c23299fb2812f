// mq-reverse-nodes (test-only): writes a copy of an ONNX model with the node list of every graph
// (subgraphs too) reversed: a model that is not topologically sorted, which ONNX Runtime runs
// and some exporters and tools write. Uses protobuf directly, not libmodelquant.
//   mq-reverse-nodes IN.onnx OUT.onnx     exit 0 written, 1 failure, 2 usage
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <fstream>
#include <iostream>

namespace {

void reverse_all(onnx::GraphProto& g) {
  std::reverse(g.mutable_node()->begin(), g.mutable_node()->end());
  for (auto& n : *g.mutable_node()) {
    for (auto& a : *n.mutable_attribute()) {
      if (a.has_g()) reverse_all(*a.mutable_g());
      for (auto& sub : *a.mutable_graphs()) reverse_all(sub);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: mq-reverse-nodes IN.onnx OUT.onnx\n";
    return 2;
  }
  onnx::ModelProto model;
  std::ifstream in(argv[1], std::ios::binary);
  if (!in || !model.ParseFromIstream(&in)) {
    std::cerr << "mq-reverse-nodes: cannot read '" << argv[1] << "'\n";
    return 1;
  }
  reverse_all(*model.mutable_graph());
  std::ofstream out(argv[2], std::ios::binary | std::ios::trunc);
  if (!out || !model.SerializeToOstream(&out)) {
    std::cerr << "mq-reverse-nodes: cannot write '" << argv[2] << "'\n";
    return 1;
  }
  return 0;
}
