// mq::model_store: catalog lookup, cache checks, download, verification, quantization and
// atomic publishing of <models-dir>/<name>/{model.onnx, model-int8.onnx, labels.txt, config.json}.
#include "mq/store.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <map>
#include <optional>
#include <fstream>
#include <set>
#include <sstream>

#include "catalog/catalog.h"
#include "fetch/config.h"
#include "fetch/http.h"
#include "fetch/lock.h"
#include "fetch/sha256.h"
#include "mq/calibration.h"
#include "mq/model.h"
#include "mq/quantize.h"
#include "mq/signature.h"
#include "mq/version.h"
#include "fetch/files.h"
#include "util/try.h"

namespace mq {

namespace fs = std::filesystem;

namespace {

constexpr const char* fp32_name = "model.onnx";
constexpr const char* int8_name = "model-int8.onnx";
constexpr const char* labels_name = "labels.txt";
constexpr const char* config_name = "config.json";
constexpr const char* calibration_dir = "calibration";  // hub calibration files, in the model's folder
constexpr const char* lock_name = ".lock";
constexpr const char* cache_key_metadata = "mq.cache_key";
// How mq-pull made the INT8 model (so that a reused one is described even without config.json).
constexpr const char* method_metadata = "mq.pull_method";
constexpr const char* fallback_metadata = "mq.pull_fallback_reason";
constexpr const char* fallback_kind_metadata = "mq.pull_fallback_kind";
// Why static INT8 gave way (fallback_kind): its samples could not be used, or the library measured
// static INT8 and chose auto (too little work in int8, or a ranked model under the target).
constexpr const char* fallback_no_data = "calibration_data";
constexpr const char* fallback_measured = "measured";
constexpr const char* snr_metadata = "mq.pull_output_snr_db";

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : "";
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool env_true(const char* name) {
  const std::string v = env(name);
  return v == "1" || v == "true" || v == "TRUE" || v == "yes" || v == "on" || v == "ON";
}

std::uint64_t size_of(const fs::path& p) {
  std::error_code ec;
  const auto size = fs::file_size(p, ec);
  return ec ? 0 : size;
}

bool is_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

result<void> write_text_atomic(const fs::path& target, std::string_view text) {
  return fetch::write_file_atomic(target, text);
}

result<void> publish(const fs::path& partial, const fs::path& target) { return fetch::publish_file(partial, target); }

std::string url_for(const std::string& endpoint, const std::string& repo, const std::string& revision,
                    const std::string& file) {
  std::string base = endpoint;
  while (!base.empty() && base.back() == '/') base.pop_back();
  return base + "/" + repo + "/resolve/" + revision + "/" + file;
}

std::string url_for(const std::string& endpoint, const catalog::entry& e, const std::string& file) {
  return url_for(endpoint, e.repo, e.revision, file);
}

// Folders created along the way, removed (when empty) on destruction, deepest first.
struct removable_dirs {
  std::vector<fs::path> dirs;
  void add_missing(const fs::path& dir) {
    std::error_code ec;
    for (fs::path p = dir; !p.empty() && !fs::exists(p, ec); p = p.parent_path()) {
      if (std::find(dirs.begin(), dirs.end(), p) == dirs.end()) dirs.push_back(p);
    }
    std::sort(dirs.begin(), dirs.end(), [](const fs::path& a, const fs::path& b) {
      return std::distance(a.begin(), a.end()) > std::distance(b.begin(), b.end());
    });
  }
  removable_dirs() = default;
  removable_dirs(const removable_dirs&) = delete;
  removable_dirs& operator=(const removable_dirs&) = delete;
  ~removable_dirs() {
    std::error_code ec;
    for (const auto& d : dirs) fs::remove(d, ec);  // fails (and is left) when not empty
  }
};

// One file of a model's source as the previous pull recorded it.
struct recorded_file {
  std::string url;
  std::string sha256;
  std::string etag;
  std::string last_modified;
  std::uint64_t bytes = 0;
  std::optional<fetch::file_stamp> stamp;  // the file when it had `stamp_sha256`
  std::string stamp_sha256;
};

// What the previous pull recorded, read from config.json (empty when absent or unreadable).
struct recorded_state {
  recorded_file model;
  std::map<std::string, recorded_file> extras;  // by path
  std::map<std::string, recorded_file> calibration;  // hub calibration files, by path in the model folder
  std::uint64_t quantized_nodes = 0;
  std::uint64_t skipped_nodes = 0;
  std::string library_version;
  fetch::json inputs;   // null when absent
  fetch::json outputs;
  std::optional<fetch::file_stamp> int8_stamp;  // model-int8.onnx when it held `int8_stamp_key`
  std::optional<fetch::file_stamp> int8_data_stamp;
  std::string int8_stamp_key;
  // How the INT8 model was made (reused with it while its key matches).
  std::string method_used;
  std::string fallback_reason;
  std::string fallback_kind;
  double output_snr_db = std::numeric_limits<double>::quiet_NaN();
  std::string text;  // config.json as it is
};

// A file list of config.json (source.extra_files) by path, each
// with the stamp `verified` recorded for it.
void read_file_list(const fetch::json& list, const fetch::json* verified, std::map<std::string, recorded_file>& out) {
  if (!list.is_array()) return;
  for (const auto& x : list) {
    const std::string path = fetch::string_at(x, "/path");
    if (path.empty()) continue;
    recorded_file f;
    f.url = fetch::string_at(x, "/url");
    f.sha256 = fetch::string_at(x, "/sha256");
    f.etag = fetch::string_at(x, "/etag");
    f.last_modified = fetch::string_at(x, "/last_modified");
    f.bytes = fetch::uint_at(x, "/bytes");
    if (verified != nullptr && verified->contains(path)) {  // a path may hold '/': no JSON pointer
      f.stamp = fetch::stamp_in((*verified)[path]);
      f.stamp_sha256 = fetch::string_at((*verified)[path], "/sha256");
    }
    out[path] = std::move(f);
  }
}

recorded_state read_recorded(const fs::path& config) {
  recorded_state out;
  if (!is_file(config)) return out;
  out.text = read_text(config);
  const auto doc = fetch::parse(out.text);
  if (doc.is_discarded()) return out;
  out.model.url = fetch::string_at(doc, "/source/url");
  out.model.sha256 = fetch::string_at(doc, "/source/sha256");
  out.model.etag = fetch::string_at(doc, "/source/etag");
  out.model.last_modified = fetch::string_at(doc, "/source/last_modified");
  out.model.bytes = fetch::uint_at(doc, "/source/bytes");
  out.model.stamp = fetch::stamp_at(doc, "/verified/model.onnx");
  out.model.stamp_sha256 = fetch::string_at(doc, "/verified/model.onnx/sha256");
  const fetch::json* verified = doc.contains("verified") && doc["verified"].is_object() ? &doc["verified"] : nullptr;
  if (doc.contains("source") && doc["source"].is_object() && doc["source"].contains("extra_files")) {
    read_file_list(doc["source"]["extra_files"], verified, out.extras);
  }
  if (doc.contains("source") && doc["source"].is_object() && doc["source"].contains("calibration_files")) {
    read_file_list(doc["source"]["calibration_files"], verified, out.calibration);
  }
  if (doc.contains("quantization") && doc["quantization"].is_object()) {
    const auto& q = doc["quantization"];
    out.method_used = fetch::string_at(q, "/method_used");
    out.fallback_reason = fetch::string_at(q, "/fallback_reason");
    out.fallback_kind = fetch::string_at(q, "/fallback_kind");
    if (q.contains("output_snr_db") && q["output_snr_db"].is_number()) out.output_snr_db = q["output_snr_db"].get<double>();
  }
  out.quantized_nodes = fetch::uint_at(doc, "/quantization/summary/quantized_nodes");
  out.skipped_nodes = fetch::uint_at(doc, "/quantization/summary/skipped_nodes");
  out.library_version = fetch::string_at(doc, "/quantization/library_version");
  if (doc.contains("inputs") && doc["inputs"].is_array()) out.inputs = doc["inputs"];
  if (doc.contains("outputs") && doc["outputs"].is_array()) out.outputs = doc["outputs"];
  out.int8_stamp = fetch::stamp_at(doc, "/verified/model-int8.onnx");
  out.int8_data_stamp = fetch::stamp_at(doc, "/verified/model-int8.onnx.data");
  out.int8_stamp_key = fetch::string_at(doc, "/verified/model-int8.onnx/cache_key");
  return out;
}

// One file of the model's source (model.onnx or an extra file) through a pull.
struct source_file {
  std::string name;  // its path in the model folder
  std::string url;
  std::string pin;   // the catalog's sha256, "" when none
  fs::path path;
  recorded_file recorded;
  // What the pull finds:
  std::string sha;
  std::string etag;
  std::string last_modified;
  std::optional<fetch::file_stamp> stamp;
  bool reuse = false;
  bool upstream_changed = false;

  source_file(std::string n, std::string u, std::string p, fs::path at, recorded_file r)
      : name(std::move(n)), url(std::move(u)), pin(std::move(p)), path(std::move(at)), recorded(std::move(r)) {}
};

// `path` beside `file` in the repo: in the same folder.
std::string beside(const std::string& file, const std::string& path) {
  const auto slash = file.rfind('/');
  return slash == std::string::npos ? path : file.substr(0, slash + 1) + path;
}

// Static INT8's samples for one pull: the usable data, what identifies it (for the INT8 key)
// and, when there is none, why.
struct calibration_plan {
  std::optional<calibration_data> data;
  std::string identity;  // sha256 over the samples' names and contents' sha256
  std::string unusable;  // why there are no usable samples ("" when there are)
  fetch::calibration_record record;
};

const char* method_name(calibration_method m) {
  switch (m) {
    case calibration_method::minmax: return "minmax";
    case calibration_method::percentile: return "percentile";
    case calibration_method::entropy: return "entropy";
    case calibration_method::mse: return "mse";
  }
  return "minmax";
}

// How the catalog's static INT8 calibrates (method, count, activation type), without the samples.
calibration_options calibration_of(const catalog::calibration_spec& spec) {
  calibration_options c;
  c.method = spec.method;
  c.count = spec.count;
  c.activations = spec.activations;
  return c;
}

// The preprocessing as config.json shows it: a preset's name when it is one unchanged, else
// every field; "" when the catalog gives none (the model's default).
std::string preprocess_label(const std::optional<preprocess_spec>& spec) {
  if (!spec) return {};
  const std::string text = catalog::describe(*spec);
  if (auto preset = preprocess_spec::preset(spec->name); preset && catalog::describe(*preset) == text) return spec->name;
  return text;
}

// What the INT8 key holds of static INT8: method, count, activation type, preprocessing and the
// samples (their identity, or that there were none and why: a fallback model is reused while
// nothing changed, and rebuilt when the data or the reason does).
std::string calibration_key(const catalog::calibration_spec& c, const calibration_plan& plan) {
  return "method=" + std::string(method_name(c.method)) + ";count=" + std::to_string(c.count) +
         ";activations=" + (c.activations == activation_type::uint8 ? "uint8" : "int8") +
         ";preprocess=" + (c.preprocess ? catalog::describe(*c.preprocess) : "model default") +
         ";data=" + (plan.unusable.empty() ? plan.record.source + ":" + plan.identity : "none (" + plan.unusable + ")");
}

// The samples, for the INT8 key: sha256 over each sample file's path in the folder and its
// contents (sha256), in calibration order (only the first `count` are read). A test_data_set_*
// folder counts with every file in it. Same photos, same key; a changed photo, a new key.
result<std::string> samples_identity(const calibration_data& data, std::size_t count) {
  std::vector<fs::path> samples = data.files();
  if (count > 0 && count < samples.size()) samples.resize(count);
  std::string text;
  std::error_code ec;
  const auto add = [&](const fs::path& file) -> result<void> {
    auto sha = fetch::sha256_file(file);
    if (!sha) return fail(errc::io, "cannot read calibration sample " + fetch::quote(file) + ": " + sha.error().message);
    text += file.lexically_relative(data.folder()).generic_string() + ":" + *sha + "\n";
    return {};
  };
  for (const auto& sample : samples) {
    if (!fs::is_directory(sample, ec)) {
      MQ_TRY_VOID(add(sample));
      continue;
    }
    std::vector<fs::path> inside;
    for (const auto& item : fs::recursive_directory_iterator(sample, ec)) {
      if (item.is_regular_file(ec)) inside.push_back(item.path());
    }
    if (ec) return fail(errc::io, "cannot list calibration sample " + fetch::quote(sample) + ": " + ec.message());
    std::sort(inside.begin(), inside.end());
    for (const auto& file : inside) MQ_TRY_VOID(add(file));
  }
  return fetch::sha256_hex(text);
}

}  // namespace

store_options store_options::from_environment() {
  store_options o;
  if (auto v = env("MQ_MODELS_DIR"); !v.empty()) o.models_dir = v;
  if (auto v = env("MQ_CATALOG"); !v.empty()) o.catalog_file = v;
  if (auto v = env("MQ_ENDPOINT"); !v.empty()) o.endpoint = v;
  else if (auto hf = env("HF_ENDPOINT"); !hf.empty()) o.endpoint = hf;
  if (env_true("MQ_OFFLINE") || env_true("HF_HUB_OFFLINE")) o.network = network_mode::offline;
  o.token = env("HF_TOKEN");
  return o;
}

struct model_store::impl {
  store_options options;
  catalog::catalog catalog;
  bool token_warned = false;  // the plain-http token warning is given once per store

  void report(const progress_callback& progress, pull_progress p) const {
    if (progress) progress(p);
  }

  // A warning: kept in the result and reported as it happens.
  void warn(pulled_model& out, const progress_callback& progress, const std::string& file, std::string message) const {
    report(progress, {out.name, pull_stage::warning, file, 0, 0, message});
    out.warnings.push_back(std::move(message));
  }

  // Before a request to `url`: a token about to travel over plain http is worth one warning.
  void check_token_transport(const std::string& url, pulled_model& out, const progress_callback& progress) {
    if (token_warned || options.token.empty() || fetch::url_origin(url).rfind("http://", 0) != 0) return;
    token_warned = true;
    warn(out, progress, {}, "HF_TOKEN is sent to " + fetch::url_origin(url) + " over plain http://, unencrypted: anyone on the "
                            "network path can read it; use an https:// endpoint");
  }

  fetch::transfer_options transfer() const {
    fetch::transfer_options t;
    t.token = options.token;
    t.connect_timeout = options.connect_timeout;
    t.stall_timeout = options.stall_timeout;
    t.max_attempts = options.max_attempts;
    t.backoff = options.retry_backoff;
    return t;
  }

  // For the upstream check: one attempt (a robot without network still starts from its cache).
  fetch::transfer_options check_transfer() const {
    fetch::transfer_options t = transfer();
    t.max_attempts = 1;
    return t;
  }

  // Downloads `url` into `target` via `<target>.partial`. The version of the bytes there is
  // recorded in `<target>.partial.json` (URL, ETag, Last-Modified, size) as soon as they start:
  // a later run resumes them only from the same URL, with If-Range, and only when a validator
  // can tell versions apart or a pinned sha256 will check the result; else it starts again.
  result<fetch::transfer_result> download_file(const std::string& model, const std::string& url, const fs::path& target,
                                               bool pinned, const progress_callback& progress) const {
    const fs::path partial = fs::path(target).concat(".partial");
    const fs::path record = fs::path(target).concat(".partial.json");
    std::error_code ec;
    fs::remove(fs::path(target).concat(".partial.url"), ec);  // older versions' record, without a validator
    fetch::resume_from from;
    if (options.cache != cache_policy::refresh && size_of(partial) > 0 && is_file(record)) {
      const auto doc = fetch::parse(read_text(record));
      if (!doc.is_discarded() && fetch::string_at(doc, "/url") == url) {
        from.version.etag = fetch::string_at(doc, "/etag");
        from.version.last_modified = fetch::string_at(doc, "/last_modified");
        from.version.linked_etag = fetch::string_at(doc, "/linked_etag");
        from.version.size = fetch::uint_at(doc, "/size");
        from.resume = from.version.can_tell_versions() || pinned;
      }
    }
    from.on_new_version = [&](const fetch::validators& v) {
      const fetch::json doc = {{"url", url}, {"etag", v.etag}, {"last_modified", v.last_modified},
                               {"linked_etag", v.linked_etag}, {"size", v.size}};
      // Without the record the bytes are not resumed next time (nothing worse).
      if (!write_text_atomic(record, fetch::dump(doc))) fs::remove(record, ec);
    };
    const std::string file = target.filename().string();
    auto t = transfer();
    t.on_retry = [&](const fetch::retry_notice& r) {
      char seconds[32];
      std::snprintf(seconds, sizeof seconds, "%.1f", static_cast<double>(r.delay.count()) / 1000.0);
      report(progress, {model, pull_stage::retrying, file, 0, 0,
                        r.message + " (attempt " + std::to_string(r.attempt) + " of " + std::to_string(r.max_attempts) +
                            " failed; next try in " + seconds + " s)"});
    };
    auto result = fetch::download(url, partial, t, from, [&](std::uint64_t done, std::uint64_t total) {
      report(progress, {model, pull_stage::downloading, file, done, total, {}});
    });
    if (result) fs::remove(record, ec);
    else if (size_of(partial) == 0) discard_partial(target);  // nothing to resume: leave no trace
    return result;
  }

  // Removes a partial download and its record (after a failed verification).
  static void discard_partial(const fs::path& target) {
    std::error_code ec;
    fs::remove(fs::path(target).concat(".partial"), ec);
    fs::remove(fs::path(target).concat(".partial.json"), ec);
    fs::remove(fs::path(target).concat(".partial.url"), ec);
  }

  // The sha256 of `file` (whose stamp is `now`): the recorded one while `now` is the recorded
  // stamp, without reading the file (unless --verify); else the file is hashed.
  result<std::string> sha256_of(const fs::path& file, const std::optional<fetch::file_stamp>& now,
                                const std::optional<fetch::file_stamp>& stamp, const std::string& sha) const {
    if (options.cache != cache_policy::verify && now && stamp && *now == *stamp && !sha.empty()) return sha;
    return fetch::sha256_file(file);
  }

  // Decides whether the cached `f` is still what the catalog names (`f.reuse`): its hash (from
  // its recorded stamp, or read), the pin or the recorded hash and URL, and without a pin, online,
  // what the server now says of it (one HEAD request).
  result<void> check_cached(const catalog::entry& e, source_file& f, pulled_model& out,
                            const progress_callback& progress) {
    const bool offline = options.network == network_mode::offline;
    const bool force = options.cache == cache_policy::refresh;
    f.etag = f.recorded.etag;
    f.last_modified = f.recorded.last_modified;
    if (offline && !is_file(f.path)) {
      return fail(errc::not_found, "offline: model '" + e.name + "' is not in the cache (" + fetch::quote(f.path) +
                                       " is missing); pull it once without --offline");
    }
    if (!is_file(f.path) || (force && !offline)) return {};
    f.stamp = fetch::stamp_of(f.path);  // before reading: a change while hashing shows next time
    f.sha = MQ_TRY(sha256_of(f.path, f.stamp, f.recorded.stamp, f.recorded.stamp_sha256));
    const std::string& expected = !f.pin.empty() ? f.pin : f.recorded.sha256;
    // A pinned file that matches is the file, wherever it came from (another endpoint or
    // mirror). Unpinned, a recorded hash says nothing about another URL's file: online it is
    // downloaded again; offline it is still the best there is.
    f.reuse = f.sha == expected && (!f.pin.empty() || offline || f.recorded.url.empty() || f.recorded.url == f.url);
    if (offline && !f.reuse) {
      if (!f.pin.empty()) {
        return fail(errc::integrity, "offline: cached " + fetch::quote(f.path) + " has sha256 " + f.sha +
                                         ", the catalog expects " + f.pin + "; pull it again without --offline");
      }
      f.reuse = true;  // no recorded hash to compare with (e.g. config.json lost): trust the file
    }
    std::string note = !f.pin.empty() ? "sha256 matches the catalog" : offline ? "offline: not checked" : "";
    if (f.reuse && !offline && f.pin.empty()) {
      // No pinned sha256: the recorded ETag, Last-Modified and size tell whether the upstream
      // file changed. One HEAD request; when it cannot be made the cached file is used, with a
      // warning.
      check_token_transport(f.url, out, progress);
      auto remote = fetch::probe(f.url, check_transfer());
      fetch::validators had;
      had.etag = f.recorded.etag;
      had.last_modified = f.recorded.last_modified;
      had.size = f.recorded.bytes;
      if (!remote) {
        note = "the server could not be asked";
        warn(out, progress, f.name,
             "model '" + e.name + "': cannot check whether the upstream file changed, using the cached one: " +
                 remote.error().message);
      } else if (const std::string change = fetch::version_change(had, remote->version); !change.empty()) {
        f.reuse = false;
        f.upstream_changed = true;
        discard_partial(f.path);  // a partial download of the old file must not be resumed
        report(progress, {e.name, pull_stage::upstream_changed, f.name, 0, remote->version.size,
                          "the upstream file changed (" + change + "): downloading it again"});
      } else if ((!had.identity().empty() && !remote->version.identity().empty()) ||
                 (!had.last_modified.empty() && !remote->version.last_modified.empty())) {
        note = !had.identity().empty() && !remote->version.identity().empty() ? "up to date: same ETag"
                                                                                : "up to date: same Last-Modified";
      } else if (had.size != 0 && remote->version.size != 0) {
        note = "same size; no ETag or Last-Modified to compare";
        warn(out, progress, f.name,
             "model '" + e.name + "': '" + f.url + "' gives no ETag or Last-Modified, only a size (unchanged): an "
             "upstream change that keeps the size is not noticed; pin the file's sha256 in the catalog, or pull "
             "with --force to download it again");
      } else {
        note = "freshness cannot be checked";
        warn(out, progress, f.name,
             "model '" + e.name + "': '" + f.url + "' gives no ETag, Last-Modified or size: whether the upstream "
             "file changed cannot be checked; pin the file's sha256 in the catalog, or pull with --force to "
             "download it again");
      }
    }
    if (f.reuse) report(progress, {e.name, pull_stage::cached, f.name, size_of(f.path), size_of(f.path), note});
    return {};
  }

  // Downloads `f` into its `.partial` file and hashes it; a pin that does not match deletes it.
  result<void> fetch_file(const catalog::entry& e, source_file& f, const progress_callback& progress) const {
    auto got = MQ_TRY(download_file(e.name, f.url, f.path, !f.pin.empty(), progress));
    const fs::path partial = fs::path(f.path).concat(".partial");
    report(progress, {e.name, pull_stage::verifying, f.name, got.bytes, got.bytes, {}});
    f.sha = MQ_TRY(fetch::sha256_file(partial));
    if (!f.pin.empty() && f.sha != f.pin) {
      discard_partial(f.path);
      return fail(errc::integrity, "'" + f.url + "': sha256 mismatch: expected " + f.pin + ", got " + f.sha +
                                       " (download deleted; the catalog or the upstream file changed)");
    }
    f.etag = got.version.identity();
    f.last_modified = got.version.last_modified;
    return {};
  }

  // A pull that fails for good (not found, a wrong hash, ...) drops what it downloaded of the
  // other files too: a first pull that fails leaves nothing. A network failure keeps them, to be
  // resumed.
  static unexpected_error drop_downloads(const std::vector<source_file>& files, error failure) {
    if (failure.code != errc::network) {
      for (const auto& f : files) {
        if (!f.reuse) discard_partial(f.path);
      }
    }
    return unexpected_error{std::move(failure)};
  }

  // Moves a downloaded `f` into place.
  static result<void> publish_source(source_file& f) {
    MQ_TRY_VOID(publish(fs::path(f.path).concat(".partial"), f.path));
    f.stamp = fetch::stamp_of(f.path);  // the file just hashed (a rename keeps inode and mtime)
    return {};
  }

  // Where static INT8's samples are for this pull of `e` (the user's folder, else the catalog's
  // folder or the files it lists), listed and identified; problems make them unusable (a fallback), not
  // a failed pull.
  calibration_plan plan_calibration(const catalog::entry& e, const fs::path& hub_folder, const std::string& hub_unusable) const {
    const auto& c = e.quantize.calibration;
    calibration_plan plan;
    auto& r = plan.record;
    r.preprocess = preprocess_label(c.preprocess);
    r.method = method_name(c.method);
    r.count = c.count;
    r.activation_type = c.activations == activation_type::uint8 ? "uint8" : "int8";
    std::error_code ec;
    fs::path folder;
    if (!options.calibration.empty()) {
      r.source = "user_folder";
      folder = fs::absolute(options.calibration, ec).lexically_normal();
      if (ec) folder = options.calibration;
    } else if (!c.folder.empty()) {
      r.source = "catalog_folder";
      folder = c.folder;
    } else if (!c.hub_files.empty()) {
      r.source = "catalog_hub";
      folder = fs::absolute(hub_folder, ec).lexically_normal();
      if (ec) folder = hub_folder;
      r.folder = folder.string();
      for (const auto& f : c.hub_files) r.files.push_back(f.path);
      if (!hub_unusable.empty()) {
        plan.unusable = hub_unusable;
        return plan;
      }
    } else {
      r.source = "none";
      plan.unusable = "the catalog entry names no calibration folder";
      return plan;
    }
    r.folder = folder.string();
    // The catalog's file list selects from its own folder, not from the user's; hub files are
    // calibration/<file name>, in the catalog's order.
    std::vector<std::string> names;
    if (r.source == "catalog_folder") names = c.files;
    if (r.source == "catalog_hub") {
      for (const auto& f : c.hub_files) names.push_back(f.path.substr(f.path.rfind('/') + 1));
    }
    if (r.source == "catalog_folder") r.files = c.files;
    auto data = !names.empty() ? calibration_data::from_files(folder, names, c.preprocess)
                               : calibration_data::from_folder(folder, c.preprocess);
    if (!data) {
      plan.unusable = data.error().message;
      return plan;
    }
    r.samples = data->size();
    auto identity = samples_identity(*data, c.count);
    if (!identity) {
      plan.unusable = identity.error().message;
      return plan;
    }
    plan.identity = std::move(*identity);
    plan.data = std::move(*data);
    return plan;
  }

  // The catalog's hub calibration files, each fetched like the model's files (reused while it is
  // what the catalog names, else downloaded, verified against its pin, published) into
  // <model>/calibration/. Returns why they are unusable ("" when all are there): a failure here is
  // a fallback to dynamic_int8, not a failed pull.
  std::string fetch_calibration_files(const catalog::entry& e, const recorded_state& recorded,
                                      std::vector<source_file>& files, pulled_model& out, removable_dirs& created,
                                      const progress_callback& progress) {
    const auto& c = e.quantize.calibration;
    const std::string repo = c.hub_repo.empty() ? e.repo : c.hub_repo;
    const std::string revision = !c.hub_revision.empty() ? c.hub_revision : repo == e.repo ? e.revision : "main";
    for (const auto& x : c.hub_files) {
      const std::string name = std::string(calibration_dir) + "/" + x.path.substr(x.path.rfind('/') + 1);
      const auto it = recorded.calibration.find(name);
      files.push_back({name, url_for(options.endpoint, repo, revision, x.path), x.sha256, out.dir / name,
                       it != recorded.calibration.end() ? it->second : recorded_file{}});
    }
    for (auto& f : files) {
      if (options.network == network_mode::offline && !is_file(f.path)) {
        return "offline: calibration file " + fetch::quote(f.path) + " (" + f.url + ") is not in the cache";
      }
      if (auto checked = check_cached(e, f, out, progress); !checked) return checked.error().message;
    }
    std::error_code ec;
    for (auto& f : files) {
      if (f.reuse) continue;
      check_token_transport(f.url, out, progress);
      created.add_missing(f.path.parent_path());
      fs::create_directories(f.path.parent_path(), ec);
      if (auto fetched = fetch_file(e, f, progress); !fetched) {
        if (fetched.error().code != errc::network) discard_partial(f.path);  // a network failure resumes next time
        return "calibration file: " + fetched.error().message;
      }
      if (auto published = publish_source(f); !published) return published.error().message;
    }
    return {};
  }

  // The entry as this store pulls it: the user's calibration folder makes it static INT8.
  catalog::entry effective(const catalog::entry& e) const {
    catalog::entry out = e;
    if (!options.calibration.empty()) {
      out.quantize.enabled = true;
      out.quantize.method = "static_int8";
      out.quantize.options.format = quant_format::automatic;
    }
    return out;
  }

  result<pulled_model> pull(const catalog::entry& e, const progress_callback& progress);
  model_entry describe(const catalog::entry& e) const;
};

model_entry model_store::impl::describe(const catalog::entry& catalog_entry) const {
  const catalog::entry e = effective(catalog_entry);
  model_entry m;
  m.name = e.name;
  m.description = e.description;
  m.task = e.task;
  m.repo = e.repo;
  m.filename = e.filename;
  m.revision = e.revision;
  m.sha256 = e.sha256;
  m.url = url_for(options.endpoint, e, e.filename);
  m.origin = e.origin;
  m.quantize = e.quantize.enabled;
  if (e.quantize.enabled) {
    m.quantize_method = e.quantize.method;
    m.quantize_options = mq::describe(e.quantize.options);
  }
  m.dir = options.models_dir / e.name;
  const fs::path config = m.dir / config_name;
  if (is_file(m.dir / fp32_name) && is_file(config)) {
    m.fp32_bytes = size_of(m.dir / fp32_name);
    const bool use_int8 = fetch::bool_at(fetch::parse(read_text(config)), "/use_int8");
    if (use_int8 && is_file(m.dir / int8_name)) {
      m.int8_bytes = size_of(m.dir / int8_name);
      m.state = cache_state::fp32_int8;
    } else {
      m.state = cache_state::fp32;
    }
  }
  return m;
}

result<pulled_model> model_store::impl::pull(const catalog::entry& catalog_entry, const progress_callback& progress) {
  const catalog::entry e = effective(catalog_entry);
  pulled_model out;
  out.name = e.name;
  out.dir = options.models_dir / e.name;
  out.fp32 = out.dir / fp32_name;
  out.config = out.dir / config_name;
  const bool offline = options.network == network_mode::offline;
  const bool force = options.cache == cache_policy::refresh;

  std::error_code ec;
  if (offline && !is_file(out.fp32)) {
    return fail(errc::not_found, "offline: model '" + e.name + "' is not in the cache (" + fetch::quote(out.fp32) +
                                     " is missing); pull it once without --offline");
  }
  // Folders this pull creates are removed again when it leaves them empty (a failed first pull
  // leaves nothing behind). Declared before the lock: the lock file goes first.
  removable_dirs created;
  const bool fresh = !fs::exists(out.dir, ec);  // nothing of this model is cached yet
  fetch::file_lock lock;
  for (;;) {
    created.add_missing(out.dir);
    fs::create_directories(out.dir, ec);
    if (ec) return fail(errc::io, "cannot create " + fetch::quote(out.dir) + ": " + ec.message());
    auto locked = fetch::file_lock::acquire(out.dir / lock_name, [&] {
      report(progress, {e.name, pull_stage::waiting, {}, 0, 0, "waiting for another pull of '" + e.name + "' to finish"});
    });
    if (locked) {
      lock = std::move(*locked);
      break;
    }
    // The pull we waited for failed and removed the folder it had made: make it again.
    if (!fs::is_directory(out.dir, ec)) continue;
    return unexpected_error{std::move(locked).error()};
  }

  // Static INT8's samples are listed before anything is downloaded: with --strict, a folder that is
  // missing, empty or holds no usable sample fails the pull at once.
  const bool strict = options.on_quantize_failure == quantize_failure::error;
  const bool is_static = e.quantize.enabled && e.quantize.method == "static_int8";
  const recorded_state recorded = read_recorded(out.config);
  calibration_plan plan;
  std::vector<source_file> calibration_files;  // hub calibration files (the catalog's, not --calibration)
  if (is_static) {
    std::string hub_unusable;
    if (options.calibration.empty() && e.quantize.calibration.folder.empty() && !e.quantize.calibration.hub_files.empty() &&
        options.quantize != quantize_mode::never) {
      hub_unusable = fetch_calibration_files(e, recorded, calibration_files, out, created, progress);
    }
    plan = plan_calibration(e, out.dir / calibration_dir, hub_unusable);
  }
  if (is_static && strict && options.quantize != quantize_mode::never && !plan.unusable.empty()) {
    if (fresh) fs::remove_all(out.dir / calibration_dir, ec);  // a failed first pull leaves nothing
    return fail(errc::invalid_argument, "model '" + e.name + "': static INT8 has no usable calibration data (--strict): " +
                                            plan.unusable +
                                            "; give calibration frames with --calibration DIR or a 'calibration' folder in the "
                                            "catalog");
  }

  // 1. The model's files (model.onnx and its extra files): reuse each that still is what the
  // catalog names, download the others, then publish them.
  std::vector<source_file> files;
  files.push_back({fp32_name, url_for(options.endpoint, e, e.filename), e.sha256, out.fp32, recorded.model});
  for (const auto& x : e.extra_files) {
    const auto it = recorded.extras.find(x.path);
    files.push_back({x.path, url_for(options.endpoint, e, beside(e.filename, x.path)), x.sha256, out.dir / x.path,
                     it != recorded.extras.end() ? it->second : recorded_file{}});
  }
  for (auto& f : files) MQ_TRY_VOID(check_cached(e, f, out, progress));
  for (auto& f : files) {
    if (f.reuse) continue;
    check_token_transport(f.url, out, progress);
    created.add_missing(f.path.parent_path());  // an extra file may be in a sub-folder
    fs::create_directories(f.path.parent_path(), ec);
    if (auto fetched = fetch_file(e, f, progress); !fetched) return drop_downloads(files, std::move(fetched).error());
  }

  // Labels: a file from the same repo (downloaded with the model, before anything is published),
  // or the inline classes.
  const fs::path labels = out.dir / labels_name;
  const bool any_downloaded = std::any_of(files.begin(), files.end(), [](const source_file& f) { return !f.reuse; });
  bool labels_downloaded = false;
  if (!e.labels.empty()) {
    if (is_file(labels) && !force && !any_downloaded) {
      out.labels = labels;
    } else if (offline) {
      if (is_file(labels)) out.labels = labels;
      else out.warnings.push_back("offline: labels file " + fetch::quote(labels) + " is missing");
    } else {
      check_token_transport(options.endpoint, out, progress);
      auto got = download_file(e.name, url_for(options.endpoint, e, e.labels), labels, false, progress);
      if (!got) return drop_downloads(files, std::move(got).error());
      labels_downloaded = true;
    }
  }

  if (any_downloaded) {
    // The old INT8 model and config describe the old files: withdraw config.json before any new
    // file appears, so nothing pairs new files with stale ones. The extra files go first: the
    // model is checked with the external data it names in place.
    fs::remove(out.config, ec);
    for (std::size_t i = 1; i < files.size(); ++i) {
      if (!files[i].reuse) MQ_TRY_VOID(publish_source(files[i]));
    }
    source_file& m = files.front();
    const fs::path checked = m.reuse ? m.path : fs::path(m.path).concat(".partial");
    if (auto loaded = model::load(checked); !loaded) {
      if (!m.reuse) discard_partial(m.path);
      return fail(errc::integrity, "'" + m.url + "': the download is not a usable onnx model" +
                                       std::string(m.reuse ? "" : " (deleted)") + ": " + loaded.error().message);
    }
    if (!m.reuse) MQ_TRY_VOID(publish_source(m));
    out.downloaded = true;
  }
  for (const auto& f : files) out.upstream_changed = out.upstream_changed || f.upstream_changed;
  if (labels_downloaded) {
    MQ_TRY_VOID(publish(fs::path(labels).concat(".partial"), labels));
    out.labels = labels;
  } else if (e.labels.empty() && !e.classes.empty()) {
    std::string text;
    for (const auto& c : e.classes) text += c + "\n";
    if (!is_file(labels) || read_text(labels) != text) MQ_TRY_VOID(write_text_atomic(labels, text));
    out.labels = labels;
  } else if (e.labels.empty()) {
    fs::remove(labels, ec);
  }
  const source_file& fp32 = files.front();
  const std::string& sha = fp32.sha;

  // 3. Quantize (or reuse an INT8 model whose key still matches).
  // The FP32 model is parsed only when something needs it: a cached start reads none of it.
  std::optional<model> fp32_model;
  const auto load_fp32 = [&]() -> result<model*> {
    if (!fp32_model) fp32_model.emplace(MQ_TRY(model::load(out.fp32)));
    return &*fp32_model;
  };
  fetch::model_config config;
  config.entry = &e;
  config.url = fp32.url;
  config.sha256 = sha;
  config.etag = fp32.etag;
  config.last_modified = fp32.last_modified;
  config.fp32_bytes = size_of(out.fp32);
  config.fp32_stamp = fp32.stamp;
  std::vector<std::pair<std::string, std::string>> extra_hashes;
  std::uint64_t source_bytes = config.fp32_bytes;
  for (std::size_t i = 1; i < files.size(); ++i) {
    const auto& f = files[i];
    config.extras.push_back({f.name, f.url, f.sha, !f.pin.empty(), f.etag, f.last_modified, size_of(f.path), f.stamp});
    extra_hashes.emplace_back(f.name, f.sha);
    source_bytes += size_of(f.path);
  }
  for (const auto& f : calibration_files) {
    if (f.sha.empty()) continue;  // not fetched (the plan says why)
    config.calibration_files.push_back({f.name, f.url, f.sha, !f.pin.empty(), f.etag, f.last_modified, size_of(f.path), f.stamp});
  }
  config.has_labels = !out.labels.empty();
  config.library_version = mq::version();
  if (!out.downloaded && sha == recorded.model.sha256 && recorded.library_version == config.library_version &&
      recorded.inputs.is_array() && recorded.outputs.is_array()) {
    config.inputs = recorded.inputs;  // the same file, described by the same version
    config.outputs = recorded.outputs;
  } else {
    const model* m = MQ_TRY(load_fp32());
    config.inputs = fetch::signature_json(graph_inputs(*m));
    config.outputs = fetch::signature_json(graph_outputs(*m));
  }
  const fs::path int8 = out.dir / int8_name;
  const fs::path int8_data = fs::path(int8).concat(".data");  // its external data, when it has any
  const auto remove_int8 = [&] {
    fs::remove(int8, ec);
    fs::remove(int8_data, ec);
  };
  // Static INT8's samples (listed and hashed before the download, above) are part of the key;
  // problems only made them unusable (the fallback below).
  if (is_static) config.calibration = plan.record;
  if (e.quantize.enabled) {
    config.quantize_options = mq::describe(e.quantize.options);
    config.cache_key = fetch::int8_cache_key(sha, config.quantize_options, config.library_version, extra_hashes,
                                             is_static ? calibration_key(e.quantize.calibration, plan) : std::string());
  }
  // How the cached INT8 model was made: recorded beside it, and in its metadata.
  std::string cached_method = recorded.method_used;
  std::string cached_fallback = recorded.fallback_reason;
  std::string cached_fallback_kind = recorded.fallback_kind;
  double cached_snr = recorded.output_snr_db;
  bool int8_matches = false;
  if (e.quantize.enabled && is_file(int8) && !force) {
    // Its key is in its metadata; recorded beside its stamp, it need not be parsed again.
    const auto stamp = fetch::stamp_of(int8);
    const auto data_stamp = fetch::stamp_of(int8_data);
    if (options.cache != cache_policy::verify && stamp && recorded.int8_stamp && *stamp == *recorded.int8_stamp &&
        data_stamp == recorded.int8_data_stamp && recorded.int8_stamp_key == config.cache_key) {
      int8_matches = true;
    } else {
      auto cached = model::load(int8);
      int8_matches = cached && cached->metadata(cache_key_metadata) == config.cache_key;
      if (int8_matches) {
        cached_method = cached->metadata(method_metadata);
        cached_fallback = cached->metadata(fallback_metadata);
        cached_fallback_kind = cached->metadata(fallback_kind_metadata);
        const std::string snr = cached->metadata(snr_metadata);
        cached_snr = snr.empty() ? std::numeric_limits<double>::quiet_NaN() : std::strtod(snr.c_str(), nullptr);
      }
    }
    // --strict wants static INT8 from usable samples: a fallback for want of them is tried again
    // (a measured one is what static INT8 gives with these samples: it stays).
    if (int8_matches && strict && is_static && !cached_fallback.empty() && cached_fallback_kind != fallback_measured) {
      int8_matches = false;
    }
    if (int8_matches) {
      config.int8_stamp = stamp;
      config.int8_data_stamp = data_stamp;
    }
  }
  // Static INT8 without usable samples: one line that says why and how to give them. A measured
  // fallback is no problem to solve: a progress line says what was chosen and why.
  const auto warn_fallback = [&](const std::string& reason, const std::string& kind) {
    if (kind == fallback_measured) {
      report(progress, {e.name, pull_stage::quantizing, int8_name, 0, 0,
                        "model '" + e.name + "': dynamic_int8 instead of static_int8: " + reason});
      return;
    }
    warn(out, progress, int8_name,
         "model '" + e.name + "': static_int8 fell back to dynamic_int8: " + reason +
             "; give calibration frames with --calibration DIR or a 'calibration' folder in the catalog");
  };
  std::string failure;
  if (!e.quantize.enabled) {
    config.quantize_status = "disabled";
    remove_int8();
  } else if (int8_matches) {
    config.has_int8 = true;
    config.quantized_nodes = static_cast<std::size_t>(recorded.quantized_nodes);
    config.skipped_nodes = static_cast<std::size_t>(recorded.skipped_nodes);
    config.method_used = cached_method.empty() ? e.quantize.method : cached_method;
    if (config.method_used == "static_int8") {
      // As the pull that made it recorded them: the options with the calibration's.
      quantize_options made = e.quantize.options;
      made.calibration = calibration_of(e.quantize.calibration);
      config.quantize_options = mq::describe(made);
    }
    config.fallback_reason = cached_fallback;
    config.fallback_kind = cached_fallback.empty() ? std::string() : cached_fallback_kind.empty() ? fallback_no_data : cached_fallback_kind;
    config.output_snr_db = cached_snr;
    report(progress, {e.name, pull_stage::cached, int8_name, size_of(int8), size_of(int8), "its key matches"});
    if (!config.fallback_reason.empty()) warn_fallback(config.fallback_reason, config.fallback_kind);  // still in use
  } else if (options.quantize == quantize_mode::never) {
    config.quantize_status = "skipped";
    remove_int8();  // it does not match this FP32 model / these options
  } else {
    remove_int8();  // a stale INT8 model must never be picked up
    if (!is_static || plan.unusable.empty()) {  // else the fallback says what it quantizes to
      report(progress, {e.name, pull_stage::quantizing, int8_name, 0, 0,
                        "quantizing '" + e.name + "' (" + e.quantize.method + ": " + config.quantize_options + ")"});
    }
    auto quant_options = e.quantize.options;
    quant_options.measure_error = false;  // config.json records no per-weight error
    quant_options.threads = options.quantize_threads;
    model* m = MQ_TRY(load_fp32());
    std::optional<result<quantize_report>> quant;
    std::string fallback;
    if (is_static && plan.unusable.empty()) {
      auto static_options = quant_options;
      calibration_options c = calibration_of(e.quantize.calibration);
      c.data = *plan.data;
      c.on_progress = [&, last = std::string()](const calibration_progress& p) mutable {
        if (p.stage == last) return;  // one line per stage
        last = p.stage;
        report(progress, {e.name, pull_stage::quantizing, int8_name, 0, 0,
                          "static INT8: " + p.stage + (p.total > 0 ? " (" + std::to_string(p.total) + " samples)" : "")});
      };
      static_options.calibration = std::move(c);
      quant.emplace(quantize(*m, static_options));
      if (*quant && !(*quant)->static_fallback.empty()) {
        // Measured: static INT8 would not pay or not hold, so the library quantized it as auto itself.
        config.method_used = "dynamic_int8";
        config.fallback_reason = (*quant)->static_fallback;
        config.fallback_kind = fallback_measured;
        warn_fallback(config.fallback_reason, config.fallback_kind);
        config.quantize_options = mq::describe(quant_options);
      } else if (*quant) {
        config.method_used = "static_int8";
        config.quantize_options = mq::describe(static_options);
      } else {
        // An image that does not decode, a sample that does not fit, ...: the half-rewritten model
        // is dropped, and the fallback starts from the file again.
        fallback = "static INT8 failed: " + quant->error().message;
        quant.reset();
        fp32_model.reset();
        m = MQ_TRY(load_fp32());
      }
    } else if (is_static) {
      fallback = plan.unusable;
    }
    if (!fallback.empty() && strict) {
      failure = "static INT8 has no usable calibration data: " + fallback + " (give frames with --calibration DIR)";
    } else if (!quant) {
      if (!fallback.empty()) {
        config.fallback_reason = fallback;
        config.fallback_kind = fallback_no_data;
        warn_fallback(fallback, config.fallback_kind);
        report(progress, {e.name, pull_stage::quantizing, int8_name, 0, 0, "quantizing '" + e.name + "' (dynamic_int8)"});
      }
      config.method_used = is_static ? "dynamic_int8" : e.quantize.method;
      quant.emplace(quantize(*m, quant_options));
    }
    if (failure.empty() && *quant) {
      config.output_snr_db = (*quant)->output_snr_db;
      m->set_metadata(cache_key_metadata, config.cache_key);
      m->set_metadata("mq.source_sha256", sha);
      m->set_metadata(method_metadata, config.method_used);
      m->set_metadata(fallback_metadata, config.fallback_reason);
      m->set_metadata(fallback_kind_metadata, config.fallback_kind);
      if (std::isfinite(config.output_snr_db)) {
        char snr[32];
        std::snprintf(snr, sizeof snr, "%.17g", config.output_snr_db);
        m->set_metadata(snr_metadata, snr);
      }
      // A model with external data gets an INT8 model laid out the same way: its tensors in
      // model-int8.onnx.data beside it (the model file stays small, and under 2 GiB).
      save_options layout;
      if (!e.extra_files.empty()) layout.external = external_data::always;
      if (auto saved = m->save(int8, layout); saved) {
        config.int8_stamp = fetch::stamp_of(int8);
        config.int8_data_stamp = fetch::stamp_of(int8_data);
        config.has_int8 = true;
        config.quantized_nodes = (*quant)->quantized_count;
        config.skipped_nodes = (*quant)->skipped_count;
        out.quantized = true;
      } else {
        failure = saved.error().message;
      }
    } else if (failure.empty()) {
      failure = (*quant).error().message;
    }
    if (!failure.empty()) {
      config.quantize_status = "failed";
      config.quantize_error = failure;
      config.method_used.clear();
      config.fallback_reason.clear();
      config.fallback_kind.clear();
      config.output_snr_db = std::numeric_limits<double>::quiet_NaN();
      if (!(strict && is_static && fresh)) {  // else the pull fails below, leaving nothing
        const std::string warning = "model '" + e.name + "': quantization failed, using the fp32 model: " + failure;
        out.warnings.push_back(warning);
        report(progress, {e.name, pull_stage::warning, int8_name, 0, 0, warning});
      }
    }
  }
  out.quantize_method = config.has_int8 ? config.method_used : std::string();
  out.fallback_reason = config.has_int8 ? config.fallback_reason : std::string();
  out.fallback_kind = config.has_int8 ? config.fallback_kind : std::string();
  if (config.has_int8) {
    out.int8 = int8;
    out.use_int8 = config.quantized_nodes > 0;  // see config_document
    config.int8_bytes = size_of(int8) + size_of(int8_data);
    // The state of the INT8 file, not what this pull did (`out.quantized` says that).
    config.quantize_status = out.use_int8 ? "quantized" : "nothing_quantized";
  }
  // Sizes of the files on disk, so that they agree with `source.bytes` and `int8_bytes`.
  config.model_bytes_before = source_bytes;
  config.model_bytes_after = config.int8_bytes;

  // --strict on a first pull whose static INT8 failed (a sample that does not decode, calibration
  // failing): nothing is left behind, not even the FP32 model.
  if (strict && is_static && !failure.empty() && fresh) {
    std::vector<fs::path> left;
    for (const auto& item : fs::directory_iterator(out.dir, ec)) {
      if (item.path().filename() != lock_name) left.push_back(item.path());
    }
    for (const auto& p : left) fs::remove_all(p, ec);
    return fail(errc::invalid_model, "model '" + e.name + "': quantization failed (--strict): " + failure);
  }
  // 4. config.json last: its presence means everything it names is complete.
  out.config_json = fetch::dump(fetch::config_document(config));
  // On a cache hit nothing changed: the same text, the same file (an app watching it, or its
  // inode, sees no change).
  if (out.config_json != recorded.text || !is_file(out.config)) {
    MQ_TRY_VOID(write_text_atomic(out.config, out.config_json));
  }
  if (!failure.empty() && options.on_quantize_failure == quantize_failure::error) {
    return fail(errc::invalid_model, "model '" + e.name + "': quantization failed (--strict): " + failure);
  }
  return out;
}

result<void> check_endpoint(std::string_view endpoint) {
  const std::string e(endpoint);
  const std::string shown = "endpoint '" + e + "'";
  const std::string forms = "use https://host[:port], http://host[:port] or file:///absolute/path";
  if (e.empty()) return fail(errc::invalid_argument, shown + " is empty: " + forms);
  const auto sep = e.find("://");
  if (sep == std::string::npos) {
    if (e.front() == '/') {
      return fail(errc::invalid_argument, shown + " is not a url: a local mirror folder is given as 'file://" + e + "'");
    }
    return fail(errc::invalid_argument, shown + " is not a url: " + forms + " (e.g. 'https://" + e + "')");
  }
  const std::string scheme = lower(e.substr(0, sep));
  const std::string rest = e.substr(sep + 3);
  if (scheme == "file") {
    if (rest.rfind('/', 0) == 0 || lower(rest).rfind("localhost/", 0) == 0) return {};
    const std::string host = rest.substr(0, rest.find('/'));
    return fail(errc::invalid_argument, shown + " names the host '" + host +
                                            "': a local mirror is file:// followed by an absolute path, e.g. 'file:///" +
                                            rest + "'");
  }
  if (scheme != "http" && scheme != "https") {
    return fail(errc::invalid_argument, shown + ": unsupported scheme '" + scheme + "': " + forms);
  }
  const std::string host = rest.substr(0, rest.find_first_of("/?#"));
  if (host.empty() || host.find_first_of(" \t\\") != std::string::npos) {
    return fail(errc::invalid_argument, shown + " has no valid host: use " + scheme + "://host[:port]");
  }
  return {};
}

result<model_store> model_store::open(store_options options) {
  MQ_TRY_VOID(check_endpoint(options.endpoint));
  auto builtin = MQ_TRY(catalog::builtin());
  if (!options.catalog_file.empty()) {
    auto user = MQ_TRY(catalog::load_file(options.catalog_file));
    builtin = catalog::merge(std::move(builtin), std::move(user));
  }
  auto state = std::make_unique<impl>();
  state->options = std::move(options);
  state->catalog = std::move(builtin);
  return model_store(std::move(state));
}

result<pulled_model> model_store::pull(std::string_view name, const progress_callback& progress) {
  const auto* e = impl_->catalog.find(name);
  if (e == nullptr) {
    return fail(errc::not_found, "model '" + std::string(name) + "' is not in the catalog (see mq-pull --list)");
  }
  return impl_->pull(*e, progress);
}

std::vector<model_entry> model_store::list() const {
  std::vector<model_entry> out;
  for (const auto& e : impl_->catalog.models) out.push_back(impl_->describe(e));
  return out;
}

result<model_entry> model_store::info(std::string_view name) const {
  const auto* e = impl_->catalog.find(name);
  if (e == nullptr) {
    return fail(errc::not_found, "model '" + std::string(name) + "' is not in the catalog (see mq-pull --list)");
  }
  return impl_->describe(*e);
}

result<void> model_store::remove(std::string_view name) {
  // Only plain names: the folder is deleted recursively.
  const std::string n(name);
  if (n.empty() || n.front() == '.' || n.find('/') != std::string::npos) {
    return fail(errc::invalid_argument, "'" + n + "' is not a model name");
  }
  const fs::path dir = impl_->options.models_dir / n;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    if (impl_->catalog.find(name) == nullptr) {
      return fail(errc::not_found, "model '" + n + "' is not in the catalog nor in " + fetch::quote(impl_->options.models_dir));
    }
    return fail(errc::not_found, "model '" + n + "' is not pulled (there is no " + fetch::quote(dir) + ")");
  }
  {
    auto lock = MQ_TRY(fetch::file_lock::acquire(dir / lock_name));
    // config.json first, so a reader never sees a config naming files that are going away.
    fs::remove(dir / config_name, ec);
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      if (entry.path().filename() != lock_name) fs::remove_all(entry.path(), ec);
    }
  }
  fs::remove_all(dir, ec);
  if (ec) return fail(errc::io, "cannot remove " + fetch::quote(dir) + ": " + ec.message());
  return {};
}

const std::vector<std::string>& model_store::catalog_warnings() const noexcept { return impl_->catalog.warnings; }
const store_options& model_store::options() const noexcept { return impl_->options; }

model_store::model_store(std::unique_ptr<impl> state) : impl_(std::move(state)) {}
model_store::model_store(model_store&&) noexcept = default;
model_store& model_store::operator=(model_store&&) noexcept = default;
model_store::~model_store() = default;

}  // namespace mq
