#include "catalog/catalog.h"

#include <toml++/toml.h>

#include <fstream>
#include <set>
#include <sstream>

#include "fetch/files.h"

namespace mq::catalog {
namespace {

std::string where(const std::string& source, const toml::node& node) {
  return "'" + source + "':" + std::to_string(node.source().begin.line);
}

// Names become folder names under the models folder: keep them plain.
bool valid_name(std::string_view name) {
  if (name.empty() || name.front() == '.' || name.size() > 128) return false;
  for (const char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                    c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

// A path inside the repo: relative, no "..", no empty parts.
bool valid_repo_path(std::string_view path) {
  if (path.empty() || path.front() == '/' || path.back() == '/') return false;
  std::size_t start = 0;
  while (start <= path.size()) {
    const std::size_t end = std::min(path.find('/', start), path.size());
    const std::string_view part = path.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") return false;
    for (const char c : part) {
      if (static_cast<unsigned char>(c) < 0x20 || c == '\\' || c == '?' || c == '#') return false;
    }
    start = end + 1;
  }
  return true;
}

// `text` as lowercase hex into `out`; false unless it is 64 hex digits.
bool to_sha256(const std::string& text, std::string& out) {
  if (text.size() != 64) return false;
  out = text;
  for (char& c : out) {
    if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

class entry_parser {
 public:
  entry_parser(const std::string& source, catalog& out) : source_(source), out_(out) {}

  result<entry> parse(const toml::table& table) {
    entry e;
    e.origin = where(source_, table);
    label_ = e.origin + ": model";
    if (auto v = table["name"].value<std::string>()) e.name = *v;
    if (e.name.empty()) return error(table, "missing 'name'");
    label_ = e.origin + ": model '" + e.name + "'";
    if (!valid_name(e.name)) {
      return error(table, "name must be letters, digits, '-', '_' or '.' (it becomes a folder name)");
    }
    static const std::set<std::string> known = {"name", "description", "task", "repo", "filename", "revision",
                                                 "sha256", "labels", "classes", "preprocessing_preset", "quantize",
                                                 "extra_files"};
    for (const auto& [key, node] : table) {
      if (known.count(std::string(key.str())) == 0) warn(node, "unknown key '" + std::string(key.str()) + "' (ignored)");
    }
    read_string(table, "description", e.description);
    read_string(table, "task", e.task);
    read_string(table, "repo", e.repo);
    read_string(table, "filename", e.filename);
    read_string(table, "revision", e.revision);
    read_string(table, "sha256", e.sha256);
    read_string(table, "labels", e.labels);
    read_string(table, "preprocessing_preset", e.preprocessing_preset);
    if (failed_) return fail(errc::invalid_argument, failure_);
    if (e.repo.empty()) return error(table, "missing 'repo'");
    if (e.filename.empty()) return error(table, "missing 'filename'");
    if (!valid_repo_path(e.repo)) return error(*table.get("repo"), "'repo' must be a path like 'owner/name'");
    if (!valid_repo_path(e.filename)) {
      return error(*table.get("filename"), "'filename' must be a relative path inside the repo without '..'");
    }
    if (e.revision.empty() || e.revision.find_first_of("?# \\") != std::string::npos || e.revision.find("..") != std::string::npos) {
      return error(table, "'revision' must be a branch, tag or commit");
    }
    if (!e.labels.empty() && !valid_repo_path(e.labels)) {
      return error(*table.get("labels"), "'labels' must be a relative path inside the repo without '..'");
    }
    if (const std::string given = e.sha256; !given.empty() && !to_sha256(given, e.sha256)) {
      return error(*table.get("sha256"), "'sha256' must be 64 hex digits, got '" + given + "'");
    }
    if (const auto* node = table.get("classes")) {
      const auto* arr = node->as_array();
      if (arr == nullptr) return error(*node, "'classes' must be an array of strings");
      for (const auto& item : *arr) {
        auto s = item.value<std::string>();
        if (!s) return error(item, "'classes' must be an array of strings");
        e.classes.push_back(*s);
      }
      if (!e.labels.empty()) warn(*node, "both 'labels' and 'classes' given; 'labels' is used");
    }
    if (const auto* node = table.get("extra_files")) {
      auto extras = extra_files(*node);
      if (!extras) return unexpected_error{extras.error()};
      e.extra_files = std::move(*extras);
    }
    if (const auto* node = table.get("quantize")) {
      const auto* q = node->as_table();
      if (q == nullptr) return error(*node, "'quantize' must be a table ([models.quantize])");
      auto spec = quantize(*q);
      if (!spec) return unexpected_error{spec.error()};
      e.quantize = std::move(*spec);
    }
    return e;
  }

 private:
  // A string field: absent is fine, any other type is an error.
  bool read_string(const toml::table& table, const char* key, std::string& out) {
    const auto* node = table.get(key);
    if (node == nullptr) return true;
    if (auto s = node->value<std::string>()) {
      out = *s;
      return true;
    }
    if (!failed_) {
      failed_ = true;
      failure_ = where(source_, *node) + ": " + label_.substr(label_.find(": model") + 2) + ": '" + key + "' must be a string";
    }
    return false;
  }

  // `extra_files = ["model.onnx.data", { path = "w.bin", sha256 = "..." }]`: paths as the model's
  // external data names them, which become paths in the model's cache folder: none may be one of
  // the folder's own files (or hidden, or a download in progress), and none twice.
  result<std::vector<extra_file>> extra_files(const toml::node& node) {
    const auto* arr = node.as_array();
    if (arr == nullptr) return error(node, "'extra_files' must be an array of paths or { path, sha256 } tables");
    std::vector<extra_file> out;
    for (const auto& item : *arr) {
      extra_file f;
      if (auto s = item.value<std::string>()) {
        f.path = *s;
      } else if (const auto* t = item.as_table()) {
        for (const auto& [key, value] : *t) {
          if (key.str() != "path" && key.str() != "sha256") {
            warn(value, "unknown key 'extra_files." + std::string(key.str()) + "' (ignored)");
          }
        }
        f.path = (*t)["path"].value<std::string>().value_or("");
        if (f.path.empty()) return error(item, "an 'extra_files' table needs a 'path' string");
        if (const auto* sha = t->get("sha256")) {
          auto text = sha->value<std::string>();
          if (!text || !to_sha256(*text, f.sha256)) {
            return error(*sha, "'extra_files' sha256 of '" + f.path + "' must be 64 hex digits");
          }
        }
      } else {
        return error(item, "'extra_files' must be an array of paths or { path, sha256 } tables");
      }
      if (!valid_repo_path(f.path)) {
        return error(item, "extra file '" + f.path + "' must be a relative path without '..'");
      }
      const std::string first = f.path.substr(0, f.path.find('/'));
      static const std::set<std::string> reserved = {"model.onnx", "model-int8.onnx", "model-int8.onnx.data",
                                                     "labels.txt", "config.json"};
      const auto ends_with = [&](std::string_view suffix) {
        return f.path.size() >= suffix.size() && f.path.compare(f.path.size() - suffix.size(), suffix.size(), suffix) == 0;
      };
      if (reserved.count(first) != 0 || first.front() == '.' || ends_with(".partial") || ends_with(".partial.json") ||
          ends_with(".partial.url") || f.path.find(".tmp-") != std::string::npos) {
        return error(item, "extra file '" + f.path + "' would clash with the model folder's own files (" +
                               "model.onnx, model-int8.onnx[.data], labels.txt, config.json, hidden and partial files)");
      }
      for (const auto& other : out) {
        if (other.path == f.path) return error(item, "extra file '" + f.path + "' is listed twice");
      }
      out.push_back(std::move(f));
    }
    return out;
  }

  result<quantize_spec> quantize(const toml::table& q) {
    quantize_spec spec;
    static const std::set<std::string> known = {"enabled", "method", "per_channel", "weight_type", "format",
                                                "op_types", "exclude", "symmetric", "reduce_range", "min_elements"};
    for (const auto& [key, node] : q) {
      if (known.count(std::string(key.str())) == 0) {
        warn(node, "unknown key 'quantize." + std::string(key.str()) + "' (ignored)");
      }
    }
    spec.enabled = true;  // a [models.quantize] table means "quantize" unless it says otherwise
    if (const auto* n = q.get("enabled")) {
      auto b = n->value<bool>();
      if (!b) return error(*n, "'quantize.enabled' must be true or false");
      spec.enabled = *b;
    }
    if (const auto* n = q.get("method")) {
      auto m = n->value<std::string>();
      if (!m) return error(*n, "'quantize.method' must be a string");
      spec.method = *m;
    }
    if (spec.method == "dynamic_int8") {
      spec.options.format = quant_format::automatic;
    } else if (spec.method == "weight_only_int8") {
      spec.options.format = quant_format::qdq;
    } else {
      return error(q.get("method") != nullptr ? *q.get("method") : static_cast<const toml::node&>(q),
                   "unknown quantize method '" + spec.method + "' (dynamic_int8, weight_only_int8)");
    }
    if (const auto* n = q.get("format")) {
      const std::string f = n->value<std::string>().value_or("");
      if (f == "auto") spec.options.format = quant_format::automatic;
      else if (f == "qoperator") spec.options.format = quant_format::qoperator;
      else if (f == "qdq") spec.options.format = quant_format::qdq;
      else return error(*n, "unknown quantize format '" + f + "' (auto, qoperator, qdq)");
    }
    if (const auto* n = q.get("weight_type")) {
      const std::string t = n->value<std::string>().value_or("");
      if (t == "int8") spec.options.weights = weight_type::int8;
      else if (t == "uint8") spec.options.weights = weight_type::uint8;
      else return error(*n, "unknown quantize weight_type '" + t + "' (int8, uint8)");
    }
    for (const char* key : {"per_channel", "reduce_range", "symmetric"}) {
      const auto* n = q.get(key);
      if (n == nullptr) continue;
      auto b = n->value<bool>();
      if (!b) return error(*n, std::string("'quantize.") + key + "' must be true or false");
      if (std::string_view(key) == "per_channel") spec.options.per_channel = *b;
      else if (std::string_view(key) == "reduce_range") spec.options.reduce_range = *b;
      else spec.options.symmetry = *b ? weight_symmetry::symmetric : weight_symmetry::asymmetric;
    }
    if (const auto* n = q.get("min_elements")) {
      auto v = n->value<std::int64_t>();
      if (!v || *v < 0) return error(*n, "'quantize.min_elements' must be a non-negative integer");
      spec.options.min_elements = *v;
    }
    for (const char* key : {"op_types", "exclude"}) {
      const auto* n = q.get(key);
      if (n == nullptr) continue;
      const auto* arr = n->as_array();
      std::vector<std::string> items;
      bool ok = arr != nullptr;
      if (ok) {
        for (const auto& item : *arr) {
          auto s = item.value<std::string>();
          ok = ok && s.has_value();
          if (s) items.push_back(*s);
        }
      }
      if (!ok) return error(*n, std::string("'quantize.") + key + "' must be an array of strings");
      if (std::string_view(key) == "op_types") {
        static const std::set<std::string> ops = {"MatMul", "Gemm", "Conv", "ConvTranspose"};
        for (const auto& op : items) {
          if (ops.count(op) == 0) return error(*n, "unknown op type '" + op + "' (MatMul, Gemm, Conv, ConvTranspose)");
        }
        spec.options.op_types = items;
      } else {
        spec.options.exclude = items;
      }
    }
    return spec;
  }

  unexpected_error error(const toml::node& node, const std::string& what) const {
    const std::string name_part = label_.substr(label_.find(": model") + 2);
    return fail(errc::invalid_argument, where(source_, node) + ": " + name_part + ": " + what);
  }
  void warn(const toml::node& node, const std::string& what) {
    const std::string name_part = label_.substr(label_.find(": model") + 2);
    out_.warnings.push_back(where(source_, node) + ": " + name_part + ": " + what);
  }

  const std::string& source_;
  catalog& out_;
  std::string label_;
  bool failed_ = false;
  std::string failure_;
};

}  // namespace

const entry* catalog::find(std::string_view name) const noexcept {
  for (const auto& e : models) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

result<catalog> parse(std::string_view text, const std::string& source) {
  toml::table root;
  try {
    root = toml::parse(text, source);
  } catch (const toml::parse_error& err) {
    return fail(errc::invalid_argument, "'" + source + "':" + std::to_string(err.source().begin.line) +
                                            ": invalid toml: " + std::string(err.description()));
  }
  catalog out;
  for (const auto& [key, node] : root) {
    if (key.str() != "models") {
      out.warnings.push_back(where(source, node) + ": unknown key '" + std::string(key.str()) + "' (ignored)");
    }
  }
  const auto* models = root.get("models");
  if (models == nullptr) return out;
  const auto* arr = models->as_array();
  if (arr == nullptr) return fail(errc::invalid_argument, where(source, *models) + ": 'models' must be [[models]] tables");
  std::set<std::string> seen;
  for (const auto& node : *arr) {
    const auto* table = node.as_table();
    if (table == nullptr) return fail(errc::invalid_argument, where(source, node) + ": 'models' must be [[models]] tables");
    auto e = entry_parser(source, out).parse(*table);
    if (!e) return unexpected_error{e.error()};
    if (!seen.insert(e->name).second) {
      return fail(errc::invalid_argument, e->origin + ": model '" + e->name + "': duplicate name (already defined above)");
    }
    out.models.push_back(std::move(*e));
  }
  return out;
}

result<catalog> load_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::error_code ec;
  if (!in || std::filesystem::is_directory(path, ec)) {
    return fail(errc::not_found, "cannot read catalog " + fetch::quote(path));
  }
  std::ostringstream text;
  text << in.rdbuf();
  return parse(text.str(), path.string());
}

result<catalog> builtin() { return parse(builtin_text(), "<built-in catalog>"); }

catalog merge(catalog base, catalog overlay) {
  for (auto& e : overlay.models) {
    bool replaced = false;
    for (auto& b : base.models) {
      if (b.name == e.name) {
        b = e;
        replaced = true;
      }
    }
    if (!replaced) base.models.push_back(std::move(e));
  }
  for (auto& w : overlay.warnings) base.warnings.push_back(std::move(w));
  return base;
}

}  // namespace mq::catalog
