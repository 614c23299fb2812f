// libmodelquant: element types and read-only views over tensor bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "mq/export.h"
#include "mq/result.h"

namespace mq {

/// Tensor element types; the numeric values are ONNX's `TensorProto.DataType`.
enum class dtype : std::int32_t {
  undefined = 0,
  float32 = 1,
  uint8 = 2,
  int8 = 3,
  uint16 = 4,
  int16 = 5,
  int32 = 6,
  int64 = 7,
  string = 8,
  boolean = 9,
  float16 = 10,
  float64 = 11,
  uint32 = 12,
  uint64 = 13,
  complex64 = 14,
  complex128 = 15,
  bfloat16 = 16,
  uint4 = 21,
  int4 = 22,
};

/// Lowercase name of a type ("float32", "int8", ...); "dtype(N)" for values not listed above.
MQ_API std::string to_string(dtype type);

/// Bytes per element, or 0 for types that are not fixed-size bytes (string, 4-bit, undefined).
MQ_API std::size_t element_size(dtype type) noexcept;

/// Read-only view of one tensor's elements, valid while the `mq::model` it came from is alive
/// and unmodified. Elements are little-endian, row-major.
///
/// Zero copy: `as_span<T>()` points straight at the stored bytes when they are laid out as T
/// (raw_data, external data, or ONNX's typed field of the same C type: float_data for float32,
/// double_data for float64, int32_data for int32, int64_data for int64, uint64_data for uint64).
/// Types ONNX stores widened in int32_data (int8, uint8, int16, uint16, float16, bfloat16, bool)
/// have no contiguous bytes there; `to_float()` and `copy_as<T>()` convert them.
///
/// Thread safety: a view is immutable; any number of threads may read views (of one model or of
/// several) at once, as long as no thread modifies or destroys the model they came from.
class MQ_API tensor_view {
 public:
  /// How the elements are held in the model.
  enum class storage : std::uint8_t {
    bytes,          ///< contiguous little-endian bytes (raw_data or external data)
    widened_int32,  ///< one element per int32 (ONNX int32_data for narrow types)
    typed,          ///< contiguous typed field (float_data, double_data, int64_data, ...)
  };

  tensor_view() = default;
  tensor_view(std::string name, mq::dtype type, std::vector<std::int64_t> dims,
              storage kind, const void* data, std::size_t stored_count);

  const std::string& name() const noexcept { return name_; }
  mq::dtype type() const noexcept { return type_; }
  std::span<const std::int64_t> dims() const noexcept { return dims_; }
  /// Product of dims (1 for a scalar); -1 when a dim is negative or the product overflows int64
  /// (never for tensors of a loaded model: the loader rejects such shapes).
  std::int64_t element_count() const noexcept;
  storage kind() const noexcept { return kind_; }

  /// The stored bytes when they are contiguous (`storage::bytes` or `storage::typed`).
  std::span<const std::byte> bytes() const noexcept;

  /// Zero-copy typed access; fails when the stored layout is not T's or the data is misaligned.
  template <class T>
  result<std::span<const T>> as_span() const;

  /// Elements converted to float32: exact for float16, bfloat16 and integers up to 2^24;
  /// float64 is rounded to nearest. Fails for string, complex and 4-bit types.
  result<std::vector<float>> to_float() const;

  /// The same into `out` (resized; its capacity is reused, so converting many tensors through
  /// one buffer touches fresh memory only once).
  result<void> to_float(std::vector<float>& out) const;

 private:
  result<void> check_span_type(mq::dtype wanted, std::size_t size, std::size_t align) const;

  std::string name_;
  mq::dtype type_ = mq::dtype::undefined;
  std::vector<std::int64_t> dims_;
  storage kind_ = storage::bytes;
  const void* data_ = nullptr;
  std::size_t stored_count_ = 0;  // elements for typed/widened, bytes for `bytes`
};

template <class T>
constexpr mq::dtype dtype_of() noexcept {
  if constexpr (std::is_same_v<T, float>) return mq::dtype::float32;
  else if constexpr (std::is_same_v<T, double>) return mq::dtype::float64;
  else if constexpr (std::is_same_v<T, std::int8_t>) return mq::dtype::int8;
  else if constexpr (std::is_same_v<T, std::uint8_t>) return mq::dtype::uint8;
  else if constexpr (std::is_same_v<T, std::int16_t>) return mq::dtype::int16;
  else if constexpr (std::is_same_v<T, std::uint16_t>) return mq::dtype::uint16;
  else if constexpr (std::is_same_v<T, std::int32_t>) return mq::dtype::int32;
  else if constexpr (std::is_same_v<T, std::int64_t>) return mq::dtype::int64;
  else if constexpr (std::is_same_v<T, std::uint32_t>) return mq::dtype::uint32;
  else if constexpr (std::is_same_v<T, std::uint64_t>) return mq::dtype::uint64;
  else return mq::dtype::undefined;
}

template <class T>
result<std::span<const T>> tensor_view::as_span() const {
  static_assert(dtype_of<T>() != mq::dtype::undefined, "as_span<T>: unsupported element type");
  auto ok = check_span_type(dtype_of<T>(), sizeof(T), alignof(T));
  if (!ok) return unexpected_error{std::move(ok).error()};
  return std::span<const T>(static_cast<const T*>(data_), static_cast<std::size_t>(element_count()));
}

}  // namespace mq
