// The executor's core on small synthetic models with exact expected values: planning order,
// broadcasting, buffer reuse, observers and fetches, and the errors it must give.
#include <catch2/catch.hpp>

#include <string>

#include "exec/ops/common.h"
#include "mq/session.h"
#include "support/exec_helpers.h"
#include "support/test_models.h"

using mq::test::floats;
using mq::test::run_text;
using mq::test::values_of;

namespace {

// y = Relu(a + b) - a, in file order, with b broadcast over rows.
constexpr const char* add_relu_sub = R"(
<ir_version: 8, opset_import: ["" : 13]>
g (float[2, 3] a, float[3] b) => (float[2, 3] y) {
  s = Add(a, b)
  r = Relu(s)
  y = Sub(r, a)
}
)";

// The same nodes listed last-to-first.
constexpr const char* add_relu_sub_reversed = R"(
<ir_version: 8, opset_import: ["" : 13]>
g (float[2, 3] a, float[3] b) => (float[2, 3] y) {
  y = Sub(r, a)
  r = Relu(s)
  s = Add(a, b)
}
)";

std::map<std::string, mq::tensor> ab() {
  return {{"a", floats({2, 3}, {1, -2, 3, -4, 5, -6})}, {"b", floats({3}, {0.5f, 1, -10})}};
}

}  // namespace

TEST_CASE("exec: broadcasting and node order", "[exec]") {
  // s = [1.5, -1, -7, -3.5, 6, -16]; r = [1.5, 0, 0, 0, 6, 0]; y = r - a.
  const std::vector<float> expected = {0.5f, 2, -3, 4, 1, 6};
  auto out = run_text(add_relu_sub, ab());
  REQUIRE(out);
  CHECK(values_of(out->at("y")) == expected);
  SECTION("a node list that is not sorted runs in dependency order") {
    auto rev = run_text(add_relu_sub_reversed, ab());
    REQUIRE(rev);
    CHECK(values_of(rev->at("y")) == expected);
  }
  SECTION("several threads give the same values") {
    mq::session_options options;
    options.threads = 3;
    auto threaded = run_text(add_relu_sub, ab(), options);
    REQUIRE(threaded);
    CHECK(values_of(threaded->at("y")) == expected);
  }
}

TEST_CASE("exec: for_each_broadcast visits every element once with the right offsets", "[exec]") {
  using mq::exec::shape_t;
  const shape_t a = {2, 1, 3};
  const shape_t b = {4, 1};
  const shape_t out = *mq::exec::ops::broadcast_shapes(a, b);
  REQUIRE(out == shape_t{2, 4, 3});
  std::vector<int> seen(24, 0);
  std::vector<std::int64_t> a_of(24), b_of(24);
  mq::exec::ops::for_each_broadcast(a, b, out, [&](std::int64_t o, std::int64_t ia, std::int64_t ib, std::int64_t n,
                                                   std::int64_t da, std::int64_t db) {
    for (std::int64_t i = 0; i < n; ++i) {
      ++seen[static_cast<std::size_t>(o + i)];
      a_of[static_cast<std::size_t>(o + i)] = ia + i * da;
      b_of[static_cast<std::size_t>(o + i)] = ib + i * db;
    }
  });
  for (std::int64_t i = 0; i < 2; ++i) {
    for (std::int64_t j = 0; j < 4; ++j) {
      for (std::int64_t k = 0; k < 3; ++k) {
        const auto o = static_cast<std::size_t>((i * 4 + j) * 3 + k);
        CHECK(seen[o] == 1);
        CHECK(a_of[o] == i * 3 + k);
        CHECK(b_of[o] == j);
      }
    }
  }
}

TEST_CASE("exec: observers see every value; intermediates can be fetched", "[exec]") {
  mq::model m = mq::test::to_model(mq::test::parse_text_model(add_relu_sub));
  auto s = mq::session::create(m);
  REQUIRE(s);
  std::vector<std::string> seen;
  mq::run_options options;
  options.fetch = {"s"};
  options.observer = [&](const mq::tensor_ref& t) -> mq::result<void> {
    seen.push_back(t.name + ":" + std::to_string(t.shape.size()));
    return {};
  };
  auto out = s->run(ab(), options);
  REQUIRE(out);
  CHECK(seen == std::vector<std::string>{"a:2", "b:1", "s:2", "r:2", "y:2"});
  CHECK(values_of(out->at("s")) == std::vector<float>{1.5f, -1, -7, -3.5f, 6, -16});
  // The same session runs again (its buffers are reused) with the same result.
  auto again = s->run(ab());
  REQUIRE(again);
  CHECK(values_of(again->at("y")) == values_of(out->at("y")));
  SECTION("an observer's error stops the run") {
    options.observer = [](const mq::tensor_ref& t) -> mq::result<void> {
      if (t.name == "r") return mq::fail(mq::errc::numeric, "stop at r");
      return {};
    };
    auto stopped = s->run(ab(), options);
    REQUIRE(!stopped);
    CHECK_THAT(stopped.error().message, Catch::Contains("stop at r"));
  }
  SECTION("fetching an unknown value fails naming it") {
    options.fetch = {"nope"};
    auto bad = s->run(ab(), options);
    REQUIRE(!bad);
    CHECK_THAT(bad.error().message, Catch::Contains("'nope'"));
  }
}

TEST_CASE("exec: bad inputs are errors naming the input", "[exec]") {
  mq::model m = mq::test::to_model(mq::test::parse_text_model(add_relu_sub));
  auto s = mq::session::create(m);
  REQUIRE(s);
  auto missing = s->run({{"a", floats({2, 3}, {1, 2, 3, 4, 5, 6})}});
  REQUIRE(!missing);
  CHECK(missing.error().code == mq::errc::invalid_argument);
  CHECK_THAT(missing.error().message, Catch::Contains("input 'b' is missing"));
  auto unknown = s->run({{"a", floats({2, 3}, {1, 2, 3, 4, 5, 6})}, {"b", floats({3}, {1, 2, 3})}, {"c", floats({1}, {1})}});
  REQUIRE(!unknown);
  CHECK_THAT(unknown.error().message, Catch::Contains("no input 'c'"));
  auto shape = s->run({{"a", floats({3, 2}, {1, 2, 3, 4, 5, 6})}, {"b", floats({3}, {1, 2, 3})}});
  REQUIRE(!shape);
  CHECK_THAT(shape.error().message, Catch::Contains("input 'a' has shape [3,2], the model declares [2,3]"));
  auto type = s->run({{"a", mq::test::int64s({2, 3}, {1, 2, 3, 4, 5, 6})}, {"b", floats({3}, {1, 2, 3})}});
  REQUIRE(!type);
  CHECK_THAT(type.error().message, Catch::Contains("input 'a' has type int64"));
}

TEST_CASE("exec: models it cannot run are errors naming the node", "[exec]") {
  SECTION("an operator it does not implement") {
    auto out = run_text(R"(
<ir_version: 8, opset_import: ["" : 16]>
g (float[4] x) => (float[4] y) {
  y = Bernoulli (x)
}
)",
                        {});
    REQUIRE(!out);
    CHECK(out.error().code == mq::errc::unsupported);
    CHECK_THAT(out.error().message, Catch::Contains("unsupported operator Bernoulli (node 'Bernoulli#0', opset 16)"));
  }
  SECTION("a cycle") {
    auto out = run_text(R"(
<ir_version: 8, opset_import: ["" : 13]>
g (float[2] a) => (float[2] y) {
  b = Add(a, y)
  y = Relu(b)
}
)",
                        {{"a", floats({2}, {1, 2})}});
    REQUIRE(!out);
    CHECK(out.error().code == mq::errc::invalid_model);
    CHECK_THAT(out.error().message, Catch::Contains("cycle"));
  }
  SECTION("a node without the inputs its operator needs (a fuzzed model crashed here)") {
    auto none = run_text(R"(
<ir_version: 8, opset_import: ["" : 13]>
g (float[2] a) => (float[2] y) {
  y = Identity ()
}
)",
                         {{"a", floats({2}, {1, 2})}});
    REQUIRE(!none);
    CHECK(none.error().code == mq::errc::invalid_model);
    CHECK_THAT(none.error().message, Catch::Contains("node 'Identity#0' (Identity) has 0 inputs, its operator takes 1"));
    auto proto = mq::test::parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
g (float[2] a) => (float[2] y) {
  y = Add (a, a)
}
)");
    proto.mutable_graph()->mutable_node(0)->set_input(0, "");  // the text format cannot write it
    auto empty = mq::session::create(mq::test::to_model(proto));
    REQUIRE(!empty);
    CHECK(empty.error().code == mq::errc::invalid_model);
    CHECK_THAT(empty.error().message, Catch::Contains("its required input 0 ('A') is empty"));
    // An operator newer than ONNX 1.12's schemas (ReduceMean-18 takes its axes as an input): the
    // older schema's minimum still holds.
    auto newer = run_text(R"(
<ir_version: 8, opset_import: ["" : 18]>
g (float[2] a) => (float[2] y) {
  y = ReduceMean ()
}
)",
                          {{"a", floats({2}, {1, 2})}});
    REQUIRE(!newer);
    CHECK_THAT(newer.error().message, Catch::Contains("(ReduceMean) has 0 inputs, its operator takes at least 1"));
  }
  SECTION("a value nothing defines") {
    auto out = run_text(R"(
<ir_version: 8, opset_import: ["" : 13]>
g (float[2] a) => (float[2] y) {
  y = Add(a, ghost)
}
)",
                        {{"a", floats({2}, {1, 2})}});
    REQUIRE(!out);
    CHECK_THAT(out.error().message, Catch::Contains("'ghost'") && Catch::Contains("Add"));
  }
  SECTION("shapes that do not broadcast") {
    auto out = run_text(R"(
<ir_version: 8, opset_import: ["" : 13]>
g (float[2] a, float[3] b) => (float[3] y) {
  y = Add(a, b)
}
)",
                        {{"a", floats({2}, {1, 2})}, {"b", floats({3}, {1, 2, 3})}});
    REQUIRE(!out);
    CHECK(out.error().code == mq::errc::invalid_argument);
    CHECK_THAT(out.error().message, Catch::Contains("Add") && Catch::Contains("[2] and [3] do not broadcast"));
  }
}

TEST_CASE("exec: the finite check runs over Convs whose constant weights were packed away", "[exec]") {
  // The plan keeps only the packed copy of a Conv's weights; the finite check (and anything else
  // walking a node's inputs) must not read the dropped values.
  auto proto = mq::test::parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
g (float[1, 2, 3, 3] x) => (float[1, 2, 3, 3] y) {
  y = Conv <pads = [1, 1, 1, 1]> (x, w)
}
)");
  std::vector<float> w(2 * 2 * 3 * 3, 0.0f);
  w[4] = 1.0f;             // output 0 = input channel 0
  w[18 + 9 + 4] = 2.0f;    // output 1 = 2 x input channel 1
  *proto.mutable_graph()->add_initializer() = mq::test::float_tensor("w", {2, 2, 3, 3}, w);
  mq::model m = mq::test::to_model(proto);
  auto s = mq::session::create(m);
  REQUIRE(s);
  std::vector<float> x(18);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i);
  mq::run_options options;
  options.check_finite = true;
  auto out = s->run({{"x", floats({1, 2, 3, 3}, x)}}, options);
  REQUIRE(out);
  const auto y = values_of(out->at("y"));
  CHECK(y[0] == 0);
  CHECK(y[8] == 8);
  CHECK(y[9] == 18);
  CHECK(y[17] == 34);
}
