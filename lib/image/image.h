// Decoding photos for calibration: JPEG through libjpeg-turbo, PNG through libpng (the only
// module including them). Every image comes out as 8-bit RGB, row-major, interleaved.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "mq/result.h"

namespace mq::image {

struct rgb_image {
  std::int64_t width = 0;
  std::int64_t height = 0;
  std::vector<std::uint8_t> pixels;  // height * width * 3, R G B
};

/// True for the file names decode_file reads (.jpg, .jpeg, .png, any case).
bool is_image_file(const std::filesystem::path& path);

/// Decodes a JPEG or PNG file (chosen by its first bytes, not its name). Grayscale, palette,
/// 16-bit and alpha images are converted to RGB (alpha dropped). Errors (`errc::io`,
/// `errc::invalid_argument`) name the file: unreadable, not a JPEG/PNG, corrupt or truncated,
/// larger than 2^28 pixels.
[[nodiscard]] result<rgb_image> decode_file(const std::filesystem::path& path);

/// The same from bytes in memory; `label` names the source in errors.
[[nodiscard]] result<rgb_image> decode(std::span<const std::byte> bytes, const std::string& label);

}  // namespace mq::image
