// config.json: what an application needs to use a pulled model.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <limits>
#include <optional>
#include <utility>

#include "catalog/catalog.h"
#include "fetch/files.h"
#include "mq/signature.h"
#include "util/json.h"

namespace mq::fetch {

using util::json;

/// One extra file of the model (external data), as config.json records it.
struct extra_record {
  std::string path;  ///< in the model's folder, as the model's external data names it
  std::string url;
  std::string sha256;
  bool pinned = false;  ///< `sha256` is the catalog's
  std::string etag;
  std::string last_modified;
  std::uint64_t bytes = 0;
  std::optional<file_stamp> stamp;  ///< as it was when it was seen to have `sha256`
};

/// Static INT8's calibration samples, as config.json records them (`quantization.calibration`).
struct calibration_record {
  std::string source;  ///< "catalog_folder", "catalog_hub", "user_folder" or "none" (store_options::calibration)
  std::string folder;  ///< the local folder, absolute ("" with source "none")
  std::size_t samples = 0;  ///< samples found there (0 when unusable)
  std::string preprocess;   ///< preset name, catalog::describe of a spec, or "" (the model's default)
  std::string method;       ///< "minmax", ...
  std::size_t count = 0;    ///< calibration_count (0 = all)
  std::string activation_type;
  std::vector<std::string> files;  ///< the catalog's calibration_files (names in `folder`, or paths in the hub
                                   ///< repo with "catalog_hub"; empty: all of the folder)
};

/// Everything config.json records. Paths in it are file names relative to config.json's folder.
struct model_config {
  const catalog::entry* entry = nullptr;
  std::string url;
  std::string sha256;  ///< of model.onnx
  std::string etag;           ///< the hub's X-Linked-Etag, else the ETag ("" when none)
  std::string last_modified;  ///< the server's Last-Modified ("" when none)
  std::uint64_t fp32_bytes = 0;
  bool has_labels = false;
  bool has_int8 = false;  ///< model-int8.onnx exists and matches `cache_key`
  std::uint64_t int8_bytes = 0;
  std::string cache_key;
  /// The INT8 file's state, the same on every pull that finds it: "quantized" (use_int8),
  /// "nothing_quantized" (the INT8 file is the FP32 model: use_int8 false), "failed", "disabled"
  /// (the catalog says no), "skipped" (--no-quantize).
  std::string quantize_status;
  std::string quantize_error;
  std::string quantize_options;  ///< mq::describe(options)
  std::string library_version;
  std::size_t quantized_nodes = 0;
  std::size_t skipped_nodes = 0;
  std::uint64_t model_bytes_before = 0;  ///< the FP32 model on disk (= `fp32_bytes`)
  std::uint64_t model_bytes_after = 0;   ///< the INT8 model on disk (= `int8_bytes`)
  json inputs = json::array();   ///< signature_json(graph_inputs(model)), or as recorded for the same file
  json outputs = json::array();
  std::optional<file_stamp> fp32_stamp;  ///< model.onnx as it was when it was seen to have `sha256`
  std::optional<file_stamp> int8_stamp;  ///< model-int8.onnx as it was when it was seen to hold `cache_key`
  std::optional<file_stamp> int8_data_stamp;  ///< model-int8.onnx.data, when the INT8 model has external data
  std::vector<extra_record> extras;
  std::vector<extra_record> calibration_files;  ///< hub calibration files (path: calibration/<name>)
  /// What the INT8 model is ("static_int8", "dynamic_int8", "weight_only_int8"; "" without one),
  /// why static INT8 fell back to dynamic_int8 ("" when it did not), and the accuracy guard's
  /// worst output SNR against FP32 (dB; NaN when the guard did not run: written as null).
  std::string method_used;
  std::string fallback_reason;
  std::string fallback_kind;  ///< "calibration_data" (no usable samples), "measured" (the library chose auto), "" when none
  double output_snr_db = std::numeric_limits<double>::quiet_NaN();
  std::optional<calibration_record> calibration;  ///< with static_int8
};

/// Graph inputs or outputs as config.json lists them: name, type, shape (numbers, null where the
/// size is not fixed) and dim_params (the symbolic names, or null).
json signature_json(const std::vector<value_info>& values);

/// The file stamp recorded at `pointer` (an object with bytes, mtime_ns, inode), if any.
std::optional<file_stamp> stamp_at(const json& doc, const char* pointer);
/// The same, of an object (null or another type: none).
std::optional<file_stamp> stamp_in(const json& object);

/// The config.json document.
json config_document(const model_config& config);

/// `doc` as config.json's text: two-space indentation, a final newline; bytes that are not
/// UTF-8 (names inside a model may hold any) are replaced by U+FFFD instead of failing.
std::string dump(const json& doc);

/// Parses JSON text; a discarded value (`is_discarded()`) when it is not valid JSON.
json parse(std::string_view text);

// Readers that never throw: a missing member, or one of another type, gives the default.
// `pointer` is a JSON pointer into objects, e.g. "/source/etag".
std::string string_at(const json& doc, const char* pointer);
std::uint64_t uint_at(const json& doc, const char* pointer);
bool bool_at(const json& doc, const char* pointer);

/// The INT8 cache key: sha256 over the FP32 hash, the hashes of its extra files (path, sha256;
/// none: the key of a model without external data), the quantization options and the library
/// version, so a change in any of them rebuilds the INT8 model.
/// `calibration` (static INT8: method, count, preprocessing and the samples' identity; "" for
/// none, which keeps the key of every other method as it was) is part of it too.
std::string int8_cache_key(const std::string& fp32_sha256, const std::string& options, const std::string& version,
                           const std::vector<std::pair<std::string, std::string>>& extras = {},
                           const std::string& calibration = {});

}  // namespace mq::fetch
