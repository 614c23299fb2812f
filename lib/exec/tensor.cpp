#include "exec/tensor.h"

#include <bit>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>

#include "tensor/half.h"

namespace mq::exec {

std::int64_t element_count(std::span<const std::int64_t> shape) noexcept {
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

std::string shape_string(std::span<const std::int64_t> shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
  return s + "]";
}

std::size_t exec_element_size(mq::dtype type) noexcept {
  switch (type) {
    case mq::dtype::boolean: return 1;
    case mq::dtype::string:
    case mq::dtype::undefined:
    case mq::dtype::uint4:
    case mq::dtype::int4: return 0;
    default: return element_size(type);
  }
}

bool is_float_type(mq::dtype type) noexcept {
  return type == mq::dtype::float32 || type == mq::dtype::float16 || type == mq::dtype::float64 ||
         type == mq::dtype::bfloat16;
}

// ---- buffer pool ------------------------------------------------------------------------------

namespace {

constexpr std::size_t alignment = 64;

// Size classes: 8 per power of two (at most 12.5% slack), from 64 bytes up.
std::size_t size_class_bytes(std::size_t bytes) noexcept {
  if (bytes <= alignment) return alignment;
  const int top = static_cast<int>(std::bit_width(bytes - 1)) - 1;  // highest set bit of bytes-1
  if (top < 3) return alignment;
  const std::size_t step = std::size_t{1} << (top - 3);
  return (bytes + step - 1) / step * step;
}

std::byte* allocate_aligned(std::size_t bytes) noexcept {
  return static_cast<std::byte*>(std::aligned_alloc(alignment, (bytes + alignment - 1) / alignment * alignment));
}

}  // namespace

buffer_pool::~buffer_pool() {
  for (auto& [capacity, block] : free_blocks_) std::free(block);
}

std::byte* buffer_pool::take(std::size_t bytes, std::size_t& capacity) {
  const std::size_t wanted = size_class_bytes(bytes);
  {
    std::lock_guard<std::mutex> guard(lock_);
    // The smallest cached block that fits, if it wastes at most half of itself: a run needs many
    // sizes, and exact classes only would keep a block of every size ever seen.
    auto it = free_blocks_.lower_bound(wanted);
    if (it != free_blocks_.end() && it->first <= 2 * wanted) {
      std::byte* block = it->second;
      capacity = it->first;
      cached_ -= capacity;
      in_use_ += capacity;
      peak_in_use_ = std::max(peak_in_use_, in_use_);
      free_blocks_.erase(it);
      return block;
    }
    // None fits: give back cached blocks while the cache is larger than what was ever in use at
    // once (it can never all be needed), largest first.
    while (!free_blocks_.empty() && cached_ + wanted > peak_in_use_) {
      auto last = std::prev(free_blocks_.end());
      cached_ -= last->first;
      std::free(last->second);
      free_blocks_.erase(last);
    }
    in_use_ += wanted;
    peak_in_use_ = std::max(peak_in_use_, in_use_);
  }
  capacity = wanted;
  std::byte* block = allocate_aligned(wanted);
  if (block == nullptr) {
    std::lock_guard<std::mutex> guard(lock_);
    in_use_ -= wanted;
  }
  return block;
}

void buffer_pool::give(std::byte* block, std::size_t capacity) noexcept {
  std::lock_guard<std::mutex> guard(lock_);
  free_blocks_.emplace(capacity, block);
  cached_ += capacity;
  in_use_ -= capacity;
}

std::size_t buffer_pool::cached_bytes() const noexcept {
  std::lock_guard<std::mutex> guard(lock_);
  return cached_;
}

// ---- tensor -----------------------------------------------------------------------------------

tensor tensor::empty(mq::dtype type, shape_t shape, const std::shared_ptr<buffer_pool>& pool) {
  tensor t;
  t.type_ = type;
  t.size_ = element_count(shape);
  t.shape_ = std::move(shape);
  const std::size_t bytes = t.byte_size();
  if (pool) {
    std::size_t capacity = 0;
    std::byte* block = pool->take(bytes == 0 ? 1 : bytes, capacity);
    if (block == nullptr) return t;
    t.data_ = block;
    t.storage_ = std::shared_ptr<void>(block, [pool, capacity](void* p) { pool->give(static_cast<std::byte*>(p), capacity); });
  } else {
    std::byte* block = allocate_aligned(bytes == 0 ? 1 : bytes);
    if (block == nullptr) return t;
    t.data_ = block;
    t.storage_ = std::shared_ptr<void>(block, [](void* p) { std::free(p); });
  }
  return t;
}

tensor tensor::zeros(mq::dtype type, shape_t shape, const std::shared_ptr<buffer_pool>& pool) {
  tensor t = empty(type, std::move(shape), pool);
  if (t.valid() && t.byte_size() != 0) std::memset(t.data_, 0, t.byte_size());
  return t;
}

tensor tensor::view(mq::dtype type, shape_t shape, const void* data) {
  tensor t;
  t.type_ = type;
  t.size_ = element_count(shape);
  t.shape_ = std::move(shape);
  t.data_ = const_cast<std::byte*>(static_cast<const std::byte*>(data));
  t.read_only_ = true;
  return t;
}

tensor tensor::reshaped(shape_t shape) const {
  tensor t = *this;
  t.size_ = element_count(shape);
  assert(t.size_ == size_);
  t.shape_ = std::move(shape);
  return t;
}

tensor tensor::reuse(tensor&& from, mq::dtype type, shape_t shape) {
  tensor t = std::move(from);
  t.type_ = type;
  t.size_ = element_count(shape);
  t.shape_ = std::move(shape);
  return t;
}

double element_as_double(const tensor& t, std::int64_t i) noexcept {
  const auto k = static_cast<std::size_t>(i);
  switch (t.type()) {
    case mq::dtype::float32: return t.data<float>()[k];
    case mq::dtype::float64: return t.data<double>()[k];
    case mq::dtype::float16: return mq::half::half_to_float(t.data<std::uint16_t>()[k]);
    case mq::dtype::bfloat16: return mq::half::bfloat16_to_float(t.data<std::uint16_t>()[k]);
    case mq::dtype::int8: return t.data<std::int8_t>()[k];
    case mq::dtype::uint8: return t.data<std::uint8_t>()[k];
    case mq::dtype::int16: return t.data<std::int16_t>()[k];
    case mq::dtype::uint16: return t.data<std::uint16_t>()[k];
    case mq::dtype::int32: return t.data<std::int32_t>()[k];
    case mq::dtype::uint32: return t.data<std::uint32_t>()[k];
    case mq::dtype::int64: return static_cast<double>(t.data<std::int64_t>()[k]);
    case mq::dtype::uint64: return static_cast<double>(t.data<std::uint64_t>()[k]);
    case mq::dtype::boolean: return t.data<std::uint8_t>()[k] != 0 ? 1.0 : 0.0;
    default: return 0;
  }
}

std::int64_t element_as_int64(const tensor& t, std::int64_t i) noexcept {
  const auto k = static_cast<std::size_t>(i);
  switch (t.type()) {
    case mq::dtype::int64: return t.data<std::int64_t>()[k];
    case mq::dtype::int32: return t.data<std::int32_t>()[k];
    case mq::dtype::int8: return t.data<std::int8_t>()[k];
    case mq::dtype::uint8: return t.data<std::uint8_t>()[k];
    case mq::dtype::int16: return t.data<std::int16_t>()[k];
    case mq::dtype::uint16: return t.data<std::uint16_t>()[k];
    case mq::dtype::uint32: return t.data<std::uint32_t>()[k];
    case mq::dtype::uint64: return static_cast<std::int64_t>(t.data<std::uint64_t>()[k]);
    case mq::dtype::boolean: return t.data<std::uint8_t>()[k] != 0 ? 1 : 0;
    default: return static_cast<std::int64_t>(element_as_double(t, i));
  }
}

}  // namespace mq::exec
