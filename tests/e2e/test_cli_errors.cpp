// mq-quantize on bad input, end to end: the real binary, run as a user would run it. Every
// failure must exit 1 with exactly one stderr line naming the file and the problem, leave the
// input byte for byte as it was, and leave nothing (no output, no temporary) in the output folder.
#include <catch2/catch.hpp>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "mq/model.h"
#include "support/run_process.h"
#include "support/temp_dir.h"
#include "support/test_models.h"

#ifndef MQ_QUANTIZE_PATH
#error "MQ_QUANTIZE_PATH (the mq-quantize binary under test) must be defined by the build"
#endif

namespace fs = std::filesystem;
using mq::test::process_result;
using mq::test::temp_dir;

namespace {

constexpr int exit_ok = 0;
constexpr int exit_failure = 1;
constexpr int exit_usage = 2;

process_result quantize(std::vector<std::string> args) {
  args.insert(args.begin(), MQ_QUANTIZE_PATH);
  return mq::test::run_process(args);
}

// y = MatMul(x, w) with w [rows, cols] inline: the smallest model the CLI accepts.
onnx::ModelProto good_model(std::int64_t rows = 4, std::int64_t cols = 3) {
  auto proto = mq::test::parse_text_model(R"ONNX(
<ir_version: 8, opset_import: ["" : 13]>
g (float[1, N] x) => (float[1, M] y) {
  y = MatMul(x, w)
}
)ONNX");
  std::vector<float> values(static_cast<std::size_t>(rows * cols));
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i) * 0.25f - 1.0f;
  *proto.mutable_graph()->add_initializer() = mq::test::float_tensor("w", {rows, cols}, values);
  return proto;
}

// The same model with w [3, 4] (48 bytes) stored in `location` at offset 0.
onnx::ModelProto external_model(const std::string& location) {
  auto proto = good_model();
  auto* w = proto.mutable_graph()->mutable_initializer(0);
  w->clear_raw_data();
  w->clear_dims();
  w->add_dims(3);
  w->add_dims(4);
  w->set_data_location(onnx::TensorProto::EXTERNAL);
  const std::pair<const char*, std::string> entries[] = {
      {"location", location}, {"offset", "0"}, {"length", "48"}};
  for (const auto& [key, value] : entries) {
    auto* entry = w->add_external_data();
    entry->set_key(key);
    entry->set_value(value);
  }
  return proto;
}

std::string random_bytes(std::size_t n, std::uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_int_distribution<int> byte(0, 255);
  std::string out(n, '\0');
  for (auto& c : out) c = static_cast<char>(byte(gen));
  return out;
}

// Every entry of a folder with the content of regular files (nullopt for folders and others),
// to prove a run changed nothing there.
std::map<std::string, std::optional<std::string>> snapshot(const fs::path& dir) {
  std::map<std::string, std::optional<std::string>> files;
  for (const auto& e : fs::directory_iterator(dir)) {
    std::optional<std::string> bytes;
    if (e.is_regular_file()) bytes = mq::test::read_bytes(e.path());
    files.emplace(e.path().filename().string(), std::move(bytes));
  }
  return files;
}

// Sorted names in a folder.
std::vector<std::string> listing(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// What a run could leave behind for `out`: the file, its .data, and their temporaries
// (`.<name>.tmp-*`). Used where the whole folder cannot be compared (/proc).
std::vector<std::string> output_traces(const fs::path& out) {
  std::vector<std::string> found;
  const std::string name = out.filename().string();
  std::error_code ec;
  for (fs::directory_iterator it(out.parent_path(), ec), end; !ec && it != end; it.increment(ec)) {
    const std::string entry = it->path().filename().string();
    if (entry == name || entry == name + ".data" || entry.starts_with("." + name + ".tmp-") ||
        entry.starts_with("." + name + ".data.tmp-")) {
      found.push_back(entry);
    }
  }
  std::sort(found.begin(), found.end());
  return found;
}

// The failure contract: exit 1, nothing on stdout, one stderr line "mq-quantize: error: ..."
// containing every string in `mentions` (the file concerned and the problem).
void check_failure_report(const process_result& r, const std::vector<std::string>& mentions) {
  INFO("stdout: " << r.out);
  INFO("stderr: " << r.err);
  CHECK_FALSE(r.timed_out);
  CHECK(r.term_signal == 0);
  CHECK(r.exit_code == exit_failure);
  CHECK(r.out.empty());
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  CHECK_THAT(r.err, Catch::StartsWith("mq-quantize: error: ") && Catch::EndsWith("\n"));
  for (const auto& m : mentions) CHECK_THAT(r.err, Catch::Contains(m));
}

enum class watch_output_folder { whole, traces_only };

// Runs `mq-quantize in out` and checks the failure contract, that the input's folder (input,
// external data) is byte for byte unchanged, and that nothing appeared for `out`.
void expect_refused(const fs::path& in, const fs::path& out, const std::vector<std::string>& mentions,
                    watch_output_folder watch = watch_output_folder::whole) {
  INFO("mq-quantize '" << in.string() << "' '" << out.string() << "'");
  const auto input_folder = snapshot(in.parent_path());
  const auto traces = output_traces(out);
  std::optional<std::map<std::string, std::optional<std::string>>> output_folder;
  if (watch == watch_output_folder::whole && fs::is_directory(out.parent_path())) {
    output_folder = snapshot(out.parent_path());
  }

  check_failure_report(quantize({in.string(), out.string()}), mentions);

  CHECK(snapshot(in.parent_path()) == input_folder);
  CHECK(output_traces(out) == traces);
  if (output_folder) CHECK(snapshot(out.parent_path()) == *output_folder);
}

// A test's folders: inputs in in/, outputs in out/ (separate, so "out/ is unchanged" is exact).
struct cli_dirs {
  temp_dir root;
  fs::path in = root / "in";
  fs::path out = root / "out";
  cli_dirs() {
    fs::create_directory(in);
    fs::create_directory(out);
  }
};

}  // namespace

TEST_CASE("unreadable inputs fail with one line naming the file", "[e2e][cli]") {
  cli_dirs d;
  const fs::path out = d.out / "out.onnx";

  SECTION("missing file") {
    expect_refused(d.in / "missing.onnx", out, {(d.in / "missing.onnx").string(), "no such file"});
  }
  SECTION("empty file") {
    mq::test::write_bytes(d.in / "empty.onnx", "");
    expect_refused(d.in / "empty.onnx", out, {(d.in / "empty.onnx").string(), "file is empty"});
  }
  SECTION("a directory") {
    fs::create_directory(d.in / "model.onnx");
    expect_refused(d.in / "model.onnx", out, {(d.in / "model.onnx").string(), "is a directory"});
  }
}

TEST_CASE("bytes that are not an ONNX model fail with one line naming the file", "[e2e][cli]") {
  cli_dirs d;
  const fs::path in = d.in / "in.onnx";
  const fs::path out = d.out / "out.onnx";

  SECTION("4 KiB of random bytes (seed 20240611)") {
    mq::test::write_bytes(in, random_bytes(4096, 20240611));
  }
  SECTION("a JSON document") {
    mq::test::write_bytes(in, R"({"model": "resnet18", "opset": 13, "weights": [0.5, -1.25, 3.0]})"
                              "\n");
  }
  SECTION("plain text") {
    mq::test::write_bytes(in, "This is not a model.\nIt is a README that was renamed to in.onnx.\n");
  }
  SECTION("the first half of a synthetic model") {
    const auto proto = good_model(32, 32);
    REQUIRE_NOTHROW(mq::test::to_model(proto));  // whole, it loads: the cut is what breaks it
    const std::string bytes = proto.SerializeAsString();
    mq::test::write_bytes(in, bytes.substr(0, bytes.size() / 2));
  }
  expect_refused(in, out, {in.string(), "not an ONNX model"});
}

TEST_CASE("the first half of each real model fails with one line naming the file", "[e2e][cli][shared]") {
  for (const auto& model : mq::test::shared_models()) {
    cli_dirs d;
    const fs::path in = d.in / model.filename();
    const std::string bytes = mq::test::read_bytes(model);
    mq::test::write_bytes(in, bytes.substr(0, bytes.size() / 2));
    expect_refused(in, d.out / "out.onnx", {in.string(), "not an ONNX model"});
  }
}

// Found by fuzz_model_loader: dims whose product overflows int64 reached tensor_view's
// element_count (undefined behaviour); the loader now rejects them.
TEST_CASE("a tensor with an impossible shape fails with one line naming it", "[e2e][cli]") {
  cli_dirs d;
  const fs::path in = d.in / "in.onnx";
  auto proto = good_model();
  auto* w = proto.mutable_graph()->mutable_initializer(0);
  SECTION("product overflows 64 bits") {
    w->clear_dims();
    w->add_dims(std::int64_t{1} << 40);
    w->add_dims(std::int64_t{1} << 40);
  }
  SECTION("negative dimension") { w->set_dims(0, -4); }
  mq::test::write_proto(proto, in);
  expect_refused(in, d.out / "out.onnx", {in.string(), "tensor 'w'", "impossible shape"});
}

TEST_CASE("broken external data fails with one line naming model, tensor and data file", "[e2e][cli]") {
  cli_dirs d;
  const fs::path in = d.in / "in.onnx";
  mq::test::write_proto(external_model("weights.bin"), in);

  SECTION("data file missing") {
    expect_refused(in, d.out / "out.onnx", {in.string(), "tensor 'w'", "'weights.bin'", "not found"});
  }
  SECTION("data file shorter than offset + length") {
    mq::test::write_bytes(d.in / "weights.bin", std::string(20, '\x01'));
    expect_refused(in, d.out / "out.onnx",
                   {in.string(), "tensor 'w'", "'weights.bin'", "has 20 bytes", "needs 48"});
  }
}

TEST_CASE("unusable output locations fail with one line and leave nothing behind", "[e2e][cli]") {
  cli_dirs d;
  const fs::path in = d.in / "in.onnx";
  mq::test::write_proto(good_model(), in);

  SECTION("output folder does not exist") {
    expect_refused(in, d.out / "absent" / "out.onnx", {(d.out / "absent").string(), "does not exist"});
    CHECK_FALSE(fs::exists(d.out / "absent"));
  }
  SECTION("output folder is a file") {
    expect_refused(in, in / "out.onnx", {in.string(), "not a directory"});
  }
  SECTION("output is an existing directory") {
    fs::create_directory(d.out / "out.onnx");
    expect_refused(in, d.out / "out.onnx", {(d.out / "out.onnx").string(), "is a directory"});
  }
  SECTION("output folder is not writable, even for root (/proc)") {
    expect_refused(in, "/proc/out.onnx", {"'/proc'"}, watch_output_folder::traces_only);
  }
  SECTION("output folder is chmod 0555") {
    if (::geteuid() == 0) {
      WARN("not run: permissions do not stop root (the /proc section covers it)");
      return;
    }
    fs::permissions(d.out, fs::perms::owner_read | fs::perms::owner_exec | fs::perms::group_read |
                               fs::perms::group_exec | fs::perms::others_read | fs::perms::others_exec);
    expect_refused(in, d.out / "out.onnx", {d.out.string(), "permission denied"});
    fs::permissions(d.out, fs::perms::owner_all);
  }
}

TEST_CASE("writing over the input or its external data is refused", "[e2e][cli]") {
  cli_dirs d;
  const fs::path in = d.in / "in.onnx";

  SECTION("same path") {
    mq::test::write_proto(good_model(), in);
    expect_refused(in, in, {in.string(), "it is the input model"});
  }
  SECTION("same file, spelled differently") {
    mq::test::write_proto(good_model(), in);
    expect_refused(in, d.in / "." / "in.onnx", {"it is the input model"});
  }
  SECTION("a symlink to the input") {
    mq::test::write_proto(good_model(), in);
    fs::create_symlink(in, d.in / "link.onnx");
    expect_refused(in, d.in / "link.onnx", {(d.in / "link.onnx").string(), "it is the input model"});
  }
  SECTION("the input's external data file") {
    mq::test::write_proto(external_model("weights.bin"), in);
    mq::test::write_bytes(d.in / "weights.bin", random_bytes(48, 7));
    expect_refused(in, d.in / "weights.bin", {(d.in / "weights.bin").string(), "external data"});
  }
  SECTION("the output's data file would be the input's external data") {
    mq::test::write_proto(external_model("out.onnx.data"), in);
    mq::test::write_bytes(d.in / "out.onnx.data", random_bytes(48, 7));
    expect_refused(in, d.in / "out.onnx", {(d.in / "out.onnx").string(), "external data"});
  }
}

TEST_CASE("a failed run leaves an existing output untouched", "[e2e][cli]") {
  cli_dirs d;
  mq::test::write_bytes(d.in / "in.onnx", "not a model");
  mq::test::write_bytes(d.out / "out.onnx", "previous output");
  expect_refused(d.in / "in.onnx", d.out / "out.onnx", {"not an ONNX model"});
  CHECK(mq::test::read_bytes(d.out / "out.onnx") == "previous output");
}

// Names in messages come from the command line and from inside the model; either may hold
// control characters, and the message must still be one line (they are printed escaped).
TEST_CASE("names with control characters still give exactly one error line", "[e2e][cli]") {
  cli_dirs d;
  SECTION("input file name") {
    expect_refused(d.in / "two\nlines.onnx", d.out / "out.onnx", {"two\\nlines.onnx", "no such file"});
  }
  SECTION("external data location inside the model") {
    mq::test::write_proto(external_model("weights\n\x1b[2J.bin"), d.in / "in.onnx");
    expect_refused(d.in / "in.onnx", d.out / "out.onnx", {"weights\\n\\x1b[2J.bin", "not found"});
  }
}

TEST_CASE("usage errors exit 2 and touch nothing", "[e2e][cli]") {
  cli_dirs d;
  const std::string in = (d.in / "in.onnx").string();
  const std::string out = (d.out / "out.onnx").string();
  mq::test::write_proto(good_model(), in);
  const auto input_folder = snapshot(d.in);

  const std::vector<std::vector<std::string>> cases = {
      {},
      {in},
      {in, out, "extra.onnx"},
      {"--frobnicate", in, out},
      {in, out, "--external-data"},
      {in, out, "--external-data", "sometimes"},
      {in, out, "--threads"},
      {in, out, "--threads", "-1"},
      {in, out, "--threads", "two"},
      {in, out, "--threads", "2x"},
      {in, out, "--threads", "100000"},
  };
  for (const auto& args : cases) {
    const auto r = quantize(args);
    INFO("args: " << Catch::Detail::stringify(args) << "\nstderr: " << r.err);
    CHECK(r.exit_code == exit_usage);
    CHECK(r.out.empty());
    CHECK_THAT(r.err, Catch::StartsWith("mq-quantize: ") && Catch::Contains("--help"));
    CHECK(fs::is_empty(d.out));
    CHECK(snapshot(d.in) == input_folder);
  }
}

TEST_CASE("--help and --version print to stdout and exit 0", "[e2e][cli]") {
  const auto help = quantize({"--help"});
  CHECK(help.exit_code == exit_ok);
  CHECK(help.err.empty());
  CHECK_THAT(help.out, Catch::StartsWith("usage: mq-quantize IN.onnx OUT.onnx"));

  const auto version = quantize({"--version"});
  CHECK(version.exit_code == exit_ok);
  CHECK(version.err.empty());
  CHECK_THAT(version.out, Catch::StartsWith("mq-quantize "));
}

TEST_CASE("--version names the target architecture and the kernel tables that run", "[e2e][cli]") {
#if defined(__x86_64__)
  const std::string arch = "x86_64";
#elif defined(__aarch64__)
  const std::string arch = "aarch64";
#else
  const std::string arch = "generic";
#endif
  const auto version = quantize({"--version"});
  CHECK(version.exit_code == exit_ok);
  CHECK_THAT(version.out, Catch::Contains("\n" + arch + "; kernels: "));
#if !defined(__x86_64__)
  CHECK_THAT(version.out, !Catch::Contains("avx"));  // the x86 tables are not even compiled in
#endif
  // MQ_KERNELS chooses, on every target, and the line says what it chose.
  ::setenv("MQ_KERNELS", "reference", 1);
  const auto reference = quantize({"--version"});
  ::setenv("MQ_KERNELS", "eigen", 1);
  const auto eigen = quantize({"--version"});
  ::unsetenv("MQ_KERNELS");
  CHECK_THAT(reference.out, Catch::EndsWith(arch + "; kernels: reference (quantize), reference (float)\n"));
  CHECK_THAT(eigen.out, Catch::EndsWith(arch + "; kernels: eigen (quantize), eigen (float)\n"));
}

TEST_CASE("a good model is written, loads, and leaves the input alone", "[e2e][cli]") {
  cli_dirs d;
  const fs::path in = d.in / "in.onnx";
  const fs::path out = d.out / "out.onnx";
  SECTION("inline weights") { mq::test::write_proto(good_model(), in); }
  SECTION("external weights") {
    mq::test::write_proto(external_model("weights.bin"), in);
    mq::test::write_bytes(d.in / "weights.bin", std::string(48, '\x3f'));  // w = 0.747f everywhere
  }
  const auto input_folder = snapshot(d.in);

  const auto r = quantize({in.string(), out.string()});
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  CHECK(r.exit_code == exit_ok);
  CHECK(r.err.empty());
  CHECK_THAT(r.out, Catch::EndsWith("wrote " + out.string() + "\n"));
  CHECK(snapshot(d.in) == input_folder);
  // The model, and its data file if the external-data policy chose one; no temporaries.
  auto files = listing(d.out);
  CHECK((files == std::vector<std::string>{"out.onnx"} ||
         files == std::vector<std::string>{"out.onnx", "out.onnx.data"}));

  auto written = mq::model::load(out);
  REQUIRE(written);
  CHECK(written->node_count() >= 1);
  CHECK(written->check());
}

TEST_CASE("--quiet prints nothing on success", "[e2e][cli]") {
  cli_dirs d;
  mq::test::write_proto(good_model(), d.in / "in.onnx");
  const auto r = quantize({"-q", (d.in / "in.onnx").string(), (d.out / "out.onnx").string()});
  CHECK(r.exit_code == exit_ok);
  CHECK(r.out.empty());
  CHECK(r.err.empty());
  CHECK(fs::exists(d.out / "out.onnx"));
}

TEST_CASE("--threads changes nothing in the model written", "[e2e][cli]") {
  // Six 64 x 64 MatMul weights (over auto's 4096-element floor): enough jobs for every thread.
  std::vector<mq::test::named_weight> weights;
  for (std::size_t k = 0; k < 6; ++k) {
    std::vector<float> values(64 * 64);
    for (std::size_t i = 0; i < values.size(); ++i) values[i] = std::sin(static_cast<float>(i * (k + 2))) * 0.1f;
    weights.push_back({"w" + std::to_string(k), values});
  }
  const auto proto = mq::test::matmul_chain(64, weights);
  cli_dirs d;
  const fs::path in = d.in / "in.onnx";
  mq::test::write_proto(proto, in);
  std::map<std::string, std::string> written;
  for (const std::string threads : {"1", "2", "3", "0"}) {
    const fs::path out = d.out / ("out" + threads + ".onnx");
    const auto r = quantize({in.string(), out.string(), "-q", "--threads", threads});
    INFO("--threads " << threads << "\nstderr: " << r.err);
    REQUIRE(r.exit_code == exit_ok);
    written[threads] = mq::test::read_bytes(out);
  }
  CHECK(written["2"] == written["1"]);
  CHECK(written["3"] == written["1"]);
  CHECK(written["0"] == written["1"]);
  auto model = mq::model::load(d.out / "out1.onnx");
  REQUIRE(model);
  CHECK(model->check());
}

// Issue #13 item 1: --report can never destroy a model, and a failed run leaves nothing, the
// report included. Every path is checked before the model is read.
TEST_CASE("--report naming the input, the output or their data is refused and writes nothing", "[e2e][cli]") {
  cli_dirs d;
  const fs::path in = d.in / "in.onnx";
  const fs::path out = d.out / "out.onnx";
  struct refused_case {
    std::string label;
    fs::path report;
    std::vector<std::string> mentions;
  };
  std::vector<refused_case> cases;
  SECTION("inline model") {
    mq::test::write_proto(good_model(), in);
    cases = {{"the input", in, {in.string(), "it is the input model"}},
             {"the input, spelled differently", d.in / "." / "in.onnx", {"it is the input model"}},
             {"the output", out, {out.string(), "it is the output model"}},
             {"the output's data file", d.out / "out.onnx.data", {"out.onnx.data", "it is the output model's external data"}},
             {"a missing folder", d.out / "absent" / "r.json", {(d.out / "absent").string(), "does not exist"}},
             {"a folder that cannot be written (/proc)", "/proc/r.json", {"'/proc'"}},
             {"an existing directory", d.out, {d.out.string(), "is a directory"}}};
  }
  SECTION("model with external data") {
    mq::test::write_proto(external_model("weights.bin"), in);
    mq::test::write_bytes(d.in / "weights.bin", random_bytes(48, 7));
    cases = {{"the input's external data", d.in / "weights.bin", {(d.in / "weights.bin").string(), "external data"}}};
  }
  for (const auto& c : cases) {
    INFO("--report " << c.label << ": " << c.report.string());
    const auto input_folder = snapshot(d.in);
    const auto output_folder = snapshot(d.out);
    check_failure_report(quantize({in.string(), out.string(), "--report", c.report.string()}), c.mentions);
    CHECK(snapshot(d.in) == input_folder);
    CHECK(snapshot(d.out) == output_folder);  // no model, no report, no temporary
  }
}

TEST_CASE("--report is written atomically beside the model, and --dry-run writes only the report", "[e2e][cli]") {
  cli_dirs d;
  const fs::path in = d.in / "in.onnx";
  mq::test::write_proto(good_model(), in);
  const fs::path report = d.out / "report.json";
  SECTION("model and report") {
    mq::test::write_bytes(report, "previous report");
    const auto r = quantize({in.string(), (d.out / "out.onnx").string(), "--report", report.string(), "-q"});
    INFO("stderr: " << r.err);
    CHECK(r.exit_code == exit_ok);
    CHECK(listing(d.out) == std::vector<std::string>{"out.onnx", "report.json"});
  }
  SECTION("dry run") {
    const auto r = quantize({in.string(), "--dry-run", "--report", report.string(), "-q"});
    INFO("stderr: " << r.err);
    CHECK(r.exit_code == exit_ok);
    CHECK(listing(d.out) == std::vector<std::string>{"report.json"});
  }
  const std::string json = mq::test::read_bytes(report);
  CHECK_THAT(json, Catch::StartsWith("{\"input\":\"" + in.string() + "\",") && Catch::EndsWith("}\n"));
}

// Issue #13 item 7: the command line is parsed by CLI11; every usage error exits 2 before the
// model is read (the input here does not exist: reading it would exit 1).
TEST_CASE("usage errors are found before the model is read, with a hint", "[e2e][cli]") {
  cli_dirs d;
  const std::string in = (d.in / "missing.onnx").string();
  const std::string out = (d.out / "out.onnx").string();
  struct usage_case {
    std::vector<std::string> args;
    std::string says;
  };
  const std::vector<usage_case> cases = {
      {{in, out, "--symmetric", "--asymmetric"}, "--symmetric excludes --asymmetric"},
      {{in, out, "--format", "qdq", "--format", "auto"}, "--format is given more than once"},
      {{in, out, "--format=qdq", "--format=qdq"}, "--format is given more than once"},
      {{in, out, "--json", "-q"}, "--json excludes --quiet"},
      {{in, out, "--op-types", "LSTM"}, "'LSTM' is an ONNX operator that libmodelquant does not quantize"},
      {{in, out, "--op-types", "MatMul,conv"}, "unknown op type 'conv' (did you mean 'Conv'?)"},
      {{in, out, "--op-types=Frobnicate"}, "unknown op type 'Frobnicate'"},
      {{in, out, "--format", "qdd"}, "unknown value 'qdd' (did you mean 'qdq'?)"},
      {{in, out, "--per-chanel"}, "unknown option '--per-chanel' (did you mean '--per-channel'?)"},
      {{in, out, "--min-elements=-3"}, "--min-elements: needs a whole number"},
      {{in, out, "--report"}, "--report needs a value"},
      {{in, out, "--report", "a.json", "--report", "b.json"}, "--report is given more than once"},
  };
  for (const auto& c : cases) {
    const auto r = quantize(c.args);
    INFO("args: " << Catch::Detail::stringify(c.args) << "\nstderr: " << r.err);
    CHECK(r.exit_code == exit_usage);
    CHECK(r.out.empty());
    CHECK_THAT(r.err, Catch::StartsWith("mq-quantize: ") && Catch::Contains(c.says) && Catch::Contains("--help"));
    CHECK(fs::is_empty(d.out));
  }
}

TEST_CASE("--opt=value and -- work", "[e2e][cli]") {
  cli_dirs d;
  mq::test::write_proto(good_model(), d.in / "-in.onnx");  // a name that looks like an option
  const auto r = quantize({"--format=qdq", "--min-elements=0", "--threads=2", "--op-types=MatMul", "--json", "--",
                           (d.in / "-in.onnx").string(), (d.out / "out.onnx").string()});
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == exit_ok);
  CHECK_THAT(r.out, Catch::Contains("\"options\":\"format=qdq;") && Catch::Contains("op_types=MatMul;") &&
                        Catch::Contains("min_elements=0;") && Catch::Contains("\"quantized\":1,"));
  CHECK(fs::exists(d.out / "out.onnx"));
}
