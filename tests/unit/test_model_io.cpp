// Model I/O: round trips keep every byte that matters; views see the stored values; saving is
// atomic and never touches the input.
#include <catch2/catch.hpp>
#include <google/protobuf/unknown_field_set.h>
#include <onnx/checker.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "mq/model.h"
#include "onnx_io/model_impl.h"
#include "support/temp_dir.h"
#include "support/test_models.h"

using mq::test::parse_text_model;
using mq::test::temp_dir;

namespace {

// A model with a Constant node, a nested If whose branches hold their own Constant and an
// initializer, metadata and doc strings.
constexpr const char* nested_model_text = R"ONNX(
<ir_version: 8, opset_import: ["" : 16], producer_name: "mq-test", doc_string: "top doc">
g (float[2] x, bool cond) => (float[2] y) <float[2] w = {1.5, -2.25}> {
  c = Constant <value = float[2] {0.5, 0.25}> ()
  a = Add(x, c)
  y = If (cond) <
    then_branch = t () => (float[2] ty) {
      k = Constant <value = float[2] {3.0, 4.0}> ()
      ty = Mul(a, k)
    },
    else_branch = e () => (float[2] ey) {
      ey = Mul(a, w)
    }
  >
}
)ONNX";

}  // namespace

TEST_CASE("a model saved without changes is the same model", "[model_io]") {
  auto proto = parse_text_model(nested_model_text);
  auto* meta = proto.add_metadata_props();
  meta->set_key("author");
  meta->set_value("tests");
  // An unknown field (as written by a newer ONNX) must survive too.
  proto.GetReflection()->MutableUnknownFields(&proto)->AddVarint(9999, 42);

  temp_dir dir;
  mq::test::write_proto(proto, dir / "in.onnx");
  auto m = mq::model::load(dir / "in.onnx");
  REQUIRE(m);
  CHECK(m->node_count() == 6);
  REQUIRE(m->save(dir / "out.onnx"));

  auto back = mq::test::read_proto(dir / "out.onnx");
  CHECK(back.SerializeAsString() == proto.SerializeAsString());
  CHECK(back.unknown_fields().field_count() == 1);
  CHECK(back.metadata_props(0).value() == "tests");
  CHECK(back.doc_string() == "top doc");
  CHECK_NOTHROW(onnx::checker::check_model((dir / "out.onnx").string()));
}

TEST_CASE("node_count includes subgraphs at any depth", "[model_io]") {
  auto m = mq::test::to_model(parse_text_model(nested_model_text));
  // main graph: Constant, Add, If (3); then: Constant, Mul (2); else: Mul (1)
  CHECK(m.node_count() == 6);
}

TEST_CASE("real models round-trip bit for bit and still pass the checker", "[model_io][shared]") {
  for (const auto& path : mq::test::shared_models()) {
    INFO("model " << path.filename());
    temp_dir dir;
    auto m = mq::model::load(path);
    REQUIRE(m);
    REQUIRE(m->save(dir / "copy.onnx"));
    const auto original = mq::test::read_proto(path);
    const auto copy = mq::test::read_proto(dir / "copy.onnx");
    // Same nodes, tensors, metadata, opsets, doc strings and unknown fields: the canonical
    // serialization of the two protos is identical.
    CHECK(copy.SerializeAsString() == original.SerializeAsString());
    CHECK(mq::test::read_bytes(dir / "copy.onnx") == original.SerializeAsString());  // the file itself
    CHECK(copy.graph().node_size() == original.graph().node_size());
    if (mq::onnx_io::onnx_checker_applies(copy)) {
      CHECK_NOTHROW(onnx::checker::check_model((dir / "copy.onnx").string()));
    } else {
      WARN(path.filename() << ": opset newer than the installed ONNX checker; structural checks only");
      CHECK(mq::model::load(dir / "copy.onnx")->check());
    }
    CHECK(dir.entries() == std::vector<std::string>{"copy.onnx"});
  }
}

TEST_CASE("load reports what is wrong with bad input", "[model_io][errors]") {
  temp_dir dir;
  SECTION("missing file") {
    auto m = mq::model::load(dir / "nope.onnx");
    REQUIRE_FALSE(m);
    CHECK(m.error().code == mq::errc::not_found);
    CHECK_THAT(m.error().message, Catch::Contains("nope.onnx") && Catch::Contains("no such file"));
  }
  SECTION("empty file") {
    mq::test::write_bytes(dir / "empty.onnx", "");
    auto m = mq::model::load(dir / "empty.onnx");
    REQUIRE_FALSE(m);
    CHECK_THAT(m.error().message, Catch::Contains("empty.onnx") && Catch::Contains("file is empty"));
  }
  SECTION("a directory") {
    auto m = mq::model::load(dir.path());
    REQUIRE_FALSE(m);
    CHECK_THAT(m.error().message, Catch::Contains("is a directory"));
  }
  SECTION("json text") {
    mq::test::write_bytes(dir / "m.json", R"({"ir_version": 8, "graph": {}})");
    auto m = mq::model::load(dir / "m.json");
    REQUIRE_FALSE(m);
    CHECK(m.error().code == mq::errc::invalid_model);
    CHECK_THAT(m.error().message, Catch::Contains("m.json") && Catch::Contains("not an ONNX model"));
  }
  SECTION("a protobuf that is not a model") {
    onnx::TensorProto t = mq::test::float_tensor("w", {2}, {1.0f, 2.0f});
    mq::test::write_bytes(dir / "tensor.pb", t.SerializeAsString());
    auto m = mq::model::load(dir / "tensor.pb");
    REQUIRE_FALSE(m);
    CHECK_THAT(m.error().message, Catch::Contains("not an ONNX model"));
  }
  SECTION("truncated model") {
    auto proto = parse_text_model(nested_model_text);
    const std::string bytes = proto.SerializeAsString();
    mq::test::write_bytes(dir / "half.onnx", bytes.substr(0, bytes.size() / 2));
    auto m = mq::model::load(dir / "half.onnx");
    REQUIRE_FALSE(m);
    CHECK_THAT(m.error().message, Catch::Contains("half.onnx") && Catch::Contains("not an ONNX model"));
  }
}

TEST_CASE("tensor views read every storage ONNX allows", "[model_io][tensor]") {
  auto proto = parse_text_model(R"ONNX(
<ir_version: 8, opset_import: ["" : 16]>
g (float[2] x) => (float[2] y) {
  y = Identity(x)
}
)ONNX");
  auto* g = proto.mutable_graph();
  *g->add_initializer() = mq::test::float_tensor("raw_f32", {2, 2}, {1.0f, -2.5f, 0.0f, 3.25f});
  auto* typed = g->add_initializer();
  typed->set_name("typed_f32");
  typed->set_data_type(onnx::TensorProto::FLOAT);
  typed->add_dims(3);
  for (float v : {0.5f, -1.0f, 7.0f}) typed->add_float_data(v);
  auto* i8 = g->add_initializer();
  i8->set_name("widened_i8");
  i8->set_data_type(onnx::TensorProto::INT8);
  i8->add_dims(3);
  for (int v : {-128, 0, 127}) i8->add_int32_data(v);
  // float16 bits: 0x3C00 = 1.0, 0xC000 = -2.0, 0x0001 = 2^-24 (smallest subnormal), 0x7C00 = +inf
  auto* h = g->add_initializer();
  h->set_name("widened_f16");
  h->set_data_type(onnx::TensorProto::FLOAT16);
  h->add_dims(4);
  for (int v : {0x3C00, 0xC000, 0x0001, 0x7C00}) h->add_int32_data(v);
  auto* hr = g->add_initializer();
  hr->set_name("raw_bf16");
  hr->set_data_type(onnx::TensorProto::BFLOAT16);
  hr->add_dims(2);
  const std::uint16_t bf[2] = {0x3FC0, 0xC100};  // 1.5, -8.0
  hr->set_raw_data(std::string(reinterpret_cast<const char*>(bf), sizeof bf));
  auto* i64 = g->add_initializer();
  i64->set_name("typed_i64");
  i64->set_data_type(onnx::TensorProto::INT64);
  i64->add_dims(2);
  i64->add_int64_data(-5);
  i64->add_int64_data(1LL << 40);

  auto m = mq::test::to_model(proto);

  auto raw = m.initializer("raw_f32");
  REQUIRE(raw);
  CHECK(raw->kind() == mq::tensor_view::storage::bytes);
  auto span = raw->as_span<float>();
  REQUIRE(span);
  CHECK(std::vector<float>(span->begin(), span->end()) == std::vector<float>{1.0f, -2.5f, 0.0f, 3.25f});
  // Zero copy: the span points into the protobuf's own bytes.
  const auto& stored = m.internals().proto.graph().initializer(0).raw_data();
  CHECK(static_cast<const void*>(span->data()) == static_cast<const void*>(stored.data()));

  auto t = m.initializer("typed_f32");
  REQUIRE(t);
  auto tspan = t->as_span<float>();
  REQUIRE(tspan);
  CHECK((*tspan)[2] == 7.0f);
  CHECK(static_cast<const void*>(tspan->data()) ==
        static_cast<const void*>(m.internals().proto.graph().initializer(1).float_data().data()));

  auto w8 = m.initializer("widened_i8");
  REQUIRE(w8);
  CHECK_FALSE(w8->as_span<std::int8_t>());  // widened storage has no int8 bytes to point at
  CHECK(*w8->to_float() == std::vector<float>{-128.0f, 0.0f, 127.0f});

  auto f16 = m.initializer("widened_f16")->to_float();
  REQUIRE(f16);
  CHECK((*f16)[0] == 1.0f);
  CHECK((*f16)[1] == -2.0f);
  CHECK((*f16)[2] == std::ldexp(1.0f, -24));
  CHECK(std::isinf((*f16)[3]));

  CHECK(*m.initializer("raw_bf16")->to_float() == std::vector<float>{1.5f, -8.0f});
  auto i64s = m.initializer("typed_i64")->as_span<std::int64_t>();
  REQUIRE(i64s);
  CHECK((*i64s)[1] == (1LL << 40));

  CHECK(m.initializer("missing").error().code == mq::errc::not_found);
  auto wrong = m.initializer("raw_f32")->as_span<std::int32_t>();
  REQUIRE_FALSE(wrong);
  CHECK_THAT(wrong.error().message, Catch::Contains("'raw_f32'") && Catch::Contains("float32"));
}

TEST_CASE("save is atomic and never writes over the input", "[model_io][save]") {
  temp_dir dir;
  auto proto = parse_text_model(nested_model_text);
  mq::test::write_proto(proto, dir / "in.onnx");
  auto m = mq::model::load(dir / "in.onnx");
  REQUIRE(m);
  const std::string input_bytes = mq::test::read_bytes(dir / "in.onnx");

  SECTION("refuses the input path, also through another name") {
    auto r = m->save(dir / "in.onnx");
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("refusing") && Catch::Contains("input model"));
    std::filesystem::create_symlink(dir / "in.onnx", dir / "alias.onnx");
    CHECK_FALSE(m->save(dir / "alias.onnx"));
    CHECK(mq::test::read_bytes(dir / "in.onnx") == input_bytes);
  }
  SECTION("an existing output is replaced only by a complete model") {
    mq::test::write_bytes(dir / "out.onnx", "previous content");
    // Break the model so verification fails: the old output must stay as it was.
    m->internals().proto.mutable_graph()->mutable_node(1)->set_op_type("NoSuchOp");
    auto r = m->save(dir / "out.onnx");
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("onnx checker"));
    CHECK(mq::test::read_bytes(dir / "out.onnx") == "previous content");
    CHECK(dir.entries() == std::vector<std::string>{"in.onnx", "out.onnx"});
  }
  SECTION("missing output folder") {
    auto r = m->save(dir / "no" / "such" / "out.onnx");
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("does not exist"));
  }
  SECTION("output folder that cannot be written") {
    auto r = m->save("/proc/mq-out.onnx");
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("cannot write in output folder '/proc'"));
  }
  SECTION("output path that is a directory") {
    std::filesystem::create_directory(dir / "out.onnx");
    auto r = m->save(dir / "out.onnx");
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("is a directory"));
  }
  CHECK(mq::test::read_bytes(dir / "in.onnx") == input_bytes);
}

TEST_CASE("metadata can be read and written", "[model_io]") {
  auto m = mq::test::to_model(parse_text_model(nested_model_text));
  CHECK(m.metadata("mq.version").empty());
  m.set_metadata("mq.version", "1");
  m.set_metadata("mq.version", "2");
  CHECK(m.metadata("mq.version") == "2");
  CHECK(m.internals().proto.metadata_props_size() == 1);
}

TEST_CASE("verification catches broken graphs before they are written", "[model_io][verify]") {
  auto base = parse_text_model(nested_model_text);
  SECTION("a node reads a value defined nowhere") {
    auto proto = base;
    proto.mutable_graph()->mutable_node(1)->set_input(0, "ghost");
    auto r = mq::test::to_model(proto).check();
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("reads 'ghost'") && Catch::Contains("not defined before it"));
  }
  SECTION("a value is produced twice") {
    auto proto = base;
    proto.mutable_graph()->mutable_node(1)->set_output(0, "c");
    auto r = mq::test::to_model(proto).check();
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("'c' is defined twice"));
  }
  SECTION("nodes out of order inside a subgraph") {
    auto proto = base;
    auto* then_graph = proto.mutable_graph()->mutable_node(2)->mutable_attribute(0)->mutable_g();
    then_graph->mutable_node()->SwapElements(0, 1);
    auto r = mq::test::to_model(proto).check();
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("reads 'k'"));
  }
  SECTION("an initializer whose bytes do not fit its shape") {
    auto proto = base;
    proto.mutable_graph()->mutable_initializer(0)->add_float_data(1.0f);
    auto r = mq::test::to_model(proto).check();
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("initializer 'w' holds 3 elements, its shape needs 2"));
    auto raw = base;
    *raw.mutable_graph()->mutable_initializer(0) = mq::test::float_tensor("w", {2}, {1.0f, 2.0f});
    raw.mutable_graph()->mutable_initializer(0)->mutable_raw_data()->push_back('x');
    auto r2 = mq::test::to_model(raw).check();
    REQUIRE_FALSE(r2);
    CHECK_THAT(r2.error().message, Catch::Contains("initializer 'w' holds 9 bytes, its shape needs 8"));
  }
  SECTION("a valid model passes") { CHECK(mq::test::to_model(base).check()); }
}

TEST_CASE("large initializers are read in place from the model file and written back inline", "[model_io][in_place]") {
  temp_dir dir;
  auto proto = parse_text_model(R"ONNX(
<ir_version: 8, opset_import: ["" : 16]>
g (float[1, 200] x) => (float[1, 200] y) {
  t = MatMul(x, big)
  y = Add(t, small)
}
)ONNX");
  std::vector<float> big(200 * 200);
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<float>(i % 251) * 0.25f - 7.0f;
  *proto.mutable_graph()->add_initializer() = mq::test::float_tensor("big", {200, 200}, big);
  *proto.mutable_graph()->add_initializer() = mq::test::float_tensor("small", {200}, std::vector<float>(200, 1.5f));
  mq::test::write_proto(proto, dir / "m.onnx");
  const std::string file_bytes = mq::test::read_bytes(dir / "m.onnx");

  auto m = mq::model::load(dir / "m.onnx");
  REQUIRE(m);
  const auto& inits = m->internals().proto.graph().initializer();
  // 160 kB: over the in-place threshold, so it refers to its own bytes in the file ...
  CHECK(inits.Get(0).data_location() == onnx::TensorProto::EXTERNAL);
  CHECK(inits.Get(0).raw_data().empty());
  // ... while the 800-byte tensor is parsed as usual.
  CHECK(inits.Get(1).data_location() == onnx::TensorProto::DEFAULT);
  auto view = m->initializer("big");
  REQUIRE(view);
  CHECK(*view->to_float() == big);
  const auto where = view->bytes();
  REQUIRE(where.size() == big.size() * 4);
  CHECK(file_bytes.find(std::string(reinterpret_cast<const char*>(where.data()), 64)) != std::string::npos);

  // Saved (unchanged): inline again, the same model as the input, no data file.
  REQUIRE(m->save(dir / "copy.onnx"));
  CHECK(mq::test::read_bytes(dir / "copy.onnx") == proto.SerializeAsString());
  CHECK(dir.entries() == std::vector<std::string>{"copy.onnx", "m.onnx"});
  CHECK(m->serialize().value() == proto.SerializeAsString());
}

TEST_CASE("a tensor that states its data location is never rewritten in place", "[model_io][in_place]") {
  temp_dir dir;
  auto proto = parse_text_model(R"ONNX(
<ir_version: 8, opset_import: ["" : 16]>
g (float[1, 200] x) => (float[1, 200] y) {
  y = MatMul(x, big)
}
)ONNX");
  *proto.mutable_graph()->add_initializer() = mq::test::float_tensor("big", {200, 200}, std::vector<float>(40000, 0.5f));
  proto.mutable_graph()->mutable_initializer(0)->set_data_location(onnx::TensorProto::DEFAULT);  // explicit
  mq::test::write_proto(proto, dir / "m.onnx");
  auto m = mq::model::load(dir / "m.onnx");
  REQUIRE(m);
  CHECK(m->internals().proto.graph().initializer(0).raw_data().size() == 160000);
  REQUIRE(m->save(dir / "copy.onnx"));
  CHECK(mq::test::read_bytes(dir / "copy.onnx") == proto.SerializeAsString());
}

TEST_CASE("saving writes large payloads by reference, byte for byte the canonical serialization", "[model_io][save]") {
  // Large raw_data (in place from the file, or in the proto) is written from where it is, with the
  // fields around it put back in protobuf's order; the file must be exactly what protobuf writes.
  temp_dir dir;
  auto proto = parse_text_model(R"ONNX(
<ir_version: 8, opset_import: ["" : 16], doc_string: "model doc">
g (float[1, 200] x, bool cond) => (float[1, 200] y) {
  a = MatMul(x, big)
  b = Add(a, small)
  y = If (cond) <
    then_branch = t () => (float[1, 200] ty) {
      ty = MatMul(b, big)
    },
    else_branch = e () => (float[1, 200] ey) {
      ey = MatMul(b, second)
    }
  >
}
)ONNX");
  std::vector<float> values(200 * 200);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i % 97) - 48.0f;
  auto& graph = *proto.mutable_graph();
  *graph.add_initializer() = mq::test::float_tensor("small", {200}, std::vector<float>(200, 1.5f));
  auto& big = *graph.add_initializer() = mq::test::float_tensor("big", {200, 200}, values);
  big.set_doc_string("a field numbered after raw_data");
  big.mutable_unknown_fields()->AddVarint(1000, 7);
  *graph.add_initializer() = mq::test::float_tensor("second", {200, 200}, std::vector<float>(40000, -0.5f));
  graph.mutable_unknown_fields()->AddVarint(3, 1);  // a number between the graph's known fields
  graph.set_doc_string("graph doc");
  proto.mutable_unknown_fields()->AddLengthDelimited(1001, "model extension");
  const std::string expected = proto.SerializeAsString();
  auto with_group = proto;  // groups among unknown fields: the wire walker stops, protobuf writes it
  with_group.mutable_unknown_fields()->AddGroup(1002)->AddVarint(1, 5);
  const std::string expected_with_group = with_group.SerializeAsString();

  SECTION("tensors read in place from the model file") {
    mq::test::write_bytes(dir / "m.onnx", expected);
    auto m = mq::model::load(dir / "m.onnx");
    REQUIRE(m);
    REQUIRE(m->internals().proto.graph().initializer(1).data_location() == onnx::TensorProto::EXTERNAL);
    REQUIRE(m->save(dir / "copy.onnx"));
    CHECK(mq::test::read_bytes(dir / "copy.onnx") == expected);
  }
  SECTION("tensors held in the proto") {
    auto m = mq::model::load_from_memory(std::as_bytes(std::span<const char>(expected.data(), expected.size())), dir.path());
    REQUIRE(m);
    REQUIRE(m->internals().proto.graph().initializer(1).raw_data().size() == 160000);
    REQUIRE(m->save(dir / "copy.onnx"));
    CHECK(mq::test::read_bytes(dir / "copy.onnx") == expected);
    // The model in memory is unchanged by the save.
    CHECK(m->internals().proto.SerializeAsString() == expected);
  }
  SECTION("a group among unknown fields (found by fuzz_model_loader)") {
    // (The loader's in-place pass does not parse groups either, so the weights are in the proto.)
    mq::test::write_bytes(dir / "g.onnx", expected_with_group);
    auto m = mq::model::load(dir / "g.onnx");
    REQUIRE(m);
    REQUIRE(m->save(dir / "copy.onnx"));
    CHECK(mq::test::read_bytes(dir / "copy.onnx") == expected_with_group);
  }
}

TEST_CASE("prefetched and released pages of a mapped file read back the same bytes", "[model_io][in_place]") {
  temp_dir dir;
  std::string content(3 * 4096 + 123, '\0');
  for (std::size_t i = 0; i < content.size(); ++i) content[i] = static_cast<char>(i * 7 + 3);
  mq::test::write_bytes(dir / "f.bin", content);
  auto file = mq::util::mapped_file::open(dir / "f.bin");
  REQUIRE(file);
  const auto all = file->bytes();
  CHECK(file->prefetch(all.subspan(10, 2 * 4096)));
  CHECK(file->release(all.subspan(10, 2 * 4096)));  // an unaligned range: its whole pages only
  CHECK(file->release(all));
  CHECK(std::string(reinterpret_cast<const char*>(all.data()), all.size()) == content);
  // Memory that is not part of the mapping is never touched.
  std::vector<std::byte> heap(3 * 4096, std::byte{0x5a});
  CHECK_FALSE(file->release(heap));
  CHECK_FALSE(file->prefetch(heap));
  CHECK_FALSE(file->release(std::span<const std::byte>(all.data() + 4096, all.size())));  // past the end
  CHECK(std::all_of(heap.begin(), heap.end(), [](std::byte b) { return b == std::byte{0x5a}; }));
}

TEST_CASE("an external tensor that also carries raw_data is saved like its serialization", "[model_io][save]") {
  // Found by fuzz_model_loader: the external bytes replace the inline ones when the tensor is
  // written inline, in the file writer as in model::serialize().
  temp_dir dir;
  std::string data(100 * 1024, '\0');
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 13 + 5);
  mq::test::write_bytes(dir / "w.bin", data);
  auto proto = parse_text_model(R"ONNX(
<ir_version: 8, opset_import: ["" : 16]>
g (float[1, 160] x) => (float[1, 160] y) {
  y = MatMul(x, w)
}
)ONNX");
  auto* w = proto.mutable_graph()->add_initializer();
  w->set_name("w");
  w->set_data_type(onnx::TensorProto::FLOAT);
  w->add_dims(160);
  w->add_dims(160);
  w->set_raw_data("stale");
  w->set_data_location(onnx::TensorProto::EXTERNAL);
  auto add = [&](const char* key, const std::string& value) {
    auto* e = w->add_external_data();
    e->set_key(key);
    e->set_value(value);
  };
  add("location", "w.bin");
  add("length", std::to_string(160 * 160 * 4));
  const std::string bytes = proto.SerializeAsString();
  auto m = mq::model::load_from_memory(std::as_bytes(std::span<const char>(bytes.data(), bytes.size())), dir.path());
  REQUIRE(m);
  const auto serialized = m->serialize();
  REQUIRE(serialized);
  mq::save_options inline_only;
  inline_only.external = mq::external_data::never;
  inline_only.verify = false;
  REQUIRE(m->save(dir / "copy.onnx", inline_only));
  CHECK(mq::test::read_bytes(dir / "copy.onnx") == *serialized);
  CHECK(mq::test::read_proto(dir / "copy.onnx").graph().initializer(0).raw_data() == data.substr(0, 160 * 160 * 4));
}
