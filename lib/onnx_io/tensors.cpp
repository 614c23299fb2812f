// Tensor access over the protobuf: inline fields, external data, and ONNX's checker.
#include <charconv>
#include <optional>
#include <string>
#include <unordered_map>

#include "onnx_io/model_impl.h"
#include "onnx_io/walk.h"
#include "util/try.h"

namespace mq::onnx_io {
namespace {

std::string tensor_label(const onnx::TensorProto& t) {
  return "tensor '" + t.name() + "'";
}

result<std::uint64_t> parse_u64(const onnx::TensorProto& t, const std::string& key, const std::string& text) {
  std::uint64_t v = 0;
  const auto* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data(), end, v);
  if (ec != std::errc{} || p != end) {
    return fail(errc::invalid_model,
                tensor_label(t) + ": external data " + key + " '" + text + "' is not a non-negative integer");
  }
  return v;
}

// True when `inner` is `outer` or below it (both canonical).
bool is_within(const std::filesystem::path& inner, const std::filesystem::path& outer) {
  auto i = inner.begin();
  for (auto o = outer.begin(); o != outer.end(); ++o, ++i) {
    if (o->empty()) continue;  // trailing separator
    if (i == inner.end() || *i != *o) return false;
  }
  return true;
}

}  // namespace

std::optional<std::int64_t> checked_element_count(const onnx::TensorProto& tensor) noexcept {
  constexpr std::int64_t widest_element = 16;  // complex128
  std::int64_t n = 1;
  for (auto d : tensor.dims()) {
    if (d < 0 || __builtin_mul_overflow(n, d, &n)) return std::nullopt;
  }
  if (std::int64_t bytes = 0; __builtin_mul_overflow(n, widest_element, &bytes)) return std::nullopt;
  return n;
}

std::string impossible_shape(const onnx::TensorProto& tensor) {
  std::string dims;
  for (auto d : tensor.dims()) dims += (dims.empty() ? "" : ", ") + std::to_string(d);
  return tensor_label(tensor) + " has an impossible shape [" + dims +
         "]: a dimension is negative or its size does not fit in 64 bits";
}

std::uint64_t inline_size(model::impl& m) {
  std::uint64_t external = 0;
  for_each_tensor(*m.proto.mutable_graph(), [&](onnx::TensorProto& t, tensor_site) {
    if (t.data_location() == onnx::TensorProto::EXTERNAL) external += expected_bytes(t);
  });
  return m.proto.ByteSizeLong() + external;
}

std::uint64_t expected_bytes(const onnx::TensorProto& tensor) noexcept {
  const std::size_t size = element_size(static_cast<dtype>(tensor.data_type()));
  const auto count = checked_element_count(tensor);
  if (size == 0 || !count) return 0;
  return static_cast<std::uint64_t>(*count) * size;
}

result<external_ref> resolve_external(const onnx::TensorProto& tensor, model::impl& m) {
  std::string location;
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
  bool has_length = false;
  for (const auto& entry : tensor.external_data()) {
    if (entry.key() == "location") location = entry.value();
    else if (entry.key() == "offset") offset = MQ_TRY(parse_u64(tensor, "offset", entry.value()));
    else if (entry.key() == "length") {
      length = MQ_TRY(parse_u64(tensor, "length", entry.value()));
      has_length = true;
    }
  }
  const std::string what = tensor_label(tensor) + " in " + m.label;
  if (location.empty()) return fail(errc::invalid_model, what + ": external data has no location");
  if (m.base_dir.empty()) {
    return fail(errc::invalid_model,
                what + ": has external data but the model was loaded from memory without a base folder");
  }
  const std::filesystem::path rel(location);
  if (rel.is_absolute()) {
    return fail(errc::invalid_model, what + ": external data location '" + location +
                                         "' is an absolute path; it must be relative to the model's folder");
  }
  for (const auto& part : rel) {
    if (part == "..") {
      return fail(errc::invalid_model, what + ": external data location '" + location +
                                           "' leaves the model's folder ('..' is not allowed)");
    }
  }
  const std::filesystem::path full = m.base_dir / rel;
  std::error_code ec;
  if (!std::filesystem::exists(full, ec)) {
    return fail(errc::not_found, what + ": external data file '" + location + "' not found in '" +
                                     m.base_dir.string() + "'");
  }
  const std::filesystem::path canonical = std::filesystem::canonical(full, ec);
  const std::filesystem::path base = std::filesystem::canonical(m.base_dir, ec);
  if (ec || !is_within(canonical, base)) {
    return fail(errc::invalid_model, what + ": external data location '" + location +
                                         "' resolves outside the model's folder (symlink?)");
  }
  auto it = m.external_files.find(canonical);
  if (it == m.external_files.end()) {
    auto mapped = util::mapped_file::open(canonical);
    if (!mapped) return fail(mapped.error().code, what + ": " + mapped.error().message);
    it = m.external_files.emplace(canonical, std::move(*mapped)).first;
  }
  const std::uint64_t expected = expected_bytes(tensor);
  if (!has_length) length = expected;
  if (expected != 0 && length != expected) {
    return fail(errc::invalid_model, what + ": external data length " + std::to_string(length) +
                                         " does not match its shape (" + std::to_string(expected) + " bytes)");
  }
  const std::uint64_t file_size = it->second.size();
  if (offset > file_size || length > file_size - offset) {
    return fail(errc::invalid_model, what + ": external data file '" + location + "' has " +
                                         std::to_string(file_size) + " bytes, but offset " +
                                         std::to_string(offset) + " + length " + std::to_string(length) +
                                         " needs " + std::to_string(offset + length));
  }
  return external_ref{&it->second, canonical, offset, length};
}

result<tensor_view> view_of(const onnx::TensorProto& t, const model::impl& m) {
  const auto type = static_cast<dtype>(t.data_type());
  std::vector<std::int64_t> dims(t.dims().begin(), t.dims().end());
  using kind = tensor_view::storage;
  if (t.data_location() == onnx::TensorProto::EXTERNAL) {
    // resolve_external only adds to the mapping cache; the model's content is unchanged.
    auto ref = MQ_TRY(resolve_external(t, const_cast<model::impl&>(m)));
    const auto* p = ref.file->bytes().data() + ref.offset;
    return tensor_view(t.name(), type, std::move(dims), kind::bytes, p, static_cast<std::size_t>(ref.length));
  }
  if (t.has_raw_data()) {
    return tensor_view(t.name(), type, std::move(dims), kind::bytes, t.raw_data().data(), t.raw_data().size());
  }
  switch (type) {
    case dtype::float32:
    case dtype::complex64:
      return tensor_view(t.name(), type, std::move(dims), kind::typed, t.float_data().data(),
                         static_cast<std::size_t>(t.float_data_size()) / (type == dtype::complex64 ? 2 : 1));
    case dtype::float64:
    case dtype::complex128:
      return tensor_view(t.name(), type, std::move(dims), kind::typed, t.double_data().data(),
                         static_cast<std::size_t>(t.double_data_size()) / (type == dtype::complex128 ? 2 : 1));
    case dtype::int32:
      return tensor_view(t.name(), type, std::move(dims), kind::typed, t.int32_data().data(),
                         static_cast<std::size_t>(t.int32_data_size()));
    case dtype::int64:
      return tensor_view(t.name(), type, std::move(dims), kind::typed, t.int64_data().data(),
                         static_cast<std::size_t>(t.int64_data_size()));
    case dtype::uint32:
    case dtype::uint64:
      // ONNX stores uint32 widened to uint64 too; only uint64 has a same-type typed field.
      return tensor_view(t.name(), type, std::move(dims), kind::typed, t.uint64_data().data(),
                         static_cast<std::size_t>(t.uint64_data_size()));
    case dtype::int8:
    case dtype::uint8:
    case dtype::int16:
    case dtype::uint16:
    case dtype::boolean:
    case dtype::float16:
    case dtype::bfloat16:
      return tensor_view(t.name(), type, std::move(dims), kind::widened_int32, t.int32_data().data(),
                         static_cast<std::size_t>(t.int32_data_size()));
    default:
      return fail(errc::unsupported,
                  tensor_label(t) + " in " + m.label + ": dtype " + to_string(type) + " has no numeric view");
  }
}

const util::mapped_file* mapping_of(const model::impl& m, std::span<const std::byte> bytes) noexcept {
  for (const auto& [path, file] : m.external_files) {
    if (file.contains(bytes)) return &file;
  }
  return nullptr;
}

}  // namespace mq::onnx_io
