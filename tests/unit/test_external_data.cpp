// External data: reading, writing, the >2 GiB path, and locations that try to leave the folder.
#include <catch2/catch.hpp>
#include <onnx/checker.h>

#include <cstdlib>
#include <cstring>
#include <numeric>

#include "mq/model.h"
#include "onnx_io/model_impl.h"
#include "support/temp_dir.h"
#include "support/test_models.h"

using mq::test::temp_dir;

namespace {

// y = MatMul(x, w) with w [rows, cols] stored externally in `data_file` at `offset`.
onnx::ModelProto external_model(const std::string& location, std::int64_t rows, std::int64_t cols,
                                 std::uint64_t offset, std::uint64_t length) {
  auto proto = mq::test::parse_text_model(R"ONNX(
<ir_version: 8, opset_import: ["" : 13]>
g (float[1, N] x) => (float[1, M] y) {
  y = MatMul(x, w)
}
)ONNX");
  auto* w = proto.mutable_graph()->add_initializer();
  w->set_name("w");
  w->set_data_type(onnx::TensorProto::FLOAT);
  w->add_dims(rows);
  w->add_dims(cols);
  w->set_data_location(onnx::TensorProto::EXTERNAL);
  auto add = [&](const char* k, const std::string& v) {
    auto* e = w->add_external_data();
    e->set_key(k);
    e->set_value(v);
  };
  add("location", location);
  add("offset", std::to_string(offset));
  add("length", std::to_string(length));
  return proto;
}

std::vector<float> iota_floats(std::size_t n) {
  std::vector<float> v(n);
  std::iota(v.begin(), v.end(), -3.0f);
  return v;
}

void write_floats(const std::filesystem::path& path, const std::vector<float>& v, std::size_t pad = 0) {
  std::string bytes(pad, '\0');
  bytes.append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
  mq::test::write_bytes(path, bytes);
}

}  // namespace

TEST_CASE("external data is read in place and kept external on save", "[external]") {
  temp_dir dir;
  const auto values = iota_floats(12);
  write_floats(dir / "weights.bin", values, 16);
  mq::test::write_proto(external_model("weights.bin", 3, 4, 16, 48), dir / "in.onnx");

  auto m = mq::model::load(dir / "in.onnx");
  REQUIRE(m);
  auto w = m->initializer("w");
  REQUIRE(w);
  auto span = w->as_span<float>();
  REQUIRE(span);
  CHECK(std::vector<float>(span->begin(), span->end()) == values);

  REQUIRE(m->save(dir / "out.onnx"));
  CHECK(std::filesystem::exists(dir / "out.onnx.data"));
  auto back = mq::model::load(dir / "out.onnx");
  REQUIRE(back);
  auto w2 = back->initializer("w");
  REQUIRE(w2);
  CHECK(*w2->to_float() == values);
  CHECK(back->internals().proto.graph().initializer(0).data_location() == onnx::TensorProto::EXTERNAL);
  CHECK_NOTHROW(onnx::checker::check_model((dir / "out.onnx").string()));
  // The in-memory model is unchanged by saving: still pointing at the original file.
  CHECK(m->internals().proto.graph().initializer(0).external_data(0).value() == "weights.bin");

  SECTION("never: everything inline") {
    mq::save_options inline_all;
    inline_all.external = mq::external_data::never;
    REQUIRE(m->save(dir / "inline.onnx", inline_all));
    auto proto = mq::test::read_proto(dir / "inline.onnx");
    CHECK(proto.graph().initializer(0).data_location() == onnx::TensorProto::DEFAULT);
    CHECK(proto.graph().initializer(0).raw_data().size() == 48);
    CHECK_FALSE(std::filesystem::exists(dir / "inline.onnx.data"));
  }
}

TEST_CASE("always: large initializers move out, small ones stay inline", "[external]") {
  temp_dir dir;
  auto proto = mq::test::parse_text_model(R"ONNX(
<ir_version: 8, opset_import: ["" : 13]>
g (float[1, 300] x) => (float[1, 300] y) {
  t = MatMul(x, big)
  y = Add(t, small)
}
)ONNX");
  *proto.mutable_graph()->add_initializer() = mq::test::float_tensor("big", {300, 300}, iota_floats(90000));
  *proto.mutable_graph()->add_initializer() = mq::test::float_tensor("small", {300}, iota_floats(300));
  mq::test::write_proto(proto, dir / "in.onnx");
  auto m = mq::model::load(dir / "in.onnx");
  REQUIRE(m);
  mq::save_options opt;
  opt.external = mq::external_data::always;
  opt.external_threshold_bytes = 4096;
  REQUIRE(m->save(dir / "out.onnx", opt));
  auto out = mq::test::read_proto(dir / "out.onnx");
  CHECK(out.graph().initializer(0).data_location() == onnx::TensorProto::EXTERNAL);
  CHECK(out.graph().initializer(1).data_location() == onnx::TensorProto::DEFAULT);
  CHECK(std::filesystem::file_size(dir / "out.onnx.data") == 360000);
  auto back = mq::model::load(dir / "out.onnx");
  REQUIRE(back);
  CHECK(*back->initializer("big")->to_float() == iota_floats(90000));
  CHECK(*back->initializer("small")->to_float() == iota_floats(300));
}

TEST_CASE("external data that is missing, short or outside the folder is rejected", "[external][errors]") {
  temp_dir dir;
  std::filesystem::create_directory(dir / "model");
  write_floats(dir / "outside.bin", iota_floats(12));
  write_floats(dir / "model" / "short.bin", iota_floats(5));

  struct bad_case {
    const char* what;
    std::string location;
    std::uint64_t offset;
    const char* expected;
  };
  const std::vector<bad_case> cases = {
      {"missing file", "absent.bin", 0, "not found"},
      {"file too short", "short.bin", 0, "has 20 bytes, but offset 0 + length 48 needs 48"},
      {"offset past the end", "short.bin", 100, "needs 148"},
      {"parent folder", "../outside.bin", 0, "leaves the model's folder"},
      {"absolute path", (dir / "outside.bin").string(), 0, "absolute path"},
      {"symlink out", "link.bin", 0, "resolves outside the model's folder"},
  };
  std::filesystem::create_symlink(dir / "outside.bin", dir / "model" / "link.bin");
  for (const auto& c : cases) {
    INFO(c.what);
    mq::test::write_proto(external_model(c.location, 3, 4, c.offset, 48), dir / "model" / "m.onnx");
    auto m = mq::model::load(dir / "model" / "m.onnx");
    REQUIRE_FALSE(m);
    CHECK_THAT(m.error().message, Catch::Contains("tensor 'w'") && Catch::Contains(c.expected) &&
                                      Catch::Contains("m.onnx"));
  }
}

TEST_CASE("external data from memory needs a base folder", "[external][errors]") {
  const std::string bytes = external_model("w.bin", 3, 4, 0, 48).SerializeAsString();
  auto m = mq::model::load_from_memory(std::as_bytes(std::span<const char>(bytes.data(), bytes.size())));
  REQUIRE_FALSE(m);
  CHECK_THAT(m.error().message, Catch::Contains("without a base folder"));
}

// Over protobuf's 2 GiB limit: the automatic policy must write external data. Takes ~2.3 GB of
// memory and disk, so it is hidden ([.]) and run by its own CTest entry, which the sanitizer run
// leaves out.
TEST_CASE("a model over 2 GiB round-trips through external data", "[.][large]") {
  temp_dir dir;
  auto m = mq::test::to_model(mq::test::parse_text_model(R"ONNX(
<ir_version: 8, opset_import: ["" : 13]>
g (float[1, 16384] x) => (float[1, 17000] y) {
  t = MatMul(x, a)
  y = MatMul(t, b)
}
)ONNX"));
  // a: [16384, 17000] and b: [17000, 17000] floats = 1.11 GB + 1.16 GB. Tensors this big cannot
  // pass through a serialized protobuf, so they are put into the in-memory model directly.
  for (auto [name, rows] : {std::pair{"a", 16384}, std::pair{"b", 17000}}) {
    auto* t = m.internals().proto.mutable_graph()->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::FLOAT);
    t->add_dims(rows);
    t->add_dims(17000);
    std::string raw(static_cast<std::size_t>(rows) * 17000 * 4, '\0');
    for (std::size_t i = 0; i < raw.size(); i += 4093) raw[i] = static_cast<char>(i / 4093 + static_cast<std::size_t>(rows));
    t->set_raw_data(std::move(raw));
  }
  REQUIRE(m.save(dir / "big.onnx"));
  CHECK(std::filesystem::file_size(dir / "big.onnx") < 10000);
  CHECK(std::filesystem::file_size(dir / "big.onnx.data") >= 2'270'000'000ULL);
  auto back = mq::model::load(dir / "big.onnx");
  REQUIRE(back);
  for (int i = 0; i < 2; ++i) {
    const auto& original = m.internals().proto.graph().initializer(i).raw_data();
    auto view = back->initializer(m.internals().proto.graph().initializer(i).name());
    REQUIRE(view);
    const auto bytes = view->bytes();
    REQUIRE(bytes.size() == original.size());
    CHECK(std::memcmp(bytes.data(), original.data(), original.size()) == 0);
  }
}
