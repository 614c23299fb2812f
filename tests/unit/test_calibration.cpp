// Calibration inputs: image decoding (PNG/JPEG), the preprocessing geometry and normalization with
// hand-computed values, TOML specs and their errors, and calibration folders.
#include <catch2/catch.hpp>

#include <png.h>

#include <cstdio>
#include <cstring>
#include <fstream>

#include "image/image.h"
#include "mq/calibration.h"
#include "mq/tensor_io.h"
#include "support/temp_dir.h"
#include "support/test_models.h"

namespace {

// Writes an 8-bit RGB PNG with libpng (the test's own encoder).
void write_png(const std::filesystem::path& path, int w, int h, const std::vector<std::uint8_t>& rgb) {
  FILE* f = std::fopen(path.c_str(), "wb");
  REQUIRE(f != nullptr);
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  png_init_io(png, f);
  png_set_IHDR(png, info, static_cast<png_uint_32>(w), static_cast<png_uint_32>(h), 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (int y = 0; y < h; ++y) png_write_row(png, const_cast<png_bytep>(rgb.data() + y * w * 3));
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  std::fclose(f);
}

std::vector<float> floats_of(const mq::tensor& t) {
  std::vector<float> v(t.data.size() / 4);
  std::memcpy(v.data(), t.data.data(), t.data.size());
  return v;
}

}  // namespace

TEST_CASE("calibration: PNG decoding and errors naming the file", "[calib]") {
  mq::test::temp_dir dir;
  const auto png = dir.path() / "px.png";
  write_png(png, 2, 1, {10, 20, 30, 200, 100, 0});
  auto img = mq::image::decode_file(png);
  REQUIRE(img);
  CHECK(img->width == 2);
  CHECK(img->height == 1);
  CHECK(img->pixels == std::vector<std::uint8_t>{10, 20, 30, 200, 100, 0});

  const auto junk = dir.path() / "junk.jpg";
  mq::test::write_bytes(junk, "not an image at all");
  auto bad = mq::image::decode_file(junk);
  REQUIRE(!bad);
  CHECK_THAT(bad.error().message, Catch::Contains("junk.jpg") && Catch::Contains("not a JPEG or PNG"));

  const auto truncated = dir.path() / "cut.png";
  const std::string bytes = mq::test::read_bytes(png);
  mq::test::write_bytes(truncated, bytes.substr(0, bytes.size() / 2));
  auto cut = mq::image::decode_file(truncated);
  REQUIRE(!cut);
  CHECK_THAT(cut.error().message, Catch::Contains("cut.png") && Catch::Contains("does not decode"));

  // A JPEG cut after its header: libjpeg's error path (longjmp) must give an error, not a crash.
  const auto jpeg = dir.path() / "head.jpg";
  mq::test::write_bytes(jpeg, std::string("\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00", 20));
  auto head = mq::image::decode_file(jpeg);
  REQUIRE(!head);
  CHECK_THAT(head.error().message, Catch::Contains("head.jpg"));
}

TEST_CASE("calibration: preprocessing geometry and normalization", "[calib]") {
  // A 2x1 image: left pixel (0, 100, 200), right (255, 255, 255).
  const std::vector<std::uint8_t> rgb = {0, 100, 200, 255, 255, 255};
  SECTION("stretch to the same size keeps the pixels; unit scale; NCHW planes") {
    auto spec = *mq::preprocess_spec::preset("unit");
    auto t = mq::preprocess_image(rgb, 2, 1, spec, {1, 3, 1, 2});
    REQUIRE(t);
    CHECK(t->shape == std::vector<std::int64_t>{1, 3, 1, 2});
    const auto v = floats_of(*t);
    CHECK(v[0] == Approx(0.0f));        // R left
    CHECK(v[1] == Approx(1.0f));        // R right
    CHECK(v[2] == Approx(100 / 255.0f));  // G left
    CHECK(v[5] == Approx(1.0f));        // B right
  }
  SECTION("BGR, mean/std and NHWC with an alpha channel of 1") {
    mq::preprocess_spec spec;
    spec.resize = mq::preprocess_spec::resize_mode::stretch;
    spec.color = mq::preprocess_spec::color_order::bgr;
    spec.scale = 1;
    spec.mean = {100, 100, 100};
    spec.std = {2, 2, 2};
    spec.layout = mq::preprocess_spec::layout_kind::nhwc;
    auto t = mq::preprocess_image(rgb, 2, 1, spec, {1, 1, 2, 4});
    REQUIRE(t);
    const auto v = floats_of(*t);
    // Left pixel BGR = (200, 100, 0) -> (50, 0, -50), alpha 1.
    CHECK(v == std::vector<float>{50, 0, -50, 1, 77.5f, 77.5f, 77.5f, 1});
  }
  SECTION("letterbox centres the picture and pads with 114") {
    // 2x1 into 4x4: r = min(4/1, 4/2) = 2 -> 4x2 picture, dh = 1: rows 1-2 hold it, rows 0 and 3 pad.
    auto spec = *mq::preprocess_spec::preset("yolo");
    spec.scale = 1;
    auto t = mq::preprocess_image(rgb, 2, 1, spec, {1, 3, 4, 4});
    REQUIRE(t);
    const auto v = floats_of(*t);
    for (std::size_t x = 0; x < 4; ++x) {
      CHECK(v[0 * 4 + x] == 114);  // R plane, row 0
      CHECK(v[3 * 4 + x] == 114);  // row 3
    }
    // Bilinear 2 -> 4 with aligned centres: source x = (x + 0.5) / 2 - 0.5 = -0.25, 0.25, 0.75, 1.25
    // clamped to [0, 1]: R = 0, 63.75, 191.25, 255.
    CHECK(v[1 * 4 + 0] == Approx(0));
    CHECK(v[1 * 4 + 1] == Approx(63.75));
    CHECK(v[1 * 4 + 2] == Approx(191.25));
    CHECK(v[1 * 4 + 3] == Approx(255));
  }
  SECTION("letterbox-top-left puts the picture at the top") {
    mq::preprocess_spec spec;
    spec.resize = mq::preprocess_spec::resize_mode::letterbox_top_left;
    spec.scale = 1;
    auto t = mq::preprocess_image(rgb, 2, 1, spec, {1, 3, 4, 4});
    REQUIRE(t);
    const auto v = floats_of(*t);
    CHECK(v[0] == Approx(0));      // row 0 holds the picture
    CHECK(v[2 * 4] == 114);        // rows 2 and 3 are padding
    CHECK(v[3 * 4 + 3] == 114);
  }
  SECTION("an open input size needs a size in the spec") {
    auto spec = *mq::preprocess_spec::preset("unit");
    auto t = mq::preprocess_image(rgb, 2, 1, spec, {-1, 3, -1, -1});
    REQUIRE(!t);
    CHECK_THAT(t.error().message, Catch::Contains("size = [H, W]"));
    spec.height = 2;
    spec.width = 4;
    auto ok = mq::preprocess_image(rgb, 2, 1, spec, {-1, 3, -1, -1});
    REQUIRE(ok);
    CHECK(ok->shape == std::vector<std::int64_t>{1, 3, 2, 4});
  }
}

TEST_CASE("calibration: TOML specs and presets", "[calib]") {
  auto spec = mq::preprocess_spec::from_toml(R"(
preset = "yolo"
size = [320, 480]
color = "bgr"
scale = 1.0
mean = [1, 2, 3]
)",
                                             "spec.toml");
  REQUIRE(spec);
  CHECK(spec->resize == mq::preprocess_spec::resize_mode::letterbox);
  CHECK(spec->height == 320);
  CHECK(spec->width == 480);
  CHECK(spec->color == mq::preprocess_spec::color_order::bgr);
  CHECK(spec->mean == std::array<float, 3>{1, 2, 3});
  auto unknown = mq::preprocess_spec::from_toml("colour = \"rgb\"\n", "spec.toml");
  REQUIRE(!unknown);
  CHECK_THAT(unknown.error().message, Catch::Contains("spec.toml") && Catch::Contains("unknown key 'colour'"));
  auto bad_resize = mq::preprocess_spec::from_toml("resize = \"fit\"\n", "spec.toml");
  REQUIRE(!bad_resize);
  CHECK_THAT(bad_resize.error().message, Catch::Contains("'resize' is 'fit'") && Catch::Contains("letterbox-top-left"));
  auto syntax = mq::preprocess_spec::from_toml("size = [1,\n", "spec.toml");
  REQUIRE(!syntax);
  CHECK_THAT(syntax.error().message, Catch::Contains("spec.toml:"));
  auto preset = mq::preprocess_spec::parse("imagenet");
  REQUIRE(preset);
  CHECK(preset->mean[0] == Approx(0.485f));
  CHECK(!mq::preprocess_spec::parse("yolov8"));
}

TEST_CASE("calibration: folders", "[calib]") {
  mq::test::temp_dir dir;
  SECTION("missing, empty and mixed folders are errors") {
    CHECK(!mq::calibration_data::from_folder(dir.path() / "nope"));
    auto empty = mq::calibration_data::from_folder(dir.path());
    REQUIRE(!empty);
    CHECK_THAT(empty.error().message, Catch::Contains("holds no images"));
    write_png(dir.path() / "a.png", 1, 1, {1, 2, 3});
    REQUIRE(mq::write_npy(dir.path() / "b.npy", mq::tensor::from<float>({1}, std::vector<float>{1})));
    auto mixed = mq::calibration_data::from_folder(dir.path());
    REQUIRE(!mixed);
    CHECK_THAT(mixed.error().message, Catch::Contains("mixes"));
  }
  SECTION("images are listed in name order") {
    write_png(dir.path() / "b.png", 1, 1, {1, 2, 3});
    write_png(dir.path() / "a.PNG", 1, 1, {1, 2, 3});
    mq::test::write_bytes(dir.path() / "notes.txt", "ignored");
    auto data = mq::calibration_data::from_folder(dir.path());
    REQUIRE(data);
    CHECK(data->source_kind() == mq::calibration_data::kind::images);
    REQUIRE(data->size() == 2);
    CHECK(data->files()[0].filename() == "a.PNG");
  }
}

TEST_CASE("calibration: only the named files of a folder", "[calib]") {
  mq::test::temp_dir dir;
  write_png(dir.path() / "a.png", 1, 1, {1, 2, 3});
  write_png(dir.path() / "b.png", 1, 1, {1, 2, 3});
  write_png(dir.path() / "c.png", 1, 1, {1, 2, 3});
  REQUIRE(mq::write_npy(dir.path() / "d.npy", mq::tensor::from<float>({1}, std::vector<float>{1})));
  auto picked = mq::calibration_data::from_files(dir.path(), {"c.png", "a.png"});
  REQUIRE(picked);
  CHECK(picked->source_kind() == mq::calibration_data::kind::images);
  REQUIRE(picked->size() == 2);
  CHECK(picked->files()[0].filename() == "c.png");  // in the order given
  CHECK(picked->files()[1].filename() == "a.png");
  const auto error_of = [&](const std::vector<std::string>& names) {
    auto r = mq::calibration_data::from_files(dir.path(), names);
    REQUIRE(!r);
    return r.error().message;
  };
  CHECK_THAT(error_of({"x.png"}), Catch::Contains("x.png") && Catch::Contains("does not exist"));
  CHECK_THAT(error_of({"../a.png"}), Catch::Contains("must be a name inside"));
  CHECK_THAT(error_of({"a.png", "a.png"}), Catch::Contains("'a.png' is named twice"));
  CHECK_THAT(error_of({"a.png", "d.npy"}), Catch::Contains("mix images"));
  CHECK_THAT(error_of({}), Catch::Contains("no calibration files named"));
  mq::test::write_bytes(dir.path() / "notes.txt", "text");
  CHECK_THAT(error_of({"notes.txt"}), Catch::Contains("is not an image"));
  CHECK(!mq::calibration_data::from_files(dir.path() / "nope", {"a.png"}));
}
