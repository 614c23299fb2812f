// mq-quantize: FP32 ONNX model in, INT8 model out.
#include <fmt/core.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "mq/model.h"
#include "mq/version.h"

namespace {

constexpr int exit_ok = 0;
constexpr int exit_failure = 1;
constexpr int exit_usage = 2;

constexpr const char* usage_text = R"(usage: mq-quantize IN.onnx OUT.onnx [options]

Quantizes the weights of an FP32 ONNX model to INT8 and writes a new model.
The input file is never modified; OUT is written atomically (temporary file,
fsync, rename), so it is either the complete new model or untouched.

options:
  --external-data MODE  auto (default): tensors go to OUT.data when the input had
                        external data or the model exceeds 2 GiB; always; never
  -q, --quiet           print only errors
  -h, --help            show this help and exit
  --version             print the version and exit

exit codes: 0 success, 1 failure (message on stderr), 2 usage error
)";

struct options {
  std::string input;
  std::string output;
  mq::external_data external = mq::external_data::automatic;
  bool quiet = false;
};

int usage_error(const std::string& message) {
  fmt::print(stderr, "mq-quantize: {}\nrun 'mq-quantize --help' for usage\n", message);
  return exit_usage;
}

// Returns -1 to continue, or an exit code.
int parse(int argc, char** argv, options& opt) {
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    auto value = [&](std::string& out) {
      if (i + 1 >= argc) return false;
      out = argv[++i];
      return true;
    };
    if (arg == "-h" || arg == "--help") {
      fmt::print("{}", usage_text);
      return exit_ok;
    }
    if (arg == "--version") {
      fmt::print("mq-quantize {}\n", mq::version());
      return exit_ok;
    }
    if (arg == "-q" || arg == "--quiet") {
      opt.quiet = true;
    } else if (arg == "--external-data") {
      std::string mode;
      if (!value(mode)) return usage_error("--external-data needs a value: auto, always or never");
      if (mode == "auto") opt.external = mq::external_data::automatic;
      else if (mode == "always") opt.external = mq::external_data::always;
      else if (mode == "never") opt.external = mq::external_data::never;
      else return usage_error("--external-data: unknown mode '" + mode + "' (auto, always, never)");
    } else if (arg.size() > 1 && arg[0] == '-') {
      return usage_error("unknown option '" + std::string(arg) + "'");
    } else {
      positional.emplace_back(arg);
    }
  }
  if (positional.size() != 2) return usage_error("expected IN.onnx and OUT.onnx");
  opt.input = positional[0];
  opt.output = positional[1];
  return -1;
}

int fail(const mq::error& e) {
  fmt::print(stderr, "mq-quantize: error: {}\n", e.message);
  return exit_failure;
}

}  // namespace

int main(int argc, char** argv) {
  options opt;
  if (int code = parse(argc, argv, opt); code >= 0) return code;

  auto model = mq::model::load(opt.input);
  if (!model) return fail(model.error());
  mq::save_options save;
  save.external = opt.external;
  if (auto saved = model->save(opt.output, save); !saved) return fail(saved.error());
  if (!opt.quiet) fmt::print("wrote {}\n", opt.output);
  return exit_ok;
}
