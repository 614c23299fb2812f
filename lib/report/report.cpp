// The per-node report as a text table (people) and as JSON (programs).
#include <fmt/format.h>

#include <cmath>
#include <string>

#include "mq/quantize.h"
#include "util/json_quote.h"

namespace mq {
namespace {

std::string shape_text(const std::vector<std::int64_t>& dims) {
  std::string s = "[";
  for (std::size_t i = 0; i < dims.size(); ++i) s += (i ? "x" : "") + std::to_string(dims[i]);
  return s + "]";
}

std::string bytes_text(std::uint64_t n) {
  if (n >= 10 * 1024 * 1024) return fmt::format("{:.1f} MB", static_cast<double>(n) / 1e6);
  if (n >= 10 * 1024) return fmt::format("{:.1f} kB", static_cast<double>(n) / 1e3);
  return fmt::format("{} B", n);
}

// JSON has no Inf or NaN: they are written as null (an infinite SQNR, a lossless weight, is
// also flagged by "lossless": true).
std::string json_number(double v) {
  if (!std::isfinite(v)) return "null";
  return fmt::format("{:.6g}", v);
}

}  // namespace

std::string to_table(const quantize_report& r) {
  std::string out;
  std::size_t name_width = 4;
  for (const auto& n : r.nodes) name_width = std::max(name_width, std::min<std::size_t>(n.node.size(), 40));
  out += fmt::format("{:<{}}  {:<13}  {:<9}  {:<9}  {:<16}  {:<20}  {:>10}  {:>10}  {:>7}  {}\n", "node", name_width,
                     "op", "action", "format", "weight shape", "granularity", "before", "after", "SQNR dB", "reason");
  for (const auto& n : r.nodes) {
    std::string sqnr = "-";
    if (n.quantized) {
      sqnr = std::isnan(n.sqnr_db) ? "n/a" : std::isinf(n.sqnr_db) ? "inf" : fmt::format("{:.1f}", n.sqnr_db);
    }
    out += fmt::format("{:<{}}  {:<13}  {:<9}  {:<9}  {:<16}  {:<20}  {:>10}  {:>10}  {:>7}  {}\n",
                       n.node.size() > 40 ? n.node.substr(0, 37) + "..." : n.node, name_width, n.op_type,
                       n.quantized ? "quantized" : "skipped", n.quantized ? n.format : "-",
                       n.weight_shape.empty() ? "-" : shape_text(n.weight_shape), n.quantized ? n.granularity : "-",
                       n.bytes_before ? bytes_text(n.bytes_before) : "-", n.quantized ? bytes_text(n.bytes_after) : "-",
                       sqnr, n.reason);
  }
  for (const auto& note : r.notes) out += "note: " + note + "\n";
  out += fmt::format("total: {} nodes quantized, {} skipped; model {} -> {}; opset {} -> {}; {:.3f} s\n",
                     r.quantized_count, r.skipped_count, bytes_text(r.model_bytes_before),
                     bytes_text(r.model_bytes_after), r.opset_before, r.opset_after, r.seconds);
  return out;
}

std::string to_json(const quantize_report& r) {
  std::string out = "{";
  out += "\"input\":" + util::json_quote(r.input_label);
  out += ",\"options\":" + util::json_quote(r.options);
  out += ",\"quantized\":" + std::to_string(r.quantized_count);
  out += ",\"skipped\":" + std::to_string(r.skipped_count);
  out += ",\"model_bytes_before\":" + std::to_string(r.model_bytes_before);
  out += ",\"model_bytes_after\":" + std::to_string(r.model_bytes_after);
  out += ",\"opset_before\":" + std::to_string(r.opset_before);
  out += ",\"opset_after\":" + std::to_string(r.opset_after);
  out += ",\"seconds\":" + json_number(r.seconds);
  out += ",\"notes\":[";
  for (std::size_t i = 0; i < r.notes.size(); ++i) out += (i ? "," : "") + util::json_quote(r.notes[i]);
  out += "],\"nodes\":[";
  for (std::size_t i = 0; i < r.nodes.size(); ++i) {
    const auto& n = r.nodes[i];
    out += i ? ",{" : "{";
    out += "\"graph\":" + util::json_quote(n.graph) + ",\"node\":" + util::json_quote(n.node) + ",\"op\":" + util::json_quote(n.op_type);
    out += ",\"action\":" + util::json_quote(n.quantized ? "quantized" : "skipped");
    out += ",\"format\":" + (n.quantized ? util::json_quote(n.format) : std::string("null"));
    out += ",\"reason\":" + util::json_quote(n.reason) + ",\"weight\":" + util::json_quote(n.weight);
    out += ",\"weight_shape\":[";
    for (std::size_t k = 0; k < n.weight_shape.size(); ++k) out += (k ? "," : "") + std::to_string(n.weight_shape[k]);
    out += "],\"granularity\":" + (n.quantized ? util::json_quote(n.granularity) : std::string("null"));
    out += ",\"bytes_before\":" + std::to_string(n.bytes_before) + ",\"bytes_after\":" + std::to_string(n.bytes_after);
    out += ",\"sqnr_db\":" + (n.quantized ? json_number(n.sqnr_db) : std::string("null"));
    out += ",\"lossless\":" + std::string(n.quantized && std::isinf(n.sqnr_db) && n.sqnr_db > 0 ? "true" : "false") + "}";
  }
  return out + "]}\n";
}

}  // namespace mq
