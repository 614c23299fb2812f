// mq-gen-model: writes synthetic FP32 models for benchmarks (deterministic weights).
//   mq-gen-model mlp  OUT.onnx [--size-mb N]   stack of MatMul+Add+Relu, width 2048, ~N MB
//   mq-gen-model bert OUT.onnx [--layers L]    BERT-base-like encoder (hidden 768, 12 heads,
//                                               FFN 3072, seq 128), ~28 MB per layer
//   --external: keep weights in OUT.onnx.data (external data)
#include <onnx/defs/parser.h>
#include <onnx/onnx_pb.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "common/random_tensor.h"

namespace {

using mq::tools::lcg;
using mq::tools::add_random_tensor;

void add_int64(onnx::GraphProto& g, const std::string& name, const std::vector<std::int64_t>& values) {
  auto* t = g.add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::INT64);
  t->add_dims(static_cast<std::int64_t>(values.size()));
  for (auto v : values) t->add_int64_data(v);
}

onnx::ModelProto parse(const std::string& text) {
  onnx::ModelProto model;
  onnx::OnnxParser parser(text.c_str());
  auto status = parser.Parse(model);
  if (!status.IsOK()) {
    std::fprintf(stderr, "mq-gen-model: internal error: %s\n", status.ErrorMessage().c_str());
    std::exit(1);
  }
  return model;
}

onnx::ModelProto make_mlp(int size_mb) {
  constexpr int width = 2048;
  // 64-bit: sizes over 2 GB (the external-data benchmark) overflow int.
  const std::int64_t per_layer = std::int64_t{width} * width * 4;
  const auto layers = static_cast<int>(
      std::max<std::int64_t>(1, (std::int64_t{size_mb} * 1000 * 1000 + per_layer / 2) / per_layer));
  std::string body;
  std::string x = "x";
  for (int i = 0; i < layers; ++i) {
    const std::string l = std::to_string(i);
    const std::string out = i + 1 == layers ? "y" : "h" + l;
    body += "  m" + l + " = MatMul(" + x + ", w" + l + ")\n  a" + l + " = Add(m" + l + ", b" + l + ")\n  " + out +
            " = Relu(a" + l + ")\n";
    x = out;
  }
  auto model = parse("<ir_version: 8, opset_import: [\"\" : 17], producer_name: \"mq-gen-model\">\nmlp (float[1, 2048] x) => "
                     "(float[1, 2048] y) {\n" + body + "}\n");
  lcg rng;
  for (int i = 0; i < layers; ++i) {
    add_random_tensor(*model.mutable_graph(), "w" + std::to_string(i), {width, width}, rng, 0.04f);
    add_random_tensor(*model.mutable_graph(), "b" + std::to_string(i), {width}, rng, 0.01f);
  }
  return model;
}

onnx::ModelProto make_bert(int layers) {
  std::string body;
  std::string x = "x";
  for (int i = 0; i < layers; ++i) {
    const std::string l = std::to_string(i);
    auto p = [&](const std::string& n) { return n + l; };
    body += "  " + p("q") + " = MatMul(" + x + ", " + p("wq") + ")\n";
    body += "  " + p("k") + " = MatMul(" + x + ", " + p("wk") + ")\n";
    body += "  " + p("v") + " = MatMul(" + x + ", " + p("wv") + ")\n";
    for (const char* n : {"q", "k", "v"}) {
      body += "  " + p(std::string(n) + "r") + " = Reshape(" + p(n) + ", heads_shape)\n";
      body += "  " + p(std::string(n) + "t") + " = Transpose <perm = " +
              (std::string(n) == "k" ? "[0, 2, 3, 1]" : "[0, 2, 1, 3]") + "> (" + p(std::string(n) + "r") + ")\n";
    }
    body += "  " + p("s") + " = MatMul(" + p("qt") + ", " + p("kt") + ")\n";
    body += "  " + p("ss") + " = Mul(" + p("s") + ", attn_scale)\n";
    body += "  " + p("pr") + " = Softmax <axis = -1> (" + p("ss") + ")\n";
    body += "  " + p("ctx") + " = MatMul(" + p("pr") + ", " + p("vt") + ")\n";
    body += "  " + p("ctxt") + " = Transpose <perm = [0, 2, 1, 3]> (" + p("ctx") + ")\n";
    body += "  " + p("ctxr") + " = Reshape(" + p("ctxt") + ", hidden_shape)\n";
    body += "  " + p("o") + " = MatMul(" + p("ctxr") + ", " + p("wo") + ")\n";
    body += "  " + p("r1") + " = Add(" + p("o") + ", " + x + ")\n";
    body += "  " + p("n1") + " = LayerNormalization <axis = -1> (" + p("r1") + ", " + p("g1") + ", " + p("be1") + ")\n";
    body += "  " + p("f1") + " = MatMul(" + p("n1") + ", " + p("wf1") + ")\n";
    body += "  " + p("f1b") + " = Add(" + p("f1") + ", " + p("bf1") + ")\n";
    body += "  " + p("f1r") + " = Relu(" + p("f1b") + ")\n";
    body += "  " + p("f2") + " = MatMul(" + p("f1r") + ", " + p("wf2") + ")\n";
    body += "  " + p("r2") + " = Add(" + p("f2") + ", " + p("n1") + ")\n";
    const std::string out = i + 1 == layers ? "y" : p("n2");
    body += "  " + out + " = LayerNormalization <axis = -1> (" + p("r2") + ", " + p("g2") + ", " + p("be2") + ")\n";
    x = out;
  }
  auto model = parse("<ir_version: 8, opset_import: [\"\" : 17], producer_name: \"mq-gen-model\">\nbert (float[1, 128, 768] x) => "
                     "(float[1, 128, 768] y) {\n" + body + "}\n");
  auto& g = *model.mutable_graph();
  lcg rng;
  add_int64(g, "heads_shape", {1, 128, 12, 64});
  add_int64(g, "hidden_shape", {1, 128, 768});
  auto* s = g.add_initializer();
  s->set_name("attn_scale");
  s->set_data_type(onnx::TensorProto::FLOAT);
  s->add_float_data(0.125f);
  for (int i = 0; i < layers; ++i) {
    const std::string l = std::to_string(i);
    for (const char* w : {"wq", "wk", "wv", "wo"}) add_random_tensor(g, w + l, {768, 768}, rng, 0.05f);
    add_random_tensor(g, "wf1" + l, {768, 3072}, rng, 0.05f);
    add_random_tensor(g, "bf1" + l, {3072}, rng, 0.01f);
    add_random_tensor(g, "wf2" + l, {3072, 768}, rng, 0.03f);
    for (const char* n : {"g1", "g2"}) {
      auto* t = g.add_initializer();
      t->set_name(n + l);
      t->set_data_type(onnx::TensorProto::FLOAT);
      t->add_dims(768);
      for (int k = 0; k < 768; ++k) t->add_float_data(1.0f);
    }
    add_random_tensor(g, "be1" + l, {768}, rng, 0.01f);
    add_random_tensor(g, "be2" + l, {768}, rng, 0.01f);
  }
  return model;
}

// Moves every initializer of 1 KiB or more into OUT.data.
void externalize(onnx::ModelProto& model, const std::string& out_path) {
  const std::string data_path = out_path + ".data";
  const std::string location = data_path.substr(data_path.find_last_of('/') + 1);
  std::ofstream data(data_path, std::ios::binary | std::ios::trunc);
  std::uint64_t offset = 0;
  for (auto& t : *model.mutable_graph()->mutable_initializer()) {
    if (t.raw_data().size() < 1024) continue;
    data.write(t.raw_data().data(), static_cast<std::streamsize>(t.raw_data().size()));
    auto add = [&](const char* k, std::string v) {
      auto* e = t.add_external_data();
      e->set_key(k);
      e->set_value(std::move(v));
    };
    add("location", location);
    add("offset", std::to_string(offset));
    add("length", std::to_string(t.raw_data().size()));
    offset += t.raw_data().size();
    t.clear_raw_data();
    t.set_data_location(onnx::TensorProto::EXTERNAL);
  }
}

int usage(FILE* to) {
  std::fprintf(to, "usage: mq-gen-model mlp|bert OUT.onnx [--size-mb N] [--layers L] [--external]\n");
  return to == stdout ? 0 : 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && (std::string_view(argv[1]) == "--help" || std::string_view(argv[1]) == "-h")) return usage(stdout);
  if (argc < 3) return usage(stderr);
  const std::string kind = argv[1];
  const std::string out = argv[2];
  int size_mb = 100;
  int layers = 4;
  bool external = false;
  for (int i = 3; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--size-mb" && i + 1 < argc) size_mb = std::atoi(argv[++i]);
    else if (a == "--layers" && i + 1 < argc) layers = std::atoi(argv[++i]);
    else if (a == "--external") external = true;
    else return usage(stderr);
  }
  onnx::ModelProto model;
  if (kind == "mlp") model = make_mlp(size_mb);
  else if (kind == "bert") model = make_bert(layers);
  else return usage(stderr);
  if (external) externalize(model, out);
  std::ofstream file(out, std::ios::binary | std::ios::trunc);
  if (!model.SerializeToOstream(&file) || !file.flush()) {
    std::fprintf(stderr, "mq-gen-model: error: cannot write '%s'\n", out.c_str());
    return 1;
  }
  return 0;
}
