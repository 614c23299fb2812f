// The report as JSON (programs) and as a text table (people): whatever the names in a model
// hold, the JSON is valid UTF-8 JSON and every table row is one line.
#include <catch2/catch.hpp>

#include <string>

#include "mq/quantize.h"
#include "support/temp_dir.h"
#include "support/test_models.h"
#include "util/json.h"

namespace {

// y = MatMul(x, w) with a 64 x 64 weight (over auto's 4096-element floor) in a node named `name`.
onnx::ModelProto named_matmul(const std::string& name) {
  std::vector<float> values(64 * 64);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i % 17) * 0.125f - 1.0f;
  auto proto = mq::test::matmul_chain(64, {{"w", values}});
  proto.mutable_graph()->mutable_node(0)->set_name(name);
  return proto;
}

// Parses strictly: nlohmann's parser rejects text that is not valid UTF-8 JSON.
mq::util::json parse(const std::string& text) {
  INFO("json: " << text);
  REQUIRE(mq::util::json::accept(text));
  return mq::util::json::parse(text);
}

}  // namespace

TEST_CASE("report JSON: input is the plain path of the model", "[golden][report]") {
  mq::test::temp_dir dir;
  const auto path = dir / "good.onnx";
  mq::test::write_proto(named_matmul("mm"), path);
  auto m = mq::model::load(path);
  REQUIRE(m);
  auto report = mq::quantize(*m, mq::quantize_options{});
  REQUIRE(report);
  CHECK(report->input_label == path.string());
  CHECK(parse(mq::to_json(*report))["input"] == path.string());
}

TEST_CASE("report JSON: any node name gives valid UTF-8 JSON and a one-line table row", "[golden][report]") {
  const std::string name = GENERATE(std::string("two\nlines"), std::string("say \"hi\"\\"), std::string("tab\there\r"),
                                    std::string("bad \xff\xfe utf-8 \xc3"), std::string("esc \x1b[2J"),
                                    std::string("ok \xc3\xa9t\xc3\xa9"));
  auto m = mq::test::to_model(named_matmul(name));
  auto report = mq::quantize(m, mq::quantize_options{});
  REQUIRE(report);
  REQUIRE(report->nodes.size() == 1);
  const auto doc = parse(mq::to_json(*report));
  const std::string written = doc["nodes"][0]["node"];
  if (name.find('\xff') == std::string::npos) {
    CHECK(written == name);  // valid UTF-8 comes back as it was
  } else {
    CHECK_THAT(written, Catch::Contains("\xef\xbf\xbd"));  // U+FFFD for each bad byte
  }
}

namespace {

// The lines of `text`.
std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  for (std::size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1) {
    lines.push_back(text.substr(start, nl - start));
  }
  return lines;
}

mq::node_report row(const std::string& node, bool quantized, const std::string& reason = {}) {
  mq::node_report n;
  n.graph = "main";
  n.node = node;
  n.op_type = "Conv";
  n.quantized = quantized;
  if (quantized) {
    n.format = "weight-only";
    n.granularity = "per-channel(axis=0)";
    n.weight_shape = {64, 64, 3, 3};
    n.bytes_before = 147456;
    n.bytes_after = 37120;
    n.sqnr_db = 38.25;
  }
  n.reason = reason;
  return n;
}

}  // namespace

TEST_CASE("table: no value shifts the columns after it", "[golden][report]") {
  mq::quantize_report r;
  r.nodes = {row("a", true, "a note"), row("b", false, "excluded by --exclude")};
  r.quantized_count = 1;
  r.skipped_count = 1;
  const auto lines = lines_of(mq::to_table(r));
  INFO(mq::to_table(r));
  REQUIRE(lines.size() >= 3);
  for (const std::string column : {"granularity", "reason"}) {  // left-aligned: values start under the header
    const auto at = lines[0].find(column);
    REQUIRE(at != std::string::npos);
    CHECK(lines[1].at(at - 1) == ' ');
    CHECK(lines[1].at(at) != ' ');
  }
  for (const std::string column : {"before", "SQNR dB"}) {  // numbers: right-aligned, ending with the header
    const auto end = lines[0].find(column) + column.size();
    CHECK(lines[1].at(end - 1) != ' ');
    CHECK(lines[1].at(end) == ' ');
  }
  CHECK(lines[1].substr(lines[0].find("granularity"), 11) == "per-channel");
  CHECK(lines[2].substr(lines[0].find("reason")) == "excluded by --exclude");
}

TEST_CASE("table: long names are cut in the middle, keeping the distinguishing tail", "[golden][report]") {
  const std::string prefix = "/model/backbone/stage3/block2/depthwise_separable/";
  mq::quantize_report r;
  r.nodes = {row(prefix + "conv_dw/Conv", true), row(prefix + "conv_pw/Conv", true)};
  r.quantized_count = 2;
  const auto lines = lines_of(mq::to_table(r));
  INFO(mq::to_table(r));
  REQUIRE(lines.size() >= 3);
  const std::string a = lines[1].substr(0, lines[1].find(' '));
  const std::string b = lines[2].substr(0, lines[2].find(' '));
  CHECK(a != b);
  CHECK(a.size() == 40);
  CHECK_THAT(a, Catch::StartsWith("/model/backbone") && Catch::Contains("...") && Catch::EndsWith("conv_dw/Conv"));
}

TEST_CASE("table: a reason repeated on many rows is a footnote", "[golden][report]") {
  const std::string why = "auto's default: small weights save little and are the most sensitive";
  mq::quantize_report r;
  for (int i = 0; i < 3; ++i) {
    r.nodes.push_back(row("c" + std::to_string(i), false, "576 elements, under --min-elements 4096 (" + why + ")"));
  }
  r.skipped_count = 3;
  const std::string table = mq::to_table(r);
  INFO(table);
  std::size_t count = 0;
  for (std::size_t at = 0; (at = table.find(why, at)) != std::string::npos; at += why.size()) ++count;
  CHECK(count == 1);
  CHECK_THAT(table, Catch::Contains("[1] " + why + "\n"));
  CHECK_THAT(table, Catch::Contains("576 elements, under --min-elements 4096 [1]\n"));
  CHECK_THAT(table, Catch::Contains("nothing was quantized"));
  CHECK_THAT(table, Catch::Contains("total: 0 nodes quantized, 3 skipped"));
}

TEST_CASE("table: one node, and a model with no candidate node", "[golden][report]") {
  mq::quantize_report one;
  one.nodes = {row("a", true)};
  one.quantized_count = 1;
  CHECK_THAT(mq::to_table(one), Catch::Contains("total: 1 node quantized, 0 skipped") && !Catch::Contains("nothing"));
  mq::quantize_report none;
  CHECK_THAT(mq::to_table(none), Catch::StartsWith("nothing was quantized: the model has no node of the quantized op types"));
}

TEST_CASE("sizes: kB, MB and GB are powers of 1000 everywhere", "[golden][report]") {
  CHECK(mq::format_bytes(9'999) == "9999 B");
  CHECK(mq::format_bytes(10'000) == "10.0 kB");
  CHECK(mq::format_bytes(9'999'999) == "10000.0 kB");
  CHECK(mq::format_bytes(10'000'000) == "10.0 MB");
  CHECK(mq::format_bytes(25'165'824) == "25.2 MB");
  CHECK(mq::format_bytes(12'000'000'000) == "12.0 GB");
  mq::quantize_report r;
  r.model_bytes_before = 10'000'000;
  r.model_bytes_after = 2'500'000;
  CHECK_THAT(mq::to_table(r), Catch::Contains("model 10.0 MB -> 2500.0 kB"));
}

// Issue #13 item 10: a weight quantized so coarsely that the output collapses is not silent.
TEST_CASE("a weight with a low SQNR gives a warning naming the node and what to try", "[golden][report]") {
  // 64 x 64 weights: one smooth, one with a single huge outlier (per tensor its scale crushes the rest).
  std::vector<float> smooth(64 * 64), spiky(64 * 64);
  for (std::size_t i = 0; i < smooth.size(); ++i) {
    smooth[i] = static_cast<float>((i * 37) % 101) / 101.0f - 0.5f;
    spiky[i] = smooth[i];
  }
  spiky[5] = 100.0f;
  mq::quantize_options qdq;
  qdq.format = mq::quant_format::qdq;
  {
    auto m = mq::test::to_model(mq::test::matmul_chain(64, {{"w", smooth}}));
    auto report = mq::quantize(m, qdq);
    REQUIRE(report);
    CHECK(report->warnings.empty());
  }
  auto proto = mq::test::matmul_chain(64, {{"w", smooth}, {"spiky", spiky}});
  proto.mutable_graph()->mutable_node(1)->set_name("outlier_mm");
  auto m = mq::test::to_model(proto);
  auto report = mq::quantize(m, qdq);
  REQUIRE(report);
  REQUIRE(report->warnings.size() == 1);
  const std::string& w = report->warnings[0];
  CHECK_THAT(w, Catch::Contains("node 'outlier_mm' (MatMul) with weight 'spiky'") && Catch::Contains("per-tensor") &&
                    Catch::Contains("--per-channel") && Catch::Contains("--min-elements 4096") &&
                    Catch::Contains("--format auto"));
  CHECK_THAT(mq::to_table(*report), Catch::Contains("warning: the output may be far from FP32"));
  CHECK(parse(mq::to_json(*report))["warnings"][0] == w);
}

TEST_CASE("table: any node name stays on its row", "[golden][report]") {
  const std::string name = GENERATE(std::string("two\nlines"), std::string("bad \xff\xfe utf-8 \xc3"),
                                    std::string("esc \x1b[2J\r"), std::string("ok \xc3\xa9t\xc3\xa9"));
  auto m = mq::test::to_model(named_matmul(name));
  auto report = mq::quantize(m, mq::quantize_options{});
  REQUIRE(report);
  const std::string table = mq::to_table(*report);
  INFO("table:\n" << table);
  CHECK(mq::util::json::accept(mq::util::dump_json(table)));
  for (const char c : table) {
    const auto byte = static_cast<unsigned char>(c);
    CHECK((c == '\n' || (byte >= 0x20 && byte != 0x7f)));
  }
  // Header, the row, the accuracy guard's line, the totals: nothing in the name adds a line.
  CHECK(lines_of(table).size() == (report->guard_samples > 0 ? 4u : 3u));
}
