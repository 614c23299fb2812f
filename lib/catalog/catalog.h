// The model catalog: which models exist, where to download them and how to quantize them.
// Parsed from TOML (the only module that includes toml++).
#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mq/calibration.h"
#include "mq/quantize.h"
#include "mq/result.h"

namespace mq::catalog {

/// A file the model needs besides its .onnx file (external data), from the same repo and revision.
struct extra_file {
  std::string path;    ///< relative to the model file's folder in the repo, as the model's external
                       ///< data `location` names it; it lands at the same path beside model.onnx
  std::string sha256;  ///< lowercase hex, or "" when the catalog gives none
};

/// How static INT8 calibrates: `[models.quantize]` keys calibration, calibration_files,
/// calibration_repo, calibration_revision, preprocess, calibration_method, calibration_count,
/// activation_type (target_snr_db goes to quantize_options). The samples (a local folder, or files
/// in a hub repo) need method = "static_int8"; the rest also applies when the user gives the frames
/// (mq-pull --calibration DIR) for an entry whose method is another.
struct calibration_spec {
  std::filesystem::path folder;              ///< `calibration`: a local folder, absolute ("" when none)
  std::vector<std::string> files;            ///< `calibration_files` with `folder`: names inside it (empty: all of it)
  /// `calibration_files` without `folder`: files in a hub repo, downloaded, verified and cached
  /// like the model (into the model's folder, `calibration/<file name>`), calibrated on in order;
  /// each path is from the repo's root.
  std::vector<extra_file> hub_files;
  std::string hub_repo;      ///< `calibration_repo`; "" = the entry's repo
  std::string hub_revision;  ///< `calibration_revision`; "" = the entry's revision (its repo) or "main"
  std::optional<preprocess_spec> preprocess; ///< `preprocess`; unset: the model's default (yolo for an
                                             ///< Ultralytics export), else images need one
  calibration_method method = calibration_method::minmax;
  std::size_t count = 0;                     ///< 0 = all samples (the catalog's value is >= 1)
  activation_type activations = activation_type::uint8;
};

/// `[models.quantize]`: whether and how to quantize after a pull.
struct quantize_spec {
  bool enabled = false;
  std::string method = "dynamic_int8";  ///< "dynamic_int8", "weight_only_int8" or "static_int8"
  quantize_options options;             ///< the method plus the optional overrides (no calibration data:
                                        ///< the store adds it when it has the samples)
  calibration_spec calibration;
};

/// One `[[models]]` entry.
struct entry {
  std::string name;
  std::string description;
  std::string task;
  std::string repo;
  std::string filename;
  std::string revision = "main";
  std::string sha256;        ///< lowercase hex, or "" when the catalog gives none
  std::string labels;        ///< file in the same repo, or ""
  std::vector<std::string> classes;  ///< inline labels (used when `labels` is empty)
  std::vector<extra_file> extra_files;  ///< external data files, fetched and cached like the model
  std::string preprocessing_preset;
  quantize_spec quantize;
  std::string origin;        ///< "'file':line", for messages
};

/// A parsed catalog: entries in file order, and the warnings parsing produced.
struct catalog {
  std::vector<entry> models;
  std::vector<std::string> warnings;

  /// The entry named `name`, or nullptr.
  const entry* find(std::string_view name) const noexcept;
};

/// Parses catalog text. `source` names it in messages (a path, or "<built-in catalog>").
/// `base_dir` is the folder relative paths in it (`calibration`, a `preprocess` file) are taken
/// from: the catalog file's folder; empty (the built-in catalog) means only absolute paths.
/// Errors (`errc::invalid_argument`) read "'source':line: model 'name': problem": TOML syntax,
/// missing name/repo/filename, duplicate names, unknown quantize method or option values, a
/// sha256 that is not 64 hex digits, names or filenames that could escape the models folder.
/// Unknown keys are warnings.
[[nodiscard]] result<catalog> parse(std::string_view text, const std::string& source,
                                    const std::filesystem::path& base_dir = {});

/// Reads and parses a catalog file (relative paths in it are taken from its folder).
[[nodiscard]] result<catalog> load_file(const std::filesystem::path& path);

/// The catalog compiled into the library (catalog/model_catalog.toml), parsed.
[[nodiscard]] result<catalog> builtin();

/// The text of the built-in catalog.
std::string_view builtin_text() noexcept;

/// `base` with every entry of `overlay` added; an overlay entry replaces a base entry of the same
/// name (in place). Warnings of both are kept.
catalog merge(catalog base, catalog overlay);

/// The preprocessing as one canonical line (every field; not its name), for cache keys: two
/// specs that preprocess alike give the same text.
std::string describe(const preprocess_spec& spec);

}  // namespace mq::catalog
