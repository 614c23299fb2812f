/* Static INT8 through the C API, from C99: the calibration setters reject what mq-quantize
 * rejects, and the sample CNN quantized on a few generated photos has quantized activations
 * (a QuantizeLinear of the image feeding the Conv, the report's static section).
 * usage: test_capi_static SAMPLE.onnx WORK_DIR */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "mq/modelquant.h"

static int failures = 0;
static const char* sample_path;
static const char* work_dir;

static void path_in_work(char* out, size_t size, const char* name) {
  snprintf(out, size, "%s/%s", work_dir, name);
}

/* A w x h RGB photo of a gradient that depends on `seed`, written with libpng. */
static int write_png(const char* path, unsigned seed, int w, int h) {
  FILE* f = fopen(path, "wb");
  png_structp png;
  png_infop info;
  png_bytep row;
  int x, y;
  if (f == NULL) return 0;
  png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
  info = png_create_info_struct(png);
  row = (png_bytep)malloc((size_t)w * 3);
  png_init_io(png, f);
  png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (y = 0; y < h; ++y) {
    for (x = 0; x < w * 3; ++x) row[x] = (png_byte)(((unsigned)(x * 7 + y * 13) * (seed + 1) + seed * 29) % 256);
    png_write_row(png, row);
  }
  png_write_end(png, NULL);
  png_destroy_write_struct(&png, &info);
  free(row);
  return fclose(f) == 0;
}

static void* read_file(const char* path, size_t* size) {
  FILE* f = fopen(path, "rb");
  char* data;
  long n;
  if (f == NULL) return NULL;
  fseek(f, 0, SEEK_END);
  n = ftell(f);
  fseek(f, 0, SEEK_SET);
  data = (char*)malloc((size_t)n + 1);
  if (data != NULL && fread(data, 1, (size_t)n, f) != (size_t)n) {
    free(data);
    data = NULL;
  }
  fclose(f);
  *size = (size_t)n;
  return data;
}

/* Occurrences of "QuantizeLinear" not preceded by "De" or "Dynamic": the op type strings of the
 * model's QuantizeLinear nodes (activations; weights are never quantized in the graph). */
static int quantize_linear_count(const char* path) {
  size_t size = 0, i;
  int count = 0;
  const char* needle = "QuantizeLinear";
  const size_t n = strlen(needle);
  char* data = (char*)read_file(path, &size);
  if (data == NULL) return -1;
  for (i = 0; i + n <= size; ++i) {
    if (memcmp(data + i, needle, n) == 0 && !(i >= 2 && memcmp(data + i - 2, "De", 2) == 0) &&
        !(i >= 7 && memcmp(data + i - 7, "Dynamic", 7) == 0)) {
      ++count;
    }
  }
  free(data);
  return count;
}

static void test_setters_validate(void) {
  mq_options* o = NULL;
  char missing[1024], empty[1024];
  CHECK(mq_options_create(&o) == MQ_OK);
  path_in_work(missing, sizeof missing, "no-such-folder");
  CHECK(mq_options_set_calibration(o, missing) == MQ_ERR_NOT_FOUND);
  CHECK(strstr(mq_last_error_message(), "no-such-folder") != NULL);
  CHECK(strstr(mq_last_error_message(), "does not exist") != NULL);
  path_in_work(empty, sizeof empty, "empty");
  mkdir(empty, 0755);
  CHECK(mq_options_set_calibration(o, empty) == MQ_ERR_INVALID_ARGUMENT);
  CHECK(strstr(mq_last_error_message(), "holds no images") != NULL);
  CHECK(mq_options_set_calibration(o, "") == MQ_ERR_INVALID_ARGUMENT);
  CHECK(mq_options_set_calibration(NULL, empty) == MQ_ERR_INVALID_ARGUMENT);
  CHECK(mq_options_set_preprocess(o, "letterbox") == MQ_ERR_INVALID_ARGUMENT);
  CHECK(strcmp(mq_last_error_message(), "mq_options_set_preprocess: unknown preprocessing preset 'letterbox' "
                                        "(presets: yolo, imagenet, unit; or give a .toml file)") == 0);
  CHECK(mq_options_set_preprocess(o, NULL) == MQ_ERR_INVALID_ARGUMENT);
  CHECK(mq_options_set_calibration_method(o, (mq_calibration_method)7) == MQ_ERR_INVALID_ARGUMENT);
  CHECK(strcmp(mq_last_error_message(), "mq_options_set_calibration_method: unknown calibration method 7") == 0);
  CHECK(mq_options_set_activation_type(o, (mq_activation_type)-1) == MQ_ERR_INVALID_ARGUMENT);
  CHECK(mq_options_set_calibration_count(o, 1000001) == MQ_ERR_INVALID_ARGUMENT);
  CHECK(mq_options_set_calibration_count(o, 1000000) == MQ_OK);
  CHECK(mq_options_set_target_snr(o, -1) == MQ_ERR_INVALID_ARGUMENT);
  CHECK(mq_options_set_target_snr(o, 200.5) == MQ_ERR_INVALID_ARGUMENT);
  CHECK(mq_options_set_target_snr(o, nan("")) == MQ_ERR_INVALID_ARGUMENT);
  CHECK(mq_options_set_target_snr(o, 0) == MQ_OK);
  /* A calibration setting without a folder: rejected when quantizing, as mq-quantize rejects
   * --calibration-count without --calibration. */
  {
    char out[1024];
    path_in_work(out, sizeof out, "never.onnx");
    CHECK(mq_quantize_file(sample_path, out, o, NULL) == MQ_ERR_INVALID_ARGUMENT);
    CHECK(strstr(mq_last_error_message(), "needs mq_options_set_calibration") != NULL);
  }
  mq_options_destroy(o);
}

static void test_static_quantize(void) {
  char photos[1024], photo[1100], out[1024], dynamic_out[1024];
  mq_options* o = NULL;
  mq_report* report = NULL;
  unsigned i;
  path_in_work(photos, sizeof photos, "photos");
  mkdir(photos, 0755);
  for (i = 0; i < 4; ++i) {
    snprintf(photo, sizeof photo, "%s/frame%u.png", photos, i);
    CHECK(write_png(photo, i, 40, 30));
  }
  CHECK(mq_options_create(&o) == MQ_OK);
  CHECK(mq_options_set_calibration(o, photos) == MQ_OK);
  CHECK(mq_options_set_preprocess(o, "unit") == MQ_OK);
  CHECK(mq_options_set_calibration_method(o, MQ_CALIBRATION_MINMAX) == MQ_OK);
  CHECK(mq_options_set_calibration_count(o, 4) == MQ_OK);
  CHECK(mq_options_set_activation_type(o, MQ_ACTIVATION_UINT8) == MQ_OK);
  CHECK(mq_options_set_target_snr(o, 0) == MQ_OK); /* no guard: the graph does not depend on the photos */

  /* Only format auto writes static INT8. */
  CHECK(mq_options_set_format(o, MQ_FORMAT_QDQ) == MQ_OK);
  path_in_work(out, sizeof out, "static.onnx");
  CHECK(mq_quantize_file(sample_path, out, o, NULL) == MQ_ERR_INVALID_ARGUMENT);
  CHECK(strstr(mq_last_error_message(), "MQ_FORMAT_AUTO") != NULL);
  CHECK(mq_options_set_format(o, MQ_FORMAT_AUTO) == MQ_OK);

  CHECK(mq_quantize_file(sample_path, out, o, &report) == MQ_OK);
  CHECK(report != NULL);
  if (report != NULL) {
    const char* json = mq_report_json(report);
    CHECK(strstr(json, "\"static_int8\"") != NULL);
    CHECK(strstr(json, "\"calibration_samples\"") != NULL);
    CHECK(strstr(json, "\"tensor\":\"image\"") != NULL); /* the image input's range */
    CHECK(mq_report_quantized_count(report) > 0);
    mq_report_destroy(report);
  }
  CHECK(quantize_linear_count(out) > 0);

  /* Without calibration (NULL turns it off) the same options quantize no activation. */
  CHECK(mq_options_set_calibration(o, NULL) == MQ_OK);
  CHECK(mq_options_set_preprocess(o, "unit") == MQ_OK);
  path_in_work(dynamic_out, sizeof dynamic_out, "dynamic.onnx");
  CHECK(mq_quantize_file(sample_path, dynamic_out, o, NULL) == MQ_ERR_INVALID_ARGUMENT);
  mq_options_destroy(o);
  CHECK(mq_options_create(&o) == MQ_OK);
  CHECK(mq_quantize_file(sample_path, dynamic_out, o, NULL) == MQ_OK);
  CHECK(quantize_linear_count(dynamic_out) == 0);
  mq_options_destroy(o);
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: test_capi_static SAMPLE.onnx WORK_DIR\n");
    return 2;
  }
  sample_path = argv[1];
  work_dir = argv[2];
  mkdir(work_dir, 0755);
  test_setters_validate();
  test_static_quantize();
  if (failures != 0) {
    fprintf(stderr, "test_capi_static: %d check(s) failed\n", failures);
    return 1;
  }
  printf("test_capi_static: all checks passed\n");
  return 0;
}
