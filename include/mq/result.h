// libmodelquant: error and result types used by every fallible public call.
#pragma once

#include <cstdlib>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

namespace mq {

/// What kind of failure an `mq::error` reports; lets callers branch without parsing text.
enum class errc {
  io,              ///< a file could not be opened, read, written or renamed
  not_found,       ///< a file, tensor, node or catalog entry does not exist
  invalid_model,   ///< the bytes are not a usable ONNX model
  invalid_argument,///< an option or argument is out of range or inconsistent
  unsupported,     ///< valid input that this version cannot handle
  numeric,         ///< NaN/Inf or other values that make the requested math meaningless
  network,         ///< a download failed
  integrity,       ///< a hash or size check failed
  internal,        ///< a bug in libmodelquant: please report it
};

/// A failure: a category and a one-line, lowercase message naming what it concerns,
/// e.g. `node 'conv_3': weight 'w3' has dtype float16, expected float32`.
struct error {
  errc code = errc::internal;
  std::string message;
};

/// Wraps `e` so it converts into any `mq::result<T>` (like `std::unexpected`).
struct unexpected_error {
  error value;
};

/// Builds an error result: `return mq::fail(errc::io, "...")`.
[[nodiscard]] inline unexpected_error fail(errc code, std::string message) {
  return unexpected_error{error{code, std::move(message)}};
}

/// Either a value of type T or an `mq::error`. Shaped like `std::expected<T, error>`
/// (has_value, value, error, operator*, operator->) so it can become an alias later.
/// Thread safety: like `std::variant`: concurrent const access is safe, mutation is not.
template <class T>
class [[nodiscard]] result {
 public:
  result(T value) : state_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  result(unexpected_error e) : state_(std::in_place_index<1>, std::move(e.value)) {}  // NOLINT

  bool has_value() const noexcept { return state_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  /// The value; calling this on an error result is a programming error and aborts.
  T& value() & { check(); return std::get<0>(state_); }
  const T& value() const& { check(); return std::get<0>(state_); }
  T&& value() && { check(); return std::get<0>(std::move(state_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  /// The error; only valid when `!has_value()`.
  const mq::error& error() const& { return std::get<1>(state_); }
  mq::error&& error() && { return std::get<1>(std::move(state_)); }

 private:
  void check() const {
    if (!has_value()) std::abort();
  }
  std::variant<T, mq::error> state_;
};

/// `result<void>`: success or an error.
template <>
class [[nodiscard]] result<void> {
 public:
  result() = default;
  result(unexpected_error e) : error_(std::move(e.value)), ok_(false) {}  // NOLINT

  bool has_value() const noexcept { return ok_; }
  explicit operator bool() const noexcept { return ok_; }
  void value() const {
    if (!ok_) std::abort();
  }
  const mq::error& error() const& { return error_; }
  mq::error&& error() && { return std::move(error_); }

 private:
  mq::error error_{};
  bool ok_ = true;
};

}  // namespace mq
