// Calibration samples: folders of images, .npy files or ONNX test-data sets (mq::calibration_data).
#include <algorithm>
#include <regex>

#include "image/image.h"
#include "mq/calibration.h"
#include "mq/tensor_io.h"
#include "util/file.h"
#include "util/try.h"

namespace mq {

struct calibration_data::impl {
  kind source = kind::tensors;
  std::filesystem::path folder;
  std::vector<std::filesystem::path> files;  // images / npy files / test_data_set folders
  std::optional<preprocess_spec> preprocess;
  std::vector<std::map<std::string, tensor>> samples;  // kind::tensors
};

calibration_data::calibration_data() : impl_(std::make_shared<impl>()) {}
calibration_data::~calibration_data() = default;
calibration_data::calibration_data(const calibration_data&) = default;
calibration_data& calibration_data::operator=(const calibration_data&) = default;
calibration_data::calibration_data(calibration_data&&) noexcept = default;
calibration_data& calibration_data::operator=(calibration_data&&) noexcept = default;

calibration_data::kind calibration_data::source_kind() const noexcept { return impl_->source; }
std::size_t calibration_data::size() const noexcept {
  return impl_->source == kind::tensors ? impl_->samples.size() : impl_->files.size();
}
const std::filesystem::path& calibration_data::folder() const noexcept { return impl_->folder; }
std::vector<std::filesystem::path> calibration_data::files() const { return impl_->files; }
const std::optional<preprocess_spec>& calibration_data::preprocess() const noexcept { return impl_->preprocess; }

calibration_data calibration_data::from_samples(std::vector<std::map<std::string, tensor>> samples) {
  auto state = std::make_shared<impl>();
  state->source = kind::tensors;
  state->samples = std::move(samples);
  calibration_data d;
  d.impl_ = std::move(state);
  return d;
}

result<calibration_data> calibration_data::from_folder(const std::filesystem::path& folder,
                                                       std::optional<preprocess_spec> preprocess) {
  std::error_code ec;
  if (!std::filesystem::exists(folder, ec)) {
    return fail(errc::not_found, "calibration folder " + util::quote(folder) + " does not exist");
  }
  if (!std::filesystem::is_directory(folder, ec)) {
    return fail(errc::invalid_argument, "calibration data " + util::quote(folder) +
                                            " is not a folder (give a folder of images, .npy files or test_data_set_* folders)");
  }
  std::vector<std::filesystem::path> images, npys, sets;
  for (const auto& e : std::filesystem::directory_iterator(folder, ec)) {
    const auto& p = e.path();
    const std::string name = p.filename().string();
    if (e.is_directory(ec)) {
      if (name.rfind("test_data_set_", 0) == 0) sets.push_back(p);
    } else if (image::is_image_file(p)) {
      images.push_back(p);
    } else if (p.extension() == ".npy") {
      npys.push_back(p);
    }
  }
  if (ec) return fail(errc::io, "cannot list calibration folder " + util::quote(folder) + ": " + ec.message());
  const int kinds = (images.empty() ? 0 : 1) + (npys.empty() ? 0 : 1) + (sets.empty() ? 0 : 1);
  if (kinds == 0) {
    return fail(errc::invalid_argument, "calibration folder " + util::quote(folder) +
                                            " holds no images (.jpg, .jpeg, .png), .npy files or test_data_set_* folders");
  }
  if (kinds > 1) {
    return fail(errc::invalid_argument, "calibration folder " + util::quote(folder) +
                                            " mixes images, .npy files and test_data_set_* folders: keep one kind per folder");
  }
  auto state = std::make_shared<impl>();
  state->folder = folder;
  state->preprocess = std::move(preprocess);
  if (!images.empty()) {
    state->source = kind::images;
    state->files = std::move(images);
  } else if (!npys.empty()) {
    state->source = kind::npy_files;
    state->files = std::move(npys);
  } else {
    state->source = kind::test_data_sets;
    state->files = std::move(sets);
  }
  std::sort(state->files.begin(), state->files.end());
  calibration_data d;
  d.impl_ = std::move(state);
  return d;
}

result<calibration_data> calibration_data::from_files(const std::filesystem::path& folder,
                                                      const std::vector<std::string>& names,
                                                      std::optional<preprocess_spec> preprocess) {
  std::error_code ec;
  if (!std::filesystem::is_directory(folder, ec)) {
    return fail(errc::not_found, "calibration folder " + util::quote(folder) + " does not exist");
  }
  if (names.empty()) return fail(errc::invalid_argument, "no calibration files named in " + util::quote(folder));
  auto state = std::make_shared<impl>();
  state->folder = folder;
  state->preprocess = std::move(preprocess);
  int kinds = 0;  // bit per kind seen
  for (const auto& name : names) {
    const std::filesystem::path p = folder / name;
    if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos) {
      return fail(errc::invalid_argument, "calibration file '" + name + "' must be a name inside " + util::quote(folder));
    }
    if (std::find(state->files.begin(), state->files.end(), p) != state->files.end()) {
      return fail(errc::invalid_argument, "calibration file '" + name + "' is named twice");
    }
    if (std::filesystem::is_directory(p, ec) && name.rfind("test_data_set_", 0) == 0) {
      kinds |= 4;
      state->source = kind::test_data_sets;
    } else if (!std::filesystem::is_regular_file(p, ec)) {
      return fail(errc::not_found, "calibration file " + util::quote(p) + " does not exist");
    } else if (image::is_image_file(p)) {
      kinds |= 1;
      state->source = kind::images;
    } else if (p.extension() == ".npy") {
      kinds |= 2;
      state->source = kind::npy_files;
    } else {
      return fail(errc::invalid_argument, "calibration file " + util::quote(p) +
                                              " is not an image (.jpg, .jpeg, .png), a .npy file or a test_data_set_* folder");
    }
    state->files.push_back(p);
  }
  if (kinds != 1 && kinds != 2 && kinds != 4) {
    return fail(errc::invalid_argument, "calibration files in " + util::quote(folder) +
                                            " mix images, .npy files and test_data_set_* folders: keep one kind");
  }
  calibration_data d;
  d.impl_ = std::move(state);
  return d;
}

namespace {

// The input an image goes to: the single float input of rank 4.
result<const value_info*> image_input(const session& s) {
  const value_info* found = nullptr;
  for (const auto& v : s.inputs()) {
    if (v.element_type == dtype::float32 && v.shape.size() == 4) {
      if (found != nullptr) {
        return fail(errc::invalid_argument, "the model has several 4-D float inputs ('" + found->name + "', '" + v.name +
                                                "'): calibrate it with test_data_set_* folders instead of images");
      }
      found = &v;
    }
  }
  if (found == nullptr) {
    return fail(errc::invalid_argument, "the model has no 4-D float32 image input: calibrate it with .npy files or "
                                        "test_data_set_* folders instead of images");
  }
  return found;
}

result<void> check_fits(const tensor& t, const value_info& v, const std::filesystem::path& file) {
  if (t.type != v.element_type) {
    return fail(errc::invalid_argument, util::quote(file) + " holds " + to_string(t.type) + ", input '" + v.name + "' takes " +
                                            to_string(v.element_type));
  }
  bool fits = !v.has_shape || v.shape.size() == t.shape.size();
  for (std::size_t k = 0; fits && v.has_shape && k < v.shape.size(); ++k) fits = v.shape[k] < 0 || v.shape[k] == t.shape[k];
  if (!fits) {
    std::string shape = "[";
    for (std::size_t k = 0; k < t.shape.size(); ++k) shape += (k ? "," : "") + std::to_string(t.shape[k]);
    return fail(errc::invalid_argument, util::quote(file) + " has shape " + shape + "], which does not fit input '" + v.name + "'");
  }
  return {};
}

}  // namespace

result<std::map<std::string, tensor>> calibration_data::sample(std::size_t index, const session& s) const {
  const impl& d = *impl_;
  if (index >= size()) return fail(errc::invalid_argument, "calibration sample " + std::to_string(index) + " does not exist");
  std::map<std::string, tensor> out;
  switch (d.source) {
    case kind::tensors: return d.samples[index];
    case kind::images: {
      const value_info* input = MQ_TRY(image_input(s));
      preprocess_spec spec;
      if (d.preprocess) spec = *d.preprocess;
      else {
        return fail(errc::invalid_argument, "calibration images in " + util::quote(d.folder) +
                                                " need a preprocessing: --preprocess yolo|imagenet|unit|FILE.toml");
      }
      out[input->name] = MQ_TRY(load_image_input(d.files[index], spec, input->shape));
      // Other inputs (rare for image models): integer inputs of shape [N, 2] get the image size
      // (DETR-style original sizes), the rest are generated.
      input_options gen;
      auto generated = MQ_TRY(generate_inputs(s, gen));
      for (auto& [name, t] : generated) {
        if (out.count(name) != 0) continue;
        if (t.type == dtype::int64 && t.shape.size() == 2 && t.shape[1] == 2) {
          const auto& img = out[input->name].shape;
          const bool nchw = img[1] == 1 || img[1] == 3 || img[1] == 4;
          const std::int64_t hw[2] = {nchw ? img[2] : img[1], nchw ? img[3] : img[2]};
          auto* p = reinterpret_cast<std::int64_t*>(t.data.data());
          for (std::int64_t r = 0; r < t.shape[0]; ++r) {
            p[r * 2] = hw[0];
            p[r * 2 + 1] = hw[1];
          }
        }
        out[name] = std::move(t);
      }
      return out;
    }
    case kind::npy_files: {
      if (s.inputs().size() != 1) {
        return fail(errc::invalid_argument, "calibration with .npy files needs a model with one input; this one has " +
                                                std::to_string(s.inputs().size()) + " (use test_data_set_* folders)");
      }
      tensor t = MQ_TRY(read_tensor_file(d.files[index]));
      MQ_TRY_VOID(check_fits(t, s.inputs()[0], d.files[index]));
      out[s.inputs()[0].name] = std::move(t);
      return out;
    }
    case kind::test_data_sets: {
      for (std::size_t i = 0; i < s.inputs().size(); ++i) {
        const auto base = d.files[index] / ("input_" + std::to_string(i));
        std::filesystem::path file = base;
        file += ".pb";
        std::error_code ec;
        if (!std::filesystem::exists(file, ec)) {
          file = base;
          file += ".npy";
        }
        if (!std::filesystem::exists(file, ec)) {
          return fail(errc::not_found, util::quote(d.files[index]) + " has no input_" + std::to_string(i) +
                                           ".pb or .npy for input '" + s.inputs()[i].name + "'");
        }
        tensor t = MQ_TRY(read_tensor_file(file));
        MQ_TRY_VOID(check_fits(t, s.inputs()[i], file));
        out[s.inputs()[i].name] = std::move(t);
      }
      return out;
    }
  }
  return out;
}

}  // namespace mq
