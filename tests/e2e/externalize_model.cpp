// mq-externalize-model IN.onnx OUT.onnx: OUT is IN with its initializers of 1 KiB or more in
// OUT.data (ONNX external data), for the pull test of a model with extra files. Public API only.
#include <cstdio>

#include "mq/model.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: mq-externalize-model IN.onnx OUT.onnx\n");
    return 2;
  }
  auto model = mq::model::load(argv[1]);
  if (!model) {
    std::fprintf(stderr, "mq-externalize-model: %s\n", model.error().message.c_str());
    return 1;
  }
  mq::save_options options;
  options.external = mq::external_data::always;
  if (auto saved = model->save(argv[2], options); !saved) {
    std::fprintf(stderr, "mq-externalize-model: %s\n", saved.error().message.c_str());
    return 1;
  }
  return 0;
}
