// libFuzzer target: arbitrary bytes through the parsers of calibration and tensor files: .npy,
// ONNX TensorProto (.pb), JPEG/PNG decoding and preprocessing, and TOML preprocessing specs. The
// first byte picks the parser. An error result is the expected outcome; a crash, a sanitizer
// report, a leak or an escaping exception is a bug.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "image/image.h"
#include "mq/calibration.h"
#include "mq/tensor_io.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const auto bytes = std::as_bytes(std::span<const std::uint8_t>(data + 1, size - 1));
  switch (data[0] % 4) {
    case 0: {
      auto t = mq::parse_npy(bytes, "<fuzz.npy>");
      if (t) {
        // What parsed writes back and parses again to the same tensor.
        auto image = mq::to_npy(*t);
        if (image) {
          auto again = mq::parse_npy(std::as_bytes(std::span<const char>(image->data(), image->size())), "<again>");
          if (!again || again->data != t->data || again->shape != t->shape) __builtin_trap();
        }
      }
      break;
    }
    case 1: (void)mq::parse_tensor_proto(bytes, "<fuzz.pb>"); break;
    case 2: {
      auto img = mq::image::decode(bytes, "<fuzz image>");
      if (img && img->width * img->height <= (1 << 22)) {
        auto spec = mq::preprocess_spec::preset("yolo");
        (void)mq::preprocess_image(img->pixels, img->width, img->height, *spec, {1, 3, 32, 48});
      }
      break;
    }
    default: {
      const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
      (void)mq::preprocess_spec::from_toml(text, "<fuzz.toml>");
      break;
    }
  }
  return 0;
}
