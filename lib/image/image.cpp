#include "image/image.h"

// clang-format off
#include <cstdio>   // jpeglib.h needs FILE and size_t declared first
#include <jpeglib.h>
#include <png.h>
// clang-format on

#include <algorithm>
#include <csetjmp>
#include <cstring>

#include "util/file.h"
#include "util/try.h"

namespace mq::image {
namespace {

constexpr std::int64_t max_pixels = std::int64_t{1} << 28;

// libjpeg reports errors through a callback that must not return: it longjmps back here. Only
// plain C data lives between setjmp and longjmp (the vectors are sized before decoding starts).
struct jpeg_error {
  jpeg_error_mgr base;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void on_jpeg_error(j_common_ptr info) {
  auto* e = reinterpret_cast<jpeg_error*>(info->err);
  (*info->err->format_message)(info, e->message);
  std::longjmp(e->jump, 1);
}

void on_jpeg_warning(j_common_ptr, int) {}  // corrupt-data warnings: keep what decodes

result<rgb_image> decode_jpeg(std::span<const std::byte> bytes, const std::string& label) {
  jpeg_decompress_struct info;
  jpeg_error err;
  info.err = jpeg_std_error(&err.base);
  err.base.error_exit = on_jpeg_error;
  err.base.emit_message = on_jpeg_warning;
  err.message[0] = '\0';
  rgb_image out;
  std::vector<std::uint8_t>* pixels = &out.pixels;
  if (setjmp(err.jump) != 0) {
    jpeg_destroy_decompress(&info);
    return fail(errc::invalid_argument, label + ": the JPEG image does not decode: " + std::string(err.message));
  }
  jpeg_create_decompress(&info);
  jpeg_mem_src(&info, reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(&info, TRUE);
  info.out_color_space = JCS_RGB;  // grayscale and YCbCr both come out as RGB
  jpeg_start_decompress(&info);
  const std::int64_t w = info.output_width;
  const std::int64_t h = info.output_height;
  if (w <= 0 || h <= 0 || w * h > max_pixels || info.output_components != 3) {
    jpeg_destroy_decompress(&info);
    return fail(errc::invalid_argument, label + ": unsupported JPEG (" + std::to_string(w) + "x" + std::to_string(h) +
                                            " pixels, " + std::to_string(info.output_components) + " components)");
  }
  pixels->resize(static_cast<std::size_t>(w * h * 3));
  while (info.output_scanline < info.output_height) {
    unsigned char* row = pixels->data() + static_cast<std::size_t>(info.output_scanline) * static_cast<std::size_t>(w) * 3;
    jpeg_read_scanlines(&info, &row, 1);
  }
  jpeg_finish_decompress(&info);
  jpeg_destroy_decompress(&info);
  out.width = w;
  out.height = h;
  return out;
}

struct png_reader {
  std::span<const std::byte> bytes;
  std::size_t at = 0;
};

void read_png_bytes(png_structp png, png_bytep out, png_size_t n) {
  auto* r = static_cast<png_reader*>(png_get_io_ptr(png));
  if (n > r->bytes.size() - r->at) png_error(png, "the file is truncated");
  std::memcpy(out, r->bytes.data() + r->at, n);
  r->at += n;
}

result<rgb_image> decode_png(std::span<const std::byte> bytes, const std::string& label) {
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  if (png == nullptr) return fail(errc::internal, label + ": libpng could not start");
  png_infop info = png_create_info_struct(png);
  if (info == nullptr) {
    png_destroy_read_struct(&png, nullptr, nullptr);
    return fail(errc::internal, label + ": libpng could not start");
  }
  png_reader reader{bytes, 0};
  rgb_image out;
  std::vector<std::uint8_t>* pixels = &out.pixels;
  std::vector<png_bytep> rows;
  std::vector<png_bytep>* row_ptrs = &rows;
  if (setjmp(png_jmpbuf(png)) != 0) {
    png_destroy_read_struct(&png, &info, nullptr);
    return fail(errc::invalid_argument, label + ": the PNG image does not decode (corrupt or truncated)");
  }
  png_set_read_fn(png, &reader, read_png_bytes);
  png_read_info(png, info);
  const std::int64_t w = png_get_image_width(png, info);
  const std::int64_t h = png_get_image_height(png, info);
  if (w <= 0 || h <= 0 || w * h > max_pixels) png_error(png, "unsupported size");
  // Everything to 8-bit RGB: palettes and gray expanded, 16-bit stripped, alpha dropped.
  png_set_expand(png);
  png_set_strip_16(png);
  png_set_strip_alpha(png);
  png_set_gray_to_rgb(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  if (png_get_channels(png, info) != 3) png_error(png, "unexpected channel count");
  pixels->resize(static_cast<std::size_t>(w * h * 3));
  row_ptrs->resize(static_cast<std::size_t>(h));
  for (std::int64_t y = 0; y < h; ++y) (*row_ptrs)[static_cast<std::size_t>(y)] = pixels->data() + static_cast<std::size_t>(y * w * 3);
  png_read_image(png, row_ptrs->data());
  png_read_end(png, nullptr);
  png_destroy_read_struct(&png, &info, nullptr);
  out.width = w;
  out.height = h;
  return out;
}

}  // namespace

bool is_image_file(const std::filesystem::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png";
}

result<rgb_image> decode(std::span<const std::byte> bytes, const std::string& label) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  if (bytes.size() >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff) return decode_jpeg(bytes, label);
  if (bytes.size() >= 8 && png_sig_cmp(p, 0, 8) == 0) return decode_png(bytes, label);
  return fail(errc::invalid_argument, label + ": not a JPEG or PNG image");
}

result<rgb_image> decode_file(const std::filesystem::path& path) {
  auto file = MQ_TRY(util::mapped_file::open(path));
  return decode(file.bytes(), util::quote(path));
}

}  // namespace mq::image
