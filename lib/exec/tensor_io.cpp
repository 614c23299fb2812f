// .npy and .pb tensor files (mq/tensor_io.h).
#include "mq/tensor_io.h"

#include <onnx/onnx_pb.h>

#include <charconv>
#include <cstring>
#include <string_view>

#include "exec/plan.h"
#include "util/file.h"
#include "util/try.h"

namespace mq {
namespace {

struct npy_type {
  std::string_view code;  // without the byte-order character
  dtype type;
};

constexpr npy_type npy_types[] = {
    {"f4", dtype::float32}, {"f8", dtype::float64}, {"f2", dtype::float16}, {"i1", dtype::int8},
    {"u1", dtype::uint8},   {"i2", dtype::int16},   {"u2", dtype::uint16},  {"i4", dtype::int32},
    {"u4", dtype::uint32},  {"i8", dtype::int64},   {"u8", dtype::uint64},  {"b1", dtype::boolean},
};

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\n')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n')) s.remove_suffix(1);
  return s;
}

// The text after `'key':` in the header dict, up to the end of its value; empty when absent.
std::string_view dict_value(std::string_view header, std::string_view key) {
  for (const char quote : {'\'', '"'}) {
    const std::string needle = std::string(1, quote) + std::string(key) + std::string(1, quote);
    const auto at = header.find(needle);
    if (at == std::string_view::npos) continue;
    auto rest = header.substr(at + needle.size());
    rest = trim(rest);
    if (rest.empty() || rest.front() != ':') return {};
    rest = trim(rest.substr(1));
    if (!rest.empty() && rest.front() == '(') {
      const auto close = rest.find(')');
      return close == std::string_view::npos ? std::string_view{} : rest.substr(0, close + 1);
    }
    const auto end = rest.find_first_of(",}");
    return trim(rest.substr(0, end));
  }
  return {};
}

std::string type_codes() {
  std::string s;
  for (const auto& t : npy_types) s += (s.empty() ? "" : ", ") + std::string(t.code);
  return s;
}

}  // namespace

result<tensor> parse_npy(std::span<const std::byte> bytes, const std::string& label) {
  auto bad = [&](const std::string& why) { return fail(errc::invalid_argument, label + ": not a valid .npy file: " + why); };
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  if (bytes.size() < 10 || std::memcmp(p, "\x93NUMPY", 6) != 0) return bad("it does not start with \\x93NUMPY");
  const unsigned major = p[6];
  std::size_t header_len = 0;
  std::size_t offset = 0;
  if (major == 1) {
    header_len = static_cast<std::size_t>(p[8]) | static_cast<std::size_t>(p[9]) << 8;
    offset = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) return bad("truncated header");
    header_len = static_cast<std::size_t>(p[8]) | static_cast<std::size_t>(p[9]) << 8 |
                 static_cast<std::size_t>(p[10]) << 16 | static_cast<std::size_t>(p[11]) << 24;
    offset = 12;
  } else {
    return fail(errc::unsupported, label + ": .npy format version " + std::to_string(major) + " is not supported (1-3 are)");
  }
  if (header_len > bytes.size() - offset) return bad("the header is longer than the file");
  const std::string_view header(reinterpret_cast<const char*>(p + offset), header_len);
  const std::size_t data_offset = offset + header_len;

  std::string_view descr = dict_value(header, "descr");
  if (descr.size() < 2 || (descr.front() != '\'' && descr.front() != '"') || descr.back() != descr.front()) {
    return bad("no 'descr' in the header");
  }
  descr = descr.substr(1, descr.size() - 2);
  if (descr.empty()) return bad("empty 'descr'");
  const char order = descr.front();
  if (order == '>') return fail(errc::unsupported, label + ": big-endian .npy data ('" + std::string(descr) + "') is not supported");
  std::string_view code = descr;
  if (order == '<' || order == '|' || order == '=') code.remove_prefix(1);
  dtype type = dtype::undefined;
  for (const auto& t : npy_types) {
    if (t.code == code) type = t.type;
  }
  if (type == dtype::undefined) {
    return fail(errc::unsupported, label + ": .npy element type '" + std::string(descr) + "' is not supported (" +
                                       type_codes() + ")");
  }
  const std::string_view fortran = dict_value(header, "fortran_order");
  if (fortran == "True") return fail(errc::unsupported, label + ": Fortran-order .npy data is not supported (save it in C order)");
  if (fortran != "False") return bad("no 'fortran_order' in the header");

  std::string_view shape_text = dict_value(header, "shape");
  if (shape_text.size() < 2 || shape_text.front() != '(' || shape_text.back() != ')') return bad("no 'shape' tuple in the header");
  shape_text = shape_text.substr(1, shape_text.size() - 2);
  tensor t;
  t.type = type;
  std::int64_t count = 1;
  while (!(shape_text = trim(shape_text)).empty()) {
    std::int64_t d = 0;
    auto [end, ec] = std::from_chars(shape_text.data(), shape_text.data() + shape_text.size(), d);
    if (ec != std::errc{} || d < 0) return bad("a dimension of 'shape' is not a non-negative integer");
    if (__builtin_mul_overflow(count, d, &count) || count > (std::int64_t{1} << 40)) return bad("the shape is too large");
    t.shape.push_back(d);
    shape_text.remove_prefix(static_cast<std::size_t>(end - shape_text.data()));
    shape_text = trim(shape_text);
    if (!shape_text.empty()) {
      if (shape_text.front() != ',') return bad("'shape' is not a tuple of integers");
      shape_text.remove_prefix(1);
    }
  }
  const std::size_t need = static_cast<std::size_t>(count) * exec::exec_element_size(type);
  if (bytes.size() - data_offset != need) {
    return bad("its shape " + exec::shape_string(t.shape) + " needs " + std::to_string(need) + " bytes of data, it has " +
               std::to_string(bytes.size() - data_offset));
  }
  t.data.assign(bytes.begin() + static_cast<std::ptrdiff_t>(data_offset), bytes.end());
  return t;
}

result<tensor> parse_tensor_proto(std::span<const std::byte> bytes, const std::string& label) {
  onnx::TensorProto proto;
  if (bytes.size() > static_cast<std::size_t>(INT32_MAX) || !proto.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return fail(errc::invalid_argument, label + ": not a serialized onnx.TensorProto");
  }
  if (proto.data_location() == onnx::TensorProto::EXTERNAL) {
    return fail(errc::unsupported, label + ": a TensorProto with external data is not supported here");
  }
  auto t = exec::from_proto(proto, nullptr);
  if (!t) return fail(t.error().code, label + ": " + t.error().message);
  tensor out;
  out.type = t->type();
  out.shape = t->shape();
  const auto b = t->bytes();
  out.data.assign(b.begin(), b.end());
  return out;
}

result<tensor> read_tensor_file(const std::filesystem::path& path) {
  const std::string ext = path.extension().string();
  if (ext != ".npy" && ext != ".pb") {
    return fail(errc::invalid_argument, util::quote(path) + ": a tensor file must be .npy or .pb (an ONNX TensorProto)");
  }
  auto file = MQ_TRY(util::mapped_file::open(path));
  const std::string label = util::quote(path);
  return ext == ".npy" ? parse_npy(file.bytes(), label) : parse_tensor_proto(file.bytes(), label);
}

result<std::string> to_npy(const tensor& t) {
  std::string_view code;
  for (const auto& c : npy_types) {
    if (c.type == t.type) code = c.code;
  }
  if (code.empty()) return fail(errc::unsupported, "element type " + to_string(t.type) + " cannot be written as .npy");
  const char order = (t.type == dtype::int8 || t.type == dtype::uint8 || t.type == dtype::boolean) ? '|' : '<';
  std::string shape = "(";
  for (std::size_t i = 0; i < t.shape.size(); ++i) shape += std::to_string(t.shape[i]) + (t.shape.size() == 1 || i + 1 < t.shape.size() ? "," : "");
  shape += ")";
  std::string header = "{'descr': '" + std::string(1, order) + std::string(code) + "', 'fortran_order': False, 'shape': " + shape + ", }";
  // Pad so that the data starts at a multiple of 64 bytes, the header ending in '\n'.
  const std::size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  if (header.size() > 65535) return fail(errc::unsupported, "the tensor's shape is too long for a .npy 1.0 header");
  std::string out = "\x93NUMPY";
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>((header.size() >> 8) & 0xff);
  out += header;
  out.append(reinterpret_cast<const char*>(t.data.data()), t.data.size());
  return out;
}

result<void> write_npy(const std::filesystem::path& path, const tensor& t) {
  const std::string image = MQ_TRY(to_npy(t));
  auto file = MQ_TRY(util::atomic_file::create(path));
  MQ_TRY_VOID(file.write(image));
  return file.commit();
}

}  // namespace mq
