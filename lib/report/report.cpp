// The per-node report as a text table (people) and as JSON (programs).
#include <fmt/format.h>

#include <cmath>
#include <cstdlib>
#include <string>

#include "mq/quantize.h"
#include "util/json.h"

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
// also flagged by "lossless": true). Six significant digits, as measured values deserve.
util::json json_number(double v) {
  if (!std::isfinite(v)) return nullptr;
  return std::strtod(fmt::format("{:.6g}", v).c_str(), nullptr);
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
      {"nodes", std::move(nodes)},
  };
  return util::dump_json(doc) + "\n";
}

}  // namespace mq

