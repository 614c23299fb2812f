// libmodelquant-fetch: a local store of catalog models, downloaded, verified and quantized.
// Link `mq::fetch` (libcurl and toml++ stay private to it).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "mq/result.h"

namespace mq {

/// Whether a pull may use the network.
enum class network_mode {
  online,
  offline,  ///< cache only; a missing file is an error that says what is missing
};

/// Whether to quantize after a pull.
enum class quantize_mode {
  as_catalog,  ///< when the entry's `[models.quantize] enabled` is true
  never,       ///< `--no-quantize`: keep FP32 only (an INT8 file still matching its key is kept)
};

/// What a failed quantization does to the pull.
enum class quantize_failure {
  warn,   ///< the FP32 model stays usable: a warning, `use_int8 = false`, success
  error,  ///< `--strict`: the pull fails
};

/// What to do with files already in the cache.
enum class cache_policy {
  reuse,    ///< keep files that still match (hash, source URL, INT8 key; without a catalog sha256,
            ///< online: the upstream ETag, Last-Modified and size, one HEAD request). A file whose
            ///< size, mtime and inode are those recorded when it was verified is not read again
            ///< (a cached start takes milliseconds, whatever the model's size).
  verify,   ///< `--verify`: as `reuse`, but hash the cached models and check the INT8 model's key
            ///< in the file again whatever their size, mtime and inode say
  refresh,  ///< `--force`: download and quantize again
};

/// Settings of a `model_store`.
struct store_options {
  std::filesystem::path models_dir = "models";
  /// A catalog file whose entries are added to (and override, by name) the built-in catalog.
  std::filesystem::path catalog_file;
  std::string endpoint = "https://huggingface.co";  ///< http(s):// or file:// (local mirror)
  std::string token;  ///< bearer token (HF_TOKEN); sent only to the endpoint's own host
  network_mode network = network_mode::online;
  quantize_mode quantize = quantize_mode::as_catalog;
  quantize_failure on_quantize_failure = quantize_failure::warn;
  cache_policy cache = cache_policy::reuse;
  std::chrono::milliseconds connect_timeout{15000};
  std::chrono::milliseconds stall_timeout{30000};  ///< no byte for this long: abort and retry
  int max_attempts = 5;                            ///< per file, for transient failures
  std::chrono::milliseconds retry_backoff{500};    ///< first wait; doubles after each failure
  /// quantize_options::threads of the quantize step: 1 = the pulling thread only, 0 = one per
  /// core. The INT8 model is the same whatever the value.
  unsigned quantize_threads = 1;
  /// The user's own calibration samples (mq-pull --calibration DIR): a folder of images (.jpg,
  /// .png), .npy files or test_data_set_* folders, used instead of the catalog's calibration folder.
  /// A pull then quantizes to static INT8 (format auto) even when the entry says dynamic_int8 or
  /// weight_only_int8, or does not quantize; the entry's preprocess, calibration_method,
  /// calibration_count, activation_type and target_snr_db still apply. A folder that is missing,
  /// empty or unusable falls back to dynamic_int8 like any static_int8 pull without data (see
  /// model_store::pull). The choice holds for the pulls of this store only: a later pull without
  /// it quantizes as the catalog says. Empty: as the catalog says.
  std::filesystem::path calibration;

  /// Defaults overridden by the environment: MQ_MODELS_DIR, MQ_CATALOG, MQ_ENDPOINT (else
  /// HF_ENDPOINT), MQ_OFFLINE=1 or HF_HUB_OFFLINE=1, HF_TOKEN.
  static store_options from_environment();
};

/// Where a pull is, for progress displays.
enum class pull_stage {
  waiting,      ///< another process or thread is pulling the same model
  downloading,  ///< `bytes_done` of `bytes_total` (0 when unknown) of `file`
  verifying,
  quantizing,
  cached,       ///< a file was already in the cache and still matches; `message` says how that was
                ///< checked ("up to date: same ETag", "freshness cannot be checked", ...)
  warning,      ///< `message` says what went wrong (e.g. quantization failed, FP32 kept)
  upstream_changed,  ///< the file's ETag differs from the recorded one (no catalog sha256): `message` says so; it is downloaded again
  retrying,     ///< a transfer of `file` failed and is tried again: `message` says what failed, the attempt
                ///< ("attempt 1 of 5") and when the next one starts
};

/// One progress report.
struct pull_progress {
  std::string model;
  pull_stage stage = pull_stage::downloading;
  std::string file;  ///< "model.onnx", "labels.txt", "model-int8.onnx"
  std::uint64_t bytes_done = 0;
  std::uint64_t bytes_total = 0;
  std::string message;
};

/// Called from the pulling thread; keep it cheap.
using progress_callback = std::function<void(const pull_progress&)>;

/// What a successful pull gives an application.
struct pulled_model {
  std::string name;
  std::filesystem::path dir;     ///< <models-dir>/<name>
  std::filesystem::path fp32;    ///< model.onnx
  std::filesystem::path int8;    ///< model-int8.onnx, or empty when there is no usable INT8 model
  std::filesystem::path labels;  ///< labels.txt, or empty
  std::filesystem::path config;  ///< config.json
  bool use_int8 = false;         ///< true only when the INT8 model exists, passed its checks and has
                                 ///< at least one quantized node (else it is the FP32 model)
  std::string config_json;       ///< the content of config.json
  bool downloaded = false;       ///< a file of the FP32 model (model.onnx or an extra file) was downloaded
  bool upstream_changed = false; ///< a cached file was replaced because the upstream file changed (ETag, date, size)
  bool quantized = false;        ///< the INT8 model was (re)built by this pull
  /// How the INT8 model was made: "static_int8", "dynamic_int8" (also when static INT8 fell
  /// back to it), "weight_only_int8"; "" when there is none.
  std::string quantize_method;
  /// Why static INT8 fell back to dynamic_int8 (no calibration folder, a folder missing or
  /// empty, an image that does not decode, calibration failing; or, measured, too little of the
  /// work left in int8 or a model that ranks its outputs under the target); "" when it did not.
  std::string fallback_reason;
  /// "calibration_data" (the samples could not be used: a warning; --strict fails), "measured"
  /// (static INT8 was built and measured, and auto chosen instead: not a failure); "" when none.
  std::string fallback_kind;
  std::vector<std::string> warnings;
};

/// How much of a model is in the cache.
enum class cache_state { not_pulled, fp32, fp32_int8 };

/// A catalog entry with its cache state.
struct model_entry {
  std::string name;
  std::string description;
  std::string task;
  std::string repo;
  std::string filename;
  std::string revision;
  std::string sha256;  ///< from the catalog ("" when none)
  std::string url;     ///< where a pull downloads it from
  std::string origin;  ///< "'file':line" of the catalog entry
  bool quantize = false;
  std::string quantize_method;   ///< the catalog's method, "static_int8" with store_options::calibration ("" when not quantized)
  std::string quantize_options;  ///< `mq::describe` of the options ("" when not quantized)
  cache_state state = cache_state::not_pulled;
  std::uint64_t fp32_bytes = 0;
  std::uint64_t int8_bytes = 0;
  std::filesystem::path dir;
};

/// Checks that `endpoint` is a usable endpoint URL: `https://host[:port][/base]`,
/// `http://host[:port][/base]` or `file:///absolute/path` (also `file://localhost/path`).
/// `errc::invalid_argument` otherwise, with a message that shows what a valid one looks like
/// (`file://tmp/x` names the host "tmp": it means `file:///tmp/x`).
[[nodiscard]] result<void> check_endpoint(std::string_view endpoint);

/// The models folder and the catalog. Movable; one store may be used from one thread at a time,
/// while several stores (threads or processes) may pull the same model at once: a lock file per
/// model serialises them and the later one reuses what the first one published.
class model_store {
 public:
  /// Loads the built-in catalog and `options.catalog_file` (when set). Errors name the catalog
  /// file, line and entry.
  [[nodiscard]] static result<model_store> open(store_options options);

  /// Downloads (or reuses), verifies and quantizes the model `name`, publishing every file
  /// atomically and config.json last. Errors: `errc::not_found` (not in the catalog, or a 404),
  /// `errc::network`, `errc::integrity` (sha256 mismatch, not an ONNX model), `errc::io`.
  ///
  /// Static INT8 (method static_int8, or store_options::calibration) calibrates on the user's
  /// folder, else the catalog's `calibration` folder (only its `calibration_files` when it lists
  /// some). Without usable data (none configured, a folder missing or empty, a listed file missing, an image that does not
  /// decode, calibration failing) the INT8 model is dynamic_int8 instead, with a one-line warning
  /// that says why (pulled_model::fallback_reason) and the pull succeeds; with
  /// quantize_failure::error (--strict) it fails, before any download when the folder is unusable,
  /// and a first pull leaves nothing behind. The INT8 key covers the calibration (method, count,
  /// activation type, target SNR, preprocessing, and a sha256 over the samples' names and
  /// contents), so changed frames re-quantize and the same frames reuse the cached model.
  [[nodiscard]] result<pulled_model> pull(std::string_view name, const progress_callback& progress = {});

  /// Every catalog entry with its cache state, in catalog order.
  std::vector<model_entry> list() const;

  /// One entry; `errc::not_found` when the catalog has no such model.
  [[nodiscard]] result<model_entry> info(std::string_view name) const;

  /// Deletes the model's folder (waiting for a pull in progress). `errc::not_found` when the
  /// model has no folder in the cache ("not pulled"), or is not in the catalog either.
  [[nodiscard]] result<void> remove(std::string_view name);

  /// Warnings from reading the catalogs (unknown keys), "'file':line: ...".
  const std::vector<std::string>& catalog_warnings() const noexcept;

  const store_options& options() const noexcept;

  model_store(model_store&&) noexcept;
  model_store& operator=(model_store&&) noexcept;
  ~model_store();

 private:
  struct impl;
  explicit model_store(std::unique_ptr<impl> state);
  std::unique_ptr<impl> impl_;
};

}  // namespace mq
