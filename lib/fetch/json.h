// A small JSON value: enough to write config.json and read it back (objects keep key order).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "mq/result.h"

namespace mq::fetch {

class json {
 public:
  using array = std::vector<json>;
  using object = std::vector<std::pair<std::string, json>>;

  json() = default;                                        // null
  json(std::nullptr_t) {}                                  // NOLINT: implicit by design
  json(bool b) : v_(b) {}                                  // NOLINT
  json(double d) : v_(d) {}                                // NOLINT
  json(std::int64_t i) : v_(static_cast<double>(i)) {}     // NOLINT
  json(std::uint64_t i) : v_(static_cast<double>(i)) {}    // NOLINT
  json(int i) : v_(static_cast<double>(i)) {}              // NOLINT
  json(std::string s) : v_(std::move(s)) {}                // NOLINT
  json(const char* s) : v_(std::string(s)) {}              // NOLINT
  json(array a) : v_(std::move(a)) {}                      // NOLINT
  json(object o) : v_(std::move(o)) {}                     // NOLINT

  bool is_null() const noexcept { return v_.index() == 0; }
  bool is_string() const noexcept { return std::holds_alternative<std::string>(v_); }
  bool is_object() const noexcept { return std::holds_alternative<object>(v_); }
  bool is_bool() const noexcept { return std::holds_alternative<bool>(v_); }
  bool is_number() const noexcept { return std::holds_alternative<double>(v_); }

  /// The string, or "" when this is not a string.
  std::string str() const { return is_string() ? std::get<std::string>(v_) : std::string(); }
  bool boolean() const noexcept { return is_bool() && std::get<bool>(v_); }
  double number() const noexcept { return is_number() ? std::get<double>(v_) : 0.0; }
  /// Member `key` of an object; a null value when absent or not an object.
  const json& operator[](std::string_view key) const;

  /// Pretty-printed with two-space indentation and a final newline at the top level.
  std::string dump(int indent = 0) const;

  /// Parses a JSON document; errors name `label` and the byte offset.
  [[nodiscard]] static result<json> parse(std::string_view text, const std::string& label);

 private:
  std::variant<std::nullptr_t, bool, double, std::string, array, object> v_{nullptr};
};

/// `text` as a JSON string literal (quotes included). The same as util::json_quote, which the
/// shared libmodelquant-fetch cannot call: it links only libmodelquant's public API.
std::string json_quote(std::string_view text);

}  // namespace mq::fetch
