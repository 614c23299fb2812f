// mq-run end to end: the real binary on small models written here, with values worked out by hand
// from the operators' definitions. Exit codes (0 ok, 1 failure with one line naming the file, node
// or input, 2 usage), inputs from .npy files or the seed, outputs as .npy, --compare, --runs, --json.
#include <catch2/catch.hpp>

#include <cmath>
#include <span>
#include <filesystem>
#include <string>
#include <vector>

#include "mq/session.h"
#include "mq/tensor_io.h"
#include "support/run_process.h"
#include "support/temp_dir.h"
#include "support/test_models.h"
#include "util/json.h"

#ifndef MQ_RUN_PATH
#error "MQ_RUN_PATH (the mq-run binary under test) must be defined by the build"
#endif

namespace fs = std::filesystem;
using mq::test::process_result;
using mq::test::temp_dir;

namespace {

process_result mq_run(std::vector<std::string> args) {
  args.insert(args.begin(), MQ_RUN_PATH);
  return mq::test::run_process(args);
}

std::size_t line_count(const std::string& s) {
  std::size_t n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

// y = x * 2 + b, with b given as an initializer: the values are easy to check by hand.
fs::path affine_model(const fs::path& dir, const std::string& name, float b) {
  auto proto = mq::test::parse_text_model(R"ONNX(
<ir_version: 8, opset_import: ["" : 13]>
g (float[2, 3] x) => (float[2, 3] y) {
  two = Constant <value = float {2.0}> ()
  t = Mul(x, two)
  y = Add(t, b)
}
)ONNX");
  *proto.mutable_graph()->add_initializer() = mq::test::float_tensor("b", {}, {b});
  const fs::path path = dir / name;
  mq::test::write_proto(proto, path);
  return path;
}

fs::path npy(const fs::path& dir, const std::string& name, const std::vector<float>& values, std::vector<std::int64_t> shape) {
  const fs::path path = dir / name;
  const auto t = mq::tensor::from<float>(std::move(shape), std::span<const float>(values));
  REQUIRE(mq::write_npy(path, t));
  return path;
}

std::vector<float> floats_in(const fs::path& file) {
  auto t = mq::read_tensor_file(file);
  REQUIRE(t);
  const auto v = t->as<float>();
  return {v.begin(), v.end()};
}

}  // namespace

TEST_CASE("mq-run: inputs from .npy, outputs as .npy, the JSON summary", "[run]") {
  temp_dir d;
  const auto model = affine_model(d.path(), "affine.onnx", 1.0f);
  const auto x = npy(d.path(), "x.npy", {0, 1, -1, 0.5f, 2, -3}, {2, 3});
  const fs::path out = d.path() / "out";
  auto r = mq_run({model.string(), "--input", "x=" + x.string(), "--output-dir", out.string(), "--json"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(floats_in(out / "output_0.npy") == std::vector<float>{1, 3, -1, 2, 5, -5});
  REQUIRE(mq::util::json::accept(r.out));
  const auto j = mq::util::json::parse(r.out);
  CHECK(j["outputs"][0]["name"] == "y");
  CHECK(j["outputs"][0]["shape"] == mq::util::json::array({2, 3}));
  CHECK(j["outputs"][0]["min"] == -5.0);
  CHECK(j["outputs"][0]["max"] == 5.0);
  CHECK(j["inputs"][0]["name"] == "x");

  SECTION("the table names the output and its statistics") {
    auto t = mq_run({model.string(), "--input", "x=" + x.string()});
    REQUIRE(t.exit_code == 0);
    CHECK_THAT(t.out, Catch::Contains("y") && Catch::Contains("-5") && Catch::Contains("5"));
  }
}

TEST_CASE("mq-run: --compare gives cosine, SNR and max abs error per output", "[run]") {
  temp_dir d;
  const auto a = affine_model(d.path(), "a.onnx", 1.0f);
  const auto b = affine_model(d.path(), "b.onnx", 1.5f);  // every output 0.5 more
  const auto x = npy(d.path(), "x.npy", {0, 1, -1, 0.5f, 2, -3}, {2, 3});
  auto r = mq_run({a.string(), "--compare", b.string(), "--input", "x=" + x.string(), "--json"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const auto j = mq::util::json::parse(r.out);
  const auto& y = j["outputs"][0];
  CHECK(y["max_abs_error"].get<double>() == Approx(0.5));
  // y = {1, 3, -1, 2, 5, -5}, y' = y + 0.5: signal sum 65, noise 6 x 0.25 = 1.5.
  CHECK(y["snr_db"].get<double>() == Approx(10 * std::log10(65.0 / 1.5)).epsilon(1e-6));
  const double dot = 1 * 1.5 + 3 * 3.5 + -1 * -0.5 + 2 * 2.5 + 5 * 5.5 + -5 * -4.5;
  const double nb = 1.5 * 1.5 + 3.5 * 3.5 + 0.25 + 2.5 * 2.5 + 5.5 * 5.5 + 4.5 * 4.5;
  CHECK(y["cosine"].get<double>() == Approx(dot / std::sqrt(65.0 * nb)).epsilon(1e-6));

  auto same = mq_run({a.string(), "--compare", a.string(), "--json"});
  REQUIRE(same.exit_code == 0);
  const auto k = mq::util::json::parse(same.out);
  CHECK(k["outputs"][0]["max_abs_error"] == 0.0);
  CHECK(k["outputs"][0]["snr_db"] == "inf");  // not a JSON number: a string
}

TEST_CASE("mq-run: generated inputs follow --seed; --runs reports the median", "[run]") {
  temp_dir d;
  const auto model = affine_model(d.path(), "affine.onnx", 0.0f);
  auto run_seed = [&](const std::string& seed, const std::string& dir) {
    auto r = mq_run({model.string(), "--seed", seed, "--output-dir", (d.path() / dir).string(), "--save-inputs",
                     (d.path() / dir).string()});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    return std::make_pair(floats_in(d.path() / dir / "input_0.npy"), floats_in(d.path() / dir / "output_0.npy"));
  };
  const auto [x1, y1] = run_seed("7", "s7");
  const auto [x1b, y1b] = run_seed("7", "s7b");
  const auto [x2, y2] = run_seed("8", "s8");
  CHECK(x1 == x1b);
  CHECK(x1 != x2);
  REQUIRE(x1.size() == 6);
  for (std::size_t i = 0; i < 6; ++i) {
    CHECK(x1[i] >= -1.0f);
    CHECK(x1[i] < 1.0f);
    CHECK(y1[i] == 2 * x1[i]);  // the model computes 2x + 0
  }

  auto timed = mq_run({model.string(), "--runs", "3", "--json"});
  REQUIRE(timed.exit_code == 0);
  const auto j = mq::util::json::parse(timed.out);
  CHECK(j["runs"] == 3);
  CHECK(j["median_ms"].get<double>() >= 0);
  CHECK(j["min_ms"].get<double>() <= j["median_ms"].get<double>());
}

TEST_CASE("mq-run: failures exit 1 with one line naming the file, node or input", "[run]") {
  temp_dir d;
  const auto model = affine_model(d.path(), "affine.onnx", 1.0f);

  SECTION("a missing model") {
    auto r = mq_run({(d.path() / "missing.onnx").string()});
    CHECK(r.exit_code == 1);
    CHECK(line_count(r.err) == 1);
    CHECK_THAT(r.err, Catch::Contains("missing.onnx"));
  }
  SECTION("a file that is not a model") {
    mq::test::write_bytes(d.path() / "junk.onnx", "not a model at all");
    auto r = mq_run({(d.path() / "junk.onnx").string()});
    CHECK(r.exit_code == 1);
    CHECK(line_count(r.err) == 1);
    CHECK_THAT(r.err, Catch::Contains("junk.onnx") && Catch::Contains("not an ONNX model"));
  }
  SECTION("an input the model does not have") {
    const auto x = npy(d.path(), "x.npy", {0, 0, 0, 0, 0, 0}, {2, 3});
    auto r = mq_run({model.string(), "--input", "images=" + x.string()});
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.err, Catch::Contains("no input 'images'") && Catch::Contains("'x'"));
  }
  SECTION("an input of the wrong shape") {
    const auto x = npy(d.path(), "x.npy", {0, 0, 0, 0}, {2, 2});
    auto r = mq_run({model.string(), "--input", "x=" + x.string()});
    CHECK(r.exit_code == 1);
    CHECK(line_count(r.err) == 1);
    CHECK_THAT(r.err, Catch::Contains("x"));
  }
  SECTION("an operator the executor does not implement, named with its node and opset") {
    auto proto = mq::test::parse_text_model(R"ONNX(
<ir_version: 8, opset_import: ["" : 16]>
g (float[4] x) => (float[4] y) {
  y = Bernoulli <seed = 1.0> (x)
}
)ONNX");
    proto.mutable_graph()->mutable_node(0)->set_name("coin");
    mq::test::write_proto(proto, d.path() / "bernoulli.onnx");
    auto r = mq_run({(d.path() / "bernoulli.onnx").string()});
    CHECK(r.exit_code == 1);
    CHECK(line_count(r.err) == 1);
    CHECK_THAT(r.err, Catch::Contains("unsupported operator Bernoulli (node 'coin', opset 16)"));
  }
  SECTION("a node that makes NaN out of finite values; --allow-nonfinite lets it through") {
    auto proto = mq::test::parse_text_model(R"ONNX(
<ir_version: 8, opset_import: ["" : 13]>
g (float[3] x) => (float[3] y) {
  y = Log(x)
}
)ONNX");
    proto.mutable_graph()->mutable_node(0)->set_name("the_log");
    mq::test::write_proto(proto, d.path() / "log.onnx");
    const auto x = npy(d.path(), "neg.npy", {1, -1, 4}, {3});
    auto r = mq_run({(d.path() / "log.onnx").string(), "--input", "x=" + x.string()});
    CHECK(r.exit_code == 1);
    CHECK(line_count(r.err) == 1);
    CHECK_THAT(r.err, Catch::Contains("the_log"));
    auto ok = mq_run({(d.path() / "log.onnx").string(), "--input", "x=" + x.string(), "--allow-nonfinite", "--output-dir",
                      (d.path() / "o").string()});
    CHECK(ok.exit_code == 0);
    const auto y = floats_in(d.path() / "o" / "output_0.npy");
    REQUIRE(y.size() == 3);
    CHECK(y[0] == 0.0f);
    CHECK(std::isnan(y[1]));
    CHECK(y[2] == Approx(std::log(4.0)));
  }
}

TEST_CASE("mq-run: usage errors exit 2; --help exits 0", "[run]") {
  temp_dir d;
  const auto model = affine_model(d.path(), "affine.onnx", 1.0f);
  auto help = mq_run({"--help"});
  CHECK(help.exit_code == 0);
  CHECK_THAT(help.out, Catch::Contains("--compare") && Catch::Contains("--output-dir"));
  CHECK(mq_run({}).exit_code == 2);
  CHECK(mq_run({model.string(), "--input", "no_equals_sign"}).exit_code == 2);
  CHECK(mq_run({model.string(), "--runs", "0"}).exit_code == 2);
  CHECK(mq_run({model.string(), "--no-such-option"}).exit_code == 2);
}
