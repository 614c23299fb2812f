// Photos to model inputs (mq::preprocess_spec): presets, TOML specs, resize/pad/normalize.
#include <toml++/toml.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

#include "image/image.h"
#include "mq/calibration.h"
#include "util/file.h"
#include "util/try.h"

namespace mq {
namespace {

// Bilinear resize of an interleaved RGB image, pixel centres aligned (OpenCV's INTER_LINEAR).
std::vector<float> resize_bilinear(std::span<const std::uint8_t> src, std::int64_t sw, std::int64_t sh, std::int64_t dw,
                                   std::int64_t dh) {
  std::vector<float> out(static_cast<std::size_t>(dw * dh * 3));
  const double fx = static_cast<double>(sw) / static_cast<double>(dw);
  const double fy = static_cast<double>(sh) / static_cast<double>(dh);
  std::vector<std::int64_t> x0(static_cast<std::size_t>(dw)), x1(static_cast<std::size_t>(dw));
  std::vector<float> ax(static_cast<std::size_t>(dw));
  for (std::int64_t x = 0; x < dw; ++x) {
    double s = (static_cast<double>(x) + 0.5) * fx - 0.5;
    s = std::clamp(s, 0.0, static_cast<double>(sw - 1));
    const auto i = static_cast<std::int64_t>(std::floor(s));
    x0[static_cast<std::size_t>(x)] = i;
    x1[static_cast<std::size_t>(x)] = std::min(i + 1, sw - 1);
    ax[static_cast<std::size_t>(x)] = static_cast<float>(s - static_cast<double>(i));
  }
  for (std::int64_t y = 0; y < dh; ++y) {
    double s = (static_cast<double>(y) + 0.5) * fy - 0.5;
    s = std::clamp(s, 0.0, static_cast<double>(sh - 1));
    const auto j = static_cast<std::int64_t>(std::floor(s));
    const std::int64_t j1 = std::min(j + 1, sh - 1);
    const auto ay = static_cast<float>(s - static_cast<double>(j));
    const std::uint8_t* r0 = src.data() + j * sw * 3;
    const std::uint8_t* r1 = src.data() + j1 * sw * 3;
    float* o = out.data() + y * dw * 3;
    for (std::int64_t x = 0; x < dw; ++x) {
      const auto k = static_cast<std::size_t>(x);
      const float a = ax[k];
      for (int c = 0; c < 3; ++c) {
        const float top = static_cast<float>(r0[x0[k] * 3 + c]) * (1 - a) + static_cast<float>(r0[x1[k] * 3 + c]) * a;
        const float bottom = static_cast<float>(r1[x0[k] * 3 + c]) * (1 - a) + static_cast<float>(r1[x1[k] * 3 + c]) * a;
        o[x * 3 + c] = top * (1 - ay) + bottom * ay;
      }
    }
  }
  return out;
}

// Python's round(): half to even (the default floating-point rounding mode).
std::int64_t round_even(double v) { return static_cast<std::int64_t>(std::nearbyint(v)); }

bool is_channel_count(std::int64_t d) { return d == 1 || d == 3 || d == 4; }

result<float> toml_number(const toml::node& n, const std::string& where) {
  if (auto v = n.value<double>()) return static_cast<float>(*v);
  return fail(errc::invalid_argument, where + " must be a number");
}

result<std::array<float, 3>> toml_triple(const toml::node& n, const std::string& where) {
  if (n.is_number()) {
    const float v = MQ_TRY(toml_number(n, where));
    return std::array<float, 3>{v, v, v};
  }
  const auto* a = n.as_array();
  if (a == nullptr || a->size() != 3) return fail(errc::invalid_argument, where + " must be a number or an array of three");
  std::array<float, 3> out{};
  for (std::size_t i = 0; i < 3; ++i) out[i] = MQ_TRY(toml_number(*a->get(i), where));
  return out;
}

template <class E>
result<E> toml_choice(const toml::node& n, const std::string& where, std::initializer_list<std::pair<const char*, E>> choices) {
  std::string allowed;
  for (const auto& [name, value] : choices) allowed += (allowed.empty() ? "" : ", ") + std::string(name);
  auto s = n.value<std::string>();
  if (!s) return fail(errc::invalid_argument, where + " must be a string: " + allowed);
  for (const auto& [name, value] : choices) {
    if (*s == name) return value;
  }
  return fail(errc::invalid_argument, where + " is '" + *s + "'; allowed: " + allowed);
}

}  // namespace

result<preprocess_spec> preprocess_spec::preset(std::string_view name) {
  preprocess_spec s;
  s.name = std::string(name);
  if (name == "yolo") {
    s.resize = resize_mode::letterbox;
    s.pad = 114;
    s.color = color_order::rgb;
    s.scale = 1.0f / 255.0f;
    s.layout = layout_kind::nchw;
    return s;
  }
  if (name == "imagenet") {
    s.resize = resize_mode::center_crop;
    s.color = color_order::rgb;
    s.scale = 1.0f / 255.0f;
    s.mean = {0.485f, 0.456f, 0.406f};
    s.std = {0.229f, 0.224f, 0.225f};
    return s;
  }
  if (name == "unit") {
    s.resize = resize_mode::stretch;
    s.color = color_order::rgb;
    s.scale = 1.0f / 255.0f;
    return s;
  }
  return fail(errc::invalid_argument, "unknown preprocessing preset '" + std::string(name) +
                                          "' (presets: yolo, imagenet, unit; or give a .toml file)");
}

result<preprocess_spec> preprocess_spec::from_toml(std::string_view text, const std::string& label) {
  toml::table t;
  try {
    t = toml::parse(text, label);
  } catch (const toml::parse_error& e) {
    std::ostringstream where;
    where << label << ":" << e.source().begin.line << ": " << e.description();
    return fail(errc::invalid_argument, where.str());
  }
  preprocess_spec s;
  if (auto base = t["preset"].value<std::string>()) s = MQ_TRY(preset(*base));
  s.name = label;
  for (const auto& [key_node, value] : t) {
    const std::string key(key_node.str());
    const std::string where = label + ": '" + key + "'";
    if (key == "preset") continue;
    if (key == "size") {
      if (auto n = value.value<std::int64_t>()) {
        s.height = s.width = *n;
      } else if (const auto* a = value.as_array(); a != nullptr && a->size() == 2 && a->get(0)->is_integer() && a->get(1)->is_integer()) {
        s.height = *a->get(0)->value<std::int64_t>();
        s.width = *a->get(1)->value<std::int64_t>();
      } else {
        return fail(errc::invalid_argument, where + " must be an integer or [height, width]");
      }
      if (s.height <= 0 || s.width <= 0 || s.height > 16384 || s.width > 16384) {
        return fail(errc::invalid_argument, where + " must be between 1 and 16384");
      }
    } else if (key == "resize") {
      s.resize = MQ_TRY(toml_choice<resize_mode>(value, where, {{"letterbox", resize_mode::letterbox},
                                                                {"letterbox-top-left", resize_mode::letterbox_top_left},
                                                                {"stretch", resize_mode::stretch},
                                                                {"center-crop", resize_mode::center_crop}}));
    } else if (key == "pad") {
      s.pad = MQ_TRY(toml_number(value, where));
    } else if (key == "color") {
      s.color = MQ_TRY(toml_choice<color_order>(value, where, {{"rgb", color_order::rgb}, {"bgr", color_order::bgr}}));
    } else if (key == "scale") {
      s.scale = MQ_TRY(toml_number(value, where));
    } else if (key == "mean") {
      s.mean = MQ_TRY(toml_triple(value, where));
    } else if (key == "std") {
      s.std = MQ_TRY(toml_triple(value, where));
      for (float v : s.std) {
        if (!(v > 0)) return fail(errc::invalid_argument, where + " must be positive");
      }
    } else if (key == "layout") {
      s.layout = MQ_TRY(toml_choice<layout_kind>(value, where, {{"nchw", layout_kind::nchw}, {"nhwc", layout_kind::nhwc}}));
    } else if (key == "channels") {
      auto n = value.value<std::int64_t>();
      if (!n || (*n != 1 && *n != 3 && *n != 4)) return fail(errc::invalid_argument, where + " must be 1, 3 or 4");
      s.channels = static_cast<int>(*n);
    } else if (key == "extra_value") {
      s.extra_value = MQ_TRY(toml_number(value, where));
    } else {
      return fail(errc::invalid_argument, label + ": unknown key '" + key +
                                              "' (keys: preset, size, resize, pad, color, scale, mean, std, layout, "
                                              "channels, extra_value)");
    }
  }
  return s;
}

result<preprocess_spec> preprocess_spec::from_toml_file(const std::filesystem::path& file) {
  auto mapped = MQ_TRY(util::mapped_file::open(file));
  const auto bytes = mapped.bytes();
  return from_toml(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), file.string());
}

result<preprocess_spec> preprocess_spec::parse(std::string_view preset_or_file) {
  const std::string s(preset_or_file);
  if (s.size() > 5 && s.compare(s.size() - 5, 5, ".toml") == 0) return from_toml_file(s);
  return preset(s);
}

result<tensor> preprocess_image(std::span<const std::uint8_t> rgb, std::int64_t width, std::int64_t height,
                                const preprocess_spec& spec, const std::vector<std::int64_t>& shape) {
  if (shape.size() != 4) {
    return fail(errc::invalid_argument, "an image input must have 4 dimensions, this one has shape of rank " +
                                            std::to_string(shape.size()));
  }
  bool nchw = true;
  if (spec.layout == preprocess_spec::layout_kind::nhwc) nchw = false;
  else if (spec.layout == preprocess_spec::layout_kind::automatic) nchw = !(is_channel_count(shape[3]) && !is_channel_count(shape[1]));
  const std::int64_t c_dim = nchw ? shape[1] : shape[3];
  const std::int64_t h_dim = nchw ? shape[2] : shape[1];
  const std::int64_t w_dim = nchw ? shape[3] : shape[2];
  const std::int64_t out_h = spec.height > 0 ? spec.height : h_dim;
  const std::int64_t out_w = spec.width > 0 ? spec.width : w_dim;
  if (out_h <= 0 || out_w <= 0) {
    return fail(errc::invalid_argument, "the model's image input has an open height or width: give size = [H, W] in the "
                                        "preprocessing spec");
  }
  if ((h_dim > 0 && h_dim != out_h) || (w_dim > 0 && w_dim != out_w)) {
    return fail(errc::invalid_argument, "the preprocessing size " + std::to_string(out_h) + "x" + std::to_string(out_w) +
                                            " does not fit the model's input " + std::to_string(h_dim) + "x" +
                                            std::to_string(w_dim));
  }
  std::int64_t channels = c_dim > 0 ? c_dim : (spec.channels > 0 ? spec.channels : 3);
  if (spec.channels > 0 && c_dim > 0 && spec.channels != c_dim) {
    return fail(errc::invalid_argument, "the preprocessing has " + std::to_string(spec.channels) +
                                            " channels, the model's input " + std::to_string(c_dim));
  }
  if (channels != 1 && channels != 3 && channels != 4) {
    return fail(errc::invalid_argument, "the model's image input has " + std::to_string(channels) +
                                            " channels; 1, 3 or 4 are supported");
  }
  if (width <= 0 || height <= 0) return fail(errc::invalid_argument, "empty image");

  // The resized picture (float pixels 0..255, RGB), and where it goes in the output.
  std::vector<float> canvas(static_cast<std::size_t>(out_h * out_w * 3), spec.pad);
  using mode = preprocess_spec::resize_mode;
  if (spec.resize == mode::stretch) {
    canvas = resize_bilinear(rgb, width, height, out_w, out_h);
  } else if (spec.resize == mode::center_crop) {
    const double r = std::max(static_cast<double>(out_h) / static_cast<double>(height), static_cast<double>(out_w) / static_cast<double>(width));
    const std::int64_t rw = std::max<std::int64_t>(out_w, round_even(static_cast<double>(width) * r));
    const std::int64_t rh = std::max<std::int64_t>(out_h, round_even(static_cast<double>(height) * r));
    const std::vector<float> resized = resize_bilinear(rgb, width, height, rw, rh);
    const std::int64_t top = (rh - out_h) / 2;
    const std::int64_t left = (rw - out_w) / 2;
    for (std::int64_t y = 0; y < out_h; ++y) {
      std::memcpy(canvas.data() + y * out_w * 3, resized.data() + ((y + top) * rw + left) * 3,
                  static_cast<std::size_t>(out_w * 3) * sizeof(float));
    }
  } else {
    const double r = std::min(static_cast<double>(out_h) / static_cast<double>(height), static_cast<double>(out_w) / static_cast<double>(width));
    std::int64_t rw = 0, rh = 0, top = 0, left = 0;
    if (spec.resize == mode::letterbox) {
      // Ultralytics' LetterBox: round the new size, split the padding, round(d -+ 0.1).
      rw = round_even(static_cast<double>(width) * r);
      rh = round_even(static_cast<double>(height) * r);
      const double dw = static_cast<double>(out_w - rw) / 2;
      const double dh = static_cast<double>(out_h - rh) / 2;
      top = round_even(dh - 0.1);
      left = round_even(dw - 0.1);
    } else {
      // YOLOX: int(size * r), at the top-left corner.
      rw = static_cast<std::int64_t>(static_cast<double>(width) * r);
      rh = static_cast<std::int64_t>(static_cast<double>(height) * r);
    }
    rw = std::clamp<std::int64_t>(rw, 1, out_w);
    rh = std::clamp<std::int64_t>(rh, 1, out_h);
    const bool same = rw == width && rh == height;
    std::vector<float> resized;
    if (same) {
      resized.resize(rgb.size());
      for (std::size_t i = 0; i < rgb.size(); ++i) resized[i] = rgb[i];
    } else {
      resized = resize_bilinear(rgb, width, height, rw, rh);
    }
    for (std::int64_t y = 0; y < rh; ++y) {
      std::memcpy(canvas.data() + ((y + top) * out_w + left) * 3, resized.data() + y * rw * 3,
                  static_cast<std::size_t>(rw * 3) * sizeof(float));
    }
  }

  tensor t;
  t.type = dtype::float32;
  t.shape = nchw ? std::vector<std::int64_t>{1, channels, out_h, out_w} : std::vector<std::int64_t>{1, out_h, out_w, channels};
  if (shape[0] > 1) return fail(errc::invalid_argument, "the model's image input has batch " + std::to_string(shape[0]) + "; calibration feeds batch 1");
  t.data.resize(static_cast<std::size_t>(channels * out_h * out_w) * sizeof(float));
  auto* out = reinterpret_cast<float*>(t.data.data());
  const std::int64_t plane = out_h * out_w;
  for (std::int64_t p = 0; p < plane; ++p) {
    const float* px = canvas.data() + p * 3;
    float values[4];
    if (channels == 1) {
      const float luma = 0.299f * px[0] + 0.587f * px[1] + 0.114f * px[2];
      values[0] = (luma * spec.scale - spec.mean[0]) / spec.std[0];
    } else {
      for (int c = 0; c < 3; ++c) {
        const float v = px[spec.color == preprocess_spec::color_order::rgb ? c : 2 - c];
        values[c] = (v * spec.scale - spec.mean[static_cast<std::size_t>(c)]) / spec.std[static_cast<std::size_t>(c)];
      }
      if (channels == 4) values[3] = spec.extra_value;
    }
    for (std::int64_t c = 0; c < channels; ++c) {
      if (nchw) out[c * plane + p] = values[c];
      else out[p * channels + c] = values[c];
    }
  }
  return t;
}

result<tensor> load_image_input(const std::filesystem::path& file, const preprocess_spec& spec,
                                const std::vector<std::int64_t>& input_shape) {
  auto img = MQ_TRY(image::decode_file(file));
  auto t = preprocess_image(img.pixels, img.width, img.height, spec, input_shape);
  if (!t) return fail(t.error().code, util::quote(file) + ": " + t.error().message);
  return t;
}

}  // namespace mq
