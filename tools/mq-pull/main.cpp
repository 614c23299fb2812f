// mq-pull: download catalog models, verify them and quantize them, for robot apps.
#include <fmt/core.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "mq/store.h"
#include "mq/version.h"
#include "common/cli.h"

namespace {

using mq::cli::exit_failure;
using mq::cli::exit_ok;
using mq::cli::exit_usage;

constexpr const char* usage_text = R"(usage: mq-pull NAME... [options]
       mq-pull --list | --info NAME | --rm NAME

Downloads models named in the model catalog into <models-dir>/<name>/, checks
them, and quantizes them to INT8 in process (no Python, no external program).
An app then reads config.json:
  model.onnx        the FP32 model as downloaded (sha256 checked or recorded)
  model-int8.onnx   the INT8 model, when quantization is enabled and succeeded
  labels.txt        class labels, when the catalog gives them
  config.json       task, preprocessing preset, input names/shapes/types, paths,
                    use_int8, source URL, revision, sha256, ETag, quantization
                    options, key and report summary
Every file is published atomically (temporary file + rename), config.json last.

Downloads: interrupted downloads resume from <file>.partial with a Range
request (a server that ignores Range restarts from zero); connection resets,
timeouts, stalls and 5xx are retried with backoff; 401/403/404 are not (the
error names the URL, the status and what to check). A sha256 from the catalog
is checked; a mismatch, or bytes that are not an ONNX model, deletes the
download. Without a catalog sha256 the file's sha256 and ETag are recorded, and
a later online pull sends one HEAD request: a changed ETag means the upstream
file changed, and it is downloaded (and quantized) again. Two pulls of the same
model, in threads or processes, wait for each other (lock file per model).
Quantization: when the catalog entry's [models.quantize] is enabled, right
after the download; the INT8 model is reused only while its key (sha256 of the
FP32 file + quantization options + library version) matches, else rebuilt.

commands:
  NAME...              pull these models (download, verify, quantize)
  --list               the catalog, with the cache state of each model (not
                       pulled / FP32 / FP32+INT8) and the file sizes
  --info NAME          one catalog entry, and its config.json when pulled
  --rm NAME            delete a pulled model's folder

options:
  --catalog FILE       a TOML catalog (env MQ_CATALOG; format in
                       catalog/README.md) whose entries are added to the
                       built-in catalog; an entry with the same name replaces
                       the built-in one
  --models-dir DIR     where models go (env MQ_MODELS_DIR; default ./models)
  --endpoint URL       hub endpoint, http(s):// or file:// for a local mirror
                       (env MQ_ENDPOINT, then HF_ENDPOINT; default
                       https://huggingface.co); files are fetched from
                       {endpoint}/{repo}/resolve/{revision}/{filename}
  --offline            use the cache only, no network (env MQ_OFFLINE=1 or
                       HF_HUB_OFFLINE=1); says which file is missing
  --no-quantize        do not quantize (FP32 only; an INT8 model that still
                       matches its key is kept)
  --force              download and quantize again even when cached
  --strict             a failed quantization is an error (default: a warning
                       that says why, use_int8 = false, exit 0)
  --stall-timeout SEC  abort and retry a download that receives nothing for SEC
                       seconds (default 30)
  -q, --quiet          print only errors (default: a progress bar with bytes,
                       rate and ETA on a terminal, plain lines otherwise, on
                       stderr)
  -h, --help           show this help and exit
  --version            print the version and exit

HF_TOKEN, when set, is sent as a bearer token to the endpoint's host only (never
to a host a redirect leads to).
Apps get the same from the library: #include <mq/store.h>, link mq::fetch,
mq::model_store::open(...)->pull(name, progress) returns the paths and config.

exit codes: 0 success, 1 failure (one line on stderr), 2 usage error
)";

enum class command { pull, list, info, remove };

struct cli_options {
  command cmd = command::pull;
  std::vector<std::string> names;
  bool quiet = false;
  mq::store_options store;
};

int usage_error(const std::string& message) { return mq::cli::usage_error("mq-pull", message); }

int fail(const std::string& message) { return mq::cli::fail("mq-pull", message); }

bool takes_value(std::string_view arg) {
  return arg == "--catalog" || arg == "--models-dir" || arg == "--endpoint" || arg == "--info" || arg == "--rm" ||
         arg == "--stall-timeout";
}

int set_command(cli_options& opt, command cmd) {
  if (opt.cmd != command::pull && opt.cmd != cmd) return usage_error("--list, --info and --rm cannot be combined");
  opt.cmd = cmd;
  return -1;
}

// Returns -1 to continue, or an exit code.
int parse(int argc, char** argv, cli_options& opt) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (auto code = mq::cli::help_or_version(arg, "mq-pull", usage_text, mq::version())) return *code;
    if (takes_value(arg)) {
      if (i + 1 >= argc) return usage_error(std::string(arg) + " needs a value");
      const std::string value = argv[++i];
      if (arg == "--catalog") opt.store.catalog_file = value;
      else if (arg == "--models-dir") opt.store.models_dir = value;
      else if (arg == "--endpoint") opt.store.endpoint = value;
      else if (arg == "--stall-timeout") {
        char* end = nullptr;
        const double seconds = std::strtod(value.c_str(), &end);
        if (end == value.c_str() || *end != '\0' || !(seconds > 0) || seconds > 86400) {
          return usage_error("--stall-timeout needs a positive number of seconds, got '" + value + "'");
        }
        opt.store.stall_timeout = std::chrono::milliseconds(static_cast<long long>(seconds * 1000));
      } else {
        if (int code = set_command(opt, arg == "--info" ? command::info : command::remove); code >= 0) return code;
        opt.names.push_back(value);
      }
    } else if (arg == "--list") {
      if (int code = set_command(opt, command::list); code >= 0) return code;
    } else if (arg == "--offline") {
      opt.store.network = mq::network_mode::offline;
    } else if (arg == "--no-quantize") {
      opt.store.quantize = mq::quantize_mode::never;
    } else if (arg == "--force") {
      opt.store.cache = mq::cache_policy::refresh;
    } else if (arg == "--strict") {
      opt.store.on_quantize_failure = mq::quantize_failure::error;
    } else if (arg == "-q" || arg == "--quiet") {
      opt.quiet = true;
    } else if (arg.size() > 1 && arg[0] == '-') {
      return usage_error("unknown option '" + std::string(arg) + "'");
    } else {
      if (opt.cmd != command::pull) return usage_error("unexpected argument '" + std::string(arg) + "'");
      opt.names.emplace_back(arg);
    }
  }
  if (opt.cmd == command::pull && opt.names.empty()) return usage_error("expected a model name (or --list)");
  if (opt.cmd == command::list && !opt.names.empty()) return usage_error("--list takes no model names");
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

// Progress on stderr: a redrawn bar on a terminal, a few plain lines otherwise.
class progress_printer {
 public:
  progress_printer(bool quiet) : quiet_(quiet), tty_(::isatty(STDERR_FILENO) == 1) {}

  void operator()(const mq::pull_progress& p) {
    if (quiet_) return;
    if (p.stage == mq::pull_stage::downloading) return download(p);
    end_bar();
    switch (p.stage) {
      case mq::pull_stage::waiting:
      case mq::pull_stage::quantizing:
      case mq::pull_stage::upstream_changed:
        fmt::print(stderr, "{}: {}\n", p.model, p.message);
        break;
      case mq::pull_stage::verifying:
        fmt::print(stderr, "{}: downloaded {} ({}), verifying\n", p.model, p.file, human_bytes(p.bytes_done));
        break;
      case mq::pull_stage::cached:
        fmt::print(stderr, "{}: {} is cached and up to date ({})\n", p.model, p.file, human_bytes(p.bytes_done));
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
             e->quantize ? e->quantize_options : "no", e->origin, state_text(e->state), e->dir.string());
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
      fmt::print("{}: {}{}\n", name, pulled->config.string(),
                 pulled->use_int8 ? " (int8: " + pulled->int8.filename().string() + ")" : std::string(" (fp32)"));
    }
  }
  return status;
}
