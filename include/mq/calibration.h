// libmodelquant: calibration data for static INT8 (activation ranges measured on real inputs).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mq/export.h"
#include "mq/result.h"
#include "mq/session.h"

namespace mq {

/// How photos become a model's image input: resize, pad, color order, normalization, layout.
/// value = (pixel * scale - mean[c]) / std[c], pixel in 0..255, per channel in `color` order.
struct MQ_API preprocess_spec {
  enum class resize_mode {
    letterbox,           ///< keep the aspect ratio, centre, pad the rest (Ultralytics YOLO)
    letterbox_top_left,  ///< keep the aspect ratio, image at the top-left, pad right/bottom (YOLOX)
    stretch,             ///< resize to the target size, ignoring the aspect ratio
    center_crop,         ///< scale so the shorter side fits, crop the centre (ImageNet)
  };
  enum class color_order { rgb, bgr };
  enum class layout_kind { automatic, nchw, nhwc };

  std::int64_t height = 0;  ///< target size; 0 = the model's input size (must then be fixed)
  std::int64_t width = 0;
  resize_mode resize = resize_mode::stretch;
  float pad = 114;  ///< padding pixel value (0..255), before scale/mean/std
  color_order color = color_order::rgb;
  float scale = 1.0f / 255.0f;
  std::array<float, 3> mean{0, 0, 0};
  std::array<float, 3> std{1, 1, 1};
  layout_kind layout = layout_kind::automatic;  ///< automatic: from the input's shape (C in {1,3,4})
  int channels = 0;         ///< 0 = the model's channel count; channels past 3 get `extra_value`
  float extra_value = 1;    ///< value of extra channels (an alpha of 1), after normalization
  std::string name;         ///< the preset or file it came from, for reports

  /// `yolo` (letterbox, pad 114, RGB, /255, NCHW: Ultralytics), `imagenet` (center-crop, RGB,
  /// /255, ImageNet mean/std), `unit` (stretch, RGB, /255). Errors name the unknown preset.
  [[nodiscard]] static result<preprocess_spec> preset(std::string_view name);
  /// A TOML file with the keys size (N or [H, W]), resize, pad, color, scale, mean, std (a number
  /// or three), layout, channels, extra_value, and optionally preset (the base the keys change).
  /// Errors name the file, the key and what is allowed.
  [[nodiscard]] static result<preprocess_spec> from_toml_file(const std::filesystem::path& file);
  /// The same from TOML text (label names it in errors).
  [[nodiscard]] static result<preprocess_spec> from_toml(std::string_view text, const std::string& label);
  /// A preset name or, when it ends in .toml, a file.
  [[nodiscard]] static result<preprocess_spec> parse(std::string_view preset_or_file);
};

/// Samples to calibrate on. A folder holds one of: images (.jpg/.jpeg/.png, preprocessed for the
/// model's image input), .npy files (one sample each, for a single-input model), or ONNX test-data
/// sets (test_data_set_*/input_<i>.pb or .npy, for several inputs). Samples are read one at a
/// time while calibrating, in file-name order.
class MQ_API calibration_data {
 public:
  enum class kind { images, npy_files, test_data_sets, tensors };

  /// Lists a folder. Errors: missing or empty folder, a mix it cannot tell apart (names the file).
  /// `preprocess` is needed for images (it may be left unset when the model says it is an
  /// Ultralytics export: `yolo` is then used).
  [[nodiscard]] static result<calibration_data> from_folder(const std::filesystem::path& folder,
                                                            std::optional<preprocess_spec> preprocess = std::nullopt);
  /// Only the samples `names` of `folder` (file or test_data_set_* folder names inside it, in the
  /// order given), all of one kind. Errors: a name that is not a plain name inside the folder, a
  /// missing or duplicated sample, a mix of kinds, no names.
  [[nodiscard]] static result<calibration_data> from_files(const std::filesystem::path& folder,
                                                           const std::vector<std::string>& names,
                                                           std::optional<preprocess_spec> preprocess = std::nullopt);
  /// Samples held in memory, each by input name.
  static calibration_data from_samples(std::vector<std::map<std::string, tensor>> samples);

  kind source_kind() const noexcept;
  std::size_t size() const noexcept;
  /// The folder (empty for samples in memory) and the sample files, in order.
  const std::filesystem::path& folder() const noexcept;
  std::vector<std::filesystem::path> files() const;
  const std::optional<preprocess_spec>& preprocess() const noexcept;

  /// Sample `index` as inputs of `s`: images preprocessed for its image input (the one float
  /// input of rank 4), files read and checked against its inputs. Errors name the file.
  [[nodiscard]] result<std::map<std::string, tensor>> sample(std::size_t index, const session& s) const;

  struct impl;
  calibration_data();
  ~calibration_data();
  calibration_data(const calibration_data&);
  calibration_data& operator=(const calibration_data&);
  calibration_data(calibration_data&&) noexcept;
  calibration_data& operator=(calibration_data&&) noexcept;

 private:
  std::shared_ptr<const impl> impl_;
};

/// Preprocesses one decoded photo (8-bit RGB, interleaved) into an input of `shape` (NCHW or NHWC
/// per the spec; batch dimensions 1). Exposed for tests and apps that want the same pipeline.
[[nodiscard]] MQ_API result<tensor> preprocess_image(std::span<const std::uint8_t> rgb, std::int64_t width,
                                                     std::int64_t height, const preprocess_spec& spec,
                                                     const std::vector<std::int64_t>& input_shape);

/// Decodes a JPEG/PNG file and preprocesses it like calibration does.
[[nodiscard]] MQ_API result<tensor> load_image_input(const std::filesystem::path& file, const preprocess_spec& spec,
                                                     const std::vector<std::int64_t>& input_shape);

}  // namespace mq
