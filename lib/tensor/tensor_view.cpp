#include <bit>
#include <cstring>
#include <string>

#include "mq/tensor.h"
#include "tensor/half.h"

static_assert(std::endian::native == std::endian::little,
              "libmodelquant reads ONNX tensor bytes in place and needs a little-endian machine");

namespace mq {

std::string to_string(dtype type) {
  switch (type) {
    case dtype::undefined: return "undefined";
    case dtype::float32: return "float32";
    case dtype::uint8: return "uint8";
    case dtype::int8: return "int8";
    case dtype::uint16: return "uint16";
    case dtype::int16: return "int16";
    case dtype::int32: return "int32";
    case dtype::int64: return "int64";
    case dtype::string: return "string";
    case dtype::boolean: return "bool";
    case dtype::float16: return "float16";
    case dtype::float64: return "float64";
    case dtype::uint32: return "uint32";
    case dtype::uint64: return "uint64";
    case dtype::complex64: return "complex64";
    case dtype::complex128: return "complex128";
    case dtype::bfloat16: return "bfloat16";
    case dtype::uint4: return "uint4";
    case dtype::int4: return "int4";
  }
  return "dtype(" + std::to_string(static_cast<int>(type)) + ")";
}

std::size_t element_size(dtype type) noexcept {
  switch (type) {
    case dtype::uint8:
    case dtype::int8:
    case dtype::boolean: return 1;
    case dtype::uint16:
    case dtype::int16:
    case dtype::float16:
    case dtype::bfloat16: return 2;
    case dtype::float32:
    case dtype::int32:
    case dtype::uint32: return 4;
    case dtype::int64:
    case dtype::uint64:
    case dtype::float64:
    case dtype::complex64: return 8;
    case dtype::complex128: return 16;
    default: return 0;
  }
}

tensor_view::tensor_view(std::string name, mq::dtype type, std::vector<std::int64_t> dims,
                         storage kind, const void* data, std::size_t stored_count)
    : name_(std::move(name)),
      type_(type),
      dims_(std::move(dims)),
      kind_(kind),
      data_(data),
      stored_count_(stored_count) {}

std::int64_t tensor_view::element_count() const noexcept {
  // Views of loaded models have checked shapes; a view built by hand with a negative or
  // overflowing shape gets -1 (rejected by to_float and as_span) instead of undefined behaviour.
  std::int64_t n = 1;
  for (auto d : dims_) {
    if (d < 0 || __builtin_mul_overflow(n, d, &n)) return -1;
  }
  return n;
}

namespace {

// Elements of a view as a size, or an error for the -1 element_count() gives impossible shapes.
result<std::size_t> checked_count(const tensor_view& view) {
  const std::int64_t count = view.element_count();
  if (count < 0) {
    return fail(errc::invalid_argument,
                "tensor '" + view.name() + "' has a negative dimension or more elements than fit in 64 bits");
  }
  return static_cast<std::size_t>(count);
}

}  // namespace

std::span<const std::byte> tensor_view::bytes() const noexcept {
  if (kind_ == storage::widened_int32) return {};
  const std::size_t n = kind_ == storage::bytes ? stored_count_ : stored_count_ * element_size(type_);
  return {static_cast<const std::byte*>(data_), n};
}

result<void> tensor_view::check_span_type(mq::dtype wanted, std::size_t size, std::size_t align) const {
  if (type_ != wanted) {
    return fail(errc::invalid_argument,
                "tensor '" + name_ + "' has dtype " + to_string(type_) + ", expected " + to_string(wanted));
  }
  if (kind_ == storage::widened_int32) {
    return fail(errc::unsupported, "tensor '" + name_ + "' stores " + to_string(type_) +
                                       " widened to int32; copy it instead of viewing it");
  }
  const auto checked = checked_count(*this);
  if (!checked) return unexpected_error{checked.error()};
  const std::size_t count = *checked;
  if (bytes().size() != count * size) {
    return fail(errc::invalid_model, "tensor '" + name_ + "' holds " + std::to_string(bytes().size()) +
                                         " bytes, its shape needs " + std::to_string(count * size));
  }
  if (count > 0 && reinterpret_cast<std::uintptr_t>(data_) % align != 0) {
    return fail(errc::unsupported, "tensor '" + name_ + "' data is not aligned for zero-copy access");
  }
  return {};
}

namespace {

// Reads element i of a stored buffer as float. `widened` means one int32 per element.
template <class T>
float load_as_float(const void* data, std::size_t i) {
  T v;
  std::memcpy(&v, static_cast<const std::byte*>(data) + i * sizeof(T), sizeof(T));
  return static_cast<float>(v);
}

}  // namespace

result<std::vector<float>> tensor_view::to_float() const {
  std::vector<float> out;
  auto ok = to_float(out);
  if (!ok) return unexpected_error{std::move(ok).error()};
  return out;
}

result<void> tensor_view::to_float(std::vector<float>& out) const {
  const auto checked = checked_count(*this);
  if (!checked) return unexpected_error{checked.error()};
  const std::size_t count = *checked;
  const std::size_t available = kind_ == storage::bytes
                                    ? (element_size(type_) ? stored_count_ / element_size(type_) : 0)
                                    : stored_count_;
  if (element_size(type_) == 0 || type_ == dtype::complex64 || type_ == dtype::complex128) {
    return fail(errc::unsupported, "tensor '" + name_ + "' has dtype " + to_string(type_) +
                                       ", which has no float32 value");
  }
  if (available != count) {
    return fail(errc::invalid_model, "tensor '" + name_ + "' holds " + std::to_string(available) +
                                         " elements, its shape needs " + std::to_string(count));
  }
  out.resize(count);
  if (kind_ == storage::widened_int32) {
    const auto* src = static_cast<const std::int32_t*>(data_);
    for (std::size_t i = 0; i < count; ++i) {
      const auto bits = static_cast<std::uint16_t>(src[i]);
      switch (type_) {
        case dtype::float16: out[i] = half::half_to_float(bits); break;
        case dtype::bfloat16: out[i] = half::bfloat16_to_float(bits); break;
        default: out[i] = static_cast<float>(src[i]); break;
      }
    }
    return {};
  }
  if (type_ == dtype::float32) {
    // The common case: one copy of the bytes (they may be unaligned, so memcpy, not a cast).
    if (count != 0) std::memcpy(out.data(), data_, count * sizeof(float));
    return {};
  }
  for (std::size_t i = 0; i < count; ++i) {
    switch (type_) {
      case dtype::float32: out[i] = load_as_float<float>(data_, i); break;
      case dtype::float64: out[i] = load_as_float<double>(data_, i); break;
      case dtype::int8: out[i] = load_as_float<std::int8_t>(data_, i); break;
      case dtype::uint8:
      case dtype::boolean: out[i] = load_as_float<std::uint8_t>(data_, i); break;
      case dtype::int16: out[i] = load_as_float<std::int16_t>(data_, i); break;
      case dtype::uint16: out[i] = load_as_float<std::uint16_t>(data_, i); break;
      case dtype::int32: out[i] = load_as_float<std::int32_t>(data_, i); break;
      case dtype::uint32: out[i] = load_as_float<std::uint32_t>(data_, i); break;
      case dtype::int64: out[i] = load_as_float<std::int64_t>(data_, i); break;
      case dtype::uint64: out[i] = load_as_float<std::uint64_t>(data_, i); break;
      case dtype::float16: {
        std::uint16_t h;
        std::memcpy(&h, static_cast<const std::byte*>(data_) + 2 * i, 2);
        out[i] = half::half_to_float(h);
        break;
      }
      case dtype::bfloat16: {
        std::uint16_t h;
        std::memcpy(&h, static_cast<const std::byte*>(data_) + 2 * i, 2);
        out[i] = half::bfloat16_to_float(h);
        break;
      }
      default: break;
    }
  }
  return {};
}

}  // namespace mq
