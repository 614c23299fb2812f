// mq-pull: download catalog models and quantize them (see issue "mq-pull"; not implemented yet).
#include <fmt/core.h>

#include <string_view>

#include "mq/version.h"

namespace {
constexpr const char* usage_text = R"(usage: mq-pull NAME... [options]

Downloads models named in the model catalog and quantizes them.
NOT IMPLEMENTED YET in this version: every pull fails with exit code 1.

options:
  -h, --help     show this help and exit
  --version      print the version and exit

exit codes: 0 success, 1 failure, 2 usage error
)";
}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    fmt::print(stderr, "mq-pull: expected a model name\nrun 'mq-pull --help' for usage\n");
    return 2;
  }
  const std::string_view arg = argv[1];
  if (arg == "-h" || arg == "--help") {
    fmt::print("{}", usage_text);
    return 0;
  }
  if (arg == "--version") {
    fmt::print("mq-pull {}\n", mq::version());
    return 0;
  }
  fmt::print(stderr, "mq-pull: error: downloading is not implemented in this version\n");
  return 1;
}
