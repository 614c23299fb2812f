// mq-pull end to end: the real binary against a real HTTP server on 127.0.0.1 (in this test
// process), as a robot developer would run it: pull -> FP32 + INT8 + config.json; a changed
// catalog rebuilds INT8; offline pulls work with no server; errors are one line with exit 1/2.
#include <catch2/catch.hpp>

#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <stdexcept>
#include <string>
#include <vector>

#include "fetch/config.h"
#include "mq/model.h"
#include "support/fetch_fixture.h"
#include "support/hub_server.h"
#include "support/run_process.h"
#include "support/temp_dir.h"
#include "support/test_models.h"

#ifndef MQ_PULL_PATH
#error "MQ_PULL_PATH (the mq-pull binary under test) must be defined by the build"
#endif

namespace fs = std::filesystem;
using mq::test::process_result;
using mq::test::config_of;

namespace {

constexpr int exit_ok = 0;
constexpr int exit_failure = 1;
constexpr int exit_usage = 2;

process_result pull(const mq::test::temp_dir& dir, std::vector<std::string> args, const std::string& endpoint = {}) {
  std::vector<std::string> argv = {MQ_PULL_PATH, "--models-dir", (dir / "models").string(), "--catalog",
                                   (dir / "catalog.toml").string()};
  if (!endpoint.empty()) {
    argv.push_back("--endpoint");
    argv.push_back(endpoint);
  }
  argv.insert(argv.end(), args.begin(), args.end());
  return mq::test::run_process(argv, std::chrono::seconds(60));
}

std::size_t line_count(const std::string& text) { return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')); }

}  // namespace

TEST_CASE("mq-pull pulls, quantizes, rebuilds on option changes and works offline", "[cli]") {
  mq::test::temp_dir dir;
  mq::test::write_bytes(dir / "catalog.toml", mq::test::catalog_entry("m"));
  const fs::path model_dir = dir / "models" / "m";
  std::string first_key;
  {
    mq::test::hub_server hub;
    const std::string path = hub.put("test/m", "model.onnx", mq::test::matmul_model_bytes());
    hub.fault(path, [] {
      mq::test::hub_fault f;
      f.drop_after = 500;  // and resume
      return f;
    }());
    auto r = pull(dir, {"m"}, hub.endpoint());
    INFO(r.err);
    REQUIRE(r.exit_code == exit_ok);
    CHECK_THAT(r.out, Catch::Contains("config.json") && Catch::Contains("int8"));
    CHECK_THAT(r.err, Catch::Contains("quantizing"));
    CHECK(fs::exists(model_dir / "model.onnx"));
    CHECK(fs::exists(model_dir / "model-int8.onnx"));
    auto config = config_of(model_dir);
    CHECK(config["use_int8"].get<bool>());
    first_key = config["quantization"]["cache_key"].get<std::string>();
    CHECK(hub.requests(path).back().range == "bytes=500-");

    auto listed = pull(dir, {"--list"});
    REQUIRE(listed.exit_code == exit_ok);
    CHECK_THAT(listed.out, Catch::Contains("FP32+INT8") && Catch::Contains("yolov8n"));

    // Same options: nothing is rebuilt.
    auto again = pull(dir, {"m"}, hub.endpoint());
    REQUIRE(again.exit_code == exit_ok);
    CHECK_THAT(again.err, !Catch::Contains("quantizing"));
    CHECK(config_of(model_dir)["quantization"]["cache_key"].get<std::string>() == first_key);

    // The upstream file changes (new ETag, no sha256 in the catalog): downloaded and quantized again.
    hub.put("test/m", "model.onnx", mq::test::matmul_model_bytes(32, 16, false, 2.0f), "main", "\"v2\"");
    auto changed = pull(dir, {"m"}, hub.endpoint());
    INFO(changed.err);
    REQUIRE(changed.exit_code == exit_ok);
    CHECK_THAT(changed.err, Catch::Contains("upstream file changed") && Catch::Contains("quantizing"));
    first_key = config_of(model_dir)["quantization"]["cache_key"].get<std::string>();
  }
  // Changed options, offline (no server at all): the INT8 model is rebuilt from the cached FP32.
  mq::test::write_bytes(dir / "catalog.toml",
                        mq::test::catalog_entry("m", {}, "enabled = true\nmethod = \"weight_only_int8\"\n"));
  auto offline = pull(dir, {"m", "--offline"}, "http://127.0.0.1:1");
  INFO(offline.err);
  REQUIRE(offline.exit_code == exit_ok);
  CHECK_THAT(offline.err, Catch::Contains("quantizing"));
  auto config = config_of(model_dir);
  CHECK(config["use_int8"].get<bool>());
  CHECK(config["quantization"]["cache_key"].get<std::string>() != first_key);
  auto int8 = mq::model::load(model_dir / "model-int8.onnx");
  REQUIRE(int8);
  CHECK(int8->metadata("mq.cache_key") == config["quantization"]["cache_key"].get<std::string>());

  auto info = pull(dir, {"--info", "m"});
  REQUIRE(info.exit_code == exit_ok);
  CHECK_THAT(info.out, Catch::Contains("FP32+INT8") && Catch::Contains("\"use_int8\": true"));

  auto removed = pull(dir, {"--rm", "m"});
  REQUIRE(removed.exit_code == exit_ok);
  CHECK_FALSE(fs::exists(model_dir));
  auto not_pulled = pull(dir, {"--rm", "m"});
  CHECK(not_pulled.exit_code == exit_failure);
  CHECK(not_pulled.out.empty());
  CHECK(line_count(not_pulled.err) == 1);
  CHECK_THAT(not_pulled.err, Catch::StartsWith("mq-pull: error: model 'm' is not pulled"));

  auto missing = pull(dir, {"m", "--offline"});
  CHECK(missing.exit_code == exit_failure);
  CHECK(line_count(missing.err) == 1);
  CHECK_THAT(missing.err, Catch::StartsWith("mq-pull: error: offline: model 'm'"));
}

TEST_CASE("mq-pull: two processes pulling the same model both succeed", "[cli]") {
  mq::test::temp_dir dir;
  mq::test::write_bytes(dir / "catalog.toml", mq::test::catalog_entry("m"));
  mq::test::hub_server hub;
  const std::string model = mq::test::matmul_model_bytes();
  const std::string path = hub.put("test/m", "model.onnx", model);
  mq::test::hub_fault slow;
  slow.drop_after = 1500;
  slow.stall = std::chrono::milliseconds(200);
  hub.fault(path, slow);
  auto a = std::async(std::launch::async, [&] { return pull(dir, {"m"}, hub.endpoint()); });
  auto b = std::async(std::launch::async, [&] { return pull(dir, {"m"}, hub.endpoint()); });
  const auto ra = a.get();
  const auto rb = b.get();
  INFO(ra.err << rb.err);
  CHECK(ra.exit_code == exit_ok);
  CHECK(rb.exit_code == exit_ok);
  CHECK(mq::test::read_bytes(dir / "models" / "m" / "model.onnx") == model);
  CHECK(config_of(dir / "models" / "m")["use_int8"].get<bool>());
  std::size_t gets = 0;
  for (const auto& r : hub.requests(path)) gets += r.method == "GET" ? 1 : 0;
  CHECK(gets == 2);  // one transfer and its resume (the later pull may check the ETag with HEAD)
}

TEST_CASE("mq-pull errors: one stderr line, exit 1; usage errors exit 2", "[cli]") {
  mq::test::temp_dir dir;
  mq::test::write_bytes(dir / "catalog.toml", mq::test::catalog_entry("m"));
  mq::test::hub_server hub;  // serves nothing: every file is a 404

  auto not_found = pull(dir, {"m", "-q"}, hub.endpoint());
  CHECK(not_found.exit_code == exit_failure);
  CHECK(line_count(not_found.err) == 1);
  CHECK_THAT(not_found.err, Catch::Contains("http 404") && Catch::Contains(hub.endpoint() + "/test/m/resolve/main/model.onnx"));
  CHECK(not_found.out.empty());
  CHECK(hub.requests().size() == 1);

  auto unknown = pull(dir, {"nope"}, hub.endpoint());
  CHECK(unknown.exit_code == exit_failure);
  CHECK_THAT(unknown.err, Catch::Contains("model 'nope' is not in the catalog"));

  mq::test::write_bytes(dir / "bad.toml", "[[models]]\nname = \"x\"\nrepo = \"a/b\"\n");
  auto bad = mq::test::run_process({MQ_PULL_PATH, "--catalog", (dir / "bad.toml").string(), "--list"});
  CHECK(bad.exit_code == exit_failure);
  CHECK(line_count(bad.err) == 1);
  CHECK_THAT(bad.err, Catch::Contains("bad.toml':1: model 'x': missing 'filename'"));

  CHECK(mq::test::run_process({MQ_PULL_PATH}).exit_code == exit_usage);
  CHECK(mq::test::run_process({MQ_PULL_PATH, "--bogus"}).exit_code == exit_usage);
  CHECK(mq::test::run_process({MQ_PULL_PATH, "--list", "--rm", "m"}).exit_code == exit_usage);
  CHECK(mq::test::run_process({MQ_PULL_PATH, "m", "--stall-timeout", "x"}).exit_code == exit_usage);
  auto endpoint = mq::test::run_process({MQ_PULL_PATH, "m", "--endpoint", "file://tmp/mirror"});
  CHECK(endpoint.exit_code == exit_usage);
  CHECK_THAT(endpoint.err, Catch::Contains("endpoint 'file://tmp/mirror'") && Catch::Contains("file:///tmp/mirror"));
  auto help = mq::test::run_process({MQ_PULL_PATH, "--help"});
  CHECK(help.exit_code == exit_ok);
  CHECK_THAT(help.out, Catch::Contains("--offline") && Catch::Contains("HF_TOKEN") && Catch::Contains("--strict"));
  auto version = mq::test::run_process({MQ_PULL_PATH, "--version"});
  CHECK(version.exit_code == exit_ok);
  CHECK_THAT(version.out, Catch::StartsWith("mq-pull "));
}

TEST_CASE("mq-pull command line: --opt=value, --, conflicts and unknown options (CLI11)", "[cli]") {
  mq::test::temp_dir dir;
  mq::test::write_bytes(dir / "catalog.toml", mq::test::catalog_entry("m"));
  mq::test::hub_server hub;
  hub.put("test/m", "model.onnx", mq::test::matmul_model_bytes());
  const std::string models = "--models-dir=" + (dir / "models").string();
  const std::string catalog = "--catalog=" + (dir / "catalog.toml").string();

  SECTION("usage errors exit 2 before any request or folder") {
    struct usage_case {
      std::vector<std::string> args;
      std::string message;
    };
    const std::vector<usage_case> cases = {
        {{"m", "--endpont=" + hub.endpoint()}, "unknown option '--endpont' (did you mean '--endpoint'?)"},
        {{"m", "--forse"}, "unknown option '--forse' (did you mean '--force'?)"},
        {{"m", "-Q"}, "unknown option '-Q' (did you mean '-q'?)"},
        {{"m", "--completely-different"}, "unknown option '--completely-different'\n"},
        {{"m", "--force", "--offline"}, "excludes"},
        {{"m", "--force", "--verify"}, "excludes"},
        {{"m", "--no-quantize", "--strict"}, "excludes"},
        {{"--list", "m"}, "excludes --list"},
        {{"--list", "--info", "m"}, "excludes"},
        {{"--list", "--force"}, "excludes"},
        {{"m", "--endpoint", hub.endpoint(), "--endpoint=" + hub.endpoint()}, "--endpoint can be given only once"},
        {{"m", "--stall-timeout=0"}, "--stall-timeout"},
        {{"m", "--stall-timeout"}, "--stall-timeout"},
        {{"-q"}, "expected a model name"},
    };
    for (const auto& c : cases) {
      std::vector<std::string> argv = {MQ_PULL_PATH, models, catalog, "--endpoint=" + hub.endpoint()};
      if (c.message.find("--endpoint can be given") != std::string::npos) argv.pop_back();
      argv.insert(argv.end(), c.args.begin(), c.args.end());
      const auto r = mq::test::run_process(argv);
      INFO(c.args.back() << ": " << r.err);
      CHECK(r.exit_code == exit_usage);
      CHECK_THAT(r.err, Catch::StartsWith("mq-pull: ") && Catch::Contains(c.message) &&
                            Catch::Contains("run 'mq-pull --help' for usage"));
      CHECK(r.out.empty());
    }
    CHECK(hub.requests().empty());
    CHECK_FALSE(fs::exists(dir / "models"));
  }
  SECTION("--opt=value and -- work") {
    auto r = mq::test::run_process({MQ_PULL_PATH, models, catalog, "--endpoint=" + hub.endpoint(), "-q", "--", "m"});
    INFO(r.err);
    REQUIRE(r.exit_code == exit_ok);
    CHECK(fs::exists(dir / "models" / "m" / "config.json"));
    // After `--` an option-looking word is a model name, not an option.
    auto name = mq::test::run_process({MQ_PULL_PATH, models, catalog, "--offline", "--", "--list"});
    CHECK(name.exit_code == exit_failure);
    CHECK_THAT(name.err, Catch::Contains("'--list'"));
  }
  SECTION("--help lists every option and the conflicts") {
    auto help = mq::test::run_process({MQ_PULL_PATH, "--help"});
    CHECK(help.exit_code == exit_ok);
    for (const char* option : {"--list", "--info", "--rm", "--catalog", "--models-dir", "--endpoint", "--offline",
                               "--no-quantize", "--force", "--verify", "--strict", "--stall-timeout", "--quiet",
                               "--version"}) {
      CHECK_THAT(help.out, Catch::Contains(option));
    }
    CHECK_THAT(help.out, Catch::Contains("--force excludes --offline") && Catch::Contains("--opt=VALUE"));
  }
}

TEST_CASE("mq-pull says when a cached file's freshness cannot be checked", "[cli]") {
  mq::test::temp_dir dir;
  mq::test::write_bytes(dir / "catalog.toml", mq::test::catalog_entry("m"));
  mq::test::hub_server hub;
  const std::string path = hub.put("test/m", "model.onnx", mq::test::matmul_model_bytes());
  hub.headers(path, {false, "", false});  // a plain server: no ETag, no Last-Modified, no length
  REQUIRE(pull(dir, {"m"}, hub.endpoint()).exit_code == exit_ok);
  auto again = pull(dir, {"m"}, hub.endpoint());
  INFO(again.err);
  CHECK(again.exit_code == exit_ok);
  CHECK_THAT(again.err, Catch::Contains("model.onnx is cached") && Catch::Contains("freshness cannot be checked") &&
                            Catch::Contains("mq-pull: warning: ") && !Catch::Contains("up to date"));
}

TEST_CASE("mq-pull warns once that HF_TOKEN travels unencrypted over http://", "[cli]") {
  mq::test::temp_dir dir;
  mq::test::write_bytes(dir / "catalog.toml", mq::test::catalog_entry("m") + mq::test::catalog_entry("n"));
  mq::test::hub_server hub;
  hub.put("test/m", "model.onnx", mq::test::matmul_model_bytes());
  hub.put("test/n", "model.onnx", mq::test::matmul_model_bytes());
  ::setenv("HF_TOKEN", "secret-token", 1);  // inherited by the child only for this run
  auto r = pull(dir, {"m", "n"}, hub.endpoint());
  ::unsetenv("HF_TOKEN");
  INFO(r.err);
  REQUIRE(r.exit_code == exit_ok);
  std::size_t warnings = 0;
  for (std::size_t at = r.err.find("HF_TOKEN"); at != std::string::npos; at = r.err.find("HF_TOKEN", at + 1)) ++warnings;
  CHECK(warnings == 1);
  CHECK_THAT(r.err, Catch::Contains("mq-pull: warning: ") && Catch::Contains("unencrypted"));
  for (const auto& req : hub.requests()) CHECK(req.authorization == "Bearer secret-token");
}

namespace {

struct terminal_run {
  std::string output;   // what the program wrote to its terminal (stdout and stderr)
  int term_signal = 0;  // the signal that ended it, 0 when it exited
  int exit_code = -1;
};

// Runs `argv` on a pseudo-terminal (so mq-pull draws its progress bar) and sends it SIGINT, as
// Ctrl-C does, once its output contains `trigger`.
terminal_run run_on_terminal_and_interrupt(const std::vector<std::string>& program, const std::string& trigger) {
  const std::vector<std::string> argv = mq::test::emulated_argv(program);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  int master = -1;
  const pid_t pid = ::forkpty(&master, nullptr, nullptr, nullptr);
  if (pid < 0) throw std::runtime_error("forkpty failed");
  if (pid == 0) {
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  terminal_run out;
  bool interrupted = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{master, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    char buffer[4096];
    const ssize_t n = ::read(master, buffer, sizeof buffer);
    if (n <= 0) break;  // EIO: the program ended and the terminal closed
    out.output.append(buffer, static_cast<std::size_t>(n));
    if (!interrupted && out.output.find(trigger) != std::string::npos) {
      ::kill(pid, SIGINT);
      interrupted = true;
    }
  }
  if (std::chrono::steady_clock::now() >= deadline) ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ::close(master);
  if (WIFSIGNALED(status)) out.term_signal = WTERMSIG(status);
  if (WIFEXITED(status)) out.exit_code = WEXITSTATUS(status);
  return out;
}

}  // namespace

TEST_CASE("mq-pull prints each retry, and Ctrl-C ends the bar's line and says the pull resumes", "[cli]") {
  mq::test::temp_dir dir;
  mq::test::write_bytes(dir / "catalog.toml", mq::test::catalog_entry("m"));
  mq::test::hub_server hub;
  const std::string model = mq::test::matmul_model_bytes();
  const std::string path = hub.put("test/m", "model.onnx", model);

  SECTION("retries: one line each") {
    mq::test::hub_fault f;
    f.status = 503;
    f.times = 2;
    hub.fault(path, f);
    auto r = pull(dir, {"m"}, hub.endpoint());
    INFO(r.err);
    REQUIRE(r.exit_code == exit_ok);
    CHECK_THAT(r.err, Catch::Contains("m: '" + hub.endpoint() + path + "': http 503 server error (attempt 1 of 5 "
                                      "failed; next try in 0.5 s)\n") &&
                          Catch::Contains("(attempt 2 of 5 failed; next try in 1.0 s)\n"));
  }
  SECTION("Ctrl-C") {
    mq::test::hub_fault f;
    f.drop_after = 2000;
    f.stall = std::chrono::seconds(30);  // the server goes quiet after 2000 bytes
    hub.fault(path, f);
    auto r = run_on_terminal_and_interrupt(
        {MQ_PULL_PATH, "m", "--models-dir", (dir / "models").string(), "--catalog", (dir / "catalog.toml").string(),
         "--endpoint", hub.endpoint()},
        "m model.onnx [");
    INFO(r.output);
    CHECK(r.term_signal == SIGINT);
    const auto at = r.output.find("mq-pull: interrupted; the download resumes where it stopped");
    REQUIRE(at != std::string::npos);
    // The message is on its own line, right after the bar's (which the handler ended).
    const auto bar = r.output.rfind("m model.onnx [", at);
    REQUIRE(bar != std::string::npos);
    const std::string between = r.output.substr(bar, at - bar);
    CHECK(std::count(between.begin(), between.end(), '\n') == 1);
    CHECK(r.output[at - 1] == '\n');
    CHECK(fs::file_size(dir / "models" / "m" / "model.onnx.partial") == 2000);
    // And it does resume.
    auto again = pull(dir, {"m"}, hub.endpoint());
    INFO(again.err);
    REQUIRE(again.exit_code == exit_ok);
    CHECK(hub.requests(path).back().range == "bytes=2000-");
    CHECK((mq::test::read_bytes(dir / "models" / "m" / "model.onnx") == model));
  }
}

TEST_CASE("mq-pull --verify hashes a cached model that looks unchanged", "[cli]") {
  mq::test::temp_dir dir;
  mq::test::write_bytes(dir / "catalog.toml", mq::test::catalog_entry("m"));
  mq::test::hub_server hub;
  const std::string model = mq::test::matmul_model_bytes();
  const std::string path = hub.put("test/m", "model.onnx", model);
  REQUIRE(pull(dir, {"m"}, hub.endpoint()).exit_code == exit_ok);
  // Same size, same inode, same mtime, other bytes: only reading the file shows it.
  const fs::path file = dir / "models" / "m" / "model.onnx";
  const auto mtime = fs::last_write_time(file);
  {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.write(std::string(model.size(), 'x').data(), static_cast<std::streamsize>(model.size()));
  }
  fs::last_write_time(file, mtime);
  auto plain = pull(dir, {"m"}, hub.endpoint());
  CHECK(plain.exit_code == exit_ok);
  CHECK_THAT(plain.err, Catch::Contains("model.onnx is cached"));
  auto verified = pull(dir, {"m", "--verify"}, hub.endpoint());
  INFO(verified.err);
  CHECK(verified.exit_code == exit_ok);
  CHECK_THAT(verified.err, Catch::Contains("downloaded model.onnx"));
  CHECK((mq::test::read_bytes(file) == model));
}

TEST_CASE("mq-pull static_int8: --calibration DIR, the fallback's warning and --strict", "[cli][static]") {
  mq::test::temp_dir dir;
  mq::test::hub_server hub;
  hub.put("test/c", "model.onnx", mq::test::conv_model_bytes());
  // The entry names no folder, like the default catalog's YOLO entries.
  mq::test::write_bytes(dir / "catalog.toml", mq::test::catalog_entry("c", {}, mq::test::static_quantize({})));
  const fs::path model_dir = dir / "models" / "c";

  // --strict without photos: exit 1, one line, nothing left behind.
  auto strict = pull(dir, {"c", "--strict"}, hub.endpoint());
  CHECK(strict.exit_code == exit_failure);
  CHECK(line_count(strict.err) == 1);
  CHECK(strict.err == "mq-pull: error: model 'c': static INT8 has no usable calibration data (--strict): the catalog "
                      "entry names no calibration folder; give calibration frames with --calibration DIR or a 'calibration' "
                      "folder in the catalog\n");
  CHECK_FALSE(fs::exists(dir / "models"));

  // --strict with a photo that does not decode: the failure comes after the download, still nothing left.
  const fs::path bad = mq::test::write_photos(dir / "bad", 2);
  mq::test::write_bytes(bad / "frame1.png", "not a png");
  auto strict_bad = pull(dir, {"c", "--strict", "--calibration", bad.string()}, hub.endpoint());
  CHECK(strict_bad.exit_code == exit_failure);
  CHECK_THAT(strict_bad.err, Catch::Contains("quantization failed (--strict)") && Catch::Contains("frame1.png"));
  CHECK_FALSE(fs::exists(dir / "models"));

  // Without photos: dynamic_int8, one warning line that says why and what to do.
  auto fallback = pull(dir, {"c"}, hub.endpoint());
  INFO(fallback.err);
  REQUIRE(fallback.exit_code == exit_ok);
  CHECK_THAT(fallback.err, Catch::Contains("mq-pull: warning: model 'c': static_int8 fell back to dynamic_int8: the "
                                           "catalog entry names no calibration folder; give calibration frames with "
                                           "--calibration DIR or a 'calibration' folder in the catalog\n"));
  CHECK_THAT(fallback.err, Catch::Contains("quantizing 'c' (dynamic_int8)") && !Catch::Contains("(static_int8:"));
  CHECK(config_of(model_dir)["quantization"]["method_used"] == "dynamic_int8");

  // --calibration DIR: static INT8 on the user's photos.
  const fs::path photos = mq::test::write_photos(dir / "frames", 4);
  auto calibrated = pull(dir, {"c", "--calibration=" + photos.string()}, hub.endpoint());
  INFO(calibrated.err);
  REQUIRE(calibrated.exit_code == exit_ok);
  CHECK_THAT(calibrated.err, Catch::Contains("quantizing") && !Catch::Contains("fell back"));
  CHECK_THAT(calibrated.out, Catch::Contains("static_int8"));
  auto config = config_of(model_dir);
  CHECK(config["quantization"]["method_used"] == "static_int8");
  CHECK(config["quantization"]["calibration"]["source"] == "user_folder");
  CHECK(mq::test::has_quantized_activations(model_dir / "model-int8.onnx"));
  const std::string key = config["quantization"]["cache_key"].get<std::string>();

  // The same photos: a cache hit; a changed photo: quantized again.
  auto same = pull(dir, {"c", "--calibration", photos.string()}, hub.endpoint());
  REQUIRE(same.exit_code == exit_ok);
  CHECK_THAT(same.err, !Catch::Contains("quantizing"));
  CHECK(config_of(model_dir)["quantization"]["cache_key"] == key);
  mq::test::write_png(photos / "frame3.png", 42);
  auto changed = pull(dir, {"c", "--calibration", photos.string()}, hub.endpoint());
  REQUIRE(changed.exit_code == exit_ok);
  CHECK_THAT(changed.err, Catch::Contains("quantizing"));
  CHECK(config_of(model_dir)["quantization"]["cache_key"] != key);
  CHECK(mq::test::has_quantized_activations(model_dir / "model-int8.onnx"));

  // Usage: --calibration needs a pull.
  auto usage = pull(dir, {"--list", "--calibration", photos.string()});
  CHECK(usage.exit_code == exit_usage);
}
