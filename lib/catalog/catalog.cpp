#include "catalog/catalog.h"

#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>

#include "fetch/files.h"
#include "util/try.h"

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
  entry_parser(const std::string& source, const std::filesystem::path& base_dir, catalog& out)
      : source_(source), base_dir_(base_dir), out_(out) {}

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

  // One item of a file list that may pin its files (extra_files, hub calibration_files): a path, or
  // { path, sha256 } (unknown keys are warnings). `key` names the list in messages, `not_item` is
  // the error for anything else, `sha_of` names a path's sha256 in its error.
  template <class ShaLabel>
  result<extra_file> pinned_path(const toml::node& item, const std::string& key, const std::string& not_item,
                                 ShaLabel sha_of) {
    extra_file f;
    if (auto text = item.value<std::string>()) {
      f.path = *text;
      return f;
    }
    const auto* t = item.as_table();
    if (t == nullptr) return error(item, not_item);
    for (const auto& [name, value] : *t) {
      if (name.str() != "path" && name.str() != "sha256") {
        warn(value, "unknown key '" + key + "." + std::string(name.str()) + "' (ignored)");
      }
    }
    f.path = (*t)["path"].value<std::string>().value_or("");
    if (f.path.empty()) {
      const bool vowel = std::string_view("aeiou").find(key.front()) != std::string_view::npos;
      return error(item, std::string(vowel ? "an '" : "a '") + key + "' table needs a 'path' string");
    }
    if (const auto* sha = t->get("sha256")) {
      auto hex = sha->value<std::string>();
      if (!hex || !to_sha256(*hex, f.sha256)) return error(*sha, sha_of(f.path) + " must be 64 hex digits");
    }
    return f;
  }

  // `extra_files = ["model.onnx.data", { path = "w.bin", sha256 = "..." }]`: paths as the model's
  // external data names them, which become paths in the model's cache folder: none may be one of
  // the folder's own files (or hidden, or a download in progress), and none twice.
  result<std::vector<extra_file>> extra_files(const toml::node& node) {
    const auto* arr = node.as_array();
    if (arr == nullptr) return error(node, "'extra_files' must be an array of paths or { path, sha256 } tables");
    std::vector<extra_file> out;
    for (const auto& item : *arr) {
      extra_file f = MQ_TRY(pinned_path(item, "extra_files", "'extra_files' must be an array of paths or { path, sha256 } tables",
                                        [](const std::string& path) { return "'extra_files' sha256 of '" + path + "'"; }));
      if (!valid_repo_path(f.path)) {
        return error(item, "extra file '" + f.path + "' must be a relative path without '..'");
      }
      const std::string first = f.path.substr(0, f.path.find('/'));
      static const std::set<std::string> reserved = {"model.onnx", "model-int8.onnx", "model-int8.onnx.data",
                                                     "labels.txt", "config.json", "calibration"};
      const auto ends_with = [&](std::string_view suffix) {
        return f.path.size() >= suffix.size() && f.path.compare(f.path.size() - suffix.size(), suffix.size(), suffix) == 0;
      };
      if (reserved.count(first) != 0 || first.front() == '.' || ends_with(".partial") || ends_with(".partial.json") ||
          ends_with(".partial.url") || f.path.find(".tmp-") != std::string::npos) {
        return error(item, "extra file '" + f.path + "' would clash with the model folder's own files (" +
                               "model.onnx, model-int8.onnx[.data], labels.txt, config.json, calibration/, hidden and partial files)");
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
    static const std::set<std::string> known = {"enabled",        "method",           "per_channel",
                                                "weight_type",    "format",           "op_types",
                                                "exclude",        "symmetric",        "reduce_range",
                                                "min_elements",   "calibration",      "calibration_files",
                                                "preprocess",     "calibration_method", "calibration_count",
                                                "activation_type", "target_snr_db", "calibration_repo",
                                                "calibration_revision"};
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
    } else if (spec.method == "static_int8") {
      spec.options.format = quant_format::automatic;  // QDQ where ONNX Runtime fuses it, the rest as auto
    } else {
      return error(q.get("method") != nullptr ? *q.get("method") : static_cast<const toml::node&>(q),
                   "unknown quantize method '" + spec.method + "' (dynamic_int8, weight_only_int8, static_int8)");
    }
    if (const auto* n = q.get("format")) {
      const std::string f = n->value<std::string>().value_or("");
      if (f == "auto") spec.options.format = quant_format::automatic;
      else if (f == "qoperator") spec.options.format = quant_format::qoperator;
      else if (f == "qdq") spec.options.format = quant_format::qdq;
      else return error(*n, "unknown quantize format '" + f + "' (auto, qoperator, qdq)");
      if (spec.method == "static_int8" && spec.options.format != quant_format::automatic) {
        return error(*n, "'quantize.format' must be 'auto' with method = \"static_int8\" (static INT8 is written as QDQ "
                         "where ONNX Runtime fuses it, the rest as auto)");
      }
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
    if (auto calibrated = calibration(q, spec); !calibrated) return unexpected_error{calibrated.error()};
    return spec;
  }

  // Static INT8: the calibration data (a local folder, optionally some files of it; or files of a
  // hub repo), with method = "static_int8" only, its preprocessing and how ranges are picked (any
  // method: they also apply to the user's own frames, mq-pull --calibration).
  result<void> calibration(const toml::table& q, quantize_spec& spec) {
    calibration_spec& c = spec.calibration;
    const toml::node* folder = q.get("calibration");
    const toml::node* files = q.get("calibration_files");
    const toml::node* repo = q.get("calibration_repo");
    const toml::node* revision = q.get("calibration_revision");
    for (const auto& [key, node] : {std::pair{"calibration", folder}, std::pair{"calibration_files", files},
                                    std::pair{"calibration_repo", repo}, std::pair{"calibration_revision", revision}}) {
      if (node != nullptr && spec.method != "static_int8") {
        return error(*node, std::string("'quantize.") + key + "' needs method = \"static_int8\" (the method is '" +
                                spec.method + "')");
      }
    }
    if (repo != nullptr) {
      auto text = repo->value<std::string>();
      if (!text || !valid_repo_path(*text) || text->find('/') == std::string::npos) return error(*repo, "'quantize.calibration_repo' must be a path like 'owner/name'");
      c.hub_repo = *text;
    }
    const toml::node* hub_key = repo != nullptr ? repo : revision;
    if (hub_key != nullptr && folder != nullptr) {
      return error(*hub_key, "'quantize.calibration' is a local folder and 'quantize.calibration_repo' / "
                             "'calibration_revision' say where hub files come from: give one of them");
    }
    if (hub_key != nullptr && files == nullptr) {
      return error(*hub_key, "the hub's calibration samples are listed in 'quantize.calibration_files', which is missing");
    }
    if (revision != nullptr) {
      auto text = revision->value<std::string>();
      if (!text || text->empty() || text->find_first_of("?# \\") != std::string::npos ||
          text->find("..") != std::string::npos) {
        return error(*revision, "'quantize.calibration_revision' must be a branch, tag or commit");
      }
      c.hub_revision = *text;
    }
    if (folder != nullptr) {
      auto text = folder->value<std::string>();
      if (!text || text->empty()) return error(*folder, "'quantize.calibration' must be a folder (a non-empty string)");
      auto path = local_path(*folder, "quantize.calibration", *text);
      if (!path) return unexpected_error{path.error()};
      c.folder = std::move(*path);
    }
    if (files != nullptr) {
      if (folder != nullptr) {
        MQ_TRY_VOID(local_calibration_files(*files, c.files));
      } else {
        MQ_TRY_VOID(hub_calibration_files(*files, c.hub_files));
      }
    }
    if (const auto* n = q.get("preprocess")) {
      result<preprocess_spec> parsed = fail(errc::invalid_argument, "");
      if (auto text = n->value<std::string>()) {
        const bool file = text->size() > 5 && text->compare(text->size() - 5, 5, ".toml") == 0;
        if (file) {
          auto path = local_path(*n, "quantize.preprocess", *text);
          if (!path) return unexpected_error{path.error()};
          parsed = preprocess_spec::from_toml_file(*path);
        } else {
          parsed = preprocess_spec::preset(*text);
        }
        if (!parsed) return error(*n, "'quantize.preprocess': " + parsed.error().message);
      } else if (const auto* t = n->as_table()) {
        // The inline table is a preprocessing spec written inline: the same keys as a FILE.toml.
        std::ostringstream inline_text;
        inline_text << *t;
        parsed = preprocess_spec::from_toml(inline_text.str(), "'quantize.preprocess'");
        if (!parsed) return error(*n, parsed.error().message);
        parsed->name = "inline";
      } else {
        return error(*n, "'quantize.preprocess' must be a preset (yolo, imagenet, unit), a FILE.toml or an inline table "
                         "of preprocessing keys");
      }
      c.preprocess = std::move(*parsed);
    }
    if (const auto* n = q.get("calibration_method")) {
      const std::string m = n->value<std::string>().value_or("");
      if (m == "minmax") c.method = calibration_method::minmax;
      else if (m == "percentile") c.method = calibration_method::percentile;
      else if (m == "entropy") c.method = calibration_method::entropy;
      else if (m == "mse") c.method = calibration_method::mse;
      else return error(*n, "unknown quantize calibration_method '" + m + "' (minmax, percentile, entropy, mse)");
    }
    if (const auto* n = q.get("calibration_count")) {
      auto v = n->is_integer() ? n->value<std::int64_t>() : std::nullopt;
      constexpr auto max_count = static_cast<std::int64_t>(calibration_options::max_count);
      if (!v || *v < 1 || *v > max_count) {
        return error(*n, "'quantize.calibration_count' must be an integer from 1 to " + std::to_string(max_count) +
                             " (leave it out for all samples)");
      }
      c.count = static_cast<std::size_t>(*v);
    }
    if (const auto* n = q.get("activation_type")) {
      const std::string t = n->value<std::string>().value_or("");
      if (t == "uint8") c.activations = activation_type::uint8;
      else if (t == "int8") c.activations = activation_type::int8;
      else return error(*n, "unknown quantize activation_type '" + t + "' (uint8, int8)");
    }
    if (const auto* n = q.get("target_snr_db")) {
      auto v = n->is_number() ? n->value<double>() : std::nullopt;
      constexpr double max_db = quantize_options::max_target_snr_db;
      if (!v || !(*v >= 0 && *v <= max_db)) {
        return error(*n, "'quantize.target_snr_db' must be a number of dB from 0 (no accuracy guard) to " +
                             std::to_string(static_cast<int>(max_db)));
      }
      spec.options.target_snr_db = *v;
    }
    return {};
  }

  // True when `name` ends in an image or .npy extension (any case).
  static bool sample_file_name(const std::string& name) {
    std::string ext = name.substr(std::min(name.rfind('.'), name.size()));
    for (char& ch : ext) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return ext == ".jpg" || ext == ".jpeg" || ext == ".png" || ext == ".npy";
  }

  // `calibration_files` with a local `calibration` folder: plain names inside it.
  result<void> local_calibration_files(const toml::node& files, std::vector<std::string>& out) {
    const auto* arr = files.as_array();
    if (arr == nullptr || arr->empty()) {
      return error(files, "'quantize.calibration_files' must be a non-empty array of file names");
    }
    for (const auto& item : *arr) {
      if (item.is_table()) {
        return error(item, "a { path, sha256 } calibration file is a hub file: pins apply to files downloaded from "
                           "a repo (without 'quantize.calibration'), not to a local folder's");
      }
      auto name = item.value<std::string>();
      if (!name) return error(item, "'quantize.calibration_files' must be a non-empty array of file names");
      if (name->empty() || *name == "." || *name == ".." || name->find('/') != std::string::npos ||
          name->find('\\') != std::string::npos) {
        return error(item, "calibration file '" + *name + "' must be a file name inside the calibration folder");
      }
      if (name->rfind("test_data_set_", 0) != 0 && !sample_file_name(*name)) {
        return error(item, "calibration file '" + *name +
                               "' must be an image (.jpg, .jpeg, .png), a .npy file or a test_data_set_* folder");
      }
      if (std::find(out.begin(), out.end(), *name) != out.end()) {
        return error(item, "calibration file '" + *name + "' is listed twice");
      }
      out.push_back(*name);
    }
    return {};
  }

  // `calibration_files` without a local folder: paths in the hub repo (a string, or { path, sha256 }
  // to pin one), each an image or a .npy file. They land as calibration/<file name> in the model's
  // folder, so two may not share a file name.
  result<void> hub_calibration_files(const toml::node& files, std::vector<extra_file>& out) {
    const auto* arr = files.as_array();
    if (arr == nullptr || arr->empty()) {
      return error(files, "'quantize.calibration_files' must be a non-empty array of paths in the repo or "
                          "{ path, sha256 } tables");
    }
    for (const auto& item : *arr) {
      extra_file f = MQ_TRY(pinned_path(item, "quantize.calibration_files",
                                        "'quantize.calibration_files' must be an array of paths in the repo or { path, "
                                        "sha256 } tables",
                                        [](const std::string& path) { return "the sha256 of calibration file '" + path + "'"; }));
      if (!valid_repo_path(f.path)) {
        return error(item, "calibration file '" + f.path + "' must be a relative path in the repo without '..'");
      }
      const std::string name = f.path.substr(f.path.rfind('/') + 1);
      if (name.front() == '.' || !sample_file_name(name)) {
        return error(item, "calibration file '" + f.path +
                               "' must be an image (.jpg, .jpeg, .png) or a .npy file (a hub's test_data_set_* "
                               "folder cannot be listed: convert it to .npy files, or use a local folder)");
      }
      for (const auto& other : out) {
        if (other.path == f.path) return error(item, "calibration file '" + f.path + "' is listed twice");
        if (other.path.substr(other.path.rfind('/') + 1) == name) {
          return error(item, "calibration files '" + other.path + "' and '" + f.path + "' share the file name '" + name +
                                 "' (both would be calibration/" + name + " in the model's folder)");
        }
      }
      out.push_back(std::move(f));
    }
    return {};
  }

  // A local path from the catalog: absolute, or relative to the catalog file's folder (the
  // built-in catalog has none, so it takes absolute paths only).
  result<std::filesystem::path> local_path(const toml::node& node, const char* key, const std::string& text) {
    std::filesystem::path path(text);
    if (path.is_relative()) {
      if (base_dir_.empty()) {
        return error(node, std::string("'") + key + "' must be an absolute path here ('" + text +
                               "'): only a catalog file's paths may be relative (to its folder)");
      }
      path = base_dir_ / path;
    }
    return path.lexically_normal();
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
  const std::filesystem::path& base_dir_;
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

result<catalog> parse(std::string_view text, const std::string& source, const std::filesystem::path& base_dir) {
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
    auto e = entry_parser(source, base_dir, out).parse(*table);
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
  // Relative paths in the file are relative to its folder, wherever the process runs.
  std::filesystem::path base = std::filesystem::absolute(path, ec).parent_path();
  if (ec) base = path.parent_path();
  return parse(text.str(), path.string(), base);
}

result<catalog> builtin() { return parse(builtin_text(), "<built-in catalog>"); }

std::string describe(const preprocess_spec& s) {
  using spec = preprocess_spec;
  const char* resize = s.resize == spec::resize_mode::letterbox            ? "letterbox"
                       : s.resize == spec::resize_mode::letterbox_top_left ? "letterbox-top-left"
                       : s.resize == spec::resize_mode::stretch            ? "stretch"
                                                                           : "center-crop";
  const char* layout = s.layout == spec::layout_kind::nchw   ? "nchw"
                       : s.layout == spec::layout_kind::nhwc ? "nhwc"
                                                             : "auto";
  // %.9g: every float written back exactly.
  const auto number = [](float v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.9g", static_cast<double>(v));
    return std::string(buf);
  };
  const auto triple = [&](const std::array<float, 3>& v) {
    return number(v[0]) + "," + number(v[1]) + "," + number(v[2]);
  };
  return "size=" + std::to_string(s.height) + "x" + std::to_string(s.width) + ";resize=" + resize +
         ";pad=" + number(s.pad) + ";color=" + (s.color == spec::color_order::rgb ? "rgb" : "bgr") +
         ";scale=" + number(s.scale) + ";mean=" + triple(s.mean) + ";std=" + triple(s.std) + ";layout=" + layout +
         ";channels=" + std::to_string(s.channels) + ";extra_value=" + number(s.extra_value);
}

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
