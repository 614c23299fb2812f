// The project's one JSON library (nlohmann-json, Debian's nlohmann-json3-dev) enters here, and
// only here: every module that reads or writes JSON includes this header, never
// <nlohmann/json.hpp> itself. Header-only, so any module (report, fetch, test tools) can use it
// whatever it links.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace mq::util {

/// A JSON value; objects keep their keys in insertion order (reports and config files read
/// better in the order they were written).
using json = nlohmann::ordered_json;

/// `value` as JSON text: one line when `indent` is negative, else pretty-printed with `indent`
/// spaces. Never throws: bytes that are not valid UTF-8 in a string (a node name from a model,
/// a file name) become U+FFFD, so the text is always valid UTF-8 JSON.
inline std::string dump_json(const json& value, int indent = -1) {
  return value.dump(indent, ' ', false, json::error_handler_t::replace);
}

/// `text` as a JSON string literal, quotes included (invalid UTF-8 replaced as in dump_json).
inline std::string json_quote(std::string_view text) { return dump_json(json(std::string(text))); }

}  // namespace mq::util
