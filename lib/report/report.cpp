// The per-node report as a text table (people) and as JSON (programs).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mq/quantize.h"
#include "util/json.h"

namespace mq {
namespace {

std::string shape_text(const std::vector<std::int64_t>& dims) {
  std::string s = "[";
  for (std::size_t i = 0; i < dims.size(); ++i) s += (i ? "x" : "") + std::to_string(dims[i]);
  return s + "]";
}


// JSON has no Inf or NaN: they are written as null (an infinite SQNR, a lossless weight, is
// also flagged by "lossless": true). Six significant digits, as measured values deserve.
util::json json_number(double v) {
  if (!std::isfinite(v)) return nullptr;
  return std::strtod(fmt::format("{:.6g}", v).c_str(), nullptr);
}

std::string bytes_text(std::uint64_t n) { return format_bytes(n); }

// A name or reason from a model as one table cell: control characters escaped (\n, \t, \xNN)
// and bytes that are not valid UTF-8 written as \xNN, so a row is always one line.
std::string cell_text(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size();) {
    const auto byte = static_cast<unsigned char>(text[i]);
    std::size_t length = byte < 0x80 ? 1 : (byte >> 5) == 0x6 ? 2 : (byte >> 4) == 0xe ? 3 : (byte >> 3) == 0x1e ? 4 : 0;
    for (std::size_t k = 1; k < length; ++k) {
      if (i + k >= text.size() || (static_cast<unsigned char>(text[i + k]) & 0xc0) != 0x80) length = 0;
    }
    if (length == 1 && byte >= 0x20 && byte != 0x7f) {
      out += text[i];
    } else if (length > 1) {
      out.append(text.substr(i, length));
    } else if (byte == '\n') {
      out += "\\n";
    } else if (byte == '\t') {
      out += "\\t";
    } else if (byte == '\r') {
      out += "\\r";
    } else {
      out += fmt::format("\\x{:02x}", byte);
    }
    i += length == 0 ? 1 : length;
  }
  return out;
}

// Characters (code points) of valid UTF-8 text, as a terminal lays them out.
std::size_t text_width(std::string_view s) {
  std::size_t n = 0;
  for (const char c : s) n += (static_cast<unsigned char>(c) & 0xc0) != 0x80;
  return n;
}

// The byte offset of code point `index`.
std::size_t offset_of(std::string_view s, std::size_t index) {
  std::size_t seen = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xc0) != 0x80 && seen++ == index) return i;
  }
  return s.size();
}

// Names longer than the column are cut in the middle: exporters put the distinguishing part at
// the end ("/backbone/stage3/block2/conv/Conv"), and a cut that keeps the start makes rows alike.
constexpr std::size_t max_name_width = 40;
std::string fit_name(const std::string& name) {
  const std::size_t width = text_width(name);
  if (width <= max_name_width) return name;
  const std::size_t head = (max_name_width - 3) / 2;
  const std::size_t tail = max_name_width - 3 - head;
  return name.substr(0, offset_of(name, head)) + "..." + name.substr(offset_of(name, width - tail));
}

std::string pad(const std::string& s, std::size_t width, bool right = false) {
  const std::size_t w = text_width(s);
  const std::string fill(w < width ? width - w : 0, ' ');
  return right ? fill + s : s + fill;
}

std::string plural(std::size_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

// Long explanations that repeat on many rows go to numbered footnotes: a whole reason, or the
// general "(...)" remark at its end (auto's floor, why a form was chosen).
class footnotes {
 public:
  explicit footnotes(const std::vector<std::string>& reasons) {
    for (const auto& r : reasons) {
      ++whole_[r];
      if (auto [head, tail] = split(r); !tail.empty()) ++tails_[tail];
    }
  }
  std::string cell(const std::string& reason) {
    auto [head, tail] = split(reason);
    if (!tail.empty() && tails_[tail] > 1) return head + " " + mark(tail);
    if (reason.size() > 40 && whole_[reason] > 1) return mark(reason);
    return reason;
  }
  std::string text() const {
    std::string out;
    for (std::size_t i = 0; i < order_.size(); ++i) out += fmt::format("[{}] {}\n", i + 1, order_[i]);
    return out;
  }

 private:
  static std::pair<std::string, std::string> split(const std::string& r) {
    const auto open = r.rfind(" (");
    if (open == std::string::npos || r.empty() || r.back() != ')' || r.size() - open < 30) return {r, {}};
    return {r.substr(0, open), r.substr(open + 2, r.size() - open - 3)};
  }
  std::string mark(const std::string& text) {
    auto it = std::find(order_.begin(), order_.end(), text);
    if (it == order_.end()) it = order_.insert(order_.end(), text);
    return fmt::format("[{}]", it - order_.begin() + 1);
  }
  std::map<std::string, int> whole_, tails_;
  std::vector<std::string> order_;
};

}  // namespace

std::string format_bytes(std::uint64_t n) {
  const auto value = static_cast<double>(n);
  if (n >= 10'000'000'000ULL) return fmt::format("{:.1f} GB", value / 1e9);
  if (n >= 10'000'000) return fmt::format("{:.1f} MB", value / 1e6);
  if (n >= 10'000) return fmt::format("{:.1f} kB", value / 1e3);
  return fmt::format("{} B", n);
}

// Static INT8: the calibration, the activation ranges and the accuracy guard's decisions.
std::string static_section(const quantize_report& r) {
  std::string out = fmt::format("\nstatic INT8: activations calibrated ({}) on {}\n", r.calibration_method,
                                plural(r.calibration_samples, "sample", "samples"));
  if (!std::isnan(r.int8_mac_share)) {
    out += fmt::format("int8 runs {:.0f}% of the multiply-adds of Conv/MatMul/Gemm\n", 100 * r.int8_mac_share);
  }
  if (!r.activations.empty()) {
    std::size_t w = text_width("activation");
    std::vector<std::string> names;
    for (const auto& a : r.activations) {
      names.push_back(fit_name(cell_text(a.tensor)));
      w = std::max(w, text_width(names.back()));
    }
    out += "  " + pad("activation", w) + "  " + pad("min", 11, true) + "  " + pad("max", 11, true) + "  " +
           pad("scale", 11, true) + "  zero point\n";
    for (std::size_t i = 0; i < r.activations.size(); ++i) {
      const auto& a = r.activations[i];
      out += "  " + pad(names[i], w) + "  " + pad(fmt::format("{:.5g}", a.min), 11, true) + "  " +
             pad(fmt::format("{:.5g}", a.max), 11, true) + "  " + pad(fmt::format("{:.5g}", a.scale), 11, true) + "  " +
             std::to_string(a.zero_point) + (a.shares.empty() ? "" : "  (as " + fit_name(cell_text(a.shares)) + ")") + "\n";
    }
  }
  return out;
}

// The accuracy guard: what it ran on, the worst output, the nodes it put back to float.
std::string guard_section(const quantize_report& r) {
  if (r.guard_samples == 0) return r.calibration_method.empty() ? std::string() : "accuracy guard: off\n";
  const bool held_out = !r.calibration_method.empty();
  std::string out = fmt::format("accuracy guard on {}: worst output {} dB against FP32\n",
                                plural(r.guard_samples, held_out ? "held-out sample" : "seeded input",
                                       held_out ? "held-out samples" : "seeded inputs"),
                                std::isnan(r.output_snr_db) ? std::string("n/a") : fmt::format("{:.1f}", r.output_snr_db));
  for (const auto& g : r.guard) {
    out += fmt::format("  back to float: {} ({}): worst output {:.1f} -> {:.1f} dB\n", fit_name(cell_text(g.node)),
                       cell_text(g.op_type), g.snr_before_db, g.snr_after_db);
  }
  return out;
}

std::string to_table(const quantize_report& r) {
  std::vector<std::string> reasons;
  for (const auto& n : r.nodes) reasons.push_back(cell_text(n.reason));
  footnotes notes(reasons);
  const std::vector<std::string> header = {"node", "op", "action", "format", "weight shape", "granularity",
                                           "before", "after", "SQNR dB", "reason"};
  std::vector<std::vector<std::string>> rows;
  for (std::size_t i = 0; i < r.nodes.size(); ++i) {
    const auto& n = r.nodes[i];
    std::string sqnr = "-";
    if (n.quantized) {
      sqnr = std::isnan(n.sqnr_db) ? "n/a" : std::isinf(n.sqnr_db) ? "inf" : fmt::format("{:.1f}", n.sqnr_db);
    }
    rows.push_back({fit_name(cell_text(n.node)), cell_text(n.op_type), n.quantized ? "quantized" : "skipped",
                    n.quantized ? n.format : "-", n.weight_shape.empty() ? "-" : shape_text(n.weight_shape),
                    n.quantized ? n.granularity : "-", n.bytes_before ? bytes_text(n.bytes_before) : "-",
                    n.quantized ? bytes_text(n.bytes_after) : "-", sqnr, notes.cell(reasons[i])});
  }
  // Every column as wide as its widest cell, so no value shifts the ones after it.
  std::vector<std::size_t> width(header.size());
  for (std::size_t c = 0; c < header.size(); ++c) {
    width[c] = text_width(header[c]);
    for (const auto& row : rows) width[c] = std::max(width[c], text_width(row[c]));
  }
  const auto line = [&](const std::vector<std::string>& cells) {
    std::string out;
    for (std::size_t c = 0; c < cells.size(); ++c) {
      const bool number = c >= 6 && c <= 8;  // sizes and SQNR, right-aligned
      if (c + 1 == cells.size()) out += cells[c];
      else out += pad(cells[c], width[c], number) + "  ";
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out + "\n";
  };
  std::string out;
  if (!rows.empty()) {
    out += line(header);
    for (const auto& row : rows) out += line(row);
    out += notes.text();
  }
  if (!r.calibration_method.empty()) out += static_section(r);
  out += guard_section(r);
  for (const auto& note : r.notes) out += "note: " + cell_text(note) + "\n";
  for (const auto& warning : r.warnings) out += "warning: " + cell_text(warning) + "\n";
  if (r.quantized_count == 0) {
    out += r.nodes.empty() ? "nothing was quantized: the model has no node of the quantized op types\n"
                           : "nothing was quantized: every candidate node was skipped (see the reasons above)\n";
  }
  out += fmt::format("total: {} quantized, {} skipped; model {} -> {}; opset {} -> {}; {:.3f} s\n",
                     plural(r.quantized_count, "node", "nodes"), r.skipped_count, bytes_text(r.model_bytes_before),
                     bytes_text(r.model_bytes_after), r.opset_before, r.opset_after, r.seconds);
  return out;
}

std::string to_json(const quantize_report& r) {
  util::json nodes = util::json::array();
  for (const auto& n : r.nodes) {
    nodes.push_back({
        {"graph", n.graph},
        {"node", n.node},
        {"op", n.op_type},
        {"action", n.quantized ? "quantized" : "skipped"},
        {"format", n.quantized ? util::json(n.format) : util::json(nullptr)},
        {"reason", n.reason},
        {"weight", n.weight},
        {"weight_shape", n.weight_shape},
        {"granularity", n.quantized ? util::json(n.granularity) : util::json(nullptr)},
        {"bytes_before", n.bytes_before},
        {"bytes_after", n.bytes_after},
        {"sqnr_db", n.quantized ? json_number(n.sqnr_db) : util::json(nullptr)},
        {"lossless", n.quantized && std::isinf(n.sqnr_db) && n.sqnr_db > 0},
    });
  }
  const util::json doc = {
      {"input", r.input_label},
      {"options", r.options},
      {"quantized", r.quantized_count},
      {"skipped", r.skipped_count},
      {"model_bytes_before", r.model_bytes_before},
      {"model_bytes_after", r.model_bytes_after},
      {"opset_before", r.opset_before},
      {"opset_after", r.opset_after},
      {"seconds", json_number(r.seconds)},
      {"notes", r.notes},
      {"warnings", r.warnings},
      {"nodes", std::move(nodes)},
  };
  util::json full = doc;
  if (!r.static_fallback.empty()) full["static_fallback"] = r.static_fallback;
  if (r.guard_samples > 0) {
    util::json kept = util::json::array();
    for (const auto& g : r.guard) kept.push_back(g.node);
    full["accuracy_guard"] = {{"samples", r.guard_samples},
                              {"on", r.calibration_method.empty() ? "seeded inputs" : "held-out calibration samples"},
                              {"output_snr_db", json_number(r.output_snr_db)},
                              {"kept_float", std::move(kept)}};
  }
  if (!r.calibration_method.empty()) {
    util::json activations = util::json::array();
    for (const auto& a : r.activations) {
      activations.push_back({{"tensor", a.tensor},
                             {"min", json_number(a.min)},
                             {"max", json_number(a.max)},
                             {"scale", json_number(a.scale)},
                             {"zero_point", a.zero_point},
                             {"shares", a.shares.empty() ? util::json(nullptr) : util::json(a.shares)}});
    }
    util::json guard = util::json::array();
    for (const auto& g : r.guard) {
      guard.push_back({{"node", g.node},
                       {"op", g.op_type},
                       {"snr_before_db", json_number(g.snr_before_db)},
                       {"snr_after_db", json_number(g.snr_after_db)}});
    }
    full["static_int8"] = {{"calibration_method", r.calibration_method},
                           {"calibration_samples", r.calibration_samples},
                           {"guard_samples", r.guard_samples},
                           {"output_snr_db", r.guard_samples > 0 ? json_number(r.output_snr_db) : util::json(nullptr)},
                           {"int8_mac_share", std::isnan(r.int8_mac_share) ? util::json(nullptr) : json_number(r.int8_mac_share)},
                           {"activations", std::move(activations)},
                           {"guard", std::move(guard)}};
  }
  return util::dump_json(full) + "\n";
}

}  // namespace mq

