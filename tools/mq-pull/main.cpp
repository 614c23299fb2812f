// mq-pull: download catalog models, verify them and quantize them, for robot apps.
#include <fmt/core.h>
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <memory>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "common/cli.h"
#include "mq/store.h"
#include "mq/version.h"

namespace {

using mq::cli::exit_failure;
using mq::cli::exit_ok;
using mq::cli::exit_usage;

constexpr const char* description_text = R"(Downloads models named in the model catalog into <models-dir>/<name>/, checks
them, and quantizes them to INT8 in process (no Python, no external program).
  mq-pull NAME...            pull these models
  mq-pull --list | --info NAME | --rm NAME
An app then reads config.json:
  model.onnx        the FP32 model as downloaded (sha256 checked or recorded)
  model-int8.onnx   the INT8 model, when quantization is enabled and succeeded
  labels.txt        class labels, when the catalog gives them
  config.json       task, preprocessing preset, input names/shapes/types, paths,
                    use_int8, source URL, revision, sha256, ETag, quantization
                    options, key and report summary
Every file is published atomically (temporary file + rename), config.json last.

Downloads: interrupted downloads resume from <file>.partial with a Range
request and If-Range (a file that changed meanwhile, or a server that ignores
Range, restarts from zero: two versions are never spliced). Connection resets,
timeouts, stalls and 5xx are retried with backoff, one line per retry;
401/403/404 are not (the error names the URL, the status and what to check).
A sha256 from the catalog is checked; a mismatch, or bytes that are not an ONNX
model, deletes the download. Without a catalog sha256 the file's sha256, ETag,
Last-Modified and size are recorded, and a later online pull sends one HEAD
request: a changed ETag, date or size means the upstream file changed, and it
is downloaded (and quantized) again; a server that gives none of them gets a
warning that the cached file's freshness cannot be checked. A cached file is
not read again while its size, mtime and inode are unchanged (--verify reads
it). Two pulls of the same model, in threads or processes, wait for each other
(lock file per model). Models with external data: catalog extra_files.
Quantization: when the catalog entry's [models.quantize] is enabled, right
after the download; the INT8 model is reused only while its key (sha256 of the
FP32 file + quantization options + library version, and for static INT8 the
calibration: method, count, activation type, target SNR, preprocessing and a
sha256 of the samples' names and contents) matches, else rebuilt.
Static INT8 (method = "static_int8", or --calibration DIR) calibrates the
activations on sample images; the default catalog's YOLO entries ask for it
but name no samples, so they fall back to dynamic_int8 with a warning unless
you give your own frames with --calibration DIR. Without usable samples (none
given, a folder missing or empty, an image that does not decode, calibration
failing) a pull falls back to dynamic_int8 with a one-line warning and
succeeds (--strict: exit 1, and a first pull leaves no files). When static INT8
is built but measured not to pay or not to hold (too little of the work left in
int8, a model that ranks its outputs under the target), auto is written instead
and a progress line says why (not a failure, also with --strict). config.json
says which method was used (quantization.method_used, fallback_reason,
fallback_kind) and the output SNR of the check.
)";

constexpr const char* footer_text = R"(--list, --info, --rm and NAMEs exclude each other; --force, --verify,
--no-quantize, --strict, --calibration and --stall-timeout are for pulls only;
--force excludes --offline and --verify; --no-quantize excludes --strict and
--calibration.
Options take their value as `--opt VALUE` or `--opt=VALUE`; after `--` every
argument is a model name.
HF_TOKEN, when set, is sent as a bearer token to the endpoint's host only (never
to a host a redirect leads to).
Apps get the same from the library: #include <mq/store.h>, link mq::fetch,
mq::model_store::open(...)->pull(name, progress) returns the paths and config.

exit codes: 0 success, 1 failure (one line on stderr), 2 usage error)";

enum class command { pull, list, info, remove };

struct cli_options {
  command cmd = command::pull;
  std::vector<std::string> names;
  bool quiet = false;
  mq::store_options store;
};

int usage_error(const std::string& message) { return mq::cli::usage_error("mq-pull", message); }

int fail(const std::string& message) { return mq::cli::fail("mq-pull", message); }

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

// "unknown option '--endpont' (did you mean '--endpoint'?)": the closest option name within a
// couple of typos.
std::string unknown_option(const CLI::App& app, std::string_view arg) {
  const std::string name(arg.substr(0, arg.find('=')));
  std::string best;
  std::size_t best_distance = 3;
  for (const CLI::Option* opt : app.get_options()) {
    std::vector<std::string> names;
    for (const auto& l : opt->get_lnames()) names.push_back("--" + l);
    for (const auto& s : opt->get_snames()) names.push_back("-" + s);
    for (const auto& candidate : names) {
      // Case-blind: "-Q" is a near miss of "-q".
      const std::size_t d = edit_distance(lower(name), lower(candidate));
      if (d < best_distance && (d == 0 || d < candidate.size() / 2)) {
        best_distance = d;
        best = candidate;
      }
    }
  }
  std::string message = "unknown option '" + name + "'";
  if (!best.empty()) message += " (did you mean '" + best + "'?)";
  return message;
}

// CLI11's messages in our style: lowercase, no final period, "given twice" for repeated options.
std::string plain(std::string text) {
  if (const auto at = text.find(": At Most 1 required but received"); at != std::string::npos) {
    return text.substr(0, at) + " can be given only once";
  }
  if (text.size() > 1 && std::isupper(static_cast<unsigned char>(text[0])) &&
      std::islower(static_cast<unsigned char>(text[1]))) {
    text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
  }
  while (!text.empty() && (text.back() == '.' || text.back() == '\n')) text.pop_back();
  return text;
}

// CLI11's help layout with the option descriptions wrapped to 80 columns and without its
// "Excludes:" lists (the footer says which options exclude each other).
class help_formatter : public CLI::Formatter {
 public:
  help_formatter() { column_width(width_); }

  std::string make_option_opts(const CLI::Option* opt) const override {
    if (opt->get_type_size() == 0) return {};
    if (opt->get_lnames().empty() && opt->get_snames().empty()) return "...";  // a positional
    std::string out = " " + opt->get_type_name();
    if (opt->get_expected_max() == CLI::detail::expected_max_vector_size) out += "...";
    return out;
  }

  std::string make_option_desc(const CLI::Option* opt) const override {
    std::string out;
    std::size_t line = 0;
    for (std::string_view rest = opt->get_description(); !rest.empty();) {
      const auto space = rest.find(' ');
      const std::string_view word = rest.substr(0, space);
      rest = space == std::string_view::npos ? std::string_view() : rest.substr(space + 1);
      if (line > 0 && line + 1 + word.size() > 80 - width_) {
        out += '\n';
        line = 0;
      } else if (line > 0) {
        out += ' ';
        ++line;
      }
      out += word;
      line += word.size();
    }
    return out;
  }

 private:
  static constexpr std::size_t width_ = 24;
};

// Returns -1 to continue, or an exit code.
int parse(int argc, char** argv, cli_options& opt) {
  CLI::App app(description_text, "mq-pull");
  app.footer(footer_text);
  app.formatter(std::make_shared<help_formatter>());
  app.set_help_flag("-h,--help", "show this help and exit");
  app.allow_extras();  // unknown options are reported below, with a suggestion
  app.set_version_flag("--version", std::string("mq-pull ") + mq::version() + "\n" + mq::build_description(),
                       "print the version and exit");

  std::string info_name;
  std::string remove_name;
  std::string catalog;
  std::string models_dir;
  std::string endpoint;
  std::string calibration;
  double stall_seconds = 0;
  bool list = false;
  bool offline = false;
  bool no_quantize = false;
  bool force = false;
  bool verify = false;
  bool strict = false;

  auto* names = app.add_option("NAME", opt.names, "models to pull (download, verify, quantize)");
  auto* list_opt = app.add_flag("--list", list,
                                "the catalog, with the cache state of each model (not pulled / FP32 / FP32+INT8) "
                                "and the file sizes");
  auto* info_opt = app.add_option("--info", info_name, "one catalog entry, and its config.json when pulled")
                       ->type_name("NAME");
  auto* rm_opt = app.add_option("--rm", remove_name, "delete a pulled model's folder")->type_name("NAME");
  app.add_option("--catalog", catalog,
                 "a TOML catalog (env MQ_CATALOG; format in catalog/README.md) whose entries are added to the "
                 "built-in catalog; an entry with the same name replaces the built-in one")
      ->type_name("FILE");
  app.add_option("--models-dir", models_dir, "where models go (env MQ_MODELS_DIR; default ./models)")
      ->type_name("DIR");
  auto* endpoint_opt = app.add_option("--endpoint", endpoint,
                 "hub endpoint, http(s)://host or file:///path for a local mirror (env MQ_ENDPOINT, then "
                 "HF_ENDPOINT; default https://huggingface.co); files are fetched from "
                 "{endpoint}/{repo}/resolve/{revision}/{filename}")
      ->type_name("URL");
  auto* offline_opt = app.add_flag("--offline", offline,
                                   "use the cache only, no network (env MQ_OFFLINE=1 or HF_HUB_OFFLINE=1); says "
                                   "which file is missing");
  auto* no_quantize_opt = app.add_flag("--no-quantize", no_quantize,
                                       "do not quantize (FP32 only; an INT8 model that still matches its key is kept)");
  auto* force_opt = app.add_flag("--force", force, "download and quantize again even when cached");
  auto* verify_opt = app.add_flag("--verify", verify,
                                  "hash the cached files and check the INT8 model again (by default a file "
                                  "whose size, mtime and inode are those recorded when it was verified is "
                                  "not read again)");
  auto* strict_opt = app.add_flag("--strict", strict,
                                  "a failed quantization, or static INT8 without usable calibration samples, is "
                                  "an error (default: a warning that says why, and use_int8 = false or the "
                                  "dynamic_int8 fallback, exit 0)");
  auto* calibration_opt =
      app.add_option("--calibration", calibration,
                     "calibrate on your own frames (the best calibration a robot has): a folder of images "
                     "(.jpg, .png), .npy files or test_data_set_* folders, used instead of the catalog's "
                     "calibration folder; the pull then quantizes to static INT8 even when the entry says "
                     "dynamic_int8 (the entry's preprocess and calibration options still apply). This pull "
                     "only: a later pull without it quantizes as the catalog says. A folder that is missing, "
                     "empty or unusable falls back to dynamic_int8 with a warning (--strict: exit 1)")
          ->type_name("DIR");
  auto* stall_opt =
      app.add_option("--stall-timeout", stall_seconds,
                     "abort and retry a download that receives nothing for SEC seconds (default 30)")
          ->type_name("SEC")
          ->check([](const std::string& value) {
            char* end = nullptr;
            const double s = std::strtod(value.c_str(), &end);
            if (end == value.c_str() || *end != '\0' || !(s > 0) || s > 86400) {
              return std::string("needs a positive number of seconds (at most 86400), got '" + value + "'");
            }
            return std::string();
          });
  app.add_flag("-q,--quiet", opt.quiet,
               "print only errors (default: a progress bar with bytes, rate and ETA on a terminal, plain "
               "lines otherwise, on stderr)");

  list_opt->excludes(info_opt)->excludes(rm_opt)->excludes(names);
  info_opt->excludes(rm_opt)->excludes(names);
  rm_opt->excludes(names);
  for (auto* command_opt : {list_opt, info_opt, rm_opt}) {
    for (auto* pull_only : {no_quantize_opt, force_opt, verify_opt, strict_opt, stall_opt, calibration_opt}) {
      command_opt->excludes(pull_only);
    }
  }
  force_opt->excludes(offline_opt);
  force_opt->excludes(verify_opt);
  no_quantize_opt->excludes(strict_opt);
  no_quantize_opt->excludes(calibration_opt);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    fmt::print("{}", app.help());
    return exit_ok;
  } catch (const CLI::CallForVersion& e) {
    fmt::print("{}\n", e.what());
    return exit_ok;
  } catch (const CLI::ParseError& e) {
    return usage_error(plain(e.what()));
  }
  for (const auto& extra : app.remaining()) {
    if (extra == "--") continue;  // CLI11 keeps the positional mark among the extras
    if (extra.size() > 1 && extra[0] == '-') return usage_error(unknown_option(app, extra));
    return usage_error("unexpected argument '" + extra + "'");
  }

  if (list) opt.cmd = command::list;
  if (!info_name.empty() || info_opt->count() > 0) {
    opt.cmd = command::info;
    opt.names = {info_name};
  }
  if (!remove_name.empty() || rm_opt->count() > 0) {
    opt.cmd = command::remove;
    opt.names = {remove_name};
  }
  if (opt.cmd == command::pull && opt.names.empty()) return usage_error("expected a model name (or --list)");
  if (!catalog.empty()) opt.store.catalog_file = catalog;
  if (!models_dir.empty()) opt.store.models_dir = models_dir;
  if (endpoint_opt->count() > 0) {
    if (auto valid = mq::check_endpoint(endpoint); !valid) return usage_error(valid.error().message);
    opt.store.endpoint = endpoint;
  }
  if (offline) opt.store.network = mq::network_mode::offline;
  if (no_quantize) opt.store.quantize = mq::quantize_mode::never;
  if (force) opt.store.cache = mq::cache_policy::refresh;
  if (verify) opt.store.cache = mq::cache_policy::verify;
  if (strict) opt.store.on_quantize_failure = mq::quantize_failure::error;
  if (calibration_opt->count() > 0) {
    if (calibration.empty()) return usage_error("--calibration needs a folder");
    opt.store.calibration = calibration;
  }
  if (stall_opt->count() > 0) {
    opt.store.stall_timeout = std::chrono::milliseconds(static_cast<long long>(stall_seconds * 1000));
  }
  return -1;
}

std::string human_bytes(std::uint64_t bytes) {
  const char* units[] = {"B", "KB", "MB", "GB", "TB"};
  double value = static_cast<double>(bytes);
  std::size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(units)) {
    value /= 1024;
    ++unit;
  }
  return unit == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.1f} {}", value, units[unit]);
}

// Ctrl-C (or SIGTERM) in the middle of a pull: the signal handler ends an open progress bar's
// line and says what happens next, then lets the signal end the process as usual (the partial
// download and its record stay; the next pull resumes them). Only async-signal-safe calls here.
volatile std::sig_atomic_t g_bar_open = 0;
volatile std::sig_atomic_t g_downloading = 0;

extern "C" void on_interrupt(int sig) {
  static const char newline[] = "\n";
  static const char resumes[] =
      "mq-pull: interrupted; the download resumes where it stopped when you run the same command again\n";
  static const char interrupted[] = "mq-pull: interrupted; run the same command again to finish the pull\n";
  if (g_bar_open != 0) (void)!::write(STDERR_FILENO, newline, sizeof newline - 1);
  if (g_downloading != 0) (void)!::write(STDERR_FILENO, resumes, sizeof resumes - 1);
  else (void)!::write(STDERR_FILENO, interrupted, sizeof interrupted - 1);
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

void install_interrupt_handler() {
  struct sigaction action {};
  action.sa_handler = on_interrupt;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGINT, &action, nullptr);
  ::sigaction(SIGTERM, &action, nullptr);
}

// Progress on stderr: a redrawn bar on a terminal, a few plain lines otherwise.
class progress_printer {
 public:
  progress_printer(bool quiet) : quiet_(quiet), tty_(::isatty(STDERR_FILENO) == 1) {}

  void operator()(const mq::pull_progress& p) {
    g_downloading = p.stage == mq::pull_stage::downloading || p.stage == mq::pull_stage::retrying ? 1 : 0;
    if (quiet_) return;
    if (p.stage == mq::pull_stage::downloading) return download(p);
    end_bar();
    switch (p.stage) {
      case mq::pull_stage::waiting:
      case mq::pull_stage::quantizing:
      case mq::pull_stage::upstream_changed:
      case mq::pull_stage::retrying:
        fmt::print(stderr, "{}: {}\n", p.model, mq::cli::one_line(p.message));
        break;
      case mq::pull_stage::verifying:
        fmt::print(stderr, "{}: downloaded {} ({}), verifying\n", p.model, p.file, human_bytes(p.bytes_done));
        break;
      case mq::pull_stage::cached:
        // The message says how the cached file was checked (pinned hash, ETag, ... or not at all).
        fmt::print(stderr, "{}: {} is cached ({}{})\n", p.model, p.file, human_bytes(p.bytes_done),
                   p.message.empty() ? std::string() : "; " + p.message);
        break;
      case mq::pull_stage::warning:
        fmt::print(stderr, "mq-pull: warning: {}\n", mq::cli::one_line(p.message));
        break;
      case mq::pull_stage::downloading:
        break;
    }
  }

  void end_bar() {
    if (bar_open_) fmt::print(stderr, "\n");
    bar_open_ = false;
    g_bar_open = 0;
    file_.clear();
  }

 private:
  void download(const mq::pull_progress& p) {
    const auto now = std::chrono::steady_clock::now();
    if (p.file != file_) {
      end_bar();
      file_ = p.file;
      start_ = now;
      start_bytes_ = p.bytes_done;
      last_ = {};
      next_percent_ = 0;
      if (!tty_) fmt::print(stderr, "{}: downloading {}{}\n", p.model, p.file,
                            p.bytes_total > 0 ? " (" + human_bytes(p.bytes_total) + ")" : std::string());
    }
    const bool complete = p.bytes_total > 0 && p.bytes_done >= p.bytes_total;
    if (tty_) {
      if (now - last_ < std::chrono::milliseconds(100) && !complete) return;
      last_ = now;
      const double seconds = std::chrono::duration<double>(now - start_).count();
      const double rate = seconds > 0 ? static_cast<double>(p.bytes_done - start_bytes_) / seconds : 0;
      std::string line = fmt::format("\r{} {} ", p.model, p.file);
      if (p.bytes_total > 0) {
        const double frac = static_cast<double>(p.bytes_done) / static_cast<double>(p.bytes_total);
        const auto filled = static_cast<std::size_t>(frac * 30);
        line += "[" + std::string(filled, '#') + std::string(30 - std::min<std::size_t>(filled, 30), '.') + "] ";
        line += fmt::format("{:3.0f}% ", frac * 100);
      }
      line += human_bytes(p.bytes_done);
      if (p.bytes_total > 0) line += " / " + human_bytes(p.bytes_total);
      if (rate > 0) {
        line += " " + human_bytes(static_cast<std::uint64_t>(rate)) + "/s";
        if (p.bytes_total > p.bytes_done) {
          line += fmt::format(" eta {:.0f}s", static_cast<double>(p.bytes_total - p.bytes_done) / rate);
        }
      }
      g_bar_open = 1;  // first: a signal may come as soon as the bar is visible
      fmt::print(stderr, "{}   ", line);
      bar_open_ = true;
    } else if (p.bytes_total > 0) {
      // Plain lines at 25% steps: logs stay short.
      const auto percent = static_cast<int>(100.0 * static_cast<double>(p.bytes_done) / static_cast<double>(p.bytes_total));
      if (percent >= next_percent_ && percent > 0) {
        fmt::print(stderr, "{}: {} {}% ({} of {})\n", p.model, p.file, percent, human_bytes(p.bytes_done),
                   human_bytes(p.bytes_total));
        next_percent_ = (percent / 25 + 1) * 25;
      }
    }
  }

  bool quiet_;
  bool tty_;
  bool bar_open_ = false;
  std::string file_;
  std::chrono::steady_clock::time_point start_{};
  std::chrono::steady_clock::time_point last_{};
  std::uint64_t start_bytes_ = 0;
  int next_percent_ = 0;
};

const char* state_text(mq::cache_state s) {
  switch (s) {
    case mq::cache_state::not_pulled: return "not pulled";
    case mq::cache_state::fp32: return "FP32";
    case mq::cache_state::fp32_int8: return "FP32+INT8";
  }
  return "?";
}

int list(const mq::model_store& store) {
  const auto entries = store.list();
  std::size_t width = 4;
  for (const auto& e : entries) width = std::max(width, e.name.size());
  fmt::print("{:<{}}  {:<26}  {:<10}  {:>9}  {:>9}  {}\n", "NAME", width, "TASK", "CACHE", "FP32", "INT8", "DESCRIPTION");
  for (const auto& e : entries) {
    fmt::print("{:<{}}  {:<26}  {:<10}  {:>9}  {:>9}  {}\n", e.name, width, e.task, state_text(e.state),
               e.fp32_bytes > 0 ? human_bytes(e.fp32_bytes) : "-", e.int8_bytes > 0 ? human_bytes(e.int8_bytes) : "-",
               e.description);
  }
  return exit_ok;
}

int info(const mq::model_store& store, const std::string& name) {
  auto e = store.info(name);
  if (!e) return fail(e.error().message);
  fmt::print("name:         {}\ndescription:  {}\ntask:         {}\nsource:       {}\nrevision:     {}\n", e->name,
             e->description, e->task, e->url, e->revision);
  fmt::print("sha256:       {}\nquantize:     {}\ncatalog:      {}\ncache:        {} ({})\n",
             e->sha256.empty() ? "(not pinned; recorded at first pull)" : e->sha256,
             e->quantize ? e->quantize_method + " (" + e->quantize_options + ")" : "no", e->origin, state_text(e->state),
             e->dir.string());
  const auto config = e->dir / "config.json";
  if (e->state != mq::cache_state::not_pulled) {
    std::FILE* f = std::fopen(config.c_str(), "rb");
    if (f != nullptr) {
      fmt::print("config.json:\n");
      char buffer[4096];
      std::size_t n = 0;
      while ((n = std::fread(buffer, 1, sizeof buffer, f)) > 0) std::fwrite(buffer, 1, n, stdout);
      std::fclose(f);
    }
  }
  return exit_ok;
}

}  // namespace

int main(int argc, char** argv) {
  cli_options opt;
  opt.store = mq::store_options::from_environment();
  opt.store.quantize_threads = 0;  // a command-line tool may use every core
  if (int code = parse(argc, argv, opt); code >= 0) return code;

  auto store = mq::model_store::open(opt.store);
  if (!store) return fail(store.error().message);
  if (!opt.quiet) {
    for (const auto& w : store->catalog_warnings()) fmt::print(stderr, "mq-pull: warning: {}\n", mq::cli::one_line(w));
  }
  switch (opt.cmd) {
    case command::list: return list(*store);
    case command::info: return info(*store, opt.names.front());
    case command::remove: {
      if (auto removed = store->remove(opt.names.front()); !removed) return fail(removed.error().message);
      if (!opt.quiet) fmt::print("removed {}\n", (opt.store.models_dir / opt.names.front()).string());
      return exit_ok;
    }
    case command::pull: break;
  }
  install_interrupt_handler();
  progress_printer printer(opt.quiet);
  int status = exit_ok;
  for (const auto& name : opt.names) {
    auto pulled = store->pull(name, [&](const mq::pull_progress& p) { printer(p); });
    printer.end_bar();
    if (!pulled) {
      fail(pulled.error().message);
      status = exit_failure;
      continue;
    }
    if (!opt.quiet) {
      // The method actually used: a static INT8 fallback says so (the line above says why).
      const std::string fell = pulled->fallback_kind == "measured" ? ", measured better than static_int8"
                                                                    : ", static_int8 fell back";
      const std::string method = pulled->quantize_method + (pulled->fallback_reason.empty() ? "" : fell);
      fmt::print("{}: {}{}\n", name, pulled->config.string(),
                 pulled->use_int8 ? " (int8: " + pulled->int8.filename().string() + ", " + method + ")"
                                  : std::string(" (fp32)"));
    }
  }
  return status;
}
