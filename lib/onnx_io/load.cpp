// Loading: bytes -> ModelProto, structural validation, external data resolution.
#include <google/protobuf/io/coded_stream.h>

#include <climits>
#include <string>

#include "onnx_io/model_impl.h"
#include "onnx_io/walk.h"
#include "onnx_io/wire.h"
#include "util/try.h"

namespace mq {
namespace {

// Newest IR version we know of (ONNX 1.17+ writes 10, 1.18 writes 11); a bigger number in
// an otherwise valid protobuf almost always means the bytes are not an ONNX model.
constexpr std::int64_t max_ir_version = 12;

// Initializers at least this big are read in place from the model file (see wire.h).
constexpr std::size_t in_place_threshold = 64 * 1024;

result<void> parse_into(model::impl& m, std::span<const std::byte> bytes) {
  if (bytes.empty()) {
    return fail(errc::invalid_model, m.label + ": file is empty, expected an ONNX model");
  }
  if (bytes.size() > static_cast<std::size_t>(INT_MAX)) {
    return fail(errc::invalid_model, m.label + ": file is " + std::to_string(bytes.size()) +
                                         " bytes, over protobuf's 2 GiB limit; large models must keep "
                                         "their weights in external data");
  }
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const std::uint8_t*>(bytes.data()),
                                            static_cast<int>(bytes.size()));
  in.SetTotalBytesLimit(INT_MAX);
  if (!m.proto.ParseFromCodedStream(&in) || !in.ConsumedEntireMessage()) {
    return fail(errc::invalid_model, m.label +
                                         ": not an ONNX model (protobuf parsing failed; is the file "
                                         "truncated, or in another format?)");
  }
  return {};
}

result<void> validate_structure(const model::impl& m) {
  const auto& p = m.proto;
  const std::string not_onnx = m.label + ": not an ONNX model: ";
  if (p.ir_version() <= 0 || p.ir_version() > max_ir_version) {
    return fail(errc::invalid_model, not_onnx + "ir_version " + std::to_string(p.ir_version()) +
                                         " is outside 1.." + std::to_string(max_ir_version));
  }
  if (!p.has_graph()) return fail(errc::invalid_model, not_onnx + "it has no graph");
  if (p.ir_version() >= 3 && p.opset_import_size() == 0) {
    return fail(errc::invalid_model, not_onnx + "it imports no operator set");
  }
  for (const auto& imp : p.opset_import()) {
    if (imp.version() <= 0) {
      return fail(errc::invalid_model, not_onnx + "opset_import for domain '" + imp.domain() +
                                           "' has version " + std::to_string(imp.version()));
    }
  }
  return {};
}

// Dims must be non-negative with a size that fits in 64 bits: views, verification and the passes
// multiply dims, and a shape like [2^40, 2^40] would overflow there (found by fuzz_model_loader).
result<void> validate_tensor_shapes(model::impl& m) {
  result<void> status;
  onnx_io::for_each_tensor(*m.proto.mutable_graph(), [&](onnx::TensorProto& t, onnx_io::tensor_site) {
    if (status && !onnx_io::checked_element_count(t)) {
      status = fail(errc::invalid_model, m.label + ": " + onnx_io::impossible_shape(t));
    }
  });
  return status;
}

result<void> resolve_all_external(model::impl& m) {
  result<void> status;
  onnx_io::for_each_tensor(*m.proto.mutable_graph(), [&](onnx::TensorProto& t, onnx_io::tensor_site) {
    if (!status || t.data_location() != onnx::TensorProto::EXTERNAL) return;
    auto ref = onnx_io::resolve_external(t, m);
    if (!ref) status = unexpected_error{std::move(ref).error()};
  });
  return status;
}

result<std::unique_ptr<model::impl>> load_impl(std::span<const std::byte> bytes, std::string label,
                                               std::filesystem::path source, std::filesystem::path base_dir, std::string input_name,
                                               std::string self_location = {}) {
  auto m = std::make_unique<model::impl>();
  m->input_name = std::move(input_name);
  m->self_location = std::move(self_location);
  m->label = std::move(label);
  m->source = std::move(source);
  m->base_dir = std::move(base_dir);
  MQ_TRY_VOID(parse_into(*m, bytes));
  MQ_TRY_VOID(validate_structure(*m));
  MQ_TRY_VOID(validate_tensor_shapes(*m));
  MQ_TRY_VOID(resolve_all_external(*m));
  return m;
}

}  // namespace

model::model(std::unique_ptr<impl> state) : impl_(std::move(state)) {}

model model::from_internals(std::unique_ptr<impl> state) { return model(std::move(state)); }
model::model(model&&) noexcept = default;
model& model::operator=(model&&) noexcept = default;
model::~model() = default;

result<model> model::load(const std::filesystem::path& path) {
  auto file = util::mapped_file::open(path);
  if (!file) return unexpected_error{std::move(file).error()};
  std::error_code ec;
  auto canonical = std::filesystem::weakly_canonical(std::filesystem::absolute(path, ec), ec);
  const std::string label = "'" + path.string() + "'";
  // Large weights are read in place from the mapped file instead of being copied into the
  // parsed protobuf (most of the cost of loading a big model is page faults on fresh memory).
  const std::string self = canonical.filename().string();
  if (auto stripped = onnx_io::strip_large_tensors(file->bytes(), self, in_place_threshold)) {
    const auto* data = reinterpret_cast<const std::byte*>(stripped->bytes.data());
    auto state = load_impl({data, stripped->bytes.size()}, label, canonical, canonical.parent_path(), path.string(), self);
    if (state) return model(std::move(*state));
    // Anything unexpected: fall back to the plain parse, which also gives the usual errors.
  }
  auto state = MQ_TRY(load_impl(file->bytes(), label, canonical, canonical.parent_path(), path.string()));
  return model(std::move(state));
}

result<model> model::load_from_memory(std::span<const std::byte> bytes, const std::filesystem::path& base_dir,
                                      std::string label) {
  std::string name = label;
  auto state = MQ_TRY(load_impl(bytes, std::move(label), {}, base_dir, std::move(name)));
  return model(std::move(state));
}

}  // namespace mq
