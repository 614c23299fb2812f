// The smallest program that quantizes a model: load, quantize with ONNX Runtime's dynamic
// defaults (int8 weights), save, print the per-node report.
//   usage: quantize_file IN.onnx OUT.onnx
#include <cstdio>

#include <mq/model.h>
#include <mq/quantize.h>
#include <mq/version.h>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: quantize_file IN.onnx OUT.onnx\n");
    return 2;
  }
  auto model = mq::model::load(argv[1]);
  if (!model) {
    std::fprintf(stderr, "quantize_file: error: %s\n", model.error().message.c_str());
    return 1;
  }
  mq::quantize_options options;  // every field has a default; set per_channel, exclude, ... here
  auto report = mq::quantize(*model, options);
  if (!report) {
    std::fprintf(stderr, "quantize_file: error: %s\n", report.error().message.c_str());
    return 1;
  }
  if (auto saved = model->save(argv[2]); !saved) {
    std::fprintf(stderr, "quantize_file: error: %s\n", saved.error().message.c_str());
    return 1;
  }
  std::printf("%s", mq::to_table(*report).c_str());
  std::printf("libmodelquant %s: wrote %s\n", mq::version(), argv[2]);
  return 0;
}
