#include "fetch/config.h"

#include <cmath>

#include "fetch/sha256.h"

namespace mq::fetch {

json signature_json(const std::vector<value_info>& list) {
  json out = json::array();
  for (const auto& v : list) {
    // Numbers only in `shape` (null where the size is not fixed); the symbolic names, where the
    // model gives them, in `dim_params` at the same index.
    json shape = json::array();
    json dim_params = json::array();
    for (std::size_t i = 0; i < v.shape.size(); ++i) {
      shape.push_back(v.shape[i] >= 0 ? json(v.shape[i]) : json(nullptr));
      const bool named = i < v.dim_names.size() && !v.dim_names[i].empty();
      dim_params.push_back(named ? json(v.dim_names[i]) : json(nullptr));
    }
    out.push_back(json{{"name", v.name},
                       {"type", v.type},
                       {"shape", v.has_shape ? shape : json(nullptr)},
                       {"dim_params", v.has_shape ? dim_params : json(nullptr)}});
  }
  return out;
}

namespace {

json or_null(const std::string& s) { return s.empty() ? json(nullptr) : json(s); }

json stamp_json(const file_stamp& s, const char* what, const std::string& value) {
  return json{{"bytes", s.bytes}, {"mtime_ns", s.mtime_ns}, {"inode", s.inode}, {what, value}};
}

json number_or_null(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

json extra_files(const std::vector<extra_record>& extras) {
  json out = json::array();
  for (const auto& x : extras) {
    out.push_back(json{{"path", x.path},
                       {"url", x.url},
                       {"sha256", x.sha256},
                       {"sha256_from_catalog", x.pinned},
                       {"etag", or_null(x.etag)},
                       {"last_modified", or_null(x.last_modified)},
                       {"bytes", x.bytes}});
  }
  return out;
}

json calibration_json(const std::optional<calibration_record>& c) {
  if (!c) return nullptr;
  return json{{"source", c->source},
              {"folder", c->folder},
              {"samples", static_cast<std::uint64_t>(c->samples)},
              {"preprocess", or_null(c->preprocess)},
              {"method", c->method},
              {"count", static_cast<std::uint64_t>(c->count)},
              {"activation_type", c->activation_type},
              {"files", c->files}};
}

const json* find(const json& doc, const char* pointer) {
  const json* at = &doc;
  std::string_view rest(pointer);
  while (!rest.empty()) {
    rest.remove_prefix(1);  // '/'
    const auto end = rest.find('/');
    const std::string key(rest.substr(0, end));
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end);
    if (!at->is_object()) return nullptr;
    const auto it = at->find(key);
    if (it == at->end()) return nullptr;
    at = &*it;
  }
  return at;
}

}  // namespace

json config_document(const model_config& c) {
  const auto& e = *c.entry;
  // An INT8 file in which nothing was quantized (every weight under the size floor) is the FP32
  // model: it stays cached, but the app is told to load the FP32 one.
  const bool use_int8 = c.has_int8 && c.quantized_nodes > 0;
  json doc = json{
      {"name", e.name},
      {"description", e.description},
      {"task", e.task},
      {"preprocessing_preset", or_null(e.preprocessing_preset)},
      {"model_path", "model.onnx"},
      {"int8_model_path", c.has_int8 ? json("model-int8.onnx") : json(nullptr)},
      {"use_int8", use_int8},
      {"labels_path", c.has_labels ? json("labels.txt") : json(nullptr)},
      {"inputs", c.inputs},
      {"outputs", c.outputs},
      {"source", json{{"url", c.url},
                      {"repo", e.repo},
                      {"filename", e.filename},
                      {"revision", e.revision},
                      {"sha256", c.sha256},
                      {"sha256_from_catalog", !e.sha256.empty()},
                      {"etag", or_null(c.etag)},
                      {"last_modified", or_null(c.last_modified)},
                      {"bytes", c.fp32_bytes},
                      {"extra_files", extra_files(c.extras)},
                      {"calibration_files", extra_files(c.calibration_files)}}},
      {"quantization",
       json{{"enabled", e.quantize.enabled},
            {"method", e.quantize.method},
            {"options", or_null(c.quantize_options)},
            {"library_version", c.library_version},
            {"cache_key", or_null(c.cache_key)},
            {"status", c.quantize_status},
            {"error", or_null(c.quantize_error)},
            {"method_used", or_null(c.method_used)},
            {"fallback_reason", or_null(c.fallback_reason)},
            {"fallback_kind", or_null(c.fallback_kind)},
            {"output_snr_db", number_or_null(c.output_snr_db)},
            {"calibration", calibration_json(c.calibration)},
            {"int8_bytes", c.int8_bytes},
            {"summary", json{{"quantized_nodes", static_cast<std::uint64_t>(c.quantized_nodes)},
                             {"skipped_nodes", static_cast<std::uint64_t>(c.skipped_nodes)},
                             {"model_bytes_before", c.model_bytes_before},
                             {"model_bytes_after", c.model_bytes_after}}}}},
  };
  // What was verified, so that a later pull need not read the files again (apps ignore it).
  json verified = json::object();
  if (c.fp32_stamp) verified["model.onnx"] = stamp_json(*c.fp32_stamp, "sha256", c.sha256);
  for (const auto* list : {&c.extras, &c.calibration_files}) {
    for (const auto& x : *list) {
      if (x.stamp) verified[x.path] = stamp_json(*x.stamp, "sha256", x.sha256);
    }
  }
  if (c.int8_stamp && c.has_int8) verified["model-int8.onnx"] = stamp_json(*c.int8_stamp, "cache_key", c.cache_key);
  if (c.int8_data_stamp && c.has_int8) {
    verified["model-int8.onnx.data"] = stamp_json(*c.int8_data_stamp, "cache_key", c.cache_key);
  }
  doc["verified"] = std::move(verified);
  return doc;
}

std::optional<file_stamp> stamp_at(const json& doc, const char* pointer) {
  const json* v = find(doc, pointer);
  return v != nullptr ? stamp_in(*v) : std::nullopt;
}

std::optional<file_stamp> stamp_in(const json& object) {
  const json* v = &object;
  if (!v->is_object()) return std::nullopt;
  const auto number = [&](const char* key) -> const json* {
    const auto it = v->find(key);
    return it != v->end() && it->is_number_integer() ? &*it : nullptr;
  };
  const json* bytes = number("bytes");
  const json* mtime = number("mtime_ns");
  const json* inode = number("inode");
  if (bytes == nullptr || mtime == nullptr || inode == nullptr) return std::nullopt;
  return file_stamp{bytes->get<std::uint64_t>(), mtime->get<std::int64_t>(), inode->get<std::uint64_t>()};
}

std::string dump(const json& doc) { return doc.dump(2, ' ', false, json::error_handler_t::replace) + "\n"; }

json parse(std::string_view text) { return json::parse(text, nullptr, /*allow_exceptions=*/false); }

std::string string_at(const json& doc, const char* pointer) {
  const json* v = find(doc, pointer);
  return v != nullptr && v->is_string() ? v->get<std::string>() : std::string();
}

std::uint64_t uint_at(const json& doc, const char* pointer) {
  const json* v = find(doc, pointer);
  return v != nullptr && v->is_number_unsigned() ? v->get<std::uint64_t>() : 0;
}

bool bool_at(const json& doc, const char* pointer) {
  const json* v = find(doc, pointer);
  return v != nullptr && v->is_boolean() && v->get<bool>();
}

std::string int8_cache_key(const std::string& fp32_sha256, const std::string& options, const std::string& version,
                           const std::vector<std::pair<std::string, std::string>>& extras,
                           const std::string& calibration) {
  std::string text = "fp32=" + fp32_sha256 + "\n";
  for (const auto& [path, sha] : extras) text += "extra=" + path + ":" + sha + "\n";
  text += "options=" + options + "\nversion=" + version + "\n";
  if (!calibration.empty()) text += "calibration=" + calibration + "\n";
  return sha256_hex(text);
}

}  // namespace mq::fetch
