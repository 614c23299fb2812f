#include "onnx_io/wire.h"

#include <cstdint>
#include <vector>

namespace mq::onnx_io {
namespace {

// Field numbers of onnx.proto used here.
constexpr std::uint32_t model_graph = 7;
constexpr std::uint32_t graph_initializer = 5;
constexpr std::uint32_t tensor_raw_data = 9;
constexpr std::uint32_t tensor_external_data = 13;
constexpr std::uint32_t tensor_data_location = 14;
constexpr std::uint32_t entry_key = 1;
constexpr std::uint32_t entry_value = 2;
constexpr std::uint32_t wire_varint = 0;
constexpr std::uint32_t wire_fixed64 = 1;
constexpr std::uint32_t wire_length = 2;
constexpr std::uint32_t wire_fixed32 = 5;

using bytes = std::span<const std::byte>;

std::optional<std::uint64_t> read_varint(bytes data, std::size_t& pos) {
  std::uint64_t value = 0;
  for (int shift = 0; shift < 64 && pos < data.size(); shift += 7) {
    const auto b = static_cast<std::uint8_t>(data[pos++]);
    value |= static_cast<std::uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) return value;
  }
  return std::nullopt;
}

void write_varint(std::string& out, std::uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

void write_tag(std::string& out, std::uint32_t field, std::uint32_t wire_type) {
  write_varint(out, (static_cast<std::uint64_t>(field) << 3) | wire_type);
}

void write_length_field(std::string& out, std::uint32_t field, std::string_view payload) {
  write_tag(out, field, wire_length);
  write_varint(out, payload.size());
  out.append(payload);
}

void append(std::string& out, bytes data) { out.append(reinterpret_cast<const char*>(data.data()), data.size()); }

// One field: its number, wire type, where it starts and ends, and (for length-delimited
// fields) where its payload starts.
struct field {
  std::uint32_t number = 0;
  std::uint32_t wire_type = 0;
  std::size_t begin = 0;
  std::size_t payload = 0;
  std::size_t end = 0;
};

// Splits a message into its fields; nullopt on malformed input or groups (unused by ONNX).
std::optional<std::vector<field>> fields_of(bytes data) {
  std::vector<field> fields;
  std::size_t pos = 0;
  while (pos < data.size()) {
    field f;
    f.begin = pos;
    auto tag = read_varint(data, pos);
    if (!tag || (*tag >> 3) == 0 || (*tag >> 3) > 0x1fffffff) return std::nullopt;
    f.number = static_cast<std::uint32_t>(*tag >> 3);
    f.wire_type = static_cast<std::uint32_t>(*tag & 7);
    switch (f.wire_type) {
      case wire_varint:
        if (!read_varint(data, pos)) return std::nullopt;
        break;
      case wire_fixed64:
        pos += 8;
        break;
      case wire_fixed32:
        pos += 4;
        break;
      case wire_length: {
        auto length = read_varint(data, pos);
        if (!length || *length > data.size() - pos) return std::nullopt;
        f.payload = pos;
        pos += static_cast<std::size_t>(*length);
        break;
      }
      default:
        return std::nullopt;
    }
    if (pos > data.size()) return std::nullopt;
    f.end = pos;
    fields.push_back(f);
  }
  return fields;
}

std::string external_entry(std::string_view key, std::string_view value) {
  std::string entry;
  write_length_field(entry, entry_key, key);
  write_length_field(entry, entry_value, value);
  return entry;
}

// The tensor with its raw_data cut out and external-data fields appended, or nullopt to keep it.
std::optional<std::string> strip_tensor(bytes tensor, std::size_t file_offset, const std::string& location,
                                        std::size_t threshold) {
  auto fields = fields_of(tensor);
  if (!fields) return std::nullopt;
  const field* raw = nullptr;
  for (const auto& f : *fields) {
    // A tensor that already says where its data is (or has entries) is left exactly as it is.
    if (f.number == tensor_data_location || f.number == tensor_external_data) return std::nullopt;
    if (f.number == tensor_raw_data && f.wire_type == wire_length) raw = &f;
  }
  if (raw == nullptr || raw->end - raw->payload < threshold) return std::nullopt;
  std::string out;
  for (const auto& f : *fields) {
    if (&f != raw) append(out, tensor.subspan(f.begin, f.end - f.begin));
  }
  const std::size_t length = raw->end - raw->payload;
  write_length_field(out, tensor_external_data, external_entry("location", location));
  write_length_field(out, tensor_external_data, external_entry("offset", std::to_string(file_offset + raw->payload)));
  write_length_field(out, tensor_external_data, external_entry("length", std::to_string(length)));
  write_tag(out, tensor_data_location, wire_varint);
  write_varint(out, 1);  // TensorProto.EXTERNAL
  return out;
}

// Rewrites one message's length-delimited field `number` with `rewrite`, copying the rest.
template <class Rewrite>
std::optional<std::string> rewrite_fields(bytes message, std::uint32_t number, Rewrite&& rewrite, bool& changed) {
  auto fields = fields_of(message);
  if (!fields) return std::nullopt;
  std::string out;
  out.reserve(message.size());
  for (const auto& f : *fields) {
    if (f.number == number && f.wire_type == wire_length) {
      if (auto replaced = rewrite(f)) {
        changed = true;
        write_length_field(out, number, *replaced);
        continue;
      }
    }
    append(out, message.subspan(f.begin, f.end - f.begin));
  }
  return out;
}

}  // namespace

std::optional<stripped_model> strip_large_tensors(bytes file, const std::string& location, std::size_t threshold) {
  std::size_t stripped = 0;
  bool graph_changed = false;
  auto model = rewrite_fields(file, model_graph, [&](const field& g) -> std::optional<std::string> {
    const bytes graph = file.subspan(g.payload, g.end - g.payload);
    bool changed = false;
    auto rewritten = rewrite_fields(graph, graph_initializer, [&](const field& t) -> std::optional<std::string> {
      auto tensor = strip_tensor(graph.subspan(t.payload, t.end - t.payload), g.payload + t.payload, location, threshold);
      if (tensor) ++stripped;
      return tensor;
    }, changed);
    if (!rewritten || !changed) return std::nullopt;
    return rewritten;
  }, graph_changed);
  if (!model || stripped == 0) return std::nullopt;
  return stripped_model{std::move(*model), stripped};
}

void append_varint(std::string& out, std::uint64_t value) { write_varint(out, value); }

std::size_t varint_size(std::uint64_t value) noexcept {
  std::size_t n = 1;
  for (; value >= 0x80; value >>= 7) ++n;
  return n;
}

}  // namespace mq::onnx_io
