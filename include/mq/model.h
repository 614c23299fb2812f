// libmodelquant: loading, inspecting and saving ONNX models.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mq/export.h"
#include "mq/result.h"
#include "mq/tensor.h"

namespace mq {

/// When `model::save` writes tensor data to a separate file beside the model.
enum class external_data {
  automatic,  ///< external when the model had external data or would pass protobuf's 2 GiB limit
  always,     ///< initializers of at least `external_threshold_bytes` always go external
  never,      ///< everything inline; fails for models over 2 GiB
};

/// Options for `model::save`.
struct save_options {
  external_data external = external_data::automatic;
  /// Initializers smaller than this stay inline even when data goes external (ONNX's default).
  std::size_t external_threshold_bytes = 1024;
  /// Run `onnx::checker` on the result before it replaces anything at the output path.
  bool verify = true;
};

/// One operator-set import of a model.
struct opset_import {
  std::string domain;  ///< "" is the default ONNX domain
  std::int64_t version = 0;
};

/// Output files written in full to temporaries beside their targets, not yet visible there.
/// `commit()` publishes them in the order they were staged (each fsynced, renamed over its
/// target, its folder fsynced). Destroying one that was not committed deletes its temporaries,
/// so a run that fails before the commit leaves nothing behind. Movable, not copyable.
class MQ_API staged_files {
 public:
  /// Publishes every staged file. When one fails (a rename refused), the files this call had
  /// already published are removed too and the rest are discarded: nothing of the set is left.
  [[nodiscard]] result<void> commit();
  /// Adds `later`'s files after this one's, so that one commit publishes both sets.
  void append(staged_files&& later);
  /// The paths the files will have once committed, in order.
  std::vector<std::filesystem::path> targets() const;

  staged_files();
  staged_files(staged_files&&) noexcept;
  staged_files& operator=(staged_files&&) noexcept;
  ~staged_files();

  /// Library-internal state (the temporaries); applications cannot use it.
  struct impl;
  impl& internals() noexcept { return *impl_; }

 private:
  std::unique_ptr<impl> impl_;
};

/// Stages `content` as the new content of `path` (see staged_files). Errors (`errc::io`,
/// `errc::not_found`) name the path: missing or unwritable folder, a directory at `path`.
[[nodiscard]] MQ_API result<staged_files> stage_file(const std::filesystem::path& path, std::string_view content);

/// An ONNX model in memory. Movable, not copyable.
///
/// Thread safety: distinct models may be used from different threads at once; one model must
/// not be used from two threads at once unless all of them only call const members (which take
/// turns on one model: save and serialize move tensors out of the proto while they write).
class MQ_API model {
 public:
  /// Loads a model file; tensors with external data are mapped from files in the model's folder.
  /// Errors (`errc::io`, `errc::not_found`, `errc::invalid_model`) name the file and the problem:
  /// missing, empty, a directory, not protobuf, not an ONNX model, external data missing,
  /// too short, or outside the model's folder.
  [[nodiscard]] static result<model> load(const std::filesystem::path& path);

  /// Parses a model from memory. `base_dir` is where external data files are looked up; a model
  /// with external data and no base_dir fails with `errc::invalid_model`. `label` names the
  /// source in error messages.
  [[nodiscard]] static result<model> load_from_memory(std::span<const std::byte> bytes,
                                                      const std::filesystem::path& base_dir = {},
                                                      std::string label = "<memory>");

  /// Writes the model atomically: a temporary file in the target folder, fsync, rename. Refuses
  /// to write over the file it was loaded from (or its external data). Nothing is left at `path`
  /// (nor any temporary) when it fails. External data goes to `<file name>.data` beside it.
  [[nodiscard]] result<void> save(const std::filesystem::path& path, const save_options& options = {}) const;

  /// Writes the model like save() but leaves it staged: nothing appears at `path` (or its data
  /// file) until the result is committed, so several outputs can be published together.
  [[nodiscard]] result<staged_files> stage(const std::filesystem::path& path, const save_options& options = {}) const;

  /// Fails (`errc::invalid_argument`, naming `path`) when writing `path` would overwrite the
  /// file this model was loaded from or one of its external data files. save() and stage() check
  /// it; a program that writes other files (a report) checks their paths with it first.
  [[nodiscard]] result<void> check_output_path(const std::filesystem::path& path) const;

  /// The model as protobuf bytes with every tensor inline (fails over 2 GiB).
  [[nodiscard]] result<std::string> serialize() const;

  /// Runs ONNX's checker on the model in memory; the error quotes the checker's message.
  [[nodiscard]] result<void> check() const;

  /// Where the model was loaded from (empty for `load_from_memory`).
  const std::filesystem::path& source_path() const noexcept;
  std::int64_t ir_version() const noexcept;
  std::vector<opset_import> opsets() const;
  std::string producer_name() const;
  /// Nodes in the main graph and, recursively, in every subgraph.
  std::size_t node_count() const noexcept;
  /// Names of the main graph's initializers, in file order.
  std::vector<std::string> initializer_names() const;
  /// A view of a main-graph initializer; `errc::not_found` when absent.
  [[nodiscard]] result<tensor_view> initializer(std::string_view name) const;
  /// Metadata (`metadata_props`) value, or empty when the key is absent.
  std::string metadata(std::string_view key) const;
  /// Sets or replaces a `metadata_props` entry.
  void set_metadata(std::string_view key, std::string_view value);

  model(model&&) noexcept;
  model& operator=(model&&) noexcept;
  ~model();

  /// Library-internal state (the protobuf and the external data mappings). Its definition is
  /// private to libmodelquant; applications cannot use it.
  struct impl;
  impl& internals() noexcept { return *impl_; }
  const impl& internals() const noexcept { return *impl_; }
  /// Library-internal: a model around state the library built (applications cannot make one).
  static model from_internals(std::unique_ptr<impl> state);

 private:
  explicit model(std::unique_ptr<impl> state);
  std::unique_ptr<impl> impl_;
};

/// Builds ONNX's operator schema table now. It is built once per process on first use (by the
/// verification in model::save, about 7 ms); a tool can call this from a second thread at start-up
/// so that the cost overlaps loading and quantizing. Thread-safe; any number of calls.
MQ_API void preload_operator_schemas();

}  // namespace mq
