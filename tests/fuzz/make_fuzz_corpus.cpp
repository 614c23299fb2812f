// Writes the seed corpus for fuzz_model_loader: small synthetic models (ONNX text, so they stay
// readable and in step with the ONNX version installed) covering each storage the loader and
// tensor views handle, plus the real models when their folder exists.
//
// usage: make_fuzz_corpus OUT_DIR [REAL_MODELS_DIR]   (OUT_DIR is emptied first)
#include <onnx/defs/parser.h>
#include <onnx/onnx_pb.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fs = std::filesystem;

namespace {

struct seed {
  const char* name;
  const char* text;  // ONNX text; initializers the parser cannot express are added in code
};

// Each seed reaches a different branch of the loader or of tensor_view::to_float.
const std::vector<seed> text_seeds = {
    {"matmul_raw", R"ONNX(
<ir_version: 8, opset_import: ["" : 13], producer_name: "mq-fuzz">
g (float[1, 4] x) => (float[1, 3] y) {
  y = MatMul(x, w)
}
)ONNX"},
    {"typed_fields", R"ONNX(
<ir_version: 8, opset_import: ["" : 13]>
g (float[2, 2] x) => (float[4] y)
    <float[2] f = {1.5, -2.0}, int64[1] shape = {4}, double[2] d = {0.25, 8.0}, int32[2] i = {-7, 9}> {
  a = Reshape(x, shape)
  b = Cast <to = 1> (d)
  y = Identity(a)
}
)ONNX"},
    {"nested_if", R"ONNX(
<ir_version: 8, opset_import: ["" : 16], doc_string: "subgraphs">
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
)ONNX"},
    {"narrow_types", R"ONNX(
<ir_version: 9, opset_import: ["" : 17, "ai.onnx.ml" : 3]>
g (float[2] x) => (float[2] y)
    <int8[2] q = {-128, 127}, uint8[2] u = {0, 255}, bool[2] b = {1, 0}, int16[2] s = {-300, 300}> {
  y = Identity(x)
}
)ONNX"},
};

onnx::ModelProto parse(const char* text) {
  onnx::ModelProto proto;
  onnx::OnnxParser parser(text);
  auto status = parser.Parse(proto);
  if (!status.IsOK()) {
    std::fprintf(stderr, "make_fuzz_corpus: ONNX text does not parse: %s\n", status.ErrorMessage().c_str());
    std::exit(1);
  }
  return proto;
}

onnx::TensorProto& add_initializer(onnx::ModelProto& proto, const char* name, int type,
                                   const std::vector<std::int64_t>& dims) {
  auto* t = proto.mutable_graph()->add_initializer();
  t->set_name(name);
  t->set_data_type(type);
  for (auto d : dims) t->add_dims(d);
  return *t;
}

// w [4, 3] as raw little-endian floats.
void add_raw_weight(onnx::ModelProto& proto) {
  std::vector<float> values(12);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i) * 0.5f - 3.0f;
  add_initializer(proto, "w", onnx::TensorProto::FLOAT, {4, 3})
      .set_raw_data(std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float)));
}

// w [3, 4] in the fuzzer's weights.bin at offset 16 (see fuzz_model_loader.cpp).
onnx::ModelProto external_seed() {
  auto proto = parse(text_seeds[0].text);
  auto& w = add_initializer(proto, "w", onnx::TensorProto::FLOAT, {4, 3});
  w.set_data_location(onnx::TensorProto::EXTERNAL);
  for (auto [key, value] : {std::pair{"location", "weights.bin"}, {"offset", "16"}, {"length", "48"}}) {
    auto* e = w.add_external_data();
    e->set_key(key);
    e->set_value(value);
  }
  return proto;
}

// bfloat16 and uint16 raw bytes, float16 in int32_data, a string tensor, a sparse initializer.
onnx::ModelProto odd_storage_seed() {
  auto proto = parse(text_seeds[0].text);
  add_raw_weight(proto);
  using tp = onnx::TensorProto;
  add_initializer(proto, "bf", tp::BFLOAT16, {2}).set_raw_data(std::string("\x80\x3f\x00\xc0", 4));  // 1, -2
  add_initializer(proto, "u16", tp::UINT16, {2}).set_raw_data(std::string("\x01\x00\xff\xff", 4));
  add_initializer(proto, "str", tp::STRING, {1}).add_string_data("text");
  auto& half = add_initializer(proto, "half", tp::FLOAT16, {2});  // widened into int32_data
  half.add_int32_data(0x3c00);  // 1.0
  half.add_int32_data(0x8001);  // smallest negative subnormal
  auto* sparse = proto.mutable_graph()->add_sparse_initializer();
  sparse->add_dims(4);
  auto* values = sparse->mutable_values();
  values->set_name("sp");
  values->set_data_type(tp::FLOAT);
  values->add_dims(1);
  values->add_float_data(2.0f);
  auto* indices = sparse->mutable_indices();
  indices->set_data_type(tp::INT64);
  indices->add_dims(1);
  indices->add_int64_data(3);
  auto* meta = proto.add_metadata_props();
  meta->set_key("mq.options");
  meta->set_value("format=auto");
  return proto;
}

void write_file(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) {
    std::fprintf(stderr, "make_fuzz_corpus: cannot write %s\n", path.c_str());
    std::exit(1);
  }
}

void copy_real_models(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  if (!fs::is_directory(from, ec)) {
    std::printf("real models folder '%s' not found; synthetic seeds only\n", from.c_str());
    return;
  }
  for (const auto& e : fs::directory_iterator(from)) {
    if (e.path().extension() == ".onnx") fs::copy_file(e.path(), to / e.path().filename());
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::fprintf(stderr, "usage: make_fuzz_corpus OUT_DIR [REAL_MODELS_DIR]\n");
    return 2;
  }
  const fs::path out = argv[1];
  // A fresh copy each run: libFuzzer adds what it finds to this folder.
  fs::remove_all(out);
  fs::create_directories(out);
  for (const auto& s : text_seeds) {
    auto proto = parse(s.text);
    if (std::string_view(s.name) == "matmul_raw") add_raw_weight(proto);
    write_file(out / (std::string(s.name) + ".onnx"), proto.SerializeAsString());
  }
  write_file(out / "external.onnx", external_seed().SerializeAsString());
  write_file(out / "odd_storage.onnx", odd_storage_seed().SerializeAsString());
  if (argc == 3) copy_real_models(argv[2], out);
  return 0;
}
