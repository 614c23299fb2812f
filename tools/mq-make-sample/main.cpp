// mq-make-sample: writes a small FP32 model (Conv + MatMul + Gemm, deterministic weights) to
// try mq-quantize without downloading anything. Development tool; not installed.
#include <onnx/defs/parser.h>
#include <onnx/onnx_pb.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <string_view>

#include "common/random_tensor.h"

namespace {

constexpr const char* graph_text = R"ONNX(
<ir_version: 8, opset_import: ["" : 13], producer_name: "mq-make-sample">
sample (float[1, 3, 32, 32] image) => (float[1, 16] logits) {
  c1 = Conv <pads = [2, 2, 2, 2], kernel_shape = [5, 5]> (image, conv1_w, conv1_b)
  r1 = Relu(c1)
  p1 = GlobalAveragePool(r1)
  f1 = Flatten(p1)
  h1 = MatMul(f1, fc1_w)
  r2 = Relu(h1)
  logits = Gemm <transB = 1> (r2, fc2_w, fc2_b)
}
)ONNX";

using mq::tools::add_random_tensor;
using mq::tools::lcg;

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2 || std::string_view(argv[1]) == "--help" || std::string_view(argv[1]) == "-h") {
    std::fprintf(argc == 2 ? stdout : stderr,
                 "usage: mq-make-sample OUT.onnx\n\nWrites a small FP32 CNN+MLP model (Conv 3->128 5x5, MatMul 128x256, "
                 "Gemm 256->16)\nwith deterministic weights, for trying mq-quantize offline.\n");
    return argc == 2 ? 0 : 2;
  }
  onnx::ModelProto model;
  onnx::OnnxParser parser(graph_text);
  if (auto status = parser.Parse(model); !status.IsOK()) {
    std::fprintf(stderr, "mq-make-sample: internal error: %s\n", status.ErrorMessage().c_str());
    return 1;
  }
  lcg rng{42};
  auto& g = *model.mutable_graph();
  add_random_tensor(g, "conv1_w", {128, 3, 5, 5}, rng, 0.2f);
  add_random_tensor(g, "conv1_b", {128}, rng, 0.1f);
  add_random_tensor(g, "fc1_w", {128, 256}, rng, 0.15f);
  add_random_tensor(g, "fc2_w", {16, 256}, rng, 0.1f);
  add_random_tensor(g, "fc2_b", {16}, rng, 0.05f);
  std::ofstream out(argv[1], std::ios::binary | std::ios::trunc);
  if (!model.SerializeToOstream(&out) || !out.flush()) {
    std::fprintf(stderr, "mq-make-sample: error: cannot write '%s'\n", argv[1]);
    return 1;
  }
  std::printf("wrote %s\n", argv[1]);
  return 0;
}
