// mq-quantize: FP32 ONNX model in, INT8 model out, with a per-node report.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/cli.h"
#include "common/output_paths.h"
#include <unistd.h>

#include <memory>
#include <optional>

#include "mq/calibration.h"
#include "mq/model.h"
#include "mq/quantize.h"
#include "mq/version.h"
#include "util/suggest.h"

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

constexpr const char* tool = "mq-quantize";

constexpr const char* description = R"(Quantizes the weights of an FP32 ONNX model to 8-bit integers and writes a new
model. The input file is never modified; OUT (and --report) are written atomically
(temporary file, fsync, rename) and only once everything succeeded, so a failed
run leaves nothing behind.
)";

constexpr const char* footer = R"(exit codes: 0 success, 1 failure (one line on stderr), 2 usage error)";

struct cli_options {
  std::vector<std::string> paths;  // IN [OUT]
  std::string calibration;  // folder
  std::string preprocess;   // preset or FILE.toml
  mq::calibration_method method = mq::calibration_method::minmax;
  std::size_t calibration_count = 0;
  mq::activation_type activations = mq::activation_type::uint8;
  std::string report_path;
  mq::external_data external = mq::external_data::automatic;
  mq::quantize_options quant;
  bool quiet = false;
  bool json = false;
  bool version = false;
};

// One of a few named values, e.g. --format auto|qoperator|qdq. An unknown value is a usage error
// that lists the choices and suggests the nearest one.
template <class E>
CLI::Option* add_choice(CLI::App& app, const std::string& flag, E& target, std::vector<std::pair<std::string, E>> choices,
                        const std::string& help) {
  std::vector<std::string> names;
  std::string label;
  for (const auto& [name, value] : choices) {
    names.push_back(name);
    label += (label.empty() ? "" : "|") + name;
  }
  auto* option = app.add_option_function<std::string>(
      flag,
      [&target, choices](const std::string& v) {
        for (const auto& [name, value] : choices) {
          if (name == v) target = value;
        }
      },
      help);
  option->check(CLI::Validator(
      [names, label](std::string& v) -> std::string {
        for (const auto& n : names) {
          if (n == v) return {};
        }
        return "unknown value '" + v + "'" + mq::util::did_you_mean(v, names) + " (one of " + label + ")";
      },
      "", label));
  return option->option_text(" " + label);
}

// A whole number from 0 to `max`, as text: "2x", "-1" and "1e3" are usage errors.
CLI::Validator whole_number(std::uint64_t max) {
  return CLI::Validator(
      [max](std::string& v) -> std::string {
        const bool digits = !v.empty() && v.size() <= 19 && v.find_first_not_of("0123456789") == std::string::npos;
        if (digits && std::stoull(v) <= max) return {};
        return "needs a whole number from 0 to " + std::to_string(max) + ", got '" + v + "'";
      },
      "", "N");
}

// The one place that declares mq-quantize's options (the help text is made from it). A new
// option is one add_option/add_flag call in the group it belongs to.
void declare_options(CLI::App& app, cli_options& opt) {
  using mq::quant_format;
  app.add_option("IN.onnx OUT.onnx", opt.paths, "the FP32 model and the path of the INT8 model")->expected(1, 2);

  const std::string format = "format";
  add_choice<quant_format>(app, "--format", opt.quant.format,
                           {{"auto", quant_format::automatic}, {"qoperator", quant_format::qoperator}, {"qdq", quant_format::qdq}},
                           "auto (default): MatMul as dynamic integer ops, per channel\n"
                           "(fast in ONNX Runtime); Conv, ConvTranspose and Gemm as int8\n"
                           "weights per channel restored to float by Cast * scale, which\n"
                           "ONNX Runtime folds at load (small file, float speed).\n"
                           "qoperator: ONNX Runtime's quantize_dynamic form\n"
                           "(DynamicQuantizeLinear + MatMulInteger/ConvInteger + Cast + Mul).\n"
                           "qdq: weight-only, int8 initializer + DequantizeLinear (below\n"
                           "opset 13 per-channel weights use the Cast form)")
      ->group(format);

  const std::string weights = "weights (names as in ONNX Runtime's quantize_dynamic)";
  add_choice<mq::weight_type>(app, "--weight-type", opt.quant.weights,
                              {{"int8", mq::weight_type::int8}, {"uint8", mq::weight_type::uint8}}, "int8 (default) or uint8")
      ->group(weights);
  auto* symmetric = app.add_flag_callback(
      "--symmetric", [&] { opt.quant.symmetry = mq::weight_symmetry::symmetric; }, "symmetric ranges (default for int8)");
  auto* asymmetric = app.add_flag_callback(
      "--asymmetric", [&] { opt.quant.symmetry = mq::weight_symmetry::asymmetric; }, "asymmetric ranges (default for uint8)");
  symmetric->excludes(asymmetric)->group(weights);
  asymmetric->group(weights);
  app.add_flag("--per-channel", opt.quant.per_channel, "one scale per output channel (always in auto)")->group(weights);
  app.add_flag("--reduce-range", opt.quant.reduce_range, "7-bit weights (for CPUs without VNNI)")->group(weights);
  std::string op_list;
  for (const auto& op : mq::quantizable_op_types()) op_list += (op_list.empty() ? "" : ",") + op;
  app.add_option("--op-types", opt.quant.op_types, "comma-separated, from " + op_list + "\n(default: all of them)")
      ->delimiter(',')
      ->allow_extra_args(false)
      ->check(CLI::Validator(
          [](std::string& op) {
            auto ok = mq::check_op_type(op);
            return ok ? std::string() : std::move(ok).error().message;
          },
          "", "LIST"))
      ->option_text(" LIST")
      ->group(weights);
  app.add_option("--exclude", opt.quant.exclude, "node names or globs (* ?) to keep in float")
      ->delimiter(',')
      ->allow_extra_args(false)
      ->option_text(" LIST")
      ->group(weights);
  app.add_option_function<std::int64_t>(
         "--min-elements", [&](std::int64_t n) { opt.quant.min_elements = n; },
         "keep weights with fewer than N elements in float (default:\n4096 with --format auto, 0 otherwise)")
      ->check(whole_number(static_cast<std::uint64_t>(INT64_MAX)))
      ->option_text(" N")
      ->group(weights);
  app.add_option("--threads", opt.quant.threads,
                 "threads that quantize weights (default 0: one per core);\nthe model written is the same whatever N")
      ->check(whole_number(mq::max_threads))
      ->option_text(" N")
      ->group(weights);
  app.add_flag_callback(
         "--keep-initializer-inputs", [&] { opt.quant.graph_input_weights = mq::initializer_inputs::keep; },
         "leave weights that are also graph inputs (old exporters) alone;\nby default they are treated as constants and "
         "dropped from the\ninputs, as ONNX Runtime's quantizer does")
      ->group(weights);

  const std::string statics = "static INT8 (activations calibrated on real samples; names as in ONNX Runtime's quantize_static)";
  auto* calibration =
      app.add_option("--calibration", opt.calibration,
                     "a folder of samples: images (.jpg/.png, see --preprocess), .npy\n"
                     "files (one per sample, single-input models) or ONNX test-data\n"
                     "sets (test_data_set_*/input_<i>.pb or .npy). auto then also\n"
                     "quantizes the activations where ONNX Runtime fuses it (QDQ that\n"
                     "becomes QLinearConv, QLinearMatMul, ...)")
          ->option_text(" PATH")
          ->group(statics);
  auto* preprocess = app.add_option("--preprocess", opt.preprocess,
                                    "how images become inputs: yolo (letterbox, pad 114, RGB /255;\n"
                                    "the default for Ultralytics exports), imagenet, unit (RGB /255),\n"
                                    "or a TOML file with the keys size, resize, pad, color, scale,\n"
                                    "mean, std, layout, channels (see catalog/README.md)")
                         ->option_text(" PRESET|FILE.toml")
                         ->group(statics);
  auto* method = add_choice<mq::calibration_method>(app, "--calibration-method", opt.method,
                                                    {{"minmax", mq::calibration_method::minmax},
                                                     {"percentile", mq::calibration_method::percentile},
                                                     {"entropy", mq::calibration_method::entropy},
                                                     {"mse", mq::calibration_method::mse}},
                                                    "how ranges are picked: minmax (default, as ONNX Runtime),\n"
                                                    "percentile (99.999%), entropy (KL), mse")
                     ->group(statics);
  auto* count = app.add_option("--calibration-count", opt.calibration_count,
                               "samples used, in file-name order (default 0: all); a quarter of\n"
                               "them (1 to 8, spread over that order) is held out to check accuracy")
                    ->check(whole_number(mq::calibration_options::max_count))
                    ->option_text(" N")
                    ->group(statics);
  auto* activations = add_choice<mq::activation_type>(app, "--activation-type", opt.activations,
                                                      {{"uint8", mq::activation_type::uint8}, {"int8", mq::activation_type::int8}},
                                                      "uint8 (default: what ONNX Runtime fuses on x86) or int8 (for ARM,\n"
                                                      "where it fuses int8 directly; on x86 most such Convs stay float)")
                          ->group(statics);
  app.add_option("--target-snr", opt.quant.target_snr_db,
                 "the accuracy guard: while the worst output is under DB dB against\n"
                 "FP32 (on held-out samples), the most sensitive quantized node goes\n"
                 "back to float (default 25; 0 turns it off)")
      ->check(CLI::Range(0.0, mq::quantize_options::max_target_snr_db))
      ->option_text(" DB")
      ->group(statics);
  for (auto* o : {preprocess, method, count, activations}) o->needs(calibration);

  const std::string output = "output";
  app.add_option("--report", opt.report_path, "also write the report as JSON (atomically, with the model)")
      ->option_text(" FILE.json")
      ->group(output);
  auto* json = app.add_flag("--json", opt.json, "print the report as JSON instead of a table")->group(output);
  app.add_flag("--dry-run", opt.quant.dry_run, "print the report only; write no model (OUT may be left out)")->group(output);
  add_choice<mq::external_data>(app, "--external-data", opt.external,
                                {{"auto", mq::external_data::automatic},
                                 {"always", mq::external_data::always},
                                 {"never", mq::external_data::never}},
                                "auto (default): tensors go to OUT.data when the input had\nexternal data or the model "
                                "exceeds 2 GiB; always; never")
      ->group(output);
  auto* quiet = app.add_flag("-q,--quiet", opt.quiet, "print only errors (without --report, weight errors are not\nmeasured, "
                                                       "so no accuracy warning either)")
                    ->group(output);
  quiet->excludes(json);
  app.set_help_flag("-h,--help", "show this help and exit")->group(output);
  app.add_flag("--version", opt.version, "print the version and exit")->group(output);

  // One value per option: a second --format (or --report, ...) is a usage error, not a silent
  // override.
  for (auto* o : app.get_options()) {
    if (o->get_expected_max() == 1 && o->get_type_size() != 0) o->multi_option_policy(CLI::MultiOptionPolicy::Throw);
  }
}

// The help text, from the declarations above: usage line, description, one block per group.
class help_formatter : public CLI::Formatter {
 public:
  std::string make_help(const CLI::App* app, std::string, CLI::AppFormatMode mode) const override {
    return "usage: mq-quantize IN.onnx OUT.onnx [options]\n\n" + app->get_description() + "\n" + make_groups(app, mode) +
           "\n" + app->get_footer() + "\n";
  }
  std::string make_option_opts(const CLI::Option* o) const override { return o->get_option_text(); }
};

int usage_error(const std::string& message) { return mq::cli::usage_error(tool, message); }

// CLI11's messages for the common mistakes, made to name the option and suggest the nearest one.
std::string usage_message(const CLI::ParseError& e, const CLI::App& app) {
  if (dynamic_cast<const CLI::ExtrasError*>(&e) != nullptr) {
    std::vector<std::string> names;
    for (const auto* o : app.get_options()) {
      for (const auto& n : o->get_lnames()) names.push_back("--" + n);
      for (const auto& n : o->get_snames()) names.push_back("-" + n);
    }
    for (const auto& arg : app.remaining()) {
      if (arg.size() > 1 && arg[0] == '-') {
        const std::string flag = arg.substr(0, arg.find('='));
        return "unknown option '" + flag + "'" + mq::util::did_you_mean(flag, names);
      }
    }
    return "expected IN.onnx and OUT.onnx, got more arguments (" + std::string(e.what()) + ")";
  }
  if (dynamic_cast<const CLI::ArgumentMismatch*>(&e) != nullptr) {
    const std::string what = e.what();
    const std::string name = what.substr(0, what.find(':'));
    if (name == "IN.onnx OUT.onnx") return "expected IN.onnx and OUT.onnx, got more paths";
    if (what.find("At Most 1 required") != std::string::npos) return name + " is given more than once";
    if (what.find("missing") != std::string::npos) return name + " needs a value";
  }
  return e.what();
}

// Returns -1 to continue, or an exit code.
int parse(int argc, char** argv, cli_options& opt) {
  CLI::App app(description, tool);
  app.formatter(std::make_shared<help_formatter>());
  app.get_formatter()->column_width(30);
  app.footer(footer);
  declare_options(app, opt);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    fmt::print("{}", app.help());
    return exit_ok;
  } catch (const CLI::ParseError& e) {
    return usage_error(usage_message(e, app));
  }
  if (opt.version) {
    fmt::print("{} {}\n{}\n", tool, mq::version(), mq::build_description());
    return exit_ok;
  }
  if (!opt.calibration.empty() && opt.quant.format != mq::quant_format::automatic) {
    return usage_error("--calibration works with --format auto (static INT8 is written as QDQ where ONNX Runtime fuses it)");
  }
  const bool two = opt.paths.size() == 2;
  if (!(two || (opt.quant.dry_run && opt.paths.size() == 1))) {
    return usage_error(opt.quant.dry_run ? "expected IN.onnx" : "expected IN.onnx and OUT.onnx");
  }
  return -1;
}

int fail(const std::string& message) { return mq::cli::fail(tool, message); }

// Calibration progress on stderr: one line rewritten in place on a terminal, a line per stage
// (and every tenth of it) otherwise.
std::function<void(const mq::calibration_progress&)> progress_printer() {
  const bool tty = isatty(fileno(stderr)) != 0;
  auto last = std::make_shared<std::string>();
  auto shown = std::make_shared<std::size_t>(0);
  return [tty, last, shown](const mq::calibration_progress& p) {
    const double rate = p.seconds > 0 ? static_cast<double>(p.done) / p.seconds : 0;
    std::string line = p.total > 0 ? fmt::format("{}: {}/{} samples ({:.1f}/s)", p.stage, p.done, p.total, rate)
                                   : fmt::format("{}: step {} ({:.0f} s)", p.stage, p.done, p.seconds);
    if (tty) {
      fmt::print(stderr, "\r{}\x1b[K", line);
      if (p.total > 0 && p.done == p.total) fmt::print(stderr, "\n");
      std::fflush(stderr);
      return;
    }
    const std::size_t tenth = p.total > 0 ? (p.done * 10) / p.total : p.done;
    if (p.stage != *last || tenth != *shown || (p.total > 0 && p.done == p.total)) {
      fmt::print(stderr, "{}: {}\n", tool, line);
      *last = p.stage;
      *shown = tenth;
    }
  };
}

// Every output path is checked before the model is read: a run never works for minutes and
// then fails to write, and never writes one output when another cannot be.
int check_output_paths(const cli_options& opt, const std::filesystem::path& input) {
  using mq::cli::same_path;
  std::vector<std::filesystem::path> outputs;
  if (!opt.quant.dry_run && opt.paths.size() == 2) {
    const std::filesystem::path out = opt.paths[1];
    if (same_path(out, input)) {
      return fail("refusing to write '" + out.string() + "': it is the input model file; choose another output path");
    }
    outputs.push_back(out);
  }
  if (!opt.report_path.empty()) {
    const std::filesystem::path report = opt.report_path;
    if (same_path(report, input)) {
      return fail("refusing to write the report to '" + report.string() + "': it is the input model; choose another --report path");
    }
    if (!outputs.empty()) {
      std::filesystem::path data = outputs[0];
      data += ".data";
      if (same_path(report, outputs[0]) || same_path(report, data)) {
        return fail("refusing to write the report to '" + report.string() + "': it is the output model" +
                    (same_path(report, data) ? "'s external data" : "") + "; choose another --report path");
      }
    }
    outputs.push_back(report);
  }
  for (const auto& path : outputs) {
    if (auto problem = mq::cli::output_path_problem(path); !problem.empty()) return fail(problem);
  }
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  cli_options opt;
  opt.quant.threads = 0;  // the library quantizes on the caller's thread unless asked; the tool uses every core
  if (int code = parse(argc, argv, opt); code >= 0) return code;
  const std::filesystem::path input = opt.paths[0];
  if (int code = check_output_paths(opt, input); code >= 0) return code;

  if (!opt.calibration.empty()) {
    std::optional<mq::preprocess_spec> spec;
    if (!opt.preprocess.empty()) {
      auto parsed = mq::preprocess_spec::parse(opt.preprocess);
      if (!parsed) return fail("--preprocess: " + parsed.error().message);
      spec = std::move(*parsed);
    }
    auto data = mq::calibration_data::from_folder(opt.calibration, spec);
    if (!data) return fail(data.error().message);
    mq::calibration_options c;
    c.data = std::move(*data);
    c.method = opt.method;
    c.count = opt.calibration_count;
    c.activations = opt.activations;
    if (!opt.quiet) c.on_progress = progress_printer();
    opt.quant.calibration = std::move(c);
  }
  // ONNX's schema table (needed to verify the output) is built on the other core meanwhile.
  std::jthread schemas(mq::preload_operator_schemas);
  auto model = mq::model::load(input);
  if (!model) return fail(model.error().message);
  if (!opt.report_path.empty()) {
    if (auto ok = model->check_output_path(opt.report_path); !ok) return fail(ok.error().message);
  }
  // Nothing would show the error of each weight: skip measuring it (same model written).
  opt.quant.measure_error = !opt.quiet || !opt.report_path.empty();
  auto report = mq::quantize(*model, opt.quant);
  if (!report) return fail("'" + input.string() + "': " + report.error().message);

  // Everything is written to temporaries first and published together: a failure anywhere
  // leaves neither the model nor the report.
  mq::staged_files outputs;
  if (!opt.quant.dry_run) {
    mq::save_options save;
    save.external = opt.external;
    auto staged = model->stage(opt.paths[1], save);
    if (!staged) return fail(staged.error().message);
    outputs.append(std::move(*staged));
  }
  if (!opt.report_path.empty()) {
    auto staged = mq::stage_file(opt.report_path, mq::to_json(*report));
    if (!staged) return fail(staged.error().message);
    outputs.append(std::move(*staged));
  }
  if (auto committed = outputs.commit(); !committed) return fail(committed.error().message);

  if (!opt.quiet) {
    fmt::print("{}", opt.json ? mq::to_json(*report) : mq::to_table(*report));
    // The table shows the warnings; with --json they also go to stderr, for the person running it.
    if (opt.json) {
      for (const auto& w : report->warnings) fmt::print(stderr, "{}: warning: {}\n", tool, mq::cli::one_line(w));
    }
    if (!opt.quant.dry_run && !opt.json) fmt::print("wrote {}\n", opt.paths[1]);
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
