// Writes the seed corpus of fuzz_tensor_files: one valid input per parser (a selector byte, then
// the file): a .npy of each layout, a TensorProto, a small PNG and JPEG, preprocessing TOML specs.
// usage: make_tensor_corpus DIR
#include <cstdio>  // jpeglib.h needs FILE and size_t declared first
#include <jpeglib.h>
#include <onnx/onnx_pb.h>
#include <png.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "mq/session.h"
#include "mq/tensor_io.h"

namespace {

void write(const std::filesystem::path& dir, const std::string& name, char selector, const std::string& bytes) {
  std::ofstream(dir / name, std::ios::binary) << selector << bytes;
}

void png_write_to(png_structp png, png_bytep data, png_size_t n) {
  static_cast<std::string*>(png_get_io_ptr(png))->append(reinterpret_cast<const char*>(data), n);
}
void png_flush(png_structp) {}

std::string make_png(int w, int h, int color) {
  std::string out;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  png_set_write_fn(png, &out, png_write_to, png_flush);
  png_set_IHDR(png, info, static_cast<png_uint_32>(w), static_cast<png_uint_32>(h), 8, color, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  const int channels = color == PNG_COLOR_TYPE_GRAY ? 1 : color == PNG_COLOR_TYPE_RGBA ? 4 : 3;
  std::vector<unsigned char> row(static_cast<std::size_t>(w * channels));
  for (int y = 0; y < h; ++y) {
    for (std::size_t i = 0; i < row.size(); ++i) row[i] = static_cast<unsigned char>(i * 13 + static_cast<std::size_t>(y) * 7);
    png_write_row(png, row.data());
  }
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return out;
}

std::string make_jpeg(int w, int h) {
  jpeg_compress_struct c;
  jpeg_error_mgr err;
  c.err = jpeg_std_error(&err);
  jpeg_create_compress(&c);
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&c, &buffer, &size);
  c.image_width = static_cast<JDIMENSION>(w);
  c.image_height = static_cast<JDIMENSION>(h);
  c.input_components = 3;
  c.in_color_space = JCS_RGB;
  jpeg_set_defaults(&c);
  jpeg_start_compress(&c, TRUE);
  std::vector<unsigned char> row(static_cast<std::size_t>(w * 3));
  while (c.next_scanline < c.image_height) {
    for (std::size_t i = 0; i < row.size(); ++i) row[i] = static_cast<unsigned char>(i * 5 + c.next_scanline * 3);
    unsigned char* p = row.data();
    jpeg_write_scanlines(&c, &p, 1);
  }
  jpeg_finish_compress(&c);
  std::string out(reinterpret_cast<const char*>(buffer), size);
  jpeg_destroy_compress(&c);
  std::free(buffer);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_tensor_corpus DIR\n");
    return 2;
  }
  const std::filesystem::path dir = argv[1];
  std::filesystem::create_directories(dir);
  const std::vector<float> f = {1.5f, -2, 0, 3.25f, 7, -1};
  write(dir, "npy_f32", 0, *mq::to_npy(mq::tensor::from<float>({2, 3}, f)));
  write(dir, "npy_scalar", 0, *mq::to_npy(mq::tensor::from<float>({}, std::vector<float>{4})));
  write(dir, "npy_i64", 0, *mq::to_npy(mq::tensor::from<std::int64_t>({3}, std::vector<std::int64_t>{1, 2, 3})));
  const bool flags[] = {true, false};
  write(dir, "npy_bool", 0, *mq::to_npy(mq::tensor::from<bool>({2}, std::span<const bool>(flags, 2))));
  onnx::TensorProto t;
  t.set_data_type(onnx::TensorProto::FLOAT);
  t.add_dims(2);
  t.add_dims(3);
  for (float v : f) t.add_float_data(v);
  write(dir, "pb_typed", 1, t.SerializeAsString());
  t.clear_float_data();
  t.set_raw_data(std::string(reinterpret_cast<const char*>(f.data()), f.size() * sizeof(float)));
  write(dir, "pb_raw", 1, t.SerializeAsString());
  write(dir, "png_rgb", 2, make_png(7, 5, PNG_COLOR_TYPE_RGB));
  write(dir, "png_gray", 2, make_png(4, 9, PNG_COLOR_TYPE_GRAY));
  write(dir, "png_rgba", 2, make_png(3, 3, PNG_COLOR_TYPE_RGBA));
  write(dir, "jpeg", 2, make_jpeg(16, 12));
  write(dir, "toml_full", 3, "preset = \"yolo\"\nsize = [320, 480]\nresize = \"letterbox-top-left\"\npad = 114\ncolor = \"bgr\"\n"
                             "scale = 1.0\nmean = [1, 2, 3]\nstd = 2.0\nlayout = \"nhwc\"\nchannels = 4\nextra_value = 1.0\n");
  write(dir, "toml_small", 3, "resize = \"stretch\"\n");
  return 0;
}
