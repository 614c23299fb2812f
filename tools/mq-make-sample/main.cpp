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

// Deterministic pseudo-random weights in [-scale, scale) (64-bit LCG, top bits).
struct lcg {
  std::uint64_t state;
  float next(float scale) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    const auto top = static_cast<float>(state >> 40) / static_cast<float>(1ULL << 24);
    return (2.0f * top - 1.0f) * scale;
  }
};

void add_weight(onnx::GraphProto& g, const std::string& name, std::initializer_list<std::int64_t> dims, lcg& rng,
                float scale) {
  auto* t = g.add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::FLOAT);
  std::int64_t n = 1;
  for (auto d : dims) {
    t->add_dims(d);
    n *= d;
  }
  std::string raw(static_cast<std::size_t>(n) * sizeof(float), '\0');
  for (std::int64_t i = 0; i < n; ++i) {
    const float v = rng.next(scale);
    std::memcpy(raw.data() + i * 4, &v, 4);
  }
  t->set_raw_data(std::move(raw));
}

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
  add_weight(g, "conv1_w", {128, 3, 5, 5}, rng, 0.2f);
  add_weight(g, "conv1_b", {128}, rng, 0.1f);
  add_weight(g, "fc1_w", {128, 256}, rng, 0.15f);
  add_weight(g, "fc2_w", {16, 256}, rng, 0.1f);
  add_weight(g, "fc2_b", {16}, rng, 0.05f);
  std::ofstream out(argv[1], std::ios::binary | std::ios::trunc);
  if (!model.SerializeToOstream(&out) || !out.flush()) {
    std::fprintf(stderr, "mq-make-sample: error: cannot write '%s'\n", argv[1]);
    return 1;
  }
  std::printf("wrote %s\n", argv[1]);
  return 0;
}
