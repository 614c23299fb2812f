#include "fetch/json.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace mq::fetch {

const json& json::operator[](std::string_view key) const {
  static const json null_value;
  if (!is_object()) return null_value;
  for (const auto& [k, v] : std::get<object>(v_)) {
    if (k == key) return v;
  }
  return null_value;
}

std::string json_quote(std::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"') out += "\\\"";
    else if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else if (byte < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(byte));
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string json::dump(int indent) const {
  const std::string pad(static_cast<std::size_t>(indent + 2), ' ');
  const std::string end_pad(static_cast<std::size_t>(indent), ' ');
  std::string out;
  if (is_null()) {
    out = "null";
  } else if (is_bool()) {
    out = std::get<bool>(v_) ? "true" : "false";
  } else if (is_number()) {
    const double d = std::get<double>(v_);
    char buf[40];
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.0e15) {
      std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(d));
    } else if (std::isfinite(d)) {
      std::snprintf(buf, sizeof buf, "%.17g", d);
    } else {
      std::snprintf(buf, sizeof buf, "null");
    }
    out = buf;
  } else if (is_string()) {
    out = json_quote(std::get<std::string>(v_));
  } else if (const auto* a = std::get_if<array>(&v_)) {
    // Arrays of scalars (shapes, classes) stay on one line.
    bool flat = true;
    for (const auto& item : *a) flat = flat && !item.is_object() && !std::holds_alternative<array>(item.v_);
    out = "[";
    for (std::size_t i = 0; i < a->size(); ++i) {
      if (i > 0) out += flat ? ", " : ",";
      if (!flat) out += "\n" + pad;
      out += (*a)[i].dump(indent + 2);
    }
    if (!flat && !a->empty()) out += "\n" + end_pad;
    out += "]";
  } else {
    const auto& o = std::get<object>(v_);
    out = "{";
    for (std::size_t i = 0; i < o.size(); ++i) {
      out += (i > 0 ? ",\n" : "\n") + pad + json_quote(o[i].first) + ": " + o[i].second.dump(indent + 2);
    }
    out += o.empty() ? "}" : "\n" + end_pad + "}";
  }
  if (indent == 0 && (is_object() || std::holds_alternative<array>(v_))) out += "\n";
  return out;
}

namespace {

class parser {
 public:
  parser(std::string_view text, const std::string& label) : text_(text), label_(label) {}

  result<json> document() {
    auto v = value(0);
    if (!v) return v;
    skip_space();
    if (pos_ != text_.size()) return error("unexpected text after the value");
    return v;
  }

 private:
  unexpected_error error(const std::string& what) const {
    return fail(errc::invalid_argument, label_ + ": invalid json at byte " + std::to_string(pos_) + ": " + what);
  }
  void skip_space() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\n' || text_[pos_] == '\r' || text_[pos_] == '\t')) ++pos_;
  }
  bool literal(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  result<json> value(int depth) {
    if (depth > 64) return error("nested too deeply");
    skip_space();
    if (pos_ >= text_.size()) return error("unexpected end");
    const char c = text_[pos_];
    if (c == '{') return object_value(depth);
    if (c == '[') return array_value(depth);
    if (c == '"') {
      auto s = string_value();
      if (!s) return unexpected_error{s.error()};
      return json(std::move(*s));
    }
    if (literal("true")) return json(true);
    if (literal("false")) return json(false);
    if (literal("null")) return json(nullptr);
    const std::size_t start = pos_;
    while (pos_ < text_.size() && (std::isdigit(static_cast<unsigned char>(text_[pos_])) != 0 || text_[pos_] == '-' ||
                                   text_[pos_] == '+' || text_[pos_] == '.' || text_[pos_] == 'e' || text_[pos_] == 'E')) {
      ++pos_;
    }
    if (start == pos_) return error("unexpected character");
    const std::string number(text_.substr(start, pos_ - start));
    char* end = nullptr;
    const double d = std::strtod(number.c_str(), &end);
    if (end != number.c_str() + number.size()) return error("bad number '" + number + "'");
    return json(d);
  }

  result<std::string> string_value() {
    ++pos_;  // opening quote
    std::string out;
    while (pos_ < text_.size()) {
      const char c = text_[pos_++];
      if (c == '"') return out;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= text_.size()) break;
      const char e = text_[pos_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          if (pos_ + 4 > text_.size()) return error("bad \\u escape");
          const unsigned long code = std::strtoul(std::string(text_.substr(pos_, 4)).c_str(), nullptr, 16);
          pos_ += 4;
          // UTF-8 encode (surrogate pairs are not combined: config.json never holds them).
          if (code < 0x80) {
            out += static_cast<char>(code);
          } else if (code < 0x800) {
            out += static_cast<char>(0xc0 | (code >> 6));
            out += static_cast<char>(0x80 | (code & 0x3f));
          } else {
            out += static_cast<char>(0xe0 | (code >> 12));
            out += static_cast<char>(0x80 | ((code >> 6) & 0x3f));
            out += static_cast<char>(0x80 | (code & 0x3f));
          }
          break;
        }
        default: return error("bad escape");
      }
    }
    return error("unterminated string");
  }

  result<json> array_value(int depth) {
    ++pos_;
    json::array items;
    skip_space();
    if (pos_ < text_.size() && text_[pos_] == ']') {
      ++pos_;
      return json(std::move(items));
    }
    for (;;) {
      auto v = value(depth + 1);
      if (!v) return v;
      items.push_back(std::move(*v));
      skip_space();
      if (pos_ < text_.size() && text_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (pos_ < text_.size() && text_[pos_] == ']') {
        ++pos_;
        return json(std::move(items));
      }
      return error("expected ',' or ']'");
    }
  }

  result<json> object_value(int depth) {
    ++pos_;
    json::object members;
    skip_space();
    if (pos_ < text_.size() && text_[pos_] == '}') {
      ++pos_;
      return json(std::move(members));
    }
    for (;;) {
      skip_space();
      if (pos_ >= text_.size() || text_[pos_] != '"') return error("expected a member name");
      auto key = string_value();
      if (!key) return unexpected_error{key.error()};
      skip_space();
      if (pos_ >= text_.size() || text_[pos_] != ':') return error("expected ':'");
      ++pos_;
      auto v = value(depth + 1);
      if (!v) return v;
      members.emplace_back(std::move(*key), std::move(*v));
      skip_space();
      if (pos_ < text_.size() && text_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (pos_ < text_.size() && text_[pos_] == '}') {
        ++pos_;
        return json(std::move(members));
      }
      return error("expected ',' or '}'");
    }
  }

  std::string_view text_;
  const std::string& label_;
  std::size_t pos_ = 0;
};

}  // namespace

result<json> json::parse(std::string_view text, const std::string& label) { return parser(text, label).document(); }

}  // namespace mq::fetch
