// mq-quantize: FP32 ONNX model in, INT8 model out, with a per-node report.
#include <fmt/core.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "mq/model.h"
#include "mq/quantize.h"
#include "mq/version.h"
#include "common/cli.h"

#if defined(__SANITIZE_ADDRESS__)
#define MQ_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MQ_SANITIZED 1
#endif
#endif

namespace {

using mq::cli::exit_failure;
using mq::cli::exit_ok;
using mq::cli::exit_usage;

constexpr const char* usage_text = R"(usage: mq-quantize IN.onnx OUT.onnx [options]

Quantizes the weights of an FP32 ONNX model to 8-bit integers and writes a new
model. The input file is never modified; OUT is written atomically (temporary
file, fsync, rename), so it is either the complete new model or untouched.

format:
  --format auto         default: MatMul as dynamic integer ops (fast in ONNX
                        Runtime); Conv, ConvTranspose and Gemm as int8 weights per
                        channel, restored to float by Cast * scale, which ONNX Runtime
                        folds at load (small file, float speed)
  --format qoperator    ONNX Runtime's quantize_dynamic form: DynamicQuantizeLinear
                        + MatMulInteger/ConvInteger + Cast + Mul
  --format qdq          weight-only: int8 initializer + DequantizeLinear (the QDQ
                        form other runtimes and tools expect; below opset 13
                        per-channel weights use the Cast form)

weights (names as in ONNX Runtime's quantize_dynamic):
  --weight-type T       int8 (default) or uint8
  --symmetric           symmetric ranges (default for int8)
  --asymmetric          asymmetric ranges (default for uint8)
  --per-channel         one scale per output channel
  --reduce-range        7-bit weights (for CPUs without VNNI)
  --op-types LIST       comma-separated, from MatMul,Gemm,Conv,ConvTranspose
                        (default: all of them)
  --exclude LIST        node names or globs (* ?) to keep in float
  --min-elements N      keep weights with fewer than N elements in float (default:
                        4096 with --format auto, 0 otherwise)
  --threads N           threads that quantize weights (default 0: one per core);
                        the model written is the same whatever N
  --keep-initializer-inputs
                        leave weights that are also graph inputs (old exporters)
                        alone; by default they are treated as constants and
                        dropped from the inputs, as ONNX Runtime's quantizer does

output:
  --report FILE.json    also write the report as JSON
  --json                print the report as JSON instead of a table
  --dry-run             print the report only; write no model
  --external-data MODE  auto (default): tensors go to OUT.data when the input had
                        external data or the model exceeds 2 GiB; always; never
  -q, --quiet           print only errors (without --report, weight errors are not measured)
  -h, --help            show this help and exit
  --version             print the version and exit

exit codes: 0 success, 1 failure (one line on stderr), 2 usage error
)";

// The library quantizes on the caller's thread unless asked; the tool uses every core.
mq::quantize_options cli_defaults() {
  mq::quantize_options o;
  o.threads = 0;
  return o;
}

struct cli_options {
  std::string input;
  std::string output;
  std::string report_path;
  mq::external_data external = mq::external_data::automatic;
  mq::quantize_options quant = cli_defaults();
  bool quiet = false;
  bool json = false;
};

int usage_error(const std::string& message) { return mq::cli::usage_error("mq-quantize", message); }

std::vector<std::string> split_list(std::string_view text) {
  std::vector<std::string> items;
  std::string item;
  std::istringstream in{std::string(text)};
  while (std::getline(in, item, ',')) {
    if (!item.empty()) items.push_back(item);
  }
  return items;
}

// Parses one option that takes a value; returns an exit code or -1.
int parse_valued(std::string_view arg, const std::string& value, cli_options& opt) {
  if (arg == "--format") {
    if (value == "auto") opt.quant.format = mq::quant_format::automatic;
    else if (value == "qoperator") opt.quant.format = mq::quant_format::qoperator;
    else if (value == "qdq") opt.quant.format = mq::quant_format::qdq;
    else return usage_error("--format: unknown format '" + value + "' (auto, qoperator, qdq)");
  } else if (arg == "--weight-type") {
    if (value == "int8") opt.quant.weights = mq::weight_type::int8;
    else if (value == "uint8") opt.quant.weights = mq::weight_type::uint8;
    else return usage_error("--weight-type: unknown type '" + value + "' (int8, uint8)");
  } else if (arg == "--op-types") {
    opt.quant.op_types = split_list(value);
  } else if (arg == "--exclude") {
    for (auto& e : split_list(value)) opt.quant.exclude.push_back(e);
  } else if (arg == "--min-elements") {
    try {
      std::size_t used = 0;
      opt.quant.min_elements = std::stoll(value, &used);
      if (used != value.size() || *opt.quant.min_elements < 0) throw std::invalid_argument(value);
    } catch (const std::exception&) {
      return usage_error("--min-elements needs a non-negative integer, got '" + value + "'");
    }
  } else if (arg == "--threads") {
    try {
      std::size_t used = 0;
      const unsigned long n = std::stoul(value, &used);
      if (used != value.size() || value[0] == '-' || n > mq::max_threads) throw std::invalid_argument(value);
      opt.quant.threads = static_cast<unsigned>(n);
    } catch (const std::exception&) {
      return usage_error("--threads needs an integer from 0 (one per core) to " + std::to_string(mq::max_threads) +
                         ", got '" + value + "'");
    }
  } else if (arg == "--report") {
    opt.report_path = value;
  } else if (arg == "--external-data") {
    if (value == "auto") opt.external = mq::external_data::automatic;
    else if (value == "always") opt.external = mq::external_data::always;
    else if (value == "never") opt.external = mq::external_data::never;
    else return usage_error("--external-data: unknown mode '" + value + "' (auto, always, never)");
  } else {
    return usage_error("unknown option '" + std::string(arg) + "'");
  }
  return -1;
}

bool takes_value(std::string_view arg) {
  return arg == "--format" || arg == "--weight-type" || arg == "--op-types" || arg == "--exclude" ||
         arg == "--min-elements" || arg == "--threads" || arg == "--report" || arg == "--external-data";
}

// Returns -1 to continue, or an exit code.
int parse(int argc, char** argv, cli_options& opt) {
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (auto code = mq::cli::help_or_version(arg, "mq-quantize", usage_text, mq::version())) return *code;
    if (takes_value(arg)) {
      if (i + 1 >= argc) return usage_error(std::string(arg) + " needs a value");
      if (int code = parse_valued(arg, argv[++i], opt); code >= 0) return code;
    } else if (arg == "-q" || arg == "--quiet") {
      opt.quiet = true;
    } else if (arg == "--json") {
      opt.json = true;
    } else if (arg == "--dry-run") {
      opt.quant.dry_run = true;
    } else if (arg == "--per-channel") {
      opt.quant.per_channel = true;
    } else if (arg == "--reduce-range") {
      opt.quant.reduce_range = true;
    } else if (arg == "--symmetric") {
      opt.quant.symmetry = mq::weight_symmetry::symmetric;
    } else if (arg == "--asymmetric") {
      opt.quant.symmetry = mq::weight_symmetry::asymmetric;
    } else if (arg == "--keep-initializer-inputs") {
      opt.quant.graph_input_weights = mq::initializer_inputs::keep;
    } else if (arg.size() > 1 && arg[0] == '-') {
      return usage_error("unknown option '" + std::string(arg) + "'");
    } else {
      positional.emplace_back(arg);
    }
  }
  const std::size_t wanted = opt.quant.dry_run ? 1 : 2;
  if (positional.size() != wanted && !(opt.quant.dry_run && positional.size() == 2)) {
    return usage_error(opt.quant.dry_run ? "expected IN.onnx" : "expected IN.onnx and OUT.onnx");
  }
  opt.input = positional[0];
  if (positional.size() > 1) opt.output = positional[1];
  return -1;
}

int fail(const std::string& message) { return mq::cli::fail("mq-quantize", message); }

bool write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  return static_cast<bool>(out.flush());
}

}  // namespace

int main(int argc, char** argv) {
  cli_options opt;
  if (int code = parse(argc, argv, opt); code >= 0) return code;

  // ONNX's schema table (needed to verify the output) is built on the other core meanwhile.
  std::jthread schemas(mq::preload_operator_schemas);
  auto model = mq::model::load(opt.input);
  if (!model) return fail(model.error().message);
  // Nothing would show the error of each weight: skip measuring it (same model written).
  opt.quant.measure_error = !opt.quiet || !opt.report_path.empty();
  auto report = mq::quantize(*model, opt.quant);
  if (!report) return fail("'" + opt.input + "': " + report.error().message);
  if (!opt.quant.dry_run) {
    mq::save_options save;
    save.external = opt.external;
    if (auto saved = model->save(opt.output, save); !saved) return fail(saved.error().message);
  }
  if (!opt.report_path.empty() && !write_text(opt.report_path, mq::to_json(*report))) {
    return fail("cannot write report '" + opt.report_path + "'");
  }
  if (!opt.quiet) {
    fmt::print("{}", opt.json ? mq::to_json(*report) : mq::to_table(*report));
    if (!opt.quant.dry_run && !opt.json) fmt::print("wrote {}\n", opt.output);
  }
  // Everything is written and committed: leave without destructors. Freeing the model piece by
  // piece (its proto, a quantized string per weight) takes milliseconds on a large model, and
  // the kernel releases the whole address space at exit anyway. Sanitizer builds return normally
  // so that LeakSanitizer (an exit handler) still checks every run.
  if (std::fflush(stdout) != 0) return fail("cannot write to standard output");
#if !defined(MQ_SANITIZED)
  std::_Exit(exit_ok);
#else
  return exit_ok;
#endif
}
