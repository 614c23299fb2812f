// The executor's tensor: an element type, a shape, and shared, 64-byte aligned storage (or a
// read-only view of a model constant). Copying a tensor shares its storage; kernels write only into
// tensors they allocated (or took over as the last reader of an input).
#pragma once

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "mq/tensor.h"

namespace mq::exec {

using shape_t = std::vector<std::int64_t>;

/// Elements of a shape (1 for a scalar). Shapes in the executor are validated when made, so the
/// product fits in int64.
std::int64_t element_count(std::span<const std::int64_t> shape) noexcept;

/// "[1,3,224,224]"
std::string shape_string(std::span<const std::int64_t> shape);

/// Bytes per element in the executor (bool is one byte; 0 for types it does not hold).
std::size_t exec_element_size(mq::dtype type) noexcept;

/// Caches freed buffers by size class so that a model run many times (or a node run many times
/// inside a Loop) does not go back to the system allocator, which maps and zeroes large blocks on
/// every allocation. Thread-safe. Owned by a session; tensors keep it alive.
class buffer_pool {
 public:
  buffer_pool() = default;
  buffer_pool(const buffer_pool&) = delete;
  buffer_pool& operator=(const buffer_pool&) = delete;
  ~buffer_pool();

  /// A block of at least `bytes` bytes, 64-byte aligned; nullptr when out of memory.
  std::byte* take(std::size_t bytes, std::size_t& capacity);
  /// Gives a block back (its capacity as `take` reported it).
  void give(std::byte* block, std::size_t capacity) noexcept;
  /// Bytes currently cached (not in use).
  std::size_t cached_bytes() const noexcept;

 private:
  mutable std::mutex lock_;
  std::multimap<std::size_t, std::byte*> free_blocks_;  // capacity -> block
  std::size_t cached_ = 0;
  std::size_t in_use_ = 0;       // bytes handed out and not given back
  std::size_t peak_in_use_ = 0;  // the most ever handed out at once
};

class tensor {
 public:
  tensor() = default;

  /// A new tensor with uninitialized elements, from `pool` (or the system allocator when null).
  /// Fails (null storage) only when out of memory; callers check `valid()`.
  static tensor empty(mq::dtype type, shape_t shape, const std::shared_ptr<buffer_pool>& pool = nullptr);
  /// The same, every byte zero.
  static tensor zeros(mq::dtype type, shape_t shape, const std::shared_ptr<buffer_pool>& pool = nullptr);
  /// A read-only view of `data`, which must outlive every copy of the tensor (model constants).
  static tensor view(mq::dtype type, shape_t shape, const void* data);
  /// A view of this tensor's storage with another shape of the same element count.
  tensor reshaped(shape_t shape) const;

  /// True when the tensor has a type (a default-constructed tensor is "no value").
  bool defined() const noexcept { return type_ != mq::dtype::undefined; }
  /// False when allocating the storage failed.
  bool valid() const noexcept { return defined() && (data_ != nullptr || size_ == 0); }

  mq::dtype type() const noexcept { return type_; }
  const shape_t& shape() const noexcept { return shape_; }
  std::size_t rank() const noexcept { return shape_.size(); }
  std::int64_t dim(std::size_t i) const noexcept { return shape_[i]; }
  std::int64_t size() const noexcept { return size_; }
  std::size_t byte_size() const noexcept { return static_cast<std::size_t>(size_) * exec_element_size(type_); }

  const void* raw() const noexcept { return data_; }
  void* mutable_raw() noexcept {
    assert(!read_only_);
    return data_;
  }
  std::span<const std::byte> bytes() const noexcept { return {data_, byte_size()}; }

  template <class T>
  const T* data() const noexcept {
    return reinterpret_cast<const T*>(data_);
  }
  template <class T>
  T* mutable_data() noexcept {
    assert(!read_only_);
    return reinterpret_cast<T*>(data_);
  }
  template <class T>
  std::span<const T> span() const noexcept {
    return {data<T>(), static_cast<std::size_t>(size_)};
  }
  template <class T>
  std::span<T> mutable_span() noexcept {
    return {mutable_data<T>(), static_cast<std::size_t>(size_)};
  }

  /// True when nothing else shares the storage and it is writable: a kernel that is the last
  /// reader of this tensor may write its result into it.
  bool exclusively_owned() const noexcept { return !read_only_ && storage_ && storage_.use_count() == 1; }
  bool read_only() const noexcept { return read_only_; }

  /// Takes over another tensor's storage for a result of the same byte size (in-place kernels).
  static tensor reuse(tensor&& from, mq::dtype type, shape_t shape);

 private:
  mq::dtype type_ = mq::dtype::undefined;
  shape_t shape_;
  std::int64_t size_ = 0;
  std::shared_ptr<void> storage_;  // owns data_ (null for views)
  std::byte* data_ = nullptr;
  bool read_only_ = false;
};

/// Reads element i of a numeric tensor as double / int64 (any numeric type; bool as 0/1).
double element_as_double(const tensor& t, std::int64_t i) noexcept;
std::int64_t element_as_int64(const tensor& t, std::int64_t i) noexcept;

/// True for float16, float32, float64 and bfloat16.
bool is_float_type(mq::dtype type) noexcept;

}  // namespace mq::exec
